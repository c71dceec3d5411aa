# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Re-embedding mem0's vectors with another model, side by side.

Each vector table of mem0 (the collection, ``<collection>_entities``, ``mem0migrations``) gets a journal table
``<table>_reembed`` of the new dimension. A sync fills it from the live table: rows whose text (a hash of
``payload.data``) the journal lacks are embedded and written, rows gone from the live table are deleted, rows whose
payload alone changed get the new payload. The journal is what makes the run resumable (a row written there is never
sent to the embedder again while its text is unchanged) and the final catch-up cheap (the same sync, with the API
stopped). The swap renames, in one transaction, the live table to ``<table>_old_<dims>_<stamp>`` and the journal to
the live name, their indexes with them; the old table stays until it is dropped on purpose.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import declared_dims
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import MIGRATIONS_TABLE, namespace_counts
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError, quote_ident

JOURNAL_SUFFIX = "_reembed"
MARKER = "mem0ops reembed"
MAX_IDENTIFIER = 63
# What mem0 stores as the vector of a row without text (the telemetry row of mem0migrations: mem0/memory/setup.py).
PLACEHOLDER_VALUE = 0.1
# How long the swap waits for a lock before it gives up (nothing is renamed then).
SWAP_LOCK_TIMEOUT = "10s"
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (.*)$", re.S)


class ReembedError(Exception):
    """A re-embedding step that cannot go on, with what to do."""


# --- names -------------------------------------------------------------------------------------------------------

def tables_of(collection: str) -> list:
    """mem0's vector tables for a collection, the collection first (mem0 2.x's entity store, mem0 1.x's telemetry)."""
    return [collection, "%s_entities" % collection, MIGRATIONS_TABLE]


def journal_name(table: str) -> str:
    return checked_identifier(table + JOURNAL_SUFFIX)


def old_name(table: str, dims, stamp: str) -> str:
    """The name the live table keeps after the swap: <table>_old_<dims>_<stamp>."""
    return checked_identifier("%s_old_%s_%s" % (table, dims if dims else "x", stamp))


def checked_identifier(name: str) -> str:
    if len(name.encode()) > MAX_IDENTIFIER:
        raise ReembedError("the table name %r is longer than PostgreSQL's %d bytes: use a shorter collection name or "
                           "stamp" % (name, MAX_IDENTIFIER))
    return name


def journal_comment(model: str, dims: int) -> str:
    return "%s: model=%s dims=%d" % (MARKER, model, dims)


def renamed_index(index: str, old_table: str, new_table: str) -> str:
    """An index named after its table follows the table's new name; any other name gets the new table's prefix."""
    if index.startswith(old_table):
        return checked_identifier(new_table + index[len(old_table):])
    return checked_identifier("%s_%s" % (new_table, index))


def index_for_journal(indexdef: str, journal: str, name: str) -> str:
    """A live table's CREATE INDEX statement (pg_indexes.indexdef) rewritten for the journal."""
    match = _INDEX_DEF.match(indexdef)
    if not match:
        raise ReembedError("cannot read the index definition %r" % indexdef)
    unique, rest = match.group(1) or "", match.group(4)
    return "CREATE %sINDEX IF NOT EXISTS %s ON %s %s" % (unique, quote_ident(name), quote_ident(journal), rest)


def mem0_indexes(table: str) -> dict:
    """The indexes mem0's pgvector store builds on a collection it creates (mem0ai 2.x, HNSW): name -> statement."""
    return {
        "%s_hnsw_idx" % table: "USING hnsw (vector vector_cosine_ops)",
        "%s_text_lemmatized_idx" % table: "USING gin (to_tsvector('simple'::regconfig, (payload ->> 'text_lemmatized'::text)))",
    }


# --- numbers -----------------------------------------------------------------------------------------------------

