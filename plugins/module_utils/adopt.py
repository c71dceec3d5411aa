# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The owner's old backups, adopted as backup sets of this collection.

The old script wrote ``<root>/{hourly,daily,weekly,monthly}/<YYYYmmdd_HHMMSS>/`` holding
``postgres/mem0_<ts>.sql.gz`` (plain SQL from ``pg_dump | gzip -9``, a pipe that hid pg_dump's exit code),
``neo4j/mem0_neo4j_<ts>.tar.gz`` (a tar of Neo4j's /data taken while it ran), and sometimes ``<file>.sha256`` beside a
file. Here: finding those sets, proving their files without loading them (gzip integrity, the .sha256, pg_dump's
closing line), linking them into an adopted set, loading the SQL into a throwaway database, and the summary.

An adopted set is a normal set of the tier ``adopted`` (module_utils.backup_set), its PostgreSQL part written by
pgvector_dump from the throwaway database; its manifest's ``adopted`` key records the source files and their sha256.
An original file is never changed, moved or deleted: it is hard-linked (else copied) and only read.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zlib

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.backup_set import (
    ADOPTED_TIER, KIND, final_path, human, is_timestamp, partial_path)

OLD_TIERS = ("hourly", "daily", "weekly", "monthly")
PG_FILE = "postgres/mem0_%s.sql.gz"
NEO4J_FILE = "neo4j/mem0_neo4j_%s.tar.gz"
CHECKSUM_SUFFIX = ".sha256"
# The last line pg_dump writes into a plain-SQL dump; a dump without it was cut short.
DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
TAIL_BYTES = 512
CHUNK = 1 << 20
SOURCE_DIR = "source"
THROWAWAY_PREFIX = "mem0ops_adopt_"
# Left out of the SQL before it is loaded, as pg_restore --no-owner --no-privileges would: the old cluster's roles
# (mem0_user before the incident) do not exist in the new one, and ON_ERROR_STOP would stop at the first of them.
# The rows of a COPY block (up to its \. line) pass untouched, whatever they hold.
OWNERSHIP_FILTER = (r"/^COPY .* FROM stdin;$/,/^\\\.$/b; "
                    r"/^ALTER [A-Z ]+ .* OWNER TO .*;$/d; /^(GRANT|REVOKE) .*;$/d; /^ALTER DEFAULT PRIVILEGES /d")
# pg_dump's closing line becomes a transaction-local setting as it passes, and LOAD_CHECK, sent after the dump,
# fails the load without it: the load proves the dump whole in the same pass (no second decompression).
COMPLETE_MARK = (r"s/^-- PostgreSQL database dump complete$/"
                 r"SELECT pg_catalog.set_config('mem0ops.dump_complete', 'on', true);/")
LOAD_FILTER = OWNERSHIP_FILTER + "; " + COMPLETE_MARK
LOAD_CHECK = ("DO $mem0ops$ BEGIN IF current_setting('mem0ops.dump_complete', true) IS DISTINCT FROM 'on' THEN "
              "RAISE EXCEPTION 'mem0ops: the dump does not end with pg_dump''s closing line'; END IF; END $mem0ops$;")
# Run with bash -c: $1 the .sql.gz, $2 the database, $3 the filter, $4 the check, then psql and its connection
# arguments; pipefail so that a failing gunzip (its CRC and length check: a corrupt or truncated file) or sed fails
# the load too. The check is sent even then: after a cut-off stream it fails psql's transaction as well.
LOAD_SCRIPT = ('set -o pipefail; { gunzip -c -- "$1" | sed -E "$3"; rc=$?; printf \'%s\\n\' "$4"; exit $rc; } | '
               '"${@:5}" -X -q -v ON_ERROR_STOP=1 --single-transaction -o /dev/null -d "$2"')
# The format of a plain-SQL part (the old .sql.gz kept as the adopted set's PostgreSQL part), loaded by
# pgvector_restore the way the adoption loads it (load_argv).
PLAIN_FORMAT = "plain"
PLAIN_COMPRESSION = "gzip"
PART_KIND = "pgvector_dump"

VERDICT_ADOPTED = "ADOPTED"
VERDICT_QUARANTINED = "QUARANTINED"
VERDICT_ALREADY = "already adopted"
VERDICT_TAKEN = "not adopted"


class AdoptError(Exception):
    """A failure with a message that says what happened and what to do."""


# --- finding the old sets -----------------------------------------------------------------------------------

def old_set_files(path: str, stamp: str) -> dict:
    """The files of an old-layout set: ``postgres`` and ``neo4j`` (relative names, or None), ``others`` (every other
    file, relative, sorted: checksum and metadata files)."""
    pg, neo = PG_FILE % stamp, NEO4J_FILE % stamp
    others = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), path)
            if rel not in (pg, neo):
                others.append(rel)
    return {"postgres": pg if os.path.isfile(os.path.join(path, pg)) else None,
            "neo4j": neo if os.path.isfile(os.path.join(path, neo)) else None, "others": others}


