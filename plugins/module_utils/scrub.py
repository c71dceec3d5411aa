# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scrub of stored backup sets (issue 12, hole 6): every file of a set re-hashed against its manifest, its part
manifests read again, its custom-format dumps proved readable by ``pg_restore --list``; a set that fails is marked
with ``CORRUPTED.txt`` beside its data (module_utils.backup_set reads the mark: the set is then CORRUPTED, never good,
never counted toward keep, and restore's default choice passes over it). The set's own files are never rewritten.

``pg_restore --list`` reads the dump's header and table of contents, not its data blocks (a lab dump cut after its
table of contents still lists), so it costs milliseconds whatever the size; the data blocks are proved by their
sha256, which the scrub and the backup both check.

Used by mem0_backup_set_scrub (the scrub job and the backup's check of a new set's dumps).
"""

from __future__ import annotations

import os
import time

from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf

LIST_TOOL = ("pg_restore", "--list")
# How much of a dump is streamed into pg_restore --list in the container: its header and table of contents come first
# and take a few KiB (23 entries for mem0's database: a 64 KiB prefix of the 60 MB dump of 20k memories x 1536 dims
# lists); the exec's stdin stream costs seconds for megabytes the tool never reads (2.8 s for that whole dump, 2.6 s
# for a 4 MiB prefix, 0.1 s for this one). A table of contents longer than this is listed from the whole file.
LIST_PREFIX = 256 << 10
PREFIX_EOF = b"could not read from input file: end of file"
OK, CORRUPTED, ALREADY, SKIPPED = "ok", "corrupted", "already marked", "skipped"


def custom_dumps(set_path: str, data: dict) -> list:
    """The custom-format dumps of a set (paths relative to it): the files of its postgres part manifest of format
    custom (every database's dump), as pgvector_dump records them."""
    if not bset.dotted(data, "parts.postgres.present"):
        return []
    try:
        part = mf.read_manifest(os.path.join(set_path, "postgres", mf.MANIFEST_NAME))
    except mf.ManifestError:
        return []
    return [os.path.join("postgres", name) for name in dump_names(part)]


def dump_names(part: dict) -> list:
    """The custom-format dumps a pgvector_dump manifest names: its files of format custom and the dumps of the
    cluster's other databases (``databases``)."""
    out = []
    for entry in list(part.get("files") or []) + list(part.get("databases") or []):
        if entry.get("format") == "custom" or (entry.get("format") is None and entry.get("name", "").endswith(".dump")):
            out.append(entry["name"])
    return out


def part_problems(set_path: str, data: dict) -> list:
    """Each part the set holds must still have a readable manifest of its kind."""
    problems = []
    for part in bset.present_parts(data):
        kind = bset.PART_KINDS.get(part)
        if kind is None:
            continue
        try:
            part_data = mf.read_manifest(os.path.join(set_path, part, mf.MANIFEST_NAME))
        except mf.ManifestError as exc:
            problems.append("%s/%s: unreadable: %s" % (part, mf.MANIFEST_NAME, exc))
            continue
        if part_data.get("kind") != kind:
            problems.append("%s/%s: a %r manifest, not a %s one" % (part, mf.MANIFEST_NAME, part_data.get("kind"), kind))
    return problems


def dump_problems(set_path: str, names: list, lister) -> list:
    """``pg_restore --list`` of each dump (``lister(path)`` returns "" or the tool's complaint)."""
    problems = []
    for name in names:
        path = os.path.join(set_path, name)
        if not os.path.isfile(path):
            problems.append("%s: missing" % name)
            continue
        complaint = lister(path)
        if complaint:
            problems.append("%s: pg_restore --list cannot read it: %s" % (name, complaint))
    return problems


def scrub_set(entry: dict, lister=None) -> dict:
    """One listed set (module_utils.backup_set.scan) checked again: {verdict, problems, files, bytes, seconds}.

    A set already marked keeps its mark (verdict ``already marked``); a set without a readable backup set manifest
    is not one the tools made or can judge (verdict ``skipped``, never marked); any other set is ``ok`` or
    ``corrupted``. ``lister`` runs pg_restore --list (None: not checked)."""
    started = time.monotonic()
    out = {"verdict": OK, "problems": [], "files": 0, "bytes": 0, "seconds": 0.0}
    if entry["status"] == bset.STATUS_CORRUPTED:
        out.update(verdict=ALREADY, problems=list(entry["problems"]))
        return out
    data = entry.get("_manifest")
    if data is None:
        out.update(verdict=SKIPPED, problems=list(entry["problems"]) or ["no readable backup set manifest"])
        return out
    files = data.get("files") or []
    out["files"] = len(files)
    out["bytes"] = sum(int(f.get("size") or 0) for f in files)
    problems = bset.verify_set(data, entry["path"])
    problems += part_problems(entry["path"], data)
    if lister is not None:
        broken = {p.split(":", 1)[0] for p in problems}
        problems += dump_problems(entry["path"], [n for n in custom_dumps(entry["path"], data) if n not in broken],
                                  lister)
    out["problems"] = problems
    out["verdict"] = CORRUPTED if problems else OK
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


def mark(set_path: str, problems: list, marked_at: str) -> str:
    """Write the mark beside the set's data (0600, atomically); returns its path. Nothing of the set is rewritten."""
    marker = os.path.join(set_path, bset.CORRUPTED_MARKER)
    mf.write_text_atomic(marker, bset.corruption_text(problems, marked_at))
    return marker


def progress_line(index: int, total: int, entry: dict, result: dict) -> str:
    """One line of the progress file per set, as it is checked."""
    head = "%s %d/%d %s/%s: %s" % (mf.utc_now(), index, total, entry["tier"], entry["timestamp"], result["verdict"])
    if result["verdict"] in (OK, CORRUPTED):
        head += " (%d files, %s, %.1f s)" % (result["files"], bset.human(result["bytes"]), result["seconds"])
    if result["verdict"] != OK and result["problems"]:
        head += ": " + "; ".join(result["problems"][:3])
    return head


def summary(root: str, results: list, marked: list, check_mode: bool, list_note: str, seconds: float) -> list:
    """Lines a person can read at 02:30: the counts, then each corrupted or skipped set with why."""
    count = dict((verdict, sum(1 for dummy, r in results if r["verdict"] == verdict))
                 for verdict in (OK, CORRUPTED, ALREADY, SKIPPED))
    lines = ["scrub of %s: %d set(s), %s re-hashed in %.1f s: %d ok, %d corrupted%s, %d already marked, %d skipped"
             % (root, len(results), bset.human(sum(r["bytes"] for dummy, r in results)), seconds, count[OK],
                count[CORRUPTED], " (check mode: none marked)" if check_mode and count[CORRUPTED] else
                (" (%d newly marked)" % len(marked) if marked else ""), count[ALREADY], count[SKIPPED])]
    lines.append("  custom dumps: %s" % list_note)
    for entry, result in results:
        if result["verdict"] == OK:
            continue
        why = "; ".join(result["problems"][:3]) or "-"
        lines.append("  %s %s/%s: %s" % (result["verdict"].upper(), entry["tier"], entry["timestamp"], why))
    if count[CORRUPTED] or count[ALREADY]:
        lines.append("  a corrupted set keeps its data and gets %s: never good, never counted toward keep; restore "
                     "takes the next valid set and says why" % bset.CORRUPTED_MARKER)
    return lines
