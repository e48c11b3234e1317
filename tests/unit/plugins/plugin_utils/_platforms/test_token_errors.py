"""Each platform's ``token_errors`` rule reads the refusal the simulator sends in that platform's words as the table says.

The refusal comes over real HTTP from the simulator (fault ``echo_before``: nothing is processed, the answer carries the
status, error and description given); the OAuth client classifies it with the platform's rules from the table.
"""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthClient, OAuthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import get_platform
from helpers import EXACT, USER
from simulator.flows import authorize_url, exchange, landed, query_of

NL = "/nl/api/oauth2"

# platform, status, error, description, the kind the table gives, the source that reports the answer (docs/sources.md)
REFUSALS = [
    ("exact_online", 400, "invalid_grant", "Token is not allowed, because of invalid or empty chainId", "invalid_grant", "I16"),
    ("exact_online", 401, "unauthorized_client", "Old refresh token used.", "invalid_grant", "I24"),
    ("hubspot", 400, "BAD_REFRESH_TOKEN", "missing or invalid refresh token", "invalid_grant", "H7"),
    ("quickbooks", 400, "invalid_grant", "Refresh token not found: (hidden)", "invalid_grant", "Q7"),
    ("quickbooks", 400, "invalid_grant", "Incorrect or invalid refresh token", "invalid_grant", "Q8"),
    (
        "microsoft",
        400,
        "invalid_grant",
        "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2019-01-02T09:19:53.5422744Z and was "
        "inactive for 90.00:00:00.",
        "expired",
        "M8",
    ),
    (
        "microsoft",
        400,
        "invalid_grant",
        "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed "
        "or reset their password.",
        "invalid_grant",
        "M9",
    ),
    ("salesforce", 400, "invalid_grant", "expired access/refresh token", "invalid_grant", "S11"),
]


@pytest.fixture
def refresh_token(sim, control) -> str:
    """The refresh token of a fresh Exact Online chain, 600 s old; any platform's rules can read the simulator's refusal of it."""
    code = query_of(landed(authorize_url(sim.base_url, NL + "/auth", EXACT["client_id"]), USER))["code"]
    body: dict[str, t.Any] = exchange(sim.base_url + NL + "/token", EXACT, code).json()
    control.advance_clock(600)
    return body["refresh_token"]


def refused(sim, token: str, platform: str) -> OAuthError:
    rules = get_platform(platform).token_errors
    with pytest.raises(OAuthError) as caught:
        OAuthClient(timeout=5.0).refresh(
            sim.base_url + NL + "/token", token, EXACT["client_id"], EXACT["client_secret"], "client_secret_post", error_rules=rules
        )
    return caught.value


