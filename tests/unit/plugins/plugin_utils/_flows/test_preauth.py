"""Preauthentication against the simulator over a real socket, with a real vault-encrypted store.

Every bad input named for preauthentication has a test here that asserts its message and that
a chain stored earlier is still intact afterwards.
"""

from __future__ import annotations

import threading
import time
import typing as t
import urllib.parse

import pytest
import requests
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import start
from chains import file_store_only, CONTACT, VAULT, begin, finish, params, preauthenticate, sign_in, stored, strict_params, twinfield_params
from helpers import EXACT, USER


@pytest.fixture
def exact(sim, tmp_path):
    return params(sim, tmp_path)


@pytest.fixture
def chained(exact):
    """A connection with a chain stored by an earlier preauthentication."""
    preauthenticate(exact)
    return exact, stored(exact)["tokens"]


def assert_chain_intact(p: dict[str, t.Any], tokens: dict[str, t.Any]) -> None:
    now = stored(p)
    assert now["tokens"] == tokens
    assert now["generation"] == 1


# -- success paths ---------------------------------------------------------------------------


def test_exact_online_end_to_end(exact, sim, control):
    first = begin(exact)
    url = urllib.parse.urlsplit(first.result["url"])
    query = dict(urllib.parse.parse_qsl(url.query))
    assert url.path == "/nl/api/oauth2/auth"
    assert query["response_type"] == "code" and query["client_id"] == EXACT["client_id"] and query["force_login"] == "1"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(first.result["state"]) >= 43 and query["state"] == first.result["state"]
    assert "code_verifier" not in str(first.result)
    pending = stored(exact)["pending"]
    assert 43 <= len(pending["code_verifier"]) <= 128
    step = finish(exact, redirect_url=sign_in(first.result["url"]), verify=True)
    assert step.changed and step.result["generation"] == 1 and step.result["verified"] is True
    assert step.result["verified_as"]["UserName"] == USER["username"]
    data = stored(exact)
    assert "pending" not in data
    assert data["owner"]["kind"] == "controller"
    assert data["preauthenticated_by"]["email"] == CONTACT["email"] and data["preauthenticated_by"]["controller_user"]
    assert data["definition"]["token_url"] == sim.base_url + "/nl/api/oauth2/token"
    assert EXACT["client_secret"] not in str(data)
    tokens = data["tokens"]
    assert round(tokens["access_expires_at"] - tokens["obtained_at"]) == 600  # "600" arrived as a string
    assert round(tokens["refresh_expires_at"] - tokens["obtained_at"]) == 30 * 86400
    assert step.result["refresh_fingerprint"] == tokens["refresh_fingerprint"]
    # The stored chain works: a refresh with it succeeds once the 570 s have passed.
    control.advance_clock(600)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": EXACT["client_id"], "client_secret": EXACT["client_secret"]}
    assert requests.post(sim.base_url + "/nl/api/oauth2/token", data=form, timeout=5).status_code == 200


def test_a_second_preauthentication_is_a_new_generation(chained):
    p, _tokens = chained
    step = preauthenticate(p)
    assert step.result["generation"] == 2
    history = [e["event"] for e in stored(p)["history"]]
    assert history == ["authorization_started", "preauthenticated", "authorization_started", "preauthenticated"]


def test_generic_platform_through_discovery_with_the_strict_profile(sim, tmp_path):
    p = strict_params(sim, tmp_path)
    step = preauthenticate(p, verify=True)
    assert step.result["verified_as"]["sub"] == USER["username"]
    assert stored(p)["definition"]["token_url"] == sim.base_url + "/strict/token"


def test_non_rotating_platform_with_nonce_and_basic_auth(sim, tmp_path):
    p = twinfield_params(sim, tmp_path)
    first = begin(p)
    assert "nonce" in dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(first.result["url"]).query))
    step = finish(p, redirect_url=sign_in(first.result["url"]), verify=True)
    assert step.result["generation"] == 1


def test_loopback_listener_catches_the_redirect(sim, tmp_path):
    p = strict_params(sim, tmp_path, redirect_uri="http://127.0.0.1:%d/callback" % _free_port())
    url = begin(p).result["url"]
    seen: list[requests.Response] = []

    def person() -> None:
        seen.append(requests.get(sign_in(url), timeout=5))

    step = finish(p, listen=True, listen_timeout=20, on_listen=lambda: threading.Timer(0.2, person).start())
    assert step.result["generation"] == 1
    assert seen[0].status_code == 200 and "You may close this window" in seen[0].text


