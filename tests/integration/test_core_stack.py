"""A stack without Neo4j and OpenMemory (today's mem0: the OSS library writes no graph, OpenMemory is sunset) backs up,
checks its health, restores and plans a reset without errors or empty parts.

The core stack is a third copy of the lab, for this file only (module-scoped, brought up with lab.yml from the lab's
existing images and removed at the end): the inventory's services are postgres, embedder and mem0 only (no neo4j key,
no openmemory_* keys, mem0 does not depend on neo4j), containers ``*_core``, ports 6xxxx, database ``mem0_core``,
everything else under a temporary directory, alerts to its own fake Bot API. Its PostgreSQL authenticates 127.0.0.1
as the official image does (trust), where the lab asks for the password: every test here also proves the tools work
with that. The lab playbook seeds it with the
incident's memories (no graph). The oracle is a direct SQL query against its database, never the manifest alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from .labkit import (LAB_INVENTORY, SEEDED, FakeTelegram, assert_no_secret, load_stack, run_playbook, stack_secrets,
                     task_result)
from .scratch import health_result
from .test_reset import containers, memory_state, pg_connect, plan_text, role_task, run, target

pytestmark = pytest.mark.integration

NAME = "core"
# The services of a stack without a graph store and without OpenMemory, and their ports out of the lab's way.
PORTS = {"postgres": {"port": 61433, "container_port": 61433}, "embedder": {"port": 61434}, "mem0": {"port": 61888}}
OPTIONAL = ("neo4j", "openmemory_mcp", "openmemory_ui")
UP_TIMEOUT = 900


def core_inventory(base: Path, api_url: str, token: str) -> Path:
    """inventories/lab without Neo4j and OpenMemory, every name, port and path moved out of the lab's way."""
    inventory = base / "inventory"
    (inventory / "group_vars" / "mem0_hosts").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"mem0_hosts": {"hosts": {NAME: {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    lab = yaml.safe_load((LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text())
    root = base / "root"
    lab["mem0ops_lab_root"] = str(root)
    stack = lab["mem0_stack"]
    stack["name"] = NAME
    stack["compose"]["project"] = "mem0_" + NAME
    stack["embedding"]["base_url"] = "http://127.0.0.1:%d" % PORTS["embedder"]["port"]
    services = stack["services"]
    for name in OPTIONAL:
        del services[name]
    services["mem0"]["depends_on"] = [dep for dep in services["mem0"]["depends_on"] if dep in services]
    for name, service in services.items():
        service["container"] = service["container"].replace("_lab", "_" + NAME)
        service.update(PORTS[name])
    services["postgres"]["database"] = "mem0_" + NAME
    # PostgreSQL as the official image runs it: TCP logins from 127.0.0.1 trusted (the lab asks for the password)
    del services["postgres"]["env"]["POSTGRES_LOOPBACK_AUTH"]
    stack["alerting"].update(api_url=api_url, bot_token=token, state_dir=str(root / "alerts"), cooldown=0)
    stack["monitoring"].update(dir=str(root / "monitoring"), textfile_dir=str(root / "monitoring" / "textfile"))
    stack["schedule"].update(dir=str(root / "schedule"), log_dir=str(root / "schedule" / "log"))
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    path.write_text(yaml.safe_dump(lab, sort_keys=False))
    path.chmod(0o600)
    return inventory


def set_manifest(path: str | Path) -> dict:
    return json.loads((Path(path) / "manifest.json").read_text())


def optional_words(text: str) -> list:
    """The lines of text that name a service the core stack does not have."""
    return [line for line in text.splitlines() if any(word in line.lower() for word in ("neo4j", "openmemory", "bolt"))]


@pytest.fixture(scope="module")
def core():
    """The core stack: up (the lab's images, no rebuild; seeded by the lab playbook) for this module, then removed."""
    began = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="mem0ops-core-"))
    telegram = FakeTelegram()
    inventory = core_inventory(base, telegram.url, telegram.token)
    try:
        up = run_playbook("lab.yml", inventory=inventory,
                          extra={"lab_build_images": False, "lab_health_timeout": UP_TIMEOUT})
        assert up["rc"] == 0, up["raw"][-3000:]
        stack = target(inventory, NAME)
        stack.update(telegram=telegram, up_seconds=round(time.monotonic() - began, 1))
        yield stack
    finally:
        try:
            down = run_playbook("lab.yml", inventory=inventory, extra={"lab_state": "absent"})
            assert down["rc"] == 0, down["raw"][-3000:]
        finally:
            telegram.stop()
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def core_set(core) -> dict:
    """backup.yml on the core stack: the report and the set's manifest."""
    report = run(core, "backup.yml")
    assert report["rc"] == 0, report["raw"][-3000:]
    result = task_result(report, "Publish the result for includers", NAME)["ansible_facts"]["backup_result"]
    return {"report": report, "result": result, "manifest": set_manifest(result["path"])}


def test_the_core_stack_runs_without_neo4j_and_openmemory_and_is_seeded(core):
    assert set(load_stack(core["test_inventory"], NAME)["services"]) == {"postgres", "embedder", "mem0"}
    running = containers(core)
    assert set(running) == {"postgres", "embedder", "mem0"}
    assert all(state["status"] == "running" for state in running.values()), running
    compose = (Path(core["compose"]["dir"]) / "compose.yml").read_text()
    assert optional_words(compose) == []
    # the lab playbook seeded the memories only: the oracle is the database itself
    assert memory_state(core)["per_namespace"] == SEEDED


def test_backup_takes_a_valid_set_without_a_graph_part(core, core_set):
    manifest, result = core_set["manifest"], core_set["result"]
    assert manifest["status"] == "valid" and manifest["problems"] == [], manifest["problems"]
    # the graph part is absent because the stack has no Neo4j, not empty
    assert manifest["parts"]["neo4j"] == {"present": False, "files": 0, "bytes": 0,
                                          "absent": "the stack has no Neo4j service"}
    assert manifest["counts"]["graph"] == {"nodes": None, "relationships": None}
    assert not (Path(result["path"]) / "neo4j").exists()
    assert all(manifest["parts"][part]["present"] for part in ("postgres", "history", "config"))
    # the set holds what the database holds (a direct query, not the manifest alone)
    assert memory_state(core)["per_namespace"] == SEEDED
    assert manifest["counts"]["memories"]["per_namespace"] == SEEDED
    summary = "\n".join(task_result(core_set["report"], "Report the backup", NAME)["msg"])
    assert "graph: not in this set (the stack has no Neo4j service)" in summary
    assert_no_secret(core_set["report"]["raw"], stack_secrets(core))


def test_health_is_ok_and_names_no_absent_service(core, core_set):
    core["telegram"].clear()
    report = run_playbook("health.yml", inventory=core["test_inventory"])
    assert report["rc"] == 0, report["raw"][-3000:]
    result = health_result(report, NAME)
    assert result["ok"] is True and result["problems"] == [] and result["firing"] == [], result["summary"]
    checked = {check["target"] for check in result["checks"] if check["group"] == "service"}
    assert checked == {"postgres", "embedder", "mem0"}
    assert optional_words("\n".join(result["summary"])) == []
    assert result["memories"]["per_namespace"] == SEEDED
    assert core["telegram"].messages() == []


def test_restore_puts_a_deleted_namespace_back(core, core_set):
    victim = "mark_carey/booking"
    with pg_connect(core) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM \"%s\" WHERE payload->>'user_id' = %%s" % core["mem0"]["collection"], (victim,))
    conn.close()
    assert victim not in memory_state(core)["per_namespace"]

    report = run(core, "restore.yml", "-e", "restore_confirm=%s" % NAME, "-e",
                 "restore_set=%s" % core_set["result"]["path"])
    assert report["rc"] == 0, report["raw"][-3000:]
    assert memory_state(core)["per_namespace"] == SEEDED
    lines = role_task(report, "restore", "Report")["msg"]
    assert lines[0].startswith("mem0 restore into stack %s" % NAME) and ": DONE in " in lines[0], lines
    assert "  graph: nothing to restore: stack core has no Neo4j service and the set holds no graph" in lines
    assert_no_secret(report["raw"], stack_secrets(core))


def test_preflight_says_its_login_did_not_prove_the_password_where_loopback_is_trusted(core):
    """The official image's pg_hba trusts 127.0.0.1: a wrong password gets in (the oracle: psycopg2 directly), so
    preflight's login proves the user and database only; it passes and says so (on the lab, test_preflight)."""
    import psycopg2

    svc = core["services"]["postgres"]
    psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password="not-" + svc["password"],
                     dbname=svc["database"], connect_timeout=10).close()
    report = run_playbook("preflight.yml", inventory=core["test_inventory"])
    assert report["rc"] == 0, report["raw"][-3000:]
    msg = task_result(report, "Report the preflight result", NAME)["msg"]
    assert msg[0].startswith("preflight: the stack agrees with the inventory"), msg
    assert msg[1:] == ["warning: postgres: %s:%d lets %s in with a wrong password too (pg_hba trust for this client "
                       "address, as the official image sets for 127.0.0.1 inside its container): the login proved the "
                       "user and the database, not the inventory password; mem0 and OpenMemory connecting (health) "
                       "prove it" % (svc["host"], svc["port"], svc["user"])], msg
    assert_no_secret(report["raw"], stack_secrets(core))


