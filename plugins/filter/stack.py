# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory's mem0_stack tree: validated once, and each service's connection facts derived once.

The filters are documented in the sidecar files stack_validate.yml, stack_problems.yml,
stack_connections.yml and service_dependents.yml beside this file (service_dependents lives in
service_order.py with the rest of the service graph).
"""

from __future__ import annotations

import re

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.service_order import _find_cycle, service_dependents

ROOT = 'mem0_stack'
DEFAULT_HOST = '127.0.0.1'
HEALTH_TYPES = ('http', 'postgres', 'running')
PORT_KEYS = ('port', 'http_port', 'bolt_port', 'container_port')
# The ports a service listens on when the inventory does not say (Neo4j's own defaults).
DEFAULT_PORTS = {'neo4j': {'http_port': 7474, 'bolt_port': 7687}}
NAME_RE = re.compile(r'^[A-Za-z0-9._-]+$')
HOST_RE = re.compile(r'^[A-Za-z0-9._:\[\]-]+$')
NAME_RULE = "may hold only letters, digits, '.', '_' and '-'"
PORT_RULE = 'set a whole number from 1 to 65535'
# The credentials each data service needs; an empty value fails before anything changes.
CREDENTIALS = {
    'postgres': ('user', 'database', 'password'),
    'neo4j': ('user', 'password'),
}
SECRETS = ('password', )
# A control character (newline, carriage return, NUL, ...; a tab passes) is the one thing no carrier takes intact:
# an env file line, a pgpass line, initdb's password file, NEO4J_AUTH. Every other character is quoted or encoded
# for each consumer ($, ' #', %, quotes, backslashes, spaces, non-ASCII).
UNCARRIED_RE = re.compile('[\x00-\x08\x0a-\x1f\x7f]')
UNCARRIED_RULE = ('holds a newline, a NUL or another control character, which no env file, password file or login'
                  ' carries intact')


class _Problem(Exception):
    pass


def _shown(value):
    """A value as the message shows it: strings quoted, everything else as Python writes it."""
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, bool):
        return repr(bool(value))
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, Mapping):
        return 'a dictionary'
    if isinstance(value, Sequence):
        return 'a list'
    return repr(value)


def _whole_number(value):
    """The value as an int when it is a whole number (an int, or a string of digits; never a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _port(value):
    """The port as an int, or None when the value is not a whole number from 1 to 65535."""
    number = _whole_number(value)
    return number if number is not None and 1 <= number <= 65535 else None


def _positive_int(value):
    number = _whole_number(value)
    return number if number is not None and number > 0 else None


def _deps(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(dep, str) for dep in value):
        return [str(dep) for dep in value]
    return None


class _Checker(object):
    def __init__(self):
        self.problems = []

    def add(self, text):
        self.problems.append(text)

    def need(self, tree, key, path, what):
        if not isinstance(tree, Mapping) or key not in tree or tree[key] is None:
            self.add('%s.%s is missing; %s' % (path, key, what))
            return False
        return True

    def text(self, tree, key, path, what, secret=False):
        """A non-empty string at tree[key]."""
        if not self.need(tree, key, path, what):
            return
        value = tree[key]
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            shown = '' if secret else ' ' + _shown(value) + ','
            self.add('%s.%s is%s not a string; %s' % (path, key, shown, what))
        elif not str(value).strip():
            self.add('%s.%s is empty; %s' % (path, key, what))

    def path(self, tree, key, path):
        what = 'set it to an absolute path, e.g. /var/lib/mem0'
        if not self.need(tree, key, path, what):
            return
        value = tree[key]
        if not isinstance(value, str) or not value.startswith('/'):
            self.add('%s.%s: %s is not an absolute path; %s' % (path, key, _shown(value), what))

    def dictionary(self, tree, key, path, what):
        if not self.need(tree, key, path, what):
            return None
        if not isinstance(tree[key], Mapping):
            self.add('%s.%s is %s, not a dictionary; %s' % (path, key, _shown(tree[key]), what))
            return None
        return tree[key]


def _check_service(check, name, svc, names):
    where = '%s.services.%s' % (ROOT, name)
    if not NAME_RE.match(name):
        check.add('%s.services: the service name %r %s' % (ROOT, name, NAME_RULE))
    if not isinstance(svc, Mapping):
        check.add('%s is %s, not a dictionary; describe the service as a dictionary with container,'
                  ' depends_on and health' % (where, _shown(svc)))
        return
    if 'container' in svc:
        check.text(svc, 'container', where, 'name the container the service runs in')
    if 'host' in svc:
        host = svc['host']
        if not isinstance(host, str) or not HOST_RE.match(host):
            check.add('%s.host: %s is not a host name or address; set an address such as 127.0.0.1'
                      % (where, _shown(host)))
    for key in PORT_KEYS:
        if key in svc and _port(svc[key]) is None:
            check.add('%s.%s: %s is not a port; %s' % (where, key, _shown(svc[key]), PORT_RULE))
    deps = _deps(svc.get('depends_on'))
    if deps is None:
        check.add('%s.depends_on: %s is not a list of service names; list the services %s needs, e.g. [postgres]'
                  % (where, _shown(svc.get('depends_on')), name))
    else:
        for dep in deps:
            if dep not in names:
                check.add('%s.depends_on names %r, which is not a service of %s.services; use one of %s'
                          % (where, dep, ROOT, ', '.join(sorted(names))))
    health = svc.get('health')
    if health is not None:
        if not isinstance(health, Mapping):
            check.add('%s.health is %s, not a dictionary; set {type: http, path: /} or {type: running}'
                      % (where, _shown(health)))
        else:
            kind = health.get('type', 'running')
            if kind not in HEALTH_TYPES:
                check.add('%s.health.type: %s is not a health check; use one of %s'
                          % (where, _shown(kind), ', '.join(HEALTH_TYPES)))
            elif kind == 'http':
                path = health.get('path')
                if not isinstance(path, str) or not path.startswith('/'):
                    check.add('%s.health.path: %s is not a URL path; an http check needs a path such as /'
                              % (where, _shown(path) if path is not None else 'missing'))
                if 'http_port' not in svc and 'port' not in svc and name not in DEFAULT_PORTS:
                    check.add('%s has an http health check but no port; set %s.port (or http_port)' % (where, where))
            elif kind == 'postgres' and 'port' not in svc:
                check.add('%s.port is missing; a postgres health check needs the port, %s' % (where, PORT_RULE))
    for key in CREDENTIALS.get(name, ()):
        secret = key in SECRETS
        hint = 'set it in the inventory or vault' if secret else 'set it in the inventory'
        check.text(svc, key, where, hint, secret=secret)
    if name == 'postgres' and 'port' not in svc and not (isinstance(health, Mapping) and health.get('type') == 'postgres'):
        check.add('%s.port is missing; %s' % (where, PORT_RULE))


def _check_carried(check, services):
    """Credentials and secret_env values reach env files, URLs and logins: a line for each value that cannot, once (a
    password is named at its own key, not again in the secret_env values built from it)."""
    fix = 'choose one without (any other character may be used: $, #, %, quotes, backslashes, spaces)'
    flagged = []
    for field in ('user', 'database', 'password', 'api_key', 'secret_env'):
        for name in sorted(services, key=str):
            svc = services[name]
            if not isinstance(svc, Mapping):
                continue
            values = svc.get(field)
            values = sorted(values.items(), key=str) if field == 'secret_env' and isinstance(values, Mapping) else [
                (None, values)]
            for key, value in values:
                if not isinstance(value, str) or not UNCARRIED_RE.search(value) or any(
                        bad in value for bad in flagged):
                    continue
                flagged.append(value)
                where = '%s.services.%s.%s%s' % (ROOT, name, field, '' if key is None else '.' + str(key))
                check.add('%s %s; %s' % (where, UNCARRIED_RULE, fix))


def stack_problems(stack):
    """Every problem of the mem0_stack tree, one line each naming the key and its fix; empty when valid."""
    check = _Checker()
    if not isinstance(stack, Mapping):
        return ['%s is %s, not a dictionary; define it in the inventory (see docs/DESIGN.md)' % (ROOT, _shown(stack))]
    if check.need(stack, 'name', ROOT, 'name the stack, e.g. lab or prd'):
        name = stack['name']
        if not isinstance(name, str) or not NAME_RE.match(name):
            check.add('%s.name: %s %s' % (ROOT, _shown(name), NAME_RULE))
    check.path(stack, 'data_root', ROOT)
    check.path(stack, 'backup_root', ROOT)

    embedding = check.dictionary(stack, 'embedding', ROOT, 'set the embedding model and dims, e.g. {model: nomic-embed-text, dims: 768}')
    if embedding is not None:
        check.text(embedding, 'model', ROOT + '.embedding', 'name the embedding model, e.g. nomic-embed-text')
        if check.need(embedding, 'dims', ROOT + '.embedding', 'set the embedding dimension, e.g. 768'):
            if _positive_int(embedding['dims']) is None:
                check.add('%s.embedding.dims: %s is not a dimension; set a whole number above 0, e.g. 768'
                          % (ROOT, _shown(embedding['dims'])))
    mem0 = check.dictionary(stack, 'mem0', ROOT, 'set mem0.collection (the vector table), e.g. {collection: memories}')
    if mem0 is not None:
        check.text(mem0, 'collection', ROOT + '.mem0', 'name the vector table, e.g. memories')

    services = check.dictionary(stack, 'services', ROOT, 'describe the services (see docs/DESIGN.md)')
    if services is not None:
        if not services:
            check.add('%s.services is empty; describe at least the postgres service' % ROOT)
        names = set(str(name) for name in services)
        for name in sorted(names):
            _check_service(check, name, services[name], names)
        graph = {}
        for name in names:
            svc = services[name]
            deps = _deps(svc.get('depends_on')) if isinstance(svc, Mapping) else []
            graph[name] = [dep for dep in deps or [] if dep in names]
        _check_carried(check, services)
        cycle = _find_cycle(graph)
        if cycle:
            check.add('%s.services: the depends_on entries form a cycle (%s); remove one of them'
                      % (ROOT, ' -> '.join(cycle)))
    return check.problems


def stack_validate(stack):
    """The mem0_stack tree unchanged, or an error naming the first problem's key and its fix."""
    problems = stack_problems(stack)
    if problems:
        raise AnsibleFilterError(problems[0])
    return stack


def _service_facts(name, svc):
    host = str(svc.get('host') or DEFAULT_HOST)
    defaults = DEFAULT_PORTS.get(name, {})
    ports = {}
    for key in PORT_KEYS:
        value = svc.get(key, defaults.get(key))
        ports[key] = _port(value) if value is not None else None
    http_port = ports['http_port'] or ports['port']
    health = svc.get('health') or {}
    facts = {
        'host': host,
        'port': ports['port'],
        'http_port': http_port,
        'url': 'http://%s:%d' % (host, http_port) if http_port else None,
        'health_type': str(health.get('type', 'running')),
        'health_url': None,
    }
    if http_port and facts['health_type'] == 'http':
        facts['health_url'] = facts['url'] + str(health.get('path', '/'))
    if ports['bolt_port']:
        facts['bolt_port'] = ports['bolt_port']
        facts['bolt_uri'] = 'bolt://%s:%d' % (host, ports['bolt_port'])
    if 'user' in svc and 'password' in svc and 'database' in svc:
        facts['login'] = {
            'login_host': host,
            'login_port': ports['port'],
            'login_user': svc['user'],
            'login_password': svc['password'],
            'login_db': svc['database'],
        }
        # The same without the database: module_defaults for every community.postgresql module (some, such
        # as postgresql_db, take no login_db).
        facts['login_server'] = dict((key, value) for key, value in facts['login'].items() if key != 'login_db')
        # From inside the service's own container (docker exec): the port it listens on there.
        facts['login_in_container'] = dict(facts['login_server'], login_port=ports['container_port'] or ports['port'])
    return facts


def stack_connections(stack):
    """Per service: host, HTTP base and health URLs, Bolt URI and PostgreSQL login, from a valid tree."""
    stack = stack_validate(stack)
    return dict((str(name), _service_facts(str(name), svc)) for name, svc in stack['services'].items())


def stack_app_files(stack, history=False):
    """The files the apps keep in their data directories: each service's reset_files, in the tree's order, and with
    history=True mem0's history database too (when its reset_files do not name it). One dict per file: service,
    file, dir (absolute), relpath (to the data root)."""
    stack = stack_validate(stack)
    root = str(stack.get('data_root', '')).rstrip('/')
    history_db = (stack.get('mem0') or {}).get('history_db')
    out = []
    for name, svc in stack['services'].items():
        if 'data_dir' not in svc:
            continue
        files = [str(f) for f in (svc.get('reset_files') or [])]
        if history and str(name) == 'mem0' and history_db and str(history_db) not in files:
            files.append(str(history_db))
        data_dir = str(svc['data_dir']).strip('/')
        for name_of_file in files:
            out.append({'service': str(name), 'file': name_of_file, 'dir': '%s/%s' % (root, data_dir),
                        'relpath': '%s/%s' % (data_dir, name_of_file)})
    return out


class FilterModule(object):
    """The mem0_stack tree's validation and connection facts."""

    def filters(self):
        return {
            'stack_validate': stack_validate,
            'stack_problems': stack_problems,
            'stack_connections': stack_connections,
            'stack_app_files': stack_app_files,
            'service_dependents': service_dependents,
        }
