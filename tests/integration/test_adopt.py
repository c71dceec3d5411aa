"""adopt.yml on the owner's old backups, then restore.yml of the adopted set, then reembed.yml: the incident's day one
(the re-embedding's own behaviours, resume and catch-up, are proven in test_reembed.py).

The old sets are written here the way his old script wrote them (tests/integration/oldsets.py: ``pg_dump | gzip -9``
of a mem0-1.x-shaped database with 1536-dim vectors, the seed's 1,968 memories in four namespaces, a mem0migrations
telemetry row, tables owned by a role that no longer exists): the good set of 3 January under the stack's backup
root, then, under another path given with adopt_path, later sets of an empty database, a truncated .sql.gz and a dump
whose .sha256 does not match. The oracle is a direct SQL count of the database the good set was dumped from, and the
sha256 of every original file before and after.

The stack is the session's scratch stack (configured for 768 dims); the restore of the adopted set is refused with
the way out, then forced, then re-embedded with the stack's model (768) and searched through the mem0 API; then the
safety backup the forced restore took is put back, so the stack ends with its seeded data.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from . import oldsets
from .labkit import SEEDED, api_search
from .test_reset import changed, memory_state, plan_text, role_task, run, target

pytestmark = pytest.mark.integration

GOOD, EMPTY, TRUNCATED, MISMATCH, EMPTY_WEEKLY = (
    "20260103_133102", "20260111_023000", "20260112_023000", "20260113_023000", "20260118_023000")
# the good dump again, with a tar that holds no Neo4j store (the graph's "not started" case)
NO_GRAPH = "20260104_023000"


@pytest.fixture(scope="module")
def stack(scratch_stack) -> dict:
    return target(scratch_stack.inventory, scratch_stack.host)


@pytest.fixture(scope="module")
def old(stack, tmp_path_factory):
    """The old sets on disk, the fixture database's counts, and the sha256 of every original file."""
    started = time.monotonic()
    root, other = Path(stack["backup_root"]), tmp_path_factory.mktemp("old-backups")
    work = tmp_path_factory.mktemp("dumps")
    made = []
    try:
        database, role = oldsets.mem0_1x_database(stack, SEEDED)
        made.append((database, role))
        expected = oldsets.counts(stack, database)
        oldsets.dump_gzip9(stack, database, work / "good.sql.gz")
        # the recreated server's empty tables: mem0 2.x, 768 dims
        empty_db, empty_role = oldsets.mem0_1x_database(stack, {}, dims=768, entities=True)
        made.append((empty_db, empty_role))
        oldsets.dump_gzip9(stack, empty_db, work / "empty.sql.gz")
    finally:
        for database, role in made:
            oldsets.drop(stack, database, role)
    good, empty = (work / "good.sql.gz").read_bytes(), (work / "empty.sql.gz").read_bytes()
    graph = oldsets.live_neo4j_tar(stack, work / "neo4j.tar.gz")
    sets = [oldsets.write_set(root, "daily", GOOD, good, checksum="good", neo4j_tar=(work / "neo4j.tar.gz").read_bytes()),
            oldsets.write_set(root, "daily", EMPTY, empty),
            oldsets.write_set(other, "daily", TRUNCATED, good[: len(good) // 2], neo4j=False),
            oldsets.write_set(other, "daily", MISMATCH, good, checksum="bad"),
            oldsets.write_set(other, "weekly", EMPTY_WEEKLY, empty),
            oldsets.write_set(other, "daily", NO_GRAPH, good)]
    print(f"old sets written in {time.monotonic() - started:.1f} s ({len(good)} bytes of .sql.gz for "
          f"{sum(expected.values())} memories)")
    yield {"root": root, "other": other, "expected": expected, "digests": oldsets.file_digests(root / "daily", other),
           "graph": graph}
    for path in sets[:2]:
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(root / "adopted", ignore_errors=True)


def adopt(stack, old, *args):
    return run(stack, "adopt.yml", "-e", f"adopt_path={old['other']}", *args)


def summary(report) -> str:
    return "\n".join(role_task(report, "adopt", "Report the adoption")["msg"])


def throwaway_databases(stack) -> list:
    return [row[0] for row in oldsets.sql(stack, "SELECT datname FROM pg_database WHERE datname LIKE 'mem0ops_adopt_%'")]


def test_check_lists_and_predicts_and_changes_nothing(stack, old):
    report = adopt(stack, old, "--check")
    assert report["rc"] == 0, report["raw"][-3000:]
    text = "\n".join(role_task(report, "adopt", "Report what was found and what adopting it would give")["msg"])
    assert "6 set(s) found, 0 adopted, 6 to adopt" in text
    assert f"daily/{GOOD} ({old['root']}/daily/{GOOD}): pending" in text
    assert "gzip ok, sha256 ok" in text and "would be loaded into a throwaway database" in text
    assert f"would be QUARANTINED: postgres/mem0_{TRUNCATED}.sql.gz is not a whole gzip file" in text
    assert "sha256 MISMATCH" in text
    graph = "\n".join(role_task(report, "adopt", "Report the graph predictions")["msg"])
    assert f"mem0_neo4j_{GOOD}.tar.gz " in graph and ", gzip ok, Neo4j data directory neo4j/data (databases " \
        "neo4j, system, " in graph and "would be started in a throwaway Neo4j on a copy, counted and exported" in graph
    assert "the graph part would be absent: " \
        f"mem0_neo4j_{NO_GRAPH}.tar.gz holds no Neo4j data directory" in graph
    assert not (old["root"] / "adopted").exists()
    assert oldsets.file_digests(old["root"] / "daily", old["other"]) == old["digests"]
    assert changed(stack, report) == 0


@pytest.fixture(scope="module")
def adopted(stack, old):
    started = time.monotonic()
    report = adopt(stack, old)
    seconds = time.monotonic() - started
    assert report["rc"] == 0, report["raw"][-4000:]
    print(f"adopt.yml of 6 old sets (one Neo4j tar started): {seconds:.1f} s")
    return report


def test_adopt_gives_one_valid_set_and_quarantines_the_rest_with_their_reasons(stack, old, adopted):
    text = summary(adopted)
    assert f"daily/{GOOD} ({old['root']}/daily/{GOOD}): ADOPTED" in text
    per_ns = ", ".join("%s %d" % item for item in sorted(old["expected"].items()))
    assert f"1968 memories ({per_ns}); mem0migrations 1536 (1 rows), memories 1536 (1968 rows); mem0 1.x" in text
    for stamp in (EMPTY, EMPTY_WEEKLY):
        assert f"/{stamp}): QUARANTINED" in text
    assert "reason: the set holds 0 memories under 'mark_carey/', fewer than min_memories 1" in text
    assert "memories 768 (0 rows), memories_entities 768 (0 rows); mem0 2.x (memories_entities)" in text
    assert f"reason: postgres/mem0_{TRUNCATED}.sql.gz is not a whole gzip file: the gzip stream ends before its end " \
           "marker: the file is truncated" in text
    assert f"reason: postgres/mem0_{MISMATCH}.sql.gz has sha256" in text and "the file changed after it was written" in text
    manifest = json.loads((old["root"] / "adopted" / GOOD / "manifest.json").read_text())
    assert manifest["status"] == "valid" and manifest["counts"]["memories"]["per_namespace"] == old["expected"]
    assert manifest["adopted"]["source"] == str(old["root"] / "daily" / GOOD)
    sources = {f["name"]: f for f in manifest["adopted"]["files"]}
    dump = sources[f"postgres/mem0_{GOOD}.sql.gz"]
    assert dump["sha256"] == old["digests"][dump["path"]][0] and dump["stored_as"] == "hardlink"
    assert manifest["parts"]["neo4j"]["present"] and "absent" not in manifest["parts"]["neo4j"]
    assert manifest["parts"]["postgres"]["present"]
    # the originals: byte-identical, same mode; no throwaway database left
    assert oldsets.file_digests(old["root"] / "daily", old["other"]) == old["digests"]
    assert throwaway_databases(stack) == []


def test_a_second_adoption_changes_nothing(stack, old, adopted):
    report = adopt(stack, old)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert changed(stack, report) == 0
    text = summary(report)
    assert f"/{GOOD}): already adopted (ADOPTED)" in text and f"/{EMPTY}): already adopted (QUARANTINED)" in text


def test_day_one_adopted_set_refused_for_its_dims_restored_anyway_then_reembedded(stack, old, adopted):
    """The incident's day one: the 1536-dim set is refused by a stack configured for 768 (with the way out), restored
    anyway, then re-embedded with the stack's model; the memories per namespace are the fixture database's, and the
    mem0 API finds a memory by its text. The stack ends with its seeded data (the forced restore's safety backup).
    No restore_parts: the restore takes the parts the adopted set holds and says which it leaves alone, and why."""
    manifest = json.loads((old["root"] / "adopted" / GOOD / "manifest.json").read_text())
    held = [part for part in ("postgres", "neo4j") if manifest["parts"][part].get("present")]
    left = {part: manifest["parts"][part]["absent"] for part in ("neo4j", "history") if part not in held}
    assert "postgres" in held and "history" in left
    args = ("-e", f"restore_confirm={stack['name']}", "-e", f"restore_set={GOOD}")
    report = run(stack, "restore.yml", *args)
    assert report["rc"] != 0
    text = " ".join(role_task(report, "restore", "Stop, saying what failed and what state the stack is in")["msg"])
    assert "1536-dim" in text and "restore_force_dims=true" in text and "reembed.yml" in text, text
    assert memory_state(stack)["per_namespace"] == SEEDED
    started = time.monotonic()
    report = run(stack, "restore.yml", *args, "-e", "restore_force_dims=true")
    seconds = time.monotonic() - started
    restored = memory_state(stack)["per_namespace"]
    dims = vector_dims(stack)
    reembedded = None
    try:
        if report["rc"] == 0:
            reembedded = reembed(stack)
    finally:
        if report["rc"] == 0:  # put the seeded data back from the safety backup the restore took
            lines = role_task(report, "restore", "Report")["msg"]
            safety = next(line.split("safety backup: ", 1)[1].split()[0] for line in lines if "safety backup: " in line)
            put_back = run(stack, "restore.yml", "-e", f"restore_confirm={stack['name']}", "-e",
                           f"restore_set={safety}", "-e", "restore_parts=[%s]" % ",".join(held), "-e",
                           "restore_safety_backup=false", "-e", "restore_smoke=false")
            oldsets.sql(stack, ['DROP TABLE IF EXISTS "%s"' % table for table in kept_tables(stack)])
            assert put_back["rc"] == 0, put_back["raw"][-3000:]
    assert report["rc"] == 0, report["raw"][-4000:]
    assert restored == old["expected"] and dims == [1536]
    for text in (plan_text(report, "restore"), "\n".join(lines)):
        assert "parts %s" % ", ".join(held) in text or "parts: %s;" % ", ".join(held) in text, text
        for part, why in left.items():
            assert f"left alone: {part} - the adopted set holds none ({why}); the live {part} stays as it is" in text, text
    assert reembedded["rc"] == 0, reembedded["raw"][-4000:]
    assert reembedded["dims"] == [stack["embedding"]["dims"]] == [768]
    assert reembedded["per_namespace"] == old["expected"]
    assert reembedded["memory_id"] in reembedded["found"], reembedded
    assert memory_state(stack)["per_namespace"] == SEEDED and vector_dims(stack) == [768]
    print(f"restore of the adopted set: {seconds:.1f} s; reembed.yml: {reembedded['seconds']:.1f} s")


def vector_dims(stack) -> list:
    with oldsets.connect(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT vector_dims(vector) FROM memories")
        return sorted(row[0] for row in cur.fetchall())


def kept_tables(stack) -> list:
    """The tables a re-embedding keeps (<table>_old_<dims>_<stamp>) or journals in (<table>_reembed)."""
    with oldsets.connect(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relkind = 'r' "
                    "AND (relname LIKE '%\\_reembed' OR relname LIKE '%\\_old\\_%')")
        return sorted(row[0] for row in cur.fetchall())


def reembed(stack) -> dict:
    """reembed.yml with the stack's model, then the oracle: the live table's dims and counts per namespace by SQL,
    and a search through the mem0 API for one memory's own text."""
    started = time.monotonic()
    report = run(stack, "reembed.yml", "-e", f"reembed_confirm={stack['name']}")
    result = dict(report, seconds=time.monotonic() - started, dims=vector_dims(stack),
                  per_namespace=memory_state(stack)["per_namespace"])
    if report["rc"] != 0:
        return result
    with oldsets.connect(stack) as conn, conn.cursor() as cur:
        cur.execute("SELECT id::text, payload->>'data', payload->>'user_id' FROM memories "
                    "WHERE payload->>'data' = 'memory 17 of mark_carey/sap'")
        memory_id, text, namespace = cur.fetchone()
    return dict(result, memory_id=memory_id, found=api_search(stack, text, namespace))


def test_the_live_neo4j_tar_is_started_counted_and_exported_the_tar_without_a_store_leaves_a_reason(stack, old, adopted):
    """The GOOD set's tar (taken from the running stack's Neo4j) became its graph part: the export's driver file holds
    the nodes and relationships Cypher counted on the source; the set whose tar holds no store is valid with its
    PostgreSQL part and says why it has no graph; no throwaway container or scratch copy is left."""
    import gzip
    import subprocess

    data = json.loads((old["root"] / "adopted" / GOOD / "manifest.json").read_text())
    graph = old["graph"]
    assert data["counts"]["graph"] == {"nodes": graph["nodes"], "relationships": graph["relationships"]}
    assert graph["nodes"] > 0 and graph["relationships"] > 0
    export = old["root"] / "adopted" / GOOD / "neo4j"
    part = json.loads((export / "manifest.json").read_text())
    assert part["kind"] == "neo4j_export" and part["status"] == "valid"
    driver = next(f for f in part["files"] if f["format"] == "driver")
    lines = [json.loads(line) for line in gzip.decompress((export / driver["name"]).read_bytes()).splitlines()]
    assert (sum(1 for line in lines if "start" not in line), sum(1 for line in lines if "start" in line)) == \
        (graph["nodes"], graph["relationships"])
    other = json.loads((old["root"] / "adopted" / NO_GRAPH / "manifest.json").read_text())
    assert other["status"] == "valid" and other["parts"]["postgres"]["present"]
    assert other["parts"]["neo4j"]["absent"] == (
        f"the Neo4j tar is not adopted: mem0_neo4j_{NO_GRAPH}.tar.gz holds no Neo4j data directory (no directory with "
        "both databases/ and transactions/ in its 1 members); it is kept in source/")
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=mem0ops.adopt=graph"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert left == [] and not list((old["root"] / "adopted").glob(".*neo4j-scratch"))
