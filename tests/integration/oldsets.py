"""The owner's old backups, written here exactly the way his old script wrote them: ``pg_dump | gzip -9`` (plain SQL)
inside the PostgreSQL container, into ``<root>/<tier>/<YYYYmmdd_HHMMSS>/postgres/mem0_<ts>.sql.gz``, a tar of a Neo4j
data directory beside it, sometimes a ``.sha256``.

The databases they are dumped from are throwaway databases of the stack's own server, in mem0 1.x's shape (table
``memories``: id uuid, vector, payload jsonb; ``mem0migrations`` with its one telemetry row), owned by a role that is
dropped afterwards, as the incident's ``mem0_user`` no longer existed in the recreated cluster. Used by
tests/integration/test_adopt.py and tests/bench/bench_adopt.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import secrets
import subprocess
import tarfile
from pathlib import Path

# The incident's good set: 1,968 memories in these namespaces (the lab seed's counts), 1536-dim OpenAI vectors.
OLD_DIMS = 1536


def connect(stack: dict, dbname: str | None = None):
    import psycopg2

    svc = stack["services"]["postgres"]
    conn = psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password=svc["password"],
                            dbname=dbname or svc["database"], connect_timeout=10)
    conn.autocommit = True
    return conn


def sql(stack: dict, statements, dbname: str | None = None):
    """Run statements (autocommit); the rows of the last one that returns any."""
    conn = connect(stack, dbname)
    try:
        rows = None
        with conn.cursor() as cur:
            for statement in ([statements] if isinstance(statements, str) else statements):
                cur.execute(statement)
                rows = cur.fetchall() if cur.description else rows
        return rows
    finally:
        conn.close()


def mem0_1x_database(stack: dict, namespaces: dict, dims: int = OLD_DIMS, entities: bool = False) -> tuple[str, str]:
    """A throwaway database in mem0 1.x's shape with ``namespaces`` ({user_id: memories}) of random vectors, and the
    mem0migrations telemetry row; owned by a new role. ``entities`` adds mem0 2.x's ``memories_entities`` table.
    Returns (database, role)."""
    token = secrets.token_hex(4)
    database, role = "mem0_it_old_%s" % token, "mem0_user_old_%s" % token
    sql(stack, ['CREATE ROLE "%s" NOLOGIN' % role, 'CREATE DATABASE "%s"' % database])
    values = ", ".join("('%s', %d)" % (name, count) for name, count in namespaces.items()) or "(NULL, 0)"
    sql(stack, [
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE TABLE memories (id UUID PRIMARY KEY, vector vector(%d), payload JSONB)" % dims,
        "CREATE TABLE mem0migrations (id UUID PRIMARY KEY, vector vector(%d), payload JSONB)" % dims,
        "INSERT INTO mem0migrations VALUES (gen_random_uuid(), NULL, "
        "'{\"type\": \"user_identity\", \"user_id\": \"anonymous\"}')",
        "INSERT INTO memories (id, vector, payload) SELECT gen_random_uuid(), "
        "(SELECT array_agg(round(random()::numeric, 3)::real) FROM generate_series(1, %d) d WHERE d > g.i * 0)::vector, "
        "jsonb_build_object('data', 'memory ' || g.i || ' of ' || ns.name, 'hash', md5(g.i || ns.name), "
        "'user_id', ns.name, 'role', 'user', 'created_at', '2026-01-02T10:00:00+00:00') "
        "FROM (VALUES %s) ns(name, n), generate_series(1, ns.n) g(i) WHERE ns.name IS NOT NULL" % (dims, values),
        "CREATE TABLE IF NOT EXISTS %s (id UUID PRIMARY KEY, vector vector(%d), payload JSONB)"
        % ("memories_entities" if entities else "memories", dims),
        'ALTER TABLE memories OWNER TO "%s"' % role,
        'ALTER TABLE mem0migrations OWNER TO "%s"' % role,
    ], dbname=database)
    return database, role


def counts(stack: dict, database: str) -> dict:
    """Memories per namespace by a direct query: the oracle."""
    return dict(sql(stack, "SELECT payload->>'user_id', count(*) FROM memories GROUP BY 1", database))


def drop(stack: dict, database: str, role: str) -> None:
    sql(stack, ['DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database, 'DROP ROLE IF EXISTS "%s"' % role])


def dump_gzip9(stack: dict, database: str, dest: Path) -> None:
    """``pg_dump <db> | gzip -9`` inside the container, as the old script ran it (the password in the environment)."""
    svc = stack["services"]["postgres"]
    port = svc.get("container_port") or svc["port"]
    env = dict(os.environ, PGPASSWORD=svc["password"], DOCKER_HOST=stack.get("docker_host", "unix:///var/run/docker.sock"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as handle:
        subprocess.run(["docker", "exec", "-e", "PGPASSWORD", svc["container"], "sh", "-c",
                        'pg_dump -h 127.0.0.1 -p %d -U "$1" "$2" | gzip -9' % int(port), "old-backup",
                        svc["user"], database], stdout=handle, env=env, check=True)


def live_neo4j_tar(stack: dict, dest: Path) -> dict:
    """``tar czf`` of the stack's running Neo4j's directory (``neo4j/``, holding ``data/``, ``logs/``, ``import/``),
    taken while it runs, as the owner's script took his (``tar czf ... -C /Users/kermit/mem0-data neo4j``); returns
    the nodes and relationships counted by Cypher just before: the oracle."""
    from neo4j import GraphDatabase

    svc = stack["services"]["neo4j"]
    with GraphDatabase.driver("bolt://%s:%s" % (svc["host"], svc["bolt_port"]), auth=(svc["user"], svc["password"])) as driver:
        nodes = driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
        rels = driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n").records[0]["n"]
    data = Path(stack["data_root"]) / svc["data_dir"]
    top = data.parent
    # exit 1: "file changed as we read it", what a tar of a live store gets
    done = subprocess.run(["tar", "czf", str(dest), "-C", str(top.parent), top.name], capture_output=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return {"nodes": nodes, "relationships": rels, "prefix": "%s/%s" % (top.name, data.name)}


def write_set(root: Path, tier: str, stamp: str, dump: bytes, checksum: str | None = None, neo4j: bool = True,
              neo4j_tar: bytes | None = None) -> Path:
    """An old set holding the given .sql.gz bytes; checksum "good" writes a matching .sha256, "bad" one that is not;
    ``neo4j_tar`` the Neo4j tar's bytes (else a tar that holds no Neo4j store)."""
    base = root / tier / stamp
    path = base / "postgres" / ("mem0_%s.sql.gz" % stamp)
    path.parent.mkdir(parents=True)
    path.write_bytes(dump)
    if checksum:
        digest = hashlib.sha256(dump if checksum == "good" else dump + b"changed").hexdigest()
        Path(str(path) + ".sha256").write_text("%s  %s\n" % (digest, path.name))
    if neo4j:
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as archive:
            data = b"neo4j store files"
            info = tarfile.TarInfo("data/databases/neo4j/neostore")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        (base / "neo4j").mkdir()
        (base / "neo4j" / ("mem0_neo4j_%s.tar.gz" % stamp)).write_bytes(neo4j_tar or gzip.compress(tar.getvalue(), 9))
    return base


def file_digests(*roots: Path) -> dict:
    """sha256 and inode of every file under the roots: what must not change."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return out
