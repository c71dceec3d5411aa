# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Disk headroom before a backup writes (issue 12, hole 7): the decision, its estimate sources and its message, and
mem0_backup_set_info's disk check built on it."""

from __future__ import annotations

import os
from collections import namedtuple

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import disk
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set import backup, stamp
from ansible_collections.mem0ops.stack.tests.unit.plugins.modules.test_mem0_backup_set_info import fails, ok

GB = 1024 ** 3
Usage = namedtuple("Usage", "total used free")


def test_a_set_that_fits_on_another_volume_passes_whatever_the_floor():
    assert disk.decide("/Volumes/Backup", 2 * GB, 1 * GB, "est", False, 10 * GB) == ""


def test_a_set_larger_than_the_free_space_is_refused_on_any_volume():
    msg = disk.decide("/Volumes/Backup", 1 * GB, 2 * GB, "the size of the last good set /b/daily/x", False, 0)
    assert msg.startswith("Not enough disk for the backup on /Volumes/Backup: the set needs about 2.0 GB "
                          "(the size of the last good set /b/daily/x) and only 1.0 GB is free.")


def test_on_the_data_volume_the_floor_must_stay_free_after_the_set():
    assert disk.decide("/", 13 * GB, 2 * GB, "est", True, 10 * GB) == ""
    msg = disk.decide("/", 11 * GB, 2 * GB, "est", True, 10 * GB)
    assert "on /: 11.0 GB is free; after the set (about 2.0 GB, est) 9.0 GB would be left" in msg
    assert "below the floor of 10.0 GB" in msg
    # the message names the three ways out
    assert "free space on /" in msg and "move backup_root to another volume" in msg
    assert "-e backup_min_free_gb=<GB>" in msg and "mem0_stack.monitoring.disk_min_free_gb" in msg
    # a floor of 0 only asks that the set fits
    assert disk.decide("/", 2 * GB, 2 * GB, "est", True, 0) == ""


@pytest.fixture
def measured(tmp_path, monkeypatch):
    """A backup root with one good set, its free space and devices under the test's control."""
    root = tmp_path / "backups"
    backup(root, "daily", stamp(0))
    state = {"free": 100 * GB, "devices": {}}
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, state["free"]))
    real = disk.device
    monkeypatch.setattr(disk, "device", lambda path: state["devices"].get(path, real(path)))
    return root, state


def test_the_estimate_is_the_last_good_sets_size(measured, tmp_path):
    root, state = measured
    result = ok({"backup_root": str(root), "select": False, "min_free_gb": 10, "data_root": str(tmp_path / "data")})
    check = result["disk"]
    assert check["same_volume_as_data"] is True and check["floor_bytes"] == 10 * GB
    assert check["estimate_bytes"] == result["sets"][0]["size_bytes"] > 0
    assert check["estimate_source"] == "the size of the last good set %s" % result["latest_good"]["path"]
    assert check["free_bytes"] == 100 * GB and check["problem"] == ""
    state["free"] = 10 * GB + check["estimate_bytes"]  # exactly the floor left
    assert ok({"backup_root": str(root), "select": False, "min_free_gb": 10,
               "data_root": str(tmp_path / "data")})["disk"]["problem"] == ""
    state["free"] -= 1
    problem = ok({"backup_root": str(root), "select": False, "min_free_gb": 10,
                  "data_root": str(tmp_path / "data")}, check=True)["disk"]["problem"]
    assert "below the floor of 10.0 GB" in problem and check["volume"] in problem


def test_another_device_only_needs_the_set_to_fit(measured, tmp_path):
    root, state = measured
    state["free"] = 1 * GB
    state["devices"][str(tmp_path / "data")] = -1
    check = ok({"backup_root": str(root), "select": False, "min_free_gb": 10, "data_root": str(tmp_path / "data")})["disk"]
    assert check["same_volume_as_data"] is False and check["problem"] == ""


def test_with_no_good_set_the_estimate_is_zero_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(0, 0, 5 * GB))
    check = ok({"backup_root": str(tmp_path / "not-yet"), "select": False, "min_free_gb": 10,
                "data_root": str(tmp_path)})["disk"]
    assert check["estimate_bytes"] == 0 and "no good set yet" in check["estimate_source"]
    assert "5.0 GB is free" in check["problem"] and "below the floor of 10.0 GB" in check["problem"]


def test_without_min_free_gb_there_is_no_disk_check_and_a_negative_floor_is_refused(measured):
    root = measured[0]
    assert "disk" not in ok({"backup_root": str(root), "select": False})
    assert "min_free_gb is -1.0; set a number of GB of 0 or more" in fails(
        {"backup_root": str(root), "select": False, "min_free_gb": -1})["msg"]


def test_the_volume_is_the_mount_point_of_the_backup_root_not_yet_created(tmp_path):
    assert disk.existing_ancestor(str(tmp_path / "a" / "b")) == str(tmp_path)
    volume = disk.mount_point(str(tmp_path / "a" / "b"))
    assert str(tmp_path).startswith(volume) and disk.device(volume) == disk.device(str(tmp_path))
    assert volume == "/" or disk.device(os.path.dirname(volume)) != disk.device(volume)
