# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rule for what is a secret in a mem0 stack's configuration, and how it is redacted.

A *secret name* is a variable or key whose name contains PASS, SECRET, TOKEN, KEY, AUTH or CREDENTIAL (any case).
Its value is a secret unless it is empty or a C(${VAR}) reference. The password of every URL
(C(scheme://user:password@host)) is a secret. Values shorter than MIN_SECRET_LENGTH are never searched for (they
would match everywhere). A secret is replaced with REDACTED, in text, in YAML/env lines, in JSON (as it appears
inside a JSON string) and in files.

Used by mem0_backup_set (the set's configuration and manifests) and mem0_config_capture (compose files and
``docker inspect`` output).
"""

from __future__ import annotations

import json
import os
import re

REDACTED = "***REDACTED***"
SECRET_WORDS = ("PASS", "SECRET", "TOKEN", "KEY", "AUTH", "CREDENTIAL")
SECRET_WORD_RE = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
MIN_SECRET_LENGTH = 4
SCAN_LIMIT = 64 << 20

_NAME = r"[A-Za-z0-9_.-]*(?:%s)[A-Za-z0-9_.-]*" % "|".join(SECRET_WORDS)
# "NAME: value", "NAME=value", "- NAME=value", quoted or not; never a ${VAR} reference, never an empty value
YAML_SECRET_RE = re.compile(r"""^(\s*-?\s*["']?%s["']?\s*[:=][ \t]*)(?![ \t]*["']?\$\{)(?=\S)(.*)$""" % _NAME,
                            re.IGNORECASE | re.MULTILINE)
URL_SECRET_RE = re.compile(r"""(://[^:/@\s"']+:)[^@\s"']+@""")


def is_secret_name(name) -> bool:
    """Whether a variable or key with this name holds a secret."""
    return bool(name) and bool(SECRET_WORD_RE.search("%s" % name))


def is_secret_value(value) -> bool:
    """Whether the value of a secret-named variable is a secret (not empty, not a ${VAR} reference)."""
    return bool(value) and not ("%s" % value).startswith("${")


# Inside double quotes Compose reads \\ \" \$ (and $$) as the character itself; inside single quotes only \'.
_DOUBLE_QUOTED_ESCAPE_RE = re.compile(r"""\\([\\"$])|\$(\$)""")


def _unquoted(value) -> str:
    """A quoted env file value as Compose reads it (the filter compose_env_value writes double-quoted values)."""
    if value[0] == '"':
        return _DOUBLE_QUOTED_ESCAPE_RE.sub(lambda match: match.group(1) or match.group(2), value[1:-1])
    return value[1:-1].replace("\\'", "'")


def env_variables(path) -> list:
    """(name, value) of each assignment of an env file, quotes and their escapes removed; comments and blank lines
    skipped."""
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    variables = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, dummy, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = _unquoted(value)
        variables.append((name.strip(), value))
    return variables


def env_secrets(path) -> list:
    """Values of the secret-named variables of an env file; [] when there is no such file."""
    if not path or not os.path.isfile(path):
        return []
    return [value for name, value in env_variables(path) if is_secret_name(name) and is_secret_value(value)]


def searchable(secrets) -> list:
    """The secrets worth searching for, unique, longest first."""
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def secret_needles(secrets) -> list:
    """Byte strings to look for: each secret as is and as it appears inside a JSON string, longest first."""
    needles = set()
    for value in searchable(secrets):
        needles.add(value.encode())
        needles.add(json.dumps(value)[1:-1].encode())
    return sorted(needles, key=len, reverse=True)


def redact_bytes(data: bytes, needles) -> tuple:
    """(data with every needle replaced with REDACTED, how many were found)."""
    found = 0
    for needle in needles:
        count = data.count(needle)
        if count:
            found += count
            data = data.replace(needle, REDACTED.encode())
    return data, found


def redact_file(path: str, needles, write: bool = True, writer=None) -> int:
    """Replace every needle in the file with REDACTED (through ``writer(path, data)`` when given); returns how many
    were found. Files larger than SCAN_LIMIT are left alone."""
    if not needles or os.path.getsize(path) > SCAN_LIMIT:
        return 0
    with open(path, "rb") as handle:
        data = handle.read()
    data, found = redact_bytes(data, needles)
    if found and write:
        if writer is None:
            with open(path, "wb") as handle:
                handle.write(data)
        else:
            writer(path, data)
    return found


class Redactor:
    """Redacts known secret values, URL passwords and secret-named assignments; counts what it redacted."""

    def __init__(self, secrets=()):
        self.values = searchable(secrets)
        self.count = 0

    def text(self, text: str) -> str:
        """Known secret values and URL passwords."""
        for value in self.values:
            if value in text:
                self.count += text.count(value)
                text = text.replace(value, REDACTED)
        text, found = URL_SECRET_RE.subn(r"\1%s@" % REDACTED, text)
        self.count += found
        return text

    def yaml(self, text: str) -> str:
        """A compose or env file: the value of every secret-named key or variable, then as ``text``."""
        text, found = YAML_SECRET_RE.subn(r"\1%s" % REDACTED, text)
        self.count += found
        return self.text(text)

    def env_entry(self, entry: str) -> str:
        """One ``NAME=value`` of a container's environment."""
        name, sep, value = entry.partition("=")
        if sep and is_secret_name(name) and is_secret_value(value):
            self.count += 1
            return "%s=%s" % (name, REDACTED)
        return self.text(entry)

    def inspect(self, data, key=None):
        """``docker inspect`` output: its ``Env`` entries as ``env_entry``, every other string as ``text``."""
        if isinstance(data, dict):
            return dict((k, self.inspect(v, k)) for k, v in data.items())
        if isinstance(data, list):
            if key == "Env":
                return [self.env_entry(e) if isinstance(e, str) else self.inspect(e) for e in data]
            return [self.inspect(e) for e in data]
        if isinstance(data, str):
            return self.text(data)
        return data
