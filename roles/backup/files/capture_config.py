# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keep the stack's configuration in a backup set, with every secret value redacted.

Usage: capture_config.py DEST_DIR SPEC, SPEC being JSON (it holds no secret):

    {"docker_host": "unix:///var/run/docker.sock", "containers": {"postgres": "mem0_postgres_lab", ...},
     "compose_dir": "/srv/compose", "compose_names": ["compose.yml", ...], "env_file": "/srv/compose/.env"}

Writes DEST_DIR/compose/<name> for each compose file found, DEST_DIR/containers/<service>.json with each
container's `docker inspect`, all mode 0600. Redacted: the value of every environment variable whose name
looks secret (PASS, SECRET, TOKEN, KEY, AUTH, CREDENTIAL) unless it is a ${VAR} reference, the password of
every URL, and every secret-looking value of the env file wherever it appears. The env file itself is never
written here. mem0_backup_set then redacts the inventory's secrets in what is left, and checks that none is in
clear. Prints a JSON summary on stdout; exits 1 on failure.
"""

from __future__ import annotations

import json
import os
import re
import sys

REDACTED = "***REDACTED***"
SECRET_NAME = r"[A-Za-z0-9_.-]*(?:PASS|SECRET|TOKEN|KEY|AUTH|CREDENTIAL)[A-Za-z0-9_.-]*"
SECRET_NAME_RE = re.compile(r"^%s$" % SECRET_NAME, re.IGNORECASE)
YAML_SECRET_RE = re.compile(r"""^(\s*-?\s*["']?%s["']?\s*[:=][ \t]*)(?![ \t]*["']?\$\{)(?=\S)(.*)$""" % SECRET_NAME,
                            re.IGNORECASE | re.MULTILINE)
URL_SECRET_RE = re.compile(r"""(://[^:/@\s"']+:)[^@\s"']+@""")
MIN_SECRET_LENGTH = 4


def env_file_secrets(path):
    values = []
    if not path or not os.path.isfile(path):
        return values
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, dummy, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if SECRET_NAME_RE.match(name.strip()) and value and not value.startswith("${"):
            values.append(value)
    return values


class Redactor:
    def __init__(self, secrets):
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self.values = values
        self.count = 0

    def text(self, text):
        for value in self.values:
            if value in text:
                self.count += text.count(value)
                text = text.replace(value, REDACTED)
        text, found = URL_SECRET_RE.subn(r"\1%s@" % REDACTED, text)
        self.count += found
        return text

    def yaml(self, text):
        text, found = YAML_SECRET_RE.subn(r"\1%s" % REDACTED, text)
        self.count += found
        return self.text(text)

    def env_entry(self, entry):
        name, sep, value = entry.partition("=")
        if sep and SECRET_NAME_RE.match(name) and value and not value.startswith("${"):
            self.count += 1
            return "%s=%s" % (name, REDACTED)
        return self.text(entry)

    def inspect(self, data, key=None):
        if isinstance(data, dict):
            return {k: self.inspect(v, k) for k, v in data.items()}
        if isinstance(data, list):
            if key == "Env":
                return [self.env_entry(e) if isinstance(e, str) else self.inspect(e) for e in data]
            return [self.inspect(e) for e in data]
        if isinstance(data, str):
            return self.text(data)
        return data


def write(path, text):
    partial = os.path.join(os.path.dirname(path), ".%s.partial" % os.path.basename(path))
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return os.path.getsize(path)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: capture_config.py DEST_DIR SPEC_JSON\n")
        return 2
    dest, spec = argv[0], json.loads(argv[1])
    redactor = Redactor(env_file_secrets(spec.get("env_file")))
    written, missing = [], []
    for sub in ("compose", "containers"):
        os.makedirs(os.path.join(dest, sub), mode=0o700, exist_ok=True)

    compose_dir = spec.get("compose_dir")
    for name in spec.get("compose_names") or []:
        source = os.path.join(compose_dir, name) if compose_dir else name
        if not os.path.isfile(source):
            continue
        with open(source, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
        target = os.path.join(dest, "compose", os.path.basename(source))
        written.append({"name": os.path.relpath(target, dest), "size": write(target, redactor.yaml(text))})

    containers = spec.get("containers") or {}
    if containers:
        try:
            import docker  # pylint: disable=import-outside-toplevel
            import docker.errors  # pylint: disable=import-outside-toplevel
        except ImportError:
            sys.stderr.write("the Docker SDK for Python (docker) is needed to inspect the containers\n")
            return 1
        try:
            client = docker.APIClient(base_url=spec.get("docker_host") or "unix:///var/run/docker.sock", timeout=60)
        except docker.errors.DockerException as exc:
            sys.stderr.write("cannot reach the Docker engine: %s\n" % exc)
            return 1
        try:
            for service, container in sorted(containers.items()):
                try:
                    data = client.inspect_container(container)
                except docker.errors.NotFound:
                    missing.append(container)
                    continue
                except docker.errors.DockerException as exc:
                    sys.stderr.write("cannot inspect container %s: %s\n" % (container, exc))
                    return 1
                target = os.path.join(dest, "containers", "%s.json" % service)
                text = json.dumps(redactor.inspect(data), indent=2, sort_keys=True) + "\n"
                written.append({"name": os.path.relpath(target, dest), "size": write(target, text)})
        finally:
            client.close()

    env_file = spec.get("env_file")
    sys.stdout.write(json.dumps({"changed": True, "files": written, "missing_containers": missing,
                                 "redactions": redactor.count,
                                 "env_file_exists": bool(env_file and os.path.isfile(env_file))}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
