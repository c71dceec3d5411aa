"""playbooks/health.yml against real stacks, with the Telegram Bot API replaced by lab/apps/fake_telegram.py.

- The lab, read-only (state, metrics and backup root in temporary directories): every check passes, nothing is
  sent, the summary is readable, no secret appears in any output, and check mode writes nothing.
- A scratch copy of the stack (containers *_hs, ports 5xxxx, everything under a temporary directory, brought up with
  playbooks/lab.yml and removed at the end): the UI container stopped raises openmemory_ui_down once, not again
  inside the cooldown, and one recovery message once it runs again.

MEM0OPS_TEST_INVENTORY, when set, names the inventory to use instead of both (a disposable stack: the scratch
tests stop its containers); the host is the first of its mem0_hosts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .labkit import LAB_INVENTORY, REPO, load_stack, task_result

pytestmark = pytest.mark.integration

ENV_INVENTORY = "MEM0OPS_TEST_INVENTORY"
SCRATCH_NAME = "hs"
SCRATCH_PORTS = {"postgres": {"port": 55433, "container_port": 55433}, "neo4j": {"http_port": 57475, "bolt_port": 57688},
                 "embedder": {"port": 51434}, "mem0": {"port": 58888}, "openmemory_mcp": {"port": 58765},
                 "openmemory_ui": {"port": 53000}}
# The lab on this 2-core machine may be shared with other test runs: Neo4j alone has taken 10 minutes to start.
LAB_UP_TIMEOUT = int(os.environ.get("MEM0OPS_TEST_LAB_TIMEOUT", "1800"))
PUBLISH = "Publish the result"
ANSIBLE_PLAYBOOK = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "ansible-playbook")


# --- helpers shared with test_monitoring_e2e.py -------------------------------------------------------------

class FakeTelegram:
    """lab/apps/fake_telegram.py on a free port of 127.0.0.1; stopped by its own pid."""

    def __init__(self, token: str, chat_id: str | None = None):
        self.token = token
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, FAKE_TELEGRAM_TOKEN=token)
        if chat_id:
            env["FAKE_TELEGRAM_CHAT_ID"] = str(chat_id)
        self.proc = subprocess.Popen([sys.executable, str(REPO / "lab" / "apps" / "fake_telegram.py"), "--port", "0"],
                                     env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("fake_telegram listening on http://127.0.0.1:"), line
        self.url = line.rsplit(" ", 1)[-1]

    def messages(self) -> list:
        with urllib.request.urlopen(self.url + "/messages", timeout=10) as answer:  # noqa: S310 - loopback
            return json.load(answer)["result"]

    def clear(self) -> None:
        request = urllib.request.Request(self.url + "/messages", method="DELETE")
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def headers(self) -> list:
        """The first line of every message: '[SEVERITY] alert_type on stack'."""
        return [message["text"].splitlines()[0] for message in self.messages()]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.seek(0)
        return self.log.read()


def first_host(inventory: Path) -> str:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    hosts = InventoryManager(loader=DataLoader(), sources=[str(inventory)]).get_hosts("mem0_hosts")
    assert hosts, "%s has no host in mem0_hosts" % inventory
    return hosts[0].name


def scratch_inventory(base: Path, api_url: str, token: str) -> Path:
    """inventories/lab with every name, port and path of the stack moved out of the lab's way."""
    inventory = base / "inventory"
    (inventory / "group_vars" / "mem0_hosts").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"mem0_hosts": {"hosts": {SCRATCH_NAME: {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    lab = yaml.safe_load((LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text())
    root = base / "root"
    lab["mem0ops_lab_root"] = str(root)
    stack = lab["mem0_stack"]
    stack["name"] = SCRATCH_NAME
    stack["compose"]["project"] = "mem0_" + SCRATCH_NAME
    stack["embedding"]["base_url"] = "http://127.0.0.1:%d" % SCRATCH_PORTS["embedder"]["port"]
    for name, service in stack["services"].items():
        service["container"] = service["container"].replace("_lab", "_" + SCRATCH_NAME)
        service.update(SCRATCH_PORTS.get(name, {}))
    stack["services"]["postgres"]["database"] = "mem0_" + SCRATCH_NAME
    stack["alerting"].update(api_url=api_url, bot_token=token, state_dir=str(root / "alerts"))
    stack["monitoring"].update(dir=str(root / "monitoring"), textfile_dir=str(root / "monitoring" / "textfile"))
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    path.write_text(yaml.safe_dump(lab, sort_keys=False))
    path.chmod(0o600)
    return inventory


def run_playbook(playbook: str, inventory: Path, extra: dict | None = None, *args: str, callback: str = "json") -> dict:
    """Run a playbook; extra vars go through a 0600 file, never the command line. Returns the JSON report (or
    {'raw': output} with another callback), with rc and the wall time in seconds."""
    command = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(REPO / "playbooks" / playbook), *args]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="mem0ops-health-") as handle:
        os.chmod(handle.name, 0o600)
        if extra:
            json.dump(extra, handle)
            handle.flush()
            command[3:3] = ["-e", "@" + handle.name]
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1")
        started = time.monotonic()
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        seconds = round(time.monotonic() - started, 1)
    if callback == "json":
        try:
            report = json.loads(proc.stdout[proc.stdout.index('{\n    "custom_stats"'):])
        except ValueError:
            report = {"plays": []}
    else:
        report = {}
    report.update(rc=proc.returncode, raw=proc.stdout + proc.stderr, seconds=seconds)
    return report


def health_result(report: dict, host: str) -> dict:
    """The health_result the role published (the restore role, when it runs, has a task of the same name)."""
    for play in report["plays"]:
        for task in play["tasks"]:
            facts = task["hosts"].get(host, {}).get("ansible_facts", {})
            if task["task"]["name"].endswith(PUBLISH) and "health_result" in facts:
                return facts["health_result"]
    return task_result(report, PUBLISH, host)["ansible_facts"]["health_result"]  # raises KeyError, with the name


def wait_http(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "%s does not answer 200" % url
        time.sleep(1)


def wait_healthy(stack: dict, timeout: float = 900) -> None:
    """Until every container of the stack runs (healthy, when it has a Docker HEALTHCHECK)."""
    names = [svc["container"] for svc in stack["services"].values() if "container" in svc]
    env = dict(os.environ, DOCKER_HOST=stack["docker_host"])
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                               *names], env=env, capture_output=True, text=True, check=False)
        states = proc.stdout.split("\n")[:len(names)]
        if proc.returncode == 0 and all(state.strip() in ("running", "running healthy") for state in states):
            return
        assert time.monotonic() < deadline, "the stack is not healthy: %s" % dict(zip(names, states))
        time.sleep(2)


def stack_secrets(stack: dict) -> list:
    services = stack["services"]
    values = [services["postgres"]["password"], services.get("neo4j", {}).get("password"),
              services.get("mem0", {}).get("api_key"), stack["alerting"]["bot_token"]]
    return [value for value in values if value and len(value) >= 6]


def assert_no_secret(text: str, values: list) -> None:
    for value in values:
        assert value not in text, "a secret appears in the output"


class Stack:
    """The stack a test acts on: MEM0OPS_TEST_INVENTORY, or a scratch copy of the lab brought up for the test."""

    def __init__(self, base: Path):
        self.base = base
        self.scratch = not os.environ.get(ENV_INVENTORY)
        if self.scratch:
            token = "%d:%s" % (secrets.randbelow(10**9), secrets.token_urlsafe(24))
            self.telegram = FakeTelegram(token, chat_id="424242")
            self.inventory = scratch_inventory(base, self.telegram.url, token)
            self.host = SCRATCH_NAME
        else:
            self.inventory = Path(os.environ[ENV_INVENTORY]).resolve()
            self.host = first_host(self.inventory)
        self.stack = load_stack(self.inventory, self.host)
        if not self.scratch:
            self.telegram = FakeTelegram(self.stack["alerting"]["bot_token"])

    def up(self) -> None:
        if self.scratch:
            report = run_playbook("lab.yml", self.inventory, {"lab_health_timeout": LAB_UP_TIMEOUT})
            assert report["rc"] == 0, report["raw"][-3000:]

    def down(self) -> None:
        try:
            if self.scratch:
                run_playbook("lab.yml", self.inventory, {"lab_state": "absent"})
        finally:
            self.telegram.stop()
            shutil.rmtree(self.base, ignore_errors=True)

    def health_vars(self, work: Path, **more) -> dict:
        """Alerts to the fake, state and metrics in work/ (never the stack's own)."""
        return {"health_alert_api_url": self.telegram.url, "health_state_dir": str(work / "state"),
                "health_textfile_dir": str(work / "textfile"), **more}

    def health(self, extra: dict, *args: str, callback: str = "json") -> dict:
        return run_playbook("health.yml", self.inventory, extra, *args, callback=callback)

    def result(self, report: dict) -> dict:
        return health_result(report, self.host)

    def docker(self, *args: str) -> None:
        env = dict(os.environ, DOCKER_HOST=self.stack["docker_host"])
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def scratch():
    """The stack the destructive tests act on, removed at the end even when a test fails."""
    if os.environ.get(ENV_INVENTORY) and Path(os.environ[ENV_INVENTORY]).resolve() == LAB_INVENTORY.resolve():
        pytest.skip("%s is the shared lab: these tests stop and empty its services" % ENV_INVENTORY)
    stack = Stack(Path(tempfile.mkdtemp(prefix="mem0ops-hs-")))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


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


def lab_runs(lab, count: int, *args: str, callback: str = "json", attempts: int = 4) -> tuple:
    """count runs of health.yml on the lab with fresh state, while the lab stays healthy. Other test sessions restart
    the lab's containers now and then: a set of runs that saw such a restart is discarded (its messages too) and
    taken again, up to attempts times; a real problem shows in every attempt."""
    for attempt in range(1, attempts + 1):
        wait_healthy(lab["stack"])
        work = Path(tempfile.mkdtemp(prefix="attempt%d-" % attempt, dir=lab["work"]))
        (work / "backups").mkdir()
        extra = dict(lab["vars"], health_state_dir=str(work / "state"), health_textfile_dir=str(work / "textfile"),
                     health_backup_root=str(work / "backups"))
        lab["telegram"].clear()
        reports = [run_playbook("health.yml", lab["inventory"], extra, *args, callback=callback) for _run in range(count)]
        if all("OK, every check passed" in report["raw"] for report in reports) or attempt == attempts:
            return work, reports
        print("lab changed during the runs (attempt %d): %s" % (attempt, [r["raw"][-600:] for r in reports]))
    raise AssertionError("unreachable")


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
    assert "mem0_database_up 1" in metrics and "mem0_memory_total %d" % result["memories"]["total"] in metrics
    for namespace, count in per_namespace.items():
        assert 'mem0_memory_count{namespace="%s"} %d' % (namespace, count) in metrics
    assert "mem0_memory_drop_percentage 0" in (work / "textfile" / stack["monitoring"]["count_textfile"]).read_text()
    status = (work / "textfile" / "mem0_health.prom").read_text()
    assert 'mem0_health_check_ok{alert_type="memory_count_zero"' in status and " 0\n" not in status

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

def test_a_stopped_service_alerts_once_and_recovers_once(scratch, tmp_path):
    stack, telegram = scratch.stack, scratch.telegram
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
