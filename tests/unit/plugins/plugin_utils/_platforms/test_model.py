"""The platform table: resolved URLs, pinned facts, refusals and the table's own consistency."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re

import pytest
from ansible._internal._datatag._tags import Origin

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invantive import SettingsError, render
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.table import TABLE
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import (
    CLIENT_AUTH_METHODS,
    ERROR_KINDS,
    FACT_FIELDS,
    FIELD_NAMES,
    INVANTIVE_ROLES,
    LIFETIME_KINDS,
    LOOPBACK_RULES,
    PKCE_MODES,
    PLATFORM_NAMES,
    PLATFORMS,
    ROTATIONS,
    Endpoints,
    ErrorRule,
    Platform,
    PlatformError,
    check_endpoint_url,
    discovery_url,
    get_platform,
    normalize_country,
    resolve_endpoints,
)
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record

EXACT_COUNTRIES = "nl, be, de, co.uk (or uk), com (or us), fr, es"
DAY = 86400


def exact_urls(tld: str) -> tuple[str, str, None, str, str]:
    base = "https://start.exactonline.%s" % tld
    return base + "/api/oauth2/auth", base + "/api/oauth2/token", None, base + "/api/v1/current/Me", base


RESOLVED = [
    # platform, arguments, authorize, token, revocation, whoami, base
    ("exact_online", {"country": "nl"}, *exact_urls("nl")),
    ("exact_online", {"country": "be"}, *exact_urls("be")),
    ("exact_online", {"country": "de"}, *exact_urls("de")),
    ("exact_online", {"country": "co.uk"}, *exact_urls("co.uk")),
    ("exact_online", {"country": "uk"}, *exact_urls("co.uk")),
    ("exact_online", {"country": "com"}, *exact_urls("com")),
    ("exact_online", {"country": "us"}, *exact_urls("com")),
    ("exact_online", {"country": "fr"}, *exact_urls("fr")),
    ("exact_online", {"country": "es"}, *exact_urls("es")),
    ("exact_online", {"country": " NL "}, *exact_urls("nl")),
    ("exact_online", {"country": "UK"}, *exact_urls("co.uk")),
    (
        "teamleader",
        {},
        "https://focus.teamleader.eu/oauth2/authorize",
        "https://focus.teamleader.eu/oauth2/access_token",
        None,
        "https://api.focus.teamleader.eu/users.me",
        "https://focus.teamleader.eu",
    ),
    (
        "twinfield",
        {},
        "https://login.twinfield.com/auth/authentication/connect/authorize",
        "https://login.twinfield.com/auth/authentication/connect/token",
        None,
        "https://login.twinfield.com/auth/authentication/connect/userinfo",
        "https://login.twinfield.com/auth/authentication",
    ),
    ("loket", {}, "https://oauth.loket.nl/authorize", "https://oauth.loket.nl/token", None, None, "https://oauth.loket.nl"),
    (
        "loket",
        {"environment": "acceptance"},
        "https://oauth.loket-acc.nl/authorize",
        "https://oauth.loket-acc.nl/token",
        None,
        None,
        "https://oauth.loket-acc.nl",
    ),
    (
        "visma_net",
        {},
        "https://connect.visma.com/connect/authorize",
        "https://connect.visma.com/connect/token",
        "https://connect.visma.com/connect/revocation",
        "https://connect.visma.com/connect/userinfo",
        "https://connect.visma.com",
    ),
    (
        "salesforce",
        {},
        "https://login.salesforce.com/services/oauth2/authorize",
        "https://login.salesforce.com/services/oauth2/token",
        "https://login.salesforce.com/services/oauth2/revoke",
        "https://login.salesforce.com/services/oauth2/userinfo",
        "https://login.salesforce.com",
    ),
    (
        "salesforce",
        {"environment": "Sandbox"},
        "https://test.salesforce.com/services/oauth2/authorize",
        "https://test.salesforce.com/services/oauth2/token",
        "https://test.salesforce.com/services/oauth2/revoke",
        "https://test.salesforce.com/services/oauth2/userinfo",
        "https://test.salesforce.com",
    ),
    (
        "salesforce",
        {"base_url": "https://acme.my.salesforce.com/"},
        "https://acme.my.salesforce.com/services/oauth2/authorize",
        "https://acme.my.salesforce.com/services/oauth2/token",
        "https://acme.my.salesforce.com/services/oauth2/revoke",
        "https://acme.my.salesforce.com/services/oauth2/userinfo",
        "https://acme.my.salesforce.com",
    ),
    (
        "microsoft",
        {},
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
        None,
        "https://graph.microsoft.com/oidc/userinfo",
        "https://login.microsoftonline.com",
    ),
    (
        "microsoft",
        {"tenant": "contoso.onmicrosoft.com"},
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        None,
        "https://graph.microsoft.com/oidc/userinfo",
        "https://login.microsoftonline.com",
    ),
    (
        "microsoft",
        {"tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token",
        None,
        "https://graph.microsoft.com/oidc/userinfo",
        "https://login.microsoftonline.com",
    ),
    (
        "google",
        {},
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://oauth2.googleapis.com/revoke",
        "https://openidconnect.googleapis.com/v1/userinfo",
        None,
    ),
    (
        "xero",
        {},
        "https://login.xero.com/identity/connect/authorize",
        "https://identity.xero.com/connect/token",
        "https://identity.xero.com/connect/revocation",
        "https://api.xero.com/connections",
        None,
    ),
    (
        "quickbooks",
        {},
        "https://appcenter.intuit.com/connect/oauth2",
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        None,
        None,
    ),
    ("hubspot", {}, "https://app.hubspot.com/oauth/authorize", "https://api.hubapi.com/oauth/v1/token", None, None, None),
    ("atlassian", {}, "https://auth.atlassian.com/authorize", "https://auth.atlassian.com/oauth/token", None, "https://api.atlassian.com/me", None),
    ("github", {}, "https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token", None, "https://api.github.com/user", None),
    (
        "gitlab",
        {},
        "https://gitlab.com/oauth/authorize",
        "https://gitlab.com/oauth/token",
        "https://gitlab.com/oauth/revoke",
        "https://gitlab.com/api/v4/user",
        "https://gitlab.com",
    ),
    (
        "gitlab",
        {"base_url": "https://git.example.com"},
        "https://git.example.com/oauth/authorize",
        "https://git.example.com/oauth/token",
        "https://git.example.com/oauth/revoke",
        "https://git.example.com/api/v4/user",
        "https://git.example.com",
    ),
    (
        "zoom",
        {},
        "https://zoom.us/oauth/authorize",
        "https://zoom.us/oauth/token",
        "https://zoom.us/oauth/revoke",
        "https://api.zoom.us/v2/users/me",
        None,
    ),
    (
        "calendly",
        {},
        "https://auth.calendly.com/oauth/authorize",
        "https://auth.calendly.com/oauth/token",
        "https://auth.calendly.com/oauth/revoke",
        "https://api.calendly.com/users/me",
        None,
    ),
    (
        "fortnox",
        {},
        "https://apps.fortnox.se/oauth-v1/auth",
        "https://apps.fortnox.se/oauth-v1/token",
        "https://apps.fortnox.se/oauth-v1/revoke",
        None,
        None,
    ),
    (
        "zoho",
        {"country": "eu"},
        "https://accounts.zoho.eu/oauth/v2/auth",
        "https://accounts.zoho.eu/oauth/v2/token",
        "https://accounts.zoho.eu/oauth/v2/token/revoke",
        None,
        "https://accounts.zoho.eu",
    ),
    (
        "zoho",
        {"country": "us"},
        "https://accounts.zoho.com/oauth/v2/auth",
        "https://accounts.zoho.com/oauth/v2/token",
        "https://accounts.zoho.com/oauth/v2/token/revoke",
        None,
        "https://accounts.zoho.com",
    ),
    (
        "paypal",
        {},
        "https://www.paypal.com/signin/authorize",
        "https://api-m.paypal.com/v1/oauth2/token",
        None,
        "https://api-m.paypal.com/v1/identity/openidconnect/userinfo?schema=openid",
        None,
    ),
    (
        "paypal",
        {"environment": "sandbox"},
        "https://www.sandbox.paypal.com/signin/authorize",
        "https://api-m.sandbox.paypal.com/v1/oauth2/token",
        None,
        "https://api-m.sandbox.paypal.com/v1/identity/openidconnect/userinfo?schema=openid",
        None,
    ),
]


def refused(exception_info: pytest.ExceptionInfo[PlatformError]) -> str:
    return str(exception_info.value)


@pytest.mark.parametrize(("name", "arguments", "authorize", "token", "revocation", "whoami", "base"), RESOLVED)
def test_resolved_urls(name, arguments, authorize, token, revocation, whoami, base):
    resolved = resolve_endpoints(get_platform(name), **arguments)
    assert resolved == Endpoints(authorize=authorize, token=token, revocation=revocation, whoami=whoami, base=base)


def test_every_named_platform_has_a_resolved_url_case():
    assert {case[0] for case in RESOLVED} == set(PLATFORM_NAMES) - {"generic"}


def test_exact_online_facts():
    exact = get_platform("exact_online")
    assert (exact.min_refresh_interval, exact.access_token_lifetime) == (570, 600)
    assert (exact.refresh_token_lifetime, exact.refresh_token_lifetime_kind) == (30 * DAY, "idle")
    assert (exact.daily_token_budget, exact.code_lifetime) == (200, 180)
    assert dict(exact.auth_params) == {"force_login": "1"}
    assert (exact.client_auth, exact.pkce, exact.rotation, exact.loopback_redirect) == ("client_secret_post", "unknown", "rotating", "not_allowed")
    assert exact.revocation_url is None
    assert exact.invantive_provider == "ExactOnlineAll"
    assert dict(exact.invantive_keys) == {
        "url": "api-url",
        "client_id": "api-client-id",
        "client_secret": "api-client-secret",
        "redirect_url": "api-redirect-url",
        "refresh_token": "api-refresh-token",
    }
    assert set(exact.countries.values()) == {"nl", "be", "de", "co.uk", "com", "fr", "es"}
    assert "pkce" in exact.unconfirmed


def test_other_pinned_facts():
    teamleader, twinfield, generic = get_platform("teamleader"), get_platform("twinfield"), get_platform("generic")
    assert (teamleader.rotation, teamleader.code_lifetime, teamleader.scopes_in_request) == ("rotating", 600, False)
    assert (twinfield.client_auth, twinfield.nonce, twinfield.rotation, twinfield.pkce) == ("client_secret_basic", True, "unknown", "off")
    assert twinfield.default_scopes == ("openid", "twf.user", "twf.organisation", "offline_access")
    assert twinfield.refresh_token_lifetime == 25 * 365 * DAY
    assert get_platform("visma_net").invantive_provider == "VismaNet"
    assert dict(get_platform("google").auth_params) == {"access_type": "offline", "prompt": "consent"}
    assert get_platform("microsoft").tenant_default == "organizations"
    assert (generic.client_auth, generic.pkce, generic.rotation) == ("client_secret_basic", "supported", "unknown")
    assert generic.default_scopes == ("openid", "offline_access")
    assert dict(generic.auth_params) == {"prompt": "consent"}


def test_base_url_points_exact_at_a_test_server_without_a_country():
    resolved = resolve_endpoints(get_platform("exact_online"), base_url="http://127.0.0.1:8123/nl")
    assert resolved == Endpoints(
        authorize="http://127.0.0.1:8123/nl/api/oauth2/auth",
        token="http://127.0.0.1:8123/nl/api/oauth2/token",
        revocation=None,
        whoami="http://127.0.0.1:8123/nl/api/v1/current/Me",
        base="http://127.0.0.1:8123/nl",
    )


def test_base_url_with_a_country_still_checks_the_country():
    resolved = resolve_endpoints(get_platform("exact_online"), country="nl", base_url="http://127.0.0.1:8123/nl/")
    assert resolved.token == "http://127.0.0.1:8123/nl/api/oauth2/token"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("exact_online"), country="zz", base_url="http://127.0.0.1:8123/nl")
    assert refused(info) == "unknown Exact Online country 'zz'; use one of: " + EXACT_COUNTRIES


def test_base_url_refused_for_a_platform_without_a_base():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("google"), base_url="https://example.com")
    assert refused(info) == ("platform google has no base URL; remove the base_url option and set the URLs with endpoints.authorize and endpoints.token")


def test_base_url_must_be_https():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("exact_online"), base_url="http://start.exactonline.nl")
    assert refused(info) == "the base URL http://start.exactonline.nl is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://"


def test_endpoint_overrides_replace_single_urls():
    resolved = resolve_endpoints(
        get_platform("exact_online"),
        country="be",
        endpoints={"token": "http://localhost:9000/token", "revocation": "https://revoke.example.com/r", "whoami": None},
    )
    assert resolved == Endpoints(
        authorize="https://start.exactonline.be/api/oauth2/auth",
        token="http://localhost:9000/token",
        revocation="https://revoke.example.com/r",
        whoami="https://start.exactonline.be/api/v1/current/Me",
        base="https://start.exactonline.be",
    )


def test_unknown_endpoint_keys_are_refused():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), endpoints={"authorize": "https://a.example/a", "token": "https://a.example/t", "userinfo": "x"})
    assert refused(info) == "unknown endpoints key 'userinfo'; use authorize, token, revocation or whoami"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("teamleader"), endpoints={"b": "x", "a": "y"})
    assert refused(info) == "unknown endpoints keys 'a', 'b'; use authorize, token, revocation or whoami"


def test_endpoint_overrides_are_checked():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("teamleader"), endpoints={"token": "http://example.com/token"})
    assert refused(info) == "the token endpoint http://example.com/token is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("teamleader"), endpoints={"token": 42})
    assert refused(info) == "endpoints.token must be a URL string"


ISSUER = "https://idp.example.com"
DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://idp.example.com/oauth2/authorize",
    "token_endpoint": "https://idp.example.com/oauth2/token",
    "revocation_endpoint": "https://idp.example.com/oauth2/revoke",
    "userinfo_endpoint": "https://idp.example.com/oauth2/userinfo",
    "jwks_uri": "https://idp.example.com/keys",
}


def test_generic_from_a_discovery_document():
    assert resolve_endpoints(get_platform("generic"), discovery=DISCOVERY, issuer=ISSUER) == Endpoints(
        authorize="https://idp.example.com/oauth2/authorize",
        token="https://idp.example.com/oauth2/token",
        revocation="https://idp.example.com/oauth2/revoke",
        whoami="https://idp.example.com/oauth2/userinfo",
        base=None,
    )


def test_generic_from_endpoints_and_endpoints_win_over_discovery():
    given = {"authorize": "https://as.example.com/auth", "token": "https://as.example.com/token"}
    assert resolve_endpoints(get_platform("generic"), endpoints=given) == Endpoints(
        authorize="https://as.example.com/auth", token="https://as.example.com/token", revocation=None, whoami=None, base=None
    )
    mixed = resolve_endpoints(get_platform("generic"), endpoints={"token": "http://127.0.0.1:8123/strict/token"}, discovery=DISCOVERY, issuer=ISSUER)
    assert (mixed.authorize, mixed.token) == ("https://idp.example.com/oauth2/authorize", "http://127.0.0.1:8123/strict/token")


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"endpoints": {"authorize": "https://as.example.com/auth"}},
        {"discovery": {"issuer": "https://as.example.com", "token_endpoint": "https://as.example.com/token"}, "issuer": "https://as.example.com"},
    ],
)
def test_generic_without_authorize_and_token_is_refused(arguments):
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), **arguments)
    assert refused(info) == "platform generic needs endpoints.authorize and endpoints.token, or an issuer whose discovery document lists them"


def test_discovery_values_are_checked():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), discovery={**DISCOVERY, "token_endpoint": ["https://idp.example.com/token"]}, issuer=ISSUER)
    assert refused(info) == "the discovery document's token_endpoint is not a URL string; check the issuer URL"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), discovery={**DISCOVERY, "authorization_endpoint": "http://idp.example.com/authorize"}, issuer=ISSUER)
    assert refused(info) == (
        "the authorize endpoint http://idp.example.com/authorize is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://"
    )
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), discovery=["not", "a", "dict"], issuer=ISSUER)
    assert refused(info) == "the discovery document is not a JSON object; check the issuer URL"


# -- discovery is trusted only for its own issuer and origin (RFC 8414 3.3, OpenID Connect Discovery 4.3) --


@pytest.mark.parametrize(
    ("claimed", "shown"),
    [
        ("https://evil.example.net", "'https://evil.example.net' as its issuer"),
        ("https://idp.example.com/", "'https://idp.example.com/' as its issuer"),  # identical means identical: no trailing-slash leniency
        ("HTTPS://IDP.EXAMPLE.COM", "'HTTPS://IDP.EXAMPLE.COM' as its issuer"),
        (None, "no issuer"),
        (["https://idp.example.com"], "no issuer"),
    ],
)
def test_a_discovery_document_of_another_issuer_is_refused(claimed, shown):
    document = {**DISCOVERY, "issuer": claimed}
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), discovery=document, issuer=ISSUER, connection="crm")
    assert refused(info) == (
        "connection crm: the discovery document of issuer https://idp.example.com names %s; they must be identical "
        "(RFC 8414 section 3.3, OpenID Connect Discovery section 4.3), so none of its endpoints are used. Set issuer to exactly the "
        "provider's issuer URL, or give endpoints.authorize and endpoints.token explicitly" % shown
    )


@pytest.mark.parametrize(
    ("key", "document_key", "url", "receives"),
    [
        ("token", "token_endpoint", "https://collector.example.net/token", "the authorization code and the client secret"),
        ("token", "token_endpoint", "https://idp.example.com:8443/oauth2/token", "the authorization code and the client secret"),
        ("token", "token_endpoint", "https://idp.example.com.evil.example.net/oauth2/token", "the authorization code and the client secret"),
        ("authorize", "authorization_endpoint", "https://login.example.net/authorize", "the person's sign-in"),
        ("revocation", "revocation_endpoint", "https://revoke.example.net/revoke", "the refresh token and the client secret"),
        ("whoami", "userinfo_endpoint", "https://graph.example.net/oidc/userinfo", "the access token"),
    ],
)
def test_a_discovered_endpoint_on_another_origin_is_refused(key, document_key, url, receives):
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), discovery={**DISCOVERY, document_key: url}, issuer=ISSUER, connection="crm")
    assert refused(info) == (
        "connection crm: the discovery document of issuer https://idp.example.com gives the %s endpoint %s, which is on another origin "
        "(scheme, host, port) than the issuer, so it is not used: it would receive %s. If your provider really serves it there, set "
        "endpoints.%s to it explicitly" % (key, url, receives, key)
    )


def test_another_scheme_is_another_origin():
    issuer = "http://127.0.0.1:8123/strict"
    document = {"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": "https://127.0.0.1:8123/strict/token"}
    with pytest.raises(PlatformError, match=r"gives the token endpoint https://127.0.0.1:8123/strict/token, which is on another origin"):
        resolve_endpoints(get_platform("generic"), discovery=document, issuer=issuer, connection="crm")


def test_an_endpoint_given_explicitly_may_be_on_another_origin():
    document = {**DISCOVERY, "token_endpoint": "https://collector.example.net/token"}
    given = {"token": "https://oauth2.example.org/token"}
    resolved = resolve_endpoints(get_platform("generic"), endpoints=given, discovery=document, issuer=ISSUER, connection="crm")
    assert (resolved.authorize, resolved.token) == ("https://idp.example.com/oauth2/authorize", "https://oauth2.example.org/token")


def test_the_default_port_and_the_host_case_are_the_same_origin():
    document = {**DISCOVERY, "token_endpoint": "https://IDP.example.com:443/oauth2/token"}
    assert resolve_endpoints(get_platform("generic"), discovery=document, issuer=ISSUER).token == "https://IDP.example.com:443/oauth2/token"


def test_platforms_with_endpoints_of_their_own_never_use_discovery():
    # Only generic reads a discovery document (the connection refuses issuer for the others), so a provider whose token
    # endpoint is on another origin than its issuer (Google: accounts.google.com and oauth2.googleapis.com) is given in the table.
    assert [name for name, platform in PLATFORMS.items() if platform.authorize_url is None or platform.token_url is None] == ["generic"]
    google = resolve_endpoints(get_platform("google"))
    assert (google.authorize, google.token) == ("https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token")


def test_generic_refuses_base_url():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("generic"), base_url="https://as.example.com", discovery=DISCOVERY, issuer=ISSUER)
    assert refused(info).startswith("platform generic has no base URL;")


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://idp.example.com", "https://idp.example.com/.well-known/openid-configuration"),
        ("https://login.example.com/tenant/v2.0/", "https://login.example.com/tenant/v2.0/.well-known/openid-configuration"),
        ("http://127.0.0.1:8123/strict", "http://127.0.0.1:8123/strict/.well-known/openid-configuration"),
    ],
)
def test_discovery_url(issuer, expected):
    assert discovery_url(issuer) == expected


def test_discovery_url_refusals():
    with pytest.raises(PlatformError) as info:
        discovery_url("http://idp.example.com")
    assert refused(info) == "the issuer http://idp.example.com is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://"
    with pytest.raises(PlatformError) as info:
        discovery_url("https://idp.example.com/?tenant=x")
    assert refused(info) == "the issuer https://idp.example.com/?tenant=x has a query (?...); an issuer URL has none, remove it"


def test_unknown_platform_lists_the_known_ones():
    with pytest.raises(PlatformError) as info:
        get_platform("exact")
    assert refused(info) == (
        "unknown platform 'exact'; use one of: atlassian, calendly, exact_online, fortnox, generic, github, gitlab, google, hubspot, "
        "loket, microsoft, paypal, quickbooks, salesforce, teamleader, twinfield, visma_net, xero, zoho, zoom"
    )


def test_platform_names_are_case_insensitive():
    assert get_platform(" Exact_Online ") is PLATFORMS["exact_online"]


@pytest.mark.parametrize(("given", "canonical"), [("nl", "nl"), ("uk", "co.uk"), ("Co.UK", "co.uk"), ("us", "com"), ("com", "com"), ("es", "es")])
def test_normalize_country(given, canonical):
    assert normalize_country(get_platform("exact_online"), given) == canonical


def test_unknown_exact_country():
    with pytest.raises(PlatformError) as info:
        normalize_country(get_platform("exact_online"), "zz")
    assert refused(info) == "unknown Exact Online country 'zz'; use one of: nl, be, de, co.uk (or uk), com (or us), fr, es"


@pytest.mark.parametrize("missing", [None, ""])
def test_exact_needs_a_country(missing):
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("exact_online"), country=missing)
    assert refused(info) == "Exact Online needs a country; use one of: " + EXACT_COUNTRIES


def test_country_for_a_platform_without_countries():
    assert normalize_country(get_platform("teamleader"), None) is None
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("teamleader"), country="nl")
    assert refused(info) == "platform teamleader has no country; remove the country option"


def test_tenant_refusals():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("google"), tenant="contoso")
    assert refused(info) == "platform google has no tenant; remove the tenant option"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("microsoft"), tenant="common/../evil")
    assert refused(info) == (
        "the Microsoft Entra ID tenant 'common/../evil' is not a tenant ID or domain name; use letters, digits, '.' and '-' only (default: organizations)"
    )


def test_a_tenant_with_a_trailing_newline_is_refused():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("microsoft"), tenant="contoso.com\n")
    assert refused(info) == (
        "the Microsoft Entra ID tenant 'contoso.com\\n' is not a tenant ID or domain name; use letters, digits, '.' and '-' only (default: organizations)"
    )


def test_environment_refusals():
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("salesforce"), environment="staging")
    assert refused(info) == "unknown Salesforce environment 'staging'; use one of: production, sandbox"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("loket"), environment="test")
    assert refused(info) == "unknown Loket.nl environment 'test'; use one of: production, acceptance"
    with pytest.raises(PlatformError) as info:
        resolve_endpoints(get_platform("exact_online"), country="nl", environment="sandbox")
    assert refused(info) == "platform exact_online has no environments; remove the environment option"


@pytest.mark.parametrize(
    "url",
    [
        "https://login.example.com/token",
        "HTTPS://login.example.com:8443/token?x=1",
        "http://127.0.0.1:8123/nl/api/oauth2/token",
        "http://127.5.6.7/token",
        "http://[::1]:9000/token",
        "http://localhost/token",
        "http://LOCALHOST:80/token",
    ],
)
def test_accepted_endpoint_urls(url):
    assert check_endpoint_url(url, "token endpoint") == url


HTTP_ONLY_LOOPBACK = "is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/token", "the token endpoint http://example.com/token " + HTTP_ONLY_LOOPBACK),
        ("http://128.0.0.1/token", "the token endpoint http://128.0.0.1/token " + HTTP_ONLY_LOOPBACK),
        ("http://localhost.example.com/token", "the token endpoint http://localhost.example.com/token " + HTTP_ONLY_LOOPBACK),
        ("http://[::2]/token", "the token endpoint http://[::2]/token " + HTTP_ONLY_LOOPBACK),
        ("ftp://example.com/token", "the token endpoint ftp://example.com/token is not an https:// URL"),
        ("example.com/token", "the token endpoint example.com/token is not an https:// URL"),
        ("https:///token", "the token endpoint https:///token has no host; give a full URL such as https://login.example.com/token"),
        (
            "https://example.com/token#frag",
            "the token endpoint https://example.com/token#frag has a fragment (#...); remove it, OAuth endpoints must not have one (RFC 6749, 3.1)",
        ),
        ("https://example.com:99999/token", "the token endpoint https://example.com:99999/token has an invalid port; use a number from 1 to 65535"),
        ("https://example.com:0/token", "the token endpoint https://example.com:0/token has an invalid port; use a number from 1 to 65535"),
        ("https://[::1/token", "the token endpoint https://[::1/token is not a valid URL; check the host name"),
        ("https://exa mple.com/token", "the token endpoint 'https://exa mple.com/token' contains spaces or control characters; give it without them"),
        ("", "the token endpoint is missing or not a URL string"),
    ],
)
def test_refused_endpoint_urls(url, message):
    with pytest.raises(PlatformError) as info:
        check_endpoint_url(url, "token endpoint")
    assert refused(info) == message


@pytest.mark.parametrize("url", ["https://user:FAKE-pass-3f9a@example.com/token?a=1", "http://FAKE-pass-3f9a@localhost/token"])
def test_user_info_is_refused_without_echoing_it(url):
    with pytest.raises(PlatformError) as info:
        check_endpoint_url(url, "token endpoint")
    host = url.split("@", 1)[1].split("?", 1)[0]
    scheme = url.split("://", 1)[0]
    assert refused(info) == "the token endpoint %s://%s has a user name or password before the host; remove the 'user:password@' part" % (scheme, host)
    assert "FAKE-pass" not in refused(info)


def test_platform_error_is_a_preauth_error():
    assert issubclass(PlatformError, PreauthError)


def test_platforms_are_read_only():
    exact = get_platform("exact_online")
    with pytest.raises(dataclasses.FrozenInstanceError):
        exact.min_refresh_interval = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        exact.auth_params["force_login"] = "0"  # type: ignore[index]
    with pytest.raises(TypeError):
        PLATFORMS["mine"] = exact  # type: ignore[index]


def test_platforms_copy_pickle_and_serialise():
    exact = get_platform("exact_online")
    assert copy.deepcopy(exact) == exact
    assert pickle.loads(pickle.dumps(exact)) == exact
    as_json = json.loads(json.dumps(dataclasses.asdict(exact)))
    assert as_json["auth_params"] == {"force_login": "1"} and as_json["countries"]["us"] == "com"


def test_tagged_arguments_are_accepted():
    origin = Origin(path="/inventory.yml", line_num=3)
    platform = get_platform(origin.tag("exact_online"))
    resolved = resolve_endpoints(platform, country=origin.tag("uk"), endpoints={origin.tag("token"): origin.tag("http://127.0.0.1:8123/uk/token")})
    assert (resolved.authorize, resolved.token) == ("https://start.exactonline.co.uk/api/oauth2/auth", "http://127.0.0.1:8123/uk/token")


def test_a_table_defect_is_caught_when_the_entry_is_built():
    entry = dataclasses.asdict(get_platform("teamleader"))
    with pytest.raises(ValueError, match=r"platform teamleader: rotation 'sometimes' is not one of rotating, non_rotating, configurable, unknown"):
        Platform(**{**entry, "rotation": "sometimes"})
    with pytest.raises(ValueError, match=r"unconfirmed names no fact field: expiry"):
        Platform(**{**entry, "unconfirmed": ("expiry",)})
    with pytest.raises(ValueError, match=r"authorize_url uses placeholders this platform cannot fill"):
        Platform(**{**entry, "authorize_url": "{base}/{tenant}/authorize"})


def test_platform_names():
    assert PLATFORM_NAMES == tuple(sorted(PLATFORM_NAMES))
    assert set(PLATFORM_NAMES) == set(PLATFORMS)


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_table_entry_is_consistent(name):
    platform = PLATFORMS[name]
    assert platform.name == name
    assert platform.client_auth in CLIENT_AUTH_METHODS
    assert platform.pkce in PKCE_MODES
    assert platform.rotation in ROTATIONS
    assert platform.refresh_token_lifetime_kind in LIFETIME_KINDS
    assert platform.loopback_redirect in LOOPBACK_RULES
    assert set(platform.unconfirmed) <= set(FIELD_NAMES)
    assert set(platform.unconfirmed) <= set(FACT_FIELDS)
    assert len(set(platform.unconfirmed)) == len(platform.unconfirmed)
    assert set(platform.invantive_keys) <= set(INVANTIVE_ROLES)
    assert platform.sources
    assert platform.title and platform.no_refresh_token_hint
    assert platform.min_refresh_interval == (570 if name == "exact_online" else 0)
    assert (platform.environment_default in platform.environments) if platform.environments else platform.environment_default is None
    if platform.refresh_token_lifetime_kind in ("none", "unknown"):
        assert platform.refresh_token_lifetime is None


@pytest.mark.parametrize("name", sorted(set(PLATFORM_NAMES) - {"generic"}))
def test_every_platform_resolves_to_https_with_its_defaults(name):
    platform = PLATFORMS[name]
    resolved = resolve_endpoints(platform, country=next(iter(platform.countries), None))
    for url in (resolved.authorize, resolved.token, resolved.revocation, resolved.whoami, resolved.base):
        assert url is None or url.startswith("https://")


@pytest.mark.parametrize("name", ["fortnox", "paypal"])
def test_platforms_outside_the_references_are_wholly_unconfirmed(name):
    assert set(PLATFORMS[name].unconfirmed) == set(FACT_FIELDS)
    assert PLATFORMS[name].rotation == "unknown" and PLATFORMS[name].refresh_token_lifetime is None
    assert (PLATFORMS[name].spent_token, PLATFORMS[name].spent_token_grace) == ("unknown", None)


# The facts their public docs give (docs/sources.md): rotation, lifetimes in seconds and the code's lifetime.
PUBLIC_DOCS = {
    "gitlab": ("rotating", 7200, None, "unknown", None, {"GL1", "GL2"}),
    "zoom": ("rotating", 3600, 90 * DAY, "idle", 300, {"ZM1", "ZM2", "ZM3", "ZM4", "ZM5"}),
    "calendly": ("rotating", 7200, None, "none", 600, {"CA1", "CA2"}),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_DOCS))
def test_facts_from_public_docs_are_sourced_and_the_rest_stays_unconfirmed(name):
    platform = PLATFORMS[name]
    rotation, access, refresh, kind, code, sources = PUBLIC_DOCS[name]
    assert (platform.rotation, platform.access_token_lifetime, platform.refresh_token_lifetime) == (rotation, access, refresh)
    assert (platform.refresh_token_lifetime_kind, platform.code_lifetime) == (kind, code)
    assert sources <= set(platform.sources)
    assert not {"rotation", "access_token_lifetime", "spent_token"} & set(platform.unconfirmed)
    assert {"pkce", "loopback_redirect"} <= set(platform.unconfirmed)
    # A refusal rule is sourced (Zoom's "Invalid Token!", ZM1 and ZM5); without one, how refusals are worded stays unconfirmed.
    assert ("token_errors" in platform.unconfirmed) == (not platform.token_errors)


def test_atlassian_confirms_only_its_rotation_and_what_a_spent_token_costs():
    atlassian = PLATFORMS["atlassian"]
    assert set(FACT_FIELDS) - set(atlassian.unconfirmed) == {"rotation", "spent_token", "spent_token_grace", "client_auth", "default_scopes"}
    assert (atlassian.rotation, atlassian.spent_token, atlassian.spent_token_grace) == ("rotating", "family_revoked", 600)
    assert (atlassian.client_auth, atlassian.default_scopes) == ("client_secret_post", ("offline_access",))
    assert {"A1", "A2", "A3"} <= set(atlassian.sources) and atlassian.refresh_token_lifetime is None


# What presenting a refresh token that may have been rotated costs, per platform, with the source of each (docs/sources.md).
SPENT_TOKENS = {
    "exact_online": ("refused", None, {"E7", "I1", "I24"}),
    "teamleader": ("refused", None, {"T1"}),
    "xero": ("refused", 1800, {"X1", "X2", "X7"}),
    "github": ("refused", None, {"GH1"}),
    "gitlab": ("refused", None, {"GL1"}),
    "zoom": ("refused", None, {"ZM1", "ZM2"}),
    "calendly": ("refused", None, {"CA2"}),
    "salesforce": ("family_revoked", None, {"S9"}),
    "atlassian": ("family_revoked", 600, {"A1", "A2"}),
    "microsoft": ("accepted", None, {"M1"}),
    "google": ("accepted", None, {"G1"}),
    "zoho": ("accepted", None, {"ZH2", "ZH3", "ZH6"}),
}


@pytest.mark.parametrize("name", sorted(SPENT_TOKENS))
def test_what_a_spent_token_costs_is_sourced(name):
    platform = PLATFORMS[name]
    cost, grace, sources = SPENT_TOKENS[name]
    assert (platform.spent_token, platform.spent_token_grace) == (cost, grace)
    assert sources <= set(platform.sources)
    assert "spent_token" not in platform.unconfirmed and "spent_token_grace" not in platform.unconfirmed


@pytest.mark.parametrize("name", sorted(set(PLATFORM_NAMES) - set(SPENT_TOKENS)))
def test_a_spent_token_cost_no_source_gives_stays_unknown(name):
    platform = PLATFORMS[name]
    assert (platform.spent_token, platform.spent_token_grace) == ("unknown", None)
    assert name == "generic" or "spent_token" in platform.unconfirmed


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"spent_token": "gone"}, "spent_token 'gone' is not one of refused, family_revoked, accepted, unknown"),
        ({"spent_token": "accepted"}, "spent_token accepted goes with rotation non_rotating, and only with it"),
        ({"spent_token_grace": 0}, "spent_token_grace must be None or a positive number of seconds of a platform that rotates"),
        ({"spent_token_grace": True}, "spent_token_grace must be None or a positive number of seconds"),
    ],
)
def test_a_spent_token_entry_that_contradicts_itself_is_caught(change, problem):
    entry = {**dict(next(e for e in TABLE if e["name"] == "xero")), **change}
    with pytest.raises(ValueError, match=re.escape(problem)):
        Platform(**entry)


def test_reference_unconfirmed_marks_are_kept():
    assert {"pkce", "revocation_url", "daily_token_budget"} <= set(PLATFORMS["exact_online"].unconfirmed)
    assert {"pkce", "loopback_redirect"} <= set(PLATFORMS["teamleader"].unconfirmed)
    assert {"pkce", "rotation"} <= set(PLATFORMS["twinfield"].unconfirmed)
    assert {"authorize_url", "rotation", "refresh_token_lifetime"} <= set(PLATFORMS["loket"].unconfirmed)
    assert {"pkce"} <= set(PLATFORMS["quickbooks"].unconfirmed)
    assert {"rotation", "refresh_token_lifetime"} <= set(PLATFORMS["hubspot"].unconfirmed)
    assert "revocation_url" in PLATFORMS["google"].unconfirmed


# -- issue 10: platforms' own answers and facts checked against the sources ---------------------


def test_teamleader_has_no_invantive_provider_so_the_inventory_must_name_it():
    # "Teamleader" is Invantive's legacy API-key connector, not Teamleader Focus OAuth (reference/invantive.md).
    teamleader = get_platform("teamleader")
    assert teamleader.invantive_provider is None and "invantive_provider" in teamleader.unconfirmed
    with pytest.raises(SettingsError) as refused:
        render("tl", {"name": "tl"}, teamleader, Record("tl", None, None))
    assert refused.value.msg == (
        "connection tl: the Invantive provider code of platform teamleader is not known to this collection; give it as "
        "invantive.provider in the inventory entry (the connector's 'Code for use in settings.xml')"
    )


def test_visma_connect_revocation_is_confirmed_and_twinfield_sends_no_pkce():
    visma = get_platform("visma_net")
    assert "revocation_url" not in visma.unconfirmed
    assert resolve_endpoints(visma).revocation == "https://connect.visma.com/connect/revocation" and visma.client_auth == "client_secret_basic"
    twinfield = get_platform("twinfield")
    assert twinfield.pkce == "off" and "pkce" in twinfield.unconfirmed


def test_exact_online_words_its_refusals_in_the_table():
    rules = get_platform("exact_online").token_errors

    def read(status, error, description, headers=None):
        return [rule.kind for rule in rules if rule.matches(status, error, description, headers or {})][:1] or [None]

    assert read(401, "unauthorized_client", "Old refresh token used.") == ["invalid_grant"]
    assert read(400, "invalid_request", "The refresh token expired at 10/11/2022 9:18:20 PM and it is now 10/28/2022 4:15:50 PM.") == ["expired"]
    assert read(400, "access_denied", "Rate limit exceeded: access_token not expired") == ["too_early"]
    assert read(400, "access_denied", "", {"Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"}) == ["too_early"]
    # Anything else gets the RFC 6749 reading: a 401 with another body stays a client problem.
    assert read(401, "unauthorized_client", "The client is not authorized.") == [None]
    assert read(401, "invalid_client", "Old refresh token used.") == [None]
    assert read(400, "unauthorized_client", "Old refresh token used.") == [None]
    assert read(401, "unauthorized_client", "Old refresh token used. Or not") == [None]  # whole-string match
    assert read(400, "invalid_request", "The refresh token is missing.") == [None]
    assert read(400, "access_denied", "Access denied", {"Reason": "NotTooEarly"}) == [None]


@pytest.mark.parametrize("name", PLATFORM_NAMES)
def test_error_rules_name_known_kinds(name):
    for rule in PLATFORMS[name].token_errors:
        assert rule.kind in ERROR_KINDS


def test_a_defective_error_rule_is_caught_when_the_entry_is_built():
    entry = dataclasses.asdict(get_platform("exact_online"))
    assert Platform(**entry) == get_platform("exact_online")  # the rules survive asdict
    with pytest.raises(ValueError, match=r"platform exact_online: token_errors kind 'dead' is not one of invalid_grant, expired, too_early"):
        Platform(**{**entry, "token_errors": (ErrorRule(kind="dead", status=401),)})
    with pytest.raises(ValueError, match=r"a token_errors rule must match on something"):
        Platform(**{**entry, "token_errors": (ErrorRule(kind="expired"),)})
    with pytest.raises(ValueError, match=r"token_errors pattern '\(' is not a regular expression"):
        Platform(**{**entry, "token_errors": (ErrorRule(kind="expired", description="("),)})


# -- issue 23: platform facts, third pass ---------------------------------------------------------


def test_teamleader_who_am_i_code_and_rotation_come_from_its_authentication_page():
    teamleader = get_platform("teamleader")
    assert resolve_endpoints(teamleader).whoami == "https://api.focus.teamleader.eu/users.me"
    assert (teamleader.code_lifetime, teamleader.rotation, teamleader.spent_token) == (600, "rotating", "refused")
    assert "T1" in teamleader.sources
    assert not {"whoami_url", "code_lifetime", "rotation"} & set(teamleader.unconfirmed)


def test_xero_plans_for_30_days_unused_and_keeps_its_30_minute_grace():
    xero = get_platform("xero")
    assert (xero.refresh_token_lifetime, xero.refresh_token_lifetime_kind, xero.spent_token_grace) == (30 * DAY, "idle", 1800)
    assert {"X2", "X7"} <= set(xero.sources) and "refresh_token_lifetime" not in xero.unconfirmed


def test_microsoft_idle_lifetime_is_confirmed_and_it_has_no_revocation_endpoint():
    microsoft = get_platform("microsoft")
    assert (microsoft.refresh_token_lifetime, microsoft.refresh_token_lifetime_kind) == (90 * DAY, "idle")
    assert "refresh_token_lifetime_kind" not in microsoft.unconfirmed and {"M8", "M9"} <= set(microsoft.sources)
    assert microsoft.revocation_url is None and "revocation_url" in microsoft.unconfirmed


def test_github_apps_with_expiring_tokens_are_sourced():
    github = get_platform("github")
    assert (github.rotation, github.access_token_lifetime, github.refresh_token_lifetime) == ("rotating", 8 * 3600, 180 * DAY)
    assert "GH1" in github.sources
    assert not {"rotation", "access_token_lifetime", "refresh_token_lifetime", "spent_token", "token_url"} & set(github.unconfirmed)
    assert "refresh_token_lifetime_kind" in github.unconfirmed


def test_salesforce_sends_pkce_which_partner_apps_must_have():
    salesforce = get_platform("salesforce")
    assert salesforce.pkce == "supported" and "pkce" not in salesforce.unconfirmed and "S10" in salesforce.sources


def test_twinfield_keeps_its_default_scopes_and_names_organisation_user_in_its_notes():
    twinfield = get_platform("twinfield")
    assert "twf.organisationUser" not in twinfield.default_scopes and "twf.organisationUser" in twinfield.notes
    assert twinfield.refresh_token_lifetime == 25 * 365 * DAY and "550 days" in twinfield.notes


def test_exact_online_notes_say_where_the_error_limit_and_the_budget_come_from():
    notes = get_platform("exact_online").notes
    assert "'10 error messages per app, administration, endpoint and hour' and 200 token calls per app, user and day" in notes
    assert "forum 3507, E9" in notes
