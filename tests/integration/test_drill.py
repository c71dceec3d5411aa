"""drill.yml against the lab: the newest valid set restored into throwaway containers, counted, searched, removed.

A fresh backup of the lab (tier manual) is taken first, so that there is a valid set to drill. The lab's own
containers are only read: the tests check that their ids and start times are the same after the drill, that no
throwaway container (``<container>_drill``, label ``mem0ops.drill``) is left, and that no password shows in the
output. Check mode must start nothing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .labkit import SEEDED, SEEDED_NODES, SEEDED_RELATIONSHIPS, run_playbook, task_result

pytestmark = pytest.mark.integration

HOST = "lab"
BACKUP_VARS = '{"backup_tier": "manual", "backup_accept": ["fingerprint", "drop"]}'


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def lab_containers(stack: dict) -> dict:
    """Id and start time of every container of the inventory (read-only: docker inspect)."""
    names = [svc["container"] for svc in stack["services"].values() if svc.get("container")]
    out = {}
    for name in names:
        proc = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}} {{.State.Running}}", name],
                              capture_output=True, text=True, check=False)
        out[name] = proc.stdout.strip() if proc.returncode == 0 else "absent"
    return out


def drill_containers() -> list:
    """Every container, running or not, that is a drill's by its name or its label."""
    by_name = docker("ps", "-a", "--filter", "name=_drill", "--format", "{{.Names}}").split()
    by_label = docker("ps", "-a", "--filter", "label=mem0ops.drill", "--format", "{{.Names}}").split()
    return sorted(set(by_name) | set(by_label))


def secrets_of(stack: dict) -> list:
    """The lab's secrets: every password, API key and token the inventory resolves."""
    values = []
    for svc in stack["services"].values():
        values += [svc.get("password"), svc.get("api_key")]
        values += list((svc.get("secret_env") or {}).values())
    values.append((stack.get("alerting") or {}).get("bot_token"))
    return sorted({str(v) for v in values if v and len(str(v)) >= 8})


def ran(report: dict, name: str) -> bool:
    """Whether a task of that name ran (was neither absent nor skipped)."""
    try:
        result = task_result(report, name)
    except KeyError:
        return False
    return not result.get("skipped", False)


def assert_no_secret(stack: dict, report: dict, drill: bool = True) -> None:
    leaked = [s[:4] + "..." for s in secrets_of(stack) if s in report["raw"]]
    assert not leaked, "secrets in the output: %s" % leaked
    if drill:
        # The throwaway passwords are random and gone with the containers: what would carry them must not show.
        for needle in ("POSTGRES_PASSWORD", "NEO4J_AUTH", "DRILL_PG_PASSWORD="):
            assert needle not in report["raw"], needle
        for name in ("Generate the throwaway servers' passwords for this run (never shown)", "Start the throwaway PostgreSQL",
                     "Start the throwaway Neo4j", "Search one restored memory through the mem0 library"):
            if ran(report, name):
                assert "censored" in task_result(report, name), name


@pytest.fixture(scope="module")
def fresh_set(stack) -> Path:
    """A fresh backup of the lab (tier manual), so that there is a valid set to drill; its failure fails the tests."""
    report = run_playbook("backup.yml", "-e", BACKUP_VARS)
    assert_no_secret(stack, report, drill=False)
    assert report["rc"] == 0, "the backup to drill failed: %s" % report["raw"][-3000:]
    return Path(task_result(report, "Publish the result for includers")["ansible_facts"]["backup_result"]["path"])


def test_drill_check_mode_starts_nothing(stack, fresh_set):
    assert (fresh_set / "manifest.json").is_file()
    before_lab = lab_containers(stack)
    assert drill_containers() == []
    report = run_playbook("drill.yml", "--check")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert report["stats"][HOST]["changed"] == 0
    assert not ran(report, "Start the throwaway PostgreSQL")
    assert not ran(report, "Start the throwaway Neo4j")
    assert not ran(report, "Restore the set's dump into the throwaway database, rows first, then the indexes")
    text = "\n".join(task_result(report, "Say which set would be drilled (check mode)")["msg"])
    assert "check mode: nothing started" in text
    assert "%s_drill" % stack["services"]["postgres"]["container"] in text
    named = Path(text.split("set: ", 1)[1].split(" (", 1)[0])
    assert json.loads((named / "manifest.json").read_text())["status"] == "valid"
    assert named.name >= fresh_set.name  # the newest valid set, in any tier
    assert drill_containers() == []
    assert lab_containers(stack) == before_lab
    assert_no_secret(stack, report)


