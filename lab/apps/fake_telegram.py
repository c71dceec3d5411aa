"""A local stand-in for the Telegram Bot API (standard library only).

The real Bot API (https://api.telegram.org) cannot be reached from the lab or from the test machines,
so the alerting code is tested against this server instead. It answers the way Telegram does for the
two methods the collection uses, and records every accepted message so tests can read them back.

Run: ``python lab/apps/fake_telegram.py [--port N] [--record FILE] [--listen 127.0.0.1]``

Environment (arguments win):
- ``FAKE_TELEGRAM_TOKEN``   the bot token requests must carry (required; never passed on the command line)
- ``FAKE_TELEGRAM_CHAT_ID`` when set, the only chat id accepted (others: 400 "chat not found")
- ``FAKE_TELEGRAM_PORT``    TCP port (default 0: a free port, printed on the first line of stdout)
- ``FAKE_TELEGRAM_RECORD``  JSON-lines file the accepted messages are appended to (default: memory only)
- ``LISTEN_HOST``           address to bind (default 127.0.0.1; keep it on loopback)

The first line printed on stdout is ``fake_telegram listening on http://HOST:PORT``.

Endpoints
- ``POST /bot<token>/sendMessage``  JSON or form body with ``chat_id`` and ``text`` -> ``{"ok": true, "result": Message}``
- ``GET|POST /bot<token>/getMe``    -> ``{"ok": true, "result": User}``
- a wrong token: 401 ``{"ok": false, "error_code": 401, "description": "Unauthorized"}``; an unknown method: 404
- ``GET /messages``     (test helper) ``{"ok": true, "result": [recorded message, ...]}``
- ``DELETE /messages``  (test helper) forget the recorded messages
- ``POST /control``     (test helper) ``{"fail_status": 500, "fail_count": 2}``: answer the next 2 sendMessage
  calls with that HTTP status and Telegram's error shape (``fail_count`` -1: until told otherwise, 0: stop)
- ``GET /health``       ``{"ok": true}``

The token is never logged or recorded: request paths are logged as ``/bot***/<method>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOT_PATH = re.compile(r"^/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)$")
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "mem0ops fake bot", "username": "mem0ops_fake_bot"}
ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    429: "Too Many Requests: retry after 5",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class Recorder:
    """The accepted messages, in memory and optionally appended to a JSON-lines file."""

    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.fail_status = 0
        self.fail_count = 0
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self.messages = [json.loads(line) for line in handle if line.strip()]

    def add(self, chat_id, text: str, extra: dict) -> dict:
        with self.lock:
            record = {"message_id": len(self.messages) + 1, "chat_id": chat_id, "text": text,
                      "date": int(time.time()), "received_at": time.time(), **extra}
            self.messages.append(record)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record, sort_keys=True) + "\n")
            return record

    def clear(self) -> None:
        with self.lock:
            self.messages = []
            if self.path:
                open(self.path, "w", encoding="utf-8").close()

    def take_failure(self) -> int:
        """The HTTP status the next sendMessage must fail with, or 0."""
        with self.lock:
            if not self.fail_status or self.fail_count == 0:
                return 0
            if self.fail_count > 0:
                self.fail_count -= 1
            return self.fail_status


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-telegram/1"
    protocol_version = "HTTP/1.1"

    # set on the class by serve()
    token = ""
    chat_id: str | None = None
    recorder: Recorder

    def log_message(self, format, *args):  # noqa: A002 - the signature of BaseHTTPRequestHandler
        sys.stderr.write("fake_telegram: %s\n" % (format % args).replace(self.token, "***"))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, verb: str) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/health" and verb == "GET":
            return self._reply(200, {"ok": True})
        if path == "/messages" and verb == "GET":
            return self._reply(200, {"ok": True, "result": list(self.recorder.messages)})
        if path == "/messages" and verb == "DELETE":
            self.recorder.clear()
            return self._reply(200, {"ok": True, "result": True})
        if path == "/control" and verb == "POST":
            return self._control(body)
        match = BOT_PATH.match(path)
        if not match or verb == "DELETE":
            return self._error(404)
        if match.group("token") != self.token:
            return self._error(401)
        method = match.group("method")
        if method == "getMe":
            return self._reply(200, {"ok": True, "result": BOT_USER})
        if method == "sendMessage" and verb == "POST":
            return self._send_message(self._params(body))
        return self._error(404)

    def _send_message(self, params: dict) -> None:
        failure = self.recorder.take_failure()
        if failure:
            return self._error(failure)
        chat_id = params.get("chat_id")
        text = params.get("text")
        if chat_id in (None, ""):
            return self._error(400, "Bad Request: chat_id is empty")
        if self.chat_id is not None and str(chat_id) != self.chat_id:
            return self._error(400, "Bad Request: chat not found")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        extra = {key: params[key] for key in ("parse_mode", "disable_notification", "disable_web_page_preview")
                 if key in params}
        record = self.recorder.add(chat_id, text, extra)
        chat = {"id": int(chat_id) if re.fullmatch(r"-?\d+", str(chat_id)) else chat_id, "type": "private"}
        self._reply(200, {"ok": True, "result": {"message_id": record["message_id"], "from": BOT_USER, "chat": chat,
                                                 "date": record["date"], "text": text}})

    def _control(self, body: bytes) -> None:
        try:
            params = json.loads(body or b"{}")
            status = int(params.get("fail_status", 500))
            count = int(params.get("fail_count", 1))
        except (ValueError, TypeError, AttributeError):
            return self._error(400, "Bad Request: control expects JSON {fail_status, fail_count}")
        with self.recorder.lock:
            self.recorder.fail_status, self.recorder.fail_count = status, count
        self._reply(200, {"ok": True, "result": {"fail_status": status, "fail_count": count}})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _params(self, body: bytes) -> dict:
        params = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = {}
            if isinstance(data, dict):
                params.update(data)
        elif body:
            params.update({key: values[-1] for key, values in parse_qs(body.decode("utf-8")).items()})
        return params

    def _error(self, status: int, description: str | None = None) -> None:
        answer = {"ok": False, "error_code": status,
                  "description": description or ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)}
        if status == 429:
            answer["parameters"] = {"retry_after": 5}
        self._reply(status, answer)

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for the Telegram Bot API.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FAKE_TELEGRAM_PORT") or 0))
    parser.add_argument("--record", default=os.environ.get("FAKE_TELEGRAM_RECORD") or None)
    parser.add_argument("--listen", default=os.environ.get("LISTEN_HOST") or "127.0.0.1")
    args = parser.parse_args(argv)
    token = os.environ.get("FAKE_TELEGRAM_TOKEN", "")
    if not token:
        sys.stderr.write("fake_telegram: FAKE_TELEGRAM_TOKEN must be set (the token requests must carry)\n")
        return 2
    handler = type("BoundHandler", (Handler,), {"token": token, "chat_id": os.environ.get("FAKE_TELEGRAM_CHAT_ID"),
                                                "recorder": Recorder(args.record)})
    server = ThreadingHTTPServer((args.listen, args.port), handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print("fake_telegram listening on http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