def is_old_set(path: str) -> bool:
    """A directory named YYYYmmdd_HHMMSS, without a set manifest, holding the old script's dump or tar."""
    stamp = os.path.basename(path.rstrip("/"))
    if not is_timestamp(stamp) or os.path.islink(path) or not os.path.isdir(path):
        return False
    if os.path.exists(os.path.join(path, mf.MANIFEST_NAME)):
        return False
    files = old_set_files(path, stamp)
    return bool(files["postgres"] or files["neo4j"])


def discover(roots) -> list:
    """Every old-layout set under each root (a backup root with tier directories, or one set's directory), oldest
    first, each {path, root, tier, timestamp, files}; a path found twice is listed once."""
    found, seen = [], set()
    for root in roots:
        root = os.path.abspath(root.rstrip("/") or "/")
        candidates = []
        if is_old_set(root):
            candidates.append((os.path.dirname(root), os.path.basename(os.path.dirname(root)), root))
        for tier in OLD_TIERS:
            tier_dir = os.path.join(root, tier)
            if os.path.isdir(tier_dir) and not os.path.islink(tier_dir):
                candidates.extend((root, tier, os.path.join(tier_dir, name)) for name in sorted(os.listdir(tier_dir)))
        for base, tier, path in candidates:
            real = os.path.realpath(path)
            if real in seen or not is_old_set(path):
                continue
            seen.add(real)
            stamp = os.path.basename(path)
            found.append({"path": path, "root": base, "tier": tier, "timestamp": stamp,
                          "files": old_set_files(path, stamp)})
    found.sort(key=lambda s: (s["timestamp"], s["tier"], s["path"]))
    return found


# --- proving a file without loading it ----------------------------------------------------------------------

def read_checksum_file(path: str):
    """The sha256 a ``<file>.sha256`` holds (``<hex>`` or ``<hex>  <name>``, as sha256sum writes), or None when it
    holds none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(4096)
    except OSError:
        return None
    match = re.match(r"^\s*([0-9a-fA-F]{64})\b", text)
    return match.group(1).lower() if match else None


def gzip_scan(path: str) -> dict:
    """One pass over a gzip file: its sha256, whether it decompresses to the end of its last member, the bytes it
    decompresses to, and whether the text ends with pg_dump's closing line."""
    digest = hashlib.sha256()
    out = {"sha256": None, "gzip_ok": False, "gzip_error": None, "uncompressed_bytes": 0, "dump_complete": False,
           "size": os.path.getsize(path)}
    tail = b""
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    in_member, members, error = False, 0, None
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            data = chunk
            while data and error is None:
                if not in_member and not data.strip(b"\0"):
                    break  # zeros after the last member: gzip ignores them too
                in_member = True
                try:
                    text = decomp.decompress(data)
                except zlib.error as exc:
                    error = "not a valid gzip stream (%s)" % exc
                    break
                out["uncompressed_bytes"] += len(text)
                tail = (tail + text)[-TAIL_BYTES:]
                data = b""
                if decomp.eof:
                    members += 1
                    in_member = False
                    data = decomp.unused_data
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out["sha256"] = digest.hexdigest()
    if error is None and in_member:
        error = "the gzip stream ends before its end marker: the file is truncated"
    elif error is None and not members:
        error = "the file is empty" if not out["size"] else "the file holds no gzip stream"
    out["gzip_error"] = error
    out["gzip_ok"] = error is None
    out["dump_complete"] = error is None and DUMP_COMPLETE in tail
    return out


