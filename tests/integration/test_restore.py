"""restore.yml against a running stack: the refusal, check mode changing nothing, a set of other embedding dims
refused, lost memories and graph nodes put back with the counts proven, a second restore changing nothing, a
graph-only restore, and a restore that fails midway putting the safety backup back.

The stack is the session's scratch stack (as in test_reset.py). Every test leaves the seeded data set in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .labkit import REPO, SEEDED, SEEDED_MEMORIES, SEEDED_NODES, SEEDED_RELATIONSHIPS, record_fault
from .test_reset import (
    PATIENCE, assert_no_secret, changed, containers, diff, graph_state, history_rows, memory_state, neo4j_session,
    pg_connect, plan_text, role_task, run, snapshot, target)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(scratch_stack) -> dict:
    return target(scratch_stack.inventory, scratch_stack.host)


@pytest.fixture(scope="module")
def good_set(stack):
    """A fresh backup of the seeded stack (tier manual): the set the tests restore."""
    playbook = REPO / "tests" / "integration" / "playbooks" / "backup_manual.yml"
    report = run(stack, playbook)
    assert report["rc"] == 0, report["raw"][-3000:]
    result = role_task(report, "backup", "Publish the result for includers")["ansible_facts"]["backup_result"]
    assert result["status"] == "valid", result["problems"]
    path = Path(result["path"])
    yield {"path": path, "manifest": json.loads((path / "manifest.json").read_text()),
           "memories": memory_state(stack)}
    # whatever happened, the stack ends with the data set: the lab playbook reseeds what is missing
    final = run(stack, "lab.yml")
    assert final["rc"] == 0, final["raw"][-3000:]


def lose_a_namespace(stack: dict, graph: bool = True, memories: bool = True) -> str:
    namespace = stack["mem0"]["namespace_prefix"] + "booking"
    if memories:
        with pg_connect(stack) as conn, conn.cursor() as cur:
            cur.execute(f'DELETE FROM "{stack["mem0"]["collection"]}" WHERE payload->>\'user_id\' = %s', (namespace,))
    if graph:
        with neo4j_session(stack) as driver:
            driver.execute_query("MATCH (n {user_id: $ns}) DETACH DELETE n", ns=namespace)
    return namespace


def copy_set(good_set: dict, dest: Path) -> Path:
    target = dest / good_set["path"].name
    shutil.copytree(good_set["path"], target)
    return target


def rewrite(set_dir: Path, name: str, content: bytes) -> None:
    """Replace one file of a copied set and fix the set manifest's size and sha256 for it, as a forger would."""
    (set_dir / name).write_bytes(content)
    manifest = json.loads((set_dir / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["name"] == name:
            entry["size"] = len(content)
            entry["sha256"] = hashlib.sha256(content).hexdigest()
    (set_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def test_restore_refuses_without_confirmation(stack):
    before = containers(stack)
    report = run(stack, "restore.yml")
    assert report["rc"] != 0
    text = " ".join(role_task(report, "restore", "Refuse a real restore without the stack's name as confirmation")["msg"])
    assert f"run again with: -e restore_confirm={stack['name']}" in text
    assert changed(stack, report) == 0
    assert containers(stack) == before


def without_logs(state: dict) -> dict:
    """A snapshot without the run reports and the restore record, which every real run writes, and the directories of
    the stack's lock and of the destructive runs' journal (empty when no run holds them)."""
    return dict(state, backup_root={k: v for k, v in state["backup_root"].items()
                                    if not k.startswith(("logs", "lock", "journal"))})


def test_restore_check_changes_nothing_and_prints_the_plan(stack, good_set):
    before = snapshot(stack)
    report = run(stack, "restore.yml", "--check", "-e", f"restore_set={good_set['path']}")
    after = snapshot(stack)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert diff(before, after) == []
    text = plan_text(report, "restore")
    assert f"set: {good_set['path']}" in text
    assert "memories: not restored from this set by the last restore" in text
    assert f"DROP DATABASE {stack['services']['postgres']['database']}" in text
    assert f"{stack['backup_root']}/pre-restore/" in text
    assert_no_secret(stack, report)


def test_restore_refuses_a_set_of_other_embedding_dims(stack, good_set, tmp_path):
    forged = copy_set(good_set, tmp_path)
    pg_manifest = json.loads((forged / "postgres" / "manifest.json").read_text())
    for table in pg_manifest["vector_tables"]:
        table["type"] = "vector(1536)"
        table["declared_dims"] = 1536
        table["observed_dims"] = [1536]
    rewrite(forged, "postgres/manifest.json", json.dumps(pg_manifest).encode())
    before = snapshot(stack)
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={forged}")
    assert report["rc"] != 0
    text = " ".join(role_task(report, "restore", "Stop, saying what failed and what state the stack is in")["msg"])
    assert "1536-dim" in text and "restore_force_dims=true" in text and "re-embed" in text
    assert "Nothing was changed" in text
    assert diff(without_logs(before), without_logs(snapshot(stack))) == []


def test_restore_puts_lost_memories_and_graph_back(stack, good_set):
    namespace = lose_a_namespace(stack)
    started = time.monotonic()
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}")
    seconds = time.monotonic() - started
    assert report["rc"] == 0, report["raw"][-4000:]
    manifest = good_set["manifest"]
    assert memory_state(stack) == good_set["memories"]
    # the seed's own counts: an oracle independent of the set's manifest
    assert memory_state(stack)["per_namespace"] == SEEDED
    assert graph_state(stack)["relationships"] == SEEDED_RELATIONSHIPS
    assert sum(graph_state(stack)["per_user"].values()) == SEEDED_NODES
    assert graph_state(stack)["relationships"] == manifest["counts"]["graph"]["relationships"]
    assert sum(graph_state(stack)["per_user"].values()) == manifest["counts"]["graph"]["nodes"]
    assert history_rows(stack) == manifest["counts"]["history"][stack["mem0"]["history_db"]]["history"]
    lines = role_task(report, "restore", "Report")["msg"]
    text = "\n".join(lines)
    assert "DONE" in lines[0]
    assert f"memories {namespace}: 0 -> 33 (33)" in text
    assert "PostgreSQL: rows " in text and "indexes " in text
    safety = next(line for line in lines if line.strip().startswith("safety backup: "))
    assert f"{stack['backup_root']}/pre-restore/" in safety
    assert_no_secret(stack, report)
    print(f"restore: {seconds:.1f} s; {lines[0]}; {next(line for line in lines if 'PostgreSQL: rows' in line).strip()}; "
          f"{next(line for line in lines if line.strip().startswith('phases:')).strip()}")


def test_a_second_restore_of_the_same_set_changes_nothing(stack, good_set):
    before = containers(stack)
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert changed(stack, report) == 0
    assert "ALREADY HOLDS THE SET" in role_task(report, "restore", "Report")["msg"][0]
    assert containers(stack) == before


def playbook_env() -> dict:
    venv = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv"))
    return dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1",
                ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))


