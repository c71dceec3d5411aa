# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Placeholder until the module_utils exist: proves the collection path and the test helpers."""

from __future__ import annotations

import pytest
import yaml

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.doc_fragments import neo4j, postgres
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)


def _options(fragment):
    """The fragment's options as a module that extends it has them: with its CONNECT_VIA variant where it has one
    (postgres: the modules that reach the server over TCP or inside its container), merged as ansible-doc merges."""
    options = {}
    for variant in ('DOCUMENTATION', 'CONNECT_VIA'):
        text = getattr(fragment.ModuleDocFragment, variant, None)
        for name, doc in (yaml.safe_load(text)['options'] if text else {}).items():
            options.setdefault(name, {}).update(doc)
    return options


def _argument_spec(options):
    spec = {}
    for name, doc in options.items():
        spec[name] = {key: doc[key] for key in ('type', 'default', 'choices', 'aliases') if key in doc}
    return spec


def _run(argument_spec, args):
    with set_module_args(args):
        module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
        module.exit_json(params=module.params)


@pytest.mark.parametrize('fragment, defaults', [
    (postgres, {'login_host': '127.0.0.1', 'login_port': 5432, 'connect_via': 'tcp',
                'docker_host': 'unix:///var/run/docker.sock', 'connect_timeout': 10}),
    (neo4j, {'neo4j_uri': 'bolt://127.0.0.1:7687', 'neo4j_user': 'neo4j', 'neo4j_database': 'neo4j'}),
])
def test_fragment_defaults_reach_module_params(fragment, defaults):
    with pytest.raises(AnsibleExitJson) as exc:
        _run(_argument_spec(_options(fragment)), {})

    params = exc.value.result['params']
    assert {name: params[name] for name in defaults} == defaults
    assert exc.value.result['changed'] is False


def test_postgres_db_aliases():
    with pytest.raises(AnsibleExitJson) as exc:
        _run(_argument_spec(_options(postgres)), {'login_db': 'mem0'})

    assert exc.value.result['params']['db'] == 'mem0'


def test_invalid_choice_fails():
    with pytest.raises(AnsibleFailJson) as exc:
        _run(_argument_spec(_options(postgres)), {'connect_via': 'ssh'})

    assert exc.value.result['failed'] is True
    assert 'connect_via' in exc.value.result['msg']
