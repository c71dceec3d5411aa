# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stack filters: the mem0_stack tree validated once (one line naming the key and the fix) and the
connection facts every role reads (host, URLs, Bolt URI, PostgreSQL login)."""

from __future__ import annotations

import copy

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.service_order import service_dependents
from ansible_collections.mem0ops.stack.plugins.filter.stack import (
    FilterModule, stack_app_files, stack_connections, stack_problems, stack_validate)

INVENTORIES = Path(__file__).resolve().parents[4] / 'inventories'


def inventory_stack(name):
    """The mem0_stack tree of an inventory as written; the lab root variable resolved, lookups left as text."""
    data = yaml.safe_load((INVENTORIES / name / 'group_vars' / 'mem0_hosts' / 'stack.yml').read_text())
    root = data.get('mem0ops_lab_root', '')
    text = yaml.safe_dump(data['mem0_stack']).replace('{{ mem0ops_lab_root }}', root)
    return yaml.safe_load(text)


LAB = inventory_stack('lab')
OWNER = inventory_stack('mac_studio')


def changed(path, value, tree=None):
    """A copy of the lab tree with the key at the dotted path set to value (None deletes it)."""
    tree = copy.deepcopy(LAB if tree is None else tree)
    *parents, last = path.split('.')
    node = tree
    for key in parents:
        node = node[key]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return tree


def only_problem(tree):
    problems = stack_problems(tree)
    assert len(problems) == 1, problems
    with pytest.raises(AnsibleFilterError) as exc:
        stack_validate(tree)
    assert str(exc.value) == problems[0]
    assert '\n' not in problems[0]
    return problems[0]


def test_filters_are_registered():
    filters = FilterModule().filters()
    assert filters['stack_validate'] is stack_validate
    assert filters['stack_problems'] is stack_problems
    assert filters['stack_connections'] is stack_connections


@pytest.mark.parametrize('tree', [LAB, OWNER], ids=['lab', 'mac_studio'])
def test_both_inventories_are_valid_and_come_back_unchanged(tree):
    assert stack_problems(tree) == []
    assert stack_validate(tree) is tree


@pytest.mark.parametrize('path, value, expected', [
    ('services.postgres.port', 'abc',
     "mem0_stack.services.postgres.port: 'abc' is not a port; set a whole number from 1 to 65535"),
    ('services.postgres.port', 0,
     'mem0_stack.services.postgres.port: 0 is not a port; set a whole number from 1 to 65535'),
    ('services.mem0.port', 70000,
     'mem0_stack.services.mem0.port: 70000 is not a port; set a whole number from 1 to 65535'),
    ('services.neo4j.bolt_port', True,
     'mem0_stack.services.neo4j.bolt_port: True is not a port; set a whole number from 1 to 65535'),
    ('services.neo4j.http_port', '74x5',
     "mem0_stack.services.neo4j.http_port: '74x5' is not a port; set a whole number from 1 to 65535"),
    ('services.postgres.container_port', -1,
     'mem0_stack.services.postgres.container_port: -1 is not a port; set a whole number from 1 to 65535'),
    ('name', 'lab/x', "mem0_stack.name: 'lab/x' may hold only letters, digits, '.', '_' and '-'"),
    ('name', 'lab x', "mem0_stack.name: 'lab x' may hold only letters, digits, '.', '_' and '-'"),
    ('name', None, 'mem0_stack.name is missing; name the stack, e.g. lab or prd'),
    ('services.neo4j.password', '', 'mem0_stack.services.neo4j.password is empty; set it in the inventory or vault'),
    ('services.postgres.password', '  ',
     'mem0_stack.services.postgres.password is empty; set it in the inventory or vault'),
    ('services.postgres.password', None,
     'mem0_stack.services.postgres.password is missing; set it in the inventory or vault'),
    ('services.postgres.user', '', 'mem0_stack.services.postgres.user is empty; set it in the inventory'),
    ('services.postgres.database', None, 'mem0_stack.services.postgres.database is missing; set it in the inventory'),
    ('services.neo4j.user', '', 'mem0_stack.services.neo4j.user is empty; set it in the inventory'),
    ('services.postgres.port', None, 'mem0_stack.services.postgres.port is missing; '
     'a postgres health check needs the port, set a whole number from 1 to 65535'),
    ('data_root', 'data', "mem0_stack.data_root: 'data' is not an absolute path; "
     'set it to an absolute path, e.g. /var/lib/mem0'),
    ('backup_root', None, 'mem0_stack.backup_root is missing; set it to an absolute path, e.g. /var/lib/mem0'),
    ('services.mem0.host', 'bad host', "mem0_stack.services.mem0.host: 'bad host' is not a host name or address;"
     ' set an address such as 127.0.0.1'),
    ('services.mem0.depends_on', ['postgres', 'qdrant'],
     "mem0_stack.services.mem0.depends_on names 'qdrant', which is not a service of mem0_stack.services;"
     ' use one of embedder, mem0, neo4j, openmemory_mcp, openmemory_ui, postgres'),
    ('services.mem0.depends_on', 5, 'mem0_stack.services.mem0.depends_on: 5 is not a list of service names;'
     ' list the services mem0 needs, e.g. [postgres]'),
    ('services.mem0.health', {'type': 'tcp'},
     "mem0_stack.services.mem0.health.type: 'tcp' is not a health check; use one of http, postgres, running"),
    ('services.mem0.health', {'type': 'http'},
     'mem0_stack.services.mem0.health.path: missing is not a URL path; an http check needs a path such as /'),
    ('services.mem0.health', 'http',
     "mem0_stack.services.mem0.health is 'http', not a dictionary; set {type: http, path: /} or {type: running}"),
    ('embedding.dims', 0, 'mem0_stack.embedding.dims: 0 is not a dimension; set a whole number above 0, e.g. 768'),
    ('embedding.dims', 'many',
     "mem0_stack.embedding.dims: 'many' is not a dimension; set a whole number above 0, e.g. 768"),
    ('embedding.model', '', 'mem0_stack.embedding.model is empty; name the embedding model, e.g. nomic-embed-text'),
    ('embedding', None, 'mem0_stack.embedding is missing; set the embedding model and dims,'
     ' e.g. {model: nomic-embed-text, dims: 768}'),
    ('mem0.collection', None, 'mem0_stack.mem0.collection is missing; name the vector table, e.g. memories'),
    ('services.mem0.container', '', 'mem0_stack.services.mem0.container is empty; name the container the service runs in'),
])
def test_one_mistake_gives_one_line_naming_the_key_and_the_fix(path, value, expected):
    assert only_problem(changed(path, value)) == expected


def test_a_secret_is_never_shown():
    tree = changed('services.postgres.password', ['s3cret-value'])
    message = only_problem(tree)
    assert message == ('mem0_stack.services.postgres.password is not a string; set it in the inventory or vault')
    assert 's3cret' not in message


def test_an_http_check_without_a_port():
    tree = changed('services.embedder.port', None)
    assert only_problem(tree) == ('mem0_stack.services.embedder has an http health check but no port;'
                                  ' set mem0_stack.services.embedder.port (or http_port)')


def test_a_cycle_is_named():
    tree = changed('services.postgres.depends_on', ['openmemory_ui'])
    message = only_problem(tree)
    assert message.startswith('mem0_stack.services: the depends_on entries form a cycle (')
    assert 'mem0 -> ' in message and message.endswith('); remove one of them')


def test_a_bad_service_name_and_a_non_dictionary_service():
    tree = changed('services.bad/name', {'container': 'x', 'depends_on': []})
    assert only_problem(tree) == ("mem0_stack.services: the service name 'bad/name' may hold only letters, digits,"
                                  " '.', '_' and '-'")
    tree = changed('services.probe', 'mem0_probe')
    assert only_problem(tree) == ("mem0_stack.services.probe is 'mem0_probe', not a dictionary; describe the service"
                                  ' as a dictionary with container, depends_on and health')


def test_the_tree_must_be_a_dictionary_with_services():
    assert stack_problems(None) == ['mem0_stack is None, not a dictionary; define it in the inventory (see docs/DESIGN.md)']
    assert only_problem(changed('services', {})) == 'mem0_stack.services is empty; describe at least the postgres service'
    expected = 'mem0_stack.services is a list, not a dictionary; describe the services (see docs/DESIGN.md)'
    assert only_problem(changed('services', [])) == expected


def test_every_problem_is_listed():
    tree = changed('name', 'a/b', changed('services.postgres.port', 'abc'))
    assert stack_problems(tree) == [
        "mem0_stack.name: 'a/b' may hold only letters, digits, '.', '_' and '-'",
        "mem0_stack.services.postgres.port: 'abc' is not a port; set a whole number from 1 to 65535",
    ]


def test_ports_and_dims_given_as_digit_strings_pass():
    tree = changed('services.postgres.port', '5433', changed('embedding.dims', '768'))
    assert stack_problems(tree) == []
    assert stack_connections(tree)['postgres']['login']['login_port'] == 5433


def test_connection_facts_of_the_lab():
    conn = stack_connections(LAB)
    assert sorted(conn) == sorted(LAB['services'])
    pg = LAB['services']['postgres']
    assert conn['postgres']['login'] == {
        'login_host': '127.0.0.1', 'login_port': 5433, 'login_user': 'mem0_user_lab',
        'login_password': pg['password'], 'login_db': 'mem0_lab'}
    assert conn['postgres']['login_server'] == dict((k, v) for k, v in conn['postgres']['login'].items() if k != 'login_db')
    assert conn['postgres']['login_in_container'] == dict(conn['postgres']['login_server'], login_port=5433)
    assert conn['postgres']['health_type'] == 'postgres' and conn['postgres']['health_url'] is None
    assert conn['neo4j']['url'] == 'http://127.0.0.1:7475'
    assert conn['neo4j']['health_url'] == 'http://127.0.0.1:7475/'
    assert conn['neo4j']['bolt_uri'] == 'bolt://127.0.0.1:7688' and conn['neo4j']['bolt_port'] == 7688
    assert conn['mem0']['url'] == 'http://127.0.0.1:8888'
    assert conn['mem0']['health_url'] == 'http://127.0.0.1:8888/docs'
    assert conn['embedder']['health_url'] == 'http://127.0.0.1:11434/api/tags'
    assert 'login' not in conn['mem0'] and 'bolt_uri' not in conn['mem0']


def test_connection_facts_of_the_owner_stack():
    conn = stack_connections(OWNER)
    assert conn['telegram_bot'] == {'host': '127.0.0.1', 'port': None, 'http_port': None, 'url': None,
                                    'health_type': 'running', 'health_url': None}
    assert conn['grafana']['health_url'] == 'http://127.0.0.1:3001/api/health'
    assert conn['postgres']['login']['login_port'] == 5433  # the host port, not the container's 5432
    assert conn['postgres']['login_in_container']['login_port'] == 5432  # docker exec: the container's port


def test_connection_defaults_host_and_neo4j_ports():
    tree = changed('services.neo4j.bolt_port', None)
    tree = changed('services.neo4j.http_port', None, tree)
    tree = changed('services.neo4j.host', None, tree)
    conn = stack_connections(tree)['neo4j']
    assert conn['host'] == '127.0.0.1'
    assert conn['url'] == 'http://127.0.0.1:7474' and conn['bolt_uri'] == 'bolt://127.0.0.1:7687'


def test_connections_of_an_invalid_tree_fail_with_the_line():
    with pytest.raises(AnsibleFilterError, match=r"^mem0_stack.services.postgres.port: 'abc' is not a port"):
        stack_connections(changed('services.postgres.port', 'abc'))


def test_dependents_closure():
    services = LAB['services']
    assert service_dependents(services, ['postgres', 'neo4j']) == ['mem0', 'openmemory_mcp', 'openmemory_ui']
    assert service_dependents(services, 'mem0') == ['openmemory_mcp', 'openmemory_ui']
    assert service_dependents(services, []) == []
    expected = ['mem0', 'openmemory_mcp', 'telegram_bot', 'openmemory_ui']
    assert service_dependents(OWNER['services'], ['postgres']) == expected
    with pytest.raises(AnsibleFilterError, match='names must be a list'):
        service_dependents(services, 5)


def test_app_files_are_the_reset_files_and_with_history_mem0s_database():
    root = LAB['data_root'].rstrip('/')
    files = stack_app_files(LAB)
    assert FilterModule().filters()['stack_app_files'] is stack_app_files
    assert [(f['service'], f['relpath']) for f in files] == [
        ('mem0', 'data/history.db'), ('mem0', 'data/history.db-wal'), ('mem0', 'data/history.db-shm'),
        ('openmemory_mcp', 'openmemory/openmemory.db')]
    assert files[0]['dir'] == root + '/data' and files[0]['file'] == 'history.db'
    # the history database is added only when asked for and not already named
    assert stack_app_files(LAB, history=True) == files
    tree = changed('services.mem0.reset_files', None)
    assert [f['relpath'] for f in stack_app_files(tree)] == ['openmemory/openmemory.db']
    assert [f['relpath'] for f in stack_app_files(tree, history=True)] == ['data/history.db', 'openmemory/openmemory.db']
    with pytest.raises(AnsibleFilterError):
        stack_app_files(changed('services.mem0.port', 'abc'))


NASTY_PASSWORD = 'pa$HOME s #1 %41 \'q\' "d" \\ @:/ é'


def test_a_password_of_any_printable_characters_passes():
    tree = changed('services.postgres.password', NASTY_PASSWORD)
    tree = changed('services.neo4j.password', NASTY_PASSWORD + '\t', tree)
    assert stack_problems(tree) == []


@pytest.mark.parametrize('bad', ['new\nline', 'carriage\rreturn', 'nul\x00', 'escape\x1b'])
def test_a_credential_no_file_or_login_carries_is_one_line_naming_the_key_never_the_value(bad):
    value = 's3cret-' + bad
    tree = changed('services.postgres.password', value)
    # The env file's values built from it are not named again.
    tree = changed('services.mem0.secret_env', {'POSTGRES_PASSWORD': value, 'MEM0_API_KEY': 'k'}, tree)
    message = only_problem(tree)
    assert message == ('mem0_stack.services.postgres.password holds a newline, a NUL or another control character,'
                       ' which no env file, password file or login carries intact; choose one without (any other'
                       ' character may be used: $, #, %, quotes, backslashes, spaces)')
    assert 's3cret' not in message
    assert only_problem(changed('services.mem0.secret_env', {'MEM0_API_KEY': value})).startswith(
        'mem0_stack.services.mem0.secret_env.MEM0_API_KEY holds a newline')
