"""A malformed mem0_stack tree stops every playbook before anything changes, with one line naming the key and its fix.

Each case is a copy of the lab inventory with one key changed; backup.yml (a real run, not check mode) and
reset.yml --check must fail in the mem0ops.stack.mem0_stack role's check, run nothing else, leave no new file
under the backup root and leave every container as it was.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .labkit import inventory_copy, run_playbook, task_result

pytestmark = pytest.mark.integration

CHECK = "Check the inventory's mem0_stack tree"

CASES = {
    "string_port": (
        lambda tree: tree["services"]["postgres"].update(port="abc"),
        "mem0_stack.services.postgres.port: 'abc' is not a port; set a whole number from 1 to 65535"),
    "name_with_slash": (
        lambda tree: tree.update(name="lab/x"),
        "mem0_stack.name: 'lab/x' may hold only letters, digits, '.', '_' and '-'"),
    "empty_password": (
        lambda tree: tree["services"]["neo4j"].update(password=""),
        "mem0_stack.services.neo4j.password is empty; set it in the inventory or vault"),
}


def containers(stack):
    """Each container's id, start time and restart count: any stop, start or recreate changes them."""
    names = [svc["container"] for svc in stack["services"].values() if "container" in svc]
    proc = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.Id}} {{.State.StartedAt}} {{.RestartCount}}", *names],
                          capture_output=True, text=True, check=True)
    return sorted(proc.stdout.splitlines())


def files_under(root):
    return sorted(str(path) for path in root.rglob("*")) if root.exists() else []


def ran(report):
    """The names of the tasks the play reached, without the role's prefix."""
    return [task["task"]["name"].split(" : ", 1)[-1] for play in report["plays"] for task in play["tasks"]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_inventory_fails_first_with_one_line_and_changes_nothing(stack, tmp_path, case):
    change, expected = CASES[case]
    inventory = inventory_copy(tmp_path, change)
    backup_root = Path(stack["backup_root"])
    before = (containers(stack), files_under(backup_root))

    for playbook, args in (("backup.yml", ()), ("reset.yml", ("--check", ))):
        report = run_playbook(playbook, *args, inventory=inventory)
        assert report["rc"] != 0, report["raw"][-2000:]
        result = task_result(report, CHECK)
        assert result["failed"] is True
        assert result["msg"] == expected
        assert ran(report)[-1] == CHECK, ran(report)
        assert all(name.startswith("Validating arguments") or name == CHECK for name in ran(report)), ran(report)
        assert report["stats"]["lab"]["changed"] == 0
        assert report["stats"]["lab"]["failures"] == 1

    assert (containers(stack), files_under(backup_root)) == before
