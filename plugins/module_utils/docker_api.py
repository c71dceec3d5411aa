# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Docker SDK for Python, imported in this one place for every module and module_utils that uses the Docker API,
and the steps they share: reach the engine, find a running container, run a command in it.

``docker`` is None when the SDK is missing; HAS_DOCKER and DOCKER_IMPORT_ERROR say so, for ``missing_required_lib``.
"""

from __future__ import annotations

import traceback

try:
    # Imported for the modules and module_utils that import them from here.
    import docker  # pylint: disable=unused-import
    import docker.errors  # pylint: disable=unused-import
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    docker = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


class ContainerError(Exception):
    """The Docker engine or the container cannot be used; the message says which and what to check."""


def engine(docker_host: str, timeout: int = 60):
    """A client of the Docker engine at docker_host that answered a ping, or ContainerError."""
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ContainerError("cannot reach the Docker engine at %s: %s; is Docker (Desktop, OrbStack, dockerd) running?"
                             % (docker_host, exc))
    return client


def running_container(client, name: str):
    """The container of that name, when it runs; else ContainerError naming it."""
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        raise ContainerError("no container named %r: check the inventory's container name against `docker ps -a`" % name)
    if container.status != "running":
        raise ContainerError("container %r is %s, not running: start it first" % (name, container.status))
    return container


def exec_output(container, argv: list, environment=None):
    """Run argv in the container; returns (exit code, stdout bytes, stderr bytes)."""
    result = container.exec_run(argv, environment=environment, demux=True)
    out, err = result.output if result.output else (b"", b"")
    return result.exit_code, out or b"", err or b""
