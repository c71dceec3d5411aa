# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgvector_dump: its logic and failure messages, with the database and pg_dump replaced by fakes."""

from __future__ import annotations

import json
import os
import stat
from collections import namedtuple

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.modules import pgvector_dump, pgvector_restore
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
CUSTOM = b"PGDMP\x01\x10\x00" + b"x" * 100
PLAIN = b"\x1f\x8b\x08\x00" + b"y" * 50
SCHEMA = b"--\n-- PostgreSQL database dump\n--\n"
PASSWORD = "s3cr:t\\pw"


class FakeClient:
    """Answers the module's queries from a small in-memory picture of a mem0 database."""

    def __init__(self, params, namespaces=None, collection_present=True, server_version_num=170011):
        self.params = params
        self.via = params["connect_via"]
        self.namespaces = SEEDED if namespaces is None else namespaces
        self.collection_present = collection_present
        self.server_version_num = server_version_num
        self.statements = []
        self.closed = False

    def query(self, sql, params=None):
        if "to_regclass(quote_ident" in sql:
            return [{"present": self.collection_present}]
        if "to_regclass('mem0migrations')" in sql:
            return [{"present": True}]
        if "AS namespace" in sql:
            return [{"namespace": ns, "memories": n} for ns, n in sorted(self.namespaces.items())]
        if "AS type" in sql:
            return [{"type": "user_identity", "n": 1}]
        if "vector_dims" in sql:
            rows = sum(self.namespaces.values()) if '"memories"' in sql else 1
            return [{"n": rows, "dims": [768] if rows else []}]
        if "data_bytes" in sql:
            return [{"data_bytes": 9_000_000, "database_bytes": 25_000_000}]
        if "pg_export_snapshot" in sql:
            return [{"pg_export_snapshot": "0000005E-00000004-1"}]
        raise AssertionError("unexpected query: %s" % sql)

    def scalar(self, sql, params=None):
        return next(iter(self.query(sql, params)[0].values()))

    def execute(self, sql, params=None):
        self.statements.append(sql)

    def server_facts(self):
        return {"server_version": "17.11", "server_version_num": self.server_version_num, "system_identifier": "7710895042352013342",
                "pgvector_version": "0.8.0", "database": self.params["db"], "user": self.params["login_user"]}

    def vector_columns(self):
        return [{"table": "mem0migrations", "column": "vector", "type": "vector(768)"},
                {"table": "memories", "column": "vector", "type": "vector(768)"}]

    def client_args(self):
        return ["-h", self.params["login_host"], "-p", str(self.params["login_port"]), "-U", self.params["login_user"]]

    def close(self):
        self.closed = True


class FakeRunner:
    """pg_dump that writes canned bytes; `fail` maps a format to (exit code, stderr) after writing part of its output."""

    def __init__(self, version=b"pg_dump (PostgreSQL) 17.11 (Debian 17.11-0+deb13u1)\n", fail=None, output=None,
                 zstd=True):
        self.version = version
        self.fail = fail or {}
        self.output = output or {}
        self.zstd = zstd
        self.dumps = []
        self.closed = False

    def run(self, argv, env=None):
        if argv[1:] == ["--version"]:
            return 0, self.version, b""
        if any(a.startswith("--dbname=host=/nonexistent") for a in argv):
            return 1, b"", (b"connection to server failed" if self.zstd else
                            b"pg_dump: error: this build does not support compression with ZSTD")
        raise AssertionError("unexpected command: %s" % argv)

    def dump(self, argv, path):
        fmt = "schema" if "--schema-only" in argv else ("custom" if "--format=custom" in argv else "plain")
        self.dumps.append(argv)
        data = self.output.get(fmt, {"custom": CUSTOM, "plain": PLAIN, "schema": SCHEMA}[fmt])
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2] if fmt in self.fail else data)
        if fmt in self.fail:
            return self.fail[fmt][0], self.fail[fmt][1], None
        return 0, b"", None

    def close(self):
        self.closed = True


class Fakes:
    """What the module connected to: `options` shape the next client, `clients` and `runner` show what it did."""

    def __init__(self):
        self.clients = []
        self.options = {}
        self.runner = FakeRunner()

    def client_from_module(self, module):
        client = FakeClient(module.params, **self.options)
        self.clients.append(client)
        return client


