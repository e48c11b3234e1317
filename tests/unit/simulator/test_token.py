"""The simulator's token endpoint and API: Exact's rules, strict reuse detection, Twinfield's rules."""

from __future__ import annotations

import urllib.parse

import pytest
import requests

from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PLATFORMS
from helpers import EXACT, STRICT, TWINFIELD, USER
from simulator import DEFAULT_CONFIG, fingerprint
from simulator.authority import PROFILES
from simulator.flows import REDIRECT, authorize_url, exchange, landed, pkce_pair, query_of, refresh, token

NL = "/nl/api/oauth2"
STRICT_SCOPE = "openid offline_access"


def exact_code(sim, country="nl", **extra):
    return query_of(landed(authorize_url(sim.base_url, "/%s/api/oauth2/auth" % country, EXACT["client_id"], **extra), USER))["code"]


def exact_tokens(sim, country="nl"):
    reply = exchange(sim.base_url + "/%s/api/oauth2/token" % country, EXACT, exact_code(sim, country))
    assert reply.status_code == 200, reply.text
    return reply.json()


def strict_tokens(sim, scope=STRICT_SCOPE):
    code = query_of(landed(authorize_url(sim.base_url, "/strict/authorize", STRICT["client_id"], scope=scope), USER))["code"]
    reply = exchange(sim.base_url + "/strict/token", STRICT, code)
    assert reply.status_code == 200, reply.text
    return reply.json()


ME_PATH = NL.replace("/oauth2", "") + "/v1/current/Me"


def me(sim, access, path=ME_PATH):
    return requests.get(sim.base_url + path, headers={"Authorization": "Bearer " + access}, timeout=5)


def test_exchange_returns_exact_shaped_tokens(sim):
    body = exact_tokens(sim)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "600"  # a string, as Exact sends it
    assert "!" in body["refresh_token"]
    assert me(sim, body["access_token"]).json()["d"]["results"][0]["UserName"] == USER["username"]


def test_http_basic_client_authentication_is_accepted(sim):
    form = {"grant_type": "authorization_code", "code": exact_code(sim), "redirect_uri": "https://preauth.example.test/callback"}
    reply = token(sim.base_url + NL + "/token", EXACT, basic=True, **form)
    assert reply.status_code == 200


def test_wrong_client_secret_is_invalid_client(sim):
    wrong = dict(EXACT, client_secret="not-the-secret")
    reply = exchange(sim.base_url + NL + "/token", wrong, exact_code(sim))
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


def test_code_is_single_use(sim):
    code = exact_code(sim)
    assert exchange(sim.base_url + NL + "/token", EXACT, code).status_code == 200
    again = exchange(sim.base_url + NL + "/token", EXACT, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "The authorization code has already been used."}


def test_code_lives_three_minutes(sim, control):
    fresh, stale = exact_code(sim), exact_code(sim)
    control.advance_clock(170)
    assert exchange(sim.base_url + NL + "/token", EXACT, fresh).status_code == 200
    control.advance_clock(11)
    late = exchange(sim.base_url + NL + "/token", EXACT, stale)
    assert late.status_code == 400
    assert late.json()["error_description"] == "The authorization code has expired."


def test_code_must_be_decoded_exactly_once(sim):
    code = exact_code(sim)
    still_encoded = urllib.parse.quote(code, safe="")
    assert "%21" in still_encoded
    assert exchange(sim.base_url + NL + "/token", EXACT, still_encoded).json()["error"] == "invalid_grant"
    assert exchange(sim.base_url + NL + "/token", EXACT, code).status_code == 200


def test_redirect_uri_must_match_at_the_token_endpoint(sim):
    reply = token(sim.base_url + NL + "/token", EXACT, grant_type="authorization_code", code=exact_code(sim), redirect_uri="https://preauth.example.test/other")
    assert reply.json()["error_description"] == "The redirect_uri does not match the authorization request."


def test_pkce_is_verified_when_a_challenge_was_sent(sim):
    verifier, challenge = pkce_pair()
    url = sim.base_url + NL + "/token"
    missing = exchange(url, EXACT, exact_code(sim, code_challenge=challenge, code_challenge_method="S256"))
    assert missing.json()["error_description"] == "code_verifier is required."
    wrong = exchange(url, EXACT, exact_code(sim, code_challenge=challenge, code_challenge_method="S256"), code_verifier="w" * 64)
    assert wrong.json()["error_description"] == "code_verifier does not match the code_challenge."
    right = exchange(url, EXACT, exact_code(sim, code_challenge=challenge, code_challenge_method="S256"), code_verifier=verifier)
    assert right.status_code == 200
    # Without a challenge a verifier is ignored, as by a server that does not do PKCE.
    assert exchange(url, EXACT, exact_code(sim), code_verifier=verifier).status_code == 200


