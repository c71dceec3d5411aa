"""Credentials with special characters (issue 12, hole 9): the scratch stack runs with passwords holding $NAME, ' #',
'%', quotes, backslashes and spaces (scratch.PASSWORDS), written into Compose's env file and mem0's PostgreSQL URL.

The oracles are independent of the collection: psql and the Neo4j driver log in with the inventory's password (and
PostgreSQL, which asks 127.0.0.1 for it here, refuses a wrong one), docker inspect shows each container's
environment, the mem0 API answers an authenticated call with the seed's count (mem0's pool connected with the
password), and a backup's set holds the seed's counts. No log (containers, playbooks, a mem0 server that fails on a
wrong password), command line (ps) or set file holds a password in clear or in any of its encoded forms. Every other
scratch test runs with the same passwords (test_restore.py's restore cycle, test_reset.py's, health, ...). Shares the
session's scratch stack; brings nothing up.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from .labkit import REPO, SEEDED, SEEDED_NODES
from .scratch import PASSWORDS
from .test_reset import graph_state, role_task, run, target

pytestmark = pytest.mark.integration

NASTY = ("$", " #", "%", "'", '"', "\\", " ")
NAMESPACE = "mark_carey/booking"


def forms(secret: str) -> list:
    """The secret as it could leak: raw, percent-encoded (a URL), JSON-escaped, and as the env file writes it."""
    escaped = secret.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return sorted({secret, quote(secret, safe=""), json.dumps(secret)[1:-1], escaped})


def leaks(stack: dict, text: str | bytes) -> list:
    """The names of the passwords (and the API key) found in text, in any of their forms."""
    services = stack["services"]
    secrets = {"postgres": services["postgres"]["password"], "neo4j": services["neo4j"]["password"],
               "api key": services["mem0"]["api_key"]}
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return sorted(name for name, secret in secrets.items() if any(form in text for form in forms(secret)))


def docker(stack: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=stack["docker_host"])
    return subprocess.run(["docker", *args], env=env, check=check, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stack(scratch_stack) -> dict:
    began = time.monotonic()
    yield target(scratch_stack.inventory, scratch_stack.host)
    print(f"test_credentials: {time.monotonic() - began:.1f} s")


def psql(stack: dict, password: str, sql: str) -> subprocess.CompletedProcess:
    """psql on the host (the client of the system, not the collection's), the password in its environment only."""
    svc = stack["services"]["postgres"]
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    return subprocess.run(["psql", "-X", "-w", "-h", svc["host"], "-p", str(svc["port"]), "-U", svc["user"],
                           "-d", svc["database"], "-Atc", sql], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def container_env(stack: dict, name: str) -> dict:
    inspected = json.loads(docker(stack, "inspect", stack["services"][name]["container"]).stdout)[0]
    return dict(item.split("=", 1) for item in inspected["Config"]["Env"])


def test_every_container_got_exactly_the_inventory_passwords(stack):
    pg, n4j = stack["services"]["postgres"]["password"], stack["services"]["neo4j"]["password"]
    assert (pg, n4j) == (PASSWORDS["postgres"], PASSWORDS["neo4j"])
    assert all(c in pg for c in NASTY) and all(c in n4j for c in NASTY)
    # what Compose handed each container
    assert container_env(stack, "postgres")["POSTGRES_PASSWORD"] == pg
    assert container_env(stack, "mem0")["POSTGRES_PASSWORD"] == pg
    assert container_env(stack, "neo4j")["NEO4J_AUTH"] == "neo4j/" + n4j
    # what the servers were initialised with: PostgreSQL asks 127.0.0.1 for the password here
    good = psql(stack, pg, "SELECT count(*) FROM %s" % stack["mem0"]["collection"])
    assert good.returncode == 0, good.stderr
    assert int(good.stdout) == sum(SEEDED.values())
    wrong = psql(stack, pg[:-1], "SELECT 1")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    assert sum(graph_state(stack)["per_user"].values()) == SEEDED_NODES  # the Neo4j driver with the password
    # mem0's own pool (its URL built from the parts) reaches PostgreSQL: an authenticated call answers from it
    mem0 = stack["services"]["mem0"]
    request = urllib.request.Request("http://%s:%d/memories?user_id=%s&top_k=1000" % (
        mem0["host"], mem0["port"], quote(NAMESPACE, safe="")), headers={"Authorization": "Bearer " + mem0["api_key"]})
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert len(json.load(answer)["results"]) == SEEDED[NAMESPACE]


def test_no_log_or_command_line_holds_a_password(stack):
    for name, svc in sorted(stack["services"].items()):
        logs = docker(stack, "logs", svc["container"])
        assert leaks(stack, logs.stdout + logs.stderr) == [], "the log of %s" % name
        inspected = json.loads(docker(stack, "inspect", svc["container"]).stdout)[0]
        command = [inspected["Path"], inspected["Args"], inspected["Config"].get("Healthcheck")]
        assert leaks(stack, json.dumps(command)) == [], "the command line of %s" % name
    processes = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert leaks(stack, processes) == []
    neo4j_logs = Path(stack["data_root"]) / stack["services"]["neo4j"]["logs_dir"]
    for path in sorted(p for p in neo4j_logs.rglob("*") if p.is_file()):
        assert leaks(stack, path.read_bytes()) == [], str(path)


def test_a_mem0_server_refused_by_postgres_does_not_log_the_password(stack):
    """The failing path: the real server with a wrong password holding '%' (once a DSN error that printed it)."""
    pg, mem0 = stack["services"]["postgres"], stack["services"]["mem0"]
    wrong = pg["password"] + " %zz@x"
    env = dict(mem0["env"], POSTGRES_PASSWORD=wrong, MEM0_STARTUP_TIMEOUT="3", MEM0_PORT="1",
               HISTORY_DB_PATH="/tmp/history.db")
    with tempfile.NamedTemporaryFile("w", prefix="mem0ops-cred-", suffix=".env") as env_file:
        # docker run --env-file takes each line's value as it stands: the password reaches no command line
        env_file.write("".join("%s=%s\n" % item for item in env.items()))
        env_file.flush()
        name = mem0["container"] + "_credtest"
        docker(stack, "rm", "-f", name, check=False)
        try:
            failed = docker(stack, "run", "--name", name, "--network", "host", "--env-file", env_file.name,
                            mem0["image"], "python", "-m", "apps.mem0_server", check=False)
        finally:
            docker(stack, "rm", "-f", name, check=False)
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0, log[-2000:]
    assert "password authentication failed" in log, log[-2000:]
    assert not any(form in log for form in forms(wrong) + forms(pg["password"])), "the failing server logged it"


def test_a_backup_carries_the_passwords_and_keeps_none(stack):
    """The backup's set, output and logs. The restore cycle with these passwords is test_restore.py's (the same
    scratch stack: a lost namespace and graph put back, the seed's counts, no secret in the output), not repeated here:
    a restore costs a minute."""
    began = time.monotonic()
    backup = run(stack, REPO / "tests" / "integration" / "playbooks" / "backup_manual.yml")
    assert backup["rc"] == 0, backup["raw"][-3000:]
    result = role_task(backup, "backup", "Publish the result for includers")["ansible_facts"]["backup_result"]
    assert result["status"] == "valid", result["problems"]
    counts = json.loads((Path(result["path"]) / "manifest.json").read_text())["counts"]
    assert counts["memories"]["per_namespace"] == SEEDED
    assert counts["graph"]["nodes"] == SEEDED_NODES
    files = sorted(p for p in Path(result["path"]).rglob("*") if p.is_file())
    assert files
    for path in files:
        assert leaks(stack, path.read_bytes()) == [], str(path)
    assert leaks(stack, backup["raw"]) == []
    logs = Path(stack["backup_root"]) / "logs"
    for path in sorted(p for p in logs.rglob("*") if p.is_file()) if logs.is_dir() else []:
        assert leaks(stack, path.read_bytes()) == [], str(path)
    print(f"backup {time.monotonic() - began:.1f} s")
