"""mem0 REST API server for the lab, over the REAL mem0ai library (``mem0.Memory``) and pgvector.

Run: ``python -m apps.mem0_server`` (or ``uvicorn apps.mem0_server:app``). The endpoints mirror the
shape of upstream mem0's ``server/main.py`` (our own code, a subset, no dashboard or JWT users):

- ``POST   /memories``                {messages: [{role, content}], user_id?, agent_id?, run_id?, metadata?}
                                      stored with ``infer=False`` (the lab has no LLM; ``infer: true`` is a 400)
- ``GET    /memories``                ?user_id&agent_id&run_id&top_k (mem0's default top_k is 20, max 1000);
                                      without any id: every row of the collection (upstream's admin listing)
- ``GET    /memories/{id}``           404 when absent
- ``PUT    /memories/{id}``           {text?, metadata?}
- ``GET    /memories/{id}/history``
- ``DELETE /memories/{id}``           404 when absent
- ``DELETE /memories``                ?user_id&agent_id&run_id (at least one)
- ``POST   /search``                  {query, user_id?, agent_id?, run_id?, filters?, top_k? | limit?, threshold?}
- ``POST   /reset``                   drops and recreates the collection, empties history.db
- ``GET    /docs``                    FastAPI docs: the upstream health signal (served only once mem0 is ready)
- ``GET    /health``                  ours, not upstream: always 200, says whether PostgreSQL answers

Environment
- ``POSTGRES_HOST`` (127.0.0.1), ``POSTGRES_PORT`` (5432), ``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_DB``
- ``MEM0_COLLECTION`` (memories), ``EMBEDDING_MODEL`` (nomic-embed-text), ``EMBEDDING_DIMS`` (required: mem0
  never derives it and silently defaults to 1536 / 512, which is how collections drift)
- ``OLLAMA_BASE_URL`` (http://127.0.0.1:11434), ``LLM_MODEL`` (llama3.1:8b, configured but never called)
- ``HISTORY_DB_PATH`` (/app/data/history.db), ``MEM0_PORT`` (8888), ``LISTEN_HOST`` (127.0.0.1)
- ``MEM0_API_KEY``: when set, every API call needs ``Authorization: Bearer <key>`` (or ``X-API-Key``);
  /docs, /openapi.json and /health stay open. The key is never logged.
- ``MEM0_STARTUP_TIMEOUT`` (180): seconds to wait for PostgreSQL and the embedder before giving up (exit 1).
- ``MEM0_TELEMETRY=false`` is forced (set before mem0 is imported).

Start-up: the server connects first (retrying, with a log line per attempt) and only then binds
its port, so ``/docs`` answering means mem0 is usable. It also creates the collection table
(mem0 2.2.1 itself creates it lazily on the first write) and warns when the table's vector
dimension, the embedder's real output dimension and ``EMBEDDING_DIMS`` disagree (mem0 uses
``embedding_model_dims`` only when it creates the table, e.g. after ``/reset``).
"""

from __future__ import annotations

import os
import time

PROCESS_START = time.monotonic()
os.environ["MEM0_TELEMETRY"] = "false"  # read by mem0 at import time: no PostHog, no mem0migrations table
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hmac  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Callable  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any, TypeVar  # noqa: E402

import psycopg2  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request  # noqa: E402
from fastapi.responses import RedirectResponse  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402
from mem0 import Memory  # noqa: E402
from mem0.exceptions import ValidationError as Mem0ValidationError  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from apps.common import (  # noqa: E402
    ConfigError, env_int, env_optional, env_str, fail, listen_host, pg_url, setup_logging)

LOG = setup_logging("mem0_server")
MEM0_VERSION = version("mem0ai")
ALL_MEMORIES_LIMIT = 1000  # upstream's cap for listings
T = TypeVar("T")


class StartupError(RuntimeError):
    """PostgreSQL or the embedder did not become usable within MEM0_STARTUP_TIMEOUT."""


