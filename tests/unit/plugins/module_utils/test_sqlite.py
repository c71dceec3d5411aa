# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.sqlite and the modules over it: row counts read-only, online backups checked, the manifest."""

from __future__ import annotations

import json
import os
import sqlite3
import threading

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import sqlite as sq
from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import read_manifest, verify_files
from ansible_collections.mem0ops.stack.plugins.modules import mem0_sqlite_backup, mem0_sqlite_info
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args


def make_db(path, rows=3, wal=False):
    conn = sqlite3.connect(str(path))
    if wal:
        conn.execute('PRAGMA journal_mode=wal')
    conn.execute('CREATE TABLE history (id INTEGER PRIMARY KEY, memory_id TEXT)')
    conn.execute('CREATE TABLE "odd ""name""" (x)')
    conn.executemany('INSERT INTO history (memory_id) VALUES (?)', [('m%d' % i,) for i in range(rows)])
    conn.commit()
    return conn


def test_count_rows_reads_without_writing(tmp_path):
    db = tmp_path / 'history.db'
    make_db(db, rows=5).close()
    before = sorted(os.listdir(tmp_path))
    assert sq.count_rows(str(db)) == {'path': str(db), 'exists': True, 'tables': {'history': 5, 'odd "name"': 0}, 'rows': 5}
    assert sorted(os.listdir(tmp_path)) == before


def test_count_rows_of_a_missing_database(tmp_path):
    assert sq.count_rows(str(tmp_path / 'none.db')) == {'path': str(tmp_path / 'none.db'), 'exists': False, 'tables': {}, 'rows': 0}


def test_is_sqlite(tmp_path):
    make_db(tmp_path / 'a.db').close()
    (tmp_path / 'b.db').write_text('not a database')
    assert sq.is_sqlite(str(tmp_path / 'a.db'))
    assert not sq.is_sqlite(str(tmp_path / 'b.db'))
    assert not sq.is_sqlite(str(tmp_path / 'c.db'))


def test_plan_skips_and_names_uniquely(tmp_path):
    (tmp_path / 'one').mkdir()
    (tmp_path / 'two').mkdir()
    make_db(tmp_path / 'one' / 'history.db').close()
    make_db(tmp_path / 'two' / 'history.db').close()
    os.symlink(tmp_path / 'one' / 'history.db', tmp_path / 'link.db')
    (tmp_path / 'text.db').write_text('x')
    planned, skipped = sq.plan_backup([str(tmp_path / 'one' / 'history.db'), str(tmp_path / 'link.db'),
                                       str(tmp_path / 'two' / 'history.db'), str(tmp_path / 'text.db'), str(tmp_path / 'gone.db')])
    assert [entry[1] for entry in planned] == ['history.db', 'two_history.db']
    assert skipped == [str(tmp_path / 'text.db'), str(tmp_path / 'gone.db')]


def test_online_backup_while_a_writer_holds_the_database(tmp_path):
    db = tmp_path / 'history.db'
    writer = make_db(db, rows=2000, wal=True)
    writer.execute('INSERT INTO history (memory_id) VALUES (?)', ('uncommitted',))  # an open write transaction
    done = threading.Event()
    result = {}

    def run():
        result.update(sq.backup_databases(str(tmp_path / 'out'), [str(db)]))
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    writer.rollback()
    writer.close()
    assert done.is_set()
    entry = result['files'][0]
    assert entry['tables'] == {'history': 2000, 'odd "name"': 0}
    assert entry['integrity'] == 'ok' and entry['journal_mode'] == 'wal'
    manifest = read_manifest(str(tmp_path / 'out'))
    assert manifest['kind'] == 'sqlite_backup' and manifest['status'] == 'valid'
    assert manifest['databases'] == {'history.db': {'source': str(db), 'tables': entry['tables'], 'integrity': 'ok'}}
    assert verify_files(manifest, str(tmp_path / 'out')) == []
    assert oct(os.stat(tmp_path / 'out' / 'history.db').st_mode & 0o777) == '0o600'
    assert '.history.db.partial' not in os.listdir(tmp_path / 'out')


def test_backup_module_check_mode_writes_nothing(tmp_path):
    make_db(tmp_path / 'history.db').close()
    with set_module_args({'dest': str(tmp_path / 'out'), 'candidates': [str(tmp_path / 'history.db'), str(tmp_path / 'x.db')],
                          '_ansible_check_mode': True}):
        with pytest.raises(AnsibleExitJson) as exc:
            mem0_sqlite_backup.main()
    assert exc.value.result['changed'] is False
    assert exc.value.result['planned'] == [{'source': str(tmp_path / 'history.db'), 'name': 'history.db'}]
    assert exc.value.result['skipped'] == [str(tmp_path / 'x.db')]
    assert not (tmp_path / 'out').exists()


def test_backup_module_copies(tmp_path):
    make_db(tmp_path / 'history.db').close()
    with set_module_args({'dest': str(tmp_path / 'out'), 'candidates': [str(tmp_path / 'history.db')]}):
        with pytest.raises(AnsibleExitJson) as exc:
            mem0_sqlite_backup.main()
    assert exc.value.result['changed'] is True
    assert [entry['name'] for entry in exc.value.result['files']] == ['history.db']
    assert json.loads((tmp_path / 'out' / 'manifest.json').read_text())['files'][0]['tables']['history'] == 3


def test_backup_module_names_the_database_that_fails(tmp_path, monkeypatch):
    make_db(tmp_path / 'history.db').close()

    def broken(source, dest_dir, name):
        raise sqlite3.DatabaseError('database disk image is malformed')

    monkeypatch.setattr(sq, 'backup_one', broken)
    with set_module_args({'dest': str(tmp_path / 'out'), 'candidates': [str(tmp_path / 'history.db')]}):
        with pytest.raises(AnsibleFailJson) as exc:
            mem0_sqlite_backup.main()
    assert exc.value.result['msg'] == 'cannot back up %s online: database disk image is malformed' % (tmp_path / 'history.db')


def test_info_module(tmp_path):
    make_db(tmp_path / 'history.db', rows=4).close()
    with set_module_args({'path': str(tmp_path / 'history.db')}):
        with pytest.raises(AnsibleExitJson) as exc:
            mem0_sqlite_info.main()
    assert exc.value.result['changed'] is False
    assert exc.value.result['tables']['history'] == 4 and exc.value.result['exists'] is True


def test_info_module_fails_on_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / 'history.db').write_text('x' * 200)
    with set_module_args({'path': str(tmp_path / 'history.db')}):
        with pytest.raises(AnsibleFailJson) as exc:
            mem0_sqlite_info.main()
    assert exc.value.result['msg'].startswith('cannot read %s: ' % (tmp_path / 'history.db'))