@pytest.fixture
def fakes(monkeypatch):
    state = Fakes()
    monkeypatch.setattr(pgvector_dump, "client_from_module", state.client_from_module)
    monkeypatch.setattr(pgvector_dump, "make_runner", lambda module, client: state.runner)
    return state


@pytest.fixture
def warned(monkeypatch):
    """The warnings the module gives."""
    seen = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning: seen.append(warning))
    return seen


def args(dest, **extra):
    """The stack's database only (databases=stack); the tests of databases=all name it."""
    base = {"login_host": "127.0.0.1", "login_port": 5433, "login_user": "mem0_user_lab", "login_password": PASSWORD,
            "db": "mem0_lab", "dest": str(dest), "databases": "stack"}
    base.update(extra)
    return base


def run(module_args):
    with set_module_args(module_args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            pgvector_dump.main()
    return exc.value.result


def final_files(directory):
    return sorted(name for name in os.listdir(directory) if not name.startswith(".")) if os.path.isdir(directory) else []


# --- pure logic ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ("auto", ("auto", None)), ("none", ("none", None)), ("gzip", ("gzip", None)), ("gzip:9", ("gzip", 9)),
    ("lz4:3", ("lz4", 3)), ("zstd:3", ("zstd", 3)), (" ZSTD:19 ", ("zstd", 19)),
])
def test_parse_compression(spec, expected):
    assert pgvector_dump.parse_compression(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("brotli", "compression must be auto, none, gzip, lz4 or zstd"),
    ("gzip:10", "the gzip level must be between 1 and 9; got 10"),
    ("zstd:0", "the zstd level must be between 1 and 22; got 0"),
    ("none:3", "compression 'none' takes no level"),
])
def test_parse_compression_rejects(spec, message):
    with pytest.raises(pgvector_dump.DumpError, match=message):
        pgvector_dump.parse_compression(spec)


@pytest.mark.parametrize("algorithm, level, major, expected", [
    ("zstd", 3, 17, "--compress=zstd:3"), ("gzip", None, 17, "--compress=gzip"), ("none", None, 16, "--compress=none"),
    ("gzip", 9, 15, "--compress=9"), ("gzip", None, 15, "--compress=6"), ("none", None, 15, "--compress=0"),
])
def test_compress_arg(algorithm, level, major, expected):
    assert pgvector_dump.compress_arg(algorithm, level, major) == expected


def test_compress_arg_refuses_zstd_before_16():
    with pytest.raises(pgvector_dump.DumpError, match="zstd compression needs pg_dump 16 or later; this pg_dump is 15"):
        pgvector_dump.compress_arg("zstd", 3, 15)


@pytest.mark.parametrize("selected, minimum, max_drop, baseline, problems, drop", [
    (1968, 100, None, None, [], None),
    (0, 100, None, None, ["expected at least 100 memories (min_memories) in total, found 0"], None),
    (1968, None, 50.0, {"memories": 1968, "source": "number"}, [], 0.0),
    (900, None, 50.0, {"memories": 2000, "source": "number"}, [
        "expected at most a 50% drop (max_drop_percent) from the baseline of 2000 memories (number) in total, "
        "found 900: a drop of 55%"], 55.0),
    (2100, None, 10.0, {"memories": 2000, "source": "number"}, [], -5.0),
    (5, None, 10.0, {"memories": 0, "source": "number"}, [], None),
])
def test_validate(selected, minimum, max_drop, baseline, problems, drop):
    assert pgvector_dump.validate(selected, None, minimum, max_drop, baseline) == (problems, drop)


def test_validate_names_the_namespace_prefix():
    problems, dummy = pgvector_dump.validate(0, "mark_carey/", 1, None, None)
    assert problems == ["expected at least 1 memories (min_memories) under namespace prefix 'mark_carey/', found 0"]


def write_manifest(directory, namespaces, status=mf.STATUS_VALID, kind="pgvector_dump"):
    os.makedirs(directory, exist_ok=True)
    data = mf.new_manifest(kind)
    data.update(status=status, collection="memories",
                counts={"memories": {"total": sum(namespaces.values()), "namespaces": namespaces}})
    mf.write_json_atomic(os.path.join(directory, mf.MANIFEST_NAME), data)
    return data


