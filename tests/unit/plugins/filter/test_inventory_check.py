# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory check's decisions: missing secrets named (never shown) with their fix, the Docker socket and engine,
the data and backup roots, the Python and ansible-core versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.inventory_check import (
    FilterModule, inventory_check_docker, inventory_check_parents, inventory_check_paths, inventory_check_secrets,
    inventory_check_versions)

ROOT = Path(__file__).resolve().parents[4]
SPECS = yaml.safe_load((ROOT / 'roles' / 'inventory_check' / 'defaults' / 'main.yml').read_text())['inventory_check_secrets']
SECRET = 's3cret-value-1'


def stack(**services):
    return {'services': {'postgres': {'password': SECRET}, 'neo4j': {'password': SECRET}, 'mem0': {'api_key': SECRET},
                         **services},
            'alerting': {'bot_token': SECRET, 'chat_id': '42'}}


def text(findings):
    return '\n'.join(findings['problems'] + findings['warnings'] + findings['ok'])


def test_every_secret_set_is_ok_and_no_value_is_shown():
    found = inventory_check_secrets(stack(), SPECS)
    assert found['problems'] == [] and len(found['ok']) == 1
    assert 'mem0_stack.services.mem0.api_key' in found['ok'][0] and 'mem0_stack.alerting.chat_id' in found['ok'][0]
    assert SECRET not in text(found)


def test_a_missing_empty_or_placeholder_secret_is_a_problem_with_its_fix():
    tree = stack(mem0={'api_key': '  '}, neo4j={'password': 'CHANGE_ME'})
    del tree['services']['postgres']['password']
    found = inventory_check_secrets(tree, SPECS, vault_file='/inv/group_vars/mem0_hosts/vault.yml')
    assert found['ok'] == []
    problems = dict(line.split(' is ', 1) for line in found['problems'])
    assert set(problems) == {'mem0_stack.services.postgres.password', 'mem0_stack.services.neo4j.password',
                             'mem0_stack.services.mem0.api_key'}
    assert problems['mem0_stack.services.neo4j.password'].startswith("still the example's placeholder CHANGE_ME.")
    fix = problems['mem0_stack.services.mem0.api_key']
    assert fix.startswith('empty or missing. Fix: set mem0_vault.mem0_api_key in the vault file (ansible-vault edit '
                          '/inv/group_vars/mem0_hosts/vault.yml')
    assert 'export MEM0_API_KEY' in fix and '--vault-password-file' in fix


def test_a_secret_of_an_absent_part_is_not_required():
    tree = stack()
    del tree['services']['neo4j'], tree['alerting']
    found = inventory_check_secrets(tree, SPECS)
    assert found['problems'] == []
    assert 'neo4j' not in found['ok'][0] and 'alerting' not in found['ok'][0]


def test_a_spec_without_key_is_refused():
    with pytest.raises(AnsibleFilterError, match='no key'):
        inventory_check_secrets(stack(), [{'when_key': 'services'}])


KNOWN = {'OrbStack': '.orbstack/run/docker.sock', 'Docker Desktop': '.docker/run/docker.sock'}
ENGINE = {'can_talk_to_docker': True, 'host_info': {'ServerVersion': '28.1.1'}}


def docker(**facts):
    base = {'docker_host': 'unix:///Users/mark/.orbstack/run/docker.sock', 'socket_stat': {'exists': True, 'issock': True},
            'home': '/Users/mark', 'known': KNOWN, 'known_exists': {'OrbStack': False, 'Docker Desktop': True},
            'context_host': 'unix:///Users/mark/.orbstack/run/docker.sock', 'engine': ENGINE,
            'variable': 'mem0_docker_socket'}
    return inventory_check_docker(dict(base, **facts))


def test_an_answering_engine_is_ok():
    found = docker()
    assert found == {'problems': [], 'warnings': [],
                     'ok': ['the Docker engine answers at unix:///Users/mark/.orbstack/run/docker.sock (Docker 28.1.1)']}


