#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mem0ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mem0_alert
short_description: Send a mem0 stack alert through the Telegram Bot API, once per cooldown, and one recovery message
version_added: 0.1.0
author: mem0ops engineers (@mem0ops)
description:
  - Sends an alert of one O(alert_type) (for example C(memory_count_zero) or C(backup_failed)) to a Telegram chat
    through the Bot API C(sendMessage) method.
  - Each alert type has a cooldown. The first O(state=firing) of a type sends a message; further firings inside
    O(cooldown) seconds are suppressed; once the cooldown has passed a reminder is sent, and so on. A firing whose
    O(severity) is higher than the one last sent is sent at once.
  - When a firing type is reported O(state=resolved), exactly one recovery message is sent and the type stops
    firing. Reporting O(state=resolved) for a type that is not firing sends nothing.
  - The state of each type is kept in O(state_dir) as C(alert_<alert_type>.last), a JSON file (mode 0600) with
    C(firing), C(severity), C(first_sent), C(last_sent), C(count) and C(resolved_at) (times in seconds since the
    epoch). A file holding only a timestamp, as written by the owner's shell scripts, is read as a firing alert last
    sent at that time.
  - The cooldown only starts once Telegram has accepted a message; when delivery fails, the state is left as it
    was, so the next run tries again.
  - The bot token is part of the request path. It is never returned, logged or put in an error message.
extends_documentation_fragment:
  - mem0ops.stack.attributes
  - mem0ops.stack.attributes.check_diff_full
attributes:
  check_mode:
    details:
      - In check mode the module says what it would send (RV(text), RV(reason)) and reports changed when it would
        send, but sends nothing and writes nothing.
  diff_mode:
    details:
      - The diff shows the alert type's state record before and after.
  idempotent:
    support: partial
    details:
      - Within the cooldown a repeated firing reports no change, and so does a repeated resolve. Once the cooldown
        has passed, a firing alert sends a reminder again, by design.
options:
  api_url:
    description:
      - Base URL of the Telegram Bot API. Tests point it at a local stand-in server.
    type: str
    default: https://api.telegram.org
  bot_token:
    description:
      - Token of the bot that sends the message (from C(@BotFather)).
    type: str
    required: true
  chat_id:
    description:
      - Chat to send to, a numeric chat id or C(@channelname) for a public channel.
    type: str
    required: true
  alert_type:
    description:
      - The kind of problem; the cooldown and the recovery message are per type.
      - The owner's types are C(mem0_server_down), C(mem0_server_endpoint), C(postgresql_down),
        C(postgresql_connection), C(postgresql_db_access), C(neo4j_down), C(neo4j_endpoint), C(disk_space_low),
        C(memory_count_zero), C(memory_count_drop), C(backup_failed) and C(backup_success); any name of letters,
        digits, C(_), C(.) and C(-) (at most 64 characters) is accepted.
    type: str
    required: true
  severity:
    description:
      - Severity shown in the message. A firing of higher severity than the last one sent bypasses the cooldown.
    type: str
    choices: [INFO, WARNING, CRITICAL]
    default: WARNING
  text:
    description:
      - What happened and what to do. Required with O(state=firing).
      - With O(state=resolved), the text of the recovery message; a short default names the type.
      - Telegram limits a message to 4096 characters; longer text is cut.
    type: str
  state:
    description:
      - V(firing) reports the problem; V(resolved) reports that it has cleared.
    type: str
    choices: [firing, resolved]
    default: firing
  cooldown:
    description:
      - Seconds during which further firings of the same O(alert_type) are not sent again.
      - V(0) sends every firing.
    type: int
    default: 3600
  state_dir:
    description:
      - Directory of the per-type state files. Created (mode 0700) when missing.
    type: path
    default: /var/tmp/mem0_health
  stack_name:
    description:
      - Name of the stack (for example C(prd)), shown in every message so that alerts of several stacks sharing one
        chat can be told apart.
    type: str
  timeout:
    description:
      - Seconds to wait for the Bot API to answer.
    type: int
    default: 10
  validate_certs:
    description:
      - Verify the TLS certificate of O(api_url).
    type: bool
    default: true
  fail_on_error:
    description:
      - When V(true), a message that cannot be delivered (network error, Telegram refusing it) fails the task.
      - When V(false), the task succeeds with RV(sent=false) and RV(error) set, and a warning; a health check must
        not stop because Telegram is unreachable. The state is unchanged, so the next run retries.
      - Problems with O(state_dir) always fail.
    type: bool
    default: true
