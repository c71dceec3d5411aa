"""STAND-IN for the OpenMemory UI (the real one is a Next.js app). Standard library only.

``GET /`` always answers 200 with an HTML page that names itself a stand-in and shows the stats
of the OpenMemory MCP stand-in (``GET $MCP_URL/api/v1/stats``), or "MCP unreachable" when the MCP
does not answer. ``GET /?user_id=X`` shows another user. Any other path is a 404.

Run: ``python -m apps.openmemory_ui``. Environment: ``OPENMEMORY_UI_PORT`` (3000), ``LISTEN_HOST``
(127.0.0.1), ``MCP_URL`` (http://127.0.0.1:8765).
"""

from __future__ import annotations

import html
import json
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from apps.common import env_str, serve_http, setup_logging

LOG = setup_logging("openmemory_ui")
MCP_URL = env_str("MCP_URL", "http://127.0.0.1:8765").rstrip("/")


def fetch_stats(user_id: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Stats from the MCP, or (None, reason) when it cannot be reached."""
    url = f"{MCP_URL}/api/v1/stats"
    if user_id:
        url += "?" + urllib.parse.urlencode({"user_id": user_id})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=3) as resp:
            data = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return None, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return (data, None) if isinstance(data, dict) else (None, "unexpected answer")


def render(stats: dict[str, Any] | None, error: str | None) -> str:
    esc = html.escape
    if stats is None:
        body = f'<p class="down">MCP unreachable ({esc(MCP_URL)}): {esc(error or "")}</p>'
    else:
        mem0 = stats.get("mem0_api") or {}
        total = stats.get("total_memories")
        if total is None:
            memories = f"unknown (mem0 API unreachable: {esc(str(mem0.get('error')))})"
        else:
            memories = esc(str(total))
        apps = ", ".join(esc(str(a.get("name"))) for a in stats.get("apps", [])) or "none"
        body = (
            "<table>"
            f"<tr><th>user</th><td>{esc(str(stats.get('user_id')))}</td></tr>"
            f'<tr><th>memories</th><td id="total-memories">{memories}</td></tr>'
            f"<tr><th>apps</th><td>{esc(str(stats.get('total_apps')))} ({apps})</td></tr>"
            f"<tr><th>MCP</th><td>{esc(MCP_URL)}</td></tr>"
            f"<tr><th>mem0 API</th><td>{esc(str(mem0.get('url')))}</td></tr>"
            "</table>"
        )
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>OpenMemory (lab stand-in)</title></head>"
        "<body><h1>OpenMemory UI &mdash; mem0ops lab stand-in</h1>"
        "<p>This page stands in for the OpenMemory Next.js UI; it only shows the MCP's stats.</p>"
        f"{body}</body></html>"
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "mem0ops-lab-openmemory-ui"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        LOG.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: HTTPStatus, text: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/":
            self._reply(HTTPStatus.NOT_FOUND, "<!doctype html><p>not found</p>")
            return
        user_ids = urllib.parse.parse_qs(url.query).get("user_id")
        user_id = user_ids[0] if user_ids else None
        stats, error = fetch_stats(user_id)
        self._reply(HTTPStatus.OK, render(stats, error))

    do_HEAD = do_GET


def main() -> None:
    serve_http(LOG, Handler, "OPENMEMORY_UI_PORT", 3000, "OpenMemory UI stand-in on http://%s:%d, MCP %s", (MCP_URL,),
               "OpenMemory UI stopping")


if __name__ == "__main__":
    main()
