# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_adopt_graph without Docker: check mode predicts and extracts nothing, a real run extracts the data
directory privately and picks two free ports, a tar without a store gives the absent reason, absent removes only
scratch copies."""

from __future__ import annotations

import os

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_adopt_graph as graph_module
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args
from ansible_collections.mem0ops.stack.tests.unit.plugins.module_utils.test_adopt_graph import member, store, write_tar

STAMP = "20260103_133102"


def run(args):
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            graph_module.main()
    return exc.value


def test_check_mode_predicts_from_the_member_list_and_extracts_nothing(tmp_path):
    tar = write_tar(tmp_path / "t.tar.gz", store("neo4j/data/"))
    outcome = run({"tar": tar, "backup_root": str(tmp_path), "timestamp": STAMP, "_ansible_check_mode": True})
    assert isinstance(outcome, AnsibleExitJson), outcome.result
    result = outcome.result
    assert result["changed"] is False and result["problem"] is None and result["scratch"] is None
    assert result["tar"]["prefix"] == "neo4j/data" and "would be started in a throwaway Neo4j" in result["prediction"]
    assert not (tmp_path / "adopted").exists()


def test_a_run_extracts_the_data_directory_and_absent_removes_it(tmp_path):
    tar = write_tar(tmp_path / "t.tar.gz", store("data/"))
    result = run({"tar": tar, "backup_root": str(tmp_path), "timestamp": STAMP}).result
    assert result["changed"] is True and result["container"] == "mem0ops_adopt_neo4j_" + STAMP
    assert result["scratch"] == str(tmp_path / "adopted" / (".%s.neo4j-scratch" % STAMP))
    assert os.path.isfile(os.path.join(result["scratch"], "databases", "neo4j", "neostore"))
    assert result["bolt_port"] != result["http_port"] and result["neo4j_uri"] == "bolt://127.0.0.1:%d" % result["bolt_port"]
    again = run({"tar": tar, "backup_root": str(tmp_path), "timestamp": STAMP}).result  # a left-over is replaced
    assert os.path.isdir(again["scratch"])
    gone = run({"state": "absent", "backup_root": str(tmp_path)}).result
    assert gone["removed"] == [result["scratch"]] and not os.path.exists(result["scratch"])
    assert run({"state": "absent", "backup_root": str(tmp_path)}).result["changed"] is False
    refused = run({"state": "absent", "backup_root": str(tmp_path), "scratch": str(tmp_path / "adopted")})
    assert isinstance(refused, AnsibleFailJson) and "is not a scratch directory" in refused.result["msg"]


def test_a_tar_without_a_store_is_not_extracted_and_says_why(tmp_path):
    tar = write_tar(tmp_path / ("mem0_neo4j_%s.tar.gz" % STAMP), [member("data/databases/neo4j/neostore")])
    result = run({"tar": tar, "backup_root": str(tmp_path), "timestamp": STAMP}).result
    assert result["changed"] is False and result["scratch"] is None
    assert result["absent_reason"] == ("the Neo4j tar is not adopted: mem0_neo4j_%s.tar.gz holds no Neo4j data "
                                       "directory (no directory with both databases/ and transactions/ in its 1 members); "
                                       "it is kept in source/" % STAMP)