def test_refresh_within_570_seconds_is_too_early(sim, control):
    body = exact_tokens(sim)
    control.advance_clock(569)
    early = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert early.status_code == 400
    assert early.json() == {"error": "access_denied", "error_description": "Rate limit exceeded: access_token not expired"}
    assert early.headers["Reason"] == "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"
    control.advance_clock(1)
    assert refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"]).status_code == 200


def test_refresh_rotates_and_the_old_token_is_void_at_once(sim, control):
    body = exact_tokens(sim)
    control.advance_clock(600)
    new = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"]).json()
    assert new["refresh_token"] != body["refresh_token"]
    assert new["expires_in"] == "600"
    old = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    # As Exact answers it (picqer/exact-php-client issues 300 and 644, Invantive's forum): 401, not RFC 6749's 400 invalid_grant.
    assert old.status_code == 401
    assert old.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    assert control.state()["token_calls_by_outcome"]["401:unauthorized_client"] == 1
    # Exact does not revoke the chain on reuse: the current token still works.
    control.advance_clock(600)
    assert refresh(sim.base_url + NL + "/token", EXACT, new["refresh_token"]).status_code == 200
    chain = control.state()["chains"][0]
    assert chain["state"] == "alive"
    assert chain["refreshes"] == 2
    assert fingerprint(body["refresh_token"]) in chain["retired_fingerprints"]


def test_refresh_token_idle_for_30_days_expires(sim, control):
    body = exact_tokens(sim)
    control.advance_clock(30 * 86400 + 1)
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"
    assert reply.json()["error_description"].startswith("The refresh token expired at ")
    assert " and it is now " in reply.json()["error_description"]
    assert control.state()["chains_expired"] == 1
    # Asked again, Exact gives the same answer (the chain does not turn into an invalid_grant).
    again = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_request")
    assert again.json()["error_description"].startswith("The refresh token expired at ")


def test_a_refresh_every_29_days_keeps_the_chain_alive(sim, control):
    current = exact_tokens(sim)["refresh_token"]
    for _month in range(3):
        control.advance_clock(29 * 86400)
        reply = refresh(sim.base_url + NL + "/token", EXACT, current)
        assert reply.status_code == 200
        current = reply.json()["refresh_token"]