def vector_literal(vector) -> str:
    """A vector as pgvector's text input (a list of Python floats is formatted in C, the common case)."""
    if not all(type(value) is float for value in vector[:1]):  # pylint: disable=unidiomatic-typecheck
        vector = [float(value) for value in vector]
    return str(list(vector))


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def copy_binary(rows: list, vectors: list) -> io.BytesIO:
    """Rows (id, payload as JSON text) and their vectors in COPY's binary format: uuid, pgvector's vector (int16 dims,
    int16 0, float4 each), jsonb (version 1, then the text). Packing floats costs a fraction of formatting them."""
    out = io.BytesIO()
    out.write(COPY_HEADER)
    for row, vector in zip(rows, vectors):
        data = row["payload"].encode("utf-8")
        dims = len(vector)
        out.write(struct.pack(">hi16si", 3, 16, uuid.UUID(row["id"]).bytes, 4 + 4 * dims))
        out.write(struct.pack(">hh%df" % dims, dims, 0, *vector))
        out.write(struct.pack(">ib", len(data) + 1, 1))
        out.write(data)
    out.write(struct.pack(">h", -1))
    out.seek(0)
    return out


def placeholder(dims: int) -> list:
    return [PLACEHOLDER_VALUE] * dims


def batches(items: list, size: int):
    for first in range(0, len(items), size):
        yield items[first:first + size]


def predict(rows: int, batch_size: int, sample_rows: int, sample_seconds: float) -> dict:
    """Batches and seconds for `rows` from a timed sample (its seconds per row)."""
    per_row = sample_seconds / sample_rows if sample_rows else None
    return {"rows": rows, "batches": int(math.ceil(rows / float(batch_size))) if rows else 0,
            "seconds": round(rows * per_row, 1) if per_row is not None else None,
            "rows_per_second": round(1.0 / per_row, 1) if per_row else None}


def progress_line(table: str, done: int, total: int, seconds: float) -> str:
    """done/total, percent, rate and ETA, as the progress log shows them."""
    rate = done / seconds if seconds > 0 else 0.0
    left = total - done
    eta = "%.0f s" % (left / rate) if rate > 0 else "?"
    percent = 100.0 * done / total if total else 100.0
    return "%s %d/%d (%.0f%%) %.0f rows/s, ETA %s" % (table, done, total, percent, rate, eta)


class Progress:
    """Progress lines, with a UTC time, appended to a file the owner can follow (tail -f) and kept for the result."""

    def __init__(self, path=None):
        self.path = path
        self.lines = []

    def say(self, text: str) -> None:
        line = "%s %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text)
        self.lines.append(line)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")


# --- the database ------------------------------------------------------------------------------------------------

TABLE_DIMS_SQL = (
    "SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attname = 'vector' AND NOT a.attisdropped")
INDEXES_SQL = (
    "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def, x.indisprimary AS primary "
    "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
    "WHERE x.indrelid = to_regclass(quote_ident(%s)) ORDER BY 1")
COMMENT_SQL = "SELECT obj_description(to_regclass(quote_ident(%s)), 'pg_class') AS comment"
# Rows whose vector the journal lacks: new rows, and rows whose text changed (a hash of payload.data).
PENDING_SQL = (
    "SELECT l.id::text AS id, l.payload->>'data' AS text, l.payload::text AS payload FROM {live} l "
    "LEFT JOIN {journal} j ON j.id = l.id "
    "WHERE j.id IS NULL OR md5(coalesce(j.payload->>'data', '')) <> md5(coalesce(l.payload->>'data', '')) ORDER BY l.id")
DELETED_SQL = "DELETE FROM {journal} j WHERE NOT EXISTS (SELECT 1 FROM {live} l WHERE l.id = j.id)"
PAYLOADS_SQL = (
    "UPDATE {journal} j SET payload = l.payload FROM {live} l WHERE l.id = j.id AND j.payload IS DISTINCT FROM l.payload "
    "AND md5(coalesce(j.payload->>'data', '')) = md5(coalesce(l.payload->>'data', ''))")
VERIFY_SQL = (
    "SELECT count(*) FILTER (WHERE j.id IS NULL) AS missing, count(*) FILTER (WHERE l.id IS NULL) AS extra, "
    "count(*) FILTER (WHERE l.id IS NOT NULL AND j.id IS NOT NULL AND j.payload IS DISTINCT FROM l.payload) AS stale, "
    "count(*) FILTER (WHERE j.id IS NOT NULL AND (j.vector IS NULL OR vector_dims(j.vector) <> %s)) AS bad_vectors "
    "FROM {live} l FULL JOIN {journal} j ON j.id = l.id")


