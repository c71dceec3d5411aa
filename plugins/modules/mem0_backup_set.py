#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_set
short_description: Finalise, gate, list, copy and rotate mem0 backup sets by their content
version_added: 0.1.0
description:
  - A backup set is one directory C(<backup_root>/<tier>/<YYYYmmdd_HHMMSS>/) holding C(postgres/) (written by
    M(mem0ops.stack.pgvector_dump)), C(neo4j/) (M(mem0ops.stack.neo4j_export)), C(history/) (SQLite online backups
    of mem0's C(history.db) and OpenMemory's database), C(config/) (compose files and redacted container
    configuration) and C(manifest.json), the set manifest. Sets are written under C(<backup_root>/<tier>/.<ts>.partial/)
    and only renamed to their final name by O(state=present), so a directory with a final name is always complete.
  - O(state=present) finalises a partial set. It reads the part manifests, re-hashes every file, computes the
    set's identity fingerprint (the PostgreSQL system identifier, database name and user, the declared dims of the
    memory table, the Neo4j store id when the export has one, the embedding model and dims given here, the sha256 of
    the env file) and compares the set with the last good (valid) set under O(backup_root), in any tier.
  - The gate. The set is C(quarantined) when it holds fewer than O(min_memories) memories, when its memories, or
    the nodes of its graph, dropped by more than O(max_drop_percent) since the last good set, when a namespace of the
    last good set has no memories left, when its fingerprint differs from the last good set's (each changed field is
    named, old and new value), when a part is missing or marked quarantined, when a file does not match its part
    manifest, or when a manifest holds a secret in clear. A quarantined set is kept and marked
    (its manifest says C(status=quarantined) and a C(QUARANTINED.txt) file lists the problems), but never counted as
    good, so it is never the baseline of a later set and never pushes a good set out of the rotation.
  - What restore would refuse. The dimensions the set's C(postgres) and C(neo4j) part manifests record are judged
    against the configured embedder (O(embedding_provider), O(embedding_model), O(embedding_dims)) the way
    C(playbooks/restore.yml) judges them with M(mem0ops.stack.embedding_dim_check) before it restores (vectors of
    another dimension than the model returns, mixed dimensions). Such a set stays valid, as it is a faithful copy of
    the data, but its manifest records RV(restore_needs), the flag restore will need and why, and the summary says so
    with the way out, so that the owner learns it at backup time, not at restore time.
  - The module does not fail when the set is quarantined; it returns RV(status) and RV(problems) so that the caller
    can alert, rotate, and then fail.
  - O(state=rotated) applies the retention, per tier, counting only valid sets; see O(keep), O(keep_quarantined),
    O(keep_quarantined_days) and O(stale_partial_hours). The last good set overall is never deleted, nor the newest
    quarantined set of a tier, nor a directory without a readable set manifest (such as a backup made by another tool).
  - O(state=info) lists the sets with their status and memory counts, the partial sets, and the last good set.
  - O(state=copied) copies one valid set to a second destination (a NAS, another disk) under a temporary name,
    verifies every checksum there and renames it.
  - O(state=abandoned) deals with a backup that failed (the backup role's rescue). When O(failure) says the disk
    filled up (C(No space left on device), ENOSPC, a quota), the partial set O(tier)/O(timestamp) is removed - the
    space goes back and nothing half-written stays; the sets with a final name are never touched - and RV(message)
    names the volume and the fix. Any other failure leaves the partial set for inspection.
  - A set the scrub (M(mem0ops.stack.mem0_backup_set_scrub)) marked CORRUPTED is never counted toward O(keep), never
    deleted by the rotation (it is kept for inspection), and never a good set nor a baseline.
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.check_diff_full
attributes:
  check_mode:
    details:
      - With O(state=present) and no partial set on disk, the module evaluates the gate on the counts and identity
        given in O(planned) and returns RV(status=planned), the problems the set would have, and its estimated size.
      - With O(state=rotated), RV(would_delete) lists what would be deleted; nothing is.
  diff_mode:
    details:
      - O(state=rotated) shows the list of sets before and after the rotation; O(state=present) shows the partial
        directory and the final one.
  idempotent:
    support: full
    details:
      - O(state=present) on a set already finalised returns it unchanged; O(state=rotated) deletes nothing the second
        time; O(state=copied) leaves a verified copy alone.
options:
  state:
    description:
      - One of V(present), V(rotated), V(info), V(copied) and V(abandoned).
      - V(present) finalises the partial set O(tier)/O(timestamp).
      - V(rotated) applies the retention to every tier under O(backup_root).
      - V(info) lists the sets and the last good one; read-only, it never reports a change.
      - V(copied) copies the set at O(path) to O(copy_to).
      - V(abandoned) removes the partial set O(tier)/O(timestamp) of a backup that failed because its disk filled up.
    type: str
    default: info
  backup_root:
    description:
      - Directory that holds one directory per tier.
    type: path
    required: true
  tier:
    description:
      - The tier of the set to finalise. Required with O(state=present) and O(state=abandoned).
      - V(adopted) holds the sets adopted from the owner's old backup script (M(mem0ops.stack.mem0_backup_adopt)).
    type: str
    choices: [hourly, daily, weekly, monthly, manual, pre-reset, pre-restore, adopted]
  timestamp:
    description:
      - The set's name, C(YYYYmmdd_HHMMSS) (UTC). Required with O(state=present) and O(state=abandoned).
    type: str
  started_at:
    description:
      - When the backup started, in seconds since the epoch; RV(duration_seconds) is measured from it.
    type: float
  stack_name:
    description:
      - Name of the stack (the inventory's C(mem0_stack.name)), recorded in the manifest.
    type: str
  embedding_provider:
    description:
      - mem0's embedder provider (the inventory's C(mem0_stack.embedding.provider)), for RV(restore_needs) only
        (with V(openai), a C(text-embedding-3) model returns the O(embedding_dims) it is asked for); when
        O(embedding_model) is omitted, mem0's default model of this provider is assumed there.
    type: str
  embedding_model:
    description:
      - The embedding model the stack is configured with; part of the fingerprint, and judged against the set's
        dimensions for RV(restore_needs).
    type: str
  embedding_dims:
    description:
      - The embedding dims the stack is configured with; part of the fingerprint, and judged against the set's
        dimensions for RV(restore_needs).
    type: int
  env_file:
    description:
      - The env file beside the compose file. The sha256 of its variables (sorted C(NAME=value) lines; comments,
        blank lines and order do not count) is part of the fingerprint, so a changed credential, port or model changes
        it. The values of its secret-looking variables (names with C(PASS), C(SECRET), C(TOKEN),
        C(KEY), C(AUTH) or C(CREDENTIAL)) are searched for in the set's configuration and manifests.
      - The file itself is never read into the result.
    type: path
  collection:
    description:
      - mem0's memory table; its declared vector dims are part of the fingerprint.
    type: str
    default: memories
  namespace_prefix:
    description:
      - Only the namespaces (C(user_id)) under this prefix count for O(min_memories), O(max_drop_percent) and the
        vanished-namespace check. The set's counts always cover every namespace.
    type: str
  min_memories:
    description:
      - The least number of memories a good set holds; fewer quarantine the set. V(0) accepts an empty database.
    type: int
    default: 1
  max_drop_percent:
    description:
      - The largest drop of memories, or of graph nodes, since the last good set, in percent, that a good set may show.
      - Also the largest fall of memories from the most a good set held in the last O(decline_window_days), so that a
        slow loss in steps each below it (1968, 1080, 591, ...) is caught at its second step.
    type: float
    default: 50
  decline_window_days:
    description:
      - The days before the new set whose good sets count for the slow-loss check of O(max_drop_percent); a set
        finalised with O(accept=[drop]) starts a new window. V(0) turns the check off.
      - Sets of the tier V(adopted) never count.
    type: float
    default: 7
  accept:
    description:
      - Changes a person has checked and accepts for this one set, so that it can become the new baseline.
      - V(drop) accepts a drop beyond O(max_drop_percent) and vanished namespaces (a deliberate mass delete);
        V(fingerprint) accepts a changed fingerprint (a deliberate credential rotation, model change or migration).
      - Accepted findings are recorded in the manifest (C(accepted)) instead of RV(problems).
    type: list
    elements: str
    choices: [drop, fingerprint]
    default: []
  problems:
    description:
      - Problems found by the caller (for example a part that failed its own validation); each quarantines the set.
    type: list
    elements: str
    default: []
  required_parts:
    description:
      - Parts the set must hold; a missing one quarantines the set.
    type: list
    elements: str
    choices: [postgres, neo4j, history, config]
    default: [postgres]
  absent_parts:
    description:
      - "Parts the stack does not have, each with the reason (for example C({neo4j: the stack has no Neo4j service})
        on a stack without a graph store, as today's mem0 writes none). The manifest records the reason with the absent part (C(parts.<part>.absent))
        and the summary shows it, so that an absent part is never read as an empty one."
      - Keys are some of V(postgres), V(neo4j), V(history) and V(config); a part the set holds after all keeps no
        reason.
    type: dict
    default: {}
  secrets:
    description:
      - Secret values (passwords, API keys, tokens) that must not appear in clear in the set.
      - Every occurrence in the configuration files (C(config/)) is replaced with C(***REDACTED***) before the files
        are hashed (RV(redacted) counts them); one found in a manifest is redacted too, and quarantines the set, as the
        module that wrote that manifest leaks secrets.
      - The secret-looking values of O(env_file) are treated the same way.
      - Never logged nor returned.
    type: list
    elements: str
    default: []
  planned:
    description:
      - In check mode, with no partial set on disk, what the backup would hold, for the gate and the size estimate.
      - C(postgres) is the RV(mem0ops.stack.pgvector_dump#module:manifest) returned by M(mem0ops.stack.pgvector_dump)
        in check mode; C(neo4j) holds C(counts) and C(server) as M(mem0ops.stack.neo4j_export) returns them in check
        mode; C(files) lists further files (the SQLite databases) whose sizes count toward the estimate.
    type: dict
  verify:
    description:
      - With O(state=present), re-hash every file and compare it with its part manifest (on by default).
      - With O(state=info), verify every set's files against its manifest (off by default; reads every file).
    type: bool
  keep:
    description:
      - Valid sets kept per tier, newest first, with O(state=rotated). Tiers not named keep their default.
      - "Defaults: C(hourly: 24), C(daily: 7), C(weekly: 4), C(monthly: 12), C(manual: 10), C(pre-reset: 10),
        C(pre-restore: 10)."
    type: dict
  keep_quarantined:
    description:
      - Quarantined sets kept per tier, newest first, with O(state=rotated). The newest quarantined set of a tier is
        always kept, whatever this says.
    type: int
    default: 10
  keep_quarantined_days:
    description:
      - With O(state=rotated), also delete quarantined sets older than this many days (except the newest of a tier).
    type: int
  stale_partial_hours:
    description:
      - With O(state=rotated), partial sets (C(.<ts>.partial)) not modified for this many hours are left-overs of
        interrupted runs and are deleted.
    type: float
    default: 24
  path:
    description:
      - The set to copy with O(state=copied).
    type: path
  copy_to:
    description:
      - The root of the second destination (laid out like O(backup_root)) with O(state=copied).
    type: path
  adopted:
    description:
      - With O(state=present), the set is adopted from an old backup made by another tool; this record (the source
        directory and files with their sha256, as M(mem0ops.stack.mem0_backup_adopt) returns it) is kept in the
        manifest under C(adopted).
      - An adopted set is never compared with the last good set (it comes from another time and often another
        stack); only O(min_memories) and the problems of its parts gate it.
    type: dict
  failure:
    description:
      - With O(state=abandoned), the failed step's message; a full disk in it (ENOSPC) removes the partial set.
    type: str
notes:
  - Set names are UTC timestamps; the newest set is the one with the greatest name.
  - The sets of the tier V(adopted) are never deleted by the rotation and are never the baseline of a new set.
  - Only the tier directories named in O(tier) are looked at; anything else under O(backup_root) is left alone.
seealso:
  - module: mem0ops.stack.pgvector_dump
  - module: mem0ops.stack.neo4j_export
  - module: mem0ops.stack.mem0_memory_count
"""

EXAMPLES = r"""
- name: Finalise tonight's set and gate it against the last good one
  mem0ops.stack.mem0_backup_set:
    state: present
    backup_root: "{{ mem0_stack.backup_root }}"
    tier: daily
    timestamp: "{{ _stamp }}"
    started_at: "{{ _started }}"
    embedding_model: "{{ mem0_stack.embedding.model }}"
    embedding_dims: "{{ mem0_stack.embedding.dims }}"
    env_file: "{{ mem0_stack.compose.dir }}/.env"
    namespace_prefix: "{{ mem0_stack.mem0.namespace_prefix }}"
    required_parts: [postgres, neo4j, history, config]
    secrets: ["{{ mem0_stack.services.postgres.password }}", "{{ mem0_stack.services.neo4j.password }}"]
  register: backup_set

- name: Apply the retention (only valid sets count; the last good set is never deleted)
  mem0ops.stack.mem0_backup_set:
    state: rotated
    backup_root: /Volumes/Data/backups/mem0
    keep: {daily: 14}

- name: See what the rotation would delete
  mem0ops.stack.mem0_backup_set:
    state: rotated
    backup_root: /Volumes/Data/backups/mem0
  check_mode: true
  diff: true
  register: rotation

- name: Find the latest good set, with its checksums verified
  mem0ops.stack.mem0_backup_set:
    state: info
    backup_root: /Volumes/Data/backups/mem0
    verify: true
  register: sets

- name: Copy a valid set to the NAS and verify it there
  mem0ops.stack.mem0_backup_set:
    state: copied
    backup_root: /Volumes/Data/backups/mem0
    path: "{{ sets.latest_good.path }}"
    copy_to: /Volumes/NAS/backups/mem0
"""

RETURN = r"""
status:
  description:
    - V(valid) or V(quarantined) for the set; V(planned) in check mode when the set does not exist yet.
  returned: O(state=present)
  type: str
  sample: quarantined
would_be:
  description: In check mode, the status the planned set would get.
  returned: O(state=present), check mode, no partial set on disk
  type: str
  sample: valid
problems:
  description: Why the set is quarantined (or would be); empty for a valid set.
  returned: O(state=present)
  type: list
  elements: str
  sample:
    - "memories dropped 100.0% since the last good set daily/20260103_133102: 1968 -> 0 under 'mark_carey/', more
      than max_drop_percent 50%"
accepted:
  description: Findings accepted with O(accept), recorded instead of quarantining the set.
  returned: O(state=present)
  type: list
  elements: str
  sample: []
restore_needs:
  description:
    - What C(playbooks/restore.yml) would refuse in this set without a flag, recorded in its manifest too; empty when
      restore needs none. The set stays valid.
    - Each holds C(flag) (the variable restore will need, V(restore_force_dims)), C(parts) (the parts concerned),
      C(why) (one line), C(way_out) and C(mismatches) (M(mem0ops.stack.embedding_dim_check)'s sentences).
  returned: O(state=present)
  type: list
  elements: dict
  sample:
    - flag: restore_force_dims
      parts: [neo4j]
      why: "the set holds 768/1536-dim embeddings (neo4j 768/1536), but the stack is configured with nomic-embed-text
        (768 dims): mem0 could neither search nor add to the restored memories"
      way_out: "configure the model the data was embedded with (mem0_stack.embedding) and recreate the mem0 server, or
        restore anyway with -e restore_force_dims=true and then re-embed every memory with nomic-embed-text
        (playbooks/reembed.yml)"
      mismatches: ["the stored data disagrees with itself (manifest counts.embedding_dims 768, ...): ..."]
changes:
  description: Fingerprint fields that differ from the last good set, with old and new values.
  returned: O(state=present)
  type: list
  elements: dict
  sample: [{field: postgres.user, old: mem0_user, new: mem0_user_prd}]
path:
  description: The set's final directory (where it would go, in check mode); with O(state=copied), the copy; with
    O(state=abandoned), the partial set.
  returned: O(state=present), O(state=copied), O(state=abandoned)
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000
tier:
  description: The set's tier.
  returned: O(state=present)
  type: str
  sample: daily
timestamp:
  description: The set's timestamp (its directory name).
  returned: O(state=present)
  type: str
  sample: "20261122_023000"
manifest:
  description: Path of the set manifest.
  returned: O(state=present)
  type: str
  sample: /var/lib/mem0ops-lab/backups/daily/20261122_023000/manifest.json
memories:
  description: Memories in the set, in total, under O(namespace_prefix) (C(selected)) and per namespace.
  returned: O(state=present)
  type: dict
  sample: {total: 1968, selected: 1968, per_namespace: {"mark_carey/sap": 678, "mark_carey/synovia": 1243}}
graph:
  description: Nodes and relationships of the graph export; null values when the set has no graph.
  returned: O(state=present)
  type: dict
  sample: {nodes: 70, relationships: 94}
size_bytes:
  description: Size of the set (estimated in check mode).
  returned: O(state=present)
  type: int
  sample: 1214522
duration_seconds:
  description: Seconds since O(started_at), null without it.
  returned: O(state=present)
  type: float
  sample: 8.4
parts:
  description:
    - Per part, its status, files, bytes and seconds (the part manifest's own timing when it has one).
    - A part named in O(absent_parts) that the set does not hold carries the reason as C(absent).
  returned: O(state=present)
  type: dict
  sample: {postgres: {status: valid, files: 3, bytes: 427859, seconds: 2.63}}
fingerprint:
  description: The identity fingerprint of the set, with its sha256.
  returned: O(state=present)
  type: dict
  sample:
    postgres: {system_identifier: "7710895042352013342", database: mem0_lab, user: mem0_user_lab, vector_dims: 768}
    neo4j: {store_id: 3D20EFC64DA6BF62F3BB405C871C5C52725B0BA7024723F6F5E2A945E58AD4F8}
    embedding: {model: nomic-embed-text, dims: 768}
    env_file: {sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
    sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
baseline:
  description: The last good set the set was compared with; null when there is none.
  returned: O(state=present)
  type: dict
  sample: {path: /var/lib/mem0ops-lab/backups/daily/20261121_023000, tier: daily, timestamp: "20261121_023000",
           memories: 1968}
summary:
  description: Lines a person can read at 02:30.
  returned: O(state=present), O(state=rotated)
  type: list
  elements: str
  sample: ["mem0 backup lab daily 20261122_023000: VALID", "  memories: 1968 (mark_carey/sap 678, ...)"]
sets:
  description: Every set, newest first, with path, tier, timestamp, status (V(valid), V(quarantined) or V(unknown)),
    memories (the total), graph nodes, size, problems, restore_needs (RV(restore_needs) as recorded), and with
    O(verify) whether its files verified.
  returned: O(state=info), O(state=rotated)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, tier: daily, timestamp: "20261122_023000",
            status: valid, memories: 1968, graph_nodes: 70, size_bytes: 1214522, problems: []}]
latest_good:
  description: The newest valid set in any tier (as in RV(sets)), with the paths of its manifests; null when none.
  returned: O(state=info), O(state=rotated)
  type: dict
  sample: {path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, tier: daily, status: valid, memories: 1968,
           manifest: /var/lib/mem0ops-lab/backups/daily/20261122_023000/manifest.json,
           postgres_manifest: /var/lib/mem0ops-lab/backups/daily/20261122_023000/postgres/manifest.json}
partials:
  description: Partial sets (interrupted or running backups), with their age in hours.
  returned: O(state=info), O(state=rotated)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/.20261122_023000.partial, tier: daily, age_hours: 30.2}]
would_delete:
  description: Sets and partial sets the rotation deletes (in check mode, would delete), with the reason.
  returned: O(state=rotated)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261101_023000, status: valid, reason: "beyond keep daily=7"}]
