# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup set: its layout and naming, the scan of a backup root, the selection of one set, the verification of
its files against its manifest, the comparison of restored counts with it, and the rotation plan.

A set is ``<backup_root>/<tier>/<YYYYmmdd_HHMMSS>/`` holding ``postgres/``, ``neo4j/``, ``history/``, ``config/`` and
``manifest.json``; it is written under ``<backup_root>/<tier>/.<YYYYmmdd_HHMMSS>.partial/`` and renamed when it is
finalised, so a directory with a final name is always complete.

Used by mem0_backup_set (finalise, gate, rotate, copy) and mem0_backup_set_info (list, select, verify).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf

KIND = "backup_set"
# The tier of the sets adopted from the owner's old backup script (module_utils.adopt): never rotated, never the
# baseline of a new set's gate.
ADOPTED_TIER = "adopted"
TIERS = ("hourly", "daily", "weekly", "monthly", "manual", "pre-reset", "pre-restore", ADOPTED_TIER)
DEFAULT_KEEP = {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "manual": 10, "pre-reset": 10, "pre-restore": 10,
                ADOPTED_TIER: 0}
PARTS = ("postgres", "neo4j", "history", "config")
PART_KINDS = {"postgres": "pgvector_dump", "neo4j": "neo4j_export", "history": "sqlite_backup"}
TIMESTAMP_RE = re.compile(r"^\d{8}_\d{6}$")
PARTIAL_RE = re.compile(r"^\.(\d{8}_\d{6})\.partial$")
TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
MARKER = "QUARANTINED.txt"
# The scrub's mark (module_utils.scrub): a file beside the set's data, never a rewrite of it; a set holding it is
# CORRUPTED, never good, never chosen by restore by default, and never counted toward keep.
CORRUPTED_MARKER = "CORRUPTED.txt"
STATUS_CORRUPTED = "corrupted"
STATUS_PLANNED = "planned"
STATUS_UNKNOWN = "unknown"
LISTED = 6


class SetError(Exception):
    """A failure with a message that says what happened and what to do."""


# --- layout and naming --------------------------------------------------------------------------------------

