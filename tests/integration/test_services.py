"""shutdown.yml and startup.yml against the lab: real order, health gating, subsets, check mode, failures.

The destructive tests stop lab containers for a few seconds and always bring the whole lab back healthy
(the ``lab_back_up`` fixture), because other tests read the lab at the same time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from .labkit import LAB_INVENTORY, REPO

pytestmark = pytest.mark.integration

IMAGE_OF_APPS = "mem0ops-lab/mem0:2.2.1"
START_TIERS = [["embedder", "neo4j", "postgres"], ["mem0"], ["openmemory_mcp"], ["openmemory_ui"]]


def secrets_of(stack) -> list[str]:
    svc = stack["services"]
    return [svc["postgres"]["password"], svc["neo4j"]["password"], svc["mem0"]["api_key"]]


def inspect(stack) -> dict[str, dict]:
    """Service -> the identity and state of its container (docker inspect)."""
    names = {svc["container"]: name for name, svc in stack["services"].items()}
    out = subprocess.run(["docker", "inspect", *names], capture_output=True, text=True, check=True).stdout
    return {names[c["Name"].lstrip("/")]: {
        "id": c["Id"], "status": c["State"]["Status"], "started_at": c["State"]["StartedAt"],
        "finished_at": c["State"]["FinishedAt"], "health": (c["State"].get("Health") or {}).get("Status"),
    } for c in json.loads(out)}


def play(playbook: str, *args: str, inventory: Path = LAB_INVENTORY) -> tuple[dict, float]:
    """Run a playbook with the JSON callback; return its report and its wall time in seconds."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    began = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                           str(REPO / "playbooks" / playbook), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = round(time.monotonic() - began, 1)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{playbook} {args} printed no JSON report (rc {proc.returncode}): {proc.stderr[-3000:]}")
    report.update(rc=proc.returncode, raw=proc.stdout)
    return report, seconds


def results(report: dict, task_prefix: str) -> list[dict]:
    """Every result of the tasks whose name starts with task_prefix, in run order."""
    return [task["hosts"]["lab"] for p in report["plays"] for task in p["tasks"]
            if task["task"]["name"].split(" : ", 1)[-1].startswith(task_prefix) and "lab" in task["hosts"]]


def message(report: dict, task_prefix: str):
    return results(report, task_prefix)[-1]["msg"]


def failure(report: dict) -> str:
    """The message of the task that failed the play (of its failed loop items, if it looped)."""
    failed = [r for p in report["plays"] for t in p["tasks"] for r in t["hosts"].values() if r.get("failed")]
    if not failed:
        return ""
    items = [item.get("msg", "") for item in failed[-1].get("results", []) if item.get("failed")]
    return "\n".join(items) if items else failed[-1].get("msg", "")


def ts(value: str) -> str:
    """Docker timestamps (RFC 3339, nanoseconds, Z) compare as strings once the fraction is padded."""
    head, _dot, frac = value.rstrip("Z").partition(".")
    return f"{head}.{frac.ljust(9, '0')}"


def http_ok(svc) -> bool:
    url = f"http://{svc['host']}:{svc.get('http_port', svc.get('port'))}{svc['health']['path']}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


def assert_all_healthy(stack):
    state = inspect(stack)
    assert {name: (s["status"], s["health"]) for name, s in state.items()} == {
        name: ("running", "healthy") for name in stack["services"]}
    for name, svc in stack["services"].items():
        if svc["health"]["type"] == "http":
            assert http_ok(svc), name


@pytest.fixture
def lab_back_up(stack):
    """Whatever a test stops, the whole lab is running and healthy again afterwards."""
    yield
    # A generous timeout: on a loaded machine Neo4j alone has needed minutes to start.
    report, _seconds = play("startup.yml", "-e", "services_health_timeout=900")
    if report["rc"] != 0:  # last resort: start every container in dependency order
        for tier in START_TIERS:
            subprocess.run(["docker", "start", *(stack["services"][n]["container"] for n in tier)],
                           capture_output=True, check=False)
            time.sleep(5)
        report, _seconds = play("startup.yml", "-e", "services_health_timeout=900")
    assert report["rc"] == 0, report["raw"][-3000:]


