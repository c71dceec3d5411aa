# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Say how far a background PostgreSQL restore has come: have the rows arrived, has the job ended?

Usage: restore_progress.py RESULTS_FILE HOST PORT USER TARGET_DB TABLE EXPECTED_ROWS   (password on standard input)

RESULTS_FILE is the results file of the Ansible async job running pgvector_restore: it holds
{"started": 1, "finished": 0} while the job runs and the module's result once it has ended.
The rows are in when an index of TARGET_DB is being built (pg_stat_progress_create_index), when TABLE holds
EXPECTED_ROWS rows, or when TABLE is locked exclusively (pg_restore adding its primary key, after the rows).
Prints {"ended": bool, "rows_in": bool, "rows": n or null, "building": n} as JSON; never fails on a database that
is not there yet.
"""

from __future__ import annotations

import json
import os
import sys


def job_ended(path: str) -> bool:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return False
    return not (data.get("started") == 1 and data.get("finished") == 0)


def progress(host: str, port: int, user: str, db: str, table: str, expected: int, password: str) -> dict:
    import psycopg2

    out = {"rows_in": False, "rows": None, "building": 0}
    params = dict(host=host, port=port, user=user, password=password, connect_timeout=5,
                  application_name="mem0ops_restore_progress")
    try:
        with psycopg2.connect(dbname="postgres", **params) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = %s", (db,))
            out["building"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (db,))
            exists = cur.fetchone()[0] > 0
        if out["building"]:
            out["rows_in"] = True
            return out
        if not exists:
            return out
        conn = psycopg2.connect(dbname=db, **params)
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '500ms'")
                cur.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", (table,))
                if cur.fetchone()[0]:
                    try:
                        cur.execute('SELECT count(*) FROM "%s"' % table.replace('"', '""'))
                        out["rows"] = cur.fetchone()[0]
                        out["rows_in"] = out["rows"] >= expected
                    except psycopg2.errors.LockNotAvailable:
                        out["rows_in"] = True  # only the post-data steps lock the table exclusively
        finally:
            conn.close()
    except psycopg2.Error:
        pass
    return out


def main(argv: list) -> int:
    if len(argv) != 7:
        sys.stderr.write("usage: restore_progress.py RESULTS_FILE HOST PORT USER TARGET_DB TABLE EXPECTED_ROWS\n")
        return 2
    results_file, host, port, user, db, table, expected = argv
    password = sys.stdin.readline().rstrip("\n") or os.environ.get("PGPASSWORD")
    out = progress(host, int(port), user, db, table, int(expected), password)
    out["ended"] = job_ended(results_file)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
