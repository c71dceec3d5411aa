#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_backup_adopt_graph
short_description: Prepare, wait for and clean up the throwaway Neo4j that adopts an old set's Neo4j tar
version_added: 0.2.0
description:
  - The graph half of adopting one of the owner's old backups (C(neo4j/mem0_neo4j_<ts>.tar.gz), a tar of Neo4j's data
    directory taken while Neo4j ran); the C(mem0ops.stack.adopt) role runs the whole adoption and starts the
    throwaway Neo4j itself with community.docker.
  - O(state=present) reads the tar O(tar) in one streaming pass (its gzip integrity and member list), finds the
    directory in it that holds Neo4j's C(databases/) and C(transactions/) (whatever prefix the tar has), refuses a tar
    with unsafe members (absolute names, C(..), links out of the tree, device files), checks the free space, and
    extracts that directory into the scratch directory C(<backup_root>/adopted/.<ts>.neo4j-scratch) (directories
    0700, files 0600). It also picks two free loopback ports for the throwaway Neo4j. The tar itself is only read.
    A tar that cannot be started is not a failure; RV(problem) and RV(absent_reason) say why.
  - O(state=started) waits up to O(timeout) seconds for the throwaway Neo4j O(container) to answer C(RETURN 1) over
    Bolt at O(neo4j_uri) in the database C(neo4j) (Neo4j first recovers a store copied while it ran), then counts its
    nodes and relationships. A container that exits, or a database that does not come up in time, is not a failure -
    RV(started) is false and RV(absent_reason) says why, with the relevant line of the container's log.
  - O(state=absent) removes the scratch directory O(scratch), or, without it, every scratch directory an interrupted
    adoption left under C(<backup_root>/adopted/).
author:
  - mem0ops engineers (@mem0ops)
extends_documentation_fragment:
  - mem0ops.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - O(state=present) reads the tar and returns its prediction (size, gzip integrity, whether it holds a Neo4j data
        directory) without extracting anything; O(state=absent) says what it would remove.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - O(state=present) replaces a scratch directory left by an earlier run; O(state=absent) removes nothing twice.
options:
  state:
    description:
      - V(present) inspects the tar and extracts its data directory; V(started) waits for the throwaway Neo4j and
        counts it; V(absent) removes scratch directories.
    type: str
    choices: [present, started, absent]
    default: present
  tar:
    description:
      - The Neo4j tar (C(.tar.gz)). Required with O(state=present).
    type: path
  backup_root:
    description:
      - The stack's backup root; the scratch directory goes under its tier C(adopted/).
    type: path
    required: true
  timestamp:
    description:
      - The old set's name (C(YYYYmmdd_HHMMSS)), which names the scratch directory and the container. Required with
        O(state=present).
    type: str
  scratch:
    description:
      - With O(state=absent), the scratch directory to remove (RV(scratch) of O(state=present)); only names
        C(.<ts>.neo4j-scratch) are accepted.
    type: path
  container:
    description:
      - With O(state=started), the throwaway Neo4j container whose state and log are read.
    type: str
  docker_host:
    description:
      - The Docker engine's address.
    type: str
    default: unix:///var/run/docker.sock
  neo4j_uri:
    description:
      - With O(state=started), the Bolt URI of the throwaway Neo4j (authentication is off in it).
    type: str
  timeout:
    description:
      - With O(state=started), the seconds to wait for the database C(neo4j) to answer.
    type: int
    default: 180
notes:
  - The throwaway Neo4j runs with authentication off and listens on 127.0.0.1 only, on ports picked here.
seealso:
  - module: mem0ops.stack.mem0_backup_adopt
  - module: mem0ops.stack.neo4j_export
"""

EXAMPLES = r"""
- name: Inspect and extract the old Neo4j tar
  mem0ops.stack.mem0_backup_adopt_graph:
    tar: /Volumes/Data/backups/mem0/daily/20260103_133102/neo4j/mem0_neo4j_20260103_133102.tar.gz
    backup_root: /Volumes/Data/backups/mem0
    timestamp: "20260103_133102"
  register: graph

- name: Wait for the throwaway Neo4j and count it
  mem0ops.stack.mem0_backup_adopt_graph:
    state: started
    backup_root: /Volumes/Data/backups/mem0
    container: "{{ graph.container }}"
    neo4j_uri: "{{ graph.neo4j_uri }}"
    timeout: 180
  register: graph_up

