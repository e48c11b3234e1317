# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Revoke a connection's chain: at the platform's RFC 7009 endpoint where it has one, then in the store.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

The store keeps the generation, the audit record and the history; only the tokens go. Where the
platform has no revocation endpoint the tokens are removed all the same and the user is told
where to revoke the app's access by hand (``MANUAL_REVOCATION``, data keyed by platform name).
The revocation request is sent with the connection's lock held, so no refresh can rotate the
token between the request and the write; a refused request leaves the store as it was.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import Connection
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import chain_summary, owner_host, owner_label, section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthClient, OAuthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import moving_refusal
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore

# Where a person revokes the app's access when the platform has no revocation endpoint.
MANUAL_REVOCATION: t.Mapping[str, str] = {
    "exact_online": "My Exact Online → Security center → Revoke (next to the app)",
    "teamleader": "in the Marketplace, uninstall the integration",
}
MANUAL_REVOCATION_FALLBACK = "in %s's account or security settings, remove the app's access"


class RevokeError(PreauthError):
    """The chain cannot be revoked as asked; the stored tokens are unchanged."""


def manual_revocation(platform_name: str, platform_title: str) -> str:
    return MANUAL_REVOCATION.get(platform_name) or MANUAL_REVOCATION_FALLBACK % platform_title


def _failure(exc: OAuthError, name: str, url: str) -> RevokeError:
    kept = "the tokens stay in the store; nothing was changed"
    if exc.kind == "invalid_client":
        what = "check client_id and client_secret against the app registration"
    elif exc.kind in ("rate_limited", "server_error", "timeout", "connection"):
        what = "try again later"
    else:
        what = "check the revocation endpoint and the client authentication (client_auth)"
    return RevokeError("connection %s: revoking at %s failed: %s; %s, %s" % (name, url, exc.msg, what, kept), name)


def check_definition(record: Record, conn: Connection) -> None:
    """The options must name the app that obtained the chain, or the platform would revoke nothing; a move must not hold it."""
    held = moving_refusal(record.data, record.connection)
    if held is not None:
        # Revoking one side of a move that stopped half-way would leave the other side's copy to be taken for the chain.
        raise RevokeError(held + ". Nothing was changed.", record.connection)
    stored = record.data.get("definition") or {}
    for field, given in (("platform", conn.platform.name), ("client_id", conn.client_id)):
        if stored.get(field) != given:
            raise RevokeError(
                "connection %s: the stored chain was obtained with %s %s, but this task gives %s; revoke it with the definition "
                "it was preauthenticated with (a revocation by another app is ignored by the platform). Nothing was changed."
                % (record.connection, field, stored.get(field), given),
                record.connection,
            )


def _owner_warnings(record: Record) -> list[str]:
    data = record.data
    host = owner_host(data)
    name = record.connection
    warnings = []
    if host is not None:
        warnings.append(
            "connection %s generation %s is owned by host %s: once the chain is revoked the product on %s stops working. If that "
            "product rotated the refresh token since the hand-over, the platform may not know the stored one; then also revoke the "
            "app's access at the platform" % (name, data.get("generation"), host, host)
        )
    deployed = sorted(data.get("deployed_to") or [])
    if deployed:
        warnings.append("connection %s was deployed to %s: the products there stop working once it is revoked" % (name, ", ".join(deployed)))
    in_flight = data.get("in_flight")
    if in_flight:
        warnings.append(
            "connection %s had a refresh with an unknown outcome (started at %s): the platform may have rotated the refresh token, "
            "so the chain may live on with a token this store never received; revoke the app's access at the platform as well"
            % (name, iso(in_flight.get("started_at")))
        )
    return warnings


def _remove_tokens(record: Record, now: float, url: str | None) -> None:
    data = record.data
    tokens = section(data, "tokens")
    record.add_event(
        "revoked",
        now,
        generation=data.get("generation"),
        fingerprint=tokens.get("refresh_fingerprint"),
        at_platform=url is not None,
        owner=owner_label(data),
        deployed_to=sorted(data.get("deployed_to") or []),
    )
    data["tokens"] = None
    data["in_flight"] = None
    data["owner"] = {"kind": "controller", "since": round(now, 3)}
    data.pop("deployed_to", None)


