# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One way to reach the stack's PostgreSQL: over TCP with psycopg2, or inside its container through
the Docker API (client tools of the server's own version, no published port needed).

Every failure becomes a PostgresError whose message says what failed and what to check.
The password travels in the connection parameters or the exec environment, never on a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tarfile
import tempfile
import threading
import time
import traceback

from urllib.parse import quote

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mem0ops.stack.plugins.module_utils.docker_api import (
    DOCKER_IMPORT_ERROR, HAS_DOCKER, ContainerError, docker, engine, exec_output, running_container)

try:
    from docker.utils.socket import next_frame_header, read_exactly
except ImportError:  # ensure_docker fails the module before DockerRunner is used
    next_frame_header = read_exactly = None

try:
    import psycopg2
    import psycopg2.extras
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

DB_ALIASES = ["database", "login_db"]


def login_argument_spec(required=(), db_aliases=False) -> dict:
    """The options of doc fragment mem0ops.stack.postgres, the session every module opens; ``required`` names those
    the module requires, ``db_aliases`` gives db its aliases database and login_db."""
    spec = dict(
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        db=dict(type="str"),
    )
    for option in required:
        spec[option]["required"] = True
    if db_aliases:
        spec["db"]["aliases"] = list(DB_ALIASES)
    return spec


def postgres_argument_spec() -> dict:
    """The options of doc fragments mem0ops.stack.postgres and mem0ops.stack.postgres.connect_via (PostgresClient)."""
    return dict(
        login_argument_spec(db_aliases=True),
        connect_via=dict(type="str", default="tcp", choices=["tcp", "docker_exec"]),
        container=dict(type="str"),
        docker_host=dict(type="str", default="unix:///var/run/docker.sock"),
        connect_timeout=dict(type="int", default=10),
    )


def client_tools_argument_spec() -> dict:
    """The options of doc fragment mem0ops.stack.postgres.client_tools."""
    return dict(bin_dir=dict(type="path"))


POSTGRES_REQUIRED_IF = [("connect_via", "docker_exec", ("container",))]


APPLICATION_NAME = "mem0ops.stack"
# How much of a client tool's stderr a message quotes, and how much of its output is kept.
STDERR_LIMIT = 4000
OUTPUT_LIMIT = 64 * STDERR_LIMIT
CHUNK = 1 << 20


class PostgresError(Exception):
    """A failure to reach or query PostgreSQL, or of a client tool, with what to check."""


def ensure_docker(module) -> None:
    """Fail the module when it must reach the container and the Docker SDK is missing."""
    if module.params["connect_via"] == "docker_exec" and not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def ensure_psycopg2(module) -> None:
    """Fail the module when psycopg2, which it connects with, is missing."""
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)


def ensure_required_libs(module) -> None:
    if module.params["connect_via"] == "tcp":
        ensure_psycopg2(module)
    ensure_docker(module)


def pg_url(host, port, user, password, dbname) -> str:
    """A postgresql:// URL for a library that only takes one (mem0's pgvector builds C(user:password@) raw from its
    parts: a '%', '@', '/', '#' or '?' in the password breaks it, and psycopg2's "invalid dsn" error prints it). User,
    password and database are percent-encoded with nothing kept safe. The URL holds the password: never return it."""
    netloc = "[%s]" % host if ":" in str(host) else str(host)
    return "postgresql://%s:%s@%s:%d/%s" % (quote(str(user), safe=""), quote(str(password), safe=""), netloc, int(port),
                                            quote(str(dbname), safe=""))


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted whatever it holds."""
    return '"%s"' % name.replace('"', '""')


def literal(value) -> str:
    """An SQL literal for psql (standard_conforming_strings is on by default since PostgreSQL 9.1)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[%s]" % ", ".join(literal(v) for v in value)
    return "'%s'" % str(value).replace("'", "''")


