"""neo4j_export against real Neo4j servers: exports from the lab (read-only), imports into throwaway servers.

The throwaway servers run the lab's image, `mem0ops-lab/neo4j:5.26`, on free loopback ports with random
passwords (given to docker in an env file, never on a command line): one with APOC, one without (its plugins
directory hidden by an empty mount), each started when a test first needs it and removed at the end of the
session, whatever happened.
The module runs through ansible-playbook, as a play would run it, except where a test needs a read-only or a
full filesystem (a private mount namespace): there the module file is run directly, as Ansible's own module
debugging does.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from .labkit import REPO, run_playbook, task_result

pytestmark = pytest.mark.integration

IMAGE = "mem0ops-lab/neo4j:5.26"
MODULE = REPO / "plugins" / "modules" / "neo4j_export.py"
COLLECTIONS = REPO / ".build" / "collections"
ALL_FORMATS = ["driver", "cypher", "graphml", "json"]
# The lab seed (lab/seed/seed.py): graph entities per user, 768-dim embeddings, 94 relationships in 7 types.
ENTITIES = {"mark_carey/sap": 24, "mark_carey/synovia": 36, "mark_carey/booking": 6, "mark_carey/personal": 4}
RELATIONSHIPS = 94
RELATION_TYPES = {"WORKS_ON", "USES", "DEPENDS_ON", "OWNS", "MEETS_WITH", "LOCATED_IN", "PREFERS"}
DIMS = 768
# Seconds a throwaway Neo4j may take to answer Bolt; a loaded machine needs far more than the usual 30.
START_TIMEOUT = int(os.environ.get("MEM0OPS_TEST_NEO4J_START_TIMEOUT", "1200"))

OPTIONS = ("state", "dest", "src", "formats", "compression", "batch_size", "force", "import_format",
           "neo4j_uri", "neo4j_user", "neo4j_database")
PLAY = [{
    "name": "neo4j_export under test",
    "hosts": "lab",
    "gather_facts": False,
    "tasks": [{
        "name": "Run neo4j_export",
        "mem0ops.stack.neo4j_export": dict(
            {key: "{{ t.%s | default(omit) }}" % key for key in OPTIONS},
            neo4j_uri="{{ t.neo4j_uri | default('bolt://' ~ mem0_stack.services.neo4j.host ~ ':' ~ "
                      "mem0_stack.services.neo4j.bolt_port) }}",
            neo4j_password="{{ omit if t.no_password | default(false) else "
                           "(t.neo4j_password | default(mem0_stack.services.neo4j.password)) }}"),
        "check_mode": "{{ t.check | default(false) }}",
        "diff": "{{ t.diff | default(false) }}",
        "register": "result",
        "ignore_errors": True,
    }],
}]


# --- throwaway Neo4j servers --------------------------------------------------------------------------

def free_port() -> int:
    for _attempt in range(200):
        port = 20000 + secrets.randbelow(10000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-29999")


class Throwaway:
    """One Neo4j container of the lab image, its own data directory, a random password."""

    def __init__(self, root: Path, apoc: bool):
        self.name = "mem0ops-test-neo4j-%s-%s" % ("apoc" if apoc else "noapoc", secrets.token_hex(4))
        self.root = root
        self.apoc = apoc
        self.password = secrets.token_urlsafe(18)
        self.http_port = free_port()
        self.bolt_port = free_port()
        while self.bolt_port == self.http_port:
            self.bolt_port = free_port()
        self.uri = "bolt://127.0.0.1:%d" % self.bolt_port

    def start(self) -> None:
        for sub in ("data", "import", "plugins"):
            (self.root / sub).mkdir()
        env_file = self.root / "env"
        env_file.touch(mode=0o600)
        env_file.write_text("NEO4J_AUTH=neo4j/%s\nNEO4J_HTTP_PORT=%d\nNEO4J_BOLT_PORT=%d\n"
                            % (self.password, self.http_port, self.bolt_port))
        argv = ["docker", "run", "-d", "--name", self.name, "--label", "mem0ops.test=neo4j_export",
                "--network", "host", "--env-file", str(env_file),
                "-v", "%s:/data" % (self.root / "data"), "-v", "%s:/import" % (self.root / "import")]
        if not self.apoc:
            argv += ["-v", "%s:/opt/neo4j/plugins:ro" % (self.root / "plugins")]
        try:
            subprocess.run(argv + [IMAGE], check=True, capture_output=True, text=True)
        finally:
            env_file.unlink()

    def wait(self) -> None:
        """Until Bolt answers: 20-30 s on an idle machine, many minutes on a busy one (START_TIMEOUT)."""
        from neo4j import GraphDatabase

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with GraphDatabase.driver(self.uri, auth=("neo4j", self.password), connection_timeout=2) as driver:
                    with driver.session() as session:
                        session.run("RETURN 1").consume()
                return
            except Exception:  # noqa: BLE001 - not up yet
                state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", self.name],
                                       capture_output=True, text=True, check=False).stdout.strip()
                if state != "true" or time.monotonic() > deadline:
                    logs = subprocess.run(["docker", "logs", "--tail", "30", self.name], stderr=subprocess.STDOUT,
                                          stdout=subprocess.PIPE, text=True, check=False)
                    raise RuntimeError("throwaway Neo4j %s did not come up in %d s: %s"
                                       % (self.name, START_TIMEOUT, logs.stdout[-3000:]))
                time.sleep(2)

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False)

    def driver(self):
        from neo4j import GraphDatabase

        return GraphDatabase.driver(self.uri, auth=("neo4j", self.password))

    def query(self, cypher: str, **params) -> list:
        with self.driver() as driver:
            return [r.data() for r in driver.execute_query(cypher, params).records]

    def wipe(self) -> None:
        self.query("MATCH (n) DETACH DELETE n")

    def args(self, **args) -> dict:
        return dict(args, neo4j_uri=self.uri, neo4j_password=self.password)


def throwaway(tmp_path_factory, apoc: bool):
    server = Throwaway(tmp_path_factory.mktemp("neo4j-apoc" if apoc else "neo4j-noapoc"), apoc=apoc)
    try:
        server.start()
        server.wait()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def throwaway_apoc(tmp_path_factory):
    """A throwaway Neo4j with APOC, for the imports."""
    yield from throwaway(tmp_path_factory, apoc=True)


@pytest.fixture(scope="session")
def throwaway_noapoc(tmp_path_factory):
    """A throwaway Neo4j without APOC; started only when a test needs it (one JVM starting at a time)."""
    yield from throwaway(tmp_path_factory, apoc=False)


@pytest.fixture()
def target(throwaway_apoc):
    """The throwaway Neo4j with APOC, emptied."""
    server = throwaway_apoc
    server.wipe()
    return server


# --- running the module -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def playbook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("play") / "neo4j_export.yml"
    path.write_text(yaml.safe_dump(PLAY, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def run(playbook, stack, tmp_path_factory):
    """run(check=False, diff=False, **module_args) -> the task result; the report must hold no password."""
    vars_dir = tmp_path_factory.mktemp("vars")

    def _run(check: bool = False, diff: bool = False, **args) -> dict:
        vars_file = vars_dir / ("%s.json" % secrets.token_hex(4))
        vars_file.touch(mode=0o600)
        vars_file.write_text(json.dumps({"t": dict(args, check=check, diff=diff)}))
        try:
            report = run_playbook(str(playbook), "-e", "@%s" % vars_file)
        finally:
            vars_file.unlink()
        result = task_result(report, "Run neo4j_export")
        secrets_ = [stack["services"]["neo4j"]["password"]] + ([args["neo4j_password"]] if "neo4j_password" in args else [])
        assert not any(s in report["raw"] for s in secrets_), "a password reached the playbook output"
        return result
    return _run


def run_direct(args: dict, prefix: list | None = None, after: str = "") -> subprocess.CompletedProcess:
    """Run the module file as `python neo4j_export.py ARGS_FILE` (args file mode 0600), optionally wrapped."""
    fd, args_file = tempfile.mkstemp(prefix="neo4j_export-args-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    try:
        command = "%s %s %s%s" % (sys.executable, MODULE, args_file, after)
        return subprocess.run((prefix or []) + ["sh", "-c", command], capture_output=True, text=True, check=False,
                              env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    finally:
        os.unlink(args_file)


def module_result(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.split("\n---\n")[0])


# --- reading graphs -------------------------------------------------------------------------------------

def graph_snapshot(query) -> dict:
    """Every node's properties keyed by (user_id, name), every relationship as (from, type, to, properties)."""
    nodes = {(r["p"]["user_id"], r["p"]["name"]): (r["labels"], r["p"])
             for r in query("MATCH (n) RETURN labels(n) AS labels, properties(n) AS p")}
    rels = sorted(json.dumps([r["a"], r["t"], r["b"], r["p"]], sort_keys=True) for r in query(
        "MATCH (a)-[r]->(b) RETURN [a.user_id, a.name] AS a, type(r) AS t, [b.user_id, b.name] AS b, properties(r) AS p"))
    return {"nodes": nodes, "relationships": rels}


