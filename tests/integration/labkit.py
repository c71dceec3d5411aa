"""Helpers for tests against the lab. Every address, name and credential comes from the inventory."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = REPO / "inventories" / "lab"

# The seed's known counts (lab/seed/seed.py, the incident's data set): the oracle the lab cycles compare with,
# independent of the manifests and counters of the code under test.
SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
SEEDED_MEMORIES = 1968
SEEDED_NODES = 70
SEEDED_RELATIONSHIPS = 94


def record_fault(case: str, memories_before: int, memories_after: int, outcome: str) -> None:
    """One row of `make test`'s fault table ("nothing lost"): the fault injected, the memories a direct query counted
    before it and after the recovery the tool printed, and what the tool did. Written to MEM0OPS_FAULTS (set by
    mk/stages.sh) when that is set; the test itself asserts the loss, this only reports it."""
    target = os.environ.get("MEM0OPS_FAULTS")
    if not target:
        return
    lost = max(memories_before - memories_after, 0)
    with open(target, "a", encoding="utf-8") as handle:
        row = (case, memories_before, memories_after, lost, " ".join(outcome.split()))
        handle.write("%s\t%d\t%d\t%d\t%s\n" % row)


def load_stack(inventory: Path, host: str) -> dict:
    """Resolve ``mem0_stack`` for one host exactly as a play would (lookups included)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    inventory_manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=inventory_manager).get_vars(
        host=inventory_manager.get_host(host))
    # A JSON round trip turns Ansible's tagged containers into plain ones.
    return json.loads(json.dumps(Templar(loader=loader, variables=variables).template(variables["mem0_stack"])))


def inventory_copy(tmp_path: Path, change) -> Path:
    """A copy of the lab inventory in tmp_path with change(tree) applied to its mem0_stack tree (lookups stay as
    written, so the credentials stay the lab's)."""
    import yaml

    inventory = tmp_path / "inventory"
    shutil.copytree(LAB_INVENTORY, inventory)
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    data = yaml.safe_load(path.read_text())
    change(data["mem0_stack"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return inventory


def run_playbook(playbook: str | Path, *args: str, inventory: Path = LAB_INVENTORY, extra: dict | None = None,
                 callback: str = "ansible.builtin.json") -> dict:
    """Run a playbook (a name under playbooks/, or a path) and return its report: the JSON callback's, parsed (with
    another callback an empty one), with rc, the raw output and the wall time in seconds. Extra variables go through
    a 0600 file, never the command line (they may hold secrets)."""
    command = [str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "ansible-playbook"),
               "-i", str(inventory), str(REPO / "playbooks" / playbook), *args]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="mem0ops-extra-") as handle:
        os.chmod(handle.name, 0o600)
        if extra:
            json.dump(extra, handle)
            handle.flush()
            command[3:3] = ["-e", "@" + handle.name]
        started = time.monotonic()
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        seconds = round(time.monotonic() - started, 1)
    report: dict = {"plays": []}
    if callback.endswith("json"):
        # with -v the callback's JSON follows the verbose lines
        start = proc.stdout.find('{\n    "custom_stats"')
        try:
            report = json.loads(proc.stdout[max(start, 0):])
        except ValueError:
            pass
    report.update(rc=proc.returncode, raw=proc.stdout + proc.stderr, seconds=seconds)
    return report


# Task arguments of the lab's connections, as templates of the inventory (the play resolves them).
PG = "mem0_stack.services.postgres"
PG_TCP = {
    "login_host": "{{ %s.host }}" % PG, "login_port": "{{ %s.port }}" % PG, "login_user": "{{ %s.user }}" % PG,
    "login_password": "{{ %s.password }}" % PG, "db": "{{ %s.database }}" % PG,
}
PG_DOCKER = {
    "connect_via": "docker_exec", "container": "{{ %s.container }}" % PG, "docker_host": "{{ mem0_stack.docker_host }}",
    "login_port": "{{ %s.container_port }}" % PG, "login_user": "{{ %s.user }}" % PG,
    "login_password": "{{ %s.password }}" % PG, "db": "{{ %s.database }}" % PG,
}
NEO4J = {
    "neo4j": True,
    "neo4j_uri": "bolt://{{ mem0_stack.services.neo4j.host }}:{{ mem0_stack.services.neo4j.bolt_port }}",
    "neo4j_user": "{{ mem0_stack.services.neo4j.user }}",
    "neo4j_password": "{{ mem0_stack.services.neo4j.password }}",
}


