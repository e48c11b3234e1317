# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Move chains from one token store to another without ever leaving two live copies.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A rotating refresh token refreshed from two stores dies at the second refresh. So a move, per
connection and under the source's lock and then the destination's: write the record as it is to
the destination (which encrypts it again), read it back and check that it holds the same refresh
token (fingerprint) and generation, and only then turn the source into a *tombstone*: no tokens,
and ``moved_to`` naming the destination, so a forgotten refresh against the old store makes no
token call and says where the chain went. A tombstone naming the destination that holds the chain
is "unchanged" (a second run does nothing); a live chain on both sides is refused.

A run stopped after the destination was written and before the source became a tombstone leaves
the same chain (same fingerprint and generation) on both sides: the next run finishes that move.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth import fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import Record, VaultStore, check_connection_name
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

STATUSES = ("moved", "unchanged", "skipped", "failed")


class MoveError(PreauthError):
    """This connection cannot be moved as asked; the message says why and what to do."""


@dataclasses.dataclass
class MoveResult:
    """One connection's outcome: metadata only, never a token."""

    connection: str
    status: str
    msg: str
    generation: int | None = None
    refresh_fingerprint: str | None = None
    before: dict[str, t.Any] | None = None
    after: dict[str, t.Any] | None = None

    def public(self) -> dict[str, t.Any]:
        return {
            "connection": self.connection,
            "status": self.status,
            "msg": self.msg,
            "generation": self.generation,
            "refresh_fingerprint": self.refresh_fingerprint,
        }


def _tokens(record: Record) -> dict[str, t.Any]:
    tokens = record.data.get("tokens")
    return tokens if isinstance(tokens, dict) else {}


def _live(record: Record) -> bool:
    """Whether the record holds a chain that could be refreshed (a tombstone or a revoked record does not)."""
    return record.exists and bool(_tokens(record).get("refresh_token"))


def _fingerprint(record: Record) -> str | None:
    tokens = _tokens(record)
    return tokens.get("refresh_fingerprint") or fingerprint(tokens.get("refresh_token"))