def memories_total(stack: dict) -> int:
    with pg_connect(stack) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{stack["mem0"]["collection"]}"')
        return cur.fetchone()[0]


def job_processes(jid: str) -> list:
    """The processes of an async job (async_wrapper's command line holds the job id's first part)."""
    found = subprocess.run(["pgrep", "-f", f"async_wrapper[^ ]* {jid.split('.')[0]} "], capture_output=True, text=True,
                           check=False)
    return found.stdout.split()


def test_a_restore_killed_midway_is_refused_then_resumed(stack, good_set, tmp_path):
    """Issue 12, hole 2: SIGKILL of ansible-playbook once the journal says 'postgres rows' and the PostgreSQL job runs
    (async, poll 0: it outlives its controller). A plain restore is then refused, naming the journal's commands, and
    changes nothing; the resume command it printed, run as printed, kills what is left of the job and brings the stack
    to the set's counts (the seed's, by a direct query)."""
    began = time.monotonic()
    before = memories_total(stack)
    assert before == SEEDED_MEMORIES
    journal = Path(stack["backup_root"]) / "journal" / f"{stack['name']}.json"
    job_file = Path(stack["backup_root"]) / "logs" / f"restore_job_{stack['name']}.json"
    assert not journal.exists()
    output = tmp_path / "killed.out"
    with output.open("w") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["ansible-playbook", "-i", str(stack["test_inventory"]), str(REPO / "playbooks" / "restore.yml"), *PATIENCE,
             "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}", "-e", "restore_force=true",
             "-e", "restore_parts=postgres"],
            cwd=REPO, env=playbook_env(), stdout=out, stderr=subprocess.STDOUT)
    phase = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:  # a bounded wait on the playbook itself between two reads of the journal, so that its end is seen too
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        try:
            phase = json.loads(journal.read_text()).get("phase")
        except (OSError, ValueError):  # not written yet, or being replaced
            phase = None
        if phase == "postgres rows" and job_file.exists():
            break
    assert proc.poll() is None, output.read_text()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert phase == "postgres rows"
    jid = json.loads(job_file.read_text())["jid"]
    killed_at = time.monotonic() - began
    # The seed's restore takes seconds, a real one an hour: the orphan (async_wrapper, the module, its children) is
    # frozen where it is, so that it is still there when the resume starts, as it would be on the owner's stack.
    frozen = freeze(job_processes(jid))
    try:
        finish_killed_restore(stack, good_set, {"journal": journal, "job_file": job_file, "jid": jid, "frozen": frozen,
                                                "began": began, "killed_at": killed_at, "before": before})
    finally:
        for group in frozen:  # whatever failed, nothing of the test is left behind
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def freeze(pids: list) -> set:
    """SIGSTOP the process groups of these processes; returns the groups."""
    groups = set()
    for pid in pids:
        try:
            group = os.getpgid(int(pid))
            os.killpg(group, signal.SIGSTOP)
            groups.add(group)
        except ProcessLookupError:  # it ended meanwhile
            pass
    return groups


