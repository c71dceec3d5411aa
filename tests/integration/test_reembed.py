"""reembed.yml on the scratch stack: the seed's 768-dim nomic-embed-text vectors re-embedded to mxbai-embed-large
(1024 dims, the lab embedder's) and back.

One flow, each behaviour proven once, with direct SQL, the Docker API and the mem0 API as the oracle: --check changes
nothing; a run stopped after 500 rows (reembed_max_rows) leaves mem0 and the live table alone; rows inserted, changed
and deleted before the next run are caught up and the rows already re-embedded keep their row version (never sent
again); after the swap the live table is vector(1024) with the same ids and memories per namespace, the old table is
kept, mem0 runs with the new model and its API finds the new row; the run back to 768 and the drop of the kept tables
leave the stack exactly as it was (the same hash of every memory's id, vector and payload).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.request

import pytest
import yaml

from .labkit import SEEDED, SEEDED_MEMORIES, api_search, run_playbook, task_result

pytestmark = pytest.mark.integration

MODEL, DIMS = "mxbai-embed-large", 1024
SEED_MODEL, SEED_DIMS = "nomic-embed-text", 768
FIRST_SLICE = 500
NEW_TEXT = "Mark booked the reembed test dinner in Porto with the platform team"
CHANGED_TEXT = "Mark moved the reembed test HANA sizing workshop to Lisbon"
NEW_NAMESPACE = "mark_carey/personal"
TABLE_HASH = ("SELECT md5(string_agg(id::text || vector::text || payload::text, ',' ORDER BY id)) FROM {t}")


def new_inventory(stack, base):
    inventory = base / "inventory"
    shutil.copytree(stack.inventory, inventory)
    path = inventory / "group_vars" / "mem0_hosts" / "stack.yml"
    data = yaml.safe_load(path.read_text())
    data["mem0_stack"]["embedding"].update(model=MODEL, dims=DIMS)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return inventory


def embed(stack, model, text):
    body = json.dumps({"model": model, "input": [text]}).encode()
    request = urllib.request.Request(stack.stack["embedding"]["base_url"] + "/api/embed", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["embeddings"][0]


def vec(values):
    return "[%s]" % ",".join(repr(float(v)) for v in values)


def parse_vec(text):
    return [float(v) for v in text.strip("[]").split(",")]


def container_env(stack, service):
    import docker

    client = docker.DockerClient(base_url=stack.stack["docker_host"])
    try:
        env = client.containers.get(stack.stack["services"][service]["container"]).attrs["Config"]["Env"]
    finally:
        client.close()
    return dict(item.split("=", 1) for item in env)


def column_type(stack, table):
    rows = stack.sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass('%s') "
                     "AND attname = 'vector'" % table)
    return rows[0][0] if rows else None


def reembed_tables(stack):
    return sorted(r[0] for r in stack.sql(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND (relname LIKE '%\\_reembed' OR relname LIKE '%\\_old\\_%')"))


def per_namespace(stack):
    return dict(stack.sql("SELECT payload->>'user_id', count(*) FROM memories GROUP BY 1"))


def report_lines(report, host):
    return task_result(report, "Report", host)["msg"]


def run(stack, inventory, *args, **extra):
    began = time.monotonic()
    report = run_playbook("reembed.yml", *args, inventory=inventory, extra=extra or None)
    print("reembed.yml %s: %.1f s" % (" ".join(args) or extra, time.monotonic() - began))
    return report


@pytest.fixture(scope="module")
def scene(scratch_stack, tmp_path_factory):
    stack = scratch_stack
    base = tmp_path_factory.mktemp("reembed")
    state = {"stack": stack, "inventory": new_inventory(stack, base),
             "hash": stack.sql(TABLE_HASH.format(t="memories"))[0][0],
             "migrations": stack.sql("SELECT id::text, vector::text FROM mem0migrations"),
             "first": stack.sql("SELECT id::text, payload::text, vector::text FROM memories ORDER BY id LIMIT 2")}
    began = time.monotonic()
    yield state
    try:  # leave the scratch stack as it was found: 768 dims, the seed's rows, no journal or old table
        if column_type(stack, "memories") != "vector(%d)" % SEED_DIMS:
            run(stack, stack.inventory, reembed_confirm="scratch")
        put_rows_back(stack, state)
        for table in reembed_tables(stack):
            stack.sql('DROP TABLE IF EXISTS "%s"' % table)
    finally:
        print("test_reembed cleanup after %.1f s of tests" % (time.monotonic() - began))


def put_rows_back(stack, state):
    if state.get("new_id"):
        stack.sql("DELETE FROM memories WHERE id = '%s'" % state["new_id"])
    for row_id, payload, vector in state["first"]:
        stack.sql("DELETE FROM memories WHERE id = '%s'" % row_id)
        stack.sql("INSERT INTO memories (id, vector, payload) VALUES ('%s', '%s', $p$%s$p$)" % (row_id, vector, payload))
    for row_id, vector in state["migrations"]:
        stack.sql("UPDATE mem0migrations SET vector = '%s' WHERE id = '%s'" % (vector, row_id))


def test_check_changes_nothing(scene):
    stack = scene["stack"]
    report = run(stack, scene["inventory"], "--check")
    assert report["rc"] == 0, report["raw"][-3000:]
    plan = " ".join(task_result(report, "Show the plan", stack.host)["msg"])
    assert "memories: %d rows of %d dims -> %d dims" % (SEEDED_MEMORIES, SEED_DIMS, DIMS) in plan, plan
    assert "batches of 128" in plan and "recreated from" in plan
    assert stack.sql(TABLE_HASH.format(t="memories"))[0][0] == scene["hash"]
    assert reembed_tables(stack) == []
    assert container_env(stack, "mem0")["EMBEDDING_DIMS"] == str(SEED_DIMS)


def test_a_stopped_run_resumes_and_catches_up(scene):
    stack = scene["stack"]
    report = run(stack, scene["inventory"], reembed_confirm="scratch", reembed_max_rows=FIRST_SLICE)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert "PARTIAL" in report_lines(report, stack.host)[0]
    assert stack.sql("SELECT count(*), min(vector_dims(vector)) FROM memories_reembed")[0] == (FIRST_SLICE, DIMS)
    assert column_type(stack, "memories") == "vector(%d)" % SEED_DIMS
    assert container_env(stack, "mem0")["EMBEDDING_DIMS"] == str(SEED_DIMS)
    versions = dict(stack.sql("SELECT id::text, xmin::text FROM memories_reembed"))

    # While nothing runs: one row deleted, one changed, one added, all three among or beside the rows done.
    (deleted, _p, _v), (changed_id, payload, _v2) = scene["first"]
    assert deleted in versions and changed_id in versions
    changed_payload = dict(json.loads(payload), data=CHANGED_TEXT)
    stack.sql("DELETE FROM memories WHERE id = '%s'" % deleted,
              "UPDATE memories SET payload = $p$%s$p$ WHERE id = '%s'" % (json.dumps(changed_payload), changed_id))
    new_id = stack.sql("SELECT gen_random_uuid()::text")[0][0]
    scene["new_id"] = new_id
    payload = {"data": NEW_TEXT, "hash": hashlib.md5(NEW_TEXT.encode()).hexdigest(), "user_id": NEW_NAMESPACE,
               "role": "user", "created_at": "2026-12-03T02:30:00+00:00"}
    stack.sql("INSERT INTO memories (id, vector, payload) VALUES ('%s', '%s', $p$%s$p$)"
              % (new_id, vec(embed(stack, SEED_MODEL, NEW_TEXT)), json.dumps(payload)))
    ids_before = {r[0] for r in stack.sql("SELECT id::text FROM memories")}
    namespaces_before = per_namespace(stack)
    expected = dict(SEEDED)
    expected[NEW_NAMESPACE] += 1
    expected[json.loads(scene["first"][0][1])["user_id"]] -= 1
    assert namespaces_before == expected  # the oracle: the seed's counts, changed by hand

    report = run(stack, scene["inventory"], reembed_confirm="scratch")
    assert report["rc"] == 0, report["raw"][-3000:]
    lines = report_lines(report, stack.host)
    text = "\n".join(lines)
    print(text)
    assert lines[0].split(": ")[1].startswith("DONE"), text
    # resumed: the rows done before keep their row version; only the rest (and the changed row) went to the embedder
    after = dict(stack.sql("SELECT id::text, xmin::text FROM memories"))
    kept = [i for i in versions if i not in (deleted, changed_id)]
    assert all(after[i] == versions[i] for i in kept)
    assert "embedder: " in text and " %d texts" % (SEEDED_MEMORIES - len(kept)) in text, text
    # swapped: the new dims, the same ids and memories per namespace, every vector the new model's
    assert column_type(stack, "memories") == "vector(%d)" % DIMS
    assert stack.sql("SELECT count(*) FROM memories WHERE vector_dims(vector) <> %d" % DIMS)[0][0] == 0
    assert {r[0] for r in stack.sql("SELECT id::text FROM memories")} == ids_before
    assert per_namespace(stack) == expected and sum(expected.values()) == SEEDED_MEMORIES
    for row_id, row_text in ((new_id, NEW_TEXT), (changed_id, CHANGED_TEXT)):
        stored = parse_vec(stack.sql("SELECT vector::text FROM memories WHERE id = '%s'" % row_id)[0][0])
        assert max(abs(a - b) for a, b in zip(stored, embed(stack, MODEL, row_text))) < 1e-6
    # the old table kept, mem0 recreated with the new model, and its API finds the caught-up row
    old = [t for t in reembed_tables(stack) if t.startswith("memories_old_%d_" % SEED_DIMS)]
    assert len(old) == 1 and column_type(stack, old[0]) == "vector(%d)" % SEED_DIMS
    assert stack.sql('SELECT count(*) FROM "%s"' % old[0])[0][0] == SEEDED_MEMORIES
    assert container_env(stack, "mem0")["EMBEDDING_DIMS"] == str(DIMS)
    assert container_env(stack, "mem0")["EMBEDDING_MODEL"] == MODEL
    assert new_id in api_search(stack.stack, NEW_TEXT, NEW_NAMESPACE)
    assert "API downtime" in lines[0] and "old tables kept: " in text


def test_back_and_drop_leave_the_stack_as_it_was(scene):
    stack = scene["stack"]
    report = run(stack, stack.inventory, reembed_confirm="scratch")
    assert report["rc"] == 0, report["raw"][-3000:]
    assert column_type(stack, "memories") == "vector(%d)" % SEED_DIMS
    assert container_env(stack, "mem0")["EMBEDDING_DIMS"] == str(SEED_DIMS)
    put_rows_back(stack, scene)
    scene["new_id"] = None
    kept = reembed_tables(stack)
    assert len([t for t in kept if t.startswith("memories_old_")]) == 2, kept
    report = run(stack, stack.inventory, reembed_confirm="scratch", reembed_drop=kept)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert reembed_tables(stack) == []
    assert stack.sql(TABLE_HASH.format(t="memories"))[0][0] == scene["hash"]
    assert per_namespace(stack) == SEEDED
