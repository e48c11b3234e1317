# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The platform table: what each OAuth2 platform needs, as data.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Every platform difference lives in ``PLATFORMS``: endpoint templates (placeholders ``{base}``,
``{tenant}``, ``{environment_host}``, and ``{country}`` in ``base_url``), client authentication,
PKCE, refresh-token rotation, lifetimes, extra authorization parameters, redirect rules, the
Invantive provider code and connection-string keys, and how its token endpoint words a refusal
where that differs from RFC 6749 (``token_errors``). The functions below only read the table;
none of them branches on a platform name.

Facts come from ``reference/oauth-platforms.md`` and ``reference/invantive.md``; ``sources`` holds
their source IDs (or the page, for a correction the references list without an ID). A field whose value no vendor or third-party source confirms is named in
``unconfirmed``; unknown lifetimes and rotation stay ``None`` / ``"unknown"`` rather than guessed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import string
import types
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError

CLIENT_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
PKCE_MODES = ("supported", "unknown", "off")
ROTATIONS = ("rotating", "non_rotating", "configurable", "unknown")
LIFETIME_KINDS = ("idle", "absolute", "none", "unknown")
LOOPBACK_RULES = ("allowed", "not_allowed", "sandbox_only", "desktop_only", "unknown")
INVANTIVE_ROLES = ("url", "client_id", "client_secret", "redirect_url", "refresh_token")
ENDPOINT_KEYS = ("authorize", "token", "revocation", "whoami")
# What a token endpoint's refusal means for the chain (``_oauth.OAuthError`` kinds a platform rule may name):
# ``invalid_grant`` and ``expired`` - the chain is dead; ``too_early`` - wait; ``invalid_client`` - the app
# registration is wrong; ``oauth_error`` - another refusal.
ERROR_KINDS = ("invalid_grant", "expired", "too_early", "invalid_client", "oauth_error")

# Endpoint key -> the Platform field with its template, and -> the OpenID discovery document key.
_TEMPLATE_FIELDS = {"authorize": "authorize_url", "token": "token_url", "revocation": "revocation_url", "whoami": "whoami_url"}
_DISCOVERY_KEYS = {
    "authorize": "authorization_endpoint",
    "token": "token_endpoint",
    "revocation": "revocation_endpoint",
    "whoami": "userinfo_endpoint",
}

# What each endpoint is sent, for the message that refuses one on another origin.
_WHAT_AN_ENDPOINT_RECEIVES = {
    "authorize": "the person's sign-in",
    "token": "the authorization code and the client secret",
    "revocation": "the refresh token and the client secret",
    "whoami": "the access token",
}

_DAY = 86400
# A tenant is a path segment: a GUID, a domain name, or a word such as "organizations".
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


class PlatformError(PreauthError):
    """A platform, country, tenant, environment or endpoint that cannot be used."""