@dataclass(frozen=True)
class Settings:
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str = field(repr=False)
    pg_db: str
    collection: str
    embedding_model: str
    embedding_dims: int
    ollama_base_url: str
    llm_model: str
    history_db_path: str
    api_key: str | None = field(repr=False)
    port: int
    startup_timeout: int

    @classmethod
    def from_env(cls) -> Settings:
        dims = env_int("EMBEDDING_DIMS")
        if dims <= 0:
            raise ConfigError(f"EMBEDDING_DIMS must be positive, got {dims}")
        return cls(
            pg_host=env_str("POSTGRES_HOST", "127.0.0.1"),
            pg_port=env_int("POSTGRES_PORT", 5432),
            pg_user=env_str("POSTGRES_USER"),
            pg_password=env_str("POSTGRES_PASSWORD"),
            pg_db=env_str("POSTGRES_DB"),
            collection=env_str("MEM0_COLLECTION", "memories"),
            embedding_model=env_str("EMBEDDING_MODEL", "nomic-embed-text"),
            embedding_dims=dims,
            ollama_base_url=env_str("OLLAMA_BASE_URL", "http://127.0.0.1:11434"),
            llm_model=env_str("LLM_MODEL", "llama3.1:8b"),
            history_db_path=env_str("HISTORY_DB_PATH", "/app/data/history.db"),
            api_key=env_optional("MEM0_API_KEY"),
            port=env_int("MEM0_PORT", 8888),
            startup_timeout=env_int("MEM0_STARTUP_TIMEOUT", 180),
        )

    def mem0_config(self) -> dict[str, Any]:
        """The config handed to ``Memory.from_config`` (contains the password: never log it)."""
        return {
            "version": "v1.1",
            "vector_store": {
                "provider": "pgvector",
                "config": {
                    # A URL we encode: from host/port/user/password/dbname mem0 would build it with the password raw.
                    "connection_string": pg_url(self.pg_host, self.pg_port, self.pg_user, self.pg_password, self.pg_db),
                    "collection_name": self.collection,
                    "embedding_model_dims": self.embedding_dims,
                },
            },
            "embedder": {
                "provider": "ollama",
                "config": {
                    "model": self.embedding_model,
                    "ollama_base_url": self.ollama_base_url,
                    "embedding_dims": self.embedding_dims,
                },
            },
            "llm": {"provider": "ollama", "config": {"model": self.llm_model, "ollama_base_url": self.ollama_base_url}},
            "history_db_path": self.history_db_path,
        }

    def describe(self) -> str:
        return (
            f"postgres {self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_db} collection={self.collection} "
            f"embedder ollama {self.embedding_model} ({self.embedding_dims} dims) at {self.ollama_base_url} "
            f"history={self.history_db_path} auth={'api-key' if self.api_key else 'none'}"
        )


# ---- PostgreSQL helpers (own short connections: cheap and independent of mem0's pool) ----------
def pg_connect(settings: Settings, timeout: int = 3) -> Any:
    return psycopg2.connect(
        host=settings.pg_host,
        port=settings.pg_port,
        user=settings.pg_user,
        password=settings.pg_password,
        dbname=settings.pg_db,
        connect_timeout=timeout,
        application_name="mem0_server",
    )


def collection_dims(settings: Settings) -> int | None:
    """Declared dimension of ``<collection>.vector`` (pgvector keeps it in atttypmod); None if no table."""
    conn = pg_connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT a.atttypmod FROM pg_attribute a"
                " WHERE a.attrelid = to_regclass(quote_ident('public') || '.' || quote_ident(%s))"
                " AND a.attname = 'vector' AND NOT a.attisdropped",
                (settings.collection,),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return int(row[0]) if row and row[0] is not None and row[0] > 0 else None


