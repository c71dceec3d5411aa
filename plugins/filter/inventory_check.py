# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory check's decisions (roles/inventory_check): what the role read from the inventory and the host, turned
into findings. Each filter returns a dict of lists of lines: problems (each with its fix; they fail the check),
warnings (they do not) and ok. A secret's value never appears in a line.

The filters are documented in the sidecar files inventory_check_*.yml beside this file.
"""

from __future__ import annotations

import posixpath
import re

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.compat.version import LooseVersion

ROOTS = ('data_root', 'backup_root')
CLAUSE = re.compile(r'^\s*(<=|>=|==|!=|<|>)\s*([0-9][0-9A-Za-z.]*)\s*$')
COMPARE = {
    '<': lambda a, b: a < b, '<=': lambda a, b: a <= b, '>': lambda a, b: a > b, '>=': lambda a, b: a >= b,
    '==': lambda a, b: a == b, '!=': lambda a, b: a != b,
}
MAC_VOLUME = re.compile(r'^/Volumes/[^/]+')


def _findings(problems=None, warnings=None, ok=None):
    return {'problems': list(problems or []), 'warnings': list(warnings or []), 'ok': list(ok or [])}


def _lookup(tree, dotted):
    """tree[a][b][c] for 'a.b.c', or None when a part is missing."""
    for key in str(dotted).split('.'):
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def inventory_check_secrets(stack, specs, placeholders=('CHANGE_ME', ), vault_variable='mem0_vault', vault_file=''):
    """Every required secret present, not empty and not a placeholder; each missing one named with its fix."""
    if not isinstance(specs, (list, tuple)):
        raise AnsibleFilterError('inventory_check_secrets: the specs must be a list of dicts with key and when_key')
    placeholders = [str(value) for value in placeholders or ()]
    findings, present = _findings(), []
    for spec in specs:
        if not isinstance(spec, Mapping) or 'key' not in spec:
            raise AnsibleFilterError('inventory_check_secrets: %r has no key (the dotted path under mem0_stack)' % (spec, ))
        if _lookup(stack, spec.get('when_key', spec['key'])) is None:
            continue  # that part of the stack is not there: its secret is not needed
        value = _lookup(stack, spec['key'])
        text = '' if value is None else str(value).strip()
        if text and text not in placeholders:
            present.append('mem0_stack.' + str(spec['key']))
            continue
        fixes = []
        if spec.get('vault'):
            fixes.append('set %s.%s in the vault file (ansible-vault edit %s, or ansible-vault create it from '
                         'vault.yml.example) and run with --vault-password-file'
                         % (vault_variable, spec['vault'], vault_file or 'group_vars/mem0_hosts/vault.yml'))
        if spec.get('env'):
            fixes.append('export %s in the environment of the run' % spec['env'])
        state = ("still the example's placeholder %s" % text) if text else 'empty or missing'
        findings['problems'].append('mem0_stack.%s is %s. Fix: %s' % (
            spec['key'], state, ', or '.join(fixes) or 'set it in the inventory or its vault file'))
    if present and not findings['problems']:
        findings['ok'].append('every required secret is set: ' + ', '.join(present))
    return findings


def inventory_check_docker(facts):
    """The inventory's Docker engine: its socket exists and is a socket, the engine answers there; when not, the fix
    names OrbStack's and Docker Desktop's sockets (found or not) and the docker CLI's current context.

    facts: docker_host, socket_stat (stat of the unix socket, or None for a TCP engine), home (the user's home),
    known ({engine name: its socket's path under home}), known_exists ({engine name: whether that socket exists}),
    context_host (the endpoint `docker context inspect` reports, or ''), engine (the result of
    community.docker.docker_host_info, or None when not asked) and variable (the inventory variable to set)."""
    docker_host = str(facts.get('docker_host') or '')
    variable = facts.get('variable') or 'mem0_stack.docker_host'
    home = str(facts.get('home') or '~').rstrip('/')
    known = dict((name, '%s/%s' % (home, path)) for name, path in (facts.get('known') or {}).items())
    exists = facts.get('known_exists') or {}
    context_host = str(facts.get('context_host') or '')
    found = ['%s at %s' % (name, path) for name, path in known.items() if exists.get(name)]
    fix = ('Fix: set %s in the inventory to the socket of the engine that runs the stack: %s (%s); '
           '`docker context inspect` shows the one the docker CLI uses (%s)'
           % (variable, ', '.join("%s's is %s" % (name, path) for name, path in known.items()),
              ('found here: ' + ', '.join(found)) if found else 'neither is on this host',
              context_host or 'no answer from the docker CLI here'))
    findings = _findings()
    socket = docker_host[len('unix://'):] if docker_host.startswith('unix://') else ''
    stat = facts.get('socket_stat') or {}
    engine = facts.get('engine') or {}
    if not docker_host:
        findings['problems'].append('mem0_stack.docker_host is missing. ' + fix)
    elif socket and not stat.get('exists'):
        findings['problems'].append('the Docker socket %s (mem0_stack.docker_host) does not exist. %s' % (socket, fix))
    elif socket and not stat.get('issock'):
        findings['problems'].append('the Docker socket %s (mem0_stack.docker_host) is not a socket. %s' % (socket, fix))
    elif not engine.get('can_talk_to_docker'):
        message = ' '.join(str(engine.get('msg') or 'no answer').split())
        findings['problems'].append(
            'the Docker engine at %s does not answer (%s). Fix: start the engine (OrbStack or Docker Desktop), or '
            'install the Python requirements (pip install -r requirements.txt of the collection) when the message '
            'names a missing module' % (docker_host, message[:200]))
    else:
        findings['ok'].append('the Docker engine answers at %s (Docker %s)'
                              % (docker_host, (engine.get('host_info') or {}).get('ServerVersion', '?')))
    if docker_host and context_host and context_host != docker_host:
        findings['warnings'].append(
            "the docker CLI's current context uses %s, the inventory %s: check that the stack runs on the "
            "inventory's engine (docker context use, or set %s)" % (context_host, docker_host, variable))
    return findings


def _clean(path):
    path = posixpath.normpath(str(path))
    return '/' if path in ('/', '//') else path


def inventory_check_parents(roots):
    """Every root path and each of its parents up to /, once: what the role stats."""
    out = []
    for key in ROOTS:
        path = (roots or {}).get(key)
        if not isinstance(path, str) or not path.startswith('/'):
            continue
        path = _clean(path)
        while True:
            if path not in out:
                out.append(path)
            if path == '/':
                break
            path = posixpath.dirname(path)
    return out


def inventory_check_paths(roots, stats, user='this user'):
    """data_root and backup_root: each exists or can be created (its nearest existing parent is a writable
    directory) and is writable; the backup volume on another filesystem than the data volume, else a warning.

    roots: {data_root, backup_root}; stats: {path: stat result} for every path of inventory_check_parents."""
    findings, devices = _findings(), {}
    for key in ROOTS:
        root = (roots or {}).get(key)
        if not isinstance(root, str) or not root.startswith('/'):
            continue  # the tree's check reports it (stack_problems)
        where = 'mem0_stack.%s %s' % (key, root)
        path = _clean(root)
        nearest = path
        while not (stats.get(nearest) or {}).get('exists') and nearest != '/':
            nearest = posixpath.dirname(nearest)
        stat = stats.get(nearest) or {}
        volume = MAC_VOLUME.match(path)
        if volume and not (stats.get(volume.group(0)) or {}).get('exists'):
            findings['problems'].append(
                '%s: the volume %s is not mounted. Fix: connect and mount that disk (Finder, or diskutil mount), or '
                'set mem0_stack.%s to a directory on a mounted volume' % (where, volume.group(0), key))
        elif not stat.get('isdir'):
            findings['problems'].append('%s: %s is not a directory. Fix: set mem0_stack.%s to a directory path'
                                        % (where, nearest, key))
        elif not stat.get('writeable'):
            findings['problems'].append('%s: %s is not writable by %s. Fix: sudo mkdir -p %s && sudo chown %s %s'
                                        % (where, nearest, user, root, user, root))
        else:
            devices[key] = stat.get('dev')
            if nearest == path:
                findings['ok'].append('%s exists and is writable' % where)
            else:
                findings['ok'].append('%s does not exist yet; it can be created (%s is writable)' % (where, nearest))
                if key == 'data_root':
                    findings['warnings'].append(
                        "%s does not exist: a running stack keeps its data there (each service's data_dir); check "
                        "the path when the stack already runs" % where)
    if len(devices) == 2 and None not in devices.values():
        if devices['data_root'] == devices['backup_root']:
            findings['warnings'].append(
                'mem0_stack.backup_root %s is on the same filesystem as mem0_stack.data_root %s (device %s): one disk '
                'failure loses the data and its backups. Fix: point backup_root at another disk (or copy the sets '
                'off it)' % (roots['backup_root'], roots['data_root'], devices['data_root']))
        else:
            findings['ok'].append('mem0_stack.backup_root is on another filesystem than mem0_stack.data_root '
                                  '(devices %s, %s)' % (devices['data_root'], devices['backup_root']))
    return findings


def _satisfies(version, requires):
    """Whether version meets every clause of a requires_ansible string (">=2.19.1", ">=2.19,<2.21")."""
    for clause in str(requires).split(','):
        match = CLAUSE.match(clause)
        if not match:
            raise AnsibleFilterError('requires_ansible: %r is not a version clause such as >=2.19.0' % clause.strip())
        if not COMPARE[match.group(1)](LooseVersion(str(version)), LooseVersion(match.group(2))):
            return False
    return True


def inventory_check_versions(facts):
    """The Python that runs the modules (at least python_min, with every module of imports) and ansible-core (every
    clause of requires_ansible, meta/runtime.yml).

    facts: python (its version, e.g. 3.11.7), executable, python_min, imports (the modules needed), missing_imports
    (those it lacks), ansible (ansible-core's version) and requires_ansible."""
    findings = _findings()
    python, executable, minimum = str(facts['python']), facts.get('executable', 'python'), str(facts['python_min'])
    missing = list(facts.get('missing_imports') or [])
    python_ok = LooseVersion(python) >= LooseVersion(minimum)
    if not python_ok:
        findings['problems'].append(
            'Python %s (%s) is older than %s, the lowest the jobs run on. Fix: install Python %s or later (on macOS: '
            'brew install python@3.12), make the virtualenv with it and install the collection\'s requirements.txt '
            'there' % (python, executable, minimum, minimum))
    if missing:
        findings['problems'].append(
            'the Python that runs the modules (%s) lacks %s. Fix: pip install -r requirements.txt of the collection '
            'into it (%s -m pip install -r .../requirements.txt)' % (executable, ', '.join(missing), executable))
    if python_ok and not missing:
        findings['ok'].append('Python %s (%s, at least %s) with %s'
                              % (python, executable, minimum, ', '.join(facts.get('imports') or [])))
    ansible, requires = str(facts['ansible']), str(facts['requires_ansible'])
    if _satisfies(ansible, requires):
        findings['ok'].append('ansible-core %s (%s)' % (ansible, requires))
    else:
        findings['problems'].append(
            'ansible-core %s is not one this collection supports (%s, meta/runtime.yml). Fix: pip install '
            '"ansible-core%s" into the virtualenv' % (ansible, requires, requires))
    return findings


class FilterModule(object):
    """The inventory check's decisions."""

    def filters(self):
        return {
            'inventory_check_secrets': inventory_check_secrets,
            'inventory_check_docker': inventory_check_docker,
            'inventory_check_parents': inventory_check_parents,
            'inventory_check_paths': inventory_check_paths,
            'inventory_check_versions': inventory_check_versions,
        }
