"""Small helpers shared by the lab apps: environment parsing, logging and the HTTP serve loop. Standard library only."""

from __future__ import annotations

import logging
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NoReturn
from urllib.parse import quote


class ConfigError(RuntimeError):
    """A required environment variable is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    """Return the environment variable ``name``; raise ConfigError when unset and no default."""
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"environment variable {name} is required")
        return default
    return value


def env_optional(name: str) -> str | None:
    """Return the environment variable ``name``, or None when it is unset or empty (an optional secret)."""
    return os.environ.get(name) or None


def env_int(name: str, default: int | None = None) -> int:
    """Return the environment variable ``name`` as an int."""
    raw = env_str(name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def pg_url(host: str, port: int, user: str, password: str, dbname: str) -> str:
    """A ``postgresql://`` URL for a library that wants one (mem0's pgvector builds ``user:password@`` raw from its
    parts, so a ``%``, ``@``, ``/``, ``#`` or ``?`` in the password breaks it, and psycopg2's "invalid dsn" error then
    prints it): user, password and database percent-encoded with nothing kept safe. It holds the password: never
    log it."""
    netloc = f"[{host}]" if ":" in host else host
    return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{netloc}:{int(port)}/"
            f"{quote(dbname, safe='')}")


def listen_host() -> str:
    """Address every lab app binds to: LISTEN_HOST, loopback by default."""
    return env_str("LISTEN_HOST", "127.0.0.1")


def setup_logging(name: str) -> logging.Logger:
    """Configure root logging once (level from LOG_LEVEL, default INFO) and return the app logger."""
    level = env_str("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The ollama client logs every HTTP request through httpx at INFO: keep that out of the lab logs.
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(name)


def fail(logger: logging.Logger, message: str, code: int = 2) -> NoReturn:
    """Log a fatal configuration error and exit (no traceback: the message says it all)."""
    logger.error(message)
    raise SystemExit(code)


def serve_http(logger: logging.Logger, handler: type[BaseHTTPRequestHandler], port_env: str, default_port: int,
               banner: str, banner_args: tuple = (), stopping: str = "stopping") -> None:
    """Serve ``handler`` on LISTEN_HOST and the port in ``port_env`` until SIGTERM or Ctrl-C.

    ``banner`` is logged with ``host, port, *banner_args`` once the socket listens; ``stopping`` when it stops.
    A configuration error is logged and exits with code 2.
    """
    try:
        host, port = listen_host(), env_int(port_env, default_port)
    except ConfigError as exc:
        fail(logger, str(exc))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # as PID 1 in a container SIGTERM is ignored unless handled

    signal.signal(signal.SIGTERM, stop)
    logger.info(banner, host, port, *banner_args)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        logger.info(stopping)
    finally:
        server.server_close()
