# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The consent service's database work, with exactly the rights of its role.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

The role (``grant_consent_role`` of ``_store/consent.py``) reads invitations (not who made them, nor
whether they were collected), inserts and deletes attempts, inserts landings and reads the landing
key's public half. Nothing here touches a chain. Only hashes of the link token and of the state
reach the database; a landing is sealed before it is written.
"""

from __future__ import annotations

import contextlib
import json
import queue
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import redact_text, redact_url

try:
    import psycopg
    from psycopg.rows import dict_row

    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - the service host installs it
    HAS_PSYCOPG = False

INVITATION = "preauth_oauth2_invitation"
ATTEMPT = "preauth_oauth2_attempt"
LANDING = "preauth_oauth2_landing"
LANDING_KEY = "preauth_oauth2_landing_key"
POOL = 8
# Sign-ins in progress for one invitation (tabs, retries); more is someone with the link trying something.
MAX_ATTEMPTS = 20


class ConsentDbError(PreauthError):
    """The database could not be reached or refused a statement; the message has no password."""


def status(row: t.Mapping[str, t.Any]) -> str:
    """open, used, revoked or expired, from an invitation row with ``expired`` computed by the database's clock."""
    if row.get("used_at") is not None:
        return "used"
    if row.get("revoked_at") is not None:
        return "revoked"
    if row.get("expired"):
        return "expired"
    return "open"


class ConsentDb:
    """A small pool of connections to the store's database, as the service's role."""

    def __init__(self, url: str, size: int = POOL, connect_timeout: int = 10) -> None:
        if not HAS_PSYCOPG:
            raise ConsentDbError("the consent service needs the Python package psycopg (version 3): pip install 'psycopg[binary]'")
        self.url = url
        self.location = redact_url(url)
        self.connect_timeout = connect_timeout
        self.idle: queue.LifoQueue[t.Any] = queue.LifoQueue(maxsize=size)

    def __repr__(self) -> str:
        return "ConsentDb(%s)" % self.location

    def _error(self, exc: BaseException) -> ConsentDbError:
        return ConsentDbError(
            "the database %s failed: %s" % (self.location, redact_text(str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__, self.url))
        )

    @contextlib.contextmanager
    def session(self) -> t.Iterator[t.Any]:
        try:
            conn = self.idle.get_nowait()
        except queue.Empty:
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout, row_factory=dict_row)
            except psycopg.Error as exc:
                raise self._error(exc) from None
        try:
            yield conn
        except psycopg.Error as exc:
            raise self._error(exc) from None
        finally:
            # Back to the pool only when nothing is left open on it (a failed statement closes or aborts).
            if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                try:
                    self.idle.put_nowait(conn)
                except queue.Full:
                    conn.close()
            else:
                conn.close()

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return

    def invitation(self, token_sha256: str) -> dict[str, t.Any] | None:
        with self.session() as conn:
            return t.cast(
                "dict[str, t.Any] | None",
                conn.execute(
                    "SELECT id, connection, expires_at, revoked_at, used_at, invitee, request, expires_at <= now() AS expired "
                    "FROM preauth_oauth2_invitation WHERE token_sha256 = %s",
                    (token_sha256,),
                ).fetchone(),
            )

    def add_attempt(self, state_sha256: str, invitation: t.Any, form: t.Mapping[str, t.Any], minutes: int) -> bool:
        """Store an attempt; False (nothing stored) when the invitation already has ``MAX_ATTEMPTS`` unexpired ones.

        Attempts that expired a day ago are removed on the way: after that their callback is only a relay page.
        """
        with self.session() as conn, conn.transaction():
            conn.execute("DELETE FROM preauth_oauth2_attempt WHERE expires_at < now() - interval '1 day'")
            open_ones = conn.execute("SELECT count(*) AS n FROM preauth_oauth2_attempt WHERE invitation = %s AND expires_at > now()", (invitation,)).fetchone()
            if open_ones["n"] >= MAX_ATTEMPTS:
                return False
            conn.execute(
                "INSERT INTO preauth_oauth2_attempt (state_sha256, invitation, form, expires_at) VALUES (%s, %s, %s, now() + make_interval(mins => %s))",
                (state_sha256, invitation, json.dumps(dict(form)), minutes),
            )
            return True

    def attempt(self, state_sha256: str) -> dict[str, t.Any] | None:
        with self.session() as conn:
            return t.cast(
                "dict[str, t.Any] | None",
                conn.execute(
                    "SELECT state_sha256, invitation, form, expires_at <= now() AS late FROM preauth_oauth2_attempt WHERE state_sha256 = %s", (state_sha256,)
                ).fetchone(),
            )

    def drop_attempt(self, state_sha256: str) -> None:
        with self.session() as conn:
            conn.execute("DELETE FROM preauth_oauth2_attempt WHERE state_sha256 = %s", (state_sha256,))

    def land(
        self,
        state_sha256: str,
        invitation: t.Any,
        make: t.Callable[[dict[str, t.Any], str], tuple[bytes, dict[str, t.Any]]],
    ) -> str:
        """In one transaction: lock the invitation, check it is open, ``make(invitation, public_key)`` the landing
        (the code exchange happens there, while the row is locked), store it, mark the invitation used, drop the attempt.

        Returns the invitation's status as found ("open" when it landed now); anything ``make`` raises rolls back.
        """
        with self.session() as conn, conn.transaction():
            row = conn.execute(
                "SELECT id, connection, expires_at, revoked_at, used_at, invitee, request, expires_at <= now() AS expired "
                "FROM preauth_oauth2_invitation WHERE id = %s FOR UPDATE",
                (invitation,),
            ).fetchone()
            if row is None:
                return "unknown"
            found = status(row)
            if found != "open":
                conn.execute("DELETE FROM preauth_oauth2_attempt WHERE state_sha256 = %s", (state_sha256,))
                return found
            # The role reads this one column only; the table holds at most one row (id = 1).
            key = conn.execute("SELECT public_key FROM preauth_oauth2_landing_key").fetchone()
            if key is None:
                raise ConsentDbError("the store has no landing key; the operator makes one with the invite playbook")
            sealed, consent = make(row, key["public_key"])
            text = json.dumps(consent)
            conn.execute(
                "INSERT INTO preauth_oauth2_landing (invitation, connection, sealed, consent) VALUES (%s, %s, %s, %s)",
                (row["id"], row["connection"], sealed, text),
            )
            conn.execute("UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = %s, landed_at = now() WHERE id = %s", (text, row["id"]))
            conn.execute("DELETE FROM preauth_oauth2_attempt WHERE state_sha256 = %s", (state_sha256,))
            return "open"