def interpolate(sql: str, params) -> str:
    """Fill psycopg2-style %s placeholders client-side (for psql inside the container)."""
    if not params:
        return sql.replace("%%", "%")
    parts = sql.replace("%%", "\0").split("%s")
    if len(parts) - 1 != len(params):
        raise PostgresError("internal error: %d placeholders for %d parameters" % (len(parts) - 1, len(params)))
    out = parts[0]
    for value, part in zip(params, parts[1:]):
        out += literal(value) + part
    return out.replace("\0", "%")


def explain_connect_error(params: dict, message: str) -> str:
    """What went wrong, and where to look, for the usual connection failures."""
    where = "%s:%s" % (params["login_host"], params["login_port"])
    user, db = params["login_user"], params["db"]
    low = message.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = ("the password for user %r is not the one this server was initialised with: compare the "
                "inventory's credentials with the container's POSTGRES_PASSWORD (the January incident began "
                "with exactly this drift)" % user)
    elif 'role "' in low and "does not exist" in low:
        hint = "user %r does not exist on this server: check the inventory's user against the container's POSTGRES_USER" % user
    elif 'database "' in low and "does not exist" in low:
        hint = "database %r does not exist on this server: check the inventory's database name against POSTGRES_DB" % db
    elif "connection refused" in low or "could not connect" in low or "no such file" in low:
        hint = "nothing accepts connections at %s: is the PostgreSQL container running (docker ps) and is the port right?" % where
    elif "timeout" in low or "timed out" in low:
        hint = "no answer from %s within the connect timeout: is the host reachable and the server up?" % where
    else:
        hint = "check the connection settings for %s (user %r, database %r)" % (where, user, db)
    return "cannot connect to PostgreSQL at %s: %s; %s" % (where, message.strip().splitlines()[0] if message.strip() else "error", hint)


def tool_env(params: dict) -> dict:
    """The environment every client tool runs with (without the password)."""
    return {"PGCONNECT_TIMEOUT": str(params["connect_timeout"]), "PGAPPNAME": APPLICATION_NAME}


