"""Preflight stops the play, naming every disagreement, when the inventory and the running stack differ."""

from __future__ import annotations

import psycopg2
import pytest

from .labkit import inventory_copy, run_playbook, task_result
from .upstream_app import APP_DATABASE, app_database, overrides

pytestmark = pytest.mark.integration


def test_preflight_passes_on_the_lab(pg, stack):
    # with the upstream server's stored overrides naming the inventory's model (as Ollama tags it) and dims
    model, dims = stack["embedding"]["model"], stack["embedding"]["dims"]
    with app_database(pg, overrides(model + ":latest", dims, stack["embedding"]["provider"])):
        report = run_playbook("preflight.yml")
    assert report["rc"] == 0, report["raw"][-2000:]
    msg = task_result(report, "Report the preflight result")["msg"]
    assert isinstance(msg, str) and "agrees with the inventory" in msg, msg
    # the lab asks the host for the password (its inventory sets POSTGRES_LOOPBACK_AUTH): the login proved it
    assert "wrong password" not in msg
    svc = stack["services"]["postgres"]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password="not-" + svc["password"],
                         dbname=svc["database"], connect_timeout=10).close()


def test_preflight_names_the_embedder_the_upstream_server_overrides(pg, stack):
    """A model changed in the upstream server's dashboard is stored in mem0_app, invisible to docker inspect."""
    override = overrides("text-embedding-3-small", 1536, "openai")
    with app_database(pg, override):
        report = run_playbook("preflight.yml")
    assert report["rc"] != 0
    text = "\n".join(task_result(report, "Stop before anything changes when the stack disagrees with the inventory")["msg"])
    where = "%s (settings.config_overrides, the upstream mem0 server's runtime overrides, invisible to docker inspect)" % APP_DATABASE
    assert ("%s: the server embeds with model text-embedding-3-small, the inventory says %s. Fix: either set "
            "mem0_stack.embedding to what the server really uses" % (where, stack["embedding"]["model"])) in text
    assert "%s: the server embeds with 1536 dims, the inventory says %d." % (where, stack["embedding"]["dims"]) in text
    assert "%s: the server embeds with provider openai, the inventory says %s." % (where, stack["embedding"]["provider"]) in text
    assert "runs with EMBEDDING_MODEL" not in text, "the containers themselves agree with the inventory"
    assert report["stats"]["lab"]["changed"] == 0
    assert override["embedder"]["config"]["api_key"] not in report["raw"]
    assert stack["services"]["postgres"]["password"] not in report["raw"]


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
