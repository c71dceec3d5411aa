"""The scratch stack: a second copy of the lab, for the tests that stop, empty or break a stack.

One per test session (the ``scratch_stack`` fixture in conftest.py, brought up on first use and removed at the end):
containers ``*_scratch``, ports 5xxxx, database ``mem0_scratch``, everything else under a temporary directory, alerts
to its own fake Bot API. A test that damages it puts it back before it ends (the memories it empties, the container
it stops), so the next test finds it seeded and healthy. Bringing it up costs minutes; sharing it is the point.

MEM0OPS_TEST_INVENTORY, when set, names a disposable stack to use instead (never the lab: these tests stop and empty
its services); the host is the first of its mem0_hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from .labkit import LAB_INVENTORY, FakeTelegram, load_stack, run_playbook, task_result

ENV_INVENTORY = "MEM0OPS_TEST_INVENTORY"
NAME = "scratch"
# Outside the kernel's ephemeral range (32768-60999): the lab run beside this one takes free ports there (port 0, and
# every client connection), and once took a scratch service's port while a restore had it stopped (openmemory_ui:
# "Address already in use"); outside 20000-29999 too, where test_neo4j_export starts its throwaway servers.
PORTS = {"postgres": {"port": 31433, "container_port": 31433}, "neo4j": {"http_port": 31474, "bolt_port": 31687},
         "embedder": {"port": 31434}, "mem0": {"port": 31888}, "openmemory_mcp": {"port": 31765},
         "openmemory_ui": {"port": 31300}}
CHAT_ID = "424242"
# Passwords as a new user writes them (issue 12, hole 9): what Compose's env file expands ($NAME) or cuts (' #'),
# what breaks a URL (%, @, :, /, ?) and quotes, backslashes (one at the end) and spaces. Every scratch test (backup,
# restore, reset, health, ...) runs with them; test_credentials.py proves the containers got them exactly.
PASSWORDS = {"postgres": "pg $HOME #1 %41 %zz 'q' \"d\" @:/?& \\", "neo4j": "n4j $USER #2 100% 'a' \"b\" \\ c"}
# On a busy 2-core machine Neo4j has taken minutes to start.
UP_TIMEOUT = int(os.environ.get("MEM0OPS_TEST_LAB_TIMEOUT", "1800"))
# The health tests count alerts inside a cooldown; the backup tests want every alert (the inventory's cooldown: 0).
HEALTH_COOLDOWN = 3600


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
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"mem0_hosts": {"hosts": {NAME: {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    lab = yaml.safe_load((LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text())
    root = base / "root"
    lab["mem0ops_lab_root"] = str(root)
    stack = lab["mem0_stack"]
    stack["name"] = NAME
    stack["compose"]["project"] = "mem0_" + NAME
    stack["embedding"]["base_url"] = "http://127.0.0.1:%d" % PORTS["embedder"]["port"]
    for name, service in stack["services"].items():
        service["container"] = service["container"].replace("_lab", "_" + NAME)
        service.update(PORTS.get(name, {}))
        if name in PASSWORDS:
            service["password"] = PASSWORDS[name]
    stack["services"]["postgres"]["database"] = "mem0_" + NAME
    stack["alerting"].update(api_url=api_url, bot_token=token, chat_id=CHAT_ID, state_dir=str(root / "alerts"),
                             cooldown=0)
    stack["monitoring"].update(dir=str(root / "monitoring"), textfile_dir=str(root / "monitoring" / "textfile"))
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    path.write_text(yaml.safe_dump(lab, sort_keys=False))
    path.chmod(0o600)
    return inventory


def health_result(report: dict, host: str) -> dict:
    """The health_result the role published (the restore role, when it runs, has a task of the same name)."""
    for play in report["plays"]:
        for task in play["tasks"]:
            facts = task["hosts"].get(host, {}).get("ansible_facts", {})
            if task["task"]["name"].endswith("Publish the result") and "health_result" in facts:
                return facts["health_result"]
    return task_result(report, "Publish the result", host)["ansible_facts"]["health_result"]  # KeyError, named


class ScratchStack:
    """The stack the destructive tests act on: a scratch copy of the lab, or MEM0OPS_TEST_INVENTORY."""

    def __init__(self, base: Path):
        self.base = base
        self.scratch = not os.environ.get(ENV_INVENTORY)
        if self.scratch:
            self.telegram = FakeTelegram(chat_id=CHAT_ID)
            self.inventory = scratch_inventory(base, self.telegram.url, self.telegram.token)
            self.host = NAME
        else:
            self.inventory = Path(os.environ[ENV_INVENTORY]).resolve()
            self.host = first_host(self.inventory)
        self.stack = load_stack(self.inventory, self.host)
        if not self.scratch:
            self.telegram = FakeTelegram(self.stack["alerting"]["bot_token"])

    def up(self) -> None:
        if self.scratch:
            report = self.playbook("lab.yml", extra={"lab_health_timeout": UP_TIMEOUT})
            assert report["rc"] == 0, report["raw"][-3000:]

    def down(self) -> None:
        try:
            if self.scratch:
                self.playbook("lab.yml", extra={"lab_state": "absent"})
        finally:
            self.telegram.stop()
            shutil.rmtree(self.base, ignore_errors=True)

    def playbook(self, playbook: str | Path, *args: str, extra: dict | None = None, callback: str = "json") -> dict:
        return run_playbook(playbook, *args, inventory=self.inventory, extra=extra,
                            callback="ansible.builtin.json" if callback == "json" else callback)

    def health_vars(self, work: Path, **more) -> dict:
        """Alerts to the fake with the health check's cooldown, state and metrics in work/ (never the stack's own)."""
        return {"health_alert_api_url": self.telegram.url, "health_alert_cooldown": HEALTH_COOLDOWN,
                "health_state_dir": str(work / "state"), "health_textfile_dir": str(work / "textfile"), **more}

    def health(self, extra: dict, *args: str, callback: str = "json") -> dict:
        return self.playbook("health.yml", *args, extra=extra, callback=callback)

    def result(self, report: dict) -> dict:
        return health_result(report, self.host)

    def docker(self, *args: str) -> None:
        env = dict(os.environ, DOCKER_HOST=self.stack["docker_host"])
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True)

    def sql(self, *statements: str):
        """Run statements on the stack's database (autocommit); the last one's rows, if it returns any."""
        import psycopg2

        svc = self.stack["services"]["postgres"]
        conn = psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password=svc["password"],
                                dbname=svc["database"], connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                result = None
                for statement in statements:
                    cur.execute(statement)
                    result = cur.fetchall() if cur.description else None
                return result
        finally:
            conn.close()

    def empty_memories(self, keep_table: str) -> None:
        """Empty the memories table, the rows kept aside in keep_table (put_memories_back restores them)."""
        collection = self.stack["mem0"]["collection"]
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mem0ops.stack' "
                 "AND pid <> pg_backend_pid()", "SET lock_timeout = '30s'",
                 "DROP TABLE IF EXISTS %s" % keep_table, "CREATE TABLE %s AS TABLE %s" % (keep_table, collection),
                 "TRUNCATE %s" % collection)

    def put_memories_back(self, keep_table: str) -> None:
        """Undo empty_memories (also after a restore that already brought them back: then only the copy goes)."""
        collection = self.stack["mem0"]["collection"]
        if self.sql("SELECT to_regclass('%s') IS NOT NULL" % keep_table)[0][0]:
            if self.sql("SELECT count(*) FROM %s" % collection)[0][0] == 0:
                self.sql("INSERT INTO %s SELECT * FROM %s" % (collection, keep_table))
            self.sql("DROP TABLE %s" % keep_table)


def started(base: Path) -> ScratchStack:
    """A ScratchStack brought up; removed again when it does not come up."""
    stack = ScratchStack(base)
    try:
        stack.up()
    except BaseException:
        stack.down()
        raise
    return stack
