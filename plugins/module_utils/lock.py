# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stack-wide lock (issue 12, hole 1): every playbook that writes (backup, reset, restore, drill, adopt, re-embed,
health's auto-restore) holds it for its whole run, so no two of them run at once.

One file per stack: ``<backup_root>/lock/<stack>.lock``, JSON, mode 0644 (no secret in it): stack, host, pid (of the
controlling ``ansible-playbook``, found by walking the module's parent processes; None when the module does not run
under it, e.g. over SSH), pid_started (the pid's start time, so a reused pid is not taken for the holder), playbook,
run_id, started, depth (how often the same run entered it).

A holder is **dead** when its host is this host and its pid is gone (or is another process now): the lock is taken
over, saying so. A holder on another host (or of unknown pid) cannot be checked: it is taken over once its lock is
older than a stale limit. The file appears complete or not at all (written to a temporary file, then hard-linked to
its name, which fails when it exists), and a takeover renames the dead holder's file aside first, so of two runs that
find the same dead holder only one takes the lock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from datetime import datetime, timezone

from ansible_collections.mem0ops.stack.plugins.module_utils import journal as journal_utils

DIRECTORY = "lock"
CONTROLLER_NAMES = ("ansible-playbook",)


class LockBusy(Exception):
    """The lock is held by another run still alive after the wait; ``lines`` say by whom and the way out."""

    def __init__(self, lines, holder):
        super().__init__(" ".join(lines))
        self.lines = lines
        self.holder = holder


class JournalRefusal(Exception):
    """An unfinished destructive run's journal exists; ``lines`` are its refusal."""

    def __init__(self, lines, journal):
        super().__init__(" ".join(lines))
        self.lines = lines
        self.journal = journal


def lock_path(backup_root: str, stack: str) -> str:
    """Where the lock of ``stack`` lives."""
    return os.path.join(backup_root, DIRECTORY, "%s.lock" % stack)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# Processes: parent, command line, start time; /proc on Linux, ps elsewhere (macOS).

def _proc_stat(pid: int):
    with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[19]  # ppid, starttime (clock ticks since boot)


def _ps(pid: int, field: str) -> str:
    proc = subprocess.run(["ps", "-o", "%s=" % field, "-p", str(pid)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise OSError("no process %d" % pid)
    return proc.stdout.strip()


def parent_of(pid: int):
    """The parent pid of ``pid``, or None when it is gone."""
    try:
        if os.path.isdir("/proc/self"):
            return _proc_stat(pid)[0]
        return int(_ps(pid, "ppid"))
    except (OSError, ValueError):
        return None


def command_of(pid: int) -> list:
    """The argument vector of ``pid`` ([] when it is gone or unreadable)."""
    try:
        if os.path.isdir("/proc/self"):
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                return [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
        return _ps(pid, "command").split()
    except (OSError, ValueError):
        return []


def started_of(pid: int):
    """A token of when ``pid`` started (None when it is gone): a reused pid has another."""
    try:
        if os.path.isdir("/proc/self"):
            return "ticks:%s" % _proc_stat(pid)[1]
        return _ps(pid, "lstart")
    except (OSError, ValueError):
        return None


def alive(pid, started) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs on this host."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except (OSError, ValueError):
        return False
    return not started or started_of(int(pid)) in (None, started)


def is_controller(argv: list) -> bool:
    """Whether an argument vector is ansible-playbook's (run directly or as ``python .../ansible-playbook``)."""
    return any(os.path.basename(part) in CONTROLLER_NAMES for part in argv[:3])


def controller_pid(start=None, parent=parent_of, command=command_of):
    """The pid of the ansible-playbook process that controls this run: the outermost of the ansible-playbook
    processes among our ancestors (its task workers are forks of it with the same command line). None when the
    module does not run under ansible-playbook (a connection over SSH)."""
    pid = os.getpid() if start is None else start
    found = None
    seen = set()
    while pid and pid > 1 and pid not in seen:
        seen.add(pid)
        if is_controller(command(pid)):
            found = pid
        elif found is not None:
            break
        pid = parent(pid)
    return found


def identity(run_id: str = "", playbook: str = "", stack: str = "") -> dict:
    """Who we are: host, controller pid and its start, playbook, run id."""
    pid = controller_pid()
    return {"stack": stack, "host": socket.gethostname(), "pid": pid, "pid_started": started_of(pid) if pid else None,
            "playbook": playbook, "run_id": run_id}


def read_lock(backup_root: str, stack: str):
    """The lock's holder, or None when the lock is free. An unreadable lock file is returned as a holder with
    ``unreadable: True`` (and its age), never ignored."""
    path = lock_path(backup_root, stack)
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    data = journal_utils.read_object(path)
    if data is None:  # left between the two reads
        return None
    data["path"] = path
    data["age_seconds"] = max(0, int(time.time() - mtime))
    return data


def same_run(holder: dict, me: dict) -> bool:
    """Whether the holder is this very run (re-entry): the same run id when both have one, else the same controller
    on this host."""
    if holder.get("unreadable"):
        return False
    if me.get("run_id") and holder.get("run_id"):
        return holder["run_id"] == me["run_id"]
    return bool(me.get("pid")) and holder.get("host") == me["host"] and holder.get("pid") == me["pid"] \
        and holder.get("pid_started") == me.get("pid_started")


def holder_state(holder: dict, me: dict, stale_seconds: int) -> tuple:
    """('alive'|'dead'|'stale', why) of a holder that is not this run."""
    if holder.get("unreadable"):
        if holder["age_seconds"] > 60:
            return "stale", "its lock file %s cannot be read and is %d s old" % (holder["path"], holder["age_seconds"])
        return "alive", "its lock file is being written"
    if holder.get("host") == me["host"] and holder.get("pid"):
        if alive(holder["pid"], holder.get("pid_started")):
            return "alive", ""
        return "dead", "its pid %s is no longer running on %s" % (holder["pid"], me["host"])
    if holder["age_seconds"] > stale_seconds:
        return "stale", "it holds the lock since %s (%d h), beyond the stale limit of %d h, and it cannot be " \
            "checked from %s" % (holder.get("started", "?"), holder["age_seconds"] // 3600, stale_seconds // 3600,
                                 me["host"])
    return "alive", ""


def describe(holder: dict) -> str:
    """The holder in words: playbook, pid, host, since when."""
    if holder.get("unreadable"):
        return "an unreadable lock file %s" % holder.get("path")
    return "%s (pid %s on %s, since %s)" % (holder.get("playbook") or "a run", holder.get("pid") or "unknown",
                                            holder.get("host", "?"), holder.get("started", "?"))


def _write_new(path: str, data: dict) -> bool:
    """Create the lock file complete or not at all; False when it exists."""
    temporary = journal_utils.write_temporary(os.path.dirname(path), ".lock.", data, 0o644)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def _rewrite(path: str, data: dict) -> None:
    """Replace the lock file of the run that holds it (its depth changed)."""
    temporary = journal_utils.write_temporary(os.path.dirname(path), ".lock.", data, 0o644)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _take_over(path: str, holder: dict) -> bool:
    """Move a dead holder's lock aside, if it is still the one we judged; True when we removed it."""
    aside = "%s.dead.%d" % (path, os.getpid())
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        with open(aside, encoding="utf-8") as handle:
            text = handle.read()
        now = json.loads(text) if text.strip() else {}
    except ValueError:
        now = {"unreadable": True}
    judged = {key: holder.get(key) for key in ("run_id", "pid", "pid_started", "host", "started", "unreadable")}
    if {key: now.get(key) for key in judged} != judged:
        try:  # another run took it meanwhile: give it back
            os.link(aside, path)
        except FileExistsError:
            pass
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True


def check_journal(backup_root: str, stack: str, allow_journal: bool):
    """The unfinished journal, or None. Raises JournalRefusal when one exists and this run is not its resume or
    rollback."""
    found = journal_utils.read_journal(backup_root, stack)
    if found is not None and not allow_journal:
        raise JournalRefusal(journal_utils.refusal(found) + [
            "Every run that writes (backup, reset, restore, drill, adopt, re-embed) refuses until it is finished "
            "or rolled back."], found)
    return found


def busy_lines(holder: dict, path: str, waited: float, stack: str) -> list:
    """What a run that waited in vain prints: the holder and the way out."""
    lines = ["stack %s is locked by %s; this run waited %d s for it and changed nothing."
             % (stack, describe(holder), waited)]
    if holder.get("pid"):
        lines.append("If that run is still working, let it finish and run again (or wait longer with -e lock_wait=<seconds>).")
        lines.append("If it is hung: stop it on %s (kill %s); the next run finds it gone and takes its lock over."
                     % (holder.get("host", "its host"), holder["pid"]))
    else:
        lines.append("If that run is still working, let it finish and run again (or wait longer with -e lock_wait=<seconds>).")
    lines.append("If no such run exists any more (its host was rebuilt), remove %s." % path)
    return lines


def acquire(backup_root: str, stack: str, me: dict, wait: float = 300, poll: float = 5, stale_seconds: int = 86400,
            allow_journal: bool = False, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Take the lock (or enter it again, for the same run). Returns {changed, reentered, took_over (the dead
    holder's description or ''), lock (what the file now holds), journal}. Raises LockBusy after ``wait`` seconds
    of a live holder, JournalRefusal when an unfinished journal exists (the lock is not kept then)."""
    path = lock_path(backup_root, stack)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    began = clock()
    took_over = ""
    while True:
        holder = read_lock(backup_root, stack)
        if holder is not None and same_run(holder, me):
            data = {key: value for key, value in holder.items() if key not in ("path", "age_seconds")}
            data["depth"] = int(data.get("depth", 1)) + 1
            _rewrite(path, data)
            return {"changed": True, "reentered": True, "took_over": "", "lock": data, "journal": None}
        if holder is None:
            data = dict(me, stack=stack, started=_now(), depth=1)
            if _write_new(path, data):
                try:
                    found = check_journal(backup_root, stack, allow_journal)
                except JournalRefusal:
                    release(backup_root, stack, me)
                    raise
                return {"changed": True, "reentered": False, "took_over": took_over, "lock": data, "journal": found}
            continue  # another run was quicker: look again
        state, why = holder_state(holder, me, stale_seconds)
        if state != "alive":
            if _take_over(path, holder):
                took_over = "took over the lock of %s: %s" % (describe(holder), why)
            continue
        waited = clock() - began
        if waited >= wait:
            raise LockBusy(busy_lines(holder, path, waited, stack), holder)
        sleep(max(0.1, min(poll, wait - waited)))


def release(backup_root: str, stack: str, me: dict) -> dict:
    """Leave the lock: the outermost entry of this run removes it. Returns {changed, released, holder, warning}."""
    path = lock_path(backup_root, stack)
    holder = read_lock(backup_root, stack)
    if holder is None:
        return {"changed": False, "released": False, "holder": {}, "warning": ""}
    if not same_run(holder, me):
        return {"changed": False, "released": False, "holder": holder,
                "warning": "the lock is not this run's: it is held by %s; left alone" % describe(holder)}
    depth = int(holder.get("depth", 1))
    if depth > 1:
        data = {key: value for key, value in holder.items() if key not in ("path", "age_seconds")}
        data["depth"] = depth - 1
        _rewrite(path, data)
        return {"changed": True, "released": False, "holder": data, "warning": ""}
    os.unlink(path)
    return {"changed": True, "released": True, "holder": {}, "warning": ""}


def query(backup_root: str, stack: str, me: dict, stale_seconds: int = 86400) -> dict:
    """What check mode shows: the holder (with whether it is alive) and the journal, changing nothing."""
    holder = read_lock(backup_root, stack)
    result = {"holder": holder or {}, "holder_state": "free", "journal": journal_utils.read_journal(backup_root, stack)}
    if holder is not None:
        result["holder_state"] = "this run" if same_run(holder, me) else holder_state(holder, me, stale_seconds)[0]
    return result
