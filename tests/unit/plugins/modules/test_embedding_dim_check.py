# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""embedding_dim_check: the verdict and its message, manifest shapes and the embedder probe, with PostgreSQL
and HTTP replaced. The real services are tested in tests/integration/test_embedding_dim_check.py."""

from __future__ import annotations

import io
import json
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import manifest_dims
from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import new_manifest
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError
from ansible_collections.mem0ops.stack.plugins.modules import embedding_dim_check as module
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

PASSWORD = "pg-unit-test-secret"
API_KEY = "sk-unit-test-secret"
INCIDENT_WAY_OUT = ("run the model the data was embedded with (text-embedding-3-small, 1536) "
                    "or re-embed the 1968 memories with nomic-embed-text (768)")


class FakePostgres:
    """Stands in for PostgresClient: tables with a declared vector type, the dims of their rows, a memory count."""

    def __init__(self, tables=None, memories=1968, down=False):
        self.tables = {"memories": ("vector(768)", {768: 1000}), "mem0migrations": ("vector(768)", {768: 1})} \
            if tables is None else tables
        self.memories = memories
        self.down = down
        self.queries = []

    def __call__(self, params):
        return self

    def connect(self):
        if self.down:
            raise PostgresError("cannot connect to PostgreSQL at 127.0.0.1:5433: password authentication failed")
        return self

    def close(self):
        pass

    def vector_columns(self):
        return [{"table": t, "column": "vector", "type": kind} for t, (kind, dummy) in sorted(self.tables.items())]

    def scalar(self, sql, params=None):
        self.queries.append(sql)
        if "to_regclass" in sql:
            return False
        return self.memories

    def query(self, sql, params=None):
        self.queries.append(sql)
        if "to_regclass" in sql:
            return [{"present": False}]
        table = sql.split('FROM "', 1)[1].split('"', 1)[0]
        return [{"dims": d, "n": n} for d, n in sorted(self.tables[table][1].items())]


@pytest.fixture
def pg(monkeypatch):
    fake = FakePostgres()
    monkeypatch.setattr(module, "PostgresClient", fake)
    return fake


class FakeEmbedder:
    """Stands in for open_url: an Ollama/OpenAI-compatible embedder that returns `dims` floats."""

    def __init__(self, dims=768, errors=None):
        self.dims = dims
        self.errors = dict(errors or {})
        self.requests = []

    def __call__(self, url, method=None, data=None, headers=None, **kwargs):
        self.requests.append({"url": url, "body": json.loads(data), "headers": headers})
        path = "/" + url.split("/", 3)[3]
        if path in self.errors:
            raise self.errors[path]
        vector = [0.1] * self.dims
        if path == "/api/embed":
            answer = {"embeddings": [vector]}
        elif path == "/api/embeddings":
            answer = {"embedding": vector}
        else:
            answer = {"data": [{"embedding": vector, "index": 0}]}
        return io.BytesIO(json.dumps(answer).encode())


def http_error(code, body):
    return HTTPError("http://127.0.0.1:11434", code, "error", {}, io.BytesIO(json.dumps(body).encode()))


def lab_args(**extra):
    base = {"login_user": "mem0_user_lab", "login_password": PASSWORD, "db": "mem0_lab", "login_port": 5433,
            "embedder_provider": "ollama", "embedder_model": "nomic-embed-text", "embedder_dims": 768}
    base.update(extra)
    return base


def run(**module_args):
    with set_module_args(module_args):
        with pytest.raises(AnsibleExitJson) as exc:
            module.main()
    return exc.value.result


def run_fail(**module_args):
    with set_module_args(module_args):
        with pytest.raises(AnsibleFailJson) as exc:
            module.main()
    return exc.value.result


def dims_by_source(result):
    return {s["source"]: s["dims"] for s in result["sources"]}


# --- the module --------------------------------------------------------------------------------
def test_lab_agrees_on_768(pg):
    result = run(**lab_args())
    assert result["changed"] is False and result["agree"] is True and result["dims"] == 768
    assert result["msg"] == "every source agrees on 768 dims"
    assert dims_by_source(result) == {
        "postgres memories.vector declared": 768, "postgres memories rows": 768,
        "postgres mem0migrations.vector declared": 768, "postgres mem0migrations rows": 768,
        "model nomic-embed-text": 768, "configured embedder_dims": 768}
    assert result["memories"] == 1968
    assert [s["role"] for s in result["sources"]] == ["data"] * 4 + ["model", "config"]


def test_incident_replay_fails_with_both_ways_out(pg):
    pg.tables = {"memories": ("vector(1536)", {1536: 1000})}
    result = run_fail(**lab_args())
    assert INCIDENT_WAY_OUT in result["msg"]
    assert result["msg"].startswith("embedding dimensions disagree (postgres memories.vector declared: 1536; "
                                    "postgres memories rows: 1536; model nomic-embed-text: 768; "
                                    "configured embedder_dims: 768). Mismatch: the stored data is 1536-dim but the "
                                    "embedder returns 768: every search and insert will fail. Either ")
    assert "Other known 1536-dim models: text-embedding-ada-002" in result["msg"]
    assert result["agree"] is False and result["data_dims"] == [1536] and result["embedder_dims"] == [768]
    assert PASSWORD not in json.dumps(result)


def test_report_only_returns_the_mismatch(pg):
    pg.tables = {"memories": ("vector(1536)", {1536: 1000})}
    result = run(report_only=True, **lab_args())
    assert result["agree"] is False and result["dims"] is None and result["changed"] is False
    assert INCIDENT_WAY_OUT in result["msg"] and INCIDENT_WAY_OUT in result["mismatches"][0]


def test_mem0s_own_trap_configured_512_while_the_model_returns_768(pg):
    result = run_fail(**lab_args(embedder_dims=512))
    assert ("embedder_dims (mem0's embedding_model_dims) is 512 but nomic-embed-text really returns 768 "
            "(known dimension): set embedding_model_dims to 768") in result["msg"]
    assert "configured embedder_dims: 512" in result["msg"]
    assert "re-embed" not in result["msg"]


def test_an_empty_table_counts_by_its_declaration(pg):
    pg.tables, pg.memories = {"memories": ("vector(512)", {})}, 0
    result = run_fail(**lab_args())
    assert dims_by_source(result)["postgres memories.vector declared"] == 512
    assert dims_by_source(result)["postgres memories rows"] is None
    assert "the collection holds no memories: drop the empty table and let mem0 create it again as vector(768)" \
        in result["msg"]


def test_missing_table_is_a_problem_not_a_mismatch(pg):
    pg.tables = {}
    result = run(**lab_args())
    assert result["agree"] is True and result["memories"] is None
    assert result["problems"] == ["table memories does not exist in database mem0_lab: there is no stored data to "
                                  "compare there"]


def test_unreachable_database_fails_even_when_only_reporting(pg):
    pg.down = True
    result = run_fail(report_only=True, **lab_args())
    assert "password authentication failed" in result["msg"] and PASSWORD not in json.dumps(result)


def test_check_mode_gives_the_same_result(pg):
    assert run(_ansible_check_mode=True, **lab_args()) == run(**lab_args())


def test_sample_rows_limits_the_rows_read(pg):
    run(sample_rows=10, **lab_args())
    assert any("LIMIT 10" in q for q in pg.queries)
    pg.queries.clear()
    run(sample_rows=0, **lab_args())
    assert not any("LIMIT" in q for q in pg.queries)
    assert "sample_rows must be 0" in run_fail(sample_rows=-1, **lab_args())["msg"]


def test_nothing_to_check_fails():
    assert run_fail()["msg"].startswith("nothing to check")


def test_provider_default_model_is_assumed():
    result = run(embedder_provider="ollama", embedder_dims=768)
    assert dims_by_source(result) == {"model nomic-embed-text": 768, "configured embedder_dims": 768}
    assert "mem0's default model for ollama" in result["sources"][0]["detail"]


def test_unknown_model_does_not_count():
    result = run(embedder_model="my-embedder", embedder_dims=999)
    assert result["agree"] is True and dims_by_source(result)["model my-embedder"] is None
    assert "model my-embedder is not known" in result["problems"][0]


def test_openai_text_embedding_3_returns_the_dims_it_is_asked_for():
    result = run(embedder_provider="openai", embedder_model="text-embedding-3-small", embedder_dims=768)
    assert result["agree"] is True and result["dims"] == 768
    assert "openai asks text-embedding-3-small for 768 of its 1536 dims" in result["sources"][0]["detail"]
    failed = run_fail(embedder_provider="ollama", embedder_model="text-embedding-3-small", embedder_dims=768)
    assert "is 768 but text-embedding-3-small really returns 1536 (known dimension)" in failed["msg"]


# --- the live probe ----------------------------------------------------------------------------
def test_live_probe_catches_the_trap(pg, monkeypatch):
    embedder = FakeEmbedder(768)
    monkeypatch.setattr(module, "open_url", embedder)
    result = run_fail(probe_url="http://127.0.0.1:11434/", **lab_args(embedder_dims=512))
    assert "really returns 768 (live probe)" in result["msg"]
    assert embedder.requests[0]["url"] == "http://127.0.0.1:11434/api/embed"
    assert embedder.requests[0]["body"] == {"model": "nomic-embed-text", "input": module.PROBE_TEXT}


def test_live_probe_that_disagrees_with_the_known_dims(pg, monkeypatch):
    monkeypatch.setattr(module, "open_url", FakeEmbedder(1024))
    result = run_fail(probe_url="http://127.0.0.1:11434", **lab_args())
    assert "nomic-embed-text is known to return 768 dims but the live embedder returns 1024" in result["msg"]


def test_old_ollama_without_api_embed_falls_back(monkeypatch):
    embedder = FakeEmbedder(768, {"/api/embed": http_error(404, "404 page not found")})
    monkeypatch.setattr(module, "open_url", embedder)
    assert module.probe_embedder("http://h:11434", "ollama", "nomic-embed-text") == 768
    assert [r["url"] for r in embedder.requests] == ["http://h:11434/api/embed", "http://h:11434/api/embeddings"]


@pytest.mark.parametrize("error, message", [
    (http_error(404, {"error": 'model "nomic-embed-tex" not found, try pulling it first'}),
     "does not have model nomic-embed-tex"),
    (http_error(401, {"error": {"message": "bad key"}}), "refused the request (HTTP 401): check probe_api_key"),
    (http_error(500, {"error": "boom"}), "answered HTTP 500 for model nomic-embed-tex: boom"),
    (URLError(ConnectionRefusedError(111, "Connection refused")), "cannot reach the embedder at http://h:11434"),
])
def test_probe_failures_say_what_to_do(monkeypatch, error, message):
    monkeypatch.setattr(module, "open_url", FakeEmbedder(768, {"/api/embed": error}))
    with pytest.raises(module.SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        module.probe_embedder("http://h:11434", "ollama", "nomic-embed-tex")


def test_probe_answer_without_an_embedding(monkeypatch):
    monkeypatch.setattr(module, "open_url", lambda *a, **k: io.BytesIO(b'{"models": []}'))
    with pytest.raises(module.SourceError, match="without an embedding"):
        module.probe_embedder("http://h:11434", "ollama", "nomic-embed-text")


@pytest.mark.parametrize("base, url", [
    ("https://api.openai.com/v1", "https://api.openai.com/v1/embeddings"),
    ("http://127.0.0.1:11434/", "http://127.0.0.1:11434/v1/embeddings"),
])
def test_openai_probe_like_mem0(monkeypatch, base, url):
    embedder = FakeEmbedder(1536)
    monkeypatch.setattr(module, "open_url", embedder)
    result = run(embedder_provider="openai", embedder_model="text-embedding-3-small", embedder_dims=1536,
                 probe_url=base, probe_api="openai", probe_api_key=API_KEY)
    assert result["agree"] is True and embedder.requests[0]["url"] == url
    assert embedder.requests[0]["body"]["dimensions"] == 1536, "mem0 passes embedding_dims on as dimensions"
    assert embedder.requests[0]["headers"]["Authorization"] == "Bearer " + API_KEY
    assert API_KEY not in json.dumps(result)


def test_probe_needs_a_model():
    assert "needs a model to probe" in run_fail(probe_url="http://h:11434")["msg"]


# --- the manifest ------------------------------------------------------------------------------
def dump_manifest():
    manifest = new_manifest("pgvector_dump")
    manifest["counts"] = {"memories": {"total": 1968, "namespaces": {"mark_carey/sap": 1968}}}
    manifest["vector_tables"] = [
        {"table": "memories", "column": "vector", "type": "vector(1536)", "declared_dims": 1536,
         "observed_dims": [1536], "rows": 1968},
        {"table": "mem0migrations", "column": "vector", "type": "vector(1536)", "declared_dims": 1536,
         "observed_dims": [1536], "rows": 1}]
    return manifest


def test_manifest_dims_of_dump_and_graph_exports():
    graph = {"counts": {"nodes": 70, "embedding_dims": {"768": 70}}, "embedding": {"dims": [768], "nodes": 70}}
    assert manifest_dims(dump_manifest()) == [
        ("vector_tables[0].declared_dims", [1536]), ("vector_tables[0].observed_dims", [1536]),
        ("vector_tables[1].declared_dims", [1536]), ("vector_tables[1].observed_dims", [1536])]
    assert manifest_dims(graph) == [("counts.embedding_dims", [768]), ("embedding.dims", [768])]
    assert manifest_dims({"dims": True, "embedding_dims": "vector(384)", "x": {"dimensions": "12"}}) == [
        ("embedding_dims", [384]), ("x.dimensions", [12])]


def test_backup_of_the_old_model_against_the_configured_one(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(dump_manifest()))
    result = run_fail(manifest=str(tmp_path), embedder_provider="ollama", embedder_model="nomic-embed-text",
                      embedder_dims=768)
    assert "manifest vector_tables[0].declared_dims: 1536" in result["msg"]
    assert "or re-embed the memories with nomic-embed-text (768)" in result["msg"]


def test_manifest_that_is_not_one_fails(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    assert "is not a mem0ops.manifest/1 manifest" in run_fail(manifest=str(tmp_path))["msg"]


# --- the verdict alone -------------------------------------------------------------------------
def src(role, dims, name=None):
    return module.source(name or "%s %s" % (role, dims), role, dims)


def test_data_that_disagrees_with_itself():
    verdict = module.judge([src("data", 768, "postgres memories"), src("data", 1536, "neo4j embedding"),
                            src("model", 768)], memories=10, model="nomic-embed-text")
    assert verdict["agree"] is False and verdict["data_dims"] == [768, 1536]
    assert verdict["mismatches"][0].startswith("the stored data disagrees with itself (postgres memories 768, "
                                               "neo4j embedding 1536)")


def test_data_against_the_configured_dims_only():
    verdict = module.judge([src("data", 768), src("config", 512)], memories=5)
    assert verdict["mismatches"] == [
        "the stored data is 768-dim but mem0 is configured for 512: every search and insert will fail. Either run "
        "the model the data was embedded with (nomic-embed-text, 768) or re-embed the 5 memories with the configured "
        "model (512)"]


def test_a_dimension_no_model_is_known_for():
    verdict = module.judge([src("data", 999), src("model", 768)], memories=1, model="nomic-embed-text")
    assert "run the model the data was embedded with (a 999-dim model)" in verdict["mismatches"][0]


def test_sources_without_dims_do_not_count():
    verdict = module.judge([src("data", None), src("model", 768)])
    assert verdict == {"agree": True, "dims": 768, "data_dims": [], "embedder_dims": [768], "mismatches": []}


# --- every vector table (mem0 2.x's <collection>_entities and any other) ---------------------------------------
def test_every_vector_table_is_read_collection_first(pg):
    pg.tables["memories_entities"] = ("vector(768)", {768: 12})
    result = run(**lab_args())
    assert result["agree"] is True and result["dims"] == 768
    assert dims_by_source(result)["postgres memories_entities.vector declared"] == 768
    assert dims_by_source(result)["postgres memories_entities rows"] == 768
    assert [(t["table"], t["column"], t["declared_dims"], t["stored_dims"]) for t in result["tables"]] == [
        ("memories", "vector", 768, [768]), ("mem0migrations", "vector", 768, [768]),
        ("memories_entities", "vector", 768, [768])]


def test_a_vector_table_that_disagrees_with_the_memories_is_a_mismatch(pg):
    pg.tables["memories_entities"] = ("vector(1536)", {1536: 12})
    result = run_fail(**lab_args())
    assert result["agree"] is False and result["data_dims"] == [768, 1536]
    assert "postgres memories_entities.vector declared: 1536" in result["msg"]
    assert "Mismatch: the stored data disagrees with itself (" in result["msg"]
    assert "postgres memories.vector declared 768" in result["msg"]


def test_a_vector_column_of_another_name_is_named_by_table_and_column(pg, monkeypatch):
    pg.tables["docs"] = ("vector(384)", {384: 2})
    columns = pg.vector_columns()
    monkeypatch.setattr(pg, "vector_columns", lambda: [dict(c, column="embedding") if c["table"] == "docs" else c
                                                       for c in columns])
    result = run(report_only=True, **lab_args())
    assert dims_by_source(result)["postgres docs.embedding declared"] == 384
    assert dims_by_source(result)["postgres docs.embedding rows"] == 384
    assert any('vector_dims("embedding")' in q and 'FROM "docs"' in q for q in pg.queries)
    assert result["agree"] is False
