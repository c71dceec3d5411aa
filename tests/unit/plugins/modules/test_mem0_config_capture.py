# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_config_capture: compose files and inspected containers kept with every secret redacted."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_config_capture as cc
from ansible_collections.mem0ops.stack.tests.unit.conftest import AnsibleExitJson, AnsibleFailJson, set_module_args

SECRET = "pw-Zq81xVv0LmT3"
COMPOSE = """services:
  postgres:
    environment:
      POSTGRES_USER: mem0
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
  mem0:
    environment:
      - OPENAI_API_KEY=sk-clear-in-compose
      - DSN=postgresql://mem0:%s@postgres/mem0
""" % SECRET


class NotFound(Exception):
    pass


class FakeErrors:
    DockerException = Exception
    NotFound = NotFound


class FakeClient:
    closed = False

    def __init__(self, base_url, timeout):
        self.base_url = base_url

    def inspect_container(self, name):
        if name == "absent":
            raise NotFound(name)
        return {"Name": name, "Config": {"Env": ["POSTGRES_PASSWORD=%s" % SECRET, "POSTGRES_USER=mem0"],
                                         "Cmd": ["postgres", "-c", "password=%s" % SECRET]}}

    def close(self):
        FakeClient.closed = True


class FakeDocker:
    APIClient = FakeClient
    errors = FakeErrors


@pytest.fixture
def compose(tmp_path):
    directory = tmp_path / "compose"
    directory.mkdir()
    (directory / "compose.yml").write_text(COMPOSE)
    (directory / ".env").write_text("POSTGRES_PASSWORD=%s\nPOSTGRES_USER=mem0\n" % SECRET)
    return directory


def run(args, check=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            cc.main()
    return exc.value


def args_for(compose, dest, containers=None):
    return {"dest": str(dest), "compose_dir": str(compose), "compose_names": ["compose.yml", "docker-compose.yml"],
            "env_file": str(compose / ".env"), "containers": containers or {}}


def test_compose_files_and_containers_are_kept_redacted(compose, tmp_path, monkeypatch):
    monkeypatch.setattr(cc, "docker", FakeDocker, raising=False)
    monkeypatch.setattr(cc, "HAS_DOCKER", True)
    dest = tmp_path / "set" / "config"
    outcome = run(args_for(compose, dest, {"postgres": "mem0_postgres_lab", "neo4j": "absent"}))
    assert isinstance(outcome, AnsibleExitJson), outcome.result
    result = outcome.result
    assert result["changed"] is True and result["env_file_exists"] is True
    assert result["missing_containers"] == ["absent"]
    assert sorted(f["name"] for f in result["files"]) == ["compose/compose.yml", "containers/postgres.json"]
    text = (dest / "compose" / "compose.yml").read_text()
    assert "sk-clear-in-compose" not in text and SECRET not in text
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}" in text and "POSTGRES_USER: mem0" in text
    inspected = json.loads((dest / "containers" / "postgres.json").read_text())
    assert inspected["Config"]["Env"] == ["POSTGRES_PASSWORD=***REDACTED***", "POSTGRES_USER=mem0"]
    assert SECRET not in json.dumps(inspected)
    assert result["redactions"] >= 4
    assert not (dest / ".env").exists() and not any(name.endswith(".partial") for name in os.listdir(str(dest / "compose")))
    for path in (dest / "compose" / "compose.yml", dest / "containers" / "postgres.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FakeClient.closed


def test_check_mode_writes_nothing(compose, tmp_path):
    dest = tmp_path / "config"
    outcome = run(args_for(compose, dest), check=True)
    assert isinstance(outcome, AnsibleExitJson)
    assert [f["name"] for f in outcome.result["files"]] == ["compose/compose.yml"]
    assert not dest.exists()


def test_containers_need_the_docker_sdk(compose, tmp_path, monkeypatch):
    monkeypatch.setattr(cc, "HAS_DOCKER", False)
    outcome = run(args_for(compose, tmp_path / "config", {"postgres": "mem0_postgres_lab"}))
    assert isinstance(outcome, AnsibleFailJson)
    assert "docker" in outcome.result["msg"]
