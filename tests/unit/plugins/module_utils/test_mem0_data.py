# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.mem0_data: what mem0 keeps in PostgreSQL, read through a fake `query`.

The same functions against a real database are tested in tests/integration/test_pgvector_dump.py,
test_mem0_memory_count.py and test_embedding_dim_check.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import mem0_data
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError

SEEDED = {"mark_carey/booking": 33, "mark_carey/personal": 14, "mark_carey/sap": 678, "mark_carey/synovia": 1243}


class Database:
    """Answers mem0_data's queries from namespaces (None: rows without a user_id) and the tables present."""

    def __init__(self, namespaces=None, tables=("memories", "mem0migrations")):
        self.namespaces = dict(SEEDED) if namespaces is None else namespaces
        self.tables = tables
        self.calls = []

    def query(self, sql, params=None):
        self.calls.append((sql, params))
        if sql == mem0_data.PRESENT_SQL:
            return [{"present": params[0] in self.tables}]
        if "to_regclass('mem0migrations')" in sql:
            return [{"present": "mem0migrations" in self.tables}]
        if "AS namespace" in sql:
            prefix = params[0] if params else ""
            return [{"namespace": ns, "memories": n} for ns, n in self.namespaces.items()
                    if not prefix or ns is not None and ns.startswith(prefix)]
        if "AS type" in sql:
            return [{"type": "user_identity", "n": 1}, {"type": None, "n": 2}]
        if "array_agg(DISTINCT vector_dims" in sql:
            return [{"n": 3, "dims": [768, 1536]}]
        if "vector_dims(vector) AS dims" in sql:
            return [{"dims": 768, "n": 2}, {"dims": 1536, "n": "1"}]
        raise AssertionError("unexpected query: %s" % sql)


def test_collection_present_takes_the_name_literally():
    db = Database()
    assert mem0_data.collection_present(db.query, "memories") is True
    assert mem0_data.collection_present(db.query, 'x"; DROP TABLE memories; --') is False
    assert db.calls[-1] == (mem0_data.PRESENT_SQL, ('x"; DROP TABLE memories; --',))


def test_namespace_counts_sql_and_rows():
    db = Database({**SEEDED, None: 5})
    assert mem0_data.namespace_counts(db.query, "memories") == {**SEEDED, None: 5}
    assert db.calls[-1] == ("SELECT payload->>'user_id' AS namespace, count(*) AS memories FROM \"memories\" GROUP BY 1",
                            None)
    assert mem0_data.namespace_counts(db.query, 'my"table', "mark_carey/s", ordered=True) == {
        "mark_carey/sap": 678, "mark_carey/synovia": 1243}
    assert db.calls[-1] == ("SELECT payload->>'user_id' AS namespace, count(*) AS memories FROM \"my\"\"table\" "
                            "WHERE starts_with(payload->>'user_id', %s) GROUP BY 1 ORDER BY 1", ("mark_carey/s",))


def test_under_prefix_and_selected_memories():
    assert mem0_data.under_prefix(SEEDED, None) == SEEDED
    assert mem0_data.under_prefix(SEEDED, "mark_carey/s") == {"mark_carey/sap": 678, "mark_carey/synovia": 1243}
    assert mem0_data.selected_memories(SEEDED, "") == 1968
    assert mem0_data.selected_memories(SEEDED, "mark_carey/p") == 14
    assert mem0_data.selected_memories(SEEDED, "other/") == 0


def test_mem0_counts_keep_mem0migrations_apart_and_count_rows_without_a_namespace():
    counts = mem0_data.mem0_counts(Database({**SEEDED, None: 2}).query, "memories")
    assert counts["memories"] == {"total": 1970, "namespaces": {**SEEDED, "": 2}}
    assert counts["mem0migrations"] == {"present": True, "rows": 3, "types": {"user_identity": 1, "": 2}}


def test_mem0_counts_without_mem0migrations():
    counts = mem0_data.mem0_counts(Database(tables=("memories",)).query, "memories")
    assert counts["mem0migrations"] == {"present": False, "rows": 0, "types": {}}


def test_mem0_counts_without_the_collection_says_what_to_check():
    with pytest.raises(PostgresError, match="table 'mem0' does not exist in this database: is this the database mem0 "
                                            "writes to \\(db\\), and the collection mem0 is configured with"):
        mem0_data.mem0_counts(Database().query, "mem0")


def test_vector_tables():
    columns = [{"table": "memories", "column": "vector", "type": "vector(768)"},
               {"table": "free", "column": "emb", "type": "vector"}]
    db = Database()
    assert mem0_data.vector_tables(db.query, columns) == [
        {"table": "memories", "column": "vector", "type": "vector(768)", "declared_dims": 768,
         "observed_dims": [768, 1536], "rows": 3},
        {"table": "free", "column": "emb", "type": "vector", "declared_dims": None, "observed_dims": [768, 1536],
         "rows": 3}]
    assert 'vector_dims("emb")' in db.calls[-1][0] and 'FROM "free"' in db.calls[-1][0]


@pytest.mark.parametrize("sample, limit", [(0, ""), (10, " LIMIT 10")])
def test_stored_dims(sample, limit):
    db = Database()
    assert mem0_data.stored_dims(db.query, "memories", sample) == [(768, 2), (1536, 1)]
    assert db.calls[-1][0] == ("SELECT vector_dims(vector) AS dims, count(*) AS n FROM (SELECT vector FROM \"memories\" "
                               "WHERE vector IS NOT NULL%s) s GROUP BY 1 ORDER BY 1" % limit)
