"""Telling people, against the simulator, a real SMTP server and a real webhook receiver: each event (a spent token, failing
answers, an expiry nothing renews, a host that stops using its chain, a new consent) arrives once, with the right content;
re-runs, two controllers at once and a failing channel send nothing twice; check mode sends and writes nothing; no
message holds a secret."""

from __future__ import annotations

import copy
import json
import threading
import time
import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows import notify
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy as RefreshPolicy
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.mail import SmtpSettings
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import get_platform
from chains import CONTACT, VAULT, params, preauthenticate, stored
from receivers import Mailbox, WebhookReceiver
from simulator.timewarp import warp

DAY = 86400
SECRET = "whsec_RkFLRS13ZWJob29rLXNlY3JldC1mb3ItdGVzdHMtb25seQ=="
TEAM = "data-team@example.test"


@pytest.fixture
def box():
    with Mailbox() as mailbox:
        yield mailbox


@pytest.fixture
def hook():
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def exact(sim, tmp_path, control):
    p = params(sim, tmp_path)
    preauthenticate(p)
    return p


def target(p: dict[str, t.Any], language: str = "en") -> notify.Target:
    return notify.Target(p["connection"], get_platform(p["platform"]), p.get("country"), [TEAM], language)


def notifier(p, box, hook, check_mode=False, now=time.time, **policy) -> notify.Notifier:
    channels = notify.Channels(
        smtp=SmtpSettings(host="127.0.0.1", port=box.port, security="none", sender="preauth@example.test", attempts=1),
        webhooks=[(notify.webhook_label(hook.url, "tickets"), hook.url, SECRET)] if hook is not None else [],
        operator={"company": "Example Accountants B.V.", "contact": "support@example.test"},
    )
    return notify.Notifier(open_store(p, VAULT), channels, notify.Policy(**policy), check_mode=check_mode, now=now, sleep=lambda s: None)


def refresh(p, **policy):
    return Refresher(open_store(p, VAULT), new_client(p), RefreshPolicy(**policy), sleep=lambda s: None).run_one(resolve(p, new_client(p)))


def later(p, control, seconds):
    warp(seconds, control, open_store(p, VAULT))


def spend(p, control) -> None:
    """The stored refresh token is one the platform already rotated: the next refresh hears "Old refresh token used."."""
    later(p, control, 24 * DAY)
    old = copy.deepcopy(stored(p)["tokens"])
    assert refresh(p).status == "refreshed"
    with open_store(p, VAULT).locked(p["connection"]) as record:
        record.data["tokens"] = old
    result = refresh(p, force=True)
    assert result.reauthorization_required, result.msg


def secrets_of(p) -> list[str]:
    tokens = stored(p)["tokens"] or {}
    return [v for v in (tokens.get("refresh_token"), tokens.get("access_token"), p["client_secret"], SECRET) if v]


def test_a_spent_chain_tells_the_consenter_and_the_team_once_and_its_recovery_once(exact, control, box, hook):
    spend(exact, control)
    first = notifier(exact, box, hook).run([target(exact)])
    assert first.changed and first.result["counts"]["sent"] == 1, first.result
    (item,) = first.result["notices"]
    assert (item["event"], item["status"], item["failed"]) == ("dead", "sent", [])
    assert sorted(item["delivered"]) == sorted([CONTACT["email"], TEAM, notify.webhook_label(hook.url, "tickets")])
    (mail,) = box.to(CONTACT["email"])
    assert len(box.to(TEAM)) == 1
    body = box.body(mail)
    assert "acme-nl" in mail["Subject"] and "acme-nl" in body and "Old refresh token used." in body
    assert "ansible-playbook" not in mail["Subject"]
    (call,) = hook.received
    assert call["payload"]["type"] == "connection.dead" and call["payload"]["data"]["connection"] == "acme-nl"
    assert call["id"] == item["message_id"] and hook.rejected == []
    # A re-run, and a run of another controller, send nothing: the store remembers.
    again = notifier(exact, box, hook).run([target(exact)])
    assert (again.changed, again.result["notices"]) == (False, [])
    assert len(box.messages) == 2 and len(hook.received) == 1
    # A new consent: one "recovered", to the same people.
    preauthenticate(exact)
    back = notifier(exact, box, hook).run([target(exact)])
    assert [n["event"] for n in back.result["notices"]] == ["recovered"]
    assert len(box.to(CONTACT["email"])) == 2 and hook.types() == ["connection.dead", "connection.recovered"]
    assert notifier(exact, box, hook).run([target(exact)]).result["notices"] == []
    for text in box.texts() + [hook.dump(), json.dumps(first.result), json.dumps(back.result)]:
        for secret in secrets_of(exact):
            assert secret not in text


