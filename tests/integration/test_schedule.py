"""The schedule role on this Debian host, with the real cron: jobs, wrappers, lock, logs, removal.

The cron daemon is not started here (lab/bin/engine.sh installs cron with daemon starts denied), so
the entries never fire. Should a cron daemon run anyway, every job gets a calendar that never comes
(February 31st) and the expected lines follow. Wrappers, locks and logs live in a temporary directory;
the jobs that really run use playbooks/status.yml (read-only) against the lab.
launchd cannot run here: its agents are rendered in check mode and parsed with plistlib.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .labkit import LAB_INVENTORY, REPO, run_playbook, task_result

pytestmark = pytest.mark.integration

PREFIX = "mem0ops"
CRON_USER = "root"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
TIERS = {"backup_hourly": "hourly", "backup_daily": "daily", "backup_weekly": "weekly", "backup_monthly": "monthly"}
SCHEDULES = {
    "backup_hourly": "5 * * * *",
    "backup_daily": "30 2 * * *",
    "backup_weekly": "0 3 * * 0",
    "backup_monthly": "30 3 1 * *",
    "health": "*/5 * * * *",
    "scrub": "30 4 * * 0",
}
NEVER = {"calendar": {"minute": 0, "hour": 0, "day": 31, "month": 2}, "every_minutes": None}
BUSY_EXIT_CODE = 75


def cron_daemon_running() -> bool:
    return subprocess.run(["pgrep", "-x", "cron|crond"], capture_output=True, check=False).returncode == 0


DAEMON = cron_daemon_running()


def crontab() -> dict[str, str]:
    """The role's entries in the user's crontab: name -> the line under its '#Ansible: <name>' marker."""
    proc = subprocess.run(["crontab", "-l", "-u", CRON_USER], capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    return {line.removeprefix("#Ansible: "): lines[i + 1] for i, line in enumerate(lines[:-1])
            if line.startswith(f"#Ansible: {PREFIX} ")}


class Schedule:
    """Runs playbooks/schedule.yml with the test's variables (a temporary schedule directory)."""

    def __init__(self, root: Path, prefix: str = PREFIX):
        self.root = root
        self.prefix = prefix
        self.dir = root / "schedule"
        self.bin = self.dir / "bin"
        self.logs = self.dir / "log"
        self.launchd_dir = root / "LaunchAgents"
        self.vars: dict = {"schedule_dir": str(self.dir), "schedule_launchd_dir": str(self.launchd_dir),
                           "schedule_prefix": prefix,
                           "schedule_log_dir": str(self.dir / "log")}
        if DAEMON:  # nothing may fire: a calendar that never comes
            self.vars["schedule_job_overrides"] = {job: NEVER for job in SCHEDULES}

    def run(self, *args: str, inventory: Path = LAB_INVENTORY, **extra) -> dict:
        overrides = dict(self.vars.get("schedule_job_overrides", {}))
        for job, spec in extra.pop("schedule_job_overrides", {}).items():
            overrides[job] = {**overrides.get(job, {}), **spec}
        data = {**self.vars, **extra}
        if overrides:
            data["schedule_job_overrides"] = overrides
        path = self.root / "vars.json"
        path.write_text(json.dumps(data))
        report = run_playbook("schedule.yml", "-e", f"@{path}", *args, inventory=inventory)
        assert report["rc"] == 0, report["raw"][-3000:]
        return report

    def wrapper(self, job: str) -> Path:
        return self.bin / f"{self.prefix}-{job}.sh"

    def log(self, job: str) -> str:
        path = self.logs / f"{job}.log"
        return path.read_text() if path.exists() else ""

    def expected_line(self, job: str) -> str:
        return f"{'0 0 31 2 *' if DAEMON else SCHEDULES[job]} {self.wrapper(job)}"


def changed(report: dict) -> int:
    return report["stats"]["lab"]["changed"]


