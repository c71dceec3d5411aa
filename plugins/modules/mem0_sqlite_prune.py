#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_sqlite_prune
short_description: Remove what given memories left in mem0's history.db, inside the container that writes it
version_added: 0.1.0
description:
  - Deletes the rows of the table C(history) of mem0's C(history.db) whose C(memory_id) is one of O(memory_ids),
    and, with O(session_scope), the rows of the table C(messages) whose C(session_scope) is O(session_scope). A
    table the database does not have is left alone.
  - With O(container) the pruning runs inside that container (the mem0 server's), with O(container_python), so that
    SQLite's locking is the one mem0 uses; a bind mount seen through a virtual machine, as on macOS, does not share
    locks with the host. Without it, the database is opened on the managed host.
  - A database file that does not exist is reported with RV(exists=false) and is not created.
  - The verify role uses it to remove the rows of its smoke test's memory, which leaves C(history.db) as it was.
author: mem0ops engineers (@mem0ops)
requirements:
  - The Docker SDK for Python (C(docker)) when O(container) is set.
  - Python 3 with its C(sqlite3) module where the pruning runs (in O(container), or on the managed host).
extends_documentation_fragment:
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Counts the rows that would be deleted (RV(history), RV(messages)) and deletes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Rows once deleted are gone, so a second run deletes nothing and reports no change.
options:
  path:
    description:
      - The database file, as the pruning sees it - inside O(container) when that is set, for example
        C(/app/data/history.db), else on the managed host.
    type: str
    required: true
  memory_ids:
    description:
      - The memories whose rows of the table C(history) are deleted. Empty deletes no history row.
    type: list
    elements: str
    default: []
  session_scope:
    description:
      - The session scope whose rows of the table C(messages) are deleted, as mem0 writes it, for example
        C(user_id=mem0ops/smoke) (with C(%), C(&) and C(=) of the user id escaped as C(%25), C(%26) and C(%3D)).
      - Omitted, no message is deleted.
    type: str
  container:
    description:
      - The container that writes the database (the mem0 server's); the pruning runs inside it. It must be running.
      - Omitted, the database is opened on the managed host with the module's own Python.
    type: str
  container_python:
    description:
      - The Python inside O(container) that runs the pruning.
    type: str
    default: python3
  docker_host:
    description:
      - The Docker engine of O(container).
    type: str
    default: unix:///var/run/docker.sock
"""

EXAMPLES = r"""
- name: Remove the smoke test's rows from history.db, inside the mem0 container
  mem0ops.stack.mem0_sqlite_prune:
    docker_host: "{{ mem0_stack.docker_host }}"
    container: "{{ mem0_stack.services.mem0.container }}"
    path: /app/data/history.db
    memory_ids: [3f1c9a52-6a55-4b8e-9d0b-1c2d3e4f5a6b]
    session_scope: user_id=mem0ops/smoke
  register: pruned

- name: Count what would be removed from a history.db on the host (check mode deletes nothing)
  mem0ops.stack.mem0_sqlite_prune:
    path: /var/lib/mem0ops-lab/data/data/history.db
    memory_ids: [3f1c9a52-6a55-4b8e-9d0b-1c2d3e4f5a6b]
  check_mode: true
"""

RETURN = r"""
path:
  description: The database file, as given.
  returned: always
  type: str
container:
  description: The container the pruning ran in; null when it ran on the managed host.
  returned: always
  type: str
exists:
  description: Whether the database file exists; when it does not, nothing is deleted or created.
  returned: success
  type: bool
history:
  description: The rows of the table C(history) deleted (in check mode, that would be deleted).
  returned: success
  type: int
  sample: 2
messages:
  description: The rows of the table C(messages) deleted (in check mode, that would be deleted).
  returned: success
  type: int
  sample: 2
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mem0ops.stack.plugins.module_utils.docker_api import DOCKER_IMPORT_ERROR, HAS_DOCKER
from ansible_collections.mem0ops.stack.plugins.module_utils.sqlite_prune import PruneError, prune_in_container, prune_local


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='str', required=True),
            memory_ids=dict(type='list', elements='str', default=[]),
            session_scope=dict(type='str'),
            container=dict(type='str'),
            container_python=dict(type='str', default='python3'),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, path=p['path'], container=p['container'])
    if p['container'] and not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker') + ' (to run the pruning inside the container)',
                         exception=DOCKER_IMPORT_ERROR, **result)
    delete = not module.check_mode
    try:
        if p['container']:
            found = prune_in_container(p['docker_host'], p['container'], p['path'], p['memory_ids'], p['session_scope'],
                                       delete=delete, python=p['container_python'])
        else:
            found = prune_local(p['path'], p['memory_ids'], p['session_scope'], delete=delete)
    except PruneError as exc:
        module.fail_json(msg='cannot prune %s: %s' % (p['path'], exc), **result)
    result.update(exists=bool(found.get('exists')), history=int(found.get('history') or 0),
                  messages=int(found.get('messages') or 0))
    result['changed'] = result['history'] + result['messages'] > 0
    module.exit_json(**result)


if __name__ == '__main__':
    main()
