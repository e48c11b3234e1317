# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Preauthentication in two steps: start an authorization attempt, then complete it.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

``start`` makes the authorization URL and stores the pending attempt (state, PKCE verifier,
nonce, redirect URI, expiry) in the connection's store. ``complete`` checks what came back
against that attempt, exchanges the code, and only then replaces the stored chain: a new
generation, owned by the controller, with an audit record of who preauthenticated it. Any
failure before that leaves the stored chain exactly as it was.
"""

from __future__ import annotations

import getpass
import hmac
import re
import socket
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import Connection
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import chain_summary, token_section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_command
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.listener import wait_for_redirect
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import (
    OAuthClient,
    OAuthError,
    Redirect,
    TokenSet,
    build_authorization_url,
    fingerprint,
    new_pkce,
    new_state,
    parse_redirect,
    same_redirect_target,
)
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
CONTACT_FIELDS = ("first_name", "last_name", "job_title", "email", "company")
# A person needs a minute or more to sign in with a second factor; a pending attempt (its state and
# PKCE verifier) that lives for more than a day is an open door, not a convenience.
PENDING_TTL_RANGE = (60, 86400)
# The loopback listener waits for a person, not forever.
LISTEN_TIMEOUT_RANGE = (1, 3600)


# -- step 1 ----------------------------------------------------------------------------------


def _check_seconds(connection: str, option: str, value: t.Any, bounds: tuple[int, int], default: int) -> int:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PreauthError(
            "connection %s: %s must be a number of seconds from %d to %d, not %r; give one in that range or leave it out (default %d). "
            "Nothing was changed." % (connection, option, low, high, value, default),
            connection,
        )
    return value


def start(conn: Connection, store: VaultStore, check_mode: bool, pending_ttl: int, now: t.Callable[[], float] = time.time) -> Outcome:
    pending_ttl = _check_seconds(conn.name, "pending_ttl", pending_ttl, PENDING_TTL_RANGE, 900)
    if not conn.redirect_uri:
        raise PreauthError("redirect_uri is required: give the redirect URI registered for the app (for Exact Online a public HTTPS address)")
    record = store.read(conn.name)
    before = chain_summary(record)
    if check_mode:
        replaced = " (replacing the one that expires at %s)" % before["pending_authorization_expires_at"] if before["pending_authorization_expires_at"] else ""
        return Outcome(
            changed=True,
            msg="check mode: would create a new authorization URL and store it as the pending attempt%s; nothing was sent or written" % replaced,
            result={
                "connection": conn.name,
                "platform": conn.platform.name,
                "url": None,
                "state": None,
                "expires_at": None,
                "redirect_uri": conn.redirect_uri,
                "code_lifetime": conn.platform.code_lifetime,
                "pkce": conn.platform.pkce != "off",
                "loopback_redirect": conn.platform.loopback_redirect,
            },
            before=before,
            after=dict(before, pending_authorization_expires_at="(new)"),
        )
    if conn.endpoints is None:
        raise PreauthError("the endpoints of platform %s could not be resolved" % conn.platform.name)
    state = new_state()
    verifier, challenge = new_pkce() if conn.platform.pkce != "off" else (None, None)
    nonce = new_state() if conn.platform.nonce else None
    extra = dict(conn.platform.auth_params)
    if nonce:
        extra["nonce"] = nonce
    url = build_authorization_url(
        conn.endpoints.authorize,
        conn.client_id,
        conn.redirect_uri,
        state,
        scopes=conn.scopes if conn.platform.scopes_in_request else (),
        code_challenge=challenge,
        extra=extra,
    )
    created = now()
    with store.locked(conn.name) as record:
        before = chain_summary(record)
        record.data["pending"] = {
            "state": state,
            "code_verifier": verifier,
            "nonce": nonce,
            "redirect_uri": conn.redirect_uri,
            "created_at": round(created, 3),
            "expires_at": round(created + pending_ttl, 3),
            "definition": conn.definition(),
        }
        record.add_event("authorization_started", created, generation=record.data.get("generation", 0))
        after = chain_summary(record)
    code_life = conn.platform.code_lifetime
    return Outcome(
        changed=True,
        msg="open the URL in a browser, sign in and allow access%s; then paste the address the browser lands on"
        % (" within %d minutes (the code expires)" % (code_life // 60) if code_life else ""),
        result={
            "connection": conn.name,
            "platform": conn.platform.name,
            "url": url,
            "state": state,
            "expires_at": iso(created + pending_ttl),
            "redirect_uri": conn.redirect_uri,
            "code_lifetime": code_life,
            "pkce": bool(verifier),
            "loopback_redirect": conn.platform.loopback_redirect,
        },
        before=before,
        after=after,
    )


# -- step 2 ----------------------------------------------------------------------------------


def check_contact(contact: t.Mapping[str, t.Any] | None) -> dict[str, str]:
    contact = contact or {}
    clean = {k: str(contact.get(k) or "").strip() for k in CONTACT_FIELDS}
    missing = [k for k in CONTACT_FIELDS if not clean[k]]
    if missing:
        raise PreauthError(
            "preauthenticated_by needs %s: the person who signs in records first and last name, job title, business e-mail "
            "and legal company name" % ", ".join(missing)
        )
    if not EMAIL.fullmatch(clean["email"]):
        raise PreauthError("preauthenticated_by.email %r is not an e-mail address; give the business e-mail of the person who signs in" % clean["email"])
    return clean


def _pending(record: Record, conn: Connection, now: float) -> dict[str, t.Any]:
    pending = record.data.get("pending")
    if not pending:
        raise PreauthError(
            "there is no pending authorization to complete; first create an authorization URL "
            "(preauth.oauth2.authorization_url, or %s -e preauth_step=url)" % preauthenticate_command(conn.name)
        )
    if now > float(pending["expires_at"]):
        raise PreauthError(
            "the pending authorization started at %s expired at %s; start again with a new authorization URL"
            % (iso(pending["created_at"]), iso(pending["expires_at"]))
        )
    if conn.redirect_uri and conn.redirect_uri != pending["redirect_uri"]:
        raise PreauthError(
            "redirect_uri is now %s but the pending authorization was made for %s; start again with a new authorization URL"
            % (conn.redirect_uri, pending["redirect_uri"])
        )
    return pending


def _exchange_failure(exc: OAuthError, conn: Connection) -> PreauthError:
    unchanged = "the stored chain is unchanged"
    if exc.kind == "invalid_grant":
        life = conn.platform.code_lifetime
        age = "is older than %d minutes" % (life // 60) if life else "expired"
        why = "was already used, %s, or was made for another redirect URI or app" % age
        return PreauthError("%s: the code %s. Start again with a new authorization URL; %s" % (exc.msg, why, unchanged))
    if exc.kind == "invalid_client":
        return PreauthError("%s: check client_id and client_secret against the app registration; %s" % (exc.msg, unchanged))
    if exc.kind in ("timeout", "connection"):
        return PreauthError("%s; the code may have been used. Start again with a new authorization URL; %s" % (exc.msg, unchanged))
    if exc.kind in ("not_json", "server_error"):
        return PreauthError("%s (a gateway or platform fault); try again in a few minutes with a new authorization URL; %s" % (exc.msg, unchanged))
    if exc.kind == "rate_limited":
        return PreauthError("%s; try again later with a new authorization URL; %s" % (exc.msg, unchanged))
    return PreauthError("%s; start again with a new authorization URL; %s" % (exc.msg, unchanged))


def _redirect_from(
    pending: dict[str, t.Any],
    redirect_url: str | None,
    code: str | None,
    state: str | None,
    listen: bool,
    listen_timeout: int,
    on_listen: t.Callable[[], None] | None,
) -> Redirect:
    if not listen and redirect_url is None and code is None:
        raise PreauthError("give redirect_url (the URL the browser landed on), code and state, or listen: true")
    if listen:
        redirect_url = wait_for_redirect(pending["redirect_uri"], listen_timeout, str(pending["state"]), ready=on_listen)
    if redirect_url is not None:
        landed = parse_redirect(redirect_url)
        if not same_redirect_target(redirect_url, pending["redirect_uri"]):
            raise PreauthError(
                "the pasted URL does not go to this attempt's redirect URI %s; paste the address of the page that the "
                "sign-in redirected to" % pending["redirect_uri"]
            )
        return landed
    return Redirect(code=str(code), state=state)


def complete(
    conn: Connection,
    store: VaultStore,
    client: OAuthClient | None,
    check_mode: bool,
    contact: t.Mapping[str, t.Any] | None,
    redirect_url: str | None = None,
    code: str | None = None,
    state: str | None = None,
    listen: bool = False,
    listen_timeout: int = 300,
    on_listen: t.Callable[[], None] | None = None,
    verify: bool = False,
    now: t.Callable[[], float] = time.time,
    hide: t.Callable[..., None] = lambda *values: None,
) -> Outcome:
    if not conn.has_secret:
        raise PreauthError("client_secret is missing; keep the app's client secret in ansible-vault and pass it as client_secret")
    audit = check_contact(contact)
    if listen:
        listen_timeout = _check_seconds(conn.name, "listen_timeout", listen_timeout, LISTEN_TIMEOUT_RANGE, 300)
    record = store.read(conn.name)
    pending = _pending(record, conn, now())
    hide(pending.get("code_verifier"), pending.get("nonce"))
    before = chain_summary(record)
    if check_mode and listen:
        msg = "check mode: would listen on %s for the redirect, then exchange the code; nothing was sent or written" % pending["redirect_uri"]
        return Outcome(changed=True, msg=msg, result={"connection": conn.name}, before=before, after=before)
    landed = _redirect_from(pending, redirect_url, code, state, listen, listen_timeout, on_listen)
    hide(landed.code)
    if not hmac.compare_digest((landed.state or "").encode(), str(pending["state"]).encode()):
        raise PreauthError(
            "the state in the URL does not match the pending authorization (the URL of an older or another attempt?); "
            "paste the URL from the latest sign-in, or start again with a new authorization URL"
        )
    if check_mode:
        return Outcome(
            changed=True,
            msg="check mode: the redirect matches the pending authorization; would exchange the code and store generation %d; nothing was sent or written"
            % (before["generation"] + 1),
            result={"connection": conn.name, "platform": conn.platform.name, "generation": before["generation"] + 1},
            before=before,
            after=dict(before, generation=before["generation"] + 1, owner="controller", refresh_fingerprint="(new)"),
        )
    if client is None or conn.endpoints is None:
        raise PreauthError("the endpoints of platform %s could not be resolved" % conn.platform.name)
    try:
        tokens = client.exchange_code(
            conn.endpoints.token,
            landed.code,
            pending["redirect_uri"],
            conn.client_id,
            conn.secret() or "",
            conn.client_auth,
            code_verifier=pending.get("code_verifier"),
        )
    except OAuthError as exc:
        raise _exchange_failure(exc, conn) from None
    hide(tokens.access_token, tokens.refresh_token)
    if not tokens.refresh_token:
        raise PreauthError(
            "the platform returned an access token but no refresh token, so the connection cannot be kept alive unattended; "
            "%s. Nothing was stored." % conn.platform.no_refresh_token_hint
        )
    with store.locked(conn.name) as record:
        generation = store_chain(record, conn, tokens, audit, pending.get("state"))
        after = chain_summary(record)
    result = {
        "connection": conn.name,
        "platform": conn.platform.name,
        "generation": generation,
        "scopes": (tokens.scope.split() if tokens.scope else list(conn.scopes)),
        "access_expires_at": after["access_expires_at"],
        "refresh_expires_at": after["refresh_expires_at"],
        "refresh_fingerprint": after["refresh_fingerprint"],
        "store": store.where(conn.name),
        "verified": False,
    }
    msg = "stored generation %d of connection %s, owned by the controller" % (generation, conn.name)
    if verify:
        if not conn.endpoints.whoami:
            raise PreauthError('%s; verify is not possible: platform %s has no known "who am I" endpoint (set endpoints.whoami)' % (msg, conn.platform.name))
        try:
            result["verified_as"] = client.whoami(conn.endpoints.whoami, tokens.access_token)
        except OAuthError as exc:
            raise PreauthError("%s, but verifying it failed: %s" % (msg, exc.msg)) from None
        result["verified"] = True
        msg += "; the API accepted the new access token"
    return Outcome(changed=True, msg=msg, result=result, before=before, after=after)


def store_chain(
    record: Record, conn: Connection, tokens: TokenSet, audit: t.Mapping[str, t.Any], pending_state: str | None, event: str = "preauthenticated", **note: t.Any
) -> int:
    """Put a new chain in the record: a new generation owned by the controller, with ``audit`` as ``preauthenticated_by``.

    Shared by the code exchange and the import of a consent landing. ``audit`` may say when (``at``);
    the time of receipt otherwise. The pending attempt with ``pending_state`` is done with; ``note``
    goes into the event (``invitation`` for a landing).
    """
    data = record.data
    old = (data.get("tokens") or {}).get("refresh_fingerprint")
    generation = int(data.get("generation") or 0) + 1
    received = tokens.received_at
    access_life = tokens.expires_in if tokens.expires_in is not None else conn.platform.access_token_lifetime
    refresh_life = conn.platform.refresh_token_lifetime
    data["definition"] = conn.definition()
    data["generation"] = generation
    data["owner"] = {"kind": "controller", "since": round(received, 3)}
    scope = tokens.scope if tokens.scope is not None else " ".join(conn.scopes)
    # A life of 0 (or none) from the answer and the platform means "not known" here.
    data["tokens"] = token_section(
        tokens.access_token, str(tokens.refresh_token), tokens.token_type, scope, received, access_life or None, refresh_life or None, None
    )
    data["preauthenticated_by"] = dict(
        {"at": round(received, 3)},
        **audit,
        controller_user=_controller_user(),
        controller_host=socket.gethostname(),
    )
    data["in_flight"] = None
    data["reauthorization_required"] = None
    data["last_error"] = None
    data.pop("failures", None)
    data.pop("moved_to", None)  # a new chain preauthenticated here: this store holds it, no tombstone any more
    if pending_state is not None and (data.get("pending") or {}).get("state") == pending_state:
        data.pop("pending", None)
    record.add_event(event, received, generation=generation, fingerprint=fingerprint(tokens.refresh_token), replaced=old, **note)
    return generation


def _controller_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