class Reembedder:
    """Re-embeds mem0's vector tables through a PostgresClient and an embedder with ``embed_batch(texts, action)``."""

    def __init__(self, client, embedder, model: str, dims: int, batch_size: int = 128, progress=None):
        self.client = client
        self.embedder = embedder
        self.model = model
        self.dims = int(dims)
        self.batch_size = int(batch_size)
        self.progress = progress or Progress()
        self.embedder_calls = 0
        self.embedded_rows = 0

    # --- facts ---------------------------------------------------------------------------------------------------
    def present(self, table: str) -> bool:
        return self.client.table_exists(table)

    def table_dims(self, table: str):
        rows = self.client.query(TABLE_DIMS_SQL, (table,))
        return declared_dims(rows[0]["type"]) if rows else None

    def count(self, table: str) -> int:
        return int(self.client.scalar("SELECT count(*) AS n FROM %s" % quote_ident(table)))

    def comment(self, table: str):
        return self.client.scalar(COMMENT_SQL, (table,))

    def facts(self, table: str) -> dict:
        """What is known of a table and its journal before a sync."""
        journal = journal_name(table)
        out = {"table": table, "present": self.present(table), "journal": journal, "journal_present": False,
               "rows": 0, "dims": None, "done": 0, "pending": 0}
        if not out["present"]:
            return out
        out["rows"] = self.count(table)
        out["dims"] = self.table_dims(table)
        out["journal_present"] = self.present(journal)
        if out["journal_present"] and self.comment(journal) == journal_comment(self.model, self.dims):
            out["pending"] = len(self.pending(table))
            out["done"] = out["rows"] - out["pending"]
        else:
            out["pending"] = out["rows"]
        return out

    def pending(self, table: str) -> list:
        return self.client.query(PENDING_SQL.format(live=quote_ident(table), journal=quote_ident(journal_name(table))))

    def sample_texts(self, table: str, limit: int) -> list:
        rows = self.client.query("SELECT payload->>'data' AS text FROM %s WHERE coalesce(payload->>'data', '') <> '' "
                                 "ORDER BY id LIMIT %d" % (quote_ident(table), int(limit)))
        return [row["text"] for row in rows]

    # --- the embedder --------------------------------------------------------------------------------------------
    def ready(self) -> None:
        """Make the embedder's client before a clock starts (its set-up is not a cost per row)."""
        ready = getattr(self.embedder, "ready", None)
        if callable(ready):
            ready()

    def embed(self, texts: list) -> list:
        """Vectors for texts; a row without text gets mem0's placeholder. Checks the count and the dims."""
        wanted = [text for text in texts if text]
        vectors = []
        if wanted:
            self.embedder_calls += 1
            vectors = list(self.embedder.embed_batch(wanted, "add"))
            if len(vectors) != len(wanted):
                raise ReembedError("the embedder returned %d vectors for %d texts" % (len(vectors), len(wanted)))
            self.embedded_rows += len(wanted)
        found = iter(vectors)
        out = []
        for text in texts:
            vector = list(next(found)) if text else placeholder(self.dims)
            if len(vector) != self.dims:
                raise ReembedError(
                    "model %s returned %d dims, the inventory says %d (mem0_stack.embedding.dims): set dims to what "
                    "the model returns (%d) and run again; nothing was swapped" % (self.model, len(vector), self.dims,
                                                                                   len(vector)))
            out.append(vector)
        return out

    def sample(self, table: str, size: int) -> dict:
        """Embed up to `size` texts of the table, timed (what --check predicts from); writes nothing."""
        texts = self.sample_texts(table, size)
        self.ready()
        began = time.monotonic()
        vectors = self.embed(texts) if texts else []
        seconds = time.monotonic() - began
        return {"rows": len(texts), "seconds": round(seconds, 4),
                "dims": len(vectors[0]) if vectors else None}

    # --- writing -------------------------------------------------------------------------------------------------
    def ensure_journal(self, table: str) -> dict:
        """The journal table of the new dims: kept when it is of this model and dims, else made anew."""
        journal = journal_name(table)
        wanted = journal_comment(self.model, self.dims)
        state = "kept"
        found = self.comment(journal) if self.present(journal) else wanted
        if found != wanted:
            self.client.execute("DROP TABLE %s" % quote_ident(journal))
            self.progress.say("%s: a journal of another model or dims (%s) was dropped" % (journal, found))
            state = "replaced"
        if not self.present(journal):
            self.client.execute("CREATE TABLE %s (id UUID PRIMARY KEY, vector vector(%d), payload JSONB)"
                                % (quote_ident(journal), self.dims))
            self.client.execute("COMMENT ON TABLE %s IS %%s" % quote_ident(journal), (wanted,))
            state = "created" if state == "kept" else state
        return {"journal": journal, "state": state}

    def write(self, table: str, rows: list, vectors: list) -> None:
        """Upsert rows into the journal: binary COPY into a session's staging table, then one INSERT (over TCP), or
        one INSERT of text literals."""
        journal = quote_ident(journal_name(table))
        if self.client.via == "tcp":
            stage = "mem0ops_reembed_stage_%d" % self.dims
            self.client.execute("CREATE TEMP TABLE IF NOT EXISTS %s (id UUID, vector vector(%d), payload JSONB); "
                                "TRUNCATE %s" % (stage, self.dims, stage))
            self.client.copy_in("COPY %s (id, vector, payload) FROM STDIN (FORMAT binary)" % stage,
                                copy_binary(rows, vectors))
            self.client.execute("INSERT INTO %s (id, vector, payload) SELECT id, vector, payload FROM %s ON CONFLICT (id) "
                                "DO UPDATE SET vector = EXCLUDED.vector, payload = EXCLUDED.payload" % (journal, stage))
            return
        values = ", ".join(["(%s::uuid, %s::vector, %s::jsonb)"] * len(rows))
        params = []
        for row, vector in zip(rows, vectors):
            params.extend([row["id"], vector_literal(vector), row["payload"]])
        self.client.execute(
            "INSERT INTO {j} (id, vector, payload) VALUES {v} ON CONFLICT (id) DO UPDATE SET vector = EXCLUDED.vector, "
            "payload = EXCLUDED.payload".format(j=quote_ident(journal_name(table)), v=values), params)

    def sync(self, table: str, max_rows: int = 0, label: str = "copy") -> dict:
        """Bring the journal up to the live table: deletions, payload-only changes, then the rows to embed, in
        batches, with progress. At most `max_rows` rows are embedded when it is set (the rest on the next run)."""
        journal = quote_ident(journal_name(table))
        live = quote_ident(table)
        began = time.monotonic()
        deleted = self.client.scalar("WITH d AS (%s RETURNING 1) SELECT count(*) AS n FROM d"
                                     % DELETED_SQL.format(journal=journal, live=live))
        payloads = self.client.scalar("WITH u AS (%s RETURNING 1) SELECT count(*) AS n FROM u"
                                      % PAYLOADS_SQL.format(journal=journal, live=live))
        todo = self.pending(table)
        total = len(todo)
        if max_rows and total > max_rows:
            todo = todo[:max_rows]
        done = 0
        if todo:
            self.progress.say("%s %s: %d rows to embed in batches of %d" % (label, table, total, self.batch_size))
            self.ready()
        clock = time.monotonic()
        # The next batch is embedded while this one is written: the embedder and PostgreSQL work at the same time.
        with ThreadPoolExecutor(max_workers=1) as pool:
            parts = list(batches(todo, self.batch_size))
            ahead = pool.submit(self.embed, [row["text"] for row in parts[0]]) if parts else None
            for index, batch in enumerate(parts):
                vectors = ahead.result()
                if index + 1 < len(parts):
                    ahead = pool.submit(self.embed, [row["text"] for row in parts[index + 1]])
                self.write(table, batch, vectors)
                done += len(batch)
                self.progress.say("%s %s" % (label, progress_line(table, done, total, time.monotonic() - clock)))
        now = time.monotonic()
        return {"table": table, "embedded": done, "deleted": int(deleted or 0), "payloads": int(payloads or 0),
                "pending": total - done, "seconds": round(now - began, 3), "loop_seconds": round(now - clock, 3)}

    def build_indexes(self, table: str) -> list:
        """The live table's indexes on the journal (its primary key apart), and mem0's own on its collections."""
        journal = journal_name(table)
        statements = {}
        for index in self.client.query(INDEXES_SQL, (table,)):
            if not index["primary"]:
                name = renamed_index(index["name"], table, journal)
                statements[name] = index_for_journal(index["def"], journal, name)
        if table != MIGRATIONS_TABLE:  # what mem0's pgvector store builds on a collection it creates
            for name, using in mem0_indexes(table).items():
                kind = "USING %s " % using.split()[1]
                if not any(kind in statement for statement in statements.values()):
                    name = renamed_index(name, table, journal)
                    statements[name] = "CREATE INDEX IF NOT EXISTS %s ON %s %s" % (quote_ident(name), quote_ident(journal),
                                                                                   using)
        for name in sorted(statements):
            began = time.monotonic()
            self.client.execute(statements[name])
            self.progress.say("index %s built in %.1f s" % (name, time.monotonic() - began))
        return sorted(statements)

    # --- before the swap -----------------------------------------------------------------------------------------
    def verify(self, table: str, prefix=None) -> dict:
        """The journal against the live table: the same ids, the same payloads, every vector of the new dims, and the
        same memories per namespace; `problems` says what differs."""
        journal = journal_name(table)
        row = self.client.query(VERIFY_SQL.format(live=quote_ident(table), journal=quote_ident(journal)), (self.dims,))[0]
        live_ns = namespace_counts(self.client.query, table, prefix, ordered=True)
        journal_ns = namespace_counts(self.client.query, journal, prefix, ordered=True)
        out = {"table": table, "rows": self.count(table), "journal_rows": self.count(journal),
               "missing": int(row["missing"]), "extra": int(row["extra"]), "stale": int(row["stale"]),
               "bad_vectors": int(row["bad_vectors"]),
               "namespaces": dict((str(k), v) for k, v in live_ns.items()), "problems": []}
        for key, what in (("missing", "rows of %s missing from the journal" % table),
                          ("extra", "rows in the journal that %s no longer has" % table),
                          ("stale", "journal rows whose payload differs from %s" % table),
                          ("bad_vectors", "journal rows without a vector of %d dims" % self.dims)):
            if out[key]:
                out["problems"].append("%d %s" % (out[key], what))
        if live_ns != journal_ns:
            out["problems"].append("memories per namespace differ: %s has %s, the journal %s"
                                   % (table, json.dumps(live_ns, sort_keys=True), json.dumps(journal_ns, sort_keys=True)))
        return out

    # --- the swap ------------------------------------------------------------------------------------------------
    def swap_statements(self, tables: list, stamp: str) -> tuple:
        """The statements of one transaction that swap every table with its journal, and what each is renamed to."""
        # Every table locked first, in one order, before any index is renamed (an index rename locks its table after
        # the index: with a concurrent ANALYZE that order deadlocked).
        locked = ", ".join(quote_ident(name) for table in tables for name in (table, journal_name(table)))
        statements = ["SET LOCAL lock_timeout = '%s'" % SWAP_LOCK_TIMEOUT, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % locked]
        renamed = []
        for table in tables:
            journal = journal_name(table)
            old = old_name(table, self.table_dims(table), stamp)
            if self.present(old):
                raise ReembedError("table %s exists already: choose another stamp" % old)
            for index in self.client.query(INDEXES_SQL, (table,)):
                statements.append("ALTER INDEX %s RENAME TO %s" % (quote_ident(index["name"]),
                                                                   quote_ident(renamed_index(index["name"], table, old))))
            statements.append("ALTER TABLE %s RENAME TO %s" % (quote_ident(table), quote_ident(old)))
            statements.append("COMMENT ON TABLE %s IS '%s: kept %s, replaced by model %s dims %d'"
                              % (quote_ident(old), MARKER, stamp, self.model.replace("'", "''"), self.dims))
            for index in self.client.query(INDEXES_SQL, (journal,)):
                statements.append("ALTER INDEX %s RENAME TO %s" % (quote_ident(index["name"]),
                                                                   quote_ident(renamed_index(index["name"], journal, table))))
            statements.append("ALTER TABLE %s RENAME TO %s" % (quote_ident(journal), quote_ident(table)))
            statements.append("COMMENT ON TABLE %s IS NULL" % quote_ident(table))
            renamed.append({"table": table, "old": old, "old_dims": self.table_dims(table), "dims": self.dims})
        return statements, renamed

    def swap(self, tables: list, stamp: str) -> list:
        statements, renamed = self.swap_statements(tables, stamp)
        began = time.monotonic()
        try:
            self.client.execute("BEGIN; %s; COMMIT" % "; ".join(statements))
        except PostgresError as exc:
            try:
                self.client.execute("ROLLBACK")
            except PostgresError:
                pass
            raise ReembedError("the swap failed and was rolled back, every table keeps its name: %s" % exc)
        self.progress.say("swapped %s in one transaction (%.2f s)" % (", ".join(r["table"] for r in renamed),
                                                                      time.monotonic() - began))
        return renamed

    def kept_tables(self, collection: str) -> list:
        """Old tables a swap kept (their comment says so), with their rows."""
        rows = self.client.query(
            "SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = current_schema() "
            "AND obj_description(c.oid, 'pg_class') LIKE %s ORDER BY 1", (MARKER + ": kept %",))
        prefixes = tuple(table + "_old_" for table in tables_of(collection))
        return [{"table": row["name"], "comment": row["comment"], "rows": self.count(row["name"])}
                for row in rows if row["name"].startswith(prefixes)]

    def drop(self, names: list, collection: str) -> list:
        kept = dict((row["table"], row) for row in self.kept_tables(collection))
        unknown = [name for name in names if name not in kept]
        if unknown:
            raise ReembedError("not an old table a re-embed kept: %s (kept: %s)"
                               % (", ".join(unknown), ", ".join(sorted(kept)) or "none"))
        for name in names:
            self.client.execute("DROP TABLE %s" % quote_ident(name))
            self.progress.say("dropped %s (%d rows)" % (name, kept[name]["rows"]))
        return [kept[name] for name in names]


