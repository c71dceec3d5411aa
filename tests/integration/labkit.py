"""Helpers for tests against the lab. Every address, name and credential comes from the inventory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = REPO / "inventories" / "lab"


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


def run_playbook(playbook: str, *args: str, inventory: Path = LAB_INVENTORY) -> dict:
    """Run a playbook with the JSON callback and return its parsed report."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run(
        [str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "ansible-playbook"),
         "-i", str(inventory), str(REPO / "playbooks" / playbook), *args],
        cwd=REPO, env=env, capture_output=True, text=True, check=False)
    report = json.loads(proc.stdout)
    report["rc"] = proc.returncode
    report["raw"] = proc.stdout
    return report


def task_result(report: dict, task_name: str, host: str = "lab") -> dict:
    for play in report["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            if name == task_name or name.endswith(" : " + task_name):  # role tasks carry the role's name
                return task["hosts"][host]
    raise KeyError(task_name)
