# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: health_checks
short_description: The health role's verdicts, from what its probes found
version_added: 0.1.0
author: mem0ops maintainers
description:
  - Turns what the C(health) role's probes registered (container inspections, HTTP and PostgreSQL probes, the graph,
    C(df), the backup sets, the memory counts) into one list of checks, in order, each
    C({group, target, check, type, severity, ok, detail, text, ok_text}); C(ok) is C(true), C(false), or C(null)
    when the check could not be evaluated. No secret is read.
  - The same file holds C(container_states) (the state of each container from C(docker_container_info) results,
    for the C(health) and C(verify) roles), C(health_alerts) (alert type -> firing or resolved, from the checks) and
    C(health_summary) (the lines of the report a person reads).
options:
  _input:
    description: The inventory's C(mem0_stack) tree.
    type: dict
    required: true
  services:
    description: The names of the services checked, in order.
    type: list
    elements: str
    required: true
  containers:
    description: The output of C(container_states), service -> container state.
    type: dict
    default: {}
  http:
    description: The registered result of the HTTP probe loop.
    type: dict
    default: {}
  pg:
    description: The registered result of the PostgreSQL login loop.
    type: dict
    default: {}
  graph:
    description: The registered result of C(mem0_memory_count) against Neo4j and the last good backup.
    type: dict
    default: {}
  df:
    description: The registered result of the C(df -Pk) loop over the volumes.
    type: dict
    default: {}
  sets:
    description: The registered result of C(mem0_backup_set) listing the backup sets.
    type: dict
    default: {}
  count:
    description: The registered result of C(mem0_memory_count) against PostgreSQL.
    type: dict
    default: {}
  settings:
    description:
      - The role's settings and derived facts, keys C(drop_threshold_percent), C(alert_names), C(critical_services),
        C(restore_inventory), C(pg_connection_errors), C(check_bolt), C(disk_min_free_gb), C(backup_root),
        C(backup_required), C(backup_max_age_hours), C(backup_age_hours), C(backup_taken), C(restore_command),
        C(auto_restore_confirm_file), C(pg_database).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Judge every check
  ansible.builtin.set_fact:
    _health_checks: >-
      {{ mem0_stack | mem0ops.stack.health_checks(services=_health_services, containers=_health_containers,
         http=__health_http, pg=__health_pg, graph=__health_graph | default({}), df=__health_df,
         sets=__health_sets, count=__health_count, settings=_health_check_settings) }}
"""

RETURN = r"""
_value:
  description: The checks, in order (docker, each service, the volumes, the backups, the data).
  type: list
  elements: dict
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

LOCALHOST = '127.0.0.1'
SEVERITY_RANK = {'INFO': 0, 'WARNING': 1, 'CRITICAL': 2}
DF_LINE = re.compile(r'\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s+(.*)$')


def _s(value):
    """Jinja's ``~``: None becomes 'None', booleans 'True'/'False'."""
    return str(value)


def _float(value):
    """Jinja's ``float`` filter: 0.0 for what does not convert."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _int(value):
    """Jinja's ``int`` filter: int, else int(float), else 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _bool(value):
    return boolean(value, strict=False)


def truncate(text, length=255, end='...', leeway=5):
    """Jinja's ``truncate`` filter with its defaults (word boundary, 5 characters of leeway)."""
    text = str(text)
    if len(text) <= length + leeway:
        return text
    return text[:length - len(end)].rsplit(' ', 1)[0] + end


def _dictsort(mapping):
    """Jinja's ``dictsort``: items by key, case-insensitively."""
    return sorted((mapping or {}).items(), key=lambda item: str(item[0]).lower())


def _pairs(mapping):
    """``dictsort | map('join', ' ') | join(', ')``."""
    return ', '.join('%s %s' % (key, value) for key, value in _dictsort(mapping))


def _get(mapping, *keys, **kwargs):
    """A chained attribute lookup with a default, like ``a.b.c | default(x)`` in Ansible."""
    value = mapping
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return kwargs.get('default')
        value = value[key]
    return value


def _item_result(registered, name):
    """``registered.results | selectattr('item', 'eq', name) | first | default({})``."""
    for result in _get(registered, 'results', default=[]) or []:
        if _get(result, 'item') == name:
            return result
    return {}