@pytest.fixture
def schedule(tmp_path):
    """A Schedule in a temporary directory; every job it installed is removed afterwards."""
    sched = Schedule(tmp_path)
    yield sched
    sched.run("-e", "schedule_state=absent")
    assert crontab() == {}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """Jobs installed to be run: daily runs status.yml (read-only, against the lab), weekly a playbook that
    fails, hourly and monthly one that only succeeds; each tier has its own lock. Its own
    prefix keeps its cron entries apart from the other tests' (which count the entries of PREFIX)."""
    root = tmp_path_factory.mktemp("runner")
    plays = {"ok": {"name": "Succeed", "ansible.builtin.debug": {"msg": "ok"}},
             "fails": {"name": "Fail", "ansible.builtin.fail": {"msg": "on purpose"}}}
    for name, task in plays.items():
        (root / f"{name}.yml").write_text(yaml.safe_dump(
            [{"name": name, "hosts": "mem0_hosts", "gather_facts": False, "tasks": [task]}]))
    vault_file = root / "vault-pass"
    vault_file.write_text("not-a-real-vault-password-0\n")
    vault_file.chmod(0o600)
    sched = Schedule(root, prefix=f"{PREFIX}-runner")
    sched.vars["schedule_vault_password_file"] = str(vault_file)
    sched.run(schedule_job_overrides={"backup_daily": {"playbook": "status.yml"},
                                      "backup_weekly": {"playbook": str(root / "fails.yml")},
                                      "backup_hourly": {"playbook": str(root / "ok.yml")},
                                      "backup_monthly": {"playbook": str(root / "ok.yml")}})
    yield sched
    sched.run("-e", "schedule_state=absent")
    assert f"#Ansible: {sched.prefix} " not in subprocess.run(
        ["crontab", "-l", "-u", CRON_USER], capture_output=True, text=True, check=False).stdout


