#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_adopt_info
short_description: Find the owner's old mem0 backups and say what adopting each would give
version_added: 0.2.0
description:
  - Read-only. Finds every backup the old backup script wrote, C(<root>/{hourly,daily,weekly,monthly}/<YYYYmmdd_HHMMSS>/)
    holding C(postgres/mem0_<ts>.sql.gz) (plain SQL from C(pg_dump | gzip -9)) and C(neo4j/mem0_neo4j_<ts>.tar.gz),
    under O(backup_root) and O(paths). A directory that holds a set manifest of this collection is not an old set.
  - With O(verify), proves each file without loading anything - its size, its sha256 against the C(<file>.sha256)
    beside it when there is one, its gzip integrity (every member decompressed to its end marker) and, for the SQL,
    pg_dump's closing line (a dump without it was cut short; the old script's pipe hid pg_dump's exit code) - and
    predicts the verdict - loaded and counted, or QUARANTINED with the reason.
  - Says which old sets are adopted already (a set of the tier C(adopted) under O(backup_root) whose manifest names
    the old set as its source) with their verdict, counts per namespace and vector dims, and gives one summary.
  - M(mem0ops.stack.mem0_backup_adopt) adopts them; the C(mem0ops.stack.adopt) role does both.
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  backup_root:
    description:
      - The stack's backup root; old sets are looked for in its tier directories, and adopted sets are read from its
        C(adopted/) tier.
    type: path
    required: true
  paths:
    description:
      - More places to look for old sets, each a backup root with tier directories or one old set's directory.
    type: list
    elements: path
    default: []
  verify:
    description:
      - Read every file of every old set (sha256, gzip integrity, pg_dump's closing line) and predict the verdict.
      - Without it only the layout and the adopted sets are read.
    type: bool
    default: true
  adopted_before:
    description:
      - The adopted sets (paths) that existed before this run, as RV(adopted_paths) of an earlier call returned them;
        the summary calls them C(already adopted).
    type: list
    elements: path
    default: []
notes:
  - The original files are only read.
seealso:
  - module: mem0ops.stack.mem0_backup_adopt
  - module: mem0ops.stack.mem0_backup_set_info
"""

EXAMPLES = r"""
- name: List the old backups and predict their verdicts
  mem0ops.stack.mem0_backup_adopt_info:
    backup_root: /Volumes/Data/backups/mem0
    paths: [/Volumes/NAS/old-mem0-backups]
  register: found

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ found.summary }}"
"""

RETURN = r"""
sets:
  description: Each old set found, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The old set's directory.
      type: str
      sample: /Volumes/Data/backups/mem0/daily/20260103_133102
    tier:
      description: Its tier directory.
      type: str
      sample: daily
    timestamp:
      description: Its name.
      type: str
      sample: "20260103_133102"
    files:
      description: Each file with C(name), C(part) (postgres, neo4j, other), C(size), C(sha256), and when proven
        C(gzip_ok), C(gzip_error), C(dump_complete), C(checksum_file), C(checksum_ok).
      type: list
      elements: dict
    problems:
      description: Why its PostgreSQL dump would be quarantined without loading it (with O(verify)).
      type: list
      elements: str
    state:
      description: V(pending), V(adopted), V(same_dump) (another old set with the same dump was adopted under this
        name) or V(taken) (another old set with another dump was).
      type: str
    verdict:
      description: V(pending), V(ADOPTED), V(QUARANTINED), C(already adopted (...)) or V(not adopted).
      type: str
    adopted_path:
      description: The adopted set's directory (where it goes while pending).
      type: str
      sample: /Volumes/Data/backups/mem0/adopted/20260103_133102
pending:
  description: The old sets still to adopt, in the shape of RV(sets).
  returned: always
  type: list
  elements: dict
adopted_paths:
  description: The adopted sets that exist now.
  returned: always
  type: list
  elements: str
summary:
  description: One block of lines per old set - verdict, files, counts, dims - for a person to read.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt


def describe(found: dict, backup_root: str, verify: bool, before) -> dict:
    entry = dict(found)
    if verify:
        proven = adopt.prove_set(found)
        entry.update(files=proven["files"], problems=proven["problems"])
    else:
        entry.update(files=[], problems=[])
    state = adopt.adoption_state(found, backup_root, adopt.pg_sha256(entry["files"]))
    entry.update(state=state["state"], adopted_path=state["path"], manifest=state["manifest"],
                 verdict=adopt.verdict(state, before))
    if state["state"] == "taken":
        other = (state["manifest"].get("adopted") or {}).get("source")
        entry["problems"] = entry["problems"] + ["%s holds another old set (%s) of the same name" % (state["path"], other)]
    return entry


def run(params: dict) -> dict:
    root = params["backup_root"]
    found = adopt.discover([root] + list(params["paths"]))
    before = set(params["adopted_before"])
    sets = [describe(s, root, params["verify"], before) for s in found]
    adopted_dir = os.path.join(root, adopt.ADOPTED_TIER)
    adopted_paths = sorted(os.path.join(adopted_dir, n) for n in os.listdir(adopted_dir)
                           if adopt.is_timestamp(n)) if os.path.isdir(adopted_dir) else []
    summary = ["old backups under %s: %d set(s) found, %d adopted, %d to adopt"
               % (", ".join([root] + list(params["paths"])), len(sets),
                  sum(1 for s in sets if s["state"] in ("adopted", "same_dump")),
                  sum(1 for s in sets if s["state"] == "pending"))]
    for entry in sets:
        summary.extend(adopt.set_lines(entry))
    for entry in sets:
        entry.pop("manifest", None)
    return {"changed": False, "sets": sets, "pending": [s for s in sets if s["state"] == "pending"],
            "adopted_paths": adopted_paths, "summary": summary}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_root=dict(type="path", required=True),
            paths=dict(type="list", elements="path", default=[]),
            verify=dict(type="bool", default=True),
            adopted_before=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    missing = [p for p in module.params["paths"] if not os.path.isdir(p)]
    if missing:
        module.fail_json(msg="paths names %s, which is not a directory: give the old backup root (the directory that "
                         "holds daily/, weekly/, ...) or one old set's directory" % ", ".join(missing))
    try:
        module.exit_json(**run(module.params))
    except OSError as exc:
        module.fail_json(msg="cannot read the old backups: %s" % exc)


if __name__ == "__main__":
    main()
