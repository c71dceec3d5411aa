"""reset.yml against a running stack: the refusal, check mode changing nothing while printing the plan, a reset that
fails at Neo4j undone by the command it prints (issue 12, hole 4), a full reset (killed midway and finished by its
journal's resume command) to an empty, working stack, and a second reset that changes nothing.

The stack is the session's scratch stack (tests/integration/scratch.py; MEM0OPS_TEST_INVENTORY names a disposable one
instead), so that these cycles run beside the lab's tests. The reset empties it: at the end the module puts the data set
back (tests/integration/playbooks/reseed.yml: restore the pre-reset backup), so later tests find the 1,968 memories
again.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .labkit import REPO, SEEDED, SEEDED_MEMORIES, SEEDED_NODES, SEEDED_RELATIONSHIPS, load_stack, record_fault, run_playbook

pytestmark = pytest.mark.integration

INVENTORY = Path(os.environ.get("MEM0OPS_TEST_INVENTORY", REPO / "inventories" / "lab")).resolve()
HOST = "lab"
RESEED = REPO / "tests" / "integration" / "playbooks" / "reseed.yml"
# A loaded CI machine may take minutes to start Neo4j on an empty data directory or the mem0 server.
PATIENCE = ("-e", '{"reset_health_timeout": 600, "restore_health_timeout": 600}')


# --- helpers shared with test_restore.py and test_verify.py -------------------------------------------------------

def target(inventory: Path, host: str) -> dict:
    """The stack of a host of an inventory, with where it came from (the keys test_inventory and test_host)."""
    return dict(load_stack(inventory, host), test_inventory=inventory, test_host=host)


def load() -> dict:
    """The lab (or MEM0OPS_TEST_INVENTORY), for the read-only tests."""
    return target(INVENTORY, HOST)


def run(stack: dict, playbook: str | Path, *args: str) -> dict:
    """Run a playbook (of playbooks/, or a path) against the stack's inventory."""
    return run_playbook(str(playbook), *PATIENCE, *args, inventory=stack["test_inventory"])


def changed(stack: dict, report: dict) -> int:
    """Tasks that changed something, the stack lock's own record (taken and left by every writing run) left out."""
    return sum(1 for play in report["plays"] for task in play["tasks"]
               if not task["task"]["name"].startswith("mem0ops.stack.lock : ")
               and any(result.get("changed") for result in task["hosts"].values()))


def pg_connect(stack: dict, dbname: str | None = None):
    import psycopg2

    svc = stack["services"]["postgres"]
    return psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password=svc["password"],
                            dbname=dbname or svc["database"], connect_timeout=10)


def neo4j_session(stack: dict):
    from neo4j import GraphDatabase

    svc = stack["services"]["neo4j"]
    return GraphDatabase.driver(f"bolt://{svc['host']}:{svc['bolt_port']}", auth=(svc["user"], svc["password"]))


def memory_state(stack: dict) -> dict:
    """Memories per namespace and the checksum of their ids, as the brief defines it."""
    collection = stack["mem0"]["collection"]
    with pg_connect(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (collection,))
        if not cur.fetchone()[0]:
            return {"per_namespace": {}, "checksum": None}
        cur.execute(f'SELECT payload->>\'user_id\', count(*) FROM "{collection}" GROUP BY 1 ORDER BY 1')
        per_namespace = dict(cur.fetchall())
        cur.execute(f'SELECT md5(string_agg(id::text, \',\' ORDER BY id)) FROM "{collection}"')
        checksum = cur.fetchone()[0]
    return {"per_namespace": per_namespace, "checksum": checksum}


def graph_state(stack: dict) -> dict:
    with neo4j_session(stack) as driver:
        rows = driver.execute_query("MATCH (n) RETURN n.user_id AS user, count(n) AS n ORDER BY user").records
        rels = driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n").records[0]["n"]
    return {"per_user": {r["user"]: r["n"] for r in rows}, "relationships": rels}


def history_rows(stack: dict) -> int:
    import sqlite3

    path = Path(stack["data_root"]) / stack["services"]["mem0"]["data_dir"] / stack["mem0"]["history_db"]
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM history").fetchone()[0]
    finally:
        conn.close()


def containers(stack: dict) -> dict:
    import docker

    client = docker.DockerClient(base_url=stack["docker_host"])
    out = {}
    for name, svc in stack["services"].items():
        if "container" in svc:
            attrs = client.api.inspect_container(svc["container"])
            out[name] = {"id": attrs["Id"], "status": attrs["State"]["Status"], "started_at": attrs["State"]["StartedAt"],
                         "restarts": attrs["RestartCount"]}
    return out