def test_reset_check_plans_without_neo4j_and_changes_nothing(core):
    before = memory_state(core)
    report = run(core, "reset.yml", "--check")
    assert report["rc"] == 0, report["raw"][-3000:]
    plan = plan_text(report, "reset")
    assert "5. Neo4j: none in this stack (no neo4j service), no graph to empty" in plan
    assert "9. verify: 0 memories, 0 history rows, every service healthy" in plan
    assert memory_state(core) == before


def test_restore_check_of_a_set_with_a_graph_says_the_graph_is_skipped(core):
    """A set taken on a stack with Neo4j (the lab's), restored to the core stack: the graph part is skipped, said so."""
    lab = load_stack(LAB_INVENTORY, "lab")
    sets = sorted((path for path in Path(lab["backup_root"]).glob("*/2*") if (path / "manifest.json").is_file()
                   and set_manifest(path).get("status") == "valid" and set_manifest(path)["parts"]["neo4j"]["present"]),
                  key=lambda path: path.name)
    if not sets:
        pytest.skip("the lab holds no valid set with a graph to restore from")
    copy = Path(core["backup_root"]) / "manual" / sets[-1].name
    shutil.copytree(sets[-1], copy)
    try:
        graph = set_manifest(copy)["counts"]["graph"]
        before = memory_state(core)
        report = run(core, "restore.yml", "--check", "-e", "restore_set=%s" % copy)
        assert report["rc"] == 0, report["raw"][-3000:]
        skipped = ("SKIPPED: the set holds a graph export (%d nodes, %d relationships), but stack core has no Neo4j "
                   "service; the export stays in the set, nothing is restored from it"
                   % (graph["nodes"], graph["relationships"]))
        assert role_task(report, "restore", "Say that the set's graph is skipped")["msg"] == "graph: " + skipped
        plan = plan_text(report, "restore")
        assert "4. Neo4j: " + skipped in plan and "parts: postgres, history;" in plan
        assert memory_state(core) == before
    finally:
        shutil.rmtree(copy, ignore_errors=True)