def test_failing_refreshes_tell_after_three_runs_and_a_working_refresh_tells_it_recovered(exact, control, box, hook):
    later(exact, control, 24 * DAY)
    for run in range(3):
        control.inject_fault("echo_before", status=400, error="invalid_request", description="FAKE temporary refusal %d" % run)
        assert refresh(exact).reason == "refused"
        told = notifier(exact, box, hook, failing_runs=3).run([target(exact)])
        if run < 2:
            # Under three runs: not failing yet; and with 6 days left, failing refreshes make it "expiring" only below the window.
            assert [n["event"] for n in told.result["notices"]] in ([], ["expiring"])
    events = [json.loads(r["body"])["type"] for r in hook.received]
    assert events == ["connection.expiring"], events  # 6 days left and the refreshes fail: expiring comes first, once
    assert stored(exact)["failures"]["count"] == 3
    assert refresh(exact).status == "refreshed"
    assert "failures" not in stored(exact)
    back = notifier(exact, box, hook).run([target(exact)])
    assert [n["event"] for n in back.result["notices"]] == ["recovered"]
    assert hook.types() == ["connection.expiring", "connection.recovered"]


def test_failing_without_expiry_in_sight(exact, control, box, hook):
    for run in range(3):
        later(exact, control, 3600)
        control.inject_fault("echo_before", status=400, error="invalid_request", description="FAKE refusal %d" % run)
        assert refresh(exact, force=True).reason == "refused"
    told = notifier(exact, box, hook).run([target(exact)])
    assert [(n["event"], n["status"]) for n in told.result["notices"]] == [("failing", "sent")]
    body = box.body(box.to(TEAM)[0])
    assert "3" in body and "FAKE refusal 2" in body


def test_check_mode_sends_and_writes_nothing_and_says_what_it_would_send(exact, control, box, hook):
    spend(exact, control)
    before = stored(exact)
    checked = notifier(exact, box, hook, check_mode=True).run([target(exact)])
    assert checked.changed and checked.result["counts"]["would send"] == 1
    (item,) = checked.result["notices"]
    assert item["status"] == "would send" and TEAM in item["to"] and "acme-nl" in item["subject"]
    assert checked.after["acme-nl"]["would_send"]["event"] == "dead" and checked.before["acme-nl"]["state"] == "ok"
    assert box.messages == [] and hook.received == [] and stored(exact) == before


