# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The platform table as plain data: one entry per OAuth2 platform, read by ``_platforms``.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Each entry holds the keyword arguments of one ``_platforms.Platform``; the fields are described
there, and ``_platforms`` builds, checks and serves the entries (an entry that contradicts itself
fails at import). Fields left out take their defaults: no countries, environments, tenant,
extra authorization parameters or Invantive keys.

Facts come from the vendors' and third parties' pages listed in ``docs/sources.md``; ``sources``
holds their IDs (or the page, for a correction listed without an ID). A field whose value no vendor
or third-party source confirms is named in ``unconfirmed``; unknown lifetimes and rotation stay
``None`` / ``"unknown"`` rather than guessed. ``tests/unit/plugins/plugin_utils/_platforms/platform_table.json``
pins what every entry resolves to.
"""

from __future__ import annotations

import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import DAY

# ``unconfirmed=EVERY_FACT``: a platform the sources do not cover, every fact is from general knowledge.
EVERY_FACT = "every fact field"

# Atlassian: its own announcements (A1, A2) say how it rotates and what a spent refresh token costs, and its refresh-token page (A3) that
# offline_access gives a refresh token and that client_id and client_secret go in the body; nothing else is confirmed. The 90 days
# inactive and 365 days absolute that integrators quote were not found in a source read here.
ATLASSIAN_UNCONFIRMED = (
    "authorize_url", "token_url", "revocation_url", "whoami_url", "base_url", "pkce", "min_refresh_interval", "access_token_lifetime",
    "refresh_token_lifetime", "refresh_token_lifetime_kind", "auth_params", "nonce", "scopes_in_request", "loopback_redirect",
    "daily_token_budget", "code_lifetime", "invantive_provider", "invantive_keys", "countries", "tenant_default", "environments",
    "environment_default", "token_errors",
)

_HINT_OFFLINE_ACCESS = "ask for the offline_access scope and authorize again"

TABLE: tuple[dict[str, t.Any], ...] = (
    dict(
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
        refresh_token_lifetime=30 * DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={"force_login": "1"},
        nonce=False,
        default_scopes=(),
        scopes_in_request=False,
        loopback_redirect="not_allowed",
        daily_token_budget=200,
        code_lifetime=180,
        # A rotated token presented again: 401 "Old refresh token used.", and only a new consent helps (I1, I24, E7); no
        # grace is documented (Invantive says the old token lives until the new one is used, E7: unconfirmed, not relied on).
        spent_token="refused",
        spent_token_grace=None,
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
        unconfirmed=("revocation_url", "pkce", "daily_token_budget"),
        sources=(
            "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9",
            "E10", "E17", "I1", "I12", "I15", "I16", "I17", "I24", "I25", "FORUM-1570", "DOC-CREDSRV", "DOC-BUSINESS",
        ),
        notes=(
            "expires_in arrives as a string; the code contains '!' and is URL-encoded once in the redirect; "
            "at most '10 error messages per app, administration, endpoint and hour' and 200 token calls per app, user and day, "
            "both from Exact's announcement of the API changes of 1 July 2021 as Invantive relays it (forum 3507, E9; not found "
            "on Exact's own pages); after a refusal that kills the chain no token call is made until a new preauthentication, so "
            "refused calls cannot pile up into a block of the app; the redirect URI must be public HTTPS; "
            "users revoke an app in the Security center, there is no revocation endpoint; a used refresh token is answered "
            "HTTP 401 unauthorized_client 'Old refresh token used.' (picqer/exact-php-client issues 300 and 644, Invantive forum); "
            "400 invalid_grant 'Token is not allowed, because of invalid or empty chainId' is a dead chain too (I16, I25: seen after "
            "duplicate or concurrent authorizations and a duplicate token store); reuse of old refresh tokens, which Exact support "
            "can switch on per app (E7), is not modelled: the table assumes rotation"
        ),
        token_errors=(
            # A spent refresh token: the chain is dead, not the app registration (RFC 6749 would read a client problem).
            dict(kind="invalid_grant", status=401, error="unauthorized_client", description=r"Old refresh token used\.?"),
            # A broken chain (I16, I25): RFC 6749 reads invalid_grant the same way; stated so the reading is Exact's, not a default.
            dict(kind="invalid_grant", status=400, error="invalid_grant", description=r"Token is not allowed, because of invalid or empty chainId\.?"),
            # 30 days unused: invalid_request where RFC 6749 says invalid_grant (I15).
            dict(kind="expired", status=400, error="invalid_request", description=r"The refresh token expired at .*"),
            # Within 570 s of the last access token (I17); the Reason header names it even when the description changes.
            dict(kind="too_early", status=400, error="access_denied", header=("Reason", r"TooEarlyToRefreshTokens\b.*")),
            dict(kind="too_early", status=400, error="access_denied", description=r"Rate limit exceeded: access_token not expired\.?"),
        ),
    ),
    dict(
        name="teamleader",
        title="Teamleader Focus",
        authorize_url="{base}/oauth2/authorize",
        token_url="{base}/oauth2/access_token",
        revocation_url=None,
        # "User Identity": the users.me API endpoint (T1).
        whoami_url="https://api.focus.teamleader.eu/users.me",
        base_url="https://focus.teamleader.eu",
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="none",
        nonce=False,
        default_scopes=(),
        scopes_in_request=False,
        loopback_redirect="unknown",
        daily_token_budget=None,
        # Codes "can only be exchanged for an access token once and expire 10 minutes after issuance" (T1).
        code_lifetime=600,
        # Refresh tokens "can only be used once", no grace window documented (T1).
        spent_token="refused",
        spent_token_grace=None,
        no_refresh_token_hint="Teamleader returns a refresh token with every code exchange; authorize again with response_type=code",
        # Invantive's provider code "Teamleader" is its legacy API-key connector, not Teamleader Focus OAuth; the
        # Focus code is not found, so the inventory names it (invantive.provider).
        invantive_provider=None,
        unconfirmed=("pkce", "loopback_redirect", "invantive_provider"),
        sources=("T1", "T2", "T3", "DOC-BUSINESS"),
        notes=(
            "scopes are chosen when the integration is registered; codes are single use and expire after 10 minutes; who-am-I is "
            "https://api.focus.teamleader.eu/users.me (its answer is not OpenID userinfo, so verify reports no user fields); "
            "refresh tokens are single use with no grace window "
            "and work until the user revokes them or uninstalls the integration; API host api.focus.teamleader.eu; "
            "200 requests per sliding minute; Invantive's provider code 'Teamleader' is the legacy API-key connector "
            "(documentation.invantive.com/2017R2/teamleader-data-model), the Teamleader Focus code is not known"
        ),
    ),
    dict(
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
        refresh_token_lifetime=25 * 365 * DAY,
        refresh_token_lifetime_kind="absolute",
        nonce=True,
        default_scopes=("openid", "twf.user", "twf.organisation", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        unconfirmed=("pkce", "rotation", "loopback_redirect", "spent_token"),
        sources=("TW1", "TW2", "TW3", "TW4", "TW5", "TW6", "TW7"),
        notes=(
            "a client ID serves either the code flow or the implicit flow; after a token, call "
            "{base}/connect/accesstokenvalidation to learn the cluster URL for SOAP calls; Nango turns PKCE off for Twinfield; "
            "php-twinfield, Nango and many public clients also ask for the scope twf.organisationUser, which no source read here "
            "calls required: add it to scopes when the API needs it (it is not a default); php-twinfield is said to give refresh "
            "tokens 550 days against Wolters Kluwer's up to 25 years: the 550 days were not found in a public source read here, "
            "so the table keeps 25 years"
        ),
    ),
    dict(
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
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="check that the Loket.nl application may use the authorization-code grant with refresh tokens",
        invantive_provider=None,
        environments={"production": "oauth.loket.nl", "acceptance": "oauth.loket-acc.nl"},
        environment_default="production",
        unconfirmed=(
            "authorize_url",
            "client_auth",
            "pkce",
            "rotation",
            "refresh_token_lifetime",
            "refresh_token_lifetime_kind",
            "loopback_redirect",
            "spent_token",
        ),
        sources=("L1", "L2", "L3", "L4"),
        notes="production is only for approved applications; API https://api.loket.nl/v2 (acceptance https://api.loket-acc.nl/v2); scope approval takes long",
    ),
    dict(
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
        nonce=False,
        default_scopes=("openid", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        # Per app: "re-use" tokens, or "one time" tokens with an optional 5-60 s grace (V2, V3): not knowable from here.
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider="VismaNet",
        invantive_keys={"client_id": "api-client-id"},
        unconfirmed=("whoami_url", "client_auth", "loopback_redirect", "spent_token"),
        sources=("V1", "V2", "V3", "V4", "V5", "docs.connect.visma.com: Token revocation"),
        notes=(
            "per app, refresh tokens are 'one time' (rotating, optional 5-60 s grace) or 're-use' (up to 1 year), with an expiry in days; "
            "settings apply to tokens issued after re-authorization; the user picks the company at sign-in and needs the 'API User' role "
            "(else invalid_tenant); discovery at https://connect.visma.com/.well-known/openid-configuration; revocation at "
            "{base}/connect/revocation with HTTP Basic client authentication (docs.connect.visma.com, 'Token revocation'); "
            "the userinfo endpoint {base}/connect/userinfo and whether the token endpoint also takes client_secret_post (Visma's "
            "examples send the secret in the body) are not confirmed by a source read here, nor is the form_post redirect"
        ),
    ),
    dict(
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
        nonce=False,
        default_scopes=("api", "refresh_token"),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        # With refresh token rotation on, any reuse of an invalidated refresh token revokes the current one and its access tokens (S9).
        spent_token="family_revoked",
        spent_token_grace=None,
        no_refresh_token_hint="ask for the refresh_token (or offline_access) scope and allow it in the app's OAuth policies",
        invantive_provider=None,
        environments={"production": "login.salesforce.com", "sandbox": "test.salesforce.com"},
        environment_default="production",
        unconfirmed=("whoami_url", "client_auth", "loopback_redirect"),
        sources=("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11"),
        notes=(
            "use base_url for a My Domain (https://NAME.my.salesforce.com); the access token lives as long as the app's session timeout; "
            "refresh-token policy and rotation are per app; a sixth approval per user and app revokes the oldest; "
            "the token response's instance_url is the API base; new apps are External Client Apps since Spring '26; "
            "PKCE is required for partner (AppExchange) apps and cannot be switched off once on (S10), so it is always sent; "
            "400 invalid_grant 'expired access/refresh token' is a dead chain (S11)"
        ),
        token_errors=(
            # Expired, revoked, or reused under rotation (S9, S11): RFC 6749's reading, stated in Salesforce's words.
            dict(kind="invalid_grant", error="invalid_grant", description=r"expired access/refresh token"),
        ),
    ),
    dict(
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
        refresh_token_lifetime=90 * DAY,
        refresh_token_lifetime_kind="idle",
        nonce=False,
        default_scopes=("openid", "offline_access"),
        scopes_in_request=True,
        loopback_redirect="allowed",
        daily_token_budget=None,
        code_lifetime=None,
        # A refresh returns a new refresh token without revoking the old one (M1).
        spent_token="accepted",
        spent_token_grace=None,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        tenant_default="organizations",
        # No RFC 7009 endpoint is known (Graph's revokeSignInSessions ends all of a user's sessions, not one token): not confirmed.
        unconfirmed=("revocation_url", "whoami_url", "client_auth"),
        sources=("M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9"),
        notes=(
            "each refresh returns a new refresh token but does not revoke the old one, so parallel refreshes do not break the chain; "
            "access tokens live a random 60-90 minutes (3600 is the lower bound); refresh tokens of SPA redirect URIs live 24 hours; "
            "Business Central: scope https://api.businesscentral.dynamics.com/user_impersonation (unconfirmed), "
            "API https://api.businesscentral.dynamics.com/v2.0/<environment>/api/v2.0; "
            "90 days inactive ends a refresh token: 400 invalid_grant AADSTS700082 'The refresh token has expired due to inactivity' (M1, M8); "
            "AADSTS50173 'The provided grant has expired due to it being revoked' (a changed or reset password, an admin revocation) "
            "needs a new consent (M9)"
        ),
        token_errors=(
            # The idle lifetime of M1, in Microsoft's words (M8).
            dict(kind="expired", status=400, error="invalid_grant", description=r"(?s)AADSTS700082: .*"),
            # Revoked after a credential change or by an admin: a new consent (M9).
            dict(kind="invalid_grant", status=400, error="invalid_grant", description=r"(?s)AADSTS50173: .*"),
        ),
    ),
    dict(
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
        refresh_token_lifetime=180 * DAY,
        refresh_token_lifetime_kind="idle",
        auth_params={"access_type": "offline", "prompt": "consent"},
        nonce=False,
        default_scopes=("openid",),
        scopes_in_request=True,
        loopback_redirect="desktop_only",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="accepted",
        spent_token_grace=None,
        no_refresh_token_hint="authorize again with access_type=offline and prompt=consent; Google sends a refresh token only when the user consents",
        invantive_provider=None,
        unconfirmed=("revocation_url", "whoami_url", "client_auth", "default_scopes"),
        sources=("G1", "G2", "G3", "G4", "G5", "G6"),
        notes=(
            "refresh responses carry no refresh token: keep the stored one; a refresh token dies after 6 months unused, "
            "after 7 days while the consent screen is in 'Testing', and when a client and user have too many (the oldest goes)"
        ),
    ),
    dict(
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
        # 30 days unused (Xero staff in X2 and X7); 60 days elsewhere (X1 as read earlier, an SDK maintainer): the shorter is used.
        refresh_token_lifetime=30 * DAY,
        refresh_token_lifetime_kind="idle",
        nonce=False,
        default_scopes=("offline_access",),
        scopes_in_request=True,
        loopback_redirect="allowed",
        daily_token_budget=None,
        code_lifetime=None,
        # After a lost answer the existing refresh token may be retried for 30 minutes; after that the user authorizes again (X1, X2).
        spent_token="refused",
        spent_token_grace=30 * 60,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        unconfirmed=("revocation_url", "client_auth"),
        sources=("X1", "X2", "X3", "X4", "X5", "X6", "X7", "X-gist"),
        notes=(
            "the previous refresh token may be retried for 30 minutes after a lost response; every API call needs the xero-tenant-id header; "
            "refresh tokens expire after 30 days unused (Xero staff, X2 and X7; 60 days in older pages: 30 is planned for)"
        ),
    ),
    dict(
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
        refresh_token_lifetime=100 * DAY,
        refresh_token_lifetime_kind="idle",
        nonce=False,
        default_scopes=("com.intuit.quickbooks.accounting",),
        scopes_in_request=True,
        loopback_redirect="sandbox_only",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="ask for an API scope such as com.intuit.quickbooks.accounting and authorize again",
        invantive_provider=None,
        unconfirmed=("revocation_url", "client_auth", "pkce", "default_scopes", "spent_token"),
        sources=("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8"),
        notes=(
            "the refresh token value changes about every 24-26 hours and the previous one stays valid about 24 hours: always store the latest; "
            "5-year hard maximum per chain (header x-include-refresh-token-hard-expires-in: true, Q5; the date of Intuit's announcement "
            "is not confirmed here), on top of the 100 days unused the table plans for; realmId comes back on the redirect; "
            "400 invalid_grant means the app lost its latest token: Intuit's logs call it 'Refresh token not found' (Q7), answers "
            "may carry 'Incorrect or invalid refresh token' (Q8) or no description; a new consent; "
            "the 'Reconnect URL' Intuit requires from January 2026 is not confirmed by a source read here"
        ),
        token_errors=(
            # The stored token is not the latest any more (Q4, Q7, Q8): RFC 6749's reading, stated in Intuit's words.
            dict(kind="invalid_grant", status=400, error="invalid_grant", description=r"Refresh token not found\b.*"),
            dict(kind="invalid_grant", status=400, error="invalid_grant", description=r"Incorrect or invalid refresh token\.?"),
        ),
    ),
    dict(
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
        nonce=False,
        default_scopes=("oauth",),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="HubSpot returns a refresh token with every code exchange; authorize again",
        invantive_provider=None,
        unconfirmed=("rotation", "refresh_token_lifetime", "refresh_token_lifetime_kind", "default_scopes", "loopback_redirect", "spent_token"),
        sources=("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8"),
        notes=(
            "the v1 OAuth API is deprecated on 2027-02-16 (dated 2026-03 endpoints take every parameter in the body); "
            "refresh tokens are deleted through HubSpot's own token API, not RFC 7009; "
            "400 BAD_REFRESH_TOKEN 'missing or invalid refresh token' is a dead chain (H7); HubSpot sends it with "
            "the code in 'status' and the text in 'message', without an 'error' key (H8), and the client reads those as the "
            "error code and description; an answer that also has 'error' is read by its 'error' (an invalid_grant is a dead chain by RFC 6749)"
        ),
        token_errors=(
            # A spent, revoked or unknown refresh token (H7, H8): no OAuth error code, so RFC 6749 would not read it as a dead chain.
            dict(kind="invalid_grant", status=400, error="BAD_REFRESH_TOKEN"),
        ),
    ),
    dict(
        name="atlassian",
        title="Atlassian (Jira, Confluence)",
        authorize_url="https://auth.atlassian.com/authorize",
        token_url="https://auth.atlassian.com/oauth/token",
        revocation_url=None,
        whoami_url="https://api.atlassian.com/me",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        rotation="rotating",
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
        # Reuse of an old token outside the 10-minute leeway invalidates all refresh tokens; within it a retry works (A1, A2).
        spent_token="family_revoked",
        spent_token_grace=10 * 60,
        no_refresh_token_hint=_HINT_OFFLINE_ACCESS,
        invantive_provider=None,
        unconfirmed=ATLASSIAN_UNCONFIRMED,
        sources=("FORUM-6299", "A1", "A2", "A3"),
        notes=(
            "confirmed: rotation, the 10-minute leeway for a retried refresh token, offline_access and the client secret in the body; "
            "lifetimes (90 days inactive, 365 days absolute, as integrators quote them) are unconfirmed; Invantive lists Atlassian "
            "Confluence, Jira and Jira Service Desk"
        ),
    ),
    dict(
        name="github",
        title="GitHub",
        authorize_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        revocation_url=None,
        whoami_url="https://api.github.com/user",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        # A GitHub App with expiring user access tokens: "Once you use a refresh token, that refresh token and the old user access
        # token will no longer work"; access tokens 8 hours, refresh tokens six months (GH1). OAuth apps get no refresh token.
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=8 * 3600,
        refresh_token_lifetime=180 * DAY,
        refresh_token_lifetime_kind="idle",
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="refused",
        spent_token_grace=None,
        no_refresh_token_hint="GitHub OAuth apps get no refresh token; use a GitHub App with expiring user access tokens",
        invantive_provider=None,
        # Each new refresh token lives six months, so the lifetime is read as idle; no page says so in those words.
        unconfirmed=(
            "authorize_url", "revocation_url", "whoami_url", "base_url", "client_auth", "pkce", "min_refresh_interval",
            "refresh_token_lifetime_kind", "auth_params", "nonce", "default_scopes", "scopes_in_request", "loopback_redirect",
            "daily_token_budget", "code_lifetime", "invantive_provider", "invantive_keys", "countries", "tenant_default", "environments",
            "environment_default", "token_errors",
        ),
        sources=("FORUM-6299", "GH1"),
        notes=(
            "GitHub Apps with expiring user access tokens (on unless opted out): access tokens 8 hours, refresh tokens six months, "
            "rotating, a used refresh token stops working (GH1); six months is planned as 180 days; the token endpoint answers JSON "
            "only to 'Accept: application/json'; other facts are unconfirmed"
        ),
    ),
    dict(
        name="gitlab",
        title="GitLab",
        authorize_url="{base}/oauth/authorize",
        token_url="{base}/oauth/token",
        revocation_url="{base}/oauth/revoke",
        whoami_url="{base}/api/v4/user",
        base_url="https://gitlab.com",
        client_auth="client_secret_post",
        pkce="unknown",
        # A refresh "invalidates the existing access_token and refresh_token" and sends new ones (GitLab's OAuth 2.0 docs as GL1
        # quotes them); access tokens expire after 2 hours since GitLab 15.0 (GL2).
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=7200,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="unknown",
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="refused",
        spent_token_grace=None,
        no_refresh_token_hint="check the application's scopes in GitLab and authorize again",
        invantive_provider=None,
        unconfirmed=(
            "authorize_url", "token_url", "revocation_url", "whoami_url", "base_url", "client_auth", "pkce", "min_refresh_interval",
            "refresh_token_lifetime", "refresh_token_lifetime_kind", "auth_params", "nonce", "default_scopes", "scopes_in_request",
            "loopback_redirect", "daily_token_budget", "code_lifetime", "invantive_provider", "invantive_keys", "countries",
            "tenant_default", "environments", "environment_default", "token_errors",
        ),
        sources=("FORUM-6299", "GL1", "GL2"),
        notes=(
            "use base_url for a self-managed GitLab; a refresh invalidates the previous access and refresh token and returns new "
            "ones, so parallel refreshers race (GL1); access tokens expire after 2 hours (GL2); the refresh token's own lifetime "
            "and whether a retried refresh token gets a grace are not in a source read here"
        ),
    ),
    dict(
        name="zoom",
        title="Zoom",
        authorize_url="https://zoom.us/oauth/authorize",
        token_url="https://zoom.us/oauth/token",
        revocation_url="https://zoom.us/oauth/revoke",
        whoami_url="https://api.zoom.us/v2/users/me",
        base_url=None,
        client_auth="client_secret_basic",
        pkce="unknown",
        # "the latest refresh token must always be used for the next refresh request"; a prior one gets "Invalid Token!" (ZM1).
        rotation="rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        # 15 years on Zoom's support page (ZM1), about 90 days as integrators describe user-managed apps (ZM3): the shorter is
        # planned for, and neither is confirmed as the rule of today.
        refresh_token_lifetime=90 * DAY,
        refresh_token_lifetime_kind="idle",
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=300,
        spent_token="refused",
        spent_token_grace=None,
        no_refresh_token_hint="check that the Zoom app is a user-managed OAuth app and authorize again",
        invantive_provider=None,
        unconfirmed=(
            "authorize_url", "revocation_url", "whoami_url", "base_url", "pkce", "min_refresh_interval", "refresh_token_lifetime",
            "refresh_token_lifetime_kind", "auth_params", "nonce", "default_scopes", "scopes_in_request", "loopback_redirect",
            "daily_token_budget", "invantive_provider", "invantive_keys", "countries", "tenant_default", "environments",
            "environment_default",
        ),
        sources=("FORUM-6299", "ZM1", "ZM2", "ZM3", "ZM4", "ZM5"),
        notes=(
            "access tokens live 1 hour and cannot be extended, the refresh request takes HTTP Basic client authentication, and only "
            "the latest refresh token works: a prior one is answered 'Invalid Token!' (ZM1); a lost answer therefore ends the chain, "
            "Zoom's answer is a new install (ZM2); codes expire in 5 minutes (ZM4); refresh tokens live 15 years says ZM1, about "
            "90 days say integrators (ZM3): 90 days unused is planned for; the refusal carries 'Invalid Token!' in reason, not in "
            "error_description (ZM5), and is a dead chain whatever its error code"
        ),
        token_errors=(
            # A prior (spent) refresh token is answered "Invalid Token!" (ZM1), in reason (ZM5): a dead chain, a new install.
            dict(kind="invalid_grant", description=r"Invalid Token!"),
        ),
    ),
    dict(
        name="calendly",
        title="Calendly",
        authorize_url="https://auth.calendly.com/oauth/authorize",
        token_url="https://auth.calendly.com/oauth/token",
        revocation_url="https://auth.calendly.com/oauth/revoke",
        whoami_url="https://api.calendly.com/users/me",
        base_url=None,
        client_auth="client_secret_post",
        pkce="unknown",
        # Single use: "A refresh token is revoked immediately after a successful POST /oauth/token call" (CA2).
        rotation="rotating",
        min_refresh_interval=0,
        # Access tokens 2 hours; "Refresh tokens don't expire until they are used" (CA1).
        access_token_lifetime=7200,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="none",
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=600,
        spent_token="refused",
        spent_token_grace=None,
        no_refresh_token_hint="authorize again; check the Calendly app's OAuth settings",
        invantive_provider=None,
        unconfirmed=(
            "revocation_url", "whoami_url", "base_url", "client_auth", "pkce", "min_refresh_interval", "auth_params", "nonce",
            "default_scopes", "scopes_in_request", "loopback_redirect", "daily_token_budget", "invantive_provider", "invantive_keys",
            "countries", "tenant_default", "environments", "environment_default", "token_errors",
        ),
        sources=("FORUM-6299", "CA1", "CA2"),
        notes=(
            "authorization at https://auth.calendly.com/oauth/authorize, codes valid 10 minutes, access tokens 2 hours, refresh "
            "tokens that do not expire until used (CA1); refresh tokens are single use, revoked at once by a successful refresh, "
            "and every answer carries a new one: store it before anything else (CA2)"
        ),
    ),
    dict(
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
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="authorize again; check the Fortnox integration's scopes",
        invantive_provider=None,
        unconfirmed=EVERY_FACT,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed",
    ),
    dict(
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
        nonce=False,
        default_scopes=("openid",),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        code_lifetime=None,
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="authorize again; check the PayPal app's 'Log in with PayPal' settings",
        invantive_provider=None,
        environments={"production": "paypal.com", "sandbox": "sandbox.paypal.com"},
        environment_default="production",
        unconfirmed=EVERY_FACT,
        sources=("FORUM-6299",),
        notes="not covered by the references: every fact is unconfirmed; Invantive's 'PayPal test' is environment sandbox",
    ),
    dict(
        name="zoho",
        title="Zoho",
        # One accounts server per data centre (ZH4, ZH6); the user's data centre is the country. Canada's accounts.zohocloud.ca
        # does not fit the template: base_url https://accounts.zohocloud.ca reaches it.
        authorize_url="{base}/oauth/v2/auth",
        token_url="{base}/oauth/v2/token",
        # Zoho's pages put the token in the query string of a POST (ZH5); the client sends it in the body as RFC 7009 says,
        # and that Zoho reads it there is not confirmed.
        revocation_url="{base}/oauth/v2/token/revoke",
        whoami_url=None,
        base_url="https://accounts.zoho.{country}",
        # "For security reasons, pass the below key-value pairs in the body of your request" (ZH7).
        client_auth="client_secret_post",
        pkce="unknown",
        # A refresh answer carries no refresh token: the one of the code exchange stays valid until it is revoked (ZH2, ZH3).
        rotation="non_rotating",
        min_refresh_interval=0,
        access_token_lifetime=3600,
        refresh_token_lifetime=None,
        refresh_token_lifetime_kind="none",
        # access_type=offline gives a refresh token (ZH1); prompt=consent makes Zoho issue one on every consent (ZH9).
        auth_params={"access_type": "offline", "prompt": "consent"},
        nonce=False,
        default_scopes=(),
        scopes_in_request=True,
        loopback_redirect="unknown",
        daily_token_budget=None,
        # "valid for 2 minutes" on Zoho Accounts' own page (ZH1); some product pages say 3 minutes or more: the shorter is used.
        code_lifetime=120,
        spent_token="accepted",
        spent_token_grace=None,
        no_refresh_token_hint="authorize again with access_type=offline and prompt=consent; Zoho sends a refresh token only for offline access",
        invantive_provider=None,
        countries={
            "com": "com", "us": "com", "eu": "eu", "in": "in", "com.au": "com.au", "au": "com.au", "jp": "jp", "com.cn": "com.cn",
            "cn": "com.cn", "sa": "sa",
        },
        unconfirmed=("revocation_url", "whoami_url", "pkce", "loopback_redirect", "daily_token_budget", "token_errors"),
        sources=("ZH1", "ZH2", "ZH3", "ZH4", "ZH5", "ZH6", "ZH7", "ZH8", "ZH9"),
        notes=(
            "country is the data centre: com (or us), eu, in, com.au (or au), jp, com.cn (or cn), sa; Canada is base_url "
            "https://accounts.zohocloud.ca; the token answer's api_domain (https://www.zohoapis.<dc>) is the API host; "
            "refresh tokens do not rotate and live until revoked, but a user has at most 20 per client and the 21st deletes the "
            "oldest (ZH3, ZH6), so 20 new consents for one user and app end the first chain; at most ten access tokens per "
            "refresh token in ten minutes, then none for the rest of the ten minutes (ZH2); Zoho separates scopes with commas: "
            "give them as one item such as 'ZohoCRM.modules.ALL,ZohoCRM.settings.ALL'; some refusals come with HTTP 200 and an "
            "error key (a refresh answered HTTP 200 invalid_code, ZH8), which is read as an answer without an access_token, not "
            "as a dead chain"
        ),
    ),
    dict(
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
        spent_token="unknown",
        spent_token_grace=None,
        no_refresh_token_hint="ask for the offline_access scope and prompt=consent, or check the server's refresh-token policy for this client",
        invantive_provider=None,
        unconfirmed=(),
        sources=("R1", "R3", "R5", "R6"),
        notes="endpoints come from the endpoints option or the issuer's /.well-known/openid-configuration",
    ),
)