def test_a_missing_socket_names_both_engines_and_the_docker_context():
    found = docker(socket_stat={'exists': False}, engine=None,
                   context_host='unix:///Users/mark/.docker/run/docker.sock')
    problem, = found['problems']
    assert problem.startswith('the Docker socket /Users/mark/.orbstack/run/docker.sock (mem0_stack.docker_host) '
                              'does not exist. Fix: set mem0_docker_socket in the inventory')
    assert "OrbStack's is /Users/mark/.orbstack/run/docker.sock" in problem
    assert "Docker Desktop's is /Users/mark/.docker/run/docker.sock" in problem
    assert 'found here: Docker Desktop at /Users/mark/.docker/run/docker.sock' in problem
    assert '`docker context inspect` shows the one the docker CLI uses (unix:///Users/mark/.docker/run/docker.sock)' in problem
    assert "the docker CLI's current context uses unix:///Users/mark/.docker/run/docker.sock" in found['warnings'][0]


@pytest.mark.parametrize('facts, expected', [
    ({'docker_host': ''}, 'mem0_stack.docker_host is missing. Fix: set mem0_docker_socket'),
    ({'socket_stat': {'exists': True, 'issock': False}}, 'is not a socket. Fix:'),
    ({'engine': {'msg': 'Error while fetching server API version:\n connection refused'}},
     'does not answer (Error while fetching server API version: connection refused). Fix: start the engine'),
    ({'docker_host': 'tcp://10.0.0.2:2376', 'socket_stat': None, 'context_host': '', 'engine': {'msg': 'timeout'}},
     'the Docker engine at tcp://10.0.0.2:2376 does not answer (timeout)'),
])
def test_each_engine_problem_says_what_and_how_to_fix_it(facts, expected):
    problem, = docker(**facts)['problems']
    assert expected in problem


def test_the_parents_of_both_roots_once_each():
    assert inventory_check_parents({'data_root': '/Volumes/Data/mem0-data/', 'backup_root': '/Volumes/Data/backups/mem0',
                                    'other': '/x'}) == [
        '/Volumes/Data/mem0-data', '/Volumes/Data', '/Volumes', '/', '/Volumes/Data/backups/mem0',
        '/Volumes/Data/backups']
    assert inventory_check_parents({'data_root': 'relative', 'backup_root': None}) == []


def stat(dev=1, **more):
    return dict({'exists': True, 'isdir': True, 'writeable': True, 'dev': dev}, **more)


ROOTS = {'data_root': '/srv/mem0/data', 'backup_root': '/mnt/backup/mem0'}


def test_roots_on_two_filesystems_are_ok():
    found = inventory_check_paths(ROOTS, {'/srv/mem0/data': stat(1), '/mnt/backup/mem0': stat(2)})
    assert found['problems'] == found['warnings'] == []
    assert found['ok'] == ['mem0_stack.data_root /srv/mem0/data exists and is writable',
                           'mem0_stack.backup_root /mnt/backup/mem0 exists and is writable',
                           'mem0_stack.backup_root is on another filesystem than mem0_stack.data_root (devices 1, 2)']


def test_backups_on_the_datas_filesystem_are_a_warning():
    found = inventory_check_paths(ROOTS, {'/srv/mem0/data': stat(7), '/mnt/backup/mem0': stat(7)})
    assert found['problems'] == []
    warning, = found['warnings']
    assert 'is on the same filesystem as mem0_stack.data_root /srv/mem0/data (device 7)' in warning


def test_a_root_that_does_not_exist_can_be_created_under_a_writable_parent():
    stats = {'/srv/mem0/data': {'exists': False}, '/srv/mem0': {'exists': False}, '/srv': stat(1),
             '/mnt/backup/mem0': {'exists': False}, '/mnt/backup': stat(2)}
    found = inventory_check_paths(ROOTS, stats)
    assert found['problems'] == []
    assert 'mem0_stack.backup_root /mnt/backup/mem0 does not exist yet; it can be created (/mnt/backup is writable)' in found['ok']
    assert any('mem0_stack.data_root /srv/mem0/data does not exist: a running stack keeps its data there' in line
               for line in found['warnings'])


