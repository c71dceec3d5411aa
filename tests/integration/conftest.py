"""Fixtures for tests against the lab, and the per-file cost of the suite."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from .labkit import LAB_INVENTORY, load_stack
from .scratch import ENV_INVENTORY, started


@pytest.fixture(scope="session")
def stack() -> dict:
    return load_stack(LAB_INVENTORY, "lab")


@pytest.fixture(scope="session")
def pg(stack):
    import psycopg2

    svc = stack["services"]["postgres"]

    def connect(dbname: str | None = None):
        return psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"],
                                password=svc["password"], dbname=dbname or svc["database"], connect_timeout=10)
    return connect


@pytest.fixture(scope="session")
def neo4j_driver(stack):
    from neo4j import GraphDatabase

    svc = stack["services"]["neo4j"]
    driver = GraphDatabase.driver(f"bolt://{svc['host']}:{svc['bolt_port']}", auth=(svc["user"], svc["password"]))
    yield driver
    driver.close()


@pytest.fixture
def throwaway_db(pg):
    """A function that creates an empty database on the lab server (with mem0's memories table, or bare); every one
    is dropped afterwards."""
    created = []

    def create(with_table: bool = True, dims: int = 768) -> str:
        name = "mem0_it_%s" % secrets.token_hex(4)
        admin = pg("postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute('CREATE DATABASE "%s"' % name)
        admin.close()
        created.append(name)
        if with_table:  # the table exactly as mem0's pgvector store creates it
            with pg(name) as conn, conn.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
                cur.execute("CREATE TABLE memories (id UUID PRIMARY KEY, vector vector(%d), payload JSONB)" % dims)
            conn.close()
        return name

    yield create
    admin = pg("postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        for name in created:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    admin.close()


_SCRATCH: dict = {}


@pytest.fixture(scope="session")
def scratch_stack():
    """The one scratch stack of the session (tests/integration/scratch.py): up on first use, removed right after the
    last test that uses it (the tests that use it run first, one after the other), or at the end of the session."""
    if os.environ.get(ENV_INVENTORY) and Path(os.environ[ENV_INVENTORY]).resolve() == LAB_INVENTORY.resolve():
        pytest.skip("%s is the shared lab: these tests stop and empty its services" % ENV_INVENTORY)
    began = time.monotonic()
    _SCRATCH["stack"] = started(Path(tempfile.mkdtemp(prefix="mem0ops-scratch-")))
    _COSTS["scratch stack up (shared)"] += time.monotonic() - began
    try:
        yield _SCRATCH["stack"]
    finally:
        _scratch_down()


def _scratch_down() -> None:
    stack = _SCRATCH.pop("stack", None)
    if stack is not None:
        began = time.monotonic()
        stack.down()
        _COSTS["scratch stack down (shared)"] += time.monotonic() - began


def _uses_scratch(item) -> bool:
    return "scratch_stack" in getattr(item, "fixturenames", ())


def pytest_itemcollected(item):
    """The tests on the scratch stack carry the marker ``scratch``: `make test` runs them (-m scratch) in a second pytest
    beside the lab's (-m "not scratch"), so the scratch stack comes up and is used while the lab tests run. The two
    stacks share no container, port or directory."""
    if _uses_scratch(item):
        item.add_marker(pytest.mark.scratch)


def pytest_collection_modifyitems(items):
    """The tests on the scratch stack first, together: its containers then cost CPU only while they are needed."""
    items.sort(key=lambda item: not _uses_scratch(item))  # stable: the files' own order otherwise


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are finalised (they may still use the stack)
def pytest_runtest_teardown(item, nextitem):
    if _uses_scratch(item) and (nextitem is None or not _uses_scratch(nextitem)):
        _scratch_down()


# --- what each file costs: written for `make test`'s stage table (MEM0OPS_STAGES names the file) -------------------

_COSTS: dict = defaultdict(float)
_FILES: dict = defaultdict(float)


def pytest_runtest_logreport(report):
    _FILES[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_sessionfinish(session):
    """Each file's seconds (the sum of its tests', setup and teardown included) and the scratch stack's own; a file
    whose tests ran in both pytest runs of `make test` has a row in each (its scratch and its lab tests)."""
    target = os.environ.get("MEM0OPS_STAGES")
    if not target or not _FILES:
        return
    run = os.environ.get("MEM0OPS_STAGES_RUN", "")
    with open(target, "a", encoding="utf-8") as handle:
        for name, seconds in sorted(_FILES.items()):
            handle.write("integration%s: %s\t%.0f\t\n" % (run, Path(name).name, seconds))
        for name, seconds in _COSTS.items():
            handle.write("integration%s, within the files: %s\t%.0f\t\n" % (run, name, seconds))
