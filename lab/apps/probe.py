"""HTTP health probe for compose healthchecks in images without curl (standard library only).

    python -m apps.probe URL [--timeout SECONDS]

Exit status 0 when ``GET URL`` answers HTTP 200 (redirects are followed), 1 otherwise; the reason
goes to stderr. Proxies from the environment are ignored: the lab probes loopback addresses.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float) -> tuple[bool, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return status == 200, f"HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe", description="exit 0 when URL answers HTTP 200")
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    ok, reason = probe(args.url, args.timeout)
    if not ok:
        print(f"probe {args.url}: {reason}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
