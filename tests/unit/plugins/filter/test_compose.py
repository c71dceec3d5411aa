# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Quoting for Docker Compose: every printable value comes back exactly; a control character is refused unseen.
(That Compose 2.26 reads these lines back exactly is proven against real containers by tests/integration/
test_credentials.py; here the written form and the collection's own reader of env files, secrets.env_variables.)"""

from __future__ import annotations

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.compose import (
    FilterModule, compose_env_value, compose_yaml_value)
from ansible_collections.mem0ops.stack.plugins.module_utils.secrets import env_variables

NASTY = ['pa$HOME s #1', '50%41 %zz', "it's", 'say "hi"', 'back\\slash', 'ends in \\', '\\"', "\\'", '${X}', '$$',
         ' #lead and trail ', '@:/?=&', 'tab\there', 'non-ASCII é 日本', '`echo x`', '{{ not jinja }}']


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'compose_env_value', 'compose_yaml_value'}


@pytest.mark.parametrize('value, line', [
    ('plain', '"plain"'),
    ('pa$HOME s #1', '"pa\\$HOME s #1"'),
    ('say "hi" \\', '"say \\"hi\\" \\\\"'),
    ("it's 100%", '"it\'s 100%"'),
    (5433, '"5433"'),
])
def test_the_env_value_is_double_quoted_with_backslash_quote_and_dollar_escaped(value, line):
    assert compose_env_value(value) == line


def test_every_nasty_value_reads_back_exactly(tmp_path):
    path = tmp_path / '.env'
    path.write_text(''.join('V%d=%s\n' % (i, compose_env_value(v)) for i, v in enumerate(NASTY)), encoding='utf-8')
    assert env_variables(str(path)) == [('V%d' % i, v) for i, v in enumerate(NASTY)]


@pytest.mark.parametrize('bad', ['line\nbreak', 'carriage\rreturn', 'nul\x00byte', 'bell\x07', 'del\x7f'])
def test_a_control_character_is_refused_without_the_value(bad):
    with pytest.raises(AnsibleFilterError) as exc:
        compose_env_value('s3cret-' + bad)
    assert 's3cret' not in str(exc.value)
    assert 'control character' in str(exc.value)


@pytest.mark.parametrize('value', NASTY + ['line\nbreak', 8888])
def test_the_yaml_value_is_the_value_with_dollars_doubled(value):
    assert yaml.safe_load('k: ' + compose_yaml_value(value))['k'] == str(value).replace('$', '$$')