- name: Remove the scratch copy
  mem0ops.stack.mem0_backup_adopt_graph:
    state: absent
    backup_root: /Volumes/Data/backups/mem0
    scratch: "{{ graph.scratch }}"
"""

RETURN = r"""
tar:
  description: What the tar holds - size, gzip_ok, members, bytes (uncompressed), prefix (the data directory in it,
    empty for its top), databases, unsafe (the unsafe members, one line each), problem.
  returned: O(state=present)
  type: dict
prediction:
  description: One line for the check-mode summary.
  returned: O(state=present)
  type: str
problem:
  description: Why the tar is not started (corrupt, unsafe, no Neo4j store, no room); null when it may be.
  returned: O(state=present)
  type: str
absent_reason:
  description: The set's C(absent_parts.neo4j) when the graph part cannot be made; null when it may be.
  returned: O(state=present) and O(state=started)
  type: str
scratch:
  description: The scratch directory that holds the extracted data directory (null when nothing was extracted).
  returned: O(state=present)
  type: str
container:
  description: The name of the throwaway Neo4j container (C(mem0ops_adopt_neo4j_<ts>)).
  returned: O(state=present)
  type: str
bolt_port:
  description: A free loopback port for the throwaway Neo4j's Bolt connector.
  returned: O(state=present)
  type: int
http_port:
  description: A free loopback port for its HTTP connector.
  returned: O(state=present)
  type: int
neo4j_uri:
  description: Its Bolt URI.
  returned: O(state=present)
  type: str
started:
  description: Whether the database C(neo4j) answered in time.
  returned: O(state=started)
  type: bool
seconds:
  description: Seconds until it answered (or until the wait gave up).
  returned: O(state=started)
  type: float
counts:
  description: The nodes and relationships of the started graph, by Cypher.
  returned: O(state=started)
  type: dict
  sample: {nodes: 70, relationships: 94}
removed:
  description: The scratch directories removed (that would be, in check mode).
  returned: O(state=absent)
  type: list
  elements: str
"""

import os
import shutil
import socket
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt_graph as ag
from ansible_collections.mem0ops.stack.plugins.module_utils import neo4j as n4j
from ansible_collections.mem0ops.stack.plugins.module_utils.docker_api import (
    DOCKER_IMPORT_ERROR, HAS_DOCKER, ContainerError, docker, engine)

POLL_SECONDS = 1.0
LOG_TAIL = 200
# Room kept free beside the extracted copy: Neo4j's recovery writes to it.
SPARE_BYTES = 256 << 20


def free_port(taken=()) -> int:
    """A loopback port nothing listens on now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def present(module, results):
    params = module.params
    stamp = params["timestamp"]
    facts = ag.inspect_tar(params["tar"])
    results.update(tar=facts, prediction=ag.prediction(facts), problem=facts["problem"], absent_reason=None,
                   scratch=None, container=ag.container_name(stamp), bolt_port=None, http_port=None, neo4j_uri=None)
    scratch = ag.scratch_path(params["backup_root"], stamp)
    if not facts["problem"]:
        parent = os.path.dirname(scratch)
        free = shutil.disk_usage(parent if os.path.isdir(parent) else params["backup_root"]).free
        if free < facts["bytes"] + SPARE_BYTES:
            facts["problem"] = results["problem"] = (
                "the scratch directory's filesystem has %d bytes free, the data directory of %s needs %d (and room "
                "for Neo4j's recovery)" % (free, os.path.basename(params["tar"]), facts["bytes"]))
    if facts["problem"]:
        results["absent_reason"] = ag.not_adopted(facts["problem"])
        return
    if module.check_mode:
        return
    ag.remove_tree(scratch)
    results["changed"] = True
    try:
        extracted = ag.extract(params["tar"], facts["prefix"], scratch)
    except ag.GraphTarError as exc:
        ag.remove_tree(scratch)
        results["problem"] = str(exc)
        results["absent_reason"] = ag.not_adopted(str(exc))
        return
    except Exception:
        ag.remove_tree(scratch)  # no half copy left behind (a disk error, the tar replaced while read)
        raise
    bolt = free_port()
    http = free_port((bolt,))
    results.update(scratch=scratch, extracted=extracted, bolt_port=bolt, http_port=http,
                   neo4j_uri="bolt://127.0.0.1:%d" % bolt)