def run_wrapper(path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a wrapper as cron would: an empty environment."""
    return subprocess.run(["env", "-i", str(path), *args], capture_output=True, text=True, check=False, timeout=900)


def test_check_converge_idempotence_subset_and_absent(schedule, stack):
    # Check mode shows the cron lines and the wrappers, and changes nothing.
    before = crontab()
    report = schedule.run("--check", "--diff")
    assert changed(report) > 0
    for job in SCHEDULES:
        assert f"#Ansible: {PREFIX} {job}" in report["raw"]
        assert schedule.expected_line(job) in report["raw"]
    assert "#!/bin/bash" in report["raw"]
    assert crontab() == before
    assert not schedule.dir.exists()

    # Converge: one entry and one wrapper per job.
    assert changed(schedule.run()) > 0
    entries = crontab()
    assert entries == {f"{PREFIX} {job}": schedule.expected_line(job) for job in SCHEDULES}
    secrets = [stack["services"]["postgres"]["password"], stack["services"]["neo4j"]["password"],
               stack["services"]["mem0"]["api_key"]]
    for job in SCHEDULES:
        wrapper = schedule.wrapper(job)
        assert stat.S_IMODE(wrapper.stat().st_mode) == 0o750 and wrapper.stat().st_uid == os.getuid()
        text = wrapper.read_text()
        playbook = "backup.yml" if job in TIERS else "%s.yml" % job
        assert f"{VENV_BIN}/ansible-playbook" in text
        assert f"-i {LAB_INVENTORY}" in text
        assert f"{REPO}/playbooks/{playbook}" in text
        if job in TIERS:
            # a tier waits for the stack's lock in backup.yml (lock_wait) instead of being skipped by another tier
            assert f"-e backup_tier={TIERS[job]} -e lock_wait=3300" in text
            assert f"lock={schedule.dir}/run/{job}.lock" in text
        assert f"ANSIBLE_CONFIG={REPO}/ansible.cfg" in text
        assert '"$HOME"\'/.orbstack/bin\':/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin' in text
        assert "--vault-password-file" not in text
        assert not [s for s in secrets if s in text]
        assert subprocess.run(["bash", "-n", str(wrapper)], check=False).returncode == 0
        if shutil.which("shellcheck"):
            lint = subprocess.run(["shellcheck", str(wrapper)], capture_output=True, text=True, check=False)
            assert lint.returncode == 0, lint.stdout

    # Idempotence, and check mode after it.
    assert changed(schedule.run()) == 0
    assert changed(schedule.run("--check", "--diff")) == 0
    assert crontab() == entries

    # A subset removes the other jobs.
    assert changed(schedule.run(schedule_jobs=["backup_daily", "health"])) > 0
    assert set(crontab()) == {f"{PREFIX} backup_daily", f"{PREFIX} health"}
    assert sorted(p.name for p in schedule.bin.iterdir()) == [f"{PREFIX}-backup_daily.sh", f"{PREFIX}-health.sh"]

    # Absent removes every entry, wrapper and lock; the logs stay unless purged.
    (schedule.logs / "health.log").write_text("a log line\n")
    assert changed(schedule.run("--diff", "-e", "schedule_state=absent")) > 0
    assert crontab() == {}
    assert not schedule.bin.exists() and not (schedule.dir / "run").exists()
    assert (schedule.logs / "health.log").exists()
    assert changed(schedule.run("-e", "schedule_state=absent")) == 0
    schedule.run("-e", "schedule_state=absent", schedule_purge_logs=True)
    assert not schedule.dir.exists()


def test_a_wrapper_runs_with_an_empty_environment_and_logs_start_and_end(runner):
    proc = run_wrapper(runner.wrapper("backup_daily"))
    assert proc.returncode == 0, runner.log("backup_daily")[-3000:]
    assert proc.stdout == proc.stderr == ""  # everything goes to the job's log
    log = runner.log("backup_daily").splitlines()
    start = [line for line in log if " backup_daily[" in line and ": start: " in line]
    assert len(start) == 1
    assert start[0].endswith(f"{VENV_BIN}/ansible-playbook -i {LAB_INVENTORY} {REPO}/playbooks/status.yml "
                             f"-e backup_tier=daily -e lock_wait=3300 --vault-password-file {runner.root / 'vault-pass'}")
    docker = [line for line in log if ": docker: " in line]
    assert docker and docker[0].split(": docker: ")[1].startswith("/"), docker
    assert any(line.startswith("lab ") and "failed=0" in line for line in log)  # the play's recap
    assert log[-1].split(": ", 1)[1].startswith("end: exit 0 after ")
    assert not (runner.dir / "run" / "backup_daily.lock").exists()
    assert int((runner.dir / "run" / "backup_daily.ok").read_text()) > time.time() - 900  # its last success


def test_a_wrapper_exits_with_the_playbooks_exit_code(runner):
    proc = run_wrapper(runner.wrapper("backup_weekly"))
    assert proc.returncode == 2
    assert runner.log("backup_weekly").splitlines()[-1].split(": ", 1)[1].startswith("end: exit 2 after ")


def test_a_second_run_while_the_first_holds_the_lock_exits_at_once(runner):
    lock = runner.dir / "run" / "backup_daily.lock"
    daily_log = runner.logs / "backup_daily.log"
    first = subprocess.Popen(["env", "-i", str(runner.wrapper("backup_daily"))])
    try:
        deadline = time.monotonic() + 120
        while not (lock / "owner").exists():
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took the lock"
            time.sleep(0.05)
        holder = (lock / "owner").read_text().split()[0]
        # another tier is not skipped: it runs beside it (a backup.yml would wait for the stack's lock, test_lock.py)
        assert run_wrapper(runner.wrapper("backup_hourly")).returncode == 0
        lines = len(daily_log.read_text().splitlines())
        second = run_wrapper(runner.wrapper("backup_daily"))  # the same job again: the same lock
        # busy, not delayed: a run that waited for the lock would have got it and run its playbook (exit 0)
        assert second.returncode == BUSY_EXIT_CODE
        busy = [line for line in daily_log.read_text().splitlines()[lines:] if ": already running: " in line]
        assert len(busy) == 1 and f"held by pid {holder} " in busy[0], busy
    finally:
        assert first.wait(timeout=900) == 0
    assert not lock.exists()


def test_a_stale_lock_is_taken_over(runner):
    lock = runner.dir / "run" / "backup_monthly.lock"
    # A holder that is gone, and a pid that is alive but another process (the pid was reused).
    for owner in ("4194300 Thu Jan  1 00:00:00 2026", f"{os.getpid()} Thu Jan  1 00:00:00 2026"):
        lock.mkdir()
        (lock / "owner").write_text(owner + "\n")
        proc = run_wrapper(runner.wrapper("backup_monthly"))
        assert proc.returncode == 0, runner.log("backup_monthly")[-3000:]
        assert f"took over the stale lock {lock} of pid {owner} (no longer running)" in runner.log("backup_monthly")
        assert not lock.exists()


def test_a_lock_without_owner_is_busy_while_fresh(runner):
    lock = runner.dir / "run" / "backup_monthly.lock"
    lock.mkdir()  # a run between its mkdir and writing its owner
    assert run_wrapper(runner.wrapper("backup_monthly")).returncode == BUSY_EXIT_CODE
    old = time.time() - 300
    os.utime(lock, (old, old))  # a run that died there
    proc = run_wrapper(runner.wrapper("backup_monthly"))
    assert proc.returncode == 0, runner.log("backup_monthly")[-3000:]
    assert "a run that never wrote its owner" in runner.log("backup_monthly")
    assert not lock.exists()


def test_a_job_missed_at_its_time_runs_at_the_next_start_of_any_job(runner):
    """The catch-up: monthly's last success is long before its last time (the machine was asleep, or its wait for the
    stack's lock timed out); the next start of another job (hourly) starts it, once."""
    if DAEMON:
        pytest.skip("the jobs' calendars never come while a cron daemon runs")
    began = time.monotonic()
    run = runner.dir / "run"
    now = int(time.time())
    for job in json.loads((run / "jobs.json").read_text())["jobs"]:
        (run / f"{job}.ok").write_text(f"{now}\n")
        (run / f"{job}.caught").unlink(missing_ok=True)
    (run / "backup_monthly.ok").write_text("1\n")  # 1970: it missed its last 1st of the month at 03:30
    monthly_log = runner.logs / "backup_monthly.log"
    monthly_log.unlink(missing_ok=True)
    assert run_wrapper(runner.wrapper("backup_hourly")).returncode == 0
    started = [line for line in runner.log("backup_hourly").splitlines() if "catch-up: started " in line]
    assert started and "catch-up: started backup_monthly, missed at " in started[-1], started
    assert "last success 1970-01-01T" in started[-1]
    deadline = time.monotonic() + 300
    while not (monthly_log.exists() and ": end: exit " in monthly_log.read_text()):
        assert time.monotonic() < deadline, "the catch-up of backup_monthly never ended"
        time.sleep(0.2)
    log = monthly_log.read_text()
    assert "catch-up of a missed time, started by job backup_hourly" in log and ": end: exit 0 after " in log
    assert int((run / "backup_monthly.ok").read_text()) >= now
    # caught up: the next start catches up nothing
    assert run_wrapper(runner.wrapper("backup_hourly")).returncode == 0
    assert len([line for line in runner.log("backup_hourly").splitlines() if "catch-up: started " in line]) == len(started)
    print("catch-up test: %.1f s" % (time.monotonic() - began))


def test_the_vault_password_file_is_passed_by_path(runner):
    for job in SCHEDULES:
        text = runner.wrapper(job).read_text()
        assert f"--vault-password-file {runner.root / 'vault-pass'}" in text
        assert "not-a-real-vault-password-0" not in text


def test_the_inventory_schedule_tree_is_read(schedule, tmp_path):
    """mem0_stack.schedule in the inventory sets the jobs and the health playbook."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "mem0_hosts").mkdir(parents=True)
    shutil.copy(LAB_INVENTORY / "hosts.yml", inventory / "hosts.yml")
    lab_vars = (LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text()
    (inventory / "group_vars" / "mem0_hosts" / "stack.yml").write_text(
        lab_vars.replace("\nmem0_stack:\n", "\n_lab_mem0_stack:\n"))
    tree = {"schedule": {"jobs": ["health"], "health_playbook": "status.yml",
                         "job_overrides": {"health": {"lock": "inventory-health"}}}}
    (inventory / "group_vars" / "mem0_hosts" / "zz_schedule.yml").write_text(yaml.safe_dump(
        {"mem0_stack": "{{ _lab_mem0_stack | combine(%s, recursive=true) }}" % json.dumps(tree)}))
    schedule.run(inventory=inventory)
    assert set(crontab()) == {f"{PREFIX} health"}
    text = schedule.wrapper("health").read_text()
    assert f"{REPO}/playbooks/status.yml" in text and f"-i {inventory}" in text
    assert "/run/inventory-health.lock" in text


def test_launchd_agents_render_as_valid_plists(tmp_path):
    """launchd cannot run here: render the agents in check mode and parse them as macOS would."""
    sched = Schedule(tmp_path)
    sched.vars.pop("schedule_job_overrides", None)  # nothing is installed: the real calendars
    report = sched.run("--check", "--diff", schedule_backend="launchd")
    rendered = task_result(report, "Write a launchd agent per job")["results"]
    assert [r["item"] for r in rendered] == list(SCHEDULES)
    home = Path("~").expanduser()
    plists = {}
    for result in rendered:
        diff = result["diff"][0] if isinstance(result["diff"], list) else result["diff"]
        plists[result["item"]] = plistlib.loads(diff["after"].encode())
    expected_calendars = {
        "backup_hourly": {"Minute": 5},
        "backup_daily": {"Hour": 2, "Minute": 30},
        "backup_weekly": {"Weekday": 0, "Hour": 3, "Minute": 0},
        "backup_monthly": {"Day": 1, "Hour": 3, "Minute": 30},
        "scrub": {"Weekday": 0, "Hour": 4, "Minute": 30},
    }
    for job, plist in plists.items():
        log = str(sched.logs / f"{job}.log")
        assert plist["Label"] == f"com.{PREFIX}.{job}"
        assert plist["ProgramArguments"] == [str(sched.wrapper(job))]
        assert plist["StandardOutPath"] == plist["StandardErrorPath"] == log
        assert plist["RunAtLoad"] is False
        assert plist["EnvironmentVariables"]["PATH"].split(":")[:5] == [
            str(VENV_BIN), f"{home}/.orbstack/bin", "/usr/local/bin", "/opt/homebrew/bin", "/usr/bin"]
        if job == "health":
            assert plist["StartInterval"] == 300 and "StartCalendarInterval" not in plist
        else:
            assert plist["StartCalendarInterval"] == expected_calendars[job] and "StartInterval" not in plist
    assert not tmp_path.joinpath("schedule").exists() and not sched.launchd_dir.exists()


def test_launchd_is_refused_outside_macos_except_in_check_mode(tmp_path):
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"schedule_dir": str(tmp_path / "s"), "schedule_launchd_dir": str(tmp_path / "l"),
                                "schedule_log_dir": str(tmp_path / "s" / "log"), "schedule_backend": "launchd"}))
    report = run_playbook("schedule.yml", "-e", f"@{path}")
    assert report["rc"] != 0
    assert "launchd agents need macOS" in task_result(report, "Refuse launchd outside macOS (check mode only renders the agents)")["msg"]
    assert not (tmp_path / "s").exists()


def test_a_bad_job_definition_is_refused_before_anything_changes(tmp_path):
    before = crontab()
    sched = Schedule(tmp_path)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**sched.vars, "schedule_job_overrides": {"backup_daily": {"calendar": {"hour": 25}}}}))
    report = run_playbook("schedule.yml", "-e", f"@{path}")
    assert report["rc"] != 0
    assert "hour=25" in report["raw"]
    assert crontab() == before and not sched.dir.exists()


def test_a_scheduled_backup_run_produces_a_valid_set(schedule, stack):
    """The whole chain as cron runs it: the hourly wrapper, an empty environment, backup.yml against the lab."""
    hourly = Path(stack["backup_root"]) / "hourly"
    before = set(hourly.iterdir()) if hourly.is_dir() else set()
    schedule.run()
    proc = run_wrapper(schedule.wrapper("backup_hourly"))
    assert proc.returncode == 0, schedule.log("backup_hourly")[-3000:]
    new = sorted(p for p in set(hourly.iterdir()) - before if not p.name.startswith("."))
    assert len(new) == 1, new
    manifest = json.loads((new[0] / "manifest.json").read_text())
    assert manifest["status"] == "valid" and manifest["tier"] == "hourly"
    assert manifest["counts"]["memories"]["total"] > 0