def test_more_than_200_token_calls_per_app_user_and_day_get_429(sim, control):
    body = exact_tokens(sim)  # call 1 of the day
    url = sim.base_url + NL + "/token"
    with requests.Session() as session:
        form = {"client_id": EXACT["client_id"], "client_secret": EXACT["client_secret"], "grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
        statuses = [session.post(url, data=form, timeout=5).status_code for _call in range(200)]
    assert statuses[:199] == [400] * 199  # too early, but counted
    assert statuses[199] == 429
    assert control.state()["daily_token_calls"][0]["calls"] == 200
    control.advance_clock(86400)
    assert refresh(url, EXACT, body["refresh_token"]).status_code == 200


def test_access_token_works_for_600_seconds(sim, control):
    body = exact_tokens(sim)
    assert me(sim, body["access_token"]).status_code == 200
    assert me(sim, "made-up-token").status_code == 401
    control.advance_clock(600)
    expired = me(sim, body["access_token"])
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["WWW-Authenticate"]


def test_tokens_belong_to_their_country(sim):
    body = exact_tokens(sim, "nl")
    assert me(sim, body["access_token"], "/be/api/v1/current/Me").status_code == 401
    assert refresh(sim.base_url + "/be/api/oauth2/token", EXACT, body["refresh_token"]).json()["error"] == "invalid_grant"
    other = exact_tokens(sim, "co.uk")
    assert me(sim, other["access_token"], "/co.uk/api/v1/current/Me").status_code == 200


def test_strict_profile_revokes_the_chain_on_reuse(sim, control):
    body = strict_tokens(sim)
    assert isinstance(body["expires_in"], int)
    url = sim.base_url + "/strict/token"
    new = refresh(url, STRICT, body["refresh_token"])  # no minimum interval
    assert new.status_code == 200
    reuse = refresh(url, STRICT, body["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    assert "revoked" in reuse.json()["error_description"]
    assert refresh(url, STRICT, new.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert me(sim, new.json()["access_token"], "/strict/userinfo").status_code == 401
    assert control.state()["chains_revoked"] == 1


def test_strict_profile_expires_an_idle_refresh_token_with_invalid_grant(sim, control):
    body = strict_tokens(sim)
    control.advance_clock(90 * 86400 + 1)
    for attempt in (1, 2):
        reply = refresh(sim.base_url + "/strict/token", STRICT, body["refresh_token"])
        assert (attempt, reply.status_code, reply.json()) == (attempt, 400, {"error": "invalid_grant", "error_description": "The refresh token has expired."})
    assert control.state()["chains_expired"] == 1


def test_strict_profile_gives_a_refresh_token_only_for_offline_access(sim):
    assert "refresh_token" not in strict_tokens(sim, scope="openid")
    assert "refresh_token" in strict_tokens(sim)


def test_strict_revocation_endpoint(sim, control):
    body = strict_tokens(sim)
    url = sim.base_url + "/strict/revoke"
    form = {"client_id": STRICT["client_id"], "client_secret": STRICT["client_secret"]}
    assert requests.post(url, data=dict(form, token="unknown"), timeout=5).status_code == 200
    assert requests.post(url, data=dict(form, token=body["refresh_token"], token_type_hint="refresh_token"), timeout=5).status_code == 200
    assert control.state()["chains_revoked"] == 1
    assert refresh(sim.base_url + "/strict/token", STRICT, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_twinfield_profile_needs_basic_auth_and_rotates_as_the_table_assumes(sim):
    path = "/twinfield/auth/authentication/connect"
    url = authorize_url(sim.base_url, path + "/authorize", TWINFIELD["client_id"], scope="openid offline_access", nonce="n-1")
    code = query_of(landed(url, USER))["code"]
    token_url = sim.base_url + path + "/token"
    in_body = exchange(token_url, TWINFIELD, code)
    assert in_body.status_code == 401
    assert in_body.json()["error"] == "invalid_client"
    first = token(token_url, TWINFIELD, basic=True, grant_type="authorization_code", code=code, redirect_uri="https://preauth.example.test/callback")
    assert first.status_code == 200
    again = refresh(token_url, TWINFIELD, first.json()["refresh_token"], basic=True)
    assert again.status_code == 200
    # Twinfield's rotation is not documented: the table says unknown, the collection treats that as rotating, and so does the simulator.
    assert PLATFORMS["twinfield"].rotation == "unknown"
    assert again.json()["refresh_token"] != first.json()["refresh_token"]
    assert again.json()["access_token"] != first.json()["access_token"]
    old = refresh(token_url, TWINFIELD, first.json()["refresh_token"], basic=True)
    assert (old.status_code, old.json()["error"]) == (400, "invalid_grant")
    assert refresh(token_url, TWINFIELD, again.json()["refresh_token"], basic=True).status_code == 200


@pytest.mark.parametrize("grant", ["password", "client_credentials", ""])
def test_other_grants_are_unsupported(sim, grant):
    reply = token(sim.base_url + NL + "/token", EXACT, grant_type=grant)
    assert reply.json()["error"] == "unsupported_grant_type"


XERO = next(c for c in DEFAULT_CONFIG["clients"] if c["profile"] == "xero")


def xero_tokens(sim):
    url = authorize_url(sim.base_url, "/xero/identity/connect/authorize", XERO["client_id"], scope="offline_access")
    code = query_of(landed(url, USER))["code"]
    reply = token(sim.base_url + "/xero/connect/token", XERO, basic=True, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_xero_profile_accepts_the_previous_refresh_token_once_within_its_grace_as_the_table_says(sim, control):
    assert PROFILES["xero"].reuse_grace == PLATFORMS["xero"].spent_token_grace == 1800
    url = sim.base_url + "/xero/connect/token"
    first = xero_tokens(sim)
    rotated = refresh(url, XERO, first["refresh_token"], basic=True)
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != first["refresh_token"]
    # The answer was "lost": within 30 minutes the previous token works once more, and the chain goes on from the new answer.
    control.advance_clock(1700)
    retried = refresh(url, XERO, first["refresh_token"], basic=True)
    assert retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] not in (first["refresh_token"], rotated.json()["refresh_token"])
    assert refresh(url, XERO, rotated.json()["refresh_token"], basic=True).json()["error"] == "invalid_grant"  # the lost answer's token
    # Beyond the grace the token presented to the last rotation is refused; the chain itself lives on (Xero does not revoke it).
    latest = retried.json()["refresh_token"]
    newer = refresh(url, XERO, latest, basic=True).json()["refresh_token"]
    control.advance_clock(1801)
    late = refresh(url, XERO, latest, basic=True)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")
    assert refresh(url, XERO, newer, basic=True).status_code == 200
    assert control.state()["chains_revoked"] == 0


def test_the_exact_fault_after_issuing_is_the_500_of_exactonline_api_dotnet_client_issue_152(sim, control):
    body = exact_tokens(sim)
    control.advance_clock(570)
    control.inject_fault("http_500_after")
    reply = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert reply.status_code == 500
    fault = {"faultstring": "Failed to execute the ExtractVariables: ExtractAccessToken", "detail": {"errorcode": "steps.extractvariables.ExecutionFailed"}}
    assert reply.json() == {"fault": fault}
    # The token was issued before the fault: the presented one is spent, as Exact answers it (the table's spent_token "refused").
    assert PLATFORMS["exact_online"].spent_token == "refused"
    again = refresh(sim.base_url + NL + "/token", EXACT, body["refresh_token"])
    assert (again.status_code, again.json()["error_description"]) == (401, "Old refresh token used.")
