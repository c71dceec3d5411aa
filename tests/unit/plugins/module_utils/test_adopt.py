# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The owner's old backups: finding them, proving their files without loading them, verdicts, linking, the
summary; and the backup set's handling of the tier they are adopted into."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import time
from datetime import datetime, timezone

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt
from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf

SQL = b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE memories ();\n\n--\n-- PostgreSQL database dump complete\n--\n\n"


def old_set(root, tier, stamp, sql=SQL, neo4j=True, checksum=None, raw=None):
    """An old set as the old script wrote it: gzip -9 of the SQL, a tar of Neo4j's data, maybe a .sha256."""
    base = root / tier / stamp
    (base / "postgres").mkdir(parents=True)
    dump = base / "postgres" / ("mem0_%s.sql.gz" % stamp)
    dump.write_bytes(raw if raw is not None else gzip.compress(sql, compresslevel=9))
    if checksum == "good":
        (base / "postgres" / ("mem0_%s.sql.gz.sha256" % stamp)).write_text(
            "%s  mem0_%s.sql.gz\n" % (hashlib.sha256(dump.read_bytes()).hexdigest(), stamp))
    elif checksum == "bad":
        (base / "postgres" / ("mem0_%s.sql.gz.sha256" % stamp)).write_text("0" * 64 + "\n")
    if neo4j:
        (base / "neo4j").mkdir()
        (base / "neo4j" / ("mem0_neo4j_%s.tar.gz" % stamp)).write_bytes(gzip.compress(b"tar of /data"))
    return base


def test_discover_finds_every_tier_and_an_extra_path_but_not_sets_of_this_collection(tmp_path):
    root, extra = tmp_path / "backups", tmp_path / "nas"
    old_set(root, "daily", "20260103_133102", checksum="good")
    old_set(root, "weekly", "20260104_023000", neo4j=False)
    old_set(root, "hourly", "20260102_010000")
    old_set(root, "monthly", "20260101_023000")
    old_set(extra, "daily", "20251201_023000")
    (root / "daily" / "20260105_023000").mkdir()  # nothing of the old script in it
    ours = old_set(root, "daily", "20260106_023000")
    (ours / "manifest.json").write_text("{}")  # a set of this collection, not an old one
    (root / "daily" / "notes").mkdir()
    found = adopt.discover([str(root), str(extra), str(root / "daily" / "20260103_133102")])
    assert [(s["tier"], s["timestamp"]) for s in found] == [
        ("daily", "20251201_023000"), ("monthly", "20260101_023000"), ("hourly", "20260102_010000"),
        ("daily", "20260103_133102"), ("weekly", "20260104_023000")]
    first = next(s for s in found if s["timestamp"] == "20260103_133102")
    assert first["files"] == {"postgres": "postgres/mem0_20260103_133102.sql.gz",
                              "neo4j": "neo4j/mem0_neo4j_20260103_133102.tar.gz",
                              "others": ["postgres/mem0_20260103_133102.sql.gz.sha256"]}
    assert next(s for s in found if s["tier"] == "weekly")["files"]["neo4j"] is None


def test_a_whole_dump_with_a_matching_checksum_has_no_problem(tmp_path):
    path = old_set(tmp_path, "daily", "20260103_133102", checksum="good")
    proven = adopt.prove_set(adopt.discover([str(tmp_path)])[0])
    assert proven["problems"] == []
    pg = next(f for f in proven["files"] if f["part"] == "postgres")
    assert pg["gzip_ok"] and pg["dump_complete"] and pg["checksum_ok"] is True
    assert pg["uncompressed_bytes"] == len(SQL)
    assert pg["sha256"] == mf.sha256_file(str(path / "postgres" / "mem0_20260103_133102.sql.gz"))