def test_the_loopback_listener_ignores_a_forged_request_and_waits_for_the_real_one(sim, tmp_path):
    p = strict_params(sim, tmp_path, redirect_uri="http://127.0.0.1:%d/callback" % _free_port())
    url = begin(p).result["url"]
    seen: list[requests.Response] = []
    done = threading.Event()

    def local_process_then_person() -> None:
        try:
            seen.append(requests.get(p["redirect_uri"] + "?code=FAKE-forged-code&state=FAKE-forged-state", timeout=5))
            seen.append(requests.get(sign_in(url), timeout=5))
        finally:
            done.set()

    step = finish(p, listen=True, listen_timeout=20, on_listen=lambda: threading.Timer(0.2, local_process_then_person).start())
    assert step.result["generation"] == 1 and done.wait(10)
    assert [r.status_code for r in seen] == [400, 200]


@file_store_only
def test_check_mode_sends_nothing_and_writes_nothing(exact, control):
    begin(exact)
    path = open_store(exact, VAULT).path("acme-nl")
    before_bytes = open(path, "rb").read()
    calls = control.state()["token_calls_total"]
    url = begin(exact, check_mode=True)
    assert url.result["url"] is None and url.msg.startswith("check mode: would create a new authorization URL")
    landed = sign_in(stored(exact)["pending"]["definition"]["authorize_url"] + "?" + _query_of_pending(exact))
    step = finish(exact, check_mode=True, redirect_url=landed)
    assert step.msg.startswith("check mode: the redirect matches the pending authorization; would exchange the code")
    assert open(path, "rb").read() == before_bytes
    assert control.state()["token_calls_total"] == calls


# -- bad input: a clear message, and the stored chain stays intact -----------------------------


def test_pasting_the_authorization_url(chained):
    p, tokens = chained
    url = begin(p).result["url"]
    with pytest.raises(PreauthError, match="this is the authorization URL itself, not the URL the browser landed on"):
        finish(p, redirect_url=url)
    assert_chain_intact(p, tokens)


@pytest.mark.parametrize(
    ("extra", "names"),
    [("&code=FAKE-injected-code", "code"), ("&state=FAKE-injected-state", "state"), ("&state=FAKE-injected-state&code=FAKE-injected-code", "code and state")],
)
def test_a_redirect_url_with_a_repeated_code_or_state_is_refused(chained, control, extra, names):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    calls = control.state()["token_calls_total"]
    with pytest.raises(PreauthError) as info:
        finish(p, redirect_url=landed + extra)
    assert str(info.value) == (
        "the redirect URL has more than one %s parameter, so it is not the answer of one sign-in; start again with a new "
        "authorization URL and paste the address the browser lands on, unchanged" % names
    )
    assert "FAKE-injected" not in str(info.value)
    assert control.state()["token_calls_total"] == calls  # the code was not sent anywhere
    assert_chain_intact(p, tokens)


@pytest.mark.parametrize("ttl", [-1, 0, 59, 86401, 10**12])
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_pending_ttl_out_of_range_is_refused(chained, ttl, check_mode):
    p, tokens = chained
    pending = begin(p).result
    before = stored(p)["pending"]
    with pytest.raises(PreauthError) as info:
        start(resolve(p, new_client(p)), open_store(p, VAULT), check_mode, ttl)
    assert str(info.value) == (
        "connection acme-nl: pending_ttl must be a number of seconds from 60 to 86400, not %d; give one in that range or leave it out "
        "(default 900). Nothing was changed." % ttl
    )
    assert stored(p)["pending"] == before and pending["state"] == before["state"]
    assert_chain_intact(p, tokens)


@pytest.mark.parametrize("timeout", [-5, 0, 3601])
def test_a_listen_timeout_out_of_range_is_refused(sim, tmp_path, timeout):
    p = strict_params(sim, tmp_path, redirect_uri="http://127.0.0.1:%d/callback" % _free_port())
    begin(p)
    with pytest.raises(PreauthError) as info:
        finish(p, listen=True, listen_timeout=timeout)
    assert str(info.value) == (
        "connection crm: listen_timeout must be a number of seconds from 1 to 3600, not %d; give one in that range or leave it out "
        "(default 300). Nothing was changed." % timeout
    )
    assert "pending" in stored(p)


