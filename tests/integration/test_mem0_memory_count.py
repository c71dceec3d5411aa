"""mem0_memory_count against the lab's real PostgreSQL, mem0 API and Neo4j, through ansible-playbook.

The seeded lab is only read. Scenarios that need other data (an emptied database, half the memories gone,
no table) run on throwaway databases of the lab server, dropped afterwards even when a test fails.
Module arguments name the inventory's variables, so no credential is written to disk or put on a command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .labkit import NEO4J, PG_DOCKER, PG_TCP, SEEDED, free_port, lab_secrets, run_tasks

pytestmark = pytest.mark.integration

MODULE = "mem0ops.stack.mem0_memory_count"
MEM0_API = {
    "url": "http://{{ mem0_stack.services.mem0.host }}:{{ mem0_stack.services.mem0.port }}",
    "api_key": "{{ mem0_stack.services.mem0.api_key }}",
}
# What a task returns that is about this run rather than about the data.
RUN_KEYS = ("invocation", "count_seconds", "result_file_written", "prometheus_textfile_written", "_ansible_no_log")


def count(args: dict, check: bool = False) -> dict:
    task = {MODULE: args}
    if check:
        task["check_mode"] = True
    return task


def data_part(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in RUN_KEYS}


def copy_memories(pg, stack, target: str, keep: dict) -> None:
    """Copy the lab's memories into `target`, at most keep[namespace] of each (the lab is only read)."""
    with pg() as src, src.cursor() as cur:
        cur.execute("SELECT id, vector::text, payload::text, payload->>'user_id' FROM %s ORDER BY id"
                    % stack["mem0"]["collection"])
        rows = cur.fetchall()
    src.close()
    taken, batch = {}, []
    for row in rows:
        if taken.get(row[3], 0) < keep.get(row[3], 0):
            taken[row[3]] = taken.get(row[3], 0) + 1
            batch.append(row[:3])
    with pg(target) as dst, dst.cursor() as cur:
        cur.executemany("INSERT INTO memories (id, vector, payload) VALUES (%s, %s::vector, %s::jsonb)", batch)
    dst.close()


@pytest.fixture(scope="module")
def lab_state(tmp_path_factory):
    """The seeded lab's counts, written by the module as a result file: the baseline of the scenarios below."""
    path = tmp_path_factory.mktemp("state") / "memory_count.json"
    (result,), dummy = run_tasks(count(dict(PG_TCP, result_file=str(path))))
    assert result["result_file_written"] is True, result
    return path


def test_counts_equal_the_seed_over_tcp_and_docker_exec_also_in_check_mode(stack, pg):
    results, raw = run_tasks(count(PG_TCP), count(PG_TCP, check=True), count(PG_DOCKER), count(PG_DOCKER, check=True),
                             count(dict(PG_TCP, namespace_prefix="mark_carey/s")))
    tcp, tcp_check, docker, docker_check, prefixed = results
    for result in (tcp, tcp_check, docker, docker_check):
        assert result.get("failed") is not True, result.get("msg")
        assert result["changed"] is False
        assert result["per_namespace"] == SEEDED and result["total"] == sum(SEEDED.values())
        assert result["unscoped"] == 0 and result["level"] == "ok" and result["problems"] == []
        assert data_part(result) == data_part(tcp)
    with pg() as conn, conn.cursor() as cur:  # mem0migrations holds a row, and it is not counted
        cur.execute("SELECT count(*) FROM mem0migrations")
        assert cur.fetchone()[0] == 1
    conn.close()
    assert prefixed["per_namespace"] == {"mark_carey/sap": 678, "mark_carey/synovia": 1243}
    assert prefixed["total"] == 1921
    assert not any(s in raw for s in lab_secrets(stack))


def test_mem0_api_and_neo4j_agree_with_postgres(stack):
    (result,), raw = run_tasks(count(dict(PG_TCP, mem0_api=MEM0_API, **NEO4J)))
    assert result.get("failed") is not True, result.get("msg")
    assert result["agree"] is True and result["disagreements"] == [] and result["level"] == "ok"
    api = result["sources"]["mem0_api"]
    assert api["per_namespace"] == dict(SEEDED, **{"mark_carey/synovia": 1000})
    assert api["truncated"] == ["mark_carey/synovia"], "the server caps a listing at 1000"
    assert set(result["sources"]["neo4j"]["per_user_id"]) == set(SEEDED)
    assert sum(result["sources"]["neo4j"]["per_user_id"].values()) == 70
    assert not any(s in raw for s in lab_secrets(stack))