def test_baseline_from_a_number():
    assert pgvector_dump.resolve_baseline("1968", None, "memories") == ({"memories": 1968, "source": "number"}, [])
    assert pgvector_dump.resolve_baseline(None, None, "memories") == (None, [])


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_baseline_refuses_odd_numbers(value):
    with pytest.raises(pgvector_dump.DumpError, match="baseline must be a number of memories"):
        pgvector_dump.resolve_baseline(value, None, "memories")


def test_baseline_from_a_manifest_sums_the_prefix(tmp_path):
    write_manifest(tmp_path / "earlier", dict(SEEDED, other=5))
    baseline, warnings = pgvector_dump.resolve_baseline(str(tmp_path / "earlier"), "mark_carey/s", "memories")
    assert baseline["memories"] == 678 + 1243 and baseline["source"].endswith("earlier/manifest.json")
    assert warnings == []
    baseline, dummy = pgvector_dump.resolve_baseline(str(tmp_path / "earlier" / "manifest.json"), None, "memories")
    assert baseline["memories"] == 1968 + 5


def test_baseline_from_a_quarantined_manifest_warns(tmp_path):
    write_manifest(tmp_path, {"a": 1}, status=mf.STATUS_QUARANTINED)
    dummy, warnings = pgvector_dump.resolve_baseline(str(tmp_path), None, "other_table")
    assert any("is quarantined" in w for w in warnings) and any("counted table 'memories'" in w for w in warnings)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "is neither a number nor a readable manifest: no manifest at"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "is neither a number nor a readable manifest: cannot read"),
    (lambda p: write_manifest(p, {"a": 1}, kind="neo4j_export"), "is a 'neo4j_export' manifest, not a pgvector_dump manifest"),
])
def test_bad_baselines(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(pgvector_dump.DumpError, match=message):
        pgvector_dump.resolve_baseline(str(tmp_path), None, "memories")


def test_estimates_follow_the_format():
    assert pgvector_dump.estimate_bytes("custom", "zstd", 1000) == 1250
    assert pgvector_dump.estimate_bytes("custom", "none", 1000) == 3000
    assert pgvector_dump.estimate_bytes("plain", "none", 1000) == 1250
    assert pgvector_dump.estimate_bytes("schema", "zstd", 10 ** 9) == pgvector_dump.SCHEMA_ESTIMATE


def test_both_modules_count_the_same_way():
    client = FakeClient({"connect_via": "tcp"})
    assert pgvector_dump.mem0_counts(client.query, "memories") == pgvector_restore.mem0_counts(client.query, "memories")
    assert pgvector_dump.vector_tables(client.query, client.vector_columns()) == \
        pgvector_restore.vector_tables(client.query, client.vector_columns())


def test_counts_keep_mem0migrations_apart():
    counts = pgvector_dump.mem0_counts(FakeClient({"connect_via": "tcp"}).query, "memories")
    assert counts["memories"] == {"total": 1968, "namespaces": SEEDED}
    assert counts["mem0migrations"] == {"present": True, "rows": 1, "types": {"user_identity": 1}}


# --- the module ------------------------------------------------------------------------------------------

def test_dump_writes_every_format_and_the_manifest(tmp_path, fakes):
    dest = tmp_path / "daily" / "run1"
    result = run(args(dest, formats=["custom", "plain", "schema"], basename="mem0_lab_test", namespace_prefix="mark_carey/"))

    assert result["changed"] is True and "failed" not in result
    assert final_files(dest) == ["manifest.json", "mem0_lab_test.dump", "mem0_lab_test.schema.sql", "mem0_lab_test.sql.gz"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(dest / name).st_mode) == 0o600 for name in final_files(dest))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest == result["manifest"]
    assert manifest["kind"] == "pgvector_dump" and manifest["status"] == "valid" and manifest["problems"] == []
    assert manifest["counts"]["memories"] == {"total": 1968, "selected": 1968, "namespaces": SEEDED}
    assert manifest["counts"]["mem0migrations"]["rows"] == 1
    assert [(t["table"], t["declared_dims"], t["observed_dims"]) for t in manifest["vector_tables"]] == [
        ("mem0migrations", 768, [768]), ("memories", 768, [768])]
    assert [(f["name"], f["format"], f["compression"]) for f in manifest["files"]] == [
        ("mem0_lab_test.dump", "custom", "zstd:3"), ("mem0_lab_test.sql.gz", "plain", "gzip:6"),
        ("mem0_lab_test.schema.sql", "schema", "none")]
    assert mf.verify_files(manifest, str(dest)) == []
    assert manifest["bytes"] == len(CUSTOM) + len(PLAIN) + len(SCHEMA)
    assert manifest["snapshot"] == {"id": "0000005E-00000004-1", "consistent": True}
    assert manifest["system_identifier"] == "7710895042352013342" and manifest["pg_dump_version"] == "17.11"
    # one snapshot for the counts and every file, released at the end
    assert all("--snapshot=0000005E-00000004-1" in argv for argv in fakes.runner.dumps)
    assert fakes.clients[0].statements == ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "COMMIT"]
    assert not any(PASSWORD in " ".join(argv) for argv in fakes.runner.dumps)
    assert fakes.clients[0].closed and fakes.runner.closed


