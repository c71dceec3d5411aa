"""Stored sets that rot, and a disk that fills mid-set (issue 12, hole 6 and ENOSPC), on the lab without changing its
data: the sets are real backups of the lab written into the test's own backup roots (a temporary directory, and a
small tmpfs mounted for the test), so corrupting them or filling their disk touches nothing the lab keeps.

- A bit flip in the newest of two sets: scrub.yml marks it CORRUPTED.txt and alerts once at the fake Telegram (a
  second scrub alerts nothing); the rotation with keep daily=1 keeps the older intact set (the corrupted one does not
  count toward keep); restore.yml --check passes over it to the older set, naming why; the lab's memories are the same
  before and after by a direct SQL count.
- ENOSPC mid-set: another writer fills the tmpfs backup root as soon as the backup's .partial directory appears (after
  its headroom check passed); the run fails naming the volume and the fix, alerts, leaves no .partial and no new set,
  and the older set on that volume is byte for byte unchanged.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .labkit import REPO, SEEDED_MEMORIES, FakeTelegram, inventory_copy, module_task, record_fault, run_playbook, run_tasks

pytestmark = pytest.mark.integration

SCRUB = "Re-hash every set and prove its dumps readable; mark the corrupted ones"


def count_memories(pg) -> int:
    """The oracle: the lab's memories by a direct SQL query."""
    conn = pg()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM memories")
            return cur.fetchone()[0]
    finally:
        conn.close()


