#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_reembed
short_description: Re-embed mem0's stored vectors with another embedding model, side by side
version_added: 0.1.0
description:
  - Re-embeds every vector mem0 keeps in PostgreSQL from its text with the embedder of O(embedding), through mem0's own
    embedder class (the vectors mem0 itself would store) - the collection (C(payload.data)), mem0 2.x's
    C(<collection>_entities) and mem0 1.x's C(mem0migrations) when they exist (a row without text, the telemetry row,
    gets mem0's placeholder vector) - and, with O(graph), the graph nodes' C(embedding) property from their C(name).
  - Side by side - each table's new vectors go into a journal table C(<table>_reembed) of the new dimension; the live
    table is read only. The journal makes a run resumable (a row whose text the journal holds is never sent to the
    embedder again) and the catch-up cheap (rows inserted, changed - a hash of C(payload.data) - or deleted since are
    found by comparing the two tables).
  - O(phase=plan) reads only - rows per table, rows already in a journal, and a timed sample of O(sample_size) texts
    sent to the embedder, from which the batches and seconds of the re-embedding are predicted.
  - O(phase=copy) fills the journals (at most O(max_rows) rows embedded in this run when set) and, once complete, builds
    their indexes as the live table has them (HNSW, and C(text_lemmatized) for mem0 2.x on mem0's collections), while
    mem0 keeps running. Progress lines (done/total, rate, ETA) go to O(progress_file).
  - O(phase=swap) is meant for a stopped mem0 - the catch-up (the same sync), the verification (the same ids, payloads
    and memories per namespace, every vector of the new dims), then in one transaction each live table renamed to
    C(<table>_old_<dims>_<stamp>) and its journal to the live name, the indexes with them. Any difference stops it
    before anything is renamed.
  - O(phase=graph) re-embeds the graph nodes that hold an C(embedding) of another size; O(phase=drop) drops old tables
    a swap kept (O(drop_tables), only those).
author: mem0ops engineers (@mem0ops)
requirements:
  - The C(mem0ai) library (and C(ollama) for an Ollama embedder), C(psycopg2), and C(neo4j) with O(graph).
extends_documentation_fragment:
  - mem0ops.stack.embedder
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.neo4j
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Every phase returns the plan of O(phase=plan) (a timed sample sent to the embedder, nothing written).
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A copy whose journals are complete embeds nothing again; a swap renames each time it runs.
options:
  login_user:
    required: true
  login_password:
    required: true
  db:
    required: true
  connect_timeout:
    description: Seconds to wait for PostgreSQL to answer.
    type: int
    default: 10
  phase:
    description: What to do (see the description).
    type: str
    choices: [plan, copy, swap, graph, drop]
    default: plan
  namespace_prefix:
    description: Only namespaces that start with it are compared per namespace before the swap (all rows are still
      compared by id).
    type: str
  batch_size:
    description: Texts per embedder call.
    type: int
    default: 128
  sample_size:
    description: Texts embedded and timed by O(phase=plan).
    type: int
    default: 32
  max_rows:
    description: With O(phase=copy), embed at most this many rows in this run (0 - all); the next run goes on.
    type: int
    default: 0
  progress_file:
    description: A file the progress lines are appended to (follow it with C(tail -f)).
    type: path
  stamp:
    description: With O(phase=swap), the stamp of the old tables' names (C(YYYYmmdd_HHMMSS)).
    type: str
  graph:
    description: With O(phase=plan) or O(phase=graph), the graph nodes too (Neo4j at O(neo4j_uri)).
    type: bool
    default: false
  drop_tables:
    description: With O(phase=drop), the old tables to drop; each must be one a swap kept.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Predict the re-embedding from a timed sample
  mem0ops.stack.mem0_reembed:
    login_port: 5433
    login_user: mem0
    login_password: "{{ pg_password }}"
    db: mem0
    embedding: {provider: ollama, model: mxbai-embed-large, dims: 1024, base_url: "http://127.0.0.1:11434"}
  register: plan

- name: Fill the journals while mem0 runs
  mem0ops.stack.mem0_reembed:
    login_port: 5433
    login_user: mem0
    login_password: "{{ pg_password }}"
    db: mem0
    phase: copy
    embedding: "{{ mem0_stack.embedding }}"
    progress_file: /var/log/mem0ops/reembed.progress

- name: Catch up and swap (mem0 stopped)
  mem0ops.stack.mem0_reembed:
    login_port: 5433
    login_user: mem0
    login_password: "{{ pg_password }}"
    db: mem0
    phase: swap
    stamp: "20261203_023000"
    embedding: "{{ mem0_stack.embedding }}"
"""

RETURN = r"""
tables:
  description: Per vector table - rows, dims, journal, rows done and pending; after a copy or swap what the sync did
    (embedded, deleted, payloads, seconds) and after a swap the verification.
  returned: always
  type: list
  elements: dict
plan:
  description: The timed sample and the prediction - rows to embed, batches, seconds, rows per second.
  returned: phase=plan or check mode
  type: dict
complete:
  description: Whether every journal holds every row (the swap may follow).
  returned: phase=copy
  type: bool
swapped:
  description: Each table swapped - its name, the name of the old table kept, the old and the new dims.
  returned: phase=swap
  type: list
  elements: dict
graph:
  description: Graph nodes with an embedding, and how many were re-embedded.
  returned: O(graph) set
  type: dict
dropped:
  description: The old tables dropped, with their rows.
  returned: phase=drop
  type: list
  elements: dict
kept:
  description: The old tables a swap kept, with their rows.
  returned: always
  type: list
  elements: dict
embedder_calls:
  description: Calls made to the embedder by this run.
  returned: always
  type: int
embedded_rows:
  description: Texts sent to the embedder by this run.
  returned: always
  type: int
seconds:
  description: Seconds this run took.
  returned: always
  type: float
progress:
  description: The progress lines of this run.
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as neo4j_utils
from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import embedder_argument_spec, mem0_embedder
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import collection_argument_spec
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, PostgresClient, PostgresError, login_argument_spec)
from ansible_collections.mem0ops.stack.plugins.module_utils.reembed import (
    Progress, Reembedder, ReembedError, check_error, predict, reembed_graph, tables_of)