@pytest.fixture(scope="session")
def lab_snapshot(neo4j_driver):
    return graph_snapshot(lambda q: [r.data() for r in neo4j_driver.execute_query(q).records])


@pytest.fixture(scope="session")
def lab_export(run, tmp_path_factory) -> dict:
    """The four-step check of an export of every format from the lab: check, run, check, run."""
    dest = tmp_path_factory.mktemp("lab-export") / "neo4j"
    steps = {}
    for step, check in (("check", True), ("first", False), ("check_again", True), ("second", False)):
        steps[step] = run(check=check, diff=True, dest=str(dest), formats=ALL_FORMATS)
        if step == "check":
            steps["exists_after_check"] = dest.exists()
        if step == "first":
            steps["mtimes"] = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    steps["dest"] = dest
    return steps


# --- export from the lab ---------------------------------------------------------------------------------

def test_export_four_step_check(lab_export):
    for step in ("check", "first", "check_again", "second"):
        assert not lab_export[step].get("failed"), lab_export[step].get("msg")
    assert lab_export["check"]["changed"] is True
    assert lab_export["exists_after_check"] is False, "check mode wrote nothing"
    assert [f["name"] for f in lab_export["check"]["files"]] == [
        "neo4j.driver.jsonl", "neo4j.cypher", "neo4j.graphml", "neo4j.apoc.jsonl"]
    assert lab_export["first"]["changed"] is True
    assert lab_export["check_again"]["changed"] is False
    assert lab_export["second"]["changed"] is False
    dest = lab_export["dest"]
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == lab_export["mtimes"], "the second run rewrote files"
    assert lab_export["second"]["manifest"] == lab_export["first"]["manifest"]


