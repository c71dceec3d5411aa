# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remove the smoke test's traces from mem0's history.db, run inside the mem0 container (python -c).

Arguments: HISTORY_DB SESSION_SCOPE MEMORY_ID...

Deletes the rows of the table history whose memory_id is one of MEMORY_ID, and the rows of the table messages
(when it exists) whose session_scope is SESSION_SCOPE. It runs where mem0 runs, so SQLite's locking is the one mem0
uses (a bind mount seen through a virtual machine, as on macOS, does not share locks with the host).
Prints {"history": n, "messages": m} as JSON.
"""

import json
import sqlite3
import sys


def prune(path, scope, memory_ids):
    conn = sqlite3.connect(path, timeout=30)
    try:
        tables = set(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        removed = {"history": 0, "messages": 0}
        with conn:
            if "history" in tables and memory_ids:
                marks = ",".join("?" * len(memory_ids))
                removed["history"] = conn.execute("DELETE FROM history WHERE memory_id IN (%s)" % marks, memory_ids).rowcount
            if "messages" in tables:
                removed["messages"] = conn.execute("DELETE FROM messages WHERE session_scope = ?", (scope,)).rowcount
    finally:
        conn.close()
    return removed


if __name__ == "__main__":
    print(json.dumps(prune(sys.argv[1], sys.argv[2], sys.argv[3:])))
