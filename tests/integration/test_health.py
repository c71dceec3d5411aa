"""playbooks/health.yml against real stacks, with the Telegram Bot API replaced by lab/apps/fake_telegram.py.

- The lab, read-only (state, metrics and backup root in temporary directories): every check passes, nothing is
  sent, the summary is readable, no secret appears in any output, and check mode writes nothing.
- The session's scratch stack (tests/integration/scratch.py): the UI container stopped raises openmemory_ui_down
  once, not again inside the cooldown, and one recovery message once it runs again.

MEM0OPS_TEST_INVENTORY, when set, names the inventory to use instead of both (a disposable stack: the scratch
tests stop its containers); the host is the first of its mem0_hosts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from .labkit import (
    LAB_INVENTORY, FakeTelegram, assert_no_secret, load_stack, run_playbook, stack_secrets, wait_healthy, wait_http)
from .scratch import ENV_INVENTORY, first_host, health_result

pytestmark = pytest.mark.integration


# --- the lab, read-only ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    inventory = Path(os.environ.get(ENV_INVENTORY) or LAB_INVENTORY).resolve()
    host = first_host(inventory)
    stack = load_stack(inventory, host)
    telegram = FakeTelegram(stack["alerting"]["bot_token"])
    work = tmp_path_factory.mktemp("health-lab")
    try:
        # the lab keeps no backups of its own: an empty backup root, not required
        yield {"inventory": inventory, "host": host, "stack": stack, "telegram": telegram, "work": work,
               "vars": {"health_alert_api_url": telegram.url, "health_backup_required": False}}
    finally:
        log = telegram.stop()
        assert stack["alerting"]["bot_token"] not in log


def lab_runs(lab, count: int, *args: str, callback: str = "json") -> tuple:
    """count runs of health.yml on the lab with fresh state (in a new directory), once the lab is healthy. One try:
    a run that does not pass fails the test."""
    wait_healthy(lab["stack"])
    work = Path(tempfile.mkdtemp(prefix="runs-", dir=lab["work"]))
    (work / "backups").mkdir()
    extra = dict(lab["vars"], health_state_dir=str(work / "state"), health_textfile_dir=str(work / "textfile"),
                 health_backup_root=str(work / "backups"))
    lab["telegram"].clear()
    cb = "ansible.builtin.json" if callback == "json" else callback
    reports = [run_playbook("health.yml", *args, inventory=lab["inventory"], extra=extra, callback=cb)
               for _run in range(count)]
    return work, reports


def test_lab_every_check_passes_and_nothing_is_sent(lab):
    stack = lab["stack"]
    work, (first, second) = lab_runs(lab, 2)

    assert first["rc"] == 0, first["raw"][-3000:]
    assert second["rc"] == 0, second["raw"][-3000:]
    result = health_result(first, lab["host"])
    again = health_result(second, lab["host"])
    assert result["ok"] is True and result["firing"] == [] and result["problems"] == [], result["summary"]
    assert again["ok"] is True and again["firing"] == []
    assert lab["telegram"].messages() == []
    assert result["alerts"] == {"sent": [], "suppressed": [], "resolved": [], "failed": [], "not_sent": []}

    # every service of the inventory was checked, and each check passed
    checked = {check["target"] for check in result["checks"] if check["group"] == "service"}
    assert checked == set(stack["services"])
    assert all(check["ok"] is True for check in result["checks"]), [c for c in result["checks"] if c["ok"] is not True]
    types = {check["type"] for check in result["checks"]}
    assert {"postgresql_down", "postgresql_connection", "postgresql_db_access", "neo4j_down", "neo4j_endpoint",
            "neo4j_bolt", "mem0_server_down", "mem0_server_endpoint", "openmemory_ui_down", "disk_space_low",
            "backup_failed", "memory_count_zero", "memory_count_drop"} <= types

    # the data: per namespace, against the last good run on the second run
    per_namespace = result["memories"]["per_namespace"]
    assert result["memories"]["database_up"] is True and sum(per_namespace.values()) == result["memories"]["total"] > 0
    assert result["memories"]["last_run"] is None and again["memories"]["last_run"] == result["memories"]["total"]
    assert (work / "state" / "memory_count.json").is_file()

    # the metrics, rewritten on every run
    metrics = (work / "textfile" / stack["monitoring"]["count_textfile"]).read_text()
    assert "mem0_database_up 1" in metrics and "mem0_memories %d" % result["memories"]["total"] in metrics
    for namespace, count in per_namespace.items():
        assert 'mem0_namespace_memories{namespace="%s"} %d' % (namespace, count) in metrics
    assert "mem0_memory_drop_ratio 0" in (work / "textfile" / stack["monitoring"]["count_textfile"]).read_text()
    status = (work / "textfile" / "mem0_health.prom").read_text()
    assert 'mem0_health_check_ok{alert_type="memory_count_zero"' in status
    assert [line for line in status.splitlines() if line.startswith("mem0_health_check_ok") and line.endswith(" 0")] == []

    # the summary a person reads at 02:30
    summary = again["summary"]
    assert summary[0].startswith("mem0 health of %s at " % stack["name"]) and "OK, every check passed" in summary[0]
    for name in stack["services"]:
        assert any(line.startswith("  ok ") and " %s " % name in line for line in summary), (name, summary)
    assert any("%s %d" % item in " ".join(summary) for item in per_namespace.items())
    assert any(line.strip().startswith("last good run: %d (0.0%% drop)" % result["memories"]["total"]) for line in summary)
    assert summary[-2:] == ["alerts:", "  none"]

    for report in (first, second):
        assert_no_secret(report["raw"], stack_secrets(stack))


def test_lab_check_mode_sends_and_writes_nothing(lab):
    work, (report,) = lab_runs(lab, 1, "--check", "-vvv", callback="ansible.builtin.default")

    assert report["rc"] == 0, report["raw"][-3000:]
    assert "CHECK MODE: no alert sent, no state or metrics written" in report["raw"]
    assert "OK, every check passed" in report["raw"]
    assert not (work / "state").exists() and not (work / "textfile").exists()
    assert lab["telegram"].messages() == []
    assert_no_secret(report["raw"], stack_secrets(lab["stack"]))


# --- a scratch stack: a stopped service -----------------------------------------------------------------------

def test_a_stopped_service_alerts_once_and_recovers_once(scratch_stack, tmp_path):
    scratch = scratch_stack
    stack, telegram = scratch.stack, scratch.telegram
    telegram.clear()
    ui = stack["services"]["openmemory_ui"]
    extra = scratch.health_vars(tmp_path, health_backup_required=False)
    wait_healthy(stack)
    baseline = scratch.health(extra)
    assert baseline["rc"] == 0 and scratch.result(baseline)["ok"] is True, scratch.result(baseline)["summary"]

    scratch.docker("stop", ui["container"])
    try:
        down = scratch.health(extra)
        again = scratch.health(extra)
    finally:
        scratch.docker("start", ui["container"])
    wait_http("http://%s:%d/" % (ui["host"], ui["port"]))
    back = scratch.health(extra)
    quiet = scratch.health(extra)

    for report in (down, again, back, quiet):
        assert report["rc"] == 0, report["raw"][-3000:]  # a problem is reported, never failed
        assert_no_secret(report["raw"], stack_secrets(stack))
    down_result, again_result = scratch.result(down), scratch.result(again)
    assert down_result["firing"] == ["openmemory_ui_down"], down_result["summary"]
    assert down_result["alerts"]["sent"] == ["openmemory_ui_down [WARNING]"]
    assert again_result["alerts"]["sent"] == [] and again_result["alerts"]["suppressed"][0].startswith("openmemory_ui_down")
    assert any(line.startswith("  PROBLEM  openmemory_ui ") and "is exited" in line for line in down_result["summary"])
    assert "1 PROBLEM(S): openmemory_ui_down" in down_result["summary"][0]
    assert scratch.result(back)["ok"] is True and scratch.result(back)["alerts"]["resolved"] == ["openmemory_ui_down"]
    assert scratch.result(quiet)["alerts"]["resolved"] == []

    assert telegram.headers() == ["[WARNING] openmemory_ui_down on %s" % stack["name"],
                                  "[RESOLVED] openmemory_ui_down on %s" % stack["name"]]
    first = telegram.messages()[0]["text"]
    assert ui["container"] in first and "playbooks/startup.yml -e services_names=openmemory_ui" in first
    assert (tmp_path / "state" / "alert_openmemory_ui_down.last").is_file()
    print("health.yml on the scratch stack: %s s (baseline), %s s (UI down)" % (baseline["seconds"], down["seconds"]))