deleted:
  description: Paths deleted (empty in check mode).
  returned: O(state=rotated)
  type: list
  elements: str
  sample: [/var/lib/mem0ops-lab/backups/daily/20261101_023000]
kept:
  description: Sets the rotation keeps, with the reason.
  returned: O(state=rotated)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, status: valid, reason: "newest 7 valid daily"}]
redacted:
  description: Configuration files in which O(secrets) were found and redacted, with the number of occurrences.
  returned: O(state=present)
  type: list
  elements: dict
  sample: [{file: config/containers/mem0.json, count: 2}]
volume:
  description: With O(state=abandoned), the mount point of the backup root's volume.
  returned: O(state=abandoned)
  type: str
  sample: /Volumes/Data
free_bytes:
  description: With O(state=abandoned), the free bytes of that volume now.
  returned: O(state=abandoned)
  type: int
  sample: 0
disk_full:
  description: With O(state=abandoned), whether O(failure) says the disk filled up.
  returned: O(state=abandoned)
  type: bool
  sample: true
removed:
  description: With O(state=abandoned), whether the partial set was removed.
  returned: O(state=abandoned)
  type: bool
  sample: true
message:
  description: With O(state=abandoned), what became of the partial set, and with a full disk the volume and the fix.
  returned: O(state=abandoned)
  type: str
  sample: "The backup root's volume /Volumes/Data filled up while the set was written (0 B free now): ..."
