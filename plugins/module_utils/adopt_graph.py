# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The graph part of an adopted old set: the old script's Neo4j tar (``neo4j/mem0_neo4j_<ts>.tar.gz``, a tar of
Neo4j's data directory taken while Neo4j ran).

Here: reading the tar's member list in one streaming pass (which also proves its gzip integrity), finding the
directory in it that holds Neo4j's ``databases/`` and ``transactions/`` (the owner's tar may hold ``data/``,
``neo4j/data/`` or the directory's contents at its top), refusing unsafe members (absolute names, ``..``, links that
leave the tree, device files), extracting the data directory into a scratch directory of the adoption (never next to
the original, which is only read), and the one line that says why a graph part is absent. The throwaway Neo4j that
starts on the copy is run by the role (community.docker); the wait for it and the counts are in the module
mem0_backup_adopt_graph; the export is neo4j_export's, exactly as a backup writes it.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import re
import shutil
import tarfile
import zlib

from ansible_collections.mem0ops.stack.plugins.module_utils.backup_set import ADOPTED_TIER, human

# The scratch copy of one set's data directory: <backup_root>/adopted/.<ts>.neo4j-scratch (a dot name: the set
# listing and the rotation look at <ts> and .<ts>.partial only).
SCRATCH_SUFFIX = ".neo4j-scratch"
SCRATCH_RE = re.compile(r"^\.(\d{8}_\d{6})\.neo4j-scratch$")
CONTAINER_PREFIX = "mem0ops_adopt_neo4j_"
CONTAINER_LABEL = "mem0ops.adopt"
STORE_DIRS = ("databases", "transactions")
UNSAFE_LISTED = 3
CHUNK = 1 << 20
# Neo4j's log lines that say why it did not start, best first.
LOG_PATTERNS = (re.compile(r"\bERROR\b"), re.compile(r"Caused by:"), re.compile(r"Exception|[Ff]ailed|[Ee]rror"))
LOG_LINE_LIMIT = 300


class GraphTarError(Exception):
    """The tar cannot be adopted; the message says why, on one line."""


def scratch_path(backup_root: str, stamp: str) -> str:
    return os.path.join(backup_root, ADOPTED_TIER, "." + stamp + SCRATCH_SUFFIX)


def container_name(stamp: str) -> str:
    return CONTAINER_PREFIX + stamp


def leftover_scratches(backup_root: str) -> list:
    """The scratch directories an interrupted adoption left under <backup_root>/adopted/."""
    tier = os.path.join(backup_root, ADOPTED_TIER)
    if not os.path.isdir(tier):
        return []
    return sorted(os.path.join(tier, name) for name in os.listdir(tier) if SCRATCH_RE.match(name))