notes:
  - Runs on the managed host, where O(state_dir) lives; run it on the host whose health is checked, so that every
    check shares one cooldown per type.
  - Concurrent runs for the same type (the health check and the backup job) are serialised with a lock file in
    O(state_dir), so a firing is sent once.
  - A type that fires again after its recovery message starts a new episode and is sent at once.
seealso:
  - name: Telegram Bot API sendMessage
    description: The method this module calls.
    link: https://core.telegram.org/bots/api#sendmessage
"""

EXAMPLES = r"""
- name: Alert when the memory count is zero (from the health check)
  mem0ops.stack.mem0_alert:
    bot_token: "{{ mem0_stack.alerting.bot_token }}"
    chat_id: "{{ mem0_stack.alerting.chat_id }}"
    stack_name: "{{ mem0_stack.name }}"
    alert_type: memory_count_zero
    severity: CRITICAL
    text: >-
      The mem0 collection holds 0 memories (last good backup 20260103_133102 holds 1968).
      Do not restart containers; restore with playbooks/restore.yml.
    fail_on_error: false
  when: _count.total == 0

- name: Report the recovery once the count is back
  mem0ops.stack.mem0_alert:
    bot_token: "{{ mem0_stack.alerting.bot_token }}"
    chat_id: "{{ mem0_stack.alerting.chat_id }}"
    alert_type: memory_count_zero
    state: resolved
    text: The mem0 collection holds {{ _count.total }} memories again.
    fail_on_error: false
  when: _count.total > 0

- name: Set the Telegram connection once for every alert of a play
  module_defaults:
    group/mem0ops.stack.all:
      api_url: "{{ mem0_stack.alerting.api_url }}"
      bot_token: "{{ mem0_stack.alerting.bot_token }}"
      chat_id: "{{ mem0_stack.alerting.chat_id }}"
  block:
    - name: Alert on a failed backup
      mem0ops.stack.mem0_alert:
        alert_type: backup_failed
        severity: CRITICAL
        text: "{{ _backup.msg }}"
        cooldown: 0
"""

RETURN = r"""
sent:
  description: Whether a message was delivered. Always V(false) in check mode.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the module sent, would send, or did not send a message.
  returned: always
  type: str
  sample: "memory_count_zero is in its cooldown: last sent 2026-01-27 10:00 UTC"
text:
  description: The text sent, that would be sent in check mode, or that was suppressed. Empty when there is nothing to say.
  returned: always
  type: str
  sample: "[CRITICAL] memory_count_zero on prd\nThe mem0 collection holds 0 memories."
suppressed_until:
  description:
    - While the type is firing, the time (ISO 8601, UTC) before which no further firing message of this type is sent.
    - V(null) when the type is not firing.
  returned: always
  type: str
  sample: "2026-01-27T11:00:00+00:00"
alert:
  description:
    - The type's state record after this run (as it would be after it in check mode).
    - V(null) when the type has no state yet.
  returned: always
  type: dict
  sample: {"alert_type": "memory_count_zero", "firing": true, "severity": "CRITICAL", "first_sent": 1769508000,
           "last_sent": 1769508000, "count": 1, "resolved_at": null}
state_file:
  description: Path of the type's state file.
  returned: always
  type: str
  sample: /var/tmp/mem0_health/alert_memory_count_zero.last
telegram_message_id:
  description: Id Telegram gave the message.
  returned: when RV(sent=true)
  type: int
  sample: 4711
error:
  description: Why the message could not be delivered (without the token).
  returned: when delivery failed and O(fail_on_error=false)
  type: str
  sample: "cannot reach api.telegram.org: [Errno 111] Connection refused"