def test_default_names_carry_the_database_and_the_time(tmp_path, fakes):
    result = run(args(tmp_path))
    assert len(result["files"]) == 1
    assert os.path.basename(result["files"][0]).startswith("mem0_lab_") and result["files"][0].endswith(".dump")


def test_pg_dump_failure_behind_compression_leaves_no_final_file(tmp_path, fakes):
    fakes.runner.fail["plain"] = (1, b'pg_dump: error: Dumping the contents of table "memories" failed: PQgetResult() failed.')
    result = run(args(tmp_path, formats=["custom", "plain"]))

    assert result["failed"] is True
    assert result["msg"] == ('pg_dump (plain format) failed with exit code 1: pg_dump: error: Dumping the contents of table '
                             '"memories" failed: PQgetResult() failed.')
    assert os.listdir(tmp_path) == []  # neither the custom dump that succeeded nor any partial file
    assert result["files"] == [] and result["changed"] is False
    assert fakes.clients[0].statements[-1] == "ROLLBACK"


def test_an_exit_code_of_zero_with_a_broken_file_fails(tmp_path, fakes):
    fakes.runner.output["custom"] = b"SET statement_timeout = 0;"
    result = run(args(tmp_path))
    assert result["failed"] and "pg_dump (custom format) exited 0 but wrote b'SET stat': not a custom dump" in result["msg"]
    assert os.listdir(tmp_path) == []


def test_violation_keeps_the_dump_quarantined_and_fails(tmp_path, fakes):
    result = run(args(tmp_path, min_memories=5000, basename="q"))

    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith("the dump is quarantined: expected at least 5000 memories (min_memories) in total, found 1968.")
    assert "It is kept in %s" % tmp_path in result["msg"]
    assert final_files(tmp_path) == ["manifest.json", "q.dump"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "quarantined"
    assert manifest["problems"] == ["expected at least 5000 memories (min_memories) in total, found 1968"]
    assert result["manifest"] == manifest


def test_drop_from_an_earlier_manifest_quarantines(tmp_path, fakes):
    write_manifest(tmp_path / "earlier", {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "other/x": 7})
    fakes.options["namespaces"] = {"mark_carey/sap": 678, "other/x": 7}
    result = run(args(tmp_path / "now", namespace_prefix="mark_carey/", max_drop_percent=50,
                      baseline=str(tmp_path / "earlier")))

    assert result["failed"] is True
    source = str(tmp_path / "earlier" / "manifest.json")
    assert ("expected at most a 50% drop (max_drop_percent) from the baseline of 1921 memories (" + source + ") under "
            "namespace prefix 'mark_carey/', found 678: a drop of 64.71%") in result["msg"]
    assert result["manifest"]["validation"]["drop_percent"] == 64.71
    assert result["manifest"]["status"] == "quarantined"


def test_an_empty_database_without_limits_warns(tmp_path, fakes, warned):
    fakes.options["namespaces"] = {}
    with set_module_args(args(tmp_path)):
        with pytest.raises(AnsibleExitJson) as exc:
            pgvector_dump.main()
    assert exc.value.result["manifest"]["counts"]["memories"]["total"] == 0
    assert any("the dump holds no memories: set min_memories" in w for w in warned)


def test_bad_baseline_fails_before_connecting(tmp_path, fakes):
    result = run(args(tmp_path / "d", baseline=str(tmp_path / "nowhere"), max_drop_percent=10))
    assert result["msg"].startswith("baseline %r is neither a number nor a readable manifest: no manifest at" % str(tmp_path / "nowhere"))
    assert fakes.clients == [] and not (tmp_path / "d").exists()


def test_max_drop_percent_needs_a_baseline(tmp_path, fakes):
    result = run(args(tmp_path, max_drop_percent=10))
    assert "missing parameter(s) required by 'max_drop_percent': baseline" in result["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"formats": []}, "formats must name at least one of custom, plain, schema"),
    ({"formats": ["custom", "custom"]}, "formats lists a format twice: custom, custom"),
    ({"basename": "../x"}, "basename must be a plain file name"),
    ({"compression": "brotli"}, "compression must be auto, none, gzip, lz4 or zstd"),
    ({"min_memories": -1}, "min_memories must not be negative; got -1"),
    ({"max_drop_percent": 120, "baseline": "10"}, "max_drop_percent must be between 0 and 100; got 120"),
])
def test_bad_inputs(tmp_path, fakes, extra, message):
    result = run(args(tmp_path, **extra))
    assert message in result["msg"] and fakes.clients == []


