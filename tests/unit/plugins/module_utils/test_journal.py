# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The destructive runs' journal: atomic, private, never silently ignored when unreadable."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import journal


def test_write_read_clear(tmp_path):
    root = str(tmp_path)
    assert journal.read_journal(root, "lab") is None
    journal.write_journal(root, "lab", {"playbook": "restore", "phase": "postgres rows", "safety_set": "/b/s1",
                                        "resume": "ansible-playbook r.yml -e restore_resume=true", "rollback": "rb"})
    found = journal.read_journal(root, "lab")
    assert found["phase"] == "postgres rows" and found["stack"] == "lab" and found["updated"]
    assert found["path"] == os.path.join(root, "journal", "lab.json")
    assert stat.S_IMODE(os.stat(found["path"]).st_mode) == 0o600
    assert os.listdir(os.path.join(root, "journal")) == ["lab.json"]  # no temporary file left
    lines = journal.refusal(found)
    assert "phase 'postgres rows'" in lines[0] and any("restore_resume=true" in line for line in lines)
    assert journal.clear_journal(root, "lab") is True
    assert journal.clear_journal(root, "lab") is False
    assert journal.read_journal(root, "lab") is None


def test_unreadable_journal_is_still_unfinished(tmp_path):
    path = tmp_path / "journal" / "lab.json"
    path.parent.mkdir()
    path.write_text('{"phase": "neo4j"')  # cut short
    found = journal.read_journal(str(tmp_path), "lab")
    assert found["phase"] == "unreadable"
    assert any("remove" in line for line in journal.refusal(found))


def test_unknown_field_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown journal fields: phse"):
        journal.write_journal(str(tmp_path), "lab", {"phse": "x"})