class PostgresClient:
    """Queries over TCP (psycopg2) or through `docker exec psql` in the database container."""

    def __init__(self, params: dict):
        self.params = params
        self.via = params["connect_via"]
        self._conn = None
        self._docker = None
        self._container = None

    # --- connection -------------------------------------------------------------------------
    def connect(self) -> "PostgresClient":
        if self.via == "tcp":
            try:
                self._conn = psycopg2.connect(
                    host=self.params["login_host"], port=self.params["login_port"],
                    user=self.params["login_user"], password=self.params["login_password"],
                    dbname=self.params["db"], connect_timeout=self.params["connect_timeout"],
                    application_name=APPLICATION_NAME)
                self._conn.autocommit = True
            except psycopg2.OperationalError as exc:
                raise PostgresError(explain_connect_error(self.params, str(exc)))
        else:
            self.container()
            self.query("SELECT 1")
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._docker is not None:
            self._docker.close()
            self._docker = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    # --- the container ----------------------------------------------------------------------
    def docker_client(self):
        if self._docker is None:
            try:
                self._docker = engine(self.params["docker_host"], timeout=max(60, self.params["connect_timeout"]))
            except ContainerError as exc:
                raise PostgresError(str(exc))
        return self._docker

    def container(self):
        if self._container is None:
            try:
                self._container = running_container(self.docker_client(), self.params["container"])
            except ContainerError as exc:
                raise PostgresError(str(exc))
        return self._container

    def exec_env(self) -> dict:
        env = tool_env(self.params)
        if self.params.get("login_password"):
            env["PGPASSWORD"] = self.params["login_password"]
        return env

    def client_args(self) -> list:
        """Connection arguments for psql/pg_dump/pg_restore inside the container (never the password)."""
        return ["-h", self.params["login_host"], "-p", str(self.params["login_port"]),
                "-U", self.params["login_user"]]

    def exec_run(self, argv: list):
        """Run a command in the container; returns (exit code, stdout bytes, stderr bytes)."""
        return exec_output(self.container(), argv, environment=self.exec_env())

    # --- queries ----------------------------------------------------------------------------
    def query(self, sql: str, params=None) -> list:
        """Rows as dicts."""
        if self.via == "tcp":
            try:
                with self._conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    cur.execute(sql, params)
                    return [dict(row) for row in cur.fetchall()] if cur.description else []
            except psycopg2.Error as exc:
                raise PostgresError("query failed: %s" % str(exc).strip())
        wrapped = "SELECT coalesce(json_agg(q), '[]'::json) FROM (%s) q" % interpolate(sql, params)
        code, out, err = self.exec_run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                        *self.client_args(), "-d", self.params["db"], "-c", wrapped])
        if code != 0:
            message = err.decode(errors="replace").strip()
            if message.startswith("psql: error:"):  # psql's prefix for connection failures
                raise PostgresError(explain_connect_error(self.params, message[len("psql: error:"):]))
            raise PostgresError("query failed: %s" % message)
        return json.loads(out.decode() or "[]")

    def execute(self, sql: str, params=None) -> None:
        """A statement that returns no rows."""
        if self.via == "tcp":
            try:
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)
            except psycopg2.Error as exc:
                raise PostgresError("statement failed: %s" % str(exc).strip())
            return
        code, dummy, err = self.exec_run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *self.client_args(),
                                          "-d", self.params["db"], "-c", interpolate(sql, params)])
        if code != 0:
            raise PostgresError("statement failed: %s" % err.decode(errors="replace").strip())

    def scalar(self, sql: str, params=None):
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def copy_in(self, sql: str, stream) -> None:
        """COPY ... FROM STDIN with the data read from a file object (over TCP only)."""
        if self.via != "tcp":
            raise PostgresError("COPY FROM STDIN needs connect_via=tcp")
        try:
            with self._conn.cursor() as cur:
                cur.copy_expert(sql, stream)
        except psycopg2.Error as exc:
            raise PostgresError("COPY failed: %s" % str(exc).strip())

    # --- facts ------------------------------------------------------------------------------
    def server_facts(self) -> dict:
        row = self.query(
            "SELECT current_setting('server_version') AS server_version, "
            "current_setting('server_version_num')::int AS server_version_num, "
            "(SELECT system_identifier::text FROM pg_control_system()) AS system_identifier, "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector_version, "
            "current_database() AS database, current_user AS user")[0]
        return row

    def table_exists(self, name: str) -> bool:
        return bool(self.scalar("SELECT to_regclass(%s) IS NOT NULL AS present", (name,)))

    def vector_columns(self) -> list:
        """Every vector column of every table in the database with its declared type, e.g. vector(768): its table
        (schema-qualified when the schema is not public), column, type, schema and relname (the bare table name)."""
        return self.query(VECTOR_COLUMNS_SQL)

    def other_databases(self, exclude: str) -> list:
        """The cluster's other databases that this login may connect to (no template, none that refuses connections,
        not ``exclude``), each as {name, bytes} (pg_database_size), by name."""
        return [{"name": row["name"], "bytes": int(row["bytes"])} for row in self.query(OTHER_DATABASES_SQL, (exclude,))]


# A table of a database, named as the manifests name it: schema.table, the public schema left out.
TABLE_NAME_SQL = "CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END"
USER_SCHEMAS_SQL = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%' "
                    "AND n.nspname NOT LIKE 'pg\\_temp%%'")
