"""Fixtures for tests against the lab."""

from __future__ import annotations

import pytest

from .labkit import LAB_INVENTORY, load_stack


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
