# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0's data in PostgreSQL: the memories per namespace, the mem0migrations rows kept apart, the vector
tables and their dimensions.

Every function reads through ``query(sql, params) -> rows as dicts`` (PostgresClient.query, or a query inside
an exported snapshot), so that a dump, a restore and a count all count the same way.
"""

from __future__ import annotations

from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import declared_dims
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError, column_table, quote_ident

DEFAULT_COLLECTION = "memories"
# mem0's telemetry table: a row there is not a memory.
MIGRATIONS_TABLE = "mem0migrations"
PRESENT_SQL = "SELECT to_regclass(quote_ident(%s)) IS NOT NULL AS present"


def collection_argument_spec() -> dict:
    """The options of doc fragment mem0ops.stack.postgres.collection."""
    return dict(collection=dict(type="str", default=DEFAULT_COLLECTION))


def collection_present(query, collection: str) -> bool:
    """Whether the table exists in the database (the name is taken literally, not as SQL)."""
    return bool(query(PRESENT_SQL, (collection,))[0]["present"])


def namespace_counts(query, collection: str, prefix=None, ordered=False) -> dict:
    """Rows of the collection per namespace (payload->>'user_id'; rows without one under None), optionally only
    the namespaces that start with `prefix` (compared literally), optionally in the database's order."""
    sql = "SELECT payload->>'user_id' AS namespace, count(*) AS memories FROM %s" % quote_ident(collection)
    args = None
    if prefix:
        sql += " WHERE starts_with(payload->>'user_id', %s)"
        args = (prefix,)
    sql += " GROUP BY 1"
    if ordered:
        sql += " ORDER BY 1"
    return {row["namespace"]: int(row["memories"]) for row in query(sql, args)}


def under_prefix(per_namespace: dict, prefix) -> dict:
    """The namespaces that start with the prefix (all of them without one)."""
    return {name: count for name, count in per_namespace.items() if not prefix or name.startswith(prefix)}


def selected_memories(namespaces: dict, prefix) -> int:
    """The memories of the namespaces under the prefix."""
    return sum(under_prefix(namespaces, prefix).values())


def mem0_counts(query, collection: str) -> dict:
    """Memories per namespace (rows without one under "") and mem0migrations rows per type."""
    if not collection_present(query, collection):
        raise PostgresError("table %r does not exist in this database: is this the database mem0 writes to (db), and "
                            "the collection mem0 is configured with (collection)?" % collection)
    namespaces = {name or "": count for name, count in namespace_counts(query, collection, ordered=True).items()}
    migrations = {"present": bool(query("SELECT to_regclass('mem0migrations') IS NOT NULL AS present")[0]["present"]),
                  "rows": 0, "types": {}}
    if migrations["present"]:
        rows = query("SELECT payload->>'type' AS type, count(*) AS n FROM mem0migrations GROUP BY 1 ORDER BY 1")
        migrations["types"] = {row["type"] or "": int(row["n"]) for row in rows}
        migrations["rows"] = sum(migrations["types"].values())
    return {"memories": {"total": sum(namespaces.values()), "namespaces": namespaces}, "mem0migrations": migrations}


def vector_tables(query, columns: list) -> list:
    """Rows and stored dims of each vector column (as listed by PostgresClient.vector_columns)."""
    tables = []
    for col in columns:
        row = query("SELECT count(*) AS n, coalesce(array_agg(DISTINCT vector_dims({c})) FILTER (WHERE {c} IS NOT NULL), "
                    "'{{}}') AS dims FROM {t}".format(c=quote_ident(col["column"]), t=column_table(col)))[0]
        tables.append({"table": col["table"], "column": col["column"], "type": col["type"],
                       "declared_dims": declared_dims(col["type"]), "observed_dims": sorted(int(d) for d in row["dims"]),
                       "rows": int(row["n"])})
    return tables


def stored_dims(query, table: str, sample_rows: int = 0, column: str = "vector", sql_table=None) -> list:
    """(dims, rows) of the vectors stored in the table's `column` (mem0's `vector` by default), from its first
    `sample_rows` rows that hold one (every row with 0); `sql_table` is the table as SQL names it (default: `table`
    quoted)."""
    limit = " LIMIT %d" % sample_rows if sample_rows > 0 else ""
    col = column if column == "vector" else quote_ident(column)
    rows = query("SELECT vector_dims({c}) AS dims, count(*) AS n FROM (SELECT {c} FROM {t} WHERE {c} IS NOT NULL{l}) s "
                 "GROUP BY 1 ORDER BY 1".format(c=col, t=sql_table or quote_ident(table), l=limit))
    return [(int(row["dims"]), int(row["n"])) for row in rows]
