"""Benchmark of the adoption of an old backup against the owner's own recovery of it, on the lab's PostgreSQL.

What it runs
  An old set written the way the owner's old script wrote it (tests/integration/oldsets.py: ``pg_dump | gzip -9`` of a
  mem0-1.x-shaped database of BENCH_ADOPT_MEMORIES memories, default 20,000, with BENCH_DIMS-dim vectors, default 1536,
  over the seed's namespaces; a scratch database of the lab's server, dropped at the end), then BENCH_RUNS runs
  (default 3), interleaved, of:
    raw    the owner's recovery: ``gunzip -c mem0_<ts>.sql.gz | docker exec -i <postgres> psql`` into a new database
    ours   the adoption as the adopt role (roles/adopt/tasks/one.yml) runs it, each module as one process with its
           arguments on stdin: mem0_backup_adopt (sha256, hard links, CREATE DATABASE, the load with ON_ERROR_STOP in
           one transaction that proves gzip integrity and pg_dump's closing line in the same pass, the counts, the old
           .sql.gz kept as the set's plain-SQL PostgreSQL part, the throwaway database dropped) and mem0_backup_set
           (the set, its other files hashed, gated; verify=false as the role runs it); mem0_backup_adopt state=absent
           only when a failure left the throwaway database behind, as the role's always: block does
  Each figure is the wall clock from a process' start to its exit (ours: the sum of its steps); the target is the
  median of ours / the median of raw <= 1.5; the table also shows each of our steps. Both end with the same file
  loaded into a database of the same server (raw keeps it; ours proves it there and keeps the set). Every run's
  counts are checked: the raw database's row count and the adopted set's memories against the size, and (outside
  the timing) the adopted set is one restore accepts: pgvector_restore in check mode reads its PostgreSQL part and
  verifies its checksums. The old set's .sql.gz is kept in .build/bench/adopt-<memories>-<dims>.sql.gz and reused
  (gzip -9 of the vectors takes minutes).

Run from the repository root with the lab up (make collection-link done, as make bench does):
  .venv/bin/python -m tests.bench.bench_adopt [--memories 20000] [--runs 3] [--dims 1536]
It prints one table with its verdict and writes .build/bench/adopt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.bench_backup import COLLECTIONS, MODULES, BenchError, Postgres, say, verdict
from tests.integration import oldsets
from tests.integration.labkit import LAB_INVENTORY, REPO, SEEDED, load_stack

RAW_DB = "mem0ops_bench_adopt_raw"
STAMP = "20260103_133102"
TARGET = 1.5


def namespaces(total: int) -> dict:
    """The seed's namespaces in the seed's proportions, summing to total."""
    seeded = sum(SEEDED.values())
    out = {ns: total * n // seeded for ns, n in SEEDED.items()}
    out["mark_carey/synovia"] += total - sum(out.values())
    return out


def module(name: str, args: dict) -> tuple[float, dict]:
    """One of our modules as one process, arguments on stdin: (wall seconds, its result)."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(COLLECTIONS), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", MODULES + name], input=payload, capture_output=True, env=env, check=False)
    seconds = time.monotonic() - started
    try:
        result = json.loads(proc.stdout.decode(errors="replace"))
    except ValueError:
        raise BenchError("%s printed no result (exit %d): %s"
                         % (name, proc.returncode, proc.stderr.decode(errors="replace")[-2000:])) from None
    if proc.returncode != 0 or result.get("failed"):
        raise BenchError("%s failed: %s" % (name, result.get("msg")))
    return seconds, result


def raw(pg: Postgres, dump: Path) -> float:
    """The owner's recovery, gunzip on the host into psql in the container, into a new database."""
    pg.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % RAW_DB)
    pg.psql("postgres", 'CREATE DATABASE "%s"' % RAW_DB)
    script = 'gunzip -c -- "$1" | docker exec -i -e PGPASSWORD "$2" psql -X -q -o /dev/null "${@:3}"'
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", "set -o pipefail; " + script, "raw", str(dump), pg.container, *pg.conn,
                           "-d", RAW_DB], env=pg.env, capture_output=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError("gunzip | psql failed: %s" % proc.stderr.decode(errors="replace")[-2000:])
    return seconds


def ours(pg: Postgres, stack: dict, source: Path, root: Path, steps: dict) -> tuple[float, int]:
    """The adoption, module by module; returns (seconds, memories in the adopted set); each step's seconds are
    appended to ``steps``."""
    login = dict(pg.module_args, db=stack["services"]["postgres"]["database"], backup_root=str(root))
    collection, prefix = stack["mem0"]["collection"], stack["mem0"]["namespace_prefix"]
    total, loaded = module("mem0_backup_adopt", dict(login, source=str(source), collection=collection))
    steps.setdefault("mem0_backup_adopt (hash, link, load + proof, count, part, drop)", []).append(total)
    try:
        if loaded["problems"]:
            raise BenchError("the old set did not load: %s" % loaded["problems"])
        seconds, final = module("mem0_backup_set", {
            "state": "present", "backup_root": str(root), "tier": "adopted", "timestamp": STAMP,
            "collection": collection, "namespace_prefix": prefix, "problems": [], "required_parts": ["postgres"],
            "absent_parts": loaded["absent_parts"], "adopted": loaded["adopted"], "verify": False})
        total += seconds
        steps.setdefault("mem0_backup_set (finalise, gate)", []).append(seconds)
    finally:
        if loaded["database"]:  # the role's always: block, only when a failure left it
            seconds, dummy = module("mem0_backup_adopt", dict(login, state="absent", throwaway_db=loaded["database"]))
            total += seconds
    if final["status"] != "valid":
        raise BenchError("the adopted set is %s: %s" % (final["status"], final["problems"]))
    return total, int(final["memories"]["total"])


