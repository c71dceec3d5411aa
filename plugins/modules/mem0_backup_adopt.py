#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_adopt
short_description: Prove one of the owner's old mem0 backups by loading it into a throwaway database
version_added: 0.2.0
description:
  - The first half of adopting an old backup (C(<root>/<tier>/<YYYYmmdd_HHMMSS>/postgres/mem0_<ts>.sql.gz), plain SQL
    from C(pg_dump | gzip -9)) as a backup set of this collection; the C(mem0ops.stack.adopt) role runs the whole
    adoption.
  - O(state=present) hashes every file of the old set O(source) (its sha256 against the C(<file>.sha256) beside it),
    hard-links each one (else copies it) under C(source/) of the partial set C(<backup_root>/adopted/.<ts>.partial/),
    then, when the SQL passed, creates the throwaway database C(mem0ops_adopt_<ts>) and loads the SQL into it with
    C(ON_ERROR_STOP) in one transaction; the same pass proves the gzip integrity (gunzip's CRC and length check) and
    pg_dump's closing line (a load that fails is explained by a scan of the file, as M(mem0ops.stack.mem0_backup_adopt_info)
    does). It counts the database (memories per namespace, the rows of C(mem0migrations) apart, every vector table
    with its dims), keeps the old C(.sql.gz) as the set's C(postgres/) part (hard-linked, with a C(pgvector_dump)
    manifest of format C(plain) that M(mem0ops.stack.pgvector_restore) loads the same way), and drops the throwaway
    database. It returns the counts and RV(adopted), the record M(mem0ops.stack.mem0_backup_set) keeps in the set
    manifest.
  - The caller then finalises the set with M(mem0ops.stack.mem0_backup_set) (O(state=present), tier C(adopted), its
    RV(problems) as the set's problems - a set that failed its proof, failed to load or holds no memories is
    quarantined with the reason), and drops RV(database) with O(state=absent) when a failure left it.
  - Ownership and privilege statements (C(ALTER ... OWNER TO), C(GRANT), C(REVOKE)) are left out of the SQL before it
    is loaded, as C(pg_restore --no-owner --no-privileges) would, since the old cluster's roles do not exist in the
    new one.
  - An original file is never changed, moved or deleted.
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.client_tools
  - mem0ops.stack.postgres.collection
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Proves the files and returns the prediction; links, creates and loads nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - An old set adopted already (its adopted set exists) is left alone; O(state=absent) drops nothing twice.
options:
  state:
    description:
      - V(present) proves, links and loads the old set O(source); V(absent) drops the throwaway database
        O(throwaway_db).
    type: str
    choices: [present, absent]
    default: present
  source:
    description:
      - The old set's directory, C(<root>/<tier>/<YYYYmmdd_HHMMSS>). Required with O(state=present).
    type: path
  backup_root:
    description:
      - The stack's backup root; the adopted set goes to its tier C(adopted/).
    type: path
    required: true
  throwaway_db:
    description:
      - The throwaway database to drop with O(state=absent) (RV(database) of O(state=present)); only names that
        start with C(mem0ops_adopt_) are accepted.
      - Omitted, O(state=absent) drops every database whose name starts with C(mem0ops_adopt_) (the left-overs of an
        interrupted adoption).
    type: str
