# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_reembed: bad sizes refused before anything connects; check mode plans whatever the phase; the embedder is made
only when a text must be embedded; a swap without a stamp is refused."""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_reembed as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args

PARAMS = {'login_user': 'mem0', 'login_password': 's3cret-pw', 'db': 'mem0',
          'embedding': {'model': 'mxbai-embed-large', 'dims': 1024, 'base_url': 'http://127.0.0.1:11434'}}


class FakeClient:
    connected = []

    def __init__(self, params):
        self.params = params

    def connect(self):
        self.connected.append(self.params['connect_via'])
        return self

    def close(self):
        pass


def test_batch_size_refused():
    with set_module_args(dict(PARAMS, batch_size=0)):
        with pytest.raises(AnsibleFailJson) as exc:
            mod.main()
    assert exc.value.result['msg'] == 'batch_size must be at least 1, got 0'


def test_check_mode_plans_whatever_the_phase(monkeypatch):
    ran = []
    monkeypatch.setattr(mod, 'PostgresClient', FakeClient)
    monkeypatch.setattr(mod.Runner, 'plan', lambda self: ran.append('plan'))
    monkeypatch.setattr(mod.Runner, 'swap', lambda self: ran.append('swap'))
    monkeypatch.setattr(mod.Reembedder, 'kept_tables', lambda self, collection: [])
    with set_module_args(dict(PARAMS, phase='swap', stamp='s', _ansible_check_mode=True)):
        with pytest.raises(AnsibleExitJson) as exc:
            mod.main()
    assert ran == ['plan'] and exc.value.result['changed'] is False
    assert FakeClient.connected[-1] == 'tcp'


def test_swap_needs_a_stamp(monkeypatch):
    monkeypatch.setattr(mod, 'PostgresClient', FakeClient)
    with set_module_args(dict(PARAMS, phase='swap')):
        with pytest.raises(AnsibleFailJson) as exc:
            mod.main()
    assert 'needs stamp' in exc.value.result['msg']


def test_the_embedder_is_made_on_first_use(monkeypatch):
    made = []

    class Embedder:
        def embed_batch(self, texts, action):
            return [[1.0]] * len(texts)

    monkeypatch.setattr(mod, 'mem0_embedder', lambda embedding, key: made.append(embedding['model']) or Embedder())
    lazy = mod.LazyEmbedder({'model': 'm'}, None)
    assert made == []
    assert lazy.embed_batch(['a', 'b']) == [[1.0], [1.0]] and lazy.embed_batch(['c']) == [[1.0]]
    assert made == ['m']