def listing(root: Path, skip: tuple = ()) -> dict:
    """Every file and directory under root: size and mtime (names relative to root)."""
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(skip):
            continue
        st = path.lstat()
        out[rel] = (st.st_size if path.is_file() else None, st.st_mtime_ns)
    return out


def app_files(root: Path) -> dict:
    """The files of an app's data directory and their inodes (SQLite's transient journals left out)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.lstat().st_ino for p in sorted(root.rglob("*"))
            if not p.name.endswith(("-journal", "-wal", "-shm"))}


def snapshot(stack: dict) -> dict:
    """What check mode must leave alone: containers, data, data directories, the backup root."""
    data_root = Path(stack["data_root"])
    svc = stack["services"]
    pg_dir = data_root / svc["postgres"]["data_dir"]
    return {
        "containers": containers(stack),
        "memories": memory_state(stack),
        "graph": graph_state(stack),
        "history_rows": history_rows(stack),
        # PostgreSQL rewrites its own bookkeeping (WAL, statistics) at any time: its databases' directories are what
        # a reset would drop.
        "postgres_databases": sorted(p.name for p in (pg_dir / "base").iterdir()),
        # Neo4j writes its store files at every checkpoint (sizes and mtimes change on their own) and rotates its
        # transaction logs: its store files (the same inodes) are what a reset would wipe.
        "neo4j_store": app_files(data_root / svc["neo4j"]["data_dir"] / "databases"),
        # The running apps write their own databases (OpenMemory logs every access): what a reset would do to them
        # is remove them, so their files (the same inodes) must all still be there.
        "app_data": {name: app_files(data_root / s["data_dir"]) for name, s in svc.items()
                     if "reset_files" in s and "data_dir" in s},
        "backup_root": listing(Path(stack["backup_root"])),
    }


def diff(before: dict, after: dict) -> list:
    out = []
    for key in before:
        if before[key] != after[key]:
            if isinstance(before[key], dict):
                changed = sorted(k for k in set(before[key]) | set(after[key]) if before[key].get(k) != after[key].get(k))
                out.append(f"{key}: {changed[:10]}")
            else:
                out.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return out


def last_task(report: dict, name: str) -> dict:
    """The result of the last task of that name that ran (role tasks are named "<role FQCN> : <name>")."""
    found = None
    for play in report["plays"]:
        for task in play["tasks"]:
            result = next(iter(task["hosts"].values()), None)  # one host a run
            if task["task"]["name"] == name and result is not None and not result.get("skipped"):
                found = result
    if found is None:
        raise KeyError(name)
    return found


def role_task(report: dict, role: str, name: str) -> dict:
    return last_task(report, f"mem0ops.stack.{role} : {name}")


def plan_text(report: dict, role: str) -> str:
    return "\n".join(role_task(report, role, "Show the plan")["msg"])


def secrets(stack: dict) -> list:
    svc = stack["services"]
    return [s for s in (svc["postgres"]["password"], svc["neo4j"]["password"], svc["mem0"].get("api_key")) if s]


def assert_no_secret(stack: dict, report: dict) -> None:
    for secret in secrets(stack):
        assert secret not in report["raw"], "a credential appears in the output"


def reseed(stack: dict, pre_reset_set: str | None = None) -> dict:
    """Put the data set back: a restore of the pre-reset backup."""
    args = ["-e", f"reseed_set={pre_reset_set}"] if pre_reset_set else []
    report = run(stack, RESEED, *args)
    assert report["rc"] == 0, report["raw"][-3000:]
    return report


# --- tests ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(scratch_stack) -> dict:
    return target(scratch_stack.inventory, scratch_stack.host)


def test_reset_refuses_without_confirmation(stack):
    before = containers(stack)
    report = run(stack, "reset.yml")
    assert report["rc"] != 0
    msg = role_task(report, "reset", "Refuse a real reset without the stack's name as confirmation")["msg"]
    assert f"run again with: -e reset_confirm={stack['name']}" in " ".join(msg)
    assert changed(stack, report) == 0
    assert containers(stack) == before


def test_reset_refuses_a_confirmation_for_another_stack(stack):
    other = "prd" if stack["name"] != "prd" else "lab"
    report = run(stack, "reset.yml", "-e", f"reset_confirm={other}")
    assert report["rc"] != 0
    text = " ".join(role_task(report, "reset", "Refuse a real reset without the stack's name as confirmation")["msg"])
    assert f"reset_confirm={other} names another stack" in text
    assert f"-e reset_confirm={stack['name']}" in text


def test_reset_check_changes_nothing_and_prints_the_plan(stack):
    before = snapshot(stack)
    assert before["memories"]["per_namespace"], "the stack must hold memories for this test (make lab)"
    started = time.monotonic()
    # the plan of the explicit wipe: check mode must not even stop Neo4j for the proof
    report = run(stack, "reset.yml", "--check", "-e", "reset_neo4j_wipe=true")
    seconds = time.monotonic() - started
    after = snapshot(stack)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert diff(before, after) == []
    text = plan_text(report, "reset")
    svc = stack["services"]
    # the dependents stop first, in reverse dependency order
    stop_line = next(line for line in text.splitlines() if line.startswith("4. stop"))
    positions = [stop_line.index(svc[name]["container"]) for name in ("openmemory_ui", "openmemory_mcp", "mem0")]
    assert positions == sorted(positions), stop_line
    assert svc["postgres"]["container"] not in stop_line
    assert f"DROP DATABASE {svc['postgres']['database']}" in text
    for namespace, count in before["memories"]["per_namespace"].items():
        assert f"    {namespace}: {count}" in text
    for user, count in before["graph"]["per_user"].items():
        assert f"    {user}: {count}" in text
    assert f"{stack['backup_root']}/pre-reset/" in text and "estimated" in text
    # the wipe, chosen explicitly (the real resets below empty the graph online, the default)
    assert f"5. Neo4j (wipe, -e reset_neo4j_wipe=true): stop {svc['neo4j']['container']}, wipe {stack['data_root']}/{svc['neo4j']['data_dir']}" in text
    assert f"3. prove, before anything stops or is dropped: Neo4j {svc['neo4j']['container']} can be stopped and started" in text
    assert_no_secret(stack, report)
    print(f"reset.yml --check: {seconds:.1f} s")


def test_a_reset_that_fails_at_neo4j_is_undone_by_the_command_it_prints(stack, scratch_stack):
    """Issue 12, hole 4: Neo4j dies (killed, as the OOM killer would) after the reset proved it and wrote its journal,
    before the graph is emptied. The reset fails in its Neo4j phase; the printed command, run verbatim, puts the data
    back: the seed's counts by a direct SQL and Cypher query."""
    svc = stack["services"]
    collection = stack["mem0"]["collection"]
    count_sql = f'SELECT count(*) FROM "{collection}"'
    before = scratch_stack.sql(count_sql)[0][0]
    assert before == SEEDED_MEMORIES and memory_state(stack)["per_namespace"] == SEEDED
    journal = Path(stack["backup_root"]) / "journal" / f"{stack['name']}.json"
    assert not journal.exists()
    outcome = {}
    began = time.monotonic()
    runner = threading.Thread(target=lambda: outcome.update(
        report=run(stack, "reset.yml", "-e", f"reset_confirm={stack['name']}")))
    runner.start()
    # The journal is written after the proof, before the first service stops; the graph is emptied after the stop.
    while runner.is_alive() and not journal.exists():
        time.sleep(0.05)
    killed = runner.is_alive()
    if killed:
        scratch_stack.docker("kill", svc["neo4j"]["container"])
    runner.join()
    assert killed, "the reset ended before its journal appeared"
    report = outcome["report"]
    assert report["rc"] != 0
    lines = role_task(report, "reset", "Stop, saying what failed and what state the stack is in")["msg"]
    text = "\n".join(lines)
    assert "FAILED in phase neo4j" in lines[0], text
    # by default the graph is emptied online, proven first by a write
    plan = plan_text(report, "reset")
    assert "5. Neo4j (online): MATCH (n) DETACH DELETE n in batches" in plan
    assert "answers and commits a write with the inventory password" in plan
    # nothing of PostgreSQL was dropped (the graph is emptied first), and the journal names the way out
    assert scratch_stack.sql(count_sql)[0][0] == before
    assert journal.exists() and json.loads(journal.read_text())["playbook"] == "reset"
    # the failure started Neo4j again, so the printed command works in the state left
    assert containers(stack)["neo4j"]["status"] == "running"
    command = next(line for line in lines if line.startswith("To put the data back")).split("): ", 1)[1]
    assert "restore_rollback=true" in command
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    rollback = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    after = scratch_stack.sql(count_sql)[0][0]
    record_fault("Neo4j killed mid-reset (after the proof)", before, after,
                 "reset failed in phase neo4j, PostgreSQL untouched; the printed restore of its safety set "
                 + ("brought the data back" if rollback.returncode == 0 else "FAILED"))
    assert rollback.returncode == 0, (rollback.stdout + rollback.stderr)[-4000:]
    assert after == before and memory_state(stack)["per_namespace"] == SEEDED
    assert sum(graph_state(stack)["per_user"].values()) == SEEDED_NODES
    assert graph_state(stack)["relationships"] == SEEDED_RELATIONSHIPS
    assert all(c["status"] == "running" for c in containers(stack).values())
    assert not journal.exists(), "the rollback ends the reset's journal"
    for secret in secrets(stack):
        assert secret not in report["raw"] and secret not in rollback.stdout + rollback.stderr
    print(f"reset killed at Neo4j, then its printed rollback: {time.monotonic() - began:.1f} s")


