"""embedding_dim_check against the lab's real PostgreSQL, Neo4j and embedder, through ansible-playbook.

The seeded lab is only read. The incident is replayed on a throwaway database of the lab server: memories
written by the real mem0 library with text-embedding-3-small (1536 dims), checked against the inventory's
nomic-embed-text (768). Throwaway databases are dropped afterwards, even when a test fails.
"""

from __future__ import annotations

import os

import pytest

from .labkit import NEO4J, PG_DOCKER, PG_TCP, lab_secrets, run_tasks
from .upstream_app import ENTITIES, entities_table

pytestmark = pytest.mark.integration

MODULE = "mem0ops.stack.embedding_dim_check"
INCIDENT_MEMORIES = 20
EMBEDDER = {
    "embedder_provider": "{{ mem0_stack.embedding.provider }}",
    "embedder_model": "{{ mem0_stack.embedding.model }}",
    "embedder_dims": "{{ mem0_stack.embedding.dims }}",
    "probe_url": "{{ mem0_stack.embedding.base_url }}",
}
LAB_SOURCES = {
    "postgres memories.vector declared": 768, "postgres memories rows": 768,
    "postgres mem0migrations.vector declared": 768, "postgres mem0migrations rows": 768,
    "neo4j embedding": 768, "model nomic-embed-text": 768, "configured embedder_dims": 768,
    "live embedder nomic-embed-text": 768,
}


def check(args: dict, check_mode: bool = False) -> dict:
    task = {MODULE: args}
    if check_mode:
        task["check_mode"] = True
    return task


def dims_by_source(result: dict) -> dict:
    return {s["source"]: s["dims"] for s in result["sources"]}


def without_invocation(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "invocation"}


@pytest.fixture
def incident_db(stack, throwaway_db, tmp_path):
    """The January data: memories written through the real mem0 library with OpenAI's 1536-dim model."""
    os.environ["MEM0_TELEMETRY"] = "false"  # read by mem0 at import: no PostHog, no mem0migrations table
    from mem0 import Memory

    name = throwaway_db(with_table=False)
    svc = stack["services"]["postgres"]
    base_url = stack["embedding"]["base_url"]
    memory = Memory.from_config({
        "vector_store": {"provider": "pgvector", "config": {
            "host": svc["host"], "port": svc["port"], "user": svc["user"], "password": svc["password"],
            "dbname": name, "collection_name": stack["mem0"]["collection"], "embedding_model_dims": 1536}},
        "embedder": {"provider": "ollama", "config": {
            "model": "text-embedding-3-small", "ollama_base_url": base_url, "embedding_dims": 1536}},
        "llm": {"provider": "ollama", "config": {"model": "llama3.1", "ollama_base_url": base_url}},
        "history_db_path": str(tmp_path / "history.db"),
    })
    try:
        for i in range(INCIDENT_MEMORIES):
            memory.add([{"role": "user", "content": "Mark decided on the S/4HANA migration plan (note %d)" % i}],
                       user_id="mark_carey/sap", infer=False)
    finally:
        memory.close()
    return name


# --- the seeded lab ----------------------------------------------------------------------------
def test_lab_agrees_on_768_everywhere_also_in_check_mode(stack):
    results, raw = run_tasks(check(dict(PG_TCP, **NEO4J, **EMBEDDER)),
                             check(dict(PG_TCP, **NEO4J, **EMBEDDER), check_mode=True),
                             check(dict(PG_DOCKER, **EMBEDDER, probe_api="openai")))
    tcp, checked, docker = results
    assert tcp.get("failed") is not True, tcp.get("msg")
    assert tcp["agree"] is True and tcp["dims"] == 768 and tcp["changed"] is False
    assert dims_by_source(tcp) == LAB_SOURCES
    assert tcp["memories"] == 1968 and tcp["mismatches"] == [] and tcp["problems"] == []
    assert without_invocation(checked) == without_invocation(tcp)
    assert docker["agree"] is True and dims_by_source(docker)["live embedder nomic-embed-text"] == 768
    assert "openai API at" in [s for s in docker["sources"] if s["role"] == "probe"][0]["detail"]
    assert not any(s in raw for s in lab_secrets(stack))


def test_catches_mem0s_trap_configured_512_while_the_model_returns_768(stack):
    (result,), raw = run_tasks(check(dict(PG_TCP, **dict(EMBEDDER, embedder_dims=512))))
    assert result["failed"] is True and result["changed"] is False
    assert ("embedder_dims (mem0's embedding_model_dims) is 512 but nomic-embed-text really returns 768 (live probe): "
            "set embedding_model_dims to 768") in result["msg"]
    assert "configured embedder_dims: 512" in result["msg"] and "live embedder nomic-embed-text: 768" in result["msg"]
    assert not any(s in raw for s in lab_secrets(stack))


