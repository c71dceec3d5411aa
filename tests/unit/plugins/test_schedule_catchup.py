# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/schedule/files/catchup.py: a job missed at its time is found once; a running or fresh one is left alone."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "schedule" / "files" / "catchup.py"
SPEC = importlib.util.spec_from_file_location("catchup", PATH)
catchup = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(catchup)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def epoch(text):
    return time.mktime(time.strptime(text, "%Y-%m-%d %H:%M"))


def test_last_time_of_calendars():
    now = epoch("2026-12-03 15:20")  # a Thursday
    assert catchup.last_time({"minute": 5}, now) == epoch("2026-12-03 15:05")
    assert catchup.last_time({"hour": 2, "minute": 30}, now) == epoch("2026-12-03 02:30")
    assert catchup.last_time({"weekday": 0, "hour": 3, "minute": 0}, now) == epoch("2026-11-29 03:00")
    assert catchup.last_time({"weekday": 7, "hour": 3, "minute": 0}, now) == epoch("2026-11-29 03:00")
    assert catchup.last_time({"day": 1, "hour": 3, "minute": 30}, now) == epoch("2026-12-01 03:30")
    assert catchup.last_time({"day": 31, "month": 2, "hour": 0, "minute": 0}, now) is None  # never


def test_missed_once_and_not_while_running(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    jobs = {"daily": {"wrapper": "/w/daily.sh", "lock": "daily", "calendar": {"hour": 2, "minute": 30}},
            "hourly": {"wrapper": "/w/hourly.sh", "lock": "hourly", "calendar": {"minute": 5}},
            "health": {"wrapper": "/w/health.sh", "lock": "health", "calendar": None}}
    config = {"run_dir": str(run), "jobs": jobs}
    now = epoch("2026-12-03 15:20")
    # just installed: no stamps yet; they are written, nothing is missed
    assert catchup.missed(config, "health", now) == []
    assert float((run / "daily.ok").read_text()) == now and not (run / "health.ok").exists()
    # asleep from yesterday 23:00 to now: the daily of 02:30 and the hourly of 15:05 were missed (the caller's own
    # job is never its own catch-up)
    for job in ("daily", "hourly"):
        (run / f"{job}.ok").write_text("%d\n" % epoch("2026-12-02 23:00"))
    assert [(name, due) for name, due, _ok in catchup.missed(config, "hourly", now)] == \
        [("daily", epoch("2026-12-03 02:30"))]
    # hourly ran at 14:05; at 15:08 its 15:05 is within the grace of a time that just came: cron is starting it
    (run / "hourly.ok").write_text("%d\n" % epoch("2026-12-03 14:05"))
    assert [name for name, _due, _ok in catchup.missed(config, "daily", epoch("2026-12-03 15:08"))] == []
    # once per missed time: a catch-up was started for 02:30 already
    (run / "daily.caught").write_text("%d\n" % epoch("2026-12-03 02:30"))
    assert catchup.missed(config, "hourly", now) == []
    # a job still running (its wrapper lock held by a live pid) is left alone
    (run / "daily.caught").unlink()
    (run / "daily.lock").mkdir()
    (run / "daily.lock" / "owner").write_text("%d Thu Dec  3 02:30:00 2026\n" % os.getpid())
    assert catchup.missed(config, "hourly", now) == []