def test_wrong_api_key_is_named(stack):
    results, raw = run_tasks(count(dict(PG_TCP, mem0_api=dict(MEM0_API, api_key="not-the-key"))),
                             count(dict(PG_TCP, fail_on_unreachable=False, mem0_api=dict(MEM0_API, api_key="nope"))))
    assert results[0]["failed"] is True and "refused the API key (HTTP 401)" in results[0]["msg"]
    assert results[1]["level"] == "warning" and results[1]["per_namespace"] == SEEDED
    assert not any(s in raw for s in lab_secrets(stack))


def test_textfile_is_valid_for_promtool(tmp_path):
    textfile = tmp_path / "mem0.prom"
    (result,), dummy = run_tasks(count(dict(PG_TCP, baseline=1968, prometheus_textfile=str(textfile))))
    assert result["prometheus_textfile_written"] is True and result["changed"] is False
    text = textfile.read_text()
    assert 'mem0_namespace_memories{namespace="mark_carey/synovia"} 1243\n' in text
    assert "mem0_memories 1968\n" in text and "mem0_database_up 1\n" in text
    assert "mem0_memory_drop_ratio 0\n" in text
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian package prometheus) is not installed: the text was checked, not linted")
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


# --- throwaway databases -----------------------------------------------------------------------
def test_emptied_database_against_the_lab_baseline_is_critical(throwaway_db, lab_state, tmp_path):
    empty = throwaway_db()
    textfile = tmp_path / "mem0.prom"
    args = dict(PG_TCP, db=empty, baseline=str(lab_state), result_file=str(lab_state),
                prometheus_textfile=str(textfile))
    (checked, result), dummy = run_tasks(count(args, check=True), count(args))
    assert result["database_up"] is True and result["table_exists"] is True
    assert result["total"] == 0 and result["level"] == "critical" and result["drop_percent"] == 100.0
    assert sorted(result["vanished_namespaces"]) == sorted(SEEDED)
    assert result["changed"] is False and data_part(checked) == data_part(result)
    assert result["result_file_written"] is False, "the last good counts stay the baseline"
    assert json.loads(lab_state.read_text())["total"] == 1968
    assert "mem0_memories 0\n" in textfile.read_text()
    assert "mem0_memory_drop_ratio 1\n" in textfile.read_text()


def test_more_than_half_gone_is_a_warning(throwaway_db, pg, stack, lab_state, tmp_path):
    partial = throwaway_db()
    copy_memories(pg, stack, partial, dict(SEEDED, **{"mark_carey/synovia": 200}))
    manifest = tmp_path / "manifest.json"  # a backup manifest of the seeded lab as the baseline
    manifest.write_text(json.dumps({"format": "mem0ops.manifest/1", "kind": "pgvector_dump", "status": "valid",
                                    "counts": {"memories": {"total": 1968, "namespaces": SEEDED}}}))
    (from_state, from_manifest), dummy = run_tasks(count(dict(PG_TCP, db=partial, baseline=str(lab_state))),
                                                   count(dict(PG_TCP, db=partial, baseline=str(tmp_path))))
    for result in (from_state, from_manifest):
        assert result["total"] == 925 and result["level"] == "warning"
        assert result["drop_percent"] == 53.0
        assert result["namespace_drop_percent"]["mark_carey/synovia"] == 83.91
        assert result["vanished_namespaces"] == []
    assert from_manifest["baseline"]["source"] == str(manifest)


def test_missing_table_is_zero_memories_not_a_crash(throwaway_db):
    bare = throwaway_db(with_table=False)
    (result,), dummy = run_tasks(count(dict(PG_DOCKER, db=bare)))
    assert result.get("failed") is not True, result.get("msg")
    assert result["database_up"] is True and result["table_exists"] is False
    assert result["total"] == 0 and result["level"] == "critical"
    assert any("table memories does not exist in database %s" % bare in p for p in result["problems"])


def test_unreachable_database(stack, tmp_path):
    port = free_port()
    textfile = tmp_path / "mem0.prom"
    results, raw = run_tasks(count(dict(PG_TCP, login_port=port)),
                             count(dict(PG_TCP, login_port=port, fail_on_unreachable=False,
                                        prometheus_textfile=str(textfile))),
                             count(dict(PG_TCP, login_password="not-the-password")))
    down, reported, wrong = results
    assert down["failed"] is True and "nothing accepts connections at 127.0.0.1:%d" % port in down["msg"]
    assert reported.get("failed") is not True and reported["database_up"] is False
    assert reported["level"] == "critical" and reported["total"] is None
    assert textfile.read_text().endswith("mem0_database_up 0\n")
    assert wrong["failed"] is True and "is not the one this server was initialised with" in wrong["msg"]
    assert not any(s in raw for s in lab_secrets(stack)) and "not-the-password" not in raw
