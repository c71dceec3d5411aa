#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_set_info
short_description: List mem0 backup sets, choose one and verify its files against its manifest
version_added: 0.1.0
description:
  - Lists the backup sets under O(backup_root) (as M(mem0ops.stack.mem0_backup_set) writes them) with their status,
    memory counts and problems, the partial sets, and the last good (valid) set.
  - With O(select=true) (the default), chooses one set - O(set) when given, a timestamp or a set's directory, else the
    newest valid set outside O(exclude_tiers) - reads its manifest and, with O(verify=true), checks the size and
    sha256 of every file it names.
  - It fails, naming the newest sets, when there is no such set or its manifest is not a backup set manifest. It does
    not fail for a quarantined set, a missing part or a file that does not verify; it returns RV(status),
    RV(missing_parts) and RV(file_problems) so that the caller can say what it refuses, in its own words.
  - Read-only; it never reports a change.
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  backup_root:
    description:
      - Directory that holds one directory per tier.
    type: path
    required: true
  select:
    description:
      - Whether to choose a set. V(false) only lists the sets (RV(sets), RV(partials), RV(latest_good)).
    type: bool
    default: true
  set:
    description:
      - The set to choose. A path (starting with C(/)) is a set's directory or its C(manifest.json); anything else is a
        timestamp C(YYYYmmdd_HHMMSS), the newest set of that name in any tier.
      - Empty, the newest valid set outside O(exclude_tiers) whose files match its checksums (with O(verify)); a set
        marked CORRUPTED by the scrub, or whose files fail the checksums now, is passed over for the next valid one,
        and RV(skipped) says why.
    type: str
    default: ""
  exclude_tiers:
    description:
      - Tiers left out when the newest valid set is chosen (for example the safety backups C(pre-restore) and
        C(pre-reset)). A set named by O(set) is chosen whatever its tier.
      - Brackets and quotes around the names are ignored, so that C(-e exclude_tiers=[pre-restore,pre-reset]) works.
    type: list
    elements: str
    default: []
  required_parts:
    description:
      - Parts the chosen set must hold; those it lacks are returned in RV(missing_parts).
      - An adopted set (tier C(adopted)) holds only the parts the old backup had; those its manifest records as absent,
        with the reason, are returned in RV(left_alone) as well.
    type: list
    elements: str
    choices: [postgres, neo4j, history, config]
    default: []
  verify:
    description:
      - Check the size and sha256 of every file the chosen set's manifest names (reads every file).
    type: bool
    default: true
  restored:
    description:
      - Counts restored from the chosen set (by a restore drill), compared with its manifest; the differences are
        returned in RV(differences).
      - C(memories) (the total) and C(per_namespace); with O(compare_graph) also C(graph_nodes),
        C(graph_relationships) and C(graph_user_ids) (nodes per user, compared with the graph export's manifest).
    type: dict
  compare_graph:
    description:
      - Compare the graph counts of O(restored) too.
    type: bool
    default: false
  none_hint:
    description:
      - What to add to the error when there is no valid set at all (for example what to do about it).
    type: str
    default: ""
  min_free_gb:
    description:
      - Check the disk before a backup writes (RV(disk)) - the whole set's estimate (the last good set's size) must fit
        in the free space of O(backup_root)'s volume, and when O(data_root) is on the same filesystem (same device),
        the space left after the set must stay above this many GB (2^30 bytes, as health counts them).
      - Unset, no disk check.
    type: float
  data_root:
    description:
      - The stack's data root (the live databases' volume), compared with O(backup_root) by device for O(min_free_gb).
    type: path
notes:
  - Set names are UTC timestamps; the newest set is the one with the greatest name.
seealso:
  - module: mem0ops.stack.mem0_backup_set
  - module: mem0ops.stack.mem0_backup_set_scrub
"""

EXAMPLES = r"""
- name: Choose the newest valid set (safety backups left out) and verify its checksums
  mem0ops.stack.mem0_backup_set_info:
    backup_root: "{{ mem0_stack.backup_root }}"
    exclude_tiers: [pre-restore, pre-reset]
    required_parts: [postgres, neo4j]
  register: chosen

- name: Refuse a set that does not verify
  ansible.builtin.fail:
    msg: "{{ ['the set ' ~ chosen.path ~ ' does not match its manifest:'] + chosen.file_problems }}"
  when: chosen.file_problems | length > 0

- name: Choose a set by its timestamp, without reading its files
  mem0ops.stack.mem0_backup_set_info:
    backup_root: /var/lib/mem0ops/backups
    set: "20261122_023000"
    verify: false