class LazyEmbedder:
    """mem0's embedder, made on first use (importing mem0 costs seconds; a swap with nothing to catch up needs none)."""

    def __init__(self, embedding, api_key):
        self.embedding = embedding
        self.api_key = api_key
        self._embedder = None

    def ready(self):
        if self._embedder is None:
            self._embedder = mem0_embedder(self.embedding, self.api_key)
        return self._embedder

    def embed_batch(self, texts, action="add"):
        return self.ready().embed_batch(texts, action)


class Runner:
    def __init__(self, module, client, reembedder):
        self.module = module
        self.params = module.params
        self.client = client
        self.reembedder = reembedder
        self.result = {"changed": False, "tables": [], "kept": [], "progress": reembedder.progress.lines}

    def present_tables(self) -> list:
        return [table for table in tables_of(self.params["collection"]) if self.reembedder.present(table)]

    def graph_driver(self):
        neo4j_utils.ensure_required_libs(self.module)
        return neo4j_utils.connect(self.params)

    def plan(self) -> None:
        tables = [self.reembedder.facts(table) for table in tables_of(self.params["collection"])]
        self.result["tables"] = [t for t in tables if t["present"]]
        pending = sum(t["pending"] for t in self.result["tables"])
        graph_nodes = 0
        if self.params["graph"]:
            driver = self.graph_driver()
            try:
                graph_nodes = len(neo4j_utils.read(driver, self.params["neo4j_database"],
                                                   "MATCH (n) WHERE n.embedding IS NOT NULL RETURN 1 AS x"))
            finally:
                driver.close()
            self.result["graph"] = {"nodes": graph_nodes}
        sample = self.reembedder.sample(self.params["collection"], self.params["sample_size"]) \
            if self.reembedder.present(self.params["collection"]) else {"rows": 0, "seconds": 0.0, "dims": None}
        self.result["plan"] = dict(predict(pending + graph_nodes, self.params["batch_size"], sample["rows"],
                                           sample["seconds"]), sample=sample, batch_size=self.params["batch_size"],
                                   model=self.reembedder.model, dims=self.reembedder.dims)

    def copy(self) -> None:
        left = self.params["max_rows"]
        complete = True
        for table in self.present_tables():
            journal = self.reembedder.ensure_journal(table)
            stats = self.reembedder.sync(table, max_rows=left if self.params["max_rows"] else 0)
            if self.params["max_rows"]:
                left = max(0, left - stats["embedded"])
            if stats["pending"]:
                complete = False
            else:
                stats["indexes"] = self.reembedder.build_indexes(table)
            self.result["tables"].append(dict(self.reembedder.facts(table), journal_state=journal["state"], sync=stats))
            if self.params["max_rows"] and left == 0 and not complete:
                break
        self.result["complete"] = complete and all(t["pending"] == 0 for t in self.result["tables"])
        self.result["changed"] = True

    def swap(self) -> None:
        if not self.params["stamp"]:
            self.module.fail_json(msg="phase=swap needs stamp (YYYYmmdd_HHMMSS), the old tables' suffix")
        tables = self.present_tables()
        problems = []
        for table in tables:
            self.reembedder.ensure_journal(table)
            stats = self.reembedder.sync(table, label="catch-up")
            stats["indexes"] = self.reembedder.build_indexes(table)
            check = self.reembedder.verify(table, self.params["namespace_prefix"])
            problems.extend(check["problems"])
            self.result["tables"].append(dict(check, sync=stats, dims_before=self.reembedder.table_dims(table)))
        self.result["changed"] = True
        if problems:
            self.module.fail_json(msg="the journals disagree with the live tables, nothing was swapped: %s"
                                  % "; ".join(problems), **self.result)
        self.result["swapped"] = self.reembedder.swap(tables, self.params["stamp"])

    def graph(self) -> None:
        driver = self.graph_driver()
        database = self.params["neo4j_database"]
        try:
            self.result["graph"] = reembed_graph(
                lambda query, **kw: neo4j_utils.read(driver, database, query, **kw),
                lambda query, **kw: neo4j_utils.write(driver, database, query, **kw), self.reembedder)
        finally:
            driver.close()
        self.result["changed"] = self.result["graph"]["embedded"] > 0

    def drop(self) -> None:
        self.result["dropped"] = self.reembedder.drop(self.params["drop_tables"], self.params["collection"])
        self.result["changed"] = bool(self.result["dropped"])

    def run(self) -> dict:
        began = time.monotonic()
        phase = "plan" if self.module.check_mode else self.params["phase"]
        getattr(self, phase)()
        if phase in ("plan", "copy", "swap", "drop"):
            self.result["kept"] = self.reembedder.kept_tables(self.params["collection"])
        self.result["embedder_calls"] = self.reembedder.embedder_calls
        self.result["embedded_rows"] = self.reembedder.embedded_rows
        self.result["seconds"] = round(time.monotonic() - began, 3)
        return self.result


