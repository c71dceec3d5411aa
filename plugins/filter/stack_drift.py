# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: stack_drift
short_description: What the running containers disagree with the inventory about
version_added: 0.1.0
author: mem0ops engineers (@mem0ops)
description:
  - Compares what each container was started with (its C(docker inspect)) with what the inventory's
    C(mem0_stack.services) says it must run with, and returns one readable line per disagreement.
  - Checked for every service that names a C(container) - the container exists and runs; every
    variable of the service's C(env) has the inventory's value in the container's environment; when the
    service has a C(container_port) and the container publishes it, it is published on the service's
    C(port); the container runs the service's C(image) when the inventory names one.
  - Only the service's non-secret C(env) is compared and reported; C(secret_env) values never appear
    in the result. Credentials are checked by logging in with them instead.
  - This is the drift that caused the January 2026 incident - containers recreated with other
    credentials and another embedding model than every script expected.
options:
  _input:
    description:
      - The C(results) of a looped C(community.docker.docker_container_info) task, one per service name
        (the loop item is the service name).
    type: list
    elements: dict
    required: true
  services:
    description: The inventory's C(mem0_stack.services).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Inspect the containers
  community.docker.docker_container_info:
    name: "{{ mem0_stack.services[item].container }}"
  loop: "{{ mem0_stack.services | dict2items | selectattr('value.container', 'defined') | map(attribute='key') }}"
  register: containers
  no_log: true

- name: Stop when a container disagrees with the inventory
  ansible.builtin.assert:
    that: drift | length == 0
    fail_msg: "{{ drift }}"
  vars:
    drift: "{{ containers.results | mem0ops.stack.stack_drift(mem0_stack.services) }}"
"""

RETURN = r"""
_value:
  description:
    - One sentence per disagreement, naming the service, its container, what the inventory says and what
      the container runs with. Empty when everything agrees.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def _env_dict(env_list) -> dict:
    env = {}
    for item in env_list or []:
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = value
    return env


def _published_ports(container: dict, container_port) -> list:
    bindings = (container.get("HostConfig") or {}).get("PortBindings") or {}
    for proto in ("tcp", "udp"):
        for binding in bindings.get("%s/%s" % (container_port, proto)) or []:
            yield str(binding.get("HostPort", ""))


def stack_drift(results, services) -> list:
    if not isinstance(services, dict):
        raise AnsibleFilterError("stack_drift: services must be the mem0_stack.services dictionary")
    problems = []
    for result in results or []:
        name = result.get("item")
        if name not in services:
            raise AnsibleFilterError("stack_drift: the loop item %r is not a service name of mem0_stack.services" % (name,))
        svc = services[name]
        label = "%s (%s)" % (name, svc.get("container"))
        container = result.get("container")
        if not result.get("exists") or not container:
            problems.append("%s: no such container; create it (docker compose up) or fix the inventory's container name" % label)
            continue
        state = (container.get("State") or {}).get("Status")
        if state != "running":
            problems.append("%s: container is %s, not running" % (label, state))
        image = svc.get("image")
        running_image = (container.get("Config") or {}).get("Image")
        if image and running_image and running_image != image:
            problems.append("%s: runs image %s, the inventory says %s" % (label, running_image, image))
        actual_env = _env_dict((container.get("Config") or {}).get("Env"))
        for key, expected in sorted((svc.get("env") or {}).items()):
            expected = str(expected).lower() if isinstance(expected, bool) else str(expected)
            if key not in actual_env:
                problems.append("%s: %s is not set in the container, the inventory says %s" % (label, key, expected))
            elif actual_env[key] != expected:
                problems.append("%s: runs with %s=%s, the inventory says %s" % (label, key, actual_env[key], expected))
        if svc.get("container_port") is not None and svc.get("port") is not None:
            published = list(_published_ports(container, svc["container_port"]))
            if published and str(svc["port"]) not in published:
                problems.append("%s: publishes port %s on %s, the inventory says %s"
                                % (label, svc["container_port"], ", ".join(published), svc["port"]))
    return problems


class FilterModule:
    def filters(self):
        return {"stack_drift": stack_drift}
