# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mem0_alert: the cooldown, the recovery message, check mode and the token, with the HTTP call replaced.

The real HTTP exchange is tested against the fake Bot API in tests/integration/test_alerting.py.
"""

from __future__ import annotations

import io
import json
import os
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.mem0ops.stack.plugins.modules import mem0_alert
from ansible_collections.mem0ops.stack.tests.unit.conftest import (
    AnsibleExitJson,
    AnsibleFailJson,
    set_module_args,
)

TOKEN = "123456789:AAH-unit-test-token_value"
T0 = 1769508000  # 2026-01-27 10:00 UTC, the morning the empty database was found


class FakeBotApi:
    """Stands in for open_url: records each request, answers like Telegram or raises a prepared error."""

    def __init__(self):
        self.requests = []
        self.error = None
        self.answer = None

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        self.requests.append({"url": url, "body": json.loads(data), "method": method, "kwargs": kwargs})
        if self.error is not None:
            raise self.error
        answer = self.answer or {"ok": True, "result": {"message_id": len(self.requests), "text": "..."}}
        return io.BytesIO(json.dumps(answer).encode())

    @property
    def texts(self):
        return [request["body"]["text"] for request in self.requests]


@pytest.fixture
def api(monkeypatch):
    fake = FakeBotApi()
    monkeypatch.setattr(mem0_alert, "open_url", fake)
    return fake


@pytest.fixture
def clock(monkeypatch):
    now = {"t": T0}
    monkeypatch.setattr(mem0_alert, "_now", lambda: now["t"])
    return now


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "mem0_health")


def run(state_dir, **params):
    args = {"api_url": "http://127.0.0.1:9", "bot_token": TOKEN, "chat_id": "4242", "alert_type": "memory_count_zero",
            "severity": "CRITICAL", "text": "The mem0 collection holds 0 memories.", "state_dir": state_dir}
    args.update(params)
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            mem0_alert.main()
    result = exc.value.result
    assert TOKEN not in json.dumps(result)
    return result


def read_state(state_dir, alert_type="memory_count_zero"):
    with open(os.path.join(state_dir, "alert_%s.last" % alert_type)) as handle:
        return json.load(handle)


def test_first_firing_sends_and_records(api, clock, state_dir):
    result = run(state_dir, stack_name="prd")

    assert result["changed"] is True and result["sent"] is True
    assert result["telegram_message_id"] == 1
    assert result["suppressed_until"] == "2026-01-27T11:00:00+00:00"
    assert api.texts == [result["text"]]
    assert result["text"].splitlines() == [
        "[CRITICAL] memory_count_zero on prd",
        "The mem0 collection holds 0 memories.",
        "Repeats are held back for 1h.",
    ]
    request = api.requests[0]
    assert request["url"] == "http://127.0.0.1:9/bot%s/sendMessage" % TOKEN
    assert request["method"] == "POST" and request["body"]["chat_id"] == "4242"
    assert read_state(state_dir) == {"alert_type": "memory_count_zero", "firing": True, "severity": "CRITICAL",
                                     "first_sent": T0, "last_sent": T0, "count": 1, "resolved_at": None}
    assert result["alert"] == read_state(state_dir)
    assert os.stat(result["state_file"]).st_mode & 0o777 == 0o600


def test_cooldown_suppresses_then_reminds(api, clock, state_dir):
    run(state_dir)
    clock["t"] = T0 + 3599
    suppressed = run(state_dir)
    clock["t"] = T0 + 3600
    reminder = run(state_dir)

    assert suppressed["changed"] is False and suppressed["sent"] is False
    assert "cooldown" in suppressed["reason"]
    assert suppressed["suppressed_until"] == "2026-01-27T11:00:00+00:00"
    assert suppressed["alert"]["count"] == 1
    assert reminder["changed"] is True and reminder["sent"] is True
    assert reminder["suppressed_until"] == "2026-01-27T12:00:00+00:00"
    assert "Still firing since 2026-01-27 10:00 UTC (1h); alert 2." in reminder["text"]
    assert len(api.requests) == 2
    assert read_state(state_dir)["count"] == 2 and read_state(state_dir)["first_sent"] == T0


def test_resolve_sends_one_recovery(api, clock, state_dir):
    run(state_dir)
    clock["t"] = T0 + 600
    recovery = run(state_dir, state="resolved", text="1968 memories are back.")
    again = run(state_dir, state="resolved", text="1968 memories are back.")

    assert recovery["changed"] is True and recovery["sent"] is True
    assert recovery["suppressed_until"] is None
    assert recovery["text"].splitlines() == [
        "[RESOLVED] memory_count_zero",
        "1968 memories are back.",
        "It had been firing since 2026-01-27 10:00 UTC (10m); 1 alert(s) sent.",
    ]
    assert again["changed"] is False and again["sent"] is False
    assert again["reason"] == "memory_count_zero is not firing: nothing to resolve"
    assert len(api.requests) == 2
    assert read_state(state_dir)["firing"] is False and read_state(state_dir)["resolved_at"] == T0 + 600


def test_resolve_without_firing_sends_nothing_and_writes_nothing(api, clock, state_dir):
    result = run(state_dir, state="resolved", text=None)

    assert result["changed"] is False and result["sent"] is False and result["alert"] is None
    assert api.requests == []
    assert not os.path.exists(result["state_file"])


def test_firing_again_after_recovery_is_sent_at_once(api, clock, state_dir):
    run(state_dir)
    clock["t"] = T0 + 60
    run(state_dir, state="resolved")
    clock["t"] = T0 + 120
    result = run(state_dir)

    assert result["sent"] is True
    assert result["alert"]["first_sent"] == T0 + 120 and result["alert"]["count"] == 1
    assert len(api.requests) == 3


def test_default_recovery_text(api, clock, state_dir):
    run(state_dir)
    result = run(state_dir, state="resolved", text=None)

    assert result["text"].splitlines()[1] == "memory_count_zero has cleared."


def test_higher_severity_bypasses_the_cooldown(api, clock, state_dir):
    run(state_dir, alert_type="memory_count_drop", severity="WARNING", text="dropped 60%")
    clock["t"] = T0 + 60
    lower = run(state_dir, alert_type="memory_count_drop", severity="INFO", text="dropped 60%")
    higher = run(state_dir, alert_type="memory_count_drop", severity="CRITICAL", text="dropped 100%")

    assert lower["sent"] is False
    assert higher["sent"] is True and higher["reason"] == "memory_count_drop rose from WARNING to CRITICAL"
    assert "Severity raised from WARNING" in higher["text"]
    assert read_state(state_dir, "memory_count_drop")["severity"] == "CRITICAL"


def test_cooldown_is_per_type(api, clock, state_dir):
    run(state_dir, alert_type="postgresql_connection")
    result = run(state_dir, alert_type="neo4j_endpoint")

    assert result["sent"] is True and len(api.requests) == 2


def test_cooldown_zero_sends_every_firing(api, clock, state_dir):
    first = run(state_dir, alert_type="backup_failed", cooldown=0)
    result = run(state_dir, alert_type="backup_failed", cooldown=0)

    assert result["sent"] is True and len(api.requests) == 2
    assert first["text"] == "[CRITICAL] backup_failed\nThe mem0 collection holds 0 memories."


def test_check_mode_sends_nothing_and_writes_nothing(api, clock, state_dir):
    result = run(state_dir, _ansible_check_mode=True)

    assert result["changed"] is True and result["sent"] is False
    assert result["text"].startswith("[CRITICAL] memory_count_zero")
    assert result["alert"]["firing"] is True
    assert api.requests == []
    assert not os.path.exists(state_dir)


def test_check_mode_predicts_cooldown_and_recovery(api, clock, state_dir):
    run(state_dir)
    in_cooldown = run(state_dir, _ansible_check_mode=True)
    recovery = run(state_dir, state="resolved", _ansible_check_mode=True)

    assert in_cooldown["changed"] is False
    assert recovery["changed"] is True and recovery["text"].startswith("[RESOLVED]")
    assert len(api.requests) == 1
    assert read_state(state_dir)["firing"] is True


def test_diff_shows_the_state_record(api, clock, state_dir):
    result = run(state_dir, _ansible_diff=True)

    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["firing"] is True


@pytest.mark.parametrize("error, expected", [
    (URLError(ConnectionRefusedError(111, "Connection refused")), "cannot reach 127.0.0.1:9: [Errno 111] Connection refused"),
    (URLError("http://127.0.0.1:9/bot%s/sendMessage unreachable" % TOKEN), "cannot reach 127.0.0.1:9: http://127.0.0.1:9/bot********"),
    (TimeoutError("timed out"), "no answer from 127.0.0.1:9 within 10 s"),
    (HTTPError("http://127.0.0.1:9/bot%s/sendMessage" % TOKEN, 401, "Unauthorized", {},
               io.BytesIO(b'{"ok":false,"error_code":401,"description":"Unauthorized"}')),
     "127.0.0.1:9 answered HTTP 401: Unauthorized"),
    (HTTPError("http://x", 429, "Too Many Requests", {},
               io.BytesIO(b'{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":7}}')),
     "127.0.0.1:9 answered HTTP 429: Too Many Requests (retry after 7 s)"),
    (HTTPError("http://x", 502, "Bad Gateway", {}, io.BytesIO(b"<html>bad gateway</html>")),
     "127.0.0.1:9 answered HTTP 502: Bad Gateway"),
])
def test_delivery_failure_fails_without_token_and_keeps_state(api, clock, state_dir, error, expected):
    api.error = error
    result = run(state_dir)

    assert result["failed"] is True
    assert result["msg"].startswith("could not send the memory_count_zero message to Telegram: " + expected)
    assert not os.path.exists(os.path.join(state_dir, "alert_memory_count_zero.last"))


def test_refused_answer_is_a_failure(api, clock, state_dir):
    api.answer = {"ok": False, "description": "Bad Request: chat not found"}
    result = run(state_dir)

    assert result["failed"] is True
    assert result["msg"].endswith("127.0.0.1:9 refused the message: Bad Request: chat not found")


def test_fail_on_error_false_reports_and_retries_next_run(api, clock, state_dir):
    api.error = URLError(ConnectionRefusedError(111, "Connection refused"))
    failed = run(state_dir, fail_on_error=False)
    api.error = None
    clock["t"] = T0 + 60
    retried = run(state_dir, fail_on_error=False)

    assert "failed" not in failed
    assert failed["changed"] is False and failed["sent"] is False
    assert failed["error"] == "cannot reach 127.0.0.1:9: [Errno 111] Connection refused"
    assert failed["reason"].startswith("delivery failed")
    assert retried["sent"] is True and len(api.requests) == 2


def test_legacy_timestamp_file_counts_as_firing(api, clock, state_dir):
    os.makedirs(state_dir)
    with open(os.path.join(state_dir, "alert_disk_space_low.last"), "w") as handle:
        handle.write("%d\n" % (T0 - 600))
    result = run(state_dir, alert_type="disk_space_low", severity="WARNING", text="9 GB free")

    assert result["sent"] is False and result["suppressed_until"] == "2026-01-27T10:50:00+00:00"


def test_unreadable_state_file_is_treated_as_not_firing(api, clock, state_dir):
    os.makedirs(state_dir)
    with open(os.path.join(state_dir, "alert_memory_count_zero.last"), "w") as handle:
        handle.write("{not json")
    result = run(state_dir)

    assert result["sent"] is True
    assert read_state(state_dir)["count"] == 1


@pytest.mark.parametrize("params, message", [
    ({"alert_type": "../../etc/passwd"}, "alert_type must be"),
    ({"bot_token": "abc/def"}, "bot_token is empty"),
    ({"cooldown": -1}, "cooldown must be"),
    ({"api_url": "file:///etc"}, "api_url must be"),
    ({"text": None}, "text is required with state=firing"),
    ({"text": "  "}, "text is required with state=firing"),
])
def test_invalid_parameters(api, clock, state_dir, params, message):
    result = run(state_dir, **params)

    assert result["failed"] is True and message in result["msg"]
    assert api.requests == []


def test_state_dir_that_cannot_be_created_fails(api, clock, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(str(blocker / "mem0_health"))

    assert result["failed"] is True and "cannot use the alert state directory" in result["msg"]
    assert api.requests == []


def test_long_message_is_cut_to_telegram_limit(api, clock, state_dir):
    result = run(state_dir, text="x" * 5000)

    assert len(result["text"]) == 4096 and len(api.texts[0]) == 4096