def _check(group, target, check, type_, severity, ok, detail, text, ok_text, **extra):
    out = {'group': group, 'target': target, 'check': check, 'type': type_, 'severity': severity, 'ok': ok,
           'detail': detail, 'text': text, 'ok_text': ok_text}
    out.update(extra)
    return out


def _docker_checks(stack, containers):
    if not containers:
        return []
    host = _s(stack.get('docker_host'))
    missing = [c for c in containers.values() if not c.get('inspected')]
    names = ', '.join(_s(c.get('container')) for c in missing)
    detail = 'Docker engine at ' + host + (' answers' if not missing else ' cannot inspect ' + names + ': ' + _s(missing[0].get('error')))
    return [_check('docker', 'docker', 'Docker engine at ' + host, 'docker_down', 'CRITICAL', not missing, detail,
                   'The Docker engine at ' + host + ' cannot inspect ' + names + ': ' + (_s(missing[0].get('error')) if missing else '')
                   + '. No container can be checked.',
                   'The Docker engine at ' + host + ' answers again.')]


def _container_check(name, c, prefix, severity, settings):
    if not c.get('exists'):
        detail = 'container ' + _s(c.get('container')) + ' does not exist'
    elif not c.get('running'):
        detail = ('container ' + _s(c.get('container')) + ' is ' + _s(c.get('status'))
                  + ((' (exit code ' + _s(c.get('exit_code')) + ')') if c.get('status') == 'exited' else ''))
    else:
        detail = ('container ' + _s(c.get('container')) + ' running'
                  + ((', Docker health ' + _s(c.get('health'))) if c.get('healthcheck') else ''))
    ok = (c.get('running') and c.get('health') != 'unhealthy') if c.get('inspected') else None
    return _check('service', name, 'container ' + _s(c.get('container')), prefix + '_down', severity, ok, detail,
                  'Service ' + name + ': ' + detail + '. Start it with: ansible-playbook -i ' + _s(settings.get('restore_inventory'))
                  + ' playbooks/startup.yml -e services_names=' + name,
                  'Service ' + name + ': ' + detail + ' again.')


def _http_check(name, svc, up, prefix, severity, http):
    url = ('http://' + _s(svc.get('host', LOCALHOST)) + ':' + _s(svc.get('http_port', svc.get('port')))
           + _s(_get(svc, 'health', 'path', default='/')))
    r = _item_result(http, name)
    status = _int(r.get('status', -1))
    detail = 'GET ' + url + (' answers ' + _s(status) if status > 0
                             else ' gets no answer (' + truncate(_s(r.get('msg', 'not probed')), 160) + ')')
    return _check('service', name, 'GET ' + url, prefix + '_endpoint', severity,
                  (status == 200) if up and 'skipped' not in r else None, detail,
                  'Service ' + name + ': ' + detail + ' although its container runs.',
                  'Service ' + name + ': GET ' + url + ' answers 200 again.')


def _pg_checks(name, svc, up, prefix, pg, settings):
    host = _s(svc.get('host', LOCALHOST))
    address = host + ':' + _s(svc.get('port'))
    where = _s(svc.get('user')) + '@' + address + '/' + _s(svc.get('database'))
    r = _item_result(pg, name)
    probed = up and 'skipped' not in r and len(r) > 0
    good = r.get('is_available', False)
    error = truncate(_s(r.get('conn_err_msg') or r.get('msg', 'no answer')).strip(), 240)
    refused = re.search(settings.get('pg_connection_errors') or '(?!)', error, re.IGNORECASE) is not None
    return [
        _check('service', name, 'PostgreSQL at ' + address, prefix + '_connection', 'CRITICAL',
               (good or not refused) if probed else None,
               'accepts connections' if good or not refused else 'refuses connections: ' + error,
               'PostgreSQL at ' + address + ' does not accept connections: ' + error,
               'PostgreSQL at ' + address + ' accepts connections again.'),
        _check('service', name, 'PostgreSQL login ' + where, prefix + '_db_access', 'CRITICAL',
               good if probed and (good or not refused) else None,
               'login ' + where + (' accepted' if good else ' refused: ' + error),
               'PostgreSQL answers, but the login ' + where + ' fails: ' + error + '. The credentials or the database '
               'name differ from the inventory: this is how the January incident began.',
               'PostgreSQL accepts the login ' + where + ' again.'),
    ]


