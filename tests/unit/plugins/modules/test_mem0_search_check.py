# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_search_check: mem0 configured like the server, the rank of the memory searched for, no password in errors."""

from __future__ import annotations

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_search_check as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args

PARAMS = {'login_host': '127.0.0.1', 'login_port': 15433, 'login_user': 'mem0', 'login_password': 's3cret-pw', 'db': 'mem0',
          'collection': 'memories', 'namespace': 'mark_carey/work', 'limit': 3,
          'embedding': {'provider': 'ollama', 'model': 'nomic-embed-text', 'dims': 768, 'base_url': 'http://127.0.0.1:11434'}}


class FakeMemory:
    configs = []
    answer = None

    def __init__(self, config):
        self.config = config
        self.closed = False

    @classmethod
    def from_config(cls, config):
        cls.configs.append(config)
        return cls(config)

    def search(self, text, filters, top_k):
        assert filters == {'user_id': 'mark_carey/work'} and top_k == 3
        return self.answer

    def close(self):
        self.closed = True


def params(tmp_path, **changes):
    p = dict(PARAMS, workdir=str(tmp_path), embedder_api_key=None)
    p.update(changes)
    return p


def test_mem0_is_configured_like_the_server(tmp_path):
    config = mod.mem0_config(params(tmp_path))
    assert config['vector_store']['config'] == {'connection_string': 'postgresql://mem0:s3cret-pw@127.0.0.1:15433/mem0',
                                                'collection_name': 'memories', 'embedding_model_dims': 768}
    assert config['embedder'] == {'provider': 'ollama', 'config': {'model': 'nomic-embed-text', 'embedding_dims': 768,
                                                                   'ollama_base_url': 'http://127.0.0.1:11434'}}
    assert config['history_db_path'] == str(tmp_path / 'history.db')
    hosted = mod.embedder_config({'provider': 'openai', 'model': 'text-embedding-3-small', 'dims': 1536,
                                  'base_url': 'https://api.example'}, 'key')
    assert hosted['config'] == {'model': 'text-embedding-3-small', 'embedding_dims': 1536, 'openai_base_url': 'https://api.example',
                                'api_key': 'key'}


def test_found_first(tmp_path, monkeypatch):
    FakeMemory.answer = {'results': [{'id': 'm1', 'score': 0.912345, 'memory': 'likes tea'}, {'id': 'm2', 'score': 0.5, 'memory': 'x'}]}
    out = mod.search(params(tmp_path), pick=lambda p: ('m1', 'likes   tea'), memory_class=FakeMemory)
    assert out['found_first'] is True and out['rank'] == 1
    assert out['query'] == 'likes tea'
    assert out['results'][0] == {'id': 'm1', 'score': 0.9123, 'memory': 'likes tea'}
    assert {'init_seconds', 'search_seconds', 'answered_at'} <= set(out)


def test_found_later_or_not_at_all(tmp_path):
    FakeMemory.answer = [{'id': 'm2', 'score': 0.9}, {'id': 'm1', 'score': 0.8}]
    out = mod.search(params(tmp_path), pick=lambda p: ('m1', 't'), memory_class=FakeMemory)
    assert out['rank'] == 2 and out['found_first'] is False
    FakeMemory.answer = {'results': []}
    out = mod.search(params(tmp_path), pick=lambda p: ('m1', 't'), memory_class=FakeMemory)
    assert out['rank'] is None and out['found_first'] is False


def test_a_namespace_without_a_text_of_its_own(tmp_path):
    out = mod.search(params(tmp_path), pick=lambda p: (None, None), memory_class=FakeMemory)
    assert out['error'] == 'namespace mark_carey/work holds no memory with a text of its own to search for'
    assert out['found_first'] is False


def test_the_password_never_appears_in_a_failure(tmp_path, monkeypatch):
    def broken(p, pick=None, memory_class=None):
        raise RuntimeError('connection to user mem0 password s3cret-pw refused')

    monkeypatch.setattr(mod, 'search', broken)
    with set_module_args(dict(PARAMS, workdir=str(tmp_path))):
        with pytest.raises(AnsibleFailJson) as exc:
            mod.main()
    assert exc.value.result['msg'] == 'the search through mem0 failed: RuntimeError: connection to user mem0 password ******** refused'


def test_module_returns_the_search(tmp_path, monkeypatch):
    monkeypatch.setattr(mod, 'search', lambda p: {'namespace': p['namespace'], 'found_first': True})
    with set_module_args(dict(PARAMS, workdir=str(tmp_path), _ansible_check_mode=True)):
        with pytest.raises(AnsibleExitJson) as exc:
            mod.main()
    assert exc.value.result['changed'] is False
    assert exc.value.result['search'] == {'namespace': 'mark_carey/work', 'found_first': True}
