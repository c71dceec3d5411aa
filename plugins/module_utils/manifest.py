# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Manifests: what a dump or export holds, with checksums, written so that a half-written file never
carries its final name."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "mem0ops.manifest/1"
STATUS_VALID = "valid"
STATUS_QUARANTINED = "quarantined"


class ManifestError(Exception):
    """A manifest or a file it names is missing, unreadable or does not match."""


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def sha256_file(path: str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: str, base_dir: str, sha256: str | None = None) -> dict:
    """The manifest entry of one file: its name relative to base_dir, size and sha256."""
    return {
        "name": os.path.relpath(path, base_dir),
        "size": os.path.getsize(path),
        "sha256": sha256 or sha256_file(path),
    }


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def partial_path(final_path: str) -> str:
    """The temporary name a file is written under until it is complete."""
    head, tail = os.path.split(final_path)
    return os.path.join(head, ".%s.partial" % tail)


def commit_file(tmp_path: str, final_path: str) -> None:
    """fsync a completely written temporary file, then rename it to its final name."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp_path, final_path)
    fsync_dir(os.path.dirname(os.path.abspath(final_path)))


def write_text_atomic(path: str, text: str, mode: int = 0o600) -> None:
    """Write a whole file under a temporary name in the same directory, then commit it to its name."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        commit_file(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str, data: dict, mode: int = 0o600) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def load_json(path: str, error=ManifestError, missing: str = "there is no file %s",
              unreadable: str = "cannot read %s: %s"):
    """The JSON document in a file; a missing or unreadable file raises `error` with the message given."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise error(missing % path)
    except (OSError, ValueError) as exc:
        raise error(unreadable % (path, exc))


def manifest_path(path: str) -> str:
    """Accept a manifest file or the directory that holds one."""
    return os.path.join(path, MANIFEST_NAME) if os.path.isdir(path) else path


def read_manifest(path: str) -> dict:
    path = manifest_path(path)
    data = load_json(path, missing="no manifest at %s: is this a backup made by mem0ops.stack?",
                     unreadable="cannot read the manifest %s: %s")
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ManifestError("%s is not a %s manifest" % (path, MANIFEST_FORMAT))
    return data


def verify_files(manifest: dict, base_dir: str) -> list:
    """Compare every file the manifest names with the disk; return the problems found (empty: all good)."""
    problems = []
    for entry in manifest.get("files", []):
        path = os.path.join(base_dir, entry["name"])
        if not os.path.isfile(path):
            problems.append("%s is missing" % entry["name"])
            continue
        size = os.path.getsize(path)
        if size != entry["size"]:
            problems.append("%s has %d bytes, the manifest says %d" % (entry["name"], size, entry["size"]))
            continue
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            problems.append("%s has sha256 %s, the manifest says %s" % (entry["name"], digest, entry["sha256"]))
    return problems


def new_manifest(kind: str) -> dict:
    return {"format": MANIFEST_FORMAT, "kind": kind, "created_at": utc_now(), "status": STATUS_VALID,
            "problems": [], "files": []}
