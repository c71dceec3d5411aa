# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.postgres: quoting, tool versions and the two places the client tools run (the managed host and
the database container), with the Docker API and run_command faked.

Moved here from test_pgvector_dump.py (test_tool_version, test_local_runner_*) and test_pgvector_restore.py
(test_tar_stream_is_a_tar_of_the_file, test_docker_runner_stage_checks_the_copy) when the runners moved.
Running the tools for real is tested in tests/integration/test_pgvector_dump.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

from pathlib import Path

import pytest
import yaml

from ansible_collections.mem0ops.stack.plugins.doc_fragments.postgres import ModuleDocFragment
from ansible_collections.mem0ops.stack.plugins.module_utils import postgres
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import PostgresError

PASSWORD = "s3cr:t\\pw"


def fragment_options(*texts):
    """{option: (type, default, required, aliases)} of doc fragments merged as ansible-doc merges them."""
    merged = {}
    for text in texts:
        for name, option in yaml.safe_load(text)["options"].items():
            merged.setdefault(name, {}).update(option)
    return {name: (o["type"], o.get("default"), o.get("required", False), o.get("aliases")) for name, o in merged.items()}


def spec_options(spec):
    return {name: (o["type"], o.get("default"), o.get("required", False), o.get("aliases")) for name, o in spec.items()}


def test_the_argument_specs_say_what_their_doc_fragments_say():
    assert spec_options(postgres.login_argument_spec()) == fragment_options(ModuleDocFragment.DOCUMENTATION)
    full = fragment_options(ModuleDocFragment.DOCUMENTATION, ModuleDocFragment.CONNECT_VIA)
    assert spec_options(postgres.postgres_argument_spec()) == full
    assert postgres.postgres_argument_spec()["login_password"]["no_log"] is True
    assert postgres.login_argument_spec()["login_password"]["no_log"] is True


def test_login_argument_spec_requires_what_the_module_says():
    spec = postgres.login_argument_spec(required=("login_user", "login_password", "db"))
    assert [name for name, o in spec.items() if o.get("required")] == ["login_user", "login_password", "db"]
    assert "aliases" not in spec["db"]
    assert postgres.login_argument_spec(db_aliases=True)["db"]["aliases"] == ["database", "login_db"]
    assert not any(o.get("required") for o in postgres.postgres_argument_spec().values())


def test_quote_ident():
    assert postgres.quote_ident("memories") == '"memories"'
    assert postgres.quote_ident('we"ird; DROP') == '"we""ird; DROP"'


def test_tool_version():
    assert postgres.tool_version("pg_dump (PostgreSQL) 17.11 (Debian 17.11-0+deb13u1)", "pg_dump") == (17, "17.11")
    assert postgres.tool_version("pg_dump (PostgreSQL) 18beta1", "pg_dump") == (18, "18.0")
    with pytest.raises(PostgresError, match="cannot read the version of pg_dump"):
        postgres.tool_version("command not found", "pg_dump")
    with pytest.raises(PostgresError, match="cannot read the version of pg_restore"):
        postgres.tool_version("", "pg_restore")


class VersionRunner:
    def __init__(self, rc, out, err=b""):
        self.result = (rc, out, err)
        self.argv = None

    def run(self, argv, env=None):
        self.argv = argv
        return self.result


def test_run_version():
    runner = VersionRunner(0, b"pg_restore (PostgreSQL) 16.4\n")
    assert postgres.run_version(runner, "pg_restore") == (16, "16.4") and runner.argv == ["pg_restore", "--version"]
    with pytest.raises(PostgresError, match="^cannot run pg_dump --version: exec failed: no such file$"):
        postgres.run_version(VersionRunner(126, b"", b"exec failed: no such file\n"), "pg_dump")


def test_tools_location():
    assert postgres.tools_location({"connect_via": "tcp", "container": None}) == "on the managed host"
    assert postgres.tools_location({"connect_via": "docker_exec", "container": "pg"}) == "in container pg"


@pytest.mark.parametrize("rc, out, free", [
    (0, b"Filesystem 1024-blocks Used Available Capacity Mounted on\nshm 65536 0 65536 0% /dev/shm\n", 64 << 20),
    (1, b"Filesystem 1024-blocks Used Available Capacity Mounted on\nshm 65536 0 65536 0% /dev/shm\n", None),
    (0, b"df: /nowhere: No such file or directory\n", None),
    (0, b"Filesystem 1024-blocks Used Available\nshm 65536 0 -\n", None),
])
def test_free_bytes_from_df(rc, out, free):
    assert postgres.free_bytes_from_df(rc, out) == free


def test_tool_env_never_holds_the_password():
    env = postgres.tool_env({"connect_timeout": 7, "login_password": PASSWORD})
    assert env == {"PGCONNECT_TIMEOUT": "7", "PGAPPNAME": "mem0ops.stack"}


