"""A lost answer (outcome unknown) against the simulator: what the platform table says a retry costs, and what users see.

Exact Online answers a refresh it has processed with HTTP 500 and an Apigee fault (exactonline-api-dotnet-client
issue 152); Xero accepts the previous refresh token for 30 minutes after a rotation; Salesforce (with rotation on)
revokes the whole chain when a spent refresh token is presented again. Real HTTP over a real socket, real stores.
"""

from __future__ import annotations

import re
import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from chains import VAULT, google_params, params, preauthenticate, stored
from simulator import DEFAULT_CONFIG
from simulator.timewarp import warp

XERO = next(c for c in DEFAULT_CONFIG["clients"] if c["profile"] == "xero")
FAULT = "gateway fault: Failed to execute the ExtractVariables: ExtractAccessToken, steps.extractvariables.ExecutionFailed"


def refresh(p: dict[str, t.Any], **policy: t.Any):
    client = new_client(p)
    try:
        return Refresher(open_store(p, VAULT), client, Policy(**policy)).run_one(resolve(p, client))
    finally:
        client.close()


def later(p: dict[str, t.Any], control: t.Any, seconds: float) -> None:
    warp(seconds, control, open_store(p, VAULT))


def xero_params(sim, tmp_path) -> dict[str, t.Any]:
    base = sim.base_url + "/xero"
    return params(
        sim,
        tmp_path,
        connection="books",
        platform="xero",
        country=None,
        base_url=None,
        client_id=XERO["client_id"],
        client_secret=XERO["client_secret"],
        endpoints={"authorize": base + "/identity/connect/authorize", "token": base + "/connect/token", "revocation": None, "whoami": base + "/connections"},
        scopes=["offline_access"],
    )


def salesforce_params(sim, tmp_path) -> dict[str, t.Any]:
    """Salesforce's table entry (family_revoked) at the simulator's reuse-detecting server (the one google_params uses)."""
    return google_params(sim, tmp_path, connection="crm-sf", platform="salesforce")


def requests_sent(control: t.Any) -> int:
    return int(control.state()["token_requests_total"])


def chain(control: t.Any) -> dict[str, t.Any]:
    (only,) = control.state()["chains"]
    return only


def assert_lost_once(p: dict[str, t.Any], control: t.Any, result: t.Any, sent_before: int, before: dict[str, t.Any]) -> None:
    """A lost answer: one request, nothing more in this run, the stored token and the in-flight marker kept, no token in the message."""
    assert (result.status, result.reason, result.token_calls) == ("failed", "lost_response", 1)
    assert requests_sent(control) == sent_before + 1, "no second request in the same run"
    assert "the platform may or may not have rotated the refresh token (outcome unknown), so nothing more is sent in this run" in result.msg
    assert "The stored token and an in-flight marker are kept" in result.msg
    data = stored(p)
    assert data["tokens"] == before and data["in_flight"]["fingerprint"] == before["refresh_fingerprint"]
    assert data["history"][-1]["event"] == "refresh_lost"
    for value in (before["refresh_token"], before["access_token"], p["client_secret"]):
        assert value not in result.msg


def test_exacts_500_after_issuing_the_token_is_a_lost_answer_with_the_platforms_words(sim, tmp_path, control):
    p = params(sim, tmp_path)
    preauthenticate(p)
    later(p, control, 24 * 86400)
    before = stored(p)["tokens"]
    sent = requests_sent(control)
    control.inject_fault("http_500_after")
    result = refresh(p)
    assert chain(control)["refreshes"] == 1, "the simulator issued the new token before its 500"
    assert_lost_once(p, control, result, sent, before)
    assert result.msg.startswith("the token endpoint failed with HTTP 500 (%s); the request may or may not have been processed" % FAULT)
    assert result.msg.endswith(
        "if Exact Online processed the request, the stored token is spent, and when it is presented again it is refused, and the chain "
        "needs a new preauthentication"
    )
    assert stored(p)["in_flight"]["lost"] == {"platform": "Exact Online", "spent_token": "refused", "grace": None, "kind": "server_error"}