def test_check_mode_writes_nothing_and_predicts(tmp_path, fakes):
    dest = tmp_path / "new"
    result = run(args(dest, formats=["custom", "plain"], basename="b", _ansible_check_mode=True))

    assert result["changed"] is True and "failed" not in result
    assert not dest.exists() and fakes.runner.dumps == []
    assert result["files"] == [str(dest / "b.dump"), str(dest / "b.sql.gz")]
    assert result["manifest"]["files"] == [] and result["manifest"]["counts"]["memories"]["total"] == 1968
    assert result["manifest"]["estimate"] == {"data_bytes": 9_000_000, "database_bytes": 25_000_000,
                                              "files": {"custom": 11_250_000, "plain": 11_250_000}}
    assert result["manifest"]["snapshot"] == {"id": None, "consistent": False}
    assert fakes.clients[0].statements == []  # no transaction, no snapshot


def test_check_mode_predicts_the_quarantine(tmp_path, fakes):
    result = run(args(tmp_path, min_memories=5000, _ansible_check_mode=True))
    assert result["msg"].startswith("the dump would be quarantined: expected at least 5000 memories")
    assert "Nothing was written (check mode)." in result["msg"] and os.listdir(tmp_path) == []


def test_refuses_to_overwrite_an_earlier_dump(tmp_path, fakes):
    write_manifest(tmp_path, SEEDED)
    result = run(args(tmp_path))
    assert result["msg"] == ("dest %s already holds a dump (manifest.json): use a new directory for each dump, or force=true "
                             "to replace it" % tmp_path)
    (tmp_path / "b.dump").write_bytes(b"old")
    (tmp_path / "manifest.json").unlink()
    result = run(args(tmp_path, basename="b"))
    assert result["msg"] == "%s already exists: choose another basename, or force=true to replace it" % (tmp_path / "b.dump")
    result = run(args(tmp_path, basename="b", force=True))
    assert (tmp_path / "b.dump").read_bytes() == CUSTOM and "failed" not in result


def test_dest_that_is_a_file(tmp_path, fakes):
    (tmp_path / "f").write_text("x")
    result = run(args(tmp_path / "f"))
    assert result["msg"] == "dest %s exists and is not a directory" % (tmp_path / "f")