def _bolt_check(name, svc, up, prefix, severity, graph):
    bolt = 'bolt://' + _s(svc.get('host', LOCALHOST)) + ':' + _s(svc.get('bolt_port'))
    sources = graph.get('sources', {})
    bolt_ok = 'neo4j' in (sources or {})
    errors = [p for p in graph.get('problems', []) or [] if re.search('Neo4j|Bolt|neo4j', _s(p))]
    error = truncate(_s(errors[0] if errors else graph.get('msg', 'no answer')), 240)
    users = len(_get(sources, 'neo4j', 'per_user_id', default={}) or {}) if bolt_ok else 0
    return _check('service', name, 'Bolt ' + bolt, prefix + '_bolt', severity,
                  bolt_ok if up and 'skipped' not in graph and len(graph) > 0 else None,
                  ('Bolt ' + bolt + ' answers (graph of ' + _s(users) + ' users)') if bolt_ok else 'Bolt ' + bolt + ': ' + error,
                  "Neo4j does not answer over Bolt at " + bolt + " with the inventory's credentials: " + error,
                  'Neo4j answers over Bolt at ' + bolt + ' again.')


def _service_checks(stack, services, containers, http, pg, graph, settings):
    out = []
    alert_names = settings.get('alert_names') or {}
    critical = settings.get('critical_services') or []
    for name in services:
        svc = stack['services'][name]
        prefix = _s(alert_names.get(name, name))
        severity = 'CRITICAL' if name in critical else 'WARNING'
        c = containers.get(name)
        # the service's own checks count once its container runs and Docker no longer reports it starting
        up = c is None or (c.get('running') and c.get('health') != 'starting')
        if c is not None:
            out.append(_container_check(name, c, prefix, severity, settings))
        htype = _get(svc, 'health', 'type', default='running')
        if htype == 'http':
            out.append(_http_check(name, svc, up, prefix, severity, http))
        elif htype == 'postgres':
            out.extend(_pg_checks(name, svc, up, prefix, pg, settings))
        if name == 'neo4j' and _bool(settings.get('check_bolt', False)):
            out.append(_bolt_check(name, svc, up, prefix, severity, graph))
    return out


def _disk_checks(df, settings):
    out = []
    minimum = settings.get('disk_min_free_gb')
    for r in _get(df, 'results', default=[]) or []:
        item = _s(r.get('item'))
        lines = r.get('stdout_lines', []) or []
        match = DF_LINE.search(lines[-1] if lines else '')
        if r.get('rc', 1) == 0 and match:
            total, free, mount = match.group(1), match.group(3), match.group(4)
            free_gb = round(_int(free) / 1048576, 1)
            detail = (_s(free_gb) + ' GB free of ' + _s(round(_int(total) / 1048576, 1)) + ' GB on ' + mount
                      + ' (minimum ' + _s(minimum) + ' GB)')
            out.append(_check('disk', item, 'free space of ' + item, 'disk_space_low', 'WARNING', free_gb >= _float(minimum), detail,
                              'Only ' + _s(free_gb) + ' GB free for ' + item + ' (volume ' + mount + ', minimum ' + _s(minimum)
                              + ' GB): backups and the databases will fail when it is full.',
                              item + ' has ' + _s(free_gb) + ' GB free again.', free_bytes=_int(free) * 1024))
        else:
            error = truncate(_s(r.get('stderr', r.get('msg', ''))).strip(), 200)
            out.append(_check('disk', item, 'free space of ' + item, 'disk_space_low', 'WARNING', False, 'cannot measure: ' + error,
                              'Cannot measure the free space of ' + item + ' (' + error + '): is the volume mounted?',
                              item + ' can be measured again.'))
    return out