def restorable(pg: Postgres, root: Path) -> None:
    """The adopted set is one restore accepts: pgvector_restore (check mode) reads its PostgreSQL part, verifies its
    checksums and picks its loader (outside the timing)."""
    args = dict(pg.module_args, db="postgres", src=str(root / "adopted" / STAMP / "postgres"),
                target_db="mem0ops_bench_adopt_check", _ansible_check_mode=True)
    dummy, result = module("pgvector_restore", args)
    if not result.get("checksums_verified") or result.get("loader") != "plain":
        raise BenchError("pgvector_restore does not accept the adopted set's PostgreSQL part: %s" % result)


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--memories", type=int, default=int(os.environ.get("BENCH_ADOPT_MEMORIES", "20000")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--dims", type=int, default=int(os.environ.get("BENCH_DIMS", "1536")))
    return parser.parse_args(argv)


def main(argv: list) -> int:
    args = parse_args(argv)
    stack = load_stack(LAB_INVENTORY, "lab")
    pg = Postgres(stack)
    tmp = Path(tempfile.mkdtemp(prefix="mem0ops-bench-adopt-"))
    made = None
    samples = {"raw": [], "ours": []}
    steps = {}
    cache = REPO / ".build" / "bench" / ("adopt-%d-%d.sql.gz" % (args.memories, args.dims))
    try:
        started = time.monotonic()
        if not cache.exists():  # written once per size and dims: gzip -9 of the vectors takes minutes
            made = oldsets.mem0_1x_database(stack, namespaces(args.memories), dims=args.dims)
            oldsets.dump_gzip9(stack, made[0], tmp / "dump.sql.gz")
            oldsets.drop(stack, *made)
            made = None
            cache.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp / "dump.sql.gz"), str(cache))
        expected = args.memories
        dump = cache.read_bytes()
        source = oldsets.write_set(tmp / "old", "daily", STAMP, dump, checksum="good")
        say("old set of %d memories (%d dims): %.1f MiB of .sql.gz, written in %.1f s"
            % (expected, args.dims, len(dump) / 1048576.0, time.monotonic() - started))
        for run in range(1, args.runs + 1):
            seconds = raw(pg, source / "postgres" / ("mem0_%s.sql.gz" % STAMP))
            rows = pg.count(RAW_DB)
            if rows != expected:
                raise BenchError("gunzip | psql restored %d memories, not %d" % (rows, expected))
            samples["raw"].append(seconds)
            root = tmp / ("root%d" % run)
            seconds, memories = ours(pg, stack, source, root, steps)
            if memories != expected:
                raise BenchError("the adopted set holds %d memories, not %d" % (memories, expected))
            samples["ours"].append(seconds)
            restorable(pg, root)
            shutil.rmtree(root)
            say("run %d: raw %.2f s, ours %.2f s" % (run, samples["raw"][-1], samples["ours"][-1]))
    finally:
        if made:
            oldsets.drop(stack, *made)
        pg.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % RAW_DB)
        shutil.rmtree(tmp, ignore_errors=True)
    medians = {method: statistics.median(values) for method, values in samples.items()}
    ratio = medians["ours"] / medians["raw"]
    rows = [("raw: gunzip | psql", medians["raw"], min(samples["raw"]), max(samples["raw"])),
            ("ours: adoption (load + proof, counts, plain-SQL part, set)", medians["ours"], min(samples["ours"]),
             max(samples["ours"]))]
    print("\n| adoption of %d memories (%d dims), %d runs | median s | min s | max s |" % (expected, args.dims, args.runs))
    print("|---|---|---|---|")
    for name, median, low, high in rows:
        print("| %s | %.2f | %.2f | %.2f |" % (name, median, low, high))
    for name, values in steps.items():
        print("| - %s | %.2f | %.2f | %.2f |" % (name, statistics.median(values), min(values), max(values)))
    print("\n| target | value | verdict |\n|---|---|---|")
    print("| adoption / gunzip | psql <= %.1f | %.2f | %s |" % (TARGET, ratio, verdict(ratio, TARGET)))
    out = REPO / ".build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "adopt.json").write_text(json.dumps({"memories": expected, "dims": args.dims, "runs": args.runs,
                                                "samples": samples, "steps": steps, "medians": medians, "ratio": ratio,
                                                "target": TARGET, "verdict": verdict(ratio, TARGET)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
