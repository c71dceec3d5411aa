# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Serve the Prometheus text files (*.prom) of one directory at /metrics. Standard library only (Python 3.8+).

node_exporter's textfile collector does this on Linux, but it is not available everywhere the mem0 stack runs
(macOS, a host without node_exporter). mem0ops.stack.mem0_memory_count and the backup job write their metrics
into the directory atomically; this exporter merges every file on each scrape:

- HELP and TYPE lines are kept once per metric family, samples are grouped by family;
- a file that cannot be read or parsed is left out as a whole, and so is a family whose TYPE disagrees with an
  earlier file, or a sample already served (same name and labels);
- it adds ``mem0_textfile_mtime_seconds{file}`` (when each file was last written: its freshness) and
  ``mem0_textfile_scrape_error`` (1 when something was left out).

Run: ``python3 textfile_exporter.py --dir DIR [--listen 127.0.0.1] [--port 9094]`` (environment: ``MEM0_TEXTFILE_DIR``,
``MEM0_EXPORTER_LISTEN``, ``MEM0_EXPORTER_PORT``; port 0 picks a free one). The first line on stdout is
``textfile_exporter listening on http://HOST:PORT``. Endpoints: ``/metrics``, ``/health``, ``/``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(?P<name>%s)(?P<labels>\{(?:[^\"}]|\"(?:[^\"\\]|\\.)*\")*\})?\s+(?P<value>\S+)(?:\s+-?\d+)?$"
                       % NAME)
META_RE = re.compile(r"^#\s+(?P<kind>HELP|TYPE)\s+(?P<name>%s)(?:\s+(?P<rest>.*))?$" % NAME)
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
FAMILY_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")
OWN_FAMILIES = ("mem0_textfile_mtime_seconds", "mem0_textfile_scrape_error")


class ParseError(ValueError):
    """A line of a text file is not in the Prometheus text format."""


def _family_of(name: str, types: dict) -> str:
    if name in types:
        return name
    for suffix in FAMILY_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return name[: -len(suffix)]
    return name


def parse(text: str) -> "OrderedDict[str, dict]":
    """Families of one file: name -> {help, type, samples: [(series key, line)]}."""
    families: OrderedDict[str, dict] = OrderedDict()
    types: dict = {}

    def family(name: str) -> dict:
        return families.setdefault(name, {"help": None, "type": None, "samples": []})

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            meta = META_RE.match(line)
            if not meta:
                continue
            name, rest = meta.group("name"), (meta.group("rest") or "").strip()
            if meta.group("kind") == "TYPE":
                if rest not in TYPES:
                    raise ParseError("line %d: unknown metric type %r" % (number, rest))
                types[name] = rest
                family(name)["type"] = rest
            else:
                family(name)["help"] = rest
            continue
        sample = SAMPLE_RE.match(line)
        if not sample:
            raise ParseError("line %d: not a sample: %r" % (number, raw[:120]))
        value = sample.group("value")
        try:
            float(value)
        except ValueError:
            raise ParseError("line %d: %r is not a number" % (number, value))
        key = sample.group("name") + (sample.group("labels") or "")
        family(_family_of(sample.group("name"), types))["samples"].append((key, line))
    return families


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def collect(directory: str) -> str:
    """The merged exposition of every *.prom file in ``directory``."""
    merged: OrderedDict[str, dict] = OrderedDict()
    seen: set = set()
    mtimes = []
    error = 0
    try:
        names = sorted(name for name in os.listdir(directory) if name.endswith(".prom") and not name.startswith("."))
    except OSError as exc:
        sys.stderr.write("textfile_exporter: cannot list %s: %s\n" % (directory, exc))
        names, error = [], 1
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
            families = parse(text)
        except (OSError, UnicodeDecodeError, ParseError) as exc:
            sys.stderr.write("textfile_exporter: %s left out: %s\n" % (name, exc))
            error = 1
            continue
        mtimes.append((name, mtime))
        for family_name, family in families.items():
            if family_name in OWN_FAMILIES:
                error = 1
                continue
            target = merged.setdefault(family_name, {"help": None, "type": None, "samples": []})
            if family["type"] and target["type"] and family["type"] != target["type"]:
                sys.stderr.write("textfile_exporter: %s: %s is a %s here but a %s in an earlier file; left out\n"
                                 % (name, family_name, family["type"], target["type"]))
                error = 1
                continue
            target["help"] = target["help"] or family["help"]
            target["type"] = target["type"] or family["type"]
            for key, line in family["samples"]:
                if key in seen:
                    error = 1
                    continue
                seen.add(key)
                target["samples"].append(line)

    out = []
    for family_name, family in merged.items():
        if not family["samples"]:
            continue
        if family["help"]:
            out.append("# HELP %s %s" % (family_name, family["help"]))
        if family["type"]:
            out.append("# TYPE %s %s" % (family_name, family["type"]))
        out.extend(family["samples"])
    out.append("# HELP mem0_textfile_mtime_seconds When each text file was last written (seconds since the epoch).")
    out.append("# TYPE mem0_textfile_mtime_seconds gauge")
    for name, mtime in mtimes:
        out.append('mem0_textfile_mtime_seconds{file="%s"} %s' % (_label_value(name), _number(mtime)))
    out.append("# HELP mem0_textfile_scrape_error 1 when a text file, a family or a sample had to be left out.")
    out.append("# TYPE mem0_textfile_scrape_error gauge")
    out.append("mem0_textfile_scrape_error %d" % error)
    return "\n".join(out) + "\n"


def _number(value: float) -> str:
    return repr(round(value, 3)) if math.isfinite(value) else "NaN"


class Handler(BaseHTTPRequestHandler):
    server_version = "mem0ops-textfile-exporter/1"
    directory = "."

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            return self._reply(200, collect(self.directory), CONTENT_TYPE)
        if path == "/health":
            return self._reply(200, "ok\n", "text/plain; charset=utf-8")
        if path == "/":
            return self._reply(200, "<html><body><h1>mem0 textfile exporter</h1>"
                                    "<a href=\"/metrics\">/metrics</a></body></html>\n", "text/html; charset=utf-8")
        return self._reply(404, "not found\n", "text/plain; charset=utf-8")

    def log_message(self, format, *args):  # noqa: A002 - the signature of BaseHTTPRequestHandler
        if os.environ.get("MEM0_EXPORTER_ACCESS_LOG"):
            sys.stderr.write("textfile_exporter: %s\n" % (format % args))

    def _reply(self, status: int, body: str, content_type: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Serve the *.prom files of a directory at /metrics.")
    parser.add_argument("--dir", default=os.environ.get("MEM0_TEXTFILE_DIR"),
                        help="directory of the *.prom files (MEM0_TEXTFILE_DIR)")
    parser.add_argument("--listen", default=os.environ.get("MEM0_EXPORTER_LISTEN") or "127.0.0.1",
                        help="address to listen on (MEM0_EXPORTER_LISTEN, default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MEM0_EXPORTER_PORT") or 9094),
                        help="port to listen on (MEM0_EXPORTER_PORT, default 9094; 0 picks a free one)")
    args = parser.parse_args(argv)
    if not args.dir:
        parser.error("--dir (or MEM0_TEXTFILE_DIR) is required")
    handler = type("BoundHandler", (Handler,), {"directory": args.dir})
    server = ThreadingHTTPServer((args.listen, args.port), handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print("textfile_exporter listening on http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