notes:
  - The load runs C(bash -c 'set -o pipefail; gunzip -c | sed | psql -v ON_ERROR_STOP=1 --single-transaction') where
    the client tools run (inside O(container) with O(connect_via=docker_exec), the file streamed into its stdin as
    C(docker exec -i) would, its sha256 checked as it is sent); the password travels in the environment, never on a
    command line.
  - O(login_user) needs the right to create databases and the C(vector) extension (the stack's own user, the
    container's C(POSTGRES_USER), has both).
seealso:
  - module: mem0ops.stack.mem0_backup_adopt_info
  - module: mem0ops.stack.pgvector_dump
  - module: mem0ops.stack.mem0_backup_set
"""

EXAMPLES = r"""
- name: Prove and load the old set of 3 January
  mem0ops.stack.mem0_backup_adopt:
    source: /Volumes/Data/backups/mem0/daily/20260103_133102
    backup_root: /Volumes/Data/backups/mem0
    connect_via: docker_exec
    container: mem0_postgres_prd
    login_port: 5432
    login_user: mem0_user_prd
    login_password: "{{ vault_mem0_postgres_password }}"
    db: mem0_prd
  register: loaded

- name: Drop the throwaway database
  mem0ops.stack.mem0_backup_adopt:
    state: absent
    backup_root: /Volumes/Data/backups/mem0
    throwaway_db: "{{ loaded.database }}"
    connect_via: docker_exec
    container: mem0_postgres_prd
    login_port: 5432
    login_user: mem0_user_prd
    login_password: "{{ vault_mem0_postgres_password }}"
    db: mem0_prd
  when: loaded.database
"""

RETURN = r"""
partial:
  description: The partial set the adoption writes (its C(source/) holds the old files).
  returned: O(state=present)
  type: str
  sample: /Volumes/Data/backups/mem0/adopted/.20260103_133102.partial
timestamp:
  description: The old set's name, and the adopted set's.
  returned: O(state=present)
  type: str
  sample: "20260103_133102"
state:
  description: V(pending) (adopted by this run), V(adopted) or V(same_dump) (adopted already; nothing done).
  returned: O(state=present)
  type: str
database:
  description: The throwaway database left behind (a failure before its drop), null when none is left; with
    O(state=absent), the one asked for.
  returned: always
  type: str
  sample: mem0ops_adopt_20260103_133102
loaded_into:
  description: The throwaway database the SQL was loaded into (and dropped again), null when nothing was loaded.
  returned: O(state=present)
  type: str
  sample: mem0ops_adopt_20260103_133102
postgres_part:
  description: The manifest of the set's C(postgres/) part, written when the SQL loaded and was counted; null otherwise.
  returned: O(state=present)
  type: dict
dropped:
  description: The throwaway databases dropped (that would be, in check mode).
  returned: O(state=absent)
  type: list
  elements: str
  sample: [mem0ops_adopt_20260103_133102]
problems:
  description: Why the set must be quarantined (its proof, its load, or no table of memories); empty when it loaded.
  returned: O(state=present)
  type: list
  elements: str
absent_parts:
  description: Why the adopted set holds no graph, history or configuration part, for M(mem0ops.stack.mem0_backup_set).
  returned: O(state=present)
  type: dict
  sample: {neo4j: "an old-layout Neo4j tar is not yet adopted: ...", history: "...", config: "..."}
counts:
  description: Memories per namespace and the rows of C(mem0migrations), as M(mem0ops.stack.pgvector_dump) counts them;
    null when nothing was loaded.
  returned: O(state=present)
  type: dict
adopted:
  description: The record kept in the set manifest under C(adopted) - the source directory, tier and root, each file
    with its sha256 and how it is stored (C(hardlink) or C(copy)), the load, the vector tables and mem0's shape.
  returned: O(state=present)
  type: dict
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.mem0_data import (
    collection_argument_spec, mem0_counts, vector_tables)
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF, STDERR_LIMIT, PostgresClient, PostgresError, client_from_module, client_tools_argument_spec,
    ensure_docker, make_runner, postgres_argument_spec, quote_ident)


