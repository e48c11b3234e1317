# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The store record's layout, defined once, and the questions every flow asks of it.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A record (``Record.data``, the decrypted document of any store backend) holds:

``schema``, ``connection``
    the layout version and the connection's name, checked when the record is read;
``definition``
    the connection as it was preauthenticated (never the client secret); its identity fields make it the same chain;
``generation``
    bumped by every preauthentication;
``pending``
    a started authorization (state, PKCE verifier, redirect URI, expiry) until the code is exchanged;
``tokens``
    the chain: access and refresh token, type, scope, ``obtained_at``, ``access_expires_at``, ``refresh_expires_at``,
    ``refresh_fingerprint``, ``last_refresh_at``; None once revoked;
``owner``
    ``{"kind": "controller"}``, or ``{"kind": "host", "host", "since", "generation"}`` once handed over;
``deployed_to``
    hosts a non-rotating chain was deployed to;
``in_flight``
    a token request that left and whose answer is not stored yet: ``fingerprint``, ``started_at``, ``until``;
``reauthorization_required``
    ``{"since", "reason", "kind"}`` once the platform refused the chain (``kind``: ``refused``, ``expired`` or ``lost``, an
    answer lost before the refusal);
``token_calls``
    ``{"day", "count"}`` against a platform's daily budget;
``last_error``
    ``{"at", "kind", "message"}`` of the last refused or lost request;
``failures``
    ``{"count", "since", "kind"}``: runs in a row whose refresh failed without the platform calling the chain dead
    (refused, lost, a configuration or rate-limit answer, an incomplete answer); gone after a refresh that works or a new
    preauthentication;
``notice``
    what the people who own the connection were last told (``_flows/notify.py``): the state, the event, its message id,
    who claimed sending it and when it was sent;
``preauthenticated_by``
    the audit record of the person who signed in;
``moved_to``
    ``{"store", "at", "fingerprint", "generation"}`` on a tombstone: the chain lives in another store now;
``history``
    the last events (``HISTORY_LIMIT``).

Any section may be missing or hold something else (a hand-edited store): the readers here never raise on that.
"""

from __future__ import annotations

import copy
import dataclasses
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import to_plain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

SCHEMA = 1
HISTORY_LIMIT = 30
# A failure count stops here: the number only says "many runs in a row".
MAX_FAILURES = 100000
CONTROLLER = "controller"


class Record:
    """The decrypted content of one store file, plus what is needed to write it back."""

    def __init__(
        self, connection: str, data: dict[str, t.Any] | None, vault_id: str | None, secret: t.Any = None, source: tuple[int, int, str] | None = None
    ) -> None:
        self.connection = connection
        self.exists = data is not None
        self.data: dict[str, t.Any] = data if data is not None else {"schema": SCHEMA, "connection": connection, "generation": 0, "history": []}
        # What a record that does not exist yet is compared with: left as it was, nothing is written.
        self.original = copy.deepcopy(data) if data is not None else None
        self.blank = None if data is not None else copy.deepcopy(self.data)
        self.vault_id = vault_id
        # The vault secret that decrypted or encrypted the file, and (size, mtime_ns, SHA-256) of
        # the exact bytes this record was read from or written as: what an index describes.
        self.secret = secret
        self.source = source

    @property
    def changed(self) -> bool:
        data = to_plain(self.data)
        return data != self.original and not (self.original is None and data == self.blank)

    def add_event(self, event: str, at: float, **details: t.Any) -> None:
        history = self.data.setdefault("history", [])
        history.append({"at": round(at, 3), "event": event, **details})
        del history[:-HISTORY_LIMIT]


def section(data: t.Mapping[str, t.Any], name: str) -> dict[str, t.Any]:
    """A section of the record as a mapping; anything else reads as empty."""
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def owner_host(data: t.Mapping[str, t.Any]) -> str | None:
    """The host a chain was handed over to, or None while the controller owns it."""
    owner = section(data, "owner")
    return owner.get("host") if owner.get("kind") == "host" else None


def owner_label(data: t.Mapping[str, t.Any]) -> str:
    """Who refreshes the chain: the host it was handed over to, or ``controller``."""
    return owner_host(data) or CONTROLLER


def chain_summary(record: Record) -> dict[str, t.Any]:
    """Metadata of the stored chain for diffs and results: never a token."""
    data = record.data
    tokens = data.get("tokens") or {}
    pending = data.get("pending") or {}
    owner = section(data, "owner")
    return {
        "generation": data.get("generation", 0),
        "owner": owner.get("host") or owner.get("kind"),
        "refresh_fingerprint": tokens.get("refresh_fingerprint"),
        "refresh_expires_at": iso(tokens.get("refresh_expires_at")),
        "access_expires_at": iso(tokens.get("access_expires_at")),
        "pending_authorization_expires_at": iso(pending.get("expires_at")),
    }


def host_owned(data: t.Mapping[str, t.Any]) -> bool:
    """Whether the chain was handed over, even to a host the record does not name (then ``owner_host`` is None)."""
    return section(data, "owner").get("kind") == "host"


def events(data: t.Mapping[str, t.Any], event: str) -> list[dict[str, t.Any]]:
    history = data.get("history")
    return [e for e in (history if isinstance(history, list) else []) if isinstance(e, dict) and e.get("event") == event]


def count_failure(data: dict[str, t.Any], at: float, kind: str) -> None:
    """One more run in a row whose refresh failed (``failures``); the first failure's time stays ``since``."""
    failures = section(data, "failures")
    count = failure_count(data)
    since = failures.get("since") if isinstance(failures.get("since"), (int, float)) and not isinstance(failures.get("since"), bool) else None
    data["failures"] = {"count": min(count + 1, MAX_FAILURES), "since": since if since is not None and count else round(at, 3), "kind": str(kind)}


