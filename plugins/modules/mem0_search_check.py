#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_search_check
short_description: Search one stored memory through the real mem0 library and say whether it comes back first
version_added: 0.1.0
description:
  - Configures C(mem0.Memory) like the stack's mem0 server (pgvector at the given database and collection, the
    embedder of O(embedding) with its dims, an LLM that is never called, telemetry off), takes one memory of
    O(namespace) whose text and whose stored vector no other memory of the namespace has (the lowest id; two
    memories the model embeds alike tie in any search, and their order is arbitrary), searches for that text with
    C(Memory.search) (the filter C(user_id) set to O(namespace), C(top_k) set to O(limit)) and reports whether that
    memory came back first.
  - Used by the C(drill) role on the restored copy of a backup set. Needs the C(mem0ai) and C(psycopg2) libraries in the
    Python that runs the module.
  - This module only reads; mem0's own history database and settings go into O(workdir).
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.embedder
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  login_user:
    required: true
  login_password:
    required: true
  db:
    required: true
  namespace:
    description: The namespace (the C(user_id) of the memories) searched in.
    type: str
    required: true
  limit:
    description: How many results the search returns at most.
    type: int
    default: 3
  workdir:
    description: A private directory for mem0's C(history.db) and its settings directory (never C(~/.mem0)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Search one restored memory through the mem0 library
  mem0ops.stack.mem0_search_check:
    login_port: 15433
    login_user: mem0
    login_password: "{{ pg_password }}"
    db: mem0
    namespace: mark_carey/work
    workdir: /tmp/mem0ops_drill_x
    embedding: "{{ mem0_stack.embedding }}"
  register: found
"""

RETURN = r"""
search:
  description: What the search did and found.
  returned: success
  type: dict
  contains:
    namespace:
      description: The namespace searched.
      type: str
    memory_id:
      description: The memory searched for; null when the namespace has none with a text of its own.
      type: str
    query:
      description: The start of its text (80 characters at most).
      type: str
    limit:
      description: O(limit).
      type: int
    results:
      description: The results, each with its id, score and the start of the memory.
      type: list
      elements: dict
    rank:
      description: The rank of the memory among the results (1 is first); null when it is not among them.
      type: int
    found_first:
      description: Whether the memory came back first.
      type: bool
    error:
      description: Why nothing was searched; set when the namespace has no memory with a text of its own.
      type: str
    init_seconds:
      description: Seconds until mem0 was ready.
      type: float
    search_seconds:
      description: Seconds the search took.
      type: float
    answered_at:
      description: When the search answered, in seconds since the epoch.
      type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import embedder_argument_spec, embedder_config
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import collection_argument_spec
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import login_argument_spec, pg_url, quote_ident

PICK_SQL = (
    "SELECT id::text AS id, payload->>'data' AS text FROM {table} t "
    "WHERE payload->>'user_id' = %(ns)s AND coalesce(payload->>'data', '') <> '' "
    "AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.payload->>'user_id' = %(ns)s AND o.id <> t.id "
    "AND (o.payload->>'data' = t.payload->>'data' OR o.vector = t.vector)) "
    "ORDER BY id LIMIT 1")
SHOWN = 80


def shorten(text, length=SHOWN):
    text = " ".join(str(text or "").split())
    return text if len(text) <= length else text[:length - 3] + "..."


def llm_config(embedding):
    """An LLM section mem0 accepts without a key; the search never calls it (it does not infer)."""
    if (embedding.get("provider") or "ollama") == "ollama":
        return {"provider": "ollama", "config": {"model": "llama3.1:8b", "ollama_base_url": embedding.get("base_url")}}
    return {"provider": "ollama", "config": {"model": "llama3.1:8b"}}


def mem0_config(p):
    """The config handed to ``Memory.from_config`` (holds the password: never returned)."""
    return {
        "version": "v1.1",
        "vector_store": {
            "provider": "pgvector",
            "config": {
                # Encoded here: from its parts mem0 would build the URL with the password raw.
                "connection_string": pg_url(p["login_host"], p["login_port"], p["login_user"], p["login_password"], p["db"]),
                "collection_name": p["collection"],
                "embedding_model_dims": int(p["embedding"]["dims"]),
            },
        },
        "embedder": embedder_config(p["embedding"], p.get("embedder_api_key")),
        "llm": llm_config(p["embedding"]),
        "history_db_path": os.path.join(p["workdir"], "history.db"),
    }


def pick_memory(p):
    """(id, text) of the memory searched for, or (None, None) when the namespace has none with a unique text."""
    import psycopg2  # pylint: disable=import-outside-toplevel

    conn = psycopg2.connect(host=p["login_host"], port=int(p["login_port"]), user=p["login_user"], password=p["login_password"],
                            dbname=p["db"], connect_timeout=10, application_name="mem0ops_drill")
    try:
        with conn.cursor() as cur:
            cur.execute(PICK_SQL.format(table=quote_ident(p["collection"])), {"ns": p["namespace"]})
            row = cur.fetchone()
    finally:
        conn.close()
    return (row[0], row[1]) if row else (None, None)


def search(p, pick=pick_memory, memory_class=None):
    started = time.time()
    os.environ["MEM0_TELEMETRY"] = "false"  # read by mem0 at import time
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["MEM0_DIR"] = os.path.join(p["workdir"], "mem0")  # not ~/.mem0
    memory_id, text = pick(p)
    out = {"namespace": p["namespace"], "memory_id": memory_id, "query": shorten(text), "limit": int(p["limit"]),
           "results": [], "rank": None, "found_first": False}
    if memory_id is None:
        out["error"] = "namespace %s holds no memory with a text of its own to search for" % p["namespace"]
        out["answered_at"] = time.time()
        return out
    if memory_class is None:
        from mem0 import Memory as memory_class  # pylint: disable=import-outside-toplevel

    memory = memory_class.from_config(mem0_config(p))
    ready = time.time()
    try:
        found = memory.search(text, filters={"user_id": p["namespace"]}, top_k=int(p["limit"]))
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
    argument_spec = login_argument_spec(required=("login_user", "login_password", "db"))
    argument_spec.update(collection_argument_spec())
    argument_spec.update(embedder_argument_spec())
    argument_spec.update(
        namespace=dict(type="str", required=True),
        limit=dict(type="int", default=3),
        workdir=dict(type="path", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    password = module.params["login_password"]
    try:
        out = search(module.params)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = ("%s: %s" % (type(exc).__name__, exc)).replace(password, "********")
        module.fail_json(msg="the search through mem0 failed: %s" % message.strip()[:2000])
    module.exit_json(changed=False, search=out)


if __name__ == "__main__":
    main()
