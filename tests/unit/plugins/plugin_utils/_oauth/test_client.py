"""The OAuth client against hostile answers: numbers, rate-limit headers, echoed secrets, slow and
huge bodies - over real sockets to the simulator where the behaviour is HTTP."""

from __future__ import annotations

import email.utils
import time
import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import (
    MAX_ACCESS_LIFETIME,
    MAX_BODY,
    MAX_RETRY_AFTER,
    MAX_SERVER_TEXT,
    Answer,
    OAuthClient,
    OAuthError,
    bounded_seconds,
    classify,
    fingerprint,
    parse_expires_in,
    retry_after,
    server_text,
)
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import get_platform
from helpers import EXACT, STRICT, USER
from simulator.flows import authorize_url, exchange, landed, query_of

NOW = 1_800_000_000.0
NL = "/nl/api/oauth2"
FAKE_REFRESH = "FAKE-refresh-token-1"
FAKE_SECRET = "FAKE-client-secret-1"


def leaks(text: str, **values: str) -> list[str]:
    """The names of the values that occur in ``text`` (never the values: a failing assert must not print them)."""
    return sorted(name for name, value in values.items() if value and value in text)


# -- numbers from a server ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": " 120 "}, 120.0),
        ({"Retry-After": "99999999999"}, float(MAX_RETRY_AFTER)),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 3600, usegmt=True)}, 0.0),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, float(MAX_RETRY_AFTER)),
        ({"X-RateLimit-Minutely-Reset": str(int((NOW + 20) * 1000))}, 20.0),
        ({"X-RateLimit-Minutely-Reset": str(int((NOW - 20) * 1000))}, 0.0),
        ({"X-RateLimit-Minutely-Reset": "9" * 16}, float(MAX_RETRY_AFTER)),
        ({"Retry-After": "soon", "X-RateLimit-Minutely-Reset": str(int((NOW + 5) * 1000))}, 5.0),
    ],
)
def test_retry_after_is_read_and_clamped(headers, expected):
    assert retry_after(headers, NOW) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("value", ["soon", "", "-5", "1.5", "\u00b2", "Mon, 99 Foo 2026 99:99:99 GMT", "0x10", "१२"])
def test_garbage_in_retry_after_is_no_wait_at_all(value):
    assert retry_after({"Retry-After": value}, NOW) is None
    assert retry_after({"X-RateLimit-Minutely-Reset": value}, NOW) is None


