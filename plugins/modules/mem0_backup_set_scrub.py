#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_set_scrub
short_description: Re-verify every stored mem0 backup set and mark the corrupted ones
version_added: 0.1.0
description:
  - The scrub. Every set under O(backup_root) (as M(mem0ops.stack.mem0_backup_set) writes them) is checked again as
    its backup checked it - every file the set manifest names re-hashed (size and sha256), each part's manifest read
    again, and each custom-format PostgreSQL dump proved readable with C(pg_restore --list) - so that a set that rotted
    on the disk (a bit flip, a truncated or missing file) is found before a restore needs it.
  - A set that fails is marked - a file C(CORRUPTED.txt) written beside its data, listing what failed and when; none
    of the set's own files is rewritten. From then on the set is CORRUPTED - never a good set, never counted toward
    C(keep) by the rotation (so it never pushes an intact set out; it is kept for inspection), never the baseline of
    a new set, and the default choice of M(mem0ops.stack.mem0_backup_set_info) (restore's) passes over it to the next
    valid set, saying why.
  - A set already marked stays marked and is not checked again; a directory without a readable backup set manifest
    is skipped (it is not a set these tools can judge) and never marked.
  - Progress is written to O(progress_file) one line per set as it is checked, and RV(summary) holds lines a person
    can read at 02:30.
  - With O(dumps), only those dump files are proved readable with C(pg_restore --list) (the backup's check of a new
    set's dumps before the set is gated); nothing is scanned or marked.
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.postgres
  - mem0ops.stack.postgres.connect_via
  - mem0ops.stack.postgres.client_tools
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Every set is checked; none is marked, RV(corrupted) lists those that would be, and no progress file is written.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A set marked by the first run is reported as already marked by the second, which changes nothing.
options:
  backup_root:
    description:
      - Directory that holds one directory per tier.
    type: path
    required: true
  tiers:
    description:
      - Only the sets of these tiers are checked. Empty, every tier.
    type: list
    elements: str
    choices: [hourly, daily, weekly, monthly, manual, pre-reset, pre-restore, adopted]
    default: []
  mark:
    description:
      - Mark each set found corrupted (C(CORRUPTED.txt)). V(false) only reports.
    type: bool
    default: true
  list_dumps:
    description:
      - Prove each custom-format dump readable with C(pg_restore --list), run inside O(container) with
        O(connect_via=docker_exec) (the dump's first 256 KiB are streamed into its standard input - the header and the
        table of contents, which is all the tool reads; the whole file when the table of contents is longer) or on
        the managed host with O(connect_via=tcp).
      - When the container is not running, the dumps are not listed (RV(list_note) says so); the checksums still are.
    type: bool
    default: true
  dumps:
    description:
      - Only prove these dump files readable with C(pg_restore --list); RV(dump_problems) lists those that are not.
    type: list
    elements: path
  progress_file:
    description:
      - The file the progress goes to, one line per set, rewritten by each run. Empty, none.
      - Default C(<backup_root>/scrub.log) (outside the tier directories, so never taken for a set).
    type: path
notes:
  - It takes no lock; a set a rotation deletes while the scrub reads it is skipped (RV(sets) says so), never marked.
seealso:
  - module: mem0ops.stack.mem0_backup_set
  - module: mem0ops.stack.mem0_backup_set_info
"""

EXAMPLES = r"""
- name: Scrub every stored set, inside the database container for pg_restore --list
  mem0ops.stack.mem0_backup_set_scrub:
    backup_root: "{{ mem0_stack.backup_root }}"
    connect_via: docker_exec
    container: "{{ mem0_stack.services.postgres.container }}"
    docker_host: "{{ mem0_stack.docker_host }}"
  register: scrub

- name: Prove a new set's dumps readable before it is gated
  mem0ops.stack.mem0_backup_set_scrub:
    backup_root: /var/lib/mem0ops/backups
    dumps: [/var/lib/mem0ops/backups/daily/.20261122_023000.partial/postgres/mem0_20261122_023000.dump]
    connect_via: docker_exec
    container: mem0_postgres
  register: readable
"""

RETURN = r"""
sets:
  description: Each set checked, newest first, with path, tier, timestamp, status (before the scrub), verdict
    (V(ok), V(corrupted), V(already marked) or V(skipped)), problems, files, bytes and seconds.
  returned: without O(dumps)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000, tier: daily, timestamp: "20261122_023000",
            status: valid, verdict: ok, problems: [], files: 14, bytes: 1214522, seconds: 0.02}]
