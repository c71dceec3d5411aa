"""verify.yml: health, counts and the smoke test pass on a healthy stack and leave nothing behind; an unhealthy
service is named. The stack comes from MEM0OPS_TEST_INVENTORY (default: the lab)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from .labkit import task_result
from .test_reset import HOST, INVENTORY, assert_no_secret, containers, graph_state, history_rows, load, memory_state, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> dict:
    return load()


def state(stack: dict) -> dict:
    return {"memories": memory_state(stack), "graph": graph_state(stack), "history_rows": history_rows(stack),
            "containers": containers(stack)}


def test_verify_passes_and_leaves_nothing_behind(stack):
    before = state(stack)
    report = run(stack, "verify.yml")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert report["stats"][HOST]["changed"] == 0
    assert state(stack) == before
    lines = task_result(report, "mem0ops.stack.verify : Report", HOST)["msg"]
    text = "\n".join(lines)
    assert lines[0].startswith(f"verify of stack {stack['name']}: OK")
    services = [name for name, svc in stack["services"].items() if "container" in svc]
    assert f"health: {len(services)}/{len(services)} services healthy" in text
    total = sum(before["memories"]["per_namespace"].values())
    assert f"memories: {total} in {len(before['memories']['per_namespace'])} namespace(s)" in text
    assert "the inventory password is accepted" in text
    assert "smoke test in mem0ops/smoke: created, found by search" in text
    assert_no_secret(stack, report)


def test_verify_names_the_service_that_is_not_healthy(stack, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    data = yaml.safe_load(path.read_text())
    data["mem0_stack"]["services"]["openmemory_ui"]["health"]["path"] = "/no-such-page"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from .labkit import run_playbook

    report = run_playbook("verify.yml", "-e", "verify_health_timeout=4", "-e", "verify_smoke=false", inventory=inventory)
    assert report["rc"] != 0
    problems = task_result(report, "mem0ops.stack.verify : Fail when the stack is not as it must be", HOST)["msg"]
    ui = stack["services"]["openmemory_ui"]
    assert any(line.startswith(f"openmemory_ui ({ui['container']}): GET http://{ui['host']}:{ui['port']}/no-such-page")
               for line in problems), problems
    assert report["stats"][HOST]["changed"] == 0