@pytest.mark.parametrize(
    "value, seconds, warned",
    [
        ("600", 600, None),
        (3600, 3600, None),
        (599.9, 599, None),
        (1e20, MAX_ACCESS_LIFETIME, "expires_in is 1e+20 s, more than the 31622400 s this collection accepts; 31622400 s is used"),
        (10**400, MAX_ACCESS_LIFETIME, "expires_in is inf s, more than the 31622400 s this collection accepts; 31622400 s is used"),
        (float("inf"), MAX_ACCESS_LIFETIME, "expires_in is inf s, more than the 31622400 s this collection accepts; 31622400 s is used"),
        (-5, 0, "expires_in is negative (-5); 0 s is used"),
        ("-5", 0, "expires_in is negative (-5); 0 s is used"),
        ("abc", None, "expires_in is not a number of seconds; it is ignored"),
        (float("nan"), None, "expires_in is not a number of seconds; it is ignored"),
        (True, None, "expires_in is not a number of seconds; it is ignored"),
        ([600], None, "expires_in is not a number of seconds; it is ignored"),
        (None, None, None),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_numbers_from_a_server_are_bounded_with_a_warning(value, seconds, warned):
    assert bounded_seconds(value, "expires_in", MAX_ACCESS_LIFETIME) == (seconds, warned)
    assert parse_expires_in(value) == seconds


# -- server text in messages -------------------------------------------------------------------


def test_server_text_hides_secrets_in_every_encoding_strips_controls_and_is_short():
    secret = "FAKE secret/+=&1"  # characters that URL and JSON encodings change
    echoed = "raw %s, url %s, plus %s, json %s, split FAKE-refresh-\x00\x1b[31mtoken-1, \x1b]0;title\x07 %s" % (
        secret,
        "FAKE%20secret%2F%2B%3D%261",
        "FAKE+secret%2F%2B%3D%261",
        '"FAKE secret/+=&1"'.replace("/", "\\/")[1:-1].replace("\\/", "/"),
        "x" * 1000,
    )
    text = server_text(echoed, [secret, FAKE_REFRESH, None, ""])
    assert leaks(text, secret=secret, refresh=FAKE_REFRESH, url="FAKE%20secret", plus="FAKE+secret") == []
    assert text.count("(hidden)") == 5
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
    assert len(text) <= MAX_SERVER_TEXT + 3 and text.endswith("...")
    assert server_text("line one\r\n\tline two\u202e", []) == "line one line two"


def test_a_json_answer_nested_too_deeply_is_not_json():
    with pytest.raises(ValueError):
        Answer(200, {}, b"[" * 200_000).json()


# -- the token endpoint ------------------------------------------------------------------------


@pytest.fixture
def chain(sim, control) -> dict[str, t.Any]:
    """A fresh Exact Online chain, 600 s old (a refresh is allowed)."""
    code = query_of(landed(authorize_url(sim.base_url, NL + "/auth", EXACT["client_id"]), USER))["code"]
    body = exchange(sim.base_url + NL + "/token", EXACT, code).json()
    control.advance_clock(600)
    return body


def client(timeout: float = 5.0) -> OAuthClient:
    return OAuthClient(timeout=timeout)


EXACT_RULES = get_platform("exact_online").token_errors


def refresh(sim, token: str, timeout: float = 5.0, client_auth: str = "client_secret_post", error_rules=EXACT_RULES):
    return client(timeout).refresh(sim.base_url + NL + "/token", token, EXACT["client_id"], EXACT["client_secret"], client_auth, error_rules=error_rules)


@pytest.mark.parametrize("client_auth", ["client_secret_post", "client_secret_basic"])
def test_an_echoed_refresh_token_and_client_secret_never_reach_the_message(sim, control, chain, client_auth):
    control.inject_fault(
        "echo_before",
        description="Refresh token {refresh_token} is not valid for {client_id} with secret {client_secret}\x1b[2J" + " padding" * 100,
    )
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], client_auth=client_auth)
    msg = caught.value.msg
    assert leaks(msg, refresh=chain["refresh_token"], secret=EXACT["client_secret"]) == []
    assert msg.startswith(
        "the token endpoint refused the request (HTTP 400 invalid_request: Refresh token (hidden) is not valid for %s with secret (hidden) padding"
        % EXACT["client_id"]
    )
    assert "\x1b" not in msg and len(msg) < MAX_SERVER_TEXT + 100
    assert caught.value.kind == "oauth_error" and caught.value.rotation is None


def test_an_echoed_code_and_verifier_never_reach_the_message(sim, control):
    control.inject_fault("echo_before", error="invalid_grant", description="code {code} verifier {code_verifier}")
    with pytest.raises(OAuthError) as caught:
        client().exchange_code(
            sim.base_url + NL + "/token", "FAKE-code-1", "https://preauth.example.test/callback", EXACT["client_id"], EXACT["client_secret"],
            "client_secret_post", code_verifier="FAKE-verifier-1",
        )  # fmt: skip
    assert caught.value.msg == "the token endpoint refused the request (HTTP 400 invalid_grant: code (hidden) verifier (hidden))"


def test_hubspots_status_and_message_are_bounded_like_the_rfc_fields(sim, control, chain):
    # An answer without an error key in HubSpot's shape (docs/sources.md H8): status and message stand in for error and
    # error_description, with the same hiding of echoed secrets, removal of control characters and length caps.
    control.inject_fault(
        "echo_before",
        drop=["error", "error_description"],
        values={"status": "BAD_\x1b[31mREFRESH_TOKEN" + "X" * 200, "message": "no {refresh_token} for {client_secret}\u202e" + " padding" * 100},
    )
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], error_rules=())
    msg = caught.value.msg
    assert leaks(msg, refresh=chain["refresh_token"], secret=EXACT["client_secret"]) == []
    assert msg.startswith("the token endpoint refused the request (HTTP 400 BAD_REFRESH_TOKENXXX")
    assert ": no (hidden) for (hidden) padding" in msg
    assert "\x1b" not in msg and "\u202e" not in msg and len(msg) < 80 + MAX_SERVER_TEXT + 100
    assert caught.value.error == "BAD_REFRESH_TOKEN" + "X" * (80 - 17) + "..."
    assert caught.value.kind == "oauth_error"


