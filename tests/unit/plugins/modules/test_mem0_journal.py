# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_journal: created with its origin, merged phase by phase, idempotent, refused on query, removed; check mode
writes nothing."""

from __future__ import annotations

import json
import os

from ansible_collections.mem0ops.stack.plugins.modules import mem0_journal as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import run_module


def run(args, check=False, diff=False):
    return run_module(mod.main, args, check, diff)


def test_a_restore_journal_from_start_to_end(tmp_path):
    base = {'backup_root': str(tmp_path), 'stack': 'lab'}
    path = tmp_path / 'journal' / 'lab.json'
    created = dict(base, state='present', playbook='restore', phase='shutdown', safety_set='/b/pre',
                   resume='restore.yml -e restore_resume=true', rollback='restore.yml -e restore_rollback=true')

    planned = run(created, check=True)
    assert planned['changed'] is True and planned['journal']['phase'] == 'shutdown' and not path.exists()

    result = run(created, diff=True)
    assert result['changed'] is True and result['diff']['before'] == {}
    on_disk = json.loads(path.read_text())
    assert on_disk['playbook'] == 'restore' and on_disk['pid'] and on_disk['host'] and on_disk['started']

    assert run(created)['changed'] is False  # the same fields again: no rewrite
    moved = run(dict(base, state='present', phase='postgres rows', changing=True))
    assert moved['changed'] is True
    on_disk = json.loads(path.read_text())
    assert (on_disk['phase'], on_disk['changing'], on_disk['safety_set']) == ('postgres rows', True, '/b/pre')
    assert on_disk['started'] == result['journal']['started']

    refused = run(dict(base, fail_unfinished=True))
    assert refused['failed'] and "phase 'postgres rows'" in refused['msg'] and 'restore_rollback=true' in refused['msg']
    assert run(base)['exists'] is True  # a query without fail_unfinished only reports

    assert run(dict(base, state='absent'), check=True)['changed'] is True and path.exists()
    assert run(dict(base, state='absent'))['changed'] is True and not path.exists()
    assert run(dict(base, state='absent'))['changed'] is False
    assert run(dict(base, fail_unfinished=True))['exists'] is False


def test_an_unreadable_journal_is_not_overwritten(tmp_path):
    (tmp_path / 'journal').mkdir()
    (tmp_path / 'journal' / 'lab.json').write_text('{"phase": ')
    result = run({'backup_root': str(tmp_path), 'stack': 'lab', 'state': 'present', 'phase': 'x'})
    assert result['failed'] and 'cannot be read' in result['msg']
    assert os.path.getsize(tmp_path / 'journal' / 'lab.json') == 10
