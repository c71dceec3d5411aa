# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for unit tests that run a module's ``main()`` and assert on its result.

Import them by their collection name::

    from ansible_collections.mem0ops.stack.tests.unit.conftest import (
        AnsibleExitJson, AnsibleFailJson, set_module_args)

    def test_check_mode(monkeypatch):
        with set_module_args({'login_user': 'mem0', '_ansible_check_mode': True}):
            with pytest.raises(AnsibleExitJson) as exc:
                my_module.main()
        assert exc.value.result['changed'] is False

The autouse fixture below makes ``AnsibleModule.exit_json`` and ``fail_json`` raise these
exceptions instead of printing JSON and exiting.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

HELPERS_MODULE = 'ansible_collections.mem0ops.stack.tests.unit.conftest'


class AnsibleExitJson(Exception):
    """Raised in place of ``AnsibleModule.exit_json``; ``result`` is the module's result."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """Raised in place of ``AnsibleModule.fail_json``; ``result`` holds ``msg`` and ``failed``."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


def exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def fail_json(self, msg, **kwargs):
    kwargs.update(msg=msg, failed=True)
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args=None):
    """Expose ``args`` to every ``AnsibleModule`` created inside the ``with`` block."""
    args = dict(args or {})
    args.setdefault('_ansible_remote_tmp', '/tmp')
    args.setdefault('_ansible_keep_remote_files', False)
    with patch_module_args(args):
        yield


def run_module(main, args, check=False, diff=False):
    """Run a module's ``main()`` with ``args`` (in check and/or diff mode) and return its result, success or failure
    (a failure has ``failed`` and ``msg``)."""
    args = dict(args)
    if check:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            main()
    return exc.value.result


@pytest.fixture(autouse=True)
def _patch_module_exit(monkeypatch):
    # Patch with the functions of the module that tests import, so that the exception classes
    # match even when pytest loaded this file under another name than the collection's.
    helpers = importlib.import_module(HELPERS_MODULE)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', helpers.exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', helpers.fail_json)
