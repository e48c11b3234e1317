"""Revocation through the token_revoke action: at the simulator's RFC 7009 endpoint, by hand where a
platform has none, and every refusal with its message and the stored chain intact."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading

import pytest
import requests

from action_runner import given, pick, run_action
from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover
from ansible_collections.preauth.oauth2.plugins.action.token_revoke import ActionModule as TokenRevoke
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.revoke import MANUAL_REVOCATION, manual_revocation
from chains import file_store_only, VAULT, google_params, params, preauthenticate, stored, strict_params
from helpers import STRICT


def revoke(p, check_mode: bool = False, diff: bool = False, **overrides):
    return run_action(TokenRevoke, given(dict(p, **overrides)), check_mode=check_mode, diff=diff)


def file_hash(p) -> str:
    return hashlib.sha256(open(open_store(p, VAULT).path(p["connection"]), "rb").read()).hexdigest()


@pytest.fixture
def strict(sim, tmp_path):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    return p


@pytest.fixture
def exact(sim, tmp_path):
    p = params(sim, tmp_path)
    preauthenticate(p)
    return p


# -- at the platform ---------------------------------------------------------------------------


@pytest.mark.parametrize("client_auth", [None, "client_secret_basic", "client_secret_post"])
def test_revoke_at_the_rfc7009_endpoint(sim, tmp_path, control, client_auth):
    p = strict_params(sim, tmp_path, client_auth=client_auth)
    preauthenticate(p)
    before = stored(p)
    old_refresh = before["tokens"]["refresh_token"]
    result = revoke(p, diff=True)
    assert result["changed"] is True and "failed" not in result
    url = sim.base_url + "/strict/revoke"
    assert result["msg"] == ("revoked the refresh token of connection crm at %s and removed the tokens from the store; the audit record and history stay" % url)
    assert (result["revoked_at_platform"], result["revocation_url"], result["manual_revocation"]) == (True, url, None)
    assert result["diff"]["before"]["refresh_fingerprint"] == before["tokens"]["refresh_fingerprint"]
    assert result["diff"]["after"]["refresh_fingerprint"] is None
    state = control.state()
    assert state["chains_revoked"] == 1 and state["chains"][0]["state"] == "revoked" and state["chains"][0]["reason"] == "revoked by the client"
    after = stored(p)
    assert after["tokens"] is None and after["in_flight"] is None and after["owner"]["kind"] == "controller"
    assert after["generation"] == 1 and after["preauthenticated_by"] == before["preauthenticated_by"]
    assert after["history"][:-1] == before["history"]
    event = after["history"][-1]
    assert event["event"] == "revoked" and event["at_platform"] is True and event["fingerprint"] == before["tokens"]["refresh_fingerprint"]
    text = json.dumps(result)
    assert old_refresh not in text and STRICT["client_secret"] not in text and before["tokens"]["access_token"] not in text
    # The platform refuses the old token now.
    form = {"grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": p["client_id"], "client_secret": p["client_secret"]}
    assert requests.post(sim.base_url + "/strict/token", data=form, timeout=5).json()["error"] == "invalid_grant"


@file_store_only
def test_revoking_again_changes_nothing(strict):
    revoke(strict)
    unchanged = file_hash(strict)
    again = revoke(strict)
    assert again["changed"] is False
    assert again["msg"].startswith("connection crm holds no tokens (revoked at 20") and again["msg"].endswith("); nothing to revoke")
    assert file_hash(strict) == unchanged
    assert revoke(strict, check_mode=True)["changed"] is False


@file_store_only
def test_check_mode_sends_nothing_and_writes_nothing(strict, control):
    unchanged = file_hash(strict)
    result = revoke(strict, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["msg"] == (
        "check mode: would revoke the refresh token of connection crm at %s/strict/revoke and remove the tokens from the store; "
        "nothing was sent or written" % control.base_url
    )
    assert result["diff"]["after"]["refresh_fingerprint"] is None
    assert file_hash(strict) == unchanged
    assert control.state()["chains_revoked"] == 0


def test_a_chain_owned_by_a_host_is_revoked_with_a_warning(strict, control):
    run_action(TokenHandover, dict(pick(strict, "connection", "store_dir"), host="dwh01"))
    result = revoke(strict)
    assert result["changed"] is True and control.state()["chains_revoked"] == 1
    assert result["warnings"] == [
        "connection crm generation 1 is owned by host dwh01: once the chain is revoked the product on dwh01 stops working. If that "
        "product rotated the refresh token since the hand-over, the platform may not know the stored one; then also revoke the "
        "app's access at the platform"
    ]
    assert stored(strict)["owner"]["kind"] == "controller"
    assert stored(strict)["history"][-1]["owner"] == "dwh01"


def test_a_chain_with_a_refresh_in_flight_is_revoked_with_a_warning(strict):
    with open_store(strict, VAULT).locked("crm") as record:
        record.data["in_flight"] = {"fingerprint": "0123456789ab", "started_at": 1_800_000_000.0}
    result = revoke(strict)
    assert result["changed"] is True and stored(strict)["in_flight"] is None
    assert "had a refresh with an unknown outcome (started at 2027-01-15T08:00:00Z)" in result["warnings"][0]


def test_a_non_rotating_chain_deployed_to_hosts_is_revoked_with_a_warning(sim, tmp_path, control):
    p = google_params(sim, tmp_path)
    preauthenticate(p)
    for host in ("dwh02", "dwh01"):
        run_action(TokenHandover, dict(pick(p, "connection", "store_dir"), host=host))
    result = revoke(p)
    assert result["changed"] is True and result["revocation_url"] == sim.base_url + "/strict/revoke" and control.state()["chains_revoked"] == 1
    assert result["warnings"] == ["connection gmail was deployed to dwh01, dwh02: the products there stop working once it is revoked"]
    after = stored(p)
    assert "deployed_to" not in after and after["history"][-1]["deployed_to"] == ["dwh01", "dwh02"]


# -- where the platform has no revocation endpoint ----------------------------------------------


def test_exact_online_tokens_are_removed_and_revocation_by_hand_is_explained(exact, control):
    before = stored(exact)
    calls = control.state()["token_calls_total"]
    predicted = revoke(exact, check_mode=True)
    assert predicted["changed"] is True and stored(exact) == before
    assert predicted["msg"] == (
        "check mode: would remove the tokens of connection acme-nl from the store; Exact Online has no revocation endpoint, so revoke "
        "by hand: My Exact Online → Security center → Revoke (next to the app); nothing was sent or written"
    )
    result = revoke(exact)
    assert result["changed"] is True
    assert result["msg"] == (
        "removed the tokens of connection acme-nl from the store (the audit record and history stay); Exact Online has no revocation "
        "endpoint, so the app's access stays valid at the platform until you revoke it by hand: My Exact Online → Security center → "
        "Revoke (next to the app)"
    )
    assert (result["revoked_at_platform"], result["revocation_url"]) == (False, None)
    assert result["manual_revocation"] == MANUAL_REVOCATION["exact_online"]
    after = stored(exact)
    assert after["tokens"] is None and after["generation"] == 1
    assert after["preauthenticated_by"] == before["preauthenticated_by"] and after["definition"] == before["definition"]
    assert after["history"][-1]["event"] == "revoked" and after["history"][-1]["at_platform"] is False
    assert control.state()["token_calls_total"] == calls  # no network call at all
    assert revoke(exact)["changed"] is False


def test_teamleader_says_to_uninstall_the_integration(sim, tmp_path):
    p = params(sim, tmp_path, connection="tl", platform="teamleader", country=None, base_url=None, client_id="FAKE-teamleader-client")
    # No Teamleader server in the simulator: the chain is written as code_exchange would store it.
    with open_store(p, VAULT).locked("tl") as record:
        record.data.update(
            generation=1,
            definition={"platform": "teamleader", "client_id": "FAKE-teamleader-client", "revocation_url": None},
            owner={"kind": "controller", "since": 1_800_000_000.0},
            tokens={"access_token": "FAKE-tl-access", "refresh_token": "FAKE-tl-refresh", "refresh_fingerprint": "0123456789ab"},
        )
    result = revoke(p)
    assert result["changed"] is True and result["manual_revocation"] == "in the Marketplace, uninstall the integration"
    assert result["msg"].endswith(
        "Teamleader Focus has no revocation endpoint, so the app's access stays valid at the platform until you revoke it by hand: "
        "in the Marketplace, uninstall the integration"
    )
    assert stored(p)["tokens"] is None


def test_manual_revocation_text_falls_back_for_other_platforms():
    assert manual_revocation("microsoft", "Microsoft Entra ID") == "in Microsoft Entra ID's account or security settings, remove the app's access"
    assert manual_revocation("exact_online", "Exact Online") == "My Exact Online → Security center → Revoke (next to the app)"


# -- refusals: the stored chain stays ----------------------------------------------------------


@file_store_only
def test_a_refused_revocation_keeps_the_tokens(strict, control):
    before = stored(strict)
    unchanged = file_hash(strict)
    result = revoke(strict, client_secret="FAKE-wrong-client-secret")
    assert result["failed"] is True
    assert result["msg"] == (
        "connection crm: revoking at %s/strict/revoke failed: the revocation endpoint refused the request (HTTP 401 invalid_client: "
        "Client authentication failed.); check client_id and client_secret against the app registration, the tokens stay in the "
        "store; nothing was changed" % control.base_url
    )
    assert "FAKE-wrong-client-secret" not in json.dumps(result)
    assert file_hash(strict) == unchanged and stored(strict) == before
    assert control.state()["chains_alive"] == 1


def test_a_revocation_endpoint_that_answers_404(strict, sim):
    bad = sim.base_url + "/strict/revoke-nowhere"
    with open_store(strict, VAULT).locked("crm") as record:
        record.data["definition"]["revocation_url"] = bad
    result = revoke(strict)
    assert result["msg"] == (
        "connection crm: revoking at %s failed: the revocation endpoint refused the request (HTTP 404 not_found); check the "
        "revocation endpoint and the client authentication (client_auth), the tokens stay in the store; nothing was changed" % bad
    )
    assert stored(strict)["tokens"] is not None


def test_an_unreachable_revocation_endpoint(strict):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = "http://127.0.0.1:%d/revoke" % port
    with open_store(strict, VAULT).locked("crm") as record:
        record.data["definition"]["revocation_url"] = url
    result = revoke(strict)
    assert result["msg"] == (
        "connection crm: revoking at %s failed: the revocation endpoint could not be reached or dropped the connection; try again "
        "later, the tokens stay in the store; nothing was changed" % url
    )
    assert stored(strict)["tokens"] is not None


def test_a_revocation_endpoint_that_asks_to_retry_later(strict):
    class Busy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(503)
            self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002 - signature of the base class
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/revoke" % server.server_address[1]
    try:
        with open_store(strict, VAULT).locked("crm") as record:
            record.data["definition"]["revocation_url"] = url
        result = revoke(strict)
    finally:
        server.shutdown()
        server.server_close()
    assert result["msg"] == (
        "connection crm: revoking at %s failed: the revocation endpoint is unavailable (HTTP 503); it asks to retry after 120 s; "
        "try again later, the tokens stay in the store; nothing was changed" % url
    )
    assert stored(strict)["tokens"] is not None


def test_the_revocation_endpoint_comes_from_discovery_when_the_store_has_none(strict, control):
    with open_store(strict, VAULT).locked("crm") as record:
        record.data["definition"]["revocation_url"] = None
    predicted = revoke(strict, check_mode=True)
    assert predicted["changed"] is True and predicted["revoked_at_platform"] is None
    assert predicted["msg"] == (
        "check mode: would look up the revocation endpoint of connection crm by discovery, revoke there, and remove the tokens; " "nothing was sent or written"
    )
    result = revoke(strict)
    assert result["revocation_url"] == control.base_url + "/strict/revoke" and control.state()["chains_revoked"] == 1


def test_another_app_cannot_revoke_the_chain(strict):
    result = revoke(strict, client_id="someone-else")
    assert result["failed"] is True
    assert result["msg"] == (
        "connection crm: the stored chain was obtained with client_id strict-demo-client, but this task gives someone-else; revoke it "
        "with the definition it was preauthenticated with (a revocation by another app is ignored by the platform). Nothing was changed."
    )
    other = revoke(strict, platform="exact_online", issuer=None, country="nl")
    assert "the stored chain was obtained with platform generic, but this task gives exact_online" in other["msg"]
    assert stored(strict)["tokens"] is not None


def test_client_secret_is_needed_for_an_endpoint(strict, control):
    result = revoke(strict, client_secret=None)
    assert result["failed"] is True
    assert result["msg"] == (
        "connection crm: client_secret is needed to revoke at %s/strict/revoke (the platform authenticates the app); keep it in "
        "ansible-vault and pass it as client_secret. Nothing was changed." % control.base_url
    )


@file_store_only
def test_no_store(sim, tmp_path):
    p = params(sim, tmp_path, connection="nope")
    result = revoke(p)
    assert result["failed"] is True
    assert result["msg"] == (
        "connection nope has no stored chain in %s; there is nothing to revoke. Check the connection name and the store options" % p["store_dir"]
    )


def test_missing_required_options(strict):
    result = run_action(TokenRevoke, pick(strict, "connection", "store_dir"))
    assert result["failed"] is True
    assert "preauth.oauth2.token_revoke: invalid arguments: missing required arguments: client_id, platform" in result["msg"]


def test_a_revocation_endpoint_that_echoes_the_token_shows_neither_token_nor_secret(strict, control):
    tokens = stored(strict)["tokens"]
    control.inject_fault("echo_before", endpoint="revoke", description="token {token} of {client_id}/{client_secret} is unknown\x1b[2J" + "!" * 900)
    result = revoke(strict)
    assert result["failed"] is True
    text = json.dumps(result)
    assert sorted(n for n, v in (("refresh", tokens["refresh_token"]), ("secret", strict["client_secret"])) if v in text) == []
    expected = "revoking at %s/strict/revoke failed: the revocation endpoint refused the request (HTTP 400 invalid_request: token (hidden) of %s/(hidden)"
    assert expected % (control.base_url, STRICT["client_id"]) + " is unknown!!!" in result["msg"]
    assert "\x1b" not in result["msg"] and len(result["msg"]) < 600
    assert stored(strict)["tokens"] == tokens


def test_a_huge_revocation_answer_is_not_read_and_keeps_the_tokens(strict, control):
    control.inject_fault("huge_before", endpoint="revoke", size=64 * 1024 * 1024, chunked=True)
    result = revoke(strict)
    assert result["failed"] is True and "the revocation endpoint sent an answer larger than 1024 KiB (HTTP 200); it was not read" in result["msg"]
    assert control.state()["fault_bytes_sent"] < 16 * 1024 * 1024 and stored(strict)["tokens"] is not None