def test_a_model_the_embedder_does_not_have_is_named():
    (result,), dummy = run_tasks(check(dict(EMBEDDER, embedder_model="nomic-embed-txt", embedder_dims=768)))
    assert result["failed"] is True
    assert "does not have model nomic-embed-txt" in result["msg"] and "ollama pull nomic-embed-txt" in result["msg"]


# --- the incident, replayed --------------------------------------------------------------------
def test_incident_replay_fails_with_both_ways_out(stack, incident_db):
    args = dict(PG_TCP, db=incident_db, **EMBEDDER)
    results, raw = run_tasks(check(args), check(dict(args, report_only=True)),
                             check(dict(PG_DOCKER, db=incident_db, report_only=True, **EMBEDDER), check_mode=True))
    failed, reported, docker_checked = results
    assert failed["failed"] is True and failed["changed"] is False
    assert ("run the model the data was embedded with (text-embedding-3-small, 1536) or re-embed the %d memories "
            "with nomic-embed-text (768)" % INCIDENT_MEMORIES) in failed["msg"]
    for name in ("postgres memories.vector declared: 1536", "postgres memories rows: 1536",
                 "model nomic-embed-text: 768", "configured embedder_dims: 768", "live embedder nomic-embed-text: 768"):
        assert name in failed["msg"]
    assert reported.get("failed") is not True and reported["agree"] is False
    assert reported["data_dims"] == [1536] and reported["embedder_dims"] == [768]
    assert reported["memories"] == INCIDENT_MEMORIES
    assert docker_checked.get("failed") is not True and docker_checked["msg"] == reported["msg"]
    assert not any(s in raw for s in lab_secrets(stack))


def test_first_way_out_running_the_old_model_agrees(incident_db):
    (result,), dummy = run_tasks(check(dict(PG_TCP, db=incident_db, **dict(
        EMBEDDER, embedder_model="text-embedding-3-small", embedder_dims=1536))))
    assert result.get("failed") is not True, result.get("msg")
    assert result["agree"] is True and result["dims"] == 1536


def test_an_empty_table_counts_by_its_declaration(pg, throwaway_db):
    name = throwaway_db(with_table=False)
    with pg(name) as conn, conn.cursor() as cur:  # what mem0 creates with its default embedding_model_dims
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cur.execute("CREATE TABLE memories (id UUID PRIMARY KEY, vector vector(1536), payload JSONB)")
    conn.close()
    (result,), dummy = run_tasks(check(dict(PG_TCP, db=name, **EMBEDDER)))
    assert result["failed"] is True
    assert "postgres memories.vector declared: 1536" in result["msg"]
    assert "the collection holds no memories: drop the empty table and let mem0 create it again as vector(768)" \
        in result["msg"]


# --- today's mem0: every vector table ----------------------------------------------------------
def test_every_vector_table_is_read_and_one_that_disagrees_is_a_mismatch(stack, pg, throwaway_db):
    """mem0 2.x's <collection>_entities: 768 dims beside the lab's memories agrees and is reported; 1536 dims beside
    768-dim memories (a throwaway database) is a mismatch, named with both tables."""
    collection = stack["mem0"]["collection"]
    other = throwaway_db(with_table=True, dims=768)
    with entities_table(pg, collection, stack["embedding"]["dims"]) as lab_entities, \
            entities_table(pg, collection, 1536, dbname=other) as wrong_entities:
        results, raw = run_tasks(check(dict(PG_TCP, **EMBEDDER)), check(dict(PG_DOCKER, db=other, **EMBEDDER)))
    lab, wrong = results
    assert lab.get("failed") is not True, lab.get("msg")
    assert lab["agree"] is True and lab["dims"] == 768 and lab["memories"] == 1968
    sources = dims_by_source(lab)
    assert sources["postgres %s.vector declared" % lab_entities] == 768 and sources["postgres %s rows" % lab_entities] == 768
    assert {k: v for k, v in sources.items() if lab_entities not in k} == {
        k: v for k, v in LAB_SOURCES.items() if not k.startswith("neo4j")}
    assert [(t["table"], t["declared_dims"], t["stored_dims"]) for t in lab["tables"]] == [
        (collection, 768, [768]), ("mem0migrations", 768, [768]), (lab_entities, 768, [768])]
    assert [s["detail"] for s in lab["sources"] if s["source"] == "postgres %s rows" % lab_entities] == [
        "%d of %d rows read" % (ENTITIES, ENTITIES)]

    assert wrong["failed"] is True and wrong["agree"] is False and wrong["changed"] is False
    assert "postgres %s.vector declared: 1536" % wrong_entities in wrong["msg"]
    assert "postgres %s.vector declared: 768" % collection in wrong["msg"]
    assert "the stored data disagrees with itself" in wrong["msg"]
    assert wrong["data_dims"] == [768, 1536]
    assert not any(s in raw for s in lab_secrets(stack))
