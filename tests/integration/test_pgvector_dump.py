"""pgvector_dump and pgvector_restore against the lab's real PostgreSQL, and a search through the real mem0 library.

Every database, directory and binary a test creates is removed again, also when it fails. The seeded database
(mem0_lab) is only read, except for the stand-in of mem0 2.x's <collection>_entities table that the module's dumps hold
(with a stand-in of the upstream server's second database, mem0_app, beside it: tests/integration/upstream_app.py);
both are removed at the end of the module.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf

from .labkit import run_playbook, task_result
from .upstream_app import APP_DATABASE, app_database, entities_table, overrides

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).parent / "playbooks"
SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
SEARCHES = [("mark_carey/booking", "hotel in Berlin"), ("mark_carey/sap", "S/4HANA migration with the platform team"),
            ("mark_carey/synovia", "Synovia pricing board deck"), ("mark_carey/personal", "running plan")]


def play(playbook: str, variables: dict, tmp: Path, *args: str) -> tuple[dict, dict]:
    """Run a test playbook with pgvector_* variables; returns (the task's result, the whole report)."""
    varfile = tmp / ("vars_%s.json" % secrets.token_hex(4))
    varfile.write_text(json.dumps({"pgvector_" + k: v for k, v in variables.items()}))
    varfile.chmod(0o600)
    try:
        report = run_playbook(str(PLAYBOOKS / playbook), "-e", "@%s" % varfile, *args)
    finally:
        varfile.unlink()
    name = "Dump" if playbook == "pgvector_dump.yml" else "Restore"
    return task_result(report, name), report


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


@pytest.fixture(scope="module")
def secret(stack) -> str:
    return stack["services"]["postgres"]["password"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pgvector")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def databases(pg):
    """Create scratch databases (names start with mem0_*_it_); all are dropped at the end, whatever happened."""
    created = []

    def admin():
        conn = pg("postgres")
        conn.autocommit = True
        return conn

    def make(prefix: str, setup: list[str] | None = None, create: bool = True) -> str:
        name = "%s_%s" % (prefix, secrets.token_hex(4))
        created.append(name)
        if create:
            conn = admin()
            try:
                with conn.cursor() as cur:
                    cur.execute('CREATE DATABASE "%s"' % name)
            finally:
                conn.close()
            if setup:
                with pg(name) as conn, conn.cursor() as cur:
                    for sql in setup:
                        cur.execute(sql)
                conn.close()
        return name

    make.track = created.append  # a database a module created, dropped at the end too
    yield make
    conn = admin()
    with conn.cursor() as cur:
        for name in created:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    conn.close()


@pytest.fixture(scope="module")
def upstream(pg, stack):
    """Today's mem0 beside the seeded memories: the upstream server's second database (mem0_app) and a 768-dim
    <collection>_entities table in the stack's database; both removed at the end of the module."""
    with app_database(pg, overrides(stack["embedding"]["model"], stack["embedding"]["dims"])) as rows, \
            entities_table(pg, stack["mem0"]["collection"], stack["embedding"]["dims"]) as entities:
        yield {"rows": rows, "entities": entities}


@pytest.fixture(scope="module")
def lab_dump(workdir, secret, upstream):
    """One dump of the seeded database with pg_dump inside the container, every format; with the cluster's other
    databases (mem0_app among them) and roles, as databases=all does by default."""
    dest = workdir / "lab_docker"
    result, report = play("pgvector_dump.yml", {"dest": str(dest), "formats": ["custom", "plain", "schema"],
                                                "namespace_prefix": "mark_carey/", "min_memories": 1000}, workdir)
    assert report["rc"] == 0, result.get("msg")
    assert secret not in report["raw"]
    return dest, result


@pytest.fixture(scope="module")
def host_pg17(stack, workdir):
    """The container's own pg_dump and pg_restore, runnable on this host with their libraries (a PostgreSQL 17 client)."""
    container = stack["services"]["postgres"]["container"]

    def sh(command: str) -> str:
        return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, check=True).stdout

    bindir = sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1").strip()
    target = workdir / "pg17"
    (target / "lib").mkdir(parents=True)
    libs = set(sh("ldd %s/pg_dump %s/pg_restore %s/pg_dumpall | awk '/=> \\// {print $3} /ld-linux/ {print $1}'"
                  % (bindir, bindir, bindir)).split())
    for lib in libs:
        subprocess.run(["docker", "cp", "-L", "%s:%s" % (container, lib), str(target / "lib")], check=True, capture_output=True)
    loader = next(p.name for p in (target / "lib").iterdir() if p.name.startswith("ld-linux"))
    for tool in ("pg_dump", "pg_restore", "pg_dumpall"):
        subprocess.run(["docker", "cp", "%s:%s/%s" % (container, bindir, tool), str(target / (tool + ".bin"))], check=True)
        wrapper = target / tool
        wrapper.write_text('#!/bin/sh\nexec "%s/lib/%s" --library-path "%s/lib" "%s/%s.bin" "$@"\n' % (target, loader, target, target, tool))
        wrapper.chmod(0o755)
    version = subprocess.run([str(target / "pg_dump"), "--version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        pytest.skip("the container's pg_dump does not run on this host: %s" % version.stderr.strip())
    return target


def check_lab_manifest(manifest: dict, dest: Path, stack: dict, pg) -> None:
    assert manifest["kind"] == "pgvector_dump" and manifest["status"] == "valid" and manifest["problems"] == []
    assert manifest["counts"]["memories"] == {"total": 1968, "selected": 1968, "namespaces": SEEDED}
    assert manifest["counts"]["mem0migrations"] == {"present": True, "rows": 1, "types": {"user_identity": 1}}
    tables = {t["table"]: t for t in manifest["vector_tables"]}
    dims = stack["embedding"]["dims"]
    assert tables[stack["mem0"]["collection"]] == {"table": "memories", "column": "vector", "type": "vector(%d)" % dims,
                                                   "declared_dims": dims, "observed_dims": [dims], "rows": 1968}
    assert tables["mem0migrations"]["rows"] == 1
    assert manifest["snapshot"]["consistent"] is True and manifest["snapshot"]["id"]
    assert manifest["database"] == stack["services"]["postgres"]["database"]
    assert manifest["user"] == stack["services"]["postgres"]["user"]
    with pg() as conn, conn.cursor() as cur:
        cur.execute("SELECT system_identifier::text, current_setting('server_version'), "
                    "(SELECT extversion FROM pg_extension WHERE extname = 'vector') FROM pg_control_system()")
        assert (manifest["system_identifier"], manifest["server_version"], manifest["pgvector_version"]) == cur.fetchone()
    conn.close()
    assert manifest["pg_dump_version"].split(".")[0] == str(manifest["server_version_num"] // 10000)
    assert manifest["duration_seconds"] > 0 and manifest["throughput_bytes_per_second"] > 0
    assert manifest["bytes"] == sum(f["size"] for f in manifest["files"])
    assert mf.verify_files(manifest, str(dest)) == []
    assert json.loads((dest / "manifest.json").read_text()) == manifest
    assert not [name for name in listing(dest) if name.startswith(".")], "no partial file is left"
    assert all(stat.S_IMODE((dest / name).stat().st_mode) == 0o600 for name in listing(dest))


def test_dump_inside_the_container_describes_the_lab(lab_dump, stack, pg):
    dest, result = lab_dump
    manifest = result["manifest"]
    check_lab_manifest(manifest, dest, stack, pg)
    assert manifest["connect_via"] == "docker_exec" and manifest["namespace_prefix"] == "mark_carey/"
    files = {f["format"]: f for f in manifest["files"]}
    assert set(files) == {"custom", "plain", "schema"} and files["custom"]["compression"] == "zstd:3"
    assert (dest / files["custom"]["name"]).read_bytes()[:5] == b"PGDMP"
    with gzip.open(dest / files["plain"]["name"], "rt") as handle:
        sql = handle.read()
    assert "COPY public.memories (id, vector, payload) FROM stdin;" in sql and sql.count("mark_carey/booking") >= 33
    schema = (dest / files["schema"]["name"]).read_text()
    assert "CREATE INDEX memories_hnsw_idx ON public.memories USING hnsw" in schema and "COPY " not in schema
    assert sorted(result["files"]) == sorted(str(dest / f["name"]) for f in manifest["files"])


def check_cluster_part(manifest: dict, dest: Path, upstream: dict, stack: dict) -> None:
    """The other databases and the roles of a databases=all dump: mem0_app with its file, sha256 and table counts,
    the entities table among the vector tables, and roles without a password hash."""
    assert manifest["scope"] == "all"
    others = {d["database"]: d for d in manifest["databases"]}
    assert stack["services"]["postgres"]["database"] not in others
    app = others[APP_DATABASE]
    assert app["tables"] == [{"table": name, "rows": n} for name, n in sorted(upstream["rows"].items())]
    assert (dest / app["name"]).read_bytes()[:5] == b"PGDMP" and app["snapshot"]["consistent"] is True
    assert mf.verify_files({"files": manifest["databases"] + [manifest["roles"]]}, str(dest)) == []
    roles = (dest / manifest["roles"]["name"]).read_text()
    assert "CREATE ROLE %s;" % stack["services"]["postgres"]["user"] in roles and manifest["roles"]["roles"] >= 1
    assert "SCRAM" not in roles and "md5" not in roles and "PASSWORD" not in roles.upper()
    entities = [t for t in manifest["vector_tables"] if t["table"] == upstream["entities"]]
    assert entities == [{"table": upstream["entities"], "column": "vector", "type": "vector(%d)" % stack["embedding"]["dims"],
                         "declared_dims": stack["embedding"]["dims"], "observed_dims": [stack["embedding"]["dims"]],
                         "rows": 3}]


def test_dump_holds_the_clusters_other_databases_and_roles(lab_dump, upstream, stack):
    dest, result = lab_dump
    check_cluster_part(result["manifest"], dest, upstream, stack)
    assert sorted(result["extra_files"]) == sorted(
        [str(dest / d["name"]) for d in result["manifest"]["databases"]] + [str(dest / result["manifest"]["roles"]["name"])])


def test_dump_over_tcp_with_a_client_of_the_server_version(workdir, host_pg17, stack, pg, secret, upstream):
    dest = workdir / "lab_tcp"
    result, report = play("pgvector_dump.yml", {"connect_via": "tcp", "bin_dir": str(host_pg17), "dest": str(dest),
                                                "formats": ["custom", "plain"], "compression": "gzip:9"}, workdir)
    assert report["rc"] == 0, result.get("msg")
    check_lab_manifest(result["manifest"], dest, stack, pg)
    assert result["manifest"]["connect_via"] == "tcp"
    assert [f["compression"] for f in result["manifest"]["files"]] == ["gzip:9", "gzip:6"]
    assert secret not in report["raw"]
    check_cluster_part(result["manifest"], dest, upstream, stack)  # the other databases and the roles over TCP too


def test_tcp_with_an_older_host_pg_dump_refuses(workdir):
    host = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=False).stdout
    if " 17." in host or " 18." in host:
        pytest.skip("the host's pg_dump is not older than the server")
    dest = workdir / "tcp_refused"
    result, report = play("pgvector_dump.yml", {"connect_via": "tcp", "dest": str(dest)}, workdir)
    assert report["rc"] != 0
    assert "on the managed host is older than the server" in result["msg"]
    assert "use connect_via=docker_exec" in result["msg"]
    assert not dest.exists()


def test_check_mode_writes_nothing(workdir, stack):
    dest = workdir / "check"
    dest.mkdir()
    (dest / "keep.txt").write_text("unrelated")
    before = [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(dest.iterdir())]
    result, report = play("pgvector_dump.yml", {"dest": str(dest), "formats": ["custom", "plain"], "basename": "predicted"},
                          workdir, "--check")
    assert report["rc"] == 0, result.get("msg")
    assert [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(dest.iterdir())] == before
    assert result["changed"] is True
    assert result["files"] == [str(dest / "predicted.dump"), str(dest / "predicted.sql.gz")]
    assert result["manifest"]["counts"]["memories"]["namespaces"] == SEEDED
    assert result["manifest"]["estimate"]["data_bytes"] > 0 and result["manifest"]["files"] == []


def app_rows(pg, dbname: str, count: bool = False) -> dict:
    """The rows of the stand-in's tables (or their numbers), read directly: the oracle of a restore."""
    out = {}
    with pg(dbname) as conn, conn.cursor() as cur:
        for table, order in (("users", "id"), ("api_keys", "id"), ("settings", "key")):
            cur.execute('SELECT %s FROM "%s" ORDER BY %s' % ("count(*)" if count else "*", table, "1" if count else order))
            out[table] = cur.fetchone()[0] if count else cur.fetchall()
    conn.close()
    return out


def test_restore_round_trip_and_the_same_mem0_search(lab_dump, upstream, workdir, databases, stack, pg, secret, monkeypatch):
    dest, dump = lab_dump
    target = databases("mem0_restore_it", create=False)
    for other in dump["manifest"]["databases"]:  # restored beside the target, under its name: dropped at the end
        databases.track("%s_%s" % (target, other["database"]))
    result, report = play("pgvector_restore.yml", {"src": str(dest), "target_db": target, "index_phase": "deferred",
                                                   "jobs": 2, "maintenance_work_mem": "256MB"}, workdir)
    assert report["rc"] == 0, result.get("msg")
    assert secret not in report["raw"]
    assert result["created"] is True and result["checksums_verified"] is True and result["differences"] == []
    assert result["counts"]["memories"] == {"total": 1968, "namespaces": SEEDED}
    assert result["counts"]["mem0migrations"]["rows"] == 1
    assert result["data_seconds"] > 0 and result["index_seconds"] > 0
    with pg(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (stack["mem0"]["collection"],))
        assert [r[0] for r in cur.fetchall()] == ["memories_hnsw_idx", "memories_pkey", "memories_text_lemmatized_idx"]
    conn.close()
    # the other databases of the set, each beside the target under the target's name: mem0_app's rows, queried directly
    restored = {d["database"]: d for d in result["databases"]}
    assert restored[APP_DATABASE]["target"] == "%s_%s" % (target, APP_DATABASE) and restored[APP_DATABASE]["created"]
    assert restored[APP_DATABASE]["differences"] == [] and result["roles_file"] == str(dest / dump["manifest"]["roles"]["name"])
    assert app_rows(pg, restored[APP_DATABASE]["target"]) == app_rows(pg, APP_DATABASE)
    assert app_rows(pg, restored[APP_DATABASE]["target"], count=True) == upstream["rows"]
    container = stack["services"]["postgres"]["container"]
    leftovers = subprocess.run(["docker", "exec", container, "sh", "-c", "ls -d /tmp/mem0ops-restore.* 2>/dev/null"],
                               capture_output=True, text=True, check=False).stdout
    assert leftovers == "", "the copy of the dump inside the container is removed"

    original = mem0_search(stack, stack["services"]["postgres"]["database"], workdir, monkeypatch, pg)
    restored = mem0_search(stack, target, workdir, monkeypatch, pg)
    assert all(original[key] for key in original), original
    assert restored == original

    # A second restore over the now populated database: refused, then done again with clean.
    result, report = play("pgvector_restore.yml", {"src": str(dest / "manifest.json"), "target_db": target}, workdir)
    assert report["rc"] != 0
    assert result["msg"].startswith("database %r is not empty" % target) and "set clean=true" in result["msg"]
    result, report = play("pgvector_restore.yml", {"src": str(dest), "target_db": target, "clean": True}, workdir)
    assert report["rc"] == 0, result.get("msg")
    assert result["cleaned"] is True and result["counts"]["memories"]["namespaces"] == SEEDED
    app = {d["database"]: d for d in result["databases"]}[APP_DATABASE]
    assert app["replaced"] is True and app["differences"] == []


@pytest.mark.parametrize("via", ["docker_exec", "tcp"])
def test_counts_describe_the_dump_while_mem0_keeps_writing(via, request, workdir, databases, stack, pg):
    """Rows inserted during the dump are in neither the counts nor the files: both come from one snapshot."""
    bin_dir = str(request.getfixturevalue("host_pg17")) if via == "tcp" else None
    busy = databases("mem0_dump_it", mem0_table_setup(stack["embedding"]["dims"]) + [
        "INSERT INTO memories SELECT gen_random_uuid(), NULL, jsonb_build_object('user_id', 'ns/' || g % 3, 'data', 'm' || g) "
        "FROM generate_series(1, 20000) g"])
    stop, inserted = threading.Event(), []

    def write():
        conn = pg(busy)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO memories VALUES (gen_random_uuid(), NULL, "
                            "jsonb_build_object('user_id', 'ns/' || %s, 'data', 'written during the dump'))", (len(inserted) % 3,))
                inserted.append(1)
                time.sleep(0.002)
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    dest = workdir / ("busy_" + via)
    try:
        variables = {"db": busy, "dest": str(dest), "connect_via": via, "databases": "stack"}
        if bin_dir:
            variables["bin_dir"] = bin_dir
        dump, report = play("pgvector_dump.yml", variables, workdir)
    finally:
        stop.set()
        writer.join()
    assert report["rc"] == 0, dump.get("msg")
    with pg(busy) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM memories")
        now = cur.fetchone()[0]
    conn.close()
    counted = dump["manifest"]["counts"]["memories"]["total"]
    assert 20000 < counted < now, "rows were written before and after the snapshot"
    target = databases("mem0_restore_it", create=False)
    restore, report = play("pgvector_restore.yml", {"src": str(dest), "target_db": target}, workdir)
    assert report["rc"] == 0, restore.get("msg")
    assert restore["counts"]["memories"] == {"total": counted, "namespaces": dump["manifest"]["counts"]["memories"]["namespaces"]}


def mem0_search(stack: dict, dbname: str, workdir: Path, monkeypatch, pg) -> dict:
    """The same searches through the real mem0 library (pgvector + the lab's Ollama-compatible embedder)."""
    monkeypatch.setenv("MEM0_TELEMETRY", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from mem0 import Memory
    from mem0.memory import telemetry

    assert telemetry.MEM0_TELEMETRY is False, "mem0 was imported with telemetry on: it would write to mem0migrations"
    svc, embedding = stack["services"]["postgres"], stack["embedding"]
    tables_before = public_tables(pg, dbname)
    memory = Memory.from_config({
        "vector_store": {"provider": "pgvector", "config": {
            "host": svc["host"], "port": svc["port"], "user": svc["user"], "password": svc["password"], "dbname": dbname,
            "collection_name": stack["mem0"]["collection"], "embedding_model_dims": embedding["dims"]}},
        "embedder": {"provider": embedding["provider"], "config": {
            "model": embedding["model"], "ollama_base_url": embedding["base_url"], "embedding_dims": embedding["dims"]}},
        "llm": {"provider": "ollama", "config": {"model": "llama3.1", "ollama_base_url": embedding["base_url"]}},
        "history_db_path": str(workdir / ("history_%s.db" % secrets.token_hex(4))),
    })
    try:
        found = {}
        for user, query in SEARCHES:
            hits = memory.search(query, filters={"user_id": user}, top_k=10)["results"]
            found[(user, query)] = [(hit["id"], hit["memory"], round(hit["score"], 6)) for hit in hits]
    finally:
        memory.vector_store.connection_pool.closeall()
    assert public_tables(pg, dbname) == tables_before, "searching changes nothing"
    return found


def public_tables(pg, dbname: str) -> list[str]:
    with pg(dbname) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        tables = [r[0] for r in cur.fetchall()]
    conn.close()
    return tables


def mem0_table_setup(dims: int) -> list[str]:
    return ["CREATE EXTENSION IF NOT EXISTS vector",
            "CREATE TABLE memories (id uuid PRIMARY KEY, vector vector(%d), payload jsonb)" % dims,
            "CREATE TABLE mem0migrations (id uuid PRIMARY KEY, vector vector(%d), payload jsonb)" % dims,
            "INSERT INTO mem0migrations VALUES (gen_random_uuid(), NULL, '{\"type\": \"user_identity\"}')"]


def test_an_empty_database_is_dumped_but_quarantined(lab_dump, workdir, databases, stack):
    empty = databases("mem0_dump_it", mem0_table_setup(stack["embedding"]["dims"]))
    dest = workdir / "quarantined"
    result, report = play("pgvector_dump.yml", {"db": empty, "dest": str(dest), "min_memories": 1, "max_drop_percent": 50,
                                                "baseline": str(lab_dump[0]), "basename": "empty", "databases": "stack"},
                          workdir)
    assert report["rc"] != 0
    baseline = lab_dump[0] / "manifest.json"
    assert result["msg"] == (
        f"the dump is quarantined: expected at least 1 memories (min_memories) in total, found 0; expected at most a 50% "
        f"drop (max_drop_percent) from the baseline of 1968 memories ({baseline}) in total, found 0: a drop of 100%. "
        f"It is kept in {dest} and its manifest says status=quarantined: it must not replace a good backup.")
    assert listing(dest) == ["empty.dump", "manifest.json"]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["status"] == "quarantined" and len(manifest["problems"]) == 2
    assert manifest["counts"]["memories"]["total"] == 0 and manifest["counts"]["mem0migrations"]["rows"] == 1
    assert manifest["validation"]["drop_percent"] == 100.0
    assert mf.verify_files(manifest, str(dest)) == []


@pytest.mark.parametrize("formats", [["custom"], ["plain"]])
def test_a_failing_pg_dump_fails_and_leaves_no_final_file(formats, workdir, databases, stack, pg):
    with pg() as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cur.fetchone()[0]:
            pytest.skip("breaking an enum in pg_enum needs a superuser")
    conn.close()
    broken = databases("mem0_dump_it", mem0_table_setup(stack["embedding"]["dims"]) + [
        "INSERT INTO memories VALUES (gen_random_uuid(), NULL, '{\"user_id\": \"u\", \"data\": \"x\"}')",
        "CREATE TYPE mood AS ENUM ('ok', 'gone')",
        "CREATE TABLE broken (m mood)",
        "INSERT INTO broken VALUES ('gone')",
        # The value's label vanishes: COPY of the table fails half-way through the dump.
        "DELETE FROM pg_enum WHERE enumtypid = 'mood'::regtype AND enumlabel = 'gone'"])
    dest = workdir / ("failing_" + formats[0])
    result, report = play("pgvector_dump.yml", {"db": broken, "dest": str(dest), "formats": formats, "databases": "stack"},
                          workdir)
    assert report["rc"] != 0
    assert result["msg"].startswith("pg_dump (%s format) failed with exit code 1: " % formats[0])
    assert "invalid internal value for enum" in result["msg"]
    assert listing(dest) == [], "neither a final file, a partial file nor a manifest"


def test_a_missing_database_fails_clearly(workdir, databases):
    missing = databases("mem0_dump_it", create=False)
    dest = workdir / "missing_db"
    result, report = play("pgvector_dump.yml", {"db": missing, "dest": str(dest)}, workdir)
    assert report["rc"] != 0
    assert ("database %r does not exist on this server: check the inventory's database name" % missing) in result["msg"]
    assert listing(dest) == []


@pytest.mark.parametrize("via", ["docker_exec", "tcp"])
def test_a_wrong_password_fails_clearly(via, workdir, secret):
    dest = workdir / ("wrong_password_" + via)
    result, report = play("pgvector_dump.yml", {"connect_via": via, "dest": str(dest),
                                                "login_password": "not-" + secrets.token_hex(8)}, workdir)
    assert report["rc"] != 0
    assert "password authentication failed" in result["msg"]
    assert "is not the one this server was initialised with" in result["msg"]
    assert secret not in report["raw"] and listing(dest) == []


def test_an_unwritable_dest_fails_clearly(workdir):
    locked = workdir / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here to make a directory unwritable for root")
    try:
        result, report = play("pgvector_dump.yml", {"dest": str(locked)}, workdir)
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True, check=True)
    assert report["rc"] != 0
    assert result["msg"] == "dest %s is not writable" % locked
    assert listing(locked) == []


def test_a_dest_under_a_file_fails_clearly(workdir):
    a_file = workdir / "a_file"
    a_file.write_text("x")
    result, report = play("pgvector_dump.yml", {"dest": str(a_file / "sub")}, workdir)
    assert report["rc"] != 0
    assert result["msg"] == "cannot create dest %s: %s is not a directory" % (a_file / "sub", a_file)
