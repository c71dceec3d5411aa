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

import json
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg2
    import psycopg2.extras
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

try:
    import docker
    import docker.errors
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


def postgres_argument_spec() -> dict:
    """The options of doc fragment mem0ops.stack.postgres."""
    return dict(
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        db=dict(type="str", aliases=["database", "login_db"]),
        connect_via=dict(type="str", default="tcp", choices=["tcp", "docker_exec"]),
        container=dict(type="str"),
        docker_host=dict(type="str", default="unix:///var/run/docker.sock"),
        connect_timeout=dict(type="int", default=10),
    )


POSTGRES_REQUIRED_IF = [("connect_via", "docker_exec", ("container",))]


class PostgresError(Exception):
    """A failure to reach or query PostgreSQL, with what to check."""


def ensure_required_libs(module) -> None:
    if module.params["connect_via"] == "tcp" and not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    if module.params["connect_via"] == "docker_exec" and not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


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
                    application_name="mem0ops.stack")
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
                self._docker = docker.DockerClient(base_url=self.params["docker_host"], timeout=max(60, self.params["connect_timeout"]))
                self._docker.ping()
            except docker.errors.DockerException as exc:
                raise PostgresError("cannot reach the Docker engine at %s: %s; is Docker (Desktop, OrbStack, dockerd) running?"
                                    % (self.params["docker_host"], exc))
        return self._docker

    def container(self):
        if self._container is None:
            name = self.params["container"]
            try:
                container = self.docker_client().containers.get(name)
            except docker.errors.NotFound:
                raise PostgresError("no container named %r: check the inventory's container name against `docker ps -a`" % name)
            if container.status != "running":
                raise PostgresError("container %r is %s, not running: start it first" % (name, container.status))
            self._container = container
        return self._container

    def exec_env(self) -> dict:
        env = {"PGCONNECT_TIMEOUT": str(self.params["connect_timeout"]), "PGAPPNAME": "mem0ops.stack"}
        if self.params.get("login_password"):
            env["PGPASSWORD"] = self.params["login_password"]
        return env

    def client_args(self) -> list:
        """Connection arguments for psql/pg_dump/pg_restore inside the container (never the password)."""
        return ["-h", self.params["login_host"], "-p", str(self.params["login_port"]),
                "-U", self.params["login_user"]]

    def exec_run(self, argv: list):
        """Run a command in the container; returns (exit code, stdout bytes, stderr bytes)."""
        result = self.container().exec_run(argv, environment=self.exec_env(), demux=True)
        out, err = result.output if result.output else (b"", b"")
        return result.exit_code, out or b"", err or b""

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
        """Every vector column in the database with its declared type, e.g. vector(768)."""
        return self.query(
            "SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE t.typname = 'vector' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")


def client_from_module(module) -> PostgresClient:
    """Check the driver, then connect; a failure fails the module with what to check."""
    ensure_required_libs(module)
    for option in ("login_user", "db"):
        if not module.params.get(option):
            module.fail_json(msg="%s is required: set it from the inventory's PostgreSQL service" % option)
    client = PostgresClient(module.params)
    try:
        return client.connect()
    except PostgresError as exc:
        client.close()
        module.fail_json(msg=str(exc))
