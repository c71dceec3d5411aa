"""playbooks/backup.yml and the backup role against real stacks.

- The lab (read-only): a backup into a temporary backup root is a complete, valid set whose checksums verify and
  which holds no secret in clear; a check-mode run writes nothing; with a disk floor no volume can keep, a check-mode
  run predicts the refusal and writes nothing.
- The session's scratch stack (tests/integration/scratch.py), with a backup root of the test's own: an interrupted
  run and a failing part leave only a .partial directory; a changed env file and then an emptied database quarantine their sets, alert and fail the run, and
  the rotation that still runs keeps the good set.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf

from .labkit import REPO, SEEDED, run_playbook, task_result

pytestmark = pytest.mark.integration

PUBLISH = "Publish the result for includers"
GATE_FAIL = "Stop when the set is quarantined"
ROTATE = "Rotate the sets (only valid sets count; the last good set is never deleted)"


def backup_result(report: dict, host: str) -> dict:
    return task_result(report, PUBLISH, host)["ansible_facts"]["backup_result"]


def listing(root: Path) -> list:
    """Every path under root with its type, size, mode and mtime: equal listings mean nothing was written."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            out.append((str(path.relative_to(root)), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


def sets_in(root: Path, tier: str) -> list:
    directory = root / tier
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def final_sets(root: Path, tier: str) -> list:
    return [name for name in sets_in(root, tier) if not name.startswith(".")]


def partials(root: Path, tier: str) -> list:
    return [name for name in sets_in(root, tier) if name.endswith(".partial")]


def lab_secrets(stack: dict) -> list:
    services = stack["services"]
    return [services["postgres"]["password"], services["neo4j"]["password"], services["mem0"]["api_key"]]


def assert_no_secret(root: Path, values: list) -> None:
    """grep every file of the set for every secret, gzip files also decompressed."""
    needles = [v.encode() for v in values]
    checked = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        contents = [data]
        if path.suffix == ".gz":
            contents.append(gzip.decompress(data))
        for content in contents:
            for needle in needles:
                assert needle not in content, "a secret in clear in %s" % path
        checked += 1
    assert checked > 10