def test_export_manifest_matches_the_seeded_graph(lab_export):
    result = lab_export["first"]
    manifest = json.loads((lab_export["dest"] / "manifest.json").read_text())
    counts = manifest["counts"]

    assert manifest == result["manifest"]
    assert manifest["kind"] == "neo4j_export" and manifest["status"] == "valid"
    assert counts["nodes"] == sum(ENTITIES.values()) == 70
    assert counts["relationships"] == RELATIONSHIPS
    assert counts["user_ids"] == ENTITIES
    assert counts["labels"] == {"__Entity__": 70}
    assert set(counts["relationship_types"]) == RELATION_TYPES
    assert sum(counts["relationship_types"].values()) == RELATIONSHIPS
    assert counts["embedding_dims"] == {str(DIMS): 70}
    assert result["embedding_dims"] == [DIMS] and manifest["embedding"] == {"property": "embedding", "dims": [DIMS], "nodes": 70}
    assert manifest["neo4j"]["version"].startswith("5.26") and manifest["neo4j"]["edition"] == "community"
    assert len(manifest["neo4j"]["database_id"]) == 64
    assert manifest["formats"] == ALL_FORMATS
    for entry in manifest["files"]:
        assert (entry["nodes"], entry["relationships"]) == (70, RELATIONSHIPS), entry["name"]
        assert entry["seconds"] > 0
    assert sorted(p.name for p in lab_export["dest"].iterdir()) == sorted(
        ["manifest.json", "neo4j.driver.jsonl", "neo4j.cypher", "neo4j.graphml", "neo4j.apoc.jsonl"]), "no partial file left"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in lab_export["dest"].iterdir())
    assert lab_export["dest"].stat().st_mode & 0o777 == 0o700


