# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgvector_restore_progress: rows in by count, by an index build or by the post-data lock; the async job's end."""

from __future__ import annotations

import json

import psycopg2
import psycopg2.errors
import pytest

from ansible_collections.mem0ops.stack.plugins.modules import pgvector_restore_progress as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, set_module_args

P = {'login_host': '127.0.0.1', 'login_port': 5433, 'login_user': 'mem0', 'login_password': 'pw', 'db': 'mem0_restore',
     'table': 'memories', 'expected_rows': 100}


class Cursor:
    def __init__(self, server, db):
        self.server, self.db, self.row = server, db, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.server.sql.append(sql)
        if 'pg_stat_progress_create_index' in sql:
            self.row = (self.server.building,)
        elif 'pg_database' in sql:
            self.row = (1 if self.server.exists else 0,)
        elif 'to_regclass' in sql:
            self.row = (self.server.table,)
        elif sql.startswith('SELECT count(*) FROM "memories"'):
            if self.server.locked:
                raise psycopg2.errors.LockNotAvailable('lock timeout')
            self.row = (self.server.rows,)

    def fetchone(self):
        return self.row


class Server:
    def __init__(self, building=0, exists=True, table=True, rows=0, locked=False, down=False):
        self.building, self.exists, self.table, self.rows, self.locked, self.down = building, exists, table, rows, locked, down
        self.sql = []

    def connect(self, dbname, **params):
        assert params['password'] == 'pw' and params['port'] == 5433
        if self.down:
            raise psycopg2.OperationalError('connection refused')
        server = self

        class Conn:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def cursor(self):
                return Cursor(server, dbname)

            def close(self):
                pass

        return Conn()


@pytest.mark.parametrize('server, expected', [
    (Server(building=1), {'rows_in': True, 'rows': None, 'building': 1}),
    (Server(exists=False), {'rows_in': False, 'rows': None, 'building': 0}),
    (Server(table=False), {'rows_in': False, 'rows': None, 'building': 0}),
    (Server(rows=40), {'rows_in': False, 'rows': 40, 'building': 0}),
    (Server(rows=100), {'rows_in': True, 'rows': 100, 'building': 0}),
    (Server(locked=True), {'rows_in': True, 'rows': None, 'building': 0}),
    (Server(down=True), {'rows_in': False, 'rows': None, 'building': 0}),
])
def test_progress(server, expected):
    assert mod.progress(P, connect=server.connect) == expected


def test_the_count_quotes_the_table_and_waits_half_a_second_at_most():
    server = Server(rows=3)
    mod.progress(P, connect=server.connect)
    assert "SET lock_timeout = '500ms'" in server.sql
    assert 'SELECT count(*) FROM "memories"' in server.sql


def test_job_ended(tmp_path):
    results = tmp_path / 'job'
    assert mod.job_ended(str(results)) is False
    results.write_text(json.dumps({'started': 1, 'finished': 0}))
    assert mod.job_ended(str(results)) is False
    results.write_text(json.dumps({'changed': True, 'rows': 100}))
    assert mod.job_ended(str(results)) is True
    results.write_text('{half')
    assert mod.job_ended(str(results)) is False


def test_module_reads_only(tmp_path, monkeypatch):
    monkeypatch.setattr(mod, 'progress', lambda p: {'rows_in': False, 'rows': None, 'building': 0})
    (tmp_path / 'job').write_text(json.dumps({'failed': True}))
    with set_module_args(dict(P, results_file=str(tmp_path / 'job'), _ansible_check_mode=True)):
        with pytest.raises(AnsibleExitJson) as exc:
            mod.main()
    assert exc.value.result == {'changed': False, 'rows_in': False, 'rows': None, 'building': 0, 'ended': True}