"""

import fcntl
import json
import os
import re
import socket
import time
from datetime import datetime, timezone
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.mem0ops.stack.plugins.module_utils.manifest import write_json_atomic

SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}
ALERT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TELEGRAM_TEXT_LIMIT = 4096


def _now():
    return time.time()


def _utc(epoch, iso=False):
    moment = datetime.fromtimestamp(int(epoch), timezone.utc)
    return moment.isoformat() if iso else moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds):
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    text = " ".join("%d%s" % (value, unit) for value, unit in parts if value)
    return text or "%ds" % seconds


class DeliveryError(Exception):
    """Telegram could not be reached or refused the message. The text never holds the token."""


class TelegramClient:
    """Sends one message through the Bot API; the token only ever goes into the request path."""

    def __init__(self, api_url, token, timeout, validate_certs):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.validate_certs = validate_certs
        parts = urlsplit(self.api_url)
        self.endpoint_name = "%s%s" % (parts.hostname, ":%d" % parts.port if parts.port else "")

    def scrub(self, text):
        text = to_text(text, errors="surrogate_or_strict")
        return text.replace(self.token, "********") if self.token else text

    def send_message(self, chat_id, text):
        url = "%s/bot%s/sendMessage" % (self.api_url, self.token)
        body = json.dumps({"chat_id": chat_id, "text": text, "disable_web_page_preview": True})
        try:
            response = open_url(url, data=body, method="POST", headers={"Content-Type": "application/json"},
                                timeout=self.timeout, validate_certs=self.validate_certs, follow_redirects="none")
            raw = response.read()
        except HTTPError as exc:
            raise DeliveryError(self._http_error(exc))
        except URLError as exc:
            raise DeliveryError(self.scrub("cannot reach %s: %s" % (self.endpoint_name, to_native(exc.reason))))
        except (socket.timeout, TimeoutError):
            raise DeliveryError("no answer from %s within %d s" % (self.endpoint_name, self.timeout))
        except (UrlsConnectionError, OSError, ValueError) as exc:
            raise DeliveryError(self.scrub("cannot reach %s: %s" % (self.endpoint_name, to_native(exc))))
        try:
            answer = json.loads(to_text(raw))
        except ValueError:
            raise DeliveryError("%s answered something that is not the Bot API's JSON" % self.endpoint_name)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description") if isinstance(answer, dict) else None
            raise DeliveryError(self.scrub("%s refused the message: %s" % (self.endpoint_name, description or answer)))
        result = answer.get("result") or {}
        return result.get("message_id") if isinstance(result, dict) else None

    def _http_error(self, exc):
        detail = ""
        try:
            answer = json.loads(to_text(exc.read()))
            detail = answer.get("description") or ""
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            if retry_after:
                detail += " (retry after %s s)" % retry_after
        except (ValueError, TypeError, AttributeError, OSError):  # an error page that is not JSON
            detail = to_native(exc.reason)
        return self.scrub("%s answered HTTP %s: %s" % (self.endpoint_name, exc.code, detail or "no description"))


def new_record(alert_type, firing, severity, first_sent, last_sent, count=1, resolved_at=None):
    """The content of a state file."""
    return {"alert_type": alert_type, "firing": firing, "severity": severity, "first_sent": first_sent,
            "last_sent": last_sent, "count": count, "resolved_at": resolved_at}


class AlertState:
    """The state file of one alert type, read and written under a lock."""

    def __init__(self, module, state_dir, alert_type):
        self.module = module
        self.state_dir = state_dir
        self.alert_type = alert_type
        self.path = os.path.join(state_dir, "alert_%s.last" % alert_type)
        self.lock_path = os.path.join(state_dir, ".alert_%s.lock" % alert_type)
        self._lock_fd = None

    def prepare(self):
        """Create the directory and take the type's lock (not in check mode: that writes nothing)."""
        try:
            if not os.path.isdir(self.state_dir):
                os.makedirs(self.state_dir, mode=0o700)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.module.fail_json(msg="cannot use the alert state directory %s: %s" % (self.state_dir, to_native(exc)),
                                  state_file=self.path)

    def release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self):
        try:
            with open(self.path) as handle:
                raw = handle.read().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.module.fail_json(msg="cannot read the alert state file %s: %s" % (self.path, to_native(exc)),
                                  state_file=self.path)
        if re.match(r"^\d+(\.\d+)?$", raw):
            sent = int(float(raw))
            return new_record(self.alert_type, firing=True, severity=None, first_sent=sent, last_sent=sent)
        try:
            data = json.loads(raw)
            return new_record(self.alert_type, firing=bool(data["firing"]), severity=data.get("severity"),
                              first_sent=int(data["first_sent"]), last_sent=int(data["last_sent"]),
                              count=int(data.get("count", 1)), resolved_at=data.get("resolved_at"))
        except (ValueError, KeyError, TypeError):
            self.module.warn("the alert state file %s is unreadable; treating %s as not firing"
                             % (self.path, self.alert_type))
            return None

    def save(self, record):
        try:
            write_json_atomic(self.path, record, mode=0o600)
        except OSError as exc:
            self.module.fail_json(msg="the message was sent but the alert state file %s could not be written: %s"
                                  % (self.path, to_native(exc)), state_file=self.path)


