"""Preflight stops the play, naming every disagreement, when the inventory and the running stack differ."""

from __future__ import annotations

import pytest

from .labkit import inventory_copy, run_playbook, task_result

pytestmark = pytest.mark.integration


def test_preflight_passes_on_the_lab():
    report = run_playbook("preflight.yml")
    assert report["rc"] == 0, report["raw"][-2000:]
    assert "agrees with the inventory" in task_result(report, "Report the preflight result")["msg"]


def test_preflight_names_the_incidents_drift_and_changes_nothing(stack, tmp_path):
    def incident(tree):
        # The inventory moved to new credentials and a new model; the containers did not.
        tree["services"]["postgres"]["user"] = "mem0_user_prd"
        tree["services"]["postgres"]["database"] = "mem0_prd"
        tree["embedding"]["model"] = "text-embedding-3-small"
        tree["embedding"]["dims"] = 1536
        tree["services"]["neo4j"]["password"] = "not-the-password-0"
    report = run_playbook("preflight.yml", inventory=inventory_copy(tmp_path, incident))
    assert report["rc"] != 0
    problems = task_result(report, "Stop before anything changes when the stack disagrees with the inventory")["msg"]
    text = "\n".join(problems)
    pg, api = stack["services"]["postgres"], stack["services"]["mem0"]
    assert f"postgres ({pg['container']}): runs with POSTGRES_USER={pg['user']}, the inventory says mem0_user_prd" in text
    assert f"postgres ({pg['container']}): runs with POSTGRES_DB={pg['database']}, the inventory says mem0_prd" in text
    assert f"mem0 ({api['container']}): runs with EMBEDDING_DIMS={stack['embedding']['dims']}, the inventory says 1536" in text
    assert f"mem0 ({api['container']}): runs with EMBEDDING_MODEL={stack['embedding']['model']}, the inventory says text-embedding-3-small" in text
    assert "postgres: cannot log in" in text and "mem0_user_prd" in text
    assert "neo4j: the inventory password for user neo4j is refused" in text
    assert report["stats"]["lab"]["changed"] == 0
    assert "not-the-password-0" not in report["raw"]
    assert stack["services"]["postgres"]["password"] not in report["raw"]
