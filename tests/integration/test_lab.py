"""The lab is the real stack: every service healthy on loopback, seeded through real clients."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest

from .labkit import SEEDED, run_playbook, task_result

pytestmark = pytest.mark.integration


def http_get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback lab URL
        return resp.status, resp.read()


def http_services(stack):
    for name, svc in stack["services"].items():
        if svc.get("health", {}).get("type") == "http":
            yield name, svc


def test_every_http_service_answers_its_health_check(stack):
    for name, svc in http_services(stack):
        port = svc.get("http_port", svc.get("port"))
        status = http_get(f"http://{svc['host']}:{port}{svc['health']['path']}")[0]
        assert status == 200, name


def test_every_container_is_healthy(stack):
    for name, svc in stack["services"].items():
        out = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", svc["container"]],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == "healthy", f"{name} ({svc['container']}) is {out}"


def listening_sockets() -> list[tuple[str, int]]:
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    sockets = []
    for line in out.splitlines():
        local = line.split()[3]
        host, _sep, port = local.rpartition(":")
        sockets.append((host.strip("[]"), int(port)))
    return sockets


def test_lab_ports_listen_on_loopback_only(stack):
    ports = set()
    for svc in stack["services"].values():
        ports.update(svc[k] for k in ("port", "http_port", "bolt_port") if k in svc)
    bound = [(host, port) for host, port in listening_sockets() if port in ports]
    assert {port for _host, port in bound} == ports, "every lab port is listening"
    assert all(host in ("127.0.0.1", "::1") for host, _port in bound), bound


def test_postgres_holds_the_seeded_memories(stack, pg):
    with pg() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT payload->>'user_id', count(*) FROM {stack['mem0']['collection']} GROUP BY 1")
        assert dict(cur.fetchall()) == SEEDED
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attname = 'vector'", (stack["mem0"]["collection"],))
        assert cur.fetchone()[0] == f"vector({stack['embedding']['dims']})"
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (stack["mem0"]["collection"],))
        assert f"{stack['mem0']['collection']}_hnsw_idx" in {r[0] for r in cur.fetchall()}
        cur.execute("SELECT payload->>'type', count(*) FROM mem0migrations GROUP BY 1")
        assert cur.fetchall() == [("user_identity", 1)]


def test_history_db_has_one_add_per_memory(stack):
    path = Path(stack["data_root"]) / stack["services"]["mem0"]["data_dir"] / stack["mem0"]["history_db"]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM history WHERE event = 'ADD'").fetchone()[0] == sum(SEEDED.values())


def test_graph_has_mem0_shape_for_the_same_users(neo4j_driver):
    records = neo4j_driver.execute_query(
        "MATCH (n:__Entity__) RETURN n.user_id AS user, count(n) AS nodes, min(size(n.embedding)) AS dims").records
    users = {r["user"]: r["nodes"] for r in records}
    assert set(users) == set(SEEDED)
    assert all(r["dims"] > 0 for r in records)
    records = neo4j_driver.execute_query(
        "MATCH ()-[r]->() RETURN count(r) AS n, min(r.valid) AS valid, collect(DISTINCT type(r)) AS types").records
    assert records[0]["n"] > 0 and records[0]["valid"] is True
    assert all(t == t.upper() for t in records[0]["types"])


def test_neo4j_has_apoc_export(neo4j_driver):
    records = neo4j_driver.execute_query(
        "CALL apoc.export.cypher.all(null, {stream: true, format: 'plain'}) YIELD nodes RETURN sum(nodes) AS n").records
    assert records[0]["n"] > 0


def test_mem0_api_serves_the_memories_through_the_real_library(stack):
    api = stack["services"]["mem0"]
    base = f"http://{api['host']}:{api['port']}"
    auth = {"Authorization": f"Bearer {api['api_key']}"}
    status, body = http_get(f"{base}/memories?user_id=mark_carey/booking&top_k=1000", auth)
    data = json.loads(body)
    results = data["results"] if isinstance(data, dict) else data
    assert status == 200 and len(results) == SEEDED["mark_carey/booking"]
    req = urllib.request.Request(f"{base}/search", method="POST",
                                 data=json.dumps({"query": "hotel in Berlin", "user_id": "mark_carey/booking"}).encode(),
                                 headers={**auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback lab URL
        hits = json.loads(resp.read())
    hits = hits["results"] if isinstance(hits, dict) else hits
    assert hits and "hotel in Berlin" in hits[0]["memory"]


def test_mem0_api_refuses_requests_without_the_key(stack):
    api = stack["services"]["mem0"]
    with pytest.raises(urllib.error.HTTPError) as err:
        http_get(f"http://{api['host']}:{api['port']}/memories?user_id=mark_carey/booking")
    assert err.value.code in (401, 403)


def test_credentials_stay_out_of_the_compose_file_and_env_file_is_private(stack):
    compose_dir = Path(stack["compose"]["dir"])
    text = (compose_dir / "compose.yml").read_text()
    assert not any(s in text for s in secrets_of(stack))
    assert (compose_dir / ".env").stat().st_mode & 0o077 == 0


def test_no_container_has_a_secret_on_its_command_line(stack):
    secrets = [stack["services"]["postgres"]["password"], stack["services"]["neo4j"]["password"]]
    for svc in stack["services"].values():
        ps = subprocess.run(["docker", "exec", svc["container"], "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"],
                            capture_output=True, text=True, check=False).stdout
        assert not any(s in ps for s in secrets), svc["container"]


def test_status_playbook_reports_services_counts_and_graph(stack):
    report = run_playbook("status.yml")
    assert report["rc"] == 0, report["raw"][-2000:]
    msg = task_result(report, "Report")["msg"]
    assert msg["memories"] == SEEDED
    assert int(msg["memories_total"]) == sum(SEEDED.values())
    assert set(msg["health"].values()) == {"healthy"}
    assert set(msg["endpoints"].values()) == {200}
    assert {u: n for u, n in msg["graph"].items() if u != "-"}.keys() == SEEDED.keys()
    assert not any(s in report["raw"] for s in secrets_of(stack))


def test_hosts_resolve_to_loopback(stack):
    for svc in stack["services"].values():
        if "host" in svc:
            assert socket.gethostbyname(svc["host"]).startswith("127."), svc


def secrets_of(stack) -> list[str]:
    svc = stack["services"]
    return [svc["postgres"]["password"], svc["neo4j"]["password"], svc["mem0"]["api_key"]]


def test_lab_playbook_is_idempotent_and_prints_no_secret(stack):
    report = run_playbook("lab.yml")
    assert report["rc"] == 0, report["raw"][-2000:]
    assert report["stats"]["lab"]["changed"] == 0, [
        t["task"]["name"] for p in report["plays"] for t in p["tasks"] if t["hosts"]["lab"].get("changed")]
    assert not any(s in report["raw"] for s in secrets_of(stack))
