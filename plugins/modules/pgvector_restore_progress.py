#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pgvector_restore_progress
short_description: Say how far a background pgvector_restore has come - are the rows in, has the job ended
version_added: 0.1.0
description:
  - Watches a C(mem0ops.stack.pgvector_restore) started with C(async) and C(poll=0), for a caller that waits until the
    rows are in (for example to measure when the API answers again while the indexes are still being built).
  - The rows are in when an index of O(db) is being built (C(pg_stat_progress_create_index)), when O(table) holds
    O(expected_rows) rows, or when O(table) is locked exclusively (C(pg_restore) adding its primary key, after the rows).
  - The job has ended when its O(results_file) no longer says C(started=1, finished=0).
  - Never fails on a database that is not there yet or a server that does not answer; it reports no rows then.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  login_user:
    required: true
  db:
    description:
      - The database being restored.
    required: true
    aliases: [database, login_db]
  table:
    description: The table whose rows are awaited (mem0's collection).
    type: str
    required: true
  expected_rows:
    description: How many rows O(table) holds once the data is in.
    type: int
    required: true
  results_file:
    description: The results file of the Ansible async job running the restore (its C(results_file)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Wait until the rows are in (the index builds begin) or the restore ends
  mem0ops.stack.pgvector_restore_progress:
    login_port: 5433
    login_user: mem0
    login_password: "{{ pg_password }}"
    db: mem0
    table: memories
    expected_rows: 1968
    results_file: "{{ restore_job.results_file }}"
  register: progress
  until: progress.rows_in or progress.ended
  retries: 300
  delay: 2
"""

RETURN = r"""
ended:
  description: Whether the async job has ended (with success or not).
  returned: always
  type: bool
rows_in:
  description: Whether the rows are in.
  returned: always
  type: bool
rows:
  description: The rows O(table) holds, or null when they could not be counted.
  returned: always
  type: int
building:
  description: How many indexes of O(db) are being built.
  returned: always
  type: int
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    HAS_PSYCOPG2,
    ensure_psycopg2,
    login_argument_spec,
    quote_ident,
)

if HAS_PSYCOPG2:
    import psycopg2
    import psycopg2.errors


def job_ended(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return False
    return not (data.get("started") == 1 and data.get("finished") == 0)


def progress(p, connect=None):
    """{rows_in, rows, building} of the restore into p['db']; a server or database not there yet means no rows."""
    connect = connect or psycopg2.connect
    out = {"rows_in": False, "rows": None, "building": 0}
    params = dict(host=p["login_host"], port=p["login_port"], user=p["login_user"], password=p["login_password"],
                  connect_timeout=5, application_name="mem0ops_restore_progress")
    try:
        with connect(dbname="postgres", **params) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = %s", (p["db"],))
            out["building"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (p["db"],))
            exists = cur.fetchone()[0] > 0
        if out["building"]:
            out["rows_in"] = True
            return out
        if not exists:
            return out
        conn = connect(dbname=p["db"], **params)
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '500ms'")
                cur.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", (p["table"],))
                if cur.fetchone()[0]:
                    try:
                        cur.execute("SELECT count(*) FROM %s" % quote_ident(p["table"]))
                        out["rows"] = cur.fetchone()[0]
                        out["rows_in"] = out["rows"] >= p["expected_rows"]
                    except psycopg2.errors.LockNotAvailable:
                        out["rows_in"] = True  # only the post-data steps lock the table exclusively
        finally:
            conn.close()
    except psycopg2.Error:
        pass
    return out


def main():
    argument_spec = login_argument_spec(required=("login_user", "db"), db_aliases=True)
    argument_spec.update(
        table=dict(type="str", required=True),
        expected_rows=dict(type="int", required=True),
        results_file=dict(type="path", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ensure_psycopg2(module)
    out = progress(module.params)
    out["ended"] = job_ended(module.params["results_file"])
    module.exit_json(changed=False, **out)


if __name__ == "__main__":
    main()