def _backup_check(sets_result, settings):
    root = _s(settings.get('backup_root'))
    sets = sets_result.get('sets', []) or []
    lg = sets_result.get('latest_good')
    age = settings.get('backup_age_hours')
    problems = []
    if sets_result.get('failed', False) or 'sets' not in sets_result:
        problems.append('the backup sets under ' + root + ' cannot be listed: ' + _s(sets_result.get('msg', 'no answer')))
    else:
        newest = next((s for s in sets if s.get('status') != 'unknown'), None)
        if newest is not None and newest.get('status') == 'quarantined':
            problems.append('the newest backup set ' + _s(newest.get('path')) + ' is QUARANTINED ('
                            + truncate('; '.join(_s(p) for p in newest.get('problems', []) or []), 400) + ')')
        if lg is None and sets:
            problems.append('no backup set under ' + root + ' is good')
        elif lg is None and _bool(settings.get('backup_required', True)):
            problems.append('there is no backup set under ' + root)
        elif lg is not None and _float(age) > _float(settings.get('backup_max_age_hours')):
            problems.append('the last good backup set ' + _s(lg.get('path')) + ' is ' + _s(age) + ' h old, more than '
                            + _s(settings.get('backup_max_age_hours')) + ' h')
    detail = (('last good set ' + _s(lg.get('path')) + ' (' + _s(lg.get('memories')) + ' memories, ' + _s(age) + ' h old)')
              if lg is not None else 'no backup set under ' + root + ' (not required: health_backup_required is false)')
    return _check('backup', root, 'backups under ' + root, 'backup_failed', 'CRITICAL', not problems,
                  '; '.join(problems) if problems else detail,
                  'Backups: ' + '; '.join(problems) + ". Check the backup job's log; a quarantined set is kept and never counted as good.",
                  'Backups are good again: ' + detail + '.')


def _data_checks(stack, a, b, lg, settings):
    if not a.get('database_up', False):
        return []
    thr = _float(settings.get('drop_threshold_percent'))
    prefix = _get(stack, 'mem0', 'namespace_prefix', default='')
    scope = (' under ' + _s(prefix)) if prefix else ''
    table = _s(_get(stack, 'mem0', 'collection', default='memories'))
    counts = _pairs(a.get('per_namespace', {}))
    restore_command = _s(settings.get('restore_command'))
    total = a.get('total')
    name = _s(stack.get('name'))
    age = _s(settings.get('backup_age_hours'))
    if lg is not None:
        baseline_ns = _get(b, 'baseline', 'per_namespace')
        backup_line = ('The last good backup ' + _s(lg.get('path')) + ' holds '
                       + _s(_get(b, 'baseline', 'total', default=lg.get('memories'))) + ' memories'
                       + ((' (' + _pairs(baseline_ns) + ')') if baseline_ns else '')
                       + ', taken ' + _s(settings.get('backup_taken')) + ' (' + age + ' h ago).')
        restore_line = ('Restore it with: ' + restore_command
                        + ' (nothing is restored automatically unless confirmed with -e health_auto_restore_confirm='
                        + name + ' or the file ' + _s(settings.get('auto_restore_confirm_file')) + ' holding ' + name + ').')
    else:
        backup_line = 'There is no good backup set under ' + _s(settings.get('backup_root')) + ': nothing to restore from.'
        restore_line = ''
    text = (['Table ' + table + ' of database ' + _s(settings.get('pg_database')) + ' holds 0 memories' + scope
             + ' while PostgreSQL answers: the containers can be healthy while the data is gone.']
            + [p for p in a.get('problems', []) or [] if not re.search('there are no memories', _s(p))]
            + (['The last good run counted ' + _s(_get(a, 'baseline', 'total')) + ' memories.'] if a.get('baseline') else [])
            + [backup_line, 'Do not restart or recreate the containers. Check which database and credentials the mem0 server uses.']
            + ([restore_line] if restore_line else []))
    out = [_check('data', 'memories', 'memories in table ' + table + scope, 'memory_count_zero', 'CRITICAL', _int(total) > 0,
                  _s(total) + ' memories' + ((' (' + counts + ')') if counts else ''), '\n'.join(text),
                  'Table ' + table + ' holds ' + _s(total) + ' memories again' + ((' (' + counts + ')') if counts else '') + '.')]
    drops, vanished = [], []
    for source, r in (('the last good run', a), ('the last good backup', b)):
        if not (r.get('database_up', False) and r.get('baseline')):
            continue
        big = ['%s -%s%%' % (ns, pct) for ns, pct in _dictsort(r.get('namespace_drop_percent', {})) if _float(pct) > thr]
        gone = r.get('vanished_namespaces') or []
        if _float(r.get('drop_percent')) > thr or big or gone:
            drops.append(_s(_get(r, 'baseline', 'total')) + ' -> ' + _s(total) + ' memories since ' + source + ' ('
                         + _s(r.get('drop_percent')) + '% drop' + ('; ' + ', '.join(big) if big else '')
                         + ('; gone: ' + ', '.join(_s(ns) for ns in gone) if gone else '') + ')')
            vanished.extend(gone)
    out.append(_check('data', 'memories', 'drop of more than ' + _s(thr) + '%', 'memory_count_drop',
                      'CRITICAL' if vanished else 'WARNING', (not drops) if _int(total) > 0 else None,
                      '; '.join(drops) if drops else 'no drop of more than ' + _s(thr) + '%',
                      '\n'.join(['The memories dropped by more than ' + _s(thr) + '%: ' + '; '.join(drops) + '.',
                                 'If the deletion was not intended, compare with the last good backup and restore it'
                                 + ((': ' + restore_command) if lg is not None else '') + '.',
                                 'If it was, accept the counts once: -e health_accept_counts=true.']),
                      'The memories are back within ' + _s(thr) + '% of the baseline: ' + _s(total) + ' memories.'))
    return out


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError('health_checks: %s must be a dictionary (a registered result), got %s' % (what, type(value).__name__))
    return value


