# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup set: layout, scan, selection, verification and the rotation plan."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import (
    PREFIX, SEEDED, backup, stamp, write_json)


def test_layout_and_naming():
    assert bset.final_path("/b", "daily", "20260101_023000") == "/b/daily/20260101_023000"
    assert bset.partial_path("/b", "daily", "20260101_023000") == "/b/daily/.20260101_023000.partial"
    assert bset.is_timestamp("20260101_023000") and not bset.is_timestamp("20261301_023000")
    assert not bset.is_timestamp("latest")
    assert bset.set_dir("/b/daily/20260101_023000/manifest.json") == "/b/daily/20260101_023000"
    assert bset.set_dir("/b/daily/20260101_023000//") == "/b/daily/20260101_023000"
    now = datetime(2026, 1, 1, 3, 30, tzinfo=timezone.utc)
    assert bset.age_seconds("20260101_023000", now) == 3600
    assert bset.age_seconds("nonsense", now) is None


def sets_on_disk(tmp_path):
    backup(tmp_path, "daily", stamp(0), namespace_prefix=PREFIX)
    backup(tmp_path, "daily", stamp(1), set_kwargs={"namespaces": {}, "nodes": 0})  # quarantined: empty
    backup(tmp_path, "pre-restore", stamp(2))
    (tmp_path / "daily" / ".20260101_000000.partial").mkdir()
    (tmp_path / "daily" / "not-a-set").mkdir()
    (tmp_path / "other-tier" / stamp(3)).mkdir(parents=True)
    return bset.scan(str(tmp_path), time.time())


def test_scan_lists_sets_newest_first_and_partials_and_ignores_the_rest(tmp_path):
    sets, partials = sets_on_disk(tmp_path)
    assert [(s["tier"], s["timestamp"], s["status"]) for s in sets] == [
        ("pre-restore", stamp(2), "valid"), ("daily", stamp(1), "quarantined"), ("daily", stamp(0), "valid")]
    assert sets[2]["memories"] == sum(SEEDED.values())
    assert [p["timestamp"] for p in partials] == ["20260101_000000"]
    assert "_manifest" not in bset.public(sets[0])


def test_select_by_timestamp_path_or_newest_valid_with_tiers_left_out(tmp_path):
    sets, dummy = sets_on_disk(tmp_path)
    root = str(tmp_path)
    assert bset.select(root, sets, stamp(1)) == str(tmp_path / "daily" / stamp(1))
    assert bset.select(root, sets, "/x/daily/%s/manifest.json" % stamp(0)) == "/x/daily/%s" % stamp(0)
    assert bset.select(root, sets, "") == str(tmp_path / "pre-restore" / stamp(2))
    assert bset.select(root, sets, None, exclude_tiers=["pre-restore"]) == str(tmp_path / "daily" / stamp(0))


def test_select_names_the_newest_sets_when_there_is_no_such_set(tmp_path):
    sets, dummy = sets_on_disk(tmp_path)
    with pytest.raises(bset.SetError) as exc:
        bset.select(str(tmp_path), sets, "20991231_000000")
    assert str(exc.value) == "no backup set has the timestamp 20991231_000000; the newest sets: %s valid, %s quarantined, %s valid" % (
        tmp_path / "pre-restore" / stamp(2), tmp_path / "daily" / stamp(1), tmp_path / "daily" / stamp(0))
    with pytest.raises(bset.SetError) as exc:
        bset.select(str(tmp_path), sets, "", exclude_tiers=["pre-restore", "daily"])
    assert str(exc.value).startswith("no valid backup set under %s (tiers pre-restore, daily left out); the newest sets: "
                                     % tmp_path)
    with pytest.raises(bset.SetError) as exc:
        bset.select(str(tmp_path / "empty"), [], "", none_hint="nothing to drill")
    assert str(exc.value) == "no valid backup set under %s: nothing to drill; the newest sets: none" % (tmp_path / "empty")


def test_read_set_manifest_refuses_another_kind_of_manifest(tmp_path):
    write_json(tmp_path / "x" / "manifest.json", dict(mf.new_manifest("pgvector_dump")))
    with pytest.raises(bset.SetError) as exc:
        bset.read_set_manifest(str(tmp_path / "x"))
    assert str(exc.value) == "%s/manifest.json is not a backup set manifest (kind pgvector_dump)" % (tmp_path / "x")
    with pytest.raises(bset.SetError) as exc:
        bset.read_set_manifest(str(tmp_path / "absent"))
    assert "no manifest at" in str(exc.value)


