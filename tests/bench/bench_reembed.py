"""Benchmark of the re-embedding (mem0_reembed) against the embedder's own batch throughput, and of its downtime part.

What it runs, on the lab's PostgreSQL (a scratch database mem0ops_bench_reembed, dropped at the end) and the lab's
embedder (the inventory's base_url):
  - a table of mem0's shape with BENCH_REEMBED_ROWS memories (default 20,000) of 768 dims, texts like the seed's;
  - BENCH_RUNS times (default 3), interleaved:
      raw    the embedder's own batch throughput: every text of the table sent through the ollama client (the client
             mem0's Ollama embedder uses) to /api/embed in batches of BENCH_REEMBED_BATCH (default 128), model
             BENCH_REEMBED_MODEL (default mxbai-embed-large, 1024 dims); rows/s from the wall clock of the loop;
      ours   mem0_reembed phase=copy as one process (arguments on stdin, as Ansible runs it), a fresh journal each run;
             rows/s = the rows it embedded / the seconds of its embedding loop (its own `sync.loop_seconds`: the batches
             embedded and written), without its start-up (importing mem0, the embedder's client), the query of the rows
             to embed and the journal's index build, which are in the process' wall clock, shown apart;
      swap   mem0_reembed phase=swap as one process after BENCH_REEMBED_CHANGES rows (default 20) were inserted,
             changed or deleted: the catch-up, the verification and the swap by rename, which is the part of the API's
             downtime that grows with the memories (stopping and starting mem0 is not in it: on the lab it took the
             seconds test_reembed.py's report shows); then the swap is undone for the next run.
Targets and verdicts, each on the medians:
  throughput  ours rows/s / raw rows/s >= 0.8
  downtime    the swap phase's wall clock <= 10 s at 20,000 memories (at another size: no target)

Run from the repository root (the lab must be up, `make collection-link` done):
  .venv/bin/python -m tests.bench.bench_reembed [--rows 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from tests.bench.bench_backup import ADMIN_DB, BENCH_DB, BenchError, Postgres, run_module, say, verdict
from tests.integration.labkit import LAB_INVENTORY, load_stack

DB = BENCH_DB + "_reembed"
SOURCE_DIMS = 768
TARGET_RATIO = 0.8
TARGET_DOWNTIME = 10.0
DOWNTIME_SIZE = 20000

RENAME_SQL = """
DO $$
DECLARE i record;
BEGIN
  FOR i IN SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
           WHERE x.indrelid = '%(src)s'::regclass LOOP
    EXECUTE format('ALTER INDEX %%I RENAME TO %%I', i.relname, '%(dst)s' || substr(i.relname, length('%(src)s') + 1));
  END LOOP;
  EXECUTE format('ALTER TABLE %%I RENAME TO %%I', '%(src)s', '%(dst)s');
END $$;
"""


def fill_sql(rows: int) -> str:
    return """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE memories (id uuid PRIMARY KEY, vector vector(%(dims)d), payload jsonb);
INSERT INTO memories SELECT gen_random_uuid(), array_fill(0.1::real, ARRAY[%(dims)d])::vector,
  jsonb_build_object('data', 'Mark ' || (ARRAY['prefers','decided on','is reviewing','asked about','finished'])[1 + i %% 5]
    || ' ' || (ARRAY['S/4HANA migration','Fiori launchpad','Synovia pricing','board deck','hotel in Berlin'])[1 + i %% 7 %% 5]
    || ' ' || (ARRAY['before the quarter closes','with the platform team','in the weekly sync'])[1 + i %% 3]
    || ' (note ' || i || ')', 'hash', md5(i::text), 'user_id',
    (ARRAY['mark_carey/sap','mark_carey/synovia','mark_carey/booking','mark_carey/personal'])[1 + i %% 4],
    'role', 'user', 'created_at', '2026-01-03T13:31:02+00:00')
FROM generate_series(1, %(rows)d) i;
CREATE INDEX memories_hnsw_idx ON memories USING hnsw (vector vector_cosine_ops);
VACUUM ANALYZE memories;
""" % {"dims": SOURCE_DIMS, "rows": rows}


def changes_sql(count: int, run: int) -> str:
    third = max(1, count // 3)
    return """
DELETE FROM memories WHERE id IN (SELECT id FROM memories ORDER BY id LIMIT %(t)d);
UPDATE memories SET payload = jsonb_set(payload, '{data}', to_jsonb('changed in run %(r)d: ' || (payload->>'data')))
  WHERE id IN (SELECT id FROM memories ORDER BY id DESC LIMIT %(t)d);
INSERT INTO memories SELECT gen_random_uuid(), vector, jsonb_set(payload, '{data}', to_jsonb('added in run %(r)d: ' || (payload->>'data')))
  FROM memories ORDER BY id LIMIT %(rest)d;