def revoke(
    conn: Connection,
    store: VaultStore,
    client: OAuthClient | None,
    check_mode: bool,
    resolve_with_client: t.Callable[[], Connection] | None = None,
    now: t.Callable[[], float] = time.time,
    hide: t.Callable[..., None] = lambda *values: None,
) -> Outcome:
    """Revoke the connection's chain. The outcome carries the warnings for the user.

    ``resolve_with_client`` resolves the connection again with network access, for a generic
    platform whose revocation endpoint comes from discovery.
    """
    name = conn.name
    record = store.read(name)
    if not record.exists:
        raise RevokeError(
            "connection %s has no stored chain in %s; there is nothing to revoke. Check the connection name and the store options"
            % (name, store.location),
            name,
        )
    before = chain_summary(record)
    base = {"connection": name, "platform": conn.platform.name, "generation": before["generation"]}
    if not record.data.get("tokens"):
        revoked = [e for e in record.data.get("history") or [] if e.get("event") == "revoked"]
        when = " (revoked at %s)" % iso(revoked[-1]["at"]) if revoked else ""
        result = dict(base, revoked_at_platform=False, revocation_url=None, manual_revocation=None)
        return Outcome(changed=False, msg="connection %s holds no tokens%s; nothing to revoke" % (name, when), result=result, before=before, after=before)
    check_definition(record, conn)
    url = (record.data.get("definition") or {}).get("revocation_url") or (conn.endpoints.revocation if conn.endpoints else None)
    if url is None and conn.endpoints is None and resolve_with_client is not None and not check_mode:
        found = resolve_with_client()
        url = found.endpoints.revocation if found.endpoints else None
    manual = None if url else manual_revocation(conn.platform.name, conn.platform.title)
    if url and not conn.has_secret:
        raise RevokeError(
            "connection %s: client_secret is needed to revoke at %s (the platform authenticates the app); keep it in ansible-vault "
            "and pass it as client_secret. Nothing was changed." % (name, url),
            name,
        )
    warnings = _owner_warnings(record)
    after = dict(before, owner="controller", refresh_fingerprint=None, refresh_expires_at=None, access_expires_at=None)
    result = dict(base, revoked_at_platform=bool(url), revocation_url=url, manual_revocation=manual)
    if check_mode:
        if url:
            msg = "check mode: would revoke the refresh token of connection %s at %s and remove the tokens from the store" % (name, url)
        elif conn.endpoints is None:
            msg = "check mode: would look up the revocation endpoint of connection %s by discovery, revoke there, and remove the tokens" % name
            result.update(revoked_at_platform=None, manual_revocation=None)
        else:
            msg = "check mode: would remove the tokens of connection %s from the store; %s has no revocation endpoint, so revoke by hand: %s" % (
                name,
                conn.platform.title,
                manual,
            )
        return Outcome(changed=True, msg=msg + "; nothing was sent or written", result=result, before=before, after=after, warnings=warnings)
    with store.locked(name) as record:
        tokens = record.data.get("tokens") or {}
        if not tokens:
            result.update(revoked_at_platform=False, revocation_url=None, manual_revocation=None)
            msg = "connection %s holds no tokens; another run removed them meanwhile" % name
            return Outcome(changed=False, msg=msg, result=result, before=before, after=chain_summary(record))
        # Re-read under the lock: a preauthentication in between may have stored another app's chain.
        check_definition(record, conn)
        refresh_token = tokens.get("refresh_token")
        hide(refresh_token, tokens.get("access_token"))
        if url and refresh_token:
            if client is None:
                raise RevokeError("connection %s: no HTTP client to revoke at %s" % (name, url), name)
            try:
                client.revoke(url, refresh_token, "refresh_token", conn.client_id, conn.secret() or "", conn.client_auth)
            except OAuthError as exc:
                raise _failure(exc, name, url) from None
        _remove_tokens(record, now(), url)
        after = chain_summary(record)
    if url:
        msg = "revoked the refresh token of connection %s at %s and removed the tokens from the store; the audit record and history stay" % (name, url)
    else:
        msg = (
            "removed the tokens of connection %s from the store (the audit record and history stay); %s has no revocation endpoint, so "
            "the app's access stays valid at the platform until you revoke it by hand: %s" % (name, conn.platform.title, manual)
        )
    return Outcome(changed=True, msg=msg, result=result, before=before, after=after, warnings=warnings)