def test_missing_parts():
    data = {"parts": {"postgres": {"present": True}, "neo4j": {"present": False}}}
    assert bset.present_parts(data) == ["postgres"]
    assert bset.missing_parts(data, ["postgres", "neo4j", "history"]) == ["neo4j", "history"]
    assert bset.missing_parts(data, []) == []


def test_left_alone_parts_only_for_an_adopted_set_and_only_with_a_recorded_reason():
    parts = {"postgres": {"present": True}, "neo4j": {"present": False, "absent": "the tar did not start"},
             "history": {"present": False, "absent": "no history.db"}, "config": {"present": False}}
    adopted = {"tier": "adopted", "adopted": {"source": "/old/daily/20260103_133102"}, "parts": parts}
    required = ["postgres", "neo4j", "history", "config"]
    assert bset.left_alone_parts(adopted, required) == {"neo4j": "the tar did not start", "history": "no history.db"}
    assert bset.left_alone_parts(adopted, ["postgres"]) == {}
    # the other engineer's graph part: an adopted set that holds a neo4j part restores it
    with_graph = dict(adopted, parts=dict(parts, neo4j={"present": True}))
    assert bset.left_alone_parts(with_graph, required) == {"history": "no history.db"}
    # a normal set that lacks a part is refused, whatever its manifest says
    assert bset.left_alone_parts(dict(adopted, tier="daily"), required) == {}
    assert bset.left_alone_parts(dict(adopted, adopted=None), required) == {}


def test_verify_set_names_each_missing_or_different_file(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    path = tmp_path / "daily" / stamp(0)
    data = mf.read_manifest(str(path))
    assert bset.verify_set(data, str(path)) == []
    dump = next(f for f in data["files"] if f["name"].startswith("postgres/") and f["name"].endswith(".dump"))
    (path / dump["name"]).write_bytes(b"forged")
    history = next(f for f in data["files"] if f["name"].startswith("history/") and f["name"].endswith(".db"))
    os.unlink(str(path / history["name"]))
    problems = bset.verify_set(data, str(path))
    assert problems[0] == "%s: missing" % history["name"] or problems[1] == "%s: missing" % history["name"]
    forged = [p for p in problems if p.startswith(dump["name"])][0]
    assert forged == "%s: size 6 sha256 %s..., the manifest says size %d sha256 %s..." % (
        dump["name"], mf.sha256_file(str(path / dump["name"]))[:12], dump["size"], dump["sha256"][:12])
    assert len(problems) == 2


def test_keep_counts_defaults_and_errors():
    assert bset.keep_counts({"daily": "14"})["daily"] == 14
    assert bset.keep_counts(None) == bset.DEFAULT_KEEP
    for keep, text in (({"yearly": 1}, "keep names an unknown tier 'yearly'"), ({"daily": "x"}, "keep.daily must be a number"),
                       ({"daily": -1}, "keep.daily must not be negative")):
        with pytest.raises(bset.SetError) as exc:
            bset.keep_counts(keep)
        assert str(exc.value).startswith(text)


def test_count_differences_names_every_count_that_differs():
    data = {"counts": {"memories": {"total": 3, "per_namespace": {"a": 2, "b": 1}},
                       "graph": {"nodes": 5, "relationships": 4}}}
    same = {"memories": 3, "per_namespace": {"a": 2, "b": 1}, "graph_nodes": 5, "graph_relationships": 4,
            "graph_user_ids": {"a": 3, "b": 2}}
    assert bset.count_differences(data, same, True, {"a": 3, "b": 2}) == []
    other = {"memories": "2", "per_namespace": {"a": 1, "c": 1}, "graph_nodes": None, "graph_relationships": 4,
             "graph_user_ids": {"a": 3}}
    assert bset.count_differences(data, other, True, {"a": 3, "b": 2}) == [
        "memories: the set manifest says 3, the restored database holds 2",
        "memories in namespace 'a': the set manifest says 2, the restored database holds 1",
        "memories in namespace 'b': the set manifest says 1, the restored database holds 0",
        "memories in namespace 'c': the set manifest says 0, the restored database holds 1",
        "graph nodes: the set manifest says 5, the restored graph holds None",
        "graph nodes of user 'b': the export manifest says 2, the restored graph holds 0"]
    assert bset.count_differences(data, other, False) == bset.count_differences(data, other, True)[:4]
    assert bset.count_differences({}, {"memories": 0, "per_namespace": {}}) == []
