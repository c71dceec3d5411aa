# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stack's SQLite databases (mem0's history.db, OpenMemory's openmemory.db): recognise them, open them
read-only, count their rows, and copy them live with SQLite's online backup API."""

from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import quote

from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import (
    MANIFEST_NAME, commit_file, fsync_dir, new_manifest, partial_path, sha256_file, write_json_atomic)
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import quote_ident  # the one SQL identifier rule

SQLITE_MAGIC = b"SQLite format 3\x00"
PAGES_PER_STEP = 1024
BUSY_TIMEOUT = 30.0
SIDE_FILES = ("-wal", "-shm", "-journal")


class SqliteBackupError(Exception):
    """An online backup could not be made or does not pass its check."""


def is_sqlite(path: str) -> bool:
    """True when the file starts with SQLite's header."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def connect_ro(path: str, timeout: float = BUSY_TIMEOUT):
    """A read-only connection (mode=ro: nothing is written, not even a journal)."""
    return sqlite3.connect("file:%s?mode=ro" % quote(os.path.abspath(path)), uri=True, timeout=timeout)


def open_source(path: str):
    """Read-only when SQLite allows it; a database in WAL mode without its -shm file needs a normal open."""
    try:
        conn = connect_ro(path)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(path, timeout=BUSY_TIMEOUT)


def table_rows(conn) -> dict:
    """Table name -> rows, for every table that is not SQLite's own, in name order."""
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return dict((name, conn.execute("SELECT count(*) FROM %s" % quote_ident(name)).fetchone()[0]) for name in names)


def count_rows(path: str) -> dict:
    """{path, exists, tables: {name: rows}, rows} of a database, read-only; exists=false when there is no file."""
    result = {"path": path, "exists": os.path.exists(path), "tables": {}, "rows": 0}
    if not result["exists"]:
        return result
    conn = connect_ro(path)
    try:
        result["tables"] = table_rows(conn)
    finally:
        conn.close()
    result["rows"] = sum(result["tables"].values())
    return result


def backup_one(source: str, dest_dir: str, name: str) -> dict:
    """Copy one live database page by page to dest_dir/name, check it, and return its manifest entry."""
    final = os.path.join(dest_dir, name)
    partial = partial_path(final)
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
    check = connect_ro(partial)
    try:
        integrity = [row[0] for row in check.execute("PRAGMA integrity_check").fetchall()]
        tables = table_rows(check)
        page_count = check.execute("PRAGMA page_count").fetchone()[0]
    finally:
        check.close()
    if integrity != ["ok"]:
        os.unlink(partial)
        raise SqliteBackupError("the online backup of %s fails PRAGMA integrity_check: %s" % (source, "; ".join(integrity[:5])))
    commit_file(partial, final)
    return {"name": name, "size": os.path.getsize(final), "sha256": sha256_file(final), "source": source,
            "tables": tables, "integrity": "ok", "page_count": page_count, "journal_mode": journal_mode,
            "seconds": round(time.monotonic() - started, 3)}


def plan_backup(candidates: list) -> tuple:
    """([(source, name)], skipped): the candidates that are SQLite databases, each once, with a unique name."""
    seen, planned, skipped = set(), [], []
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        if not os.path.isfile(candidate) or not is_sqlite(candidate):
            skipped.append(candidate)
            continue
        name = os.path.basename(candidate)
        if any(entry[1] == name for entry in planned):
            name = "%s_%s" % (os.path.basename(os.path.dirname(candidate)), name)
        planned.append((candidate, name))
    return planned, skipped


def backup_databases(dest_dir: str, candidates: list) -> dict:
    """Copy every candidate that is an SQLite database into dest_dir and write dest_dir/manifest.json.

    Returns {files, skipped, duration_seconds}; raises SqliteBackupError naming the database that failed.
    """
    started = time.monotonic()
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    planned, skipped = plan_backup(candidates)
    files = []
    for source, name in planned:
        try:
            files.append(backup_one(source, dest_dir, name))
        except (sqlite3.Error, OSError) as exc:
            raise SqliteBackupError("cannot back up %s online: %s" % (source, exc))
        except SqliteBackupError as exc:
            raise SqliteBackupError("cannot back up %s online: %s" % (source, exc))
    manifest = new_manifest("sqlite_backup")
    manifest.update({
        "method": "sqlite3 online backup API (Connection.backup)",
        "files": files, "skipped": skipped,
        "databases": dict((entry["name"], {"source": entry["source"], "tables": entry["tables"], "integrity": entry["integrity"]})
                          for entry in files),
        "duration_seconds": round(time.monotonic() - started, 3),
    })
    write_json_atomic(os.path.join(dest_dir, MANIFEST_NAME), manifest)
    fsync_dir(dest_dir)
    return {"files": files, "skipped": skipped, "duration_seconds": manifest["duration_seconds"]}
