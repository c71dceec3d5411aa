#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_config_capture
short_description: Keep a mem0 stack's compose files and container configuration, every secret redacted
version_added: 0.1.0
description:
  - Writes the compose files found in O(compose_dir) to C(<dest>/compose/<name>) and each container's
    C(docker inspect) output to C(<dest>/containers/<service>.json), all mode C(0600), each written under a
    temporary name and renamed.
  - Redacted, with C(***REDACTED***) in place of the value, by the one rule of the collection
    (C(plugins/module_utils/secrets.py)) - the value of every variable or key whose name contains C(PASS),
    C(SECRET), C(TOKEN), C(KEY), C(AUTH) or C(CREDENTIAL) unless it is a C(${VAR}) reference, the password of every
    URL, and every secret value of O(env_file) wherever it appears.
  - The env file itself is never written here (the backup role keeps it ansible-vault encrypted when asked to).
  - M(mem0ops.stack.mem0_backup_set) then redacts the inventory's secrets in what is left, and quarantines a set
    whose manifests hold one in clear.
author:
  - mem0ops engineers (@mem0ops)
requirements:
  - The Docker SDK for Python (C(docker)) when O(containers) is not empty.
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.writes_every_run
attributes:
  check_mode:
    details:
      - Reads the compose files and inspects the containers, and returns what would be written; writes nothing.
  idempotent:
    details:
      - The capture is a snapshot; it is always written again (the backup role writes it into a new set each run).
options:
  dest:
    description:
      - The directory to write into (the set's C(config/) part); created, mode C(0700), when missing.
    type: path
    required: true
  compose_dir:
    description:
      - The directory of the compose files. Without it, O(compose_names) are paths.
    type: path
  compose_names:
    description:
      - The compose files to keep, by name in O(compose_dir); those that do not exist are skipped.
    type: list
    elements: str
    default: []
  env_file:
    description:
      - The env file beside the compose file. Its secret values are redacted wherever they appear; the file is never
        copied nor returned.
    type: path
  containers:
    description:
      - Service name to container name; each container's C(docker inspect) output is kept, redacted.
      - A container that does not exist is listed in RV(missing_containers), not an error.
    type: dict
    default: {}
  docker_host:
    description:
      - The Docker engine's URL.
    type: str
    default: unix:///var/run/docker.sock
notes:
  - The value of a secret is never logged nor returned; only the number of redactions is (RV(redactions)).
seealso:
  - module: mem0ops.stack.mem0_backup_set
"""

EXAMPLES = r"""
- name: Keep the compose files and each container's configuration, secrets redacted
  mem0ops.stack.mem0_config_capture:
    dest: "{{ backup_root }}/daily/.{{ stamp }}.partial/config"
    compose_dir: "{{ mem0_stack.compose.dir }}"
    compose_names: [compose.yml, docker-compose.yml]
    env_file: "{{ mem0_stack.compose.dir }}/.env"
    containers:
      postgres: mem0_postgres_lab
      mem0: mem0_api_lab
"""

RETURN = r"""
files:
  description: The files written (would be written, in check mode), relative to O(dest), with their sizes.
  returned: always
  type: list
  elements: dict
  sample: [{name: compose/compose.yml, size: 2210}, {name: containers/postgres.json, size: 10512}]
missing_containers:
  description: Containers named in O(containers) that do not exist.
  returned: always
  type: list
  elements: str
  sample: []
redactions:
  description: How many secret values were redacted.
  returned: always
  type: int
  sample: 7
env_file_exists:
  description: Whether O(env_file) exists.
  returned: always
  type: bool
  sample: true
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mem0ops.stack.plugins.module_utils.docker_api import DOCKER_IMPORT_ERROR, HAS_DOCKER, docker
from ansible_collections.mem0ops.stack.plugins.module_utils.secrets import Redactor, env_secrets


class CaptureError(Exception):
    """A failure with a message that says what happened."""


def write_private(path: str, text: str) -> int:
    """Write ``text`` to ``path`` atomically, mode 0600; returns its size."""
    partial = os.path.join(os.path.dirname(path), ".%s.partial" % os.path.basename(path))
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return os.path.getsize(path)


def compose_files(compose_dir, names, redactor) -> list:
    """(relative name, redacted text) of each compose file that exists."""
    out = []
    for name in names or []:
        source = os.path.join(compose_dir, name) if compose_dir else name
        if not os.path.isfile(source):
            continue
        with open(source, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
        out.append((os.path.join("compose", os.path.basename(source)), redactor.yaml(text)))
    return out


def inspected_containers(docker_host, containers, redactor) -> tuple:
    """([(relative name, redacted JSON text)], missing container names)."""
    out, missing = [], []
    if not containers:
        return out, missing
    try:
        client = docker.APIClient(base_url=docker_host, timeout=60)
    except docker.errors.DockerException as exc:
        raise CaptureError("cannot reach the Docker engine: %s" % exc)
    try:
        for service, container in sorted(containers.items()):
            try:
                data = client.inspect_container(container)
            except docker.errors.NotFound:
                missing.append(container)
                continue
            except docker.errors.DockerException as exc:
                raise CaptureError("cannot inspect container %s: %s" % (container, exc))
            text = json.dumps(redactor.inspect(data), indent=2, sort_keys=True) + "\n"
            out.append((os.path.join("containers", "%s.json" % service), text))
    finally:
        client.close()
    return out, missing


def capture(params: dict, check_mode: bool) -> dict:
    env_file = params["env_file"]
    redactor = Redactor(env_secrets(env_file))
    files = compose_files(params["compose_dir"], params["compose_names"], redactor)
    inspected, missing = inspected_containers(params["docker_host"], params["containers"], redactor)
    written = []
    for rel, text in files + inspected:
        if check_mode:
            size = len(text.encode("utf-8"))
        else:
            target = os.path.join(params["dest"], rel)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            size = write_private(target, text)
        written.append({"name": rel, "size": size})
    if not check_mode:
        for sub in ("compose", "containers"):
            os.makedirs(os.path.join(params["dest"], sub), mode=0o700, exist_ok=True)
    return {"changed": True, "files": written, "missing_containers": missing, "redactions": redactor.count,
            "env_file_exists": bool(env_file and os.path.isfile(env_file))}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            compose_dir=dict(type="path"),
            compose_names=dict(type="list", elements="str", default=[]),
            env_file=dict(type="path"),
            containers=dict(type="dict", default={}),
            docker_host=dict(type="str", default="unix:///var/run/docker.sock"),
        ),
        supports_check_mode=True,
    )
    if module.params["containers"] and not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker") + " (to inspect the containers)",
                         exception=DOCKER_IMPORT_ERROR)
    try:
        result = capture(module.params, module.check_mode)
    except CaptureError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="mem0_config_capture failed: %s" % exc, exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