@pytest.fixture
def probe_inventory(tmp_path):
    """A copy of the lab inventory plus one throwaway service, ``probe``, whose container the test creates.

    The lab's stack.yml is copied as it is, under another variable name, and mem0_stack is that tree
    combined with the extra service: no credential is written anywhere.
    """
    container = f"mem0ops_services_probe_{uuid.uuid4().hex[:8]}"
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "mem0_hosts").mkdir(parents=True)
    shutil.copy(LAB_INVENTORY / "hosts.yml", inventory / "hosts.yml")
    lab_vars = (LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text()
    assert "\nmem0_stack:\n" in lab_vars
    (inventory / "group_vars" / "mem0_hosts" / "stack.yml").write_text(
        lab_vars.replace("\nmem0_stack:\n", "\n_lab_mem0_stack:\n"))

    def with_probe(service: dict):
        extra = {"services": {"probe": {"container": container, "depends_on": ["postgres"], **service}}}
        (inventory / "group_vars" / "mem0_hosts" / "zz_probe.yml").write_text(yaml.safe_dump(
            {"mem0_stack": "{{ _lab_mem0_stack | combine(%s, recursive=true) }}" % json.dumps(extra)}))
        return inventory

    yield container, with_probe
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def test_check_mode_changes_nothing_and_prints_the_plan(stack):
    before = inspect(stack)
    stop, stop_seconds = play("shutdown.yml", "--check")
    start, start_seconds = play("startup.yml", "--check")
    assert inspect(stack) == before

    for report in (stop, start):
        assert report["rc"] == 0, report["raw"][-3000:]
        assert not any(s in report["raw"] for s in secrets_of(stack))

    plan = message(stop, "Show the plan")
    assert plan[0].startswith("CHECK MODE, nothing will change. Stack lab: stop 6 service(s)")
    order = [line for line in plan if line.startswith("  ")]
    assert [line.split(". ", 1)[0].strip() for line in order] == ["1", "2", "3", "4"]
    assert "openmemory_ui (mem0_openmemory_ui_lab, running, healthy: stop)" in order[0]
    assert "openmemory_mcp (mem0_openmemory_mcp_lab" in order[1]
    assert "mem0 (mem0_server_lab" in order[2]
    assert all(f"{name} (" in order[3] for name in ("embedder", "neo4j", "postgres"))
    summary = message(stop, "Summarise")
    assert summary[0] == "CHECK MODE, nothing changed. stop order: openmemory_ui -> openmemory_mcp -> mem0 -> embedder, neo4j, postgres"

    plan = message(start, "Show the plan")
    assert plan[0].startswith("CHECK MODE, nothing will change. Stack lab: start 6 service(s)")
    assert "postgres (mem0_postgres_lab: running, wait for PostgreSQL ping 127.0.0.1:5433 + Docker health)" in plan[2]
    assert "mem0 (mem0_server_lab: running, wait for GET http://127.0.0.1:8888/docs = 200 + Docker health)" in plan[3]
    assert message(start, "Summarise")[0] == (
        "CHECK MODE, nothing changed. start order: embedder, neo4j, postgres -> mem0 -> openmemory_mcp -> openmemory_ui")
    print(f"\ncheck mode: shutdown.yml --check {stop_seconds} s, startup.yml --check {start_seconds} s")


def test_startup_of_a_healthy_stack_changes_nothing(stack):
    before = inspect(stack)
    report, seconds = play("startup.yml")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert report["stats"]["lab"]["changed"] == 0
    assert inspect(stack) == before
    lines = [r["msg"] for r in results(report, "Report the service")]
    assert len(lines) == 6 and all("was running) healthy at +" in line for line in lines), lines
    print(f"\nstartup.yml on a healthy stack: {seconds} s")


def test_unknown_service_name_fails_before_touching_anything(stack):
    before = inspect(stack)
    report, _seconds = play("shutdown.yml", "-e", "services_names=[openmemory_ui,qdrant]")
    assert report["rc"] != 0
    assert "unknown service 'qdrant'" in report["raw"] and "known services: embedder, mem0" in report["raw"]
    assert inspect(stack) == before


def test_subset_touches_nothing_else(stack, lab_back_up):
    before = inspect(stack)
    others = {name: s for name, s in before.items() if name != "openmemory_ui"}

    stop, stop_seconds = play("shutdown.yml", "-e", "services_names=[openmemory_ui]")
    assert stop["rc"] == 0, stop["raw"][-3000:]
    after_stop = inspect(stack)
    assert after_stop["openmemory_ui"]["status"] == "exited"
    assert {name: s for name, s in after_stop.items() if name != "openmemory_ui"} == others

    start, start_seconds = play("startup.yml", "-e", "services_names=openmemory_ui")
    assert start["rc"] == 0, start["raw"][-3000:]
    after_start = inspect(stack)
    assert {name: s for name, s in after_start.items() if name != "openmemory_ui"} == others
    assert after_start["openmemory_ui"]["id"] == before["openmemory_ui"]["id"], "started, never recreated"
    assert after_start["openmemory_ui"]["health"] == "healthy"
    assert message(start, "Summarise")[0] == "start order: openmemory_ui"
    print(f"\nsubset openmemory_ui: stop {stop_seconds} s, start {start_seconds} s")


def test_full_shutdown_and_startup_follow_the_dependency_order(stack, lab_back_up):
    before = inspect(stack)

    stop, stop_seconds = play("shutdown.yml")
    stopped = inspect(stack)
    assert stop["rc"] == 0, stop["raw"][-3000:]
    assert {name: s["status"] for name, s in stopped.items()} == {name: "exited" for name in stack["services"]}
    finished = {name: ts(s["finished_at"]) for name, s in stopped.items()}
    # Dependents first: the UI, then MCP, then the mem0 API, then the databases and the embedder.
    assert finished["openmemory_ui"] < finished["openmemory_mcp"] < finished["mem0"]
    assert finished["mem0"] < min(finished["postgres"], finished["neo4j"], finished["embedder"])

    # The order is under test here, not the speed of a shared, loaded machine.
    start, start_seconds = play("startup.yml", "-e", "services_health_timeout=600")
    assert start["rc"] == 0, start["raw"][-3000:]
    started = inspect(stack)
    assert {name: s["id"] for name, s in started.items()} == {name: s["id"] for name, s in before.items()}
    began = {name: ts(s["started_at"]) for name, s in started.items()}
    for earlier, later in zip(START_TIERS, START_TIERS[1:]):
        assert max(began[n] for n in earlier) < min(began[n] for n in later), (earlier, later, began)
    assert_all_healthy(stack)

    for report in (stop, start):
        assert not any(s in report["raw"] for s in secrets_of(stack))
    summary = message(start, "Summarise")
    assert summary[0] == "start order: embedder, neo4j, postgres -> mem0 -> openmemory_mcp -> openmemory_ui"
    assert summary[-1].startswith("start: 6 service(s) healthy in ")
    tier_lines = [r["msg"] for r in results(start, "Report the tier")]
    assert len(tier_lines) == 4 and all(" healthy in " in line for line in tier_lines)
    print(f"\nfull stop: {stop_seconds} s wall, full start to healthy: {start_seconds} s wall")
    print("\n".join(message(stop, "Summarise") + summary))


def wait_for_status(url: str, status: int, timeout: float = 600) -> None:
    """Until url answers with that HTTP status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                got = answer.status
        except urllib.error.HTTPError as error:
            got = error.code
        except OSError:
            got = None
        if got == status:
            return
        assert time.monotonic() < deadline, f"{url} does not answer {status} (last: {got})"
        time.sleep(0.5)


@pytest.mark.parametrize("case", ["exits", "bad_path"])
def test_failing_health_check_names_the_service_and_shows_its_logs(stack, probe_inventory, case):
    container, with_probe = probe_inventory
    if case == "exits":
        command = ["python", "-m", "apps.probe", "http://127.0.0.1:1/"]
        service = {"host": "127.0.0.1", "port": 1, "health": {"type": "http", "path": "/"}}
    else:
        command = ["python", "-m", "http.server", "18765", "--bind", "127.0.0.1"]
        service = {"host": "127.0.0.1", "port": 18765, "health": {"type": "http", "path": "/no-such-health"}}
    subprocess.run(["docker", "create", "--name", container, "--network", "host", IMAGE_OF_APPS, *command],
                   capture_output=True, check=True)
    if case == "exits":
        # the wait ends when the container exits, however long the machine takes to get there
        timeout = 600
    else:
        # the server answers 404 before the play starts: whatever the timeout, the check can only see the 404
        subprocess.run(["docker", "start", container], capture_output=True, check=True)
        wait_for_status("http://127.0.0.1:18765/no-such-health", 404)
        timeout = 6
    before = inspect(stack)

    report, _seconds = play("startup.yml", "-e", "services_names=[probe]", "-e", f"services_health_timeout={timeout}",
                            inventory=with_probe(service))
    assert report["rc"] != 0
    msg = failure(report)
    assert msg.startswith(f"service probe (container {container}) is not healthy after ")
    assert f"last 30 log lines of {container}:" in msg
    if case == "exits":
        assert "container: exited (exit code 1)" in msg
        assert "probe http://127.0.0.1:1/: URLError" in msg and "Connection refused" in msg
    else:
        assert "failed check: GET http://127.0.0.1:18765/no-such-health answers 200: Status code was 404" in msg
        assert '"GET /no-such-health HTTP/1.1" 404' in msg
    assert inspect(stack) == before, "the lab's containers are untouched"
    assert not any(s in report["raw"] for s in secrets_of(stack))


def test_missing_container_fails_clearly_unless_missing_ok_when_stopping(stack, probe_inventory):
    container, with_probe = probe_inventory
    inventory = with_probe({"health": {"type": "running"}})
    before = inspect(stack)

    start, _seconds = play("startup.yml", "-e", "services_names=[probe]", inventory=inventory)
    assert start["rc"] != 0
    assert (f"container {container} of service probe does not exist; create it with docker compose up"
            in failure(start))

    stop, _seconds = play("shutdown.yml", "-e", "services_names=[probe]", inventory=inventory)
    assert stop["rc"] != 0 and "services_missing_ok=true" in failure(stop)

    stop, _seconds = play("shutdown.yml", "-e", "services_names=[probe]", "-e", "services_missing_ok=true",
                          inventory=inventory)
    assert stop["rc"] == 0, stop["raw"][-3000:]
    assert f"probe ({container}) missing, skipped" in [r["msg"] for r in results(stop, "Report the service")][0]
    assert inspect(stack) == before


def test_compose_mode_stops_and_starts_only_the_selected_services_of_the_project(tmp_path):
    """A throwaway compose project (api depends on db), so the lab is not stopped for this."""
    project = f"mem0ops_services_compose_{uuid.uuid4().hex[:8]}"
    ports = {"db": 18802, "api": 18801}
    compose = {"name": project, "services": {
        name: {"image": IMAGE_OF_APPS, "container_name": f"{project}_{name}", "network_mode": "host",
               "command": ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
               "stop_grace_period": "1s"}
        for name, port in ports.items()}}
    compose["services"]["api"]["depends_on"] = ["db"]
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "compose.yml").write_text(yaml.safe_dump(compose))
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "mem0_hosts").mkdir(parents=True)
    shutil.copy(LAB_INVENTORY / "hosts.yml", inventory / "hosts.yml")
    (inventory / "group_vars" / "mem0_hosts" / "stack.yml").write_text(yaml.safe_dump({"mem0_stack": {
        "name": "compose_test", "docker_host": "unix:///var/run/docker.sock",
        "compose": {"project": project, "dir": str(project_dir)},
        # a complete tree (every play checks it first), though only the services matter here
        "data_root": str(tmp_path / "data"), "backup_root": str(tmp_path / "backups"),
        "embedding": {"model": "nomic-embed-text", "dims": 768}, "mem0": {"collection": "memories"},
        "services": {name: {"container": f"{project}_{name}", "host": "127.0.0.1", "port": port,
                            "depends_on": ["db"] if name == "api" else [], "health": {"type": "http", "path": "/"}}
                     for name, port in ports.items()}}}))

    def state():
        out = subprocess.run(["docker", "inspect", f"{project}_db", f"{project}_api"],
                             capture_output=True, text=True, check=True).stdout
        return {c["Name"].rsplit("_", 1)[-1]: (c["Id"], c["State"]["Status"]) for c in json.loads(out)}

    subprocess.run(["docker", "compose", "up", "-d"], cwd=project_dir, capture_output=True, check=True)
    try:
        before = state()
        stop, _seconds = play("shutdown.yml", "-e", "services_via=compose", "-e", "services_names=[db]", inventory=inventory)
        assert stop["rc"] == 0, stop["raw"][-3000:]
        assert state() == {"db": (before["db"][0], "exited"), "api": before["api"]}, "only db stopped"

        start, _seconds = play("startup.yml", "-e", "services_via=compose", inventory=inventory)
        assert start["rc"] == 0, start["raw"][-3000:]
        assert state() == {"db": (before["db"][0], "running"), "api": before["api"]}, "db started, not recreated"
        summary = message(start, "Summarise")
        assert summary[0] == "start order: db -> api"
        assert summary[1].startswith("  tier 1: db started, healthy at +")
        assert summary[2].startswith("  tier 2: api was running, healthy at +")

        check, _seconds = play("shutdown.yml", "--check", "-e", "services_via=compose", inventory=inventory)
        assert check["rc"] == 0 and state() == {"db": (before["db"][0], "running"), "api": before["api"]}
        assert message(check, "Summarise")[0] == "CHECK MODE, nothing changed. stop order: api -> db"
    finally:
        subprocess.run(["docker", "compose", "down"], cwd=project_dir, capture_output=True, check=False)
