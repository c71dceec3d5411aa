"""Benchmark of reset.yml on the seeded lab state (issue 15): its downtime and its total, with its validated backup.

What it runs
  A scratch stack of its own (tests/integration/scratch.py under the name benchreset: containers *_benchreset on ports
  30xxx and their own directories, seeded by the lab playbook like the lab; the shared lab's data is never touched),
  then BENCH_RUNS runs (default 3) of:
    ours   ``reset.yml -e reset_confirm=scratch`` as one process: preflight, counts, the validated pre-reset backup, the
           proof, the stop of the services that use the data, the graph emptied, the database dropped and created,
           the app files removed, the start, the verification and the smoke test;
  each followed, outside the clock, by a direct count (SQL: 0 memories; Cypher: 0 nodes), the re-seed
  (tests/bench/playbooks/bench_reset_reseed.yml: a restore of the run's pre-reset set and a baseline backup) and a
  direct count again (the seed's 1,968 memories in 4 namespaces, 70 graph nodes).
Figures, medians of the runs
  total      the wall clock of the ansible-playbook process, start to exit (Ansible's start-up included)
  downtime   the reset's own figure in its report: from the first service stopped to the mem0 API healthy
  phases     the reset's report, each phase's seconds (information)
Targets (issue 15): downtime <= 15 s, total <= 40 s.

Run from the repository root with the lab's images built (make lab, make collection-link); its stack is named
benchreset (containers *_benchreset, ports 30xxx), so it runs beside the tests' scratch stack:
  .venv/bin/python -m tests.bench.bench_reset [--runs 3]
It prints one table with its verdicts and writes .build/bench/reset.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.integration import scratch as scratch_module
from tests.integration.labkit import REPO, SEEDED, SEEDED_NODES
from tests.integration.scratch import started

# A scratch stack of its own names and ports (the scratch pytest run's are *_scratch on 31xxx), so the bench never
# collides with it; outside the kernel's ephemeral range and test_neo4j_export's 20000-29999, as scratch.PORTS.
NAME = "benchreset"
PORTS = {"postgres": {"port": 30433, "container_port": 30433}, "neo4j": {"http_port": 30474, "bolt_port": 30687},
         "embedder": {"port": 30434}, "mem0": {"port": 30888}, "openmemory_mcp": {"port": 30765},
         "openmemory_ui": {"port": 30300}}
TARGET_DOWNTIME = 15.0
TARGET_TOTAL = 40.0
RESEED = REPO / "tests" / "bench" / "playbooks" / "bench_reset_reseed.yml"
OUT = REPO / ".build" / "bench" / "reset.json"


def say(message: str) -> None:
    print("bench: %s" % message, flush=True)


def verdict(value, target) -> str:
    return "not measured" if value is None else ("met" if value <= target else "missed")


class BenchError(Exception):
    pass


def report_lines(report: dict) -> list:
    for play in report.get("plays", []):
        for task in play["tasks"]:
            if task["task"]["name"] == "mem0ops.stack.reset : Report":
                for result in task["hosts"].values():
                    if "msg" in result:
                        return result["msg"]
    raise BenchError("the reset printed no report: %s" % report["raw"][-2000:])


def counts(scratch) -> tuple:
    """Memories per namespace (SQL) and graph nodes (Cypher), straight from the databases."""
    from neo4j import GraphDatabase

    collection = scratch.stack["mem0"]["collection"]
    exists = scratch.sql("SELECT to_regclass('%s') IS NOT NULL" % collection)[0][0]
    per_namespace = dict(scratch.sql("SELECT payload->>'user_id', count(*) FROM \"%s\" GROUP BY 1" % collection)) if exists else {}
    svc = scratch.stack["services"]["neo4j"]
    with GraphDatabase.driver("bolt://%s:%s" % (svc["host"], svc["bolt_port"]), auth=(svc["user"], svc["password"])) as driver:
        nodes = driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"]
    return per_namespace, nodes


def one_run(scratch, run: int) -> dict:
    began = time.monotonic()
    report = scratch.playbook("reset.yml", extra={"reset_confirm": scratch.stack["name"]})
    total = time.monotonic() - began
    if report["rc"] != 0:
        raise BenchError("run %d: the reset failed: %s" % (run, report["raw"][-3000:]))
    lines = report_lines(report)
    head = lines[0]
    downtime = re.search(r"downtime ([0-9.]+) s", head)
    phases = next((line for line in lines if line.strip().startswith("phases: ")), "")
    backup = next(line for line in lines if line.strip().startswith("backup: ")).split("backup: ")[1].split(" ")[0]
    after = counts(scratch)
    if after != ({}, 0):
        raise BenchError("run %d: the stack is not empty after the reset: %s" % (run, after))
    row = {"load": os.getloadavg()[0], "total": total, "downtime": float(downtime.group(1)) if downtime else None,
           "report_total": float(re.search(r" in ([0-9.]+) s", head).group(1)),
           "phases": dict((name.strip(), float(sec)) for name, sec in re.findall(r"([a-z][a-z0-9 ]*) ([0-9.]+) s", phases.split("phases: ")[1]))}
    say("run %d: %.1f s in all (the report: %.1f s), downtime %s s; %s" % (run, total, row["report_total"], row["downtime"], phases.strip()))
    reseed = scratch.playbook(RESEED, extra={"bench_reset_set": backup})
    if reseed["rc"] != 0:
        raise BenchError("run %d: the re-seed failed: %s" % (run, reseed["raw"][-3000:]))
    back = counts(scratch)
    if back != (SEEDED, SEEDED_NODES):
        raise BenchError("run %d: the re-seed gave %s, not the seed's counts" % (run, back))
    return row


def table(rows: list) -> list:
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    total, downtime = med([r["total"] for r in rows]), med([r["downtime"] for r in rows])
    lines = ["| row | value (median of %d) | target | verdict |" % len(rows), "|---|---|---|---|",
             "| reset of the seeded lab state (1,968 memories, 70 nodes): downtime, first stop -> mem0 API healthy | %s s | <= %.0f s | %s |"
             % ("-" if downtime is None else "%.1f" % downtime, TARGET_DOWNTIME, verdict(downtime, TARGET_DOWNTIME)),
             "| reset of the seeded lab state: total with its validated backup (the process, start to exit) | %.1f s | <= %.0f s | %s |"
             % (total, TARGET_TOTAL, verdict(total, TARGET_TOTAL))]
    names = []
    for r in rows:
        names += [n for n in r["phases"] if n not in names]
    lines.append("| the machine's 1-minute load average at the end of each reset (%d cores) | %s | - | information |"
                 % (os.cpu_count(), ", ".join("%.1f" % r["load"] for r in rows)))
    lines.append("| phases (the reset's report) | %s | - | information |"
                 % ", ".join("%s %.1f s" % (n, med([r["phases"].get(n) for r in rows])) for n in names))
    return lines


def main(argv: list) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 3)))
    args = p.parse_args(argv)
    say("bringing up a scratch stack %s (the lab playbook seeds it)" % NAME)
    scratch_module.NAME, scratch_module.PORTS = NAME, PORTS
    scratch = started(Path(tempfile.mkdtemp(prefix="mem0ops-bench-reset-")))
    rows, status = [], 0
    try:
        if counts(scratch) != (SEEDED, SEEDED_NODES):
            raise BenchError("the scratch stack does not hold the seed: %s" % (counts(scratch),))
        for run in range(1, args.runs + 1):
            rows.append(one_run(scratch, run))
    except BenchError as exc:
        say("FAILED: %s" % exc)
        status = 1
    finally:
        scratch.down()
    if rows:
        print("\n".join(table(rows)), flush=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(rows, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
