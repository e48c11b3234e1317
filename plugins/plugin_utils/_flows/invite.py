# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Consent invitations on the controller: invite, list, revoke, and collect what landed.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Rules:

* ``invite`` writes the invitation with everything the consent service needs to send the invitee
  to the same authorization URL ``authorization_url`` would build (``request``), and returns the
  link once. The link is a bearer credential: the outcome carries it as a secret (the task's output
  and logs are hidden), and only a task that prints the registered ``link`` shows it.
* Results and diffs list invitations by id, state and times, never a token or its hash.
* ``collect`` imports a connection's landings: each is opened with the store's landing key and
  checked (landed for this connection and for its invitation, the invitation used and not revoked,
  issued to this connection's client id) before its chain is stored exactly as ``code_exchange``
  stores one (``store_chain``), with the invitee's consent as the audit record. Only then is the
  landing deleted. A landing that does not open or check is left where it is and reported, and
  nothing is stored from it.
"""

from __future__ import annotations

import getpass
import socket
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import Connection
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import store_chain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import TokenSet, fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import check_endpoint_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent, landing
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import chain_summary
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

# The consent form's fields that become the audit record, and how long any one of them may be (the service wrote them).
CONSENT_FIELDS = ("first_name", "last_name", "job_title", "email", "company", "address", "user_agent")
FIELD_MAX = 256
# An expires_in beyond this is not believed (the platform's lifetime is used instead).
MAX_EXPIRES_IN = 10 * 365 * 86400


def invite_command(connection: str) -> str:
    return "ansible-playbook preauth.oauth2.invite -e preauth_connection=%s" % connection


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return "%s@%s" % (user, socket.gethostname())


def request_of(conn: Connection, app: str | None, operator: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """What the consent service needs to build the authorization URL that ``authorization_url`` builds (the contract's ``request``)."""
    if conn.endpoints is None:
        raise PreauthError("the endpoints of platform %s could not be resolved; nothing was changed" % conn.platform.name, conn.name)
    operator = operator or {}
    shown_app = str(app or conn.client_id)
    scopes = list(conn.scopes) if conn.platform.scopes_in_request else []
    company = str(operator.get("company") or "").strip() or None
    return {
        "format": consent.REQUEST_FORMAT,
        "platform": conn.platform.name,
        "platform_title": conn.platform.title,
        "country": conn.country,
        "client_id": conn.client_id,
        "app": shown_app,
        "scopes": scopes,
        "authorize_url": conn.endpoints.authorize,
        "token_url": conn.endpoints.token,
        "client_auth": conn.client_auth,
        "pkce": conn.platform.pkce != "off",
        "authorize_params": dict(conn.platform.auth_params),
        "operator": {"company": company, "contact": str(operator.get("contact") or "").strip() or None},
        # The consent service says what consenting allows in the invitee's language; a text here would be shown as is.
        "allows": None,
    }


def view(row: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """An invitation as results and diffs show it: no token, no hash."""
    used_by = row.get("used_by") or {}
    return {
        "id": row["id"],
        "state": row["state"],
        "created_at": iso(row.get("created_at")),
        "created_by": row.get("created_by"),
        "expires_at": iso(row.get("expires_at")),
        "revoked_at": iso(row.get("revoked_at")),
        "revoked_by": row.get("revoked_by"),
        "used_at": iso(row.get("used_at")),
        "used_by": {k: str(used_by[k])[:FIELD_MAX] for k in ("first_name", "last_name", "job_title", "email", "company") if used_by.get(k)} or None,
        "collected_at": iso(row.get("collected_at")),
        "invitee_email": (row.get("invitee") or {}).get("email"),
    }


def _listed(store: VaultStore, connection: str, now: float) -> list[dict[str, t.Any]]:
    return [view(r) for r in consent.invitations(store, connection, now)]


def _diff(items: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    return {"invitations": [{k: i[k] for k in ("id", "state", "expires_at", "used_at", "collected_at")} for i in items]}


def invite(
    conn: Connection,
    store: VaultStore,
    check_mode: bool,
    service_url: str | None,
    days: int = consent.DEFAULT_DAYS,
    invitee: t.Mapping[str, t.Any] | None = None,
    operator: t.Mapping[str, t.Any] | None = None,
    app: str | None = None,
    now: t.Callable[[], float] = time.time,
) -> Outcome:
    """A new invitation for the connection, replacing its open ones; the result holds the link (a secret) once."""
    if not service_url:
        raise PreauthError("service_url is required for state=present: give the HTTPS address of the consent service; nothing was changed", conn.name)
    base = check_endpoint_url(service_url, "consent service address").rstrip("/")
    days = consent.check_days(conn.name, days)
    request = request_of(conn, app, operator)
    at = now()
    before = _listed(store, conn.name, at)
    still_open = [i["id"] for i in before if i["state"] == "open"]
    if check_mode:
        after = [dict(i, state="revoked") if i["id"] in still_open else i for i in before] + [
            {"id": "(new)", "state": "open", "expires_at": iso(at + days * 86400), "used_at": None, "collected_at": None}
        ]
        return Outcome(
            changed=True,
            msg="check mode: would make an invitation for connection %s that expires in %d day(s)%s; nothing was written"
            % (conn.name, days, " and revoke %d open one(s)" % len(still_open) if still_open else ""),
            result={"connection": conn.name, "link": None, "invitation": None, "replaced": still_open, "invitations": before},
            before=_diff(before),
            after=_diff(after),
        )
    row, token, replaced = consent.create_invitation(store, conn.name, dict(invitee or {}), request, days, created_by=_who(), now=at)
    after = _listed(store, conn.name, at)
    return Outcome(
        changed=True,
        msg="made invitation %s for connection %s, valid until %s%s; send its link to the person who signs in (it works once)"
        % (row["id"], conn.name, iso(row["expires_at"]), "; it replaces %d open invitation(s)" % len(replaced) if replaced else ""),
        result={"connection": conn.name, "link": "%s/i/%s" % (base, token), "invitation": view(row), "replaced": replaced, "invitations": after},
        before=_diff(before),
        after=_diff(after),
        carries_secrets=True,
    )


def revoke(connection: str, store: VaultStore, check_mode: bool, now: t.Callable[[], float] = time.time) -> Outcome:
    """Revoke the connection's open invitations (state=absent)."""
    at = now()
    before = _listed(store, connection, at)
    still_open = [i["id"] for i in before if i["state"] == "open"]
    if not still_open:
        return Outcome(
            changed=False, msg="connection %s has no open invitation" % connection, result={"connection": connection, "revoked": [], "invitations": before}
        )
    if check_mode:
        after = [dict(i, state="revoked") if i["id"] in still_open else i for i in before]
        return Outcome(
            changed=True,
            msg="check mode: would revoke %d open invitation(s) of connection %s; nothing was written" % (len(still_open), connection),
            result={"connection": connection, "revoked": still_open, "invitations": before},
            before=_diff(before),
            after=_diff(after),
        )
    revoked = consent.revoke_invitations(store, connection, revoked_by=_who(), now=at)
    after = _listed(store, connection, at)
    return Outcome(
        changed=bool(revoked),
        msg="revoked %d invitation(s) of connection %s; their links no longer work" % (len(revoked), connection),
        result={"connection": connection, "revoked": revoked, "invitations": after},
        before=_diff(before),
        after=_diff(after),
    )


def grant(role: str, store: VaultStore, check_mode: bool) -> Outcome:
    """Give the consent service's database role what it needs and nothing more (idempotent); makes the landing key."""
    missing = consent.missing_grants(store, role)
    if not missing:
        if not check_mode:
            consent.ensure_landing_key(store)
        return Outcome(msg="the consent service's database role %s has its rights, and no more were given" % role, result={"service_role": role, "granted": []})
    if check_mode:
        return Outcome(
            changed=True,
            msg="check mode: would grant the consent service's database role %s: %s; nothing was written" % (role, "; ".join(missing)),
            result={"service_role": role, "granted": missing},
            before={"service_role": role, "missing": missing},
            after={"service_role": role, "missing": []},
        )
    consent.grant_consent_role(store, role)
    consent.ensure_landing_key(store)
    return Outcome(
        changed=True,
        msg="granted the consent service's database role %s: %s (it cannot read or change a chain)" % (role, "; ".join(missing)),
        result={"service_role": role, "granted": missing},
        before={"service_role": role, "missing": missing},
        after={"service_role": role, "missing": []},
    )


def listing(connection: str, store: VaultStore, now: t.Callable[[], float] = time.time) -> Outcome:
    found = _listed(store, connection, now())
    counts: dict[str, int] = {}
    for i in found:
        counts[i["state"]] = counts.get(i["state"], 0) + 1
    said = ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())) or "none"
    return Outcome(msg="connection %s: invitations: %s" % (connection, said), result={"connection": connection, "invitations": found})


# -- landings reach the store ------------------------------------------------------------------


def _audit(found: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    given = found.get("consent") or {}
    audit: dict[str, t.Any] = {k: str(given[k])[:FIELD_MAX] for k in CONSENT_FIELDS if isinstance(given.get(k), (str, int, float)) and given.get(k) != ""}
    at = given.get("at")
    if isinstance(at, (int, float)) and not isinstance(at, bool) and 0 < at < 1e11:
        audit["at"] = round(float(at), 3)
    audit["via"] = "invitation %s" % found["invitation"]
    return audit


def _tokens(payload: t.Mapping[str, t.Any], at: float) -> TokenSet:
    expires_in = payload.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    received = payload.get("received_at")
    received_at = float(received) if isinstance(received, (int, float)) and not isinstance(received, bool) and 0 < received <= at + 300 else at
    return TokenSet(
        access_token=str(payload.get("access_token") or ""),
        refresh_token=str(payload["refresh_token"]),
        token_type=str(payload.get("token_type") or "Bearer"),
        scope=str(payload["scope"]) if isinstance(payload.get("scope"), str) else None,
        expires_in=expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) and 0 < expires_in <= MAX_EXPIRES_IN else None,
        received_at=received_at,
    )


def _check(found: t.Mapping[str, t.Any], conn: Connection) -> str | None:
    """Why a landing is not this connection's to import, before it is opened; None when it may be."""
    if found["connection"] != conn.name or found["invitation_connection"] != conn.name:
        return "it landed for connection %s of invitation %s for connection %s, not for %s" % (
            found["connection"], found["invitation"], found["invitation_connection"], conn.name
        )
    if found["revoked"]:
        return "its invitation %s was revoked" % found["invitation"]
    if not found["used"]:
        return "its invitation %s was never used" % found["invitation"]
    return None


def collect(
    conn: Connection,
    store: VaultStore,
    check_mode: bool,
    landings: list[dict[str, t.Any]] | None = None,
    now: t.Callable[[], float] = time.time,
    hide: t.Callable[..., None] = lambda *values: None,
) -> Outcome:
    """Import the connection's landings (``landings``: those ``consent.open_landings`` read for the run, else read now).

    The result: ``collected`` (invitation, generation, fingerprint, who) and ``failed`` (invitation, reason); a failed one stays in the store.
    """
    if landings is None:
        landings = consent.open_landings(store, [conn.name])
    mine = [f for f in landings if conn.name in (f["connection"], f["invitation_connection"])]
    collected: list[dict[str, t.Any]] = []
    failed: list[dict[str, t.Any]] = []
    outcome = Outcome(result={"connection": conn.name, "collected": collected, "landing_failures": failed})
    if not mine:
        return outcome
    key: str | None = None
    before = after = None
    for found in mine:
        ident = found["invitation"]
        try:
            why = _check(found, conn)
            if why is not None:
                raise StoreError(why)
            if key is None:
                key = consent.private_key(store, conn.name)
            payload = landing.open_sealed(key, ident, found["connection"], found["sealed"])
            hide(*(str(payload[k]) for k in ("access_token", "refresh_token") if payload.get(k)))
            if str(payload.get("client_id") or "") != conn.client_id:
                raise StoreError(
                    "it holds tokens of another app (client id %s), not of this connection's client id %s" % (payload.get("client_id"), conn.client_id)
                )
            if not isinstance(payload.get("refresh_token"), str) or not payload["refresh_token"]:
                raise StoreError("it holds no refresh token, so the connection could not be kept alive from it")
            tokens = _tokens(payload, now())
            audit = _audit(found)
            if check_mode:
                record = store.read(conn.name)
                before = before or chain_summary(record)
                after = dict(before, generation=before["generation"] + 1, owner="controller", refresh_fingerprint="(new)")
                collected.append({"invitation": ident, "generation": None, "refresh_fingerprint": None, "preauthenticated_by": audit})
                continue
            print_ = fingerprint(tokens.refresh_token)
            with store.locked(conn.name) as record:
                before = before or chain_summary(record)
                if (record.data.get("tokens") or {}).get("refresh_fingerprint") == print_:
                    generation = int(record.data.get("generation") or 0)  # stored by a run that could not remove the landing
                else:
                    generation = store_chain(record, conn, tokens, audit, None, event="consent_collected", invitation=ident)
                after = chain_summary(record)
            consent.finish_landing(store, ident, conn.name, now())
            collected.append({"invitation": ident, "generation": generation, "refresh_fingerprint": print_, "preauthenticated_by": audit})
        except StoreError as exc:
            failed.append({"invitation": ident, "reason": exc.msg})
            outcome.warnings.append(
                "connection %s: the landing of invitation %s was not imported and is kept in the store: %s. Check the connection's definition "
                "(client_id, platform) or send a new invitation with %s" % (conn.name, ident, exc.msg, invite_command(conn.name))
            )
    outcome.changed = bool(collected)
    outcome.before, outcome.after = before, after
    verb = "would import" if check_mode else "imported"
    outcome.msg = "connection %s: %s %d landing(s) from consent invitations%s" % (
        conn.name, verb, len(collected), "; %d kept, not imported (see landing_failures)" % len(failed) if failed else ""
    )
    return outcome


def collect_many(store: VaultStore, conns: t.Sequence[Connection], check_mode: bool, hide: t.Callable[..., None] = lambda *values: None) -> Outcome:
    """What ``refresh`` and ``status`` do first on a PostgreSQL store: import the landings of these connections.

    One query finds every landing of the run; only connections that have one are opened. Nothing (and no query) for another
    store. A landing that cannot be imported is a warning, never a failure of the run.
    """
    outcome = Outcome(result={"collected": [], "landing_failures": []})
    if getattr(store, "kind", None) != "postgresql" or not conns:
        return outcome
    try:
        landings = consent.open_landings(store, [c.name for c in conns])
    except StoreError as exc:
        outcome.warnings.append("the landings of consent invitations were not looked at: %s" % exc.msg)
        return outcome
    waiting = {name for found in landings for name in (found["connection"], found["invitation_connection"])}
    for conn in conns:
        if conn.name not in waiting:
            continue
        try:
            one = collect(conn, store, check_mode, landings=landings, hide=hide)
        except PreauthError as exc:
            outcome.warnings.append("connection %s: its landing was not imported and is kept in the store: %s" % (conn.name, exc.msg))
            continue
        outcome.result["collected"] += [dict(c, connection=conn.name) for c in one.result["collected"]]
        outcome.result["landing_failures"] += [dict(f, connection=conn.name) for f in one.result["landing_failures"]]
        outcome.warnings += one.warnings
        outcome.changed = outcome.changed or one.changed
    return outcome