def prove_file(set_path: str, rel: str, others: list, scan: bool = True) -> dict:
    """What can be known of one file of an old set without loading it: size, sha256, its .sha256 file's verdict, and
    for a .gz file (with ``scan``) its gzip integrity (and, for the SQL, pg_dump's closing line)."""
    path = os.path.join(set_path, rel)
    if rel.endswith(".gz") and scan:
        entry = gzip_scan(path)
    else:
        entry = {"size": os.path.getsize(path), "sha256": mf.sha256_file(path)}
    entry.update(name=rel, checksum_file=None, checksum_ok=None)
    if rel + CHECKSUM_SUFFIX in others:
        entry["checksum_file"] = rel + CHECKSUM_SUFFIX
        expected = read_checksum_file(os.path.join(set_path, rel + CHECKSUM_SUFFIX))
        entry["checksum_expected"] = expected
        entry["checksum_ok"] = expected == entry["sha256"] if expected else False
    return entry


def file_problems(entry: dict, what: str) -> list:
    """Why a proven file cannot be adopted, one line each (empty: it may be loaded)."""
    problems = []
    name = entry["name"]
    if entry.get("checksum_ok") is False:
        if entry.get("checksum_expected"):
            problems.append("%s has sha256 %s, its %s says %s: the file changed after it was written"
                            % (name, entry["sha256"][:12] + "...", entry["checksum_file"],
                               entry["checksum_expected"][:12] + "..."))
        else:
            problems.append("%s holds no sha256" % entry["checksum_file"])
    if "gzip_ok" in entry and not entry["gzip_ok"]:
        problems.append("%s is not a whole gzip file: %s" % (name, entry["gzip_error"]))
    elif what == "postgres" and "gzip_ok" in entry and not entry["dump_complete"]:
        problems.append("%s does not end with pg_dump's closing line ('%s'): pg_dump failed or was cut short (the "
                        "old script's pipe hid its exit code)" % (name, DUMP_COMPLETE.decode()))
    return problems


def prove_set(found: dict, scan: bool = True) -> dict:
    """Every file of an old set proven; ``problems`` says why its PostgreSQL dump cannot be loaded (empty: it may).
    Without ``scan`` the .gz files are only hashed: the adoption's load proves the dump's gzip integrity and closing
    line in the same pass (load_argv), and gzip_scan explains a load that failed."""
    files = found["files"]
    proven, problems = [], []
    for what in ("postgres", "neo4j"):
        if files[what]:
            entry = prove_file(found["path"], files[what], files["others"], scan)
            entry["part"] = what
            proven.append(entry)
            if what == "postgres":
                problems.extend(file_problems(entry, what))
    for rel in files["others"]:
        entry = prove_file(found["path"], rel, [])
        entry["part"] = "other"
        proven.append(entry)
    if not files["postgres"]:
        problems.append("the set holds no PostgreSQL dump (%s)" % (PG_FILE % found["timestamp"]))
    return {"files": proven, "problems": problems}


# --- what is adopted already --------------------------------------------------------------------------------

def adopted_record(backup_root: str, stamp: str):
    """The manifest of the adopted set of that timestamp, or None when there is none."""
    path = final_path(backup_root, ADOPTED_TIER, stamp)
    try:
        data = mf.read_manifest(path)
    except mf.ManifestError:
        return None
    return data if data.get("kind") == KIND else None


def pg_sha256(files: list):
    return next((f["sha256"] for f in files if f.get("part") == "postgres"), None)


def adoption_state(found: dict, backup_root: str, source_sha256=None) -> dict:
    """Whether the old set is adopted already: {state: pending | adopted | same_dump | taken, path, manifest}.

    ``same_dump``: another old set (a weekly copy of a daily run) with the same dump was adopted under this
    timestamp; ``taken``: another old set with another dump was, so this one cannot be adopted under its name.
    """
    data = adopted_record(backup_root, found["timestamp"])
    path = final_path(backup_root, ADOPTED_TIER, found["timestamp"])
    if data is None:
        return {"state": "pending", "path": path, "manifest": None}
    source = (data.get("adopted") or {}).get("source")
    if source and os.path.realpath(source) == os.path.realpath(found["path"]):
        return {"state": "adopted", "path": path, "manifest": data}
    theirs = pg_sha256((data.get("adopted") or {}).get("files") or [])
    if source_sha256 and theirs == source_sha256:
        return {"state": "same_dump", "path": path, "manifest": data}
    return {"state": "taken", "path": path, "manifest": data}