def member_name(name: str) -> str:
    """A member's name without leading ``./`` and trailing ``/``."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def unsafe_reason(member) -> str | None:
    """Why extracting this member could write outside the scratch directory or make a device, or None."""
    raw = member.name
    name = member_name(raw)
    if raw.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", raw):
        return "%s has an absolute name" % raw
    if ".." in name.split("/"):
        return "%s leaves the tree (..)" % raw
    if member.ischr() or member.isblk() or member.isfifo():
        return "%s is a device or FIFO" % raw
    if member.issym():
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            return "%s is a symbolic link out of the tree (-> %s)" % (raw, target)
    if member.islnk():
        target = member_name(member.linkname)
        if member.linkname.startswith("/") or ".." in target.split("/"):
            return "%s is a hard link out of the tree (-> %s)" % (raw, member.linkname)
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "%s is of an unknown type %r" % (raw, member.type)
    return None


def find_prefix(names) -> str | None:
    """The directory (relative, "" for the tar's top) that holds both ``databases/`` and ``transactions/``, the
    shallowest when there are several; None when there is none."""
    dirs = set()
    for name in names:
        parts = member_name(name).split("/")
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    found = []
    for path in dirs:
        base, leaf = posixpath.split(path)
        if leaf == STORE_DIRS[0] and posixpath.join(base, STORE_DIRS[1]) in dirs:
            found.append(base)
    if not found:
        return None
    return sorted(found, key=lambda p: (p.count("/") + (1 if p else 0), p))[0]


@contextlib.contextmanager
def open_tar(path: str):
    """(the gzip stream, the tar read from it in stream mode). tarfile's own r|gz skips a member's data in blocks of
    10 KiB, each decompressed apart: five times slower on a data directory's 256 MiB preallocated transaction logs."""
    with gzip.open(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        yield stream, archive


def inspect_tar(path: str) -> dict:
    """One streaming pass over the tar: its size, gzip integrity, members, unsafe members, the data directory in it
    (``prefix``) and its databases; ``problem`` is the one line that says why it cannot be started (None: it may)."""
    out = {"path": path, "size": os.path.getsize(path), "gzip_ok": False, "members": 0, "bytes": 0, "prefix": None,
           "databases": [], "unsafe": [], "problem": None}
    names = []
    try:
        with open_tar(path) as (stream, archive):
            for member in archive:
                out["members"] += 1
                out["bytes"] += member.size if member.isfile() else 0
                why = unsafe_reason(member)
                if why:
                    out["unsafe"].append(why)
                names.append(member.name + ("/" if member.isdir() else ""))
            # to the end of the gzip stream, past the tar's end marker: its CRC and length are checked there
            while stream.read(CHUNK):
                pass
        out["gzip_ok"] = True
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        detail = str(exc) or type(exc).__name__
        out["problem"] = ("%s is not a whole gzip'd tar (%s): it is corrupt or was cut short"
                          % (os.path.basename(path), detail))
        return out
    prefix = find_prefix(names)
    out["prefix"] = prefix
    if prefix is not None:
        base = (prefix + "/" if prefix else "") + STORE_DIRS[0] + "/"
        # a database is a directory under databases/ (store_lock beside them is a file)
        paths = [member_name(n) + ("/" if n.endswith("/") else "") for n in names]
        out["databases"] = sorted({p[len(base):].split("/")[0] for p in paths
                                   if p.startswith(base) and "/" in p[len(base):]})
    if out["unsafe"]:
        more = len(out["unsafe"]) - UNSAFE_LISTED
        out["problem"] = ("%s holds unsafe members, so it is not extracted: %s%s"
                          % (os.path.basename(path), "; ".join(out["unsafe"][:UNSAFE_LISTED]),
                             " (and %d more)" % more if more > 0 else ""))
    elif prefix is None:
        out["problem"] = ("%s holds no Neo4j data directory (no directory with both databases/ and transactions/ in "
                          "its %d members)" % (os.path.basename(path), out["members"]))
    elif "neo4j" not in out["databases"]:
        out["problem"] = ("%s holds Neo4j's data directory %s but no database 'neo4j' in it (databases: %s)"
                          % (os.path.basename(path), prefix or "(the top)", ", ".join(out["databases"]) or "none"))
    return out


def prediction(facts: dict) -> str:
    """The check-mode line for a tar."""
    head = "%s %s, gzip %s" % (os.path.basename(facts["path"]), human(facts["size"]), "ok" if facts["gzip_ok"] else "BAD")
    if facts["problem"]:
        return "%s: the graph part would be absent: %s" % (head, facts["problem"])
    return ("%s, Neo4j data directory %s (databases %s, %s uncompressed): would be started in a throwaway Neo4j on a "
            "copy, counted and exported" % (head, facts["prefix"] or "(the top)", ", ".join(facts["databases"]),
                                            human(facts["bytes"])))


def extract(path: str, prefix: str, dest: str) -> dict:
    """The members under ``prefix`` extracted into the new directory ``dest`` (the prefix stripped), directories
    0700 and files 0600 (the data is private); refuses any unsafe member again (the tar is read a second time).
    Returns {files, bytes}."""
    os.makedirs(dest, mode=0o700)
    base = prefix + "/" if prefix else ""
    files = size = 0
    with open_tar(path) as (dummy, archive):
        for member in archive:
            why = unsafe_reason(member)
            if why:
                raise GraphTarError("%s holds unsafe members, so it is not extracted: %s" % (os.path.basename(path), why))
            name = member_name(member.name)
            if not name.startswith(base) or name == prefix:
                continue
            rel = name[len(base):]
            target = os.path.join(dest, *rel.split("/"))
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o700)
            if member.isdir():
                if not os.path.isdir(target):
                    os.mkdir(target, 0o700)
            elif member.issym():
                os.symlink(member.linkname, target)
            elif member.islnk():
                link = member_name(member.linkname)
                if not link.startswith(base):
                    raise GraphTarError("%s: the hard link %s points outside the data directory (%s)"
                                        % (os.path.basename(path), member.name, member.linkname))
                os.link(os.path.join(dest, *link[len(base):].split("/")), target)
            else:
                source = archive.extractfile(member)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    shutil.copyfileobj(source, handle, CHUNK)
                files += 1
                size += member.size
    return {"files": files, "bytes": size}


def remove_tree(path: str) -> bool:
    """Remove a scratch directory (after Neo4j, as root in its container, made it its own); True when it existed."""
    if not os.path.lexists(path):
        return False
    if not SCRATCH_RE.match(os.path.basename(path.rstrip("/"))):
        raise GraphTarError("%s is not a scratch directory of the adoption (.<ts>%s): not removed"
                            % (path, SCRATCH_SUFFIX))
    shutil.rmtree(path)
    return True


def log_line(text: str) -> str | None:
    """The line of a log tail that says best why Neo4j did not start, or None."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for pattern in LOG_PATTERNS:
        for line in reversed(lines):
            if pattern.search(line):
                return line[:LOG_LINE_LIMIT]
    return None


def not_started(name: str, what: str, log_text: str = "") -> str:
    """absent_parts.neo4j for a tar whose store did not start, on one line."""
    line = log_line(log_text)
    return ("the Neo4j tar %s was extracted but its store did not start in a throwaway Neo4j: %s%s; the tar is kept in "
            "source/" % (name, what, " (log: %s)" % line if line else ""))


def not_adopted(problem: str) -> str:
    """absent_parts.neo4j for a tar that was not started (the problem names the tar), on one line."""
    return "the Neo4j tar is not adopted: %s; it is kept in source/" % problem
