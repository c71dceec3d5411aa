# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_backup_set: the gate, the content-aware rotation, and the set life cycle, on sets built in a temporary
directory (part manifests as pgvector_dump, neo4j_export and the role's SQLite backup write them)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import manifest as mf
from ansible_collections.mem0ops.stack.plugins.modules import mem0_backup_set as bs
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

SEEDED = {"mark_carey/sap": 678, "mark_carey/synovia": 1243, "mark_carey/booking": 33, "mark_carey/personal": 14}
EMPTY = {}
PREFIX = "mark_carey/"
SECRET = "pw-Zq81xVv0LmT3"
START = datetime(2026, 1, 1, 2, 30, tzinfo=timezone.utc)


def stamp(day: int, hour: int = 0) -> str:
    return (START + timedelta(days=day, hours=hour)).strftime("%Y%m%d_%H%M%S")


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def write_part(directory, kind, files, **fields):
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, content in files.items():
        (directory / name).write_bytes(content)
        entries.append(mf.file_entry(str(directory / name), str(directory)))
    data = mf.new_manifest(kind)
    data.update(files=entries, **fields)
    write_json(directory / mf.MANIFEST_NAME, data)
    return data


def partial_set(root, tier, ts, namespaces=None, nodes=70, system_identifier="7710895042352013342", user="mem0_user",
                database="mem0", dims=768, store_id="3D20EFC6", config_text="{}", neo4j=True, graph_dims=None):
    """Write the parts of one set under <root>/<tier>/.<ts>.partial, as the backup role does; ``graph_dims`` (dims:
    nodes) are the embedding lengths the graph export observed (none recorded without it)."""
    namespaces = SEEDED if namespaces is None else namespaces
    partial = root / tier / (".%s.partial" % ts)
    write_part(partial / "postgres", "pgvector_dump", {"%s_%s.dump" % (database, ts): b"PGDMP" + json.dumps(namespaces).encode()},
               database=database, user=user, system_identifier=system_identifier, duration_seconds=1.5,
               counts={"memories": {"total": sum(namespaces.values()), "namespaces": namespaces}},
               vector_tables=[{"table": "memories", "column": "vector", "type": "vector(%d)" % dims, "declared_dims": dims}])
    if neo4j:
        write_part(partial / "neo4j", "neo4j_export", {"neo4j.driver.jsonl.gz": b"\x1f\x8b" + b"n" * nodes},
                   counts=dict({"nodes": nodes, "relationships": nodes + 24},
                               **({"embedding_dims": {str(d): n for d, n in graph_dims.items()}} if graph_dims else {})),
                   neo4j={"database_id": store_id},
                   **({"embedding": {"property": "embedding", "dims": sorted(graph_dims), "nodes": nodes}}
                      if graph_dims else {}))
    write_part(partial / "history", "sqlite_backup", {"history.db": b"SQLite format 3\x00" + b"h" * 64},
               databases={"history.db": {"tables": {"history": sum(namespaces.values())}}})
    config = partial / "config" / "containers"
    config.mkdir(parents=True)
    (config / "postgres.json").write_text(config_text)
    return partial


def run(args, check=False, diff=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            bs.main()
    return exc.value


def ok(args, **kwargs) -> dict:
    outcome = run(args, **kwargs)
    assert isinstance(outcome, AnsibleExitJson), outcome.result.get("msg")
    return outcome.result


def fails(args, **kwargs) -> dict:
    outcome = run(args, **kwargs)
    assert isinstance(outcome, AnsibleFailJson), outcome.result
    return outcome.result


def finalise(root, tier, ts, **kwargs) -> dict:
    args = {"state": "present", "backup_root": str(root), "tier": tier, "timestamp": ts, "namespace_prefix": PREFIX,
            "embedding_model": "nomic-embed-text", "embedding_dims": 768,
            "required_parts": ["postgres", "neo4j", "history", "config"]}
    args.update(kwargs)
    return ok(args)


def backup(root, tier, ts, set_kwargs=None, **kwargs) -> dict:
    partial_set(root, tier, ts, **(set_kwargs or {}))
    return finalise(root, tier, ts, **kwargs)


def names(root, tier):
    return sorted(os.listdir(root / tier))


# --- the gate -----------------------------------------------------------------------------------------------

IDENTITY = {"postgres": {"system_identifier": "1", "database": "mem0", "user": "mem0_user", "vector_dims": 1536},
            "neo4j": {"store_id": "A"}, "embedding": {"model": "text-embedding-3-small", "dims": 1536},
            "env_file": {"sha256": "e" * 64}}


def view(per_namespace, graph_nodes=70, identity=None, label="daily/20260103_133102"):
    return {"per_namespace": per_namespace, "graph_nodes": graph_nodes, "identity": identity or IDENTITY,
            "label": label, "prefix": PREFIX}


def test_gate_passes_an_unchanged_stack():
    assert bs.gate(view(SEEDED), view(SEEDED), 1, 50) == ([], [], [])


def test_gate_quarantines_an_empty_database_without_any_baseline():
    problems, accepted, changes = bs.gate(view(EMPTY, graph_nodes=0), None, 1, 50)
    assert len(problems) == 1 and "holds 0 memories under 'mark_carey/', fewer than min_memories 1" in problems[0]


def test_gate_names_the_drop_from_the_last_good_set():
    problems, dummy, dummy = bs.gate(view(EMPTY, graph_nodes=0), view(SEEDED), 1, 50)
    text = "\n".join(problems)
    assert "the last good set daily/20260103_133102 holds 1968" in text
    assert "memories dropped 100% since the last good set daily/20260103_133102: 1968 -> 0" in text
    assert "graph nodes dropped 100%" in text
    assert "namespace" not in text  # everything is gone: one line says so, not one per namespace


@pytest.mark.parametrize("left, quarantined", [(1000, False), (984, False), (983, True), (0, True)])
def test_gate_drop_threshold(left, quarantined):
    problems, dummy, dummy = bs.gate(view({"mark_carey/synovia": left}), view({"mark_carey/synovia": 1968}), 1, 50)
    assert bool(problems) is quarantined


def test_gate_names_a_vanished_namespace_even_when_the_total_drop_is_small():
    now = dict(SEEDED, **{"mark_carey/booking": 0})
    problems, dummy, dummy = bs.gate(view(now), view(SEEDED), 1, 50)
    assert problems == ["namespace 'mark_carey/booking' held 33 memories in the last good set daily/20260103_133102 "
                        "and has none now"]


def test_gate_ignores_namespaces_outside_the_prefix():
    problems, dummy, dummy = bs.gate(view({"mark_carey/sap": 678}), view({"mark_carey/sap": 678, "other/x": 500}), 1, 50)
    assert problems == []


def test_gate_names_every_changed_fingerprint_field_old_and_new():
    """The January incident: new credentials, a fresh cluster, and nomic-embed-text instead of OpenAI."""
    new = {"postgres": {"system_identifier": "2", "database": "mem0_prd", "user": "mem0_user_prd", "vector_dims": 768},
           "neo4j": {"store_id": "A"}, "embedding": {"model": "nomic-embed-text", "dims": 768},
           "env_file": {"sha256": "f" * 64}}
    problems, accepted, changes = bs.gate(view(SEEDED, identity=new), view(SEEDED), 1, 50)
    assert len(problems) == 1 and not accepted
    assert {c["field"]: (c["old"], c["new"]) for c in changes} == {
        "postgres.system_identifier": ("1", "2"), "postgres.database": ("mem0", "mem0_prd"),
        "postgres.user": ("mem0_user", "mem0_user_prd"), "postgres.vector_dims": (1536, 768),
        "embedding.model": ("text-embedding-3-small", "nomic-embed-text"), "embedding.dims": (1536, 768),
        "env_file.sha256": ("e" * 64, "f" * 64)}
    assert "postgres.user mem0_user -> mem0_user_prd" in problems[0]
    assert "env_file.sha256 eeeeeeeeeeee... -> ffffffffffff..." in problems[0]


def test_gate_ignores_fields_unknown_on_one_side():
    old = dict(IDENTITY, neo4j={"store_id": None})
    assert bs.gate(view(SEEDED), view(SEEDED, identity=old), 1, 50) == ([], [], [])


@pytest.mark.parametrize("accept, left_problems", [((), 2), (("drop",), 1), (("fingerprint",), 1), (("drop", "fingerprint"), 0)])
def test_gate_accepts_what_a_person_checked(accept, left_problems):
    new = dict(IDENTITY, embedding={"model": "nomic-embed-text", "dims": 768})
    problems, accepted, dummy = bs.gate(view({k: 1 for k in SEEDED}, identity=new), view(SEEDED), 1, 50, accept)
    assert len(problems) == left_problems
    assert len(accepted) == 2 - left_problems


def test_gate_min_memories_is_never_accepted_away():
    problems, dummy, dummy = bs.gate(view(EMPTY), view(SEEDED), 1, 50, ("drop", "fingerprint"))
    assert len(problems) == 1 and "fewer than min_memories" in problems[0]


# --- present ------------------------------------------------------------------------------------------------

def test_present_finalises_a_valid_set(tmp_path):
    started_at = time.time() - 3
    result = backup(tmp_path, "daily", stamp(0), started_at=started_at, stack_name="lab")
    finished = time.time()
    final = tmp_path / "daily" / stamp(0)
    assert result["changed"] and result["status"] == "valid" and result["problems"] == []
    assert names(tmp_path, "daily") == [stamp(0)]
    assert result["memories"] == {"total": 1968, "selected": 1968, "per_namespace": SEEDED}
    assert result["graph"] == {"nodes": 70, "relationships": 94}
    assert result["manifest"] == str(final / "manifest.json") and result["path"] == str(final)
    # the duration runs from started_at to the end of the module's run, no more, no less
    assert 3 <= result["duration_seconds"] <= finished - started_at + 0.1
    data = mf.read_manifest(str(final))
    assert data["kind"] == "backup_set" and data["status"] == "valid"
    assert mf.verify_files(data, str(final)) == []
    assert {f["name"] for f in data["files"]} >= {"postgres/manifest.json", "history/history.db",
                                                  "config/containers/postgres.json"}
    assert data["identity"]["sha256"] == bs.fingerprint_sha256(data["identity"])
    assert not (final / bs.MARKER).exists()
    assert oct(os.stat(final).st_mode & 0o777) == "0o700"
    assert result["summary"][0] == "mem0 backup (lab), tier daily, set %s: VALID" % stamp(0)


def test_present_again_reports_no_change(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    again = finalise(tmp_path, "daily", stamp(0))
    assert not again["changed"] and again["status"] == "valid"


def test_present_never_overwrites_a_set(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    partial_set(tmp_path, "daily", stamp(0))
    result = fails({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(0)})
    assert "already exists" in result["msg"]


def test_present_without_a_partial_set_fails(tmp_path):
    result = fails({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(0)})
    assert "no partial set" in result["msg"]


def test_incident_17_empty_daily_sets_are_quarantined_and_every_good_set_survives(tmp_path):
    """Jan 3 to Jan 10: good sets. Jan 10: containers recreated, empty database. 17 days of empty daily sets."""
    for day in range(7):
        assert backup(tmp_path, "daily", stamp(day))["status"] == "valid"
    good = [stamp(day) for day in range(7)]
    for day in range(7, 24):
        result = backup(tmp_path, "daily", stamp(day), set_kwargs={
            "namespaces": {}, "nodes": 0, "user": "mem0_user_prd", "database": "mem0_prd",
            "system_identifier": "7799999999999999999"})
        assert result["status"] == "quarantined"
        assert result["baseline"]["path"] == str(tmp_path / "daily" / good[-1])  # never an empty set
        text = "\n".join(result["problems"])
        assert "holds 0 memories" in text and "dropped 100%" in text and "postgres.user mem0_user -> mem0_user_prd" in text
        assert (tmp_path / "daily" / stamp(day) / bs.MARKER).exists()

    info = ok({"state": "info", "backup_root": str(tmp_path)})
    assert info["latest_good"]["timestamp"] == good[-1]
    assert sum(1 for s in info["sets"] if s["status"] == "quarantined") == 17

    rotation = ok({"state": "rotated", "backup_root": str(tmp_path)})
    left = names(tmp_path, "daily")
    assert all(ts in left for ts in good), "a good set was pushed out by empty ones"
    assert all(item["status"] == "quarantined" for item in rotation["would_delete"])
    quarantined_left = [ts for ts in left if ts not in good]
    assert quarantined_left == [stamp(day) for day in range(14, 24)]  # keep_quarantined=10, newest first

    # restic/borg with --keep-daily 7 would have kept the 7 newest (empty) sets and nothing else
    ok({"state": "rotated", "backup_root": str(tmp_path), "keep": {"daily": 1}, "keep_quarantined": 0})
    assert names(tmp_path, "daily") == [good[-1], stamp(23)]


def one_namespace(count):
    return {"namespaces": {"mark_carey/synovia": count}}


def test_a_slow_loss_in_steps_below_the_threshold_is_caught_at_its_second_step(tmp_path):
    """Issue 12, hole 5: 1968 -> 1080 -> 591 -> 323 in hourly steps of 45 %, each below max_drop_percent 50."""
    series = [1968, 1080, 591, 323]
    results = [backup(tmp_path, "hourly", stamp(0, hour), set_kwargs=one_namespace(n)) for hour, n in enumerate(series)]
    assert [r["status"] for r in results] == ["valid", "valid", "quarantined", "quarantined"]
    assert results[2]["problems"] == [
        "memories declined 70%% in steps from 1968 in hourly/%s, the most a good set held in the last 7 days, to 591 "
        "under 'mark_carey/', more than max_drop_percent 50%%: a slow loss that each step hid (the last good set "
        "hourly/%s holds 1080)" % (stamp(0, 0), stamp(0, 1))]
    assert results[2]["baseline"]["timestamp"] == stamp(0, 1)  # the step itself stayed below the threshold
    # without the window, each set is compared with the last good one only, as before
    off = tmp_path / "off"
    assert [backup(off, "hourly", stamp(0, hour), set_kwargs=one_namespace(n), decline_window_days=0)["status"]
            for hour, n in enumerate(series[:3])] == ["valid", "valid", "valid"]


def test_an_accepted_drop_starts_a_new_window_and_old_sets_leave_it(tmp_path):
    backup(tmp_path, "hourly", stamp(0, 0), set_kwargs=one_namespace(1968))
    backup(tmp_path, "hourly", stamp(0, 1), set_kwargs=one_namespace(1080))
    # the owner deleted memories on purpose and said so: the new high-water mark is this set
    accepted = backup(tmp_path, "manual", stamp(0, 2), set_kwargs=one_namespace(591), accept=["drop"])
    assert accepted["status"] == "valid" and "declined 70%" in accepted["accepted"][0]
    assert backup(tmp_path, "hourly", stamp(0, 3), set_kwargs=one_namespace(323))["status"] == "valid"
    later = backup(tmp_path, "hourly", stamp(0, 4), set_kwargs=one_namespace(177))
    assert later["status"] == "quarantined" and "from 591 in manual/%s" % stamp(0, 2) in later["problems"][0]
    # eight days on, the sets of day 0 are out of the window: 1200 -> 700 in a week is compared with 1200 only
    window = tmp_path / "window"
    backup(window, "daily", stamp(0), set_kwargs=one_namespace(1968))
    backup(window, "daily", stamp(2), set_kwargs=one_namespace(1200))
    assert backup(window, "daily", stamp(9), set_kwargs=one_namespace(700))["status"] == "valid"


def test_quarantined_set_is_never_the_baseline(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    backup(tmp_path, "daily", stamp(1), set_kwargs={"namespaces": {"mark_carey/sap": 10}})
    # back to the full count: compared with the good set of day 0, not with the quarantined one of day 1
    result = backup(tmp_path, "daily", stamp(2))
    assert result["status"] == "valid" and result["baseline"]["timestamp"] == stamp(0)


def test_baseline_is_the_last_good_set_of_any_tier(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    backup(tmp_path, "hourly", stamp(0, 5), set_kwargs={"namespaces": dict(SEEDED, **{"mark_carey/sap": 700})})
    result = backup(tmp_path, "pre-reset", stamp(0, 6))
    assert result["baseline"]["path"] == str(tmp_path / "hourly" / stamp(0, 5))


def test_accepted_change_becomes_the_new_baseline(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    moved = {"user": "mem0_user_prd", "database": "mem0_prd"}
    assert backup(tmp_path, "daily", stamp(1), set_kwargs=moved)["status"] == "quarantined"
    result = backup(tmp_path, "manual", stamp(1, 2), set_kwargs=moved, accept=["fingerprint"])
    assert result["status"] == "valid" and "identity fingerprint changed" in result["accepted"][0]
    assert backup(tmp_path, "daily", stamp(2), set_kwargs=moved)["status"] == "valid"


def test_env_file_change_changes_the_fingerprint(tmp_path):
    env = tmp_path / "stack.env"
    env.write_text("POSTGRES_USER=mem0_user\n")
    backup(tmp_path, "daily", stamp(0), env_file=str(env))
    env.write_text("POSTGRES_USER=mem0_user_prd\n")
    result = backup(tmp_path, "daily", stamp(1), env_file=str(env))
    assert result["status"] == "quarantined"
    assert [c["field"] for c in result["changes"]] == ["env_file.sha256"]


def test_env_file_comments_and_order_do_not_change_the_fingerprint(tmp_path):
    env = tmp_path / "stack.env"
    env.write_text("POSTGRES_USER=mem0_user\nPOSTGRES_DB=mem0\n")
    backup(tmp_path, "daily", stamp(0), env_file=str(env))
    env.write_text("# rotated nothing\nexport POSTGRES_DB='mem0'\n\nPOSTGRES_USER=mem0_user\n")
    assert backup(tmp_path, "daily", stamp(1), env_file=str(env))["status"] == "valid"


def test_unknown_state_fails(tmp_path):
    assert "state must be one of" in fails({"state": "list", "backup_root": str(tmp_path)})["msg"]


def test_a_file_that_does_not_match_its_part_manifest_quarantines(tmp_path):
    partial = partial_set(tmp_path, "daily", stamp(0))
    dump = next((partial / "postgres").glob("*.dump"))
    dump.write_bytes(b"PGDMP truncated")
    result = finalise(tmp_path, "daily", stamp(0))
    assert result["status"] == "quarantined"
    assert any("does not match its part manifest" in p for p in result["problems"])


def test_missing_and_quarantined_parts_quarantine(tmp_path):
    partial = partial_set(tmp_path, "daily", stamp(0), neo4j=False)
    manifest = json.loads((partial / "history" / "manifest.json").read_text())
    manifest.update(status="quarantined", problems=["integrity_check failed"])
    write_json(partial / "history" / "manifest.json", manifest)
    result = finalise(tmp_path, "daily", stamp(0))
    assert result["status"] == "quarantined"
    assert "the neo4j part is missing: neo4j/ holds no manifest.json" in result["problems"]
    assert "the history part is quarantined: integrity_check failed" in result["problems"]


def test_caller_problems_quarantine_once(tmp_path):
    partial = partial_set(tmp_path, "daily", stamp(0))
    manifest = json.loads((partial / "neo4j" / "manifest.json").read_text())
    manifest.update(status="quarantined", problems=["counts changed during the export"])
    write_json(partial / "neo4j" / "manifest.json", manifest)
    result = finalise(tmp_path, "daily", stamp(0), problems=["neo4j: the export in x is kept but marked quarantined"])
    assert result["status"] == "quarantined"
    assert [p for p in result["problems"] if "neo4j" in p] == ["neo4j: the export in x is kept but marked quarantined"]


def test_no_postgres_dump_means_no_memories(tmp_path):
    partial = partial_set(tmp_path, "daily", stamp(0))
    for path in (partial / "postgres").iterdir():
        path.unlink()
    result = finalise(tmp_path, "daily", stamp(0))
    assert result["status"] == "quarantined"
    assert "the postgres part is missing: postgres/ holds no manifest.json" in result["problems"]


def test_secrets_are_redacted_from_the_configuration_and_reported_in_manifests(tmp_path):
    env = tmp_path / "stack.env"
    env.write_text("# comment\nPOSTGRES_PASSWORD='envsecret-123'\nPOSTGRES_USER=mem0_user\nNEO4J_AUTH=${NEO4J_AUTH}\n")
    config = '{"Env": ["X=%s", "Y=envsecret-123"], "Url": "postgres://u:%s@h/db"}' % (SECRET, SECRET)
    partial = partial_set(tmp_path, "daily", stamp(0), config_text=config)
    leaky = json.loads((partial / "neo4j" / "manifest.json").read_text())
    leaky["neo4j"]["uri"] = "bolt://neo4j:%s@127.0.0.1:7687" % SECRET
    write_json(partial / "neo4j" / "manifest.json", leaky)
    result = finalise(tmp_path, "daily", stamp(0), secrets=[SECRET, "ab"], env_file=str(env))
    final = tmp_path / "daily" / stamp(0)
    for path in final.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert SECRET.encode() not in content and b"envsecret-123" not in content, path
    assert result["redacted"] == [{"file": "config/containers/postgres.json", "count": 3}]
    assert result["status"] == "quarantined"
    assert result["problems"] == ["neo4j/manifest.json held a secret in clear (now redacted): the module that wrote it "
                                  "leaks secrets"]
    assert mf.verify_files(mf.read_manifest(str(final)), str(final)) == []
    assert SECRET not in json.dumps(result)


def test_check_mode_plans_from_the_live_counts_and_writes_nothing(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    planned = {"postgres": {"counts": {"memories": {"namespaces": {}}}, "system_identifier": "7710895042352013342",
                            "database": "mem0", "user": "mem0_user", "estimate": {"files": {"custom": 1000}},
                            "vector_tables": [{"table": "memories", "declared_dims": 768}]},
               "neo4j": {"counts": {"nodes": 0, "relationships": 0}, "server": {"database_id": "3D20EFC6"}}}
    result = ok({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(1),
                 "planned": planned, "namespace_prefix": PREFIX, "embedding_model": "nomic-embed-text",
                 "embedding_dims": 768}, check=True)
    assert result["status"] == "planned" and result["would_be"] == "quarantined"
    assert result["path"] == str(tmp_path / "daily" / stamp(1))
    assert any("dropped 100%" in p for p in result["problems"])
    assert "would be QUARANTINED" in result["summary"][0]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_check_mode_estimates_the_size_from_the_last_good_set(tmp_path):
    first = backup(tmp_path, "daily", stamp(0))
    fewer = {k: v * 2 // 3 for k, v in SEEDED.items()}
    planned = {"postgres": {"counts": {"memories": {"namespaces": fewer}}, "estimate": {"files": {"custom": 10 ** 9}}}}
    result = ok({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(1),
                 "planned": planned, "namespace_prefix": PREFIX}, check=True)
    assert result["would_be"] == "valid"
    assert result["parts"]["postgres"]["bytes"] == int(first["parts"]["postgres"]["bytes"] * sum(fewer.values()) / 1968.0)


# --- what restore would refuse (issue 12, hole 8) -----------------------------------------------------------

FORCE_DIMS_WAY_OUT = ("the way out: configure the model the data was embedded with (mem0_stack.embedding) and recreate "
                      "the mem0 server, or restore anyway with -e restore_force_dims=true and then re-embed every "
                      "memory with nomic-embed-text (playbooks/reembed.yml)")


def test_a_consistent_set_needs_no_flag_at_restore(tmp_path):
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"graph_dims": {768: 70}})
    assert result["status"] == "valid" and result["restore_needs"] == []
    assert mf.read_manifest(str(tmp_path / "daily" / stamp(0)))["restore_needs"] == []
    assert not any("restore will need" in line for line in result["summary"])


def test_a_graph_of_mixed_dims_is_valid_and_says_restore_will_need_the_flag(tmp_path):
    """The set restore.yml refused at restore time: its graph holds 768- and 1536-dim embeddings."""
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"graph_dims": {768: 52, 1536: 18}})
    assert result["status"] == "valid" and result["problems"] == []
    [need] = result["restore_needs"]
    assert need["flag"] == "restore_force_dims" and need["parts"] == ["neo4j"]
    assert need["why"] == ("the set holds 768/1536-dim embeddings (neo4j 768/1536), but the stack is configured with "
                           "nomic-embed-text (768 dims): mem0 could neither search nor add to the restored memories")
    assert any("disagrees with itself" in m for m in need["mismatches"])
    assert mf.read_manifest(str(tmp_path / "daily" / stamp(0)))["restore_needs"] == [need]
    assert result["summary"][-1] == "  restore will need -e restore_force_dims=true: %s; %s" % (
        need["why"], FORCE_DIMS_WAY_OUT)
    assert ok({"state": "info", "backup_root": str(tmp_path)})["sets"][0]["restore_needs"] == [need]


def test_the_verdict_is_embedding_dim_checks_as_restore_runs_it(tmp_path):
    """The oracle: embedding_dim_check itself, run on each part directory with restore's arguments (select.yml)."""
    from ansible_collections.mem0ops.stack.plugins.modules import embedding_dim_check  # pylint: disable=import-outside-toplevel

    cases = {stamp(0): {"graph_dims": {768: 70}}, stamp(1): {"graph_dims": {768: 52, 1536: 18}},
             stamp(2): {"dims": 1536, "graph_dims": {1536: 70}}}
    for ts, kwargs in cases.items():
        result = backup(tmp_path, "manual", ts, set_kwargs=kwargs)
        refused = []
        for part in ("postgres", "neo4j"):
            args = {"manifest": str(tmp_path / "manual" / ts / part), "embedder_provider": "ollama",
                    "embedder_model": "nomic-embed-text", "embedder_dims": 768, "report_only": True}
            with set_module_args(args):
                with pytest.raises(AnsibleExitJson) as exc:
                    embedding_dim_check.main()
            if exc.value.result["mismatches"]:
                refused.append(part)
        assert [need["parts"] for need in result["restore_needs"]] == ([refused] if refused else [])
    assert refused == ["postgres", "neo4j"]


def test_a_1536_dump_under_a_768_model_names_both_parts_and_check_mode_plans_it(tmp_path):
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"dims": 1536, "graph_dims": {1536: 70}},
                    embedding_provider="ollama")
    assert result["status"] == "valid"
    [need] = result["restore_needs"]
    assert need["parts"] == ["postgres", "neo4j"]
    assert need["why"].startswith("the set holds 1536-dim embeddings (postgres 1536, neo4j 1536), but the stack is "
                                  "configured with nomic-embed-text (768 dims)")
    assert any("re-embed the memories with nomic-embed-text (768)" in m for m in need["mismatches"])
    planned = {"postgres": {"counts": {"memories": {"namespaces": SEEDED}}, "estimate": {"files": {"custom": 1000}},
                            "vector_tables": [{"table": "memories", "declared_dims": 1536}]}}
    plan = ok({"state": "present", "backup_root": str(tmp_path), "tier": "daily", "timestamp": stamp(1),
               "planned": planned, "namespace_prefix": PREFIX, "embedding_model": "nomic-embed-text",
               "embedding_dims": 768}, check=True)
    assert plan["status"] == "planned" and plan["restore_needs"][0]["parts"] == ["postgres"]
    assert plan["summary"][-1].startswith("  restore will need -e restore_force_dims=true: the set holds 1536-dim")
    assert not (tmp_path / "daily" / stamp(1)).exists()


def test_a_shortened_openai_model_is_not_a_mismatch(tmp_path):
    """text-embedding-3-small asked for 512 dims through openai returns 512: restore accepts a 512-dim set."""
    result = backup(tmp_path, "daily", stamp(0), set_kwargs={"dims": 512, "graph_dims": {512: 70}},
                    embedding_provider="openai", embedding_model="text-embedding-3-small", embedding_dims=512)
    assert result["status"] == "valid" and result["restore_needs"] == []


# --- rotation -----------------------------------------------------------------------------------------------

def test_rotation_keeps_per_tier_counts_of_valid_sets(tmp_path):
    for hour in range(30):
        backup(tmp_path, "hourly", stamp(0, hour))
    for day in range(9):
        backup(tmp_path, "daily", stamp(day, 23))
    result = ok({"state": "rotated", "backup_root": str(tmp_path)})
    assert names(tmp_path, "hourly") == [stamp(0, hour) for hour in range(6, 30)]
    assert names(tmp_path, "daily") == [stamp(day, 23) for day in range(2, 9)]
    assert len(result["deleted"]) == 8 and result["changed"]
    assert not ok({"state": "rotated", "backup_root": str(tmp_path)})["changed"]


def test_rotation_never_deletes_the_last_good_set(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    backup(tmp_path, "daily", stamp(1), set_kwargs={"namespaces": {}})
    ok({"state": "rotated", "backup_root": str(tmp_path), "keep": {"daily": 0}, "keep_quarantined": 0})
    assert names(tmp_path, "daily") == [stamp(0), stamp(1)]


def test_rotation_check_mode_lists_and_diff_shows_before_and_after(tmp_path):
    for day in range(3):
        backup(tmp_path, "daily", stamp(day))
    result = ok({"state": "rotated", "backup_root": str(tmp_path), "keep": {"daily": 1}}, check=True, diff=True)
    assert [e["timestamp"] for e in result["would_delete"]] == [stamp(0), stamp(1)]
    assert result["deleted"] == [] and result["changed"]
    assert names(tmp_path, "daily") == [stamp(day) for day in range(3)]
    assert result["diff"]["before"].count("\n") == 3 and result["diff"]["after"] == "daily/%s valid\n" % stamp(2)
    assert result["summary"][0].startswith("rotation of %s: would delete 2" % tmp_path)


def test_rotation_prunes_quarantined_sets_by_age_but_never_the_newest(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    for day in (1, 2, 3):
        backup(tmp_path, "daily", stamp(day), set_kwargs={"namespaces": {}})
    ok({"state": "rotated", "backup_root": str(tmp_path), "keep_quarantined_days": 1})
    assert names(tmp_path, "daily") == [stamp(0), stamp(3)]


def test_rotation_leaves_sets_it_cannot_read_and_removes_stale_partials(tmp_path):
    legacy = tmp_path / "daily" / "20260103_133102"
    legacy.mkdir(parents=True)
    (legacy / "mem0_20260103_133102.sql.gz").write_bytes(b"\x1f\x8b")
    stale = partial_set(tmp_path, "daily", stamp(5))
    fresh = partial_set(tmp_path, "daily", stamp(6))
    old = time.time() - 30 * 3600
    for path in [stale] + list(stale.rglob("*")):
        os.utime(path, (old, old))
    (tmp_path / "daily" / "notes.txt").write_text("not a set")
    result = ok({"state": "rotated", "backup_root": str(tmp_path), "keep": {"daily": 0}})
    assert names(tmp_path, "daily") == [fresh.name, "20260103_133102", "notes.txt"]
    assert [e["status"] for e in result["would_delete"]] == ["partial"]
    assert any(k["path"] == str(legacy) and "never deleted" in k["reason"] for k in result["kept"])


def test_rotation_rejects_an_unknown_tier(tmp_path):
    assert "unknown tier 'yearly'" in fails({"state": "rotated", "backup_root": str(tmp_path), "keep": {"yearly": 1}})["msg"]


# --- info and copied ----------------------------------------------------------------------------------------

def test_info_lists_sets_and_verifies_checksums(tmp_path):
    backup(tmp_path, "daily", stamp(0))
    backup(tmp_path, "daily", stamp(1), set_kwargs={"namespaces": {}})
    partial_set(tmp_path, "hourly", stamp(2))
    history = tmp_path / "daily" / stamp(0) / "history" / "history.db"
    history.write_bytes(history.read_bytes() + b"x")
    result = ok({"state": "info", "backup_root": str(tmp_path), "verify": True})
    assert [(s["timestamp"], s["status"], s["memories"]) for s in result["sets"]] == [
        (stamp(1), "quarantined", 0), (stamp(0), "valid", 1968)]
    assert result["sets"][1]["verified"] is False and "history/history.db" in result["sets"][1]["verify_problems"][0]
    assert result["latest_good"]["postgres_manifest"] == str(tmp_path / "daily" / stamp(0) / "postgres" / "manifest.json")
    assert [p["timestamp"] for p in result["partials"]] == [stamp(2)]
    assert not result["changed"]


def test_info_on_an_empty_root(tmp_path):
    result = ok({"state": "info", "backup_root": str(tmp_path / "none")})
    assert result["sets"] == [] and result["latest_good"] is None


def test_copied_copies_a_valid_set_and_verifies_it(tmp_path):
    root, nas = tmp_path / "local", tmp_path / "nas"
    result = backup(root, "daily", stamp(0))
    planned = ok({"state": "copied", "backup_root": str(root), "path": result["path"], "copy_to": str(nas)}, check=True)
    assert planned["changed"] and not nas.exists()
    copy = ok({"state": "copied", "backup_root": str(root), "path": result["path"], "copy_to": str(nas)})
    assert copy["changed"] and copy["verified"] and copy["path"] == str(nas / "daily" / stamp(0))
    assert os.listdir(nas / "daily") == [stamp(0)]
    again = ok({"state": "copied", "backup_root": str(root), "path": result["path"], "copy_to": str(nas)})
    assert not again["changed"] and again["verified"]


def test_copied_refuses_a_quarantined_set(tmp_path):
    result = backup(tmp_path / "local", "daily", stamp(0), set_kwargs={"namespaces": {}})
    failure = fails({"state": "copied", "backup_root": str(tmp_path / "local"), "path": result["path"],
                     "copy_to": str(tmp_path / "nas")})
    assert "only valid sets are copied" in failure["msg"]


def test_copied_refuses_a_damaged_copy(tmp_path):
    root, nas = tmp_path / "local", tmp_path / "nas"
    result = backup(root, "daily", stamp(0))
    ok({"state": "copied", "backup_root": str(root), "path": result["path"], "copy_to": str(nas)})
    (nas / "daily" / stamp(0) / "history" / "history.db").write_bytes(b"damaged")
    failure = fails({"state": "copied", "backup_root": str(root), "path": result["path"], "copy_to": str(nas)})
    assert "does not match the set" in failure["msg"]


# --- helpers ------------------------------------------------------------------------------------------------

def test_env_secrets_reads_secret_looking_values_only(tmp_path):
    env = tmp_path / ".env"
    env.write_text('export MEM0_API_KEY="k-1234"\nPOSTGRES_DB=mem0\nNEO4J_AUTH=neo4j/pw5678\nX_TOKEN=${TOKEN}\n#PASS=zz\n')
    assert bs.env_secrets(str(env)) == ["k-1234", "neo4j/pw5678"]
    assert bs.env_secrets(str(tmp_path / "missing")) == []


def test_rotation_plan_counts_only_valid_sets():
    now = START + timedelta(days=30)
    sets = [{"path": "/b/daily/%s" % stamp(d), "tier": "daily", "timestamp": stamp(d),
             "status": "valid" if d < 2 else "quarantined"} for d in range(10)]
    delete, kept = bs.rotation_plan(sets, [], {"daily": 1}, 3, None, 24, now)
    deleted = {e["timestamp"] for e, dummy in delete}
    assert stamp(1) not in deleted and stamp(0) in deleted  # one valid kept: the newest
    assert {e["timestamp"] for e, dummy in kept} == {stamp(1), stamp(9), stamp(8), stamp(7)}
    assert deleted == {stamp(0)} | {stamp(d) for d in range(2, 7)}
