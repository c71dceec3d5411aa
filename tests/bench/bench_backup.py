"""Benchmark of the backup's PostgreSQL part against the raw PostgreSQL tools, on the lab's PostgreSQL.

For each size in BENCH_SIZES it fills a scratch database (mem0ops_bench, never the lab's own) with a table of mem0's
shape (id uuid, vector vector(BENCH_DIMS), payload jsonb with mem0's keys over the seed's namespaces) generated
server-side, builds mem0's indexes (HNSW with vector_cosine_ops, and mem0 2.x's GIN text index), and then times,
once each, everything running inside the PostgreSQL container (docker exec) and streaming to a temp dir here:

  dumps     pg_dump | gzip -9 (gzip9), pg_dump -Fc (fc), -Fc -Z zstd:3 (zstd3), -Fc -Z 0 (z0), and ours: the
            pgvector_dump module (custom + schema, compression auto, counts and checksums) through ansible-playbook
  restores  pg_restore of the fc dump (restore_default), the same with a large maintenance_work_mem and one parallel
            worker (restore_tuned), and ours: pgvector_restore of our dump, index_phase deferred (restore_ours)

Every restore goes into a new database whose row count is checked against the source. At the end it prints a table
with the ratios ours / z0 (time), ours / gzip9 (bytes) and ours / tuned pg_restore (time) against their targets, and
writes .build/bench/results.json, results.md and bench.png. Every database it made is dropped, whatever happened.

Run from the repository root (the lab must be up):
  make bench BENCH_SIZES="2000 20000" BENCH_SKIP=gzip9,restore_default
  .venv/bin/python -m tests.bench.bench_backup --sizes "2000" --skip gzip9
The connection comes from the lab inventory; the password reaches child processes only through PGPASSWORD.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tests.integration.labkit import LAB_INVENTORY, REPO, load_stack, run_playbook, task_result

BENCH_DB = "mem0ops_bench"
RESTORE_PREFIX = BENCH_DB + "_restore_"
ADMIN_DB = "postgres"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
# Memories per namespace of lab/seed/seed.py: the bench keeps their proportions at every size.
NAMESPACES = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
VERBS = ["prefers", "decided on", "is reviewing", "asked about", "needs a follow-up on", "finished"]
TUNED_MEM = 1 << 30
LABELS = {
    "gzip9": "pg_dump | gzip -9", "fc": "pg_dump -Fc", "zstd3": "pg_dump -Fc -Z zstd:3", "z0": "pg_dump -Fc -Z 0",
    "ours": "ours: pgvector_dump", "restore_default": "pg_restore", "restore_tuned": "pg_restore tuned",
    "restore_ours": "ours: pgvector_restore",
}
RAW_DUMPS = {  # argv run in the container, before the connection arguments
    "z0": ["pg_dump", "--no-password", "-Fc", "-Z", "0"],
    "fc": ["pg_dump", "--no-password", "-Fc"],
    "zstd3": ["pg_dump", "--no-password", "-Fc", "-Z", "zstd:3"],
    "gzip9": ["bash", "-o", "pipefail", "-c", 'pg_dump --no-password "$@" | gzip -9', "pg_dump"],
}
DUMP_ORDER = ["z0", "fc", "zstd3", "ours", "gzip9"]
RESTORES = {"restore_default": "fc", "restore_tuned": "fc", "restore_ours": "ours"}
TARGETS = [  # (name, numerator, denominator, what is compared, target)
    ("ours dump time / pg_dump -Fc -Z 0", "ours", "z0", "seconds", 1.5),
    ("ours dump bytes / pg_dump | gzip -9", "ours", "gzip9", "bytes", 1.10),
    ("ours restore time / pg_restore tuned", "restore_ours", "restore_tuned", "seconds", 1.5),
]


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
        self.conn = ["-h", svc["host"], "-p", str(svc.get("container_port") or svc["port"]), "-U", svc["user"]]
        self.collection = stack["mem0"]["collection"]
        self.env = dict(os.environ, PGPASSWORD=svc["password"])
        if stack.get("docker_host"):
            self.env["DOCKER_HOST"] = stack["docker_host"]

    def run(self, argv: list, stdin=None, data: bytes | None = None, stdout=subprocess.PIPE, env: dict | None = None):
        """docker exec argv; PGPASSWORD (and env) reach it through the environment, never the command line."""
        extra = env or {}
        names = [arg for key in ["PGPASSWORD", *extra] for arg in ("-e", key)]
        interactive = ["-i"] if stdin is not None or data is not None else []
        proc = subprocess.run(["docker", "exec", *interactive, *names, self.container, *argv], input=data,
                              stdin=stdin if data is None else None, stdout=stdout, stderr=subprocess.PIPE,
                              env=dict(self.env, **extra), check=False)
        if proc.returncode != 0:
            raise BenchError("%s failed (exit %d): %s" % (argv[0], proc.returncode, proc.stderr.decode(errors="replace").strip()[-2000:]))
        return proc

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

    def count(self, db: str) -> int:
        return int(self.psql(db, 'SELECT count(*) FROM "%s"' % self.collection))

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


def fitting_memory(shm_free: int) -> str:
    """TUNED_MEM, or the largest multiple of 64MB that fits in the container's free /dev/shm."""
    size = max(64 << 20, min(TUNED_MEM, shm_free // (64 << 20) * (64 << 20)))
    return "%dMB" % (size >> 20) if size % (1 << 30) else "%dGB" % (size >> 30)


def seed_sql(collection: str, size: int, dims: int) -> str:
    """INSERT ... SELECT that generates `size` memories of mem0's shape server-side (random vectors, mem0 payloads)."""
    whens, upto = [], 0
    total = sum(NAMESPACES.values())
    for namespace, count in NAMESPACES.items():
        upto += count
        whens.append("WHEN i %% %d < %d THEN '%s'" % (total, upto, namespace))
    verbs = "ARRAY[%s]" % ", ".join("'%s'" % verb for verb in VERBS)
    return """
SET TIME ZONE 'UTC';
INSERT INTO "{t}" (id, vector, payload)
SELECT gen_random_uuid(),
       (SELECT array_agg((random() * 0.2 - 0.1)::real) FROM generate_series(1, {dims}) WHERE r.i > 0)::vector({dims}),
       jsonb_build_object('data', r.text, 'hash', md5(r.text), 'user_id', r.ns, 'role', 'user', 'source', 'bench',
                          'created_at', r.at, 'updated_at', r.at, 'text_lemmatized', r.text)
FROM (SELECT i, ns, 'Mark ' || ({verbs})[1 + i % {nverbs}] || ' ' || split_part(ns, '/', 2) || ' item ' || (i % 97)
             || ' (note ' || i || ')' AS text,
             to_char(timestamptz '2025-06-01 00:00+00' + make_interval(mins => (i * 97) % 288000),
                     'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') AS at
      FROM (SELECT i, CASE {whens} END AS ns FROM generate_series(0, {last}) AS i) g) r;
""".format(t=collection, dims=dims, verbs=verbs, nverbs=len(VERBS), whens=" ".join(whens), last=size - 1)


class Bench:
    """Runs every method for each size and keeps the results."""

    def __init__(self, pg: Postgres, dims: int, skip: set, tmp: Path):
        self.pg = pg
        self.dims = dims
        self.skip = skip
        self.tmp = tmp
        self.results = []
        self.mem = fitting_memory(pg.shm_free())
        if self.mem != "1GB":
            say("container /dev/shm has %d MiB free: the tuned settings use maintenance_work_mem=%s instead of 1GB"
                % (pg.shm_free() >> 20, self.mem))

    def record(self, size: int, phase: str, method: str, seconds: float, nbytes=None, **detail) -> dict:
        row = {"size": size, "phase": phase, "method": method, "label": LABELS.get(method, method),
               "seconds": round(seconds, 3), "bytes": nbytes, "detail": detail}
        self.results.append(row)
        extra = ", ".join("%s %s" % (key, value) for key, value in detail.items())
        say("%8d  %-7s %-24s %9.2f s %10s MB  %s" % (size, phase, row["label"], seconds, mib(nbytes), extra))
        return row

    def seed(self, size: int) -> None:
        pg, t = self.pg, self.pg.collection
        pg.drop_db(BENCH_DB)
        pg.create_db(BENCH_DB)
        pg.psql(BENCH_DB, 'CREATE EXTENSION IF NOT EXISTS vector;\nCREATE TABLE "%s" (id uuid PRIMARY KEY, vector vector(%d), '
                'payload jsonb);' % (t, self.dims))
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

    def dump_raw(self, size: int, method: str) -> Path:
        path = self.tmp / ("%s_%d.%s" % (method, size, "sql.gz" if method == "gzip9" else "dump"))
        started = time.monotonic()
        with open(path, "wb") as handle:
            self.pg.run(RAW_DUMPS[method] + self.pg.conn + ["-d", BENCH_DB], stdout=handle)
        self.record(size, "dump", method, time.monotonic() - started, path.stat().st_size)
        return path

    def dump_ours(self, size: int) -> Path:
        dest = self.tmp / ("ours_%d" % size)
        started = time.monotonic()
        report = run_playbook(str(PLAYBOOKS / "bench_dump.yml"), "-e", json.dumps({"bench_db": BENCH_DB, "bench_dest": str(dest)}))
        wall = time.monotonic() - started
        result = task_result(report, "Dump")
        if report["rc"] != 0 or result.get("failed"):
            raise BenchError("pgvector_dump failed: %s" % result.get("msg"))
        manifest = result["manifest"]
        files = {entry["format"]: entry for entry in manifest["files"]}
        self.record(size, "dump", "ours", task_seconds(report, "Dump"), manifest["bytes"], playbook_wall=round(wall, 2),
                    pg_dump_custom=files["custom"]["seconds"], pg_dump_schema=files["schema"]["seconds"],
                    dump_total=manifest["duration_seconds"], compression=files["custom"]["compression"])
        return dest

    def restore_raw(self, size: int, method: str, dump: Path) -> None:
        target = "%s%s_%d" % (RESTORE_PREFIX, method.replace("restore_", ""), size)
        env, detail = {}, {}
        if method == "restore_tuned":
            env["PGOPTIONS"] = "-c maintenance_work_mem=%s -c max_parallel_maintenance_workers=1" % self.mem
            detail["PGOPTIONS"] = env["PGOPTIONS"]
        self.pg.create_db(target)
        started = time.monotonic()
        with open(dump, "rb") as handle:
            self.pg.run(["pg_restore", "--no-password", *self.pg.conn, "-d", target], stdin=handle, env=env)
        seconds = time.monotonic() - started
        self.check_rows(target, size, detail)
        self.record(size, "restore", method, seconds, **detail)

    def restore_ours(self, size: int, dest: Path) -> None:
        target = "%sours_%d" % (RESTORE_PREFIX, size)
        started = time.monotonic()
        report = run_playbook(str(PLAYBOOKS / "bench_restore.yml"), "-e", json.dumps(
            {"bench_admin_db": ADMIN_DB, "bench_src": str(dest), "bench_target_db": target}))
        wall = time.monotonic() - started
        result = task_result(report, "Restore")
        if report["rc"] != 0 or result.get("failed"):
            raise BenchError("pgvector_restore failed: %s" % result.get("msg"))
        detail = {"playbook_wall": round(wall, 2)}
        detail.update((key, result.get(key)) for key in ("copy_seconds", "data_seconds", "index_seconds", "restore_seconds",
                                                         "analyze_seconds"))
        detail.update(result.get("index_settings") or {})
        for warning in result.get("warnings", []):
            say("  pgvector_restore warns: %s" % warning)
        self.check_rows(target, size, detail)
        self.record(size, "restore", "restore_ours", task_seconds(report, "Restore"), **detail)

    def check_rows(self, target: str, size: int, detail: dict) -> None:
        found = self.pg.count(target)
        self.pg.drop_db(target)
        detail["rows_ok"] = found == size
        if found != size:
            raise BenchError("%s holds %d rows after the restore, the source %d" % (target, found, size))

    def run_size(self, size: int) -> None:
        say("--- %d memories, %d dims" % (size, self.dims))
        self.seed(size)
        dumps = {}
        for method in DUMP_ORDER:
            needed = any(source == method and restore not in self.skip for restore, source in RESTORES.items())
            if method in self.skip and not needed:
                say("%8d  dump    %-24s skipped (BENCH_SKIP)" % (size, LABELS[method]))
                continue
            dumps[method] = self.dump_ours(size) if method == "ours" else self.dump_raw(size, method)
        for method, source in RESTORES.items():
            if method in self.skip:
                say("%8d  restore %-24s skipped (BENCH_SKIP)" % (size, LABELS[method]))
            elif method == "restore_ours":
                self.restore_ours(size, dumps[source])
            else:
                self.restore_raw(size, method, dumps[source])
        for path in dumps.values():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        self.pg.drop_db(BENCH_DB)

    def ratios(self) -> list:
        rows = []
        for size in sorted({row["size"] for row in self.results}):
            found = {row["method"]: row for row in self.results if row["size"] == size and row["phase"] != "seed"}
            for name, num, den, key, target in TARGETS:
                value = None
                if num in found and den in found and found[den][key]:
                    value = round(found[num][key] / found[den][key], 3)
                verdict = "n/a" if value is None else ("met" if value <= target else "missed")
                rows.append({"size": size, "ratio": name, "value": value, "target": target, "verdict": verdict})
        return rows


def task_seconds(report: dict, name: str) -> float:
    """Seconds of one task, from the JSON callback's start and end (the module's whole run, no Ansible start-up)."""
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name:
                span = task["task"]["duration"]
                return (datetime.fromisoformat(span["end"]) - datetime.fromisoformat(span["start"])).total_seconds()
    raise KeyError(name)


def note(row: dict) -> str:
    return ", ".join("%s=%s" % (key, value) for key, value in row["detail"].items() if key != "rows_ok")


def table(results: list, ratios: list) -> tuple[str, str]:
    """The results as a text table and as markdown."""
    head = ("memories", "phase", "method", "seconds", "MB", "notes")
    rows = [(str(r["size"]), r["phase"], r["label"], "%.2f" % r["seconds"], mib(r["bytes"]), note(r)) for r in results]
    text = ["%9s  %-7s  %-24s  %9s  %9s  %s" % head] + ["%9s  %-7s  %-24s  %9s  %9s  %s" % row for row in rows]
    md = ["| %s |" % " | ".join(head), "|---:|---|---|---:|---:|---|"] + ["| %s |" % " | ".join(row) for row in rows]
    text.append("")
    md += ["", "| memories | ratio | value | target | verdict |", "|---:|---|---:|---:|---|"]
    for r in ratios:
        value = "n/a" if r["value"] is None else "%.2f" % r["value"]
        text.append("%9d  %-40s %6s  (target <= %.2f)  %s" % (r["size"], r["ratio"], value, r["target"], r["verdict"]))
        md.append("| %d | %s | %s | <= %.2f | %s |" % (r["size"], r["ratio"], value, r["target"], r["verdict"]))
    return "\n".join(text), "\n".join(md) + "\n"


def plot(results: list, dims: int, path: Path) -> None:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker  # pylint: disable=import-outside-toplevel

    def label_y(y, pos):  # pylint: disable=unused-argument
        """Plain numbers; between the powers of ten only 2, 3 and 5 times them, so that a decade stays readable."""
        return "%g" % y if round(y / 10 ** math.floor(math.log10(y) + 1e-9)) in (1, 2, 3, 5) else ""

    sizes = sorted({r["size"] for r in results})
    fig, (ax_time, ax_size) = pyplot.subplots(1, 2, figsize=(15, 5.5), layout="constrained")
    colors = dict(zip(LABELS, pyplot.get_cmap("tab10").colors))
    for method, label in LABELS.items():
        rows = sorted((r for r in results if r["method"] == method), key=lambda r: r["size"])
        if not rows:
            continue
        style = {"color": colors[method], "marker": "o", "linestyle": "--" if rows[0]["phase"] == "restore" else "-",
                 "linewidth": 2.5 if method in ("ours", "restore_ours") else 1.5}
        ax_time.plot([r["size"] for r in rows], [r["seconds"] for r in rows], label=label, **style)
        if method == "ours":
            ax_time.plot([r["size"] for r in rows], [r["detail"]["playbook_wall"] for r in rows], color=colors[method],
                         marker="x", linestyle=":", label="ours: pgvector_dump, playbook wall")
        if rows[0]["phase"] == "dump":
            ax_size.plot([r["size"] for r in rows], [r["bytes"] / 1048576.0 for r in rows], label=label, **style)
    for ax, title, unit in ((ax_time, "time (dumps solid, restores dashed)", "seconds"), (ax_size, "dump size", "MiB")):
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


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or "2000 20000 200000",
                        help="memories per run, separated by spaces or commas (env BENCH_SIZES)")
    parser.add_argument("--skip", default=os.environ.get("BENCH_SKIP", ""),
                        help="methods to skip, comma-separated, of: %s (env BENCH_SKIP)" % ", ".join(LABELS))
    parser.add_argument("--dims", type=int, default=int(os.environ.get("BENCH_DIMS") or 1536), help="vector dims (env BENCH_DIMS)")
    parser.add_argument("--out", type=Path, default=REPO / ".build" / "bench", help="where results.json/.md and bench.png go")
    parser.add_argument("--replot", action="store_true", help="only print the table and redraw bench.png from results.json")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.replace(",", " ").split()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(LABELS)
    if unknown or not args.sizes or min(args.sizes) < 1:
        parser.error("sizes must be positive numbers, skip one of %s (unknown: %s)" % (", ".join(LABELS), ", ".join(sorted(unknown))))
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
    ratios = bench.ratios()
    text, markdown = table(bench.results, ratios)
    print("\n" + text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.json", "w", encoding="utf-8") as handle:
        json.dump({"started": started.isoformat(), "sizes": args.sizes, "dims": args.dims, "skip": sorted(args.skip),
                   "server_version": server, "tuned_maintenance_work_mem": bench.mem, "results": bench.results,
                   "ratios": ratios}, handle, indent=2)
    with open(args.out / "results.md", "w", encoding="utf-8") as handle:
        handle.write("# mem0ops backup bench, %s (PostgreSQL %s, %d dims)\n\n%s" % (started.date(), server, args.dims, markdown))
    plot(bench.results, args.dims, args.out / "bench.png")
    say("wrote %s, results.md and bench.png" % (args.out / "results.json"))


def main(argv: list) -> int:
    args = parse_args(argv)
    if args.replot:
        with open(args.out / "results.json", encoding="utf-8") as handle:
            data = json.load(handle)
        print(table(data["results"], data["ratios"])[0], flush=True)
        plot(data["results"], data["dims"], args.out / "bench.png")
        return 0
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    pg = Postgres(load_stack(LAB_INVENTORY, "lab"))
    if BENCH_DB == pg.lab_db or pg.lab_db.startswith(BENCH_DB):
        raise SystemExit("the lab's database %r is named like the bench's: refusing to run" % pg.lab_db)
    tmp = Path(tempfile.mkdtemp(prefix="mem0ops-bench-"))
    say("sizes %s, dims %d, skip %s, container %s, dumps in %s" % (args.sizes, args.dims, sorted(args.skip) or "nothing",
                                                                   pg.container, tmp))
    started = datetime.now(timezone.utc)
    status, bench, server = 0, None, "?"
    try:
        for leftover in pg.bench_dbs():
            say("dropping %s, left over from an earlier run" % leftover)
            pg.drop_db(leftover)
        bench = Bench(pg, args.dims, args.skip, tmp)
        server = pg.psql(ADMIN_DB, "SHOW server_version")
        try:
            for size in args.sizes:
                bench.run_size(size)
        except BenchError as exc:
            say("FAILED: %s" % exc)
            status = 1
    finally:
        cleanup(pg, tmp)
    if bench is not None and bench.results:
        write_results(args, bench, started, server)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