def failure_count(data: t.Mapping[str, t.Any]) -> int:
    """Runs in a row whose refresh failed; 0 for anything that is not a count (a hand-edited store)."""
    count = section(data, "failures").get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= MAX_FAILURES else 0


def notice_facts(data: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What a notification run needs to know that nothing changed, without a secret: for the index and the facts."""
    notice = section(data, "notice")
    state = notice.get("state")
    sent = notice.get("sent_at")
    return {
        "failures": failure_count(data),
        "state": state if isinstance(state, str) else None,
        "sent_at": sent if isinstance(sent, (int, float)) and not isinstance(sent, bool) else None,
        "reminded_at": notice.get("reminded_at") if isinstance(notice.get("reminded_at"), (int, float)) else None,
        # A message claimed or being sent and not yet delivered to everyone (a state written without one has no id).
        "open": bool(notice.get("id")) and bool(notice.get("pending")) and not notice.get("given_up"),
    }


def token_section(
    access_token: str | None,
    refresh_token: str,
    token_type: str | None,
    scope: str | None,
    received: float,
    access_life: float | None,
    refresh_life: float | None,
    last_refresh_at: float | None,
) -> dict[str, t.Any]:
    """The ``tokens`` section for an answer received at ``received`` (both a code exchange and a refresh write it)."""
    return {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": token_type,
        "scope": scope,
        "obtained_at": round(received, 3),
        "access_expires_at": round(received + access_life, 3) if access_life is not None else None,
        "refresh_expires_at": round(received + refresh_life, 3) if refresh_life is not None else None,
        "refresh_fingerprint": fingerprint(refresh_token),
        "last_refresh_at": round(last_refresh_at, 3) if last_refresh_at is not None else None,
    }


@dataclasses.dataclass
class Unusable:
    """Why a stored chain cannot be handed over or deployed, with what a message needs."""

    kind: str  # missing, moved, revoked, no_tokens, reauthorization_required, in_flight
    since: t.Any = None
    reason: t.Any = None
    moved_to: dict[str, t.Any] | None = None


def unusable(exists: bool, data: t.Mapping[str, t.Any]) -> Unusable | None:
    """The first reason, in the order the flows check them, why this chain must not go to a host; None when it may."""
    if not exists:
        return Unusable("missing")
    moved = data.get("moved_to")
    if isinstance(moved, dict) and moved:
        return Unusable("moved", since=moved.get("at"), moved_to=moved)
    if not data.get("tokens"):
        revoked = events(data, "revoked")
        return Unusable("revoked", since=revoked[-1].get("at")) if revoked else Unusable("no_tokens")
    reauth = data.get("reauthorization_required")
    if reauth:
        # Whatever the store holds there (a person may have edited it), the chain is dead.
        details = reauth if isinstance(reauth, dict) else {}
        return Unusable("reauthorization_required", since=details.get("since"), reason=details.get("reason"))
    in_flight = data.get("in_flight")
    if in_flight:
        return Unusable("in_flight", since=section(data, "in_flight").get("started_at"))
    return None