def test_unwritable_dest(tmp_path, fakes, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(pgvector_dump.os, "access", lambda path, mode: False if str(path) == str(tmp_path) else real_access(path, mode))
    result = run(args(tmp_path))
    assert result["msg"] == "dest %s is not writable" % tmp_path


def test_not_enough_free_space(tmp_path, fakes, monkeypatch):
    monkeypatch.setattr(pgvector_dump.shutil, "disk_usage", lambda path: namedtuple("u", "total used free")(10, 5, 1_000_000))
    result = run(args(tmp_path))
    assert result["msg"] == ("not enough free space for the dump in %s: it needs about 10.7 MiB (estimated from 8.6 MiB of "
                             "table data in the catalog), 976.6 KiB is free" % tmp_path)
    assert os.listdir(tmp_path) == []


def test_missing_collection_table(tmp_path, fakes):
    fakes.options["collection_present"] = False
    result = run(args(tmp_path, collection="memories"))
    assert result["msg"].startswith("table 'memories' does not exist in this database: is this the database mem0 writes to")


def test_local_pg_dump_older_than_the_server(tmp_path, fakes):
    fakes.runner.version = b"pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"
    result = run(args(tmp_path))
    assert result["msg"].startswith("pg_dump 15.18 on the managed host is older than the server (PostgreSQL 17.11) and cannot "
                                    "dump it: use connect_via=docker_exec")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("version, zstd, expected", [
    (b"pg_dump (PostgreSQL) 17.11", True, "zstd:3"),
    (b"pg_dump (PostgreSQL) 17.11", False, "gzip"),
    (b"pg_dump (PostgreSQL) 15.18", True, "gzip"),
])
def test_auto_compression(tmp_path, fakes, version, zstd, expected):
    fakes.runner.version, fakes.runner.zstd = version, zstd
    fakes.options["server_version_num"] = 150008
    result = run(args(tmp_path))
    assert result["manifest"]["files"][0]["compression"] == expected


# --- databases=all: the cluster's other databases and its roles -----------------------------------------------

ROLES = b"--\n-- PostgreSQL database cluster dump\n--\nCREATE ROLE mem0_user_lab;\nALTER ROLE mem0_user_lab WITH SUPERUSER LOGIN;\n"
APP_TABLES = [{"table": "api_keys", "rows": 3}, {"table": "settings", "rows": 1}, {"table": "users", "rows": 2}]
OTHERS = {"mem0_app": APP_TABLES, "odd/name": []}


class ClusterClient(FakeClient):
    """FakeClient of a cluster that holds other databases (OTHERS) besides mem0_lab."""

    def other_databases(self, exclude):
        return [{"name": name, "bytes": 8_000_000} for name in sorted(OTHERS) if name != exclude]

    def query(self, sql, params=None):
        tables = OTHERS.get(self.params["db"], [])
        if "AS relname" in sql:
            return [{"schema": "public", "relname": t["table"], "table": t["table"]} for t in tables]
        if "UNION ALL" in sql or sql.startswith("SELECT 0 AS i"):
            return [{"i": i, "n": t["rows"]} for i, t in enumerate(tables)]
        return super().query(sql, params)

    def connect(self):
        return self


class ClusterRunner(FakeRunner):
    """pg_dump of any database, and pg_dumpall --roles-only that writes `roles`."""

    roles = ROLES
    fail_database = None  # (database, exit code, stderr): its pg_dump writes half a file and fails

    def dump(self, argv, path):
        if self.fail_database and "--dbname=%s" % self.fail_database[0] in argv:
            with open(path, "wb") as handle:
                handle.write(CUSTOM[:10])
            return self.fail_database[1], self.fail_database[2], None
        if argv[0] == "pg_dumpall":
            self.dumps.append(argv)
            with open(path, "wb") as handle:
                handle.write(self.roles)
            return 0, b"", None
        return super().dump(argv, path)


@pytest.fixture
def cluster(fakes, monkeypatch):
    fakes.runner = ClusterRunner()
    fakes.options = {}
    monkeypatch.setattr(pgvector_dump, "client_from_module", lambda module: fakes.clients.append(
        ClusterClient(module.params)) or fakes.clients[-1])
    monkeypatch.setattr(pgvector_dump, "PostgresClient", lambda params: fakes.clients.append(
        ClusterClient(params)) or fakes.clients[-1])
    return fakes


def test_database_file_names_are_safe_and_unique():
    assert pgvector_dump.database_file_names("b", ["mem0_app", "odd/name", "odd name", ".x"]) == [
        ("mem0_app", "b.mem0_app.dump"), ("odd/name", "b.odd_name.dump"), ("odd name", "b.odd_name_2.dump"),
        (".x", "b.x.dump")]


def test_all_dumps_every_other_database_and_the_roles(tmp_path, cluster):
    dest = tmp_path / "all"
    result = run(args(dest, basename="b", databases="all"))
    assert "failed" not in result, result.get("msg")
    assert final_files(dest) == ["b.dump", "b.mem0_app.dump", "b.odd_name.dump", "b.roles.sql", "manifest.json"]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["scope"] == "all" and [f["name"] for f in manifest["files"]] == ["b.dump"]
    assert manifest["bytes"] == len(CUSTOM)
    app, odd = manifest["databases"]
    assert (app["database"], app["name"], app["tables"], app["format"]) == ("mem0_app", "b.mem0_app.dump", APP_TABLES, "custom")
    assert (odd["database"], odd["tables"]) == ("odd/name", [])
    assert app["snapshot"] == {"id": "0000005E-00000004-1", "consistent": True}
    assert mf.verify_files({"files": manifest["databases"] + [manifest["roles"]]}, str(dest)) == []
    assert manifest["roles"]["roles"] == 1 and manifest["roles"]["password_hashes"] is False
    assert result["extra_files"] == [str(dest / n) for n in ("b.mem0_app.dump", "b.odd_name.dump", "b.roles.sql")]
    dumps = cluster.runner.dumps
    assert "--dbname=mem0_app" in dumps[1] and "--snapshot=0000005E-00000004-1" in dumps[1] and "--format=custom" in dumps[1]
    assert dumps[3][:5] == ["pg_dumpall", "--no-password", "--roles-only", "--no-role-passwords", "-h"]
    assert dumps[3][-1] == "--database=mem0_lab"
    # each other database from a snapshot of its own, released at the end
    assert [c.params["db"] for c in cluster.clients] == ["mem0_lab", "mem0_app", "odd/name"]
    assert all(c.statements == ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "COMMIT"] for c in cluster.clients)
    assert all(c.closed for c in cluster.clients)
    assert not any(PASSWORD in " ".join(argv) for argv in dumps)


