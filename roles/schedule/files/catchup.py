# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scheduled jobs' catch-up (issue 12, hole 1), run by every wrapper when it starts.

A job with a calendar that has not succeeded since its last scheduled time (the machine was asleep, its run waited in
vain for the stack's lock, or failed) is started now, once per missed time: ``<run_dir>/<job>.ok`` holds the start
(epoch seconds) of its last successful run (the wrapper writes it), ``<run_dir>/<job>.caught`` the scheduled time a
catch-up was last started for. A job still running (its wrapper lock held by a live pid) is left alone. A job without
a ``.ok`` yet (just installed) gets one now and is not caught up.

    python3 catchup.py <run_dir>/jobs.json <calling job>

jobs.json: {"run_dir": ..., "jobs": {name: {"wrapper": path, "lock": name, "calendar": {minute, hour, day, month,
weekday} or null}}}. Prints one line per job it starts, for the caller's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

GRACE_SECONDS = 300  # a time that just came is its own job's (cron starts it now), not a missed one
SEARCH_DAYS = 366


def matches(calendar: dict, moment: time.struct_time) -> bool:
    """Whether a minute is one of the calendar's (cron's rules; day and weekday both given: either)."""
    values = {"minute": moment.tm_min, "hour": moment.tm_hour, "day": moment.tm_mday, "month": moment.tm_mon,
              "weekday": (moment.tm_wday + 1) % 7}
    for field in ("minute", "hour", "month"):
        if calendar.get(field) is not None and int(calendar[field]) != values[field]:
            return False
    day, weekday = calendar.get("day"), calendar.get("weekday")
    day_ok = day is None or int(day) == values["day"]
    weekday_ok = weekday is None or int(weekday) % 7 == values["weekday"]
    if day is not None and weekday is not None:
        return day_ok or weekday_ok
    return day_ok and weekday_ok


def last_time(calendar: dict, now: float):
    """The calendar's latest time at or before ``now`` (epoch seconds, local time as cron and launchd read it)."""
    minute = int(now // 60) * 60
    for _step in range(SEARCH_DAYS * 24 * 60):
        if matches(calendar, time.localtime(minute)):
            return minute
        minute -= 60
    return None


def read_number(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_number(path: str, value: float) -> None:
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("%d\n" % value)
    os.replace(temporary, path)


def running(run_dir: str, lock: str) -> bool:
    """Whether the job's wrapper lock is held by a live process."""
    try:
        with open(os.path.join(run_dir, lock + ".lock", "owner"), encoding="utf-8") as handle:
            pid = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return os.path.isdir(os.path.join(run_dir, lock + ".lock"))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def missed(config: dict, caller: str, now: float) -> list:
    """The jobs to start now: [(name, scheduled time, last success)]."""
    run_dir = config["run_dir"]
    found = []
    for name, job in sorted(config["jobs"].items()):
        if name == caller or not job.get("calendar"):
            continue
        ok_path = os.path.join(run_dir, name + ".ok")
        last_ok = read_number(ok_path)
        if last_ok is None:
            write_number(ok_path, now)  # just installed: nothing was missed yet
            continue
        due = last_time(job["calendar"], now - GRACE_SECONDS)
        if due is None or last_ok >= due:
            continue
        if read_number(os.path.join(run_dir, name + ".caught")) == due or running(run_dir, job.get("lock") or name):
            continue
        found.append((name, due, last_ok))
    return found


def main(argv: list) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    now = time.time()
    for name, due, last_ok in missed(config, argv[2], now):
        write_number(os.path.join(config["run_dir"], name + ".caught"), due)
        env = {"HOME": os.environ.get("HOME", "/"), "MEM0OPS_CATCHUP": argv[2]}
        with open(os.devnull, "rb") as nothing_in, open(os.devnull, "wb") as nothing_out:
            subprocess.Popen([config["jobs"][name]["wrapper"]], env=env, stdin=nothing_in,  # pylint: disable=consider-using-with
                             stdout=nothing_out, stderr=nothing_out, start_new_session=True)
        print("catch-up: started %s, missed at %s (last success %s)"
              % (name, time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(due)),
                 time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(last_ok)) if last_ok else "never"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