@pytest.mark.parametrize(
    "values, error, described",
    [
        # A number in status is an HTTP status, not an error code: nothing to read.
        ({"status": 400, "message": "missing or invalid refresh token"}, None, "HTTP 400 error)"),
        # The message alone is not read as a description: only status and message together stand in for the RFC fields.
        ({"message": "missing or invalid refresh token"}, None, "HTTP 400 error)"),
        ({"status": "BAD_REFRESH_TOKEN"}, "BAD_REFRESH_TOKEN", "HTTP 400 BAD_REFRESH_TOKEN)"),
    ],
)
def test_only_a_text_status_stands_in_for_the_error(sim, control, chain, values, error, described):
    control.inject_fault("echo_before", drop=["error", "error_description"], values=values)
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], error_rules=())
    assert caught.value.error == error and caught.value.msg.endswith(described)


def test_zooms_reason_is_bounded_like_the_rfc_description(sim, control, chain):
    # An answer whose description is in reason, not error_description (Zoom, docs/sources.md ZM5): the same hiding of
    # echoed secrets, removal of control characters and length cap as error_description.
    control.inject_fault(
        "echo_before",
        error="invalid_grant",
        drop=["error_description"],
        values={"reason": "Invalid \x1b[31m{refresh_token} for {client_secret}\u202e\x00" + " padding" * 100},
    )
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], error_rules=())
    msg = caught.value.msg
    assert leaks(msg, refresh=chain["refresh_token"], secret=EXACT["client_secret"]) == []
    assert msg.startswith("the token endpoint refused the request (HTTP 400 invalid_grant: Invalid (hidden) for (hidden) padding")
    assert "\x1b" not in msg and "\u202e" not in msg and "\x00" not in msg
    assert len(msg) <= len("the token endpoint refused the request (HTTP 400 invalid_grant: )") + MAX_SERVER_TEXT + 3 and msg.endswith("...)")
    assert (caught.value.kind, caught.value.error) == ("invalid_grant", "invalid_grant")


@pytest.mark.parametrize(
    "values, drop, described",
    [
        # error_description, when it is text, is the description; reason is not read.
        ({"reason": "Invalid Token!"}, [], "HTTP 400 invalid_request: the RFC words)"),
        # An empty or non-text error_description is no description: reason stands in.
        ({"error_description": "  ", "reason": "Invalid Token!"}, [], "HTTP 400 invalid_request: Invalid Token!)"),
        ({"error_description": 7, "reason": "Invalid Token!"}, [], "HTTP 400 invalid_request: Invalid Token!)"),
        # A reason that is not text is not a description either.
        ({"reason": {"text": "Invalid Token!"}}, ["error_description"], "HTTP 400 invalid_request)"),
        ({"reason": ["Invalid Token!"]}, ["error_description"], "HTTP 400 invalid_request)"),
        # In HubSpot's shape (no error key, text status), message is the description, never reason.
        ({"status": "BAD_REFRESH_TOKEN", "reason": "Invalid Token!"}, ["error", "error_description"], "HTTP 400 BAD_REFRESH_TOKEN)"),
    ],
)
def test_reason_stands_in_only_for_a_missing_description(sim, control, chain, values, drop, described):
    control.inject_fault("echo_before", description="the RFC words", drop=drop, values=values)
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], error_rules=get_platform("zoom").token_errors)
    assert caught.value.msg.endswith(described)
    assert caught.value.kind == ("invalid_grant" if described.endswith(": Invalid Token!)") else "oauth_error")


def test_a_200_without_an_access_token_hands_over_the_new_refresh_token(sim, control, chain):
    control.inject_fault("patch_after", drop=["access_token"])
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"])
    rotation = caught.value.rotation
    assert caught.value.msg == "the token endpoint answered HTTP 200 without an access_token"
    assert rotation is not None and fingerprint(rotation.refresh_token) == control.state()["chains"][0]["refresh_fingerprint"]


def test_a_429_that_carries_a_new_refresh_token_hands_it_over(sim, control, chain):
    control.inject_fault("patch_after", status=429, retry_after="0", values={"refresh_token_expires_in": "abc"})
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"])
    assert caught.value.kind == "rate_limited" and caught.value.retry_after == 0
    rotation = caught.value.rotation
    assert rotation is not None and fingerprint(rotation.refresh_token) == control.state()["chains"][0]["refresh_fingerprint"]
    assert rotation.warnings == ["refresh_token_expires_in is not a number of seconds; it is ignored"]