# --- linking ------------------------------------------------------------------------------------------------

def link_or_copy(src: str, dest: str) -> str:
    """Hard-link src to dest (``hardlink``), else copy it (``copy``: another filesystem, or links refused)."""
    os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
    try:
        os.link(src, dest)
        return "hardlink"
    except OSError:
        shutil.copyfile(src, dest)
        return "copy"


def start_partial(backup_root: str, stamp: str) -> str:
    """A new, empty partial directory for the adopted set (a left-over of an interrupted adoption is removed: it
    holds links and copies only)."""
    final = final_path(backup_root, ADOPTED_TIER, stamp)
    if os.path.lexists(final):
        raise AdoptError("%s already exists: a set is never overwritten" % final)
    partial = partial_path(backup_root, ADOPTED_TIER, stamp)
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    os.makedirs(partial, mode=0o700)
    return partial


def link_sources(found: dict, proven: list, partial: str) -> list:
    """Every file of the old set linked (or copied) under ``source/``, checked against the sha256 proven before;
    returns the manifest's list of source files."""
    out = []
    for entry in proven:
        src = os.path.join(found["path"], entry["name"])
        dest = os.path.join(partial, SOURCE_DIR, entry["name"])
        how = link_or_copy(src, dest)
        if how == "copy" and mf.sha256_file(dest) != entry["sha256"]:
            raise AdoptError("the copy of %s in %s does not match the original's sha256: the original is being "
                             "written to; adopt it again later" % (src, dest))
        record = {"name": entry["name"], "path": src, "size": entry["size"], "sha256": entry["sha256"], "stored_as": how,
                  "part": entry["part"]}
        for key in ("gzip_ok", "gzip_error", "uncompressed_bytes", "dump_complete", "checksum_file", "checksum_ok"):
            if key in entry:
                record[key] = entry[key]
        out.append(record)
    return out


def absent_parts(found: dict) -> dict:
    """Why an adopted set holds no graph, history or configuration part."""
    neo = found["files"]["neo4j"]
    return {
        "neo4j": ("an old-layout Neo4j tar is not yet adopted: %s/%s (a copy of Neo4j's /data taken while it ran) "
                  "is kept as it is" % (SOURCE_DIR, neo)) if neo else "the old set holds no Neo4j tar",
        "history": "the old backup script kept no copy of mem0's history.db",
        "config": "the old backup script kept no configuration",
    }


def throwaway_name(stamp: str) -> str:
    return THROWAWAY_PREFIX + stamp


def load_argv(staged: str, database: str, psql: list) -> list:
    """``bash -c`` that loads the plain-SQL .sql.gz into the database with ON_ERROR_STOP in one transaction, the
    ownership statements left out; it fails on a corrupt or truncated gzip file and on a dump without pg_dump's
    closing line. ``psql`` is the client and its connection arguments."""
    return ["bash", "-c", LOAD_SCRIPT, "mem0ops-adopt", staged, database, LOAD_FILTER, LOAD_CHECK, *psql]


def pg_dump_version(head: bytes):
    """The pg_dump version a plain-SQL dump names in its header (``-- Dumped by pg_dump version 17.5``), or None."""
    match = re.search(rb"^-- Dumped by pg_dump version (\d+(?:\.\d+)*)", head, re.M)
    return match.group(1).decode() if match else None


def read_head(path: str, size: int = 4096) -> bytes:
    """The first bytes a gzip file decompresses to (empty when it does not decompress)."""
    try:
        with open(path, "rb") as handle:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(handle.read(size * 4), size)
    except (OSError, zlib.error):
        return b""