@pytest.fixture(scope="module")
def reset_run(stack):
    """One real reset, killed (SIGKILL of ansible-playbook and its modules, as a power cut would) as it begins to drop
    the database, then finished by the command its journal holds, copied verbatim; afterwards the data set is put
    back."""
    before = {"memories": memory_state(stack), "graph": graph_state(stack), "history_rows": history_rows(stack)}
    journal = Path(stack["backup_root"]) / "journal" / f"{stack['name']}.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    started = time.monotonic()
    killed = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(stack["test_inventory"]), str(REPO / "playbooks" / "reset.yml"),
         *PATIENCE, "-e", f"reset_confirm={stack['name']}"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    entry: dict = {}
    while killed.poll() is None and entry.get("phase") != "postgres":
        time.sleep(0.05)
        entry = json.loads(journal.read_text()) if journal.exists() else {}
    os.killpg(killed.pid, 9)
    killed.wait()
    assert entry.get("phase") == "postgres", f"the reset ended before it reached its PostgreSQL phase: {entry}"
    entry = json.loads(journal.read_text())
    resume = subprocess.run(["bash", "-c", entry["resume"]], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    report = json.loads(resume.stdout[resume.stdout.find('{\n    "custom_stats"'):] or "{}")
    report.update(rc=resume.returncode, raw=resume.stdout + resume.stderr)
    yield {"report": report, "before": before, "seconds": seconds, "journal": entry, "journal_path": journal}
    reseed(stack, entry["safety_set"])
    # the data set is back, by the seed's own counts
    assert memory_state(stack)["per_namespace"] == SEEDED
    assert sum(graph_state(stack)["per_user"].values()) == SEEDED_NODES


def backup_path(report: dict, role: str = "reset", label: str = "backup") -> str | None:
    """The backup a reset or restore report names (None when it has none)."""
    try:
        lines = role_task(report, role, "Report")["msg"]
    except KeyError:
        return None
    for line in lines:
        if line.strip().startswith(label + ": "):
            return line.split(label + ": ")[1].split(" ")[0]
    return None


def test_reset_empties_the_stack_and_leaves_it_working(stack, reset_run):
    report = reset_run["report"]
    assert report["rc"] == 0, report["raw"][-4000:]
    # what was reset is the seeded data set (the seed's counts, not the code's own manifest)
    assert reset_run["before"]["memories"]["per_namespace"] == SEEDED
    assert reset_run["before"]["graph"]["relationships"] == SEEDED_RELATIONSHIPS
    assert sum(reset_run["before"]["graph"]["per_user"].values()) == SEEDED_NODES
    assert memory_state(stack)["per_namespace"] == {}
    assert graph_state(stack) == {"per_user": {}, "relationships": 0}
    assert history_rows(stack) == 0
    assert all(c["status"] == "running" for c in containers(stack).values())
    lines = role_task(report, "reset", "Report")["msg"]
    text = "\n".join(lines)
    # the run was killed in its PostgreSQL phase and finished by the journal's resume command
    assert "DONE (resumed)" in lines[0] and "downtime" in lines[0]
    assert reset_run["journal"]["playbook"] == "reset" and "reset_resume=true" in reset_run["journal"]["resume"]
    assert not reset_run["journal_path"].exists(), "the finished reset removes its journal"
    for namespace, count in reset_run["before"]["memories"]["per_namespace"].items():
        assert f"memories {namespace}: {count} -> 0" in text
    assert "smoke test in mem0ops/smoke: created, found by search" in text
    # the report is the log file, and the backup it names is a valid set holding what the stack held
    log = Path(text.rsplit("report: ", maxsplit=1)[-1].strip())
    assert log.read_text().startswith(lines[0])
    set_dir = Path(reset_run["journal"]["safety_set"])
    assert f"the safety set (the state before the reset): {set_dir}" in text
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["status"] == "valid" and manifest["tier"] == "pre-reset"
    assert manifest["counts"]["memories"]["per_namespace"] == reset_run["before"]["memories"]["per_namespace"]
    assert_no_secret(stack, report)
    print(f"reset: {reset_run['seconds']:.1f} s in all; {lines[0]}")


def test_a_second_reset_of_the_empty_stack_changes_nothing(stack, reset_run):
    assert reset_run["report"]["rc"] == 0
    before = containers(stack)
    report = run(stack, "reset.yml", "-e", f"reset_confirm={stack['name']}")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert changed(stack, report) == 0
    assert "ALREADY EMPTY" in role_task(report, "reset", "Report")["msg"][0]
    assert containers(stack) == before
