from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mem0ops.stack.plugins.filter.stack_drift import stack_drift

SERVICES = {
    "postgres": {"container": "mem0_postgres_prd", "image": "pgvector/pgvector:pg17", "port": 5433, "container_port": 5432,
                 "env": {"POSTGRES_USER": "mem0_user_prd", "POSTGRES_DB": "mem0_prd"}},
    "mem0": {"container": "mem0_server_prd", "port": 8888,
             "env": {"EMBEDDING_MODEL": "nomic-embed-text", "EMBEDDING_DIMS": 768, "MEM0_TELEMETRY": False}},
}


def inspected(name, env, status="running", image=None, bindings=None):
    return {"item": name, "exists": True, "container": {
        "State": {"Status": status},
        "Config": {"Env": ["%s=%s" % kv for kv in env.items()] + ["PATH=/usr/bin"], "Image": image or SERVICES[name].get("image", "x")},
        "HostConfig": {"PortBindings": bindings or {}}}}


def test_agreement_gives_no_problem():
    results = [inspected("postgres", {"POSTGRES_USER": "mem0_user_prd", "POSTGRES_DB": "mem0_prd"},
                         bindings={"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5433"}]}),
               inspected("mem0", {"EMBEDDING_MODEL": "nomic-embed-text", "EMBEDDING_DIMS": "768", "MEM0_TELEMETRY": "false"})]
    assert stack_drift(results, SERVICES) == []


def test_the_incident_is_reported_field_by_field():
    results = [inspected("postgres", {"POSTGRES_USER": "mem0_user", "POSTGRES_DB": "mem0"},
                         bindings={"5432/tcp": [{"HostPort": "5432"}]}),
               inspected("mem0", {"EMBEDDING_MODEL": "text-embedding-3-small", "EMBEDDING_DIMS": "1536", "MEM0_TELEMETRY": "false"})]
    problems = stack_drift(results, SERVICES)
    assert "postgres (mem0_postgres_prd): runs with POSTGRES_DB=mem0, the inventory says mem0_prd" in problems
    assert "postgres (mem0_postgres_prd): runs with POSTGRES_USER=mem0_user, the inventory says mem0_user_prd" in problems
    assert "postgres (mem0_postgres_prd): publishes port 5432 on 5432, the inventory says 5433" in problems
    assert "mem0 (mem0_server_prd): runs with EMBEDDING_DIMS=1536, the inventory says 768" in problems
    assert "mem0 (mem0_server_prd): runs with EMBEDDING_MODEL=text-embedding-3-small, the inventory says nomic-embed-text" in problems
    assert len(problems) == 5


def test_missing_stopped_unset_and_other_image():
    results = [{"item": "postgres", "exists": False, "container": None},
               inspected("mem0", {"EMBEDDING_MODEL": "nomic-embed-text", "MEM0_TELEMETRY": "false"}, status="exited")]
    services = dict(SERVICES, mem0=dict(SERVICES["mem0"], image="mem0-fixed:local"))
    results[1]["container"]["Config"]["Image"] = "mem0-old:local"
    problems = stack_drift(results, services)
    assert problems[0].startswith("postgres (mem0_postgres_prd): no such container")
    assert "mem0 (mem0_server_prd): container is exited, not running" in problems
    assert "mem0 (mem0_server_prd): runs image mem0-old:local, the inventory says mem0-fixed:local" in problems
    assert "mem0 (mem0_server_prd): EMBEDDING_DIMS is not set in the container, the inventory says 768" in problems


def test_unknown_loop_item_is_an_error():
    with pytest.raises(AnsibleFilterError, match="not a service name"):
        stack_drift([{"item": "grafana", "exists": True, "container": {}}], SERVICES)