@pytest.mark.parametrize("roles", [b"ALTER ROLE a WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc';\n",
                                   b"ALTER ROLE a WITH LOGIN PASSWORD 'md5" + b"0" * 32 + b"';\n"])
def test_a_roles_file_with_a_password_hash_is_not_kept(tmp_path, cluster, roles):
    cluster.runner.roles = roles
    result = run(args(tmp_path / "x", basename="b", databases="all"))
    assert result["failed"] is True
    assert result["msg"].startswith("the roles file of pg_dumpall holds a password or a password hash")
    assert final_files(tmp_path / "x") == [] and result["extra_files"] == [] and result["files"] == []


def test_a_failing_dump_of_another_database_leaves_no_file(tmp_path, cluster):
    cluster.runner.fail_database = ("mem0_app", 1, b"pg_dump: error: permission denied for table users")
    result = run(args(tmp_path / "x", basename="b", databases="all"))
    assert result["failed"] is True
    assert result["msg"] == ("pg_dump of database 'mem0_app' (custom format) failed with exit code 1: pg_dump: error: "
                             "permission denied for table users; set databases=stack to dump only 'mem0_lab'")
    assert os.listdir(tmp_path / "x") == [], "neither a final nor a partial file of any database"


def test_check_mode_predicts_the_other_databases(tmp_path, cluster):
    dest = tmp_path / "new"
    result = run(args(dest, basename="b", databases="all", _ansible_check_mode=True))
    assert "failed" not in result and not dest.exists() and cluster.runner.dumps == []
    assert result["extra_files"] == [str(dest / n) for n in ("b.mem0_app.dump", "b.odd_name.dump", "b.roles.sql")]
    assert [(d["database"], d["tables"]) for d in result["manifest"]["databases"]] == [
        ("mem0_app", APP_TABLES), ("odd/name", [])]
    assert result["manifest"]["roles"] == {"name": "b.roles.sql"}
    assert all(c.statements == [] for c in cluster.clients)


def test_stack_dumps_the_database_alone(tmp_path, cluster):
    result = run(args(tmp_path / "s", basename="b"))
    assert final_files(tmp_path / "s") == ["b.dump", "manifest.json"]
    assert result["extra_files"] == [] and result["manifest"]["databases"] == [] and result["manifest"]["roles"] is None
    assert result["manifest"]["scope"] == "stack"