class Adoption:
    """One run of the module; results are kept in ``results``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.results = {"changed": False, "database": None}
        self.client = None
        self.runner = None

    def present(self):
        source = self.params["source"]
        if not source or not adopt.is_old_set(source):
            raise adopt.AdoptError("source %s is not an old backup set: a directory named YYYYmmdd_HHMMSS without a "
                                   "manifest.json, holding postgres/mem0_<ts>.sql.gz or neo4j/mem0_neo4j_<ts>.tar.gz"
                                   % source)
        found = adopt.discover([source])[0]
        # hashes only: the load proves gzip and pg_dump's closing line in its own pass
        proven = adopt.prove_set(found, scan=False)
        state = adopt.adoption_state(found, self.params["backup_root"], adopt.pg_sha256(proven["files"]))
        self.results.update(timestamp=found["timestamp"], state=state["state"], problems=list(proven["problems"]),
                            absent_parts=adopt.absent_parts(found), counts=None, adopted=None, loaded_into=None,
                            postgres_part=None,
                            partial=adopt.partial_path(self.params["backup_root"], adopt.ADOPTED_TIER, found["timestamp"]))
        if state["state"] in ("adopted", "same_dump"):
            return
        if state["state"] == "taken":
            raise adopt.AdoptError("%s holds the adoption of another old set (%s) with another dump: %s cannot be "
                                   "adopted under the same name" % (state["path"], (state["manifest"].get("adopted") or {})
                                                                    .get("source"), source))
        self.results["changed"] = True
        if self.module.check_mode:
            return
        partial = adopt.start_partial(self.params["backup_root"], found["timestamp"])
        record = {"source": found["path"], "source_tier": found["tier"], "source_root": found["root"],
                  "tool": "the old backup script (pg_dump | gzip -9, tar of Neo4j's /data)",
                  "adopted_at": mf.utc_now(), "files": adopt.link_sources(found, proven["files"], partial),
                  "load": None, "vector_tables": [], "mem0migrations": None, "shape": None}
        self.results["adopted"] = record
        if not proven["problems"]:
            self.load(found, partial, record)

    def load(self, found, partial, record):
        stamp = found["timestamp"]
        database = adopt.throwaway_name(stamp)
        self.client = client_from_module(self.module)
        self.client.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(database))
        self.client.execute("CREATE DATABASE %s" % quote_ident(database))
        self.results["database"] = self.results["loaded_into"] = database
        try:
            self.load_and_count(found, partial, record, database)
        finally:
            self.client.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(database))
            self.results["database"] = None

    def load_and_count(self, found, partial, record, database):
        rel = found["files"]["postgres"]
        sql = os.path.join(partial, adopt.SOURCE_DIR, rel)
        entry = next(f for f in record["files"] if f.get("part") == "postgres")
        started = time.monotonic()
        rc, err = self.run_load(sql, entry["sha256"], database)
        seconds = round(time.monotonic() - started, 3)
        record["load"] = {"database": database, "seconds": seconds, "on_error_stop": True, "single_transaction": True,
                          "left_out": "ownership and privilege statements (ALTER ... OWNER TO, GRANT, REVOKE)",
                          "proves": "gzip integrity and pg_dump's closing line, in the same pass"}
        if rc != 0:
            # why: the scan the load made unnecessary, now that it failed
            scan = adopt.gzip_scan(sql)
            entry.update((key, scan[key]) for key in ("gzip_ok", "gzip_error", "uncompressed_bytes", "dump_complete"))
            problems = adopt.file_problems(dict(scan, name=rel), "postgres")
            message = err.decode(errors="replace").strip()[-STDERR_LIMIT:] or "exit code %s" % rc
            self.results["problems"].extend(problems or ["%s does not load with ON_ERROR_STOP: %s" % (rel, message)])
            return
        entry.update(gzip_ok=True, gzip_error=None, dump_complete=True)
        target = PostgresClient(dict(self.params, db=database)).connect()
        try:
            columns = target.vector_columns()
            record["vector_tables"] = vector_tables(target.query, columns)
            record["shape"] = adopt.shape(record["vector_tables"], self.params["collection"])
            counts = mem0_counts(target.query, self.params["collection"])
            facts = target.query("SELECT current_setting('server_version') AS server_version, "
                                 "current_setting('server_version_num')::int AS server_version_num, "
                                 "(SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector_version")[0]
        except PostgresError as exc:
            self.results["problems"].append("the dump loaded but holds no table %r of memories (%s): it is not a "
                                            "backup of mem0's database" % (self.params["collection"], exc))
            return
        finally:
            target.close()
        record["mem0migrations"] = counts["mem0migrations"]
        record["memories"] = counts["memories"]
        self.results["counts"] = counts
        self.write_part(found, partial, record, dict(facts, counts=counts))

    def write_part(self, found, partial, record, loaded):
        """The old .sql.gz as the set's PostgreSQL part: a hard link under postgres/ and its manifest."""
        rel = found["files"]["postgres"]
        entry = next(f for f in record["files"] if f.get("part") == "postgres")
        name = os.path.basename(rel)
        dest = os.path.join(partial, "postgres", name)
        how = adopt.link_or_copy(os.path.join(partial, adopt.SOURCE_DIR, rel), dest)
        if how == "copy" and mf.sha256_file(dest) != entry["sha256"]:
            raise adopt.AdoptError("the copy of %s in %s does not match its sha256" % (rel, dest))
        head = adopt.read_head(dest)
        loaded.update(database=self.params["db"], user=self.params["login_user"], load=record["load"],
                      pg_dump_version=adopt.pg_dump_version(head), connect_via=self.params["connect_via"],
                      collection=self.params["collection"], namespace_prefix=self.params.get("namespace_prefix"),
                      vector_tables=record["vector_tables"])
        data = adopt.postgres_part(name, entry, loaded)
        mf.write_json_atomic(os.path.join(partial, "postgres", mf.MANIFEST_NAME), data)
        self.results["postgres_part"] = data

    def run_load(self, path, sha256, database):
        """Load the SQL where the client tools run; returns (exit code, stderr)."""
        self.runner = make_runner(self.module, self.client)
        if self.params["connect_via"] == "docker_exec":
            # streamed into the load's stdin, as gunzip -c | docker exec -i psql would: no copy into the container
            rc, err, sent = self.runner.feed(adopt.load_argv("-", database, ["psql"] + self.client.client_args()), path)
            if rc == 0 and sent != sha256:
                raise adopt.AdoptError("%s changed while it was loaded (sha256 %s, proven %s): adopt it again"
                                       % (path, sent, sha256))
            return rc, err
        argv = adopt.load_argv(path, database, [self.runner.binary("psql")] + self.client.client_args())
        rc, dummy, err = self.module.run_command(argv, environ_update=self.runner.env(), encoding=None)
        return rc, err or b""

    def absent(self):
        name = self.params["throwaway_db"]
        if name is not None and not name.startswith(adopt.THROWAWAY_PREFIX):
            raise adopt.AdoptError("throwaway_db must be a throwaway database of the adoption (%s<ts>); got %r"
                                   % (adopt.THROWAWAY_PREFIX, name))
        self.client = client_from_module(self.module)
        rows = self.client.query("SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
                                 (name or adopt.THROWAWAY_PREFIX,))
        names = [row["datname"] for row in rows if name is None or row["datname"] == name]
        self.results.update(database=name, dropped=names, changed=bool(names))
        if not self.module.check_mode:
            for database in names:
                self.client.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(database))

    def close(self):
        if self.runner is not None:
            self.runner.close()
        if self.client is not None:
            self.client.close()

    def run(self):
        try:
            getattr(self, self.params["state"])()
        except (adopt.AdoptError, PostgresError) as exc:
            self.close()
            self.module.fail_json(msg=str(exc), **self.results)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.close()
            self.module.fail_json(msg="mem0_backup_adopt failed: %s" % exc, exception=traceback.format_exc(),
                                  **self.results)
        self.close()
        self.module.exit_json(**self.results)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(client_tools_argument_spec())
    argument_spec.update(collection_argument_spec())
    argument_spec.update(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        source=dict(type="path"),
        backup_root=dict(type="path", required=True),
        throwaway_db=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=POSTGRES_REQUIRED_IF + [("state", "present", ("source",))])
    ensure_docker(module)
    Adoption(module).run()


if __name__ == "__main__":
    main()
