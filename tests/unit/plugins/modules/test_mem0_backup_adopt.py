# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_adopt and mem0_backup_adopt_info without a database: check mode, refusals, the listing."""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_adopt as adopt_module
from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_adopt_info as info_module
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args
from ansible_collections.mem0ops.stack.tests.unit.plugins.module_utils.test_adopt import old_set


def run(module, args):
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            module.main()
    return exc.value


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    root = tmp_path / "backups"
    source = old_set(root, "daily", "20260103_133102", checksum="good")
    outcome = run(adopt_module, {"source": str(source), "backup_root": str(root), "connect_via": "docker_exec",
                                 "container": "mem0_postgres_prd", "_ansible_check_mode": True})
    assert isinstance(outcome, AnsibleExitJson), outcome.result
    result = outcome.result
    assert result["changed"] is True and result["state"] == "pending" and result["problems"] == []
    assert result["database"] is None and result["absent_parts"]["neo4j"].startswith("an old-layout Neo4j tar")
    assert not (root / "adopted").exists()


def test_a_directory_that_is_not_an_old_set_is_refused(tmp_path):
    outcome = run(adopt_module, {"source": str(tmp_path), "backup_root": str(tmp_path)})
    assert isinstance(outcome, AnsibleFailJson)
    assert "is not an old backup set" in outcome.result["msg"]


def test_only_throwaway_databases_are_dropped(tmp_path):
    outcome = run(adopt_module, {"state": "absent", "backup_root": str(tmp_path), "throwaway_db": "mem0_prd",
                                 "login_user": "u", "db": "mem0_prd"})
    assert isinstance(outcome, AnsibleFailJson)
    assert "throwaway_db must be a throwaway database of the adoption (mem0ops_adopt_<ts>)" in outcome.result["msg"]


def test_info_lists_and_predicts_read_only(tmp_path):
    root = tmp_path / "backups"
    old_set(root, "daily", "20260103_133102", checksum="good")
    old_set(tmp_path / "nas", "weekly", "20260111_023000", raw=b"truncated")
    outcome = run(info_module, {"backup_root": str(root), "paths": [str(tmp_path / "nas")], "_ansible_check_mode": True})
    assert isinstance(outcome, AnsibleExitJson)
    result = outcome.result
    assert result["changed"] is False
    assert [(s["tier"], s["timestamp"], s["verdict"]) for s in result["sets"]] == [
        ("daily", "20260103_133102", "pending"), ("weekly", "20260111_023000", "pending")]
    assert [s["timestamp"] for s in result["pending"]] == ["20260103_133102", "20260111_023000"]
    assert result["summary"][0].endswith("2 set(s) found, 0 adopted, 2 to adopt")
    assert "would be QUARANTINED" in "\n".join(result["summary"])
    assert not (root / "adopted").exists()


def test_info_refuses_a_path_that_is_not_a_directory(tmp_path):
    outcome = run(info_module, {"backup_root": str(tmp_path), "paths": [str(tmp_path / "missing")]})
    assert isinstance(outcome, AnsibleFailJson)
    assert "is not a directory" in outcome.result["msg"]
