#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pgvector_dump
short_description: Dump a mem0 pgvector database with a verified manifest
version_added: 0.1.0
description:
  - Dumps one PostgreSQL database that holds mem0 memories (pgvector) with C(pg_dump), in any of the custom format,
    plain SQL (gzip-compressed) and schema-only, into O(dest), and writes a manifest (C(manifest.json)) beside the
    files.
  - The manifest lists every file with its size and sha256, the server and pgvector versions, the cluster's
    system identifier, the memory counts (in total and per namespace, C(payload->>'user_id')), the rows of
    C(mem0migrations) (which are not memories), the declared and stored dimensions of every vector column, and the
    duration and throughput of the dump.
  - The counts and every file come from one snapshot of the database (C(pg_export_snapshot) and
    C(pg_dump --snapshot)), so the manifest describes exactly what the files hold even while mem0 keeps writing.
  - Each file is written under a temporary name, flushed to disk and renamed only when C(pg_dump) succeeded; any
    failure of C(pg_dump) fails the module and leaves no file under a final name.
  - With O(min_memories) or O(max_drop_percent), a dump that holds fewer memories than expected is kept, its manifest
    says C(status=quarantined) with the problems found, and the module fails with what was expected and what was found.
  - With O(databases=all) (the default) it also dumps every other database of the same cluster that O(login_user)
    may connect to (the upstream mem0 server keeps its users, API keys and runtime embedder overrides in one,
    C(mem0_app)), each in the custom format from a snapshot of its own, and the cluster's roles without their
    passwords (C(pg_dumpall --roles-only --no-role-passwords)); the manifest lists each with its file, sha256 and the
    rows of each of its tables.
  - Restore a dump with M(mem0ops.stack.pgvector_restore).
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.client_tools
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.writes_every_run
attributes:
  check_mode:
    details:
      - Connects, counts and estimates the sizes from the catalog, and returns the files it would write; writes nothing.
  idempotent:
    details:
      - Every run writes a new dump.
options:
  dest:
    description:
      - Directory that receives the dump files and C(manifest.json); one directory per dump.
      - Created with mode C(0700) when it does not exist.
    type: path
    required: true
  formats:
    description:
      - What to dump, one file each, all from the same snapshot.
      - V(custom) is C(pg_dump --format=custom), compressed as O(compression) says, file C(<basename>.dump); this is
        the file M(mem0ops.stack.pgvector_restore) restores.
      - V(plain) is plain SQL compressed with gzip (level 6) by C(pg_dump) itself, file C(<basename>.sql.gz); it can
        be restored anywhere with C(gunzip | psql).
      - V(schema) is the schema only, in plain SQL, file C(<basename>.schema.sql).
    type: list
    elements: str
    choices: [custom, plain, schema]
    default: [custom]
  basename:
    description:
      - File name of the dumps without extension.
      - Defaults to C(<db>_<YYYYmmdd_HHMMSS>) (UTC).
    type: str
  compression:
    description:
      - Compression of the custom-format dump, as C(pg_dump --compress) takes it.
      - V(auto) uses C(zstd:3) when the C(pg_dump) that runs is version 16 or later and built with zstd, else C(gzip).
      - Otherwise one of C(none), C(gzip), C(lz4), C(zstd), optionally with a level, for example C(gzip:9) or C(zstd:3).
        lz4 and zstd need C(pg_dump) 16 or later.
    type: str
    default: auto
  namespace_prefix:
    description:
      - Only namespaces (C(user_id)) that start with this prefix are counted for O(min_memories) and O(max_drop_percent),
        for example C(mark_carey/).
      - The dump and the per-namespace counts of the manifest always cover the whole database.
    type: str
  min_memories:
    description:
      - The least number of memories (under O(namespace_prefix)) a good dump holds.
      - A dump with fewer is kept, marked quarantined in its manifest, and the module fails.
    type: int
  max_drop_percent:
    description:
      - The largest drop of memories (under O(namespace_prefix)) from O(baseline), in percent, that a good dump may show.
      - A dump with a larger drop is kept, marked quarantined in its manifest, and the module fails.
      - Requires O(baseline).
    type: float
  baseline:
    description:
      - The number of memories to compare with, or the path of an earlier manifest written by this module (the file,
        or the directory that holds it).
      - From a manifest, the memories of the namespaces under O(namespace_prefix) are summed.
      - The drop, in percent, is returned in the manifest (C(validation.drop_percent)) even without O(max_drop_percent).
    type: str
  force:
    description:
      - Replace an earlier dump in O(dest) (its C(manifest.json) and files of the same names).
      - By default the module refuses to overwrite anything already in O(dest).
    type: bool
    default: false
  databases:
    description:
      - Which databases of the cluster to dump.
      - V(all) dumps, besides O(db), every other database of the same cluster that O(login_user) may connect to (not
        the templates, nor a database that refuses connections), each in the custom format (compressed as O(compression)
        says) from a snapshot of its own, file C(<basename>.<database>.dump); and the cluster's roles without their
        password hashes (C(pg_dumpall --roles-only --no-role-passwords)), file C(<basename>.roles.sql). The manifest
        lists them under C(databases) and C(roles).
      - V(stack) dumps O(db) only.
    type: str
    choices: [all, stack]
    default: all
