# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reembed: the names of journals and kept tables, index rewriting, the prediction, progress lines, the embedder's
answers checked (count, dims, mem0's placeholder for a row without text), the swap's one transaction."""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import reembed as r


def test_names():
    assert r.tables_of("memories") == ["memories", "memories_entities", "mem0migrations"]
    assert r.journal_name("memories") == "memories_reembed"
    assert r.old_name("memories", 768, "20261203_023000") == "memories_old_768_20261203_023000"
    assert r.old_name("memories", None, "s") == "memories_old_x_s"
    with pytest.raises(r.ReembedError, match="longer than PostgreSQL's 63 bytes"):
        r.journal_name("m" * 60)


@pytest.mark.parametrize("index, old, new, expected", [
    ("memories_hnsw_idx", "memories", "memories_old_768_s", "memories_old_768_s_hnsw_idx"),
    ("memories_pkey", "memories", "memories_old_768_s", "memories_old_768_s_pkey"),
    ("memories_reembed_hnsw_idx", "memories_reembed", "memories", "memories_hnsw_idx"),
    ("custom_idx", "memories", "memories_old_768_s", "memories_old_768_s_custom_idx"),
])
def test_renamed_index(index, old, new, expected):
    assert r.renamed_index(index, old, new) == expected


def test_index_for_journal():
    got = r.index_for_journal("CREATE INDEX memories_hnsw_idx ON public.memories USING hnsw (vector vector_cosine_ops)",
                              "memories_reembed", "memories_reembed_hnsw_idx")
    assert got == ('CREATE INDEX IF NOT EXISTS "memories_reembed_hnsw_idx" ON "memories_reembed" '
                   "USING hnsw (vector vector_cosine_ops)")
    with pytest.raises(r.ReembedError):
        r.index_for_journal("ALTER TABLE x", "j", "n")


def test_predict_and_progress():
    assert r.predict(1968, 128, 32, 0.16) == {"rows": 1968, "batches": 16, "seconds": 9.8, "rows_per_second": 200.0}
    assert r.predict(0, 128, 0, 0.0) == {"rows": 0, "batches": 0, "seconds": None, "rows_per_second": None}
    assert r.progress_line("memories", 500, 2000, 2.0) == "memories 500/2000 (25%) 250 rows/s, ETA 6 s"
    assert r.progress_line("memories", 0, 0, 0.0) == "memories 0/0 (100%) 0 rows/s, ETA ?"
    assert r.vector_literal([0.5, -1.0, 0.25]) == "[0.5, -1.0, 0.25]"
    assert r.vector_literal([1, 0.5]) == "[1.0, 0.5]"
    assert list(r.batches([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


def test_progress_file(tmp_path):
    progress = r.Progress(str(tmp_path / "p.log"))
    progress.say("copy memories 1/2")
    assert progress.lines[0].endswith("Z copy memories 1/2")
    assert (tmp_path / "p.log").read_text() == progress.lines[0] + "\n"


class FakeEmbedder:
    def __init__(self, dims, short=False):
        self.dims = dims
        self.short = short
        self.calls = []

    def embed_batch(self, texts, action):
        self.calls.append((list(texts), action))
        vectors = [[float(len(t))] * self.dims for t in texts]
        return vectors[:-1] if self.short else vectors


def test_embed_placeholder_and_checks():
    emb = FakeEmbedder(4)
    worker = r.Reembedder(None, emb, "mxbai-embed-large", 4, batch_size=2)
    assert worker.embed(["ab", None, "c"]) == [[2.0] * 4, [0.1] * 4, [1.0] * 4]
    assert emb.calls == [(["ab", "c"], "add")]
    assert (worker.embedder_calls, worker.embedded_rows) == (1, 2)
    assert worker.embed([None]) == [[0.1] * 4] and worker.embedder_calls == 1  # no call without text
    with pytest.raises(r.ReembedError, match="returned 3 dims, the inventory says 4"):
        r.Reembedder(None, FakeEmbedder(3), "m", 4).embed(["x"])
    with pytest.raises(r.ReembedError, match="returned 1 vectors for 2 texts"):
        r.Reembedder(None, FakeEmbedder(4, short=True), "m", 4).embed(["x", "y"])


class FakeClient:
    """Tables and their indexes, for the swap's statements."""

    def __init__(self, tables):
        self.tables = tables  # name -> {"dims": n, "indexes": [...]}
        self.executed = []

    def table_exists(self, name):
        return name in self.tables

    def query(self, sql, params=None):
        name = params[0]
        if sql == r.TABLE_DIMS_SQL:
            return [{"type": "vector(%d)" % self.tables[name]["dims"]}] if name in self.tables else []
        if sql == r.INDEXES_SQL:
            return [{"name": i, "def": "", "primary": i.endswith("pkey")} for i in self.tables.get(name, {}).get("indexes", [])]
        raise AssertionError(sql)

    def execute(self, sql, params=None):
        self.executed.append(sql)


def test_swap_is_one_transaction_with_indexes_renamed():
    client = FakeClient({
        "memories": {"dims": 768, "indexes": ["memories_hnsw_idx", "memories_pkey"]},
        "memories_reembed": {"dims": 1024, "indexes": ["memories_reembed_hnsw_idx", "memories_reembed_pkey"]},
    })
    worker = r.Reembedder(client, FakeEmbedder(1024), "mxbai-embed-large", 1024)
    swapped = worker.swap(["memories"], "20261203_023000")
    assert swapped == [{"table": "memories", "old": "memories_old_768_20261203_023000", "old_dims": 768, "dims": 1024}]
    assert len(client.executed) == 1
    sql = client.executed[0]
    assert sql.startswith("BEGIN; SET LOCAL lock_timeout") and sql.endswith("; COMMIT")
    order = ['LOCK TABLE "memories", "memories_reembed" IN ACCESS EXCLUSIVE MODE',
             'ALTER INDEX "memories_hnsw_idx" RENAME TO "memories_old_768_20261203_023000_hnsw_idx"',
             'ALTER TABLE "memories" RENAME TO "memories_old_768_20261203_023000"',
             'ALTER INDEX "memories_reembed_hnsw_idx" RENAME TO "memories_hnsw_idx"',
             'ALTER INDEX "memories_reembed_pkey" RENAME TO "memories_pkey"',
             'ALTER TABLE "memories_reembed" RENAME TO "memories"']
    positions = [sql.index(part) for part in order]
    assert positions == sorted(positions)


def test_swap_refuses_an_existing_old_table():
    client = FakeClient({"memories": {"dims": 768}, "memories_reembed": {"dims": 1024},
                         "memories_old_768_s": {"dims": 768}})
    with pytest.raises(r.ReembedError, match="exists already"):
        r.Reembedder(client, FakeEmbedder(1024), "m", 1024).swap(["memories"], "s")
    assert client.executed == []


def test_graph_skips_nodes_of_the_new_dims():
    worker = r.Reembedder(None, FakeEmbedder(4), "m", 4, batch_size=2)
    nodes = [{"id": "a", "name": "mark", "dims": 768}, {"id": "b", "name": "sap", "dims": 4},
             {"id": "c", "name": "hana", "dims": 768}]
    written = []
    out = r.reembed_graph(lambda q, **kw: nodes, lambda q, **kw: written.append(kw["rows"]), worker)
    assert (out["nodes"], out["embedded"]) == (3, 2)
    assert [row["id"] for batch in written for row in batch] == ["a", "c"]
    assert written[0][0]["vector"] == [4.0] * 4