- name: Compare the counts restored from the set with its manifest
  mem0ops.stack.mem0_backup_set_info:
    backup_root: /var/lib/mem0ops/backups
    set: /var/lib/mem0ops/backups/daily/20261122_023000
    verify: false
    restored: {memories: 1968, per_namespace: {"mark_carey/sap": 678, "mark_carey/synovia": 1290}}
  register: compared

- name: Only list the sets and the last good one
  mem0ops.stack.mem0_backup_set_info:
    backup_root: /var/lib/mem0ops/backups
    select: false
  register: sets

- name: Check the disk before a backup writes, keeping 10 GB free on the databases' volume
  mem0ops.stack.mem0_backup_set_info:
    backup_root: /var/lib/mem0ops/backups
    data_root: /var/lib/mem0ops/data
    min_free_gb: 10
    select: false
  register: before_backup
  failed_when: before_backup.disk.problem | length > 0
"""

RETURN = r"""
sets:
  description: Every set, newest first, with path, tier, timestamp, status (V(valid), V(quarantined), V(corrupted) -
    marked by M(mem0ops.stack.mem0_backup_set_scrub), with C(corrupted.marked_at) - or V(unknown)),
    memories (the total), graph nodes, size, problems and restore_needs (the flags restore will need, as
    M(mem0ops.stack.mem0_backup_set) recorded them).
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, tier: daily, timestamp: "20261122_023000",
            status: valid, memories: 1968, graph_nodes: 70, size_bytes: 1214522, problems: []}]
partials:
  description: Partial sets (interrupted or running backups), with their age in hours.
  returned: always
  type: list
  elements: dict
  sample: []
latest_good:
  description: The newest valid set in any tier (as in RV(sets)), with the paths of its manifests and its memories
    per namespace; null when there is none.
  returned: always
  type: dict
  sample: {path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, tier: daily, status: valid, memories: 1968,
           manifest: /var/lib/mem0ops-lab/backups/daily/20261122_023000/manifest.json,
           postgres_manifest: /var/lib/mem0ops-lab/backups/daily/20261122_023000/postgres/manifest.json}
path:
  description: The chosen set's directory.
  returned: O(select=true)
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000
manifest:
  description: The chosen set's manifest.
  returned: O(select=true)
  type: dict
  sample: {kind: backup_set, status: valid, tier: daily, timestamp: "20261122_023000", counts: {}, files: []}
status:
  description: The chosen set's status, from its manifest; V(corrupted) when the scrub marked it (C(CORRUPTED.txt)), whatever its manifest says.
  returned: O(select=true)
  type: str
  sample: valid
problems:
  description: The problems the chosen set's manifest records (why it is quarantined).
  returned: O(select=true)
  type: list
  elements: str
  sample: []
missing_parts:
  description: The parts of O(required_parts) the chosen set does not hold.
  returned: O(select=true)
  type: list
  elements: str
  sample: []
left_alone:
  description: The parts of O(required_parts) an adopted set does not hold, each with the reason its manifest records
    (C(parts.<part>.absent)); a restore leaves them alone. Empty for a set of any other tier.
  returned: O(select=true)
  type: dict
  sample: {history: "the old backup script kept no copy of mem0's history.db"}
file_problems:
  description: One line per file that is missing or differs from the manifest in size or sha256; empty without
    O(verify).
  returned: O(select=true)
  type: list
  elements: str
  sample: ["postgres/mem0_20261122_023000.dump: size 10 sha256 0a1b2c3d4e5f..., the manifest says size 12 sha256
            9f8e7d6c5b4a..."]
verified:
  description: Whether the files were verified (O(verify)) and all matched; null without O(verify).
  returned: O(select=true)
  type: bool
  sample: true
files_verified:
  description: How many files were verified (0 without O(verify)).
  returned: O(select=true)
  type: int
  sample: 14
differences:
  description: With O(restored), one line per count that differs from the set's manifest; empty when all agree.
  returned: O(select=true) and O(restored) given
  type: list
  elements: str
  sample: ["memories in namespace 'mark_carey/sap': the set manifest says 678, the restored database holds 600"]
disk:
  description:
    - With O(min_free_gb), the disk check - the backup root's volume (its mount point), its free bytes, the estimate
      and where it came from (the last good set's size, else 0 with no good set, when
      M(mem0ops.stack.pgvector_dump) checks its own dump against the catalog's estimate), whether O(data_root) is on
      the same volume, the floor in bytes, and the problem (the refusal message naming the fix; empty when the set fits).
  returned: O(min_free_gb) given
  type: dict
  sample: {volume: /, free_bytes: 79456123904, estimate_bytes: 1214522, same_volume_as_data: true,
           estimate_source: the size of the last good set /var/lib/mem0ops-lab/backups/daily/20261122_023000,
           floor_bytes: 10737418240, problem: ""}
skipped:
  description:
    - With O(set) empty, the newer sets the default choice passed over, newest first, each with C(path) and C(why) -
      marked CORRUPTED by M(mem0ops.stack.mem0_backup_set_scrub), or (with O(verify)) its files no longer match its
      checksums - so that the caller can say why it restores an older set. Empty when the newest valid set was taken.
  returned: O(select=true)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000,
            why: "its files no longer match its checksums: postgres/mem0_20261122_023000.dump: size ..."}]