notes:
  - With O(connect_via=tcp) a local C(pg_dump) runs; C(pg_dump) refuses to dump a server of a newer major version, and
    so does the module, before dumping. O(connect_via=docker_exec) runs C(pg_dump) inside O(container), whose version
    matches the server's, and streams its output through the Docker API into O(dest).
  - The module fails when O(collection) does not exist (the wrong database, or one mem0 never wrote to).
  - The snapshot is held open by a C(REPEATABLE READ) transaction for the whole dump (over TCP with psycopg2, or by a
    C(psql) session inside the container), which delays the removal of rows deleted meanwhile until the dump ends.
  - Before writing, the free space of O(dest) is compared with an estimate from the catalog (the size of the table
    data; three times as much for an uncompressed custom dump, as vectors are dumped as text; for each other
    database, its size), and the module fails when it is short. A disk that fills up during the dump fails the
    module too, and leaves no file behind.
  - With O(databases=all), each other database is dumped from its own snapshot, after O(db), so the files of different
    databases are not from one instant (PostgreSQL has no snapshot across databases). A C(pg_dump) of any of them that
    fails fails the module and leaves no file; a login that may connect to a database but not read it is refused by
    C(pg_dump) (dump as the database owner or a superuser, or set O(databases=stack)).
  - The roles file never holds a password hash; the module checks that and fails otherwise. Restoring it does not
    restore the roles' passwords.
seealso:
  - module: mem0ops.stack.pgvector_restore
  - name: pg_dump
    description: The PostgreSQL documentation of C(pg_dump).
    link: https://www.postgresql.org/docs/current/app-pgdump.html
"""

EXAMPLES = r"""
- name: Dump the mem0 database inside its container, with a quarantine gate
  mem0ops.stack.pgvector_dump:
    connect_via: docker_exec
    container: "{{ mem0_stack.services.postgres.container }}"
    login_host: 127.0.0.1
    login_port: "{{ mem0_stack.services.postgres.container_port }}"
    login_user: "{{ mem0_stack.services.postgres.user }}"
    login_password: "{{ mem0_stack.services.postgres.password }}"
    db: "{{ mem0_stack.services.postgres.database }}"
    dest: "{{ mem0_stack.backup_root }}/daily/{{ now(utc=true, fmt='%Y%m%d_%H%M%S') }}"
    formats: [custom, plain, schema]
    namespace_prefix: "{{ mem0_stack.mem0.namespace_prefix }}"
    min_memories: 100
    max_drop_percent: 50
    baseline: "{{ mem0_stack.backup_root }}/daily/latest"
  register: dump

- name: Show what was dumped
  ansible.builtin.debug:
    msg: "{{ dump.manifest.counts.memories.namespaces }}"

- name: Predict a dump (counts, estimated sizes, file names) without writing anything
  mem0ops.stack.pgvector_dump:
    connect_via: docker_exec
    container: mem0_postgres_prd
    login_port: 5432
    login_user: mem0_user_prd
    login_password: "{{ vault_mem0_postgres_password }}"
    db: mem0_prd
    dest: /Volumes/Data/backups/mem0/manual
  check_mode: true

- name: Dump over TCP with a PostgreSQL 17 client from Homebrew
  mem0ops.stack.pgvector_dump:
    login_host: 127.0.0.1
    login_port: 5433
    login_user: mem0_user_prd
    login_password: "{{ vault_mem0_postgres_password }}"
    db: mem0_prd
    bin_dir: /opt/homebrew/opt/postgresql@17/bin
    dest: /Volumes/Data/backups/mem0/manual/before-upgrade
    compression: zstd:9
"""

RETURN = r"""
dest:
  description: The directory that holds the dump.
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000
manifest_path:
  description: Path of the manifest (written only outside check mode).
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000/manifest.json
files:
  description: Paths of the dump files, written or (in check mode) that would be written.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.dump]
extra_files:
  description:
    - With O(databases=all), the paths of the dumps of the other databases and of the roles file, written or (in
      check mode) that would be written; empty with O(databases=stack).
  returned: always
  type: list
  elements: str
  sample: [/var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.mem0_app.dump,
           /var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.roles.sql]