def test_an_unwritable_root_an_unmounted_volume_and_a_file_are_problems():
    roots = {'data_root': '/Volumes/Data/mem0-data', 'backup_root': '/srv/backup'}
    stats = {'/Volumes/Data/mem0-data': {'exists': False}, '/Volumes/Data': {'exists': False}, '/Volumes': stat(),
             '/srv/backup': stat(writeable=False)}
    problems = inventory_check_paths(roots, stats, 'mark')['problems']
    assert problems == [
        'mem0_stack.data_root /Volumes/Data/mem0-data: the volume /Volumes/Data is not mounted. Fix: connect and mount '
        'that disk (Finder, or diskutil mount), or set mem0_stack.data_root to a directory on a mounted volume',
        'mem0_stack.backup_root /srv/backup: /srv/backup is not writable by mark. Fix: sudo mkdir -p /srv/backup && '
        'sudo chown mark /srv/backup']
    problem, = inventory_check_paths({'backup_root': '/srv/backup'}, {'/srv/backup': stat(isdir=False)})['problems']
    assert '/srv/backup is not a directory' in problem


VERSIONS = {'python': '3.11.7', 'executable': '/venv/bin/python', 'python_min': '3.11', 'imports': ['docker', 'neo4j'],
            'missing_imports': [], 'ansible': '2.19.14', 'requires_ansible': '>=2.19.14'}


def test_supported_versions_are_ok():
    assert inventory_check_versions(VERSIONS) == {'problems': [], 'warnings': [], 'ok': [
        'Python 3.11.7 (/venv/bin/python, at least 3.11) with docker, neo4j', 'ansible-core 2.19.14 (>=2.19.14)']}


def test_macos_python_missing_modules_and_an_old_ansible_core_are_problems():
    found = inventory_check_versions(dict(VERSIONS, python='3.9.6', executable='/usr/bin/python3',
                                          missing_imports=['docker'], ansible='2.19.1'))
    assert found['ok'] == []
    python, modules, ansible = found['problems']
    assert python.startswith('Python 3.9.6 (/usr/bin/python3) is older than 3.11') and 'brew install' in python
    assert modules.startswith('the Python that runs the modules (/usr/bin/python3) lacks docker. Fix: pip install')
    assert ansible.startswith('ansible-core 2.19.1 is not one this collection supports (>=2.19.14')


@pytest.mark.parametrize('requires, version, ok', [
    ('>=2.19.14', '2.19.14', True), ('>=2.19.14', '2.20.0', True), ('>=2.19.14', '2.19.9', False),
    ('>=2.19.1,<2.21', '2.21.0', False), ('>=2.19.1, <2.21', '2.20.3', True), ('==2.19.14', '2.19.14', True),
])
def test_every_clause_of_requires_ansible_holds(requires, version, ok):
    found = inventory_check_versions(dict(VERSIONS, ansible=version, requires_ansible=requires))
    assert (found['problems'] == []) is ok


def test_a_requires_ansible_that_is_not_a_version_clause_is_refused():
    with pytest.raises(AnsibleFilterError, match='not a version clause'):
        inventory_check_versions(dict(VERSIONS, requires_ansible='2.19'))


def test_the_collections_requires_ansible_is_a_clause_the_filter_reads():
    requires = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())['requires_ansible']
    inventory_check_versions(dict(VERSIONS, requires_ansible=requires))


def test_the_filters_are_registered():
    assert set(FilterModule().filters()) == {'inventory_check_secrets', 'inventory_check_docker',
                                             'inventory_check_parents', 'inventory_check_paths',
                                             'inventory_check_versions'}
