# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Count the rows of every table of an SQLite database, read-only.

Usage: sqlite_rows.py PATH

Prints {"path", "exists", "tables": {name: rows}, "rows"} as JSON. A database that does not exist is reported
with exists=false and no rows. The database is opened with mode=ro, so nothing is written, not even a journal.
Exits 1 with a message on stderr when the file exists but cannot be read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from urllib.parse import quote


def count_rows(path: str) -> dict:
    result = {"path": path, "exists": os.path.exists(path), "tables": {}, "rows": 0}
    if not result["exists"]:
        return result
    conn = sqlite3.connect("file:%s?mode=ro" % quote(os.path.abspath(path)), uri=True, timeout=30)
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for name in sorted(names):
            result["tables"][name] = conn.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()[0]
    finally:
        conn.close()
    result["rows"] = sum(result["tables"].values())
    return result


def main(argv: list) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: sqlite_rows.py PATH\n")
        return 2
    try:
        print(json.dumps(count_rows(argv[0]), sort_keys=True))
    except sqlite3.Error as exc:
        sys.stderr.write("cannot read %s: %s\n" % (argv[0], exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