# ---- start-up ----------------------------------------------------------------------------------
def prepare_history_dir(settings: Settings) -> None:
    parent = Path(settings.history_db_path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {parent} for HISTORY_DB_PATH: {exc}") from exc
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"{parent} (HISTORY_DB_PATH) is not writable by uid {os.getuid()}: "
            "chown the bind-mounted data dir to the image user (10001:10001) or run the container as its owner"
        )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def create_memory(settings: Settings) -> Memory:
    """Build mem0's Memory, retrying while PostgreSQL or the embedder are not up yet."""
    deadline = time.monotonic() + settings.startup_timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            memory = Memory.from_config(settings.mem0_config())
            memory.vector_store.col_info()  # creates the table + indexes now rather than on the first write
            break
        except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
            elapsed = time.monotonic() - PROCESS_START
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"mem0 not usable after {settings.startup_timeout}s ({attempt} attempts): {first_line(exc)}"
                ) from exc
            LOG.warning(
                "waiting for PostgreSQL %s:%d and embedder %s (attempt %d, %.1fs): %s",
                settings.pg_host, settings.pg_port, settings.ollama_base_url, attempt, elapsed, first_line(exc),
            )
            time.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
    real_dims = check_dimensions(settings, memory)
    LOG.info("mem0ai %s ready after %.2fs (%d attempt(s)); embedder returns %d dims",
             MEM0_VERSION, time.monotonic() - PROCESS_START, attempt, real_dims)
    return memory


def check_dimensions(settings: Settings, memory: Memory) -> int:
    """Warn (nothing in mem0 does) when table, embedder and EMBEDDING_DIMS disagree; return the real dims.

    mem0 uses ``embedding_model_dims`` only to CREATE the table; inserts and searches carry whatever
    the embedder returns. So a wrong EMBEDDING_DIMS is silent while the table exists and bites on
    the next new or reset collection.
    """
    table_dims = collection_dims(settings)
    real_dims = len(memory.embedding_model.embed("dimension probe", "search"))
    if table_dims is not None and table_dims != real_dims:
        LOG.warning(
            "collection %s is vector(%d) but embedder %s returns %d dims: every insert and search will fail",
            settings.collection, table_dims, settings.embedding_model, real_dims,
        )
    if real_dims != settings.embedding_dims:
        LOG.warning(
            "EMBEDDING_DIMS=%d but embedder %s returns %d dims: a new or reset collection would be "
            "vector(%d) and reject every insert",
            settings.embedding_dims, settings.embedding_model, real_dims, settings.embedding_dims,
        )
    return real_dims


# ---- FastAPI app -------------------------------------------------------------------------------
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # main() connects before binding the port; under a bare `uvicorn apps.mem0_server:app` we do it here.
    if getattr(app.state, "memory", None) is None:
        app.state.settings = Settings.from_env()
        prepare_history_dir(app.state.settings)
        app.state.memory = create_memory(app.state.settings)
    yield
    app.state.memory.close()


app = FastAPI(
    title="Mem0 REST APIs (mem0ops lab)",
    description=(
        "The lab's mem0 API server: upstream mem0's REST surface over the real mem0ai library "
        "(pgvector, Ollama-compatible embedder, no LLM: memories are stored with infer=False). "
        "Set MEM0_API_KEY to require `Authorization: Bearer <key>`."
    ),
    version=f"{MEM0_VERSION}-lab",
    lifespan=lifespan,
    redirect_slashes=False,
)
bearer = HTTPBearer(auto_error=False, description="MEM0_API_KEY (only when the server sets one)")
mem0_calls = threading.BoundedSemaphore(4)  # mem0's psycopg2 pool holds at most 5 connections


def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    expected: str | None = request.app.state.settings.api_key
    if not expected:
        return
    supplied = credentials.credentials if credentials else request.headers.get("x-api-key")
    if not supplied or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="Invalid or missing API key",
                            headers={"WWW-Authenticate": "Bearer"})


def get_memory(request: Request) -> Memory:
    memory: Memory | None = getattr(request.app.state, "memory", None)
    if memory is None:
        raise HTTPException(status_code=503, detail="mem0 is not initialised yet")
    return memory