def test_local_runner_hands_the_password_through_a_private_passfile(tmp_path):
    calls = []

    class Module:
        params = {"bin_dir": None, "login_password": PASSWORD, "connect_timeout": 7}
        tmpdir = str(tmp_path)

        def get_bin_path(self, tool):
            return "/usr/bin/" + tool

        def run_command(self, argv, environ_update=None, umask=None, encoding=None):
            passfile = environ_update["PGPASSFILE"]
            calls.append((argv, dict(environ_update), umask, open(passfile).read(), stat.S_IMODE(os.stat(passfile).st_mode)))
            return 0, b"", b""

    runner = postgres.LocalRunner(Module(), None)
    assert runner.dump(["pg_dump", "--format=custom"], "/backups/.x.dump.partial") == (0, b"", None)
    runner.close()
    argv, env, umask, content, mode = calls[0]
    assert argv == ["/usr/bin/pg_dump", "--format=custom", "--file=/backups/.x.dump.partial"]
    assert content == "*:*:*:*:s3cr\\:t\\\\pw\n" and mode == 0o600 and umask == 0o077
    assert env["PGPASSWORD"] == "" and env["PGCONNECT_TIMEOUT"] == "7"
    assert os.listdir(tmp_path) == []  # the passfile is gone


def test_local_runner_with_a_bin_dir_without_pg_dump(tmp_path):
    class Module:
        params = {"bin_dir": str(tmp_path)}

    with pytest.raises(PostgresError, match="no executable pg_dump in bin_dir"):
        postgres.LocalRunner(Module(), None).binary("pg_dump")


def test_local_runner_without_the_tool_installed():
    class Module:
        params = {"bin_dir": None}

        def get_bin_path(self, tool):
            return None

    with pytest.raises(PostgresError, match="pg_restore is not installed on the managed host: .* or use connect_via=docker_exec"):
        postgres.LocalRunner(Module(), None).binary("pg_restore")


def test_local_runner_reads_the_file_in_place_and_sees_no_shm(tmp_path):
    runner = postgres.LocalRunner(None, None)
    assert runner.stage("/backups/x.dump", "abcd") == "/backups/x.dump"
    assert runner.shm_bytes() is None
    runner.unstage()


def test_tar_stream_is_a_tar_of_the_file(tmp_path):
    path = tmp_path / "a.dump"
    path.write_bytes(b"PGDMP" + bytes(range(256)) * 5000)
    archive = b"".join(postgres.tar_stream(str(path), "a.dump"))
    assert len(archive) % tarfile.BLOCKSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.getmember("a.dump")
        assert member.mode == 0o644 and tar.extractfile(member).read() == path.read_bytes()


class Api:
    """The Docker API of one exec: `chunks` are its demuxed (stdout, stderr) frames."""

    def __init__(self, chunks=(), exit_code=0):
        self.chunks = list(chunks)
        self.exit = exit_code
        self.archives = []
        self.created = []

    def exec_create(self, container, argv, **kwargs):
        self.created.append((container, argv, kwargs))
        return {"Id": "e1"}

    def exec_start(self, exec_id, stream=False, demux=False):
        return Output(self.chunks)

    def exec_inspect(self, exec_id):
        return {"Running": False, "ExitCode": self.exit}

    def put_archive(self, container, directory, data):
        self.archives.append((container, directory, b"".join(data)))


class Output(list):
    def close(self):
        pass


class Client:
    def exec_env(self):
        return {"PGAPPNAME": "mem0ops.stack", "PGPASSWORD": PASSWORD}


def docker_runner(api, params=None):
    runner = postgres.DockerRunner.__new__(postgres.DockerRunner)
    runner.module = type("M", (), {"params": params or {"container_tmpdir": "/tmp/", "container": "pg"}})()
    runner.client = Client()
    runner.container_id = "cid"
    runner.api = api
    runner.workdir = None
    return runner


def test_docker_runner_run_collects_the_output_and_the_exit_code():
    api = Api([(b"pg_restore (PostgreSQL) ", None), (None, b"warning\n"), (b"17.11\n", None)], exit_code=3)
    assert docker_runner(api).run(["pg_restore", "--version"], {"PGOPTIONS": "-c x=1"}) == \
        (3, b"pg_restore (PostgreSQL) 17.11\n", b"warning\n")
    container, argv, kwargs = api.created[0]
    assert container == "cid" and argv == ["pg_restore", "--version"]
    assert kwargs["environment"] == {"PGAPPNAME": "mem0ops.stack", "PGPASSWORD": PASSWORD, "PGOPTIONS": "-c x=1"}


