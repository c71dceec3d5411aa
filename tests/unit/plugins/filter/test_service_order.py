# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service_order filter: tiers from depends_on, stop order, subsets and the errors that name a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.service_order import FilterModule, service_order

INVENTORIES = Path(__file__).resolve().parents[4] / 'inventories'


def inventory_services(name):
    """The services tree of an inventory as written (Jinja expressions stay unrendered strings)."""
    text = (INVENTORIES / name / 'group_vars' / 'mem0_hosts' / 'stack.yml').read_text()
    return yaml.safe_load(text)['mem0_stack']['services']


OWNER = inventory_services('mac_studio')
LAB = inventory_services('lab')


def test_filter_is_registered():
    assert FilterModule().filters()['service_order'] is service_order


def test_owner_stack_starts_databases_first_then_api_then_interfaces():
    assert service_order(OWNER) == [
        ['grafana', 'neo4j', 'postgres'],
        ['mem0'],
        ['openmemory_mcp', 'telegram_bot'],
        ['openmemory_ui'],
    ]


def test_owner_stack_stops_ui_mcp_api_then_databases():
    tiers = service_order(OWNER, reverse=True)
    assert tiers == [
        ['openmemory_ui'],
        ['openmemory_mcp', 'telegram_bot'],
        ['mem0'],
        ['grafana', 'neo4j', 'postgres'],
    ]
    flat = [name for tier in tiers for name in tier]
    core = [name for name in flat if name in ('openmemory_ui', 'openmemory_mcp', 'mem0', 'neo4j', 'postgres')]
    assert core == ['openmemory_ui', 'openmemory_mcp', 'mem0', 'neo4j', 'postgres']


def test_lab_stack_order():
    assert service_order(LAB) == [['embedder', 'neo4j', 'postgres'], ['mem0'], ['openmemory_mcp'], ['openmemory_ui']]
    assert service_order(LAB, reverse=True) == [['openmemory_ui'], ['openmemory_mcp'], ['mem0'], ['embedder', 'neo4j', 'postgres']]


def test_every_service_comes_after_its_dependencies():
    for services in (OWNER, LAB):
        position = {name: index for index, tier in enumerate(service_order(services)) for name in tier}
        assert set(position) == set(services)
        for name, svc in services.items():
            assert all(position[dep] < position[name] for dep in svc['depends_on']), name


@pytest.mark.parametrize('names, reverse, expected', [
    (['openmemory_ui'], False, [['openmemory_ui']]),
    (['openmemory_ui', 'postgres'], False, [['postgres'], ['openmemory_ui']]),
    (['postgres', 'openmemory_ui'], True, [['openmemory_ui'], ['postgres']]),
    (['neo4j', 'postgres', 'mem0'], True, [['mem0'], ['neo4j', 'postgres']]),
    ('mem0', False, [['mem0']]),
    ([], False, [['embedder', 'neo4j', 'postgres'], ['mem0'], ['openmemory_mcp'], ['openmemory_ui']]),
    (None, True, [['openmemory_ui'], ['openmemory_mcp'], ['mem0'], ['embedder', 'neo4j', 'postgres']]),
])
def test_subset_keeps_relative_order(names, reverse, expected):
    assert service_order(LAB, names, reverse=reverse) == expected


def test_subset_duplicates_are_listed_once():
    assert service_order(LAB, ['mem0', 'mem0', 'postgres']) == [['postgres'], ['mem0']]


def test_missing_or_empty_depends_on_means_no_dependencies():
    services = {'b': {'depends_on': ['a']}, 'a': {}, 'c': {'depends_on': None}, 'd': {'depends_on': 'b'}}
    assert service_order(services) == [['a', 'c'], ['b'], ['d']]


def test_compose_style_depends_on_mapping():
    services = {'db': {}, 'api': {'depends_on': {'db': {'condition': 'service_healthy'}}}}
    assert service_order(services) == [['db'], ['api']]


def test_order_is_deterministic_whatever_the_dict_order():
    names = ['zeta', 'alpha', 'mid', 'beta']
    forward = {name: {'depends_on': []} for name in names}
    backward = {name: {'depends_on': []} for name in reversed(names)}
    assert service_order(forward) == service_order(backward) == [['alpha', 'beta', 'mid', 'zeta']]


def test_empty_services():
    assert service_order({}) == []


def test_reverse_accepts_ansible_booleans():
    assert service_order(LAB, ['mem0', 'postgres'], reverse='yes') == [['mem0'], ['postgres']]


def test_cycle_names_the_services_and_the_fix():
    services = dict(LAB)
    services['postgres'] = dict(LAB['postgres'], depends_on=['openmemory_ui'])
    with pytest.raises(AnsibleFilterError) as exc:
        service_order(services)
    msg = str(exc.value)
    assert 'cycle' in msg
    assert 'mem0 -> postgres -> openmemory_ui -> openmemory_mcp -> mem0' in msg
    assert 'remove one of these depends_on entries' in msg


def test_self_dependency_is_a_cycle():
    with pytest.raises(AnsibleFilterError, match=r'depends on b\): a -> a;'):
        service_order({'a': {'depends_on': ['a']}, 'b': {}})


def test_unknown_dependency_names_service_dependency_and_fix():
    services = dict(OWNER)
    services['mem0'] = dict(OWNER['mem0'], depends_on=['postgres', 'redis'])
    with pytest.raises(AnsibleFilterError) as exc:
        service_order(services)
    msg = str(exc.value)
    assert "service 'mem0' depends on 'redis'" in msg
    assert 'mem0.depends_on' in msg and 'define' in msg


def test_unknown_name_in_subset_lists_known_services():
    with pytest.raises(AnsibleFilterError) as exc:
        service_order(LAB, ['openmemory_ui', 'qdrant'])
    msg = str(exc.value)
    assert "unknown service 'qdrant'" in msg
    assert 'known services: embedder, mem0, neo4j, openmemory_mcp, openmemory_ui, postgres' in msg


@pytest.mark.parametrize('services, match', [
    (['postgres'], 'expects the services dictionary'),
    ({'a': 'postgres'}, "service 'a' is a str, not a dictionary"),
    ({'a': {'depends_on': [1]}}, "depends_on of service 'a' must be a list of service names"),
])
def test_malformed_input_is_refused(services, match):
    with pytest.raises(AnsibleFilterError, match=match):
        service_order(services)


def test_bad_reverse_is_refused():
    with pytest.raises(AnsibleFilterError, match='reverse must be true or false'):
        service_order(LAB, reverse='sideways')
