# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Move chains from one token store to another so that at no instant two copies can refresh.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A rotating refresh token refreshed from two stores dies at the second refresh, and a move can be killed at any
point. So one connection moves, under the source's lock and then the destination's, in four writes, each saved
before the next begins:

1. ``marked``: the source's owner becomes the mark ``{"kind": "moving", "side": "source", "from", "to", "since",
   "fingerprint", "generation", "previous"}`` (``_ownership.MOVING``; ``previous`` is the owner it had): from now
   on the source refuses to refresh, hand over or deploy the chain;
2. ``written``: the record goes to the destination with the same mark, ``side: destination``, so the new copy
   refuses too; it is read back and compared (refresh token fingerprint, generation, mark);
3. ``tombstoned``: the source becomes a tombstone - no tokens, ``moved_to`` naming the destination;
4. the destination's owner becomes ``previous`` again: only now can the chain refresh there.

A run of the same move, or of the reverse one, that finds the traces of a stopped move settles it first, in the
direction asked where it can: stopped after 1 or 2, it is finished (same move) or rolled back (reverse move: the
copy, if written, becomes a tombstone naming the source, then the source's mark goes); stopped after 3 it can only be
finished. A destination copy whose source is neither marked nor the matching tombstone never became live and is
removed. A live chain on both sides that no stopped move explains is refused until ``keep`` says which one stays.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import MOVING, moving_mark, moving_refusal
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

STATUSES = ("moved", "unchanged", "skipped", "failed")
KEEP_CHOICES = ("source", "destination")
# The boundaries a move can be stopped at (see the module docstring); "copy_removed" is inside a rollback.
STEPS = ("marked", "written", "tombstoned", "copy_removed")
PAUSE_ENV = "PREAUTH_OAUTH2_TEST_MOVE_PAUSE"


class MoveError(PreauthError):
    """This connection cannot be moved as asked; the message says why and what to do."""


def pause_for_tests(step: str, connection: str) -> None:
    """Test-only seam, not an option: with ``PREAUTH_OAUTH2_TEST_MOVE_PAUSE=<step>:<file>`` a move writes its process id
    to ``<file>`` when it reaches that boundary and waits there for 60 s, so that the collection's tests can SIGKILL
    exactly that process (an ansible-playbook worker) at exactly that point. Unset, as everywhere but in those tests,
    it does nothing."""
    wanted, _sep, path = (os.environ.get(PAUSE_ENV) or "").partition(":")
    if wanted != step or not path:
        return
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write("%d\n" % os.getpid())
    os.replace(tmp, path)  # whole, so that a reader never sees a half-written id
    time.sleep(60)


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
    changed: bool = False

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
    """Whether the record holds a chain (a tombstone or a revoked record does not); a mark may still hold it back."""
    return record.exists and bool(_tokens(record).get("refresh_token"))


def _active(record: Record) -> bool:
    """Whether the record holds a chain that could be refreshed now: live, and no move holds it."""
    return _live(record) and moving_mark(record.data) is None


def _fingerprint(record: Record) -> str | None:
    tokens = _tokens(record)
    return tokens.get("refresh_fingerprint") or fingerprint(tokens.get("refresh_token"))


def _generation(record: Record) -> int:
    try:
        return int(record.data.get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def _chain(record: Record) -> tuple[str | None, int]:
    return _fingerprint(record), _generation(record)


def _moved_to(record: Record) -> dict[str, t.Any] | None:
    moved = record.data.get("moved_to")
    return moved if isinstance(moved, dict) and moved else None


def summary(record: Record, store: VaultStore) -> dict[str, t.Any]:
    """What a diff shows of one side: never a token."""
    moved = _moved_to(record)
    mark = moving_mark(record.data)
    return {
        "store": store.location,
        "exists": record.exists,
        "live_chain": _active(record),
        "generation": _generation(record) if record.exists else None,
        "refresh_fingerprint": _fingerprint(record) if _live(record) else None,
        "last_refresh_at": iso(_tokens(record).get("last_refresh_at")),
        "moved_to": {"store": moved.get("store"), "at": iso(moved.get("at"))} if moved else None,
        "moving": {"side": mark.get("side"), "since": iso(mark.get("since"))} if mark else None,
    }


def same_store(source: VaultStore, destination: VaultStore) -> bool:
    return source.kind == destination.kind and source.location == destination.location


def _side(store: VaultStore) -> dict[str, str]:
    return {"kind": store.kind, "location": store.location}


def _mark_of(record: Record, side: str, other: VaultStore) -> dict[str, t.Any] | None:
    """The record's mark if it is the ``side`` of a move with ``other``, on a record that holds the chain."""
    mark = moving_mark(record.data)
    peer = (mark or {}).get("to" if side == "source" else "from")
    if mark is None or mark.get("side") != side or not isinstance(peer, dict) or peer.get("location") != other.location:
        return None
    return mark if _live(record) else None


@dataclasses.dataclass
class _Stopped:
    """A move from record ``a`` of ``a_store`` to ``b`` of ``b_store`` that stopped, and after which step."""

    a: Record
    b: Record
    a_store: VaultStore
    b_store: VaultStore
    stage: str  # marked, written, tombstoned, stale (a copy in b_store that never became live)
    since: t.Any
    forward: bool  # a_store is the source asked for now: going on finishes what was asked

    def what(self) -> str:
        return "the move from %s to %s that stopped at %s" % (self.a_store.location, self.b_store.location, iso(self.since) or "an unknown time")


def _find_stopped(src: Record, dst: Record, source: VaultStore, destination: VaultStore) -> _Stopped | None:
    """The traces of a stopped move between these two stores, in either direction."""
    for a, b, a_store, b_store, forward in ((src, dst, source, destination, True), (dst, src, destination, source, False)):
        out, into = _mark_of(a, "source", b_store), _mark_of(b, "destination", a_store)
        if out is not None:
            written = into is not None and into.get("since") == out.get("since") and _chain(b) == (out.get("fingerprint"), out.get("generation"))
            return _Stopped(a, b, a_store, b_store, "written" if written else "marked", out.get("since"), forward)
        if into is not None:
            tomb = _moved_to(a)
            done = (
                not _live(a) and tomb is not None and tomb.get("store") == b_store.location and (tomb.get("fingerprint"), tomb.get("generation")) == _chain(b)
            )
            return _Stopped(a, b, a_store, b_store, "tombstoned" if done else "stale", into.get("since"), forward)
    return None


def _conflict(name: str, src: Record, dst: Record, source: VaultStore, destination: VaultStore, how: str) -> MoveError:
    return MoveError(
        "connection %s has a live chain in both stores - source %s (generation %d, last refresh %s) and destination %s (generation %d, "
        "last refresh %s)%s; %s. Nothing was changed. If they are copies of one rotating chain, refreshing the copy whose token was "
        "already rotated, or revoking either, kills it: refresh, revoke, hand over and deploy neither. Choose the store whose chain "
        "stays and run the move again with the same stores and -e preauth_keep=source or -e preauth_keep=destination (keep on "
        "preauth.oauth2.token_move): the other store's chain becomes a tombstone, without a token call"
        % (
            name,
            source.location,
            _generation(src),
            iso(_tokens(src).get("last_refresh_at")) or "never",
            destination.location,
            _generation(dst),
            iso(_tokens(dst).get("last_refresh_at")) or "never",
            how,
            _newer(src, dst),
        ),
        name,
    )


def _newer(src: Record, dst: Record) -> str:
    if _generation(src) != _generation(dst):
        return "the %s has the newer generation" % ("source" if _generation(src) > _generation(dst) else "destination")
    left, right = _tokens(src).get("last_refresh_at") or 0, _tokens(dst).get("last_refresh_at") or 0
    if left != right:
        return "the %s was refreshed last, so the other's refresh token is likely spent" % ("source" if left > right else "destination")
    return "neither looks newer"


@dataclasses.dataclass
class _Plan:
    action: str  # move, finish (an old run's copy), discard (keep=destination), unchanged, skipped
    msg: str


def _decide(name: str, src: Record, dst: Record, source: VaultStore, destination: VaultStore, keep: str | None) -> _Plan:
    """What to do with one connection that no stopped move holds; MoveError when it must not move."""
    for record in (src, dst):
        held = moving_refusal(record.data, name) if _live(record) else None
        if held is not None:
            # A mark of a move with a third store: only that move may settle it.
            raise MoveError(held + "; nothing was changed", name)
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
        if _chain(dst) == _chain(src):
            # The same refresh token on both sides: an older version's move that stopped before the source became a tombstone.
            return _Plan("finish", "moved to %s (finished a move that stopped after the chain was written there)" % destination.location)
        if keep == "destination":
            return _Plan("discard", "kept the chain of %s (keep=destination); the source's chain became a tombstone" % destination.location)
        if keep != "source":
            raise _conflict(name, src, dst, source, destination, "")
    # A copied file store must not hand a chain on while its original may still refresh it.
    source.check_home()
    if _live(dst):
        return _Plan("move", "moved to %s (keep=source: it replaced the chain the destination held)" % destination.location)
    return _Plan("move", "moved to %s" % destination.location)


class _Mover:
    """The writes of one connection's move, with both locks held; ``between`` is called at every step boundary."""

    def __init__(self, name: str, now: t.Callable[[], float], between: t.Callable[[str, str], None]) -> None:
        self.name, self.now, self.between = name, now, between

    def move(self, a: Record, b: Record, a_store: VaultStore, b_store: VaultStore) -> None:
        """The four steps, from the start."""
        fp, generation = _chain(a)
        since = round(self.now(), 3)
        previous = copy.deepcopy(a.data.get("owner"))
        a.data["owner"] = {"kind": MOVING, "side": "source", "from": _side(a_store), "to": _side(b_store), "since": since}
        a.data["owner"].update(fingerprint=fp, generation=generation, previous=previous)
        a.add_event("move_started", since, generation=generation, to=b_store.location)
        a_store.save(a)
        self.between("marked", self.name)
        self.forward(a, b, a_store, b_store, "marked")

    def forward(self, a: Record, b: Record, a_store: VaultStore, b_store: VaultStore, stage: str) -> None:
        """Go on from ``stage`` to the end: the chain lives in b_store, a_store holds a tombstone."""
        if stage == "marked":
            self._copy(a, b, a_store, b_store)
            self.between("written", self.name)
        if stage in ("marked", "written"):
            self.tombstone(a, a_store, b_store, "moved")
            self.between("tombstoned", self.name)
        _restore_owner(b)
        b_store.save(b)

    def back(self, a: Record, b: Record, a_store: VaultStore, b_store: VaultStore, stage: str) -> None:
        """Undo a move from a_store to b_store that stopped at ``stage`` (marked or written): the chain stays in a_store."""
        if stage == "written":
            self.tombstone(b, b_store, a_store, "move_rolled_back")
            self.between("copy_removed", self.name)
        _restore_owner(a)
        a.add_event("move_rolled_back", self.now(), generation=_generation(a), to=b_store.location)
        a_store.save(a)

    def tombstone(self, record: Record, store: VaultStore, to: VaultStore, event: str) -> None:
        """``record`` gives up its tokens and names ``to``, the store that holds the chain (a move's source, or a copy undone)."""
        fp, generation = _chain(record)
        now = self.now()
        _restore_owner(record)
        record.data["tokens"] = None
        record.data.pop("pending", None)
        record.data["moved_to"] = {"store": to.location, "at": round(now, 3), "fingerprint": fp, "generation": generation}
        record.add_event(event, now, generation=generation, to=to.location)
        store.save(record)

    def _copy(self, a: Record, b: Record, a_store: VaultStore, b_store: VaultStore) -> None:
        """Write a's record to b_store with the mark, read it back and compare; on a difference undo both and raise."""
        mark = moving_mark(a.data) or {}
        data = copy.deepcopy(a.data)
        data.pop("moved_to", None)  # a chain coming back to a store it once left
        data["owner"] = dict(copy.deepcopy(mark), side="destination")
        b.data = data
        b_store.save(b)
        back = b_store.read(self.name)
        got_mark = moving_mark(back.data) or {}
        got = (_fingerprint(back), fingerprint(_tokens(back).get("refresh_token")), _generation(back), got_mark.get("side"), got_mark.get("since"))
        if got != (mark.get("fingerprint"), mark.get("fingerprint"), mark.get("generation"), "destination", mark.get("since")):
            # Never leave a second copy: the destination's gives up its tokens first, then the source's mark goes.
            b.data = copy.deepcopy(b.data)
            _restore_owner(b)
            b.data["tokens"] = None
            b_store.save(b)
            _restore_owner(a)
            a_store.save(a)
            raise MoveError(
                "connection %s: the copy read back from %s does not hold the chain that was written; the source store still holds "
                "it, and the copy's tokens were removed. Check the destination store (its vault password, its disk or database) and "
                "run the move again" % (self.name, b_store.where(self.name)),
                self.name,
            )

    def settle(self, st: _Stopped, keep: VaultStore | None) -> str:
        """Finish or roll back a stopped move; what was done, for the message."""
        a, b, a_store, b_store = st.a, st.b, st.a_store, st.b_store
        if st.stage == "stale":
            self.tombstone(b, b_store, a_store, "move_copy_removed")
            return "removed the copy in %s left by %s, which never became live there (the chain is in %s)" % (b_store.location, st.what(), a_store.location)
        if st.stage == "marked" and _active(b):
            # b_store holds a live chain of its own (preauthenticated there since): only a person can say which stays.
            if keep is None:
                raise _conflict(self.name, a, b, a_store, b_store, " and a move from the first to the second stopped after marking the source")
            if keep is b_store:
                self.tombstone(a, a_store, b_store, "moved")
                return "kept the chain of %s; the copy in %s held by %s became a tombstone" % (b_store.location, a_store.location, st.what())
        if st.stage == "tombstoned" or st.forward or keep is a_store:
            self.forward(a, b, a_store, b_store, st.stage)
            return "finished %s" % st.what()
        self.back(a, b, a_store, b_store, st.stage)
        return "rolled back %s; the chain stays in %s" % (st.what(), a_store.location)


def _restore_owner(record: Record) -> None:
    """The owner the chain had before a move marked it (a record without a mark stays as it is)."""
    mark = moving_mark(record.data)
    if mark is None:
        return
    previous = mark.get("previous")
    if isinstance(previous, dict):
        record.data["owner"] = copy.deepcopy(previous)
    else:
        record.data.pop("owner", None)


def _prediction(st: _Stopped, keep: VaultStore | None) -> str:
    """What ``settle`` would do, for check mode."""
    if st.stage == "stale":
        return "would remove the copy in %s left by %s, which never became live there" % (st.b_store.location, st.what())
    if st.stage == "marked" and _active(st.b) and keep is None:
        raise _conflict(st.a.connection, st.a, st.b, st.a_store, st.b_store, " and a move from the first to the second stopped after marking the source")
    if st.stage == "tombstoned" or st.forward or keep is st.a_store:
        return "would finish %s" % st.what()
    return "would roll back %s" % st.what()


def move_one(
    name: str,
    source: VaultStore,
    destination: VaultStore,
    check_mode: bool,
    now: t.Callable[[], float] = time.time,
    keep: str | None = None,
    between: t.Callable[[str, str], None] = pause_for_tests,
) -> MoveResult:
    """Move one connection; never raises for an expected failure: that is the connection's ``failed`` result."""
    try:
        check_connection_name(name)
        kept = {"source": source, "destination": destination}.get(keep or "")
        if check_mode:
            src, dst = source.read(name), destination.read(name)
            stopped = _find_stopped(src, dst, source, destination)
            if stopped is not None:
                result = _result(name, src, dst, source, destination, _Plan("move", _prediction(stopped, kept)), check_mode=True)
                result.msg = "check mode: %s, so that the chain is in %s; nothing was written" % (_prediction(stopped, kept), destination.location)
                return result
            return _result(name, src, dst, source, destination, _decide(name, src, dst, source, destination, keep), check_mode=True)
        with source.locked(name) as src:
            with destination.locked(name) as dst:
                # Decided under both locks, on what the stores hold now.
                mover = _Mover(name, now, between)
                before = (summary(src, source), summary(dst, destination))
                stopped = _find_stopped(src, dst, source, destination)
                settled = mover.settle(stopped, kept) if stopped is not None else None
                if settled is not None and _active(dst) and not _live(src):
                    result = _result(name, src, dst, source, destination, _Plan("move", "moved to %s (%s)" % (destination.location, settled)), before=before)
                    result.changed = True
                    return result
                plan = _decide(name, src, dst, source, destination, keep)
                if plan.action == "move":
                    mover.move(src, dst, source, destination)
                elif plan.action in ("finish", "discard"):
                    mover.tombstone(src, source, destination, "moved")
                if settled is not None:
                    plan.msg = "%s; %s" % (plan.msg, settled)
                result = _result(name, src, dst, source, destination, plan, before=before)
                result.changed = settled is not None or plan.action in ("move", "finish", "discard")
                return result
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
    status = {"move": "moved", "finish": "moved", "discard": "moved"}.get(plan.action, plan.action)
    old = before or (summary(src, source), summary(dst, destination))
    msg = plan.msg
    if check_mode and status == "moved":
        msg = "check mode: would be %s; nothing was written" % plan.msg
    generation = _generation(src) if src.exists else None
    fp = _fingerprint(dst) if _live(dst) else (_fingerprint(src) if _live(src) else None)
    result = MoveResult(name, status, msg, generation=generation, refresh_fingerprint=fp, changed=check_mode and status == "moved")
    result.before = {"source": old[0], "destination": old[1]}
    if check_mode and status == "moved":
        chain = old[0] if old[0]["refresh_fingerprint"] else old[1]
        result.after = {
            "source": dict(old[0], live_chain=False, refresh_fingerprint=None, moving=None, moved_to={"store": destination.location, "at": "(now)"}),
            "destination": dict(
                old[1],
                exists=True,
                live_chain=True,
                moving=None,
                moved_to=None,
                generation=chain["generation"],
                refresh_fingerprint=chain["refresh_fingerprint"],
            ),
        }
    else:
        result.after = {"source": summary(src, source), "destination": summary(dst, destination)}
    return result


def _held_with(store: VaultStore, other: VaultStore) -> list[str]:
    """Connections of ``store`` alone that a stopped move with ``other`` holds: a reverse move must settle them too."""
    known = set(other.connections())
    found = []
    for name in store.connections():
        if name in known:
            continue
        try:
            mark = moving_mark(store.read(name).data)
        except PreauthError:
            continue  # a record this run cannot read is not one of its moves; a move of it by name says why
        if mark is not None and other.location in ((mark.get("from") or {}).get("location"), (mark.get("to") or {}).get("location")):
            found.append(name)
    return found


def move(
    source: VaultStore,
    destination: VaultStore,
    connections: t.Sequence[str] | None,
    check_mode: bool,
    now: t.Callable[[], float] = time.time,
    keep: str | None = None,
    between: t.Callable[[str, str], None] = pause_for_tests,
) -> list[MoveResult]:
    """Move the connections (None: every connection of the source store); one failure never stops the others."""
    if same_store(source, destination):
        raise MoveError("the source and the destination are the same token store (%s); choose another to_store_dir or to_store_url" % source.location)
    # The playbooks' rule for a selection: blank names are left out, and a selection that names no connection (a blank
    # preauth_only, or only commas) is a mistake to refuse, never "every connection".
    chosen = None if connections is None else [str(c).strip() for c in connections if str(c).strip()]
    if chosen is not None and not chosen:
        raise MoveError(
            "connections names no connection (%s): give the names of the connections to move, or leave connections out to move every "
            "connection of the source store; nothing was changed" % (", ".join(repr(str(c)) for c in connections or []) or "an empty list")
        )
    if keep is not None and keep not in KEEP_CHOICES:
        raise MoveError("keep must be one of %s, not %r" % (", ".join(KEEP_CHOICES), keep))
    names = chosen if chosen is not None else source.connections() + _held_with(destination, source)
    if not check_mode:
        # Rescued writes of a PostgreSQL store go back first: a move must see the latest chain.
        source.replay_rescues()
        destination.replay_rescues()
    return [move_one(name, source, destination, check_mode, now, keep, between) for name in names]
