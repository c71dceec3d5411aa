#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_sqlite_backup
short_description: Copy the stack's live SQLite databases with SQLite's online backup API
version_added: 0.1.0
description:
  - Copies every database of O(candidates) that exists and is an SQLite database (mem0's C(history.db),
    OpenMemory's C(openmemory.db)) into O(dest), page by page through C(sqlite3.Connection.backup), while the
    application keeps writing; never as a file copy, which can catch a half-written page or miss the journal.
  - Each copy is checked with C(PRAGMA integrity_check), its tables are counted, and it is written under a temporary
    name and renamed. O(dest)C(/manifest.json) (format C(mem0ops.manifest/1), kind C(sqlite_backup)) lists every copy
    with its size and sha256.
  - Candidates that do not exist or are not SQLite files are skipped and listed in RV(skipped). A candidate named
    twice (also through a symbolic link) is copied once; two databases with the same file name get the name of
    their directory as a prefix.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.writes_every_run
attributes:
  check_mode:
    details:
      - In check mode the module lists what it would copy and skip, and writes nothing.
  idempotent:
    details:
      - Every run takes a new copy and reports changed.
options:
  dest:
    description: The directory the copies and their manifest are written to; created (mode 0700) when missing.
    type: path
    required: true
  candidates:
    description: Paths of the databases to copy. Paths that do not exist or are not SQLite databases are skipped.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
- name: Copy history.db and openmemory.db into the backup set being written
  mem0ops.stack.mem0_sqlite_backup:
    dest: /var/lib/mem0ops-lab/backups/.20260101_000000.partial/history
    candidates:
      - /var/lib/mem0ops-lab/data/data/history.db
      - /var/lib/mem0ops-lab/data/openmemory/openmemory.db
"""

RETURN = r"""
files:
  description: One entry per copy, as in the manifest.
  returned: success, not in check mode
  type: list
  elements: dict
  sample:
    - name: history.db
      size: 53248
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      source: /var/lib/mem0ops-lab/data/data/history.db
      tables: {history: 1968}
      integrity: ok
      page_count: 13
      journal_mode: wal
      seconds: 0.012
planned:
  description: The databases that are (or in check mode would be) copied, with the name each gets in O(dest).
  returned: always
  type: list
  elements: dict
  sample: [{source: /var/lib/mem0ops-lab/data/data/history.db, name: history.db}]
skipped:
  description: The candidates that do not exist or are not SQLite databases.
  returned: always
  type: list
  elements: str
duration_seconds:
  description: Seconds the copies took.
  returned: success, not in check mode
  type: float
"""

import sqlite3

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils.sqlite import (
    SqliteBackupError, backup_databases, plan_backup)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            candidates=dict(type='list', elements='path', required=True),
        ),
        supports_check_mode=True,
    )
    planned, skipped = plan_backup(module.params['candidates'])
    result = dict(changed=not module.check_mode, planned=[dict(source=source, name=name) for source, name in planned],
                  skipped=skipped)
    if module.check_mode:
        module.exit_json(**result)
    try:
        result.update(backup_databases(module.params['dest'], module.params['candidates']))
    except (SqliteBackupError, sqlite3.Error, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
