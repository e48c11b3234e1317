# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Who may hold a chain: the ownership rules, decided in one place for every flow that asks.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A rotating refresh token is a chain with one owner: the controller, or the one host it was handed over to, whose
product then refreshes it and keeps the rotated token. A non-rotating token can live in many places: the controller
stays its owner and lists the hosts it went to in ``deployed_to``. ``decide`` answers, for a record, what may happen
when the controller refreshes it (``REFRESH``), when a host takes it (``HAND_OVER``, ``token_handover state=host``),
when it is returned (``RETURN``, ``state=controller``) and when the settings role plans a file for a host (``DEPLOY``).
It only reads the record; the flows make the change and word the message. Whether the chain itself is usable
(``_chain.unusable``) and the task's arguments are checked by the flows before they ask.

One owner is no one: ``{"kind": "moving", ...}`` while ``preauth.oauth2.token_move`` holds the chain between two stores
(``_move``). Both copies carry it until the move is finished or rolled back, so that no copy can refresh, go to a host or
come back from one meanwhile: REFRESH answers REFUSE (``MOVING``), the other questions raise ``MovingError``, whose
message (``moving_refusal``) is the same from every flow.
"""

from __future__ import annotations

import dataclasses
import shlex
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import host_owned, owner_host, section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

# What is asked.
REFRESH = "refresh"
HAND_OVER = "hand_over"
RETURN = "return"
DEPLOY = "deploy"

# The verdicts.
PROCEED = "proceed"  # do what was asked
ALREADY = "already"  # it is so already: nothing to change
KEEP = "keep"  # DEPLOY: the host owns this generation; the file its product keeps is left as it is
SKIP = "skip"  # not this time, and not an error
REFUSE = "refuse"  # must not happen; ``reason`` says why

# Reasons of SKIP and REFUSE.
OWNED_BY_HOST = "owned_by_host"  # REFRESH: a host's product refreshes the chain
OWNED_BY_ANOTHER_HOST = "owned_by_another_host"  # HAND_OVER, DEPLOY: a rotating chain lives in one place
NOT_THE_OWNER = "not_the_owner"  # RETURN: the host named is not the one that owns it
FIRST_DEPLOYMENT = "first_deployment"  # DEPLOY with redeploy_only: only a first deployment hands a rotating chain over
SEVERAL_HOSTS = "several_hosts"  # DEPLOY: the inventory gives a rotating chain to more than one host
MOVING = "moving"  # every question: a move between token stores holds the chain (also the owner kind it writes)


class MovingError(PreauthError):
    """A move between token stores holds the chain; the message names both stores and the move to run again."""


def moving_mark(data: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """The owner section of a record that a move between stores holds, or None."""
    owner = section(data, "owner")
    return owner if owner.get("kind") == MOVING else None


def _store_option(side: t.Any, prefix: str) -> str:
    side = side if isinstance(side, dict) else {}
    option = "store_url" if side.get("kind") == "postgresql" else "store_dir"
    return "-e %s" % shlex.quote("%s%s=%s" % (prefix, option, side.get("location") or "?"))


def moving_refusal(data: t.Mapping[str, t.Any], connection: str) -> str | None:
    """Why nothing may happen to a chain that a move holds, and the one safe next step; None when no move holds it."""
    mark = moving_mark(data)
    if mark is None:
        return None
    origin, target = section(mark, "from"), section(mark, "to")
    return (
        "connection %s is held by a move between token stores that did not finish: from %s to %s, started at %s (this is the %s's "
        "copy). Until the move is finished or rolled back neither store refreshes, hands over or deploys the chain, so that only one "
        "copy can ever refresh it. Run the move again with the same stores, which settles it without a new login: ansible-playbook "
        "preauth.oauth2.store_migrate %s %s -e preauth_only=%s (with your inventory and vault options). Do not refresh, revoke or "
        "copy either store's record meanwhile"
        % (
            connection,
            origin.get("location") or "?",
            target.get("location") or "?",
            iso(mark.get("since")) or "an unknown time",
            "source store" if mark.get("side") == "source" else "destination store",
            _store_option(origin, "preauth_"),
            _store_option(target, "preauth_to_"),
            connection,
        )
    )


@dataclasses.dataclass(frozen=True)
class Decision:
    """The verdict, and what the flows' messages need to explain it."""

    verdict: str
    reason: str = ""
    owned_by: str | None = None  # the host that owns the chain, None while the controller does
    since: t.Any = None  # the stored ``owner.since``, as it is
    handover: bool = False  # DEPLOY: hand the chain over (a non-rotating one: list the host) once the file is written
    listed: bool = False  # HAND_OVER of a non-rotating chain: the change is an entry in ``deployed_to``, the owner stays


