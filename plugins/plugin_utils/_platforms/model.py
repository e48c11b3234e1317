# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The platform model and endpoint resolution: what each OAuth2 platform needs, read from the table.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Every platform difference lives in ``PLATFORMS``, built from the entries of ``_platform_table``:
endpoint templates (placeholders ``{base}``, ``{tenant}``, ``{environment_host}``, and ``{country}``
in ``base_url``), client authentication, PKCE, refresh-token rotation, lifetimes, extra authorization
parameters, redirect rules, the Invantive provider code and connection-string keys, and how its token
endpoint words a refusal where that differs from RFC 6749 (``token_errors``). The functions below only
read the table; none of them branches on a platform name.

``sources`` holds the IDs of the pages in ``docs/sources.md`` (or the page, for a correction listed
without an ID). A field whose value no vendor or third-party source confirms is named in
``unconfirmed``; unknown lifetimes and rotation stay ``None`` / ``"unknown"`` rather than guessed.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import ipaddress
import re
import string
import types
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.table import EVERY_FACT, TABLE

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
# What presenting a refresh token that the platform may already have rotated costs (``spent_token``), past any
# ``spent_token_grace``: ``refused`` - the token is refused and the chain needs a new preauthentication (Exact Online's
# "Old refresh token used."); ``family_revoked`` - the platform detects the reuse and revokes every token of the chain,
# the rotated one too (RFC 9700 section 4.14.2); ``accepted`` - the old token keeps working (platforms that do not
# rotate, or do not void the old token); ``unknown`` - no source says.
SPENT_TOKEN_COSTS = ("refused", "family_revoked", "accepted", "unknown")

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Platform:
    """One OAuth2 platform. Mappings are read-only; see the module docstring for the placeholders.

    Facts have no default: an entry states each one, ``None`` or ``"unknown"`` included. Only the
    structural fields (what a platform has no use for: countries, environments, a tenant, extra
    authorization parameters, Invantive keys) default to empty.
    """

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
    auth_params: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    nonce: bool
    default_scopes: tuple[str, ...]
    scopes_in_request: bool
    loopback_redirect: str
    daily_token_budget: int | None
    code_lifetime: int | None
    spent_token: str
    # Seconds after a rotation during which the previous refresh token still works (a retry after a lost answer), or None.
    spent_token_grace: int | None
    no_refresh_token_hint: str
    invantive_provider: str | None
    invantive_keys: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    countries: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    tenant_default: str | None = None
    environments: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    environment_default: str | None = None
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
    if platform.spent_token not in SPENT_TOKEN_COSTS:
        problems.append("spent_token %r is not one of %s" % (platform.spent_token, ", ".join(SPENT_TOKEN_COSTS)))
    if (platform.spent_token == "accepted") != (platform.rotation == "non_rotating"):
        problems.append("spent_token accepted goes with rotation non_rotating, and only with it")
    grace = platform.spent_token_grace
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int) or grace <= 0 or platform.rotation == "non_rotating"):
        problems.append("spent_token_grace must be None or a positive number of seconds of a platform that rotates")
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
    return _checked_url(str.__str__(url), what)


# A batch checks the same few endpoint URLs for every connection; a refusal is raised again each time (not cached).
@functools.lru_cache(maxsize=1024)
def _checked_url(url: str, what: str) -> str:
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


def _clock(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lost_answer_rule(platform: Platform) -> dict[str, t.Any]:
    """What a lost answer's in-flight marker keeps of the platform's ``spent_token`` facts, for the next run's message."""
    return {"platform": platform.title, "spent_token": platform.spent_token, "grace": platform.spent_token_grace}


def spent_token_advice(rule: t.Mapping[str, t.Any], started: float | None) -> str:
    """What presenting a token whose answer was lost costs on the platform of ``rule`` (``lost_answer_rule``), in words.

    ``started``: when the lost request was sent; a grace is counted from it.
    """
    title = str(rule.get("platform") or "the platform")
    cost = str(rule.get("spent_token"))
    grace = rule.get("grace")
    if cost == "accepted":
        return "%s does not void the stored refresh token, so presenting it again is safe" % title
    then = {
        "refused": "it is refused, and the chain needs a new preauthentication",
        "family_revoked": "%s detects the reuse and revokes every token of the chain, the lost new one too; the chain needs a new "
        "preauthentication" % title,
    }.get(cost, "%s may refuse it or revoke the whole chain (no source says which)" % title)
    if isinstance(grace, int) and not isinstance(grace, bool) and grace > 0 and isinstance(started, (int, float)):
        until = _clock(started + grace)
        return "%s accepts the previous refresh token for %d s after a rotation, so presenting it again is safe until %s; after that, if %s processed " \
            "the request, %s" % (title, grace, until, title, then)
    return "if %s processed the request, the stored token is spent, and when it is presented again %s" % (title, then)


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
        raise PlatformError("%sthe discovery document is not a JSON object; check the issuer URL" % about, connection or None)
    if not isinstance(issuer, str) or not issuer:
        # A programming error: a document cannot be checked without the issuer it was fetched for.
        raise ValueError("a discovery document needs the issuer it was fetched for")
    claimed = discovery.get("issuer")
    if claimed != issuer:
        shown = "%r as its issuer" % claimed if isinstance(claimed, str) else "no issuer"
        raise PlatformError(
            "%sthe discovery document of issuer %s names %s; they must be identical (RFC 8414 section 3.3, OpenID Connect "
            "Discovery section 4.3), so none of its endpoints are used. Set issuer to exactly the provider's issuer URL, or give "
            "endpoints.authorize and endpoints.token explicitly" % (about, issuer, shown),
            connection or None,
        )
    found = {}
    for key, document_key in _DISCOVERY_KEYS.items():
        value = discovery.get(document_key)
        if value is None or key in given:
            continue
        if not isinstance(value, str):
            raise PlatformError("%sthe discovery document's %s is not a URL string; check the issuer URL" % (about, document_key), connection or None)
        check_endpoint_url(value, "%s endpoint" % key)
        if _origin(value) != _origin(issuer):
            raise PlatformError(
                "%sthe discovery document of issuer %s gives the %s endpoint %s, which is on another origin (scheme, host, port) than "
                "the issuer, so it is not used: it would receive %s. If your provider really serves it there, set endpoints.%s to "
                "it explicitly" % (about, issuer, key, value, _WHAT_AN_ENDPOINT_RECEIVES[key], key),
                connection or None,
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


def _platform(entry: t.Mapping[str, t.Any]) -> Platform:
    """Build one ``_platform_table`` entry, where ``unconfirmed=EVERY_FACT`` stands for all of ``FACT_FIELDS``."""
    if entry.get("unconfirmed") == EVERY_FACT:
        entry = {**entry, "unconfirmed": FACT_FIELDS}
    return Platform(**entry)


PLATFORMS: t.Mapping[str, Platform] = types.MappingProxyType({entry["name"]: _platform(entry) for entry in TABLE})
PLATFORM_NAMES: tuple[str, ...] = tuple(sorted(PLATFORMS))
