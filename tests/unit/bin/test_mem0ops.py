# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/mem0ops, the owner's commands: the one ansible-playbook command each subcommand builds, the refusal of a
destructive run without --confirm, and --dry-run, which runs nothing."""

from __future__ import annotations

import importlib.util
import io
import json
import shlex

from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / 'bin' / 'mem0ops'
_LOADER = SourceFileLoader('mem0ops_command', str(SCRIPT))
_SPEC = importlib.util.spec_from_loader('mem0ops_command', _LOADER)
mem0ops = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(mem0ops)

INVENTORY = '/home/owner/mem0ops/inventories/mac_studio'
ENV = {'MEM0OPS_INVENTORY': INVENTORY}


class Runs:
    """Stands in for subprocess.call: records each command it is given and answers rc."""

    def __init__(self, rc=0):
        self.rc = rc
        self.commands = []

    def __call__(self, command):
        self.commands.append(command)
        return self.rc


def invoke(argv, env=None, rc=0):
    """Run the command's main(); returns (exit status, printed command lines, error text, commands run)."""
    runs, out, err = Runs(rc), io.StringIO(), io.StringIO()
    status = mem0ops.main(argv, env=ENV if env is None else env, run=runs, out=out, err=err)
    return status, out.getvalue().splitlines(), err.getvalue(), runs.commands


def ran(argv, env=None):
    """The one command a subcommand ran (the program left out), after checking it printed exactly that."""
    status, printed, err, commands = invoke(argv, env)
    assert (status, err) == (0, '')
    assert len(commands) == 1
    assert printed == [shlex.join(commands[0])]
    assert commands[0][0].endswith('ansible-playbook')
    return commands[0][1:]


@pytest.mark.parametrize('argv, expected', [
    (['status'], ['-i', INVENTORY, 'mem0ops.stack.status']),
    (['check'], ['-i', INVENTORY, 'mem0ops.stack.inventory_check', '--check']),
    (['backup'], ['-i', INVENTORY, 'mem0ops.stack.backup']),
    (['backup', '--tier', 'hourly', '--check'],
     ['-i', INVENTORY, 'mem0ops.stack.backup', '--check', '-e', 'backup_tier=hourly']),
    (['restore', '--check'], ['-i', INVENTORY, 'mem0ops.stack.restore', '--check']),
    (['restore', '--set', '20261122_023000', '--check'],
     ['-i', INVENTORY, 'mem0ops.stack.restore', '--check', '-e', 'restore_set=20261122_023000']),
    (['restore', '--set', '20261122_023000', '--confirm', 'prd'],
     ['-i', INVENTORY, 'mem0ops.stack.restore', '-e', 'restore_set=20261122_023000', '-e', 'restore_confirm=prd']),
    (['restore', '--confirm', 'prd'], ['-i', INVENTORY, 'mem0ops.stack.restore', '-e', 'restore_confirm=prd']),
    (['reset', '--check'], ['-i', INVENTORY, 'mem0ops.stack.reset', '--check']),
    (['reset', '--confirm', 'prd'], ['-i', INVENTORY, 'mem0ops.stack.reset', '-e', 'reset_confirm=prd']),
    (['verify'], ['-i', INVENTORY, 'mem0ops.stack.verify']),
    (['health'], ['-i', INVENTORY, 'mem0ops.stack.health']),
    (['health', '--check'], ['-i', INVENTORY, 'mem0ops.stack.health', '--check']),
    (['drill'], ['-i', INVENTORY, 'mem0ops.stack.drill']),
    (['drill', '--set', '20261122_023000'],
     ['-i', INVENTORY, 'mem0ops.stack.drill', '-e', 'drill_set=20261122_023000']),
    (['adopt', '--check'], ['-i', INVENTORY, 'mem0ops.stack.adopt', '--check']),
    (['adopt', '--path', '/Volumes/NAS/mem0-backups'],
     ['-i', INVENTORY, 'mem0ops.stack.adopt', '-e', 'adopt_path=/Volumes/NAS/mem0-backups']),
    (['reembed', '--check'], ['-i', INVENTORY, 'mem0ops.stack.reembed', '--check']),
    (['reembed', '--confirm', 'prd'], ['-i', INVENTORY, 'mem0ops.stack.reembed', '-e', 'reembed_confirm=prd']),
    (['reembed', '--confirm', 'prd', '--drop', 'memories_old_1536_20261203_023000', '--drop', 'mem0migrations_old_1536_x'],
     ['-i', INVENTORY, 'mem0ops.stack.reembed', '-e',
      '{"reembed_drop": ["memories_old_1536_20261203_023000", "mem0migrations_old_1536_x"]}',
      '-e', 'reembed_confirm=prd']),
], ids=lambda value: ' '.join(value) if isinstance(value, list) and value[0] != '-i' else None)
def test_each_subcommand_is_one_playbook_run_by_fqcn(argv, expected):
    assert ran(argv) == expected


