"""A stand-in for what today's upstream mem0 server keeps in the lab's PostgreSQL besides the memories: its second
database (users, API keys, and in table settings the runtime overrides of its embedder under key config_overrides)
and mem0 2.x's second vector table <collection>_entities.

Each helper creates what it names and removes it again, leaving the lab as it found it. The stand-in database carries
a comment that marks it as this file's: a leftover of an interrupted run is replaced, any other database of that name
is refused.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

APP_DATABASE = "mem0_app"  # the upstream server's name, and the preflight role's default
MARK = "mem0ops test stand-in for the upstream mem0 server's database"
USERS = [("mark@example.invalid", "admin"), ("ops@example.invalid", "member")]
API_KEYS = [(1, "m0sk_lab1"), (1, "m0sk_lab2"), (2, "m0sk_lab3")]
ENTITIES = 3


def overrides(model: str, dims: int, provider: str = "ollama") -> dict:
    """config_overrides as the server's dashboard stores them (mem0's config shape), with an API key among them."""
    return {"embedder": {"provider": provider, "config": {"model": model, "embedding_dims": dims,
                                                          "api_key": "sk-override-not-a-secret-of-the-lab"}},
            "vector_store": {"config": {"embedding_model_dims": dims}},
            "llm": {"provider": "ollama", "config": {"model": "llama3.1"}}}


def _admin(pg):
    conn = pg("postgres")
    conn.autocommit = True
    return conn


def _drop(pg, name: str) -> None:
    conn = _admin(pg)
    try:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    finally:
        conn.close()


@contextmanager
def app_database(pg, settings: dict | None = None, name: str = APP_DATABASE):
    """The upstream server's second database: users, api_keys and settings (config_overrides = ``settings``, none
    without). Yields the rows per table, the oracle of a restore."""
    conn = _admin(pg)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))
            found = cur.fetchone()
            if found is not None and found[0] != MARK:
                pytest.fail("database %s exists on the lab server and is not this test's stand-in: not touching it" % name)
            if found is not None:
                cur.execute('DROP DATABASE "%s" WITH (FORCE)' % name)
            cur.execute('CREATE DATABASE "%s"' % name)
            cur.execute("COMMENT ON DATABASE \"%s\" IS '%s'" % (name, MARK.replace("'", "''")))
    finally:
        conn.close()
    try:
        with pg(name) as db, db.cursor() as cur:
            cur.execute("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL)")
            cur.execute("CREATE TABLE api_keys (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users, "
                        "key_prefix text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
            cur.execute("CREATE TABLE settings (key text PRIMARY KEY, value jsonb NOT NULL)")
            cur.executemany("INSERT INTO users (email, role) VALUES (%s, %s)", USERS)
            cur.executemany("INSERT INTO api_keys (user_id, key_prefix) VALUES (%s, %s)", API_KEYS)
            if settings is not None:
                cur.execute("INSERT INTO settings VALUES ('config_overrides', %s)", (json.dumps(settings),))
        db.close()
        yield {"users": len(USERS), "api_keys": len(API_KEYS), "settings": 0 if settings is None else 1}
    finally:
        _drop(pg, name)


def set_overrides(pg, settings: dict, name: str = APP_DATABASE) -> None:
    """Replace config_overrides in the stand-in, as the server's dashboard does."""
    with pg(name) as db, db.cursor() as cur:
        cur.execute("INSERT INTO settings VALUES ('config_overrides', %s) ON CONFLICT (key) DO UPDATE SET value = "
                    "excluded.value", (json.dumps(settings),))
    db.close()


@contextmanager
def entities_table(pg, collection: str, dims: int = 768, dbname: str | None = None, rows: int = ENTITIES):
    """mem0 2.x's <collection>_entities beside the memories (in the stack's database unless ``dbname``), ``rows``
    vectors of ``dims``; dropped again afterwards."""
    table = "%s_entities" % collection
    with pg(dbname) as db, db.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        if cur.fetchone()[0]:
            db.close()
            pytest.fail("table %s exists already: not touching it" % table)
        cur.execute('CREATE TABLE "%s" (id uuid PRIMARY KEY, vector vector(%d), payload jsonb)' % (table, dims))
        cur.execute('INSERT INTO "%s" SELECT gen_random_uuid(), array_fill(0.01::real, ARRAY[%d])::vector, '
                    "jsonb_build_object('name', 'entity ' || g, 'user_id', 'mark_carey/sap') "
                    "FROM generate_series(1, %d) g" % (table, dims, rows))
    db.close()
    try:
        yield table
    finally:
        with pg(dbname) as db, db.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)
        db.close()