def call_mem0(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one mem0 call; map its validation / not-found errors to 4xx, anything else to 500."""
    try:
        with mem0_calls:
            return fn(*args, **kwargs)
    except (ValueError, Mem0ValidationError) as exc:
        detail = str(getattr(exc, "message", None) or exc)
        raise HTTPException(status_code=404 if "not found" in detail.lower() else 400, detail=detail) from exc
    except Exception as exc:
        LOG.exception("mem0 %s failed", getattr(fn, "__name__", "call"))
        raise HTTPException(status_code=500, detail=first_line(exc)[:500]) from exc


MemoryDep = Annotated[Memory, Depends(get_memory)]


def valid_memory_id(memory_id: str) -> str:
    try:
        uuid.UUID(memory_id)
    except ValueError:
        raise HTTPException(status_code=404, detail=f"Memory with id {memory_id} not found") from None
    return memory_id


def entity_filters(user_id: str | None, agent_id: str | None, run_id: str | None) -> dict[str, str]:
    return {k: v for k, v in {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}.items() if v}


class Message(BaseModel):
    role: str = Field(..., description="Role of the message (user or assistant).")
    content: str = Field(..., description="Message content.")


class MemoryCreate(BaseModel):
    messages: list[Message] = Field(..., min_length=1, description="Messages to store (one memory each).")
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    expiration_date: str | None = Field(None, description="YYYY-MM-DD")
    infer: bool | None = Field(None, description="Must be false or absent: the lab server has no LLM.")


class MemoryUpdate(BaseModel):
    text: str | None = Field(None, description="New content of the memory.")
    metadata: dict[str, Any] | None = None


class SearchRequest(BaseModel):
    query: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    filters: dict[str, Any] | None = None
    top_k: int | None = Field(None, ge=1, le=ALL_MEMORIES_LIMIT)
    limit: int | None = Field(None, ge=1, le=ALL_MEMORIES_LIMIT, description="Alias of top_k.")
    threshold: float | None = None


class MessageResponse(BaseModel):
    message: str


api = APIRouter(dependencies=[Depends(require_api_key)])
_RESERVED = {"data", "user_id", "agent_id", "run_id", "hash", "created_at", "updated_at", "text_lemmatized"}


def serialize_row(row: Any) -> dict[str, Any]:
    payload: dict[str, Any] = getattr(row, "payload", None) or {}
    return {
        "id": getattr(row, "id", None),
        "memory": payload.get("data"),
        "user_id": payload.get("user_id"),
        "agent_id": payload.get("agent_id"),
        "run_id": payload.get("run_id"),
        "hash": payload.get("hash"),
        "metadata": {k: v for k, v in payload.items() if k not in _RESERVED},
        "created_at": payload.get("created_at"),
        "updated_at": payload.get("updated_at"),
    }


@api.post("/memories", summary="Create memories")
def add_memory(body: MemoryCreate, memory: MemoryDep) -> dict[str, Any]:
    if body.infer:
        raise HTTPException(status_code=400, detail="infer=true needs an LLM; the lab server stores with infer=false")
    ids = entity_filters(body.user_id, body.agent_id, body.run_id)
    if not ids:
        raise HTTPException(status_code=400, detail="At least one identifier (user_id, agent_id, run_id) is required.")
    extra: dict[str, Any] = {"metadata": body.metadata} if body.metadata else {}
    if body.expiration_date:
        extra["expiration_date"] = body.expiration_date
    messages = [m.model_dump() for m in body.messages]
    return call_mem0(memory.add, messages, infer=False, **ids, **extra)


@api.get("/memories", summary="Get memories")
def get_all_memories(
    memory: MemoryDep,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    top_k: Annotated[int | None, Query(ge=1, le=ALL_MEMORIES_LIMIT, description="mem0's default is 20")] = None,
) -> dict[str, Any]:
    filters = entity_filters(user_id, agent_id, run_id)
    if not filters:
        rows = call_mem0(memory.vector_store.list, top_k=top_k or ALL_MEMORIES_LIMIT)
        if rows and isinstance(rows[0], list):
            rows = rows[0]
        return {"results": [serialize_row(r) for r in rows or []]}
    params: dict[str, Any] = {"filters": filters}
    if top_k is not None:
        params["top_k"] = top_k
    return call_mem0(memory.get_all, **params)


@api.get("/memories/{memory_id}", summary="Get a memory")
def get_memory_by_id(memory_id: str, memory: MemoryDep) -> dict[str, Any]:
    result = call_mem0(memory.get, valid_memory_id(memory_id))
    if result is None:
        raise HTTPException(status_code=404, detail=f"Memory with id {memory_id} not found")
    return result


@api.put("/memories/{memory_id}", summary="Update a memory")
def update_memory(memory_id: str, body: MemoryUpdate, memory: MemoryDep) -> dict[str, Any]:
    return call_mem0(memory.update, valid_memory_id(memory_id), text=body.text, metadata=body.metadata)


@api.get("/memories/{memory_id}/history", summary="Get memory history")
def memory_history(memory_id: str, memory: MemoryDep) -> list[dict[str, Any]]:
    return call_mem0(memory.history, valid_memory_id(memory_id))


@api.delete("/memories/{memory_id}", summary="Delete a memory")
def delete_memory(memory_id: str, memory: MemoryDep) -> MessageResponse:
    call_mem0(memory.delete, valid_memory_id(memory_id))
    return MessageResponse(message="Memory deleted successfully")


@api.delete("/memories", summary="Delete all memories of an identifier")
def delete_all_memories(
    memory: MemoryDep,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> MessageResponse:
    ids = entity_filters(user_id, agent_id, run_id)
    if not ids:
        raise HTTPException(status_code=400, detail="At least one identifier is required.")
    call_mem0(memory.delete_all, **ids)
    return MessageResponse(message="All relevant memories deleted")


@api.post("/search", summary="Search memories")
def search_memories(body: SearchRequest, memory: MemoryDep) -> dict[str, Any]:
    filters = dict(body.filters or {})
    filters.update(entity_filters(body.user_id, body.agent_id, body.run_id))
    params: dict[str, Any] = {"filters": filters}
    top_k = body.top_k or body.limit
    if top_k is not None:
        params["top_k"] = top_k
    if body.threshold is not None:
        params["threshold"] = body.threshold
    return call_mem0(memory.search, body.query, **params)


@api.post("/reset", summary="Reset all memories")
def reset_memory(memory: MemoryDep) -> MessageResponse:
    call_mem0(memory.reset)
    return MessageResponse(message="All memories reset")


app.include_router(api)


@app.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse(url="/docs")


@app.get("/health", summary="Lab health (not in upstream mem0)")
def health(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    db: dict[str, Any] = {"reachable": False}
    dims: int | None = None
    started = time.perf_counter()
    try:
        dims = collection_dims(settings)
        db["reachable"] = True
    except Exception as exc:  # noqa: BLE001
        db["error"] = first_line(exc)[:300]
    db["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return {
        "status": "ok" if db["reachable"] else "degraded",
        "mem0_ready": getattr(request.app.state, "memory", None) is not None,
        "mem0ai_version": MEM0_VERSION,
        "db": db,
        "collection": settings.collection,
        "collection_dims": dims,
        "embedding_model": settings.embedding_model,
        "embedding_dims": settings.embedding_dims,  # EMBEDDING_DIMS (what a new/reset table gets)
    }


def main() -> None:
    try:
        settings = Settings.from_env()
        host = listen_host()
        prepare_history_dir(settings)
    except ConfigError as exc:
        fail(LOG, str(exc))
    LOG.info("mem0 server starting: %s", settings.describe())

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # PID 1 ignores SIGTERM unless handled; uvicorn installs its own later

    signal.signal(signal.SIGTERM, stop)
    try:
        memory = create_memory(settings)
    except StartupError as exc:
        fail(LOG, str(exc), code=1)
    app.state.settings = settings
    app.state.memory = memory
    uvicorn.run(app, host=host, port=settings.port, log_level=os.environ.get("LOG_LEVEL", "info").lower(),
                server_header=False, proxy_headers=False)


if __name__ == "__main__":
    main()