age_seconds:
  description: Seconds since the set was taken (from its timestamp); null when its name is not a timestamp.
  returned: O(select=true)
  type: int
  sample: 3600
"""

import os
import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import disk
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf


def run(params: dict, now: float) -> dict:
    """The result of the module; raises bset.SetError with the message to fail with."""
    sets, partials = bset.scan(params["backup_root"], now)
    result = {"changed": False, "sets": [bset.public(s) for s in sets], "partials": partials,
              "latest_good": bset.good_description(bset.latest_good(sets))}
    if params.get("min_free_gb") is not None:
        result["disk"] = disk.headroom(params["backup_root"], params.get("data_root") or "", params["min_free_gb"],
                                       bset.latest_good(sets, exclude_tiers=(bset.ADOPTED_TIER,)))
    if not params["select"]:
        return result
    result["skipped"] = []
    if params["set"]:
        path = bset.select(params["backup_root"], sets, params["set"], params["exclude_tiers"], params["none_hint"])
    else:  # the default choice falls back past corrupted sets, each passed over with the reason (issue 12, hole 6)
        entry, result["skipped"] = bset.fallback_choice(
            sets, params["exclude_tiers"],
            (lambda e: bset.verify_set(e["_manifest"], e["path"])) if params["verify"] else None)
        if entry is None and result["skipped"]:
            passed = "; ".join("%s %s" % (s["path"], s["why"]) for s in result["skipped"])
            raise bset.SetError("no valid backup set under %s whose files match its checksums: %s"
                                % (params["backup_root"], passed))
        path = entry["path"] if entry else bset.select(params["backup_root"], sets, "", params["exclude_tiers"],
                                                       params["none_hint"])
    result["path"] = path
    data = bset.read_set_manifest(path)
    problems = bset.verify_set(data, path) if params["verify"] else []
    corrupted = bset.read_corruption(path)  # the scrub's mark overrides the manifest's status
    result.update(manifest=data, status=bset.STATUS_CORRUPTED if corrupted else data.get("status"),
                  problems=(corrupted or {}).get("problems", []) + list(data.get("problems") or []),
                  missing_parts=bset.missing_parts(data, params["required_parts"]),
                  left_alone=bset.left_alone_parts(data, params["required_parts"]), file_problems=problems,
                  verified=(not problems) if params["verify"] else None,
                  files_verified=len(data.get("files") or []) if params["verify"] else 0,
                  age_seconds=bset.age_seconds(data.get("timestamp") or "", datetime.fromtimestamp(now, timezone.utc)))
    if params["restored"] is not None:
        users = None
        if params["compare_graph"]:
            try:
                users = bset.dotted(mf.read_manifest(os.path.join(path, "neo4j")), "counts.user_ids")
            except mf.ManifestError:
                users = None
        result["differences"] = bset.count_differences(data, params["restored"], params["compare_graph"], users)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_root=dict(type="path", required=True),
            select=dict(type="bool", default=True),
            set=dict(type="str", default=""),
            exclude_tiers=dict(type="list", elements="str", default=[]),
            required_parts=dict(type="list", elements="str", choices=list(bset.PARTS), default=[]),
            verify=dict(type="bool", default=True),
            restored=dict(type="dict"),
            compare_graph=dict(type="bool", default=False),
            none_hint=dict(type="str", default=""),
            min_free_gb=dict(type="float"),
            data_root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    # as given with -e on the command line, "[pre-restore,pre-reset]" arrives as one string
    module.params["exclude_tiers"] = [tier.strip("[]\"' ") for tier in module.params["exclude_tiers"]
                                      if tier.strip("[]\"' ")]
    if (module.params["min_free_gb"] or 0) < 0:
        module.fail_json(msg="min_free_gb is %s; set a number of GB of 0 or more" % module.params["min_free_gb"])
    unknown = [tier for tier in module.params["exclude_tiers"] if tier not in bset.TIERS]
    if unknown:
        module.fail_json(msg="exclude_tiers names unknown tiers %s; the tiers are %s"
                         % (", ".join(unknown), ", ".join(bset.TIERS)))
    try:
        result = run(module.params, time.time())
    except bset.SetError as exc:
        module.fail_json(msg=str(exc))
    except (OSError, mf.ManifestError) as exc:
        module.fail_json(msg="mem0_backup_set_info failed: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
