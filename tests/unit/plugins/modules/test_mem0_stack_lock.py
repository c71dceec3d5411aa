# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_stack_lock: check mode takes nothing and shows the holder; a busy lock fails naming it; take and leave."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import journal, lock
from ansible_collections.mem0ops.stack.plugins.modules import mem0_stack_lock as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args


def run(args, check=False, fails=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with set_module_args(args):
        with pytest.raises(AnsibleFailJson if fails else AnsibleExitJson) as exc:
            mod.main()
    return exc.value.result


def hold(root, run_id="other", playbook="restore.yml"):
    """A live holder on this host: this test process, as another run."""
    lock.acquire(root, "lab", {"host": socket.gethostname(), "pid": os.getpid(),
                               "pid_started": lock.started_of(os.getpid()), "playbook": playbook, "run_id": run_id})


def test_check_mode_takes_nothing_and_shows_the_holder(tmp_path):
    args = {"backup_root": str(tmp_path), "stack": "lab", "run_id": "me", "playbook": "backup.yml"}
    free = run(args, check=True)
    assert free["changed"] is False and free["holder_state"] == "free"  # a run leaves the lock it takes
    assert not os.path.exists(lock.lock_path(str(tmp_path), "lab"))
    hold(str(tmp_path))
    busy = run(args, check=True)
    assert busy["changed"] is False and busy["holder_state"] == "alive" and busy["holder"]["playbook"] == "restore.yml"
    assert "locked" not in busy["msg"] and "held by restore.yml" in busy["msg"]
    assert lock.read_lock(str(tmp_path), "lab")["run_id"] == "other"


def test_busy_fails_naming_the_holder(tmp_path):
    hold(str(tmp_path))
    failed = run({"backup_root": str(tmp_path), "stack": "lab", "run_id": "me", "wait": 0}, fails=True)
    assert "locked by restore.yml (pid %d" % os.getpid() in failed["msg"][0]
    assert failed["holder"]["run_id"] == "other"


def test_take_and_leave(tmp_path):
    args = {"backup_root": str(tmp_path), "stack": "lab", "run_id": "me", "playbook": "backup.yml"}
    taken = run(args)
    assert taken["changed"] and taken["lock"]["playbook"] == "backup.yml" and not taken["reentered"]
    assert run(args, check=True)["holder_state"] == "this run"
    left = run(dict(args, state="absent"))
    assert left["released"] is True and not os.path.exists(taken["lock_path"])


def test_journal_refuses_unless_allowed(tmp_path):
    journal.write_journal(str(tmp_path), "lab", {"playbook": "reset.yml", "phase": "neo4j",
                                                 "resume": "ansible-playbook reset.yml -e reset_resume=true"})
    args = {"backup_root": str(tmp_path), "stack": "lab", "run_id": "me"}
    refused = run(args, fails=True)
    assert any("reset_resume=true" in line for line in refused["msg"]) and refused["journal"]["phase"] == "neo4j"
    assert run(dict(args, allow_journal=True))["journal"]["phase"] == "neo4j"
