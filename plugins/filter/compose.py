# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Values written for Docker Compose, so that a container gets exactly the inventory's value.

Compose reads its env file (.env, env_file) and the compose file with interpolation: an unquoted value loses what
follows ' #' (a comment) and has every $NAME replaced; a single-quoted value cannot end in a backslash nor hold one
before a quote. A double-quoted value with \\, " and $ escaped carries everything else (Compose 2.26, checked against
the containers' environment). The filters are documented in compose_env_value.yml and compose_yaml_value.yml.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.stack import UNCARRIED_RE, UNCARRIED_RULE


def compose_env_value(value):
    """The value as one double-quoted line value of a Compose env file; the value is never shown in an error."""
    text = '%s' % (value,)
    if UNCARRIED_RE.search(text):
        raise AnsibleFilterError('compose_env_value: the value %s' % UNCARRIED_RULE)
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('$', '\\$')


def compose_yaml_value(value):
    """The value as a double-quoted YAML scalar of a compose file, with $ doubled (Compose interpolates it)."""
    return json.dumps(('%s' % (value,)).replace('$', '$$'))


class FilterModule(object):
    """Quoting for Docker Compose."""

    def filters(self):
        return {
            'compose_env_value': compose_env_value,
            'compose_yaml_value': compose_yaml_value,
        }
