# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/prometheus.py, the one formatter of the collection's Prometheus text, and mem0_metrics_textfile:
the exposition format (promtool check metrics as the oracle when it is there), the naming conventions refused before
anything is written, the atomic write, check mode, diff and idempotence."""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import prometheus
from ansible_collections.mem0ops.stack.plugins.modules import mem0_metrics_textfile as mod
from ansible_collections.mem0ops.stack.tests.unit.conftest import run_module

FAMILIES = [
    {"name": "mem0_backup_last_attempt_timestamp_seconds", "help": "When the last attempt ended.",
     "samples": [{"labels": {"tier": "daily"}, "value": 1796310525.25}]},
    {"name": "mem0_backup_last_attempt_result", "help": "The last attempt's result: 1 for the one it had.",
     "samples": [{"labels": {"tier": "daily", "result": r}, "value": r == "ok"} for r in ("ok", "quarantined", "failed")]},
    {"name": "mem0_backup_part_size_bytes", "help": "Bytes per part.\nSecond line \\ kept.",
     "samples": [{"labels": {"tier": "daily", "part": 'we"ird\\\n'}, "value": 427859},
                 {"labels": {"tier": "daily", "part": "neo4j"}, "value": None}]},
    {"name": "mem0_ops_total", "help": "A counter.", "type": "counter", "value": 3},
]


def test_the_text_of_each_family_in_order():
    assert prometheus.render(FAMILIES) == "\n".join([
        "# HELP mem0_backup_last_attempt_timestamp_seconds When the last attempt ended.",
        "# TYPE mem0_backup_last_attempt_timestamp_seconds gauge",
        'mem0_backup_last_attempt_timestamp_seconds{tier="daily"} 1796310525.25',
        "# HELP mem0_backup_last_attempt_result The last attempt's result: 1 for the one it had.",
        "# TYPE mem0_backup_last_attempt_result gauge",
        'mem0_backup_last_attempt_result{result="ok",tier="daily"} 1',
        'mem0_backup_last_attempt_result{result="quarantined",tier="daily"} 0',
        'mem0_backup_last_attempt_result{result="failed",tier="daily"} 0',
        "# HELP mem0_backup_part_size_bytes Bytes per part.\\nSecond line \\\\ kept.",
        "# TYPE mem0_backup_part_size_bytes gauge",
        'mem0_backup_part_size_bytes{part="we\\"ird\\\\\\n",tier="daily"} 427859',
        "# HELP mem0_ops_total A counter.",
        "# TYPE mem0_ops_total counter",
        "mem0_ops_total 3",
    ]) + "\n"


@pytest.mark.parametrize("value,text", [(True, "1"), (False, "0"), (7, "7"), (2.0, "2"), (0.508, "0.508"),
                                        ("12.5", "12.5"), (float("nan"), "NaN"), (math.inf, "+Inf"),
                                        (-math.inf, "-Inf"), (1.5e20, "1.5e+20")])
def test_values(value, text):
    assert prometheus.format_value(value) == text


@pytest.mark.parametrize("family,error", [
    ({"name": "mem0_memory_total", "help": "x", "value": 1}, "a gauge may not end in _total"),
    ({"name": "mem0_memory_count", "help": "x", "value": 1}, "a gauge may not end in"),
    ({"name": "mem0_things", "help": "x", "type": "counter", "value": 1}, "a counter's name ends in _total"),
    ({"name": "mem0-bad", "help": "x", "value": 1}, "is not a valid metric name"),
    ({"name": "mem0_x", "help": "x", "type": "untyped", "value": 1}, "type 'untyped' is not one of"),
    ({"name": "mem0_x", "value": 1}, "every family has a HELP text"),
    ({"name": "mem0_x", "help": "x", "samples": [{"labels": {"__name__": "y"}, "value": 1}]}, "not a valid label name"),
    ({"name": "mem0_x", "help": "x", "samples": [{"labels": {"a": "1"}, "value": 1}, {"labels": {"a": "1"}, "value": 2}]},
     "are given twice"),
    ({"name": "mem0_x", "help": "x", "value": "many"}, "is not a number"),
    ({"name": "mem0_x", "help": "x", "value": 1, "samples": []}, "not both"),
])
def test_conventions_refused_before_anything_is_written(family, error):
    with pytest.raises(prometheus.MetricError, match=error):
        prometheus.render([family])


def test_a_family_twice_is_refused():
    with pytest.raises(prometheus.MetricError, match="given twice"):
        prometheus.render([{"name": "mem0_x", "help": "x", "value": 1}] * 2)


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed (Debian's prometheus)")
def test_promtool_accepts_the_text_and_its_lint():
    proc = subprocess.run(["promtool", "check", "metrics"], input=prometheus.render(FAMILIES), text=True,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "mem0.prom"
    path.write_text("old\n")
    text = prometheus.write_textfile(str(path), FAMILIES)
    assert path.read_text() == text and os.stat(path).st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["mem0.prom"]

    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(prometheus, "write_text_atomic", lambda *a: broken())
    with pytest.raises(OSError):
        prometheus.write_textfile(str(path), [{"name": "mem0_x", "help": "x", "value": 1}])
    assert path.read_text() == text, "a failed write leaves the last whole file"


def run(args, check=False, diff=False):
    return run_module(mod.main, args, check, diff)


def test_module_check_mode_diff_and_idempotence(tmp_path):
    path = tmp_path / "mem0_backup_daily.prom"
    args = {"path": str(path), "metrics": FAMILIES}
    planned = run(args, check=True, diff=True)
    assert planned["changed"] is True and not path.exists() and planned["diff"]["before"] == ""
    written = run(args)
    assert written["changed"] is True and path.read_text() == written["text"] == prometheus.render(FAMILIES)
    assert run(args)["changed"] is False
    assert run(args, check=True)["changed"] is False


def test_module_refuses_a_bad_name_and_a_missing_directory(tmp_path):
    bad = run({"path": str(tmp_path / "a.prom"), "metrics": [{"name": "mem0_memory_total", "help": "x", "value": 1}]})
    assert bad["failed"] and "a gauge may not end in _total" in bad["msg"] and not (tmp_path / "a.prom").exists()
    missing = run({"path": str(tmp_path / "nope" / "a.prom"), "metrics": FAMILIES})
    assert missing["failed"] and "its directory does not exist" in missing["msg"]
    planned = run({"path": str(tmp_path / "nope" / "a.prom"), "metrics": FAMILIES}, check=True)
    assert planned["changed"] is True and not (tmp_path / "nope").exists(), "check mode: the run would create it first"