def test_export_counts_agree_with_the_lab(lab_export, neo4j_driver):
    counts = lab_export["first"]["counts"]
    rows = neo4j_driver.execute_query("MATCH (n) RETURN n.user_id AS user, count(*) AS n").records

    assert {r["user"]: r["n"] for r in rows} == counts["user_ids"]
    assert neo4j_driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n").records[0]["n"] == counts["relationships"]


def test_check_mode_diff_shows_the_files_to_write(lab_export):
    diff = lab_export["check"]["diff"]

    assert diff["before"] == {"counts": None, "files": []}
    assert diff["after"]["files"] == [f["name"] for f in lab_export["check"]["files"]]


def test_gzip_export_is_reproducible(run, tmp_path):
    first = run(dest=str(tmp_path / "gz"), formats=["driver", "cypher"], compression="gzip")
    second = run(dest=str(tmp_path / "gz"), formats=["driver", "cypher"], compression="gzip")

    assert not first.get("failed"), first.get("msg")
    assert [f["name"] for f in first["files"]] == ["neo4j.driver.jsonl.gz", "neo4j.cypher.gz"]
    assert first["changed"] is True and second["changed"] is False
    assert [f["sha256"] for f in second["files"]] == [f["sha256"] for f in first["files"]]


# --- import into throwaway servers ---------------------------------------------------------------------

def test_round_trip_into_an_empty_neo4j(run, lab_export, lab_snapshot, target):
    src = str(lab_export["dest"])
    expected = lab_export["first"]["counts"]

    predicted = run(check=True, state="imported", **target.args(src=src))
    assert not predicted.get("failed"), predicted.get("msg")
    assert predicted["changed"] is True and predicted["wiped"] == 0
    assert target.query("MATCH (n) RETURN count(n) AS n") == [{"n": 0}], "check mode imported nothing"

    imported = run(state="imported", **target.args(src=src))
    assert not imported.get("failed"), imported.get("msg")
    assert imported["changed"] is True and imported["import_file"] == {"name": "neo4j.driver.jsonl", "format": "driver"}
    assert imported["counts"] == expected
    snapshot = graph_snapshot(target.query)
    assert snapshot["nodes"] == lab_snapshot["nodes"], "every node with labels and properties, embeddings included"
    assert snapshot["relationships"] == lab_snapshot["relationships"]
    assert target.query("SHOW INDEXES YIELD name WHERE name = 'mem0ops_import_id' RETURN name") == []
    assert target.query("MATCH (n) WHERE n.__mem0ops_import_id IS NOT NULL RETURN count(n) AS n") == [{"n": 0}]

    refused = run(state="imported", **target.args(src=src))
    assert refused["failed"] and refused["changed"] is False
    assert refused["msg"] == ("the database 'neo4j' at 127.0.0.1:%d is not empty (70 nodes, 94 relationships): the "
                              "import loads only into an empty database; set force: true to delete everything in it "
                              "first" % target.bolt_port)
    assert graph_snapshot(target.query) == snapshot, "a refused import touches nothing"

    forced = run(state="imported", force=True, batch_size=16, **target.args(src=src))
    assert not forced.get("failed"), forced.get("msg")
    assert forced["changed"] is True and forced["wiped"] == 70
    assert forced["counts"] == expected
    assert graph_snapshot(target.query) == lab_snapshot


def test_embeddings_survive_the_round_trip(run, lab_export, target, neo4j_driver):
    result = run(state="imported", **target.args(src=str(lab_export["dest"])))
    assert not result.get("failed"), result.get("msg")
    sample = [r.data() for r in neo4j_driver.execute_query(
        "MATCH (n:__Entity__) RETURN n.user_id AS user, n.name AS name, n.embedding AS embedding "
        "ORDER BY user, name LIMIT 5").records]

    for row in sample:
        got = target.query("MATCH (n:__Entity__ {user_id: $user, name: $name}) RETURN n.embedding AS embedding",
                           user=row["user"], name=row["name"])
        assert len(got) == 1 and len(got[0]["embedding"]) == DIMS
        assert got[0]["embedding"] == row["embedding"]


