"""The stack-wide lock (issue 12, hole 1) on the lab, changing none of its memories: the sets go to a backup root of
the test's own, the lock and the journal are the lab stack's (<mem0_stack.backup_root>/lock, /journal).

One test, three steps: a live stand-in holds the lock -> backup.yml with a 2 s wait fails naming it and writes no set;
the stand-in killed -> backup.yml takes its lock over and passes; an unfinished journal -> backup.yml refuses with the
journal's commands. The unit tests (tests/unit/plugins/module_utils/test_lock.py) prove the rest.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import journal, lock

from .labkit import record_fault, run_playbook

pytestmark = pytest.mark.integration


def memories(pg, stack) -> int:
    with pg() as conn, conn.cursor() as cur:
        cur.execute('SELECT count(*) FROM "%s"' % stack["mem0"]["collection"])
        return cur.fetchone()[0]


def sets(root: Path) -> list:
    return sorted(str(path.relative_to(root)) for path in root.glob("*/*")) if root.is_dir() else []


def test_two_runs_at_once_then_a_dead_holder_then_a_journal(stack, pg, tmp_path):
    began = time.monotonic()
    root, name = stack["backup_root"], stack["name"]
    path = Path(lock.lock_path(root, name))
    assert not path.exists(), "a lock was left by an earlier run: %s" % path.read_text()
    assert journal.read_journal(root, name) is None
    before = memories(pg, stack)
    backups = tmp_path / "backups"
    args = ("-e", "backup_root=%s" % backups, "-e", "backup_tier=manual")

    # 1. a live holder: the run waits its 2 s, then fails naming it, and writes no set
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        lock.acquire(root, name, {"host": socket.gethostname(), "pid": stand_in.pid,
                                  "pid_started": lock.started_of(stand_in.pid), "playbook": "restore.yml (stand-in)",
                                  "run_id": "stand-in"})
        busy = run_playbook("backup.yml", *args, "-e", "lock_wait=2", "-e", "lock_poll=1")
        assert busy["rc"] != 0
        assert "stack %s is locked by restore.yml (stand-in) (pid %d on %s, since " % (
            name, stand_in.pid, socket.gethostname()) in busy["raw"], busy["raw"][-3000:]
        assert "kill %d" % stand_in.pid in busy["raw"] and "changed nothing" in busy["raw"]
        assert sets(backups) == []
        assert lock.read_lock(root, name)["run_id"] == "stand-in"  # the holder's lock is left alone
    finally:
        stand_in.kill()
        stand_in.wait()

    # 2. the holder is gone: the next run takes its lock over, says so, backs up and leaves the lock
    passed = run_playbook("backup.yml", *args)
    assert passed["rc"] == 0, passed["raw"][-3000:]
    assert "took over the lock of restore.yml (stand-in) (pid %d" % stand_in.pid in passed["raw"]
    assert "is no longer running" in passed["raw"]
    assert len(sets(backups)) == 1 and not path.exists()

    # 3. an unfinished journal: every writing run refuses with its commands, and holds no lock after
    journal.write_journal(root, name, {
        "playbook": "restore", "phase": "postgres", "safety_set": "%s/pre-restore/20261203_000000" % root,
        "resume": "ansible-playbook -i inventories/lab playbooks/restore.yml -e restore_resume=true",
        "rollback": "ansible-playbook -i inventories/lab playbooks/restore.yml -e restore_rollback=true",
        "changing": True})
    try:
        refused = run_playbook("backup.yml", *args)
    finally:
        journal.clear_journal(root, name)
    assert refused["rc"] != 0
    assert "interrupted in phase 'postgres'" in refused["raw"]
    assert "restore_resume=true" in refused["raw"] and "restore_rollback=true" in refused["raw"]
    assert len(sets(backups)) == 1 and not path.exists()

    after = memories(pg, stack)
    record_fault("two runs at once (a live holder, then a dead one, then a journal)", before, after,
                 "the waiting backup failed after 2 s naming the holder's playbook, pid and host, wrote no set; "
                 "with the holder dead it took the lock over and backed up; with a journal it refused with its commands")
    assert after == before
    print("test_lock: %.1f s" % (time.monotonic() - began))
