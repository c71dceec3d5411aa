"""Ollama-compatible embedding service for the lab (stand-in for Ollama; standard library only).

Run: ``python -m apps.embedder``. Environment: ``EMBEDDER_PORT`` (default 11434),
``LISTEN_HOST`` (default 127.0.0.1), ``LOG_LEVEL``.

Endpoints
- ``GET /``                 "Ollama is running"
- ``GET /api/version``      {"version": ...}
- ``GET /api/tags``         the models below, Ollama's list shape (``name``/``model`` = "<name>:latest")
- ``POST /api/show``        {model} -> details + ``model_info["<family>.embedding_length"]`` (true dims)
- ``POST /api/pull``        {model} -> {"status": "success"} for a known model, 404 otherwise
- ``POST /api/embed``       {model, input: str | [str]} -> {model, embeddings: [[...]]}
- ``POST /api/embeddings``  {model, prompt} -> {embedding: [...]}           (legacy Ollama API)
- ``GET /v1/models``, ``POST /v1/embeddings`` {model, input} -> {data: [{embedding, index}], model}  (OpenAI style)

Every model answers with its TRUE dimension (an OpenAI ``dimensions`` request field is ignored).
An unknown model is a 404 with Ollama's error shape (``{"error": "..."}``) or, on /v1, OpenAI's.

Vectors are deterministic and reflect word overlap, so similarity search behaves sensibly: each
lower-cased word (``\\w+``, minus a short list of English stop words unless nothing else is left)
is hashed with SHA-256 into one of N dimensions with a +-1 sign, the counts are summed and the
vector is L2-normalised. Texts that share content words get a positive cosine.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from apps.common import serve_http, setup_logging

LOG = setup_logging("embedder")
VERSION = "0.6.3-lab"  # reported by /api/version; the lab pins the ollama client at 0.6.3
MODIFIED_AT = "2025-01-01T00:00:00Z"
WORD_RE = re.compile(r"\w+")
# Dropped before hashing so that "what is my dog called" matches on "dog", not on "my".
STOP_WORDS = frozenset(
    "a about am an and are as at be been but by can could did do does for from had has have he her "
    "him his how i if in into is it its me my no not of on or our she so than that the their them "
    "then there these they this those to was we were what when where which who whom why will with "
    "would you your".split()
)


@dataclass(frozen=True)
class Model:
    name: str
    dims: int
    family: str
    parameter_size: str
    size: int

    @property
    def tag(self) -> str:
        return f"{self.name}:latest"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": "F16",
        }


# True output dimensions. The two OpenAI models exist here only to replay the incident in which
# a 1536-dim collection met a 768-dim embedder.
MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("nomic-embed-text", 768, "nomic-bert", "137M", 274_302_450),
        Model("mxbai-embed-large", 1024, "bert", "334M", 669_615_493),
        Model("all-minilm", 384, "bert", "23M", 45_960_996),
        Model("text-embedding-3-small", 1536, "openai", "unknown", 0),
        Model("text-embedding-3-large", 3072, "openai", "unknown", 0),
    )
}


def find_model(name: object) -> Model | None:
    """Resolve "name" or "name:latest" to a known model (other tags are unknown, as in Ollama)."""
    if not isinstance(name, str):
        return None
    base, _sep, tag = name.partition(":")
    if tag not in ("", "latest"):
        return None
    return MODELS.get(base)


def embed_text(text: str, dims: int) -> list[float]:
    """Deterministic bag-of-words hash embedding, L2-normalised (never the zero vector)."""
    vector = [0.0] * dims
    all_words = WORD_RE.findall(text.lower())
    words = [w for w in all_words if w not in STOP_WORDS] or all_words or ["<empty>"]
    for word in words:
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        index = int.from_bytes(digest[:8], "big") % dims
        vector[index] += 1.0 if digest[8] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:  # every word cancelled out: fall back to one fixed unit direction
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def ollama_not_found(name: object) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, {"error": f"model {json.dumps(str(name))} not found, try pulling it first"})


def openai_error(status: HTTPStatus, message: str, code: str | None = None) -> ApiError:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return ApiError(status, {"error": error})


def as_text_list(value: object, *, allow_missing: bool) -> list[str]:
    """Normalise an ``input`` field (str or list of str) to a list of str."""
    if value is None and allow_missing:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "invalid input type: expected a string or a list of strings"})


class Handler(BaseHTTPRequestHandler):
    server_version = "mem0ops-lab-embedder"
    protocol_version = "HTTP/1.1"

    # ---- plumbing -------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        LOG.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": f"invalid JSON body: {exc}"}) from exc
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "request body must be a JSON object"})
        return data

    def _dispatch(self, routes: dict[str, Any]) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        handler = routes.get(path)
        started = time.perf_counter()
        try:
            if handler is None:
                raise ApiError(HTTPStatus.NOT_FOUND, {"error": f"{self.command} {path} not found"})
            status, payload = handler(self)
            if isinstance(payload, str):
                self._send(status, payload.encode(), "text/plain; charset=utf-8")
            else:
                self._json(status, payload)
        except ApiError as exc:
            status = exc.status
            self._json(exc.status, exc.body)
        LOG.info("%s %s -> %d (%.1f ms)", self.command, path, status, (time.perf_counter() - started) * 1000)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch(GET_ROUTES)

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(GET_ROUTES)

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch(POST_ROUTES)

    # ---- GET ------------------------------------------------------------------------------
    def root(self) -> tuple[HTTPStatus, str]:
        return HTTPStatus.OK, "Ollama is running"

    def version(self) -> tuple[HTTPStatus, dict[str, Any]]:
        return HTTPStatus.OK, {"version": VERSION}

    def tags(self) -> tuple[HTTPStatus, dict[str, Any]]:
        models = [
            {"name": m.tag, "model": m.tag, "modified_at": MODIFIED_AT, "size": m.size, "digest": m.digest,
             "details": m.details()}
            for m in MODELS.values()
        ]
        return HTTPStatus.OK, {"models": models}

    def openai_models(self) -> tuple[HTTPStatus, dict[str, Any]]:
        data = [{"id": m.name, "object": "model", "created": 1735689600, "owned_by": "library"}
                for m in MODELS.values()]
        return HTTPStatus.OK, {"object": "list", "data": data}

    # ---- POST -----------------------------------------------------------------------------
    def show(self) -> tuple[HTTPStatus, dict[str, Any]]:
        body = self._body()
        name = body.get("model", body.get("name"))
        model = find_model(name)
        if model is None:
            raise ollama_not_found(name)
        info = {"general.architecture": model.family, f"{model.family}.embedding_length": model.dims}
        return HTTPStatus.OK, {"details": model.details(), "model_info": info, "modified_at": MODIFIED_AT,
                               "capabilities": ["embedding"]}

    def pull(self) -> tuple[HTTPStatus, dict[str, Any]]:
        body = self._body()
        name = body.get("model", body.get("name"))
        if find_model(name) is None:
            raise ApiError(HTTPStatus.NOT_FOUND, {"error": "pull model manifest: file does not exist"})
        return HTTPStatus.OK, {"status": "success"}

    def embed(self) -> tuple[HTTPStatus, dict[str, Any]]:
        started = time.perf_counter_ns()
        body = self._body()
        model = find_model(body.get("model"))
        if model is None:
            raise ollama_not_found(body.get("model"))
        texts = as_text_list(body.get("input"), allow_missing=True)
        embeddings = [embed_text(t, model.dims) for t in texts]
        return HTTPStatus.OK, {
            "model": body["model"],
            "embeddings": embeddings,
            "total_duration": time.perf_counter_ns() - started,
            "load_duration": 0,
            "prompt_eval_count": sum(len(WORD_RE.findall(t)) for t in texts),
        }

    def embeddings_legacy(self) -> tuple[HTTPStatus, dict[str, Any]]:
        body = self._body()
        model = find_model(body.get("model"))
        if model is None:
            raise ollama_not_found(body.get("model"))
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "prompt must be a string"})
        return HTTPStatus.OK, {"embedding": embed_text(prompt, model.dims) if prompt else []}

    def openai_embeddings(self) -> tuple[HTTPStatus, dict[str, Any]]:
        try:
            body = self._body()
            texts = as_text_list(body.get("input"), allow_missing=False)
        except ApiError as exc:
            raise openai_error(HTTPStatus.BAD_REQUEST, str(exc.body.get("error"))) from exc
        model = find_model(body.get("model"))
        if model is None:
            raise openai_error(HTTPStatus.NOT_FOUND,
                               f"model {json.dumps(str(body.get('model')))} not found, try pulling it first",
                               "model_not_found")
        data = [{"object": "embedding", "index": i, "embedding": embed_text(t, model.dims)}
                for i, t in enumerate(texts)]
        tokens = sum(len(WORD_RE.findall(t)) for t in texts)
        return HTTPStatus.OK, {"object": "list", "data": data, "model": body["model"],
                               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


GET_ROUTES = {
    "/": Handler.root,
    "/api/version": Handler.version,
    "/api/tags": Handler.tags,
    "/v1/models": Handler.openai_models,
}
POST_ROUTES = {
    "/api/show": Handler.show,
    "/api/pull": Handler.pull,
    "/api/embed": Handler.embed,
    "/api/embeddings": Handler.embeddings_legacy,
    "/v1/embeddings": Handler.openai_embeddings,
}


def main() -> None:
    serve_http(LOG, Handler, "EMBEDDER_PORT", 11434, "embedder listening on http://%s:%d (models: %s)",
               (", ".join(f"{m.name}={m.dims}" for m in MODELS.values()),), "embedder stopping")


if __name__ == "__main__":
    main()