def test_every_subcommand_has_its_playbook():
    playbooks = Path(__file__).resolve().parents[3] / 'playbooks'
    for name in mem0ops.COMMANDS:
        assert (playbooks / ('%s.yml' % mem0ops.playbook(name))).is_file(), name


def test_inventory_and_vault_file_from_the_environment_or_flags():
    env = dict(ENV, MEM0OPS_VAULT_PASSWORD_FILE='/home/owner/.mem0ops/vault-pass.sh')
    assert ran(['status'], env) == [
        '-i', INVENTORY, '--vault-password-file', '/home/owner/.mem0ops/vault-pass.sh', 'mem0ops.stack.status']
    assert ran(['status', '-i', 'inv', '--vault-password-file', 'pass'], env) == [
        '-i', 'inv', '--vault-password-file', 'pass', 'mem0ops.stack.status']
    assert ran(['verify', '-vv'], env)[-2:] == ['-vv', 'mem0ops.stack.verify']


def test_no_inventory_runs_nothing():
    status, printed, err, commands = invoke(['status'], env={})
    assert (status, printed, commands) == (2, [], [])
    assert 'MEM0OPS_INVENTORY' in err


@pytest.mark.parametrize('command', ['restore', 'reset', 'reembed'])
def test_a_destructive_run_without_confirm_is_refused(command):
    for argv in ([command], [command, '--set', '20261122_023000'] if command == 'restore' else [command, '-v']):
        status, printed, err, commands = invoke(argv)
        assert (status, printed, commands) == (2, [], [])
        assert 'refused, nothing was run' in err
        assert '--confirm <stack name>' in err and '--check' in err
    # the command never confirms by itself: the plan needs no name, and none is added
    assert 'confirm' not in ' '.join(ran([command, '--check']))


@pytest.mark.parametrize('argv', [
    ['status', '--dry-run'],
    ['reset', '--confirm', 'prd', '--dry-run'],
    ['restore', '--set', '20261122_023000', '--confirm', 'prd', '--dry-run'],
    ['drill', '--dry-run'],
    ['check', '--dry-run'],
])
def test_dry_run_prints_the_command_and_runs_nothing(argv):
    status, printed, err, commands = invoke(argv, rc=1)
    assert (status, err, commands) == (0, '', [])
    assert len(printed) == 1
    words = shlex.split(printed[0])
    assert words[0].endswith('ansible-playbook')
    assert 'mem0ops.stack.%s' % mem0ops.playbook(argv[0]) in words
    assert '--dry-run' not in words


def test_the_playbooks_exit_status_is_the_commands():
    status, printed, err, commands = invoke(['health'], rc=4)
    assert (status, err, len(printed), len(commands)) == (4, '', 1, 1)


def test_arguments_after_a_double_dash_go_to_ansible_playbook():
    assert ran(['verify', '--', '-e', 'verify_smoke=false']) == [
        '-i', INVENTORY, 'mem0ops.stack.verify', '-e', 'verify_smoke=false']


def test_a_value_that_key_value_would_split_is_passed_as_json():
    args = ran(['restore', '--set', '/Volumes/Data/backups/mem0/daily/20261122 023000', '--check'])
    assert json.loads(args[-1]) == {'restore_set': '/Volumes/Data/backups/mem0/daily/20261122 023000'}


def test_a_missing_ansible_playbook_is_reported():
    def missing(command):
        raise FileNotFoundError(command[0])

    out, err = io.StringIO(), io.StringIO()
    assert mem0ops.main(['status'], env=ENV, run=missing, out=out, err=err) == 127
    assert 'not found' in err.getvalue()


def test_check_runs_the_inventory_check_in_check_mode_with_the_vault():
    env = dict(ENV, MEM0OPS_VAULT_PASSWORD_FILE='/home/owner/.mem0ops/vault-pass.sh')
    assert ran(['check'], env) == ['-i', INVENTORY, '--vault-password-file', '/home/owner/.mem0ops/vault-pass.sh',
                                   'mem0ops.stack.inventory_check', '--check']
    with pytest.raises(SystemExit):  # nothing to choose: it is always a check
        mem0ops.parser().parse_args(['check', '--confirm', 'prd'])