# --- the lab ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab_root():
    base = Path(tempfile.mkdtemp(prefix="mem0ops-backup-it-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def lab_backup(stack, lab_root):
    """One manual backup of the lab into a temporary root, with the env file kept vault-encrypted."""
    vault_pass = lab_root / "vault-pass"
    vault_pass.write_text(secrets.token_urlsafe(24))
    vault_pass.chmod(0o600)
    root = lab_root / "backups"
    started = time.monotonic()
    report = run_playbook("backup.yml", "-e", "backup_tier=manual", "-e", "backup_root=%s" % root,
                          "-e", "backup_vault_password_file=%s" % vault_pass)
    wall = time.monotonic() - started
    return {"report": report, "root": root, "vault_pass": vault_pass, "wall": wall}


def test_lab_backup_is_a_valid_complete_set(stack, lab_backup):
    report, root = lab_backup["report"], lab_backup["root"]
    assert report["rc"] == 0, report["raw"][-3000:]
    result = backup_result(report, "lab")
    assert result["status"] == "valid" and result["problems"] == []
    assert result["memories"]["total"] == 1968 and result["memories"]["per_namespace"] == SEEDED
    assert result["graph"]["nodes"] == 70
    path = Path(result["path"])
    assert path.parent == root / "manual" and final_sets(root, "manual") == [path.name]
    assert partials(root, "manual") == []
    assert result["manifest"] == str(path / "manifest.json")

    data = mf.read_manifest(str(path))
    assert data["kind"] == "backup_set" and data["status"] == "valid"
    assert mf.verify_files(data, str(path)) == []
    for part in ("postgres", "neo4j", "history"):
        part_manifest = mf.read_manifest(str(path / part))
        assert mf.verify_files(part_manifest, str(path / part)) == [], part
    names = {f["name"] for f in data["files"]}
    database = stack["services"]["postgres"]["database"]
    stamp = path.name
    assert {"postgres/%s_%s.dump" % (database, stamp),
            "postgres/%s_%s.schema.sql" % (database, stamp), "neo4j/neo4j.driver.jsonl.gz", "neo4j/neo4j.cypher.gz",
            "neo4j/neo4j.graphml.gz", "history/history.db", "history/openmemory.db", "config/compose/compose.yml",
            "config/env.vault"} <= names
    assert {"config/containers/%s.json" % name for name in stack["services"]} <= names
    fingerprint = data["identity"]
    assert fingerprint["postgres"]["database"] == database and fingerprint["postgres"]["vector_dims"] == 768
    assert fingerprint["neo4j"]["store_id"] and fingerprint["embedding"] == {"model": "nomic-embed-text", "dims": 768}

    history = sqlite3.connect("file:%s?mode=ro" % (path / "history" / "history.db"), uri=True)
    try:
        assert history.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert history.execute("SELECT count(*) FROM history").fetchone()[0] == 1968
    finally:
        history.close()

    inspected = json.loads((path / "config" / "containers" / "postgres.json").read_text())
    assert "POSTGRES_PASSWORD=***REDACTED***" in inspected["Config"]["Env"]

    measures = {part: (info["bytes"], info.get("seconds")) for part, info in data["parts"].items()}
    print("\nlab backup: %.1f s wall (playbook), set duration %.1f s, %d bytes; per part (bytes, seconds): %s"
          % (lab_backup["wall"], result["duration_seconds"], result["size_bytes"], measures))


def test_lab_backup_holds_no_secret_in_clear(stack, lab_backup):
    report = lab_backup["report"]
    path = Path(backup_result(report, "lab")["path"])
    values = lab_secrets(stack)
    assert_no_secret(path, values)
    for value in values:
        assert value not in report["raw"], "a secret in the play output"


def test_lab_env_file_is_kept_only_vault_encrypted(stack, lab_backup):
    from ansible.parsing.vault import VaultLib, VaultSecret

    path = Path(backup_result(lab_backup["report"], "lab")["path"])
    vaulted = (path / "config" / "env.vault").read_bytes()
    assert vaulted.startswith(b"$ANSIBLE_VAULT;1.2;AES256;mem0ops_backup")
    secret = VaultSecret(lab_backup["vault_pass"].read_text().encode())
    clear = VaultLib([("mem0ops_backup", secret)]).decrypt(vaulted)
    env_file = Path(stack["compose"]["dir"]) / ".env"
    assert clear == env_file.read_bytes()
    assert not any(p.name == ".env" for p in path.rglob("*"))


def test_check_mode_writes_nothing(lab_backup):
    root = lab_backup["root"]
    before = listing(root)
    report = run_playbook("backup.yml", "--check", "-e", "backup_root=%s" % root)
    assert report["rc"] == 0, report["raw"][-3000:]
    assert listing(root) == before
    result = backup_result(report, "lab")
    assert result["status"] == "planned" and result["would_be"] == "valid"
    assert result["path"].startswith(str(root / "daily") + "/") and not Path(result["path"]).exists()
    assert result["memories"]["per_namespace"] == SEEDED and result["graph"]["nodes"] == 70
    assert result["size_bytes"] > 0
    assert task_result(report, ROTATE, "lab")["would_delete"] == []


def test_check_mode_predicts_the_disk_floor_refusal_before_anything_is_written(stack, lab_root):
    """The lab's backup root and data root share one filesystem (as on the owner's Mac): with a floor no disk can
    keep, --check refuses before the dump, naming the volume, the floor and the fix, and writes nothing."""
    root = lab_root / "disk-floor"
    (root / "daily").mkdir(parents=True)
    before = listing(root)
    report = run_playbook("backup.yml", "--check", "-e", "backup_root=%s" % root, "-e", "backup_min_free_gb=1000000")
    assert report["rc"] != 0
    refused = task_result(report, "Refuse when the set would not fit, or would leave the databases' volume below the floor")
    assert refused["failed"] is True
    msg = refused["msg"]
    assert msg.startswith("Not enough disk for the backup on /")
    assert "no good set yet" in msg and "below the floor of 1000000.0 GB" in msg
    assert "move backup_root to another volume" in msg and "-e backup_min_free_gb=" in msg
    with pytest.raises(KeyError):
        task_result(report, "Dump PostgreSQL from one snapshot, inside its container")
    assert listing(root) == before
    print("\ndisk floor refusal in check mode: %.1f s (playbook)" % report["seconds"])


# --- the scratch stack --------------------------------------------------------------------------------------

KEEP_TABLE = "mem0ops_backup_it_keep"


@pytest.fixture
def scratch(scratch_stack, tmp_path):
    """The session's scratch stack with a backup root of this test's own (so no earlier set is the baseline); the
    memories the test empties are put back at the end."""
    scratch_stack.telegram.clear()
    root = tmp_path / "backups"
    try:
        yield {"inventory": scratch_stack.inventory, "stack": scratch_stack.stack, "root": root,
               "telegram": scratch_stack.telegram, "token": scratch_stack.telegram.token, "host": scratch_stack.host,
               "scratch": scratch_stack}
    finally:
        scratch_stack.put_memories_back(KEEP_TABLE)


def run_scratch(scratch, *args):
    return run_playbook("backup.yml", "-e", "backup_root=%s" % scratch["root"], *args, inventory=scratch["inventory"])


def interrupt_midway(scratch) -> None:
    """Start a backup and SIGKILL the whole run once pg_dump is writing into the partial set."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(scratch["inventory"]),
                             "-e", "backup_root=%s" % scratch["root"], str(REPO / "playbooks" / "backup.yml")], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    daily = scratch["root"] / "daily"
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            dumping = list(daily.glob(".*.partial/postgres/.*.partial")) if daily.is_dir() else []
            if dumping:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the backup finished before it could be interrupted"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def test_scratch_gate_interruptions_and_rotation(scratch):
    stack, root, telegram = scratch["stack"], scratch["root"], scratch["telegram"]
    values = lab_secrets(stack) + [scratch["token"]]

    # 1. a good set
    report = run_scratch(scratch)
    assert report["rc"] == 0, report["raw"][-3000:]
    good = backup_result(report, scratch["host"])
    assert good["status"] == "valid" and good["memories"]["per_namespace"] == SEEDED
    assert final_sets(root, "daily") == [Path(good["path"]).name]

    # 2. killed while pg_dump writes: no set with a final name, only a .partial directory
    interrupt_midway(scratch)
    assert final_sets(root, "daily") == [Path(good["path"]).name]
    assert len(partials(root, "daily")) == 1

    # 3. a failing part (Neo4j unreachable): the run fails, names the step, alerts, leaves a .partial only
    time.sleep(1.1)  # a new set name
    report = run_scratch(scratch, "-e", "_backup_neo4j_uri=bolt://127.0.0.1:1")
    assert report["rc"] != 0
    assert "Export the graph over Bolt" in report["raw"] and "produced no set" in report["raw"]
    assert final_sets(root, "daily") == [Path(good["path"]).name]
    assert len(partials(root, "daily")) == 2
    failed_partial = max(partials(root, "daily"))
    assert (root / "daily" / failed_partial / "postgres" / "manifest.json").is_file()
    assert not (root / "daily" / failed_partial / "manifest.json").exists()

    # 4. the env file changed (the incident began there): quarantined, fingerprint field named, alert, fail
    env_file = Path(stack["compose"]["dir"]) / ".env"
    original = env_file.read_bytes()
    env_file.write_bytes(original + b"MEM0OPS_BK_DRIFT=1\n")
    try:
        report = run_scratch(scratch)
    finally:
        env_file.write_bytes(original)
    assert report["rc"] != 0
    changed = backup_result(report, scratch["host"])
    assert changed["status"] == "quarantined" and len(changed["problems"]) == 1
    assert "env_file.sha256" in changed["problems"][0] and changed["baseline"]["path"] == good["path"]
    assert "QUARANTINED" in task_result(report, GATE_FAIL, scratch["host"])["msg"]
    assert (Path(changed["path"]) / "QUARANTINED.txt").is_file()

    # 5. the database emptied: quarantined, the failure names the drop; rotation with keep daily 1 ran first and
    #    kept the good set, and removed the stale partial sets
    scratch["scratch"].empty_memories(KEEP_TABLE)
    report = run_scratch(scratch, "-e", '{"backup_keep": {"daily": 1}, "backup_stale_partial_hours": 0}')
    assert report["rc"] != 0
    empty = backup_result(report, scratch["host"])
    assert empty["status"] == "quarantined" and empty["memories"]["total"] == 0
    message = task_result(report, GATE_FAIL, scratch["host"])["msg"]
    assert "memories dropped 100%% since the last good set daily/%s: 1968 -> 0" % Path(good["path"]).name in message
    assert "The last good set is %s (1968 memories)" % good["path"] in message
    rotation = task_result(report, ROTATE, scratch["host"])
    assert rotation["latest_good"]["path"] == good["path"]
    assert {e["status"] for e in rotation["would_delete"]} == {"partial"}
    assert sorted(final_sets(root, "daily")) == sorted(Path(p).name for p in (good["path"], changed["path"], empty["path"]))
    assert partials(root, "daily") == []
    plays = report["plays"][0]["tasks"]
    order = [t["task"]["name"].split(" : ")[-1] for t in plays]
    assert order.index(GATE_FAIL) < order.index(ROTATE)
    assert mf.read_manifest(good["path"])["status"] == "valid"
    assert mf.verify_files(mf.read_manifest(good["path"]), good["path"]) == []

    # the alerts: the failed part, the changed fingerprint, the emptied database; no secret in any of them
    texts = [m["text"] for m in telegram.messages()]
    assert any("backup failed and produced no set" in t for t in texts)
    assert any("QUARANTINED" in t and "env_file.sha256" in t for t in texts)
    assert any("QUARANTINED" in t and "dropped 100%" in t for t in texts)
    for text in texts:
        for value in values:
            assert value not in text
    for path in (changed["path"], empty["path"], good["path"]):
        assert_no_secret(Path(path), values)
