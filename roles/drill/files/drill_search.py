# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Search restored memories through the real mem0 library (``mem0.Memory``), as the mem0 server would.

Usage: drill_search.py CONFIG_JSON      (the password comes from the environment, never from the arguments)

CONFIG_JSON (no secret in it): ``host``, ``port``, ``user``, ``dbname``, ``collection``, ``namespace`` (the
``user_id`` searched), ``limit``, ``workdir`` (a private directory for mem0's history.db and its config directory)
and ``embedding`` (``provider``, ``model``, ``dims``, ``base_url``), the inventory's ``mem0_stack.embedding``.

Environment: ``DRILL_PG_PASSWORD`` (required), ``DRILL_EMBEDDER_API_KEY`` (optional, for a hosted embedder).

mem0 is configured like the lab's mem0 server (lab/apps/mem0_server.py): pgvector at the given database and
collection, the configured embedder with its dims, an LLM that is never called, telemetry off. The script takes
one memory of the namespace whose text no other memory of the namespace has (the lowest id), searches for that
text with ``Memory.search(text, filters={"user_id": namespace}, top_k=limit)`` (mem0 2.x spelling of
``search(query, user_id=..., limit=...)``) and reports whether that memory came back first.

Prints one JSON object on stdout; exits 1 with a message on stderr (the password never in it) when the search
cannot run.
"""

from __future__ import annotations

import json
import os
import sys
import time

PICK_SQL = (
    "SELECT id::text AS id, payload->>'data' AS text FROM {table} t "
    "WHERE payload->>'user_id' = %(ns)s AND coalesce(payload->>'data', '') <> '' "
    "AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.payload->>'user_id' = %(ns)s "
    "AND o.payload->>'data' = t.payload->>'data' AND o.id <> t.id) "
    "ORDER BY id LIMIT 1")
SHOWN = 80


def shorten(text, length=SHOWN):
    text = " ".join(str(text or "").split())
    return text if len(text) <= length else text[:length - 3] + "..."


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def embedder_config(embedding):
    """The ``embedder`` section of mem0's config for the inventory's mem0_stack.embedding."""
    provider = embedding.get("provider") or "ollama"
    config = {"model": embedding.get("model"), "embedding_dims": int(embedding["dims"])}
    base_url = embedding.get("base_url")
    if base_url and provider == "ollama":
        config["ollama_base_url"] = base_url
    elif base_url and provider in ("openai", "lmstudio"):
        config["%s_base_url" % provider] = base_url
    if os.environ.get("DRILL_EMBEDDER_API_KEY"):
        config["api_key"] = os.environ["DRILL_EMBEDDER_API_KEY"]
    return {"provider": provider, "config": {k: v for k, v in config.items() if v is not None}}


def llm_config(embedding):
    """An LLM section mem0 accepts without a key; the drill never calls it (the search does not infer)."""
    if (embedding.get("provider") or "ollama") == "ollama":
        return {"provider": "ollama", "config": {"model": "llama3.1:8b", "ollama_base_url": embedding.get("base_url")}}
    return {"provider": "ollama", "config": {"model": "llama3.1:8b"}}


def mem0_config(cfg, password):
    """The config handed to ``Memory.from_config`` (holds the password: never printed)."""
    return {
        "version": "v1.1",
        "vector_store": {
            "provider": "pgvector",
            "config": {
                "host": cfg["host"],
                "port": int(cfg["port"]),
                "user": cfg["user"],
                "password": password,
                "dbname": cfg["dbname"],
                "collection_name": cfg["collection"],
                "embedding_model_dims": int(cfg["embedding"]["dims"]),
            },
        },
        "embedder": embedder_config(cfg["embedding"]),
        "llm": llm_config(cfg["embedding"]),
        "history_db_path": os.path.join(cfg["workdir"], "history.db"),
    }


def pick_memory(cfg, password):
    """(id, text) of the memory searched for, or (None, None) when the namespace has none with a unique text."""
    import psycopg2  # pylint: disable=import-outside-toplevel

    conn = psycopg2.connect(host=cfg["host"], port=int(cfg["port"]), user=cfg["user"], password=password,
                            dbname=cfg["dbname"], connect_timeout=10, application_name="mem0ops_drill")
    try:
        with conn.cursor() as cur:
            cur.execute(PICK_SQL.format(table=quote_ident(cfg["collection"])), {"ns": cfg["namespace"]})
            row = cur.fetchone()
    finally:
        conn.close()
    return (row[0], row[1]) if row else (None, None)


def search(cfg, password):
    started = time.time()
    os.environ["MEM0_TELEMETRY"] = "false"  # read by mem0 at import time
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["MEM0_DIR"] = os.path.join(cfg["workdir"], "mem0")  # not ~/.mem0
    memory_id, text = pick_memory(cfg, password)
    out = {"namespace": cfg["namespace"], "memory_id": memory_id, "query": shorten(text), "limit": int(cfg["limit"]),
           "results": [], "rank": None, "found_first": False}
    if memory_id is None:
        out["error"] = "namespace %s holds no memory with a text of its own to search for" % cfg["namespace"]
        out["answered_at"] = time.time()
        return out
    from mem0 import Memory  # pylint: disable=import-outside-toplevel

    memory = Memory.from_config(mem0_config(cfg, password))
    ready = time.time()
    try:
        found = memory.search(text, filters={"user_id": cfg["namespace"]}, top_k=int(cfg["limit"]))
    finally:
        close = getattr(memory, "close", None)
        if callable(close):
            close()
    answered = time.time()
    results = found.get("results", []) if isinstance(found, dict) else list(found or [])
    out["results"] = [{"id": str(r.get("id")), "score": round(float(r.get("score") or 0.0), 4), "memory": shorten(r.get("memory"), 60)}
                      for r in results]
    ids = [r["id"] for r in out["results"]]
    out["rank"] = ids.index(memory_id) + 1 if memory_id in ids else None
    out["found_first"] = out["rank"] == 1
    out["init_seconds"] = round(ready - started, 3)
    out["search_seconds"] = round(answered - ready, 3)
    out["answered_at"] = answered
    return out


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: drill_search.py CONFIG_JSON (password in DRILL_PG_PASSWORD)\n")
        return 2
    password = os.environ.get("DRILL_PG_PASSWORD", "")
    if not password:
        sys.stderr.write("DRILL_PG_PASSWORD is not set\n")
        return 2
    try:
        cfg = json.loads(sys.argv[1])
        out = search(cfg, password)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = ("%s: %s" % (type(exc).__name__, exc)).replace(password, "********")
        sys.stderr.write("the search through mem0 failed: %s\n" % message.strip()[:2000])
        return 1
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