corrupted:
  description: The sets this run marked (in check mode, would mark), each with path and problems.
  returned: without O(dumps)
  type: list
  elements: dict
  sample: [{path: /var/lib/mem0ops-lab/backups/daily/20261122_023000,
            problems: ["postgres/mem0_lab_20261122_023000.dump: size 214215 sha256 0a1b2c3d4e5f..., the manifest
                        says size 214215 sha256 9f8e7d6c5b4a..."]}]
already_corrupted:
  description: The paths of sets marked by an earlier run.
  returned: without O(dumps)
  type: list
  elements: str
  sample: []
list_note:
  description: Whether and where the custom dumps were listed, or why not.
  returned: always
  type: str
  sample: pg_restore --list in container mem0_postgres_lab, 3 dump(s) in 0.3 s
dump_problems:
  description: With O(dumps), one line per dump that pg_restore --list cannot read.
  returned: O(dumps) given
  type: list
  elements: str
  sample: []
summary:
  description: Lines a person can read at 02:30.
  returned: always
  type: list
  elements: str
  sample: ["scrub of /var/lib/mem0ops-lab/backups: 12 set(s), 14.2 MiB re-hashed in 0.4 s: 11 ok, 1 corrupted (1
            newly marked), 0 already marked, 0 skipped"]
progress_file:
  description: Where the progress went; null when none was written.
  returned: always
  type: str
  sample: /var/lib/mem0ops-lab/backups/scrub.log
seconds:
  description: Seconds the scrub took.
  returned: always
  type: float
  sample: 0.4
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mem0ops.stack.plugins.module_utils import backup_set as bset
from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.module_utils import scrub
from ansible_collections.mem0ops.stack.plugins.module_utils.postgres import (
    POSTGRES_REQUIRED_IF, STDERR_LIMIT, DockerRunner, PostgresClient, PostgresError, client_tools_argument_spec,
    ensure_docker, make_runner, postgres_argument_spec, tools_location)


VANISHED = {"verdict": scrub.SKIPPED, "problems": ["deleted (by a rotation) while the scrub ran"], "files": 0,
            "bytes": 0, "seconds": 0.0}


class Lister:
    """pg_restore --list where the module's client tools run; ``error`` says why it cannot run (then it is None)."""

    def __init__(self, module):
        self.module = module
        self.client = PostgresClient(module.params)
        self.runner = None
        self.count = 0
        self.seconds = 0.0
        self.error = ""
        try:
            if module.params["connect_via"] == "docker_exec":
                self.client.container()
            self.runner = make_runner(module, self.client)
        except PostgresError as exc:
            self.error = str(exc)

    def __call__(self, path: str) -> str:
        started = time.monotonic()
        try:
            if isinstance(self.runner, DockerRunner):
                rc, err = self.feed_prefix(path)
            else:
                rc, dummy, err = self.runner.run(list(scrub.LIST_TOOL) + [path])
        except PostgresError as exc:
            return str(exc)
        finally:
            self.count += 1
            self.seconds += time.monotonic() - started
        if rc == 0:
            return ""
        return (err.decode(errors="replace").strip()[-STDERR_LIMIT:] or "exit code %s" % rc).replace("\n", " ")

    def feed_prefix(self, path: str):
        """pg_restore --list of the dump streamed into the container: its first LIST_PREFIX bytes (the header and the
        table of contents), the whole file only when the table of contents is longer."""
        if os.path.getsize(path) > scrub.LIST_PREFIX:
            fd, head = tempfile.mkstemp(prefix="dump-head.", dir=self.module.tmpdir)
            try:
                with open(path, "rb") as source, os.fdopen(fd, "wb") as target:
                    target.write(source.read(scrub.LIST_PREFIX))
                rc, err, dummy = self.runner.feed(list(scrub.LIST_TOOL), head)
            finally:
                os.unlink(head)
            if rc == 0 or scrub.PREFIX_EOF not in err:
                return rc, err
        rc, err, dummy = self.runner.feed(list(scrub.LIST_TOOL), path)
        return rc, err

    def note(self) -> str:
        if self.runner is None:
            return "not listed (pg_restore --list cannot run %s: %s); the checksums were checked" % (
                tools_location(self.module.params), self.error)
        where = tools_location(self.module.params)
        return "pg_restore --list %s, %d dump(s) in %.2f s" % (where, self.count, self.seconds)

    def close(self):
        if self.runner is not None:
            self.runner.close()
        self.client.close()


def run(module) -> dict:
    params = module.params
    started = time.monotonic()
    lister = Lister(module) if params["list_dumps"] or params["dumps"] else None
    callable_lister = lister if lister is not None and lister.runner is not None else None
    try:
        if params["dumps"]:
            if callable_lister is None:
                raise bset.SetError("cannot prove the dumps readable: %s" % lister.note())
            problems = []
            for path in params["dumps"]:
                complaint = callable_lister(path) if os.path.isfile(path) else "missing"
                if complaint:
                    problems.append("%s: pg_restore --list cannot read it: %s" % (os.path.basename(path), complaint))
            return {"changed": False, "dump_problems": problems, "list_note": lister.note(),
                    "summary": ["%d dump(s) readable by pg_restore --list" % (len(params["dumps"]) - len(problems))]
                    + problems, "progress_file": None, "seconds": round(time.monotonic() - started, 3)}
        return scrub_all(module, callable_lister, lister, started)
    finally:
        if lister is not None:
            lister.close()


def scrub_all(module, callable_lister, lister, started) -> dict:
    params = module.params
    root = params["backup_root"]
    if not os.path.isdir(root):
        raise bset.SetError("backup_root %s does not exist: set mem0_stack.backup_root to the directory the backups "
                            "are written to" % root)
    sets, dummy = bset.scan(root, time.time())
    if params["tiers"]:
        sets = [s for s in sets if s["tier"] in params["tiers"]]
    progress = params["progress_file"]
    if progress is None:
        progress = os.path.join(root, "scrub.log")
    progress = progress if progress and not module.check_mode else None
    handle = open(progress, "w", encoding="utf-8") if progress else None
    results, marked = [], []
    try:
        if handle:
            os.chmod(progress, 0o600)
            handle.write("%s scrub of %s started: %d set(s)\n" % (mf.utc_now(), root, len(sets)))
            handle.flush()
        for index, entry in enumerate(sets, 1):
            try:
                result = scrub.scrub_set(entry, callable_lister)
                if result["verdict"] == scrub.CORRUPTED and params["mark"] and not module.check_mode:
                    scrub.mark(entry["path"], result["problems"], mf.utc_now())
            except OSError:
                if os.path.isdir(entry["path"]):
                    raise
                result = VANISHED  # a rotation deleted it meanwhile: nothing to judge
            if result["verdict"] == scrub.CORRUPTED:
                marked.append({"path": entry["path"], "problems": result["problems"]})
            results.append((entry, result))
            if handle:
                handle.write(scrub.progress_line(index, len(sets), entry, result) + "\n")
                handle.flush()
        note = lister.note() if lister is not None else "not listed (list_dumps=false)"
        seconds = round(time.monotonic() - started, 3)
        lines = scrub.summary(root, results, marked if params["mark"] else [], module.check_mode or not params["mark"],
                              note, seconds)
        if handle:
            handle.write("".join("%s\n" % line for line in lines))
    finally:
        if handle:
            handle.close()
    return {"changed": bool(marked) and params["mark"],
            "sets": [dict(path=e["path"], tier=e["tier"], timestamp=e["timestamp"], status=e["status"], **r)
                     for e, r in results],
            "corrupted": marked, "already_corrupted": [e["path"] for e, r in results if r["verdict"] == scrub.ALREADY],
            "list_note": note, "summary": lines, "progress_file": progress, "seconds": seconds}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            postgres_argument_spec(),
            **client_tools_argument_spec(),
            backup_root=dict(type="path", required=True),
            tiers=dict(type="list", elements="str", choices=list(bset.TIERS), default=[]),
            mark=dict(type="bool", default=True),
            list_dumps=dict(type="bool", default=True),
            dumps=dict(type="list", elements="path"),
            progress_file=dict(type="path"),
        ),
        required_if=POSTGRES_REQUIRED_IF,
        supports_check_mode=True,
    )
    if module.params["list_dumps"] or module.params["dumps"]:
        ensure_docker(module)
    try:
        result = run(module)
    except bset.SetError as exc:
        module.fail_json(msg=str(exc))
    except (OSError, mf.ManifestError) as exc:
        module.fail_json(msg="mem0_backup_set_scrub failed: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