def container_state(client, name):
    """(running, exit code, log tail) of the container; (False, None, '') when it is gone."""
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return False, None, ""
    logs = container.logs(tail=LOG_TAIL).decode(errors="replace")
    state = container.attrs.get("State") or {}
    return state.get("Running", False), state.get("ExitCode"), logs


def database_status(driver) -> str:
    """The database neo4j's status as the system database reports it, or ''."""
    try:
        rows = n4j.read(driver, "system", "SHOW DATABASE neo4j YIELD currentStatus, statusMessage")
    except Exception:  # pylint: disable=broad-exception-caught
        return ""
    if not rows:
        return "no database neo4j"
    row = rows[0]
    return "status %s%s" % (row.get("currentStatus"), (": %s" % row["statusMessage"]) if row.get("statusMessage") else "")


def started(module, results):
    params = module.params
    client = engine(params["docker_host"])
    name = params["container"]
    tar = params["tar"] and os.path.basename(params["tar"]) or name
    begun = time.monotonic()
    deadline = begun + params["timeout"]
    results.update(started=False, counts=None, absent_reason=None, seconds=None)
    driver = n4j.neo4j.GraphDatabase.driver(params["neo4j_uri"], auth=None, connection_timeout=3.0,
                                            connection_acquisition_timeout=5.0, user_agent="mem0ops.stack")
    last = "no answer yet"
    try:
        while True:
            running, code, logs = container_state(client, name)
            if not running:
                results["seconds"] = round(time.monotonic() - begun, 1)
                results["absent_reason"] = ag.not_started(tar, "the container stopped (exit code %s) after %s s"
                                                          % (code, results["seconds"]), logs)
                return
            try:
                with driver.session(database="neo4j") as session:
                    session.run("RETURN 1").consume()
                break
            except Exception as exc:  # pylint: disable=broad-exception-caught
                last = n4j.error_detail(exc)
            if time.monotonic() >= deadline:
                results["seconds"] = round(time.monotonic() - begun, 1)
                status = database_status(driver)
                what = "the database neo4j did not answer RETURN 1 within %d s (%s%s)" % (
                    params["timeout"], last, "; " + status if status else "")
                results["absent_reason"] = ag.not_started(tar, what, logs)
                return
            time.sleep(POLL_SECONDS)
        results["seconds"] = round(time.monotonic() - begun, 1)
        results["started"] = True
        results["counts"] = {"nodes": n4j.count_nodes(driver, "neo4j"),
                             "relationships": n4j.count_relationships(driver, "neo4j")}
    finally:
        driver.close()


def absent(module, results):
    params = module.params
    paths = [params["scratch"]] if params["scratch"] else ag.leftover_scratches(params["backup_root"])
    paths = [path for path in paths if os.path.lexists(path)]
    results.update(removed=paths, changed=bool(paths))
    if not module.check_mode:
        for path in paths:
            ag.remove_tree(path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "started", "absent"], default="present"),
            tar=dict(type="path"),
            backup_root=dict(type="path", required=True),
            timestamp=dict(type="str"),
            scratch=dict(type="path"),
            container=dict(type="str"),
            docker_host=dict(type="str", default="unix:///var/run/docker.sock"),
            neo4j_uri=dict(type="str"),
            timeout=dict(type="int", default=180),
        ),
        required_if=[("state", "present", ("tar", "timestamp")), ("state", "started", ("container", "neo4j_uri"))],
        supports_check_mode=True,
    )
    results = {"changed": False}
    state = module.params["state"]
    if state == "started":
        if not HAS_DOCKER:
            module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
        n4j.ensure_required_libs(module)
    try:
        {"present": present, "started": started, "absent": absent}[state](module, results)
    except (ag.GraphTarError, ContainerError, n4j.Neo4jError, OSError) as exc:
        module.fail_json(msg=str(exc), **results)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg="mem0_backup_adopt_graph failed: %s" % exc, exception=traceback.format_exc(), **results)
    module.exit_json(**results)


if __name__ == "__main__":
    main()