def parse_timestamp(name: str):
    try:
        return datetime.strptime(name, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def is_timestamp(name) -> bool:
    return bool(TIMESTAMP_RE.match("%s" % name)) and parse_timestamp(name) is not None


def final_path(root: str, tier: str, stamp: str) -> str:
    return os.path.join(root, tier, stamp)


def partial_path(root: str, tier: str, stamp: str) -> str:
    return os.path.join(root, tier, ".%s.partial" % stamp)


def set_dir(path: str) -> str:
    """A set's directory from its directory or its manifest.json, without trailing slashes."""
    path = re.sub(r"/manifest\.json$", "", "%s" % path)
    return re.sub(r"/+$", "", path) or path


def age_seconds(stamp: str, now: datetime) -> int:
    when = parse_timestamp(stamp)
    return None if when is None else int((now - when).total_seconds())


# --- small helpers ------------------------------------------------------------------------------------------

def dotted(data: dict, field: str):
    for key in field.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def percent(value) -> str:
    return ("%.1f" % value).rstrip("0").rstrip(".") if value != int(value) else "%d" % value


def short(value) -> str:
    text = "%s" % value
    return text[:12] + "..." if len(text) == 64 and re.match(r"^[0-9a-fA-F]+$", text) else text


def human(size) -> str:
    size = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return "%d B" % size if unit == "B" else "%.1f %s" % (size, unit)
        size /= 1024.0
    return "%d B" % size


def walk_files(base: str) -> list:
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(os.path.join(dirpath, name))
    return out


# --- scan ---------------------------------------------------------------------------------------------------

def describe_set(path: str, tier: str, timestamp: str) -> dict:
    """The set at ``path`` as listed: status, counts and problems from its manifest (kept under ``_manifest``)."""
    entry = {"path": path, "tier": tier, "timestamp": timestamp, "status": STATUS_UNKNOWN, "memories": None,
             "graph_nodes": None, "size_bytes": None, "created_at": None, "problems": [], "restore_needs": []}
    try:
        data = mf.read_manifest(path)
    except mf.ManifestError as exc:
        entry["problems"] = [str(exc)]
        return mark_corrupted(entry)
    if data.get("kind") != KIND:
        entry["problems"] = ["%s is a %r manifest, not a backup set manifest" % (mf.manifest_path(path), data.get("kind"))]
        return mark_corrupted(entry)
    status = data.get("status")
    entry["status"] = status if status in (mf.STATUS_VALID, mf.STATUS_QUARANTINED) else STATUS_UNKNOWN
    entry["memories"] = dotted(data, "counts.memories.total")
    entry["graph_nodes"] = dotted(data, "counts.graph.nodes")
    entry["size_bytes"] = data.get("size_bytes")
    entry["created_at"] = data.get("created_at")
    entry["problems"] = list(data.get("problems") or [])
    entry["restore_needs"] = list(data.get("restore_needs") or [])  # the flags restore will need (mem0_backup_set)
    entry["_manifest"] = data
    return mark_corrupted(entry)


def read_corruption(path: str):
    """The scrub's mark on the set at ``path`` ({marker, marked_at, problems}), None when it has none."""
    marker = os.path.join(path, CORRUPTED_MARKER)
    if not os.path.isfile(marker):
        return None
    try:
        with open(marker, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        text = ""
    problems = [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
    marked = re.search(r"^marked: (\S+)", text, re.M)
    return {"marker": marker, "marked_at": marked.group(1) if marked else None,
            "problems": problems or ["marked corrupted by the scrub (%s)" % marker]}


def mark_corrupted(entry: dict) -> dict:
    """A listed set with the scrub's mark gets status corrupted, whatever its manifest says; its problems first."""
    found = read_corruption(entry["path"])
    if found is not None:
        entry["status"] = STATUS_CORRUPTED
        entry["corrupted"] = {"marked_at": found["marked_at"], "marker": found["marker"]}
        entry["problems"] = ["corrupted: %s" % p for p in found["problems"]] + list(entry["problems"])
    return entry


def corruption_text(problems: list, marked_at: str) -> str:
    """The marker file's text: what the owner reads in the set's directory."""
    return ("This backup set is CORRUPTED: the scrub found that it no longer matches what was checked when it was "
            "taken.\nIt is kept for inspection but never counted as a good backup: restore does not choose it by "
            "default (it takes the next valid set and says why), the rotation never counts it toward keep, and it is "
            "never the baseline of a new set.\nDelete this directory by hand once you have looked at it (or keep it: "
            "nothing deletes it for you).\n\nmarked: %s\n\n" % marked_at + "".join("- %s\n" % p for p in problems))


def scan(root: str, now: float) -> tuple:
    """(sets, partials) under root, newest first. Only the tier directories are looked at."""
    sets, partials = [], []
    for tier in TIERS:
        tier_dir = os.path.join(root, tier)
        if not os.path.isdir(tier_dir) or os.path.islink(tier_dir):
            continue
        for name in os.listdir(tier_dir):
            path = os.path.join(tier_dir, name)
            if os.path.islink(path) or not os.path.isdir(path):
                continue
            match = PARTIAL_RE.match(name)
            if match and parse_timestamp(match.group(1)):
                mtime = max([os.path.getmtime(p) for p in walk_files(path)] + [os.path.getmtime(path)])
                partials.append({"path": path, "tier": tier, "timestamp": match.group(1), "status": "partial",
                                 "age_hours": round((now - mtime) / 3600.0, 2)})
            elif is_timestamp(name):
                sets.append(describe_set(path, tier, name))
    sets.sort(key=lambda s: (s["timestamp"], s["tier"]), reverse=True)
    partials.sort(key=lambda s: (s["timestamp"], s["tier"]), reverse=True)
    return sets, partials


def public(entry: dict) -> dict:
    return dict((k, v) for k, v in entry.items() if not k.startswith("_"))


def latest_good(sets: list, exclude=None, exclude_tiers=()):
    """The newest valid set (``sets`` newest first), not at ``exclude`` nor in ``exclude_tiers``."""
    for entry in sets:
        if entry["status"] == mf.STATUS_VALID and entry["path"] != exclude and entry["tier"] not in exclude_tiers:
            return entry
    return None


def good_description(entry):
    """A listed set with the paths of its manifests and its memories per namespace; None for None."""
    if entry is None:
        return None
    out = public(entry)
    out["manifest"] = os.path.join(entry["path"], mf.MANIFEST_NAME)
    for part in PARTS:
        out["%s_manifest" % part] = None
        if dotted(entry.get("_manifest", {}), "parts.%s.present" % part):
            candidate = os.path.join(entry["path"], part, mf.MANIFEST_NAME)
            out["%s_manifest" % part] = candidate if os.path.isfile(candidate) else None
    out["per_namespace"] = dotted(entry.get("_manifest", {}), "counts.memories.per_namespace")
    return out


def newest_listing(sets: list, count: int = LISTED) -> str:
    """'path status, ...' of the newest sets, or 'none', as the error messages print them."""
    return ", ".join("%s %s" % (s["path"], s["status"]) for s in sets[:count]) or "none"


# --- select -------------------------------------------------------------------------------------------------

def select(root: str, sets: list, wanted="", exclude_tiers=(), none_hint="") -> str:
    """The directory of the set asked for.

    ``wanted`` is a set's directory (or its manifest.json; anything starting with ``/``), a timestamp (the newest set
    of that name in any tier, a set with a readable manifest first: an old-layout directory of the same name is not
    one), or empty for the newest valid set outside ``exclude_tiers``. Raises SetError, naming
    the newest sets, when there is no such set.
    """
    wanted = "" if wanted is None else "%s" % wanted
    if wanted.startswith("/"):
        return set_dir(wanted)
    if wanted:
        named = [entry for entry in sets if entry["timestamp"] == wanted]
        for entry in sorted(named, key=lambda e: e["status"] == STATUS_UNKNOWN):
            return entry["path"]
        raise SetError("no backup set has the timestamp %s; the newest sets: %s" % (wanted, newest_listing(sets)))
    entry = latest_good(sets, exclude_tiers=exclude_tiers)
    if entry is not None:
        return entry["path"]
    text = "no valid backup set under %s" % root
    if exclude_tiers:
        text += " (tiers %s left out)" % ", ".join(exclude_tiers)
    if none_hint:
        text += ": %s" % none_hint
    raise SetError("%s; the newest sets: %s" % (text, newest_listing(sets)))


def fallback_choice(sets: list, exclude_tiers=(), check=None) -> tuple:
    """The default choice of a restore: the newest valid set outside ``exclude_tiers`` whose files pass ``check`` (a
    function of a listed set returning its problems; None checks nothing), and the newer sets passed over, each
    {path, why}: those marked corrupted by the scrub and those whose files failed ``check``. (None, skipped) when no
    set passes."""
    skipped = []
    for entry in sets:
        if entry["tier"] in exclude_tiers:
            continue
        if entry["status"] == STATUS_CORRUPTED:
            skipped.append({"path": entry["path"], "why": "marked CORRUPTED by the scrub%s: %s" % (
                " on %s" % entry["corrupted"]["marked_at"] if entry["corrupted"].get("marked_at") else "",
                "; ".join(entry["problems"][:3]))})
            continue
        if entry["status"] != mf.STATUS_VALID:
            continue
        problems = check(entry) if check else []
        if not problems:
            return entry, skipped
        skipped.append({"path": entry["path"], "why": "its files no longer match its checksums: %s%s" % (
            "; ".join(problems[:3]), " (and %d more)" % (len(problems) - 3) if len(problems) > 3 else "")})
    return None, skipped


def read_set_manifest(path: str) -> dict:
    """The set manifest at ``path``; SetError when it is unreadable or not a backup set manifest."""
    try:
        data = mf.read_manifest(os.path.join(path, mf.MANIFEST_NAME))
    except mf.ManifestError as exc:
        raise SetError(str(exc))
    if data.get("kind") != KIND:
        raise SetError("%s/manifest.json is not a backup set manifest (kind %s)" % (path, data.get("kind") or "none"))
    return data


def present_parts(data: dict) -> list:
    return [part for part in PARTS if dotted(data, "parts.%s.present" % part)]


def missing_parts(data: dict, required) -> list:
    present = present_parts(data)
    return [part for part in required or () if part not in present]


def left_alone_parts(data: dict, required) -> dict:
    """The parts of ``required`` an adopted set does not hold, each with the reason its manifest records
    (``parts.<part>.absent``): a restore leaves them alone and says why. Empty for a set of any other tier, and a part
    without a recorded reason is not in it (the set should hold that part: a restore refuses it)."""
    if data.get("tier") != ADOPTED_TIER or not data.get("adopted"):
        return {}
    out = {}
    for part in missing_parts(data, required):
        why = dotted(data, "parts.%s.absent" % part)
        if isinstance(why, str) and why.strip():
            out[part] = why.strip()
    return out


# --- verify -------------------------------------------------------------------------------------------------

def verify_set(data: dict, path: str) -> list:
    """Every file the set manifest names against the disk (size, then sha256); the problems, one per file, as
    ``name: missing`` or ``name: size N sha256 0123456789ab..., the manifest says size M sha256 ...``."""
    problems = []
    for entry in data.get("files") or []:
        name = entry["name"]
        target = os.path.join(path, name)
        if not os.path.isfile(target):
            problems.append("%s: missing" % name)
            continue
        size = os.path.getsize(target)
        digest = mf.sha256_file(target)
        if size != entry.get("size") or digest != entry.get("sha256"):
            problems.append("%s: size %d sha256 %s..., the manifest says size %s sha256 %s..."
                            % (name, size, digest[:12], entry.get("size"), ("%s" % entry.get("sha256"))[:12]))
    return problems


# --- compare ------------------------------------------------------------------------------------------------

def as_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def count_differences(data: dict, restored: dict, graph: bool = False, graph_users=None) -> list:
    """How counts restored from a set differ from its manifest, one line each.

    ``restored`` holds ``memories`` (total), ``per_namespace``, and with ``graph`` ``graph_nodes``,
    ``graph_relationships`` and ``graph_user_ids`` (nodes per user); ``graph_users`` is the nodes per user of the
    set's graph export manifest.
    """
    out = []
    memories = dotted(data, "counts.memories.total")
    memories = 0 if memories is None else memories
    want_ns = dotted(data, "counts.memories.per_namespace") or {}
    got_ns = restored.get("per_namespace") or {}
    if as_int(restored.get("memories")) != as_int(memories):
        out.append("memories: the set manifest says %s, the restored database holds %s" % (memories, restored.get("memories")))
    for ns in sorted(set(want_ns) | set(got_ns)):
        if as_int(want_ns.get(ns, 0)) != as_int(got_ns.get(ns, 0)):
            out.append("memories in namespace '%s': the set manifest says %s, the restored database holds %s"
                       % (ns, want_ns.get(ns, 0), got_ns.get(ns, 0)))
    if not graph:
        return out
    for key, label in (("nodes", "graph nodes"), ("relationships", "graph relationships")):
        want = dotted(data, "counts.graph.%s" % key)
        got = restored.get("graph_%s" % key)
        if want is not None and as_int(got) != as_int(want):
            out.append("%s: the set manifest says %s, the restored graph holds %s" % (label, want, got))
    want_users, got_users = graph_users or {}, restored.get("graph_user_ids") or {}
    for user in sorted(set(want_users) | set(got_users)):
        if as_int(want_users.get(user, 0)) != as_int(got_users.get(user, 0)):
            out.append("graph nodes of user '%s': the export manifest says %s, the restored graph holds %s"
                       % (user, want_users.get(user, 0), got_users.get(user, 0)))
    return out


# --- rotation -----------------------------------------------------------------------------------------------

def keep_counts(keep) -> dict:
    """The valid sets to keep per tier: the defaults, overridden by ``keep``; SetError on a bad value."""
    counts = dict(DEFAULT_KEEP)
    for tier, count in (keep or {}).items():
        if tier not in TIERS:
            raise SetError("keep names an unknown tier %r; the tiers are %s" % (tier, ", ".join(TIERS)))
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise SetError("keep.%s must be a number of sets; got %r" % (tier, count))
        if count < 0:
            raise SetError("keep.%s must not be negative; got %d" % (tier, count))
        counts[tier] = count
    return counts


def rotation_plan(sets: list, partials: list, keep: dict, keep_quarantined: int, keep_quarantined_days,
                  stale_partial_hours: float, now: datetime) -> tuple:
    """(delete, kept): lists of (entry, reason). Only valid sets count toward ``keep``."""
    delete, kept = [], []
    good = [s for s in sets if s["status"] == mf.STATUS_VALID]
    last_good = max(good, key=lambda s: (s["timestamp"], s["tier"])) if good else None
    for tier in TIERS:
        tier_sets = sorted((s for s in sets if s["tier"] == tier), key=lambda s: s["timestamp"], reverse=True)
        if tier == ADOPTED_TIER:
            kept.extend((entry, "adopted from the old backup script: rotation never deletes it") for entry in tier_sets)
            continue
        valid = [s for s in tier_sets if s["status"] == mf.STATUS_VALID]
        limit = keep.get(tier, DEFAULT_KEEP[tier])
        for index, entry in enumerate(valid):
            if index < limit:
                kept.append((entry, "one of the newest %d valid %s sets" % (limit, tier)))
            elif entry is last_good:
                kept.append((entry, "the last good set"))
            else:
                delete.append((entry, "valid, beyond keep %s=%d" % (tier, limit)))
        quarantined = [s for s in tier_sets if s["status"] == mf.STATUS_QUARANTINED]
        for index, entry in enumerate(quarantined):
            age_days = (now - parse_timestamp(entry["timestamp"])).total_seconds() / 86400.0
            if index == 0:
                kept.append((entry, "the newest quarantined %s set" % tier))
            elif index >= keep_quarantined:
                delete.append((entry, "quarantined, beyond keep_quarantined=%d" % keep_quarantined))
            elif keep_quarantined_days is not None and age_days > keep_quarantined_days:
                delete.append((entry, "quarantined, older than keep_quarantined_days=%d" % keep_quarantined_days))
            else:
                kept.append((entry, "quarantined, kept for inspection"))
        for entry in tier_sets:
            if entry["status"] == STATUS_CORRUPTED:
                kept.append((entry, "corrupted (marked by the scrub): kept for inspection, never counted toward keep"))
            elif entry["status"] not in (mf.STATUS_VALID, mf.STATUS_QUARANTINED):
                kept.append((entry, "no readable backup set manifest: never deleted by rotation"))
    for entry in partials:
        if entry["age_hours"] >= stale_partial_hours:
            delete.append((entry, "partial set not modified for %.1f hours (stale_partial_hours=%s)"
                           % (entry["age_hours"], percent(stale_partial_hours))))
    return delete, kept
