"""mem0ops.stack.mem0_alert over real HTTP, against lab/apps/fake_telegram.py (the real Bot API cannot be reached
from here): one message per firing within the cooldown, one recovery, check mode, Telegram down, and the token
never in any output. The fake listens on a free port of 127.0.0.1 and is stopped after each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .labkit import REPO, FakeTelegram, free_port

pytestmark = pytest.mark.integration

CHAT_ID = "4242"
TOKEN_ENV = "MEM0OPS_TEST_BOT_TOKEN"


@pytest.fixture
def telegram(tmp_path):
    fake = FakeTelegram(chat_id=CHAT_ID, record=tmp_path / "telegram.jsonl")
    yield fake
    server_log = fake.stop()
    assert fake.token not in server_log


@pytest.fixture
def alert(tmp_path, telegram):
    """Run mem0_alert in a one-task playbook; the token reaches it through the environment, never argv."""
    state_dir = tmp_path / "mem0_health"
    playbook = tmp_path / "alert.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Send one alert",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{
            "name": "Alert",
            "mem0ops.stack.mem0_alert": {
                "bot_token": "{{ lookup('ansible.builtin.env', '%s') }}" % TOKEN_ENV,
                "api_url": "{{ alert_api_url }}",
                "chat_id": CHAT_ID,
                "state_dir": str(state_dir),
                "stack_name": "lab",
                "alert_type": "{{ alert_type | default('memory_count_zero') }}",
                "severity": "{{ alert_severity | default('CRITICAL') }}",
                "state": "{{ alert_state | default('firing') }}",
                "text": "{{ alert_text | default('The mem0 collection holds 0 memories.') }}",
                "cooldown": "{{ alert_cooldown | default(3600) }}",
                "fail_on_error": "{{ alert_fail_on_error | default(true) }}",
                "timeout": 5,
            },
        }],
    }]))
    outputs = []

    def run(check: bool = False, verbose: bool = False, api_url: str | None = None, **variables) -> dict:
        variables["alert_api_url"] = api_url or telegram.url
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps(variables))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                   ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **{TOKEN_ENV: telegram.token})
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra), str(playbook)]
        command += ["--check"] if check else []
        command += ["-vvv"] if verbose else []
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        outputs.append(proc.stdout + proc.stderr)
        # with -vvv the callback's JSON follows the verbose lines
        report = json.loads(proc.stdout[proc.stdout.index('{\n    "custom_stats"'):])
        return report["plays"][0]["tasks"][0]["hosts"]["localhost"]

    run.state_dir = state_dir
    yield run
    for output in outputs:
        assert telegram.token not in output
    for path in state_dir.glob("*") if state_dir.exists() else []:
        assert telegram.token not in path.read_text()
    if telegram.record.exists():
        assert telegram.token not in telegram.record.read_text()


def test_one_message_per_firing_within_the_cooldown_and_one_recovery(alert, telegram):
    first = alert(verbose=True)
    repeats = [alert(), alert()]
    recovery = alert(alert_state="resolved", alert_text="1968 memories are back.")
    second_resolve = alert(alert_state="resolved", alert_text="1968 memories are back.")

    assert first["changed"] is True and first["sent"] is True
    assert [r["sent"] for r in repeats] == [False, False] and not any(r["changed"] for r in repeats)
    assert all("cooldown" in r["reason"] for r in repeats)
    assert repeats[0]["suppressed_until"] == first["suppressed_until"]
    assert recovery["changed"] is True and recovery["sent"] is True
    assert second_resolve["changed"] is False and second_resolve["sent"] is False

    messages = telegram.messages()
    assert [m["text"].splitlines()[0] for m in messages] == ["[CRITICAL] memory_count_zero on lab",
                                                             "[RESOLVED] memory_count_zero on lab"]
    assert all(m["chat_id"] == CHAT_ID for m in messages)
    assert [m["message_id"] for m in messages] == [first["telegram_message_id"], recovery["telegram_message_id"]]
    assert first["invocation"]["module_args"]["bot_token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

    state = json.loads((alert.state_dir / "alert_memory_count_zero.last").read_text())
    assert state["firing"] is False and state["count"] == 1 and state["resolved_at"] is not None
    assert oct((alert.state_dir / "alert_memory_count_zero.last").stat().st_mode & 0o777) == "0o600"


def test_a_reminder_once_the_cooldown_has_passed(alert, telegram):
    alert()
    suppressed = alert()
    # an hour passes: move the last sending back by the cooldown
    state_file = alert.state_dir / "alert_memory_count_zero.last"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(dict(state, first_sent=state["first_sent"] - 3600,
                                          last_sent=state["last_sent"] - 3600)))
    reminder = alert()

    assert suppressed["sent"] is False and reminder["sent"] is True
    texts = [m["text"] for m in telegram.messages()]
    assert len(texts) == 2 and "alert 2." in texts[1]


def test_types_have_their_own_cooldown(alert, telegram):
    alert(alert_type="postgresql_connection", alert_text="PostgreSQL on 127.0.0.1:5433 refuses connections.")
    alert(alert_type="neo4j_endpoint", alert_severity="WARNING", alert_text="Neo4j HTTP 7475 does not answer.")
    alert(alert_type="postgresql_connection", alert_text="PostgreSQL on 127.0.0.1:5433 refuses connections.")

    assert [m["text"].splitlines()[0] for m in telegram.messages()] == [
        "[CRITICAL] postgresql_connection on lab", "[WARNING] neo4j_endpoint on lab"]


def test_check_mode_sends_nothing_and_writes_nothing(alert, telegram):
    result = alert(check=True)

    assert result["changed"] is True and result["sent"] is False
    assert result["text"].startswith("[CRITICAL] memory_count_zero on lab")
    assert telegram.messages() == []
    assert not alert.state_dir.exists()


def test_telegram_failing_is_reported_and_retried_when_fail_on_error_is_false(alert, telegram):
    telegram.fail_next(502)
    failed = alert(alert_fail_on_error=False)
    retried = alert(alert_fail_on_error=False)

    assert failed.get("failed", False) is False and failed["sent"] is False and failed["changed"] is False
    assert failed["error"] == "127.0.0.1:%s answered HTTP 502: Bad Gateway" % telegram.url.rsplit(":", 1)[1]
    assert any("could not send the memory_count_zero message" in w for w in failed["warnings"])
    assert retried["sent"] is True
    assert len(telegram.messages()) == 1


def test_telegram_unreachable_fails_without_the_token(alert, telegram):
    port = free_port()
    result = alert(verbose=True, api_url="http://127.0.0.1:%d" % port)

    assert result["failed"] is True
    assert result["msg"].startswith("could not send the memory_count_zero message to Telegram: cannot reach 127.0.0.1:%d"
                                    % port)
    assert not (alert.state_dir / "alert_memory_count_zero.last").exists()


def test_a_wrong_token_is_refused(alert, telegram):
    real_token = telegram.token
    telegram.token = real_token + "x"  # what the module will send; the fake still expects the real one
    try:
        result = alert()
    finally:
        telegram.token = real_token

    assert result["failed"] is True
    assert result["msg"].endswith("answered HTTP 401: Unauthorized")
    assert telegram.messages() == []
