# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remove what one memory left in mem0's history.db: its history rows (by memory id) and the messages of a session scope.

The pruning is a self-contained program (PROGRAM, only the standard library) run with ``python -c``: inside the
container of the service that writes the database, so that SQLite's locking is that service's own (a bind mount seen
through a virtual machine, as on macOS, does not share locks with the host), or on the managed host with the module's
own Python. The rest of the stack's SQLite handling (recognising, counting, online backups) is module_utils.sqlite.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ansible_collections.mem0ops.stack.plugins.module_utils.docker_api import (
    ContainerError, docker, engine, exec_output, running_container)

# argv[1]: JSON {path, scope (null: the messages are left alone), memory_ids, delete (false: only count)}.
# Prints {"exists", "history", "messages"}: the rows deleted, or that would be. A missing file is never created.
PROGRAM = r'''
import json, os, sqlite3, sys
from urllib.parse import quote
req = json.loads(sys.argv[1])
out = {"exists": os.path.exists(req["path"]), "history": 0, "messages": 0}
if out["exists"]:
    conn = sqlite3.connect("file:%s?mode=rw" % quote(os.path.abspath(req["path"])), uri=True, timeout=30)
    try:
        tables = set(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        work = []
        if "history" in tables and req["memory_ids"]:
            marks = ",".join("?" * len(req["memory_ids"]))
            work.append(("history", "FROM history WHERE memory_id IN (%s)" % marks, req["memory_ids"]))
        if "messages" in tables and req["scope"] is not None:
            work.append(("messages", "FROM messages WHERE session_scope = ?", [req["scope"]]))
        with conn:
            for key, where, args in work:
                if req["delete"]:
                    out[key] = conn.execute("DELETE " + where, args).rowcount
                else:
                    out[key] = conn.execute("SELECT count(*) " + where, args).fetchone()[0]
    finally:
        conn.close()
print(json.dumps(out))
'''


class PruneError(Exception):
    """The pruning could not run, or failed; the message says where and why."""


def request(path: str, memory_ids, scope=None, delete: bool = True) -> str:
    """The program's one argument."""
    return json.dumps({"path": path, "scope": scope, "memory_ids": [str(m) for m in memory_ids or []], "delete": bool(delete)})


def answer(rc: int, out: bytes, err: bytes, where: str) -> dict:
    """The program's answer as a dict, or PruneError naming where it ran and the last line of its error."""
    text = (err or b"").decode("utf-8", "replace").strip()
    if rc != 0:
        raise PruneError("the pruning failed %s (rc %s): %s" % (where, rc, text.splitlines()[-1] if text else "no output"))
    try:
        data = json.loads((out or b"").decode("utf-8", "replace"))
    except ValueError:
        raise PruneError("the pruning %s answered no JSON: %r" % (where, (out or b"")[:200]))
    return data


def prune_local(path: str, memory_ids, scope=None, delete: bool = True, python: str = "") -> dict:
    """Run the program on this host (with ``python``, default this Python)."""
    proc = subprocess.run([python or sys.executable, "-c", PROGRAM, request(path, memory_ids, scope, delete)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return answer(proc.returncode, proc.stdout, proc.stderr, "on the host")


def prune_in_container(docker_host: str, container: str, path: str, memory_ids, scope=None, delete: bool = True,
                       python: str = "python3") -> dict:
    """Run the program with ``python`` inside ``container`` through the Docker API."""
    where = "in container %s" % container
    try:
        client = engine(docker_host)
        try:
            code, out, err = exec_output(running_container(client, container),
                                         [python, "-c", PROGRAM, request(path, memory_ids, scope, delete)])
        finally:
            client.close()
    except ContainerError as exc:
        raise PruneError(str(exc))
    except docker.errors.DockerException as exc:
        raise PruneError("cannot run %s %s: %s" % (python, where, exc))
    return answer(code, out, err, where)