class _ReadOnlyDict(dict):
    """A dict that refuses changes: every caller shares the table's entries.

    A dict subclass rather than ``MappingProxyType`` so that ``json``, ``copy`` and
    ``dataclasses.asdict`` keep working on a ``Platform``.
    """

    def _refuse(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise TypeError("the platform table is read-only")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[t.Any, ...]:
        return (type(self), (dict(self),))


@dataclasses.dataclass(frozen=True)
class ErrorRule:
    """How a platform's token endpoint says something that the RFC 6749 reading would get wrong.

    An error answer matches when every given part matches: the HTTP ``status``, the OAuth ``error``
    code, and the patterns (whole-string regular expressions) for the ``error_description`` and for
    a response header (``header``: name and pattern). It is then read as ``kind``, one of ``ERROR_KINDS``.
    """

    kind: str
    status: int | None = None
    error: str | None = None
    description: str | None = None
    header: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.header is not None:
            object.__setattr__(self, "header", tuple(self.header))

    def matches(self, status: int, error: str | None, description: str, headers: t.Mapping[str, str]) -> bool:
        if self.status is not None and status != self.status:
            return False
        if self.error is not None and error != self.error:
            return False
        if self.description is not None and not re.fullmatch(self.description, description):
            return False
        if self.header is not None:
            name, pattern = self.header
            value = headers.get(name)
            return isinstance(value, str) and re.fullmatch(pattern, value.strip()) is not None
        return True


def _rule_problems(rule: ErrorRule) -> list[str]:
    problems = []
    if rule.kind not in ERROR_KINDS:
        problems.append("token_errors kind %r is not one of %s" % (rule.kind, ", ".join(ERROR_KINDS)))
    if rule.status is None and rule.error is None and rule.description is None and rule.header is None:
        problems.append("a token_errors rule must match on something")
    if rule.header is not None and len(rule.header) != 2:
        problems.append("token_errors header must be (name, pattern)")
    for pattern in (rule.description, rule.header[1] if rule.header is not None and len(rule.header) == 2 else None):
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error:
                problems.append("token_errors pattern %r is not a regular expression" % pattern)
    return problems


@dataclasses.dataclass(frozen=True)
class Platform:
    """One OAuth2 platform. Mappings are read-only; see the module docstring for the placeholders."""

    name: str
    title: str
    authorize_url: str | None
    token_url: str | None
    revocation_url: str | None
    whoami_url: str | None
    base_url: str | None
    client_auth: str
    pkce: str
    rotation: str
    min_refresh_interval: int
    access_token_lifetime: int | None
    refresh_token_lifetime: int | None
    refresh_token_lifetime_kind: str
    auth_params: t.Mapping[str, str]
    nonce: bool
    default_scopes: tuple[str, ...]
    scopes_in_request: bool
    loopback_redirect: str
    daily_token_budget: int | None
    code_lifetime: int | None
    no_refresh_token_hint: str
    invantive_provider: str | None
    invantive_keys: t.Mapping[str, str]
    countries: t.Mapping[str, str]
    tenant_default: str | None
    environments: t.Mapping[str, str]
    environment_default: str | None
    unconfirmed: tuple[str, ...]
    sources: tuple[str, ...]
    notes: str = ""
    # Refusals this platform words differently from RFC 6749, first match wins; every other refusal gets the RFC reading.
    token_errors: tuple[ErrorRule, ...] = ()

    def __post_init__(self) -> None:
        for field in ("auth_params", "invantive_keys", "countries", "environments"):
            object.__setattr__(self, field, _ReadOnlyDict(getattr(self, field)))
        for field in ("default_scopes", "unconfirmed", "sources"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        # dataclasses.asdict turns the rules into dicts; a Platform built from that reads them back.
        rules = tuple(rule if isinstance(rule, ErrorRule) else ErrorRule(**rule) for rule in self.token_errors)
        object.__setattr__(self, "token_errors", rules)
        problems = _table_problems(self)
        if problems:
            # A defect in the table itself, not a user error.
            raise ValueError("platform %s: %s" % (self.name, "; ".join(problems)))


FIELD_NAMES = tuple(field.name for field in dataclasses.fields(Platform))
# The fields that state a fact about a platform (the rest name, describe or cite it).
FACT_FIELDS = tuple(name for name in FIELD_NAMES if name not in ("name", "title", "no_refresh_token_hint", "unconfirmed", "sources", "notes"))


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """The resolved URLs of one connection; ``base`` is the resolved ``{base}`` (Invantive ``api-url`` for Exact)."""

    authorize: str
    token: str
    revocation: str | None
    whoami: str | None
    base: str | None


def _placeholders(template: str | None) -> set[str]:
    if template is None:
        return set()
    return {parsed[1] for parsed in string.Formatter().parse(template) if parsed[1] is not None}


def _table_problems(platform: Platform) -> list[str]:
    """Return what is inconsistent in one table entry (empty when it is sound)."""
    problems = []
    for field, allowed in (
        ("client_auth", CLIENT_AUTH_METHODS),
        ("pkce", PKCE_MODES),
        ("rotation", ROTATIONS),
        ("refresh_token_lifetime_kind", LIFETIME_KINDS),
        ("loopback_redirect", LOOPBACK_RULES),
    ):
        if getattr(platform, field) not in allowed:
            problems.append("%s %r is not one of %s" % (field, getattr(platform, field), ", ".join(allowed)))
    unknown = sorted(set(platform.unconfirmed) - set(FACT_FIELDS))
    if unknown:
        problems.append("unconfirmed names no fact field: %s" % ", ".join(unknown))
    if len(set(platform.unconfirmed)) != len(platform.unconfirmed):
        problems.append("unconfirmed repeats a field")
    if set(platform.invantive_keys) - set(INVANTIVE_ROLES):
        problems.append("invantive_keys has roles outside %s" % ", ".join(INVANTIVE_ROLES))
    if any(platform.countries.get(canonical) != canonical for canonical in platform.countries.values()):
        problems.append("every canonical country must also map to itself")
    if platform.environments and platform.environment_default not in platform.environments:
        problems.append("environment_default must name one of the environments")
    if not platform.environments and platform.environment_default is not None:
        problems.append("environment_default without environments")
    base_allowed = {"country"} if platform.countries else set()
    url_allowed = {"base"} if platform.base_url else set()
    for placeholder, present in (("tenant", platform.tenant_default is not None), ("environment_host", bool(platform.environments))):
        if present:
            base_allowed.add(placeholder)
            url_allowed.add(placeholder)
    if not _placeholders(platform.base_url) <= base_allowed:
        problems.append("base_url uses placeholders this platform cannot fill")
    for field in _TEMPLATE_FIELDS.values():
        if not _placeholders(getattr(platform, field)) <= url_allowed:
            problems.append("%s uses placeholders this platform cannot fill" % field)
    if (platform.authorize_url is None) != (platform.token_url is None):
        problems.append("authorize_url and token_url must both be set or both be None")
    for rule in platform.token_errors:
        problems.extend(_rule_problems(rule))
    return problems


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_endpoint_url(url: str, what: str) -> str:
    """Return ``url`` if an OAuth client may send credentials to it, else raise PlatformError.

    ``what`` is a noun phrase for the message, such as ``"token endpoint"`` or ``"issuer"``.
    HTTPS is required; plain http only to a loopback host (127.0.0.0/8, ::1, localhost).
    """
    if not isinstance(url, str) or not url:
        raise PlatformError("the %s is missing or not a URL string" % what)
    try:
        split = urllib.parse.urlsplit(url)
    except ValueError:
        # Not echoed when it may carry a password.
        shown = "" if "@" in url else " %s" % url
        raise PlatformError("the %s%s is not a valid URL; check the host name" % (what, shown)) from None
    if "@" in split.netloc:
        # Never echo the user-info part: it may hold a password.
        shown = urllib.parse.urlunsplit((split.scheme, split.netloc.rpartition("@")[2], split.path, "", ""))
        raise PlatformError("the %s %s has a user name or password before the host; remove the 'user:password@' part" % (what, shown))
    if _SPACE_OR_CONTROL.search(url):
        raise PlatformError("the %s %r contains spaces or control characters; give it without them" % (what, url))
    try:
        port_valid = split.port != 0  # raises ValueError for a port that is not a number up to 65535
    except ValueError:
        port_valid = False
    if not port_valid:
        raise PlatformError("the %s %s has an invalid port; use a number from 1 to 65535" % (what, url))
    scheme = split.scheme.lower()
    if scheme not in ("https", "http"):
        raise PlatformError("the %s %s is not an https:// URL" % (what, url))
    host = split.hostname
    if not host:
        raise PlatformError("the %s %s has no host; give a full URL such as https://login.example.com/token" % (what, url))
    if split.fragment or url.endswith("#"):
        raise PlatformError("the %s %s has a fragment (#...); remove it, OAuth endpoints must not have one (RFC 6749, 3.1)" % (what, url))
    if scheme == "http" and not _is_loopback(host):
        raise PlatformError("the %s %s is not HTTPS; only loopback addresses (127.0.0.1, ::1, localhost) may use http://" % (what, url))
    return url


def discovery_url(issuer: str) -> str:
    """Return the OpenID discovery document URL of ``issuer`` (checked like an endpoint)."""
    check_endpoint_url(issuer, "issuer")
    if urllib.parse.urlsplit(issuer).query:
        raise PlatformError("the issuer %s has a query (?...); an issuer URL has none, remove it" % issuer)
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _choices(names: t.Iterable[str]) -> str:
    return ", ".join(names)


def _country_choices(platform: Platform) -> str:
    """``nl, be, de, co.uk (or uk), ...``: canonical countries in table order with their aliases."""
    listed = []
    for canonical in dict.fromkeys(platform.countries.values()):
        aliases = [alias for alias, value in platform.countries.items() if value == canonical and alias != canonical]
        listed.append("%s (or %s)" % (canonical, ", ".join(aliases)) if aliases else canonical)
    return _choices(listed)


def get_platform(name: str) -> Platform:
    """Return the platform called ``name`` (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else name
    try:
        return PLATFORMS[key]
    except (KeyError, TypeError):
        raise PlatformError("unknown platform '%s'; use one of: %s" % (name, _choices(PLATFORM_NAMES))) from None


def normalize_country(platform: Platform, country: str | None) -> str | None:
    """Return the canonical country for ``platform`` (None for platforms without countries)."""
    given = country.strip().lower() if isinstance(country, str) else country
    if not platform.countries:
        if given:
            raise PlatformError("platform %s has no country; remove the country option" % platform.name)
        return None
    if not given:
        raise PlatformError("%s needs a country; use one of: %s" % (platform.title, _country_choices(platform)))
    try:
        return platform.countries[given]
    except (KeyError, TypeError):
        raise PlatformError("unknown %s country '%s'; use one of: %s" % (platform.title, country, _country_choices(platform))) from None


def _resolve_tenant(platform: Platform, tenant: str | None) -> str | None:
    if platform.tenant_default is None:
        if tenant:
            raise PlatformError("platform %s has no tenant; remove the tenant option" % platform.name)
        return None
    value = tenant or platform.tenant_default
    if not isinstance(value, str) or not _TENANT.fullmatch(value):
        raise PlatformError(
            "the %s tenant %r is not a tenant ID or domain name; use letters, digits, '.' and '-' only (default: %s)"
            % (platform.title, value, platform.tenant_default)
        )
    return value


def _resolve_environment(platform: Platform, environment: str | None) -> str | None:
    if not platform.environments:
        if environment:
            raise PlatformError("platform %s has no environments; remove the environment option" % platform.name)
        return None
    name = environment.strip().lower() if isinstance(environment, str) and environment else platform.environment_default
    try:
        return platform.environments[name or ""]
    except (KeyError, TypeError):
        raise PlatformError("unknown %s environment '%s'; use one of: %s" % (platform.title, environment, _choices(platform.environments))) from None


def _given_urls(endpoints: t.Mapping[str, t.Any] | None) -> dict[str, str]:
    if endpoints is None:
        return {}
    if not isinstance(endpoints, t.Mapping):
        raise PlatformError("endpoints must be a dictionary with the keys %s" % _choices(ENDPOINT_KEYS))
    unknown = sorted(str(key) for key in endpoints if key not in ENDPOINT_KEYS)
    if unknown:
        raise PlatformError(
            "unknown endpoints key%s %s; use %s or %s"
            % ("s" if len(unknown) > 1 else "", ", ".join("'%s'" % key for key in unknown), ", ".join(ENDPOINT_KEYS[:-1]), ENDPOINT_KEYS[-1])
        )
    given = {}
    for key, value in endpoints.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise PlatformError("endpoints.%s must be a URL string" % key)
        given[key] = value
    return given


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an already checked URL, with the scheme's default port filled in."""
    split = urllib.parse.urlsplit(url)
    scheme = split.scheme.lower()
    return scheme, (split.hostname or "").lower(), split.port or {"https": 443, "http": 80}.get(scheme)


def _discovered_urls(discovery: t.Mapping[str, t.Any] | None, issuer: str | None, given: t.Mapping[str, str], connection: str | None) -> dict[str, str]:
    """The endpoints a discovery document may supply: only from the issuer it claims to describe, only on that issuer's origin.

    RFC 8414 section 3.3 and OpenID Connect Discovery 1.0 section 4.3: the document's ``issuer`` must be identical to the issuer
    URL the document was fetched for, or it is not used. An endpoint on another origin would receive the code and the client
    secret; it is taken only when the user names it in ``endpoints`` (then the document's value is not used at all).
    """
    if discovery is None:
        return {}
    about = "connection %s: " % connection if connection else ""
    if not isinstance(discovery, t.Mapping):
        raise PlatformError("%sthe discovery document is not a JSON object; check the issuer URL" % about)
    if not isinstance(issuer, str) or not issuer:
        # A programming error: a document cannot be checked without the issuer it was fetched for.
        raise ValueError("a discovery document needs the issuer it was fetched for")
    claimed = discovery.get("issuer")
    if claimed != issuer:
        shown = "%r as its issuer" % claimed if isinstance(claimed, str) else "no issuer"
        raise PlatformError(
            "%sthe discovery document of issuer %s names %s; they must be identical (RFC 8414 section 3.3, OpenID Connect "
            "Discovery section 4.3), so none of its endpoints are used. Set issuer to exactly the provider's issuer URL, or give "
            "endpoints.authorize and endpoints.token explicitly" % (about, issuer, shown)
        )
    found = {}
    for key, document_key in _DISCOVERY_KEYS.items():
        value = discovery.get(document_key)
        if value is None or key in given:
            continue
        if not isinstance(value, str):
            raise PlatformError("%sthe discovery document's %s is not a URL string; check the issuer URL" % (about, document_key))
        check_endpoint_url(value, "%s endpoint" % key)
        if _origin(value) != _origin(issuer):
            raise PlatformError(
                "%sthe discovery document of issuer %s gives the %s endpoint %s, which is on another origin (scheme, host, port) than "
                "the issuer, so it is not used: it would receive %s. If your provider really serves it there, set endpoints.%s to "
                "it explicitly" % (about, issuer, key, value, _WHAT_AN_ENDPOINT_RECEIVES[key], key)
            )
        found[key] = value
    return found


def _resolve_base(platform: Platform, country: str | None, base_url: str | None, values: dict[str, str | None]) -> str | None:
    if base_url:
        if platform.base_url is None:
            raise PlatformError(
                "platform %s has no base URL; remove the base_url option and set the URLs with endpoints.authorize and endpoints.token" % platform.name
            )
        if country:
            # Optional with an explicit base URL (a test server), but still a known country.
            normalize_country(platform, country)
        return check_endpoint_url(base_url.rstrip("/"), "base URL")
    values["country"] = normalize_country(platform, country)
    if platform.base_url is None:
        return None
    return check_endpoint_url(platform.base_url.format(**values), "base URL")


def resolve_endpoints(
    platform: Platform,
    *,
    country: str | None = None,
    tenant: str | None = None,
    environment: str | None = None,
    base_url: str | None = None,
    endpoints: t.Mapping[str, str] | None = None,
    discovery: t.Mapping[str, t.Any] | None = None,
    issuer: str | None = None,
    connection: str | None = None,
) -> Endpoints:
    """Resolve the platform's URLs for one connection.

    Each URL is taken from ``endpoints`` if given there, else from the OpenID ``discovery`` document
    fetched for ``issuer`` (trusted only as ``_discovered_urls`` says), else from the platform's
    template filled with ``{base}``, ``{tenant}`` and ``{environment_host}``. ``connection`` names
    the connection in the messages about the discovery document.
    ``base_url`` replaces the platform's base template; with it, the country is optional.
    Every resulting URL passes ``check_endpoint_url``.
    """
    given = _given_urls(endpoints)
    found = _discovered_urls(discovery, issuer, given, connection)
    values: dict[str, str | None] = {
        "tenant": _resolve_tenant(platform, tenant),
        "environment_host": _resolve_environment(platform, environment),
    }
    values["base"] = _resolve_base(platform, country, base_url, values)
    urls: dict[str, str | None] = {}
    for key, field in _TEMPLATE_FIELDS.items():
        template = getattr(platform, field)
        url = given.get(key) or found.get(key) or (template.format(**values) if template else None)
        urls[key] = check_endpoint_url(url, "%s endpoint" % key) if url else None
    authorize, token = urls["authorize"], urls["token"]
    if authorize is None or token is None:
        raise PlatformError("platform %s needs endpoints.authorize and endpoints.token, or an issuer whose discovery document lists them" % platform.name)
    return Endpoints(authorize=authorize, token=token, revocation=urls["revocation"], whoami=urls["whoami"], base=values["base"])


# Platforms the references do not cover: every fact is from general knowledge, so all are unconfirmed.
_UNSOURCED = FACT_FIELDS

_HINT_OFFLINE_ACCESS = "ask for the offline_access scope and authorize again"

_TABLE = (
    Platform(
        name="exact_online",
        title="Exact Online",
        authorize_url="{base}/api/oauth2/auth",
        token_url="{base}/api/oauth2/token",
        revocation_url=None,
        whoami_url="{base}/api/v1/current/Me",
        base_url="https://start.exactonline.{country}",
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="rotating",
        min_refresh_interval=570,
        access_token_lifetime=600,
        refresh_token_lifetime=30 * _DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={"force_login": "1"},
        nonce=False,
        default_scopes=(),
        scopes_in_request=False,
        loopback_redirect="not_allowed",
        daily_token_budget=200,
        code_lifetime=180,
        no_refresh_token_hint="Exact Online documents a refresh token in every token response; authorize again, and check that the app's client secret is set",
        invantive_provider="ExactOnlineAll",
        invantive_keys={
            "url": "api-url",
            "client_id": "api-client-id",
            "client_secret": "api-client-secret",
            "redirect_url": "api-redirect-url",
            "refresh_token": "api-refresh-token",
        },
        countries={"nl": "nl", "be": "be", "de": "de", "co.uk": "co.uk", "uk": "co.uk", "com": "com", "us": "com", "fr": "fr", "es": "es"},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("revocation_url", "pkce", "daily_token_budget"),
        sources=("E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10", "E17", "I1", "I15", "I17", "FORUM-1570", "DOC-CREDSRV", "DOC-BUSINESS"),
        notes=(
            "expires_in arrives as a string; the code contains '!' and is URL-encoded once in the redirect; "
            "at most 10 errors per API key, user, company, endpoint and hour; the redirect URI must be public HTTPS; "
            "users revoke an app in the Security center, there is no revocation endpoint; a used refresh token is answered "
            "HTTP 401 unauthorized_client 'Old refresh token used.' (picqer/exact-php-client issues 300 and 644, Invantive forum)"
        ),
        token_errors=(
            # A spent refresh token: the chain is dead, not the app registration (RFC 6749 would read a client problem).
            ErrorRule(kind="invalid_grant", status=401, error="unauthorized_client", description=r"Old refresh token used\.?"),
            # 30 days unused: invalid_request where RFC 6749 says invalid_grant (I15).
            ErrorRule(kind="expired", status=400, error="invalid_request", description=r"The refresh token expired at .*"),
            # Within 570 s of the last access token (I17); the Reason header names it even when the description changes.
            ErrorRule(kind="too_early", status=400, error="access_denied", header=("Reason", r"TooEarlyToRefreshTokens\b.*")),
            ErrorRule(kind="too_early", status=400, error="access_denied", description=r"Rate limit exceeded: access_token not expired\.?"),
        ),
    ),
    Platform(
        name="teamleader",
        title="Teamleader Focus",
        authorize_url="{base}/oauth2/authorize",
        token_url="{base}/oauth2/access_token",
        revocation_url=None,
        whoami_url=None,
        base_url="https://focus.teamleader.eu",
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="none",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=False,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=600,
        no_refresh_token_hint="Teamleader returns a refresh token with every code exchange; authorize again with response_type=code",
        # Invantive's provider code "Teamleader" is its legacy API-key connector, not Teamleader Focus OAuth; the
        # Focus code is not found, so the inventory names it (invantive.provider).
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("pkce", "loopback_redirect", "invantive_provider"),
        sources=("T1", "T2", "T3", "DOC-BUSINESS"),
        notes=(
            "scopes are chosen when the integration is registered; refresh tokens are single use with no grace window "
            "and work until the user revokes them or uninstalls the integration; API host api.focus.teamleader.eu; "
            "200 requests per sliding minute; Invantive's provider code 'Teamleader' is the legacy API-key connector "
            "(documentation.invantive.com/2017R2/teamleader-data-model), the Teamleader Focus code is not known"
        ),
    ),
    Platform(
        name="twinfield",
        title="Twinfield",
        authorize_url="{base}/connect/authorize",
        token_url="{base}/connect/token",
        revocation_url=None,
        whoami_url="{base}/connect/userinfo",
        base_url="https://login.twinfield.com/auth/authentication",
        client_auth="client_secret_basic",
        # Off until a source confirms PKCE: Nango, an OAuth client that serves Twinfield, turns it off (TW7).
        pkce="off",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=25 * 365 * _DAY,
        refresh_token_lifetime_kind="absolute",
        auth_params={},
        nonce=True,
        default_scopes=("openid", "twf.user", "twf.organisation", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("pkce", "rotation", "loopback_redirect"),
        sources=("TW1", "TW2", "TW3", "TW4", "TW5", "TW6", "TW7"),
        notes=(
            "a client ID serves either the code flow or the implicit flow; after a token, call "
            "{base}/connect/accesstokenvalidation to learn the cluster URL for SOAP calls; Nango turns PKCE off for Twinfield"
        ),
    ),
    Platform(
        name="loket",
        title="Loket.nl",
        authorize_url="{base}/authorize",
        token_url="{base}/token",
        revocation_url=None,
        whoami_url=None,
        base_url="https://{environment_host}",
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=3599,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="check that the Loket.nl application may use the authorization-code grant with refresh tokens",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={"production": "oauth.loket.nl", "acceptance": "oauth.loket-acc.nl"},
        environment_default="production",
        unconfirmed=("authorize_url", "client_auth", "pkce", "rotation", "refresh_token_lifetime", "refresh_token_lifetime_kind", "loopback_redirect"),
        sources=("L1", "L2", "L3", "L4"),
        notes="production is only for approved applications; API https://api.loket.nl/v2 (acceptance https://api.loket-acc.nl/v2); scope approval takes long",
    ),
    Platform(
        name="visma_net",
        title="Visma.net",
        authorize_url="{base}/connect/authorize",
        token_url="{base}/connect/token",
        revocation_url="{base}/connect/revocation",
        whoami_url="{base}/connect/userinfo",
        base_url="https://connect.visma.com",
        client_auth="client_secret_basic",
        pkce="supported",
        rotation="configurable",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=("openid", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider="VismaNet",
        invantive_keys={"client_id": "api-client-id"},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("whoami_url", "client_auth", "loopback_redirect"),
        sources=("V1", "V2", "V3", "V4", "V5", "docs.connect.visma.com: Token revocation"),
        notes=(
            "per app, refresh tokens are 'one time' (rotating, optional 5-60 s grace) or 're-use' (up to 1 year), with an expiry in days; "
            "settings apply to tokens issued after re-authorization; the user picks the company at sign-in and needs the 'API User' role "
            "(else invalid_tenant); discovery at https://connect.visma.com/.well-known/openid-configuration; revocation at "
            "{base}/connect/revocation with HTTP Basic client authentication (docs.connect.visma.com, 'Token revocation')"
        ),
    ),
    Platform(
        name="salesforce",
        title="Salesforce",
        authorize_url="{base}/services/oauth2/authorize",
        token_url="{base}/services/oauth2/token",
        revocation_url="{base}/services/oauth2/revoke",
        whoami_url="{base}/services/oauth2/userinfo",
        base_url="https://{environment_host}",
        client_auth="client_secret_post",
        pkce="supported",
        rotation="configurable",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=("api", "refresh_token"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="ask for the refresh_token (or offline_access) scope and allow it in the app's OAuth policies",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={"production": "login.salesforce.com", "sandbox": "test.salesforce.com"},
        environment_default="production",
        unconfirmed=("whoami_url", "client_auth", "loopback_redirect"),
        sources=("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"),
        notes=(
            "use base_url for a My Domain (https://NAME.my.salesforce.com); the access token lives as long as the app's session timeout; "
            "refresh-token policy and rotation are per app; a sixth approval per user and app revokes the oldest; "
            "the token response's instance_url is the API base; new apps are External Client Apps since Spring '26"
        ),
    ),
    Platform(
        name="microsoft",
        title="Microsoft Entra ID",
        authorize_url="{base}/{tenant}/oauth2/v2.0/authorize",
        token_url="{base}/{tenant}/oauth2/v2.0/token",
        revocation_url=None,
        whoami_url="https://graph.microsoft.com/oidc/userinfo",
        base_url="https://login.microsoftonline.com",
        client_auth="client_secret_post",
        pkce="supported",
        rotation="non_rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=90 * _DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={},
        nonce=False,
        default_scopes=("openid", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="allowed",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default="organizations",
        environments={},
        environment_default=None,
        unconfirmed=("revocation_url", "whoami_url", "client_auth", "refresh_token_lifetime_kind"),
        sources=("M1", "M2", "M3", "M4", "M5", "M6", "M7"),
        notes=(
            "each refresh returns a new refresh token but does not revoke the old one, so parallel refreshes do not break the chain; "
            "access tokens live a random 60-90 minutes (3600 is the lower bound); refresh tokens of SPA redirect URIs live 24 hours; "
            "Business Central: scope https://api.businesscentral.dynamics.com/user_impersonation (unconfirmed), "
            "API https://api.businesscentral.dynamics.com/v2.0/<environment>/api/v2.0"
        ),
    ),
    Platform(
        name="google",
        title="Google",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        revocation_url="https://oauth2.googleapis.com/revoke",
        whoami_url="https://openidconnect.googleapis.com/v1/userinfo",
        base_url=None,
        client_auth="client_secret_post",
        pkce="supported",
        rotation="non_rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=180 * _DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={"access_type": "offline", "prompt": "consent"},
        nonce=False,
        default_scopes=("openid",),
        scopes_in_request=True,
        loopback_redirect="desktop_only",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="authorize again with access_type=offline and prompt=consent; Google sends a refresh token only when the user consents",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("revocation_url", "whoami_url", "client_auth", "default_scopes"),
        sources=("G1", "G2", "G3", "G4", "G5", "G6"),
        notes=(
            "refresh responses carry no refresh token: keep the stored one; a refresh token dies after 6 months unused, "
            "after 7 days while the consent screen is in 'Testing', and when a client and user have too many (the oldest goes)"
        ),
    ),
    Platform(
        name="xero",
        title="Xero",
        authorize_url="https://login.xero.com/identity/connect/authorize",
        token_url="https://identity.xero.com/connect/token",
        revocation_url="https://identity.xero.com/connect/revocation",
        whoami_url="https://api.xero.com/connections",
        base_url=None,
        client_auth="client_secret_basic",
        pkce="supported",
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=1800,
        refresh_token_lifetime=60 * _DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={},
        nonce=False,
        default_scopes=("offline_access",),
        scopes_in_request=True,
        loopback_redirect="allowed",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("revocation_url", "client_auth"),
        sources=("X1", "X2", "X3", "X4", "X5", "X6", "X-gist"),
        notes="the previous refresh token may be retried for 30 minutes after a lost response; every API call needs the xero-tenant-id header",
    ),
    Platform(
        name="quickbooks",
        title="QuickBooks Online",
        authorize_url="https://appcenter.intuit.com/connect/oauth2",
        token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        revocation_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        whoami_url=None,
        base_url=None,
        client_auth="client_secret_basic",
        pkce="unknown",
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=100 * _DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={},
        nonce=False,
        default_scopes=("com.intuit.quickbooks.accounting",),
        scopes_in_request=True,
        loopback_redirect="sandbox_only",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="ask for an API scope such as com.intuit.quickbooks.accounting and authorize again",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("revocation_url", "client_auth", "pkce", "default_scopes"),
        sources=("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7"),
        notes=(
            "the refresh token value changes about every 24-26 hours and the previous one stays valid about 24 hours: always store the latest; "
            "5-year hard maximum (header x-include-refresh-token-hard-expires-in: true); realmId comes back on the redirect"
        ),
    ),
    Platform(
        name="hubspot",
        title="HubSpot",
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",
        revocation_url=None,
        whoami_url=None,
        base_url=None,
        client_auth="client_secret_post",
        pkce="supported",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=1800,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=("oauth",),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="HubSpot returns a refresh token with every code exchange; authorize again",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=("rotation", "refresh_token_lifetime", "refresh_token_lifetime_kind", "default_scopes", "loopback_redirect"),
        sources=("H1", "H2", "H3", "H4", "H5", "H6"),
        notes=(
            "the v1 OAuth API is deprecated on 2027-02-16 (dated 2026-03 endpoints take every parameter in the body); "
            "refresh tokens are deleted through HubSpot's own token API, not RFC 7009"
        ),
    ),
    Platform(
        name="atlassian",
        title="Atlassian (Jira, Confluence)",
        authorize_url="https://auth.atlassian.com/authorize",
        token_url="https://auth.atlassian.com/oauth/token",
        revocation_url=None,
        whoami_url="https://api.atlassian.com/me",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={"audience": "api.atlassian.com", "prompt": "consent"},
        nonce=False,
        default_scopes=("offline_access",),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed; Invantive lists Atlassian Confluence, Jira and Jira Service Desk",
    ),
    Platform(
        name="github",
        title="GitHub",
        authorize_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        revocation_url=None,
        whoami_url="https://api.github.com/user",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="GitHub OAuth apps get no refresh token; use a GitHub App with expiring user access tokens",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed; the token endpoint answers JSON only to 'Accept: application/json'",
    ),
    Platform(
        name="gitlab",
        title="GitLab",
        authorize_url="{base}/oauth/authorize",
        token_url="{base}/oauth/token",
        revocation_url="{base}/oauth/revoke",
        whoami_url="{base}/api/v4/user",
        base_url="https://gitlab.com",
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="check the application's scopes in GitLab and authorize again",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed; use base_url for a self-managed GitLab",
    ),
    Platform(
        name="zoom",
        title="Zoom",
        authorize_url="https://zoom.us/oauth/authorize",
        token_url="https://zoom.us/oauth/token",
        revocation_url="https://zoom.us/oauth/revoke",
        whoami_url="https://api.zoom.us/v2/users/me",
        base_url=None,
        client_auth="client_secret_basic",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="check that the Zoom app is a user-managed OAuth app and authorize again",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed",
    ),
    Platform(
        name="calendly",
        title="Calendly",
        authorize_url="https://auth.calendly.com/oauth/authorize",
        token_url="https://auth.calendly.com/oauth/token",
        revocation_url="https://auth.calendly.com/oauth/revoke",
        whoami_url="https://api.calendly.com/users/me",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="authorize again; check the Calendly app's OAuth settings",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed",
    ),
    Platform(
        name="fortnox",
        title="Fortnox",
        authorize_url="https://apps.fortnox.se/oauth-v1/auth",
        token_url="https://apps.fortnox.se/oauth-v1/token",
        revocation_url="https://apps.fortnox.se/oauth-v1/revoke",
        whoami_url=None,
        base_url=None,
        client_auth="client_secret_basic",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="authorize again; check the Fortnox integration's scopes",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed",
    ),
    Platform(
        name="paypal",
        title="PayPal",
        authorize_url="https://www.{environment_host}/signin/authorize",
        token_url="https://api-m.{environment_host}/v1/oauth2/token",
        revocation_url=None,
        whoami_url="https://api-m.{environment_host}/v1/identity/openidconnect/userinfo?schema=openid",
        base_url=None,
        client_auth="client_secret_basic",
        pkce="unknown",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={},
        nonce=False,
        default_scopes=("openid",),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="authorize again; check the PayPal app's 'Log in with PayPal' settings",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={"production": "paypal.com", "sandbox": "sandbox.paypal.com"},
        environment_default="production",
        unconfirmed=_UNSOURCED,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed; Invantive's 'PayPal test' is environment sandbox",
    ),
    Platform(
        name="generic",
        title="Generic OAuth2 server",
        authorize_url=None,
        token_url=None,
        revocation_url=None,
        whoami_url=None,
        base_url=None,
        # RFC 6749 2.3.1: an authorization server MUST support HTTP Basic client authentication.
        client_auth="client_secret_basic",
        pkce="supported",
        rotation="unknown",
        min_refresh_interval=0,
        access_token_lifetime=None,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        auth_params={"prompt": "consent"},
        nonce=False,
        default_scopes=("openid", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        no_refresh_token_hint="ask for the offline_access scope and prompt=consent, or check the server's refresh-token policy for this client",
        invantive_provider=None,
        invantive_keys={},
        countries={},
        tenant_default=None,
        environments={},
        environment_default=None,
        unconfirmed=(),
        sources=("R1", "R3", "R5", "R6"),
        notes="endpoints come from the endpoints option or the issuer's /.well-known/openid-configuration",
    ),
)

PLATFORMS: t.Mapping[str, Platform] = types.MappingProxyType({platform.name: platform for platform in _TABLE})
PLATFORM_NAMES: tuple[str, ...] = tuple(sorted(PLATFORMS))
