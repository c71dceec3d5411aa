# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rule for what is a secret, and how it is redacted."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import secrets as sec

SECRET = "pw-Zq81xVv0LmT3"


@pytest.mark.parametrize("name, secret", [
    ("POSTGRES_PASSWORD", True), ("neo4j_auth", True), ("OPENAI_API_KEY", True), ("MEM0_TOKEN", True),
    ("client_secret", True), ("GOOGLE_APPLICATION_CREDENTIALS", True), ("POSTGRES_USER", False), ("PORT", False),
    ("", False), (None, False),
])
def test_secret_names(name, secret):
    assert sec.is_secret_name(name) is secret


@pytest.mark.parametrize("value, secret", [(SECRET, True), ("", False), ("${POSTGRES_PASSWORD}", False), (None, False)])
def test_secret_values(value, secret):
    assert sec.is_secret_value(value) is secret


def test_env_secrets_reads_secret_named_values_only(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# comment\nPOSTGRES_USER=mem0\nexport POSTGRES_PASSWORD='%s'\nNEO4J_AUTH=\"neo4j/%s\"\n"
                   "OPENAI_API_KEY=${FROM_ELSEWHERE}\nEMPTY_TOKEN=\nnot a line\n" % (SECRET, SECRET))
    assert sec.env_secrets(str(env)) == [SECRET, "neo4j/" + SECRET]
    assert ("POSTGRES_USER", "mem0") in sec.env_variables(str(env))
    assert sec.env_secrets(str(tmp_path / "absent")) == []
    assert sec.env_secrets(None) == []


def test_needles_are_plain_and_json_escaped_longest_first_and_skip_short_values():
    needles = sec.secret_needles(['a"b\\c-a-longer-secret', "abc", SECRET])
    assert b"abc" not in needles
    assert needles[0] == json.dumps('a"b\\c-a-longer-secret')[1:-1].encode()
    assert 'a"b\\c-a-longer-secret'.encode() in needles and SECRET.encode() in needles


def test_redact_file_counts_and_rewrites_only_when_asked(tmp_path):
    path = tmp_path / "inspect.json"
    path.write_text(json.dumps({"Env": ["POSTGRES_PASSWORD=%s" % SECRET], "Cmd": ["--pw", SECRET]}))
    needles = sec.secret_needles([SECRET])
    assert sec.redact_file(str(path), needles, write=False) == 2
    assert SECRET in path.read_text()
    written = []
    assert sec.redact_file(str(path), needles, writer=lambda p, data: written.append((p, data))) == 2
    assert SECRET in path.read_text() and SECRET.encode() not in written[0][1]
    assert sec.redact_file(str(path), needles) == 2
    assert SECRET not in path.read_text() and path.read_text().count(sec.REDACTED) == 2
    assert sec.redact_file(str(path), []) == 0


def test_redactor_yaml_env_entries_urls_and_inspect_output():
    redactor = sec.Redactor([SECRET])
    text = redactor.yaml("services:\n  pg:\n    environment:\n      POSTGRES_PASSWORD: hunter2-long\n"
                         "      - NEO4J_AUTH=neo4j/other-pass\n      OPENAI_API_KEY: ${OPENAI_API_KEY}\n"
                         "      POSTGRES_USER: mem0\n      DSN: postgresql://mem0:%s@db/mem0\n" % SECRET)
    assert "hunter2-long" not in text and "other-pass" not in text and SECRET not in text
    assert "OPENAI_API_KEY: ${OPENAI_API_KEY}" in text and "POSTGRES_USER: mem0" in text
    assert "postgresql://mem0:%s@db/mem0" % sec.REDACTED in text
    assert redactor.count >= 3
    data = redactor.inspect({"Config": {"Env": ["MEM0_TOKEN=abcdefgh", "PORT=8000", "KEY_REF=${X}"],
                                        "Cmd": ["serve", "--password", SECRET], "Labels": {"x": 1}}})
    assert data["Config"]["Env"] == ["MEM0_TOKEN=" + sec.REDACTED, "PORT=8000", "KEY_REF=${X}"]
    assert data["Config"]["Cmd"] == ["serve", "--password", sec.REDACTED]
    assert data["Config"]["Labels"] == {"x": 1}


def test_env_variables_reads_quoted_values_as_compose_does(tmp_path):
    env = tmp_path / ".env"
    env.write_text('A="pa\\$s \\"q\\" \\\\ #1"\nB=\'it\\\'s\'\nC="x$$y"\n')
    assert sec.env_variables(str(env)) == [("A", 'pa$s "q" \\ #1'), ("B", "it's"), ("C", "x$y")]
