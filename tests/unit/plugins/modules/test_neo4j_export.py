# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""neo4j_export: format choice, file naming, batching, export files, and every failure that happens before
the module talks to Neo4j, through main().

Exports and imports against real Neo4j servers are tested in tests/integration/test_neo4j_export.py.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as n4j
from ansible_collections.mem0ops.stack.plugins.modules import neo4j_export
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

PASSWORD = "unit-test-Pa55word"
ALL_APOC = ["apoc.export.cypher.all", "apoc.export.graphml.all", "apoc.export.json.all", "apoc.import.json"]


def run_main(args: dict, check_mode: bool = False) -> dict:
    """Run main(); return the result of exit_json or fail_json (failed=True)."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            neo4j_export.main()
    return exc.value.result


# --- formats and names ------------------------------------------------------------------------------

@pytest.mark.parametrize("requested, procedures, formats, warned", [
    (["driver", "cypher"], ALL_APOC, ["driver", "cypher"], None),
    (["cypher", "graphml", "json", "driver"], ALL_APOC, ["cypher", "graphml", "json", "driver"], None),
    (["cypher", "cypher", "driver"], ALL_APOC, ["cypher", "driver"], None),
    (["cypher", "graphml"], [], ["driver"], "cypher, graphml"),
    (["driver", "json"], [], ["driver"], "json"),
    (["cypher", "json"], ["apoc.export.cypher.all"], ["cypher", "driver"], "json"),
])
def test_resolve_formats(requested, procedures, formats, warned):
    got, warning = neo4j_export.resolve_formats(requested, procedures)

    assert got == formats
    if warned is None:
        assert warning is None
    else:
        assert warning.endswith("exported with the driver only (format driver) instead of %s" % warned)
        assert "is APOC installed?" in warning


@pytest.mark.parametrize("fmt, compression, name", [
    ("driver", "none", "neo4j.driver.jsonl"),
    ("json", "none", "neo4j.apoc.jsonl"),
    ("cypher", "gzip", "neo4j.cypher.gz"),
    ("graphml", "gzip", "neo4j.graphml.gz"),
])
def test_export_file_name(fmt, compression, name):
    assert neo4j_export.export_file_name(fmt, compression) == name


@pytest.mark.parametrize("formats, import_format, chosen", [
    (["cypher", "json", "driver"], "auto", "driver"),
    (["cypher", "json"], "auto", "json"),
    (["driver", "json"], "json", "json"),
])
def test_choose_import_file(formats, import_format, chosen):
    manifest = {"files": [{"name": neo4j_export.FILE_NAMES[f], "format": f} for f in formats]}

    assert neo4j_export.choose_import_file(manifest, import_format)["format"] == chosen


def test_choose_import_file_without_an_importable_format():
    manifest = {"files": [{"name": "neo4j.cypher", "format": "cypher"}, {"name": "neo4j.graphml", "format": "graphml"}]}

    with pytest.raises(n4j.Neo4jError) as exc:
        neo4j_export.choose_import_file(manifest, "auto")

    assert str(exc.value) == ("the export holds no driver or json file (it has: cypher, graphml): the import reads the "
                              "driver or the APOC json format; export again with formats [driver]")


@pytest.mark.parametrize("version, dynamic", [
    ("5.26.19", True), ("5.26.0", True), ("2025.01.0", True), ("5.25.1", False), ("5.13.0", False),
    ("4.4.30", False), (None, False), ("", False),
])
def test_dynamic_labels_and_types_from_neo4j_5_26(version, dynamic):
    assert neo4j_export.supports_dynamic_tokens(version) is dynamic


# --- batching -------------------------------------------------------------------------------------

def test_batched_by_key_flushes_full_groups_then_the_rest():
    items = [{"type": t, "i": i} for i, t in enumerate("AABABBBAC")]

    batches = [(key, [item["i"] for item in rows])
               for key, rows in neo4j_export.batched(items, neo4j_export.relationship_type, 2)]

    assert batches == [("A", [0, 1]), ("B", [2, 4]), ("B", [5, 6]), ("A", [3, 7]), ("C", [8])]


def test_batched_without_key_is_one_stream():
    batches = list(neo4j_export.batched(range(7), None, 3))

    assert batches == [(None, [0, 1, 2]), (None, [3, 4, 5]), (None, [6])]


def test_batched_by_labels_keeps_label_sets_apart():
    rows = [{"labels": ["__Entity__", "__Mem0opsImport"]}, {"labels": ["Person", "__Mem0opsImport"]},
            {"labels": ["__Entity__", "__Mem0opsImport"]}]

    keys = [key for key, _rows in neo4j_export.batched(rows, neo4j_export.node_labels, 1000)]

    assert keys == [("__Entity__", "__Mem0opsImport"), ("Person", "__Mem0opsImport")]


# --- manifests and consistency ----------------------------------------------------------------------

COUNTS = {"nodes": 70, "relationships": 94, "labels": {"__Entity__": 70}, "embedding_dims": {"768": 70}}


def test_count_problems_flags_a_graph_that_changed_during_the_export():
    entry = {"name": "neo4j.cypher", "nodes": 71, "relationships": 94}

    assert neo4j_export.count_problems(entry, COUNTS) == [
        "neo4j.cypher holds 71 nodes, the graph had 70: the graph changed during the export"]
    assert neo4j_export.count_problems(dict(entry, nodes=70), COUNTS) == []


@pytest.mark.parametrize("change, same", [
    ({}, True),
    ({"formats": ["driver"]}, False),
    ({"compression": "gzip"}, False),
    ({"counts": dict(COUNTS, nodes=69)}, False),
    ({"schema": [{"kind": "index", "name": "entity_single", "statement": "CREATE INDEX ..."}]}, False),
    ({"status": mf.STATUS_QUARANTINED}, False),
])
def test_same_export(change, same):
    previous = {"status": mf.STATUS_VALID, "formats": ["driver", "cypher"], "compression": "none", "counts": COUNTS,
                "schema": []}
    previous.update(change)

    assert neo4j_export.same_export(previous, ["driver", "cypher"], "none", COUNTS, []) is same


def test_same_export_without_a_previous_manifest():
    assert neo4j_export.same_export(None, ["driver"], "none", COUNTS, []) is False


@pytest.mark.parametrize("code, hint", [
    (errno.ENOSPC, "free space there or choose another dest; the partial file was removed"),
    (errno.EACCES, "choose a directory this user (uid %d) can write to, or run the task as one who can" % os.getuid()),
    (errno.EROFS, "choose a directory this user (uid %d) can write to, or run the task as one who can" % os.getuid()),
])
def test_explain_os_error(code, hint):
    message = neo4j_export.explain_os_error("write", "/backups/neo4j.cypher", OSError(code, os.strerror(code)))

    assert message.startswith("cannot write /backups/neo4j.cypher: %s; " % os.strerror(code))
    assert message.endswith(hint)


# --- export files -----------------------------------------------------------------------------------

LINES = ['{"type":"node","id":"1","labels":["__Entity__"],"properties":{"name":"mark"}}\n',
         '{"type":"relationship","id":"2","label":"USES","start":{"id":"1"},"end":{"id":"1"},"properties":{}}\n']


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_export_writer_hashes_what_it_writes_and_is_reproducible(tmp_path, compression):
    digests = []
    for name in ("a", "b"):
        path = str(tmp_path / name)
        writer = neo4j_export.ExportWriter(path, compression)
        for line in LINES:
            writer.write(line)
        digests.append(writer.close())
        assert digests[-1] == mf.sha256_file(path)
        assert os.stat(path).st_mode & 0o777 == 0o600

    assert digests[0] == digests[1]
    opener = gzip.open if compression == "gzip" else open
    with opener(str(tmp_path / "a"), "rt") as handle:
        assert handle.read() == "".join(LINES)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_records_reads_one_kind_at_a_time(tmp_path, compression):
    path = str(tmp_path / ("export.jsonl" + (".gz" if compression == "gzip" else "")))
    writer = neo4j_export.ExportWriter(path, compression)
    for line in LINES + ["\n"]:
        writer.write(line)
    writer.close()

    nodes = list(neo4j_export.Neo4jExport.records(path, "node"))
    rels = list(neo4j_export.Neo4jExport.records(path, "relationship"))

    assert [r["id"] for r in nodes] == ["1"] and [r["label"] for r in rels] == ["USES"]


def test_records_names_the_line_that_is_not_json(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text(LINES[0] + '{"type": "node", "id": \n')

    with pytest.raises(n4j.Neo4jError, match=r"export.jsonl line 2 is not JSON"):
        list(neo4j_export.Neo4jExport.records(str(path), "node"))


def test_json_line_is_sorted_compact_and_keeps_floats_exact():
    vector = [0.1, -0.5773502691896258, 1e-12]

    line = neo4j_export.json_line({"type": "node", "properties": {"embedding": vector, "name": "Müller"}})

    assert line == '{"properties":{"embedding":[0.1,-0.5773502691896258,1e-12],"name":"Müller"},"type":"node"}\n'
    assert json.loads(line)["properties"]["embedding"] == vector


# --- main(): arguments and failures before Neo4j is reached ------------------------------------------

def test_exported_needs_dest():
    result = run_main({"neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"] == "state is exported but all of the following are missing: dest"


def test_imported_needs_src():
    result = run_main({"state": "imported", "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"] == "state is imported but all of the following are missing: src"


@pytest.mark.parametrize("args, message", [
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"formats": []}, "formats must name at least one of cypher, graphml, json, driver"),
    ({"formats": ["csv"]}, "value of formats must be one or more of: cypher, graphml, json, driver. Got no match for: csv"),
])
def test_bad_arguments(tmp_path, args, message):
    result = run_main(dict(args, dest=str(tmp_path), neo4j_password=PASSWORD))

    assert result["failed"] and result["msg"] == message


def test_missing_driver_library(tmp_path, monkeypatch):
    monkeypatch.setattr(n4j, "HAS_NEO4J", False)
    monkeypatch.setattr(n4j, "NEO4J_IMPORT_ERROR", "ImportError: No module named 'neo4j'")

    result = run_main({"dest": str(tmp_path / "export"), "neo4j_password": PASSWORD})

    assert result["failed"] and "Failed to import the required Python library (neo4j)" in result["msg"]


def test_dest_that_is_a_file(tmp_path):
    target = tmp_path / "export"
    target.write_text("")

    result = run_main({"dest": str(target), "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"] == "dest %s exists and is not a directory" % target


def test_dest_under_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    dest = tmp_path / "file" / "export"

    result = run_main({"dest": str(dest), "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"] == "cannot create dest %s: %s is not a directory" % (dest, tmp_path / "file")


def test_not_a_bolt_uri_fails_before_connecting(tmp_path):
    result = run_main({"dest": str(tmp_path), "neo4j_uri": "http://127.0.0.1:7474", "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"].startswith("neo4j_uri 'http://127.0.0.1:7474' is not a Bolt URI")
    assert os.listdir(str(tmp_path)) == []


def test_nothing_listening_fails_clearly_and_writes_nothing(tmp_path):
    dest = tmp_path / "export"

    result = run_main({"dest": str(dest), "neo4j_uri": "bolt://127.0.0.1:1", "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"].startswith("nothing answers Bolt at 127.0.0.1:1: is the container running?")
    assert not dest.exists()
    assert PASSWORD not in json.dumps(result)


def export_dir(tmp_path, **change) -> str:
    """A small, valid export made of files with known checksums (not a real graph)."""
    base = tmp_path / "export"
    base.mkdir()
    (base / "neo4j.driver.jsonl").write_text("".join(LINES))
    (base / "neo4j.cypher").write_text("CREATE (n);\n")
    manifest = mf.new_manifest("neo4j_export")
    manifest.update(counts={"nodes": 1, "relationships": 1}, files=[
        dict(mf.file_entry(str(base / "neo4j.driver.jsonl"), str(base)), format="driver"),
        dict(mf.file_entry(str(base / "neo4j.cypher"), str(base)), format="cypher")])
    manifest.update(change)
    mf.write_json_atomic(str(base / mf.MANIFEST_NAME), manifest)
    return str(base)


def test_import_without_manifest(tmp_path):
    result = run_main({"state": "imported", "src": str(tmp_path), "neo4j_password": PASSWORD})

    assert result["failed"]
    assert result["msg"] == "no manifest at %s/manifest.json: is this a backup made by mem0ops.stack?" % tmp_path


def test_import_refuses_a_tampered_export_before_connecting(tmp_path):
    src = export_dir(tmp_path)
    with open(os.path.join(src, "neo4j.driver.jsonl"), "r+b") as handle:
        handle.write(b"[")
    digest = hashlib.sha256(open(os.path.join(src, "neo4j.driver.jsonl"), "rb").read()).hexdigest()

    result = run_main({"state": "imported", "src": src, "neo4j_uri": "bolt://127.0.0.1:1", "neo4j_password": PASSWORD})

    assert result["failed"]
    assert result["msg"].startswith("the export in %s does not match its manifest: neo4j.driver.jsonl has sha256 %s, "
                                    "the manifest says " % (src, digest))
    assert result["msg"].endswith("; nothing was imported")


def test_import_refuses_a_quarantined_export(tmp_path):
    src = export_dir(tmp_path, status=mf.STATUS_QUARANTINED,
                     problems=["neo4j.cypher holds 71 nodes, the graph had 70: the graph changed during the export"])

    result = run_main({"state": "imported", "src": os.path.join(src, mf.MANIFEST_NAME), "neo4j_password": PASSWORD})

    assert result["failed"]
    assert result["msg"] == ("the export in %s is quarantined (neo4j.cypher holds 71 nodes, the graph had 70: the graph "
                             "changed during the export): it is not imported" % src)


def test_import_refuses_another_kind_of_manifest(tmp_path):
    src = export_dir(tmp_path, kind="pgvector_dump")

    result = run_main({"state": "imported", "src": src, "neo4j_password": PASSWORD})

    assert result["failed"]
    assert result["msg"] == "%s/manifest.json describes a pgvector_dump, not a neo4j_export: nothing was imported" % src


def test_import_asked_for_a_format_the_export_lacks(tmp_path):
    src = export_dir(tmp_path)

    result = run_main({"state": "imported", "src": src, "import_format": "json", "neo4j_password": PASSWORD})

    assert result["failed"] and result["msg"].startswith("the export holds no json file (it has: cypher, driver)")