def test_docker_runner_dump_streams_into_the_file_with_its_sha256(tmp_path):
    chunks = [(b"PGDMP", None), (b"x" * 1000, b"pg_dump: note\n"), (b"y", None)]
    path = tmp_path / "a.dump.partial"
    rc, err, digest = docker_runner(Api(chunks)).dump(["pg_dump"], str(path))
    data = b"PGDMP" + b"x" * 1000 + b"y"
    assert (rc, err) == (0, b"pg_dump: note\n") and path.read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest() and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_docker_runner_stage_checks_the_copy(tmp_path, monkeypatch):
    """The copy inside the container is checked with sha256sum; a mismatch refuses to restore."""
    path = tmp_path / "x.dump"
    path.write_bytes(b"PGDMP")

    class Runner(postgres.DockerRunner):
        def __init__(self):  # pylint: disable=super-init-not-called
            self.module = type("M", (), {"params": {"container_tmpdir": "/tmp/", "container": "pg"}})()
            self.container_id = "cid"
            self.api = Api()
            self.workdir = None
            self.commands = []

        def run(self, argv, env=None):
            self.commands.append(argv)
            if argv[0] == "mktemp":
                return 0, b"/tmp/mem0ops-restore.abc123\n", b""
            if argv[0] == "df":
                return 0, b"Filesystem 1024-blocks Used Available Capacity Mounted\noverlay 100 1 99999 1% /\n", b""
            if argv[0] == "sha256sum":
                return 0, b"0123  /tmp/mem0ops-restore.abc123/x.dump\n", b""
            return 0, b"", b""

    runner = Runner()
    with pytest.raises(PostgresError, match="the copy of the dump in container pg has sha256 0123, the manifest says abcd"):
        runner.stage(str(path), "abcd")
    assert runner.commands[0] == ["mktemp", "-d", "/tmp/mem0ops-restore.XXXXXX"]
    assert runner.api.archives[0][:2] == ("cid", "/tmp/mem0ops-restore.abc123")
    runner.unstage()
    assert runner.commands[-1] == ["rm", "-rf", "--", "/tmp/mem0ops-restore.abc123"] and runner.workdir is None
    assert os.path.exists(path)


def test_docker_runner_stage_refuses_a_full_container_tmpdir(tmp_path):
    path = tmp_path / "x.dump"
    path.write_bytes(b"PGDMP" * 1000)

    class Runner(postgres.DockerRunner):
        def __init__(self):  # pylint: disable=super-init-not-called
            self.module = type("M", (), {"params": {"container_tmpdir": "/scratch", "container": "pg"}})()
            self.workdir = None

        def run(self, argv, env=None):
            if argv[0] == "mktemp":
                return 0, b"/scratch/mem0ops-restore.abc123\n", b""
            return 0, b"Filesystem 1024-blocks Used Available Capacity Mounted\noverlay 100 99 1 99% /\n", b""

    with pytest.raises(PostgresError, match="not enough free space in /scratch inside container pg for the dump: it has "
                                            "5000 bytes, 1024 are free; set container_tmpdir"):
        Runner().stage(str(path), "abcd")


def test_make_runner_follows_connect_via():
    module = type("M", (), {"params": {"connect_via": "tcp"}})()
    assert isinstance(postgres.make_runner(module, None), postgres.LocalRunner)


def test_qualified_and_column_table():
    assert postgres.qualified("audit", 'my"log') == '"audit"."my""log"'
    assert postgres.qualified(None, "memories") == '"memories"'
    assert postgres.column_table({"table": "audit.docs", "schema": "audit", "relname": "docs"}) == '"audit"."docs"'
    assert postgres.column_table({"table": "memories", "column": "vector"}) == '"memories"'


def test_table_counts_counts_every_table_in_one_query():
    calls = []

    def query(sql, params=None):
        calls.append(sql)
        if sql == postgres.TABLES_SQL:
            return [{"schema": "audit", "relname": "log", "table": "audit.log"},
                    {"schema": "public", "relname": "users", "table": "users"}]
        return [{"i": 0, "n": 7}, {"i": 1, "n": "2"}]

    assert postgres.table_counts(query) == [{"table": "audit.log", "rows": 7}, {"table": "users", "rows": 2}]
    assert calls[1] == ('SELECT 0 AS i, count(*) AS n FROM "audit"."log" UNION ALL '
                        'SELECT 1 AS i, count(*) AS n FROM "public"."users"')
    assert postgres.table_counts(lambda sql, params=None: []) == []


@pytest.mark.parametrize('password', ['pa$HOME s #1', '50%41 %zz %', "it's", 'say "hi"', 'ends in \\', '@:/?#&=',
                                      'tab\there', 'non-ASCII é 日本', 'plain'])
def test_pg_url_carries_any_password_as_libpq_reads_it(password):
    """The oracle is libpq itself (psycopg2's parse_dsn): user, password and database come back exactly; the lab's
    mem0 server and seeder (lab/apps/common.py, outside the collection) build the same URL."""
    import importlib.util

    from psycopg2.extensions import parse_dsn

    spec = importlib.util.spec_from_file_location('lab_apps_common', Path(__file__).resolve().parents[4] / 'lab' / 'apps'
                                                  / 'common.py')
    lab_common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab_common)
    for pg_url in (postgres.pg_url, lab_common.pg_url):
        url = pg_url('127.0.0.1', 5433, 'us er@x', password, 'db/%name')
        assert parse_dsn(url) == {'host': '127.0.0.1', 'port': '5433', 'user': 'us er@x', 'password': password,
                                  'dbname': 'db/%name'}
        assert pg_url('::1', 5433, 'u', 'p', 'd') == 'postgresql://u:p@[::1]:5433/d'