# --- the graph -----------------------------------------------------------------------------------------------------

GRAPH_NODES_QUERY = ("MATCH (n) WHERE n.{p} IS NOT NULL AND n.name IS NOT NULL "
                     "RETURN elementId(n) AS id, toString(n.name) AS name, size(n.{p}) AS dims ORDER BY id")
GRAPH_SET_QUERY = "UNWIND $rows AS r MATCH (n) WHERE elementId(n) = r.id SET n.{p} = r.vector"


def reembed_graph(neo4j_read, neo4j_write, reembedder, prop: str = "embedding", skip_same_dims: bool = True) -> dict:
    """The graph nodes' `embedding` property from their `name`, in batches; nodes that already hold a vector of the
    new dims are left (a rerun resumes) unless skip_same_dims is false. neo4j_read/neo4j_write(query, **params)."""
    began = time.monotonic()
    nodes = neo4j_read(GRAPH_NODES_QUERY.format(p=prop))
    todo = [node for node in nodes if not (skip_same_dims and int(node["dims"] or 0) == reembedder.dims)]
    for batch in batches(todo, reembedder.batch_size):
        vectors = reembedder.embed([node["name"] for node in batch])
        neo4j_write(GRAPH_SET_QUERY.format(p=prop),
                    rows=[{"id": node["id"], "vector": vector} for node, vector in zip(batch, vectors)])
    if todo:
        reembedder.progress.say("graph: %d of %d nodes re-embedded from their name" % (len(todo), len(nodes)))
    return {"nodes": len(nodes), "embedded": len(todo), "seconds": round(time.monotonic() - began, 3)}


def check_error(exc: Exception) -> str:
    """One line for a failure of a step."""
    if isinstance(exc, (ReembedError, PostgresError)):
        return str(exc)
    return "%s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