def postgres_part(name: str, entry: dict, loaded: dict) -> dict:
    """The manifest of an adopted set's PostgreSQL part: the old plain-SQL .sql.gz itself (``name``, hard-linked
    into ``postgres/``), described as pgvector_dump describes its dumps, so that the set's gate, the embedding check
    and pgvector_restore read it like any other; ``loaded`` holds what the load proved (counts, vector_tables,
    database, user, server facts)."""
    data = mf.new_manifest(PART_KIND)
    data.update({
        "status": mf.STATUS_VALID, "problems": [],
        "files": [{"name": name, "size": entry["size"], "sha256": entry["sha256"], "format": PLAIN_FORMAT,
                   "compression": PLAIN_COMPRESSION, "loader": "filtered psql (module_utils.adopt.load_argv)"}],
        "database": loaded.get("database"), "user": loaded.get("user"),
        "server_version": loaded.get("server_version"), "server_version_num": loaded.get("server_version_num"),
        "pgvector_version": loaded.get("pgvector_version"), "system_identifier": None,
        "pg_dump_version": loaded.get("pg_dump_version"), "connect_via": loaded.get("connect_via"),
        "snapshot": {"id": None, "consistent": None},
        "collection": loaded["collection"], "namespace_prefix": loaded.get("namespace_prefix"),
        "counts": loaded["counts"], "vector_tables": loaded["vector_tables"],
        "scope": "stack", "databases": [], "roles": None,
        "adopted": {"source_file": entry["name"], "proven_by": "its load into a throwaway database"},
        "bytes": entry["size"], "duration_seconds": (loaded.get("load") or {}).get("seconds"),
    })
    return data


def shape(vector_tables: list, collection: str) -> str:
    """mem0's data shape: 2.x keeps its entities in a second vector table."""
    names = {t["table"] for t in vector_tables}
    return "mem0 2.x (%s_entities)" % collection if "%s_entities" % collection in names else "mem0 1.x"


# --- the summary --------------------------------------------------------------------------------------------

def dims_text(tables) -> str:
    out = []
    for table in tables or []:
        dims = "/".join("%s" % d for d in table.get("observed_dims") or []) or \
            ("%s" % table["declared_dims"] if table.get("declared_dims") else "?")
        out.append("%s %s (%d rows)" % (table["table"], dims, table.get("rows") or 0))
    return ", ".join(out) or "no vector table"


def counts_text(manifest: dict) -> str:
    memories = (manifest.get("counts") or {}).get("memories") or {}
    per_ns = memories.get("per_namespace") or {}
    text = "%s memories" % memories.get("total", 0)
    if per_ns:
        text += " (%s)" % ", ".join("%s %d" % (ns or "(none)", n) for ns, n in sorted(per_ns.items()))
    return text


def verdict(state: dict, before=()) -> str:
    if state["state"] == "pending":
        return "pending"
    if state["state"] == "taken":
        return VERDICT_TAKEN
    status = (state["manifest"] or {}).get("status")
    word = VERDICT_ADOPTED if status == mf.STATUS_VALID else VERDICT_QUARANTINED
    if state["state"] == "same_dump" or state["path"] in before:
        return "%s (%s)" % (VERDICT_ALREADY, word)
    return word


def set_lines(entry: dict) -> list:
    """The summary lines of one old set, as listed by mem0_backup_adopt_info."""
    head = "%s/%s (%s): %s" % (entry["tier"], entry["timestamp"], entry["path"], entry["verdict"])
    lines = [head]
    sizes = ", ".join("%s %s%s%s" % (f["name"], human(f["size"]),
                                     "" if f.get("gzip_ok") is None else (", gzip ok" if f["gzip_ok"] else ", gzip BAD"),
                                     "" if f.get("checksum_ok") is None else
                                     (", sha256 ok" if f["checksum_ok"] else ", sha256 MISMATCH"))
                      for f in entry.get("files") or [] if f.get("part") in ("postgres", "neo4j"))
    if sizes:
        lines.append("    files: %s" % sizes)
    data = entry.get("manifest")
    if data:
        adopted = data.get("adopted") or {}
        if adopted.get("load"):
            found = (entry["adopted_path"], counts_text(data), dims_text(adopted.get("vector_tables")),
                     adopted.get("shape") or "-")
            lines.append("    as %s: %s; %s; %s" % found)
        else:
            lines.append("    as %s: not loaded" % entry["adopted_path"])
        if data.get("status") != mf.STATUS_VALID:
            lines.extend("    reason: %s" % p for p in data.get("problems") or [])
    elif entry.get("problems"):
        lines.extend("    would be QUARANTINED: %s" % p for p in entry["problems"])
    elif entry["verdict"] == "pending":
        lines.append("    would be loaded into a throwaway database, counted and adopted as %s" % entry["adopted_path"])
    return lines
