#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: embedding_dim_check
short_description: Check that every place a mem0 stack keeps an embedding dimension agrees
version_added: 0.1.0
description:
  - Reads the embedding dimension from every source it is given and says whether they agree.
  - B(Stored data) - the declared C(vector(N)) of every vector column of every table of the database (mem0's
    collection table, C(mem0migrations), mem0 2.x's C(<collection>_entities) and any other; an empty table counts, by
    its declaration), the dimensions of the vectors stored in their rows, the length of the C(embedding) property of
    the Neo4j nodes, and the dimensions a backup manifest records. Tables that disagree with each other are a
    mismatch, as mem0 writes all of them with one embedder.
  - B(Embedder) - what the configured model really returns (O(embedder_model) mapped to its known dimension),
    what a live embedder returns when probed with a short text (O(probe_url)), and the dimension mem0 is configured
    with (O(embedder_dims), mem0's C(embedding_model_dims)).
  - On a mismatch it fails, unless O(report_only=true), with a message that names each source and its dimension
    and the two ways out - run the model the data was embedded with, or re-embed the memories with the
    configured model.
  - It catches mem0's own trap, a configured C(embedding_model_dims) that differs from what the model returns
    (mem0 never derives it; its Ollama embedder defaults to 512 while C(nomic-embed-text) returns 768).
  - PostgreSQL is read when O(db) is set; without it, PostgreSQL is not a source.
  - This module only reads; it never reports changed.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.neo4j
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  sample_rows:
    description:
      - How many rows of each table to read for the dimensions of stored vectors; V(0) reads every row.
      - pgvector enforces a declared C(vector(N)) on every insert, so a sample is enough unless the column was
        declared without a dimension.
    type: int
    default: 1000
  neo4j:
    description:
      - Also read the length of the embedding of every Neo4j node that has one (mem0's graph memory), connecting
        with the C(neo4j_*) options.
    type: bool
    default: false
  neo4j_property:
    description:
      - Node property that holds the embedding.
    type: str
    default: embedding
  embedder_provider:
    description:
      - mem0's embedder provider from the inventory, for example V(ollama) or V(openai).
      - With V(openai), a C(text-embedding-3) model returns the O(embedder_dims) it is asked for, as mem0 passes it
        on as the API's C(dimensions).
      - When O(embedder_model) is omitted, mem0's default model of this provider is assumed
        (C(nomic-embed-text) for V(ollama), C(text-embedding-3-small) for V(openai)).
    type: str
  embedder_model:
    description:
      - mem0's embedding model from the inventory, for example V(nomic-embed-text); mapped to the dimension the
        model really returns.
      - A model whose dimension is not known is listed without a dimension and does not count.
    type: str
  embedder_dims:
    description:
      - The dimension mem0 is configured with (C(embedding_model_dims) of the vector store and C(embedding_dims)
        of the embedder), which mem0 uses to create its table.
    type: int
  probe_url:
    description:
      - Base URL of a live embedder to probe with a short text, for example C(http://127.0.0.1:11434) for
        Ollama or C(https://api.openai.com/v1) for OpenAI.
    type: str
  probe_api:
    description:
      - The API of O(probe_url).
      - V(ollama) posts to C(/api/embed) (and falls back to the older C(/api/embeddings)).
      - V(openai) posts to C(/embeddings) under O(probe_url) when it ends with C(/v1), else to C(/v1/embeddings).
        Like mem0, it asks for O(embedder_dims) as C(dimensions) when O(embedder_provider=openai) and
        O(embedder_dims) is set.
    type: str
    choices: [ollama, openai]
    default: ollama
  probe_model:
    description:
      - Model to probe; defaults to O(embedder_model).
    type: str
  probe_api_key:
    description:
      - "Sent as C(Authorization: Bearer <probe_api_key>). Never logged nor returned."
    type: str
  probe_timeout:
    description:
      - Seconds to wait for the live embedder.
    type: int
    default: 30
  validate_certs:
    description:
      - Verify the TLS certificate of an HTTPS O(probe_url).
    type: bool
    default: true
  manifest:
    description:
      - A backup manifest (C(mem0ops.manifest/1)) or the directory that holds its C(manifest.json).
      - Every number under a key whose name contains C(dim) is a source (for example
        C(postgres.tables.memories.declared_dims)); a list of numbers or a mapping of dimension to count lists
        several observed dimensions.
    type: path
  report_only:
    description:
      - Return the sources and whether they agree without failing on a mismatch.
    type: bool
    default: false
notes:
  - Every source that is asked for must be readable; an unreachable database, graph or embedder fails the module
    (a dimension that cannot be read cannot be checked), also with O(report_only=true).
  - The model the stored data was embedded with is not recorded by mem0; the message names the known models of
    the data's dimension.
seealso:
  - module: mem0ops.stack.mem0_memory_count
  - module: mem0ops.stack.pgvector_dump
"""

EXAMPLES = r"""
- name: Check the dimensions, the connection to PostgreSQL given once
  module_defaults:
    mem0ops.stack.embedding_dim_check:
      login_host: "{{ mem0_stack.services.postgres.host }}"
      login_port: "{{ mem0_stack.services.postgres.port }}"
      login_user: "{{ mem0_stack.services.postgres.user }}"
      login_password: "{{ mem0_stack.services.postgres.password }}"
      db: "{{ mem0_stack.services.postgres.database }}"
  block:
    - name: Check the stack's dimensions before starting mem0 or restoring into it
      mem0ops.stack.embedding_dim_check:
        collection: "{{ mem0_stack.mem0.collection }}"
        embedder_provider: "{{ mem0_stack.embedding.provider }}"
        embedder_model: "{{ mem0_stack.embedding.model }}"
        embedder_dims: "{{ mem0_stack.embedding.dims }}"
        probe_url: "{{ mem0_stack.embedding.base_url }}"
        neo4j: true
        neo4j_uri: "bolt://{{ mem0_stack.services.neo4j.host }}:{{ mem0_stack.services.neo4j.bolt_port }}"
        neo4j_user: "{{ mem0_stack.services.neo4j.user }}"
        neo4j_password: "{{ mem0_stack.services.neo4j.password }}"

    - name: Report only, without failing
      mem0ops.stack.embedding_dim_check:
        embedder_model: "{{ mem0_stack.embedding.model }}"
        report_only: true
      register: dims

    - name: Show the dimension of every source
      ansible.builtin.debug:
        msg: "{{ dims.sources | items2dict(key_name='source', value_name='dims') }}"

- name: Before a restore, compare the backup with the configured embedder (no database needed)
  mem0ops.stack.embedding_dim_check:
    manifest: "{{ mem0_stack.backup_root }}/daily/20260103_133102"
    embedder_provider: "{{ mem0_stack.embedding.provider }}"
    embedder_model: "{{ mem0_stack.embedding.model }}"
    embedder_dims: "{{ mem0_stack.embedding.dims }}"
"""

RETURN = r"""
agree:
  description: Whether every source that has a dimension has the same one.
  returned: always
  type: bool
  sample: false
dims:
  description: The dimension they agree on; V(null) when they disagree or no source has one.
  returned: always
  type: int
  sample: 768
sources:
  description: Every source read, in order.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: What was read.
      type: str
      sample: postgres memories.vector declared
    role:
      description:
        - V(data) for stored vectors, V(model) for the known dimension of the configured model, V(probe) for what
          the live embedder returned, V(config) for O(embedder_dims).
      type: str
      sample: data
    dims:
      description: Its dimension (V(null) when it has none, for example an unknown model or a table without rows).
      type: int
      sample: 1536
    detail:
      description: More about the source (row counts, model, URL).
      type: str
      sample: vector(1536)
tables:
  description:
    - Every vector column read in PostgreSQL (collection first, then C(mem0migrations), then the others by name), with
      C(table) (C(schema.table) outside the public schema), C(column), C(type) (its declaration), C(declared_dims) and
      C(stored_dims) (the distinct dimensions of the rows read); empty without O(db).
  returned: always
  type: list
  elements: dict
  sample:
    - {table: memories, column: vector, type: vector(768), declared_dims: 768, stored_dims: [768]}
    - {table: memories_entities, column: vector, type: vector(1536), declared_dims: 1536, stored_dims: [1536]}
data_dims:
  description: The distinct dimensions of the stored data.
  returned: always
  type: list
  elements: int
  sample: [1536]
embedder_dims:
  description: The distinct dimensions the embedder returns (the live probe, else the configured model's known dimension).
  returned: always
  type: list
  elements: int
  sample: [768]
configured_dims:
  description: O(embedder_dims), or V(null).
  returned: always
  type: int
  sample: 768
memories:
  description: Memories in O(collection) (C(mem0migrations) excluded); V(null) without PostgreSQL or table.
  returned: always
  type: int
  sample: 1968
mismatches:
  description: Each disagreement and its way out, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["the stored data is 1536-dim but the embedder returns 768"]
problems:
  description: Anything else worth knowing (a missing table, an unknown model).
  returned: always
  type: list
  elements: str
  sample: ["model my-embedder is not known: its dimension is not checked"]
"""

import json
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as neo4j_utils
from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import (
    declared_dims,
    default_model,
    embedder_sources,
    judge,
    manifest_sources,
    mismatch_message,
    source,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import (
    ManifestError,
    manifest_path,
    read_manifest,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import (
    MIGRATIONS_TABLE,
    collection_argument_spec,
    collection_present,
    stored_dims,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF,
    PostgresClient,
    PostgresError,
    column_table,
    ensure_required_libs,
    postgres_argument_spec,
    quote_ident,
)

PROBE_TEXT = "mem0ops dimension probe"


class SourceError(Exception):
    """A source that was asked for and cannot be read."""


# --- the live embedder -----------------------------------------------------------------------
def _post_json(url: str, body: dict, headers: dict, timeout: int, validate_certs: bool):
    headers = dict(headers, **{"Content-Type": "application/json", "Accept": "application/json"})
    response = open_url(url, method="POST", data=json.dumps(body), headers=headers, timeout=timeout,
                        validate_certs=validate_certs)
    return json.loads(response.read() or b"null")


def error_text(exc: HTTPError) -> str:
    """The error an HTTP error response carries (Ollama's and OpenAI's shapes), read once."""
    if not hasattr(exc, "mem0ops_text"):
        try:
            body = exc.read().decode(errors="replace")
        except Exception:  # a response without a readable body
            body = ""
        text = body.strip()[:300]
        try:
            data = json.loads(body)
            error = data.get("error", data) if isinstance(data, dict) else data
            text = str(error.get("message", error) if isinstance(error, dict) else error)
        except ValueError:
            pass
        exc.mem0ops_text = text or str(exc)
    return exc.mem0ops_text


def openai_embeddings_url(base: str) -> str:
    base = base.rstrip("/")
    return base + "/embeddings" if base.endswith("/v1") else base + "/v1/embeddings"


def _probe(base: str, api: str, model: str, headers: dict, dimensions, timeout: int, validate_certs: bool) -> list:
    if api == "openai":
        body = {"model": model, "input": PROBE_TEXT}
        if dimensions:
            body["dimensions"] = dimensions
        return _post_json(openai_embeddings_url(base), body, headers, timeout, validate_certs)["data"][0]["embedding"]
    try:
        data = _post_json(base + "/api/embed", {"model": model, "input": PROBE_TEXT}, headers, timeout, validate_certs)
        return data["embeddings"][0]
    except HTTPError as exc:
        # An Ollama older than 0.3 has no /api/embed: a 404 that does not name the model.
        if exc.code != 404 or "model" in error_text(exc).lower():
            raise
    data = _post_json(base + "/api/embeddings", {"model": model, "prompt": PROBE_TEXT}, headers, timeout, validate_certs)
    return data["embedding"]


def probe_embedder(url: str, api: str, model: str, api_key=None, dimensions=None, timeout: int = 30,
                   validate_certs: bool = True) -> int:
    """Embed a short text with the live embedder and return the vector's length."""
    headers = {"Authorization": "Bearer %s" % api_key} if api_key else {}
    try:
        vector = _probe(url.rstrip("/"), api, model, headers, dimensions, timeout, validate_certs)
    except HTTPError as exc:
        text = error_text(exc)
        if exc.code == 404 and "model" in text.lower():
            raise SourceError("the embedder at %s does not have model %s (%s): pull it (ollama pull %s) or fix the "
                              "model name" % (url, model, text, model))
        if exc.code in (401, 403):
            raise SourceError("the embedder at %s refused the request (HTTP %d): check probe_api_key" % (url, exc.code))
        raise SourceError("the embedder at %s answered HTTP %d for model %s: %s" % (url, exc.code, model, text))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SourceError("the embedder at %s answered without an embedding for model %s (%s %s): is probe_api right?"
                          % (url, model, type(exc).__name__, exc))
    except (URLError, OSError, UrlConnectionError) as exc:
        raise SourceError("cannot reach the embedder at %s: %s; is it running and is the URL right?"
                          % (url, getattr(exc, "reason", exc)))
    if not isinstance(vector, list) or not vector:
        raise SourceError("the embedder at %s returned an empty embedding for model %s" % (url, model))
    return len(vector)


# --- the order of the tables (the verdict, judge, is module_utils.embeddings') ----------------
def table_order(collection: str):
    """Sort key of vector columns: the collection's `vector` first, then mem0migrations', then the rest by name."""
    def key(col):
        mem0 = {collection: 0, MIGRATIONS_TABLE: 1}
        return (mem0.get(col["table"], 2) if col["column"] == "vector" else 2, col["table"], col["column"])
    return key


class DimensionChecker:
    """Reads every source once, judges them; ``results`` is what the module returns."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        provider = self.params["embedder_provider"]
        self.model = self.params["embedder_model"] or (default_model(provider) if provider else None)
        self.results = {"changed": False, "agree": True, "dims": None, "sources": [], "data_dims": [],
                        "embedder_dims": [], "configured_dims": self.params["embedder_dims"], "memories": None,
                        "mismatches": [], "problems": [], "tables": []}

    def add(self, *args, **kwargs) -> None:
        self.results["sources"].append(source(*args, **kwargs))

    def fail(self, msg: str) -> None:
        self.module.fail_json(msg=msg, **self.results)

    # --- PostgreSQL --------------------------------------------------------------------------
    def read_postgres(self) -> None:
        ensure_required_libs(self.module)
        if not self.params.get("login_user"):
            self.fail("login_user is required with db: set it from the inventory's PostgreSQL service")
        client = PostgresClient(self.params)
        try:
            client.connect()
            self.read_tables(client)
        except PostgresError as exc:
            self.fail(str(exc))
        finally:
            client.close()

    def read_tables(self, client: PostgresClient) -> None:
        collection = self.params["collection"]
        columns = client.vector_columns()
        if not any(col["table"] == collection and col["column"] == "vector" for col in columns):
            present = collection_present(client.query, collection)
            self.results["problems"].append(
                "table %s %s in database %s: there is no stored data to compare there"
                % (collection, "has no vector column" if present else "does not exist", self.params["db"]))
        else:
            self.results["memories"] = int(client.scalar("SELECT count(*) AS n FROM %s" % quote_ident(collection)))
        for col in sorted(columns, key=table_order(collection)):
            self.read_column(client, col)

    def read_column(self, client: PostgresClient, col: dict) -> None:
        """One vector column: its declaration and the dims of its rows, as sources; mem0's own column `vector` is
        named by its table alone (postgres memories rows), any other by table.column."""
        table, column = col["table"], col["column"]
        name = table if column == "vector" else "%s.%s" % (table, column)
        declared = declared_dims(col["type"])
        self.add("postgres %s.%s declared" % (table, column), "data", declared, col["type"])
        rows = stored_dims(client.query, table, self.params["sample_rows"], column, column_table(col))
        read = sum(n for dummy, n in rows)
        if not rows:
            self.add("postgres %s rows" % name, "data", None, "no rows")
        for dims, n in rows:
            self.add("postgres %s rows" % name, "data", dims, "%d of %d rows read" % (n, read))
        self.results["tables"].append({"table": table, "column": column, "type": col["type"], "declared_dims": declared,
                                       "stored_dims": [dims for dims, dummy in rows]})

    # --- Neo4j -------------------------------------------------------------------------------
    def read_graph(self) -> None:
        params = self.params
        driver = neo4j_utils.driver_from_module(self.module)
        try:
            counts = neo4j_utils.embedding_dims(driver, params["neo4j_database"], params["neo4j_property"])
        except Exception as exc:  # the driver's errors, explained like a connection failure
            self.fail(neo4j_utils.explain_error(params, exc))
        finally:
            driver.close()
        name = "neo4j %s" % params["neo4j_property"]
        if not counts:
            self.add(name, "data", None, "no node has %s" % params["neo4j_property"])
        for dims, nodes in sorted(counts.items()):
            self.add(name, "data", int(dims), "%d of %d nodes" % (nodes, sum(counts.values())))

    # --- the manifest ------------------------------------------------------------------------
    def read_backup_manifest(self) -> None:
        path = manifest_path(self.params["manifest"])
        try:
            doc = read_manifest(path)
        except ManifestError as exc:
            self.fail(str(exc))
        found = manifest_sources(doc, path)
        if not found:
            self.results["problems"].append("the manifest %s records no embedding dimension" % path)
        self.results["sources"] += found

    # --- the embedder ------------------------------------------------------------------------
    def read_embedder_config(self) -> None:
        sources, problems = embedder_sources(self.params["embedder_provider"], self.model, self.params["embedder_dims"],
                                             default=self.params["embedder_model"] is None)
        self.results["sources"] += sources
        self.results["problems"] += problems

    def read_live_embedder(self) -> None:
        params = self.params
        model = params["probe_model"] or self.model
        if not model:
            self.fail("probe_url needs a model to probe: set probe_model or embedder_model")
        dimensions = None
        if params["probe_api"] == "openai" and (params["embedder_provider"] or "").lower() == "openai":
            dimensions = params["embedder_dims"]
        try:
            dims = probe_embedder(params["probe_url"], params["probe_api"], model, params["probe_api_key"], dimensions,
                                  params["probe_timeout"], params["validate_certs"])
        except SourceError as exc:
            self.fail(str(exc))
        self.add("live embedder %s" % model, "probe", dims, "%s API at %s" % (params["probe_api"], params["probe_url"]))

    def run(self) -> dict:
        params = self.params
        if params["sample_rows"] < 0:
            self.fail("sample_rows must be 0 (every row) or a positive number")
        if params["db"]:
            self.read_postgres()
        if params["neo4j"]:
            self.read_graph()
        if params["manifest"]:
            self.read_backup_manifest()
        self.read_embedder_config()
        if params["probe_url"]:
            self.read_live_embedder()
        if not self.results["sources"]:
            self.fail("nothing to check: give db, neo4j, manifest, embedder_model, embedder_dims or probe_url")
        verdict = judge(self.results["sources"], self.results["memories"], self.model)
        self.results.update(verdict)
        if not self.results["agree"]:
            message = mismatch_message(self.results["sources"], self.results["mismatches"])
            if not params["report_only"]:
                self.fail(message)
            self.results["msg"] = message
        else:
            self.results["msg"] = ("every source agrees on %d dims" % self.results["dims"] if self.results["dims"]
                                   else "no source has a dimension")
        return self.results


def argument_spec() -> dict:
    spec = postgres_argument_spec()
    spec.update(collection_argument_spec())
    spec.update(neo4j_utils.neo4j_argument_spec())
    spec.update(
        sample_rows=dict(type="int", default=1000),
        neo4j=dict(type="bool", default=False),
        neo4j_property=dict(type="str", default="embedding"),
        embedder_provider=dict(type="str"),
        embedder_model=dict(type="str"),
        embedder_dims=dict(type="int"),
        probe_url=dict(type="str"),
        probe_api=dict(type="str", default="ollama", choices=["ollama", "openai"]),
        probe_model=dict(type="str"),
        probe_api_key=dict(type="str", no_log=True),
        probe_timeout=dict(type="int", default=30),
        validate_certs=dict(type="bool", default=True),
        manifest=dict(type="path"),
        report_only=dict(type="bool", default=False),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_if=POSTGRES_REQUIRED_IF, supports_check_mode=True)
    module.exit_json(**DimensionChecker(module).run())


if __name__ == "__main__":
    main()