@pytest.mark.parametrize("case, expected", [
    ("truncated", "is not a whole gzip file: the gzip stream ends before its end marker: the file is truncated"),
    ("garbage", "is not a whole gzip file: not a valid gzip stream"),
    ("empty", "is not a whole gzip file: the file is empty"),
    ("cut_sql", "does not end with pg_dump's closing line"),
    ("checksum", "its postgres/mem0_20260110_023000.sql.gz.sha256 says 000000000000..."),
])
def test_verdicts_of_damaged_dumps(tmp_path, case, expected):
    whole = gzip.compress(SQL * 200, compresslevel=9)
    raw = {"truncated": whole[: len(whole) // 2], "garbage": b"not gzip at all", "empty": b""}.get(case)
    sql = SQL[:40] if case == "cut_sql" else SQL
    old_set(tmp_path, "daily", "20260110_023000", sql=sql, raw=raw, checksum="bad" if case == "checksum" else None)
    problems = adopt.prove_set(adopt.discover([str(tmp_path)])[0])["problems"]
    assert len(problems) == 1 and expected in problems[0], problems


def test_gzip_scan_reads_multi_member_files_and_trailing_zeros_like_gzip(tmp_path):
    path = tmp_path / "x.sql.gz"
    path.write_bytes(gzip.compress(SQL[:30]) + gzip.compress(SQL[30:]) + b"\0" * 16)
    scan = adopt.gzip_scan(str(path))
    assert scan["gzip_ok"] and scan["dump_complete"] and scan["uncompressed_bytes"] == len(SQL)
    assert subprocess.run(["gzip", "-t", str(path)], capture_output=True, check=False).returncode == 0


def test_a_set_without_a_dump_says_so(tmp_path):
    base = tmp_path / "daily" / "20260103_133102" / "neo4j"
    base.mkdir(parents=True)
    (base / "mem0_neo4j_20260103_133102.tar.gz").write_bytes(gzip.compress(b"x"))
    found = adopt.discover([str(tmp_path)])[0]
    assert adopt.prove_set(found)["problems"] == [
        "the set holds no PostgreSQL dump (postgres/mem0_20260103_133102.sql.gz)"]
    assert adopt.absent_parts(found)["neo4j"].startswith("an old-layout Neo4j tar is not yet adopted: source/neo4j/")


def test_read_checksum_file_accepts_sha256sum_output_and_a_bare_digest(tmp_path):
    digest = "ab" * 32
    for text in ("%s  mem0.sql.gz\n" % digest, digest.upper(), "%s\n" % digest):
        (tmp_path / "c").write_text(text)
        assert adopt.read_checksum_file(str(tmp_path / "c")) == digest
    (tmp_path / "c").write_text("nonsense")
    assert adopt.read_checksum_file(str(tmp_path / "c")) is None


def test_linking_keeps_the_originals_and_records_their_sha256(tmp_path):
    root = tmp_path / "backups"
    base = old_set(root, "daily", "20260103_133102", checksum="good")
    before = {p: (p.stat().st_ino, p.stat().st_mode, p.read_bytes()) for p in base.rglob("*") if p.is_file()}
    found = adopt.discover([str(root)])[0]
    proven = adopt.prove_set(found)
    partial = adopt.start_partial(str(root), found["timestamp"])
    assert partial == str(root / "adopted" / ".20260103_133102.partial")
    files = adopt.link_sources(found, proven["files"], partial)
    assert {f["name"] for f in files} == {"postgres/mem0_20260103_133102.sql.gz", "neo4j/mem0_neo4j_20260103_133102.tar.gz",
                                          "postgres/mem0_20260103_133102.sql.gz.sha256"}
    for entry in files:
        linked = os.path.join(partial, "source", entry["name"])
        assert entry["stored_as"] == "hardlink" and os.path.samefile(linked, entry["path"])
        assert entry["sha256"] == mf.sha256_file(linked)
    assert {p: (p.stat().st_ino, p.stat().st_mode, p.read_bytes()) for p in base.rglob("*") if p.is_file()} == before
    # an interrupted adoption's partial set is started again; the originals stay
    assert adopt.start_partial(str(root), found["timestamp"]) == partial and os.listdir(partial) == []
    assert all(p.exists() for p in before)


def test_link_or_copy_copies_when_links_are_refused(tmp_path, monkeypatch):
    src = tmp_path / "a"
    src.write_bytes(b"data")

    def refuse(*args):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(os, "link", refuse)
    assert adopt.link_or_copy(str(src), str(tmp_path / "d" / "a")) == "copy"
    assert (tmp_path / "d" / "a").read_bytes() == b"data" and not os.path.samefile(src, tmp_path / "d" / "a")


def adopted_set(root, stamp, source, status="valid", sha=None, problems=()):
    path = root / "adopted" / stamp
    path.mkdir(parents=True)
    data = mf.new_manifest(bset.KIND)
    data.update(status=status, problems=list(problems), tier="adopted", timestamp=stamp,
                counts={"memories": {"total": 2, "per_namespace": {"mark_carey/sap": 2}}},
                adopted={"source": str(source), "files": [{"part": "postgres", "sha256": sha}],
                         "vector_tables": [{"table": "memories", "observed_dims": [1536], "rows": 2}],
                         "shape": "mem0 1.x", "load": {"seconds": 1}})
    (path / "manifest.json").write_text(json.dumps(data))
    return path


def test_adoption_state_and_verdicts(tmp_path):
    root = tmp_path / "backups"
    daily = old_set(root, "daily", "20260103_133102")
    weekly = old_set(root, "weekly", "20260103_133102")
    found = {s["tier"]: s for s in adopt.discover([str(root)])}
    state = adopt.adoption_state(found["daily"], str(root))
    assert state["state"] == "pending" and adopt.verdict(state) == "pending"
    adopted = adopted_set(root, "20260103_133102", daily, sha="f" * 64)
    state = adopt.adoption_state(found["daily"], str(root))
    assert state["state"] == "adopted" and adopt.verdict(state) == "ADOPTED"
    assert adopt.verdict(state, before={str(adopted)}) == "already adopted (ADOPTED)"
    assert adopt.adoption_state(found["weekly"], str(root), "f" * 64)["state"] == "same_dump"
    assert adopt.adoption_state(found["weekly"], str(root), "e" * 64)["state"] == "taken"
    assert adopt.verdict(adopt.adoption_state(found["weekly"], str(root), "e" * 64)) == "not adopted"
    assert weekly.exists()


def test_summary_lines_give_the_verdict_counts_and_dims(tmp_path):
    root = tmp_path / "backups"
    daily = old_set(root, "daily", "20260103_133102", checksum="good")
    adopted_set(root, "20260103_133102", daily)
    old_set(root, "daily", "20260111_023000", raw=b"broken")
    sets = []
    for found in adopt.discover([str(root)]):
        proven = adopt.prove_set(found)
        state = adopt.adoption_state(found, str(root))
        sets.append(dict(found, files=proven["files"], problems=proven["problems"], verdict=adopt.verdict(state),
                         adopted_path=state["path"], manifest=state["manifest"]))
    text = "\n".join(line for entry in sets for line in adopt.set_lines(entry))
    assert "daily/20260103_133102 (%s): ADOPTED" % daily in text
    assert "gzip ok, sha256 ok" in text
    assert "2 memories (mark_carey/sap 2); memories 1536 (2 rows); mem0 1.x" in text
    assert "daily/20260111_023000" in text and "would be QUARANTINED: postgres/mem0_20260111_023000.sql.gz is not a " \
        "whole gzip file" in text


def test_shape_and_dims_text():
    tables = [{"table": "memories", "observed_dims": [1536], "rows": 3}, {"table": "mem0migrations",
                                                                          "observed_dims": [1536], "rows": 1}]
    assert adopt.shape(tables, "memories") == "mem0 1.x"
    assert adopt.shape(tables + [{"table": "memories_entities", "observed_dims": [], "declared_dims": 1536}],
                       "memories") == "mem0 2.x (memories_entities)"
    assert adopt.dims_text(tables) == "memories 1536 (3 rows), mem0migrations 1536 (1 rows)"


def test_the_load_leaves_out_ownership_and_privileges_only():
    sql = ("CREATE TABLE public.memories (id uuid);\nALTER TABLE public.memories OWNER TO mem0_user;\n"
           "ALTER SEQUENCE public.s OWNER TO mem0_user;\nGRANT ALL ON SCHEMA public TO mem0_user;\n"
           "REVOKE USAGE ON SCHEMA public FROM PUBLIC;\nALTER DEFAULT PRIVILEGES FOR ROLE x GRANT ALL ON TABLES TO y;\n"
           "COPY public.memories (id) FROM stdin;\nGRANT in a row of data;\n\\.\n")
    out = subprocess.run(["sed", "-E", adopt.OWNERSHIP_FILTER], input=sql.encode(), capture_output=True, check=True)
    assert out.stdout.decode() == "CREATE TABLE public.memories (id uuid);\nCOPY public.memories (id) FROM stdin;\n" \
        "GRANT in a row of data;\n\\.\n"
    argv = adopt.load_argv("/tmp/x/mem0.sql.gz", "mem0ops_adopt_1", ["psql", "-h", "127.0.0.1"])
    assert argv[:2] == ["bash", "-c"] and "ON_ERROR_STOP=1" in argv[2] and "pipefail" in argv[2]
    assert argv[3:] == ["mem0ops-adopt", "/tmp/x/mem0.sql.gz", "mem0ops_adopt_1", adopt.LOAD_FILTER, adopt.LOAD_CHECK,
                        "psql", "-h", "127.0.0.1"]


DUMP = ("--\n-- Dumped by pg_dump version 17.5 (Debian 17.5-1)\n--\nCREATE TABLE public.memories (id uuid);\n"
        "COPY public.memories (id) FROM stdin;\n-- PostgreSQL database dump complete\n\\.\n\n--\n"
        "-- PostgreSQL database dump complete\n--\n\n")


def fake_load(tmp_path, data: bytes):
    """The load script with a psql that writes what it is sent to a file: (exit code, what psql received)."""
    path, sent = tmp_path / "dump.sql.gz", tmp_path / "sent.sql"
    path.write_bytes(data)
    argv = adopt.load_argv(str(path), "mem0ops_adopt_1", ["bash", "-c", 'cat > "$0"', str(sent)])
    proc = subprocess.run(argv, capture_output=True, check=False)
    return proc.returncode, sent.read_text()


def test_the_load_proves_the_closing_line_and_fails_on_a_cut_gzip_file_in_the_same_pass(tmp_path):
    rc, sent = fake_load(tmp_path, gzip.compress(DUMP.encode()))
    mark = "SELECT pg_catalog.set_config('mem0ops.dump_complete', 'on', true);"
    # only the closing line outside the COPY rows is marked, and the check comes after everything
    assert rc == 0 and sent.count(mark) == 1 and sent.index(mark) > sent.index("\\.")
    assert sent.endswith(adopt.LOAD_CHECK + "\n") and "-- PostgreSQL database dump complete\n\\." in sent
    # no closing line: nothing marks it, the check (which raises in psql's transaction) still comes
    rc, sent = fake_load(tmp_path, gzip.compress(DUMP.split("\n--\n-- PostgreSQL", maxsplit=1)[0].encode()))
    assert rc == 0 and mark not in sent and sent.endswith(adopt.LOAD_CHECK + "\n")
    # a truncated file: gunzip fails, so does the load (pipefail)
    whole = gzip.compress(DUMP.encode() * 50)
    rc, sent = fake_load(tmp_path, whole[: len(whole) // 2])
    assert rc != 0 and sent.endswith(adopt.LOAD_CHECK + "\n")


def test_the_plain_part_describes_the_old_file_as_pgvector_dump_does(tmp_path):
    path = tmp_path / "mem0_20260103_133102.sql.gz"
    path.write_bytes(gzip.compress(DUMP.encode()))
    head = adopt.read_head(str(path))
    assert adopt.pg_dump_version(head) == "17.5" and adopt.pg_dump_version(b"-- nothing") is None
    assert adopt.read_head(str(tmp_path)) == b""
    entry = {"name": "postgres/" + path.name, "size": path.stat().st_size, "sha256": mf.sha256_file(str(path))}
    counts = {"memories": {"total": 2, "namespaces": {"mark_carey/sap": 2}}, "mem0migrations": {"rows": 1}}
    tables = [{"table": "memories", "declared_dims": 1536, "observed_dims": [1536], "rows": 2}]
    data = adopt.postgres_part(path.name, entry, {"collection": "memories", "counts": counts, "vector_tables": tables,
                                                  "pg_dump_version": "17.5", "load": {"seconds": 1.5}})
    assert data["kind"] == "pgvector_dump" and data["status"] == "valid"
    assert data["files"] == [{"name": path.name, "size": entry["size"], "sha256": entry["sha256"], "format": "plain",
                              "compression": "gzip", "loader": "filtered psql (module_utils.adopt.load_argv)"}]
    assert data["counts"] == counts and data["vector_tables"] == tables and data["duration_seconds"] == 1.5
    assert mf.verify_files(data, str(tmp_path)) == []


def test_rotation_never_deletes_adopted_sets_nor_old_directories(tmp_path):
    root = tmp_path / "backups"
    old = old_set(root, "daily", "20260103_133102")
    for index in range(3):
        adopted_set(root, "2026010%d_000000" % (index + 1), old, status="quarantined" if index else "valid")
    sets, partials = bset.scan(str(root), time.time())
    delete, kept = bset.rotation_plan(sets, partials, bset.keep_counts({"daily": 0}), 0, 0, 24,
                                      datetime.now(timezone.utc))
    assert delete == []
    reasons = {e["path"]: r for e, r in kept}
    assert reasons[str(old)] == "no readable backup set manifest: never deleted by rotation"
    assert sum(1 for r in reasons.values() if r.startswith("adopted from the old backup script")) == 3


def test_select_by_timestamp_prefers_the_adopted_set_to_the_old_directory(tmp_path):
    root = tmp_path / "backups"
    old = old_set(root, "daily", "20260103_133102")
    adopted = adopted_set(root, "20260103_133102", old)
    sets, dummy = bset.scan(str(root), time.time())
    assert bset.select(str(root), sets, "20260103_133102") == str(adopted)
    assert bset.latest_good(sets, exclude_tiers=(bset.ADOPTED_TIER,)) is None
