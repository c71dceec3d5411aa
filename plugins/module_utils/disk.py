# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Disk headroom before a backup writes (issue 12, hole 7): the whole set's estimate must fit in the backup root's
free space, and when the backup root shares its filesystem with the stack's data root, the space left after the set
must stay above a floor (the owner's rule: alert below 10 GB free), so that a backup never fills the disk the live
databases write to.

Why a module_utils function (used by mem0_backup_set_info) and not ansible.builtin.setup's mounts: the same device is
decided by st_dev, which setup does not return, and a longest-prefix match of mount points in Jinja misses bind
mounts and symlinked roots (the Mac's /var -> /private/var); os.stat and shutil.disk_usage on the path itself do not.
"""

from __future__ import annotations

import os
import shutil

GB = 1024 ** 3  # as health counts the same floor (df -k / 1048576)
FIX = ("free space on {volume}, move backup_root to another volume than the data root, or lower the floor for this "
       "run (-e backup_min_free_gb=<GB>; the inventory's floor is mem0_stack.monitoring.disk_min_free_gb)")


def existing_ancestor(path: str) -> str:
    """``path`` itself or its nearest existing parent (a backup root or data root that is not created yet)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def mount_point(path: str) -> str:
    """The top directory of the filesystem that holds ``path`` (the volume named in the messages)."""
    path = os.path.realpath(existing_ancestor(path))
    device = os.stat(path).st_dev
    while True:
        parent = os.path.dirname(path)
        if parent == path or os.stat(parent).st_dev != device:
            return path
        path = parent


def device(path: str) -> int:
    """The st_dev of ``path`` (or of its nearest existing parent): equal devices are one filesystem."""
    return os.stat(existing_ancestor(path)).st_dev


def gb(size) -> str:
    return "%.1f GB" % (float(size) / GB)


def decide(volume: str, free_bytes: int, estimate_bytes: int, estimate_source: str, same_volume: bool,
           floor_bytes: int) -> str:
    """The refusal message, or "" when the set fits (and, on the data's volume, leaves more than the floor free)."""
    left = free_bytes - estimate_bytes
    if left < 0:
        why = "the set needs about %s (%s) and only %s is free" % (gb(estimate_bytes), estimate_source, gb(free_bytes))
    elif same_volume and left < floor_bytes:
        why = ("%s is free; after the set (about %s, %s) %s would be left on the volume the live databases write to "
               "(the data root is on it too), below the floor of %s"
               % (gb(free_bytes), gb(estimate_bytes), estimate_source, gb(left), gb(floor_bytes)))
    else:
        return ""
    return "Not enough disk for the backup on %s: %s. Fix: %s." % (volume, why, FIX.format(volume=volume))


def headroom(backup_root: str, data_root: str, min_free_gb: float, latest_good) -> dict:
    """Measure the backup root's volume and decide. The estimate is the last good set's size_bytes; with no good set
    it is 0 (the floor still holds) and pgvector_dump checks its own dump against the catalog's estimate."""
    where = existing_ancestor(backup_root)
    free_bytes = shutil.disk_usage(where).free
    same_volume = bool(data_root) and device(where) == device(data_root)
    size = (latest_good or {}).get("size_bytes")
    if isinstance(size, int) and size >= 0:
        estimate, source = size, "the size of the last good set %s" % latest_good["path"]
    else:
        estimate, source = 0, "no good set yet to estimate from; pgvector_dump checks its own dump's catalog estimate"
    floor_bytes = int(float(min_free_gb) * GB)
    volume = mount_point(where)
    return {"volume": volume, "free_bytes": free_bytes, "estimate_bytes": estimate, "estimate_source": source,
            "same_volume_as_data": same_volume, "floor_bytes": floor_bytes,
            "problem": decide(volume, free_bytes, estimate, source, same_volume, floor_bytes)}
