#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_stack_lock
short_description: Take, enter again, release or show the stack-wide lock that every writing run holds
version_added: 0.1.0
description:
  - Every playbook that writes (backup, reset, restore, drill, adopt, re-embed, health's auto-restore) holds one lock
    per stack for its whole run, the file C(<backup_root>/lock/<stack>.lock). It records the host, the pid of the
    controlling C(ansible-playbook) process (found by walking the module's parent processes, C(/proc) on Linux,
    C(ps) on macOS), the playbook and when the run began.
  - With O(state=present) the lock is taken. The same run may enter it again (it keeps a depth); O(state=absent)
    leaves it, and the outermost entry removes it. A holder whose pid is gone from this host is dead, and its lock
    is taken over, saying so (RV(took_over)); a holder on another host, or whose pid is unknown, is taken over once
    it is older than O(stale_hours).
  - A live holder is waited for O(wait) seconds, polling every O(poll) seconds; then the module fails naming the
    holder (playbook, pid, host, since when) and the way out, having changed nothing.
  - The lock also refuses while an unfinished journal of a destructive run exists (the journal's refusal lines,
    the phase, the safety set, the commands to finish or roll back), unless O(allow_journal) says this run is that
    resume or rollback.
  - In check mode nothing is taken or removed; the holder, if any, and the journal are shown.
author: mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode takes no lock; it returns the holder and warns when a run would wait or refuse. It reports no change,
        since a run leaves the lock it takes.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Taking the lock twice in the same run enters it again (its depth grows); each entry is left with O(state=absent).
options:
  backup_root:
    description: The stack's backup root (C(mem0_stack.backup_root)); the lock is C(<backup_root>/lock/<stack>.lock).
    type: path
    required: true
  stack:
    description: The stack's name (C(mem0_stack.name)).
    type: str
    required: true
  state:
    description: C(present) takes (or enters again) the lock, C(absent) leaves it, C(query) only shows it.
    type: str
    choices: [present, absent, query]
    default: present
  playbook:
    description: The playbook that takes the lock, as the holder's description shows it.
    type: str
    default: ""
  run_id:
    description:
      - An identifier of this run, the same for all its tasks; with it a run recognises its own lock even when the
        controller's pid cannot be found (a connection over SSH).
    type: str
    default: ""
  wait:
    description: How long to wait for a live holder, in seconds, before failing; 0 fails at once.
    type: int
    default: 300
  poll:
    description: Seconds between two looks at a live holder's lock.
    type: int
    default: 5
  stale_hours:
    description:
      - A holder whose liveness cannot be checked from here (another host, or no controller pid) is taken over when
        its lock is older than this.
    type: int
    default: 24
  allow_journal:
    description:
      - This run is the resume or the rollback of the unfinished destructive run, so an unfinished journal does not
        refuse it - restore with C(restore_resume) or C(restore_rollback), reset with C(reset_resume).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Take the stack's lock for the whole run
  mem0ops.stack.mem0_stack_lock:
    backup_root: /var/lib/mem0ops-lab/backups
    stack: lab
    playbook: backup.yml
    wait: 600

- name: Leave it at the end of the run
  mem0ops.stack.mem0_stack_lock:
    backup_root: /var/lib/mem0ops-lab/backups
    stack: lab
    state: absent
"""

RETURN = r"""
lock_path:
  description: The lock file.
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/lock/lab.lock
lock:
  description: What the lock file holds after the module (empty when free).
  returned: always
  type: dict
  sample: {stack: lab, host: studio, pid: 4242, playbook: backup.yml, started: "2026-12-03T02:30:00+00:00", depth: 1}
holder:
  description: The holder found before the module acted (empty when the lock was free), with its state.
  returned: always
  type: dict
holder_state:
  description: C(free), C(this run), C(alive), C(dead) or C(stale).
  returned: always
  type: str
reentered:
  description: The same run already held the lock and entered it again.
  returned: always
  type: bool
took_over:
  description: When a dead or stale holder's lock was taken over, whose and why; else empty.
  returned: always
  type: str
released:
  description: With O(state=absent), whether the lock was removed (the outermost entry).
  returned: always
  type: bool
journal:
  description: The unfinished journal found (empty when none).
  returned: always
  type: dict
msg:
  description: What happened, in one line.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import lock as lock_utils
from ansible_collections.mem0ops.stack.plugins.module_utils.lock import JournalRefusal, LockBusy


def run(module):
    params = module.params
    root, stack = params["backup_root"], params["stack"]
    me = lock_utils.identity(run_id=params["run_id"], playbook=params["playbook"])
    stale = params["stale_hours"] * 3600
    result = {"changed": False, "lock_path": lock_utils.lock_path(root, stack), "lock": {}, "holder": {},
              "holder_state": "free", "reentered": False, "took_over": "", "released": False, "journal": {}}
    seen = lock_utils.query(root, stack, me, stale)
    result.update(holder=seen["holder"], holder_state=seen["holder_state"], journal=seen["journal"] or {})
    holder_words = lock_utils.describe(seen["holder"]) if seen["holder"] else ""

    if params["state"] == "query" or (module.check_mode and params["state"] == "present"):
        result["lock"] = {key: value for key, value in seen["holder"].items() if key not in ("path", "age_seconds")}
        if seen["holder_state"] in ("free", "dead", "stale"):
            result["msg"] = "the lock is free" + (": it would be taken" if params["state"] == "present" else "") \
                if seen["holder_state"] == "free" else \
                "the lock is held by a %s run, %s: it would be taken over" % (seen["holder_state"], holder_words)
        elif seen["holder_state"] == "this run":
            result["msg"] = "this run holds the lock"
        else:
            result["msg"] = "the lock is held by %s" % holder_words
            if params["state"] == "present":
                module.warn("check mode: a real run would wait up to %d s for %s" % (params["wait"], holder_words))
        if seen["journal"] and not params["allow_journal"] and params["state"] == "present":
            module.warn("check mode: a real run would refuse: " + " ".join(lock_utils.journal_utils.refusal(seen["journal"])))
        return result

    if params["state"] == "absent":
        if module.check_mode:
            result["changed"] = seen["holder_state"] == "this run"
            result["msg"] = "this run's lock would be left" if result["changed"] else "this run holds no lock"
            return result
        left = lock_utils.release(root, stack, me)
        if left["warning"]:
            module.warn(left["warning"])
        result.update(changed=left["changed"], released=left["released"], lock=left["holder"] if left["changed"] else {})
        result["msg"] = "released the lock" if left["released"] else \
            "left the lock once (still held by this run)" if left["changed"] else "this run holds no lock"
        return result

    try:
        taken = lock_utils.acquire(root, stack, me, wait=params["wait"], poll=params["poll"], stale_seconds=stale,
                                   allow_journal=params["allow_journal"])
    except LockBusy as exc:
        module.fail_json(msg=exc.lines, lock_path=result["lock_path"], holder=exc.holder, holder_state="alive")
    except JournalRefusal as exc:
        module.fail_json(msg=exc.lines, lock_path=result["lock_path"], journal=exc.journal)
    if taken["took_over"]:
        module.warn(taken["took_over"])
    result.update(changed=True, reentered=taken["reentered"], took_over=taken["took_over"], lock=taken["lock"],
                  journal=taken["journal"] or {})
    result["msg"] = "entered the lock again (the same run holds it)" if taken["reentered"] else \
        "took the lock" + ("; " + taken["took_over"] if taken["took_over"] else "")
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_root=dict(type="path", required=True),
            stack=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent", "query"], default="present"),
            playbook=dict(type="str", default=""),
            run_id=dict(type="str", default=""),
            wait=dict(type="int", default=300),
            poll=dict(type="int", default=5),
            stale_hours=dict(type="int", default=24),
            allow_journal=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["wait"] < 0 or module.params["poll"] < 1 or module.params["stale_hours"] < 1:
        module.fail_json(msg="wait must be 0 or more seconds, poll 1 or more seconds, stale_hours 1 or more")
    try:
        module.exit_json(**run(module))
    except OSError as exc:
        module.fail_json(msg="cannot use the lock under %s: %s" % (module.params["backup_root"], exc))


if __name__ == "__main__":
    main()
