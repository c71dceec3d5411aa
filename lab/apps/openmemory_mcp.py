"""STAND-IN for the OpenMemory MCP/API server (the real one is mem0's ``openmemory/api``).

It is not the MCP protocol server: it only reproduces what operating the stack touches — a
FastAPI process on its own port with ``/docs``, its own SQLite state file ``openmemory.db``, and a
stats endpoint that depends on the mem0 API — so that start order, health checks, backup and
restore of ``openmemory.db`` can be exercised in the lab.

Run: ``python -m apps.openmemory_mcp``. Environment: ``OPENMEMORY_MCP_PORT`` (8765), ``LISTEN_HOST``
(127.0.0.1), ``OPENMEMORY_DB_PATH`` (/app/openmemory/openmemory.db), ``MEM0_API_URL``
(http://127.0.0.1:8888), ``MEM0_API_KEY`` (optional, sent as ``Authorization: Bearer``),
``OPENMEMORY_USER_ID`` (default_user: the user created at start and counted by default).

State (a minimal subset of upstream's SQLAlchemy schema, created if missing):
``users(id, user_id, name, created_at)``, ``apps(id, owner_id, name, is_active, created_at)``,
``memory_access_logs(id, app_id, memory_id, access_type, accessed_at)``; every stats call is logged.

Endpoints: ``GET /docs``; ``GET /health`` (always 200: SQLite and mem0 API reachability);
``GET /api/v1/apps``; ``GET /api/v1/stats?user_id=`` -> ``{total_memories, total_apps, apps, ...}``
where ``total_memories`` is counted through the mem0 API (``GET /memories?user_id=&top_k=1000``;
``null`` when the mem0 API is unreachable).
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Query

from apps.common import ConfigError, env_int, env_optional, env_str, fail, listen_host, setup_logging

LOG = setup_logging("openmemory_mcp")
DEFAULT_APP = "openmemory"
COUNT_LIMIT = 1000  # the mem0 API's listing cap
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, name TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id), name TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, UNIQUE (owner_id, name));
CREATE TABLE IF NOT EXISTS memory_access_logs (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id), memory_id TEXT,
    access_type TEXT NOT NULL, accessed_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Settings:
    db_path: str
    mem0_api_url: str
    mem0_api_key: str | None = field(repr=False)
    default_user: str
    port: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db_path=env_str("OPENMEMORY_DB_PATH", "/app/openmemory/openmemory.db"),
            mem0_api_url=env_str("MEM0_API_URL", "http://127.0.0.1:8888").rstrip("/"),
            mem0_api_key=env_optional("MEM0_API_KEY"),
            default_user=env_str("OPENMEMORY_USER_ID", "default_user"),
            port=env_int("OPENMEMORY_MCP_PORT", 8765),
        )


def now() -> str:
    return datetime.now(UTC).isoformat()


@contextmanager
def db(settings: Settings) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(settings.db_path, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        with conn:  # commit on success, roll back on error
            yield conn
    finally:
        conn.close()


def init_db(settings: Settings) -> None:
    Path(settings.db_path).parent.mkdir(parents=True, exist_ok=True)
    with db(settings) as conn:
        conn.executescript(SCHEMA)
        ensure_user_app(conn, settings.default_user)
    LOG.info("state in %s (default user %s, app %s)", settings.db_path, settings.default_user, DEFAULT_APP)


def ensure_user_app(conn: sqlite3.Connection, user_id: str) -> str:
    """Return the id of ``user_id``'s default app, creating user and app when missing."""
    conn.execute("INSERT OR IGNORE INTO users (id, user_id, name, created_at) VALUES (?, ?, ?, ?)",
                 (str(uuid.uuid4()), user_id, user_id, now()))
    owner = conn.execute("SELECT id FROM users WHERE user_id = ?", (user_id,)).fetchone()["id"]
    conn.execute("INSERT OR IGNORE INTO apps (id, owner_id, name, created_at) VALUES (?, ?, ?, ?)",
                 (str(uuid.uuid4()), owner, DEFAULT_APP, now()))
    row = conn.execute("SELECT id FROM apps WHERE owner_id = ? AND name = ?", (owner, DEFAULT_APP)).fetchone()
    return str(row["id"])


