"""The message example of docs/monitoring.md is what the shipped English text renders for its context, and the webhook
example is what the flow sends for it: the page cannot drift from the templates or the payload."""

from __future__ import annotations

import json
import os
import re

from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.notify import webhook_payload
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REASON = (
    "the platform refuses the refresh token: it was used elsewhere, revoked or expired (the token endpoint refused the request "
    "(HTTP 401 unauthorized_client: Old refresh token used.))"
)
CONTEXT = {
    "connection": "acme-nl",
    "platform": "exact_online",
    "platform_title": "Exact Online",
    "country": "nl",
    "event": "dead",
    "reason": REASON,
    "reason_kind": "refused",
    "since": "2026-12-08T06:00:00Z",
    "expires_at": None,
    "days_left": None,
    "failures": 0,
    "reminder": False,
    "invitation_url": "https://consent.example.com/i/EXAMPLE-link-token",
    "invitation_expires_at": "2026-12-15T06:00:00Z",
    "operator": {"company": "Example Accountants B.V.", "contact": "support@example.com"},
    "consenter": {"first_name": "Bea", "last_name": "Boekhouder", "email": "bea@client.example.com"},
    "commands": {
        "preauthenticate": "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl",
        "invite": "ansible-playbook preauth.oauth2.invite -e preauth_connection=acme-nl",
        "status": "ansible-playbook preauth.oauth2.status",
    },
}


def page() -> str:
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as handle:
        return handle.read()


def test_the_dead_message_on_the_page_is_the_shipped_text():
    blocks = re.findall(r"```text\n(.*?)```", page(), re.S)
    (shown,) = [b for b in blocks if b.startswith("Subject: ")]
    message = render("dead", CONTEXT, "en")
    assert shown == "Subject: %s\n\n%s" % (message.subject, message.text)


def test_the_webhook_body_on_the_page_is_what_the_flow_sends():
    (shown,) = re.findall(r"```json\n(.*?)```", page(), re.S)
    documented = json.loads(shown)
    sent = webhook_payload(dict(CONTEXT, event="dead"), documented["id"], 1796709605.0)
    assert sorted(sent) == sorted(documented) and sorted(sent["data"]) == sorted(documented["data"])
    assert sent["type"] == documented["type"] and sent["timestamp"] == documented["timestamp"]
    assert {k: v for k, v in sent["data"].items() if k != "reason"} == {k: v for k, v in documented["data"].items() if k != "reason"}