@pytest.mark.parametrize("platform, status, error, description, kind, source", REFUSALS, ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_the_simulators_refusal_is_read_as_the_table_says(sim, control, refresh_token, platform, status, error, description, kind, source):
    assert source in get_platform(platform).sources
    control.inject_fault("echo_before", status=status, error=error, description=description)
    caught = refused(sim, refresh_token, platform)
    assert (caught.kind, caught.status, caught.error) == (kind, status, error)
    assert caught.rotation is None
    assert control.state()["chains"][0]["refreshes"] == 0  # nothing was processed


def test_hubspots_code_is_a_dead_chain_only_by_its_rule(sim, control, refresh_token):
    # RFC 6749 does not know BAD_REFRESH_TOKEN: without HubSpot's rule the chain would not be read as dead.
    control.inject_fault("echo_before", status=400, error="BAD_REFRESH_TOKEN", description="missing or invalid refresh token")
    assert refused(sim, refresh_token, "generic").kind == "oauth_error"
    control.inject_fault("echo_before", status=400, error="BAD_REFRESH_TOKEN", description="missing or invalid refresh token")
    assert refused(sim, refresh_token, "hubspot").kind == "invalid_grant"


def test_a_refusal_in_other_words_gets_the_rfc_reading(sim, control, refresh_token):
    # Whole-string matches: Microsoft's rules do not reach another AADSTS code, which RFC 6749 still reads by its error.
    control.inject_fault("echo_before", status=400, error="invalid_request", description="AADSTS700082: not really")
    assert refused(sim, refresh_token, "microsoft").kind == "oauth_error"
    control.inject_fault("echo_before", status=400, error="invalid_grant", description="AADSTS70008: The provided authorization code has expired.")
    assert refused(sim, refresh_token, "microsoft").kind == "invalid_grant"


# HubSpot's own shape of the refusal (H8): no error key, the code in status and the text in message.
HUBSPOT_SHAPE = {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token", "correlationId": "FAKE-1"}


def test_hubspots_status_and_message_shape_is_a_dead_chain_by_its_rule(sim, control, refresh_token):
    assert "H8" in get_platform("hubspot").sources
    control.inject_fault("echo_before", status=400, drop=["error", "error_description"], values=HUBSPOT_SHAPE)
    caught = refused(sim, refresh_token, "hubspot")
    assert (caught.kind, caught.status, caught.error) == ("invalid_grant", 400, "BAD_REFRESH_TOKEN")
    assert caught.msg == "the token endpoint refused the request (HTTP 400 BAD_REFRESH_TOKEN: missing or invalid refresh token)"
    assert control.state()["chains"][0]["refreshes"] == 0
    # Without HubSpot's rule the code means nothing to RFC 6749.
    control.inject_fault("echo_before", status=400, drop=["error", "error_description"], values=HUBSPOT_SHAPE)
    assert refused(sim, refresh_token, "generic").kind == "oauth_error"


@pytest.mark.parametrize(
    "error, description, kind",
    [
        # RFC 6749's fields win: invalid_grant is a dead chain by RFC 6749 whatever status says.
        ("invalid_grant", "refresh token is invalid, expired or revoked", "invalid_grant"),
        # ... and another error is read as that error: status is not looked at when error is there.
        ("invalid_request", "missing or invalid refresh token", "oauth_error"),
    ],
)
def test_an_answer_with_both_shapes_is_read_by_its_error(sim, control, refresh_token, error, description, kind):
    control.inject_fault("echo_before", status=400, error=error, description=description, values=HUBSPOT_SHAPE)
    caught = refused(sim, refresh_token, "hubspot")
    assert (caught.kind, caught.error) == (kind, error)
    assert caught.msg == "the token endpoint refused the request (HTTP 400 %s: %s)" % (error, description)


# Zoom's shape of the refusal (ZM5): the RFC error code, the description in reason instead of error_description.
ZOOM_SHAPE = {"reason": "Invalid Token!"}


@pytest.mark.parametrize(
    "status, error, rfc_kind",
    [
        # As ZM5 shows it: invalid_grant, a dead chain by RFC 6749 already; the rule says the same in Zoom's words.
        (400, "invalid_grant", "invalid_grant"),
        # Another code with Zoom's words for a spent token (ZM1) is a dead chain only by Zoom's rule.
        (400, "invalid_request", "oauth_error"),
        (401, "invalid_request", "invalid_client"),
    ],
)
def test_zooms_invalid_token_in_reason_is_a_dead_chain_by_its_rule(sim, control, refresh_token, status, error, rfc_kind):
    assert {"ZM1", "ZM5"} <= set(get_platform("zoom").sources)
    control.inject_fault("echo_before", status=status, error=error, drop=["error_description"], values=ZOOM_SHAPE)
    caught = refused(sim, refresh_token, "zoom")
    assert (caught.kind, caught.status, caught.error) == ("invalid_grant", status, error)
    assert caught.msg == "the token endpoint refused the request (HTTP %d %s: Invalid Token!)" % (status, error)
    assert control.state()["chains"][0]["refreshes"] == 0
    # Without Zoom's rule the answer gets the RFC reading of its error code.
    control.inject_fault("echo_before", status=status, error=error, drop=["error_description"], values=ZOOM_SHAPE)
    assert refused(sim, refresh_token, "generic").kind == rfc_kind


@pytest.mark.parametrize(
    "values, drop",
    [
        # error_description wins over reason: Zoom's rule reads the RFC field when there is one.
        ({"reason": "Invalid Token!"}, []),
        # Whole-string match: other words in reason are not Zoom's spent token.
        ({"reason": "Invalid Token! or not"}, ["error_description"]),
        ({"reason": "Invalid authorization code"}, ["error_description"]),
    ],
)
def test_other_words_from_zoom_get_the_rfc_reading(sim, control, refresh_token, values, drop):
    control.inject_fault("echo_before", status=400, error="invalid_request", description="The request was refused", drop=drop, values=values)
    assert refused(sim, refresh_token, "zoom").kind == "oauth_error"