verified:
  description: With O(state=copied), whether every file of the copy matched the set manifest.
  returned: O(state=copied)
  type: bool
  sample: true
"""

import hashlib
import json
import os
import re
import shutil
import time
import traceback
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import disk
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils.backup_set import (
    ADOPTED_TIER, CORRUPTED_MARKER, KIND, MARKER, PART_KINDS, PARTS, STATUS_PLANNED, TIERS, SetError, dotted, final_path, good_description, human,
    is_timestamp, keep_counts, latest_good, parse_timestamp, partial_path, percent, public, rotation_plan, scan, short,
    walk_files)
from ansible_collections.mem0ops.stack.plugins.module_utils.embeddings import default_model, manifest_verdict
from ansible_collections.mem0ops.stack.plugins.module_utils.secrets import (
    env_secrets, env_variables, redact_file, secret_needles)

STATES = ("present", "rotated", "info", "copied", "abandoned")
# What a full disk (or quota) looks like in a failed step's message (OSError's strerror, errno names, and
# pgvector_dump's own check of the free space left in the set's directory before it writes).
DISK_FULL = re.compile(r"No space left on device|ENOSPC|\[Errno 28\]|Disk quota exceeded|EDQUOT|\[Errno 122\]"
                       r"|not enough free space for the dump in /")
FINGERPRINT_FIELDS = (
    ("postgres.system_identifier", "PostgreSQL system identifier (another cluster)"),
    ("postgres.database", "database name"),
    ("postgres.user", "database user"),
    ("postgres.vector_dims", "vector dims of the memory table"),
    ("neo4j.store_id", "Neo4j store id (another store)"),
    ("embedding.model", "embedding model"),
    ("embedding.dims", "embedding dims"),
    ("env_file.sha256", "env file sha256 (a credential, port or setting in it changed)"),
)


# --- the gate (unit-tested) ---------------------------------------------------------------------------------
# The set's layout, scan, selection, verification and rotation plan are module_utils.backup_set's; what is a
# secret and how it is redacted, module_utils.secrets'.

def selected(per_namespace: dict, prefix) -> int:
    return sum(int(n) for ns, n in (per_namespace or {}).items() if not prefix or ns.startswith(prefix))


def scope(prefix) -> str:
    return " under %r" % prefix if prefix else ""


def fingerprint_sha256(identity: dict) -> str:
    body = {k: v for k, v in identity.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def fingerprint_changes(old: dict, new: dict) -> list:
    """Fields known in both fingerprints whose values differ."""
    changes = []
    for field, dummy in FINGERPRINT_FIELDS:
        before, after = dotted(old, field), dotted(new, field)
        if before is not None and after is not None and before != after:
            changes.append({"field": field, "old": before, "new": after})
    return changes


def decline_peak(sets: list, stamp: str, window_days: float, prefix):
    """The high-water mark a slow decline is measured from: of the good sets (``sets`` newest first, adopted ones
    apart) taken in the ``window_days`` before ``stamp``, the one holding the most memories under ``prefix``. It looks
    no further back than the newest set whose drop a person accepted (``accept: [drop]``), which starts a new window.
    None without a window or a good set in it."""
    now = parse_timestamp(stamp) if window_days else None
    best, most = None, -1
    for entry in sets if now else ():
        taken = parse_timestamp(entry["timestamp"])
        if taken is None or taken > now or entry["tier"] == ADOPTED_TIER or entry["status"] != mf.STATUS_VALID:
            continue
        if (now - taken).total_seconds() > window_days * 86400:
            break
        data = entry.get("_manifest") or {}
        held = selected(dotted(data, "counts.memories.per_namespace") or {}, prefix)
        if held > most:
            best, most = entry, held
        if "drop" in (dotted(data, "gate.accept") or []):
            break
    return best


def gate(current: dict, baseline, min_memories: int, max_drop_percent: float, accept=(), peak=None) -> tuple:
    """The problems of a set, the findings accepted instead, and the fingerprint changes.

    ``current`` and ``baseline`` hold ``per_namespace`` (memories per namespace), ``graph_nodes`` (None when the set
    has no graph) and ``identity``; ``baseline`` also ``label`` (tier/timestamp). ``current`` holds ``prefix``.
    ``peak`` (a view like ``baseline``, also ``window_days``) is the set of the recent window holding the most
    memories: a fall beyond ``max_drop_percent`` from it is a finding too, even when each step stayed below.
    """
    prefix = current.get("prefix")
    problems, accepted = [], []
    now = selected(current["per_namespace"], prefix)
    before = selected(baseline["per_namespace"], prefix) if baseline else None
    label = baseline["label"] if baseline else None

    if now < min_memories:
        text = "the set holds %d memories%s, fewer than min_memories %d: the database is empty or is not the one mem0 " \
               "writes to" % (now, scope(prefix), min_memories)
        if baseline:
            text += "; the last good set %s holds %d" % (label, before)
        problems.append(text)

    def finding(text, kind):
        (accepted if kind in accept else problems).append(text)

    if baseline and before:
        drop = (before - now) * 100.0 / before
        if drop > max_drop_percent:
            finding("memories dropped %s%% since the last good set %s: %d -> %d%s, more than max_drop_percent %s%%"
                    % (percent(round(drop, 1)), label, before, now, scope(prefix), percent(max_drop_percent)), "drop")
        for namespace, count in sorted(baseline["per_namespace"].items()) if now else ():
            if count and (not prefix or namespace.startswith(prefix)) and not current["per_namespace"].get(namespace):
                finding("namespace %r held %d memories in the last good set %s and has none now"
                        % (namespace, count, label), "drop")
    high = selected(peak["per_namespace"], prefix) if peak else 0
    if high and now and peak["path"] != (baseline or {}).get("path"):
        decline = (high - now) * 100.0 / high
        if decline > max_drop_percent:
            finding("memories declined %s%% in steps from %d in %s, the most a good set held in the last %s days, to "
                    "%d%s, more than max_drop_percent %s%%: a slow loss that each step hid (the last good set %s "
                    "holds %d)" % (percent(round(decline, 1)), high, peak["label"], percent(peak["window_days"]), now,
                                   scope(prefix), percent(max_drop_percent), label, before), "drop")
    if baseline and baseline.get("graph_nodes") and current.get("graph_nodes") is not None:
        old_nodes, new_nodes = baseline["graph_nodes"], current["graph_nodes"]
        drop = (old_nodes - new_nodes) * 100.0 / old_nodes
        if drop > max_drop_percent:
            finding("graph nodes dropped %s%% since the last good set %s: %d -> %d, more than max_drop_percent %s%%"
                    % (percent(round(drop, 1)), label, old_nodes, new_nodes, percent(max_drop_percent)), "drop")

    changes = fingerprint_changes(baseline["identity"], current["identity"]) if baseline else []
    if changes:
        names = dict(FINGERPRINT_FIELDS)
        finding("the identity fingerprint changed since the last good set %s: %s; this is not the stack that set was "
                "taken from (recreated containers, new credentials, another database or embedding model)"
                % (label, "; ".join("%s %s -> %s (%s)" % (c["field"], short(c["old"]), short(c["new"]), names[c["field"]])
                                    for c in changes)), "fingerprint")
    return problems, accepted, changes


DIMS_PARTS = ("postgres", "neo4j")  # the parts restore.yml checks with embedding_dim_check, in its order


def restore_needs(manifests: dict, provider, model, dims) -> list:
    """What restore.yml would refuse in a set whose part manifests are ``manifests`` (part: manifest or None), as
    [{flag, parts, why, way_out, mismatches}]: restore runs embedding_dim_check on the postgres and neo4j part
    manifests against the configured embedder and refuses any mismatch without -e restore_force_dims=true
    (roles/restore/tasks/select.yml); this is the same verdict (module_utils.embeddings.manifest_verdict), in the
    same words as restore's refusal."""
    verdicts = [(part, manifest_verdict(manifests[part], "%s/%s" % (part, mf.MANIFEST_NAME), provider, model, dims))
                for part in DIMS_PARTS if manifests.get(part) is not None]
    mismatches = []
    for dummy, verdict in verdicts:
        mismatches += [m for m in verdict["mismatches"] if m not in mismatches]
    if not mismatches:
        return []
    refused = [(part, verdict) for part, verdict in verdicts if verdict["mismatches"]]
    held = sorted(set(d for dummy, verdict in verdicts for d in verdict["data_dims"]))
    name = model or default_model(provider) or "the configured model"
    configured = "%s (%s dims)" % (name, dims) if dims else name
    why = "the set holds %s-dim embeddings (%s), but the stack is configured with %s: mem0 could neither search nor " \
          "add to the restored memories" % ("/".join(str(d) for d in held) or "no", ", ".join(
              "%s %s" % (part, "/".join(str(d) for d in verdict["data_dims"]) or "no dims") for part, verdict in refused),
              configured)
    way_out = "configure the model the data was embedded with (mem0_stack.embedding) and recreate the mem0 server, or " \
              "restore anyway with -e restore_force_dims=true and then re-embed every memory with %s " \
              "(playbooks/reembed.yml)" % name
    return [{"flag": "restore_force_dims", "parts": [part for part, dummy in refused], "why": why, "way_out": way_out,
             "mismatches": mismatches}]