def mem0_get(settings: Settings, path: str, params: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    url = f"{settings.mem0_api_url}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if settings.mem0_api_key:
        request.add_header("Authorization", f"Bearer {settings.mem0_api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def describe_error(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} from mem0 API"
    return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> Any:
    if getattr(app.state, "settings", None) is None:  # started by a bare `uvicorn apps.openmemory_mcp:app`
        app.state.settings = Settings.from_env()
        init_db(app.state.settings)
    yield


app = FastAPI(
    title="OpenMemory API (mem0ops lab STAND-IN)",
    description="Stand-in for the OpenMemory MCP/API server: own SQLite state and a stats endpoint over the mem0 API.",
    version="0.0.0-lab",
    lifespan=lifespan,
)


@app.get("/health", summary="Lab health (always 200)")
def health() -> dict[str, Any]:
    settings: Settings = app.state.settings
    result: dict[str, Any] = {"status": "ok", "standin": True, "db_path": settings.db_path}
    try:
        with db(settings) as conn:
            conn.execute("SELECT 1 FROM apps LIMIT 1").fetchall()
        result["db"] = {"ok": True}
    except sqlite3.Error as exc:
        result["status"], result["db"] = "degraded", {"ok": False, "error": str(exc)}
    try:
        mem0_get(settings, "/openapi.json", timeout=2.0)
        result["mem0_api"] = {"url": settings.mem0_api_url, "reachable": True}
    except Exception as exc:  # noqa: BLE001
        result["status"] = "degraded"
        result["mem0_api"] = {"url": settings.mem0_api_url, "reachable": False, "error": describe_error(exc)}
    return result


@app.get("/api/v1/apps", summary="List apps")
def list_apps() -> dict[str, Any]:
    with db(app.state.settings) as conn:
        rows = conn.execute(
            "SELECT a.id, a.name, a.is_active, a.created_at, u.user_id FROM apps a JOIN users u ON u.id = a.owner_id"
        ).fetchall()
    return {"total": len(rows), "apps": [dict(r) | {"is_active": bool(r["is_active"])} for r in rows]}


@app.get("/api/v1/stats", summary="Memory and app counts of a user")
@app.get("/api/v1/stats/", include_in_schema=False)
def stats(user_id: str | None = Query(None, description="default: OPENMEMORY_USER_ID")) -> dict[str, Any]:
    settings: Settings = app.state.settings
    user = user_id or settings.default_user
    mem0_api: dict[str, Any] = {"url": settings.mem0_api_url, "reachable": True}
    total: int | None = None
    try:
        listing = mem0_get(settings, "/memories", {"user_id": user, "top_k": COUNT_LIMIT})
        total = len(listing.get("results", [])) if isinstance(listing, dict) else len(listing or [])
    except Exception as exc:  # noqa: BLE001 - report, do not fail: the UI shows it
        mem0_api.update(reachable=False, error=describe_error(exc))
        LOG.warning("mem0 API %s unreachable: %s", settings.mem0_api_url, mem0_api["error"])
    with db(settings) as conn:
        app_id = ensure_user_app(conn, user)
        conn.execute("INSERT INTO memory_access_logs (id, app_id, memory_id, access_type, accessed_at)"
                     " VALUES (?, ?, NULL, 'stats', ?)", (str(uuid.uuid4()), app_id, now()))
        apps = conn.execute(
            "SELECT a.id, a.name, a.is_active, a.created_at FROM apps a JOIN users u ON u.id = a.owner_id"
            " WHERE u.user_id = ?", (user,)).fetchall()
    return {
        "user_id": user,
        "total_memories": total,
        "count_capped": total is not None and total >= COUNT_LIMIT,
        "total_apps": len(apps),
        "apps": [dict(r) | {"is_active": bool(r["is_active"])} for r in apps],
        "mem0_api": mem0_api,
        "standin": True,
    }


def main() -> None:
    try:
        settings = Settings.from_env()
        host = listen_host()
    except ConfigError as exc:
        fail(LOG, str(exc))
    try:
        init_db(settings)
    except (sqlite3.Error, OSError) as exc:
        fail(LOG, f"cannot open OPENMEMORY_DB_PATH={settings.db_path} as uid {os.getuid()}: {exc}")
    app.state.settings = settings
    LOG.info("OpenMemory MCP stand-in on http://%s:%d, mem0 API %s", host, settings.port, settings.mem0_api_url)
    uvicorn.run(app, host=host, port=settings.port, log_level=os.environ.get("LOG_LEVEL", "info").lower(),
                server_header=False)


if __name__ == "__main__":
    main()
