"""Refreshing against the simulator: decisions, rotation, faults, the lost-response path."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import typing as t

import pytest
import yaml

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from simulator.flows import refresh as platform_refresh
from simulator.timewarp import shift_record, warp
from chains import file_store_only, VAULT, params, preauthenticate, stored, strict_params
from helpers import EXACT

DAY = 86400


def refresher(p: dict[str, t.Any], check_mode: bool = False, sleeps: list[float] | None = None, **policy: t.Any) -> Refresher:
    client = None if check_mode else new_client(p)
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return Refresher(open_store(p, VAULT), client, Policy(**policy), check_mode=check_mode, sleep=sleep)


def refresh(p: dict[str, t.Any], check_mode: bool = False, **policy: t.Any):
    return refresher(p, check_mode, **policy).run_one(resolve(p, None if check_mode else new_client(p)))


@pytest.fixture
def exact(sim, tmp_path, control):
    p = params(sim, tmp_path)
    preauthenticate(p)
    return p


def later(p: dict[str, t.Any], control: t.Any, seconds: float) -> None:
    warp(seconds, control, open_store(p, VAULT))


def test_nothing_to_do_calls_nobody(exact, control):
    calls = control.state()["token_calls_total"]
    result = refresh(exact)
    assert (result.status, result.reason) == ("unchanged", "not_needed")
    assert result.msg.startswith("nothing to do: access token valid until")
    assert control.state()["token_calls_total"] == calls


def test_refresh_when_the_refresh_token_gets_old_and_persist_the_rotation(exact, control):
    before = stored(exact)["tokens"]
    later(exact, control, 24 * DAY)
    result = refresh(exact)
    assert result.status == "refreshed"
    assert "the refresh token expires in 6.0 days" in result.msg and "refresh token rotated" in result.msg
    after = stored(exact)
    assert after["tokens"]["refresh_token"] != before["refresh_token"]
    assert after["tokens"]["refresh_fingerprint"] == result.after["refresh_fingerprint"]
    assert after["in_flight"] is None and after["token_calls"]["count"] == 1
    assert after["history"][-1]["event"] == "refreshed"
    chain = control.state()["chains"][0]
    assert chain["refresh_fingerprint"] == after["tokens"]["refresh_fingerprint"]
    assert refresh(exact).status == "unchanged"


def test_access_token_min_ttl(exact, control):
    later(exact, control, 590)
    assert refresh(exact).status == "unchanged"
    result = refresh(exact, access_token_min_ttl=60)
    # 10 s were left after the clock moved; the real seconds the three calls took (a loaded machine) count too.
    left = re.search(r"the access token has (\d+) s left", result.msg)
    assert result.status == "refreshed" and left and 0 < int(left.group(1)) <= 10


def test_a_forced_refresh_inside_570_seconds_is_skipped_without_a_call(exact, control):
    calls = control.state()["token_calls_total"]
    result = refresh(exact, force=True)
    assert (result.status, result.reason) == ("skipped", "too_early")
    assert "Exact Online allows a refresh only 570 s after the last access token: not before" in result.msg
    assert control.state()["token_calls_total"] == calls
    later(exact, control, 570)
    assert refresh(exact, force=True).status == "refreshed"


@file_store_only
def test_check_mode_predicts_without_calls_or_writes(exact, control):
    later(exact, control, 24 * DAY)
    path = open_store(exact, VAULT).path(exact["connection"])
    content = open(path, "rb").read()
    calls = control.state()["token_calls_total"]
    result = refresh(exact, check_mode=True)
    assert (result.status, result.reason) == ("refreshed", "would_refresh")
    assert result.msg.startswith("check mode: would refresh (the refresh token expires in")
    assert open(path, "rb").read() == content and control.state()["token_calls_total"] == calls


def test_idle_30_day_expiry_means_reauthorization(exact, control):
    later(exact, control, 31 * DAY)
    result = refresh(exact)
    assert (result.status, result.reason) == ("failed", "reauthorization_required")
    assert "the refresh token expired (the token endpoint refused the request (HTTP 400 invalid_request: The refresh token expired at" in result.msg
    assert result.msg.endswith("run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl")
    again = refresh(exact)
    assert again.reason == "reauthorization_required" and again.token_calls == 0


@file_store_only
def test_a_lost_answer_keeps_the_token_and_the_next_run_learns_it_was_spent(exact, control):
    later(exact, control, 24 * DAY)
    before = stored(exact)["tokens"]
    control.inject_fault("http_500_after")
    lost = refresh(exact)
    assert (lost.status, lost.reason) == ("failed", "lost_response")
    assert "The stored token and an in-flight marker are kept" in lost.msg
    data = stored(exact)
    assert data["tokens"] == before and data["in_flight"]["fingerprint"] == before["refresh_fingerprint"]
    later(exact, control, 600)
    spent = refresh(exact)
    assert (spent.status, spent.reason, spent.reauthorization_required) == ("failed", "reauthorization_required", True)
    # Exact answers the retry with 401 unauthorized_client "Old refresh token used.": the chain is dead, not the client.
    assert spent.msg.startswith("needs a new preauthentication: the refresh at ")
    assert (
        "lost its answer after the platform had already rotated the token, and the platform now refuses it (the token endpoint refused "
        "the request (HTTP 401 unauthorized_client: Old refresh token used.)); run ansible-playbook preauth.oauth2.preauthenticate "
        "-e preauth_connection=acme-nl"
    ) in spent.msg
    assert_needs_preauthentication(exact, control, "Old refresh token used.")


def assert_needs_preauthentication(p: dict[str, t.Any], control: t.Any, answer: str) -> None:
    """The store says since when and why; later runs call nobody (every refused call counts against Exact's error limit)."""
    data = stored(p)
    reauth = data["reauthorization_required"]
    assert data["in_flight"] is None and answer in reauth["reason"] and abs(reauth["since"] - time.time()) < 120
    assert data["last_error"]["kind"] == "invalid_grant" and answer in data["last_error"]["message"]
    assert data["history"][-1]["event"] == "reauthorization_required"
    calls = control.state()["token_requests_total"]
    again = refresh(p, force=True)
    assert (again.reason, again.token_calls, again.reauthorization_required) == ("reauthorization_required", 0, True)
    assert again.msg.startswith("needs a new preauthentication since ") and answer in again.msg
    assert control.state()["token_requests_total"] == calls


@file_store_only
def test_an_answer_lost_by_a_timeout_after_the_rotation_ends_in_a_new_preauthentication(exact, control):
    later(exact, control, 24 * DAY)
    control.inject_fault("timeout_after", seconds=2)
    slow = dict(exact, timeout=0.5)
    assert refresher(slow).run_one(resolve(slow, None)).reason == "lost_response"
    later(exact, control, 600)
    spent = refresh(exact)
    assert spent.reason == "reauthorization_required" and "(HTTP 401 unauthorized_client: Old refresh token used.)" in spent.msg
    assert_needs_preauthentication(exact, control, "Old refresh token used.")


def test_a_copied_chain_that_someone_else_refreshed_needs_a_new_preauthentication(exact, control):
    later(exact, control, 24 * DAY)
    # A second user of the same chain (a copied store, a product on a host) rotates it first.
    elsewhere = refresh_at_the_platform(exact, stored(exact)["tokens"]["refresh_token"])
    assert elsewhere.status_code == 200
    result = refresh(exact)
    assert (result.status, result.reason, result.reauthorization_required) == ("failed", "reauthorization_required", True)
    assert result.msg == (
        "needs a new preauthentication: the platform refuses the refresh token: it was used elsewhere, revoked or expired (the token "
        "endpoint refused the request (HTTP 401 unauthorized_client: Old refresh token used.)); run ansible-playbook "
        "preauth.oauth2.preauthenticate -e preauth_connection=acme-nl"
    )
    assert_needs_preauthentication(exact, control, "Old refresh token used.")


def refresh_at_the_platform(p: dict[str, t.Any], token: str) -> t.Any:
    return platform_refresh(p["base_url"] + "/api/oauth2/token", EXACT, token)


@pytest.mark.parametrize(
    "error, description",
    [("unauthorized_client", "The client is not allowed to use this grant type."), ("invalid_client", "Old refresh token used.")],
    ids=["unauthorized_client-other-text", "invalid_client"],
)
def test_a_401_with_another_body_stays_a_configuration_problem(exact, control, error, description):
    later(exact, control, 24 * DAY)
    before = stored(exact)["tokens"]
    control.inject_fault("echo_before", status=401, error=error, description=description)
    result = refresh(exact)
    assert (result.status, result.reason, result.reauthorization_required) == ("failed", "config", False)
    assert result.msg == (
        "the token endpoint refused the request (HTTP 401 %s: %s): check client_id and client_secret of the app registration; the "
        "stored chain is unchanged" % (error, description)
    )
    data = stored(exact)
    assert data["reauthorization_required"] is None and data["in_flight"] is None and data["tokens"] == before
    assert refresh(exact).status == "refreshed"


@file_store_only
def test_a_lost_request_that_never_arrived_is_retried_once_and_works(exact, control):
    later(exact, control, 24 * DAY)
    control.inject_fault("http_500_before")
    assert refresh(exact).reason == "lost_response"
    result = refresh(exact)
    assert result.status == "refreshed" and "lost its answer; trying that token once more" in result.msg


@pytest.mark.parametrize("fault", [{"kind": "html_502"}, {"kind": "timeout_after", "seconds": 2}, {"kind": "reset_before"}])
def test_other_lost_answers(exact, control, fault):
    later(exact, control, 24 * DAY)
    control.inject_fault(**fault)
    result = refresher(dict(exact, timeout=0.5)).run_one(resolve(dict(exact, timeout=0.5), None))
    assert result.reason == "lost_response" and stored(exact)["in_flight"] is not None


def test_429_waits_as_told_within_the_budget(exact, control):
    later(exact, control, 24 * DAY)
    control.inject_fault("http_429", retry_after=7)
    control.inject_fault("http_429", minutely_reset_in=20)
    sleeps: list[float] = []
    result = refresher(exact, sleeps=sleeps).run_one(resolve(exact, None))
    assert result.status == "refreshed" and result.token_calls == 3
    assert sleeps[0] == 7 and 15 < sleeps[1] <= 20


def test_429_beyond_the_budget_fails_without_losing_anything(exact, control):
    later(exact, control, 24 * DAY)
    control.inject_fault("http_429", retry_after=50, count=2)
    result = refresher(exact, sleeps=[], max_wait=60).run_one(resolve(exact, None))
    assert result.reason == "rate_limited" and "beyond the waiting budget of 60 s" in result.msg
    assert stored(exact)["in_flight"] is None
    assert refresh(exact).status == "refreshed"


def test_wrong_client_secret_is_a_configuration_error(exact, control):
    later(exact, control, 24 * DAY)
    result = refresh(dict(exact, client_secret="FAKE-wrong"))
    assert result.reason == "config" and "check client_id and client_secret" in result.msg
    assert stored(exact)["reauthorization_required"] is None


def test_the_daily_budget_is_never_exceeded(exact, control):
    later(exact, control, 24 * DAY)
    store = open_store(exact, VAULT)
    with store.locked(exact["connection"]) as record:
        record.data["token_calls"] = {"day": int(__import__("time").time() // DAY), "count": 200}
    calls = control.state()["token_calls_total"]
    result = refresh(exact)
    assert result.reason == "budget" and "the daily budget of 200 token calls is used up" in result.msg
    assert control.state()["token_calls_total"] == calls


def test_handed_over_chains_are_skipped(exact):
    with open_store(exact, VAULT).locked(exact["connection"]) as record:
        record.data["owner"] = {"kind": "host", "host": "replicator-1", "since": 0, "generation": 1}
    result = refresh(exact, force=True)
    assert (result.status, result.reason) == ("skipped", "owned_by_host")
    assert "is owned by host replicator-1" in result.msg


def test_a_changed_definition_is_refused(exact):
    result = refresh(dict(exact, client_id="00000000-0000-4000-8000-0000000000ff"))
    assert result.reason == "definition_changed"
    assert "the inventory's definition no longer matches the stored chain (client_id: stored" in result.msg
    assert result.msg.endswith("; preauthenticate again: run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl")


def test_no_stored_chain(sim, tmp_path):
    p = params(sim, tmp_path, connection="never")
    result = refresh(p)
    assert result.reason == "no_chain" and "run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=never to create one" in result.msg


def test_batch_keeps_going_past_failures(sim, tmp_path, control):
    good = params(sim, tmp_path, connection="good")
    bad = params(sim, tmp_path, connection="bad")
    preauthenticate(good)
    preauthenticate(bad)
    warp(24 * DAY, control, open_store(good, VAULT))
    with open_store(bad, VAULT).locked("bad") as record:
        record.data["reauthorization_required"] = {"since": 0, "reason": "test"}
    conns: list[t.Any] = [resolve(good, None), resolve(bad, None), PreauthError("broken")]
    results = refresher(good).run_many(conns, ["good", "bad", "broken"], parallel=3)
    assert [(r.connection, r.status) for r in results] == [("good", "refreshed"), ("bad", "failed"), ("broken", "failed")]


def test_strict_profile_chain_refreshes_without_minimum_interval(sim, tmp_path, control):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    first = refresh(p, force=True)
    assert first.status == "refreshed"
    assert refresh(p, force=True).status == "refreshed"
    state = control.state()
    assert state["chains_revoked"] == 0 and state["chains"][0]["refreshes"] == 2


def test_a_generic_platform_reads_an_expired_refresh_token_the_rfc_6749_way(sim, tmp_path, control):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    later(p, control, 91 * DAY)
    result = refresh(p, force=True)
    assert (result.status, result.reason, result.reauthorization_required) == ("failed", "reauthorization_required", True)
    assert "(the token endpoint refused the request (HTTP 400 invalid_grant: The refresh token has expired.))" in result.msg
    assert refresh(p, force=True).token_calls == 0


def test_a_revoked_connection_says_so(exact):
    with open_store(exact, VAULT).locked(exact["connection"]) as record:
        record.data["tokens"] = None
        record.add_event("revoked", 1795000000.0, generation=1)
    result = refresh(exact)
    assert result.reason == "no_chain"
    assert result.msg.startswith("the tokens were revoked at 2026-11-18T")
    assert (
        "preauthenticate again with ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl, "
        "or remove the connection from preauth_connections"
    ) in result.msg


# -- the index: a no-op without decrypting, and never a skipped refresh ---------------------


def no_decryption(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count store decryptions from here on."""
    calls: list[int] = []
    real = VAULT.decrypt_and_get_vault_id

    def counting(vaulttext: t.Any) -> t.Any:
        calls.append(1)
        return real(vaulttext)

    monkeypatch.setattr(VAULT, "decrypt_and_get_vault_id", counting)
    return calls


def index_file(p: dict[str, t.Any], connection: str | None = None) -> str:
    return open_store(p, VAULT).index_path(connection or p["connection"])


@file_store_only
def test_nothing_to_do_is_read_from_the_index_with_the_same_result(exact, monkeypatch):
    os.unlink(index_file(exact))
    decrypted = no_decryption(monkeypatch)
    slow = refresh(exact)  # no index yet (a store from before indexes): decrypts, and writes the index
    assert len(decrypted) == 1 and os.path.exists(index_file(exact))
    quick = refresh(exact)
    assert len(decrypted) == 1
    assert quick.public() == slow.public() and (quick.status, quick.reason) == ("unchanged", "not_needed")
    assert quick.before == slow.before and quick.msg == slow.msg
    assert refresh(exact, check_mode=True).public() == slow.public() and len(decrypted) == 1


@pytest.mark.parametrize("policy", [{"force": True}, {"return_access_token": True}])
def test_force_and_returning_the_access_token_always_read_the_store(exact, monkeypatch, policy):
    decrypted = no_decryption(monkeypatch)
    refresh(exact, **policy)
    assert decrypted


def _age_behind_the_index(p: dict[str, t.Any], control: t.Any, seconds: float) -> None:
    """Another writer (a restore, ansible-vault edit, an older collection): the store changes, its index does not."""
    control.advance_clock(seconds)
    path = open_store(p, VAULT).path(p["connection"])
    data = yaml.safe_load(VAULT.decrypt(open(path, "rb").read()))
    shift_record(data, seconds)
    open(path, "wb").write(VAULT.encrypt(yaml.safe_dump(data)))


@pytest.mark.parametrize(
    "how", ["store rewritten without its index", "index edited to say not due", "index of another connection", "index of another directory"]
)
@file_store_only
def test_a_due_refresh_is_never_skipped_because_of_an_index(sim, tmp_path, control, how):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    old_index = open(index_file(p), "rb").read()
    if how == "store rewritten without its index":
        _age_behind_the_index(p, control, 3601)
        open(index_file(p), "wb").write(old_index)
    else:
        later(p, control, 3601)
        if how == "index edited to say not due":
            body = json.loads(open(index_file(p), "rb").read())
            body["tokens"]["access_expires_at"] = 4102444800.0
            open(index_file(p), "w", encoding="utf-8").write(json.dumps(body))
        elif how == "index of another connection":
            fresh = dict(p, connection="fresh")
            preauthenticate(fresh)
            shutil.copyfile(index_file(fresh), index_file(p))
        else:
            other = dict(p, store_dir=str(tmp_path / "other"))
            preauthenticate(other)
            shutil.copyfile(index_file(other), index_file(p))
    calls = control.state()["token_calls_total"]
    result = refresh(p, access_token_min_ttl=600)
    assert (result.status, result.reason) == ("refreshed", "refreshed")
    assert control.state()["token_calls_total"] == calls + 1
    # The refresh wrote the index anew: the next run finds nothing to do without decrypting.
    assert open_store(p, VAULT).index("crm")["tokens"]["refresh_fingerprint"] == stored(p)["tokens"]["refresh_fingerprint"]
    assert refresh(p, access_token_min_ttl=600).status == "unchanged"


def test_an_in_flight_marker_is_never_read_from_the_index_as_nothing_to_do(sim, tmp_path, control):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    holder = open_store(p, VAULT).in_flight_holder()  # on PostgreSQL the marker names this controller, which may settle it
    with open_store(p, VAULT).locked("crm") as record:
        record.data["in_flight"] = {"fingerprint": record.data["tokens"]["refresh_fingerprint"], "started_at": round(time.time(), 3)}
        if holder is not None:
            record.data["in_flight"]["holder"] = holder
    assert open_store(p, VAULT).index("crm")["in_flight"] is True
    result = refresh(p)
    assert result.status == "refreshed" and "lost its answer; trying that token once more" in result.msg


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"reauthorization_required": {"since": 0, "reason": "test"}}, "reauthorization_required"),
        ({"owner": {"kind": "host", "host": "replicator-1", "since": 0, "generation": 1}}, "owned_by_host"),
        ({"tokens": None}, "no_chain"),
    ],
)
def test_any_other_state_goes_the_full_way(exact, change, reason):
    with open_store(exact, VAULT).locked(exact["connection"]) as record:
        record.data.update(change)
    assert refresh(exact).reason == reason


def test_a_changed_definition_is_refused_even_with_an_index(exact):
    assert open_store(exact, VAULT).index(exact["connection"]) is not None
    assert refresh(dict(exact, client_id="00000000-0000-4000-8000-0000000000ff")).reason == "definition_changed"
    assert refresh(dict(exact, base_url=exact["base_url"].replace("127.0.0.1", "localhost"))).reason == "definition_changed"


# -- client secrets kept encrypted until a request needs them --------------------------------


@file_store_only
def test_a_deferred_client_secret_is_decrypted_only_for_a_refresh(exact, control):
    reveals: list[int] = []

    def reveal() -> str:
        reveals.append(1)
        return exact["client_secret"]

    deferred = dict(exact, client_secret=DeferredSecret(reveal))
    assert refresher(deferred).run_one(resolve(deferred, None)).status == "unchanged"
    os.unlink(index_file(exact))
    assert refresher(deferred).run_one(resolve(deferred, None)).status == "unchanged"  # the full way needs no secret either
    assert reveals == []
    later(exact, control, 24 * DAY)
    result = refresher(deferred).run_one(resolve(deferred, None))
    assert result.status == "refreshed" and reveals == [1]


def test_a_deferred_client_secret_that_cannot_be_decrypted_sends_and_marks_nothing(exact, control):
    later(exact, control, 24 * DAY)
    before = stored(exact)
    calls = control.state()["token_calls_total"]

    def refuse() -> str:
        raise PreauthError("connections[0].client_secret cannot be decrypted with the vault secrets of this run")

    deferred = dict(exact, client_secret=DeferredSecret(refuse))
    result = refresher(deferred).run_one(resolve(deferred, None))
    assert (result.status, result.reason) == ("failed", "config")
    assert result.msg == "connections[0].client_secret cannot be decrypted with the vault secrets of this run"
    assert stored(exact) == before and control.state()["token_calls_total"] == calls
    empty = dict(exact, client_secret=DeferredSecret(lambda: ""))
    assert refresher(empty).run_one(resolve(empty, None)).msg.startswith("client_secret is empty;")
    assert stored(exact) == before


# -- hostile answers: bounded retries, odd numbers, kept rotations, limits, no echo ------------


def token_calls(control: t.Any) -> int:
    """Requests that reached the token endpoint, those a fault answered included."""
    return control.state()["token_requests_total"]


def leaks(text: str, **values: str | None) -> list[str]:
    """The names of the values found in ``text``; never the values, so a failing assert prints no token."""
    return sorted(name for name, value in values.items() if value and value in text)


def store_text(p: dict[str, t.Any]) -> str:
    return json.dumps(stored(p), default=str)


def simulator_fingerprint(control: t.Any) -> str:
    return control.state()["chains"][0]["refresh_fingerprint"]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_429", "retry_after": 0},
        {"kind": "http_503", "retry_after": 0},
        {"kind": "http_429", "minutely_reset_in": -30},
        {"kind": "http_429", "retry_after": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ],
    ids=["retry-after-0", "503-retry-after-0", "reset-in-the-past", "date-in-the-past"],
)
def test_rate_limit_answers_that_say_retry_now_are_retried_a_bounded_number_of_times(exact, control, fault):
    later(exact, control, 24 * DAY)
    control.inject_fault(count=30, **fault)
    before = token_calls(control)
    sleeps: list[float] = []
    started = time.monotonic()
    result = refresher(exact, sleeps=sleeps).run_one(resolve(exact, None))
    assert time.monotonic() - started < 10
    assert token_calls(control) - before == result.token_calls == 4
    assert (result.status, result.reason) == ("failed", "rate_limited")
    assert "still rate limited after 4 token calls, the most one run makes; the stored chain is unchanged, try again later" in result.msg
    assert len(sleeps) == 3 and all(s >= 1.0 for s in sleeps) and sum(sleeps) <= 60
    data = stored(exact)
    assert data["in_flight"] is None and data["token_calls"]["count"] == 4


def test_the_daily_budget_is_checked_between_retries(exact, control):
    later(exact, control, 24 * DAY)
    with open_store(exact, VAULT).locked(exact["connection"]) as record:
        record.data["token_calls"] = {"day": int(time.time() // DAY), "count": 199}
    control.inject_fault("http_429", retry_after=1, count=10)
    before = token_calls(control)
    result = refresher(exact, sleeps=[]).run_one(resolve(exact, None))
    assert token_calls(control) - before == 1
    assert result.reason == "budget" and "the daily budget of 200 token calls is used up" in result.msg
    assert stored(exact)["in_flight"] is None


def test_a_malformed_retry_after_fails_nothing_and_the_batch_reports_every_chain(sim, tmp_path, control):
    first = params(sim, tmp_path, connection="first")
    second = params(sim, tmp_path, connection="second")
    preauthenticate(first)
    preauthenticate(second)
    warp(24 * DAY, control, open_store(first, VAULT))
    control.inject_fault("http_429", retry_after="soon")
    sleeps: list[float] = []
    results = refresher(first, sleeps=sleeps).run_many([resolve(first, None), resolve(second, None)], ["first", "second"], parallel=1)
    assert [(r.connection, r.status) for r in results] == [("first", "refreshed"), ("second", "refreshed")]
    assert results[0].token_calls == 2 and 1.0 <= sleeps[0] <= 60  # "soon" is no Retry-After: wait for the next minute


def test_an_unexpected_failure_is_that_chains_result_and_the_batch_completes(sim, tmp_path, control):
    good = params(sim, tmp_path, connection="good")
    odd = params(sim, tmp_path, connection="odd")
    preauthenticate(good)
    preauthenticate(odd)
    warp(24 * DAY, control, open_store(good, VAULT))
    with open_store(odd, VAULT).locked("odd") as record:
        record.data["tokens"]["refresh_token"] = 12345  # a hand-edited store: no string
    results = refresher(good).run_many([resolve(odd, None), resolve(good, None)], ["odd", "good"], parallel=2)
    assert [(r.connection, r.status) for r in results] == [("odd", "failed"), ("good", "refreshed")]
    assert results[0].reason == "unexpected" and results[0].public()["error_type"] == "AttributeError"
    assert results[0].msg.startswith("refreshing connection odd failed unexpectedly (AttributeError); ")
    assert "12345" not in results[0].msg and "Traceback" not in results[0].msg


@pytest.mark.parametrize(
    "value, expires, warning",
    [
        (1e20, 366 * DAY, "expires_in is 1e+20 s, more than the 31622400 s this collection accepts; 31622400 s is used"),
        ("abc", 600, "expires_in is not a number of seconds; it is ignored"),
        (-5, 0, "expires_in is negative (-5); 0 s is used"),
    ],
    ids=["1e20", "abc", "negative"],
)
def test_odd_expires_in_is_clamped_with_a_warning_and_every_reader_survives(exact, control, value, expires, warning):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import chain_summary
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.report import collect, prometheus_text

    later(exact, control, 24 * DAY)
    control.inject_fault("patch_after", values={"expires_in": value})
    result = refresh(exact)
    assert (result.status, result.reason) == ("refreshed", "refreshed")
    assert result.warnings == ["connection acme-nl: the token endpoint's answer: " + warning]
    tokens = stored(exact)["tokens"]
    assert tokens["refresh_fingerprint"] == simulator_fingerprint(control)
    assert tokens["access_expires_at"] == pytest.approx(tokens["obtained_at"] + expires, abs=0.01)
    store = open_store(exact, VAULT)
    assert chain_summary(store.read("acme-nl"))["access_expires_at"] == result.after["access_expires_at"]
    assert "preauth_refresh_token_expiry_timestamp_seconds" in prometheus_text(collect(store, None, time.time()))
    later(exact, control, 600)
    assert refresh(exact, force=True).status == "refreshed"


@pytest.mark.parametrize(
    "patch",
    [
        {"drop": ["access_token"]},
        {"values": {"access_token": 12345}},
        {"status": 429, "retry_after": "0"},
        {"status": 503},
        {"status": 500},
        {"status": 400, "values": {"error": "invalid_grant"}},
    ],
    ids=["200-no-access-token", "200-access-token-not-a-string", "429", "503", "500", "400-invalid_grant"],
)
def test_an_answer_that_carries_a_new_refresh_token_is_stored_first_whatever_else_is_wrong(exact, control, patch):
    later(exact, control, 24 * DAY)
    before = stored(exact)["tokens"]
    control.inject_fault("patch_after", **patch)
    calls = token_calls(control)
    result = refresher(exact, sleeps=[]).run_one(resolve(exact, None))
    assert token_calls(control) == calls + 1  # a rotated chain is never retried with the old token
    assert (result.status, result.reason) == ("failed", "incomplete_answer")
    assert "but the answer carried a new refresh token: it is stored, so the chain is kept and the next run uses it" in result.msg
    data = stored(exact)
    assert data["tokens"]["refresh_fingerprint"] == simulator_fingerprint(control) != before["refresh_fingerprint"]
    assert data["in_flight"] is None and data["reauthorization_required"] is None
    assert data["tokens"]["access_token"] == before["access_token"]
    assert result.after["refresh_fingerprint"] == data["tokens"]["refresh_fingerprint"]
    later(exact, control, 600)
    again = refresh(exact, force=True)
    assert again.status == "refreshed" and stored(exact)["tokens"]["refresh_fingerprint"] == simulator_fingerprint(control)
    assert control.state()["chains"][0]["state"] == "alive"


def test_a_slowly_dripped_answer_is_a_lost_answer_within_the_deadline(exact, control):
    later(exact, control, 24 * DAY)
    control.inject_fault("drip_after", interval=0.1)  # the whole answer would take about 17 s
    quick = dict(exact, timeout=1.0)
    started = time.monotonic()
    result = refresher(quick, sleeps=[]).run_one(resolve(quick, None))
    assert time.monotonic() - started < 3
    assert (result.reason, result.token_calls) == ("lost_response", 1)
    assert result.msg.startswith("the token endpoint did not finish its answer within 1 s; the platform may or may not have rotated")
    assert stored(exact)["in_flight"]["fingerprint"] == stored(exact)["tokens"]["refresh_fingerprint"]


@file_store_only
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_answer_is_a_lost_answer_and_is_not_read(exact, control, chunked):
    later(exact, control, 24 * DAY)
    size = 64 * 1024 * 1024
    control.inject_fault("huge_before", size=size, chunked=chunked)
    started = time.monotonic()
    result = refresher(exact, sleeps=[]).run_one(resolve(exact, None))
    assert time.monotonic() - started < 3 and control.state()["fault_bytes_sent"] < size // 4
    assert (result.reason, result.token_calls) == ("lost_response", 1)
    assert result.msg.startswith("the token endpoint sent an answer larger than 1024 KiB (HTTP 200); it was not read;")
    assert stored(exact)["in_flight"] is not None
    assert refresh(exact).status == "refreshed"  # nothing was processed: the kept token still works


@file_store_only
def test_an_echoed_refresh_token_is_in_no_message_result_or_stored_error(exact, control):
    from action_runner import given, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_info import ActionModule as TokenInfo
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    later(exact, control, 24 * DAY)
    presented = stored(exact)["tokens"]["refresh_token"]
    description = "\x1b[31mRefresh token {refresh_token} (client {client_id}, secret {client_secret}) is unknown\x1b[0m\n" + "x" * 5000
    control.inject_fault("echo_before", description=description, count=2)
    direct = refresh(exact)
    assert (direct.status, direct.reason) == ("failed", "refused")
    action = run_action(TokenRefresh, given(dict(exact, fail_on_error=True)))
    assert action["failed"] is True
    info = run_action(TokenInfo, {"store_dir": exact["store_dir"], "connection": exact["connection"]})
    for text in (direct.msg, json.dumps(action), store_text(exact).replace(presented, "", 1), json.dumps(info)):
        assert leaks(text, presented=presented, secret=exact["client_secret"]) == []
        assert "\x1b" not in text and "\\u001b" not in text
    assert "Refresh token (hidden) (client %s, secret (hidden)) is unknown" % exact["client_id"] in direct.msg
    assert len(direct.msg) < 500
    assert stored(exact)["last_error"]["message"] == direct.msg.replace("; the stored chain is unchanged", "")
    assert info["connections"][0]["last_error"]["message"].startswith(
        "the token endpoint refused the request (HTTP 400 invalid_request: Refresh token (hidden)"
    )


def test_the_action_warns_about_clamped_numbers(exact, control):
    from action_runner import given, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    later(exact, control, 24 * DAY)
    control.inject_fault("patch_after", values={"expires_in": 1e20})
    result = run_action(TokenRefresh, given(exact))
    assert result["changed"] is True and "failed" not in result
    assert result["warnings"] == [
        "connection acme-nl: the token endpoint's answer: expires_in is 1e+20 s, more than the 31622400 s this collection accepts; 31622400 s is used"
    ]


def test_a_refresh_against_a_store_that_does_not_exist_says_so_once(sim, tmp_path):
    from action_runner import given, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    p = params(sim, tmp_path)
    predicted = run_action(TokenRefresh, given(p), check_mode=True)
    assert "does not exist, so no connection has a chain" in predicted["msg"]
    result = run_action(TokenRefresh, given(p))
    assert result["failed"] is True
    assert "; the token store %s does not exist, so no connection has a chain: check store_dir or store_url" % open_store(p, VAULT).location in result["msg"]
    # That run made the store (its lock, or the schema) but wrote no record for a connection without a chain.
    assert open_store(p, VAULT).connections() == []
    again = run_action(TokenRefresh, given(p))
    assert "; the token store %s holds no chain, so no connection has a chain" % open_store(p, VAULT).location in again["msg"]


def test_a_store_that_holds_other_chains_sends_only_the_missing_one_to_be_preauthenticated(exact):
    from action_runner import given, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    result = run_action(TokenRefresh, given(dict(exact, connection="other-nl")))
    assert result["failed"] is True and "no connection has a chain" not in result["msg"]
    assert "other-nl: no stored chain in" in result["msg"]


# -- the action over many connections --------------------------------------------------------


def _entries(*ps: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """``connections`` entries, as an inventory lists them, for connection parameters."""
    keep = ("platform", "country", "base_url", "client_id", "client_secret", "redirect_uri")
    return [dict({k: p[k] for k in keep if p.get(k) is not None}, name=p["connection"]) for p in ps]


def test_connections_alike_but_for_name_and_secret_each_use_their_own(sim, tmp_path, control):
    from action_runner import pick, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    first, second, third = (params(sim, tmp_path, connection="alike-%d" % i) for i in (1, 2, 3))
    for p in (first, second, third):
        preauthenticate(p)
    warp(24 * DAY, control, open_store(first, VAULT))
    wrong = dict(second, client_secret="FAKE-wrong-client-secret")
    broken = [dict(e, platform="no-such-platform") for e in _entries(dict(first, connection="broken-1"), dict(first, connection="broken-2"))]
    numbered = dict(_entries(first)[0], name=4711)  # not a str: validated on its own, and named as Ansible converts it
    result = run_action(TokenRefresh, dict(pick(first, "store_dir"), connections=_entries(first, wrong, third) + broken + [numbered], fail_on_error=False))
    got = [(c["connection"], c["status"], c["reason"]) for c in result["connections"]]
    assert got == [
        ("alike-1", "refreshed", "refreshed"),
        ("alike-2", "failed", "config"),
        ("alike-3", "refreshed", "refreshed"),
        ("broken-1", "failed", "invalid_definition"),
        ("broken-2", "failed", "invalid_definition"),
        ("4711", "failed", "no_chain"),
    ]
    assert "HTTP 401 invalid_client" in result["connections"][1]["msg"]
    assert result["connections"][3]["msg"] == result["connections"][4]["msg"]
    assert result["connections"][3]["msg"].startswith("invalid connection definition: value of platform must be one of: ")
    assert "FAKE-wrong-client-secret" not in json.dumps(result)
    assert control.state()["chains_revoked"] == 0


def test_return_unchanged_false_leaves_out_the_connections_with_nothing_to_do(exact, sim, tmp_path):
    from action_runner import given, pick, run_action
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh

    missing = params(sim, tmp_path, connection="missing-nl")
    args = dict(pick(exact, "store_dir"), connections=_entries(exact, missing), fail_on_error=False)
    full = run_action(TokenRefresh, args, diff=True)
    short = run_action(TokenRefresh, dict(args, return_unchanged=False), diff=True)
    assert [c["connection"] for c in full["connections"]] == ["acme-nl", "missing-nl"]
    assert [c["connection"] for c in short["connections"]] == ["missing-nl"]
    assert short["counts"] == full["counts"] == {"refreshed": 0, "unchanged": 1, "skipped": 0, "failed": 1}
    assert short["msg"] == full["msg"] and short["msg"].startswith("0 refreshed, 1 unchanged, 0 skipped, 1 failed")
    assert short["summary"] == [line for line in full["summary"] if line.startswith("missing-nl: ")]
    assert "acme-nl" in full["diff"]["before"] and "acme-nl" not in short["diff"]["before"]
    # One connection by name always gets its result.
    single = run_action(TokenRefresh, dict(given(exact), return_unchanged=False))
    assert (single["status"], [c["connection"] for c in single["connections"]]) == ("unchanged", ["acme-nl"])
