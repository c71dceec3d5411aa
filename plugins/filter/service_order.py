# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: service_order
short_description: Start or stop order of the stack's services, in tiers, from their dependencies
version_added: 0.1.0
author: mem0ops maintainers
description:
  - Takes the inventory's C(mem0_stack.services) dictionary, where every service lists the services
    it needs in C(depends_on), and returns the services in tiers.
  - Tier 0 holds the services without dependencies; every other service sits one tier after the last
    of its dependencies. Services of one tier may start together. Within a tier the names are sorted,
    so the order is the same on every run.
  - With O(reverse=true) the tiers come in stop order, dependents first (for the owner's stack
    OpenMemory UI, then OpenMemory MCP, then the mem0 API, then Neo4j and PostgreSQL).
  - A subset keeps the tiers of the whole graph, so a service still comes after everything it
    depends on, directly or not, even when the services in between are not in the subset.
  - Fails with a message that names the problem and its fix when the subset names an unknown
    service, a service depends on one the inventory does not define, or the dependencies form a cycle.
options:
  _input:
    description: The services, C(mem0_stack.services). Each value is a dictionary whose optional
      C(depends_on) lists the names of other services.
    type: dict
    required: true
  names:
    description:
      - The services to order. Empty or omitted means every service.
      - A single name may be given as a string.
    type: list
    elements: str
    default: []
  reverse:
    description: Return the tiers in stop order (dependents first) instead of start order.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Start order of every service
  ansible.builtin.debug:
    msg: "{{ mem0_stack.services | mem0ops.stack.service_order }}"
    # [['embedder', 'neo4j', 'postgres'], ['mem0'], ['openmemory_mcp'], ['openmemory_ui']]

- name: Stop order of every service
  ansible.builtin.debug:
    msg: "{{ mem0_stack.services | mem0ops.stack.service_order(reverse=true) }}"
    # [['openmemory_ui'], ['openmemory_mcp'], ['mem0'], ['embedder', 'neo4j', 'postgres']]

- name: Start order of two services (the UI still comes after PostgreSQL)
  ansible.builtin.debug:
    msg: "{{ mem0_stack.services | mem0ops.stack.service_order(['openmemory_ui', 'postgres']) }}"
    # [['postgres'], ['openmemory_ui']]

- name: Stop order as one flat list
  ansible.builtin.debug:
    msg: "{{ mem0_stack.services | mem0ops.stack.service_order(reverse=true) | flatten }}"
"""

RETURN = r"""
_value:
  description:
    - The tiers, each a sorted list of service names, in start order (or stop order with
      O(reverse=true)). Empty tiers (after taking a subset) are left out.
  type: list
  elements: list
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

HINT = 'mem0_stack.services in the inventory'


def _dependencies(name, service):
    if not isinstance(service, Mapping):
        raise AnsibleFilterError(
            'service_order: service %r is a %s, not a dictionary; describe it in %s as a dictionary'
            ' with container, depends_on and health' % (name, type(service).__name__, HINT))
    deps = service.get('depends_on')
    if deps is None:
        return []
    if isinstance(deps, str):
        return [deps]
    if isinstance(deps, Mapping):
        deps = list(deps)
    if not isinstance(deps, Sequence) or not all(isinstance(dep, str) for dep in deps):
        raise AnsibleFilterError(
            'service_order: depends_on of service %r must be a list of service names, got %r;'
            ' fix %s.%s.depends_on' % (name, deps, HINT, name))
    return [str(dep) for dep in deps]


def _find_cycle(graph):
    """Return one dependency cycle as a list of names (first name repeated at the end), or None."""
    state = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 'open'
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                state[path.pop()] = 'done'
                stack.pop()
                continue
            if state.get(dep) == 'open':
                return path[path.index(dep):] + [dep]
            if dep not in state:
                state[dep] = 'open'
                path.append(dep)
                stack.append(iter(sorted(graph[dep])))
    return None


def _tier_of(graph):
    tier = {}
    remaining = set(graph)
    level = 0
    while remaining:
        ready = {name for name in remaining if all(dep in tier for dep in graph[name])}
        if not ready:
            cycle = _find_cycle({name: [dep for dep in graph[name] if dep in remaining] for name in remaining})
            raise AnsibleFilterError(
                'service_order: the dependencies form a cycle (a -> b: a depends on b): %s; none of these'
                ' services can start first, remove one of these depends_on entries in %s'
                % (' -> '.join(cycle), HINT))
        for name in ready:
            tier[name] = level
        remaining -= ready
        level += 1
    return tier


def service_order(services, names=None, reverse=False):
    """Group services into start tiers (or stop tiers with ``reverse``) from their ``depends_on``."""
    if not isinstance(services, Mapping):
        raise AnsibleFilterError(
            'service_order: expects the services dictionary (mem0_stack.services), got %s'
            % type(services).__name__)
    graph = {}
    for name, service in services.items():
        graph[str(name)] = _dependencies(name, service)

    for name in sorted(graph):
        unknown = [dep for dep in graph[name] if dep not in graph]
        if unknown:
            listed = ', '.join(repr(dep) for dep in unknown)
            raise AnsibleFilterError(
                'service_order: service %r depends on %s, not defined in %s; define %s there or remove'
                ' %s from %s.depends_on (known services: %s)'
                % (name, listed, HINT, listed, listed, name, ', '.join(sorted(graph))))

    if names is None:
        names = []
    elif isinstance(names, str):
        names = [names]
    elif not isinstance(names, Sequence):
        raise AnsibleFilterError('service_order: names must be a list of service names, got %r' % (names, ))
    names = [str(name) for name in names]
    unknown = sorted(set(name for name in names if name not in graph))
    if unknown:
        raise AnsibleFilterError(
            'service_order: unknown service%s %s; use names from %s (known services: %s)'
            % ('s' if len(unknown) > 1 else '', ', '.join(repr(name) for name in unknown), HINT,
               ', '.join(sorted(graph))))
    selected = set(names) if names else set(graph)

    try:
        reverse = boolean(reverse, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError('service_order: reverse must be true or false: %s' % exc)

    tier = _tier_of(graph)
    tiers = []
    for level in range(max(tier.values(), default=-1) + 1):
        members = sorted(name for name in selected if tier[name] == level)
        if members:
            tiers.append(members)
    if reverse:
        tiers.reverse()
    return tiers


def service_dependents(services, names):
    """Every service that needs one of ``names``, directly or not, in start order (registered by stack.py)."""
    if isinstance(names, str):
        names = [names]
    elif names is None or not isinstance(names, Sequence):
        raise AnsibleFilterError('service_dependents: names must be a list of service names, got %r' % (names, ))
    names = [str(name) for name in names]
    needed = set(names)
    out = []
    for tier in service_order(services):
        for name in tier:
            if any(dep in needed for dep in _dependencies(name, services[name])):
                needed.add(name)
                out.append(name)
    return out


class FilterModule(object):
    """Service ordering filters."""

    def filters(self):
        return {
            'service_order': service_order,
        }
