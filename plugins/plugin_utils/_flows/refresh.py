# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Keep chains alive: decide, refresh, persist - one connection at a time, many in parallel.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

For each connection, under its store lock and after re-reading the store:

1. decide: refresh when the access token has less than ``access_token_min_ttl`` seconds left,
   the refresh token's estimated life is under ``refresh_before``, a previous refresh lost its
   response, or ``force``; never inside the platform's minimum interval (Exact Online: 570 s
   after the last access token), never for a chain handed over to a host, never beyond the
   platform's daily token-call budget;
2. record an in-flight marker (the refresh token's fingerprint and time) and save it;
3. send one refresh request; on 429/503 wait as the platform says, within a hard cap on
   attempts and on waiting whatever the headers say, and never past the daily token-call budget;
4. an answer that carries a new refresh token is persisted before anything else is judged, even
   when the rest of it is refused; on an answer that says the token is spent or expired mark
   ``reauthorization_required`` (the platform's ``token_errors`` say which answers mean that, such as
   Exact Online's 401 "Old refresh token used."); on a lost answer (timeout, reset, 5xx, gateway page, an answer
   too large or too slow) keep the stored token and the marker, so the next run tries that
   token once more and learns from the platform whether it was spent.

A store may hold odd values (an older collection saved what a server sent): times that are not
times are read as unknown (``_times.seconds``), and anything else unexpected while refreshing one
connection becomes that connection's ``failed`` result; a batch always reports every connection.

Before taking the lock, the store's index (see ``_store``) may show that a connection needs
nothing: only an index that verifiably describes the store file as it is now is read, and only
the answer "unchanged" is taken from it, by the same decision as below. Everything else - a
refresh due, in flight, forced, handed over, a changed definition, a missing or stale index -
goes the full way: lock, decrypt, decide.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import Connection
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import count_failure, owner_label, token_section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_command, preauthenticate_hint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.home import StoreCopyError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthClient, OAuthError, TokenSet, fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import MOVING, PROCEED, REFRESH, SKIP, decide, moving_refusal
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import IDENTITY_FIELDS, VaultStore, definition_fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import DAY, iso, seconds

# Token requests of one connection in one run, the first included, whatever 429/503 answers say.
MAX_ATTEMPTS = 4
# The shortest wait between two of them: "Retry-After: 0" or a reset time in the past is no reason to hammer.
MIN_WAIT = 1.0
# Seconds past a request's deadline that its in-flight marker still means "being answered" (see VaultStore.lease_can_be_lost).
IN_FLIGHT_MARGIN = 60


@dataclasses.dataclass
class Policy:
    access_token_min_ttl: float = 0
    refresh_before: float = 7 * DAY
    force: bool = False
    max_wait: float = 60.0
    return_access_token: bool = False
    max_attempts: int = MAX_ATTEMPTS
    # Connections whose in-flight marker of another controller a person released (release_in_flight).
    release_in_flight: frozenset[str] = frozenset()


@dataclasses.dataclass
class ChainResult:
    connection: str
    status: str  # refreshed | unchanged | skipped | failed
    reason: str
    msg: str
    platform: str | None = None
    generation: int | None = None
    owner: str | None = None
    before: dict[str, t.Any] | None = None
    after: dict[str, t.Any] | None = None
    token_calls: int = 0
    reauthorization_required: bool = False
    access_token: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    # Values the action masks in everything it shows: the tokens and the secret of this refresh.
    secrets: list[str] = dataclasses.field(default_factory=list, repr=False)
    error_type: str | None = None

    def public(self) -> dict[str, t.Any]:
        data = {
            "connection": self.connection,
            "status": self.status,
            "reason": self.reason,
            "msg": self.msg,
            "platform": self.platform,
            "generation": self.generation,
            "owner": self.owner,
            "token_calls": self.token_calls,
            "reauthorization_required": self.reauthorization_required,
            "refresh_fingerprint": (self.after or self.before or {}).get("refresh_fingerprint"),
            "access_expires_at": (self.after or self.before or {}).get("access_expires_at"),
            "refresh_expires_at": (self.after or self.before or {}).get("refresh_expires_at"),
        }
        if self.access_token is not None:
            data["access_token"] = self.access_token
        if self.error_type is not None:
            data["error_type"] = self.error_type
        return data


def _metadata(record: Record) -> dict[str, t.Any]:
    return _token_metadata(_mapping(record.data.get("tokens")))


def _mapping(value: t.Any) -> dict[str, t.Any]:
    """A section of the store as a mapping; anything else (a hand-edited file) reads as empty."""
    return value if isinstance(value, dict) else {}


def _token_metadata(tokens: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {
        "refresh_fingerprint": tokens.get("refresh_fingerprint"),
        "access_expires_at": iso(tokens.get("access_expires_at")),
        "refresh_expires_at": iso(tokens.get("refresh_expires_at")),
    }


def _nothing_to_do(tokens: t.Mapping[str, t.Any]) -> str:
    return "nothing to do: access token valid until %s, refresh token until %s" % (
        iso(tokens.get("access_expires_at")),
        iso(tokens.get("refresh_expires_at")) or "the platform revokes it",
    )


def _duration(span: float) -> str:
    if abs(span) >= 2 * DAY:
        return "%.1f days" % (span / DAY)
    if abs(span) >= 7200:
        return "%.1f hours" % (span / 3600)
    return "%d s" % span


def _calls_today(data: t.Mapping[str, t.Any], now: float) -> int:
    calls = _mapping(data.get("token_calls"))
    count = calls.get("count")
    if calls.get("day") != int(now // DAY) or isinstance(count, bool) or not isinstance(count, int):
        return 0
    return max(0, count)


class Refresher:
    """Refreshes connections with one shared HTTP client (one session per endpoint host)."""

    def __init__(
        self,
        store: VaultStore,
        client: OAuthClient | None,
        policy: Policy,
        check_mode: bool = False,
        now: t.Callable[[], float] = time.time,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.check_mode = check_mode
        self.now = now
        self.sleep = sleep

    # -- batch -----------------------------------------------------------------------------

    def run_many(self, connections: t.Sequence[Connection | PreauthError], names: t.Sequence[str], parallel: int) -> list[ChainResult]:
        """Refresh every connection; one failure never stops the others. Order follows ``names``."""
        results: dict[str, ChainResult] = {}
        try:
            if not self.check_mode:
                self.store.replay_rescues()
            self.store.prefetch(names)
        except PreauthError as exc:
            # A store that cannot be used at all (a changed store_id, a damaged schema) fails every connection with its reason.
            return [ChainResult(name, "failed", "error", exc.msg) for name in names]

        def one(item: Connection | PreauthError, name: str) -> ChainResult:
            if isinstance(item, PreauthError):
                return ChainResult(name, "failed", "invalid_definition", item.msg)
            return self.run_one(item, index_checked=True)

        # What the verified index already shows as having nothing to do is settled here, one after the other: a
        # thread per check costs more than the check (a no-op over 10,000 connections is mostly these).
        due: list[tuple[Connection | PreauthError, str]] = []
        for item, name in zip(connections, names, strict=True):
            quick = self._quietly_unchanged(item) if isinstance(item, Connection) else None
            if quick is None:
                due.append((item, name))
            else:
                results[name] = quick
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(parallel, len(due))), thread_name_prefix="preauth-refresh") as pool:
            futures = {pool.submit(one, item, name): name for item, name in due}
            for future in concurrent.futures.as_completed(futures):
                name = futures[future]
                try:
                    results[name] = future.result()
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    results[name] = _unexpected(name, exc)
        return [results[name] for name in names]

    # -- one connection --------------------------------------------------------------------

    def run_one(self, conn: Connection, index_checked: bool = False) -> ChainResult:
        """Refresh one connection if it is due. Never raises: every failure is the connection's ``failed`` result.

        ``index_checked``: the index was asked already and did not settle it.
        """
        try:
            return self._run_one(conn, index_checked)
        except PreauthError as exc:
            return ChainResult(conn.name, "failed", "error", exc.msg, platform=conn.platform.name)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            return _unexpected(conn.name, exc, conn.platform.name)

    def _quietly_unchanged(self, conn: Connection) -> ChainResult | None:
        """``_unchanged_by_index``, with any failure left to the full path (which reports it as the connection's)."""
        try:
            return self._unchanged_by_index(conn)
        except Exception:  # pylint: disable=broad-exception-caught
            return None

    def _run_one(self, conn: Connection, index_checked: bool = False) -> ChainResult:
        quick = None if index_checked else self._unchanged_by_index(conn)
        if quick is not None:
            return quick
        if self.check_mode:
            record = self.store.read(conn.name)
            return self._decide_and_act(conn, record)
        result = None
        try:
            with self.store.locked(conn.name) as record:
                result = self._decide_and_act(conn, record)
        except PreauthError as exc:
            if result is None:
                raise
            # The write at the end of the lease failed: the result keeps what happened before it (its token calls among them).
            result.status, result.reason, result.msg = "failed", "error", exc.msg
        return result

    def _unchanged_by_index(self, conn: Connection) -> ChainResult | None:
        """The result "unchanged" from a verified index, or None: then the full path decides."""
        if self.policy.force or self.policy.return_access_token or not conn.has_secret:
            return None
        index = self.store.index(conn.name)
        if index is None:
            return None
        try:
            tokens = index["tokens"]
            owner = index["owner"]
            if (
                index["chain"] is not True
                or index["reauthorization_required"] is not False
                or index["in_flight"] is not False
                or decide({"owner": owner}, REFRESH).verdict != PROCEED
                or index["definition"] is None
                or index["definition"] != definition_fingerprint(conn.definition())
                or self._why(tokens, None, self.now()) is not None
            ):
                return None
            result = ChainResult(conn.name, "unchanged", "not_needed", "", platform=conn.platform.name, generation=index["generation"], owner="controller")
            result.before = _token_metadata(tokens)
            result.msg = _nothing_to_do(tokens)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return result

    def _decide_and_act(self, conn: Connection, record: Record) -> ChainResult:
        data = record.data
        result = ChainResult(conn.name, "failed", "", "", platform=conn.platform.name, generation=data.get("generation"))
        result.before = _metadata(record)
        owner = _mapping(data.get("owner"))
        result.owner = owner_label(data)
        tokens = _mapping(data.get("tokens"))
        moved = _mapping(data.get("moved_to"))
        if moved and not tokens.get("refresh_token"):
            # A tombstone left by preauth.oauth2.token_move: the chain lives in another store; refreshing it here would kill it.
            result.reason = "moved"
            result.msg = "the chain was moved to %s at %s; use that store (store_url/store_dir) - this store no longer refreshes it" % (
                moved.get("store"),
                iso(moved.get("at")),
            )
            return result
        held = moving_refusal(data, conn.name)
        if held is not None:
            # A move between stores stopped before it finished: both stores may hold this chain, and neither may refresh it.
            result.reason, result.msg = MOVING, held
            return result
        if not record.exists or not tokens or not tokens.get("refresh_token"):
            result.reason = "no_chain"
            revoked = [e for e in data.get("history") or [] if e.get("event") == "revoked"]
            if record.exists and revoked:
                result.msg = "the tokens were revoked at %s; preauthenticate again with %s, or remove the connection from preauth_connections" % (
                    iso(revoked[-1].get("at")),
                    preauthenticate_command(conn.name),
                )
            else:
                result.msg = "no stored chain in %s; %s to create one" % (self.store.where(conn.name), preauthenticate_hint(conn.name))
            return result
        stored = _mapping(data.get("definition"))
        current = conn.definition()
        differs = [k for k in IDENTITY_FIELDS if stored.get(k) != current.get(k)]
        if differs:
            result.reason = "definition_changed"
            result.msg = "the inventory's definition no longer matches the stored chain (%s: stored %s, inventory %s); preauthenticate again: %s" % (
                ", ".join(differs),
                ", ".join(str(stored.get(k)) for k in differs),
                ", ".join(str(current.get(k)) for k in differs),
                preauthenticate_hint(conn.name),
            )
            return result
        reauth = data.get("reauthorization_required")
        if reauth:
            result.reason = "reauthorization_required"
            result.reauthorization_required = True
            reauth = _mapping(reauth)
            result.msg = "needs a new preauthentication since %s: %s; %s" % (iso(reauth.get("since")), reauth.get("reason"), preauthenticate_hint(conn.name))
            return result
        if decide(data, REFRESH).verdict == SKIP:
            result.status, result.reason = "skipped", "owned_by_host"
            result.msg = "generation %s is owned by host %s since %s; that host's product refreshes it" % (
                owner.get("generation", data.get("generation")),
                owner.get("host"),
                iso(owner.get("since")),
            )
            return result
        if not conn.has_secret:
            result.reason = "config"
            result.msg = "client_secret is missing; keep the app's client secret in ansible-vault and pass it in the connection definition"
            return result

        now = self.now()
        in_flight = data.get("in_flight")
        marker = _mapping(in_flight)
        until = seconds(marker.get("until")) if in_flight and self.store.lease_can_be_lost else None
        if until is not None and now < until:
            # A shared store's lease ends with its database session, not with the run that held it: that run may
            # still be waiting for the answer. Presenting the same token now could make the platform void the chain.
            result.status, result.reason = "skipped", "in_flight"
            result.msg = "a refresh started at %s by another run may still be waiting for its answer; it is left to finish until %s" % (
                iso(marker.get("started_at")),
                iso(until),
            )
            return self._with_access(result, tokens)
        if in_flight and conn.rotating and self.store.lease_can_be_lost and not self.store.holds(marker):
            # Past its time the marker means "the answer was lost" only where a rescue of that answer would be seen: the
            # controller it names may keep the rotated token in its own rescue file, and the spent token must not be presented.
            if conn.name not in self.policy.release_in_flight:
                return self._held_elsewhere(conn, result, marker)
            record.add_event("in_flight_released", now, generation=data.get("generation"), holder=_holder_label(marker))
            result.warnings.append(
                "connection %s: the in-flight marker of %s was released (release_in_flight); the stored refresh token is presented once "
                "more, and if that controller kept the rotated one, the platform refuses this or revokes the chain" % (conn.name, _holder_label(marker))
            )
        why = self._why(tokens, marker if in_flight else None, now)
        if why is None:
            result.status, result.reason = "unchanged", "not_needed"
            result.msg = _nothing_to_do(tokens)
            return self._with_access(result, tokens)
        interval = conn.platform.min_refresh_interval
        obtained = seconds(tokens.get("obtained_at"))
        if interval and obtained is not None and now - obtained < interval:
            result.status, result.reason = "skipped", "too_early"
            result.msg = "%s, but %s allows a refresh only %d s after the last access token: not before %s; keeping the current access token" % (
                why,
                conn.platform.title,
                interval,
                iso(obtained + interval),
            )
            return self._with_access(result, tokens)
        if self._budget_used(conn, data, now):
            return self._over_budget(conn, result, why, now)
        if self.check_mode:
            if conn.rotating:
                try:
                    self.store.check_home()  # check mode predicts the refusal a real run would meet
                except StoreCopyError as exc:
                    result.reason, result.msg = "store_copy", exc.msg
                    return result
            result.status, result.reason = "refreshed", "would_refresh"
            result.msg = "check mode: would refresh (%s); nothing was sent or written" % why
            result.after = dict(result.before, refresh_fingerprint="(new)" if conn.rotating else result.before["refresh_fingerprint"])
            return result
        return self._refresh(conn, record, result, why)

    def _held_elsewhere(self, conn: Connection, result: ChainResult, marker: t.Mapping[str, t.Any]) -> ChainResult:
        holder = _mapping(marker.get("holder"))
        result.reason = "in_flight_elsewhere"
        result.msg = (
            "the refresh started at %s by %s lost its answer there, and only that controller can tell whether it kept the rotated refresh "
            "token in its rescue directory; presenting the stored token again from here could make the platform revoke the chain, so "
            "nothing was sent. Run ansible-playbook preauth.oauth2.refresh on that controller%s: it writes its rescue file back, or finds "
            "none and settles the chain. If that controller and its rescue directory are gone for good, release the marker from here: "
            "ansible-playbook preauth.oauth2.refresh -e preauth_release_in_flight=%s (release_in_flight on preauth.oauth2.token_refresh)"
            % (
                iso(marker.get("started_at")),
                _holder_label(marker),
                " with PREAUTH_OAUTH2_RESCUE_DIR=%s" % str(holder.get("rescue_dir"))[:300] if isinstance(holder.get("rescue_dir"), str) else "",
                conn.name,
            )
        )
        return result

    def _why(self, tokens: dict[str, t.Any], in_flight: dict[str, t.Any] | None, now: float) -> str | None:
        if in_flight is not None:
            said = "the refresh started at %s lost its answer; trying that token once more" % iso(in_flight.get("started_at"))
            # What the platform's table said a retry costs, kept in the marker by the run that lost the answer (``_failed``).
            lost = _mapping(in_flight.get("lost"))
            grace, started, title = lost.get("grace"), seconds(in_flight.get("started_at")), lost.get("platform") or "the platform"
            beyond = False
            if isinstance(grace, int) and not isinstance(grace, bool) and grace > 0 and started is not None:
                if now < started + grace:
                    return "%s, within the %d s in which %s accepts the previous refresh token (until %s), so the retry is safe" % (
                        said,
                        grace,
                        title,
                        iso(started + grace),
                    )
                beyond = True
                said += ", %s after %s's grace of %d s for the previous refresh token ended" % (_duration(now - started - grace), title, grace)
            if lost.get("spent_token") == "family_revoked":
                return "%s: if %s had rotated it, this revokes every token of the chain (reuse detection)" % (said, title)
            if lost.get("spent_token") == "refused" and beyond:
                return "%s: if %s had rotated it, it refuses it now" % (said, title)
            return said
        if self.policy.force:
            return "forced"
        # An access expiry that is not a time reads as expired: only a refresh can say when it ends.
        access_left = (seconds(tokens.get("access_expires_at")) or 0.0) - now
        # min ttl 0 (the default): an expired access token alone is no reason; the next user refreshes.
        if self.policy.access_token_min_ttl > 0 and access_left < self.policy.access_token_min_ttl:
            return "the access token %s" % ("expired %s ago" % _duration(-access_left) if access_left < 0 else "has %s left" % _duration(access_left))
        stored = tokens.get("refresh_expires_at")
        if stored is None:
            return None
        refresh_at = seconds(stored)
        if refresh_at is None:
            # Unknown is not "never": a refresh writes a readable expiry, so the chain cannot idle out unseen.
            return "the stored refresh token expiry is unreadable (%s); a refresh records it anew" % iso(stored)
        if refresh_at - now < self.policy.refresh_before:
            return "the refresh token expires in %s" % _duration(refresh_at - now)
        return None

    def _budget_used(self, conn: Connection, data: t.Mapping[str, t.Any], now: float) -> bool:
        budget = conn.platform.daily_token_budget
        return budget is not None and budget > 0 and _calls_today(data, now) >= budget

    def _over_budget(self, conn: Connection, result: ChainResult, why: str, now: float) -> ChainResult:
        result.reason = "budget"
        result.msg = "%s, but the daily budget of %s token calls is used up; the next refresh is possible after %s" % (
            why,
            conn.platform.daily_token_budget,
            iso((int(now // DAY) + 1) * DAY),
        )
        return result

    def _with_access(self, result: ChainResult, tokens: dict[str, t.Any]) -> ChainResult:
        if self.policy.return_access_token:
            result.access_token = tokens.get("access_token")
        return result

    def _count_call(self, record: Record) -> None:
        now = self.now()
        record.data["token_calls"] = {"day": int(now // DAY), "count": _calls_today(record.data, now) + 1}

    def _refresh(self, conn: Connection, record: Record, result: ChainResult, why: str) -> ChainResult:
        if self.client is None or conn.endpoints is None:
            raise PreauthError("the token endpoint of platform %s could not be resolved" % conn.platform.name)
        data = record.data
        tokens = data["tokens"]
        presented = tokens["refresh_token"]
        result.secrets.append(presented)
        previous_flight = dict(_mapping(data.get("in_flight")))
        # Decrypted only now that a request is due, and before the marker: a secret that cannot be
        # decrypted must not leave a marker for a request that was never sent.
        try:
            client_secret = conn.secret()
        except PreauthError as exc:
            result.reason, result.msg = "config", exc.msg
            return result
        if not client_secret:
            result.reason = "config"
            result.msg = "client_secret is empty; keep the app's client secret in ansible-vault and pass it in the connection definition"
            return result
        result.secrets.append(client_secret)
        if conn.rotating:
            # A copied store must not spend a rotating chain that its original also refreshes: no marker, no request.
            try:
                self.store.check_home()
            except StoreCopyError as exc:
                result.reason, result.msg = "store_copy", exc.msg
                return result
        # Who may hold the answer if this run cannot commit it; before the marker, so that no request leaves without a place for it.
        holder = self.store.in_flight_holder() if conn.rotating else None
        waited = 0.0
        while True:
            now = self.now()
            if result.token_calls and self._budget_used(conn, data, now):
                data["in_flight"] = None
                self.store.save(record)
                return self._over_budget(conn, result, why + " (rate limited, retrying)", now)
            # "until": when the request and the writes after it have certainly ended, whatever happened to this run.
            until = now + (self.client.timeout if isinstance(self.client.timeout, (int, float)) else 30.0) + IN_FLIGHT_MARGIN
            data["in_flight"] = {"fingerprint": fingerprint(presented), "started_at": round(now, 3), "until": round(until, 3)}
            if holder is not None:
                data["in_flight"]["holder"] = holder
            self._count_call(record)
            self.store.save(record)  # the marker is on disk before the request leaves
            result.token_calls += 1
            try:
                fresh = self.client.refresh(
                    conn.endpoints.token, presented, conn.client_id, client_secret, conn.client_auth, error_rules=conn.platform.token_errors
                )
                break
            except OAuthError as exc:
                if exc.rotation is not None:
                    return self._judged(result, functools.partial(self._keep_rotation, conn, record, result, exc))
                if exc.kind != "rate_limited":
                    return self._judged(result, functools.partial(self._failed, record, result, exc, previous_flight))
                data["in_flight"] = None  # answered: nothing was rotated
                wait = exc.retry_after if exc.retry_after is not None else 60 - (self.now() % 60)
                wait = max(MIN_WAIT, wait)
                if result.token_calls >= self.policy.max_attempts:
                    stop = "still rate limited after %d token calls, the most one run makes" % result.token_calls
                elif waited + wait > self.policy.max_wait:
                    stop = "beyond the waiting budget of %d s" % self.policy.max_wait
                else:
                    self.sleep(wait)
                    waited += wait
                    continue
                return self._judged(result, functools.partial(self._failed, record, result, exc, previous_flight, stop))
        return self._judged(result, functools.partial(self._persist, conn, record, result, fresh, why))

    @staticmethod
    def _judged(result: ChainResult, step: t.Callable[[], ChainResult]) -> ChainResult:
        """``step`` after a token call; a store that cannot keep its outcome fails this result, which keeps its count of token calls."""
        try:
            return step()
        except PreauthError as exc:
            result.status, result.reason, result.msg = "failed", "error", exc.msg
            return result

    def _warn(self, conn: Connection, result: ChainResult, warnings: t.Iterable[str]) -> None:
        result.warnings.extend("connection %s: the token endpoint's answer: %s" % (conn.name, w) for w in warnings)

    @staticmethod
    def _refresh_life(conn: Connection, answered: int | None) -> int | None:
        """The refresh token's life: the platform's, or the answer's when that is shorter (never longer)."""
        known = conn.platform.refresh_token_lifetime
        if answered is None:
            return known
        return answered if known is None else min(known, answered)

    def _persist(self, conn: Connection, record: Record, result: ChainResult, fresh: TokenSet, why: str) -> ChainResult:
        data = record.data
        old = data["tokens"]
        refresh_token = fresh.refresh_token or old["refresh_token"]
        result.secrets.extend(v for v in (fresh.refresh_token, fresh.access_token) if v)
        self._warn(conn, result, fresh.warnings)
        access_life = fresh.expires_in if fresh.expires_in is not None else conn.platform.access_token_lifetime
        refresh_life = self._refresh_life(conn, fresh.refresh_expires_in)
        received = fresh.received_at
        scope = fresh.scope if fresh.scope is not None else old.get("scope")
        data["tokens"] = token_section(fresh.access_token, refresh_token, fresh.token_type, scope, received, access_life, refresh_life, received)
        data["in_flight"] = None
        data["last_error"] = None
        data.pop("failures", None)
        record.add_event(
            "refreshed", received, generation=data.get("generation"), fingerprint=fingerprint(refresh_token), replaced=old.get("refresh_fingerprint")
        )
        self.store.save(record)  # persisted before the result says so
        result.status, result.reason = "refreshed", "refreshed"
        result.after = _metadata(record)
        rotated = "rotated" if refresh_token != old["refresh_token"] else "kept"
        result.msg = "refreshed (%s); refresh token %s, access token valid until %s" % (why, rotated, result.after["access_expires_at"])
        return self._with_access(result, data["tokens"])

    def _keep_rotation(self, conn: Connection, record: Record, result: ChainResult, exc: OAuthError) -> ChainResult:
        """An answer refused for another reason carried a new refresh token: store it first, then report the refusal.

        The server may have voided the presented token, so the new one is the chain now. The access
        token and its expiry stay as they were (the answer did not give a usable one).
        """
        rotation = exc.rotation
        if rotation is None:  # only called for answers that carried one
            raise ValueError("an answer without a new refresh token was taken for a rotation")
        data = record.data
        old = data["tokens"]
        result.secrets.append(rotation.refresh_token)
        self._warn(conn, result, rotation.warnings)
        received = rotation.received_at
        refresh_life = self._refresh_life(conn, rotation.refresh_expires_in)
        data["tokens"] = dict(
            old,
            refresh_token=rotation.refresh_token,
            refresh_fingerprint=fingerprint(rotation.refresh_token),
            refresh_expires_at=round(received + refresh_life, 3) if refresh_life is not None else None,
            last_refresh_at=round(received, 3),
        )
        data["in_flight"] = None
        data["last_error"] = {"at": round(self.now(), 3), "kind": exc.kind, "message": exc.msg}
        count_failure(data, self.now(), "incomplete_answer")
        record.add_event(
            "refreshed",
            received,
            generation=data.get("generation"),
            fingerprint=fingerprint(rotation.refresh_token),
            replaced=old.get("refresh_fingerprint"),
            incomplete=exc.kind,
        )
        self.store.save(record)  # the chain is safe before the answer is judged
        result.reason = "incomplete_answer"
        result.after = _metadata(record)
        result.msg = (
            "%s, but the answer carried a new refresh token: it is stored, so the chain is kept and the next run uses it; "
            "the access token was not renewed" % exc.msg
        )
        return result

    def _failed(self, record: Record, result: ChainResult, exc: OAuthError, previous_flight: dict[str, t.Any], stop: str = "") -> ChainResult:
        data = record.data
        now = round(self.now(), 3)
        data["last_error"] = {"at": now, "kind": exc.kind, "message": exc.msg}
        if exc.kind == "too_early":
            data["in_flight"] = None
            self.store.save(record)
            result.status, result.reason = "skipped", "too_early"
            result.msg = "the platform says it is too early to refresh (%s); keeping the current access token" % exc.msg
            return self._with_access(result, data["tokens"])
        if exc.kind in ("invalid_grant", "expired"):
            data["in_flight"] = None
            if previous_flight:
                reason = "the refresh at %s lost its answer after the platform had already rotated the token, and the platform now refuses it (%s)" % (
                    iso(previous_flight.get("started_at")),
                    exc.msg,
                )
            elif exc.kind == "expired":
                reason = "the refresh token expired (%s)" % exc.msg
            else:
                reason = "the platform refuses the refresh token: it was used elsewhere, revoked or expired (%s)" % exc.msg
            # kind: what the messages to people say in their own language (_notify/templates); reason is the collection's words.
            kind = "lost" if previous_flight else "expired" if exc.kind == "expired" else "refused"
            data["reauthorization_required"] = {"since": now, "reason": reason, "kind": kind}
            record.add_event("reauthorization_required", now, generation=data.get("generation"))
            self.store.save(record)
            result.reason = "reauthorization_required"
            result.reauthorization_required = True
            result.msg = "needs a new preauthentication: %s; %s" % (reason, preauthenticate_hint(result.connection))
            return result
        if exc.kind in ("invalid_client", "config"):
            data["in_flight"] = None
            count_failure(data, now, "config")
            self.store.save(record)
            result.reason = "config"
            result.msg = "%s: check client_id and client_secret of the app registration; the stored chain is unchanged" % exc.msg
            return result
        if exc.kind == "rate_limited":
            data["in_flight"] = None
            count_failure(data, now, "rate_limited")
            self.store.save(record)
            result.reason = "rate_limited"
            result.msg = "%s %s; the stored chain is unchanged, try again later" % (exc.msg, stop or "beyond the waiting budget of %d s" % self.policy.max_wait)
            return result
        if exc.kind == "oauth_error" and exc.status is not None and exc.status < 500:
            data["in_flight"] = None
            count_failure(data, now, "refused")
            self.store.save(record)
            result.reason = "refused"
            result.msg = "%s; the stored chain is unchanged" % exc.msg
            return result
        # timeout, connection, 5xx, gateway pages (Exact Online's 500 after it issued the token, I12): the platform may have
        # rotated the token. Nothing is retried in this run; the marker keeps what the platform's table says a retry costs.
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PlatformError, get_platform, lost_answer_rule, spent_token_advice

        marker = data.get("in_flight")
        try:
            rule = lost_answer_rule(get_platform(str(result.platform)))
        except PlatformError:
            rule = {}
        if isinstance(marker, dict) and rule:
            marker["lost"] = dict(rule, kind=exc.kind)
        record.add_event("refresh_lost", now, generation=data.get("generation"), kind=exc.kind)
        count_failure(data, now, "lost_response")
        self.store.save(record)
        result.reason = "lost_response"
        started = seconds(marker.get("started_at")) if isinstance(marker, dict) else None
        result.msg = (
            "%s; the platform may or may not have rotated the refresh token (outcome unknown), so nothing more is sent in this run. The stored "
            "token and an in-flight marker are kept; the next run tries that token once more and reports whether the chain survived. %s"
            % (exc.msg, spent_token_advice(rule, started) if rule else "What presenting it again costs on this platform is not known")
        )
        return result


def _holder_label(marker: t.Mapping[str, t.Any]) -> str:
    """The controller an in-flight marker names, for people (no secret in it: host, user, rescue directory)."""
    holder = _mapping(marker.get("holder"))
    if not isinstance(holder.get("id"), str):
        return "a controller this marker does not name (an older collection, or an edited record)"
    return "the controller %s@%s (rescue directory %s)" % (str(holder.get("user"))[:64], str(holder.get("host"))[:64], str(holder.get("rescue_dir"))[:300])


def _unexpected(name: str, exc: Exception, platform: str | None = None) -> ChainResult:
    """A failure nobody planned for, as the connection's result: its type, never its text (which may hold a value)."""
    result = ChainResult(
        name,
        "failed",
        "unexpected",
        "refreshing connection %s failed unexpectedly (%s); a request that was already sent keeps its in-flight marker, so the next "
        "run settles the chain. Please report this as a bug" % (name, type(exc).__name__),
        platform=platform,
    )
    result.error_type = type(exc).__name__
    return result