def test_import_of_the_apoc_json_file(run, lab_export, lab_snapshot, target):
    result = run(state="imported", import_format="json", **target.args(src=str(lab_export["dest"])))

    assert not result.get("failed"), result.get("msg")
    assert result["import_file"]["format"] == "json"
    assert result["counts"] == lab_export["first"]["counts"]
    assert graph_snapshot(target.query) == lab_snapshot


def test_cypher_export_replays_with_apoc_run_many(lab_export, target):
    statements = (lab_export["dest"] / "neo4j.cypher").read_text()

    target.query("CALL apoc.cypher.runMany($statements, {}) YIELD row RETURN count(*) AS n", statements=statements)

    counts = lab_export["first"]["counts"]
    assert target.query("MATCH (n:__Entity__) RETURN count(n) AS n") == [{"n": counts["nodes"]}]
    assert target.query("MATCH ()-[r]->() RETURN count(r) AS n") == [{"n": counts["relationships"]}]


def test_import_refuses_a_tampered_export(run, lab_export, target, tmp_path):
    src = tmp_path / "tampered"
    shutil.copytree(lab_export["dest"], src)
    with open(src / "neo4j.driver.jsonl", "r+b") as handle:
        handle.seek(100)
        handle.write(b"9")

    result = run(state="imported", **target.args(src=str(src)))

    assert result["failed"] and result["changed"] is False
    assert result["msg"].startswith("the export in %s does not match its manifest: neo4j.driver.jsonl has sha256 " % src)
    assert target.query("MATCH (n) RETURN count(n) AS n") == [{"n": 0}]


def test_without_apoc_the_driver_format_carries_every_type_and_the_schema(
        run, lab_export, throwaway_apoc, throwaway_noapoc, tmp_path):
    plain, target = throwaway_noapoc, throwaway_apoc
    plain.wipe()
    target.wipe()
    loaded = run(state="imported", **plain.args(src=str(lab_export["dest"])))
    assert not loaded.get("failed"), loaded.get("msg")
    plain.query("CREATE INDEX entity_single IF NOT EXISTS FOR (n:__Entity__) ON (n.user_id)")
    plain.query("CREATE CONSTRAINT person_key IF NOT EXISTS FOR (p:Person) REQUIRE p.key IS UNIQUE")
    plain.query(
        "CREATE (:Person:Owner {key: 'mark', user_id: 'mark_carey/personal', name: 'typed', "
        "born: date('1980-05-17'), seen: datetime('2026-01-27T08:15:00.123456789[Europe/Berlin]'), "
        "local: localdatetime('2026-01-27T08:15'), at: time('08:15+01:00'), alarm: localtime('06:30'), "
        "utc: datetime('2026-01-27T07:15Z'), utczone: datetime('2026-01-27T07:15[UTC]'), "
        "took: duration('P1DT2H'), home: point({latitude: 52.52, longitude: 13.40}), "
        "desk: point({x: 1.5, y: 2.5, z: 0.5}), blob: [1, 2, 3], tags: ['a', 'b'], score: 0.125})")

    exported = run(dest=str(tmp_path / "noapoc"), formats=["cypher", "json"], **plain.args())
    assert not exported.get("failed"), exported.get("msg")
    assert exported["formats"] == ["driver"] and exported["apoc"]["version"] is None
    assert any("is APOC installed?" in w for w in exported.get("warnings", []))
    assert [s["name"] for s in exported["manifest"]["schema"]] == ["person_key", "entity_single"]
    assert exported["counts"]["labels"] == {"__Entity__": 70, "Owner": 1, "Person": 1}

    imported = run(state="imported", force=True, **target.args(src=exported["dest"]))
    assert not imported.get("failed"), imported.get("msg")
    assert imported["counts"] == exported["counts"]
    assert sorted(imported["schema_created"]) == ["entity_single", "person_key"]
    check = target.query(
        "MATCH (p:Person:Owner {key: 'mark'}) RETURN p.born = date('1980-05-17') AND "
        "p.seen = datetime('2026-01-27T08:15:00.123456789[Europe/Berlin]') AND "
        "p.local = localdatetime('2026-01-27T08:15') AND p.at = time('08:15+01:00') AND "
        "p.alarm = localtime('06:30') AND p.utc = datetime('2026-01-27T07:15Z') AND "
        "p.utczone = datetime('2026-01-27T07:15[UTC]') AND p.took = duration('P1DT2H') AND "
        "p.home = point({latitude: 52.52, longitude: 13.40}) AND p.desk = point({x: 1.5, y: 2.5, z: 0.5}) AND "
        "p.blob = [1, 2, 3] AND p.tags = ['a', 'b'] AND p.score = 0.125 AS same, "
        "valueType(p.seen) AS seen_type, p.seen.timezone AS zone, [p.utc.timezone, p.utczone.timezone] AS utc")
    assert check == [{"same": True, "seen_type": "ZONED DATETIME NOT NULL", "zone": "Europe/Berlin", "utc": ["Z", "UTC"]}]
    assert graph_snapshot(target.query)["relationships"] == graph_snapshot(plain.query)["relationships"]