def argument_spec() -> dict:
    spec = login_argument_spec(required=("login_user", "login_password", "db"))
    spec.update(collection_argument_spec())
    spec.update(embedder_argument_spec())
    spec.update(neo4j_utils.neo4j_argument_spec())
    spec.update(
        connect_timeout=dict(type="int", default=10),
        phase=dict(type="str", default="plan", choices=["plan", "copy", "swap", "graph", "drop"]),
        namespace_prefix=dict(type="str"),
        batch_size=dict(type="int", default=128),
        sample_size=dict(type="int", default=32),
        max_rows=dict(type="int", default=0),
        progress_file=dict(type="path"),
        stamp=dict(type="str"),
        graph=dict(type="bool", default=False),
        drop_tables=dict(type="list", elements="str", default=[]),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    for option in ("batch_size", "sample_size"):
        if module.params[option] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (option, module.params[option]))
    params = dict(module.params, connect_via="tcp", container=None, docker_host=None)
    embedding = module.params["embedding"]
    client = PostgresClient(params)
    secrets = [s for s in (module.params["login_password"], module.params["embedder_api_key"],
                           module.params["neo4j_password"]) if s]
    try:
        client.connect()
        reembedder = Reembedder(client, LazyEmbedder(embedding, module.params["embedder_api_key"]), embedding["model"],
                                embedding["dims"], module.params["batch_size"], Progress(module.params["progress_file"]))
        result = Runner(module, client, reembedder).run()
    except (PostgresError, ReembedError, neo4j_utils.Neo4jError) as exc:
        module.fail_json(msg=check_error(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = check_error(exc)
        for secret in secrets:
            message = message.replace(secret, "********")
        module.fail_json(msg="the embedder failed: %s (is %s at %s serving model %s?)"
                         % (message[:2000], embedding["provider"], embedding.get("base_url") or "its default URL",
                            embedding["model"]))
    finally:
        client.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
