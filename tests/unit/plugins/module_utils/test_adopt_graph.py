# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The old script's Neo4j tar: finding its data directory whatever the prefix, refusing unsafe members, a tar without
a store or cut short, the extraction into a scratch copy, and the log line that says why a store did not start."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from ansible_collections.mem0ops.stack.plugins.module_utils import adopt_graph as ag

STORE = ("databases/neo4j/neostore", "databases/system/neostore", "transactions/neo4j/neostore.transaction.db.0",
         "dbms/auth.ini")


def member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write_tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, data)
    return str(path)


def store(prefix=""):
    return [member(prefix + "databases/store_lock", b"")] + [member(prefix + name, name.encode()) for name in STORE]


@pytest.mark.parametrize("prefix", ["", "./", "data/", "neo4j/data/", "Users/kermit/mem0-data/neo4j/"])
def test_the_data_directory_is_found_whatever_the_prefix(tmp_path, prefix):
    extra = [member("neo4j/logs/neo4j.log", b"log")] if prefix.startswith("neo4j/") else []
    facts = ag.inspect_tar(write_tar(tmp_path / "t.tar.gz", extra + store(prefix)))
    assert facts["gzip_ok"] and facts["problem"] is None and facts["unsafe"] == []
    assert facts["prefix"] == prefix.strip("./").rstrip("/") if prefix != "./" else facts["prefix"] == ""
    assert facts["databases"] == ["neo4j", "system"] and facts["members"] == len(STORE) + 1 + len(extra)
    assert "would be started in a throwaway Neo4j" in ag.prediction(facts)


def test_the_shallowest_store_wins():
    names = ["a/b/databases/x", "a/b/transactions/x", "a/databases/x", "a/transactions/x", "z/databases/neo4j"]
    assert ag.find_prefix(names) == "a"
    assert ag.find_prefix(["databases/neo4j/x"]) is None


@pytest.mark.parametrize("bad, why", [
    (member("/etc/passwd"), "has an absolute name"),
    (member("data/../../evil"), "leaves the tree (..)"),
    (member("data/link", kind=tarfile.SYMTYPE, link="../../../etc"), "symbolic link out of the tree"),
    (member("data/abs", kind=tarfile.SYMTYPE, link="/etc/shadow"), "symbolic link out of the tree"),
    (member("data/hard", kind=tarfile.LNKTYPE, link="../outside"), "hard link out of the tree"),
    (member("data/dev", kind=tarfile.CHRTYPE), "is a device or FIFO"),
    (member("data/fifo", kind=tarfile.FIFOTYPE), "is a device or FIFO"),
])
def test_unsafe_members_refuse_the_tar_with_the_reason(tmp_path, bad, why):
    facts = ag.inspect_tar(write_tar(tmp_path / "t.tar.gz", store("data/") + [bad]))
    assert facts["gzip_ok"] and len(facts["unsafe"]) == 1 and why in facts["unsafe"][0]
    assert facts["problem"].startswith("t.tar.gz holds unsafe members, so it is not extracted: ")
    assert why in facts["problem"]
    with pytest.raises(ag.GraphTarError, match="unsafe"):
        ag.extract(facts["path"], "data", str(tmp_path / "scratch"))


def test_links_inside_the_tree_are_safe():
    inside = member("data/databases/neo4j/link", kind=tarfile.SYMTYPE, link="../system/neostore")[0]
    hard = member("data/databases/neo4j/hard", kind=tarfile.LNKTYPE, link="data/databases/neo4j/neostore")[0]
    assert ag.unsafe_reason(inside) is None and ag.unsafe_reason(hard) is None


