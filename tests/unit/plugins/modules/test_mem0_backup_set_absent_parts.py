# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_set absent_parts: a stack without Neo4j (today's mem0 writes no graph) takes valid sets whose manifest
says why the graph part is absent, so that it is never read as an empty graph."""

from __future__ import annotations

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import (
    PREFIX, SEEDED, backup, fails, ok, stamp)

NO_NEO4J = {"neo4j": "the stack has no Neo4j service"}
PARTS = ["postgres", "history", "config"]


def test_a_set_without_a_graph_is_valid_and_says_why_the_graph_is_absent(tmp_path):
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"neo4j": False}, required_parts=PARTS,
                    absent_parts=NO_NEO4J, stack_name="core")
    assert result["status"] == "valid" and result["problems"] == []
    assert result["memories"]["per_namespace"] == SEEDED
    assert result["graph"] == {"nodes": None, "relationships": None}
    assert result["parts"]["neo4j"] == {"present": False, "files": 0, "bytes": 0, "absent": NO_NEO4J["neo4j"]}
    assert "  graph: not in this set (the stack has no Neo4j service)" in result["summary"]
    data = mf.read_manifest(result["path"])
    assert data["parts"]["neo4j"]["absent"] == NO_NEO4J["neo4j"]
    assert data["parts"]["postgres"]["present"] and "absent" not in data["parts"]["postgres"]


def test_without_absent_parts_a_missing_graph_carries_no_reason(tmp_path):
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"neo4j": False}, required_parts=PARTS)
    assert result["parts"]["neo4j"] == {"present": False, "files": 0, "bytes": 0}
    assert "  graph: not in this set" in result["summary"]


def test_a_part_the_set_holds_keeps_no_reason(tmp_path):
    result = backup(tmp_path, "daily", stamp(0), absent_parts=NO_NEO4J)
    assert result["parts"]["neo4j"]["present"] and "absent" not in result["parts"]["neo4j"]
    assert result["graph"] == {"nodes": 70, "relationships": 94}


def test_check_mode_plans_a_set_without_a_graph_and_says_why(tmp_path):
    backup(tmp_path, "daily", stamp(0), set_kwargs={"neo4j": False}, required_parts=PARTS, absent_parts=NO_NEO4J)
    planned = {"postgres": {"counts": {"memories": {"namespaces": SEEDED}}, "estimate": {"files": {"custom": 1000}}}}
    result = ok({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(1),
                 "planned": planned, "namespace_prefix": PREFIX, "absent_parts": NO_NEO4J}, check=True)
    assert result["would_be"] == "valid"
    assert result["parts"]["neo4j"]["absent"] == NO_NEO4J["neo4j"]
    assert "  graph: not in this set (the stack has no Neo4j service)" in result["summary"]


def test_an_unknown_part_fails(tmp_path):
    result = fails({"state": "info", "backup_root": str(tmp_path), "absent_parts": {"graph": "none"}})
    assert "absent_parts names graph" in result["msg"]