def run_tasks(*tasks: dict, host: str = "lab", inventory: Path = LAB_INVENTORY) -> tuple[list[dict], str]:
    """Run tasks on one host in one play (JSON callback, each task ignore_errors); return each task's result and the
    raw output."""
    play = [{"name": "tasks under test", "hosts": host, "gather_facts": False,
             "tasks": [dict(task, name="task %d" % i, ignore_errors=True) for i, task in enumerate(tasks)]}]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps(play))
        report = run_playbook(playbook, inventory=inventory)
    results = [task["hosts"][host] for task in report["plays"][0]["tasks"]]
    assert len(results) == len(tasks), report["raw"][-2000:]
    return results, report["raw"]


def module_task(module: str, args: dict, check_mode: bool = False) -> dict:
    task = {module: args}
    if check_mode:
        task["check_mode"] = True
    return task


def lab_secrets(stack: dict) -> list:
    svc = stack["services"]
    return [svc["postgres"]["password"], svc["neo4j"]["password"], svc["mem0"]["api_key"]]


def task_result(report: dict, task_name: str, host: str = "lab") -> dict:
    for play in report["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            if name == task_name or name.endswith(" : " + task_name):  # role tasks carry the role's name
                return task["hosts"][host]
    raise KeyError(task_name)


class FakeTelegram:
    """lab/apps/fake_telegram.py (the stand-in for the Telegram Bot API) on a free port of 127.0.0.1, stopped by its
    own pid. A random token unless one is given; record= keeps what it received in a file."""

    def __init__(self, token: str | None = None, chat_id: str | None = None, record: Path | None = None):
        self.token = token or "%d:%s" % (secrets.randbelow(10**9), secrets.token_urlsafe(24))
        self.record = record
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, FAKE_TELEGRAM_TOKEN=self.token)
        if chat_id:
            env["FAKE_TELEGRAM_CHAT_ID"] = str(chat_id)
        command = [sys.executable, str(REPO / "lab" / "apps" / "fake_telegram.py"), "--port", "0"]
        command += ["--record", str(record)] if record else []
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("fake_telegram listening on http://127.0.0.1:"), line
        self.url = line.rsplit(" ", 1)[-1]

    def _call(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return json.load(answer) if method == "GET" else None

    def messages(self) -> list:
        return self._call("/messages")["result"]

    def clear(self) -> None:
        self._call("/messages", method="DELETE")

    def headers(self) -> list:
        """The first line of every message: '[SEVERITY] alert_type on stack'."""
        return [message["text"].splitlines()[0] for message in self.messages()]

    def fail_next(self, status: int, count: int = 1) -> None:
        self._call("/control", method="POST", body={"fail_status": status, "fail_count": count})

    def stop(self) -> str:
        """Stop it; return what it logged (a test may check that the token is not in it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.seek(0)
        return self.log.read()


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


def api_search(stack: dict, text: str, namespace: str, top_k: int = 3) -> list:
    """The ids (as text) the stack's mem0 API returns for a search of ``text`` in ``namespace``."""
    svc = stack["services"]["mem0"]
    request = urllib.request.Request(
        "http://%s:%d/search" % (svc["host"], svc["port"]),
        data=json.dumps({"query": text, "user_id": namespace, "top_k": top_k}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + svc["api_key"]})
    with urllib.request.urlopen(request, timeout=60) as answer:
        found = json.load(answer)
    return [str(r["id"]) for r in (found.get("results", []) if isinstance(found, dict) else found)]


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
        time.sleep(1)


def stack_secrets(stack: dict) -> list:
    """The stack's secrets as the inventory resolves them (passwords, API key, bot token)."""
    services = stack["services"]
    values = [services["postgres"]["password"], services.get("neo4j", {}).get("password"),
              services.get("mem0", {}).get("api_key"), (stack.get("alerting") or {}).get("bot_token")]
    return [value for value in values if value and len(value) >= 6]


def assert_no_secret(text: str, values: list) -> None:
    for value in values:
        assert value not in text, "a secret appears in the output"


class Process:
    """A server started for a test, stopped (by its own pid) afterwards; its stderr goes to a temporary file."""

    def __init__(self, command, env=None, ready_prefix=None):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.first_line = self.proc.stdout.readline().strip() if ready_prefix else ""
        if ready_prefix and not self.first_line.startswith(ready_prefix):
            raise RuntimeError(f"{command[0]} did not start: {self.first_line} {self.stop()}")

    @property
    def url(self) -> str:
        return self.first_line.rsplit(" ", 1)[-1]

    def stop(self) -> str:
        """Stop the process and return what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.seek(0)
        return self.log.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
