# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgvector_restore: verification before, counts after, and every refusal, with PostgreSQL and pg_restore faked."""

from __future__ import annotations


import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mem0ops.stack.plugins.module_utils import adopt
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.modules import pgvector_restore
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
VECTOR_TABLES = [
    {"table": "mem0migrations", "column": "vector", "type": "vector(768)", "declared_dims": 768, "observed_dims": [768], "rows": 1},
    {"table": "memories", "column": "vector", "type": "vector(768)", "declared_dims": 768, "observed_dims": [768], "rows": 1968},
]


class Cluster:
    """The databases of a fake server: name -> namespaces of its memories table (None: empty database)."""

    def __init__(self):
        self.databases = {"mem0_lab": dict(SEEDED)}
        self.statements = []
        self.restored_namespaces = dict(SEEDED)
        self.dsm = "posix"


class FakeClient:
    def __init__(self, params, cluster):
        self.params = params
        self.cluster = cluster

    def connect(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        pass

    def namespaces(self):
        return self.cluster.databases.get(self.params["db"])

    def query(self, sql, params=None):
        if "dynamic_shared_memory_type" in sql:
            return [{"t": self.cluster.dsm}]
        if "FROM pg_database" in sql:
            return [{"n": int(params[0] in self.cluster.databases)}]
        if "FROM pg_class c" in sql:
            present = self.namespaces() is not None
            return [{"n": 4 if present else 0, "tables": "mem0migrations, memories" if present else ""}]
        if "to_regclass(quote_ident" in sql or "to_regclass('mem0migrations')" in sql:
            return [{"present": self.namespaces() is not None}]
        if "AS namespace" in sql:
            return [{"namespace": ns, "memories": n} for ns, n in sorted(self.namespaces().items())]
        if "AS type" in sql:
            return [{"type": "user_identity", "n": 1}]
        if "vector_dims" in sql:
            rows = sum(self.namespaces().values()) if '"memories"' in sql else 1
            return [{"n": rows, "dims": [768]}]
        raise AssertionError("unexpected query: %s" % sql)

    def scalar(self, sql, params=None):
        return next(iter(self.query(sql, params)[0].values()))

    def execute(self, sql, params=None):
        self.cluster.statements.append((self.params["db"], sql))
        if sql.startswith("CREATE DATABASE"):
            self.cluster.databases[sql.split('"')[1]] = None
        if sql.startswith("DROP DATABASE"):
            self.cluster.databases.pop(sql.split('"')[1], None)

    def vector_columns(self):
        if self.namespaces() is None:
            return []
        return [{"table": t["table"], "column": t["column"], "type": t["type"]} for t in VECTOR_TABLES]

    def client_args(self):
        return ["-h", self.params["login_host"], "-p", str(self.params["login_port"]), "-U", self.params["login_user"]]


class FakeRunner:
    def __init__(self, cluster):
        self.cluster = cluster
        self.version = b"pg_restore (PostgreSQL) 17.11 (Debian 17.11-0+deb13u1)\n"
        self.calls = []
        self.fail = None
        self.staged = []
        self.closed = False

    def run(self, argv, env=None):
        if argv[1:] == ["--version"]:
            return 0, self.version, b""
        self.calls.append((argv, env))
        if self.fail:
            return 1, b"", self.fail
        if argv[0] == "bash":  # the plain-SQL load: bash -c LOAD_SCRIPT name file database ...
            self.cluster.databases[argv[5]] = dict(self.cluster.restored_namespaces)
            return 0, b"", b""
        target = [a for a in argv if a.startswith("--dbname=")][0].split("=", 1)[1]
        if "--section=post-data" not in argv:
            self.cluster.databases[target] = dict(self.cluster.restored_namespaces)
        return 0, b"", b""

    def stage(self, path, sha256):
        self.staged.append((path, sha256))
        return path

    def shm_bytes(self):
        return 1 << 30

    def unstage(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def cluster(monkeypatch):
    state = Cluster()
    state.runner = FakeRunner(state)
    monkeypatch.setattr(pgvector_restore, "client_from_module", lambda module: FakeClient(module.params, state))
    monkeypatch.setattr(pgvector_restore, "PostgresClient", lambda params: FakeClient(params, state))
    monkeypatch.setattr(pgvector_restore, "make_runner", lambda module, client: state.runner)
    return state


@pytest.fixture
def dump(tmp_path):
    """A dump directory as pgvector_dump writes it."""
    directory = tmp_path / "dump"
    directory.mkdir()
    (directory / "mem0_lab_x.dump").write_bytes(b"PGDMP" + b"z" * 64)
    (directory / "mem0_lab_x.schema.sql").write_text("-- schema\n")
    data = mf.new_manifest("pgvector_dump")
    data.update(database="mem0_lab", pg_dump_version="17.11", collection="memories",
                counts={"memories": {"total": 1968, "selected": 1968, "namespaces": dict(SEEDED)},
                        "mem0migrations": {"present": True, "rows": 1, "types": {"user_identity": 1}}},
                vector_tables=VECTOR_TABLES)
    for name, fmt in (("mem0_lab_x.dump", "custom"), ("mem0_lab_x.schema.sql", "schema")):
        entry = mf.file_entry(str(directory / name), str(directory))
        entry["format"] = fmt
        data["files"].append(entry)
    mf.write_json_atomic(str(directory / "manifest.json"), data)
    return directory


@pytest.fixture
def warned(monkeypatch):
    """The warnings the module gives."""
    seen = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning: seen.append(warning))
    return seen


def args(src, **extra):
    base = {"login_host": "127.0.0.1", "login_port": 5433, "login_user": "mem0_user_lab", "login_password": "pw",
            "db": "mem0_lab", "src": str(src), "target_db": "mem0_restore"}
    base.update(extra)
    return base


def run(module_args):
    with set_module_args(module_args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            pgvector_restore.main()
    return exc.value.result


def rewrite_manifest(directory, **changes):
    data = mf.read_manifest(str(directory))
    data.update(changes)
    mf.write_json_atomic(str(directory / "manifest.json"), data)


# --- pure logic ------------------------------------------------------------------------------------------

def test_differences_name_each_namespace():
    manifest = {"counts": {"memories": {"total": 1968, "namespaces": dict(SEEDED)}, "mem0migrations": {"rows": 1}},
                "vector_tables": VECTOR_TABLES}
    counts = {"memories": {"total": 1890, "namespaces": dict(SEEDED, **{"mark_carey/sap": 600})},
              "mem0migrations": {"rows": 0}}
    tables = [dict(VECTOR_TABLES[1], rows=1890, type="vector(1536)")]
    assert pgvector_restore.differences(manifest, counts, tables) == [
        "memories in namespace 'mark_carey/sap': manifest 678, restored 600",
        "memories in total: manifest 1968, restored 1890",
        "mem0migrations rows: manifest 1, restored 0",
        "vector column mem0migrations.vector (vector(768)): in the manifest, missing from the restored database",
        "vector column memories.vector: manifest vector(768), restored vector(1536)",
        "rows of memories: manifest 1968, restored 1890",
    ]
    assert pgvector_restore.differences(manifest, manifest["counts"], VECTOR_TABLES) == []


# --- the module ------------------------------------------------------------------------------------------

def test_restore_deferred_creates_restores_and_proves_the_counts(dump, cluster):
    result = run(args(dump, index_phase="deferred", jobs=4, maintenance_work_mem="1GB", max_parallel_maintenance_workers=3))

    assert "failed" not in result and result["changed"] is True
    assert result["created"] is True and result["cleaned"] is False and result["checksums_verified"] is True
    assert result["file"] == str(dump / "mem0_lab_x.dump")
    assert ("mem0_lab", 'CREATE DATABASE "mem0_restore" TEMPLATE template0') in cluster.statements
    assert ("mem0_restore", "ANALYZE") in cluster.statements
    (first, first_env), (second, second_env) = cluster.runner.calls
    assert first[-3:] == ["--section=pre-data", "--section=data", str(dump / "mem0_lab_x.dump")]
    assert second[-2:] == ["--section=post-data", str(dump / "mem0_lab_x.dump")]
    assert "--jobs=4" in first and "--exit-on-error" in first and "--dbname=mem0_restore" in first and "--clean" not in first
    assert first_env is None
    assert second_env == {"PGOPTIONS": "-c maintenance_work_mem=1GB -c max_parallel_maintenance_workers=3"}
    assert result["data_seconds"] is not None and result["index_seconds"] is not None
    assert result["restore_seconds"] == pytest.approx(result["data_seconds"] + result["index_seconds"], abs=0.002)
    assert result["counts"]["memories"] == {"total": 1968, "namespaces": SEEDED}
    assert result["differences"] == [] and result["vector_tables"] == VECTOR_TABLES
    assert cluster.runner.staged == [(str(dump / "mem0_lab_x.dump"), result["manifest"]["files"][0]["sha256"])]
    assert cluster.runner.closed


def test_restore_together_in_one_run(dump, cluster):
    result = run(args(dump / "manifest.json", maintenance_work_mem=""))
    assert "failed" not in result and result["data_seconds"] is None and result["index_seconds"] is None
    ((argv, env),) = cluster.runner.calls
    assert not any(a.startswith("--section") for a in argv)
    assert env == {"PGOPTIONS": "-c max_parallel_maintenance_workers=2"}
    assert result["index_settings"] == {"maintenance_work_mem": None, "max_parallel_maintenance_workers": 2}


@pytest.mark.parametrize("shm, dsm, workers", [(64 << 20, "posix", 0), (1 << 30, "posix", 2), (64 << 20, "mmap", 2),
                                               (None, "posix", 2)])
def test_parallel_index_builds_need_room_in_dev_shm(dump, cluster, shm, dsm, workers, warned):
    cluster.runner.shm_bytes = lambda: shm
    cluster.dsm = dsm
    result = run(args(dump, maintenance_work_mem="512MB"))
    assert result["index_settings"] == {"maintenance_work_mem": "512MB", "max_parallel_maintenance_workers": workers}
    assert any("is more than the 64 MiB free in /dev/shm of container" in w for w in warned) is (workers == 0)
    assert cluster.runner.calls[0][1] == {
        "PGOPTIONS": "-c maintenance_work_mem=512MB -c max_parallel_maintenance_workers=%d" % workers}


def test_memory_bytes():
    assert pgvector_restore.memory_bytes("512MB") == 512 << 20
    assert pgvector_restore.memory_bytes("1 GB") == 1 << 30
    assert pgvector_restore.memory_bytes("65536") == 64 << 20


def test_checksum_mismatch_refuses_before_connecting(dump, cluster, monkeypatch):
    (dump / "mem0_lab_x.dump").write_bytes(b"PGDMP" + b"Z" * 64)
    monkeypatch.setattr(pgvector_restore, "client_from_module", lambda module: pytest.fail("connected"))
    result = run(args(dump))
    assert result["msg"].startswith("the dump in %s does not match its manifest, refusing to restore: mem0_lab_x.dump has "
                                    "sha256 " % dump)
    assert result["checksums_verified"] is False and result["changed"] is False


def test_missing_file_refuses(dump, cluster):
    (dump / "mem0_lab_x.schema.sql").unlink()
    result = run(args(dump))
    assert result["msg"].endswith("refusing to restore: mem0_lab_x.schema.sql is missing")


def test_quarantined_dump_needs_allow_quarantined(dump, cluster):
    rewrite_manifest(dump, status="quarantined", problems=["expected at least 100 memories (min_memories) in total, found 0"])
    result = run(args(dump))
    assert result["msg"] == ("the dump in %s is quarantined (expected at least 100 memories (min_memories) in total, found 0): "
                             "refusing to restore it; set allow_quarantined=true to restore it anyway" % dump)
    assert "failed" not in run(args(dump, allow_quarantined=True))


def test_dump_without_custom_format(dump, cluster):
    data = mf.read_manifest(str(dump))
    rewrite_manifest(dump, files=[f for f in data["files"] if f["format"] != "custom"])
    result = run(args(dump))
    assert result["msg"] == ("the dump in %s has neither a custom-format file nor a gzip-compressed plain-SQL one (it "
                             "holds schema (?)): dump with formats including custom" % dump)


@pytest.fixture
def plain(dump):
    """The PostgreSQL part of an adopted set: the old .sql.gz, format plain, compression gzip."""
    (dump / "mem0_20260103_133102.sql.gz").write_bytes(b"\x1f\x8b" + b"z" * 64)
    entry = mf.file_entry(str(dump / "mem0_20260103_133102.sql.gz"), str(dump))
    entry.update(format="plain", compression="gzip")
    rewrite_manifest(dump, files=[entry], pg_dump_version="17.5")
    return dump


def test_a_plain_sql_part_is_loaded_as_the_adoption_loads_it_and_counted(plain, cluster):
    cluster.runner.version = b"psql (PostgreSQL) 17.11 (Debian 17.11-0+deb13u1)\n"
    result = run(args(plain, connect_via="docker_exec", container="mem0_postgres_lab", index_phase="deferred"))
    assert "failed" not in result and result["loader"] == "plain", result
    assert result["file"] == str(plain / "mem0_20260103_133102.sql.gz")
    ((argv, env),) = cluster.runner.calls
    assert argv[:3] == ["bash", "-c", adopt.LOAD_SCRIPT] and argv[4:8] == [
        str(plain / "mem0_20260103_133102.sql.gz"), "mem0_restore", adopt.LOAD_FILTER, adopt.LOAD_CHECK]
    assert argv[8:10] == ["psql", "--no-password"] and "ON_ERROR_STOP=1" in argv[2]
    assert env == {"PGOPTIONS": "-c maintenance_work_mem=512MB -c max_parallel_maintenance_workers=2"}
    assert result["index_seconds"] == 0.0 and result["counts"]["memories"]["total"] == 1968
    assert result["differences"] == []


def test_a_plain_sql_part_is_loaded_into_an_empty_database_only(plain, cluster):
    cluster.databases["mem0_restore"] = dict(SEEDED)
    result = run(args(plain, connect_via="docker_exec", container="mem0_postgres_lab", clean=True))
    assert result["failed"] and "a plain-SQL dump is loaded into an empty database only" in result["msg"]
    assert cluster.runner.calls == []


def test_a_failing_plain_load_fails_with_its_message(plain, cluster):
    cluster.runner.fail = b"ERROR:  mem0ops: the dump does not end with pg_dump's closing line"
    result = run(args(plain, connect_via="docker_exec", container="mem0_postgres_lab"))
    assert result["failed"] and "the load of the plain-SQL dump (gunzip | psql, ON_ERROR_STOP, one transaction) " \
        "failed with exit code 1: ERROR:  mem0ops: the dump does not end" in result["msg"]
    assert "mem0_restore" not in cluster.databases


def test_not_a_dump_manifest(dump, cluster):
    rewrite_manifest(dump, kind="neo4j_export")
    assert run(args(dump))["msg"] == "%s describes a 'neo4j_export', not a pgvector_dump" % (dump / "manifest.json")


def test_no_manifest(tmp_path, cluster):
    assert run(args(tmp_path))["msg"].startswith("no manifest at %s" % (tmp_path / "manifest.json"))


def test_refuses_a_database_that_is_not_empty(dump, cluster):
    cluster.databases["mem0_restore"] = dict(SEEDED)
    result = run(args(dump))
    assert result["msg"] == ("database 'mem0_restore' is not empty (4 relations; tables: mem0migrations, memories): refusing "
                             "to restore over it; set clean=true to replace the objects of the dump in it, or restore into "
                             "a new target_db")
    assert cluster.runner.calls == []


def test_clean_restores_over_a_database(dump, cluster):
    cluster.databases["mem0_restore"] = {"mark_carey/sap": 3}
    result = run(args(dump, clean=True))
    assert "failed" not in result and result["cleaned"] is True and result["created"] is False
    ((argv, dummy),) = cluster.runner.calls
    assert "--clean" in argv and "--if-exists" in argv
    assert not any(sql.startswith("CREATE DATABASE") for dummy, sql in cluster.statements)


def test_refuses_a_missing_database_without_create(dump, cluster):
    assert run(args(dump, create=False))["msg"] == "database 'mem0_restore' does not exist: create it, or set create=true"


def test_pg_restore_too_old_for_the_dump(dump, cluster):
    cluster.runner.version = b"pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"
    result = run(args(dump))
    assert result["msg"] == ("pg_restore 15.18 on the managed host cannot read a dump made by pg_dump 17.11: use "
                             "connect_via=docker_exec to run the pg_restore of the database container, or point bin_dir at "
                             "a PostgreSQL 17 client")


def test_failed_restore_drops_the_database_it_created(dump, cluster):
    cluster.runner.fail = b'pg_restore: error: could not execute query: ERROR:  type "vector" does not exist'
    result = run(args(dump))
    assert result["msg"] == ('pg_restore (all sections) failed with exit code 1: pg_restore: error: could not execute query: '
                             'ERROR:  type "vector" does not exist; database \'mem0_restore\', created for this restore, '
                             'was dropped again')
    assert "mem0_restore" not in cluster.databases


def test_count_mismatch_fails_with_the_differences(dump, cluster):
    cluster.restored_namespaces = dict(SEEDED, **{"mark_carey/booking": 30})
    result = run(args(dump))
    assert result["msg"] == ("database 'mem0_restore' does not hold what the manifest says (left in place for inspection): "
                             "memories in namespace 'mark_carey/booking': manifest 33, restored 30; memories in total: "
                             "manifest 1968, restored 1965; rows of memories: manifest 1968, restored 1965")
    assert "mem0_restore" in cluster.databases


def test_check_mode_changes_nothing(dump, cluster):
    result = run(args(dump, _ansible_check_mode=True))
    assert result["changed"] is True and result["created"] is True and result["checksums_verified"] is True
    assert cluster.statements == [] and cluster.runner.calls == [] and cluster.runner.staged == []


@pytest.mark.parametrize("extra, message", [
    ({"jobs": 0}, "jobs must be at least 1; got 0"),
    ({"maintenance_work_mem": "1GB -c fsync=off"}, "maintenance_work_mem must be a size such as 512MB or 1GB"),
    ({"max_parallel_maintenance_workers": -1}, "max_parallel_maintenance_workers must not be negative; got -1"),
])
def test_bad_inputs(dump, cluster, extra, message):
    assert message in run(args(dump, **extra))["msg"]


# --- the other databases of a databases=all dump -------------------------------------------------------------

APP_TABLES = [{"table": "api_keys", "rows": 3}, {"table": "settings", "rows": 1}, {"table": "users", "rows": 2}]


class ClusterClient(FakeClient):
    """FakeClient that also holds the tables of the other databases (cluster.tables: database -> table counts)."""

    def query(self, sql, params=None):
        if "pg_terminate_backend" in sql:
            self.cluster.statements.append((self.params["db"], "terminate %s" % params[0]))
            return [{"n": 0}]
        if "AS relname" in sql:
            return [{"schema": "public", "relname": t["table"], "table": t["table"]}
                    for t in self.cluster.tables.get(self.params["db"], [])]
        if "UNION ALL" in sql or sql.startswith("SELECT 0 AS i"):
            return [{"i": i, "n": t["rows"]} for i, t in enumerate(self.cluster.tables.get(self.params["db"], []))]
        return super().query(sql, params)


@pytest.fixture
def with_app(monkeypatch, cluster, dump):
    """The dump holds mem0_app too; pg_restore of it fills the target with the manifest's rows."""
    (dump / "mem0_lab_x.mem0_app.dump").write_bytes(b"PGDMP" + b"a" * 32)
    (dump / "mem0_lab_x.roles.sql").write_text("CREATE ROLE mem0_user_lab;\n")
    app = dict(mf.file_entry(str(dump / "mem0_lab_x.mem0_app.dump"), str(dump)), database="mem0_app", format="custom",
               tables=APP_TABLES)
    roles = dict(mf.file_entry(str(dump / "mem0_lab_x.roles.sql"), str(dump)), roles=1, password_hashes=False)
    rewrite_manifest(dump, scope="all", databases=[app], roles=roles)
    cluster.tables = {}
    monkeypatch.setattr(pgvector_restore, "client_from_module", lambda module: ClusterClient(module.params, cluster))
    monkeypatch.setattr(pgvector_restore, "PostgresClient", lambda params: ClusterClient(params, cluster))
    original = cluster.runner.run

    def run_tool(argv, env=None):
        result = original(argv, env)
        if argv[-1].endswith(".mem0_app.dump"):
            target = [a for a in argv if a.startswith("--dbname=")][0].split("=", 1)[1]
            cluster.tables[target] = list(cluster.restored_app)
        return result
    cluster.runner.run = run_tool
    cluster.restored_app = APP_TABLES
    return dump


def test_other_databases_go_beside_a_target_of_another_name(with_app, cluster):
    result = run(args(with_app))
    assert "failed" not in result, result.get("msg")
    assert [(d["database"], d["target"], d["created"], d["replaced"], d["cleaned"]) for d in result["databases"]] == [
        ("mem0_app", "mem0_restore_mem0_app", True, False, False)]
    assert result["databases"][0]["tables"] == APP_TABLES and result["databases"][0]["differences"] == []
    assert result["roles_file"] == str(with_app / "mem0_lab_x.roles.sql")
    assert ("mem0_lab", 'CREATE DATABASE "mem0_restore_mem0_app" TEMPLATE template0') in cluster.statements
    app_restore = [argv for argv, env in cluster.runner.calls if argv[-1].endswith(".mem0_app.dump")]
    assert len(app_restore) == 1 and "--dbname=mem0_restore_mem0_app" in app_restore[0]
    assert "--clean" not in app_restore[0]


def test_a_restore_of_the_stack_replaces_its_other_databases(with_app, cluster):
    cluster.databases["mem0_app"] = None
    result = run(args(with_app, target_db="mem0_lab", db="postgres", clean=True))
    assert "failed" not in result, result.get("msg")
    assert [(d["target"], d["created"], d["replaced"]) for d in result["databases"]] == [("mem0_app", True, True)]
    assert [s for s in cluster.statements if "mem0_app" in s[1]] == [
        ("postgres", "terminate mem0_app"), ("postgres", 'DROP DATABASE IF EXISTS "mem0_app"'),
        ("postgres", 'CREATE DATABASE "mem0_app" TEMPLATE template0')]


def test_the_database_the_module_connects_to_is_cleaned_not_dropped(with_app, cluster):
    result = run(args(with_app, db="mem0_app", database_prefix=""))
    assert "failed" not in result, result.get("msg")
    assert [(d["target"], d["created"], d["replaced"], d["cleaned"]) for d in result["databases"]] == [
        ("mem0_app", False, False, True)]
    assert not [s for s in cluster.statements if "mem0_app" in s[1]]
    assert "--clean" in [argv for argv, env in cluster.runner.calls if argv[-1].endswith(".mem0_app.dump")][0]


def test_check_mode_says_what_it_would_do_with_the_other_databases(with_app, cluster):
    result = run(dict(args(with_app), _ansible_check_mode=True))
    assert "failed" not in result and result["changed"] is True
    assert [(d["target"], d["created"]) for d in result["databases"]] == [("mem0_restore_mem0_app", True)]
    assert cluster.statements == [] and cluster.runner.calls == []


def test_other_databases_that_differ_from_the_manifest_fail(with_app, cluster):
    cluster.restored_app = [dict(APP_TABLES[0], rows=1), APP_TABLES[2]]
    result = run(args(with_app))
    assert result["failed"] is True
    assert result["msg"] == ("the other databases do not hold what the manifest says (left in place for inspection): "
                             "database mem0_restore_mem0_app: rows of api_keys: manifest 3, restored 1; "
                             "database mem0_restore_mem0_app: table settings: in the manifest (1 rows), missing from "
                             "the restored database")


def test_databases_stack_restores_the_target_only(with_app, cluster):
    result = run(args(with_app, databases="stack"))
    assert "failed" not in result and result["databases"] == []
    assert not [argv for argv, env in cluster.runner.calls if argv[-1].endswith(".mem0_app.dump")]


def test_a_changed_file_of_another_database_is_refused(with_app, cluster):
    (with_app / "mem0_lab_x.mem0_app.dump").write_bytes(b"PGDMP" + b"b" * 32)
    result = run(args(with_app))
    assert result["failed"] is True and "does not match its manifest" in result["msg"]
    assert "mem0_lab_x.mem0_app.dump has sha256" in result["msg"] and cluster.runner.calls == []


def test_a_failing_restore_of_another_database_drops_what_it_created(with_app, cluster):
    original = cluster.runner.run

    def fail_app(argv, env=None):
        if argv[-1].endswith(".mem0_app.dump"):
            return 1, b"", b"pg_restore: error: could not execute query"
        return original(argv, env)
    cluster.runner.run = fail_app
    result = run(args(with_app))
    assert result["failed"] is True
    assert result["msg"].startswith("database 'mem0_app' of the dump: pg_restore (all sections) failed with exit code 1")
    assert result["msg"].endswith("database 'mem0_restore_mem0_app', created for this restore, was dropped again")
    assert "mem0_restore_mem0_app" not in cluster.databases
