# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_set with the sets adopted from the old backup script (tier adopted): never compared with the last
good set, the adoption kept in the manifest, never the baseline of a new set, never rotated."""

from __future__ import annotations

import json

from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import (
    PREFIX, SEEDED, backup, finalise, ok, partial_set, stamp)

ADOPTED = {"source": "/old/daily/20260103_133102", "files": [{"name": "postgres/mem0_20260103_133102.sql.gz",
                                                              "sha256": "ab" * 32, "stored_as": "hardlink"}]}


def test_an_adopted_set_is_not_compared_with_the_last_good_set_and_keeps_its_adoption(tmp_path):
    backup(tmp_path, "daily", stamp(5), namespace_prefix=PREFIX)  # today's stack: another cluster, 768 dims
    partial_set(tmp_path, "adopted", "20260103_133102", namespaces={"mark_carey/sap": 10}, system_identifier="1",
                dims=1536, neo4j=False)
    result = finalise(tmp_path, "adopted", "20260103_133102", required_parts=["postgres"], adopted=ADOPTED,
                      absent_parts={"neo4j": "an old-layout Neo4j tar is not yet adopted"})
    assert result["status"] == "valid", result["problems"]
    assert result["baseline"] is None
    manifest = json.loads((tmp_path / "adopted" / "20260103_133102" / "manifest.json").read_text())
    assert manifest["adopted"] == ADOPTED
    assert manifest["parts"]["neo4j"]["absent"] == "an old-layout Neo4j tar is not yet adopted"


def test_an_empty_adopted_set_is_quarantined_as_a_new_empty_set_would_be(tmp_path):
    partial_set(tmp_path, "adopted", "20260111_023000", namespaces={}, neo4j=False)
    result = finalise(tmp_path, "adopted", "20260111_023000", required_parts=["postgres"], adopted=ADOPTED)
    assert result["status"] == "quarantined"
    assert result["problems"][0].startswith("the set holds 0 memories under 'mark_carey/', fewer than min_memories 1")
    assert (tmp_path / "adopted" / "20260111_023000" / "QUARANTINED.txt").exists()


def test_a_new_set_is_not_gated_against_an_adopted_one_and_rotation_keeps_adopted_sets(tmp_path):
    partial_set(tmp_path, "adopted", "20991231_000000", namespaces=SEEDED, neo4j=False, dims=1536)
    finalise(tmp_path, "adopted", "20991231_000000", required_parts=["postgres"], adopted=ADOPTED)
    result = backup(tmp_path, "daily", stamp(1), namespace_prefix=PREFIX, set_kwargs={"namespaces": {"mark_carey/sap": 3}})
    assert result["status"] == "valid" and result["baseline"] is None, result["problems"]
    rotated = ok({"state": "rotated", "backup_root": str(tmp_path), "keep": {"daily": 0, "adopted": 0}})
    assert all(entry["tier"] != "adopted" for entry in rotated["would_delete"])
    assert (tmp_path / "adopted" / "20991231_000000" / "manifest.json").exists()
