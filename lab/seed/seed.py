"""Seed the lab with the incident's data set, through the real clients.

Memories go through the real mem0 library (``Memory.add(..., infer=False)``) so that the table,
its indexes and history.db are exactly what mem0 writes; their vectors are asked from the embedder in batches first
(mem0's ``embed_batch``, the same vectors as one call each, a fraction of the round trips). The entity graph is written with the
Neo4j driver in mem0's graph-memory shape (mem0 <= 1.0.x); a stack without Neo4j (no --neo4j-uri) gets the
memories only. A ``mem0migrations`` row is added as mem0 1.x and telemetry-on installs have one; it is not a memory.

Secrets come from the environment (PGPASSWORD, and NEO4J_PASSWORD with a graph) or, with --secrets-stdin, from a JSON object with
those keys on standard input; never from the command line.
Run from the lab directory:  python -m seed.seed --help
Prints one JSON line: what it found, what it did, and the counts after.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2
from neo4j import GraphDatabase
from psycopg2 import sql

from apps.common import pg_url
from apps.embedder import embed_text

# The incident report's namespaces; 1,968 memories in all.
NAMESPACES: dict[str, int] = {
    "mark_carey/sap": 678,
    "mark_carey/synovia": 1243,
    "mark_carey/booking": 33,
    "mark_carey/personal": 14,
}
# Graph entities per namespace (mem0 graph memory keeps one node per entity and user).
ENTITIES: dict[str, int] = {
    "mark_carey/sap": 24,
    "mark_carey/synovia": 36,
    "mark_carey/booking": 6,
    "mark_carey/personal": 4,
}
RELATIONS = ["WORKS_ON", "USES", "DEPENDS_ON", "OWNS", "MEETS_WITH", "LOCATED_IN", "PREFERS"]

TOPICS: dict[str, list[str]] = {
    "mark_carey/sap": ["S/4HANA migration", "Fiori launchpad", "BTP integration suite", "ABAP cloud",
                       "SuccessFactors rollout", "Ariba sourcing", "HANA sizing", "CPI iFlow"],
    "mark_carey/synovia": ["Synovia pricing", "Synovia roadmap", "customer onboarding", "board deck",
                           "hiring plan", "investor update", "product analytics", "support backlog"],
    "mark_carey/booking": ["flight to Lisbon", "hotel in Berlin", "train to Paris", "dinner reservation"],
    "mark_carey/personal": ["running plan", "coffee preference", "reading list", "family birthday"],
}
VERBS = ["prefers", "decided on", "is reviewing", "asked about", "needs a follow-up on", "finished",
         "wants a summary of", "is blocked by", "scheduled", "noted a risk in"]
DETAILS = ["before the quarter closes", "with the platform team", "for the Munich customer",
           "after the architecture review", "using the new template", "in the weekly sync",
           "with a budget of 40k", "pending legal sign-off", "as the top priority", "for next sprint"]

log = logging.getLogger("seed")


def memory_texts(namespace: str, count: int) -> list[str]:
    rng = random.Random(namespace)
    topics = TOPICS[namespace]
    return [
        f"Mark {rng.choice(VERBS)} {rng.choice(topics)} {rng.choice(DETAILS)} (note {i + 1})"
        for i in range(count)
    ]


def pg_connect(args: argparse.Namespace):
    return psycopg2.connect(host=args.pg_host, port=args.pg_port, user=args.pg_user,
                            dbname=args.pg_db, connect_timeout=10)


def table_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return bool(cur.fetchone()[0])


def memory_counts(args: argparse.Namespace) -> dict[str, int]:
    with pg_connect(args) as conn, conn.cursor() as cur:
        if not table_exists(cur, args.collection):
            return {}
        cur.execute(sql.SQL("SELECT payload->>'user_id', count(*) FROM {} GROUP BY 1 ORDER BY 1")
                    .format(sql.Identifier(args.collection)))
        return dict(cur.fetchall())


def graph_counts(driver, database: str) -> dict[str, int] | None:
    if driver is None:  # no Neo4j: no graph to count
        return None
    nodes = driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=database).records[0]["n"]
    rels = driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n", database_=database).records[0]["n"]
    return {"nodes": nodes, "relationships": rels}


def wipe(args: argparse.Namespace, driver) -> None:
    with pg_connect(args) as conn, conn.cursor() as cur:
        for table in (args.collection, "mem0migrations"):
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
    if os.path.exists(args.history_db):
        # Emptied in place: the running mem0 server keeps this file open.
        with sqlite3.connect(args.history_db) as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                db.execute(f'DELETE FROM "{table}"')
    if driver is not None:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=args.neo4j_database)


def embed_in_batches(memory, texts: list[str], size: int = 256) -> None:
    """Ask mem0's own embedder (the same service and model) once per batch (embed_batch) instead of once per memory:
    Memory.add then finds each text's vector here. The vectors are the embedder's, as one call each would give."""
    model = memory.embedding_model
    vectors: dict[str, list[float]] = {}
    for first in range(0, len(texts), size):
        batch = texts[first:first + size]
        vectors.update(zip(batch, model.embed_batch(batch, "add")))
    embed = model.embed
    model.embed = lambda text, memory_action=None: vectors[text] if text in vectors else embed(text, memory_action)


def seed_memories(args: argparse.Namespace) -> float:
    os.environ.setdefault("MEM0_TELEMETRY", "false")
    from mem0 import Memory  # imported late: mem0 reads MEM0_TELEMETRY at import

    config = {
        "vector_store": {"provider": "pgvector", "config": {
            "connection_string": pg_url(args.pg_host, args.pg_port, args.pg_user, os.environ["PGPASSWORD"], args.pg_db),
            "collection_name": args.collection, "embedding_model_dims": args.dims}},
        "embedder": {"provider": "ollama", "config": {
            "model": args.model, "ollama_base_url": args.embedder_url, "embedding_dims": args.dims}},
        "llm": {"provider": "ollama", "config": {"model": "llama3.1", "ollama_base_url": args.embedder_url}},
        "history_db_path": args.history_db,
    }
    memory = Memory.from_config(config)
    start = time.monotonic()
    texts = {namespace: memory_texts(namespace, count) for namespace, count in NAMESPACES.items()}
    embed_in_batches(memory, [text for batch in texts.values() for text in batch])
    base = datetime(2025, 6, 1, tzinfo=timezone.utc)
    total = sum(NAMESPACES.values())
    done = 0
    for namespace in NAMESPACES:
        for text in texts[namespace]:
            created = base + timedelta(minutes=(done * 97) % (200 * 24 * 60))
            memory.add([{"role": "user", "content": text}], user_id=namespace, infer=False,
                       metadata={"created_at": created.isoformat(), "source": "lab-seed"})
            done += 1
            if done % 500 == 0:
                log.info("memories: %d/%d", done, total)
    return time.monotonic() - start


def seed_migrations_row(args: argparse.Namespace) -> None:
    with pg_connect(args) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS mem0migrations "
                            "(id UUID PRIMARY KEY, vector vector({}), payload JSONB)")
                    .format(sql.Literal(args.dims)))
        cur.execute("INSERT INTO mem0migrations (id, vector, payload) VALUES (%s, %s, %s)",
                    (str(uuid.uuid4()), str(embed_text("user identity", args.dims)),
                     json.dumps({"type": "user_identity", "user_id": str(uuid.uuid4())})))


def seed_graph(args: argparse.Namespace, driver) -> None:
    now = datetime(2026, 1, 3, 13, 31, tzinfo=timezone.utc).isoformat()
    for namespace, count in ENTITIES.items():
        rng = random.Random("graph:" + namespace)
        topics = TOPICS[namespace]
        names = ["mark"] + [f"{topics[i % len(topics)].lower()} {i // len(topics) + 1}" for i in range(count - 1)]
        nodes = [{"name": n, "embedding": embed_text(n, args.dims), "mentions": rng.randint(1, 40)}
                 for n in names]
        driver.execute_query(
            "UNWIND $nodes AS n CREATE (e:__Entity__ {name: n.name, user_id: $user, embedding: n.embedding,"
            " created: $now, mentions: n.mentions})",
            nodes=nodes, user=namespace, now=now, database_=args.neo4j_database)
        rels = []
        for i in range(1, count):
            rels.append({"a": names[0], "b": names[i], "type": RELATIONS[i % len(RELATIONS)]})
            if i > 1 and rng.random() < 0.5:
                rels.append({"a": names[i], "b": names[rng.randint(1, i - 1)], "type": RELATIONS[(i * 3) % len(RELATIONS)]})
        for rel_type in sorted({r["type"] for r in rels}):
            batch = [r for r in rels if r["type"] == rel_type]
            driver.execute_query(
                "UNWIND $rels AS r MATCH (a:__Entity__ {name: r.a, user_id: $user}), (b:__Entity__ {name: r.b, user_id: $user}) "
                f"CREATE (a)-[:{rel_type} {{created_at: $now, updated_at: $now, mentions: 1, valid: true}}]->(b)",
                rels=batch, user=namespace, now=now, database_=args.neo4j_database)


def seed_scale(args: argparse.Namespace) -> float:
    """Bulk memories of mem0's shape through COPY, for benchmarks (not through mem0: too slow at 1M)."""
    start = time.monotonic()
    rng = random.Random("scale")
    with pg_connect(args) as conn, conn.cursor() as cur:
        if not table_exists(cur, args.collection):
            raise SystemExit(f"table {args.collection} is missing: seed the lab first")
        cur.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'vector'",
                    (args.collection,))
        dims = cur.fetchone()[0]
        batch = 5000
        written = 0
        while written < args.scale:
            n = min(batch, args.scale - written)
            buf = io.StringIO()
            for i in range(n):
                ns = rng.choice(list(NAMESPACES))
                text = f"bulk memory {written + i} about {rng.choice(TOPICS[ns])}"
                payload = {"data": text, "hash": uuid.uuid4().hex, "user_id": ns, "role": "user",
                           "created_at": "2026-01-03T13:31:02+00:00", "updated_at": "2026-01-03T13:31:02+00:00",
                           "source": "lab-scale"}
                vec = "[" + ",".join(f"{x:.5f}" for x in embed_text(text, dims)) + "]"
                buf.write(f"{uuid.uuid4()}\t{vec}\t{json.dumps(payload).replace(chr(92), chr(92) * 2)}\n")
            buf.seek(0)
            cur.copy_expert(sql.SQL("COPY {} (id, vector, payload) FROM STDIN").format(
                sql.Identifier(args.collection)).as_string(conn), buf)
            conn.commit()
            written += n
            log.info("bulk: %d/%d", written, args.scale)
    return time.monotonic() - start


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--pg-user", required=True)
    p.add_argument("--pg-db", required=True)
    p.add_argument("--collection", default="memories")
    p.add_argument("--embedder-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dims", type=int, required=True)
    p.add_argument("--history-db", required=True)
    p.add_argument("--neo4j-uri", help="the graph store's Bolt URI; without it the memories only (no Neo4j)")
    p.add_argument("--neo4j-user", default="neo4j")
    p.add_argument("--neo4j-database", default="neo4j")
    p.add_argument("--force", action="store_true", help="wipe and reseed even when the data set is there")
    p.add_argument("--scale", type=int, default=0,
                   help="extra bulk memories for benchmarks, with the dims the table was created with")
    p.add_argument("--secrets-stdin", action="store_true",
                   help="read PGPASSWORD (and NEO4J_PASSWORD) from a JSON object on standard input")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="seed: %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    if args.secrets_stdin:
        secrets = json.load(sys.stdin)
        os.environ.update({key: str(secrets[key]) for key in ("PGPASSWORD", "NEO4J_PASSWORD") if key in secrets})
    if "PGPASSWORD" not in os.environ or (args.neo4j_uri and "NEO4J_PASSWORD" not in os.environ):
        raise SystemExit("PGPASSWORD and NEO4J_PASSWORD must be set in the environment"
                         if args.neo4j_uri else "PGPASSWORD must be set in the environment")
    driver = (GraphDatabase.driver(args.neo4j_uri, auth=(args.neo4j_user, os.environ["NEO4J_PASSWORD"]))
              if args.neo4j_uri else None)
    result: dict = {"changed": False}
    try:
        before = memory_counts(args)
        result["before"] = {"memories": before, "graph": graph_counts(driver, args.neo4j_database)}
        seeded = {ns: before.get(ns, 0) for ns in NAMESPACES} == NAMESPACES
        graph_seeded = driver is None or result["before"]["graph"]["nodes"] == sum(ENTITIES.values())
        if args.force or not seeded or not graph_seeded:
            log.info("seeding %d memories in %d namespaces", sum(NAMESPACES.values()), len(NAMESPACES))
            wipe(args, driver)
            result["memories_seconds"] = round(seed_memories(args), 2)
            seed_migrations_row(args)
            if driver is not None:
                seed_graph(args, driver)
            result["changed"] = True
        if args.scale:
            result["scale_seconds"] = round(seed_scale(args), 2)
            result["changed"] = True
        result["after"] = {"memories": memory_counts(args), "graph": graph_counts(driver, args.neo4j_database)}
    finally:
        if driver is not None:
            driver.close()
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
