"""restore.yml against a running stack: the refusal, check mode changing nothing, a set of other embedding dims
refused, lost memories and graph nodes put back with the counts proven, a second restore changing nothing, a
graph-only restore, and a restore that fails midway putting the safety backup back.

The stack is the session's scratch stack (as in test_reset.py). Every test leaves the seeded data set in place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from .labkit import REPO, SEEDED, SEEDED_NODES, SEEDED_RELATIONSHIPS
from .test_reset import (
    assert_no_secret, changed, containers, diff, graph_state, history_rows, memory_state, neo4j_session, pg_connect,
    plan_text, role_task, run, snapshot, target)

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
    """A snapshot without the run reports and the restore record, which every real run writes."""
    return dict(state, backup_root={k: v for k, v in state["backup_root"].items() if not k.startswith("logs")})


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
    print(f"restore: {seconds:.1f} s; {lines[0]}; {next(line for line in lines if 'PostgreSQL: rows' in line).strip()}")


def test_a_second_restore_of_the_same_set_changes_nothing(stack, good_set):
    before = containers(stack)
    report = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={good_set['path']}")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert changed(stack, report) == 0
    assert "ALREADY HOLDS THE SET" in role_task(report, "restore", "Report")["msg"][0]
    assert containers(stack) == before


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
