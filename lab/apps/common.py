"""Small helpers shared by the lab apps: environment parsing and logging. Standard library only."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


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


def env_int(name: str, default: int | None = None) -> int:
    """Return the environment variable ``name`` as an int."""
    raw = env_str(name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


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