def finish_killed_restore(stack: dict, good_set: dict, killed: dict) -> None:
    """The second half of test_a_restore_killed_midway_is_refused_then_resumed, once the orphan is frozen."""
    journal, job_file, jid, frozen = killed["journal"], killed["job_file"], killed["jid"], killed["frozen"]
    # a plain restore is refused, names the way out, and changes nothing
    held = containers(stack)
    refused = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}")
    assert refused["rc"] != 0
    assert changed(stack, refused) == 0
    assert containers(stack) == held
    assert json.loads(journal.read_text())["phase"] == "postgres rows"
    resume = re.search(r"To finish it: (ansible-playbook [^\"]*-e restore_resume=true)", refused["raw"])
    rollback = re.search(r"To put back the state before it: (ansible-playbook [^\"]*-e restore_rollback=true)", refused["raw"])
    assert resume and rollback, refused["raw"][-3000:]
    assert f"-e restore_confirm={stack['name']}" in resume.group(1) and f"-e restore_set={good_set['path']}" in resume.group(1)
    assert "-e restore_parts=postgres " in resume.group(1)
    assert f"-e restore_set={stack['backup_root']}/pre-restore/" in rollback.group(1)

    # the printed resume command, as printed (the lab's health patience added), finishes the restore
    started = time.monotonic()
    done = subprocess.run(" ".join([resume.group(1), *map(shlex.quote, PATIENCE)]), shell=True, cwd=tempfile.gettempdir(),
                          env=playbook_env(), capture_output=True, text=True, check=False)
    resumed = time.monotonic() - started
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    report = json.loads(done.stdout[max(done.stdout.find('{\n    "custom_stats"'), 0):])
    lines = role_task(report, "restore", "Report")["msg"]
    assert "DONE" in lines[0]
    after = memories_total(stack)
    assert memory_state(stack)["per_namespace"] == SEEDED
    assert sum(graph_state(stack)["per_user"].values()) == SEEDED_NODES
    assert not journal.exists() and not job_file.exists()
    assert job_processes(jid) == []
    killer = role_task(report, "restore", "Kill the processes of the interrupted job (async_wrapper and the module, by process group)")
    if frozen:  # the orphan was caught alive: the resume killed it (both of its process groups)
        assert int(killer["stdout"]) == len(frozen), killer
    assert all(c["status"] == "running" for c in containers(stack).values())
    record_fault("SIGKILL of restore.yml in phase 'postgres rows'", killed["before"], after,
                 "next restore refused naming the journal's resume and rollback; the printed resume killed the orphan "
                 "job (its process groups, by the recorded job id) and finished the restore")
    print(f"killed restore: {killed['killed_at']:.1f} s to phase 'postgres rows'; refused in {refused['seconds']} s; "
          f"resumed in {resumed:.1f} s, killing {killer.get('stdout', 'no')} process groups of the orphan job "
          f"({len(frozen)} frozen); whole test {time.monotonic() - killed['began']:.1f} s; resume: {lines[0]}; "
          f"{next(line for line in lines if line.strip().startswith('phases:')).strip()}")


def test_a_graph_only_restore_leaves_postgres_alone(stack, good_set):
    lose_a_namespace(stack, memories=False)
    memories = memory_state(stack)
    postgres = containers(stack)["postgres"]
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}",
                 "-e", "restore_parts=[neo4j]", "-e", "restore_safety_backup=false")
    assert report["rc"] == 0, report["raw"][-4000:]
    assert sum(graph_state(stack)["per_user"].values()) == good_set["manifest"]["counts"]["graph"]["nodes"]
    assert memory_state(stack) == memories
    assert containers(stack)["postgres"] == postgres


def test_a_restore_that_fails_midway_puts_the_safety_backup_back(stack, good_set, tmp_path):
    forged = copy_set(good_set, tmp_path)
    pg_manifest = json.loads((forged / "postgres" / "manifest.json").read_text())
    dump = next(entry for entry in pg_manifest["files"] if entry["format"] == "custom")
    garbage = b"PGDMP" + b"\0" * 4096  # a custom-format header and nothing pg_restore can read
    dump["size"], dump["sha256"] = len(garbage), hashlib.sha256(garbage).hexdigest()
    rewrite(forged, f"postgres/{dump['name']}", garbage)
    rewrite(forged, "postgres/manifest.json", json.dumps(pg_manifest).encode())
    before = memory_state(stack)
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={forged}",
                 "-e", "restore_parts=[postgres]", "-e", "restore_force=true", "-e", "restore_smoke=false")
    assert report["rc"] != 0
    text = " ".join(role_task(report, "restore", "Stop, saying what failed and what state the stack is in")["msg"])
    assert "FAILED, ROLLED BACK" in text and "was put back and verified" in text, text
    assert memory_state(stack) == before
    assert all(c["status"] == "running" for c in containers(stack).values())
