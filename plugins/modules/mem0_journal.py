#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_journal
short_description: Read, write or remove the journal of a destructive run (reset, restore)
version_added: 0.1.0
description:
  - A reset or a restore writes its journal before its first change, updates its phase as it goes and removes it when
    it ends (done, or rolled back). A journal still there when another run starts means that a run was killed midway;
    that run refuses, and prints the commands the journal holds to finish or to roll back the interrupted one.
  - The journal is one JSON file per stack, C(<backup_root>/journal/<stack>.json), mode 0600, written atomically
    (temporary file, fsync, rename). It holds no secret.
  - With O(state=present) the given fields are merged into the journal there is (a phase update passes only
    O(phase)); C(started), C(host) and C(pid) (the run's ansible-playbook process, as the lock finds it) are set
    when the journal is created.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.check_diff_full
attributes:
  idempotent:
    support: partial
    details:
      - Writing the fields the journal already holds reports no change and does not rewrite it; removing a journal
        that is not there reports no change.
options:
  backup_root:
    description: The stack's backup root (C(mem0_stack.backup_root)); the journal is in its C(journal) directory.
    type: path
    required: true
  stack:
    description: The stack's name (C(mem0_stack.name)).
    type: str
    required: true
  state:
    description:
      - V(query) reads the journal and changes nothing.
      - V(present) creates the journal or merges the given fields into it.
      - V(absent) removes it (the run ended).
    type: str
    choices: [query, present, absent]
    default: query
  fail_unfinished:
    description: With O(state=query), fail with the refusal lines when a journal exists.
    type: bool
    default: false
  playbook:
    description: The run that writes the journal (V(reset), V(restore)).
    type: str
  phase:
    description: The phase the run is entering.
    type: str
  safety_set:
    description: The path of the run's safety backup set (the state before it changed anything).
    type: str
  target_set:
    description: The path of the set the run restores, if any.
    type: str
  resume:
    description: The exact command that finishes the run.
    type: str
  rollback:
    description: The exact command that puts back the state before the run.
    type: str
  changing:
    description: Whether the run has begun to change data.
    type: bool
"""

EXAMPLES = r"""
- name: Refuse to start while another destructive run is unfinished
  mem0ops.stack.mem0_journal:
    backup_root: "{{ mem0_stack.backup_root }}"
    stack: "{{ mem0_stack.name }}"
    fail_unfinished: true

- name: Record the restore before its first change
  mem0ops.stack.mem0_journal:
    backup_root: "{{ mem0_stack.backup_root }}"
    stack: "{{ mem0_stack.name }}"
    state: present
    playbook: restore
    phase: shutdown
    safety_set: "{{ safety.path }}"
    target_set: "{{ target.path }}"
    resume: ansible-playbook -i inventory playbooks/restore.yml -e restore_confirm=lab -e restore_resume=true
    rollback: ansible-playbook -i inventory playbooks/restore.yml -e restore_confirm=lab -e restore_rollback=true

- name: Enter the next phase
  mem0ops.stack.mem0_journal:
    backup_root: "{{ mem0_stack.backup_root }}"
    stack: "{{ mem0_stack.name }}"
    state: present
    phase: postgres rows
    changing: true

- name: The run ended
  mem0ops.stack.mem0_journal:
    backup_root: "{{ mem0_stack.backup_root }}"
    stack: "{{ mem0_stack.name }}"
    state: absent
"""

RETURN = r"""
exists:
  description: Whether a journal exists after the module ran (in check mode, whether it would).
  returned: success
  type: bool
journal:
  description: The journal after the module ran (in check mode, as it would be); empty when there is none.
  returned: success
  type: dict
  sample: {stack: lab, playbook: restore, phase: postgres rows, host: studio, pid: 4242,
           started: "2026-12-03T02:30:01+00:00", updated: "2026-12-03T02:30:09+00:00", changing: true,
           safety_set: /backups/pre-restore/lab_20261203_023001, target_set: /backups/daily/lab_20261202_023000,
           resume: "ansible-playbook ... -e restore_resume=true", rollback: "ansible-playbook ... -e restore_rollback=true",
           path: /backups/journal/lab.json}
refusal:
  description: What a run prints when it finds the journal (the interrupted run, its safety set, the commands).
  returned: success
  type: list
  elements: str
path:
  description: The journal's file.
  returned: success
  type: str
"""

import os
import socket
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import journal as journals
from ansible_collections.mem0ops.stack.plugins.module_utils.lock import controller_pid

FIELDS = ("playbook", "phase", "safety_set", "target_set", "resume", "rollback", "changing")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_root=dict(type='path', required=True),
            stack=dict(type='str', required=True),
            state=dict(type='str', choices=['query', 'present', 'absent'], default='query'),
            fail_unfinished=dict(type='bool', default=False),
            playbook=dict(type='str'),
            phase=dict(type='str'),
            safety_set=dict(type='str'),
            target_set=dict(type='str'),
            resume=dict(type='str'),
            rollback=dict(type='str'),
            changing=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root, stack, state = params['backup_root'], params['stack'], params['state']
    path = journals.journal_path(root, stack)
    current = journals.read_journal(root, stack)
    before = dict(current) if current else {}
    result = dict(changed=False, path=path)

    if state == 'query':
        after = before
        if current and params['fail_unfinished']:
            module.fail_json(msg=' '.join(journals.refusal(current)), exists=True, journal=current,
                             refusal=journals.refusal(current), path=path)
    elif state == 'absent':
        after = {}
        result['changed'] = current is not None
        if current is not None and not module.check_mode:
            journals.clear_journal(root, stack)
    else:
        given = dict((name, params[name]) for name in FIELDS if params[name] is not None)
        if current is not None and current.get('phase') == 'unreadable':
            module.fail_json(msg='the journal %s cannot be read; inspect it, then remove it to go on' % path)
        entry = dict((name, value) for name, value in before.items() if name in journals.FIELDS)
        if current is None:
            # the ansible-playbook process of the run (as the lock records it), else the module's parent
            entry.update(host=socket.gethostname(), pid=controller_pid() or os.getppid(),
                         started=datetime.now(timezone.utc).isoformat(timespec='seconds'))
        missing = dict((name, value) for name, value in given.items() if entry.get(name) != value)
        entry.update(given)
        result['changed'] = current is None or bool(missing)
        if result['changed'] and not module.check_mode:
            after = journals.write_journal(root, stack, entry)
        elif result['changed']:
            after = dict(entry, stack=stack)
        else:
            after = dict(before)
        after['path'] = path

    if module._diff:
        result['diff'] = dict(before=before, after=after, before_header=path, after_header=path)
    result.update(exists=bool(after), journal=after, refusal=journals.refusal(after) if after else [])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