def health_checks(stack, services, containers=None, http=None, pg=None, graph=None, df=None, sets=None, count=None, settings=None):
    """Every check of the run, in order; see DOCUMENTATION."""
    stack = _mapping(stack, 'the input (mem0_stack)')
    containers = _mapping(containers, 'containers')
    settings = _mapping(settings, 'settings')
    graph = _mapping(graph, 'graph')
    sets = _mapping(sets, 'sets')
    unknown = [name for name in services if name not in (stack.get('services') or {})]
    if unknown:
        raise AnsibleFilterError('health_checks: unknown service(s) %s; use names from mem0_stack.services' % ', '.join(unknown))
    out = _docker_checks(stack, containers)
    out += _service_checks(stack, services, containers, _mapping(http, 'http'), _mapping(pg, 'pg'), graph, settings)
    out += _disk_checks(_mapping(df, 'df'), settings)
    out.append(_backup_check(sets, settings))
    out += _data_checks(stack, _mapping(count, 'count'), graph, sets.get('latest_good'), settings)
    return out


def container_states(inspections, stack, uninspected_status='unknown'):
    """Service -> state of its container, from a ``docker_container_info`` loop (names and states only, no environment).

    ``uninspected_status`` is the status of a container the engine could not be asked about.
    """
    out = {}
    for result in _get(inspections, 'results', default=[]) or []:
        inspected = 'exists' in result
        c = result.get('container') if result.get('exists', False) else None
        has_check = False
        if c:
            test = (_get(c, 'Config', 'Healthcheck') or {}).get('Test', ['NONE'])
            has_check = test[0] != 'NONE'
        state = (c or {}).get('State') or {}
        out[result['item']] = {
            'container': stack['services'][result['item']]['container'],
            'inspected': inspected,
            'error': '' if inspected else truncate(_s(result.get('msg', 'cannot inspect the container')), 200),
            'exists': c is not None,
            'id': c.get('Id', '') if c else '',
            'status': state.get('Status') if c else ('missing' if inspected else uninspected_status),
            'running': (state.get('Running') and not state.get('Paused')) if c else False,
            'exit_code': state.get('ExitCode') if c else None,
            'healthcheck': has_check,
            'health': _get(state, 'Health', 'Status', default='none') if (c and has_check) else 'none',
            'started_at': state.get('StartedAt', '') if c else '',
        }
    return out


def health_alerts(checks):
    """Alert type -> firing (worst severity, every failing check's text) or resolved (every check of the type passed).

    A type none of whose checks could be evaluated is left out.
    """
    out = []
    types = []
    for check in checks:
        if check['type'] not in types:
            types.append(check['type'])
    for type_ in types:
        of_type = [check for check in checks if check['type'] == type_]
        failing = [check for check in of_type if check.get('ok') is False]
        passing = [check for check in of_type if check.get('ok') is True]
        if failing:
            worst = max(SEVERITY_RANK[check['severity']] for check in failing)
            severity = [key for key, rank in SEVERITY_RANK.items() if rank == worst][0]
            out.append({'type': type_, 'state': 'firing', 'severity': severity, 'text': '\n'.join(_s(c['text']) for c in failing)})
        elif passing:
            out.append({'type': type_, 'state': 'resolved', 'severity': 'INFO', 'text': '\n'.join(_s(c['ok_text']) for c in passing)})
    return out