def digests(path: Path) -> dict:
    out = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        out[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def sets_of(root: Path, tier: str = "daily") -> list:
    directory = root / tier
    return sorted(os.listdir(directory)) if directory.is_dir() else []


@pytest.fixture(scope="module")
def lab_sets(tmp_path_factory):
    """Two real daily backups of the lab in a temporary root, alerts to a fake Telegram of the test's own."""
    base = tmp_path_factory.mktemp("scrub")
    root = base / "backups"
    telegram = FakeTelegram()

    def change(tree):
        tree["backup_root"] = str(root)
        tree["alerting"].update(api_url=telegram.url, bot_token=telegram.token, state_dir=str(base / "alerts"),
                                cooldown=3600)
    inventory = inventory_copy(base, change)
    started = time.monotonic()
    for dummy in range(2):
        report = run_playbook("backup.yml", "-e", "backup_tier=daily", inventory=inventory)
        assert report["rc"] == 0, report["raw"][-3000:]
        time.sleep(1.1)  # set names are seconds
    print("two lab backups: %.1f s" % (time.monotonic() - started))
    older, newer = [root / "daily" / name for name in sets_of(root)]
    telegram.clear()
    yield {"base": base, "root": root, "inventory": inventory, "telegram": telegram, "older": older, "newer": newer}
    telegram.stop()


def test_a_bit_flip_is_marked_alerted_once_not_kept_and_restore_falls_back(pg, lab_sets):
    started = time.monotonic()
    root, inventory, telegram = lab_sets["root"], lab_sets["inventory"], lab_sets["telegram"]
    older, newer = lab_sets["older"], lab_sets["newer"]
    before = count_memories(pg)
    assert before == SEEDED_MEMORIES
    dump = next((newer / "postgres").glob("*[0-9].dump"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the data blocks
    dump.write_bytes(bytes(data))
    untouched = digests(newer)

    report = run_playbook("scrub.yml", inventory=inventory)
    assert report["rc"] != 0 and "are CORRUPTED and were marked: %s" % newer in report["raw"], report["raw"][-3000:]
    marker = newer / "CORRUPTED.txt"
    assert marker.is_file() and "postgres/%s: size " % dump.name in marker.read_text()
    now = digests(newer)
    assert now.pop("CORRUPTED.txt") and now == untouched  # marked beside the data, nothing rewritten
    assert not (older / "CORRUPTED.txt").exists()
    log = (root / "scrub.log").read_text()
    assert "1/2 daily/%s: corrupted" % newer.name in log and "2/2 daily/%s: ok" % older.name in log
    assert "pg_restore --list in container" in log
    headers = telegram.headers()
    assert len(headers) == 1 and headers[0].startswith("[CRITICAL]") and "backup_corrupted" in headers[0], headers
    assert str(newer) in telegram.messages()[0]["text"]

    again = run_playbook("scrub.yml", inventory=inventory)
    assert again["rc"] == 0, again["raw"][-3000:]
    assert "1 already marked" in again["raw"] and len(telegram.messages()) == 1  # alerted once

    results, raw = run_tasks(module_task("mem0ops.stack.mem0_backup_set", {
        "state": "rotated", "backup_root": str(root), "keep": {"daily": 1}}, check_mode=True), inventory=inventory)
    assert results[0]["would_delete"] == [], raw[-2000:]  # the corrupted set does not count toward keep

    plan = run_playbook("restore.yml", "--check", inventory=inventory)
    assert plan["rc"] == 0, plan["raw"][-4000:]
    assert "restoring %s, the newest valid set that verifies; passed over:" % older in plan["raw"], plan["raw"][-4000:]
    assert "%s: marked CORRUPTED by the scrub on " % newer in plan["raw"]
    named = run_playbook("restore.yml", "--check", inventory=inventory, extra={"restore_set": str(newer)})
    assert named["rc"] != 0 and "is CORRUPTED: " in named["raw"], named["raw"][-3000:]
    assert "A corrupted set is never restored" in named["raw"] and "restore_allow_quarantined" not in named["raw"]
    after = count_memories(pg)
    assert after == before
    record_fault("bit flip in a stored set", before, after,
                 "scrub marked it CORRUPTED.txt, alerted once, kept out of keep; restore --check fell back to the older set")
    print("bit flip case: %.1f s" % (time.monotonic() - started))


@pytest.fixture
def tmpfs_root(lab_sets):
    mount = Path(tempfile.mkdtemp(prefix="mem0ops-enospc-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def fill(path: Path) -> int:
    """Another writer: fill the volume until it refuses (ENOSPC); returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            try:
                while True:
                    written += os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return written


def test_a_disk_that_fills_mid_set_leaves_no_partial_set_and_older_sets_untouched(pg, lab_sets, tmpfs_root):
    started = time.monotonic()
    telegram = lab_sets["telegram"]
    telegram.clear()
    root = tmpfs_root / "backups"
    older = root / "daily" / lab_sets["older"].name
    shutil.copytree(lab_sets["older"], older)
    kept = digests(older)
    before = count_memories(pg)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(lab_sets["inventory"]),
                             "-e", "backup_root=%s" % root, "-e", "backup_tier=daily",
                             str(REPO / "playbooks" / "backup.yml")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    filled = 0
    while proc.poll() is None and not filled:  # the moment the dump's first file appears: every check has passed
        partial = [name for name in sets_of(root) if name.endswith(".partial")]
        if partial and any((root / "daily" / partial[0] / "postgres").glob("*")):
            filled = fill(tmpfs_root / "other-writer.bin")
        time.sleep(0.005)
    output = proc.communicate()[0]
    print("ENOSPC run said: %s" % next((line.strip() for line in output.splitlines()
                                        if "backup failed and produced no set" in line), "?")[:400])
    assert filled, "the backup ended before its .partial directory was seen: %s" % output[-3000:]
    assert proc.returncode != 0
    assert "filled up while the set was written" in output and "Fix: free space on %s" % tmpfs_root in output, output[-4000:]
    assert sets_of(root) == [older.name]  # no .partial left, no new set
    assert digests(older) == kept
    alerts = telegram.messages()
    assert len(alerts) == 1 and "backup_failed" in alerts[0]["text"].splitlines()[0]
    assert "The backup root's volume %s filled up" % tmpfs_root in alerts[0]["text"]
    after = count_memories(pg)
    assert after == before
    record_fault("ENOSPC mid-set (tmpfs backup root filled by another writer)", before, after,
                 "backup failed naming the volume and the fix, alerted, removed its .partial; the older set unchanged")
    print("ENOSPC case: %.1f s (filled %d bytes)" % (time.monotonic() - started, filled))