def _generation(record: Record) -> int:
    try:
        return int(record.data.get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def _moved_to(record: Record) -> dict[str, t.Any] | None:
    moved = record.data.get("moved_to")
    return moved if isinstance(moved, dict) and moved else None


def summary(record: Record, store: VaultStore) -> dict[str, t.Any]:
    """What a diff shows of one side: never a token."""
    moved = _moved_to(record)
    return {
        "store": store.location,
        "exists": record.exists,
        "live_chain": _live(record),
        "generation": _generation(record) if record.exists else None,
        "refresh_fingerprint": _fingerprint(record) if _live(record) else None,
        "last_refresh_at": iso(_tokens(record).get("last_refresh_at")),
        "moved_to": {"store": moved.get("store"), "at": iso(moved.get("at"))} if moved else None,
    }


def same_store(source: VaultStore, destination: VaultStore) -> bool:
    return source.kind == destination.kind and source.location == destination.location


@dataclasses.dataclass
class _Plan:
    action: str  # move, finish (an interrupted move), unchanged, skipped
    msg: str


def _decide(name: str, src: Record, dst: Record, source: VaultStore, destination: VaultStore) -> _Plan:
    """What to do with one connection, from both records; MoveError when it must not move."""
    moved = _moved_to(src)
    if not src.exists:
        raise MoveError(
            "connection %s has no record in the source store %s; nothing to move (check the name and the source store)" % (name, source.location), name
        )
    if not _live(src) and moved:
        if moved.get("store") != destination.location:
            raise MoveError(
                "connection %s was moved to %s at %s, not to %s; nothing was changed. Move it from that store if it must go on"
                % (name, moved.get("store"), iso(moved.get("at")), destination.location),
                name,
            )
        if not _live(dst):
            raise MoveError(
                "connection %s was moved to %s at %s, but that store holds no live chain for it now; nothing was changed. Restore %s "
                "from its backup, or preauthenticate the connection again with that store"
                % (name, destination.location, iso(moved.get("at")), destination.where(name)),
                name,
            )
        since = "" if _fingerprint(dst) == moved.get("fingerprint") else " and refreshed there since"
        return _Plan("unchanged", "already moved to %s at %s%s" % (destination.location, iso(moved.get("at")), since))
    if not _live(src):
        return _Plan(
            "skipped",
            "holds no tokens in %s (revoked or never completed), so there is no chain to move; preauthenticate it with the new store" % source.location,
        )
    in_flight = src.data.get("in_flight")
    if in_flight:
        started = in_flight.get("started_at") if isinstance(in_flight, dict) else None
        raise MoveError(
            "connection %s cannot be moved: a refresh started at %s has an unknown outcome, so the stored refresh token may already be spent; "
            "run preauth.oauth2.token_refresh for it against %s first, which settles that; nothing was changed" % (name, iso(started), source.location),
            name,
        )
    if _live(dst):
        if _fingerprint(dst) == _fingerprint(src) and _generation(dst) == _generation(src):
            # The same refresh token on both sides: a move that stopped before the source became a tombstone.
            return _Plan("finish", "moved to %s (finished a move that stopped after the chain was written there)" % destination.location)
        raise MoveError(
            "connection %s has a live chain in both stores - source %s (generation %d, last refresh %s) and destination %s (generation %d, "
            "last refresh %s); %s. Nothing was changed. Two live copies of a rotating chain kill it at the second refresh: keep the one that "
            "works (run preauth.oauth2.token_refresh against each store) and revoke the other with preauth.oauth2.token_revoke, or "
            "preauthenticate the connection again"
            % (
                name,
                source.location,
                _generation(src),
                iso(_tokens(src).get("last_refresh_at")) or "never",
                destination.location,
                _generation(dst),
                iso(_tokens(dst).get("last_refresh_at")) or "never",
                _newer(src, dst),
            ),
            name,
        )
    # A copied file store must not hand a chain on while its original may still refresh it.
    source.check_home()
    return _Plan("move", "moved to %s" % destination.location)


def _newer(src: Record, dst: Record) -> str:
    if _generation(src) != _generation(dst):
        return "the %s has the newer generation" % ("source" if _generation(src) > _generation(dst) else "destination")
    left, right = _tokens(src).get("last_refresh_at") or 0, _tokens(dst).get("last_refresh_at") or 0
    if left != right:
        return "the %s was refreshed last" % ("source" if left > right else "destination")
    return "neither looks newer"


def _copy_to(src: Record, dst: Record, destination: VaultStore) -> None:
    """Write the source's record to the destination, read it back and compare; MoveError (source untouched) when it differs."""
    name = src.connection
    data = copy.deepcopy(src.data)
    data.pop("moved_to", None)  # a chain preauthenticated again in a store it had once left
    dst.data = data
    destination.save(dst)
    back = destination.read(name)
    want = (_fingerprint(src), _generation(src))
    if (_fingerprint(back), fingerprint(_tokens(back).get("refresh_token")), _generation(back)) != (want[0], want[0], want[1]):
        # Never leave a second live copy: the destination's record gives up its tokens; the source stays live.
        dst.data = copy.deepcopy(dst.data)
        dst.data["tokens"] = None
        destination.save(dst)
        raise MoveError(
            "connection %s: the copy read back from %s does not hold the chain that was written; the source store still holds it and was "
            "not changed, and the copy's tokens were removed. Check the destination store (its vault password, its disk or database) and run "
            "the move again" % (name, destination.where(name)),
            name,
        )


def _tombstone(src: Record, destination: VaultStore, now: float) -> None:
    fp, generation = _fingerprint(src), _generation(src)
    data = src.data
    data["tokens"] = None
    data.pop("pending", None)
    data["moved_to"] = {"store": destination.location, "at": round(now, 3), "fingerprint": fp, "generation": generation}
    src.add_event("moved", now, generation=generation, to=destination.location)


def move_one(name: str, source: VaultStore, destination: VaultStore, check_mode: bool, now: t.Callable[[], float] = time.time) -> MoveResult:
    """Move one connection; never raises for an expected failure: that is the connection's ``failed`` result."""
    try:
        check_connection_name(name)
        if check_mode:
            src, dst = source.read(name), destination.read(name)
            return _result(name, src, dst, source, destination, _decide(name, src, dst, source, destination), check_mode=True)
        with source.locked(name) as src:
            with destination.locked(name) as dst:
                # Decided again under both locks, on what the stores hold now.
                plan = _decide(name, src, dst, source, destination)
                before = (summary(src, source), summary(dst, destination))
                if plan.action == "move":
                    _copy_to(src, dst, destination)
                if plan.action in ("move", "finish"):
                    _tombstone(src, destination, now())
                    source.save(src)
                return _result(name, src, dst, source, destination, plan, before=before)
    except PreauthError as exc:
        return MoveResult(name, "failed", exc.msg)


def _result(
    name: str,
    src: Record,
    dst: Record,
    source: VaultStore,
    destination: VaultStore,
    plan: _Plan,
    check_mode: bool = False,
    before: tuple[dict[str, t.Any], dict[str, t.Any]] | None = None,
) -> MoveResult:
    status = {"move": "moved", "finish": "moved"}.get(plan.action, plan.action)
    old = before or (summary(src, source), summary(dst, destination))
    msg = plan.msg
    if check_mode and status == "moved":
        msg = "check mode: would be %s; nothing was written" % plan.msg
    generation = _generation(src) if src.exists else None
    fp = _fingerprint(dst) if _live(dst) else (_fingerprint(src) if _live(src) else None)
    result = MoveResult(name, status, msg, generation=generation, refresh_fingerprint=fp)
    result.before = {"source": old[0], "destination": old[1]}
    if check_mode and status == "moved":
        result.after = {
            "source": dict(old[0], live_chain=False, refresh_fingerprint=None, moved_to={"store": destination.location, "at": "(now)"}),
            "destination": dict(old[1], exists=True, live_chain=True, generation=old[0]["generation"], refresh_fingerprint=old[0]["refresh_fingerprint"]),
        }
    else:
        result.after = {"source": summary(src, source), "destination": summary(dst, destination)}
    return result


def move(
    source: VaultStore,
    destination: VaultStore,
    connections: t.Sequence[str] | None,
    check_mode: bool,
    now: t.Callable[[], float] = time.time,
) -> list[MoveResult]:
    """Move the connections (default: every connection of the source store); one failure never stops the others."""
    if same_store(source, destination):
        raise MoveError("the source and the destination are the same token store (%s); choose another to_store_dir or to_store_url" % source.location)
    names = list(connections) if connections else source.connections()
    if not check_mode:
        # Rescued writes of a PostgreSQL store go back first: a move must see the latest chain.
        source.replay_rescues()
        destination.replay_rescues()
    return [move_one(name, source, destination, check_mode, now) for name in names]