def test_xero_retries_a_lost_answer_within_its_grace_and_the_chain_goes_on(sim, tmp_path, control):
    p = xero_params(sim, tmp_path)
    preauthenticate(p)
    before = stored(p)["tokens"]
    sent = requests_sent(control)
    control.inject_fault("http_500_after")
    lost = refresh(p, force=True)
    assert_lost_once(p, control, lost, sent, before)
    assert "Xero accepts the previous refresh token for 1800 s after a rotation, so presenting it again is safe until 20" in lost.msg
    assert lost.msg.endswith("after that, if Xero processed the request, it is refused, and the chain needs a new preauthentication")
    later(p, control, 600)
    retry = refresh(p)
    assert (retry.status, retry.token_calls) == ("refreshed", 1), retry.msg
    assert "lost its answer; trying that token once more, within the 1800 s in which Xero accepts the previous refresh token (until " in retry.msg
    assert "so the retry is safe" in retry.msg
    assert chain(control)["state"] == "alive" and chain(control)["refreshes"] == 2
    assert stored(p)["in_flight"] is None


def test_xero_beyond_its_grace_says_so_and_a_spent_token_ends_in_a_new_preauthentication(sim, tmp_path, control):
    p = xero_params(sim, tmp_path)
    preauthenticate(p)
    control.inject_fault("http_500_before")  # nothing processed: the stored token is still the chain's
    assert refresh(p, force=True).reason == "lost_response"
    later(p, control, 1900)
    retry = refresh(p)
    assert retry.status == "refreshed", retry.msg
    assert re.search(
        r"lost its answer; trying that token once more, (99|100|101) s after Xero's grace of 1800 s for the previous refresh token ended: if "
        r"Xero had rotated it, it refuses it now\)",
        retry.msg,
    ), retry.msg

    control.inject_fault("http_500_after")  # processed: the new token is lost
    assert refresh(p, force=True).reason == "lost_response"
    later(p, control, 1900)
    spent = refresh(p)
    assert (spent.status, spent.reason, spent.reauthorization_required) == ("failed", "reauthorization_required", True)
    assert "lost its answer after the platform had already rotated the token, and the platform now refuses it" in spent.msg
    assert control.state()["token_calls_by_outcome"].get("400:invalid_grant") == 1


@pytest.mark.parametrize("fault", ["http_500_after", "timeout_after"])
def test_salesforce_says_that_presenting_the_token_again_revokes_the_chain(sim, tmp_path, control, fault):
    p = salesforce_params(sim, tmp_path)
    preauthenticate(p)
    before = stored(p)["tokens"]
    sent = requests_sent(control)
    control.inject_fault(fault, seconds=7)  # longer than the connection's 5 s timeout
    lost = refresh(p, force=True)
    assert_lost_once(p, control, lost, sent, before)
    assert lost.msg.endswith(
        "if Salesforce processed the request, the stored token is spent, and when it is presented again Salesforce detects the reuse and "
        "revokes every token of the chain, the lost new one too; the chain needs a new preauthentication"
    )
    later(p, control, 300)
    spent = refresh(p)
    # What users will see: the reuse-detecting server revoked the whole chain.
    assert spent.reason == "reauthorization_required" and control.state()["chains_revoked"] == 1


def test_salesforces_retry_of_a_request_that_never_arrived_says_what_it_risked(sim, tmp_path, control):
    p = salesforce_params(sim, tmp_path)
    preauthenticate(p)
    control.inject_fault("http_500_before")
    assert refresh(p, force=True).reason == "lost_response"
    later(p, control, 300)
    retry = refresh(p)
    assert retry.status == "refreshed" and control.state()["chains_revoked"] == 0
    assert "lost its answer; trying that token once more: if Salesforce had rotated it, this revokes every token of the chain (reuse detection)" in retry.msg


def test_a_marker_of_an_older_collection_without_the_platforms_rule_keeps_the_plain_reason(sim, tmp_path, control):
    p = xero_params(sim, tmp_path)
    preauthenticate(p)
    control.inject_fault("http_500_before")
    assert refresh(p, force=True).reason == "lost_response"
    store = open_store(p, VAULT)
    with store.locked(p["connection"]) as record:
        del record.data["in_flight"]["lost"]
    later(p, control, 120)
    retry = refresh(p)
    assert retry.status == "refreshed"
    assert "lost its answer; trying that token once more)" in retry.msg
