"""Injected faults, counters, the headless login of the control API, and the process wrapper."""

from __future__ import annotations

import os
import time

import pytest
import requests

from helpers import EXACT, STRICT, USER
from simulator import Simulator, fingerprint
from simulator.control import SimulatorProcess
from simulator.flows import authorize_url, exchange, landed, query_of, refresh

NL = "/nl/api/oauth2"


def fresh_chain(sim, control):
    code = query_of(landed(authorize_url(sim.base_url, NL + "/auth", EXACT["client_id"]), USER))["code"]
    body = exchange(sim.base_url + NL + "/token", EXACT, code).json()
    control.advance_clock(600)
    return body


def test_500_before_commit_leaves_the_chain_as_it_was(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("http_500_before")
    failed = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert failed.status_code == 500
    assert "ExtractVariables" in failed.json()["fault"]["faultstring"]
    assert refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"]).status_code == 200


def test_500_after_commit_has_rotated_the_chain(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("http_500_after")
    failed = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert failed.status_code == 500
    chain = control.state()["chains"][0]
    assert chain["refreshes"] == 1
    assert fingerprint(body["refresh_token"]) in chain["retired_fingerprints"]
    control.advance_clock(600)
    retried = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert (retried.status_code, retried.json()) == (401, {"error": "unauthorized_client", "error_description": "Old refresh token used."})


def test_timeout_after_commit_loses_the_response(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("timeout_after", seconds=2)
    form = {"client_id": EXACT["client_id"], "client_secret": EXACT["client_secret"], "grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(sim.base_url + NL + "/token", data=form, timeout=0.5)
    assert control.state()["chains"][0]["refreshes"] == 1


def test_connection_reset_before_processing(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("reset_before")
    with pytest.raises(requests.exceptions.ConnectionError):
        refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert control.state()["chains"][0]["refreshes"] == 0


def test_html_502_gateway_page(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("html_502")
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert reply.status_code == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in reply.text


def test_429_with_and_without_rate_limit_headers(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("http_429", retry_after=7, minutely_reset_in=30)
    control.inject_fault("http_429")
    url = sim.base_url + NL + "/token"
    first = refresh(url, EXACT, body["refresh_token"])
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    reset_ms = int(first.headers["X-RateLimit-Minutely-Reset"])
    now_ms = time.time() * 1000
    assert 25_000 < reset_ms - now_ms <= 30_000
    second = refresh(url, EXACT, body["refresh_token"])
    assert second.status_code == 429
    assert "Retry-After" not in second.headers and "X-RateLimit-Minutely-Reset" not in second.headers
    assert refresh(url, EXACT, body["refresh_token"]).status_code == 200


def test_503_and_faults_that_repeat(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("http_503", retry_after=1, count=2)
    url = sim.base_url + NL + "/token"
    assert [refresh(url, EXACT, body["refresh_token"]).status_code for _attempt in range(3)] == [503, 503, 200]


def test_faults_can_target_the_api(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("html_502", endpoint="me")
    assert requests.get(sim.base_url + "/nl/api/v1/current/Me", headers={"Authorization": "Bearer " + body["access_token"]}, timeout=5).status_code == 502


def test_bad_fault_specs_are_refused(control):
    with pytest.raises(RuntimeError, match="kind must be one of"):
        control.inject_fault("meteor")
    with pytest.raises(RuntimeError, match="unknown fault fields"):
        control.inject_fault("html_502", colour="red")


def test_counters_report_calls_per_chain_without_token_values(sim, control):
    body = fresh_chain(sim, control)
    refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    state = control.state()
    assert state["token_calls_total"] == 2
    assert state["chains_alive"] == 1 and state["chains_revoked"] == 0
    chain = state["chains"][0]
    assert chain["token_calls"] == 2
    assert chain["client_id"] == EXACT["client_id"]
    text = requests.get(sim.base_url + "/_sim/state", timeout=5).text
    assert body["refresh_token"] not in text and body["access_token"] not in text


def test_headless_login_through_the_control_api(sim, control):
    url = authorize_url(sim.base_url, "/strict/authorize", STRICT["client_id"], scope="openid offline_access")
    done = control.login(url)
    assert "code" in query_of(done["redirect_url"])
    assert done["steps"][-1] == "redirected back to the application"
    denied = control.login(url, decision="deny")
    assert query_of(denied["redirect_url"])["error"] == "access_denied"
    with pytest.raises(RuntimeError, match="409"):
        control.login(url, password="wrong")


def test_control_api_is_off_unless_enabled():
    with Simulator(control=False) as quiet:
        assert requests.get(quiet.base_url + "/_sim/state", timeout=5).status_code == 404
        assert requests.post(quiet.base_url + "/_sim/clock", json={"advance": 5}, timeout=5).status_code == 404


def test_clock_only_moves_forward(control):
    before = control.state()["clock"]["offset"]
    assert control.advance_clock(90)["offset"] == before + 90
    with pytest.raises(RuntimeError, match="only moves forward"):
        control.advance_clock(-1)


def test_clients_can_be_registered(sim, control):
    control.add_client(client_id="extra", client_secret="FAKE-extra", redirect_uris=["https://relay.example.test/"], profile="exact")
    url = authorize_url(sim.base_url, NL + "/auth", "extra").replace("preauth.example.test%2Fcallback", "relay.example.test%2F")
    assert requests.get(url, timeout=5).status_code == 200
    with pytest.raises(RuntimeError, match="unknown profile"):
        control.add_client(client_id="x", client_secret="y", profile="nope")


def test_separate_process_with_port_file():
    process = SimulatorProcess()
    client = process.start()
    try:
        assert os.path.exists(process.port_file)
        assert client.state()["token_calls_total"] == 0
        assert requests.get(process.base_url + "/", timeout=5).status_code == 200
    finally:
        assert process.stop() == 0
    deadline = time.monotonic() + 5
    while os.path.exists(process.port_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(process.port_file)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(process.base_url + "/", timeout=2)


# -- hostile answers -----------------------------------------------------------------------------


def test_patch_after_changes_a_committed_answer(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("patch_after", status=429, retry_after="0", drop=["access_token"], values={"expires_in": 1e20})
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "0"
    answer = reply.json()
    assert "access_token" not in answer and answer["expires_in"] == 1e20
    chain = control.state()["chains"][0]
    assert chain["refreshes"] == 1 and chain["refresh_fingerprint"] == fingerprint(answer["refresh_token"])


def test_echo_before_repeats_what_the_client_sent_and_processes_nothing(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("echo_before", error="invalid_grant", description="token={refresh_token} secret={client_secret} other={nothing}")
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"], basic=True)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"
    echoed = reply.json()["error_description"]
    assert echoed == "token=%s secret=%s other={nothing}" % (body["refresh_token"], EXACT["client_secret"])
    assert control.state()["chains"][0]["refreshes"] == 0


def test_echo_before_can_answer_in_a_platforms_own_shape(sim, control):
    # HubSpot's refusal (docs/sources.md H8): no RFC 6749 keys, the code in status, the text in message.
    body = fresh_chain(sim, control)
    control.inject_fault("echo_before", drop=["error", "error_description"], values={"status": "BAD_REFRESH_TOKEN", "message": "no {refresh_token}", "n": 1})
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert reply.status_code == 400
    assert reply.json() == {"status": "BAD_REFRESH_TOKEN", "message": "no %s" % body["refresh_token"], "n": 1}
    assert control.state()["chains"][0]["refreshes"] == 0


def test_drip_after_sends_headers_at_once_and_the_body_slowly(sim, control):
    body = fresh_chain(sim, control)
    control.inject_fault("drip_after", interval=0.05)
    form = {"client_id": EXACT["client_id"], "client_secret": EXACT["client_secret"], "grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    started = time.monotonic()
    with requests.post(sim.base_url + NL + "/token", data=form, timeout=5, stream=True) as reply:
        assert reply.status_code == 200 and time.monotonic() - started < 1
        first = reply.raw.read(10)
        assert len(first) == 10 and time.monotonic() - started >= 0.45
    assert control.state()["chains"][0]["refreshes"] == 1
    deadline = time.monotonic() + 5
    while control.state()["fault_bytes_sent"] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert control.state()["fault_bytes_sent"] >= 10


@pytest.mark.parametrize("chunked", [False, True])
def test_huge_before_sends_a_body_until_the_client_stops_reading(sim, control, chunked):
    size = 32 * 1024 * 1024
    control.inject_fault("huge_before", endpoint="discovery", size=size, chunked=chunked)
    with requests.get(sim.base_url + "/strict/.well-known/openid-configuration", timeout=5, stream=True) as reply:
        assert reply.status_code == 200
        assert reply.headers.get("Content-Length") == (None if chunked else str(size + 2))
        assert len(reply.raw.read(1024 * 1024)) == 1024 * 1024
    time.sleep(0.2)
    assert 1024 * 1024 <= control.state()["fault_bytes_sent"] < size
    assert requests.get(sim.base_url + "/strict/.well-known/openid-configuration", timeout=5).json()["issuer"] == sim.base_url + "/strict"


def test_every_token_request_is_counted_even_when_a_fault_answers_it(sim, control):
    body = fresh_chain(sim, control)
    before = control.state()
    control.inject_fault("http_429", retry_after=0, count=2)
    url = sim.base_url + NL + "/token"
    assert [refresh(url, EXACT, body["refresh_token"]).status_code for _attempt in range(3)] == [429, 429, 200]
    after = control.state()
    assert after["token_requests_total"] - before["token_requests_total"] == 3
    assert after["token_calls_total"] - before["token_calls_total"] == 1


def test_faults_can_target_discovery_and_revocation(sim, control):
    control.inject_fault("html_502", endpoint="discovery")
    assert requests.get(sim.base_url + "/strict/.well-known/openid-configuration", timeout=5).status_code == 502
    control.inject_fault("echo_before", endpoint="revoke", description="cannot revoke {token}")
    reply = requests.post(sim.base_url + "/strict/revoke", data={"token": "FAKE-token-1"}, timeout=5)
    assert reply.status_code == 400 and reply.json()["error_description"] == "cannot revoke FAKE-token-1"
    with pytest.raises(RuntimeError, match="endpoint must be one of token, me, discovery, revoke, any"):
        control.inject_fault("html_502", endpoint="elsewhere")