def test_an_offset_past_the_last_port_stops_the_drill_before_anything_starts(stack, fresh_set):
    before_lab = lab_containers(stack)
    report = run_playbook("drill.yml", "-e", "drill_port_offset=60000")
    assert report["rc"] != 0
    bolt = stack["services"]["neo4j"]["bolt_port"] + 60000
    assert ("the throwaway port(s) %d, %d (the inventory's ports plus drill_port_offset=60000) are not port numbers "
            "(1-65535); nothing was started" % (stack["services"]["neo4j"]["http_port"] + 60000, bolt)) in report["raw"]
    assert not ran(report, "Start the throwaway PostgreSQL")
    assert drill_containers() == [] and lab_containers(stack) == before_lab


def test_drill_restores_counts_and_searches_then_removes_everything(stack, fresh_set):
    assert drill_containers() == []
    before_lab = lab_containers(stack)
    report = run_playbook("drill.yml")
    after_lab = lab_containers(stack)
    leftovers = drill_containers()
    assert report["rc"] == 0, report["raw"][-4000:]

    result = task_result(report, "Publish the result for includers")["ansible_facts"]["drill_result"]
    lines = task_result(report, "Report the drill")["msg"]
    print("\n".join(lines))
    assert result["passed"] is True, lines
    assert result["differences"] == [] and result["failure"] == ""

    # The counts of the report are the set manifest's.
    manifest = json.loads((Path(result["set"]) / "manifest.json").read_text())
    assert manifest["status"] == "valid"
    assert Path(result["set"]).name >= fresh_set.name
    counts = manifest["counts"]
    assert result["expected"]["memories"] == counts["memories"]["total"]
    assert result["restored"]["memories"] == counts["memories"]["total"]
    assert result["expected"]["per_namespace"] == counts["memories"]["per_namespace"]
    assert result["restored"]["per_namespace"] == counts["memories"]["per_namespace"]
    assert result["files_verified"] == len(manifest["files"])
    # the seed's own counts, independent of the manifest: the drilled set is the seeded lab
    assert result["restored"]["per_namespace"] == SEEDED
    assert result["restored"]["graph_nodes"] == SEEDED_NODES
    assert result["restored"]["graph_relationships"] == SEEDED_RELATIONSHIPS
    if "graph" in counts and counts["graph"].get("nodes") is not None:
        assert result["neo4j"]["drilled"] is True
        assert result["restored"]["graph_nodes"] == counts["graph"]["nodes"]
        assert result["restored"]["graph_relationships"] == counts["graph"]["relationships"]
        assert result["neo4j"]["import_seconds"] is not None

    # The search through mem0 found the memory first, in a namespace of the set.
    search = result["search"]
    assert search["namespace"] in counts["memories"]["per_namespace"]
    assert search["found_first"] is True and search["rank"] == 1
    assert search["results"][0]["id"] == search["memory_id"]
    assert 1 <= len(search["results"]) <= 3

    # Timings: the recovery time covers the restore.
    assert result["recovery_seconds"] > 0
    assert result["postgres"]["data_seconds"] is not None and result["postgres"]["index_seconds"] is not None
    assert result["recovery_seconds"] >= result["postgres"]["restore_seconds"]
    assert any(line.startswith("recovery time: %s s" % result["recovery_seconds"]) for line in lines)

    # Nothing left behind, the lab untouched, no secret shown.
    assert leftovers == [], leftovers
    assert result["containers"].startswith("removed: ")
    assert after_lab == before_lab
    assert_no_secret(stack, report)