# --- failures --------------------------------------------------------------------------------------------

def test_wrong_password_says_what_to_check(run, target, tmp_path):
    result = run(dest=str(tmp_path / "x"), neo4j_uri=target.uri, neo4j_password="wrong-" + secrets.token_hex(8))

    assert result["failed"]
    assert result["msg"].startswith(
        "Neo4j at 127.0.0.1:%d refused the login of user 'neo4j': the password in the inventory does not match the "
        "server's; after a data wipe Neo4j takes the password from NEO4J_AUTH again" % target.bolt_port)
    assert not (tmp_path / "x").exists()


def test_missing_password_against_a_server_with_auth(run, target, tmp_path):
    result = run(dest=str(tmp_path / "x"), neo4j_uri=target.uri, no_password=True)

    assert result["failed"] and "requires authentication and no neo4j_password was given" in result["msg"]


def test_unknown_database(run, target, tmp_path):
    result = run(dest=str(tmp_path / "x"), neo4j_database="memories", **target.args())

    assert result["failed"]
    assert result["msg"].startswith("database 'memories' does not exist on the Neo4j server at 127.0.0.1:%d"
                                    % target.bolt_port)


def test_nothing_listening(run, tmp_path):
    port = free_port()

    result = run(dest=str(tmp_path / "x"), neo4j_uri="bolt://127.0.0.1:%d" % port)

    assert result["failed"]
    assert result["msg"].startswith("nothing answers Bolt at 127.0.0.1:%d: is the container running?" % port)


def test_unwritable_dest(tmp_path):
    """dest under a directory mounted read-only (in a private mount namespace): not writable, even by root."""
    parent = tmp_path / "read-only"
    parent.mkdir()

    proc = run_direct({"dest": str(parent / "neo4j")},
                      prefix=["unshare", "-m", "sh", "-c",
                              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(parent)])

    result = module_result(proc)
    assert result["failed"]
    assert result["msg"] == ("cannot write to dest %s/neo4j: %s is not writable by uid %d; choose a directory this "
                             "user can write to, or run the task as one who can" % (parent, parent, os.getuid()))
    assert list(parent.iterdir()) == []


def test_full_disk(stack, tmp_path):
    """A 200 KiB filesystem (tmpfs in a private mount namespace) cannot hold the export."""
    svc = stack["services"]["neo4j"]
    mount = tmp_path / "small"
    mount.mkdir()
    args = {"dest": str(mount / "neo4j"), "formats": ["driver", "cypher"],
            "neo4j_uri": "bolt://%s:%d" % (svc["host"], svc["bolt_port"]), "neo4j_password": svc["password"]}

    proc = run_direct(args, prefix=["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=200k tmpfs "$0" && exec "$@"',
                                    str(mount)],
                      after="; echo; echo ---; ls -A %s/neo4j" % mount)

    result = module_result(proc)
    assert result["failed"], result
    assert result["msg"].startswith("cannot write %s/neo4j/neo4j.driver.jsonl: No space left on device; free space "
                                    "there or choose another dest; the partial file was removed" % mount)
    assert proc.stdout.split("\n---\n")[1].split() == [], "neither a partial file nor a final name is left"
    assert svc["password"] not in proc.stdout
