# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_memory_count: counts, baseline shapes, levels, metrics and bookkeeping files, with PostgreSQL,
the mem0 API and Neo4j replaced. The real services are tested in tests/integration/test_mem0_memory_count.py."""

from __future__ import annotations

import io
import json
import os
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import MANIFEST_FORMAT, new_manifest
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError
from ansible_collections.mem0ops.stack.plugins.modules import mem0_memory_count as module
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
PASSWORD = "pg-unit-test-secret"
API_KEY = "api-unit-test-secret"


class FakePostgres:
    """Stands in for PostgresClient: a database that is down, or holds one table of memories (or none)."""

    def __init__(self, rows=None, table=True, down=False):
        self.rows = dict(SEEDED) if rows is None else rows
        self.table = table
        self.down = down
        self.queries = []
        self.closed = False

    def __call__(self, params):
        self.params = params
        return self

    def connect(self):
        if self.down:
            raise PostgresError("cannot connect to PostgreSQL at 127.0.0.1:5433: connection refused; nothing accepts "
                                "connections at 127.0.0.1:5433: is the PostgreSQL container running (docker ps)?")
        return self

    def close(self):
        self.closed = True

    def scalar(self, sql, params=None):
        self.queries.append((sql, params))
        assert "to_regclass" in sql
        return self.table

    def query(self, sql, params=None):
        self.queries.append((sql, params))
        if "to_regclass" in sql:
            return [{"present": self.table}]
        prefix = params[0] if params else ""
        return [{"namespace": ns, "memories": n} for ns, n in self.rows.items()
                if ns is None and not prefix or ns is not None and ns.startswith(prefix)]


@pytest.fixture
def pg(monkeypatch):
    fake = FakePostgres()
    monkeypatch.setattr(module, "PostgresClient", fake)
    return fake


def args(**extra):
    base = {"login_user": "mem0_user_prd", "login_password": PASSWORD, "db": "mem0_prd", "login_port": 5433}
    base.update(extra)
    return base


def run(**extra):
    with set_module_args(args(**extra)):
        with pytest.raises(AnsibleExitJson) as exc:
            module.main()
    return exc.value.result


def run_fail(**extra):
    with set_module_args(args(**extra)):
        with pytest.raises(AnsibleFailJson) as exc:
            module.main()
    return exc.value.result


def data_part(result):
    """The result without what describes the run rather than the data (timing, files written)."""
    return {k: v for k, v in result.items()
            if k not in ("count_seconds", "result_file_written", "prometheus_textfile_written")}


# --- counting ----------------------------------------------------------------------------------
def test_counts_the_seeded_memories_and_never_reports_changed(pg):
    result = run()
    assert result["changed"] is False
    assert result["database_up"] is True and result["table_exists"] is True
    assert result["per_namespace"] == SEEDED
    assert result["total"] == 1968
    assert result["level"] == "ok" and result["problems"] == [] and result["agree"] is True
    assert result["msg"] == "ok: 1968 memories in 4 namespaces"
    assert pg.closed


def test_counts_one_table_only_and_never_mem0migrations(pg):
    run()
    sql = [q for q, dummy in pg.queries if "GROUP BY" in q]
    assert sql == ["SELECT payload->>'user_id' AS namespace, count(*) AS memories FROM \"memories\" GROUP BY 1"]
    assert not any("mem0migrations" in q for q, dummy in pg.queries)


def test_refuses_mem0migrations_as_the_collection(pg):
    result = run_fail(collection="mem0migrations")
    assert "telemetry table, not a memory collection" in result["msg"]


def test_prefix_filter_is_literal_and_applies_to_the_total(pg):
    pg.rows = dict(SEEDED, **{"markXcarey/other": 5, "someone_else": 7})
    result = run(namespace_prefix="mark_carey/")
    assert result["per_namespace"] == SEEDED and result["total"] == 1968
    sql, params = [(q, p) for q, p in pg.queries if "GROUP BY" in q][0]
    assert "starts_with(payload->>'user_id', %s)" in sql and params == ("mark_carey/",)


def test_memories_without_user_id_count_in_the_total_only(pg):
    pg.rows = {"mark_carey/sap": 10, None: 3}
    result = run()
    assert result["per_namespace"] == {"mark_carey/sap": 10}
    assert result["unscoped"] == 3 and result["total"] == 13


def test_missing_table_is_zero_memories_and_critical_not_a_crash(pg):
    pg.table = False
    result = run()
    assert result["database_up"] is True and result["table_exists"] is False
    assert result["total"] == 0 and result["level"] == "critical"
    assert any("table memories does not exist in database mem0_prd" in p for p in result["problems"])


def test_unreachable_database_fails_with_what_to_check_after_writing_the_metrics(pg, tmp_path):
    pg.down = True
    textfile = tmp_path / "mem0.prom"
    textfile.write_text("mem0_database_up 1\n")
    result = run_fail(prometheus_textfile=str(textfile))
    assert "is the PostgreSQL container running" in result["msg"]
    assert result["database_up"] is False and result["level"] == "critical"
    assert textfile.read_text().endswith("mem0_database_up 0\n"), "an exporter must not keep showing it up"
    assert PASSWORD not in json.dumps(result)


def test_unreachable_database_is_reported_for_exporters(pg, tmp_path):
    pg.down = True
    textfile = tmp_path / "mem0.prom"
    result = run(fail_on_unreachable=False, prometheus_textfile=str(textfile), result_file=str(tmp_path / "r.json"))
    assert result["database_up"] is False and result["total"] is None and result["level"] == "critical"
    assert result["msg"] == "critical: PostgreSQL is unreachable"
    assert textfile.read_text().splitlines()[-1] == "mem0_database_up 0"
    assert "mem0_memories" not in textfile.read_text()
    assert result["result_file_written"] is False and not (tmp_path / "r.json").exists()


# --- baseline and level ------------------------------------------------------------------------
@pytest.mark.parametrize("now, baseline, level, drop", [
    (SEEDED, None, "ok", None),
    ({}, None, "critical", None),
    (SEEDED, {"total": 1968, "per_namespace": SEEDED}, "ok", 0.0),
    (SEEDED, {"total": 1000, "per_namespace": None}, "ok", -96.8),
    (SEEDED, {"total": 3936, "per_namespace": None}, "ok", 50.0),
    (SEEDED, {"total": 4000, "per_namespace": None}, "warning", 50.8),
    ({}, {"total": 1968, "per_namespace": SEEDED}, "critical", 100.0),
    (dict(SEEDED, **{"mark_carey/booking": 0}), {"total": 1968, "per_namespace": SEEDED}, "critical", 1.68),
    (dict(SEEDED, **{"mark_carey/personal": 6}), {"total": 1968, "per_namespace": SEEDED}, "warning", 0.41),
])
def test_levels(now, baseline, level, drop):
    now = {k: v for k, v in now.items() if v}
    verdict = module.compare(sum(now.values()), now, baseline, 50.0)
    assert verdict["level"] == level
    assert verdict["drop_percent"] == drop


def test_a_vanished_namespace_is_named():
    now = {k: v for k, v in SEEDED.items() if k != "mark_carey/booking"}
    verdict = module.compare(sum(now.values()), now, {"total": 1968, "per_namespace": SEEDED}, 50.0)
    assert verdict["vanished_namespaces"] == ["mark_carey/booking"]
    assert verdict["namespace_drop_percent"]["mark_carey/booking"] == 100.0
    assert "namespaces of the baseline have no memories left: mark_carey/booking" in verdict["problems"]


def test_new_namespaces_are_listed_not_judged():
    now = dict(SEEDED, **{"mark_carey/new": 3})
    verdict = module.compare(1971, now, {"total": 1968, "per_namespace": SEEDED}, 50.0)
    assert verdict["new_namespaces"] == ["mark_carey/new"] and verdict["level"] == "ok"


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def dump_manifest(status="valid"):
    manifest = new_manifest("pgvector_dump")
    manifest["status"] = status
    manifest["problems"] = [] if status == "valid" else ["expected at least 100 memories (min_memories), found 0"]
    manifest["counts"] = {"memories": {"total": 1971, "selected": 1968, "namespaces": dict(SEEDED, **{"": 3})},
                          "mem0migrations": {"present": True, "rows": 1, "types": {"user_identity": 1}}}
    return manifest


@pytest.mark.parametrize("document, total, per_namespace", [
    ({"total": 1968, "per_namespace": SEEDED}, 1968, SEEDED),
    ({"format": "mem0ops.memory_count/1", "total": 10, "per_namespace": {"a": 10}, "database_up": True}, 10, {"a": 10}),
    ({"postgres": {"memories": {"total": 1968, "per_namespace": SEEDED}}}, 1968, SEEDED),
    ({"memories": {"total": 5}}, 5, None),
    ({"memories": SEEDED}, 1968, SEEDED),
    ({"memories": {"namespaces": [{"namespace": "a", "count": 2}, {"user_id": "b", "memories": 3}]}}, 5, {"a": 2, "b": 3}),
    (dump_manifest(), 1971, SEEDED),
])
def test_baseline_shapes(document, total, per_namespace, tmp_path):
    for value in (document, write_json(tmp_path / "baseline.json", document)):
        baseline = module.parse_baseline(value)
        assert (baseline["total"], baseline["per_namespace"]) == (total, per_namespace)


@pytest.mark.parametrize("value", [1968, 1968.0, "1968", " 1968 "])
def test_baseline_number(value):
    assert module.parse_baseline(value) == {"source": "number", "total": 1968, "per_namespace": None}


def test_baseline_from_a_backup_directory(tmp_path):
    write_json(tmp_path / "manifest.json", dump_manifest())
    baseline = module.parse_baseline(str(tmp_path))
    assert baseline["source"] == str(tmp_path / "manifest.json") and baseline["total"] == 1971


@pytest.mark.parametrize("value, message", [
    (True, "a boolean is not a baseline"),
    (-1, "is not a count"),
    ({"something": 1}, "holds no memory counts"),
    ({"total": "many"}, "total is not a count"),
    ({"per_namespace": {"a": -3}}, "per_namespace[a] is not a count"),
    ({"per_namespace": ["a"]}, "not an item with a namespace and a count"),
])
def test_bad_baselines(value, message):
    with pytest.raises(module.BaselineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        module.parse_baseline(value)


def test_quarantined_manifest_is_no_baseline(tmp_path):
    path = write_json(tmp_path / "manifest.json", dump_manifest(status="quarantined"))
    with pytest.raises(module.BaselineError, match="is quarantined \\(expected at least 100 memories"):
        module.parse_baseline(path)


def test_result_written_while_down_is_no_baseline(tmp_path):
    path = write_json(tmp_path / "r.json", {"database_up": False, "total": None})
    with pytest.raises(module.BaselineError, match="written while the database was down"):
        module.parse_baseline(path)


def test_missing_baseline_file(tmp_path):
    missing = str(tmp_path / "nothing.json")
    with pytest.raises(module.BaselineError, match="there is no file"):
        module.parse_baseline(missing)
    assert module.parse_baseline(missing, result_file=missing) is None


def test_foreign_manifest_format_is_refused(tmp_path):
    path = write_json(tmp_path / "manifest.json", {"format": MANIFEST_FORMAT, "total": "x"})
    with pytest.raises(module.BaselineError):
        module.parse_baseline(path)


def test_prefix_scopes_the_baseline():
    baseline = {"source": "dict", "total": 2000, "per_namespace": dict(SEEDED, other=32)}
    scoped = module.scope_baseline(baseline, "mark_carey/")
    assert scoped["per_namespace"] == SEEDED and scoped["total"] == 1968


def test_bad_baseline_fails_the_module(pg, tmp_path):
    result = run_fail(baseline=str(tmp_path / "missing.json"))
    assert result["msg"].startswith("cannot use the baseline: there is no file")


def test_emptied_database_against_a_manifest_is_critical(pg, tmp_path):
    pg.rows = {}
    result = run(baseline=write_json(tmp_path / "manifest.json", dump_manifest()))
    assert result["level"] == "critical" and result["total"] == 0 and result["drop_percent"] == 100.0
    assert sorted(result["vanished_namespaces"]) == sorted(SEEDED)
    assert ("there are no memories in table memories: the database is empty, or mem0 writes to another one"
            in result["problems"])


def test_more_than_half_gone_is_a_warning(pg):
    pg.rows = {"mark_carey/sap": 678, "mark_carey/booking": 33, "mark_carey/personal": 14, "mark_carey/synovia": 200}
    result = run(baseline={"total": 1968, "per_namespace": SEEDED})
    assert result["level"] == "warning" and result["drop_percent"] == 53.0
    assert result["namespace_drop_percent"]["mark_carey/synovia"] == 83.91
    assert result["msg"] == "warning: 925 memories in 4 namespaces, 53.0% drop from the baseline of 1968"


# --- the Prometheus textfile -------------------------------------------------------------------
def test_metric_text_follows_prometheus_conventions():
    """Gauges named by what they measure (the old names live on as the monitoring role's recording rules)."""
    text = module.prometheus_text(True, 1968, {"mark_carey/sap": 678, 'we"ird\\ns\n': 1}, 50.8)
    assert text == "\n".join([
        "# HELP mem0_database_up Whether the mem0 PostgreSQL database answered (1) or not (0).",
        "# TYPE mem0_database_up gauge",
        "mem0_database_up 1",
        "# HELP mem0_memories Memories in the mem0 collection (mem0migrations excluded).",
        "# TYPE mem0_memories gauge",
        "mem0_memories 1968",
        "# HELP mem0_namespace_memories Memories per namespace (the user_id of each memory).",
        "# TYPE mem0_namespace_memories gauge",
        'mem0_namespace_memories{namespace="mark_carey/sap"} 678',
        'mem0_namespace_memories{namespace="we\\"ird\\\\ns\\n"} 1',
        "# HELP mem0_memory_drop_ratio Drop of mem0_memories from the baseline as a ratio (0.5 = 50%, "
        "negative when it grew).",
        "# TYPE mem0_memory_drop_ratio gauge",
        "mem0_memory_drop_ratio 0.508",
    ]) + "\n"


def test_metric_text_without_baseline_has_no_drop():
    text = module.prometheus_text(True, 0, {}, None)
    assert "mem0_memories 0\n" in text and "mem0_memory_drop_ratio" not in text


def test_textfile_is_written_atomically_and_readable_by_node_exporter(pg, tmp_path):
    textfile = tmp_path / "mem0.prom"
    result = run(prometheus_textfile=str(textfile), baseline=1968)
    assert result["prometheus_textfile_written"] is True and result["changed"] is False
    assert textfile.read_text() == result["metrics"]
    assert "mem0_memory_drop_ratio 0\n" in result["metrics"]
    assert os.stat(textfile).st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["mem0.prom"]


def test_unwritable_textfile_fails(pg, tmp_path):
    result = run_fail(prometheus_textfile=str(tmp_path / "missing-dir" / "mem0.prom"))
    assert result["msg"].startswith("cannot write the Prometheus textfile")


# --- the result file ---------------------------------------------------------------------------
def test_result_file_is_the_next_runs_baseline(pg, tmp_path):
    state = str(tmp_path / "memory_count.json")
    first = run(baseline=state, result_file=state)
    assert first["baseline"] is None and first["result_file_written"] is True
    saved = json.loads(open(state).read())
    assert saved["total"] == 1968 and saved["per_namespace"] == SEEDED and saved["format"] == "mem0ops.memory_count/1"
    assert PASSWORD not in json.dumps(saved)
    pg.rows = {}
    second = run(baseline=state, result_file=state)
    assert second["level"] == "critical" and second["drop_percent"] == 100.0
    assert second["result_file_written"] is False
    assert json.loads(open(state).read())["total"] == 1968, "the last good counts stay the baseline"
    third = run(baseline=state, result_file=state, result_file_when="always")
    assert third["result_file_written"] is True and json.loads(open(state).read())["total"] == 0


def test_check_mode_reads_the_same_and_writes_nothing(pg, tmp_path):
    paths = dict(result_file=str(tmp_path / "r.json"), prometheus_textfile=str(tmp_path / "m.prom"))
    checked = run(_ansible_check_mode=True, baseline=1000, **paths)
    assert list(tmp_path.iterdir()) == []
    assert checked["result_file_written"] is False and checked["prometheus_textfile_written"] is False
    real = run(baseline=1000, **paths)
    assert real["result_file_written"] is True and real["prometheus_textfile_written"] is True
    assert data_part(checked) == data_part(real)
    assert checked["changed"] is False and real["changed"] is False


# --- the mem0 API ------------------------------------------------------------------------------
class FakeApi:
    """Stands in for open_url: answers GET /memories like the mem0 server, capped at top_k."""

    def __init__(self, counts, error=None):
        self.counts = counts
        self.error = error
        self.requests = []

    def __call__(self, url, method=None, headers=None, **kwargs):
        self.requests.append({"url": url, "headers": headers})
        if self.error is not None:
            raise self.error
        query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
        user_id = query["user_id"].replace("%2F", "/")
        n = min(self.counts.get(user_id, 0), int(query["top_k"]))
        return io.BytesIO(json.dumps({"results": [{"id": i} for i in range(n)]}).encode())


def api_args(**extra):
    return {"mem0_api": dict({"url": "http://127.0.0.1:8888/", "api_key": API_KEY}, **extra)}


def test_api_agrees_and_a_capped_namespace_is_truncated_not_a_disagreement(pg, monkeypatch):
    api = FakeApi(SEEDED)
    monkeypatch.setattr(module, "open_url", api)
    result = run(**api_args())
    assert result["agree"] is True and result["level"] == "ok"
    assert result["sources"]["mem0_api"] == {"per_namespace": dict(SEEDED, **{"mark_carey/synovia": 1000}),
                                             "truncated": ["mark_carey/synovia"], "top_k": 1000}
    assert api.requests[0]["url"] == "http://127.0.0.1:8888/memories?user_id=mark_carey%2Fbooking&top_k=1000"
    assert api.requests[0]["headers"]["Authorization"] == "Bearer " + API_KEY
    assert API_KEY not in json.dumps(result)


def test_api_serving_another_database_is_a_disagreement(pg, monkeypatch):
    monkeypatch.setattr(module, "open_url", FakeApi({}))
    result = run(**api_args(user_ids=["mark_carey/sap", "mark_carey/booking"]))
    assert result["agree"] is False and result["level"] == "warning"
    assert result["disagreements"] == ["mark_carey/booking: PostgreSQL has 33 memories, the mem0 API returns 0",
                                       "mark_carey/sap: PostgreSQL has 678 memories, the mem0 API returns 0"]


@pytest.mark.parametrize("error, message", [
    (HTTPError("http://x", 401, "Unauthorized", {}, None), "refused the API key (HTTP 401)"),
    (HTTPError("http://x", 500, "boom", {}, None), "answered HTTP 500 for user_id"),
    (URLError(ConnectionRefusedError(111, "Connection refused")), "cannot reach the mem0 API at http://127.0.0.1:8888/"),
])
def test_api_failures(pg, monkeypatch, error, message):
    monkeypatch.setattr(module, "open_url", FakeApi(SEEDED, error))
    failed = run_fail(**api_args())
    assert message in failed["msg"] and API_KEY not in json.dumps(failed)
    reported = run(fail_on_unreachable=False, **api_args())
    assert reported["level"] == "warning" and any(message in p for p in reported["problems"])
    assert reported["per_namespace"] == SEEDED


# --- Neo4j -------------------------------------------------------------------------------------
def test_graph_without_a_namespace_is_a_disagreement(pg, monkeypatch):
    graph = {"mark_carey/sap": 24, "mark_carey/synovia": 36, "mark_carey/booking": 6, "other/user": 2}
    monkeypatch.setattr(module, "graph_node_counts", lambda params, prefix: graph)
    result = run(neo4j=True, neo4j_password="neo4j-secret")
    assert result["sources"]["neo4j"] == {"per_user_id": graph}
    assert result["disagreements"] == ["mark_carey/personal: PostgreSQL has 14 memories, Neo4j has no nodes for it",
                                       "other/user: Neo4j has 2 nodes, PostgreSQL has no memories for it"]
    assert result["agree"] is False and result["level"] == "warning"
    assert "neo4j-secret" not in json.dumps(result)


def test_unreachable_graph_fails_by_default(pg, monkeypatch):
    def unreachable(params, prefix):
        raise module.SourceError("nothing answers Bolt at 127.0.0.1:7687: is the container running?")
    monkeypatch.setattr(module, "graph_node_counts", unreachable)
    assert "nothing answers Bolt" in run_fail(neo4j=True)["msg"]