def test_two_controllers_at_once_send_each_message_once(exact, control, box, hook):
    spend(exact, control)
    results: list[t.Any] = []
    runs = [threading.Thread(target=lambda: results.append(notifier(exact, box, hook).run([target(exact)]))) for _n in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    assert len(results) == 4
    assert sum(r.result["counts"]["sent"] for r in results) == 1
    assert len(box.to(TEAM)) == 1 and len(box.to(CONTACT["email"])) == 1 and len(hook.received) == 1


def test_a_failing_channel_is_reported_and_retried_alone_and_given_up_after_five_runs(exact, control, box, hook):
    spend(exact, control)
    box.refuse.add(TEAM)
    hook.answers = [503, 503, 503]  # every try of this run (send_webhook tries three times)
    first = notifier(exact, box, hook).run([target(exact)])
    (item,) = first.result["notices"]
    assert item["status"] == "partly sent" and item["delivered"] == [CONTACT["email"]]
    assert {f["to"] for f in item["failed"]} == {TEAM, notify.webhook_label(hook.url, "tickets")}
    assert any("was not delivered" in w and "the next run tries again" in w for w in first.warnings)
    # The next run: the webhook works again, the team's address still refuses; the consenter is not mailed twice.
    second = notifier(exact, box, hook).run([target(exact)])
    assert second.result["notices"][0]["delivered"] == [notify.webhook_label(hook.url, "tickets")]
    assert len(box.to(CONTACT["email"])) == 1 and len(hook.received) == 1
    statuses = [notifier(exact, box, hook).run([target(exact)]).result["notices"][0]["status"] for _n in range(3)]
    assert statuses == ["failed", "failed", "given up"]  # nothing delivered in those runs; the fifth gives up
    assert notifier(exact, box, hook).run([target(exact)]).result["notices"] == []


def test_a_claim_of_a_controller_that_died_is_taken_over_after_its_time(exact, control, box, hook):
    spend(exact, control)
    start = time.time()
    with open_store(exact, VAULT).locked("acme-nl") as record:
        record.data["notice"] = {
            "state": "dead",
            "event": "dead",
            "id": "msg_0123456789abcdef0123456789abcdef",
            "since": start,
            "claimed": {"by": "gone pid 1", "at": start},
            "sent_at": None,
            "recipients": [TEAM],
            "pending": ["mail:" + TEAM, "webhook:" + notify.webhook_label(hook.url, "tickets")],
            "delivered": [],
            "tries": 1,
        }
    assert notifier(exact, box, hook).run([target(exact)]).result["notices"] == []  # still claimed
    late = notifier(exact, box, hook, now=lambda: start + notify.CLAIM_TTL + 1).run([target(exact)])
    assert [n["status"] for n in late.result["notices"]] == ["sent"]
    assert hook.received[0]["id"] == "msg_0123456789abcdef0123456789abcdef"  # the same webhook-id as the lost attempt


def test_a_reminder_after_the_days_set_and_dutch_texts(exact, control, box, hook):
    spend(exact, control)
    start = time.time()
    notifier(exact, box, hook, remind_days=2).run([target(exact, "nl")])
    assert notifier(exact, box, hook, remind_days=2, now=lambda: start + DAY).run([target(exact, "nl")]).result["notices"] == []
    # Three controllers at once when the reminder is due: one reminder.
    results: list[t.Any] = []
    runs = [
        threading.Thread(target=lambda: results.append(notifier(exact, box, hook, remind_days=2, now=lambda: start + 2 * DAY + 60).run([target(exact, "nl")])))
        for _n in range(3)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    (again,) = [r for r in results if r.result["notices"]]
    assert [(n["event"], n["reminder"], n["status"]) for n in again.result["notices"]] == [("dead", True, "sent")]
    assert notifier(exact, box, hook, remind_days=2, now=lambda: start + 3 * DAY).run([target(exact, "nl")]).result["notices"] == []
    first, reminder = box.to(TEAM)
    assert "verbinding" in box.body(first).lower() and reminder["Subject"].startswith("Herinnering")
    assert "Wat er aan de hand is: het platform weigert de opgeslagen toegang" in box.body(first)  # the kind, in Dutch


def test_a_host_that_stops_using_its_chain_makes_it_expiring(exact, control, box, hook):
    with open_store(exact, VAULT).locked("acme-nl") as record:
        record.data["owner"] = {"kind": "host", "host": "dwh01", "since": time.time() - 20 * DAY, "generation": record.data["generation"]}
    used = time.time() - 25 * DAY
    health = [{"connection": "acme-nl", "host": "dwh01", "last_success_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(used))}]
    quiet = notifier(exact, box, hook).run([target(exact)])
    assert quiet.result["notices"] == []  # no health record: nothing is known about the host's use
    n = notifier(exact, box, hook)
    n.health = health
    told = n.run([target(exact)])
    assert [n["event"] for n in told.result["notices"]] == ["expiring"]
    assert "dwh01" in box.body(box.to(TEAM)[0])


def test_a_revoked_or_missing_chain_is_not_watched_and_a_healthy_one_costs_no_decryption(exact, box, hook, monkeypatch):
    store_reads: list[str] = []
    n = notifier(exact, box, hook)
    original = n.store.read
    monkeypatch.setattr(n.store, "read", lambda name: store_reads.append(name) or original(name))
    assert n.run([target(exact), notify.Target("never-there", None)]).result["notices"] == []
    assert store_reads == ["never-there"]  # acme-nl was answered by its verified index


def test_nobody_hears_of_a_recovery_from_bad_news_that_reached_nobody(exact, control, box, hook):
    spend(exact, control)
    box.refuse.update({TEAM, CONTACT["email"]})
    hook.answers = [503, 503, 503]
    failed = notifier(exact, box, hook).run([target(exact)])
    assert failed.result["notices"][0]["status"] == "failed" and failed.result["notices"][0]["delivered"] == []
    preauthenticate(exact)
    quiet = notifier(exact, box, hook).run([target(exact)])
    assert [(n["event"], n["status"]) for n in quiet.result["notices"]] == [(None, "quiet")]
    assert box.messages == [] and hook.received == []
    assert stored(exact)["notice"]["state"] == "ok"
    assert notifier(exact, box, hook).run([target(exact)]).result["notices"] == []


def test_an_expired_chain_is_dead_with_the_platforms_reason(exact, control, box, hook):
    later(exact, control, 31 * DAY)  # past Exact Online's 30 days of idle life
    result = refresh(exact)
    assert result.reauthorization_required, result.msg
    told = notifier(exact, box, hook).run([target(exact)])
    assert [(n["event"], n["status"]) for n in told.result["notices"]] == [("dead", "sent")]
    body = box.body(box.to(TEAM)[0])
    assert "expired" in body and hook.received[0]["payload"]["data"]["reason"] == stored(exact)["reauthorization_required"]["reason"]
    assert stored(exact)["reauthorization_required"]["kind"] == "expired" and "What happened: The stored access has expired." in body
