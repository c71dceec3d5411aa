# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DockerRunner.feed: a local file streamed into a tool's stdin through the exec socket (as docker exec -i), with the
Docker API faked by a socket pair whose far end plays the tool."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading

from ansible_collections.mem0ops.stack.plugins.module_utils import postgres


class FakeApi:
    """exec_create/exec_start/exec_inspect; the far end reads `reads` bytes of stdin (None: all), writes its stderr
    as a Docker stream frame, and exits with `code`."""

    def __init__(self, reads=None, code=0, stderr=b""):
        self.reads, self.code, self.stderr = reads, code, stderr
        self.received = b""
        self.created = None
        self.done = threading.Event()

    def exec_create(self, container_id, argv, **kwargs):
        self.created = (container_id, argv, kwargs)
        return {"Id": "exec1"}

    def exec_start(self, exec_id, socket=False):  # pylint: disable=redefined-outer-name
        assert socket
        near, far = _socketpair()
        threading.Thread(target=self.tool, args=(far,), daemon=True).start()
        return near

    def tool(self, far):
        while self.reads is None or len(self.received) < self.reads:
            data = far.recv(65536)
            if not data:
                break
            self.received += data
        if self.stderr:
            far.sendall(struct.pack(">BxxxL", 2, len(self.stderr)) + self.stderr)
        far.close()
        self.done.set()

    def exec_inspect(self, exec_id):
        return {"Running": not self.done.is_set(), "ExitCode": self.code}


def _socketpair():
    return socket.socketpair()


def runner(api):
    obj = postgres.DockerRunner.__new__(postgres.DockerRunner)
    obj.api, obj.container_id, obj.workdir = api, "c0ffee", None
    obj.client = type("Client", (), {"exec_env": lambda self: {"PGPASSWORD": "pw"}})()
    return obj


def test_feed_streams_the_whole_file_and_returns_its_sha256_and_the_tools_stderr(tmp_path):
    data = bytes(range(256)) * 20000  # 5 MB: more than any socket buffer
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(data)
    api = FakeApi(stderr=b"NOTICE: done\n")
    rc, err, sha = runner(api).feed(["bash", "-c", "load", "-"], str(path), {"PGOPTIONS": "-c x=1"})
    assert (rc, err, sha) == (0, b"NOTICE: done\n", hashlib.sha256(data).hexdigest())
    assert api.received == data
    assert api.created == ("c0ffee", ["bash", "-c", "load", "-"],
                           {"stdout": True, "stderr": True, "stdin": True,
                            "environment": {"PGPASSWORD": "pw", "PGOPTIONS": "-c x=1"}})


def test_feed_returns_the_exit_code_of_a_tool_that_stops_reading(tmp_path):
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(b"x" * (4 << 20))
    api = FakeApi(reads=10, code=3, stderr=b"gzip: stdin: not in gzip format\n")
    rc, err, dummy = runner(api).feed(["bash", "-c", "load", "-"], str(path))
    assert (rc, err) == (3, b"gzip: stdin: not in gzip format\n")
