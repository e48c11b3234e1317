"""The simulator's authorization endpoint, login pages, second factor and consent."""

from __future__ import annotations

import urllib.parse

import pytest
import requests

from helpers import EXACT, STRICT, TWINFIELD, USER
from simulator.browser import LoginFailed, ScriptedBrowser
from simulator.flows import REDIRECT, authorize_url, landed, query_of
from simulator.totp import totp

NL_AUTH = "/nl/api/oauth2/auth"


def test_index_and_discovery_documents(sim):
    index = requests.get(sim.base_url + "/", timeout=5).json()
    assert index["realms"]["nl"]["token"] == sim.base_url + "/nl/api/oauth2/token"
    assert index["realms"]["co.uk"]["authorize"] == sim.base_url + "/co.uk/api/oauth2/auth"
    doc = requests.get(sim.base_url + "/strict/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == sim.base_url + "/strict"
    assert doc["token_endpoint"] == sim.base_url + "/strict/token"
    assert doc["revocation_endpoint"] == sim.base_url + "/strict/revoke"
    assert "S256" in doc["code_challenge_methods_supported"]
    tw = requests.get(sim.base_url + "/twinfield/auth/authentication/.well-known/openid-configuration", timeout=5).json()
    assert tw["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert "revocation_endpoint" not in tw


def test_login_page_asks_for_user_and_password(sim):
    page = requests.get(authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"]), timeout=5)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "name='username'" in page.text and "type='password'" in page.text


def test_unknown_client_is_shown_an_error_and_not_redirected(sim):
    page = requests.get(authorize_url(sim.base_url, NL_AUTH, "not-registered"), timeout=5, allow_redirects=False)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "Unknown client_id" in page.text


@pytest.mark.parametrize("redirect", [REDIRECT + "/", "https://preauth.example.test/Callback", "http://preauth.example.test/callback"])
def test_redirect_uri_must_match_exactly(sim, redirect):
    url = authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"]).replace(urllib.parse.quote(REDIRECT, safe=""), urllib.parse.quote(redirect, safe=""))
    page = requests.get(url, timeout=5, allow_redirects=False)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "redirect_uri does not match" in page.text


def test_implicit_grant_is_refused_via_the_redirect(sim):
    url = authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"], response_type="token")
    reply = requests.get(url, timeout=5, allow_redirects=False)
    assert reply.status_code == 302
    assert query_of(reply.headers["Location"])["error"] == "unsupported_response_type"


def test_full_login_redirects_with_an_exact_style_code_and_the_state(sim):
    url = authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"], force_login="1")
    browser = ScriptedBrowser()
    where = browser.login(url, USER["username"], USER["password"], USER["totp_secret"])
    assert where.startswith(REDIRECT + "?")
    raw_query = urllib.parse.urlsplit(where).query
    assert "%21" in raw_query and "!" not in raw_query  # the code arrives URL-encoded
    params = query_of(where)
    assert "!" in params["code"]
    assert params["state"] == "st-1"
    assert browser.steps == [
        "open the authorization URL",
        "fill in user name and password",
        "enter the code from the authenticator app",
        "press Allow on the consent page",
        "redirected back to the application",
    ]


def test_wrong_password_and_wrong_second_factor_are_refused(sim):
    url = authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"])
    with pytest.raises(LoginFailed, match="User name or password is not correct"):
        ScriptedBrowser().login(url, USER["username"], "wrong", USER["totp_secret"])
    with pytest.raises(LoginFailed, match="The code is not correct"):
        ScriptedBrowser().login(url, USER["username"], USER["password"], "GEZDGNBVGY3TQOJQ")


def test_second_factor_accepts_only_a_current_code(sim):
    session = requests.Session()
    page = session.get(authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"]), timeout=5)
    txn = page.text.split("name='txn' value='")[1].split("'")[0]
    base = sim.base_url + NL_AUTH
    mfa = session.post(base + "/login", data={"txn": txn, "username": USER["username"], "password": USER["password"]}, timeout=5)
    assert "Two-step verification" in mfa.text
    import time

    stale = totp(USER["totp_secret"], time.time() - 300)
    again = session.post(base + "/mfa", data={"txn": txn, "totp": stale}, timeout=5)
    assert "The code is not correct" in again.text
    ok = session.post(base + "/mfa", data={"txn": txn, "totp": totp(USER["totp_secret"])}, timeout=5)
    assert "Allow access" in ok.text
    # Steps cannot be replayed or skipped once the attempt moved on.
    replay = session.post(base + "/login", data={"txn": txn, "username": USER["username"], "password": USER["password"]}, timeout=5)
    assert replay.status_code == 400


def test_deny_redirects_with_access_denied_and_the_state(sim):
    where = landed(authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"]), USER, decision="deny")
    params = query_of(where)
    assert params["error"] == "access_denied"
    assert params["state"] == "st-1"
    assert "code" not in params


def test_unknown_attempt_is_refused(sim):
    reply = requests.post(sim.base_url + NL_AUTH + "/consent", data={"txn": "made-up", "decision": "allow"}, timeout=5)
    assert reply.status_code == 400
    assert "unknown or already finished" in reply.text


def test_loopback_redirect_may_vary_its_port_only_where_the_profile_allows(sim):
    params = {
        "client_id": STRICT["client_id"],
        "redirect_uri": "http://127.0.0.1:48123/callback",
        "response_type": "code",
        "state": "s",
        "scope": "openid offline_access",
    }
    ok = requests.get(sim.base_url + "/strict/authorize?" + urllib.parse.urlencode(params), timeout=5)
    assert ok.status_code == 200
    params["redirect_uri"] = "http://127.0.0.1:48123/other"
    bad = requests.get(sim.base_url + "/strict/authorize?" + urllib.parse.urlencode(params), timeout=5)
    assert bad.status_code == 400
    exact = {"client_id": EXACT["client_id"], "redirect_uri": "http://127.0.0.1:48123/callback", "response_type": "code"}
    refused = requests.get(sim.base_url + NL_AUTH + "?" + urllib.parse.urlencode(exact), timeout=5)
    assert refused.status_code == 400


def test_twinfield_profile_requires_a_nonce(sim):
    path = "/twinfield/auth/authentication/connect/authorize"
    reply = requests.get(authorize_url(sim.base_url, path, TWINFIELD["client_id"], scope="openid offline_access"), timeout=5, allow_redirects=False)
    assert reply.status_code == 302
    assert query_of(reply.headers["Location"])["error"] == "invalid_request"
    with_nonce = authorize_url(sim.base_url, path, TWINFIELD["client_id"], scope="openid offline_access", nonce="n-1")
    assert "code" in query_of(landed(with_nonce, USER))


def test_unsupported_pkce_method_is_refused(sim):
    url = authorize_url(sim.base_url, NL_AUTH, EXACT["client_id"], code_challenge="abc", code_challenge_method="S512")
    reply = requests.get(url, timeout=5, allow_redirects=False)
    assert query_of(reply.headers["Location"])["error"] == "invalid_request"
