# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_sqlite_prune: a memory's history rows and a session's messages deleted, counted in check mode, in a container."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import types

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import docker_api, sqlite_prune
from ansible_collections.mem0ops.stack.plugins.modules import mem0_sqlite_prune as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args

SCOPE = 'user_id=mem0ops%2Fsmoke'


def make_history(path, messages=True):
    conn = sqlite3.connect(str(path))
    conn.execute('CREATE TABLE history (id INTEGER PRIMARY KEY, memory_id TEXT)')
    conn.executemany('INSERT INTO history (memory_id) VALUES (?)', [('a',), ('a',), ('b',), ('keep',)])
    if messages:
        conn.execute('CREATE TABLE messages (id INTEGER PRIMARY KEY, session_scope TEXT)')
        conn.executemany('INSERT INTO messages (session_scope) VALUES (?)', [(SCOPE,), (SCOPE,), ('user_id=other',)])
    conn.commit()
    conn.close()


def rows(path, table):
    conn = sqlite3.connect(str(path))
    try:
        return [row[0] for row in conn.execute('SELECT %s FROM %s ORDER BY id'
                                               % ('memory_id' if table == 'history' else 'session_scope', table))]
    finally:
        conn.close()


def run(args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            mod.main()
    return exc.value.result


def test_deletes_the_memories_history_rows_and_the_scope_messages(tmp_path):
    db = tmp_path / 'history.db'
    make_history(db)

    result = run({'path': str(db), 'memory_ids': ['a', 'b', 'gone'], 'session_scope': SCOPE})

    assert (result['changed'], result['exists'], result['history'], result['messages']) == (True, True, 3, 2)
    assert result['container'] is None
    assert rows(db, 'history') == ['keep'] and rows(db, 'messages') == ['user_id=other']
    again = run({'path': str(db), 'memory_ids': ['a', 'b'], 'session_scope': SCOPE})
    assert (again['changed'], again['history'], again['messages']) == (False, 0, 0)


def test_check_mode_counts_and_deletes_nothing(tmp_path):
    db = tmp_path / 'history.db'
    make_history(db)

    result = run({'path': str(db), 'memory_ids': ['a'], 'session_scope': SCOPE}, check=True)

    assert (result['changed'], result['history'], result['messages']) == (True, 2, 2)
    assert rows(db, 'history') == ['a', 'a', 'b', 'keep'] and len(rows(db, 'messages')) == 3


def test_without_a_scope_the_messages_stay_and_without_ids_the_history(tmp_path):
    db = tmp_path / 'history.db'
    make_history(db)

    assert run({'path': str(db), 'memory_ids': ['a']})['messages'] == 0
    assert len(rows(db, 'messages')) == 3
    assert run({'path': str(db), 'session_scope': SCOPE})['history'] == 0
    assert rows(db, 'history') == ['b', 'keep']


def test_a_database_without_the_tables_is_left_alone(tmp_path):
    db = tmp_path / 'history.db'
    make_history(db, messages=False)

    result = run({'path': str(db), 'memory_ids': ['keep'], 'session_scope': SCOPE})

    assert (result['history'], result['messages']) == (1, 0)


def test_a_missing_database_is_reported_and_not_created(tmp_path):
    db = tmp_path / 'history.db'

    result = run({'path': str(db), 'memory_ids': ['a'], 'session_scope': SCOPE})

    assert (result['changed'], result['exists'], result['history'], result['messages']) == (False, False, 0, 0)
    assert not os.path.exists(str(db))


def test_a_file_that_is_no_database_fails_naming_it(tmp_path):
    bad = tmp_path / 'history.db'
    bad.write_text('not a database, though long enough to have a header ' * 4)

    result = run({'path': str(bad), 'memory_ids': ['a']})

    assert result['failed'] is True
    assert result['msg'].startswith('cannot prune %s: the pruning failed on the host (rc 1): ' % bad)
    assert 'not a database' in result['msg']


# --- inside a container --------------------------------------------------------------------------------

class FakeContainer:
    """Runs the exec'd argv here, as docker exec would run it in the container."""

    def __init__(self, status='running'):
        self.status = status
        self.argv = None

    def exec_run(self, argv, environment=None, demux=False):
        self.argv = argv
        assert argv[0] == 'python3.11' and argv[1] == '-c' and demux
        proc = subprocess.run([sys.executable] + argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return types.SimpleNamespace(exit_code=proc.returncode, output=(proc.stdout or None, proc.stderr or None))


class NotFound(Exception):
    pass


class DockerException(Exception):
    pass


def fake_docker(monkeypatch, containers):
    seen = {}

    class Containers:
        def get(self, name):
            if name not in containers:
                raise NotFound(name)
            return containers[name]

    class Client:
        def __init__(self, base_url, timeout):
            seen['base_url'] = base_url
            self.containers = Containers()

        def ping(self):
            return True

        def close(self):
            seen['closed'] = True

    errors = types.SimpleNamespace(NotFound=NotFound, DockerException=DockerException)
    fake = types.SimpleNamespace(DockerClient=Client, errors=errors)
    monkeypatch.setattr(sqlite_prune, 'docker', fake)
    monkeypatch.setattr(docker_api, 'docker', fake)
    monkeypatch.setattr(mod, 'HAS_DOCKER', True)
    return seen


def test_in_a_container_the_program_runs_there_with_its_python(monkeypatch, tmp_path):
    db = tmp_path / 'history.db'
    make_history(db)
    container = FakeContainer()
    seen = fake_docker(monkeypatch, {'mem0_lab': container})

    result = run({'path': str(db), 'memory_ids': ['a'], 'session_scope': SCOPE, 'container': 'mem0_lab',
                  'container_python': 'python3.11', 'docker_host': 'tcp://docker:2375'})

    assert (result['changed'], result['container'], result['history'], result['messages']) == (True, 'mem0_lab', 2, 2)
    assert seen == {'base_url': 'tcp://docker:2375', 'closed': True}
    assert container.argv[2] == sqlite_prune.PROGRAM
    assert rows(db, 'history') == ['b', 'keep']


@pytest.mark.parametrize('containers, message', [
    ({}, "no container named 'mem0_lab'"),
    ({'mem0_lab': FakeContainer(status='exited')}, "container 'mem0_lab' is exited, not running"),
])
def test_a_container_that_cannot_run_it_fails_naming_it(monkeypatch, tmp_path, containers, message):
    fake_docker(monkeypatch, containers)

    result = run({'path': str(tmp_path / 'history.db'), 'memory_ids': ['a'], 'container': 'mem0_lab'})

    assert result['failed'] is True and message in result['msg']


def test_without_the_docker_sdk_a_container_run_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(mod, 'HAS_DOCKER', False)

    result = run({'path': str(tmp_path / 'history.db'), 'container': 'mem0_lab'})

    assert result['failed'] is True and 'docker' in result['msg']


def test_the_answer_of_a_failed_run_names_its_last_error_line():
    with pytest.raises(sqlite_prune.PruneError) as exc:
        sqlite_prune.answer(126, b'', b'Traceback\n  ...\nsqlite3.OperationalError: database is locked\n', 'in container m')
    assert str(exc.value) == 'the pruning failed in container m (rc 126): sqlite3.OperationalError: database is locked'
    with pytest.raises(sqlite_prune.PruneError, match='answered no JSON'):
        sqlite_prune.answer(0, b'oops', b'', 'on the host')
