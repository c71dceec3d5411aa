"""Benchmark of the backup's PostgreSQL part and of the memory count against the raw PostgreSQL tools, on the lab's PostgreSQL.

What it runs
  For each size in BENCH_SIZES it fills a scratch database (mem0ops_bench, never the lab's own) with a table of mem0's
  shape (id uuid, vector vector(BENCH_DIMS), payload jsonb with mem0's keys over the seed's namespaces) generated
  server-side, builds mem0's indexes (HNSW with vector_cosine_ops, and mem0 2.x's GIN text index), and then runs every
  method BENCH_RUNS times (default 3), interleaved (run 1 of every method, then run 2, ...), streaming dumps to a temp
  dir here:

  dumps     pg_dump | gzip -9 (gzip9), pg_dump -Fc (fc), -Fc -Z zstd:3 (zstd3), -Fc -Z 0 (z0), and ours: the
            pgvector_dump module (custom + schema, compression auto, counts and checksums, a manifest)
  restores  ours: pgvector_restore of our dump, index_phase deferred (restore_ours); the anchor, pg_restore of the
            same custom file of ours with the same settings (restore_same): --jobs=BENCH_JOBS, and through PGOPTIONS
            maintenance_work_mem (1GB, or what fits the container's /dev/shm) and
            max_parallel_maintenance_workers=BENCH_WORKERS, which ours gets as its options (defaults 2 and 2, the
            restore role's); and, for information, pg_restore of the fc dump with one job and the server's settings
            (restore_default)

  Before the sizes, unless BENCH_COUNT_ROWS is 0, a second scratch database (mem0ops_bench_count) gets BENCH_COUNT_ROWS
  (default 1,000,000) mem0-shaped rows with BENCH_COUNT_DIMS-dim vectors (default 768, the lab's model; pgvector keeps
  them out of line as mem0's are), and the per-namespace count of the mem0_memory_count module (count_ours) is timed
  against the raw query in psql (count_raw), SELECT payload->>'user_id', count(*) FROM <collection> GROUP BY 1.
  The fill is fast because it is what a count does not read that is made cheap: the table is UNLOGGED (no WAL), the
  vectors cycle through 1,000 random ones, and there is no HNSW index (a count never uses it). Both methods also run
  against an empty table of the same shape; the difference of their medians there is ours' fixed start-up cost (its
  Python process, its imports and its extra existence query), stated as its own row.

The boundary, the same for every method
  Every figure is the wall clock of one process this script starts, from its start to its exit (time.monotonic()
  around subprocess.run):
  - an anchor is `docker exec <postgres container> pg_dump | pg_restore | psql ...`; a restore is one `bash -c` in the
    container that receives the dump on stdin, stores it, creates the database and runs pg_restore on the file (with
    --jobs pg_restore needs a file; ours too copies its dump into the container and creates the database);
  - ours is the module run as a process, `python -m ansible_collections.mem0ops.stack.plugins.modules.<module>` with
    its arguments as JSON on stdin, which is what Ansible runs on the managed host; it reaches PostgreSQL inside the
    same container (connect_via docker_exec, an exec through the Docker API).
  Why this boundary: both sides pay their own process start-up and the trip into the container, and neither pays
  Ansible's controller-side cost (inventory, templating, shipping the module), which is the same for every task of
  every module; that cost is measured separately, as the row "ansible-playbook, one task" (an ansible.builtin.ping
  play against the lab host). Ours does more inside the boundary than the anchors, by design: the dump counts and
  checksums its files and writes a manifest; the restore verifies the checksums, ANALYZEs and proves the counts.
  That is what a user pays.

Figures, targets, verdicts
  Each figure is the median of BENCH_RUNS runs; the table also shows their min and max. Every restore goes into a new
  database whose row count is checked against the source, and every count's total too. At the end a second table
  states every target and its verdict, met, missed, no target (the row is information at that size) or not measured
  (a method was skipped):
    dump time   ours / pg_dump -Fc -Z 0 <= 1.5 from 20,000 memories on; below that ours at most 2 s above it
    dump size   ours / pg_dump | gzip -9 <= 1.10
    restore     ours / pg_restore with the same jobs, workers and memory <= 1.5
    count       (ours - its start-up cost) / the raw GROUP BY in psql <= 1.5, at BENCH_COUNT_ROWS rows
  It writes .build/bench/results.json, results.md and bench.png. Every database it made is dropped, whatever happened.

Run from the repository root (the lab must be up, and `make collection-link` done, as `make bench` does):
  make bench BENCH_SIZES="2000 20000" BENCH_RUNS=3 BENCH_COUNT_ROWS=100000 BENCH_SKIP=gzip9,restore_default
  .venv/bin/python -m tests.bench.bench_backup --sizes "2000" --runs 1 --count-rows 0 --skip gzip9
The connection comes from the lab inventory; the password reaches an anchor only through PGPASSWORD, and ours only
through its arguments on stdin, never a command line or a file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tests.integration.labkit import LAB_INVENTORY, REPO, load_stack

BENCH_DB = "mem0ops_bench"
COUNT_DB = BENCH_DB + "_count"
RESTORE_PREFIX = BENCH_DB + "_restore_"
ADMIN_DB = "postgres"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
COLLECTIONS = REPO / ".build" / "collections"
MODULES = "ansible_collections.mem0ops.stack.plugins.modules."
# Memories per namespace of lab/seed/seed.py: the bench keeps their proportions at every size.
NAMESPACES = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
VERBS = ["prefers", "decided on", "is reviewing", "asked about", "needs a follow-up on", "finished"]
TUNED_MEM = 1 << 30
VECTOR_POOL = 1000
LABELS = {
    "gzip9": "pg_dump | gzip -9", "fc": "pg_dump -Fc", "zstd3": "pg_dump -Fc -Z zstd:3", "z0": "pg_dump -Fc -Z 0",
    "ours": "ours: pgvector_dump", "restore_default": "pg_restore 1 job, defaults",
    "restore_same": "pg_restore same settings", "restore_ours": "ours: pgvector_restore",
    "count_raw": "psql GROUP BY", "count_ours": "ours: mem0_memory_count",
    "count_raw_empty": "psql GROUP BY, empty table", "count_ours_empty": "ours: count, empty table",
    "ansible": "ansible-playbook, one task",
}
SKIPPABLE = ["gzip9", "fc", "zstd3", "z0", "ours", "restore_default", "restore_same", "restore_ours", "count", "ansible"]
RAW_DUMPS = {  # argv run in the container, before the connection arguments
    "z0": ["pg_dump", "--no-password", "-Fc", "-Z", "0"],
    "fc": ["pg_dump", "--no-password", "-Fc"],
    "zstd3": ["pg_dump", "--no-password", "-Fc", "-Z", "zstd:3"],
    "gzip9": ["bash", "-o", "pipefail", "-c", 'pg_dump --no-password "$@" | gzip -9', "pg_dump"],
}
# The anchor restore, one process: the dump on stdin, into a file (pg_restore --jobs needs one), a new database.
RESTORE_SCRIPT = ('set -e; target=$1; jobs=$2; shift 2; d=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; cat > "$d/dump"; '
                  'createdb --no-password "$@" --template=template0 "$target"; '
                  'pg_restore --exit-on-error --no-password --jobs="$jobs" "$@" --dbname="$target" "$d/dump"')
DUMP_ORDER = ["z0", "fc", "zstd3", "ours", "gzip9"]
RESTORES = {"restore_ours": "ours", "restore_same": "ours", "restore_default": "fc"}
SMALL = 20000  # below it the dump's time target is absolute (seconds above -Z 0), from it on a ratio
# (name, numerator, denominator, compared, kind, target or None, applies: "all" | "small" | "large")
TARGETS = [
    ("ours dump time / pg_dump -Fc -Z 0", "ours", "z0", "seconds", "ratio", 1.5, "large"),
    ("ours dump time - pg_dump -Fc -Z 0", "ours", "z0", "seconds", "difference", 2.0, "small"),
    ("ours dump bytes / pg_dump | gzip -9", "ours", "gzip9", "bytes", "ratio", 1.10, "all"),
    ("ours restore time / pg_restore same settings", "restore_ours", "restore_same", "seconds", "ratio", 1.5, "all"),
    ("ours restore time / pg_restore 1 job, defaults", "restore_ours", "restore_default", "seconds", "ratio", None, "all"),
]
COUNT_TARGETS = [
    ("ours count / psql GROUP BY, start-up subtracted", "ratio", 1.5),
    ("ours count / psql GROUP BY, as measured", "ratio", None),
    ("ours count start-up over psql (empty table)", "difference", None),
]
TARGETS_TEXT = """targets (each figure the median of {runs} run(s), each the wall clock of one process from start to exit):
  dump time  ours / pg_dump -Fc -Z 0 <= 1.5 from {small:,} memories on; below that ours at most 2 s above it
  dump size  ours / pg_dump | gzip -9 <= 1.10
  restore    ours / pg_restore with the same jobs, workers and maintenance_work_mem <= 1.5
  count      (ours - its start-up cost) / the raw GROUP BY in psql <= 1.5"""


class BenchError(Exception):
    """A step of the bench failed."""


def say(message: str) -> None:
    print("bench: %s" % message, flush=True)


def mib(nbytes) -> str:
    return "-" if nbytes is None else "%.2f" % (nbytes / 1048576.0)


class Postgres:
    """The lab's PostgreSQL as the inventory describes it; every command runs inside its container."""

    def __init__(self, stack: dict):
        svc = stack["services"]["postgres"]
        self.container = svc["container"]
        self.lab_db = svc["database"]
        self.port = int(svc.get("container_port") or svc["port"])
        self.conn = ["-h", svc["host"], "-p", str(self.port), "-U", svc["user"]]
        self.collection = stack["mem0"]["collection"]
        self.env = dict(os.environ, PGPASSWORD=svc["password"])
        # What every run of one of our modules gets: the same container, through docker exec, as the anchors.
        self.module_args = {"connect_via": "docker_exec", "container": self.container, "login_host": svc["host"],
                            "login_port": self.port, "login_user": svc["user"], "login_password": svc["password"]}
        if stack.get("docker_host"):
            self.env["DOCKER_HOST"] = stack["docker_host"]
            self.module_args["docker_host"] = stack["docker_host"]

    def run(self, argv: list, stdin=None, data: bytes | None = None, stdout=subprocess.PIPE, env: dict | None = None):
        """docker exec argv; PGPASSWORD (and env) reach it through the environment, never the command line."""
        extra = env or {}
        names = [arg for key in ["PGPASSWORD", *extra] for arg in ("-e", key)]
        interactive = ["-i"] if stdin is not None or data is not None else []
        proc = subprocess.run(["docker", "exec", *interactive, *names, self.container, *argv], input=data,
                              stdin=stdin if data is None else None, stdout=stdout, stderr=subprocess.PIPE,
                              env=dict(self.env, **extra), check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()[-2000:]
            raise BenchError("%s failed (exit %d): %s" % (argv[0], proc.returncode, message))
        return proc

    def timed(self, argv: list, **kwargs) -> float:
        """Wall clock of one docker exec, from the process' start to its exit."""
        started = time.monotonic()
        self.run(argv, **kwargs)
        return time.monotonic() - started

    def psql(self, db: str, sql: str) -> str:
        proc = self.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *self.conn, "-d", db], data=sql.encode())
        for line in proc.stderr.decode(errors="replace").splitlines():
            if not line.endswith("skipping"):  # DROP ... IF EXISTS of what is not there
                say("  postgres says: %s" % line.strip())
        return proc.stdout.decode().strip()

    def timed_psql(self, db: str, sql: str) -> float:
        started = time.monotonic()
        self.psql(db, sql)
        return time.monotonic() - started

    def count(self, db: str, table: str | None = None) -> int:
        return int(self.psql(db, 'SELECT count(*) FROM "%s"' % (table or self.collection)))

    def create_db(self, name: str) -> None:
        self.psql(ADMIN_DB, 'CREATE DATABASE "%s" TEMPLATE template0' % name)

    def drop_db(self, name: str) -> None:
        if name == self.lab_db or not name.startswith(BENCH_DB):
            raise BenchError("refusing to drop database %r: not a bench database" % name)
        self.psql(ADMIN_DB, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def bench_dbs(self) -> list:
        out = self.psql(ADMIN_DB, "SELECT datname FROM pg_database WHERE datname LIKE '%s%%' ORDER BY 1" % BENCH_DB.replace("_", "\\_"))
        return [line for line in out.splitlines() if line]

    def shm_free(self) -> int:
        line = self.run(["df", "-Pk", "/dev/shm"]).stdout.decode().splitlines()[-1].split()
        return int(line[3]) * 1024


def run_module(pg: Postgres, name: str, args: dict) -> tuple[float, dict]:
    """One of our modules as one process, arguments on stdin: (wall seconds from start to exit, its result)."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": dict(pg.module_args, **args)}).encode()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(COLLECTIONS), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", MODULES + name], input=payload, capture_output=True, env=env, check=False)
    seconds = time.monotonic() - started
    try:
        result = json.loads(proc.stdout.decode(errors="replace"))
    except ValueError:
        raise BenchError("%s printed no result (exit %d): %s" % (name, proc.returncode, proc.stderr.decode(errors="replace")[-2000:])) from None
    if proc.returncode != 0 or result.get("failed"):
        raise BenchError("%s failed: %s" % (name, result.get("msg")))
    for warning in result.get("warnings", []):
        say("  %s warns: %s" % (name, warning))
    return seconds, result


def fitting_memory(shm_free: int) -> str:
    """TUNED_MEM, or the largest multiple of 64MB that fits in the container's free /dev/shm."""
    size = max(64 << 20, min(TUNED_MEM, shm_free // (64 << 20) * (64 << 20)))
    return "%dMB" % (size >> 20) if size % (1 << 30) else "%dGB" % (size >> 30)


def seed_sql(collection: str, size: int, dims: int, pool: int = 0) -> str:
    """INSERT ... SELECT that generates `size` memories of mem0's shape server-side (random vectors, mem0 payloads).

    With `pool`, the vectors cycle through that many random ones (a fast fill, for what never reads the vectors)."""
    whens, upto = [], 0
    total = sum(NAMESPACES.values())
    for namespace, count in NAMESPACES.items():
        upto += count
        whens.append("WHEN i %% %d < %d THEN '%s'" % (total, upto, namespace))
    verbs = "ARRAY[%s]" % ", ".join("'%s'" % verb for verb in VERBS)
    random_vector = "(SELECT array_agg((random() * 0.2 - 0.1)::real) FROM generate_series(1, {dims}) WHERE {ref} >= 0)::vector({dims})"
    if pool:
        prelude = "CREATE TEMP TABLE bench_pool AS SELECT n, %s AS v FROM generate_series(0, %d) AS n;\n" % (
            random_vector.format(dims=dims, ref="n"), pool - 1)
        vector, join = "p.v", "JOIN bench_pool p ON p.n = r.i %% %d" % pool
    else:
        prelude, vector, join = "", random_vector.format(dims=dims, ref="r.i"), ""
    return """
SET TIME ZONE 'UTC';
{prelude}INSERT INTO "{t}" (id, vector, payload)
SELECT gen_random_uuid(), {vector},
       jsonb_build_object('data', r.text, 'hash', md5(r.text), 'user_id', r.ns, 'role', 'user', 'source', 'bench',
                          'created_at', r.at, 'updated_at', r.at, 'text_lemmatized', r.text)
FROM (SELECT i, ns, 'Mark ' || ({verbs})[1 + i % {nverbs}] || ' ' || split_part(ns, '/', 2) || ' item ' || (i % 97)
             || ' (note ' || i || ')' AS text,
             to_char(timestamptz '2025-06-01 00:00+00' + make_interval(mins => (i * 97) % 288000),
                     'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') AS at
      FROM (SELECT i, CASE {whens} END AS ns FROM generate_series(0, {last}) AS i) g) r {join};
""".format(t=collection, prelude=prelude, vector=vector, join=join, verbs=verbs, nverbs=len(VERBS),
           whens=" ".join(whens), last=size - 1)


class Bench:
    """Runs every method for each size and keeps the results, one sample per run."""

    def __init__(self, pg: Postgres, args: argparse.Namespace, tmp: Path):
        self.pg = pg
        self.dims = args.dims
        self.skip = args.skip
        self.runs = args.runs
        self.jobs = args.jobs
        self.workers = args.workers
        self.tmp = tmp
        self.samples = []
        self.mem = fitting_memory(pg.shm_free())
        if self.mem != "1GB":
            say("container /dev/shm has %d MiB free: both restores use maintenance_work_mem=%s instead of 1GB"
                % (pg.shm_free() >> 20, self.mem))

    def record(self, size, phase: str, method: str, seconds: float, nbytes=None, run: int = 1, **detail) -> dict:
        row = {"size": size, "phase": phase, "method": method, "label": LABELS.get(method, method), "run": run,
               "seconds": round(seconds, 3), "bytes": nbytes, "detail": detail}
        self.samples.append(row)
        extra = ", ".join("%s %s" % (key, value) for key, value in detail.items())
        shown = "-" if size is None else size
        say("%8s  %-7s %-28s run %d/%d %9.2f s %10s MB  %s" % (shown, phase, row["label"], run, self.runs, seconds, mib(nbytes), extra))
        return row

    def seed_table(self, db: str, table: str, dims: int, unlogged: bool = False) -> None:
        self.pg.psql(db, 'CREATE EXTENSION IF NOT EXISTS vector;\nCREATE %sTABLE "%s" (id uuid PRIMARY KEY, vector vector(%d), '
                     'payload jsonb);' % ("UNLOGGED " if unlogged else "", table, dims))

    def seed(self, size: int) -> None:
        pg, t = self.pg, self.pg.collection
        pg.drop_db(BENCH_DB)
        pg.create_db(BENCH_DB)
        self.seed_table(BENCH_DB, t, self.dims)
        seconds = pg.timed_psql(BENCH_DB, seed_sql(t, size, self.dims))
        rel = "SELECT pg_total_relation_size('\"%s\"')" % t
        self.record(size, "seed", "insert", seconds, int(pg.psql(BENCH_DB, rel)), dims=self.dims)
        seconds = pg.timed_psql(BENCH_DB, "SET maintenance_work_mem = '%s';\nCREATE INDEX \"%s_hnsw_idx\" ON \"%s\" USING hnsw "
                                "(vector vector_cosine_ops);" % (self.mem, t, t))
        idx = int(pg.psql(BENCH_DB, "SELECT pg_relation_size('\"%s_hnsw_idx\"')" % t))
        self.record(size, "seed", "hnsw index", seconds, idx, maintenance_work_mem=self.mem)
        seconds = pg.timed_psql(BENCH_DB, "CREATE INDEX \"{t}_text_lemmatized_idx\" ON \"{t}\" USING gin "
                                "(to_tsvector('simple', payload->>'text_lemmatized'));\nVACUUM ANALYZE \"{t}\";".format(t=t))
        self.record(size, "seed", "gin index + vacuum", seconds)
        found = pg.count(BENCH_DB)
        if found != size:
            raise BenchError("seeded %d rows, expected %d" % (found, size))

    # --- dumps ---------------------------------------------------------------------------------------------------
    def dump_raw(self, size: int, method: str, run: int) -> Path:
        path = self.tmp / ("%s_%d.%s" % (method, size, "sql.gz" if method == "gzip9" else "dump"))
        with open(path, "wb") as handle:
            seconds = self.pg.timed(RAW_DUMPS[method] + self.pg.conn + ["-d", BENCH_DB], stdout=handle)
        self.record(size, "dump", method, seconds, path.stat().st_size, run)
        return path

    def dump_ours(self, size: int, run: int) -> Path:
        dest = self.tmp / ("ours_%d_run%d" % (size, run))
        seconds, result = run_module(self.pg, "pgvector_dump", {
            "db": BENCH_DB, "dest": str(dest), "formats": ["custom", "schema"], "compression": "auto",
            "collection": self.pg.collection})
        manifest = result["manifest"]
        files = {entry["format"]: entry for entry in manifest["files"]}
        self.record(size, "dump", "ours", seconds, manifest["bytes"], run, pg_dump_custom=files["custom"]["seconds"],
                    pg_dump_schema=files["schema"]["seconds"], module_total=manifest["duration_seconds"],
                    compression=files["custom"]["compression"])
        return dest

    # --- restores ------------------------------------------------------------------------------------------------
    def restore_raw(self, size: int, method: str, dump: Path, run: int) -> None:
        target = "%s%s_%d_%d" % (RESTORE_PREFIX, method.replace("restore_", ""), size, run)
        jobs, env, detail = 1, {}, {}
        if method == "restore_same":
            jobs = self.jobs
            env["PGOPTIONS"] = "-c maintenance_work_mem=%s -c max_parallel_maintenance_workers=%d" % (self.mem, self.workers)
            detail.update(jobs=jobs, maintenance_work_mem=self.mem, max_parallel_maintenance_workers=self.workers)
        with open(dump, "rb") as handle:
            seconds = self.pg.timed(["bash", "-c", RESTORE_SCRIPT, "restore", target, str(jobs), *self.pg.conn],
                                    stdin=handle, env=env)
        self.check_rows(target, size, detail)
        self.record(size, "restore", method, seconds, run=run, **detail)

    def restore_ours(self, size: int, dest: Path, run: int) -> None:
        target = "%sours_%d_%d" % (RESTORE_PREFIX, size, run)
        seconds, result = run_module(self.pg, "pgvector_restore", {
            "db": ADMIN_DB, "src": str(dest), "target_db": target, "index_phase": "deferred", "jobs": self.jobs,
            "maintenance_work_mem": self.mem, "max_parallel_maintenance_workers": self.workers})
        detail = {"jobs": self.jobs}
        detail.update(result.get("index_settings") or {})
        if detail.get("max_parallel_maintenance_workers") != self.workers:
            say("  NOTE: pgvector_restore built the indexes with %s workers, the anchor with %d: not like with like"
                % (detail.get("max_parallel_maintenance_workers"), self.workers))
        detail.update((key, result.get(key)) for key in ("copy_seconds", "data_seconds", "index_seconds", "analyze_seconds"))
        self.check_rows(target, size, detail)
        self.record(size, "restore", "restore_ours", seconds, run=run, **detail)

    def check_rows(self, target: str, size: int, detail: dict) -> None:
        found = self.pg.count(target)
        self.pg.drop_db(target)
        detail["rows_ok"] = found == size
        if found != size:
            raise BenchError("%s holds %d rows after the restore, the source %d" % (target, found, size))

    def run_size(self, size: int) -> None:
        say("--- %d memories, %d dims, %d run(s) of each method" % (size, self.dims, self.runs))
        self.seed(size)
        dumps, methods = {}, []
        for method in DUMP_ORDER:
            needed = any(source == method and restore not in self.skip for restore, source in RESTORES.items())
            if method in self.skip and not needed:
                say("%8d  dump    %-28s skipped (BENCH_SKIP)" % (size, LABELS[method]))
            else:
                methods.append(method)
        restores = [method for method in RESTORES if method not in self.skip]
        for method in set(RESTORES) - set(restores):
            say("%8d  restore %-28s skipped (BENCH_SKIP)" % (size, LABELS[method]))
        for run in range(1, self.runs + 1):
            for method in methods:
                if method == "ours":
                    if "ours" in dumps:
                        shutil.rmtree(dumps["ours"])
                    dumps["ours"] = self.dump_ours(size, run)
                else:
                    dumps[method] = self.dump_raw(size, method, run)
        ours_custom = None
        if "ours" in dumps:
            manifest = json.loads((dumps["ours"] / "manifest.json").read_text(encoding="utf-8"))
            ours_custom = dumps["ours"] / next(e["name"] for e in manifest["files"] if e["format"] == "custom")
        for run in range(1, self.runs + 1):
            for method in restores:
                if method == "restore_ours":
                    self.restore_ours(size, dumps["ours"], run)
                else:
                    self.restore_raw(size, method, ours_custom if RESTORES[method] == "ours" else dumps["fc"], run)
        for path in dumps.values():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        self.pg.drop_db(BENCH_DB)

    # --- the count -----------------------------------------------------------------------------------------------
    def run_count(self, rows: int, dims: int) -> None:
        pg, t = self.pg, self.pg.collection
        empty = t + "_empty"
        say("--- count: %d memories, %d dims, %d run(s) of each method" % (rows, dims, self.runs))
        pg.drop_db(COUNT_DB)
        pg.create_db(COUNT_DB)
        self.seed_table(COUNT_DB, t, dims, unlogged=True)
        self.seed_table(COUNT_DB, empty, dims, unlogged=True)
        seconds = pg.timed_psql(COUNT_DB, seed_sql(t, rows, dims, pool=VECTOR_POOL) + 'VACUUM ANALYZE "%s";' % t)
        heap = int(pg.psql(COUNT_DB, "SELECT pg_relation_size('\"%s\"')" % t))
        total = int(pg.psql(COUNT_DB, "SELECT pg_total_relation_size('\"%s\"')" % t))
        self.record(rows, "seed", "insert (unlogged)", seconds, total, dims=dims, heap_mb=mib(heap),
                    vectors="%d cycled" % VECTOR_POOL)
        found = pg.count(COUNT_DB)
        if found != rows:
            raise BenchError("seeded %d rows for the count, expected %d" % (found, rows))
        raw = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *pg.conn, "-d", COUNT_DB, "-c",
               "SELECT payload->>'user_id', count(*) FROM \"%s\" GROUP BY 1"]
        for run in range(0, self.runs + 1):  # run 0 warms the cache for both and is not kept
            for table, suffix, expected in ((empty, "_empty", 0), (t, "", rows)):
                seconds = pg.timed(raw[:-1] + [raw[-1] % table])
                if run:
                    self.record(rows, "count", "count_raw" + suffix, seconds, run=run)
                seconds, result = run_module(pg, "mem0_memory_count", {"db": COUNT_DB, "collection": table})
                if result["total"] != expected:
                    raise BenchError("mem0_memory_count counted %s memories in %s, expected %d" % (result["total"], table, expected))
                if run:
                    self.record(rows, "count", "count_ours" + suffix, seconds, run=run, count_seconds=result["count_seconds"])
        pg.drop_db(COUNT_DB)

    def run_ansible(self) -> None:
        """The fixed cost of one playbook with one module task, which any task of ours pays on top of its module."""
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        playbook = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(LAB_INVENTORY), str(PLAYBOOKS / "bench_ping.yml")]
        for run in range(1, self.runs + 1):
            started = time.monotonic()
            proc = subprocess.run(playbook, cwd=REPO, env=env, capture_output=True, check=False)
            seconds = time.monotonic() - started
            if proc.returncode != 0:
                raise BenchError("ansible-playbook %s failed: %s" % (playbook[-1], proc.stdout.decode(errors="replace")[-2000:]))
            self.record(None, "startup", "ansible", seconds, run=run)


def median_row(samples: list) -> dict:
    """One row for the samples of one method at one size: the median, min and max, the median run's details."""
    ordered = sorted(samples, key=lambda s: s["seconds"])
    middle = ordered[(len(ordered) - 1) // 2]
    seconds = [s["seconds"] for s in samples]
    sizes = [s["bytes"] for s in samples if s["bytes"] is not None]
    return {"size": middle["size"], "phase": middle["phase"], "method": middle["method"], "label": middle["label"],
            "runs": len(samples), "seconds": round(statistics.median(seconds), 3), "seconds_min": min(seconds),
            "seconds_max": max(seconds), "samples": seconds, "bytes": int(statistics.median(sizes)) if sizes else None,
            "detail": middle["detail"]}


def aggregate(samples: list) -> list:
    keys = []
    for sample in samples:
        key = (sample["size"], sample["phase"], sample["method"])
        if key not in keys:
            keys.append(key)
    return [median_row([s for s in samples if (s["size"], s["phase"], s["method"]) == key]) for key in keys]


def verdict(value, target) -> str:
    if target is None:
        return "no target"
    if value is None:
        return "not measured"
    return "met" if value <= target else "missed"


def ratios(results: list) -> list:
    """Every target row, for every size measured: the value, its target (or none at that size) and the verdict."""
    rows = []
    sizes = sorted({r["size"] for r in results if r["phase"] in ("dump", "restore")})
    for size in sizes:
        found = {r["method"]: r for r in results if r["size"] == size and r["phase"] in ("dump", "restore")}
        for name, num, den, key, kind, target, applies in TARGETS:
            value = None
            if num in found and den in found and found[den][key]:
                if kind == "ratio":
                    value = round(found[num][key] / found[den][key], 3)
                else:
                    value = round(found[num][key] - found[den][key], 3)
            if applies == "small" and size >= SMALL or applies == "large" and size < SMALL:
                target = None
            rows.append({"size": size, "ratio": name, "kind": kind, "value": value, "target": target,
                         "verdict": verdict(value, target)})
    for size in sorted({r["size"] for r in results if r["phase"] == "count"}):
        found = {r["method"]: r["seconds"] for r in results if r["size"] == size and r["phase"] == "count"}
        if len(found) < 4 or not found["count_raw"]:  # an interrupted bench
            continue
        startup = found["count_ours_empty"] - found["count_raw_empty"]
        values = [(found["count_ours"] - startup) / found["count_raw"], found["count_ours"] / found["count_raw"], startup]
        for (name, kind, target), value in zip(COUNT_TARGETS, values):
            rows.append({"size": size, "ratio": name, "kind": kind, "value": round(value, 3), "target": target,
                         "verdict": verdict(value, target)})
    return rows


def note(row: dict) -> str:
    return ", ".join("%s=%s" % (key, value) for key, value in row["detail"].items() if key != "rows_ok")


def md_row(cells) -> str:
    """One markdown table row; a | inside a cell (pg_dump | gzip -9) is escaped."""
    return "| %s |" % " | ".join(cell.replace("|", "\\|") for cell in cells)


def table(results: list, ratio_rows: list, runs: int = 0) -> tuple[str, str]:
    """The results as a text table and as markdown (medians, with min and max), then the targets and verdicts."""
    head = ("memories", "phase", "method", "runs", "median s", "min s", "max s", "MB", "notes")
    rows = [("-" if r["size"] is None else str(r["size"]), r["phase"], r["label"], str(r.get("runs", 1)), "%.2f" % r["seconds"],
             "%.2f" % r.get("seconds_min", r["seconds"]), "%.2f" % r.get("seconds_max", r["seconds"]), mib(r["bytes"]), note(r))
            for r in results]
    line = "%9s  %-7s  %-28s  %4s  %8s  %7s  %7s  %9s  %s"
    text = [line % head] + [line % row for row in rows]
    md = ["| %s |" % " | ".join(head), "|---:|---|---|---:|---:|---:|---:|---:|---|"] + [md_row(row) for row in rows]
    runs = runs or max([r.get("runs", 1) for r in results] or [1])
    targets = TARGETS_TEXT.format(small=SMALL, runs=runs)
    text += ["", targets]
    md += ["", "```", targets, "```", "", "| memories | measure | value | target | verdict |", "|---:|---|---:|---:|---|"]
    for r in ratio_rows:
        unit = " s" if r.get("kind") == "difference" else ""
        value = "-" if r["value"] is None else ("%+.2f" % r["value"] if unit else "%.2f" % r["value"]) + unit
        target = "-" if r["target"] is None else "<= %.2f%s" % (r["target"], unit)
        text.append("%9d  %-50s %9s  %-11s %s" % (r["size"], r["ratio"], value, target, r["verdict"]))
        md.append(md_row((str(r["size"]), r["ratio"], value, target, r["verdict"])))
    return "\n".join(text), "\n".join(md) + "\n"


def plot(results: list, dims: int, path: Path) -> None:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker  # pylint: disable=import-outside-toplevel

    def label_y(y, pos):  # pylint: disable=unused-argument
        """Plain numbers; between the powers of ten only 2, 3 and 5 times them, so that a decade stays readable."""
        return "%g" % y if round(y / 10 ** math.floor(math.log10(y) + 1e-9)) in (1, 2, 3, 5) else ""

    results = [r for r in results if r["phase"] in ("dump", "restore")]
    sizes = sorted({r["size"] for r in results})
    fig, (ax_time, ax_size) = pyplot.subplots(1, 2, figsize=(15, 5.5), layout="constrained")
    colors = dict(zip([m for m in LABELS if not m.startswith("count") and m != "ansible"], pyplot.get_cmap("tab10").colors))
    for method, color in colors.items():
        rows = sorted((r for r in results if r["method"] == method), key=lambda r: r["size"])
        if not rows:
            continue
        style = {"color": color, "marker": "o", "linestyle": "--" if rows[0]["phase"] == "restore" else "-",
                 "linewidth": 2.5 if method in ("ours", "restore_ours") else 1.5}
        spread = [[r["seconds"] - r.get("seconds_min", r["seconds"]) for r in rows],
                  [r.get("seconds_max", r["seconds"]) - r["seconds"] for r in rows]]
        ax_time.errorbar([r["size"] for r in rows], [r["seconds"] for r in rows], yerr=spread, capsize=3,
                         label=LABELS[method], **style)
        if rows[0]["phase"] == "dump":
            ax_size.plot([r["size"] for r in rows], [r["bytes"] / 1048576.0 for r in rows], label=LABELS[method], **style)
    for ax, title, unit in ((ax_time, "time, median and min-max (dumps solid, restores dashed)", "seconds"),
                            (ax_size, "dump size", "MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, ["{:,}".format(s) for s in sizes])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(label_y))
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(label_y))
        ax.set_title(title)
        ax.set_xlabel("memories (%s)" % ", ".join("{:,}".format(s) for s in sizes))
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(*ax_time.get_legend_handles_labels(), loc="outside right upper", fontsize=9)
    fig.suptitle("mem0ops backup (PostgreSQL part) vs pg_dump / pg_restore, %d dims" % dims)
    fig.savefig(path, dpi=110)
    pyplot.close(fig)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or "2000 20000 200000",
                        help="memories per run, separated by spaces or commas (env BENCH_SIZES)")
    parser.add_argument("--runs", type=int, default=env_int("BENCH_RUNS", 3),
                        help="runs of every method; each figure is their median (env BENCH_RUNS, default 3)")
    parser.add_argument("--skip", default=os.environ.get("BENCH_SKIP", ""),
                        help="methods to skip, comma-separated, of: %s (env BENCH_SKIP)" % ", ".join(SKIPPABLE))
    parser.add_argument("--dims", type=int, default=env_int("BENCH_DIMS", 1536), help="vector dims (env BENCH_DIMS)")
    parser.add_argument("--jobs", type=int, default=env_int("BENCH_JOBS", 2),
                        help="pg_restore --jobs of ours and of the same-settings anchor (env BENCH_JOBS, default 2)")
    parser.add_argument("--workers", type=int, default=env_int("BENCH_WORKERS", 2),
                        help="max_parallel_maintenance_workers of both restores (env BENCH_WORKERS, default 2)")
    parser.add_argument("--count-rows", type=int, default=env_int("BENCH_COUNT_ROWS", 1000000),
                        help="rows of the count's table, 0 to skip the count (env BENCH_COUNT_ROWS, default 1000000)")
    parser.add_argument("--count-dims", type=int, default=env_int("BENCH_COUNT_DIMS", 768),
                        help="vector dims of the count's table (env BENCH_COUNT_DIMS, default 768)")
    parser.add_argument("--out", type=Path, default=REPO / ".build" / "bench", help="where results.json/.md and bench.png go")
    parser.add_argument("--replot", action="store_true", help="only print the table and redraw bench.png from results.json")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.replace(",", " ").split()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(SKIPPABLE)
    if unknown or any(size < 1 for size in args.sizes) or min(args.runs, args.jobs, args.count_dims) < 1 \
            or min(args.workers, args.count_rows) < 0:
        parser.error("sizes, runs, jobs and count dims must be positive numbers, workers and count rows not negative, "
                     "skip one of %s (unknown: %s)" % (", ".join(SKIPPABLE), ", ".join(sorted(unknown)) or "none"))
    if not args.sizes and not args.count_rows:
        parser.error("nothing to measure: give sizes, or count rows")
    return args


def cleanup(pg: Postgres, tmp: Path) -> None:
    """Remove the dumps and drop every bench database; says what it could not do instead of hiding the first error."""
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in pg.bench_dbs():
            pg.drop_db(name)
    except BenchError as exc:
        say("cleanup failed, drop the mem0ops_bench* databases by hand: %s" % exc)


def write_results(args: argparse.Namespace, bench: Bench, started: datetime, server: str) -> None:
    results = aggregate(bench.samples)
    ratio_rows = ratios(results)
    text, markdown = table(results, ratio_rows, args.runs)
    print("\n" + text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.json", "w", encoding="utf-8") as handle:
        json.dump({"started": started.isoformat(), "sizes": args.sizes, "runs": args.runs, "dims": args.dims,
                   "skip": sorted(args.skip), "jobs": args.jobs, "workers": args.workers, "count_rows": args.count_rows,
                   "count_dims": args.count_dims, "server_version": server, "maintenance_work_mem": bench.mem,
                   "boundary": "wall clock of one process from start to exit, for every method",
                   "results": results, "ratios": ratio_rows, "samples": bench.samples}, handle, indent=2)
    with open(args.out / "results.md", "w", encoding="utf-8") as handle:
        handle.write("# mem0ops backup bench, %s (PostgreSQL %s, %d dims)\n\n%s" % (started.date(), server, args.dims, markdown))
    if any(r["phase"] in ("dump", "restore") for r in results):
        plot(results, args.dims, args.out / "bench.png")
    say("wrote %s, results.md and bench.png" % (args.out / "results.json"))


def main(argv: list) -> int:
    args = parse_args(argv)
    if args.replot:
        with open(args.out / "results.json", encoding="utf-8") as handle:
            data = json.load(handle)
        print(table(data["results"], data["ratios"], data.get("runs", 0))[0], flush=True)
        plot(data["results"], data["dims"], args.out / "bench.png")
        return 0
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    if not (COLLECTIONS / "ansible_collections" / "mem0ops" / "stack").is_dir():
        raise SystemExit("%s is missing: run `make collection-link` first (make bench does)" % (COLLECTIONS / "ansible_collections"))
    pg = Postgres(load_stack(LAB_INVENTORY, "lab"))
    if BENCH_DB == pg.lab_db or pg.lab_db.startswith(BENCH_DB):
        raise SystemExit("the lab's database %r is named like the bench's: refusing to run" % pg.lab_db)
    tmp = Path(tempfile.mkdtemp(prefix="mem0ops-bench-"))
    say("sizes %s, %d run(s), dims %d, jobs %d, workers %d, count rows %d x %d dims, skip %s, container %s, dumps in %s"
        % (args.sizes, args.runs, args.dims, args.jobs, args.workers, args.count_rows, args.count_dims,
           sorted(args.skip) or "nothing", pg.container, tmp))
    started = datetime.now(timezone.utc)
    status, bench, server = 0, None, "?"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a timeout or kill ends it like Ctrl-C: cleaned up
    try:
        for leftover in pg.bench_dbs():
            say("dropping %s, left over from an earlier run" % leftover)
            pg.drop_db(leftover)
        bench = Bench(pg, args, tmp)
        server = pg.psql(ADMIN_DB, "SHOW server_version")
        try:
            if "ansible" not in args.skip:
                bench.run_ansible()
            if args.count_rows and "count" not in args.skip:  # first: the shortest part, measured even if cut short
                bench.run_count(args.count_rows, args.count_dims)
            for size in args.sizes:
                bench.run_size(size)
        except BenchError as exc:
            say("FAILED: %s" % exc)
            status = 1
        except KeyboardInterrupt:
            say("interrupted: dropping the bench databases, then the table of what was measured so far")
            status = 130
    finally:
        cleanup(pg, tmp)
    if bench is not None and bench.samples:
        write_results(args, bench, started, server)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