""" % {"t": third, "r": run, "rest": count - 2 * third}


class Bench:
    def __init__(self, pg: Postgres, stack: dict, args: argparse.Namespace):
        self.pg = pg
        self.args = args
        svc = stack["services"]["postgres"]
        self.login = {"login_host": svc["host"], "login_port": int(svc["port"]), "login_user": svc["user"],
                      "login_password": svc["password"], "db": DB}
        self.embedding = {"provider": "ollama", "model": args.model, "dims": args.dims,
                          "base_url": stack["embedding"]["base_url"]}
        self.rows = {"raw": [], "ours": [], "ours_wall": [], "swap": []}

    def module(self, **args):
        pg = self.pg
        saved, pg.module_args = pg.module_args, dict(self.login)
        try:
            return run_module(pg, "mem0_reembed", dict(args, embedding=self.embedding, batch_size=self.args.batch))
        finally:
            pg.module_args = saved

    def raw(self, texts: list) -> float:
        from ollama import Client

        client = Client(host=self.embedding["base_url"])
        client.embed(model=self.args.model, input=texts[:1])  # the connection made before the clock starts
        began = time.monotonic()
        for first in range(0, len(texts), self.args.batch):
            vectors = client.embed(model=self.args.model, input=texts[first:first + self.args.batch])["embeddings"]
            if len(vectors[0]) != self.args.dims:
                raise BenchError("the embedder returned %d dims for %s" % (len(vectors[0]), self.args.model))
        return len(texts) / (time.monotonic() - began)

    def ours(self) -> tuple:
        self.pg.psql(DB, "DROP TABLE IF EXISTS memories_reembed")
        seconds, result = self.module(phase="copy")
        sync = result["tables"][0]["sync"]
        if sync["embedded"] != self.args.rows or not result["complete"]:
            raise BenchError("the copy embedded %d of %d rows" % (sync["embedded"], self.args.rows))
        return sync["embedded"] / sync["loop_seconds"], seconds

    def swap(self, run: int) -> float:
        self.pg.psql(DB, changes_sql(self.args.changes, run))
        stamp = "bench%d" % run
        seconds, result = self.module(phase="swap", stamp=stamp)
        caught = result["tables"][0]["sync"]
        say("  swap %d: caught up %d embedded, %d deleted in %.2f s; the swap process %.2f s"
            % (run, caught["embedded"], caught["deleted"], caught["seconds"], seconds))
        # undo: the new table becomes the journal again, the old one the live table
        self.pg.psql(DB, RENAME_SQL % {"src": "memories", "dst": "memories_reembed"}
                     + RENAME_SQL % {"src": "memories_old_%d_%s" % (SOURCE_DIMS, stamp), "dst": "memories"}
                     + "COMMENT ON TABLE memories_reembed IS 'mem0ops reembed: model=%s dims=%d';"
                     % (self.args.model, self.args.dims))
        return seconds

    def run(self) -> None:
        say("filling %s with %d memories of %d dims" % (DB, self.args.rows, SOURCE_DIMS))
        self.pg.psql(ADMIN_DB, 'CREATE DATABASE "%s" TEMPLATE template0' % DB)
        self.pg.psql(DB, fill_sql(self.args.rows))
        texts = self.pg.psql(DB, "SELECT payload->>'data' FROM memories ORDER BY id").splitlines()
        for run in range(1, self.args.runs + 1):
            self.rows["raw"].append(self.raw(texts))
            rate, wall = self.ours()
            self.rows["ours"].append(rate)
            self.rows["ours_wall"].append(wall)
            say("run %d: raw %.0f rows/s, ours %.0f rows/s (the copy process %.1f s with start-up and index build)"
                % (run, self.rows["raw"][-1], rate, wall))
        for run in range(1, self.args.runs + 1):
            self.rows["swap"].append(self.swap(run))

    def report(self) -> list:
        med = dict((key, statistics.median(values)) for key, values in self.rows.items() if values)
        ratio = med["ours"] / med["raw"]
        downtime_target = TARGET_DOWNTIME if self.args.rows == DOWNTIME_SIZE else None
        lines = [
            "| row | value (median of %d) | target | verdict |" % self.args.runs,
            "|---|---|---|---|",
            "| embedder's own batch throughput (%s, batches of %d) | %.0f rows/s | - | information |"
            % (self.args.model, self.args.batch, med["raw"]),
            "| re-embedding throughput (mem0_reembed copy, %d rows) | %.0f rows/s | - | information |"
            % (self.args.rows, med["ours"]),
            "| re-embedding / embedder throughput | %.2f | >= %.1f | %s |"
            % (ratio, TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "missed"),
            "| the copy process, start-up and index build included | %.1f s | - | information |" % med["ours_wall"],
            "| downtime part: catch-up of %d rows + verification + swap at %d memories | %.2f s | %s | %s |"
            % (self.args.changes, self.args.rows, med["swap"],
               "<= %.0f s" % TARGET_DOWNTIME if downtime_target else "none at this size",
               verdict(med["swap"], downtime_target)),
        ]
        return lines


def parse_args(argv: list) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_REEMBED_ROWS", DOWNTIME_SIZE)))
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 3)))
    p.add_argument("--batch", type=int, default=int(os.environ.get("BENCH_REEMBED_BATCH", 128)))
    p.add_argument("--changes", type=int, default=int(os.environ.get("BENCH_REEMBED_CHANGES", 20)))
    p.add_argument("--model", default=os.environ.get("BENCH_REEMBED_MODEL", "mxbai-embed-large"))
    p.add_argument("--dims", type=int, default=int(os.environ.get("BENCH_REEMBED_DIMS", 1024)))
    return p.parse_args(argv)


def main(argv: list) -> int:
    args = parse_args(argv)
    stack = load_stack(LAB_INVENTORY, "lab")
    pg = Postgres(stack)
    if pg.lab_db == DB:
        raise SystemExit("the lab's database is named like the bench's: refusing to run")
    bench = Bench(pg, stack, args)
    status = 0
    try:
        pg.drop_db(DB)
        bench.run()
    except BenchError as exc:
        say("FAILED: %s" % exc)
        status = 1
    finally:
        pg.drop_db(DB)
    if bench.rows["ours"] and bench.rows["swap"]:
        lines = bench.report()
        print("\n".join(lines), flush=True)
        print(json.dumps({key: [round(v, 3) for v in values] for key, values in bench.rows.items()}), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