class AlertManager:
    """Decides whether to send, sends, and records; results are kept on the object."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.alert_type = self.params["alert_type"]
        self.state = AlertState(module, self.params["state_dir"], self.alert_type)
        self.client = TelegramClient(self.params["api_url"], self.params["bot_token"], self.params["timeout"],
                                     self.params["validate_certs"])
        self.results = {"changed": False, "sent": False, "reason": "", "text": "", "suppressed_until": None,
                        "state_file": self.state.path}

    def run(self):
        if not self.check_mode:
            self.state.prepare()
        try:
            self._run()
        finally:
            self.state.release()
        return self.results

    def _run(self):
        now = int(_now())
        before = self.state.load()
        if self.params["state"] == "firing":
            decision = self._decide_firing(before, now)
        else:
            decision = self._decide_resolved(before, now)
        kind, reason, after = decision
        self.results["reason"] = reason
        self.results["alert"] = after
        if kind is None:
            self.results["suppressed_until"] = self._suppressed_until(after)
            if self.params["state"] == "firing":
                self.results["text"] = self._text("reminder", before, now)
            return
        text = self._text(kind, before, now)
        self.results["text"] = text
        if self.check_mode:
            self.results["changed"] = True
            self.results["suppressed_until"] = self._suppressed_until(after)
            self._diff(before, after)
            return
        try:
            message_id = self.client.send_message(self.params["chat_id"], text)
        except DeliveryError as exc:
            self._delivery_failed(to_native(exc), before)
            return
        self.state.save(after)
        self.results.update(changed=True, sent=True, telegram_message_id=message_id,
                            suppressed_until=self._suppressed_until(after))
        self._diff(before, after)

    def _decide_firing(self, before, now):
        severity = self.params["severity"]
        cooldown = self.params["cooldown"]
        if before is None or not before["firing"]:
            after = new_record(self.alert_type, True, severity, now, now)
            return "firing", "%s started firing" % self.alert_type, after
        after = dict(before, severity=severity, last_sent=now, count=before["count"] + 1)
        previous = before.get("severity")
        if previous in SEVERITY_RANK and SEVERITY_RANK[severity] > SEVERITY_RANK[previous]:
            return "escalated", "%s rose from %s to %s" % (self.alert_type, previous, severity), after
        if now < before["last_sent"] + cooldown:
            return None, ("%s is in its cooldown: last sent %s, next reminder after %s"
                          % (self.alert_type, _utc(before["last_sent"]), _utc(before["last_sent"] + cooldown))), before
        return "reminder", "%s is still firing and its cooldown of %d s has passed" % (self.alert_type, cooldown), after

    def _decide_resolved(self, before, now):
        if before is None or not before["firing"]:
            return None, "%s is not firing: nothing to resolve" % self.alert_type, before
        after = dict(before, firing=False, last_sent=now, resolved_at=now)
        return "resolved", "%s has cleared" % self.alert_type, after

    def _suppressed_until(self, record):
        if not record or not record["firing"]:
            return None
        return _utc(record["last_sent"] + self.params["cooldown"], iso=True)

    def _text(self, kind, before, now):
        where = " on %s" % self.params["stack_name"] if self.params["stack_name"] else ""
        if kind == "resolved":
            header = "[RESOLVED] %s%s" % (self.alert_type, where)
            body = self.params["text"] or "%s has cleared." % self.alert_type
            footer = "It had been firing since %s (%s); %d alert(s) sent." % (
                _utc(before["first_sent"]), _duration(now - before["first_sent"]), before["count"])
        else:
            header = "[%s] %s%s" % (self.params["severity"], self.alert_type, where)
            body = self.params["text"]
            if kind == "firing":
                cooldown = self.params["cooldown"]
                footer = "Repeats are held back for %s." % _duration(cooldown) if cooldown else ""
            elif kind == "escalated":
                footer = "Severity raised from %s; firing since %s." % (before["severity"], _utc(before["first_sent"]))
            else:
                footer = "Still firing since %s (%s); alert %d." % (
                    _utc(before["first_sent"]), _duration(now - before["first_sent"]), before["count"] + 1)
        text = "\n".join(part for part in (header, body, footer) if part)
        return text if len(text) <= TELEGRAM_TEXT_LIMIT else text[:TELEGRAM_TEXT_LIMIT - 1] + "\u2026"

    def _delivery_failed(self, error, before):
        msg = "could not send the %s message to Telegram: %s" % (self.alert_type, error)
        if self.params["fail_on_error"]:
            self.module.fail_json(msg=msg, sent=False, alert_type=self.alert_type, state_file=self.state.path)
        self.module.warn(msg + "; the state is unchanged, the next run retries")
        self.results.update(changed=False, sent=False, error=error, alert=before,
                            suppressed_until=self._suppressed_until(before),
                            reason="delivery failed: %s" % error)

    def _diff(self, before, after):
        if self.module._diff:
            self.results["diff"] = {"before": before or {}, "after": after or {},
                                    "before_header": self.state.path, "after_header": self.state.path}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            api_url=dict(type="str", default="https://api.telegram.org"),
            bot_token=dict(type="str", required=True, no_log=True),
            chat_id=dict(type="str", required=True),
            alert_type=dict(type="str", required=True),
            severity=dict(type="str", default="WARNING", choices=["INFO", "WARNING", "CRITICAL"]),
            text=dict(type="str"),
            state=dict(type="str", default="firing", choices=["firing", "resolved"]),
            cooldown=dict(type="int", default=3600),
            state_dir=dict(type="path", default="/var/tmp/mem0_health"),
            stack_name=dict(type="str"),
            timeout=dict(type="int", default=10),
            validate_certs=dict(type="bool", default=True),
            fail_on_error=dict(type="bool", default=True),
        ),
        required_if=[("state", "firing", ("text",))],
        supports_check_mode=True,
    )
    params = module.params
    if not ALERT_TYPE_RE.match(params["alert_type"]):
        module.fail_json(msg="alert_type must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or "
                             "digit; got %r" % params["alert_type"])
    if not params["bot_token"].strip() or re.search(r"[\s/?#]", params["bot_token"]):
        module.fail_json(msg="bot_token is empty or holds characters a Bot API token never has")
    if params["state"] == "firing" and not (params["text"] or "").strip():
        module.fail_json(msg="text is required with state=firing: say what happened and what to do")
    if params["cooldown"] < 0 or params["timeout"] <= 0:
        module.fail_json(msg="cooldown must be 0 or more and timeout more than 0")
    if urlsplit(params["api_url"]).scheme not in ("http", "https"):
        module.fail_json(msg="api_url must be an http:// or https:// URL")

    module.exit_json(**AlertManager(module).run())


if __name__ == "__main__":
    main()