def _verdict(checks):
    if any(check.get('ok') is False for check in checks):
        return 'PROBLEM '
    if any(check.get('ok') is True for check in checks):
        return 'ok      '
    return 'unknown '


def _unique(values):
    out = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


SUMMARY_GROUPS = (('docker', 'docker'), ('service', 'services'), ('disk', 'volumes'), ('backup', 'backups'), ('data', 'data'))
SUMMARY_DELIVERIES = (('sent', 'sent'), ('suppressed', 'suppressed (cooldown)'), ('resolved', 'recovery sent'), ('failed', 'NOT DELIVERED'))


def health_summary(checks, alerts, count, graph, deliveries, restore, settings):
    """What a person reads at 02:30: the verdict, each check ok or PROBLEM, the counts, what was sent.

    ``settings``: C(name), C(at) (the UTC time shown), C(seconds) (the run's duration), C(check_mode), C(alerting)
    (alerting configured and on), C(alerting_on) (health_alerting).
    """
    settings = _mapping(settings, 'settings')
    count = _mapping(count, 'count')
    graph = _mapping(graph, 'graph')
    deliveries = _mapping(deliveries, 'deliveries')
    restore = _mapping(restore, 'restore')
    firing = [alert['type'] for alert in alerts if alert.get('state') == 'firing']
    lines = ['mem0 health of ' + _s(settings.get('name')) + ' at ' + _s(settings.get('at')) + ' UTC: '
             + ('OK, every check passed' if not firing else _s(len(firing)) + ' PROBLEM(S): ' + ', '.join(firing))
             + ' (' + _s(settings.get('seconds')) + ' s)']
    if _bool(settings.get('check_mode', False)):
        lines.append('CHECK MODE: no alert sent, no state or metrics written')
    for group, title in SUMMARY_GROUPS:
        in_group = [check for check in checks if check.get('group') == group]
        if not in_group:
            continue
        lines.append(title + ':')
        for target in _unique(check.get('target') for check in in_group):
            of_target = [check for check in in_group if check.get('target') == target]
            details = (_unique(check.get('detail') for check in of_target if check.get('ok') is not None)
                       or _unique(check.get('detail') for check in of_target))
            label = target if group in ('service', 'disk') else ''
            lines.append('  ' + _verdict(of_target) + ' ' + (('%-15s ' % label) if label else '') + '; '.join(_s(d) for d in details))
    if count.get('database_up'):
        lines.append('           last good run: '
                     + ((_s(_get(count, 'baseline', 'total')) + ' (' + _s(count.get('drop_percent')) + '% drop)')
                        if count.get('baseline') else 'none yet (first run)')
                     + '; last good backup: '
                     + ((_s(_get(graph, 'baseline', 'total')) + ' (' + _s(graph.get('drop_percent')) + '% drop)')
                        if graph.get('baseline') else 'none'))
    else:
        problems = count.get('problems', ['?']) or ['']
        lines.append('           memories not counted: PostgreSQL does not answer (' + truncate(_s(problems[0]), 160) + ')')
    lines.append('alerts:')
    if not _bool(settings.get('alerting', False)):
        not_sent = deliveries.get('not_sent')
        lines.append('  not sent (alerting is '
                     + ('off' if not _bool(settings.get('alerting_on', False)) else 'not configured: no bot token or chat id') + ')'
                     + ((': ' + ', '.join(_s(t) for t in not_sent)) if not_sent else ''))
    else:
        for key, title in SUMMARY_DELIVERIES:
            if deliveries.get(key):
                lines.append('  ' + title + ': ' + ', '.join(_s(t) for t in deliveries[key]))
        if not any(deliveries.get(key) for key, _title in SUMMARY_DELIVERIES):
            lines.append('  none')
    if restore.get('state') != 'not_needed':
        lines.append('restore: ' + _s(restore.get('detail')))
    return lines


class FilterModule:
    """The health role's decisions."""

    def filters(self):
        return {
            'health_checks': health_checks,
            'container_states': container_states,
            'health_alerts': health_alerts,
            'health_summary': health_summary,
        }