manifest:
  description:
    - The manifest, as written to RV(manifest_path); in check mode, the manifest the dump would get, without files.
    - Also returned when the module fails because the dump is quarantined.
  returned: success, or failure with a quarantined dump
  type: dict
  contains:
    format:
      description: Manifest format version.
      type: str
      sample: mem0ops.manifest/1
    kind:
      description: What the manifest describes.
      type: str
      sample: pgvector_dump
    created_at:
      description: When the dump started (UTC, ISO 8601).
      type: str
      sample: "2026-11-22T02:30:00+00:00"
    status:
      description: V(valid), or V(quarantined) when the dump violates O(min_memories) or O(max_drop_percent).
      type: str
      sample: valid
    problems:
      description: What was expected and what was found, for each violation.
      type: list
      elements: str
      sample: ["expected at least 100 memories (min_memories) under namespace prefix 'mark_carey/', found 0"]
    files:
      description: Each dump file with its name (relative to RV(dest)), size, sha256, format, compression and seconds.
      type: list
      elements: dict
      sample:
        - {name: mem0_lab_20261122_023000.dump, size: 213946, sha256: 3b1f..., format: custom, compression: "zstd:3",
           seconds: 0.61}
    database:
      description: The database dumped.
      type: str
      sample: mem0_lab
    user:
      description: The role that dumped it.
      type: str
      sample: mem0_user_lab
    server_version:
      description: PostgreSQL version of the server.
      type: str
      sample: "17.11 (Debian 17.11-0+deb13u1)"
    server_version_num:
      description: PostgreSQL version of the server as a number.
      type: int
      sample: 170011
    pgvector_version:
      description: Version of the C(vector) extension in the database, null when it is not installed.
      type: str
      sample: 0.8.0
    system_identifier:
      description: The cluster's system identifier (C(pg_control_system())); a new cluster has a new one.
      type: str
      sample: "7575934119478067236"
    pg_dump_version:
      description: Version of the C(pg_dump) that made the files.
      type: str
      sample: "17.11"
    connect_via:
      description: How C(pg_dump) reached the server.
      type: str
      sample: docker_exec
    snapshot:
      description: The exported snapshot the counts and every file come from.
      type: dict
      sample: {id: 0000005E-00000004-1, consistent: true}
    collection:
      description: The table of memories.
      type: str
      sample: memories
    namespace_prefix:
      description: The O(namespace_prefix) the validation used.
      type: str
      sample: mark_carey/
    counts:
      description:
        - C(memories) with C(total) (every row of the table), C(selected) (the rows under O(namespace_prefix)) and
          C(namespaces) (rows per C(payload->>'user_id'), every namespace; rows without one are counted under C("")).
        - C(mem0migrations) with C(present), C(rows) and C(types) (rows per C(payload->>'type')); these rows are not
          memories.
      type: dict
      sample:
        memories:
          total: 1968
          selected: 1968
          namespaces: {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
        mem0migrations: {present: true, rows: 1, types: {user_identity: 1}}
    vector_tables:
      description: Each table with a vector column, its declared type and dims, the dims stored in its rows, its rows.
      type: list
      elements: dict
      sample:
        - {table: memories, column: vector, type: vector(768), declared_dims: 768, observed_dims: [768], rows: 1968}
    estimate:
      description: Table data size from the catalog (C(data_bytes)), database size, the estimated size of each file.
      type: dict
      sample: {data_bytes: 9166848, database_bytes: 25679539, files: {custom: 11458560}}
    validation:
      description: The limits checked, the baseline and the drop in percent (null without a baseline).
      type: dict
      sample: {min_memories: 100, max_drop_percent: 50.0, baseline: {memories: 1968, source: number}, drop_percent: 0.0}
    bytes:
      description: Total size of the dump files.
      type: int
      sample: 4386017
    duration_seconds:
      description: Seconds spent dumping, every format.
      type: float
      sample: 1.42
    throughput_bytes_per_second:
      description: RV(manifest.bytes) divided by RV(manifest.duration_seconds).
      type: int
      sample: 3088744
    scope:
      description: The O(databases) dumped, V(all) or V(stack).
      type: str
      sample: all
    databases:
      description:
        - Each other database of the cluster, with C(database) (its name), C(name) (its file, relative to RV(dest)),
          C(tables) (every table with its rows, C(schema.table) outside the public schema), C(estimate_bytes), and
          once written C(size), C(sha256), C(format), C(compression), C(seconds) and C(snapshot).
        - Empty with O(databases=stack) or when the cluster has no other database the login may connect to.
      type: list
      elements: dict
      sample:
        - {database: mem0_app, name: mem0_lab_20261122_023000.mem0_app.dump, size: 5813, sha256: 9c0e...,
           format: custom, compression: "zstd:3", seconds: 0.2, snapshot: {id: 00000061-0000000A-1, consistent: true},
           tables: [{table: api_keys, rows: 2}, {table: settings, rows: 1}, {table: users, rows: 2}],
           estimate_bytes: 9568256}
    roles:
      description:
        - The roles file (C(pg_dumpall --roles-only --no-role-passwords)) with C(name), C(size), C(sha256), C(seconds),
          C(roles) (how many roles it creates) and C(password_hashes) (always V(false)); null with O(databases=stack),
          and without C(size) and C(sha256) in check mode.
      type: dict
      sample: {name: mem0_lab_20261122_023000.roles.sql, size: 612, sha256: 41d2..., seconds: 0.1, roles: 1,
               password_hashes: false}
"""

import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
import traceback
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import (
    collection_argument_spec,
    mem0_counts,
    selected_memories,
    vector_tables,
)
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF,
    STDERR_LIMIT,
    PostgresClient,
    PostgresError,
    client_from_module,
    client_tools_argument_spec,
    ensure_docker,
    interpolate,
    make_runner,
    postgres_argument_spec,
    run_version,
    table_counts,
    tools_location,
)

try:
    from docker.utils.socket import next_frame_header, read_exactly
except ImportError:  # ensure_docker fails the module before these are needed
    next_frame_header = read_exactly = None

KIND = "pgvector_dump"
EXTENSIONS = {"custom": "dump", "plain": "sql.gz", "schema": "schema.sql"}
PLAIN_COMPRESSION = ("gzip", 6)
LEVELS = {"gzip": (1, 9), "lz4": (1, 12), "zstd": (1, 22)}
# Estimated file size per byte of table data: vectors are dumped as text (about three times their binary size)
# and compress back to a little more than their binary size.
COMPRESSED_RATIO = 1.25
UNCOMPRESSED_RATIO = 3.0
SCHEMA_ESTIMATE = 1 << 20
PROBE_DB = "host=/nonexistent/mem0ops-probe"
HEADERS = {"custom": b"PGDMP", "plain": b"\x1f\x8b"}
ROLES_EXTENSION = "roles.sql"
# What a password hash looks like in a roles file (SCRAM or md5), or a PASSWORD clause at all.
PASSWORD_HASH = re.compile(r"SCRAM-SHA-256\$|\bmd5[0-9a-f]{32}\b|\bPASSWORD\s+'", re.IGNORECASE)


class DumpError(Exception):
    """A failure with a message that says what happened and what to do."""


def parse_compression(spec: str):
    """'zstd:3' -> ('zstd', 3); 'gzip' -> ('gzip', None); 'auto' -> ('auto', None)."""
    match = re.match(r"^(auto|none|gzip|lz4|zstd)(?::(\d+))?$", (spec or "").strip().lower())
    if not match:
        raise DumpError("compression must be auto, none, gzip, lz4 or zstd, optionally with a level such as zstd:3; got %r" % spec)
    algorithm, level = match.group(1), match.group(2)
    if level is None:
        return algorithm, None
    if algorithm in ("auto", "none"):
        raise DumpError("compression %r takes no level" % algorithm)
    low, high = LEVELS[algorithm]
    if not low <= int(level) <= high:
        raise DumpError("the %s level must be between %d and %d; got %s" % (algorithm, low, high, level))
    return algorithm, int(level)


def compression_label(algorithm: str, level) -> str:
    return algorithm if level is None else "%s:%d" % (algorithm, level)


def compress_arg(algorithm: str, level, pg_dump_major: int) -> str:
    """The --compress argument for this pg_dump (16 takes algorithm:level, older ones only a gzip level)."""
    if pg_dump_major >= 16:
        return "--compress=%s" % compression_label(algorithm, level)
    if algorithm == "none":
        return "--compress=0"
    if algorithm == "gzip":
        return "--compress=%d" % (6 if level is None else level)
    raise DumpError("%s compression needs pg_dump 16 or later; this pg_dump is %d: use compression=gzip" % (algorithm, pg_dump_major))


def pg_dump_args(fmt: str, algorithm: str, level, pg_dump_major: int) -> list:
    if fmt == "custom":
        return ["--format=custom", compress_arg(algorithm, level, pg_dump_major)]
    if fmt == "plain":
        return ["--format=plain", compress_arg(PLAIN_COMPRESSION[0], PLAIN_COMPRESSION[1], pg_dump_major)]
    return ["--format=plain", "--schema-only"]


def file_compression(fmt: str, algorithm: str, level) -> str:
    if fmt == "custom":
        return compression_label(algorithm, level)
    if fmt == "plain":
        return compression_label(*PLAIN_COMPRESSION)
    return "none"


def estimate_bytes(fmt: str, algorithm: str, data_bytes: int) -> int:
    if fmt == "schema":
        return SCHEMA_ESTIMATE
    if fmt == "custom" and algorithm == "none":
        return int(data_bytes * UNCOMPRESSED_RATIO)
    return int(data_bytes * COMPRESSED_RATIO)


def human(size) -> str:
    size = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return "%.1f %s" % (size, unit) if unit != "B" else "%d B" % size
        size /= 1024.0
    return "%d B" % size


def default_basename(db: str, now: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", db)
    return "%s_%s" % (safe, now.strftime("%Y%m%d_%H%M%S"))


def database_file_names(basename: str, databases: list) -> list:
    """(database, file name) of each other database: <basename>.<database>.dump, the name made safe for a file name and
    unique."""
    names, used = [], set()
    for database in databases:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", database).strip(".") or "database"
        name, count = "%s.%s.%s" % (basename, safe, EXTENSIONS["custom"]), 1
        while name in used:
            count += 1
            name = "%s.%s_%d.%s" % (basename, safe, count, EXTENSIONS["custom"])
        used.add(name)
        names.append((database, name))
    return names


def roles_in(text: str) -> int:
    """How many roles a pg_dumpall --roles-only file creates."""
    return len(re.findall(r"^CREATE ROLE ", text, re.MULTILINE))


def number(value):
    return int(value) if float(value).is_integer() else value


def resolve_baseline(value, prefix, collection):
    """A number, or an earlier manifest: returns (dict(memories=..., source=...), warnings)."""
    if value is None:
        return None, []
    try:
        count = float(value)
    except ValueError:
        count = None
    if count is not None:
        if not math.isfinite(count) or count < 0:
            raise DumpError("baseline must be a number of memories (0 or more) or the path of a manifest; got %s" % value)
        return {"memories": number(count), "source": "number"}, []
    try:
        earlier = mf.read_manifest(value)
    except mf.ManifestError as exc:
        raise DumpError("baseline %r is neither a number nor a readable manifest: %s" % (value, exc))
    path = mf.manifest_path(value)
    if earlier.get("kind") != KIND:
        raise DumpError("baseline %s is a %r manifest, not a %s manifest" % (path, earlier.get("kind"), KIND))
    try:
        namespaces = earlier["counts"]["memories"]["namespaces"]
        count = selected_memories(namespaces, prefix)
    except (KeyError, TypeError, AttributeError):
        raise DumpError("baseline %s holds no per-namespace memory counts" % path)
    warnings = []
    if earlier.get("status") != mf.STATUS_VALID:
        warnings.append("the baseline %s is %s: the drop is measured against a dump that failed its own checks"
                        % (path, earlier.get("status")))
    if earlier.get("collection", collection) != collection:
        warnings.append("the baseline %s counted table %r, this dump counts %r" % (path, earlier.get("collection"), collection))
    return {"memories": count, "source": path, "created_at": earlier.get("created_at"),
            "system_identifier": earlier.get("system_identifier")}, warnings


def validate(selected: int, prefix, min_memories, max_drop_percent, baseline):
    """The problems of a dump holding `selected` memories, and its drop from the baseline in percent."""
    scope = "under namespace prefix %r" % prefix if prefix else "in total"
    problems = []
    if min_memories is not None and selected < min_memories:
        problems.append("expected at least %d memories (min_memories) %s, found %d" % (min_memories, scope, selected))
    drop = None
    if baseline is not None and baseline["memories"] > 0:
        drop = round((baseline["memories"] - selected) * 100.0 / baseline["memories"], 2)
        if max_drop_percent is not None and drop > max_drop_percent:
            values = (number(max_drop_percent), number(baseline["memories"]), baseline["source"], scope, selected, number(drop))
            problems.append("expected at most a %s%% drop (max_drop_percent) from the baseline of %s memories (%s) %s, "
                            "found %d: a drop of %s%%" % values)
    return problems, drop


DATA_BYTES_SQL = (
    "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint AS data_bytes, "
    "pg_database_size(current_database())::bigint AS database_bytes "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%%'")


# --- the snapshot that the counts and every file share ------------------------------------------------------

class NoSnapshot:
    """Check mode: plain queries, nothing held open."""

    snapshot_id = None

    def __init__(self, client):
        self.client = client

    def open(self):
        return self

    def query(self, sql, params=None):
        return self.client.query(sql, params)

    def close(self, commit=True):
        pass


class TcpSnapshot(NoSnapshot):
    """A REPEATABLE READ transaction on the module's own psycopg2 session exports the snapshot and counts in it."""

    def open(self):
        self.client.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self.snapshot_id = self.client.scalar("SELECT pg_export_snapshot()")
        return self

    def close(self, commit=True):
        if self.snapshot_id is not None:
            try:
                self.client.execute("COMMIT" if commit else "ROLLBACK")
            except PostgresError:
                pass
            self.snapshot_id = None


class DockerSnapshot(NoSnapshot):
    """A psql session inside the container holds the snapshot open; each count imports it in its own psql."""

    def __init__(self, client, runner, timeout):
        super().__init__(client)
        self.runner = runner
        self.timeout = timeout
        self._exec_id = None
        self._sock = None
        self._raw = None

    def _psql(self):
        return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *self.client.client_args(), "-d", self.client.params["db"]]

    def open(self):
        self._exec_id = self.runner.create_exec(self._psql(), stdin=True)
        self._sock = self.runner.api.exec_start(self._exec_id, socket=True)
        self._raw = getattr(self._sock, "_sock", self._sock)
        self._raw.settimeout(self.timeout)
        self._raw.sendall(b"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n")
        out, err = b"", b""
        try:
            while b"\n" not in out:
                stream, size = next_frame_header(self._raw)
                if size < 0:
                    break
                data = read_exactly(self._raw, size)
                if stream == 1:
                    out += data
                else:
                    err += data
        except (OSError, socket.timeout) as exc:
            raise DumpError("the psql session that holds the snapshot did not answer: %s" % exc)
        self.snapshot_id = out.decode(errors="replace").strip() or None
        if not self.snapshot_id:
            message = err.decode(errors="replace").strip()
            raise DumpError("cannot export a snapshot inside %s: %s" % (self.client.params["container"], message))
        return self

    def query(self, sql, params=None):
        wrapped = "SELECT coalesce(json_agg(q), '[]'::json) FROM (%s) q" % interpolate(sql, params)
        argv = self._psql() + ["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                               "-c", "SET TRANSACTION SNAPSHOT '%s'" % self.snapshot_id, "-c", wrapped, "-c", "COMMIT"]
        code, out, err = self.client.exec_run(argv)
        if code != 0:
            raise PostgresError("query failed: %s" % err.decode(errors="replace").strip())
        return json.loads(out.decode() or "[]")

    def close(self, commit=True):
        if self._raw is None:
            return
        try:
            self._raw.sendall(b"COMMIT;\n" if commit else b"ROLLBACK;\n")
            self._raw.shutdown(socket.SHUT_WR)
            size = next_frame_header(self._raw)[1]
            while size >= 0:
                read_exactly(self._raw, size)
                size = next_frame_header(self._raw)[1]
        except (OSError, socket.timeout):
            pass
        finally:
            self._sock.close()
            self._raw = None
            self.snapshot_id = None


# --- the module ---------------------------------------------------------------------------------------------

class PgvectorDump:
    """Plans, dumps, verifies and describes one dump; holds the module's results."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.results = {"changed": False, "dest": self.params["dest"],
                        "manifest_path": os.path.join(self.params["dest"], mf.MANIFEST_NAME), "files": [],
                        "extra_files": []}
        self.warnings = []
        self.client = None
        self.runner = None
        self.snapshot = None
        self.partials = []
        self.others = []
        self.extra_targets = []
        self.roles_target = None

    # -- inputs
    def check_inputs(self):
        formats = self.params["formats"]
        if not formats:
            raise DumpError("formats must name at least one of custom, plain, schema")
        if len(set(formats)) != len(formats):
            raise DumpError("formats lists a format twice: %s" % ", ".join(formats))
        basename = self.params["basename"]
        if basename is not None and (not basename or "/" in basename or basename.startswith(".")):
            raise DumpError("basename must be a plain file name (no '/', not starting with '.'); got %r" % basename)
        self.algorithm, self.level = parse_compression(self.params["compression"])
        if self.params["min_memories"] is not None and self.params["min_memories"] < 0:
            raise DumpError("min_memories must not be negative; got %d" % self.params["min_memories"])
        drop = self.params["max_drop_percent"]
        if drop is not None and not 0 <= drop <= 100:
            raise DumpError("max_drop_percent must be between 0 and 100; got %s" % drop)
        self.baseline, warnings = resolve_baseline(self.params["baseline"], self.params["namespace_prefix"],
                                                   self.params["collection"])
        self.warnings.extend(warnings)

    def check_dest(self):
        dest = self.params["dest"]
        existing = dest
        while not os.path.exists(existing):
            existing = os.path.dirname(existing) or "."
        if not os.path.isdir(existing):
            if existing == dest:
                raise DumpError("dest %s exists and is not a directory" % dest)
            raise DumpError("cannot create dest %s: %s is not a directory" % (dest, existing))
        if existing != dest and not os.access(existing, os.W_OK | os.X_OK):
            raise DumpError("cannot create dest %s: %s is not writable" % (dest, existing))
        if existing == dest and not os.access(dest, os.W_OK | os.X_OK):
            raise DumpError("dest %s is not writable" % dest)
        if os.path.exists(self.results["manifest_path"]) and not self.params["force"]:
            raise DumpError("dest %s already holds a dump (manifest.json): use a new directory for each dump, or "
                            "force=true to replace it" % dest)
        self.free_bytes = shutil.disk_usage(existing).free

    # -- the database
    def connect(self):
        self.client = client_from_module(self.module)
        self.facts = self.client.server_facts()
        self.runner = make_runner(self.module, self.client)
        self.pg_dump_major, self.pg_dump_version = run_version(self.runner, "pg_dump")
        server_major = int(self.facts["server_version_num"]) // 10000
        if self.pg_dump_major < server_major:
            where = tools_location(self.params)
            raise DumpError("pg_dump %s %s is older than the server (PostgreSQL %s) and cannot dump it: use "
                            "connect_via=docker_exec to run the pg_dump of the database container, whose version "
                            "matches the server's, or point bin_dir at a PostgreSQL %d client"
                            % (self.pg_dump_version, where, self.facts["server_version"], server_major))
        if self.algorithm == "auto":
            self.algorithm, self.level = self.auto_compression()
        compress_arg(self.algorithm, self.level, self.pg_dump_major)

    def auto_compression(self):
        if self.pg_dump_major < 16:
            return "gzip", None
        rc, out, err = self.runner.run(["pg_dump", "--format=custom", "--compress=zstd:3", "--dbname=" + PROBE_DB])
        if b"not support" in err:
            return "gzip", None
        return "zstd", 3

    def open_snapshot(self):
        if self.check_mode:
            self.snapshot = NoSnapshot(self.client)
        elif self.params["connect_via"] == "docker_exec":
            self.snapshot = DockerSnapshot(self.client, self.runner, self.params["connect_timeout"] + 60)
        else:
            self.snapshot = TcpSnapshot(self.client)
        self.snapshot.open()

    def survey(self):
        query = self.snapshot.query
        counts = mem0_counts(query, self.params["collection"])
        counts["memories"]["selected"] = selected_memories(counts["memories"]["namespaces"], self.params["namespace_prefix"])
        self.counts = counts
        self.vector_tables = vector_tables(query, self.client.vector_columns())
        self.sizes = query(DATA_BYTES_SQL)[0]
        if self.params["databases"] == "all":
            self.others = self.client.other_databases(self.params["db"])
        for table in self.vector_tables:
            if table["declared_dims"] and any(d != table["declared_dims"] for d in table["observed_dims"]):
                self.warnings.append("table %s declares %s but holds vectors of %s dims"
                                     % (table["table"], table["type"], table["observed_dims"]))

    # -- the plan
    def plan(self):
        basename = self.params["basename"] or default_basename(self.params["db"], self.started)
        self.targets = []
        for fmt in self.params["formats"]:
            path = os.path.join(self.params["dest"], "%s.%s" % (basename, EXTENSIONS[fmt]))
            if os.path.exists(path) and not self.params["force"]:
                raise DumpError("%s already exists: choose another basename, or force=true to replace it" % path)
            self.targets.append((fmt, path))
        self.results["files"] = [path for dummy, path in self.targets]
        data_bytes = int(self.sizes["data_bytes"])
        self.estimates = {fmt: estimate_bytes(fmt, self.algorithm, data_bytes) for fmt, dummy in self.targets}
        needed = sum(self.estimates.values()) + self.plan_cluster(basename)
        if needed > self.free_bytes:
            raise DumpError("not enough free space for the dump in %s: it needs about %s (estimated from %s of table data "
                            "in the catalog), %s is free" % (self.params["dest"], human(needed), human(data_bytes),
                                                             human(self.free_bytes)))
        self.problems, self.drop = validate(self.counts["memories"]["selected"], self.params["namespace_prefix"],
                                            self.params["min_memories"], self.params["max_drop_percent"], self.baseline)

    def plan_cluster(self, basename: str) -> int:
        """With databases=all: the file of each other database and the roles file; returns their estimated bytes."""
        if self.params["databases"] != "all":
            return 0
        sizes = dict((db["name"], db["bytes"]) for db in self.others)
        for database, name in database_file_names(basename, [db["name"] for db in self.others]):
            self.extra_targets.append({"database": database, "name": name, "path": self.target_path(name),
                                       "estimate_bytes": estimate_bytes("custom", self.algorithm, sizes[database])})
        self.roles_target = self.target_path("%s.%s" % (basename, ROLES_EXTENSION))
        self.results["extra_files"] = [t["path"] for t in self.extra_targets] + [self.roles_target]
        if self.check_mode:  # what the files would hold; a real run counts inside each database's snapshot
            for target in self.extra_targets:
                client = self.database_client(target["database"])
                try:
                    target["tables"] = table_counts(client.query)
                finally:
                    client.close()
        return sum(t["estimate_bytes"] for t in self.extra_targets) + SCHEMA_ESTIMATE

    def target_path(self, name: str) -> str:
        path = os.path.join(self.params["dest"], name)
        if os.path.exists(path) and not self.params["force"]:
            raise DumpError("%s already exists: choose another basename, or force=true to replace it" % path)
        return path

    def database_client(self, database: str):
        """A session on another database of the cluster, with the module's connection options."""
        client = PostgresClient(dict(self.params, db=database))
        try:
            return client.connect()
        except PostgresError as exc:
            client.close()
            raise DumpError("cannot dump database %r of the cluster: %s; set databases=stack to dump only %r"
                            % (database, exc, self.params["db"]))

    def manifest(self) -> dict:
        data = mf.new_manifest(KIND)
        data["created_at"] = self.started.replace(microsecond=0).isoformat()
        data.update({
            "status": mf.STATUS_QUARANTINED if self.problems else mf.STATUS_VALID,
            "problems": list(self.problems),
            "database": self.facts["database"], "user": self.facts["user"],
            "server_version": self.facts["server_version"], "server_version_num": int(self.facts["server_version_num"]),
            "pgvector_version": self.facts["pgvector_version"], "system_identifier": self.facts["system_identifier"],
            "pg_dump_version": self.pg_dump_version, "connect_via": self.params["connect_via"],
            "snapshot": {"id": self.snapshot.snapshot_id, "consistent": self.snapshot.snapshot_id is not None},
            "collection": self.params["collection"], "namespace_prefix": self.params["namespace_prefix"],
            "counts": self.counts, "vector_tables": self.vector_tables,
            "estimate": {"data_bytes": int(self.sizes["data_bytes"]), "database_bytes": int(self.sizes["database_bytes"]),
                         "files": dict(self.estimates)},
            "validation": {"min_memories": self.params["min_memories"], "max_drop_percent": self.params["max_drop_percent"],
                           "baseline": self.baseline, "drop_percent": self.drop},
            "scope": self.params["databases"],
            "databases": [{"database": t["database"], "name": t["name"], "tables": t.get("tables"),
                           "estimate_bytes": t["estimate_bytes"]} for t in self.extra_targets],
            "roles": None if self.roles_target is None else {"name": os.path.basename(self.roles_target)},
        })
        return data

    # -- the dump
    def dump_all(self, data: dict):
        dest = self.params["dest"]
        try:
            if not os.path.isdir(dest):
                os.makedirs(dest, 0o700)
            fd, probe = tempfile.mkstemp(prefix=".mem0ops-probe.", dir=dest)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise DumpError("dest %s is not writable: %s" % (dest, exc))
        started = time.monotonic()
        for fmt, path in self.targets:
            data["files"].append(self.dump_one(fmt, path))
        data["duration_seconds"] = round(time.monotonic() - started, 3)
        data["bytes"] = sum(entry["size"] for entry in data["files"])
        data["throughput_bytes_per_second"] = int(data["bytes"] / max(data["duration_seconds"], 0.001))
        self.snapshot.close(commit=True)
        data["databases"] = [self.dump_database(target) for target in self.extra_targets]
        if self.roles_target is not None:
            data["roles"] = self.dump_roles(self.roles_target)
        for path in [path for dummy, path in self.targets] + self.results["extra_files"]:
            mf.commit_file(mf.partial_path(path), path)
        self.partials = []

    def dump_one(self, fmt: str, path: str) -> dict:
        argv = ["pg_dump", "--no-password", *pg_dump_args(fmt, self.algorithm, self.level, self.pg_dump_major),
                "--snapshot=%s" % self.snapshot.snapshot_id, *self.client.client_args(), "--dbname=%s" % self.params["db"]]
        entry = self.dump_file("pg_dump (%s format)" % fmt, fmt, argv, path)
        entry.update(format=fmt, compression=file_compression(fmt, self.algorithm, self.level))
        return entry

    def dump_file(self, what: str, fmt, argv: list, path: str) -> dict:
        """Run a client tool into the partial file of `path`, check what it wrote; returns its manifest entry."""
        partial = mf.partial_path(path)
        self.partials.append(partial)
        started = time.monotonic()
        try:
            rc, err, digest = self.runner.dump(argv, partial)
        except OSError as exc:
            raise DumpError("cannot write %s: %s" % (partial, exc))
        seconds = round(time.monotonic() - started, 3)
        message = err.decode(errors="replace").strip()
        if rc != 0:
            raise DumpError("%s failed with exit code %s: %s" % (what, rc, message[-STDERR_LIMIT:] or "no message"))
        if message:
            self.warnings.append("%s: %s" % (what, message[-STDERR_LIMIT:]))
        os.chmod(partial, 0o600)
        with open(partial, "rb") as handle:
            head = handle.read(8)
        if not head or (fmt in HEADERS and not head.startswith(HEADERS[fmt])):
            raise DumpError("%s exited 0 but wrote %s: not a %s dump"
                            % (what, "nothing" if not head else "%r" % head, fmt or "roles"))
        entry = mf.file_entry(partial, self.params["dest"], sha256=digest)
        entry.update(name=os.path.basename(path), seconds=seconds)
        return entry

    def dump_database(self, target: dict) -> dict:
        """Another database of the cluster, custom format, its table counts and its file from one snapshot of its own."""
        database = target["database"]
        client = self.database_client(database)
        snapshot = None
        try:
            if self.params["connect_via"] == "docker_exec":
                snapshot = DockerSnapshot(client, self.runner, self.params["connect_timeout"] + 60)
            else:
                snapshot = TcpSnapshot(client)
            snapshot.open()
            tables = table_counts(snapshot.query)
            snapshot_id = snapshot.snapshot_id
            argv = ["pg_dump", "--no-password", *pg_dump_args("custom", self.algorithm, self.level, self.pg_dump_major),
                    "--snapshot=%s" % snapshot_id, *client.client_args(), "--dbname=%s" % database]
            try:
                entry = self.dump_file("pg_dump of database %r (custom format)" % database, "custom", argv, target["path"])
            except DumpError as exc:
                raise DumpError("%s; set databases=stack to dump only %r" % (exc, self.params["db"]))
            snapshot.close(commit=True)
        finally:
            if snapshot is not None:
                snapshot.close(commit=False)
            client.close()
        entry = dict({"database": database}, **entry)
        entry.update(format="custom", compression=file_compression("custom", self.algorithm, self.level),
                     snapshot={"id": snapshot_id, "consistent": True}, tables=tables,
                     estimate_bytes=target["estimate_bytes"])
        return entry

    def dump_roles(self, path: str) -> dict:
        """The cluster's roles without their passwords (pg_dumpall --roles-only --no-role-passwords)."""
        argv = ["pg_dumpall", "--no-password", "--roles-only", "--no-role-passwords", *self.client.client_args(),
                "--database=%s" % self.params["db"]]
        entry = self.dump_file("pg_dumpall --roles-only", None, argv, path)
        with open(mf.partial_path(path), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if PASSWORD_HASH.search(text):
            raise DumpError("the roles file of pg_dumpall holds a password or a password hash although it ran with "
                            "--no-role-passwords: it was not kept")
        entry.update(roles=roles_in(text), password_hashes=False)
        return entry

    def cleanup(self):
        for partial in self.partials:
            if os.path.exists(partial):
                os.unlink(partial)
        self.partials = []

    def close(self):
        if self.snapshot is not None:
            self.snapshot.close(commit=True)
        if self.runner is not None:
            self.runner.close()
        if self.client is not None:
            self.client.close()

    def run(self):
        self.started = datetime.now(timezone.utc)
        self.check_inputs()
        self.check_dest()
        self.connect()
        self.open_snapshot()
        self.survey()
        self.plan()
        data = self.manifest()
        self.results["changed"] = True
        if not self.check_mode:
            self.dump_all(data)
            self.snapshot.close(commit=True)
            mf.write_json_atomic(self.results["manifest_path"], data)
        self.results["manifest"] = data
        return data

    def execute(self):
        data = None
        try:
            data = self.run()
        except (DumpError, PostgresError, mf.ManifestError) as exc:
            self.abort(str(exc))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.abort("pgvector_dump failed: %s" % exc, exception=traceback.format_exc())
        finally:
            self.close()
        for warning in self.warnings:
            self.module.warn(warning)
        if data["counts"]["memories"]["selected"] == 0 and self.params["min_memories"] is None:
            self.module.warn("the dump holds no memories%s: set min_memories to quarantine such a dump"
                             % (" under %r" % self.params["namespace_prefix"] if self.params["namespace_prefix"] else ""))
        if data["status"] == mf.STATUS_QUARANTINED:
            where = "would be" if self.check_mode else "is"
            self.module.fail_json(msg="the dump %s quarantined: %s. %s" % (
                where, "; ".join(data["problems"]),
                "Nothing was written (check mode)." if self.check_mode else
                "It is kept in %s and its manifest says status=quarantined: it must not replace a good backup."
                % self.params["dest"]), **self.results)
        self.module.exit_json(**self.results)

    def abort(self, msg, **kwargs):
        self.cleanup()
        self.results.update(changed=False, files=[], extra_files=[])
        if self.snapshot is not None:
            self.snapshot.close(commit=False)
        self.module.fail_json(msg=msg, **dict(self.results, **kwargs))


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(client_tools_argument_spec())
    argument_spec.update(collection_argument_spec())
    argument_spec.update(
        dest=dict(type="path", required=True),
        formats=dict(type="list", elements="str", choices=["custom", "plain", "schema"], default=["custom"]),
        basename=dict(type="str"),
        compression=dict(type="str", default="auto"),
        namespace_prefix=dict(type="str"),
        min_memories=dict(type="int"),
        max_drop_percent=dict(type="float"),
        baseline=dict(type="str"),
        force=dict(type="bool", default=False),
        databases=dict(type="str", choices=["all", "stack"], default="all"),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_if=POSTGRES_REQUIRED_IF,
                           required_by={"max_drop_percent": "baseline"}, supports_check_mode=True)
    ensure_docker(module)
    PgvectorDump(module).execute()


if __name__ == "__main__":
    main()
