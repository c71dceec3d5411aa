# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.manifest: reading JSON with messages that say what is wrong, and atomic writes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf


class Refused(Exception):
    pass


def test_load_json_messages(tmp_path):
    good = tmp_path / "a.json"
    good.write_text('{"a": 1}')
    assert mf.load_json(str(good)) == {"a": 1}
    with pytest.raises(mf.ManifestError, match="^there is no file %s$" % (tmp_path / "none.json")):
        mf.load_json(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(Refused, match="^unreadable: %s \\(Expecting" % bad):
        mf.load_json(str(bad), Refused, missing="gone: %s", unreadable="unreadable: %s (%s)")


def test_read_manifest_messages(tmp_path):
    with pytest.raises(mf.ManifestError, match="^no manifest at %s: is this a backup made by mem0ops.stack\\?$"
                       % (tmp_path / "manifest.json")):
        mf.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text("not json")
    with pytest.raises(mf.ManifestError, match="^cannot read the manifest %s: " % (tmp_path / "manifest.json")):
        mf.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text('{"format": "other/1"}')
    with pytest.raises(mf.ManifestError, match="is not a mem0ops.manifest/1 manifest"):
        mf.read_manifest(str(tmp_path))


def test_atomic_writes_leave_only_the_final_file(tmp_path):
    mf.write_text_atomic(str(tmp_path / "m.prom"), "mem0_database_up 1\n", 0o644)
    mf.write_json_atomic(str(tmp_path / "s.json"), {"b": 1, "a": [1, 2]})
    assert sorted(os.listdir(tmp_path)) == ["m.prom", "s.json"]
    assert (tmp_path / "m.prom").read_text() == "mem0_database_up 1\n"
    assert stat.S_IMODE(os.stat(tmp_path / "m.prom").st_mode) == 0o644
    assert (tmp_path / "s.json").read_text() == json.dumps({"a": [1, 2], "b": 1}, indent=2, sort_keys=True) + "\n"
    assert stat.S_IMODE(os.stat(tmp_path / "s.json").st_mode) == 0o600
