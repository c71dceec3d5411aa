# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Copy live SQLite databases (mem0's history.db, OpenMemory's openmemory.db) with SQLite's online backup API.

Usage: sqlite_online_backup.py DEST_DIR CANDIDATE...

Each CANDIDATE that exists and is an SQLite database is copied page by page through
``sqlite3.Connection.backup`` while the application keeps writing (the copy restarts by itself when the
source changes under it), never as a file copy, which can catch a half-written page or miss the journal.
Each copy is checked with ``PRAGMA integrity_check``, its tables are counted, and it is written under a
temporary name and renamed. DEST_DIR/manifest.json (format mem0ops.manifest/1, kind sqlite_backup) lists
every copy with its size and sha256. Candidates that do not exist or are not SQLite files are skipped.
Prints a JSON summary on stdout; exits 1 with a message on stderr on any failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from datetime import datetime, timezone
from urllib.parse import quote

SQLITE_MAGIC = b"SQLite format 3\x00"
PAGES_PER_STEP = 1024
BUSY_TIMEOUT = 30.0


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_sqlite(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def open_source(path):
    """Read-only when SQLite allows it; a database in WAL mode without its -shm file needs a normal open."""
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % quote(os.path.abspath(path)), uri=True, timeout=BUSY_TIMEOUT)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(path, timeout=BUSY_TIMEOUT)


def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_one(source, dest_dir, name):
    final = os.path.join(dest_dir, name)
    partial = os.path.join(dest_dir, ".%s.partial" % name)
    if os.path.exists(partial):
        os.unlink(partial)
    started = time.monotonic()
    src = open_source(source)
    try:
        journal_mode = src.execute("PRAGMA journal_mode").fetchone()[0]
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(partial, 0o600)
    check = sqlite3.connect("file:%s?mode=ro" % quote(os.path.abspath(partial)), uri=True)
    try:
        integrity = [row[0] for row in check.execute("PRAGMA integrity_check").fetchall()]
        tables = {}
        for (table,) in check.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                      "ORDER BY name").fetchall():
            tables[table] = check.execute('SELECT count(*) FROM "%s"' % table.replace('"', '""')).fetchone()[0]
        page_count = check.execute("PRAGMA page_count").fetchone()[0]
    finally:
        check.close()
    if integrity != ["ok"]:
        os.unlink(partial)
        raise RuntimeError("the online backup of %s fails PRAGMA integrity_check: %s" % (source, "; ".join(integrity[:5])))
    fsync(partial)
    os.replace(partial, final)
    return {"name": name, "size": os.path.getsize(final), "sha256": sha256_file(final), "source": source,
            "tables": tables, "integrity": "ok", "page_count": page_count, "journal_mode": journal_mode,
            "seconds": round(time.monotonic() - started, 3)}


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: sqlite_online_backup.py DEST_DIR CANDIDATE...\n")
        return 2
    dest_dir, candidates = argv[0], argv[1:]
    started = time.monotonic()
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    seen, files, skipped = set(), [], []
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        if not os.path.isfile(candidate) or not is_sqlite(candidate):
            skipped.append(candidate)
            continue
        name = os.path.basename(candidate)
        if any(entry["name"] == name for entry in files):
            name = "%s_%s" % (os.path.basename(os.path.dirname(candidate)), name)
        try:
            files.append(backup_one(candidate, dest_dir, name))
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            sys.stderr.write("cannot back up %s online: %s\n" % (candidate, exc))
            return 1
    manifest = {
        "format": "mem0ops.manifest/1", "kind": "sqlite_backup", "status": "valid", "problems": [],
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "method": "sqlite3 online backup API (Connection.backup)",
        "files": files, "skipped": skipped,
        "databases": {entry["name"]: {"source": entry["source"], "tables": entry["tables"], "integrity": entry["integrity"]}
                      for entry in files},
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    path = os.path.join(dest_dir, "manifest.json")
    partial = os.path.join(dest_dir, ".manifest.json.partial")
    with open(partial, "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(partial, 0o600)
    fsync(partial)
    os.replace(partial, path)
    fsync(dest_dir)
    sys.stdout.write(json.dumps({"changed": True, "files": files, "skipped": skipped,
                                 "duration_seconds": manifest["duration_seconds"]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
