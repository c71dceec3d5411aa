# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scrub (issue 12, hole 6): a bit flip in a stored set is found and marked beside the data, the marked set never
counts toward keep nor is chosen by restore's default, and a full disk mid-set removes only what that run wrote."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import scrub
from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_set_info as info
from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_set_scrub as scrub_module
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import (
    PREFIX, backup, ok, partial_set, stamp)


def digests(path) -> dict:
    """sha256 of every file under path (the oracle that nothing of the set was rewritten)."""
    out = {}
    for dirpath, dummy, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                out[os.path.relpath(full, path)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def flip_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def three_daily_sets(root):
    for day in range(3):
        backup(root, "daily", stamp(day), namespace_prefix=PREFIX)
    return [root / "daily" / stamp(day) for day in range(3)]


def dump_of(set_dir):
    return next((set_dir / "postgres").glob("*.dump"))


def listed(root):
    return bset.scan(str(root), time.time())[0]


def test_an_intact_set_is_ok_and_a_flipped_byte_is_found_and_marked_without_rewriting_the_set(tmp_path):
    old, dummy, newest = three_daily_sets(tmp_path)
    entries = {e["path"]: e for e in listed(tmp_path)}
    assert scrub.scrub_set(entries[str(newest)])["verdict"] == scrub.OK
    flip_one_byte(dump_of(newest))
    before = digests(newest)
    entry = {e["path"]: e for e in listed(tmp_path)}[str(newest)]
    result = scrub.scrub_set(entry)
    assert result["verdict"] == scrub.CORRUPTED
    assert len(result["problems"]) == 1 and result["problems"][0].startswith("postgres/%s: size " % dump_of(newest).name)
    scrub.mark(str(newest), result["problems"], "2026-01-04T04:30:00+00:00")
    after = digests(newest)
    assert after.pop(bset.CORRUPTED_MARKER) and after == before  # only the mark was added
    text = (newest / bset.CORRUPTED_MARKER).read_text()
    assert "This backup set is CORRUPTED" in text and "marked: 2026-01-04T04:30:00+00:00" in text
    entry = {e["path"]: e for e in listed(tmp_path)}[str(newest)]
    assert entry["status"] == bset.STATUS_CORRUPTED and entry["corrupted"]["marked_at"] == "2026-01-04T04:30:00+00:00"
    assert entry["problems"][0] == "corrupted: " + result["problems"][0]
    assert scrub.scrub_set(entry)["verdict"] == scrub.ALREADY
    assert bset.latest_good(listed(tmp_path))["path"] == str(tmp_path / "daily" / stamp(1))
    assert old.is_dir()


def test_pg_restore_list_is_asked_for_each_custom_dump_whose_checksum_holds(tmp_path):
    dummy, middle, newest = three_daily_sets(tmp_path)
    asked = []

    def lister(path):
        asked.append(os.path.relpath(path, str(tmp_path)))
        return "pg_restore: error: could not read from input file: end of file" if stamp(1) in path else ""
    entries = {e["path"]: e for e in listed(tmp_path)}
    assert scrub.scrub_set(entries[str(newest)], lister)["verdict"] == scrub.OK
    result = scrub.scrub_set(entries[str(middle)], lister)
    assert result["problems"] == ["postgres/%s: pg_restore --list cannot read it: pg_restore: error: could not read "
                                  "from input file: end of file" % dump_of(middle).name]
    flip_one_byte(dump_of(newest))
    asked.clear()
    result = scrub.scrub_set(entries[str(newest)], lister)
    assert result["verdict"] == scrub.CORRUPTED and asked == []  # a dump whose checksum fails is not listed too


def test_dump_names_are_the_custom_files_and_the_other_databases():
    part = {"files": [{"name": "m.dump", "format": "custom"}, {"name": "m.schema.sql", "format": "schema"}],
            "databases": [{"name": "m.postgres.dump", "format": "custom"}]}
    assert scrub.dump_names(part) == ["m.dump", "m.postgres.dump"]


def test_a_corrupted_set_never_counts_toward_keep_so_it_never_pushes_an_intact_set_out(tmp_path):
    oldest, middle, newest = three_daily_sets(tmp_path)
    now = datetime.now(timezone.utc)
    plan = bset.rotation_plan(listed(tmp_path), [], {"daily": 2}, 10, None, 24, now)
    assert [e["path"] for e, dummy in plan[0]] == [str(oldest)]  # intact: keep 2 of 3 valid
    scrub.mark(str(newest), ["postgres/x.dump: size 1"], "2026-01-04T04:30:00+00:00")
    delete, kept = bset.rotation_plan(listed(tmp_path), [], {"daily": 2}, 10, None, 24, now)
    assert delete == []
    reasons = {e["path"]: why for e, why in kept}
    assert reasons[str(newest)].startswith("corrupted (marked by the scrub)")
    assert reasons[str(middle)] == reasons[str(oldest)] == "one of the newest 2 valid daily sets"


def test_restore_default_choice_falls_back_past_marked_and_failing_sets_saying_why(tmp_path):
    oldest, middle, newest = three_daily_sets(tmp_path)
    scrub.mark(str(newest), ["postgres/x.dump: size 1"], "2026-01-04T04:30:00+00:00")
    flip_one_byte(dump_of(middle))
    params = {"backup_root": str(tmp_path), "select": True, "set": "", "exclude_tiers": [], "required_parts": [],
              "verify": True, "restored": None, "compare_graph": False, "none_hint": "", "min_free_gb": None,
              "data_root": None}
    result = info.run(params, time.time())
    assert result["path"] == str(oldest) and result["status"] == "valid"
    assert [s["path"] for s in result["skipped"]] == [str(newest), str(middle)]
    assert result["skipped"][0]["why"] == ("marked CORRUPTED by the scrub on 2026-01-04T04:30:00+00:00: corrupted: "
                                           "postgres/x.dump: size 1")
    assert result["skipped"][1]["why"].startswith("its files no longer match its checksums: postgres/")
    # named explicitly, a marked set says so, whatever its manifest says
    named = info.run(dict(params, set=str(newest)), time.time())
    assert named["status"] == bset.STATUS_CORRUPTED and named["skipped"] == []
    flip_one_byte(dump_of(oldest))
    with pytest.raises(bset.SetError) as exc:
        info.run(params, time.time())
    assert str(exc.value).startswith("no valid backup set under %s whose files match its checksums: " % tmp_path)


def run_scrub(args, check=False):
    args = dict({"list_dumps": False}, **args)
    if check:
        args["_ansible_check_mode"] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            scrub_module.main()
    return exc.value.result


def test_the_scrub_module_marks_once_reports_progress_and_check_mode_marks_nothing(tmp_path):
    dummy, dummy2, newest = three_daily_sets(tmp_path)
    flip_one_byte(dump_of(newest))
    checked = run_scrub({"backup_root": str(tmp_path)}, check=True)
    assert checked["changed"] is True  # it would mark
    assert [c["path"] for c in checked["corrupted"]] == [str(newest)]
    assert not (newest / bset.CORRUPTED_MARKER).exists() and not (tmp_path / "scrub.log").exists()
    first = run_scrub({"backup_root": str(tmp_path)})
    assert first["changed"] is True and [c["path"] for c in first["corrupted"]] == [str(newest)]
    assert (newest / bset.CORRUPTED_MARKER).is_file()
    assert first["summary"][0].startswith("scrub of %s: 3 set(s), " % tmp_path)
    assert ": 2 ok, 1 corrupted (1 newly marked), 0 already marked, 0 skipped" in first["summary"][0]
    log = (tmp_path / "scrub.log").read_text().splitlines()
    assert "scrub of %s started: 3 set(s)" % tmp_path in log[0]
    assert " 1/3 daily/%s: corrupted (" % stamp(2) in log[1] and " 3/3 daily/%s: ok (" % stamp(0) in log[3]
    second = run_scrub({"backup_root": str(tmp_path)})
    assert second["changed"] is False and second["corrupted"] == [] and second["already_corrupted"] == [str(newest)]


def test_a_full_disk_removes_only_what_the_failed_run_wrote(tmp_path):
    dummy, dummy2, newest = three_daily_sets(tmp_path)
    before = digests(tmp_path / "daily")
    partial = partial_set(tmp_path, "daily", stamp(3))
    args = {"state": "abandoned", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(3),
            "failure": "Dump PostgreSQL: cannot write %s/x.partial: [Errno 28] No space left on device" % partial}
    planned = ok(args, check=True)
    assert planned["changed"] is True and planned["removed"] is False and partial.is_dir()
    result = ok(args)
    assert result["disk_full"] is True and result["removed"] is True and not partial.exists()
    assert result["volume"] and "filled up while the set was written" in result["message"]
    assert "Fix: free space on %s" % result["volume"] in result["message"]
    assert digests(tmp_path / "daily") == before  # the older sets untouched
    checked = partial_set(tmp_path, "daily", stamp(5))  # pgvector_dump's own check found the disk filled
    result = ok(dict(args, timestamp=stamp(5), failure="Dump PostgreSQL: not enough free space for the dump in "
                     "%s/postgres: it needs about 22.2 MiB, 0 B is free" % checked))
    assert result["removed"] is True and not checked.exists()
    other = partial_set(tmp_path, "daily", stamp(4))
    kept = ok(dict(args, timestamp=stamp(4), failure="Export the graph over Bolt: connection refused"))
    assert kept["changed"] is False and other.is_dir() and "stay in %s" % other in kept["message"]