VECTOR_COLUMNS_SQL = (
    "SELECT " + TABLE_NAME_SQL + " AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, "
    "n.nspname AS schema, c.relname AS relname "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE t.typname = 'vector' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
OTHER_DATABASES_SQL = (
    "SELECT datname AS name, pg_database_size(oid)::bigint AS bytes FROM pg_database "
    "WHERE NOT datistemplate AND datallowconn AND datname <> %s AND has_database_privilege(oid, 'CONNECT') ORDER BY 1")
TABLES_SQL = (
    "SELECT n.nspname AS schema, c.relname AS relname, " + TABLE_NAME_SQL + " AS table "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND " + USER_SCHEMAS_SQL + " ORDER BY 3")


def qualified(schema, table: str) -> str:
    """A table name for SQL: schema-qualified when the schema is known."""
    return "%s.%s" % (quote_ident(schema), quote_ident(table)) if schema else quote_ident(table)


def column_table(col: dict) -> str:
    """The table of a row of PostgresClient.vector_columns, for SQL."""
    return qualified(col.get("schema"), col.get("relname") or col["table"])


def table_counts(query) -> list:
    """The rows of every table of the database (partitions counted in their parent), as manifests list them:
    ``[{"table": "settings", "rows": 1}, {"table": "audit.log", "rows": 7}]``; two queries whatever the tables."""
    tables = query(TABLES_SQL)
    if not tables:
        return []
    union = " UNION ALL ".join("SELECT %d AS i, count(*) AS n FROM %s" % (i, qualified(t["schema"], t["relname"]))
                               for i, t in enumerate(tables))
    rows = {int(row["i"]): int(row["n"]) for row in query(union)}
    return [{"table": t["table"], "rows": rows.get(i, 0)} for i, t in enumerate(tables)]


def require_login(module) -> None:
    """Fail the module when it has no user or database to connect with."""
    for option in ("login_user", "db"):
        if not module.params.get(option):
            module.fail_json(msg="%s is required: set it from the inventory's PostgreSQL service" % option)


def client_from_module(module) -> PostgresClient:
    """Check the driver, then connect; a failure fails the module with what to check."""
    ensure_required_libs(module)
    require_login(module)
    client = PostgresClient(module.params)
    try:
        return client.connect()
    except PostgresError as exc:
        client.close()
        module.fail_json(msg=str(exc))


# --- the client tools (pg_dump, pg_restore, psql): where they run -----------------------------------------------

def tool_version(text: str, tool: str):
    """'pg_dump (PostgreSQL) 17.11 (Debian 17.11-0+deb13u1)' -> (17, '17.11')."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", text or "")
    if not match:
        raise PostgresError("cannot read the version of %s from %r" % (tool, (text or "").strip()[:200]))
    return int(match.group(1)), "%s.%s" % (match.group(1), match.group(2) or "0")


def run_version(runner, tool: str):
    """Run `tool --version` where the runner runs the tools; returns (major, 'major.minor')."""
    rc, out, err = runner.run([tool, "--version"])
    if rc != 0:
        raise PostgresError("cannot run %s --version: %s" % (tool, (err or out).decode(errors="replace").strip()))
    return tool_version(out.decode(errors="replace"), tool)


def tools_location(params: dict) -> str:
    """Where the client tools run, for messages."""
    if params["connect_via"] == "docker_exec":
        return "in container %s" % params["container"]
    return "on the managed host"


def free_bytes_from_df(rc: int, out: bytes):
    """The free bytes in the output of `df -Pk <path>`, None when it cannot be read."""
    lines = out.decode(errors="replace").splitlines()
    if rc == 0 and len(lines) > 1 and len(lines[1].split()) > 3 and lines[1].split()[3].isdigit():
        return int(lines[1].split()[3]) * 1024
    return None


def tar_stream(path: str, name: str):
    """A tar archive of one file, generated chunk by chunk (for put_archive; never the whole file in memory)."""
    info = tarfile.TarInfo(name)
    info.size = os.path.getsize(path)
    info.mode = 0o644
    info.mtime = int(os.path.getmtime(path))
    yield info.tobuf(format=tarfile.GNU_FORMAT)
    sent = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sent += len(chunk)
            yield chunk
    if sent != info.size:
        raise PostgresError("%s changed size while it was copied" % path)
    yield b"\0" * ((-info.size) % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


class LocalRunner:
    """The client tools on the managed host; the password comes from a temporary 0600 passfile.

    Uses the module's options bin_dir and connect_timeout and the connection options.
    """

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self._passfile = None

    def binary(self, tool: str) -> str:
        bin_dir = self.module.params["bin_dir"]
        if bin_dir:
            path = os.path.join(bin_dir, tool)
            if not os.access(path, os.X_OK):
                raise PostgresError("no executable %s in bin_dir %s" % (tool, bin_dir))
            return path
        path = self.module.get_bin_path(tool)
        if not path:
            raise PostgresError("%s is not installed on the managed host: install the PostgreSQL client of the server's "
                                "version (or set bin_dir), or use connect_via=docker_exec" % tool)
        return path

    def env(self) -> dict:
        env = dict(tool_env(self.module.params), PGPASSWORD="")
        password = self.module.params["login_password"]
        if password:
            if self._passfile is None:
                fd, self._passfile = tempfile.mkstemp(prefix="pgpass.", dir=self.module.tmpdir)
                with os.fdopen(fd, "w") as handle:
                    handle.write("*:*:*:*:%s\n" % password.replace("\\", "\\\\").replace(":", "\\:"))
                os.chmod(self._passfile, 0o600)
            env["PGPASSFILE"] = self._passfile
        return env

    def run(self, argv: list, env=None):
        """Run a tool; returns (exit code, stdout bytes, stderr bytes)."""
        argv = [self.binary(argv[0])] + list(argv[1:])
        rc, out, err = self.module.run_command(argv, environ_update=dict(self.env(), **(env or {})), umask=0o077,
                                               encoding=None)
        return rc, out or b"", err or b""

    def dump(self, argv: list, path: str):
        """Run pg_dump into `path`; returns (exit code, stderr, sha256 or None)."""
        rc, dummy, err = self.run(argv + ["--file=%s" % path])
        return rc, err, None

    def stage(self, path: str, sha256: str):
        """The path a tool reads a local file from: the file itself (its checksum was verified already)."""
        return path

    def shm_bytes(self):
        """The server's /dev/shm is not visible from here."""
        return None

    def unstage(self):
        pass

    def close(self) -> None:
        if self._passfile and os.path.exists(self._passfile):
            os.unlink(self._passfile)
        self._passfile = None


class DockerRunner:
    """The client tools inside the database container, through the Docker API: their output streams back, a file
    they read is copied into a private directory there first (option container_tmpdir, default /tmp).

    Uses a Docker client without a read timeout: pg_restore builds an index in silence.
    """

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.container_id = client.container().id
        self.api = docker.APIClient(base_url=module.params["docker_host"], timeout=None)
        self.workdir = None

    def create_exec(self, argv: list, env=None, stdin=False) -> str:
        return self.api.exec_create(self.container_id, argv, stdout=True, stderr=True, stdin=stdin,
                                    environment=dict(self.client.exec_env(), **(env or {})))["Id"]

    def exit_code(self, exec_id: str) -> int:
        for dummy in range(200):
            info = self.api.exec_inspect(exec_id)
            if not info.get("Running"):
                return info.get("ExitCode")
            time.sleep(0.05)
        return info.get("ExitCode")

    def stream(self, argv: list, sink, env=None):
        """Run argv, hand each chunk of stdout to sink; returns (exit code, stderr)."""
        exec_id = self.create_exec(argv, env)
        err = b""
        output = self.api.exec_start(exec_id, stream=True, demux=True)
        try:
            for out, chunk_err in output:
                if out:
                    sink(out)
                if chunk_err and len(err) < OUTPUT_LIMIT:
                    err += chunk_err
        finally:
            output.close()
        return self.exit_code(exec_id), err

    def run(self, argv: list, env=None):
        """Run a tool; returns (exit code, stdout bytes (the first OUTPUT_LIMIT or so), stderr bytes)."""
        out = []
        size = [0]

        def sink(chunk):
            if size[0] < OUTPUT_LIMIT:
                out.append(chunk)
                size[0] += len(chunk)
        rc, err = self.stream(argv, sink, env)
        return rc, b"".join(out), err

    def feed(self, argv: list, path: str, env=None):
        """Run argv with the local file `path` streamed into its stdin (as ``docker exec -i`` would: nothing is copied
        into the container first), hashed as it is sent; returns (exit code, stderr, sha256 of what was sent)."""
        exec_id = self.create_exec(argv, env, stdin=True)
        sock = self.api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        err = []

        def drain():  # stdout and stderr are read while stdin is written, so that neither side waits on the other
            try:
                size = next_frame_header(raw)
                while size[1] >= 0:
                    data = read_exactly(raw, size[1])
                    if size[0] == 2 and sum(len(part) for part in err) < OUTPUT_LIMIT:
                        err.append(data)
                    size = next_frame_header(raw)
            except OSError:
                pass
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    raw.sendall(chunk)
        except OSError:
            pass  # the tool stopped reading: its exit code and stderr say why
        finally:
            try:
                raw.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            reader.join()
            sock.close()
        return self.exit_code(exec_id), b"".join(err), digest.hexdigest()

    def dump(self, argv: list, path: str):
        """Run pg_dump, its output streamed into `path`; returns (exit code, stderr, sha256)."""
        digest = hashlib.sha256()
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            def sink(chunk):
                handle.write(chunk)
                digest.update(chunk)
            rc, err = self.stream(argv, sink)
        return rc, err, digest.hexdigest()

    def stage(self, path: str, sha256: str):
        """Stream a local file into a new private directory of the container; returns its path there."""
        container = self.module.params["container"]
        base = self.module.params["container_tmpdir"].rstrip("/") or "/"
        rc, out, err = self.run(["mktemp", "-d", "%s/mem0ops-restore.XXXXXX" % base])
        if rc != 0:
            raise PostgresError("cannot create a directory under %s in container %s: %s"
                                % (base, container, (err or out).decode(errors="replace").strip()))
        self.workdir = out.decode().strip()
        size = os.path.getsize(path)
        free = free_bytes_from_df(*self.run(["df", "-Pk", self.workdir])[:2])
        if free is not None and free < size:
            raise PostgresError("not enough free space in %s inside container %s for the dump: it has %d bytes, %d "
                                "are free; set container_tmpdir to a larger directory" % (base, container, size, free))
        name = os.path.basename(path)
        try:
            self.api.put_archive(self.container_id, self.workdir, tar_stream(path, name))
        except docker.errors.APIError as exc:
            raise PostgresError("cannot copy the dump into container %s: %s" % (container, exc))
        staged = "%s/%s" % (self.workdir, name)
        rc, out, err = self.run(["sha256sum", staged])
        found = out.decode(errors="replace").split()[:1]
        if rc == 0 and found != [sha256]:
            raise PostgresError("the copy of the dump in container %s has sha256 %s, the manifest says %s"
                                % (container, found[0] if found else "?", sha256))
        return staged

    def shm_bytes(self):
        """Free bytes of the container's /dev/shm, None when unknown."""
        return free_bytes_from_df(*self.run(["df", "-Pk", "/dev/shm"])[:2])

    def unstage(self):
        if self.workdir:
            self.run(["rm", "-rf", "--", self.workdir])
            self.workdir = None

    def close(self) -> None:
        self.unstage()
        self.api.close()


def make_runner(module, client):
    """Where the module's client tools run: inside the container (connect_via=docker_exec) or on the managed host."""
    if module.params["connect_via"] == "docker_exec":
        return DockerRunner(module, client)
    return LocalRunner(module, client)
