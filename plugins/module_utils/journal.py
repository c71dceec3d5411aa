# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The journal of a destructive run (issue 12, hole 2): reset and restore write, before their first change, what they
are doing, where their safety set is, and the exact commands that resume or roll them back; they update its phase as
they go and remove it when they end (done, or rolled back). A journal that is still there when another run starts
means a run was killed midway (SIGKILL, a closed lid, a power cut): that run refuses and prints the journal's commands.

One file per stack: ``<backup_root>/journal/<stack>.json``, mode 0600, written atomically (temporary file, fsync,
rename), so a journal is never half written. It holds no secret.

Fields: stack, playbook, host, pid, started (ISO 8601 UTC), updated, phase, safety_set (path or ""), target_set
(path or ""), resume (command), rollback (command), changing (bool: whether data was touched yet).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone

DIRECTORY = "journal"
FIELDS = ("stack", "playbook", "host", "pid", "started", "updated", "phase", "safety_set", "target_set", "resume",
          "rollback", "changing")


def journal_path(backup_root: str, stack: str) -> str:
    """Where the journal of ``stack`` lives."""
    return os.path.join(backup_root, DIRECTORY, "%s.json" % stack)


def read_object(path: str) -> dict | None:
    """A small JSON object file of a run (a journal, a lock): None when there is none, ``{"unreadable": True}`` when it
    is not a JSON object (cut short, overwritten), so that the caller never takes a damaged file for an absent one."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"unreadable": True}


def write_temporary(directory: str, prefix: str, data: dict, mode: int) -> str:
    """``data`` as JSON in a new temporary file of ``directory``, complete and flushed to disk, with ``mode``: the
    caller puts it in place with os.replace (or os.link, to create it only where there is none), so that a reader
    never sees half a file (a journal, a lock). Returns its path; nothing is left when writing fails."""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def read_journal(backup_root: str, stack: str) -> dict | None:
    """The unfinished run's journal, or None when there is none. A journal that cannot be parsed is still an
    unfinished run: it is returned with ``phase: unreadable`` and its path, never ignored."""
    path = journal_path(backup_root, stack)
    data = read_object(path)
    if data is None:
        return None
    if data.get("unreadable"):
        data = {"stack": stack, "phase": "unreadable"}
    data["path"] = path
    return data


def write_journal(backup_root: str, stack: str, entry: dict) -> dict:
    """Write (or replace) the journal atomically; returns what was written, with ``updated`` set now."""
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise ValueError("unknown journal fields: %s" % ", ".join(unknown))
    data = dict(entry, stack=stack, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    path = journal_path(backup_root, stack)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = write_temporary(directory, ".%s." % stack, data, 0o600)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return data


def clear_journal(backup_root: str, stack: str) -> bool:
    """Remove the journal (the run ended); True when there was one."""
    try:
        os.unlink(journal_path(backup_root, stack))
    except FileNotFoundError:
        return False
    return True


def refusal(journal: dict) -> list:
    """The lines a run prints when it finds an unfinished journal: what was interrupted, and the way out."""
    lines = ["an unfinished %s of stack %s was interrupted in phase '%s' (started %s by pid %s on %s; journal %s); "
             "nothing was changed by this run."
             % (journal.get("playbook", "run"), journal.get("stack", "?"), journal.get("phase", "?"),
                journal.get("started", "?"), journal.get("pid", "?"), journal.get("host", "?"), journal.get("path", ""))]
    if journal.get("safety_set"):
        lines.append("Its safety backup (the state before it changed anything): %s" % journal["safety_set"])
    if journal.get("resume"):
        lines.append("To finish it: %s" % journal["resume"])
    if journal.get("rollback"):
        lines.append("To put back the state before it: %s" % journal["rollback"])
    if not journal.get("resume") and not journal.get("rollback"):
        lines.append("Inspect the stack, then remove %s to go on." % journal.get("path", "the journal"))
    return lines
