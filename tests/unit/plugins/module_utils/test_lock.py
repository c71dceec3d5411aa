# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stack-wide lock: take, enter again, a dead holder taken over, a live one waited for then named, the journal."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import journal, lock


def me(run_id="run-a", pid=None):
    """An identity on this host; pid defaults to this test process (alive)."""
    pid = os.getpid() if pid is None else pid
    return {"host": socket.gethostname(), "pid": pid, "pid_started": lock.started_of(pid), "playbook": "backup.yml",
            "run_id": run_id}


class Clock:
    """A fake monotonic clock that sleep() advances: a bounded wait without waiting."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_take_reenter_release(tmp_path):
    root = str(tmp_path)
    taken = lock.acquire(root, "lab", me())
    assert taken["changed"] and not taken["reentered"] and not taken["took_over"]
    path = lock.lock_path(root, "lab")
    assert path == os.path.join(root, "lock", "lab.lock")
    held = json.loads(open(path, encoding="utf-8").read())
    assert held["pid"] == os.getpid() and held["playbook"] == "backup.yml" and held["depth"] == 1 and held["started"]
    again = lock.acquire(root, "lab", me())
    assert again["reentered"] and again["lock"]["depth"] == 2
    assert lock.release(root, "lab", me())["released"] is False  # the inner entry leaves it held
    assert os.path.exists(path)
    assert lock.release(root, "lab", me())["released"] is True
    assert not os.path.exists(path)
    assert sorted(os.listdir(os.path.dirname(path))) == []  # no temporary file left
    assert lock.release(root, "lab", me())["changed"] is False


def test_same_controller_without_run_id_reenters(tmp_path):
    root = str(tmp_path)
    lock.acquire(root, "lab", me(run_id=""))
    assert lock.acquire(root, "lab", me(run_id=""), wait=0)["reentered"]


def test_dead_holder_taken_over(tmp_path):
    root = str(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid is gone now
    lock.acquire(root, "lab", me(run_id="old", pid=child.pid) | {"pid_started": "ticks:1"})
    taken = lock.acquire(root, "lab", me(run_id="new"), wait=0)
    assert "took over the lock of backup.yml (pid %d" % child.pid in taken["took_over"]
    assert "no longer running" in taken["took_over"]
    assert taken["lock"]["run_id"] == "new"


def test_reused_pid_is_not_the_holder(tmp_path):
    root = str(tmp_path)
    # the holder's pid is alive (ours) but started at another time: another process now
    lock.acquire(root, "lab", me(run_id="old") | {"pid_started": "ticks:0"})
    assert lock.acquire(root, "lab", me(run_id="new"), wait=0)["took_over"]


def test_live_holder_waited_for_then_named(tmp_path):
    root = str(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.acquire(root, "lab", me(run_id="holder", pid=sleeper.pid) | {"playbook": "restore.yml"})
        clock = Clock()
        with pytest.raises(lock.LockBusy) as busy:
            lock.acquire(root, "lab", me(run_id="waiter"), wait=30, poll=5, sleep=clock.sleep, clock=clock)
        assert clock.sleeps == [5, 5, 5, 5, 5, 5]  # polled until the bounded wait was over
        text = "\n".join(busy.value.lines)
        assert "locked by restore.yml (pid %d on %s, since " % (sleeper.pid, socket.gethostname()) in text
        assert "waited 30 s" in text and "changed nothing" in text
        assert "kill %d" % sleeper.pid in text and "lock_wait" in text
        assert json.loads(open(lock.lock_path(root, "lab"), encoding="utf-8").read())["run_id"] == "holder"
    finally:
        sleeper.kill()
        sleeper.wait()
    # its holder gone, the next run takes the lock over
    assert lock.acquire(root, "lab", me(run_id="waiter"), wait=0)["took_over"]


def test_holder_on_another_host_taken_over_only_when_stale(tmp_path):
    root = str(tmp_path)
    lock.acquire(root, "lab", me(run_id="far") | {"host": "elsewhere", "pid": 1})
    with pytest.raises(lock.LockBusy, match="on elsewhere"):
        lock.acquire(root, "lab", me(run_id="here"), wait=0, stale_seconds=3600)
    path = lock.lock_path(root, "lab")
    os.utime(path, (0, 1000))  # written long ago
    taken = lock.acquire(root, "lab", me(run_id="here"), wait=0, stale_seconds=3600)
    assert "beyond the stale limit of 1 h" in taken["took_over"]


def test_unreadable_lock(tmp_path):
    root = str(tmp_path)
    path = lock.lock_path(root, "lab")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{")
    with pytest.raises(lock.LockBusy, match="unreadable lock file"):  # maybe being written: not taken at once
        lock.acquire(root, "lab", me(), wait=0)
    os.utime(path, (0, 1000))
    assert "cannot be read" in lock.acquire(root, "lab", me(), wait=0)["took_over"]


def test_journal_refuses_and_lock_not_kept(tmp_path):
    root = str(tmp_path)
    journal.write_journal(root, "lab", {"playbook": "restore.yml", "phase": "postgres", "safety_set": "/b/pre",
                                        "resume": "ansible-playbook restore.yml -e restore_resume=true",
                                        "rollback": "ansible-playbook restore.yml -e restore_rollback=true"})
    with pytest.raises(lock.JournalRefusal) as refused:
        lock.acquire(root, "lab", me())
    text = "\n".join(refused.value.lines)
    assert "phase 'postgres'" in text and "restore_resume=true" in text and "restore_rollback=true" in text
    assert not os.path.exists(lock.lock_path(root, "lab"))
    # the resume or rollback run is exempt, and is told about the journal
    taken = lock.acquire(root, "lab", me(), allow_journal=True)
    assert taken["journal"]["phase"] == "postgres"
    # a run that already holds the lock (the restore itself, entering again) is not refused by its own journal
    assert lock.acquire(root, "lab", me())["reentered"]


def test_query_changes_nothing(tmp_path):
    root = str(tmp_path)
    assert lock.query(root, "lab", me())["holder_state"] == "free"
    assert not os.path.exists(os.path.join(root, "lock", "lab.lock"))
    lock.acquire(root, "lab", me(run_id="a"))
    assert lock.query(root, "lab", me(run_id="a"))["holder_state"] == "this run"
    assert lock.query(root, "lab", me(run_id="b"))["holder_state"] == "alive"


def test_controller_pid_is_the_outermost_ansible_playbook():
    # pytest(1) -> ansible-playbook main(10) -> its worker fork(11, same command line) -> sh(12) -> module(13)
    tree = {13: 12, 12: 11, 11: 10, 10: 1}
    argv = {13: ["/usr/bin/python3", "/tmp/AnsiballZ_mem0_stack_lock.py"], 12: ["/bin/sh", "-c", "python3 x"],
            11: ["/venv/bin/python3", "/venv/bin/ansible-playbook", "-i", "inv", "backup.yml"],
            10: ["/venv/bin/python3", "/venv/bin/ansible-playbook", "-i", "inv", "backup.yml"],
            1: ["/sbin/init"]}
    assert lock.controller_pid(13, parent=tree.get, command=argv.get) == 10
    assert lock.controller_pid(12, parent={12: 1}.get, command=argv.get) is None  # over SSH: no controller here


def test_this_process_tree_is_walked():
    assert lock.parent_of(os.getpid()) == os.getppid()
    assert any("pytest" in part or "python" in part for part in lock.command_of(os.getpid()))
    assert lock.alive(os.getpid(), lock.started_of(os.getpid()))
