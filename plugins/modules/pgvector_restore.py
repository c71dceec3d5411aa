#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pgvector_restore
short_description: Restore a pgvector_dump into a database and prove the memory counts
version_added: 0.1.0
description:
  - Restores the custom-format dump of a M(mem0ops.stack.pgvector_dump) manifest into O(target_db) with
    C(pg_restore --jobs), then counts the memories per namespace, the C(mem0migrations) rows and the rows of every
    vector table in O(target_db) and fails, with the differences, unless they equal the manifest's.
  - Verifies the size and sha256 of every file of the manifest first, and refuses to restore when one differs.
  - Creates O(target_db) when it is absent (O(create)); refuses to restore into a database that already holds
    relations unless O(clean=true).
  - With O(index_phase=deferred) the tables and their rows are restored first and the indexes (the HNSW index
    among them, the slow part) afterwards, with O(maintenance_work_mem) and O(max_parallel_maintenance_workers);
    the two phases are timed separately.
  - A dump made with C(databases=all) also holds the other databases of its cluster (such as the upstream mem0
    server's C(mem0_app)); with O(databases=all) each is restored after O(target_db), under the name O(database_prefix)
    gives it, and its rows are counted per table and compared with the manifest's. A dump without them restores
    O(target_db) only.
  - A manifest without a custom-format file but with a gzip-compressed plain-SQL one (the PostgreSQL part of an
    adopted set, M(mem0ops.stack.mem0_backup_adopt), the owner's old C(pg_dump | gzip -9) file) is loaded the way the
    adoption loaded it - C(gunzip | psql) with C(ON_ERROR_STOP) in one transaction, ownership and privilege statements
    left out, failing on a corrupt or truncated file or a dump without pg_dump's closing line - then counted and
    compared with the manifest the same way. Its indexes are built within the load, so O(index_phase), O(jobs) and
    O(clean) do not apply (RV(loader) says which loader ran).
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.client_tools
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.writes_every_run
attributes:
  check_mode:
    details:
      - Verifies the checksums, connects, and reports whether O(target_db) would be created or cleaned; changes nothing.
  idempotent:
    details:
      - Every run restores the dump again; a second run into the same database needs O(clean=true).
options:
  db:
    description:
      - Database to connect to for creating O(target_db), for example C(postgres) or the mem0 database itself.
  src:
    description:
      - The directory of a dump made by M(mem0ops.stack.pgvector_dump), or the path of its C(manifest.json).
      - The manifest must list a custom-format file, or a plain-SQL file compressed with gzip (see the description).
    type: path
    required: true
  target_db:
    description:
      - Database to restore into.
    type: str
    required: true
  create:
    description:
      - Create O(target_db) (from C(template0), owned by O(login_user)) when it does not exist.
      - When the restore itself fails, a database the module created is dropped again.
    type: bool
    default: true
  clean:
    description:
      - Restore into a O(target_db) that already holds relations, dropping the objects of the dump before recreating
        them (C(pg_restore --clean --if-exists)). Objects that are not in the dump are left alone.
      - Without it the module refuses to restore into a database that is not empty.
    type: bool
    default: false
  jobs:
    description:
      - Number of parallel C(pg_restore) jobs (C(--jobs)).
    type: int
    default: 2
  index_phase:
    description:
      - V(together) restores everything in one C(pg_restore) run.
      - V(deferred) restores the schema and the rows first (sections pre-data and data), then the indexes and
        constraints (section post-data); RV(data_seconds) and RV(index_seconds) time the two phases.
    type: str
    choices: [together, deferred]
    default: together
  maintenance_work_mem:
    description:
      - C(maintenance_work_mem) of the sessions that build the indexes, for example C(1GB); an HNSW index builds several
        times faster when its graph fits in it.
      - An empty string keeps the server's setting.
    type: str
    default: 512MB
  max_parallel_maintenance_workers:
    description:
      - C(max_parallel_maintenance_workers) of the sessions that build the indexes (workers per index build).
      - A parallel HNSW build allocates O(maintenance_work_mem) in shared memory, and Docker gives a container 64MB of
        C(/dev/shm) unless told otherwise (C(shm_size)). With O(connect_via=docker_exec), when the container's
        C(/dev/shm) is smaller than O(maintenance_work_mem), the module builds the indexes without workers and warns.
    type: int
    default: 2
  no_owner:
    description:
      - Do not restore the ownership of the objects (C(pg_restore --no-owner)); the objects belong to O(login_user).
      - Needed when the dump was made by a role that does not exist on this server.
    type: bool
    default: false
  analyze:
    description:
      - Run C(ANALYZE) on O(target_db) after the restore, so that the planner chooses the same plans (the HNSW index for
        mem0's searches) as on the source database; C(pg_restore) restores no statistics.
    type: bool
    default: true
  allow_quarantined:
    description:
      - Restore a dump whose manifest says C(status=quarantined); refused by default.
    type: bool
    default: false
  container_tmpdir:
    description:
      - With O(connect_via=docker_exec), the directory inside O(container) that receives a copy of the dump for the
        duration of the restore (in a private subdirectory, removed afterwards).
    type: str
    default: /tmp
  databases:
    description:
      - Which databases of the dump to restore.
      - V(all) restores, after O(target_db), every other database the dump holds (C(databases) of its manifest), each
        into the database O(database_prefix) names. One that does not exist is created (from C(template0), owned by
        O(login_user)); one that exists is dropped, its sessions closed, and created again, except O(db), the database
        the module connects to, into which the dump is restored with C(pg_restore --clean --if-exists). A database
        created or recreated for a restore that fails is dropped again.
      - V(stack) restores O(target_db) only.
    type: str
    choices: [all, stack]
    default: all
  database_prefix:
    description:
      - The prefix of the names the other databases are restored under, for example V(drill_) restores C(mem0_app)
        into C(drill_mem0_app).
      - By default none when O(target_db) is the database the dump was made from (a restore of the stack, or a drill
        into a throwaway server), else C(<target_db>_), so that a restore beside the stack under another name never
        replaces its other databases.
    type: str
notes:
  - With O(connect_via=docker_exec) the dump is streamed into O(container) through the Docker API, its sha256 checked
    there when C(sha256sum) exists, and C(pg_restore) of the server's version runs inside the container.
  - With O(connect_via=tcp) a local C(pg_restore) runs; it must be at least the major version of the C(pg_dump) that
    made the dump, which the module checks before restoring.
  - C(pg_restore) runs with C(--exit-on-error), so its first error fails the module.
  - The roles file of a dump (C(pg_dumpall --roles-only --no-role-passwords)) is verified and returned as
    RV(roles_file), never applied; it holds no password. A role the dump's objects belong to must exist on the server,
    or set O(no_owner=true).
seealso:
  - module: mem0ops.stack.pgvector_dump
  - name: pg_restore
    description: The PostgreSQL documentation of C(pg_restore).
    link: https://www.postgresql.org/docs/current/app-pgrestore.html
"""

EXAMPLES = r"""
- name: Restore last night's dump into a scratch database and prove the counts (a restore drill)
  mem0ops.stack.pgvector_restore:
    connect_via: docker_exec
    container: "{{ mem0_stack.services.postgres.container }}"
    login_port: "{{ mem0_stack.services.postgres.container_port }}"
    login_user: "{{ mem0_stack.services.postgres.user }}"
    login_password: "{{ mem0_stack.services.postgres.password }}"
    db: "{{ mem0_stack.services.postgres.database }}"
    src: "{{ mem0_stack.backup_root }}/daily/20261122_023000"
    target_db: mem0_restore_drill
    index_phase: deferred
    maintenance_work_mem: 1GB
    jobs: 4
  register: drill

- name: Show how long the rows and the indexes took
  ansible.builtin.debug:
    msg: "rows {{ drill.data_seconds }} s, indexes {{ drill.index_seconds }} s, {{ drill.counts.memories.total }} memories"

- name: Put the dump back into the production database after data loss
  mem0ops.stack.pgvector_restore:
    connect_via: docker_exec
    container: mem0_postgres_prd
    login_port: 5432
    login_user: mem0_user_prd
    login_password: "{{ vault_mem0_postgres_password }}"
    db: postgres
    src: /Volumes/Data/backups/mem0/daily/20260103_133100/manifest.json
    target_db: mem0_prd
    clean: true
"""

RETURN = r"""
target_db:
  description: The database restored into.
  returned: always
  type: str
  sample: mem0_restore_drill
loader:
  description: How the dump was restored - V(pg_restore) (a custom-format file) or V(plain) (a plain-SQL .sql.gz
    loaded with C(gunzip | psql)).
  returned: always
  type: str
  sample: pg_restore
file:
  description: The dump restored (its custom-format file, else its plain-SQL one).
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.dump
created:
  description: Whether the module created O(target_db) (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
cleaned:
  description: Whether O(target_db) already held relations and the restore replaced the dump's objects in it.
  returned: always
  type: bool
  sample: false
checksums_verified:
  description: Every file of the manifest has the size and sha256 the manifest gives.
  returned: always
  type: bool
  sample: true
index_settings:
  description: The settings the index builds ran with (C(PGOPTIONS)), after the C(/dev/shm) check.
  returned: always
  type: dict
  sample: {maintenance_work_mem: 512MB, max_parallel_maintenance_workers: 2}
copy_seconds:
  description: Seconds spent streaming the dump into the container (null with O(connect_via=tcp)).
  returned: success
  type: float
  sample: 0.12
data_seconds:
  description: Seconds of the first phase (schema and rows) with O(index_phase=deferred), null otherwise.
  returned: success
  type: float
  sample: 4.4
index_seconds:
  description: Seconds of the second phase (indexes and constraints) with O(index_phase=deferred), null otherwise.
  returned: success
  type: float
  sample: 24.0
restore_seconds:
  description: Seconds of C(pg_restore) in all.
  returned: success
  type: float
  sample: 28.4
analyze_seconds:
  description: Seconds of C(ANALYZE), null when O(analyze=false).
  returned: success
  type: float
  sample: 0.4
counts:
  description: The counts found in O(target_db), in the shape of the manifest's C(counts), equal to them on success.
  returned: success
  type: dict
  sample:
    memories:
      total: 1968
      namespaces: {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
    mem0migrations: {present: true, rows: 1, types: {user_identity: 1}}
vector_tables:
  description: Rows, declared type and stored dims of each vector table in O(target_db).
  returned: success
  type: list
  elements: dict
  sample:
    - {table: memories, column: vector, type: vector(768), declared_dims: 768, observed_dims: [768], rows: 1968}
differences:
  description: How O(target_db) differs from the manifest (empty on success).
  returned: always
  type: list
  elements: str
  sample: ["memories in namespace 'mark_carey/sap': manifest 678, restored 600"]
databases:
  description:
    - Each other database of the dump, with C(database) (its name in the dump), C(target) (where it is restored),
      C(file), C(created) (did not exist, or was dropped and created again; in check mode, would be), C(replaced) (existed
      and was dropped first), C(cleaned) (restored into O(db) with C(--clean)), and after the restore C(tables) (the rows
      counted in C(target) per table), C(restore_seconds) and C(differences) (with the manifest, empty on success).
    - Empty with O(databases=stack) or a dump without other databases.
  returned: always
  type: list
  elements: dict
  sample:
    - {database: mem0_app, target: mem0_app, file: /var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.mem0_app.dump,
       created: true, replaced: true, cleaned: false, restore_seconds: 0.3, differences: [],
       tables: [{table: api_keys, rows: 2}, {table: settings, rows: 1}, {table: users, rows: 2}]}
roles_file:
  description: The dump's roles file (verified, not applied), null when it has none.
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000/mem0_lab_20261122_023000.roles.sql
manifest:
  description: The manifest of the dump restored.
  returned: always
  type: dict
  sample: {kind: pgvector_dump, status: valid, database: mem0_lab, counts: {memories: {total: 1968}}}
"""

import os
import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import mem0_counts, vector_tables
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF,
    STDERR_LIMIT,
    PostgresClient,
    PostgresError,
    client_from_module,
    client_tools_argument_spec,
    ensure_docker,
    make_runner,
    postgres_argument_spec,
    quote_ident,
    run_version,
    table_counts,
    tools_location,
)

KIND = "pgvector_dump"
MEMORY_SETTING = re.compile(r"^(\d+)\s*(kB|MB|GB|TB)?$")
UNITS = {None: 1 << 10, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
RELATIONS_SQL = (
    "SELECT count(*) AS n, coalesce(string_agg(DISTINCT c.relname, ', ' ORDER BY c.relname) "
    "FILTER (WHERE c.relkind IN ('r', 'p')), '') AS tables "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'")


def dump_file(manifest: dict, base_dir: str):
    """The file to restore and its loader: the custom-format file (``pg_restore``), else a plain-SQL file compressed
    with gzip (``plain``: an adopted set's old .sql.gz, loaded as the adoption loads it)."""
    files = manifest.get("files") or []
    custom = [entry for entry in files if entry.get("format") == "custom"]
    if custom:
        return custom[0], "pg_restore"
    plain = [entry for entry in files if entry.get("format") == adopt.PLAIN_FORMAT
             and ("%s" % entry.get("compression")).split(":")[0] == adopt.PLAIN_COMPRESSION]
    if plain:
        return plain[0], "plain"
    raise RestoreError("the dump in %s has neither a custom-format file nor a gzip-compressed plain-SQL one (it holds "
                       "%s): dump with formats including custom" % (base_dir, ", ".join(
                           "%s (%s)" % (e.get("format", "?"), e.get("compression", "?")) for e in files) or "nothing"))


class RestoreError(Exception):
    """A failure with a message that says what happened and what to do."""


def differences(manifest: dict, counts: dict, tables: list) -> list:
    """How the restored counts differ from the manifest's, one line each."""
    diffs = []
    expected = manifest["counts"]["memories"]["namespaces"]
    found = counts["memories"]["namespaces"]
    for namespace in sorted(set(expected) | set(found)):
        if expected.get(namespace, 0) != found.get(namespace, 0):
            diffs.append("memories in namespace %r: manifest %d, restored %d"
                         % (namespace, expected.get(namespace, 0), found.get(namespace, 0)))
    if manifest["counts"]["memories"]["total"] != counts["memories"]["total"]:
        diffs.append("memories in total: manifest %d, restored %d"
                     % (manifest["counts"]["memories"]["total"], counts["memories"]["total"]))
    want = manifest["counts"].get("mem0migrations", {}).get("rows", 0)
    if want != counts["mem0migrations"]["rows"]:
        diffs.append("mem0migrations rows: manifest %d, restored %d" % (want, counts["mem0migrations"]["rows"]))
    restored = {t["table"] + "." + t["column"]: t for t in tables}
    for table in manifest.get("vector_tables", []):
        key = table["table"] + "." + table["column"]
        got = restored.get(key)
        if got is None:
            diffs.append("vector column %s (%s): in the manifest, missing from the restored database" % (key, table["type"]))
            continue
        if got["type"] != table["type"]:
            diffs.append("vector column %s: manifest %s, restored %s" % (key, table["type"], got["type"]))
        if got["rows"] != table["rows"]:
            diffs.append("rows of %s: manifest %d, restored %d" % (table["table"], table["rows"], got["rows"]))
    return diffs


def table_differences(expected: list, found: list) -> list:
    """How the rows of a restored database differ from its manifest entry's tables, one line each."""
    rows = dict((t["table"], t["rows"]) for t in found)
    diffs = []
    for table in expected or []:
        if table["table"] not in rows:
            diffs.append("table %s: in the manifest (%d rows), missing from the restored database"
                         % (table["table"], table["rows"]))
        elif rows[table["table"]] != table["rows"]:
            diffs.append("rows of %s: manifest %d, restored %d" % (table["table"], table["rows"], rows[table["table"]]))
    return diffs


def memory_bytes(setting: str) -> int:
    """'512MB' -> 536870912 (a bare number is in kB, as PostgreSQL reads maintenance_work_mem)."""
    match = MEMORY_SETTING.match(setting.strip())
    return int(match.group(1)) * UNITS[match.group(2)]


# --- the module ---------------------------------------------------------------------------------------------

class PgvectorRestore:
    """Verifies, restores and proves one dump; holds the module's results."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.results = {"changed": False, "target_db": self.params["target_db"], "file": None, "created": False,
                        "cleaned": False, "checksums_verified": False, "differences": [], "manifest": {},
                        "index_settings": {}, "databases": [], "roles_file": None, "loader": None}
        self.client = None
        self.runner = None
        self.target = None

    def check_inputs(self):
        if self.params["jobs"] < 1:
            raise RestoreError("jobs must be at least 1; got %d" % self.params["jobs"])
        mem = self.params["maintenance_work_mem"]
        if mem and not MEMORY_SETTING.match(mem.strip()):
            raise RestoreError("maintenance_work_mem must be a size such as 512MB or 1GB; got %r" % mem)
        workers = self.params["max_parallel_maintenance_workers"]
        if workers < 0:
            raise RestoreError("max_parallel_maintenance_workers must not be negative; got %d" % workers)

    def read_manifest(self):
        path = os.path.abspath(mf.manifest_path(self.params["src"]))
        manifest = mf.read_manifest(path)
        self.results["manifest"] = manifest
        if manifest.get("kind") != KIND:
            raise RestoreError("%s describes a %r, not a %s" % (path, manifest.get("kind"), KIND))
        if manifest.get("status") != mf.STATUS_VALID and not self.params["allow_quarantined"]:
            raise RestoreError("the dump in %s is %s (%s): refusing to restore it; set allow_quarantined=true to restore it anyway"
                               % (os.path.dirname(path), manifest.get("status"), "; ".join(manifest.get("problems", []))))
        base_dir = os.path.dirname(path)
        others = [entry for entry in manifest.get("databases") or [] if entry.get("sha256")]
        roles = manifest.get("roles") if (manifest.get("roles") or {}).get("sha256") else None
        problems = mf.verify_files({"files": list(manifest.get("files", [])) + others + ([roles] if roles else [])},
                                   base_dir)
        if problems:
            raise RestoreError("the dump in %s does not match its manifest, refusing to restore: %s" % (base_dir, "; ".join(problems)))
        self.results["checksums_verified"] = True
        self.entry, self.results["loader"] = dump_file(manifest, base_dir)
        self.results["file"] = os.path.join(base_dir, self.entry["name"])
        self.manifest = manifest
        self.others = [dict(entry, file=os.path.join(base_dir, entry["name"])) for entry in others] \
            if self.params["databases"] == "all" else []
        self.results["roles_file"] = os.path.join(base_dir, roles["name"]) if roles else None

    def connect(self):
        self.client = client_from_module(self.module)
        self.runner = make_runner(self.module, self.client)
        major, version = run_version(self.runner, "psql" if self.results["loader"] == "plain" else "pg_restore")
        self.results["pg_restore_version"] = version
        made_by = self.manifest.get("pg_dump_version") or "0"
        if major < int(made_by.split(".")[0]):
            where = tools_location(self.params)
            hint = ("use connect_via=docker_exec to run the pg_restore of the database container, or point bin_dir at a "
                    "PostgreSQL %s client" % made_by.split(".")[0]) if self.params["connect_via"] == "tcp" else \
                "restore into a server of version %s or later" % made_by.split(".")[0]
            raise RestoreError("pg_restore %s %s cannot read a dump made by pg_dump %s: %s" % (version, where, made_by, hint))

    def index_settings(self):
        mem = (self.params["maintenance_work_mem"] or "").replace(" ", "")
        workers = self.params["max_parallel_maintenance_workers"]
        if mem and workers:
            shm = self.runner.shm_bytes()
            posix = self.client.scalar("SELECT current_setting('dynamic_shared_memory_type') AS t") == "posix"
            if posix and shm is not None and memory_bytes(mem) > shm:
                self.module.warn("maintenance_work_mem %s is more than the %d MiB free in /dev/shm of container %s, which a "
                                 "parallel HNSW build allocates it from: building the indexes without parallel workers "
                                 "(give the container a larger shm_size to use them)" % (mem, shm >> 20, self.params["container"]))
                workers = 0
        self.results["index_settings"] = {"maintenance_work_mem": mem or None, "max_parallel_maintenance_workers": workers}

    def inspect_target(self):
        target = self.params["target_db"]
        exists = bool(self.client.scalar("SELECT count(*) AS n FROM pg_database WHERE datname = %s", (target,)))
        if not exists:
            if not self.params["create"]:
                raise RestoreError("database %r does not exist: create it, or set create=true" % target)
            self.results["created"] = True
            return
        with self.target_client() as client:
            row = client.query(RELATIONS_SQL)[0]
        if int(row["n"]) and not self.params["clean"]:
            raise RestoreError("database %r is not empty (%d relations; tables: %s): refusing to restore over it; set "
                               "clean=true to replace the objects of the dump in it, or restore into a new target_db"
                               % (target, int(row["n"]), row["tables"] or "none"))
        self.results["cleaned"] = bool(int(row["n"]))
        if self.results["cleaned"] and self.results["loader"] == "plain":
            raise RestoreError("database %r is not empty (%d relations): a plain-SQL dump is loaded into an empty "
                               "database only (clean does not apply to it); drop it first, or restore into a new "
                               "target_db" % (target, int(row["n"])))

    def target_client(self, database=None):
        return PostgresClient(dict(self.params, db=database or self.params["target_db"]))

    def database_prefix(self) -> str:
        prefix = self.params["database_prefix"]
        if prefix is not None:
            return prefix
        return "" if self.params["target_db"] == self.manifest.get("database") else self.params["target_db"] + "_"

    def inspect_others(self):
        """Where each other database of the dump goes, and whether it is created, replaced or cleaned there."""
        prefix = self.database_prefix()
        for entry in self.others:
            target = prefix + entry["database"]
            if target == self.params["target_db"]:
                raise RestoreError("database %r of the dump would be restored into target_db %r itself: set "
                                   "database_prefix, or databases=stack" % (entry["database"], target))
            exists = bool(self.client.scalar("SELECT count(*) AS n FROM pg_database WHERE datname = %s", (target,)))
            connected = target == self.params["db"]
            self.results["databases"].append({
                "database": entry["database"], "target": target, "file": entry["file"],
                "created": not connected, "replaced": exists and not connected, "cleaned": connected})

    def pgoptions(self) -> dict:
        settings = self.results["index_settings"]
        options = ["-c max_parallel_maintenance_workers=%d" % settings["max_parallel_maintenance_workers"]]
        if settings["maintenance_work_mem"]:
            options.insert(0, "-c maintenance_work_mem=%s" % settings["maintenance_work_mem"])
        return {"PGOPTIONS": " ".join(options)}

    def pg_restore(self, staged: str, sections: list, clean: bool, env=None, database=None) -> float:
        argv = ["pg_restore", "--exit-on-error", "--no-password", "--jobs=%d" % self.params["jobs"],
                *self.client.client_args(), "--dbname=%s" % (database or self.params["target_db"])]
        if clean:
            argv += ["--clean", "--if-exists"]
        if self.params["no_owner"]:
            argv.append("--no-owner")
        argv += ["--section=%s" % section for section in sections]
        argv.append(staged)
        started = time.monotonic()
        rc, out, err = self.runner.run(argv, env)
        if rc != 0:
            message = (err or out).decode(errors="replace").strip()
            raise RestoreError("pg_restore (%s) failed with exit code %s: %s"
                               % (", ".join(sections) or "all sections", rc, message[-STDERR_LIMIT:] or "no message"))
        return round(time.monotonic() - started, 3)

    def load_plain(self, staged: str) -> float:
        """The plain-SQL .sql.gz loaded as the adoption loads it (module_utils.adopt.load_argv), indexes included."""
        started = time.monotonic()
        if self.params["connect_via"] == "docker_exec":
            argv = adopt.load_argv(staged, self.params["target_db"], ["psql", "--no-password", *self.client.client_args()])
            rc, out, err = self.runner.run(argv, self.pgoptions())
        else:  # bash from the PATH, psql from bin_dir or the PATH
            argv = adopt.load_argv(staged, self.params["target_db"],
                                   [self.runner.binary("psql"), "--no-password", *self.client.client_args()])
            rc, out, err = self.module.run_command(argv, environ_update=dict(self.runner.env(), **self.pgoptions()),
                                                   umask=0o077, encoding=None)
        if rc != 0:
            message = (err or out or b"").decode(errors="replace").strip()
            raise RestoreError("the load of the plain-SQL dump (gunzip | psql, ON_ERROR_STOP, one transaction) failed "
                               "with exit code %s: %s" % (rc, message[-STDERR_LIMIT:] or "no message"))
        return round(time.monotonic() - started, 3)

    def restore(self):
        target = self.params["target_db"]
        if self.results["created"]:
            self.client.execute("CREATE DATABASE %s TEMPLATE template0" % quote_ident(target))
        try:
            started = time.monotonic()
            staged = self.runner.stage(self.results["file"], self.entry["sha256"])
            copy = round(time.monotonic() - started, 3) if self.params["connect_via"] == "docker_exec" else None
            clean = self.results["cleaned"]
            if self.results["loader"] == "plain":
                data = self.load_plain(staged)
                index, total = 0.0, data
            elif self.params["index_phase"] == "deferred":
                data = self.pg_restore(staged, ["pre-data", "data"], clean)
                index = self.pg_restore(staged, ["post-data"], False, self.pgoptions())
                total = round(data + index, 3)
            else:
                data = index = None
                total = self.pg_restore(staged, [], clean, self.pgoptions())
            self.runner.unstage()
        except (RestoreError, PostgresError, OSError) as exc:
            if self.results["created"]:
                self.drop_target()
                raise RestoreError("%s; database %r, created for this restore, was dropped again" % (exc, target))
            raise
        self.results.update(copy_seconds=copy, data_seconds=data, index_seconds=index, restore_seconds=total)

    def drop_target(self, database=None):
        try:
            self.runner.unstage()
            self.client.execute("DROP DATABASE IF EXISTS %s" % quote_ident(database or self.params["target_db"]))
        except (PostgresError, OSError):
            pass

    def verify(self):
        with self.target_client() as client:
            analyze = None
            if self.params["analyze"]:
                started = time.monotonic()
                client.execute("ANALYZE")
                analyze = round(time.monotonic() - started, 3)
            counts = mem0_counts(client.query, self.manifest.get("collection", "memories"))
            tables = vector_tables(client.query, client.vector_columns())
        self.results.update(analyze_seconds=analyze, counts=counts, vector_tables=tables)
        self.results["differences"] = differences(self.manifest, counts, tables)
        if self.results["differences"]:
            raise RestoreError("database %r does not hold what the manifest says (left in place for inspection): %s"
                               % (self.params["target_db"], "; ".join(self.results["differences"])))

    def restore_other(self, entry: dict, report: dict):
        """Restore one other database of the dump and count its rows against the manifest."""
        target = report["target"]
        if report["replaced"]:
            self.client.query("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (target,))
            self.client.execute("DROP DATABASE IF EXISTS %s" % quote_ident(target))
        if report["created"]:
            self.client.execute("CREATE DATABASE %s TEMPLATE template0" % quote_ident(target))
        started = time.monotonic()
        try:
            staged = self.runner.stage(entry["file"], entry["sha256"])
            self.pg_restore(staged, [], report["cleaned"], self.pgoptions(), target)
            self.runner.unstage()
        except (RestoreError, PostgresError, OSError) as exc:
            if report["created"]:
                self.drop_target(target)
                raise RestoreError("database %r of the dump: %s; database %r, created for this restore, was dropped again"
                                   % (entry["database"], exc, target))
            raise RestoreError("database %r of the dump: %s" % (entry["database"], exc))
        report["restore_seconds"] = round(time.monotonic() - started, 3)
        with self.target_client(target) as client:
            report["tables"] = table_counts(client.query)
        report["differences"] = table_differences(entry.get("tables"), report["tables"])
        self.results["differences"] += ["database %s: %s" % (target, diff) for diff in report["differences"]]

    def restore_others(self):
        for entry, report in zip(self.others, self.results["databases"]):
            self.restore_other(entry, report)
        if self.results["differences"]:
            raise RestoreError("the other databases do not hold what the manifest says (left in place for inspection): %s"
                               % "; ".join(self.results["differences"]))

    def run(self):
        self.check_inputs()
        self.read_manifest()
        self.connect()
        self.index_settings()
        self.inspect_target()
        self.inspect_others()
        self.results["changed"] = True
        if self.check_mode:
            return
        self.restore()
        self.verify()
        self.restore_others()

    def execute(self):
        try:
            self.run()
        except (RestoreError, PostgresError, mf.ManifestError) as exc:
            self.module.fail_json(msg=str(exc), **self.results)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.module.fail_json(msg="pgvector_restore failed: %s" % exc, exception=traceback.format_exc(), **self.results)
        finally:
            if self.runner is not None:
                self.runner.close()
            if self.client is not None:
                self.client.close()
        self.module.exit_json(**self.results)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(client_tools_argument_spec())
    argument_spec.update(
        src=dict(type="path", required=True),
        target_db=dict(type="str", required=True),
        create=dict(type="bool", default=True),
        clean=dict(type="bool", default=False),
        jobs=dict(type="int", default=2),
        index_phase=dict(type="str", choices=["together", "deferred"], default="together"),
        maintenance_work_mem=dict(type="str", default="512MB"),
        max_parallel_maintenance_workers=dict(type="int", default=2),
        no_owner=dict(type="bool", default=False),
        analyze=dict(type="bool", default=True),
        allow_quarantined=dict(type="bool", default=False),
        container_tmpdir=dict(type="str", default="/tmp"),
        databases=dict(type="str", choices=["all", "stack"], default="all"),
        database_prefix=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_if=POSTGRES_REQUIRED_IF, supports_check_mode=True)
    ensure_docker(module)
    PgvectorRestore(module).execute()


if __name__ == "__main__":
    main()