def test_odd_numbers_in_a_good_answer_are_clamped_with_warnings(sim, control, chain):
    control.inject_fault("patch_after", values={"expires_in": 1e20, "refresh_token_expires_in": -5, "token_type": "x" * 100})
    fresh = refresh(sim, chain["refresh_token"])
    assert (fresh.expires_in, fresh.refresh_expires_in, fresh.token_type) == (MAX_ACCESS_LIFETIME, 0, "Bearer")
    assert fresh.warnings == [
        "expires_in is 1e+20 s, more than the 31622400 s this collection accepts; 31622400 s is used",
        "refresh_token_expires_in is negative (-5); 0 s is used",
    ]


# -- limits on every answer --------------------------------------------------------------------


def test_a_slowly_dripped_answer_ends_at_the_deadline(sim, control, chain):
    control.inject_fault("drip_after", interval=0.1)  # about 17 s for the whole answer
    started = time.monotonic()
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"], timeout=1.0)
    elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout" and caught.value.msg == "the token endpoint did not finish its answer within 1 s"
    assert elapsed < 2.5


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["token", "discovery", "me"])
def test_a_huge_answer_is_not_read(sim, control, chain, endpoint, chunked):
    size = 64 * 1024 * 1024
    control.inject_fault("huge_before", endpoint=endpoint, size=size, chunked=chunked)
    what = {"token": "token endpoint", "discovery": "discovery document", "me": "API"}[endpoint]
    started = time.monotonic()
    with pytest.raises(OAuthError) as caught:
        if endpoint == "token":
            refresh(sim, chain["refresh_token"])
        elif endpoint == "discovery":
            client().discover(sim.base_url + "/strict/.well-known/openid-configuration")
        else:
            client().whoami(sim.base_url + "/nl/api/v1/current/Me", chain["access_token"])
    assert time.monotonic() - started < 3
    assert caught.value.kind == "too_large"
    assert caught.value.msg == "the %s sent an answer larger than %d KiB (HTTP 200); it was not read" % (what, MAX_BODY // 1024)
    assert control.state()["fault_bytes_sent"] < size // 4


def test_the_revocation_endpoint_has_the_same_limits(sim, control):
    control.inject_fault("huge_before", endpoint="revoke", chunked=True, size=8 * MAX_BODY)
    revoker = OAuthClient(timeout=5.0)
    with pytest.raises(OAuthError) as caught:
        revoker.revoke(sim.base_url + "/strict/revoke", FAKE_REFRESH, "refresh_token", STRICT["client_id"], STRICT["client_secret"], "client_secret_post")
    assert caught.value.kind == "too_large"
    control.inject_fault("echo_before", endpoint="revoke", error="invalid_request", description="no such token {token} ({client_secret})")
    with pytest.raises(OAuthError) as caught:
        revoker.revoke(sim.base_url + "/strict/revoke", FAKE_REFRESH, "refresh_token", STRICT["client_id"], STRICT["client_secret"], "client_secret_post")
    assert caught.value.msg == "the revocation endpoint refused the request (HTTP 400 invalid_request: no such token (hidden) ((hidden)))"


def test_a_good_answer_within_the_limits_is_read_whole(sim, chain, control):
    fresh = refresh(sim, chain["refresh_token"])
    assert fresh.expires_in == 600 and fresh.warnings == []
    assert fingerprint(fresh.refresh_token) == control.state()["chains"][0]["refresh_fingerprint"]


# -- what a refusal means: the platform's reading first, then RFC 6749's (issue 10) ------------


def test_exacts_answer_to_a_used_refresh_token_is_a_dead_grant_not_a_client_problem(sim, control, chain):
    refresh(sim, chain["refresh_token"])
    control.advance_clock(600)
    with pytest.raises(OAuthError) as caught:
        refresh(sim, chain["refresh_token"])
    assert (caught.value.kind, caught.value.status, caught.value.error) == ("invalid_grant", 401, "unauthorized_client")
    assert caught.value.msg == "the token endpoint refused the request (HTTP 401 unauthorized_client: Old refresh token used.)"
    # Without Exact's rules the same answer gets the RFC 6749 reading.
    with pytest.raises(OAuthError) as generic:
        refresh(sim, chain["refresh_token"], error_rules=())
    assert generic.value.kind == "invalid_client"


def test_exacts_expiry_and_too_early_answers_are_read_from_the_table(sim, control, chain):
    fresh = refresh(sim, chain["refresh_token"])
    with pytest.raises(OAuthError) as early:
        refresh(sim, fresh.refresh_token)
    assert early.value.kind == "too_early"
    control.advance_clock(31 * 86400)
    with pytest.raises(OAuthError) as expired:
        refresh(sim, fresh.refresh_token)
    assert expired.value.kind == "expired" and "The refresh token expired at " in expired.value.msg


def _refusal(status: int, body: bytes, headers: dict[str, str] | None = None, rules=EXACT_RULES) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        client()._token_answer(Answer(status, headers or {"Content-Type": "application/json"}, body), NOW, [FAKE_SECRET], FAKE_REFRESH, rules)
    return caught.value


@pytest.mark.parametrize(
    "status, body, kind",
    [
        (401, b'{"error":"unauthorized_client","error_description":"Old refresh token used."}', "invalid_grant"),
        (401, b'{"error":"unauthorized_client","error_description":"The client may not use this grant."}', "invalid_client"),
        (401, b'{"error":"invalid_client","error_description":"Client authentication failed."}', "invalid_client"),
        (401, b'{"error":"unauthorized_client"}', "invalid_client"),
        (400, b'{"error":"invalid_grant","error_description":"Token is not allowed, because of invalid or empty chainId"}', "invalid_grant"),
        (400, b'{"error":"invalid_request","error_description":"The refresh token is missing."}', "oauth_error"),
    ],
    ids=["old-token", "401-other-description", "401-invalid_client", "401-no-description", "chainId", "400-other"],
)
def test_exact_refusals_are_classified(status, body, kind):
    assert _refusal(status, body).kind == kind


def test_the_generic_reading_is_rfc_6749():
    assert classify(400, "invalid_grant", "anything", {}) == "invalid_grant"
    assert classify(401, "unauthorized_client", "Old refresh token used.", {}) == "invalid_client"
    assert classify(400, "invalid_client", "", {}) == "invalid_client"
    # Exact's wording of an expiry or of the 570 s rule means nothing on another platform.
    assert classify(400, "invalid_request", "The refresh token expired at 1/1/2026 1:00:00 AM and it is now 2/1/2026 1:00:00 AM.", {}) == "oauth_error"
    assert classify(400, "access_denied", "Rate limit exceeded: access_token not expired", {"Reason": "TooEarlyToRefreshTokens: x"}) == "oauth_error"


def test_a_refused_discovery_or_api_call_names_the_url_and_status_whatever_the_url_holds(sim):
    odd = sim.base_url + "/no-such%20place%d/.well-known/openid-configuration"  # a '%' in the URL is text, not a format
    with pytest.raises(OAuthError) as caught:
        client().discover(odd)
    assert (caught.value.kind, caught.value.msg) == ("config", "the discovery document %s answered HTTP 404" % odd)
    me = sim.base_url + "/nl/api/v1/current/Me"
    with pytest.raises(OAuthError) as caught:
        client().whoami(me, "FAKE-access-token-5b1c")
    assert (caught.value.kind, caught.value.msg) == ("oauth_error", "the API at %s refused the new access token (HTTP 401)" % me)
    assert "FAKE-access-token-5b1c" not in caught.value.msg


def _https_server(tls: t.Any) -> t.Any:
    """An HTTPS server on 127.0.0.1 with the test CA's certificate that answers every GET with a discovery document."""
    import http.server
    import json
    import ssl
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"issuer": "https://127.0.0.1", "authorization_endpoint": "https://127.0.0.1/a", "token_endpoint": "https://127.0.0.1/t"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_path, tls.key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_ca_path_and_validate_certs_win_over_the_ca_bundle_variables(tmp_path, monkeypatch):
    """REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE (set on many machines) override a requests session's own verify: the options must not be."""
    from receivers import make_tls

    tls = make_tls(str(tmp_path))
    server = _https_server(tls)
    url = "https://127.0.0.1:%d/.well-known/openid-configuration" % server.server_address[1]
    try:
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
        assert OAuthClient(timeout=5, ca_path=tls.ca_path).discover(url)["token_endpoint"] == "https://127.0.0.1/t"
        assert OAuthClient(timeout=5, validate_certs=False).discover(url)["issuer"] == "https://127.0.0.1"
        with pytest.raises(OAuthError):
            OAuthClient(timeout=5).discover(url)  # the system's CAs do not know the test CA
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_path)
        assert OAuthClient(timeout=5).discover(url)["issuer"] == "https://127.0.0.1"  # without ca_path the variable still counts
    finally:
        server.shutdown()
        server.server_close()