def test_a_tar_without_a_store_says_so(tmp_path):
    # the old fixture's fake tar: a store file without transactions/
    facts = ag.inspect_tar(write_tar(tmp_path / "t.tar.gz", [member("data/databases/neo4j/neostore")]))
    assert facts["gzip_ok"] and facts["prefix"] is None
    assert facts["problem"] == ("t.tar.gz holds no Neo4j data directory (no directory with both databases/ and "
                                "transactions/ in its 1 members)")
    assert "the graph part would be absent" in ag.prediction(facts)
    no_neo4j = ag.inspect_tar(write_tar(tmp_path / "u.tar.gz", [member("databases/system/a"), member("transactions/x")]))
    assert "no database 'neo4j'" in no_neo4j["problem"]


def test_a_cut_or_foreign_file_is_not_a_whole_tar(tmp_path):
    whole = (tmp_path / "t.tar.gz")
    write_tar(whole, store("data/") + [member("data/big", os.urandom(200000))])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:50000])
    facts = ag.inspect_tar(str(cut))
    assert not facts["gzip_ok"] and facts["problem"].startswith("cut.tar.gz is not a whole gzip'd tar (")
    assert "corrupt or was cut short" in facts["problem"]
    crc = tmp_path / "crc.tar.gz"  # whole tar, a gzip trailer that does not match: read to the end, it fails
    data = bytearray(whole.read_bytes())
    data[-8] ^= 0xFF
    crc.write_bytes(bytes(data))
    assert not ag.inspect_tar(str(crc))["gzip_ok"]
    text = tmp_path / "text.tar.gz"
    text.write_bytes(b"not gzip at all")
    assert not ag.inspect_tar(str(text))["gzip_ok"]


def test_extract_strips_the_prefix_privately_and_leaves_the_rest(tmp_path):
    members = store("neo4j/data/") + [member("neo4j/logs/neo4j.log", b"log"),
                                      member("neo4j/data/databases/neo4j/hard", kind=tarfile.LNKTYPE,
                                             link="neo4j/data/databases/neo4j/neostore")]
    path = write_tar(tmp_path / "t.tar.gz", members)
    before = open(path, "rb").read()
    dest = ag.scratch_path(str(tmp_path), "20260103_133102")
    out = ag.extract(path, "neo4j/data", dest)
    assert out == {"files": len(STORE) + 1, "bytes": sum(len(n) for n in STORE)}
    assert open(os.path.join(dest, "databases", "neo4j", "neostore"), "rb").read() == b"databases/neo4j/neostore"
    assert os.path.samefile(os.path.join(dest, "databases/neo4j/hard"), os.path.join(dest, "databases/neo4j/neostore"))
    assert not os.path.exists(os.path.join(dest, "logs")) and not os.path.exists(os.path.join(dest, "neo4j"))
    assert os.stat(os.path.join(dest, "dbms", "auth.ini")).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(dest, "dbms")).st_mode & 0o777 == 0o700
    assert open(path, "rb").read() == before
    assert ag.leftover_scratches(str(tmp_path)) == [dest]
    assert ag.remove_tree(dest) and not ag.remove_tree(dest)
    with pytest.raises(ag.GraphTarError, match="not a scratch directory"):
        ag.remove_tree(str(tmp_path))


def test_the_log_line_that_says_why():
    log = ("2026-01-03 INFO  Starting...\n"
           "2026-01-03 ERROR Failed to start Neo4j: Store recovery failed\n"
           "Caused by: java.io.IOException: bad page\n"
           "2026-01-03 INFO  Neo4j Server shutdown initiated by request\n")
    assert ag.log_line(log) == "2026-01-03 ERROR Failed to start Neo4j: Store recovery failed"
    assert ag.log_line("Caused by: x\nINFO ok") == "Caused by: x"
    assert ag.log_line("INFO all fine") is None
    reason = ag.not_started("neo4j/t.tar.gz", "the container stopped (exit code 1)", log)
    assert "\n" not in reason and reason.endswith("(log: 2026-01-03 ERROR Failed to start Neo4j: Store recovery "
                                                  "failed); the tar is kept in source/")
    assert ag.container_name("20260103_133102") == "mem0ops_adopt_neo4j_20260103_133102"