def env_fingerprint(path) -> str:
    """sha256 of an env file's variables (sorted NAME=value lines), so that comments and order do not count."""
    lines = sorted("%s=%s" % pair for pair in env_variables(path))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def write_private(path: str, data: bytes) -> None:
    """Replace a file's content atomically, mode 0600."""
    partial = mf.partial_path(path)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    mf.commit_file(partial, path)


# --- the module ---------------------------------------------------------------------------------------------

class BackupSet:
    """One run of the module; results are kept in ``results``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.root = self.params["backup_root"]
        self.results = {"changed": False}
        self.warnings = []

    # -- present ------------------------------------------------------------------------------------------
    def present(self):
        tier, stamp = self.params["tier"], self.params["timestamp"]
        if not tier or not stamp:
            raise SetError("state=present needs tier and timestamp (the set %s/<YYYYmmdd_HHMMSS> to finalise)" % self.root)
        if not is_timestamp(stamp):
            raise SetError("timestamp must be YYYYmmdd_HHMMSS; got %r" % stamp)
        final, partial = final_path(self.root, tier, stamp), partial_path(self.root, tier, stamp)
        self.results.update(path=final, tier=tier, timestamp=stamp, manifest=os.path.join(final, mf.MANIFEST_NAME))
        if not os.path.isdir(partial):
            if os.path.isfile(os.path.join(final, mf.MANIFEST_NAME)):
                return self.existing(final)
            if self.check_mode:
                return self.plan(final)
            raise SetError("no partial set at %s to finalise: write the parts there first (the backup role does)" % partial)
        if os.path.lexists(final):
            raise SetError("%s already exists: a set is never overwritten; use a new timestamp" % final)
        sets, dummy = scan(self.root, time.time())
        baseline = None if self.params["adopted"] else latest_good(sets, exclude_tiers=(ADOPTED_TIER,))
        data = self.analyse(partial, baseline, self.peak_view(sets))
        self.results["changed"] = True
        if self.module._diff:
            self.results["diff"] = {"before": {"path": partial, "status": "partial"},
                                    "after": {"path": final, "status": data["status"]}}
        if not self.check_mode:
            self.finalise(partial, final, data)
        self.respond(data)

    def existing(self, final):
        try:
            data = mf.read_manifest(final)
        except mf.ManifestError as exc:
            raise SetError(str(exc))
        if data.get("kind") != KIND:
            raise SetError("%s holds a %r manifest, not a backup set" % (final, data.get("kind")))
        self.respond(data)

    def respond(self, data):
        counts = data.get("counts", {})
        self.results.update(
            status=data["status"], problems=list(data.get("problems", [])), accepted=list(data.get("accepted", [])),
            changes=list(data.get("changes", [])), restore_needs=list(data.get("restore_needs") or []), memories={
                "total": dotted(counts, "memories.total"), "selected": dotted(counts, "memories.selected"),
                "per_namespace": dotted(counts, "memories.per_namespace") or {}},
            graph={"nodes": dotted(counts, "graph.nodes"), "relationships": dotted(counts, "graph.relationships")},
            size_bytes=data.get("size_bytes"), duration_seconds=data.get("duration_seconds"), parts=data.get("parts", {}),
            fingerprint=data.get("identity", {}), baseline=data.get("baseline"), redacted=data.get("redacted", []))
        self.results["summary"] = summary_lines(data, self.results["path"], self.params.get("stack_name"))

    def part_manifest(self, partial, part, problems):
        path = os.path.join(partial, part, mf.MANIFEST_NAME)
        if not os.path.exists(path):
            if part in self.params["required_parts"]:
                problems.append("the %s part is missing: %s/ holds no manifest.json" % (part, part))
            return None
        try:
            data = mf.read_manifest(path)
        except mf.ManifestError as exc:
            problems.append("the %s part is unreadable: %s" % (part, exc))
            return None
        if data.get("kind") != PART_KINDS[part]:
            problems.append("the %s part holds a %r manifest, not a %s one" % (part, data.get("kind"), PART_KINDS[part]))
            return None
        reported = any(p.startswith(part + ":") for p in self.params["problems"])
        if data.get("status") != mf.STATUS_VALID and not reported:
            problems.append("the %s part is %s: %s" % (part, data.get("status"), "; ".join(data.get("problems") or [])
                                                       or "no reason given"))
        return data

    def identity(self, pg, neo):
        identity = {
            "postgres": {"system_identifier": None, "database": None, "user": None, "vector_dims": None},
            "neo4j": {"store_id": None},
            "embedding": {"model": self.params["embedding_model"], "dims": self.params["embedding_dims"]},
            "env_file": {"sha256": None},
        }
        if pg:
            identity["postgres"].update(system_identifier=pg.get("system_identifier"), database=pg.get("database"),
                                        user=pg.get("user"))
            for table in pg.get("vector_tables") or []:
                if table.get("table") == self.params["collection"]:
                    identity["postgres"]["vector_dims"] = table.get("declared_dims")
        if neo:
            identity["neo4j"]["store_id"] = dotted(neo, "neo4j.database_id") or dotted(neo, "server.database_id")
        env_file = self.params["env_file"]
        if env_file:
            if os.path.isfile(env_file):
                identity["env_file"]["sha256"] = env_fingerprint(env_file)
            else:
                self.warnings.append("env_file %s does not exist: its hash is left out of the fingerprint" % env_file)
        identity["sha256"] = fingerprint_sha256(identity)
        return identity

    def baseline_view(self, entry):
        if entry is None:
            return None
        data = entry["_manifest"]
        return {"label": "%s/%s" % (entry["tier"], entry["timestamp"]), "path": entry["path"],
                "per_namespace": dotted(data, "counts.memories.per_namespace") or {},
                "graph_nodes": dotted(data, "counts.graph.nodes"), "identity": data.get("identity") or {},
                "parts": data.get("parts") or {}, "memories": dotted(data, "counts.memories.total")}

    def counts(self, pg, neo, hist):
        per_namespace = {k: int(v) for k, v in (dotted(pg, "counts.memories.namespaces") or {}).items()} if pg else {}
        prefix = self.params["namespace_prefix"]
        counts = {"memories": {"total": sum(per_namespace.values()), "selected": selected(per_namespace, prefix),
                               "namespace_prefix": prefix, "per_namespace": per_namespace},
                  "graph": {"nodes": dotted(neo, "counts.nodes"), "relationships": dotted(neo, "counts.relationships")}
                  if neo else {"nodes": None, "relationships": None}}
        if hist:
            counts["history"] = {name: db.get("tables") for name, db in (hist.get("databases") or {}).items()}
        return counts

    def peak_view(self, sets):
        """The baseline view of the decline's high-water mark (decline_peak), None for an adopted set."""
        window = self.params["decline_window_days"]
        prefix = self.params["namespace_prefix"]
        entry = None if self.params["adopted"] else decline_peak(sets, self.params["timestamp"], window, prefix)
        view = self.baseline_view(entry)
        if view:
            view["window_days"] = window
        return view

    def analyse(self, partial, baseline_entry, peak=None):
        problems = list(self.params["problems"])
        manifests = {part: self.part_manifest(partial, part, problems) for part in PART_KINDS}
        pg, neo, hist = manifests["postgres"], manifests["neo4j"], manifests["history"]
        if "config" in self.params["required_parts"] and not os.path.isdir(os.path.join(partial, "config")):
            problems.append("the config part is missing: no config/ directory")

        # every file, hashed again, against what its part manifest says
        files, parts = [], {}
        expected = {}
        for part, data in manifests.items():
            for entry in (data or {}).get("files", []):
                expected[os.path.join(part, entry["name"])] = entry
        # no secret in clear: the inventory's and the env file's secrets are redacted where the role's capture
        # left them (config/), and one found in a manifest is a bug that quarantines the set
        needles = secret_needles(list(self.params["secrets"]) + env_secrets(self.params["env_file"]))
        redacted = []
        for path in walk_files(partial):
            rel = os.path.relpath(path, partial)
            in_config = rel.split(os.sep)[0] == "config" and os.path.basename(rel) != "env.vault"
            if not in_config and os.path.basename(rel) != mf.MANIFEST_NAME:
                continue
            found = redact_file(path, needles, write=not self.check_mode, writer=write_private)
            if found and in_config:
                redacted.append({"file": rel, "count": found})
            elif found:
                problems.append("%s held a secret in clear (now redacted): the module that wrote it leaks secrets"
                                % rel)
        verify = self.params["verify"] is not False
        for path in walk_files(partial):
            rel = os.path.relpath(path, partial)
            if rel in (mf.MANIFEST_NAME, MARKER):
                continue
            entry = mf.file_entry(path, partial) if verify or rel not in expected else \
                {"name": rel, "size": os.path.getsize(path), "sha256": expected[rel]["sha256"]}
            want = expected.pop(rel, None)
            if want is not None and (want["size"] != entry["size"] or want["sha256"] != entry["sha256"]):
                problems.append("%s does not match its part manifest (size %d, sha256 %s; the manifest says %d, %s)"
                                % (rel, entry["size"], short(entry["sha256"]), want["size"], short(want["sha256"])))
            files.append(entry)
            part = rel.split(os.sep)[0] if os.sep in rel else "."
            info = parts.setdefault(part, {"present": True, "files": 0, "bytes": 0})
            info["files"] += 1
            info["bytes"] += entry["size"]
        for rel in sorted(expected):
            problems.append("%s is named in its part manifest but missing" % rel)
        for part, data in manifests.items():
            if data is not None:
                info = parts.setdefault(part, {"present": True, "files": 0, "bytes": 0})
                info.update(status=data.get("status"), seconds=data.get("duration_seconds"))
        for part in PARTS:
            parts.setdefault(part, {"present": False, "files": 0, "bytes": 0})
        self.mark_absent(parts)
        if parts["config"]["present"]:
            parts["config"]["env_file"] = "vault" if any(os.path.basename(f["name"]) == "env.vault" for f in files) \
                else "omitted"

        counts = self.counts(pg, neo, hist)
        identity = self.identity(pg, neo)
        baseline = self.baseline_view(baseline_entry)
        current = {"per_namespace": counts["memories"]["per_namespace"], "prefix": self.params["namespace_prefix"],
                   "graph_nodes": counts["graph"]["nodes"], "identity": identity}
        if pg is None:
            gate_problems, accepted, changes = [], [], []
            problems.append("the set holds no PostgreSQL dump, so it holds no memories")
        else:
            gate_problems, accepted, changes = gate(current, baseline, self.params["min_memories"],
                                                    self.params["max_drop_percent"], self.params["accept"], peak)
        problems = gate_problems + problems
        data = mf.new_manifest(KIND)
        started = self.params["started_at"]
        data.update(
            status=mf.STATUS_QUARANTINED if problems else mf.STATUS_VALID, problems=problems, accepted=accepted,
            changes=changes, restore_needs=self.restore_needs({"postgres": pg, "neo4j": neo}),
            stack=self.params["stack_name"], tier=self.params["tier"],
            timestamp=self.params["timestamp"], identity=identity, counts=counts, parts=parts, files=files,
            redacted=redacted,
            baseline=None if baseline is None else {"path": baseline["path"], "tier": baseline_entry["tier"],
                                                    "timestamp": baseline_entry["timestamp"],
                                                    "memories": baseline["memories"], "graph_nodes": baseline["graph_nodes"]},
            gate={"min_memories": self.params["min_memories"], "max_drop_percent": self.params["max_drop_percent"],
                  "decline_window_days": self.params["decline_window_days"],
                  "namespace_prefix": self.params["namespace_prefix"], "accept": list(self.params["accept"])},
            size_bytes=sum(f["size"] for f in files),
            duration_seconds=round(time.time() - started, 3) if started else None)
        if self.params["adopted"]:
            data["adopted"] = self.params["adopted"]
        return data

    def finalise(self, partial, final, data):
        if data["status"] == mf.STATUS_QUARANTINED:
            marker = os.path.join(partial, MARKER)
            with open(marker, "w") as handle:
                handle.write("This backup set is QUARANTINED: it is kept for inspection and never counted as a good "
                             "backup.\n\n" + "".join("- %s\n" % p for p in data["problems"]))
            os.chmod(marker, 0o600)
            data["files"].append(mf.file_entry(marker, partial))
        data["size_bytes"] = sum(f["size"] for f in data["files"])
        mf.write_json_atomic(os.path.join(partial, mf.MANIFEST_NAME), data)
        os.chmod(partial, 0o700)
        os.rename(partial, final)
        mf.fsync_dir(os.path.dirname(final))

    def plan(self, final):
        planned = self.params["planned"] or {}
        pg, neo = planned.get("postgres"), planned.get("neo4j")
        sets, dummy = scan(self.root, time.time())
        baseline_entry = None if self.params["adopted"] else latest_good(sets, exclude_tiers=(ADOPTED_TIER,))
        baseline = self.baseline_view(baseline_entry)
        counts = self.counts(pg, neo, None)
        identity = self.identity(pg, neo)
        problems = []
        if pg is None:
            problems.append("planned.postgres is not given: nothing to count")
            accepted, changes = [], []
        else:
            current = {"per_namespace": counts["memories"]["per_namespace"], "prefix": self.params["namespace_prefix"],
                       "graph_nodes": counts["graph"]["nodes"], "identity": identity}
            problems, accepted, changes = gate(current, baseline, self.params["min_memories"],
                                               self.params["max_drop_percent"], self.params["accept"],
                                               self.peak_view(sets))
        parts = self.estimate(pg, neo, planned.get("files") or [], baseline, counts)
        self.mark_absent(parts)
        data = mf.new_manifest(KIND)
        data.update(status=STATUS_PLANNED, would_be=mf.STATUS_QUARANTINED if problems else mf.STATUS_VALID,
                    problems=problems, accepted=accepted, changes=changes,
                    restore_needs=self.restore_needs({"postgres": pg, "neo4j": neo}), stack=self.params["stack_name"],
                    tier=self.params["tier"], timestamp=self.params["timestamp"],
                    identity=identity, counts=counts, parts=parts, size_bytes=sum(p["bytes"] for p in parts.values()),
                    duration_seconds=None,
                    baseline=None if baseline is None else {"path": baseline["path"], "memories": baseline["memories"],
                                                            "graph_nodes": baseline["graph_nodes"]})
        self.results["changed"] = True
        self.results["would_be"] = data["would_be"]
        if self.module._diff:
            self.results["diff"] = {"before": {"path": final, "status": "absent"},
                                    "after": {"path": final, "status": self.results["would_be"]}}
        self.respond(data)

    def restore_needs(self, manifests):
        """The flags restore.yml would need for a set of these part manifests (restore_needs)."""
        return restore_needs(manifests, self.params["embedding_provider"], self.params["embedding_model"],
                             self.params["embedding_dims"])

    def mark_absent(self, parts):
        """Record why each part the stack does not have is absent (absent_parts), so no one reads it as empty."""
        for part, why in sorted((self.params["absent_parts"] or {}).items()):
            if not parts.get(part, {}).get("present"):
                parts[part] = {"present": False, "files": 0, "bytes": 0, "absent": str(why)}

    @staticmethod
    def estimate(pg, neo, files, baseline, counts):
        """Estimated bytes per part: the last good set's sizes scaled by the counts when there is one, else the
        dump module's catalog estimate."""
        old_parts = (baseline or {}).get("parts") or {}
        parts = {}
        memories, old_memories = counts["memories"]["total"], (baseline or {}).get("memories")
        if pg is not None:
            if old_parts.get("postgres", {}).get("bytes") and old_memories:
                size = int(old_parts["postgres"]["bytes"] * max(memories, 1) / float(old_memories))
            else:
                size = sum(int(v) for v in (dotted(pg, "estimate.files") or {}).values())
            parts["postgres"] = {"present": True, "bytes": size, "estimated": True}
        if neo is not None:
            nodes, old_nodes = counts["graph"]["nodes"] or 0, (baseline or {}).get("graph_nodes")
            size = int(old_parts.get("neo4j", {}).get("bytes", 0) * nodes / float(old_nodes)) if old_nodes else 0
            parts["neo4j"] = {"present": True, "bytes": size, "estimated": True}
        files = sorted({os.path.realpath(f) for f in files if os.path.isfile(f)})
        parts["history"] = {"present": bool(files), "bytes": sum(os.path.getsize(f) for f in files), "estimated": True}
        parts["config"] = {"present": True, "bytes": old_parts.get("config", {}).get("bytes", 0), "estimated": True}
        return parts

    # -- info ---------------------------------------------------------------------------------------------
    def info(self):
        sets, partials = scan(self.root, time.time())
        if self.params["verify"]:
            for entry in sets:
                if "_manifest" in entry:
                    problems = mf.verify_files(entry["_manifest"], entry["path"])
                    entry["verified"] = not problems
                    entry["verify_problems"] = problems
                else:
                    entry["verified"] = False
                    entry["verify_problems"] = list(entry["problems"])
        good = latest_good(sets)
        self.results.update(sets=[public(s) for s in sets], partials=partials, latest_good=good_description(good))

    # -- rotated ------------------------------------------------------------------------------------------
    def rotated(self):
        keep = keep_counts(self.params["keep"])
        if self.params["keep_quarantined"] < 0:
            raise SetError("keep_quarantined must not be negative")
        now = time.time()
        sets, partials = scan(self.root, now)
        delete, kept = rotation_plan(sets, partials, keep, self.params["keep_quarantined"],
                                     self.params["keep_quarantined_days"], self.params["stale_partial_hours"],
                                     datetime.fromtimestamp(now, timezone.utc))
        would_delete = [{"path": e["path"], "tier": e["tier"], "timestamp": e["timestamp"], "status": e["status"],
                         "reason": reason} for e, reason in delete]
        would_delete.sort(key=lambda e: (e["tier"], e["timestamp"]))
        self.results.update(would_delete=would_delete, deleted=[], changed=bool(delete),
                            kept=[{"path": e["path"], "tier": e["tier"], "timestamp": e["timestamp"], "status": e["status"],
                                   "reason": reason} for e, reason in kept])
        if self.module._diff:
            gone = {e["path"] for e, dummy in delete}
            listing = ["%s/%s %s" % (e["tier"], os.path.basename(e["path"]), e["status"]) for e in sets + partials]
            after = ["%s/%s %s" % (e["tier"], os.path.basename(e["path"]), e["status"]) for e in sets + partials
                     if e["path"] not in gone]
            self.results["diff"] = {"before_header": "%s (sets)" % self.root, "after_header": "%s (sets)" % self.root,
                                    "before": "".join(line + "\n" for line in sorted(listing)),
                                    "after": "".join(line + "\n" for line in sorted(after))}
        if not self.check_mode:
            for entry, dummy in delete:
                self.remove(entry["path"])
                self.results["deleted"].append(entry["path"])
        sets, partials = scan(self.root, time.time()) if not self.check_mode else (
            [s for s in sets if s["path"] not in {e["path"] for e, dummy in delete}], partials)
        self.results.update(sets=[public(s) for s in sets], partials=partials,
                            latest_good=good_description(latest_good(sets)))
        verb = "would delete" if self.check_mode else "deleted"
        self.results["summary"] = ["rotation of %s: %s %d, kept %d set(s) (%d valid, %d quarantined)" % (
            self.root, verb, len(delete), len(kept), sum(1 for e, dummy in kept if e["status"] == mf.STATUS_VALID),
            sum(1 for e, dummy in kept if e["status"] == mf.STATUS_QUARANTINED))] + [
            "  %s %s/%s (%s): %s" % (verb, e["tier"], os.path.basename(e["path"]), e["status"], r) for e, r in delete]

    def remove(self, path):
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if not real.startswith(real_root + os.sep) or os.path.islink(path):
            raise SetError("refusing to delete %s: it is not a set under %s" % (path, self.root))
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise SetError("cannot delete %s: %s" % (path, exc))

    # -- abandoned ----------------------------------------------------------------------------------------
    def abandoned(self):
        """A backup that failed: when its disk filled up (ENOSPC in O(failure)), what it wrote is removed, so that
        the space is given back and nothing half-written stays; otherwise the partial set stays for inspection."""
        tier, stamp = self.params["tier"], self.params["timestamp"]
        if not tier or not stamp or not is_timestamp(stamp):
            raise SetError("state=abandoned needs tier and timestamp (YYYYmmdd_HHMMSS) of the failed set")
        partial = partial_path(self.root, tier, stamp)
        failure = self.params["failure"] or ""
        volume = disk.mount_point(self.root)
        free = shutil.disk_usage(disk.existing_ancestor(self.root)).free
        full = bool(DISK_FULL.search(failure))
        exists = os.path.isdir(partial) and not os.path.islink(partial)
        self.results.update(path=partial, volume=volume, free_bytes=free, disk_full=full, removed=False)
        if full:
            if exists:
                self.results["changed"] = True
                if not self.check_mode:
                    self.remove(partial)
                    self.results["removed"] = True
            self.results["message"] = (
                "The backup root's volume %s filled up while the set was written (%s free now): another writer took "
                "the space after the headroom check passed, or the set outgrew the last good one. What this run wrote (%s) was %s; no set was counted and "
                "the older sets are untouched. Fix: free space on %s (see what filled it: du -xsh %s/*), or move "
                "backup_root to a volume with room, then run the backup again."
                % (volume, human(free), partial, "removed" if self.results["removed"] else
                   "already gone" if not exists else "to be removed (check mode)", volume, volume))
        else:
            self.results["message"] = ("The incomplete files stay in %s; a .partial directory is never taken for a "
                                       "backup and the rotation removes it once it is stale." % partial)

    # -- copied -------------------------------------------------------------------------------------------
    def copied(self):
        src, dest_root = self.params["path"], self.params["copy_to"]
        if not src or not dest_root:
            raise SetError("state=copied needs path (the set) and copy_to (the second destination's root)")
        try:
            data = mf.read_manifest(src)
        except mf.ManifestError as exc:
            raise SetError(str(exc))
        if data.get("kind") != KIND:
            raise SetError("%s is not a backup set" % src)
        if data.get("status") != mf.STATUS_VALID:
            raise SetError("%s is %s: only valid sets are copied to a second destination" % (src, data.get("status")))
        if os.path.isfile(os.path.join(src, CORRUPTED_MARKER)):
            raise SetError("%s is marked CORRUPTED (%s): only valid sets are copied to a second destination"
                           % (src, CORRUPTED_MARKER))
        tier, stamp = data.get("tier") or os.path.basename(os.path.dirname(src)), os.path.basename(src.rstrip("/"))
        dest = os.path.join(dest_root, tier, stamp)
        self.results.update(path=dest, verified=False)
        if os.path.isfile(os.path.join(dest, mf.MANIFEST_NAME)):
            problems = self.compare_copy(src, dest, data)
            if problems:
                raise SetError("%s exists but does not match the set: %s" % (dest, "; ".join(problems[:5])))
            self.results["verified"] = True
            return
        self.results["changed"] = True
        if self.check_mode:
            return
        partial = os.path.join(dest_root, tier, ".%s.partial" % stamp)
        try:
            os.makedirs(os.path.dirname(partial), mode=0o700, exist_ok=True)
            if os.path.lexists(partial):
                shutil.rmtree(partial)
            shutil.copytree(src, partial, symlinks=False)
        except OSError as exc:
            raise SetError("cannot copy %s to %s: %s" % (src, partial, exc))
        problems = self.compare_copy(src, partial, data)
        if problems:
            shutil.rmtree(partial, ignore_errors=True)
            raise SetError("the copy in %s does not verify and was removed: %s" % (partial, "; ".join(problems[:5])))
        os.rename(partial, dest)
        mf.fsync_dir(os.path.dirname(dest))
        self.results["verified"] = True

    @staticmethod
    def compare_copy(src, dest, data):
        problems = mf.verify_files(data, dest)
        if mf.sha256_file(os.path.join(src, mf.MANIFEST_NAME)) != mf.sha256_file(os.path.join(dest, mf.MANIFEST_NAME)):
            problems.append("manifest.json differs")
        return problems

    def run(self):
        state = self.params["state"]
        try:
            getattr(self, state)()
        except SetError as exc:
            self.module.fail_json(msg=str(exc), **self.results)
        except (OSError, mf.ManifestError) as exc:
            self.module.fail_json(msg="mem0_backup_set (state=%s) failed: %s" % (state, exc),
                                  exception=traceback.format_exc(), **self.results)
        for warning in self.warnings:
            self.module.warn(warning)
        self.module.exit_json(**self.results)


