# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health filters: the checks, their texts and verdicts, the containers' states and the alert decisions.

The expected texts are those roles/health/templates/checks.j2, containers.j2 and alerts.j2 rendered before these
decisions moved into Python (compared on 450 generated cases when they moved).
"""

from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.health import (
    FilterModule, container_states, health_alerts, health_checks, health_summary, truncate)

STACK = {
    'name': 'lab', 'docker_host': 'unix:///run/docker.sock',
    'mem0': {'collection': 'memories', 'namespace_prefix': 'mark_carey/'},
    'services': {
        'postgres': {'container': 'pg_c', 'port': 5433, 'user': 'mem0', 'database': 'mem0', 'health': {'type': 'postgres'}},
        'neo4j': {'container': 'neo_c', 'http_port': 7475, 'bolt_port': 7688, 'health': {'type': 'http', 'path': '/'}},
        'mem0': {'container': 'mem0_c', 'port': 8888, 'health': {'type': 'http', 'path': '/docs'}},
    },
}
SETTINGS = {
    'drop_threshold_percent': '50', 'alert_names': {'postgres': 'postgresql', 'mem0': 'mem0_api'},
    'critical_services': ['postgres', 'mem0', 'neo4j'], 'restore_inventory': 'inventories/lab',
    'pg_connection_errors': 'could not connect|connection refused|timeout expired', 'check_bolt': True,
    'disk_min_free_gb': 10, 'backup_root': '/b', 'backup_required': True, 'backup_max_age_hours': 26,
    'backup_age_hours': 1.5, 'backup_taken': '2026-01-01 00:00 UTC',
    'restore_command': 'ansible-playbook -i inventories/lab playbooks/restore.yml -e restore_confirm=lab',
    'auto_restore_confirm_file': '/s/auto-restore.confirm', 'pg_database': 'mem0',
}
LG = {'path': '/b/20260101_000000', 'memories': 1968}


def inspection(item, running=True, health='healthy'):
    state = {'Status': 'running' if running else 'exited', 'Running': running, 'Paused': False, 'ExitCode': 0 if running else 137,
             'Health': {'Status': health}}
    return {'item': item, 'exists': True, 'container': {'State': state, 'Config': {'Healthcheck': {'Test': ['CMD', 'true']}}}}


def healthy(**changes):
    args = {
        'services': ['postgres', 'neo4j', 'mem0'],
        'containers': container_states({'results': [inspection(n) for n in ('postgres', 'neo4j', 'mem0')]}, STACK),
        'http': {'results': [{'item': 'neo4j', 'status': 200}, {'item': 'mem0', 'status': 200}]},
        'pg': {'results': [{'item': 'postgres', 'is_available': True}]},
        'graph': {'sources': {'neo4j': {'per_user_id': {'a': 1, 'b': 2}}}},
        'df': {'results': [{'item': '/data', 'rc': 0, 'stdout_lines': [
            'Filesystem 1024-blocks Used Available Capacity Mounted on', '/dev/sda1 104857600 1000 52428800 50% /var']}]},
        'sets': {'sets': [{'status': 'valid', 'path': LG['path']}], 'latest_good': LG},
        'count': {'database_up': True, 'total': 1968, 'per_namespace': {'b': 968, 'A': 1000}, 'baseline': {'total': 1968},
                  'drop_percent': 0.0, 'namespace_drop_percent': {}, 'vanished_namespaces': []},
        'settings': dict(SETTINGS),
    }
    args.update(changes)
    return args


def by_type(checks):
    return {check['type']: check for check in checks}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'health_checks', 'container_states', 'health_alerts', 'health_summary'}


def test_everything_healthy_passes_in_order():
    checks = health_checks(STACK, **healthy())
    assert [c['type'] for c in checks] == [
        'docker_down', 'postgresql_down', 'postgresql_connection', 'postgresql_db_access', 'neo4j_down', 'neo4j_endpoint',
        'neo4j_bolt', 'mem0_api_down', 'mem0_api_endpoint', 'disk_space_low', 'backup_failed', 'memory_count_zero',
        'memory_count_drop']
    assert all(c['ok'] is True for c in checks)
    got = by_type(checks)
    assert got['docker_down']['detail'] == 'Docker engine at unix:///run/docker.sock answers'
    assert got['postgresql_down']['detail'] == 'container pg_c running, Docker health healthy'
    assert got['postgresql_db_access']['detail'] == 'login mem0@127.0.0.1:5433/mem0 accepted'
    assert got['neo4j_endpoint']['check'] == 'GET http://127.0.0.1:7475/'
    assert got['neo4j_bolt']['detail'] == 'Bolt bolt://127.0.0.1:7688 answers (graph of 2 users)'
    assert got['disk_space_low']['detail'] == '50.0 GB free of 100.0 GB on /var (minimum 10 GB)'
    assert got['disk_space_low']['free_bytes'] == 52428800 * 1024
    assert got['backup_failed']['detail'] == 'last good set /b/20260101_000000 (1968 memories, 1.5 h old)'
    assert got['memory_count_zero']['detail'] == '1968 memories (A 1000, b 968)'
    assert got['memory_count_zero']['check'] == 'memories in table memories under mark_carey/'
    assert got['memory_count_drop']['detail'] == 'no drop of more than 50.0%'
    assert health_alerts(checks)[0] == {'type': 'docker_down', 'state': 'resolved', 'severity': 'INFO',
                                        'text': 'The Docker engine at unix:///run/docker.sock answers again.'}


def test_stopped_container_fails_and_its_endpoint_is_not_judged():
    args = healthy()
    inspections = {'results': [inspection('postgres'), inspection('neo4j'), inspection('mem0', running=False)]}
    args['containers'] = container_states(inspections, STACK)
    got = by_type(health_checks(STACK, **args))
    assert got['mem0_api_down']['ok'] is False
    assert got['mem0_api_down']['detail'] == 'container mem0_c is exited (exit code 137)'
    assert got['mem0_api_down']['text'] == ('Service mem0: container mem0_c is exited (exit code 137). Start it with: '
                                            'ansible-playbook -i inventories/lab playbooks/startup.yml -e services_names=mem0')
    assert got['mem0_api_endpoint']['ok'] is None
    alerts = {a['type']: a for a in health_alerts(list(got.values()))}
    assert alerts['mem0_api_down']['state'] == 'firing' and alerts['mem0_api_down']['severity'] == 'CRITICAL'
    assert 'mem0_api_endpoint' not in alerts


def test_postgres_refused_and_login_failed_are_told_apart():
    refused = by_type(health_checks(STACK, **healthy(pg={'results': [
        {'item': 'postgres', 'is_available': False, 'msg': 'could not connect to server: Connection refused'}]})))
    assert refused['postgresql_connection']['ok'] is False
    assert refused['postgresql_db_access']['ok'] is None
    login = by_type(health_checks(STACK, **healthy(pg={'results': [
        {'item': 'postgres', 'is_available': False, 'conn_err_msg': 'FATAL: password authentication failed'}]})))
    assert login['postgresql_connection']['ok'] is True
    assert login['postgresql_db_access']['ok'] is False
    assert login['postgresql_db_access']['detail'] == 'login mem0@127.0.0.1:5433/mem0 refused: FATAL: password authentication failed'


def test_http_without_answer_names_the_error():
    got = by_type(health_checks(STACK, **healthy(http={'results': [{'item': 'neo4j', 'status': -1, 'msg': 'refused'},
                                                                   {'item': 'mem0', 'status': 500}]})))
    assert got['neo4j_endpoint']['detail'] == 'GET http://127.0.0.1:7475/ gets no answer (refused)'
    assert got['mem0_api_endpoint']['detail'] == 'GET http://127.0.0.1:8888/docs answers 500'
    assert got['neo4j_endpoint']['severity'] == 'CRITICAL' and got['neo4j_endpoint']['ok'] is False


def test_disk_low_and_unmeasurable():
    low = {'results': [{'item': '/data', 'rc': 0, 'stdout_lines': ['/dev/sda1 104857600 1000 3146529 97% /var lib']},
                       {'item': '/gone', 'rc': 1, 'stderr': 'df: no such file'}]}
    checks = [c for c in health_checks(STACK, **healthy(df=low)) if c['group'] == 'disk']
    assert checks[0]['ok'] is False and checks[0]['detail'] == '3.0 GB free of 100.0 GB on /var lib (minimum 10 GB)'
    assert checks[1]['detail'] == 'cannot measure: df: no such file'


def test_backups_quarantined_old_missing():
    quarantined = healthy(sets={'sets': [{'status': 'unknown'}, {'status': 'quarantined', 'path': 'q', 'problems': ['bad sum']}],
                                'latest_good': LG})
    assert by_type(health_checks(STACK, **quarantined))['backup_failed']['detail'] == 'the newest backup set q is QUARANTINED (bad sum)'
    old = healthy(settings=dict(SETTINGS, backup_age_hours=30.0))
    assert by_type(health_checks(STACK, **old))['backup_failed']['detail'] == (
        'the last good backup set /b/20260101_000000 is 30.0 h old, more than 26 h')
    assert by_type(health_checks(STACK, **healthy(sets={'sets': []})))['backup_failed']['ok'] is False
    optional = healthy(sets={'sets': []}, settings=dict(SETTINGS, backup_required=False))
    assert by_type(health_checks(STACK, **optional))['backup_failed']['ok'] is True
    failed = healthy(sets={'failed': True, 'msg': 'permission denied'})
    assert by_type(health_checks(STACK, **failed))['backup_failed']['detail'] == 'the backup sets under /b cannot be listed: permission denied'


def test_zero_memories_and_drop():
    zero = healthy(count={'database_up': True, 'total': 0, 'per_namespace': {}, 'problems': ['there are no memories', 'other'],
                          'baseline': {'total': 1968}, 'drop_percent': 100.0, 'namespace_drop_percent': {'a': 100.0},
                          'vanished_namespaces': ['a']})
    got = by_type(health_checks(STACK, **zero))
    assert got['memory_count_zero']['ok'] is False
    assert got['memory_count_zero']['text'].splitlines() == [
        'Table memories of database mem0 holds 0 memories under mark_carey/ while PostgreSQL answers: the containers can be '
        'healthy while the data is gone.',
        'other', 'The last good run counted 1968 memories.',
        'The last good backup /b/20260101_000000 holds 1968 memories, taken 2026-01-01 00:00 UTC (1.5 h ago).',
        'Do not restart or recreate the containers. Check which database and credentials the mem0 server uses.',
        'Restore it with: ansible-playbook -i inventories/lab playbooks/restore.yml -e restore_confirm=lab (nothing is restored '
        'automatically unless confirmed with -e health_auto_restore_confirm=lab or the file /s/auto-restore.confirm holding lab).']
    assert got['memory_count_drop']['ok'] is None
    assert got['memory_count_drop']['severity'] == 'CRITICAL'
    drop = copy.deepcopy(zero)
    drop['count'].update(total=10, per_namespace={'b': 10}, drop_percent=99.5)
    got = by_type(health_checks(STACK, **drop))
    assert got['memory_count_drop']['ok'] is False
    assert got['memory_count_drop']['detail'] == '1968 -> 10 memories since the last good run (99.5% drop; a -100.0%; gone: a)'


def test_database_down_has_no_data_checks():
    checks = health_checks(STACK, **healthy(count={'database_up': False, 'problems': ['refused']}))
    assert 'data' not in [c['group'] for c in checks]


def test_containers_state():
    results = {'results': [{'item': 'postgres', 'msg': 'engine gone'}, {'item': 'neo4j', 'exists': False},
                           {'item': 'mem0', 'exists': True, 'container': {'State': {'Status': 'running', 'Running': True,
                                                                                    'Paused': True, 'ExitCode': 0},
                                                                          'Config': {'Healthcheck': {'Test': ['NONE']}}}}]}
    got = container_states(results, STACK)
    assert got['postgres'] == {'container': 'pg_c', 'inspected': False, 'error': 'engine gone', 'exists': False, 'id': '',
                               'status': 'unknown', 'running': False, 'exit_code': None, 'healthcheck': False, 'health': 'none',
                               'started_at': ''}
    assert container_states(results, STACK, uninspected_status='missing')['postgres']['status'] == 'missing'
    assert got['neo4j']['status'] == 'missing' and got['neo4j']['inspected'] is True
    assert got['mem0']['running'] is False and got['mem0']['healthcheck'] is False
    checks = health_checks(STACK, **healthy(containers=got))
    assert checks[0]['ok'] is False
    assert checks[0]['detail'] == 'Docker engine at unix:///run/docker.sock cannot inspect pg_c: engine gone'


def test_alert_severity_is_the_worst_failing():
    checks = [{'type': 't', 'severity': 'WARNING', 'ok': False, 'text': 'a', 'ok_text': 'x'},
              {'type': 't', 'severity': 'CRITICAL', 'ok': False, 'text': 'b', 'ok_text': 'y'},
              {'type': 'u', 'severity': 'WARNING', 'ok': None, 'text': 'c', 'ok_text': 'z'}]
    assert health_alerts(checks) == [{'type': 't', 'state': 'firing', 'severity': 'CRITICAL', 'text': 'a\nb'}]


def test_truncate_is_jinja_truncate():
    assert truncate('short', 10) == 'short'
    assert truncate('x' * 14, 10) == 'x' * 14
    assert truncate('aaa bbb ccc ddd eee fff', 10) == 'aaa...'


def test_unknown_service_and_bad_input_name_the_fix():
    with pytest.raises(AnsibleFilterError, match='mem0_stack.services'):
        health_checks(STACK, **healthy(services=['nope']))
    with pytest.raises(AnsibleFilterError, match='containers must be a dictionary'):
        health_checks(STACK, **healthy(containers=['x']))


SUMMARY_SETTINGS = {'name': 'lab', 'at': '2026-12-02 13:40:05', 'seconds': 3.2, 'check_mode': False, 'alerting': False,
                    'alerting_on': False}
NO_DELIVERIES = {'sent': [], 'suppressed': [], 'resolved': [], 'failed': [], 'not_sent': []}


def test_summary_when_everything_passes():
    args = healthy()
    checks = health_checks(STACK, **args)
    lines = health_summary(checks, health_alerts(checks), args['count'], args['graph'], NO_DELIVERIES, {'state': 'not_needed'},
                           SUMMARY_SETTINGS)
    assert lines[0] == 'mem0 health of lab at 2026-12-02 13:40:05 UTC: OK, every check passed (3.2 s)'
    assert lines[1:4] == ['docker:', '  ok       Docker engine at unix:///run/docker.sock answers', 'services:']
    assert lines[4] == ('  ok       postgres        container pg_c running, Docker health healthy; accepts connections; '
                        'login mem0@127.0.0.1:5433/mem0 accepted')
    assert '           last good run: 1968 (0.0% drop); last good backup: none' in lines
    assert lines[-2:] == ['alerts:', '  not sent (alerting is off)']


def test_summary_with_problems_deliveries_and_a_restore():
    args = healthy(pg={'results': [{'item': 'postgres', 'is_available': False, 'msg': 'could not connect: refused'}]},
                   count={'database_up': False, 'problems': ['refused']})
    checks = health_checks(STACK, **args)
    deliveries = dict(NO_DELIVERIES, sent=['postgresql_connection'], failed=['x'])
    lines = health_summary(checks, health_alerts(checks), args['count'], {}, deliveries, {'state': 'failed', 'detail': 'boom'},
                           dict(SUMMARY_SETTINGS, check_mode=True, alerting=True, alerting_on=True))
    assert lines[0] == 'mem0 health of lab at 2026-12-02 13:40:05 UTC: 1 PROBLEM(S): postgresql_connection (3.2 s)'
    assert lines[1] == 'CHECK MODE: no alert sent, no state or metrics written'
    assert '  PROBLEM  postgres        container pg_c running, Docker health healthy; refuses connections: could not connect: refused' in lines
    assert '           memories not counted: PostgreSQL does not answer (refused)' in lines
    assert lines[-4:] == ['alerts:', '  sent: postgresql_connection', '  NOT DELIVERED: x', 'restore: boom']