def test_access_denied(chained):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"], decision="deny")
    with pytest.raises(PreauthError, match=r"the sign-in was not allowed \(access_denied: The user denied access.\); start again"):
        finish(p, redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_wrong_and_stale_state(chained):
    p, tokens = chained
    old = sign_in(begin(p).result["url"])
    begin(p)  # a newer attempt replaces the older one
    with pytest.raises(PreauthError, match="the state in the URL does not match the pending authorization"):
        finish(p, redirect_url=old)
    forged = old.replace("state=", "state=x")
    with pytest.raises(PreauthError, match="the state in the URL does not match"):
        finish(p, redirect_url=forged)
    assert_chain_intact(p, tokens)


def test_expired_pending_attempt(chained):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    with pytest.raises(PreauthError, match=r"the pending authorization started at .* expired at .*; start again with a new authorization URL"):
        finish(p, redirect_url=landed, now=lambda: time.time() + 901)
    assert_chain_intact(p, tokens)


def test_code_already_used(chained):
    p, tokens = chained
    first = begin(p)
    landed = sign_in(first.result["url"])
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed).query))["code"]
    # Someone else redeems the code first.
    used = new_client(p).exchange_code(
        p["base_url"] + "/api/oauth2/token",
        code,
        p["redirect_uri"],
        p["client_id"],
        p["client_secret"],
        "client_secret_post",
        code_verifier=stored(p)["pending"]["code_verifier"],
    )
    assert used.refresh_token
    expected = r"refused the request \(HTTP 400 invalid_grant: The authorization code has already been used.\): the code was already used"
    with pytest.raises(PreauthError, match=expected):
        finish(p, redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_code_older_than_three_minutes(chained, control):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    control.advance_clock(181)
    with pytest.raises(PreauthError, match=r"The authorization code has expired.\): the code was already used, is older than 3 minutes"):
        finish(p, redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_redirect_uri_that_does_not_match(chained):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    elsewhere = landed.replace("https://preauth.example.test/callback", "https://evil.example.test/callback")
    with pytest.raises(PreauthError, match=r"the pasted URL does not go to this attempt's redirect URI https://preauth.example.test/callback"):
        finish(p, redirect_url=elsewhere)
    changed = dict(p, redirect_uri="https://preauth.example.test/other")
    with pytest.raises(PreauthError, match=r"redirect_uri is now https://preauth.example.test/other but the pending authorization was made for"):
        finish(changed, redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_wrong_client_secret(chained):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    with pytest.raises(PreauthError, match=r"invalid_client: Client authentication failed.\): check client_id and client_secret"):
        finish(dict(p, client_secret="FAKE-wrong-secret"), redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_html_error_page(chained, control):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    control.inject_fault("html_502")
    with pytest.raises(PreauthError, match=r"answered HTTP 502 with an HTML page instead of an OAuth2 JSON response \(a gateway or platform fault\)"):
        finish(p, redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_timeout(chained, control):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    control.inject_fault("timeout_after", seconds=2)
    with pytest.raises(PreauthError, match=r"no answer from the token endpoint within 0.5 s; the code may have been used"):
        finish(dict(p, timeout=0.5), redirect_url=landed)
    assert_chain_intact(p, tokens)


def test_no_refresh_token_came_back(sim, tmp_path):
    p = strict_params(sim, tmp_path, scopes=["openid"])
    with pytest.raises(PreauthError, match=r"no refresh token, so the connection cannot be kept alive unattended; .*offline_access.*Nothing was stored"):
        preauthenticate(p)
    assert "tokens" not in stored(p)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"platform": "myspace"}, r"unknown platform 'myspace'"),
        ({"country": "zz", "base_url": None}, r"unknown Exact Online country 'zz'"),
        ({"base_url": "http://exact.example.test/nl"}, r"is not HTTPS"),
        ({"connection": "../escape"}, r"connection name '../escape' is not valid"),
    ],
)
def test_bad_definitions_are_refused_before_anything_happens(chained, overrides, message):
    p, tokens = chained
    with pytest.raises(PreauthError, match=message):
        begin(dict(p, **overrides))
    assert_chain_intact(p, tokens)


def test_missing_client_secret(chained):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    with pytest.raises(PreauthError, match=r"client_secret is missing; keep the app's client secret in ansible-vault"):
        finish(dict(p, client_secret=None), redirect_url=landed)
    assert_chain_intact(p, tokens)


@pytest.mark.parametrize(
    "contact, message",
    [
        (dict(CONTACT, email="not-an-address"), r"preauthenticated_by.email 'not-an-address' is not an e-mail address"),
        (dict(CONTACT, first_name=" "), r"preauthenticated_by needs first_name"),
        ({}, r"preauthenticated_by needs first_name, last_name, job_title, email, company"),
    ],
)
def test_contact_fields_are_validated(chained, contact, message):
    p, tokens = chained
    landed = sign_in(begin(p).result["url"])
    with pytest.raises(PreauthError, match=message):
        finish(p, redirect_url=landed, contact=contact)
    assert_chain_intact(p, tokens)


def test_no_pending_attempt(exact):
    with pytest.raises(PreauthError) as caught:
        finish(exact, redirect_url="https://preauth.example.test/callback?code=x&state=y")
    assert caught.value.msg == (
        "there is no pending authorization to complete; first create an authorization URL (preauth.oauth2.authorization_url, "
        "or ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl -e preauth_step=url)"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _query_of_pending(p: dict[str, t.Any]) -> str:
    pending = stored(p)["pending"]
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import pkce_challenge

    return urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": p["client_id"],
            "redirect_uri": pending["redirect_uri"],
            "state": pending["state"],
            "code_challenge": pkce_challenge(pending["code_verifier"]),
            "code_challenge_method": "S256",
        }
    )