def summary_lines(data: dict, path: str, stack) -> list:
    memories = data.get("counts", {}).get("memories", {})
    graph = data.get("counts", {}).get("graph", {})
    status = data.get("status", "")
    head = "mem0 backup%s, tier %s, set %s: %s" % (
        " (%s)" % stack if stack else "", data.get("tier"), data.get("timestamp"), status.upper())
    if status == STATUS_PLANNED:
        head += " (check mode: nothing written; it would be %s)" % data.get("would_be", "").upper()
    per_ns = ", ".join("%s %d" % (ns or "(none)", n) for ns, n in sorted((memories.get("per_namespace") or {}).items()))
    lines = [head, "  path: %s" % path,
             "  memories: %s%s" % (memories.get("total"), " (%s)" % per_ns if per_ns else ""),
             "  graph: %s nodes, %s relationships" % (graph.get("nodes"), graph.get("relationships"))
             if graph.get("nodes") is not None else "  graph: not in this set%s" % (
                 " (%s)" % (data.get("parts") or {})["neo4j"]["absent"]
                 if ((data.get("parts") or {}).get("neo4j") or {}).get("absent") else "")]
    parts = data.get("parts") or {}
    sizes = ", ".join("%s %s" % (part, human(parts[part]["bytes"])) for part in PARTS if parts.get(part, {}).get("present"))
    duration = data.get("duration_seconds")
    lines.append("  size: %s%s%s" % ("~" if status == STATUS_PLANNED else "", human(data.get("size_bytes")),
                                     " (%s)" % sizes if sizes else "")
                 + (" in %.1f s" % duration if duration is not None else ""))
    baseline = data.get("baseline")
    if baseline:
        lines.append("  compared with the last good set %s (%s memories)" % (baseline.get("path"), baseline.get("memories")))
    else:
        lines.append("  no earlier good set to compare with")
    problems = data.get("problems") or []
    lines.append("  problems: %s" % ("none" if not problems else len(problems)))
    lines.extend("    - %s" % p for p in problems)
    lines.extend("  accepted: %s" % a for a in data.get("accepted") or [])
    lines.extend("  restore will need -e %s=true: %s; the way out: %s"
                 % (need.get("flag"), need.get("why"), need.get("way_out")) for need in data.get("restore_needs") or [])
    return lines


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="info"),
            backup_root=dict(type="path", required=True),
            tier=dict(type="str", choices=list(TIERS)),
            timestamp=dict(type="str"),
            started_at=dict(type="float"),
            stack_name=dict(type="str"),
            embedding_provider=dict(type="str"),
            embedding_model=dict(type="str"),
            embedding_dims=dict(type="int"),
            env_file=dict(type="path"),
            collection=dict(type="str", default="memories"),
            namespace_prefix=dict(type="str"),
            min_memories=dict(type="int", default=1),
            max_drop_percent=dict(type="float", default=50),
            decline_window_days=dict(type="float", default=7),
            accept=dict(type="list", elements="str", choices=["drop", "fingerprint"], default=[]),
            problems=dict(type="list", elements="str", default=[]),
            required_parts=dict(type="list", elements="str", choices=list(PARTS), default=["postgres"]),
            absent_parts=dict(type="dict", default={}),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
            planned=dict(type="dict"),
            verify=dict(type="bool"),
            keep=dict(type="dict"),
            keep_quarantined=dict(type="int", default=10),
            keep_quarantined_days=dict(type="int"),
            stale_partial_hours=dict(type="float", default=24),
            path=dict(type="path"),
            copy_to=dict(type="path"),
            adopted=dict(type="dict"),
            failure=dict(type="str"),
        ),
        required_if=[("state", "present", ("tier", "timestamp")), ("state", "copied", ("path", "copy_to")),
                     ("state", "abandoned", ("tier", "timestamp"))],
        supports_check_mode=True,
    )
    if module.params["state"] not in STATES:
        module.fail_json(msg="state must be one of %s; got %r" % (", ".join(STATES), module.params["state"]))
    unknown = sorted(set(module.params["absent_parts"] or {}) - set(PARTS))
    if unknown:
        module.fail_json(msg="absent_parts names %s; the parts are %s" % (", ".join(unknown), ", ".join(PARTS)))
    if module.params["min_memories"] < 0:
        module.fail_json(msg="min_memories must not be negative")
    if not 0 <= module.params["max_drop_percent"] <= 100:
        module.fail_json(msg="max_drop_percent must be between 0 and 100")
    BackupSet(module).run()


if __name__ == "__main__":
    main()
