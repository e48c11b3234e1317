# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Chain ownership: hand a connection's current generation to a host, or take it back.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A rotating refresh token is a chain with one owner. Handed to a host, the product there
refreshes it and keeps the rotated token; the controller never refreshes or re-deploys it again.
So a second host for the same generation is refused. A non-rotating token can live in many
places: its owner stays the controller and the hosts it went to are listed in ``deployed_to``.
The rules are ``_ownership.decide``'s; every decision is made under the connection's lock, after re-reading the store.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_hint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import get_platform
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import owner_label, unusable
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import ALREADY, HAND_OVER, REFUSE, RETURN, decide
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name

STATES = ("host", "controller")


class HandoverError(PreauthError):
    """Ownership cannot change as asked; the message says why and what to do instead."""


def ownership(record: Record) -> dict[str, t.Any]:
    """Owner, generation and hosts for results and diffs: never a token."""
    data = record.data
    return {
        "owner": owner_label(data),
        "generation": int(data.get("generation") or 0),
        "deployed_to": sorted(data.get("deployed_to") or []),
    }


def _check_chain(record: Record, store: VaultStore) -> None:
    """The chain must exist and work before it can go anywhere."""
    name = record.connection
    problem = unusable(record.exists, record.data)
    if problem is None:
        return
    if problem.kind == "missing":
        raise HandoverError(
            "connection %s has no token store in %s, so there is no chain to hand over; preauthenticate it first: %s"
            % (name, store.location, preauthenticate_hint(name)),
            name,
        )
    if problem.kind == "moved":
        raise HandoverError(
            "connection %s was moved to the token store %s at %s; this store holds only a tombstone. Hand it over from that store"
            % (name, (problem.moved_to or {}).get("store"), iso(problem.since)),
            name,
        )
    if problem.kind in ("revoked", "no_tokens"):
        why = "its tokens were revoked at %s" % iso(problem.since) if problem.kind == "revoked" else "it holds no tokens"
        raise HandoverError("connection %s cannot be handed over: %s; preauthenticate it again: %s" % (name, why, preauthenticate_hint(name)), name)
    if problem.kind == "reauthorization_required":
        raise HandoverError(
            "connection %s cannot be handed over: its chain needs reauthorization since %s (%s); preauthenticate it again: %s"
            % (name, iso(problem.since) or "an unknown time", problem.reason or "no reason recorded", preauthenticate_hint(name)),
            name,
        )
    raise HandoverError(
        "connection %s cannot be handed over: a refresh started at %s has an unknown outcome, so the stored refresh token "
        "may already be spent; run preauth.oauth2.token_refresh for it first, which settles that" % (name, iso(problem.since)),
        name,
    )


def _decide(record: Record, store: VaultStore, state: str, host: str | None, now: float) -> tuple[bool, str]:
    """Change ``record`` as asked; return (changed, message). Raises when it must not change."""
    name = record.connection
    data = record.data
    generation = int(data.get("generation") or 0)
    if state == "controller":
        if not record.exists:
            raise HandoverError("connection %s has no token store in %s; there is no ownership to return" % (name, store.location), name)
        decision = decide(data, RETURN, host=host)
        owned_by = decision.owned_by
        if decision.verdict == ALREADY:
            return False, "connection %s generation %d is already owned by the controller" % (name, generation)
        if decision.verdict == REFUSE:
            raise HandoverError(
                "connection %s generation %d is owned by host %s, not %s; nothing was changed. Give host: %s (or no host) to return it"
                % (name, generation, owned_by, host, owned_by),
                name,
            )
        data["owner"] = {"kind": "controller", "since": round(now, 3)}
        record.add_event("ownership_returned", now, generation=generation, host=owned_by)
        return True, (
            "connection %s generation %d is owned by the controller again (returned by host %s); the collection refreshes and "
            "deploys it from now on, so make sure the product on %s no longer uses it" % (name, generation, owned_by, owned_by)
        )
    if not host:
        raise HandoverError("connection %s: state=host needs host, the inventory name of the host that takes the chain" % name, name)
    _check_chain(record, store)
    platform = get_platform((data.get("definition") or {}).get("platform") or "")
    decision = decide(data, HAND_OVER, rotating=platform.rotation != "non_rotating", host=host)
    owned_by = decision.owned_by
    if decision.listed:
        deployed = sorted(set(data.get("deployed_to") or []))
        if decision.verdict == ALREADY:
            return False, "connection %s is already recorded as deployed to host %s; %s does not rotate refresh tokens, so the controller keeps it" % (
                name,
                host,
                platform.title,
            )
        data["deployed_to"] = sorted(deployed + [host])
        record.add_event("deployed", now, generation=generation, host=host)
        return True, (
            "connection %s is recorded as deployed to host %s; %s does not rotate refresh tokens, so the chain stays owned by the "
            "controller and may go to more hosts" % (name, host, platform.title)
        )
    if decision.verdict == ALREADY:
        return False, "connection %s generation %d is already owned by host %s" % (name, generation, host)
    if decision.verdict == REFUSE:
        raise HandoverError(
            "connection %s generation %d is owned by host %s since %s; a rotating refresh token lives in one place. For host %s, "
            "preauthenticate a separate chain (a second connection name) or return ownership first with state=controller once "
            "%s's product stopped using it" % (name, generation, owned_by, iso(decision.since), host, owned_by),
            name,
        )
    # A copied store must not give a host a rotating chain that its original still refreshes.
    store.check_home()
    data["owner"] = {"kind": "host", "host": host, "since": round(now, 3), "generation": generation}
    record.add_event("handed_over", now, generation=generation, host=host)
    return True, (
        "connection %s generation %d is now owned by host %s; the collection no longer refreshes or deploys it. Return it with "
        "state=controller only after the product on %s stopped using it" % (name, generation, host, host)
    )


def handover(
    store: VaultStore,
    connection: str,
    state: str,
    host: str | None,
    check_mode: bool,
    now: t.Callable[[], float] = time.time,
) -> Outcome:
    name = check_connection_name(connection)
    if state not in STATES:
        raise HandoverError("state must be one of %s, not %r" % (", ".join(STATES), state))
    # Decide on an unlocked read first: refusals and no-ops need neither the lock nor a lock file.
    record = store.read(name)
    before = ownership(record)
    changed, msg = _decide(record, store, state, host, now())
    after = ownership(record)
    if changed and check_mode:
        msg = "check mode: %s; nothing was written" % _prediction(name, before, after)
    elif changed:
        # The decision that counts is made again under the lock, on what the store holds now.
        with store.locked(name) as record:
            before = ownership(record)
            changed, msg = _decide(record, store, state, host, now())
            after = ownership(record)
    result = {"connection": name, "owner": after["owner"], "generation": after["generation"], "deployed_to": after["deployed_to"]}
    return Outcome(changed=changed, msg=msg, result=result, before=before, after=after)


def _prediction(name: str, before: dict[str, t.Any], after: dict[str, t.Any]) -> str:
    if before["owner"] != after["owner"]:
        return "would make %s the owner of connection %s generation %d (now %s)" % (_who(after["owner"]), name, after["generation"], _who(before["owner"]))
    added = sorted(set(after["deployed_to"]) - set(before["deployed_to"]))
    return "would record connection %s as deployed to host %s" % (name, ", ".join(added))


def _who(owner: str) -> str:
    return "the controller" if owner == "controller" else "host " + owner