def decide(
    data: t.Mapping[str, t.Any],
    asked: str,
    rotating: bool = True,
    host: str | None = None,
    wanted_owner: str = "handover",
    redeploy_only: bool = False,
    claimants: t.Sequence[str] = (),
) -> Decision:
    """What may happen to the chain in ``data`` when ``asked`` is done for ``host``.

    ``wanted_owner`` (``handover`` or ``controller``), ``redeploy_only`` and ``claimants`` (every host the inventory
    gives the chain to) only matter for DEPLOY.
    """
    owner = section(data, "owner")
    owned_by = owner_host(data)
    since = owner.get("since")
    if owner.get("kind") == MOVING:
        if asked == REFRESH:
            return Decision(REFUSE, MOVING, since=since)
        raise MovingError(moving_refusal(data, str(data.get("connection") or "?")) or "", str(data.get("connection") or "?"))
    if asked == REFRESH:
        # An owner that says "host" without naming one was still handed over by someone: the controller keeps out.
        if host_owned(data):
            return Decision(SKIP, OWNED_BY_HOST, owned_by, since)
        return Decision(PROCEED)
    if asked == RETURN:
        if owned_by is None:
            return Decision(ALREADY)
        if host and host != owned_by:
            return Decision(REFUSE, NOT_THE_OWNER, owned_by, since)
        return Decision(PROCEED, owned_by=owned_by, since=since)
    if asked == HAND_OVER:
        if not rotating:
            listed = host in set(data.get("deployed_to") or [])
            return Decision(ALREADY if listed else PROCEED, owned_by=owned_by, since=since, listed=True)
        if _owns_this_generation(data, host):
            return Decision(ALREADY, owned_by=owned_by, since=since)
        if owned_by is not None and owned_by != host:
            return Decision(REFUSE, OWNED_BY_ANOTHER_HOST, owned_by, since)
        return Decision(PROCEED, owned_by=owned_by, since=since)
    if asked == DEPLOY:
        if rotating and _owns_this_generation(data, host):
            return Decision(KEEP, owned_by=owned_by, since=since)
        if rotating and owned_by is not None:
            # Also this host with an older generation: deploying would overwrite what its product keeps.
            return Decision(REFUSE, OWNED_BY_ANOTHER_HOST, owned_by, since)
        if rotating and wanted_owner == "handover" and redeploy_only:
            return Decision(SKIP, FIRST_DEPLOYMENT, owned_by, since)
        if rotating and wanted_owner == "handover" and len(claimants) > 1:
            return Decision(REFUSE, SEVERAL_HOSTS, owned_by, since)
        return Decision(PROCEED, owned_by=owned_by, since=since, handover=not (rotating and wanted_owner == "controller"))
    raise ValueError("unknown ownership question %r" % asked)


def _owns_this_generation(data: t.Mapping[str, t.Any], host: str | None) -> bool:
    """Whether ``host`` owns the stored generation: a host that took an older one does not own the chain preauthenticated since."""
    return owner_host(data) == host and int(section(data, "owner").get("generation") or 0) == int(data.get("generation") or 0)
