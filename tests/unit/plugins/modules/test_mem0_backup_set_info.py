# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_set_info: list, choose and verify a set, with the wording the restore and drill roles print."""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_set_info as info
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import SEEDED, backup, stamp


def run(args, check=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            info.main()
    return exc.value


def ok(args, **kwargs) -> dict:
    outcome = run(args, **kwargs)
    assert isinstance(outcome, AnsibleExitJson), outcome.result.get("msg")
    return outcome.result


def fails(args, **kwargs) -> dict:
    outcome = run(args, **kwargs)
    assert isinstance(outcome, AnsibleFailJson), outcome.result
    return outcome.result


@pytest.fixture
def root(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    backup(tmp_path, "daily", stamp(1), set_kwargs={"namespaces": {}, "nodes": 0})
    backup(tmp_path, "pre-restore", stamp(2))
    return tmp_path


def test_list_only_returns_the_sets_and_the_last_good_one(root):
    result = ok({"backup_root": str(root), "select": False}, check=True)
    assert result["changed"] is False
    assert [s["timestamp"] for s in result["sets"]] == [stamp(2), stamp(1), stamp(0)]
    assert result["latest_good"]["path"] == str(root / "pre-restore" / stamp(2))
    assert result["latest_good"]["postgres_manifest"] == str(root / "pre-restore" / stamp(2) / "postgres" / "manifest.json")
    assert result["latest_good"]["per_namespace"] == SEEDED
    assert "path" not in result


def test_newest_valid_with_tiers_left_out_is_chosen_and_verified(root):
    result = ok({"backup_root": str(root), "exclude_tiers": ["pre-restore"], "required_parts": ["postgres", "neo4j"]})
    assert result["path"] == str(root / "daily" / stamp(0))
    assert result["status"] == "valid" and result["problems"] == [] and result["missing_parts"] == []
    assert result["manifest"]["kind"] == "backup_set" and result["manifest"]["timestamp"] == stamp(0)
    assert result["verified"] is True and result["files_verified"] == len(result["manifest"]["files"]) > 0
    assert result["file_problems"] == []
    assert result["age_seconds"] > 0


def test_a_quarantined_set_chosen_by_timestamp_is_returned_with_its_problems(root):
    result = ok({"backup_root": str(root), "set": stamp(1), "verify": False})
    assert result["status"] == "quarantined" and result["problems"]
    assert result["verified"] is None and result["files_verified"] == 0


def test_a_damaged_file_is_named(root):
    path = root / "daily" / stamp(0)
    data = mf.read_manifest(str(path))
    name = data["files"][0]["name"]
    (path / name).write_bytes(b"x")
    result = ok({"backup_root": str(root), "set": str(path / "manifest.json")})
    assert result["path"] == str(path) and result["verified"] is False
    assert result["file_problems"] == ["%s: size 1 sha256 %s..., the manifest says size %d sha256 %s..." % (
        name, mf.sha256_file(str(path / name))[:12], data["files"][0]["size"], data["files"][0]["sha256"][:12])]


def test_missing_parts_are_returned(root):
    backup(root, "weekly", stamp(3), set_kwargs={"neo4j": False}, required_parts=["postgres", "history", "config"])
    result = ok({"backup_root": str(root), "required_parts": ["postgres", "neo4j", "config"], "verify": False})
    assert result["path"] == str(root / "weekly" / stamp(3)) and result["status"] == "valid"
    assert result["missing_parts"] == ["neo4j"]


def test_no_such_set_fails_naming_the_newest_sets(root):
    result = fails({"backup_root": str(root), "set": "20991231_000000"})
    assert result["msg"].startswith("no backup set has the timestamp 20991231_000000; the newest sets: %s valid"
                                    % (root / "pre-restore" / stamp(2)))
    result = fails({"backup_root": str(root / "nothing"), "none_hint": "nothing to drill; take one with playbooks/backup.yml"})
    assert result["msg"] == ("no valid backup set under %s: nothing to drill; take one with playbooks/backup.yml; "
                             "the newest sets: none" % (root / "nothing"))


def test_a_directory_that_is_not_a_set_fails(root, tmp_path):
    other = tmp_path / "dump"
    other.mkdir()
    mf.write_json_atomic(str(other / "manifest.json"), mf.new_manifest("pgvector_dump"))
    result = fails({"backup_root": str(root), "set": str(other)})
    assert result["msg"] == "%s/manifest.json is not a backup set manifest (kind pgvector_dump)" % other


def test_unknown_tiers_are_refused(root):
    assert "exclude_tiers names unknown tiers yearly" in fails({"backup_root": str(root), "exclude_tiers": ["yearly"]})["msg"]


def test_exclude_tiers_given_as_a_string_on_the_command_line(root):
    result = ok({"backup_root": str(root), "exclude_tiers": "[pre-restore,daily]", "select": False})
    assert result["latest_good"]["tier"] == "pre-restore"
    result = fails({"backup_root": str(root), "exclude_tiers": "[pre-restore,daily]"})
    assert result["msg"].startswith("no valid backup set under %s (tiers pre-restore, daily left out); the newest sets: "
                                    % root)


def test_restored_counts_are_compared_with_the_manifest_and_the_graph_export(root):
    path = str(root / "daily" / stamp(0))
    restored = {"memories": sum(SEEDED.values()), "per_namespace": dict(SEEDED), "graph_nodes": 70,
                "graph_relationships": 94, "graph_user_ids": {}}
    result = ok({"backup_root": str(root), "set": path, "verify": False, "restored": restored, "compare_graph": True})
    assert result["differences"] == []
    restored["per_namespace"] = dict(SEEDED, **{"mark_carey/sap": 600})
    restored["graph_user_ids"] = {"mark_carey/sap": 1}
    result = ok({"backup_root": str(root), "set": path, "verify": False, "restored": restored, "compare_graph": True})
    assert result["differences"] == [
        "memories in namespace 'mark_carey/sap': the set manifest says 678, the restored database holds 600",
        "graph nodes of user 'mark_carey/sap': the export manifest says 0, the restored graph holds 1"]
    assert "differences" not in ok({"backup_root": str(root), "set": path, "verify": False})
