#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_sqlite_info
short_description: Count the rows of every table of one of the stack's SQLite databases, read-only
version_added: 0.1.0
description:
  - Opens an SQLite database (mem0's C(history.db), OpenMemory's C(openmemory.db)) with C(mode=ro), so nothing is
    written, not even a journal, and counts the rows of every table that is not SQLite's own.
  - A database that does not exist is reported with RV(exists=false) and no rows; a file that exists but cannot be
    read fails the module with a message that names it.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.read_only
options:
  path:
    description: The database file.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Count the rows of mem0's history.db
  mem0ops.stack.mem0_sqlite_info:
    path: /var/lib/mem0ops-lab/data/data/history.db
  register: history
"""

RETURN = r"""
path:
  description: The database file, as given.
  returned: success
  type: str
exists:
  description: Whether the file exists.
  returned: success
  type: bool
tables:
  description: Table name -> rows.
  returned: success
  type: dict
  sample: {history: 1968, messages: 0}
rows:
  description: The rows of all tables together.
  returned: success
  type: int
"""

import sqlite3

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils.sqlite import count_rows


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True)),
        supports_check_mode=True,
    )
    path = module.params['path']
    try:
        result = count_rows(path)
    except sqlite3.Error as exc:
        module.fail_json(msg='cannot read %s: %s' % (path, exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
