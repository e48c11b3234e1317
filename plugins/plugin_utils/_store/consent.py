# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Consent invitations and their landings, as the controller sees them (PostgreSQL store only).

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Rules:

* An invitation is for one connection, single use, and expires (7 days by default, 1 to 30). Making
  one revokes the connection's other open invitations ("replaced"). The link carries a random token
  of 256 bits (``secrets.token_urlsafe(32)``); the store keeps only its SHA-256. The token is
  returned once, by ``create``, and never again.
* The consent service reads invitations and writes landings through its own database role, which
  ``grant_consent_role`` grants exactly that: never a right on ``preauth_oauth2_chain`` or
  ``preauth_oauth2_meta``.
* A landing is sealed (``landing.seal``) to the store's landing key. Its public half is plain text
  in ``preauth_oauth2_landing_key``; its private half is ansible-vault encrypted with the store's
  vault, as the chains are. The first invitation makes the key (insert if absent, then re-read, so
  two controllers agree on one key).
* Only the controller reads ``collected_at``; a landing is deleted when its chain is stored.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import typing as t
import uuid

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import landing
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - a controller without the optional driver
    psycopg = None  # type: ignore[assignment]
    sql = None  # type: ignore[assignment]

DEFAULT_DAYS = 7
MAX_DAYS = 30
TOKEN_BYTES = 32
INVITEE_FIELDS = ("first_name", "last_name", "job_title", "email", "company", "language")
REQUEST_FORMAT = 1
# What the consent service's role may do: (table, privilege, columns or None for the whole table).
CONSENT_GRANTS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("preauth_oauth2_invitation", "SELECT", ("id", "connection", "token_sha256", "expires_at", "revoked_at", "used_at", "landed_at", "invitee", "request")),
    ("preauth_oauth2_invitation", "UPDATE", ("used_at", "used_by", "landed_at")),
    ("preauth_oauth2_attempt", "SELECT", None),
    ("preauth_oauth2_attempt", "INSERT", None),
    ("preauth_oauth2_attempt", "DELETE", None),
    ("preauth_oauth2_landing", "INSERT", None),
    ("preauth_oauth2_landing_key", "SELECT", ("public_key",)),
)
MIGRATE_HOW = (
    "ansible-playbook preauth.oauth2.store_migrate -e preauth_store_dir=<store_dir> -e preauth_to_store_url=postgresql://<user>@<host>/<database>"
)


def needs_postgresql(store: t.Any, connection: str | None = None) -> StoreError:
    """The error of every entry point given a store that is not the PostgreSQL store."""
    what = "connection %s" % connection if connection else "this run"
    return StoreError(
        "consent invitations need the PostgreSQL token store, and %s uses the %s store %s; move the chains there first with %s, "
        "then point store_url (the playbooks' preauth_store_url, or PREAUTH_OAUTH2_STORE_URL) at that database"
        % (what, getattr(store, "kind", "file"), getattr(store, "location", ""), MIGRATE_HOW),
        connection,
    )


def _pg(store: t.Any, connection: str | None = None) -> t.Any:
    """The store as a PgTokenStore, or the StoreError that says how to get one."""
    if getattr(store, "kind", None) != "postgresql" or not hasattr(store, "_session"):
        raise needs_postgresql(store, connection)
    return store


def _fail(store: t.Any, what: str, exc: BaseException, connection: str | None = None) -> StoreError:
    return StoreError("cannot %s in the PostgreSQL token store %s: %s" % (what, store.location, store._reason(exc)), connection)


def grant_statements(role: str) -> list[t.Any]:
    """The GRANTs that make ``role`` the consent service's role (psycopg ``sql`` objects, the role quoted as an identifier)."""
    if sql is None:  # pragma: no cover - without the driver there is no PostgreSQL store
        raise StoreError("granting the consent service's role needs the Python package psycopg (version 3)")
    if not isinstance(role, str) or not role or len(role) > 63 or "\0" in role:
        raise StoreError("the consent service's database role must be a name of 1 to 63 characters")
    statements = []
    for table, privilege, columns in CONSENT_GRANTS:
        what: t.Any = sql.SQL(privilege)
        if columns:
            what = sql.SQL("{} ({})").format(what, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        statements.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(what, sql.Identifier(table), sql.Identifier(role)))
    return statements


def missing_grants(store: VaultStore, role: str) -> list[str]:
    """What ``role`` lacks of CONSENT_GRANTS, as ``PRIVILEGE (columns) ON table`` texts; empty when it has all of it.

    The role must exist: a role that does not is a StoreError that says who makes it.
    """
    pg = _pg(store)
    grant_statements(role)  # checks the name
    conn = pg._session()
    try:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            raise StoreError(
                "the consent service's database role %s does not exist in the PostgreSQL token store %s; the database's administrator "
                "makes it (CREATE ROLE %s LOGIN PASSWORD '...'; GRANT CONNECT ON DATABASE ... TO %s), then run this again"
                % (role, pg.location, role, role)
            )
        missing = []
        for table, privilege, columns in CONSENT_GRANTS:
            if columns:
                have = all(
                    conn.execute("SELECT has_column_privilege(%s, %s, %s, %s)", (role, table, column, privilege)).fetchone()[0] for column in columns
                )
            else:
                have = conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)).fetchone()[0]
            if not have:
                missing.append("%s%s ON %s" % (privilege, " (%s)" % ", ".join(columns) if columns else "", table))
    except psycopg.Error as exc:
        raise _fail(pg, "read the rights of the consent service's role", exc) from None
    return missing


def grant_consent_role(store: VaultStore, role: str) -> list[str]:
    """Grant ``role`` what the consent service needs and nothing more (see CONSENT_GRANTS); the statements run, as text.

    Makes (or migrates) the schema first. The role must exist; making it (CREATE ROLE ... LOGIN) is the
    database administrator's step. Nothing on the chain or meta tables is granted, so the role cannot
    read or change a chain.
    """
    pg = _pg(store)
    statements = grant_statements(role)
    conn = pg._session()
    done = []
    try:
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
                done.append(statement.as_string(conn))
    except psycopg.Error as exc:
        raise _fail(pg, "grant the consent service's role its rights", exc) from None
    return done


# -- the landing key --------------------------------------------------------------------------


def _vault_encrypt(store: t.Any, text: str) -> str:
    """``text`` ansible-vault encrypted as the chains are: the store's vault, its encrypt_vault_id."""
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import match_encrypt_secret

    secrets_loaded = store.vault.secrets
    if not secrets_loaded:
        raise StoreError(
            "no vault secret is loaded, so the landing key of the PostgreSQL token store %s cannot be made; run ansible-playbook with "
            "--ask-vault-pass or --vault-id <id>@prompt" % store.location
        )
    try:
        vault_id, secret = match_encrypt_secret(secrets_loaded, encrypt_vault_id=store.encrypt_vault_id)
    except AnsibleError:
        raise StoreError(
            "vault id '%s' is not loaded in this run, so the landing key of the PostgreSQL token store %s cannot be encrypted with it; add "
            "--vault-id %s@prompt (or a password file)" % (store.encrypt_vault_id, store.location, store.encrypt_vault_id)
        ) from None
    return bytes(store.vault.encrypt(text, secret=secret, vault_id=vault_id)).decode("ascii")


def ensure_landing_key(store: VaultStore) -> str:
    """The store's landing key's public half; made (once, whoever comes first) when the store has none."""
    pg = _pg(store)
    conn = pg._session()
    try:
        row = conn.execute("SELECT public_key FROM preauth_oauth2_landing_key WHERE id = 1").fetchone()
        if row is None:
            public, private = landing.new_key_pair()
            conn.execute(
                "INSERT INTO preauth_oauth2_landing_key (id, public_key, private_key) VALUES (1, %s, %s) ON CONFLICT (id) DO NOTHING",
                (public, _vault_encrypt(pg, private)),
            )
            row = conn.execute("SELECT public_key FROM preauth_oauth2_landing_key WHERE id = 1").fetchone()
    except psycopg.Error as exc:
        raise _fail(pg, "make the landing key", exc) from None
    return str(row[0])


def private_key(store: VaultStore, connection: str | None = None) -> str:
    """The landing key's private half, decrypted with the run's vault secrets (to open landings, then dropped)."""
    from ansible.errors import AnsibleError
    from ansible.module_utils.common.text.converters import to_text

    pg = _pg(store, connection)
    conn = pg._session(write=False)
    try:
        row = conn.execute("SELECT private_key FROM preauth_oauth2_landing_key WHERE id = 1").fetchone() if conn is not None else None
    except psycopg.Error as exc:
        raise _fail(pg, "read the landing key", exc, connection) from None
    if row is None:
        raise StoreError(
            "the PostgreSQL token store %s has no landing key, so no landing can be opened; send a new invitation with "
            "ansible-playbook preauth.oauth2.invite -e preauth_connection=%s" % (pg.location, connection or "<connection>"),
            connection,
        )
    try:
        return to_text(pg.vault.decrypt(str(row[0]).encode("ascii")))
    except (AnsibleError, UnicodeError):
        raise StoreError(
            "the landing key of the PostgreSQL token store %s does not decrypt with the vault secrets of this run; use the vault password "
            "the chains are encrypted with. The landings are kept." % pg.location,
            connection,
        ) from None


# -- invitations ------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """What the store keeps of a link's token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_days(connection: str, days: t.Any) -> int:
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise StoreError(
            "connection %s: days must be a whole number from 1 to %d, not %r; an invitation lasts %d days unless told otherwise. Nothing was "
            "changed." % (connection, MAX_DAYS, days, DEFAULT_DAYS),
            connection,
        )
    return days


def state_of(row: t.Mapping[str, t.Any], now: float) -> str:
    """open, used (consented, not collected yet), collected, revoked or expired."""
    if row.get("collected_at"):
        return "collected"
    if row.get("revoked_at"):
        return "revoked"
    if row.get("used_at"):
        return "used"
    if float(row["expires_at"]) <= now:
        return "expired"
    return "open"


_COLUMNS = (
    "id::text, connection, extract(epoch FROM created_at)::float8, created_by, extract(epoch FROM expires_at)::float8, "
    "extract(epoch FROM revoked_at)::float8, revoked_by, extract(epoch FROM used_at)::float8, used_by, extract(epoch FROM landed_at)::float8, "
    "extract(epoch FROM collected_at)::float8, invitee"
)
_NAMES = (
    "id", "connection", "created_at", "created_by", "expires_at", "revoked_at", "revoked_by", "used_at", "used_by", "landed_at", "collected_at", "invitee"
)


def _row(values: t.Sequence[t.Any], now: float) -> dict[str, t.Any]:
    row = dict(zip(_NAMES, values, strict=True))
    row["invitee"] = row["invitee"] if isinstance(row["invitee"], dict) else {}
    row["used_by"] = row["used_by"] if isinstance(row["used_by"], dict) else None
    row["state"] = state_of(row, now)
    return row


def invitations(store: VaultStore, connection: str | None = None, now: float | None = None) -> list[dict[str, t.Any]]:
    """A connection's invitations (all connections' without one), oldest first, each with its ``state``; never a token or its hash."""
    pg = _pg(store, connection)
    now = time.time() if now is None else now
    conn = pg._session(write=False)
    if conn is None or pg.schema_version < 2:
        return []
    try:
        if connection is None:
            rows = conn.execute("SELECT %s FROM preauth_oauth2_invitation ORDER BY created_at, id" % _COLUMNS).fetchall()
        else:
            rows = conn.execute(
                "SELECT %s FROM preauth_oauth2_invitation WHERE connection = %%s ORDER BY created_at, id" % _COLUMNS, (check_connection_name(connection),)
            ).fetchall()
    except psycopg.Error as exc:
        raise _fail(pg, "read the invitations", exc, connection) from None
    return [_row(r, now) for r in rows]


def create_invitation(
    store: VaultStore,
    connection: str,
    invitee: t.Mapping[str, t.Any],
    request: t.Mapping[str, t.Any],
    days: int = DEFAULT_DAYS,
    created_by: str | None = None,
    now: float | None = None,
) -> tuple[dict[str, t.Any], str, list[str]]:
    """A new invitation for ``connection``: (its row, the link's token, the ids of the open ones it replaced).

    The token is returned here only; the store keeps its hash. Replacing and inserting is one transaction.
    """
    pg = _pg(store, connection)
    check_connection_name(connection)
    days = check_days(connection, days)
    now = time.time() if now is None else now
    ensure_landing_key(pg)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ident = str(uuid.uuid4())
    clean = {k: str(invitee[k]) for k in INVITEE_FIELDS if invitee.get(k)}
    conn = pg._session()
    try:
        with conn.transaction():
            replaced = conn.execute(
                "UPDATE preauth_oauth2_invitation SET revoked_at = to_timestamp(%s), revoked_by = %s WHERE connection = %s AND revoked_at IS NULL "
                "AND used_at IS NULL AND expires_at > to_timestamp(%s) RETURNING id::text",
                (now, "replaced by invitation %s" % ident, connection, now),
            ).fetchall()
            conn.execute(
                "INSERT INTO preauth_oauth2_invitation (id, connection, token_sha256, created_at, created_by, expires_at, invitee, request) "
                "VALUES (%s, %s, %s, to_timestamp(%s), %s, to_timestamp(%s), %s::jsonb, %s::jsonb)",
                (ident, connection, token_hash(token), now, created_by, now + days * 86400, json.dumps(clean), json.dumps(dict(request), sort_keys=True)),
            )
            row = conn.execute("SELECT %s FROM preauth_oauth2_invitation WHERE id = %%s" % _COLUMNS, (ident,)).fetchone()
    except psycopg.Error as exc:
        raise _fail(pg, "make an invitation for connection %s" % connection, exc, connection) from None
    return _row(row, now), token, sorted(r[0] for r in replaced)


def revoke_invitations(store: VaultStore, connection: str, revoked_by: str | None = None, now: float | None = None) -> list[str]:
    """Revoke the connection's open (unused, unexpired) invitations; their ids."""
    pg = _pg(store, connection)
    now = time.time() if now is None else now
    conn = pg._session()
    try:
        rows = conn.execute(
            "UPDATE preauth_oauth2_invitation SET revoked_at = to_timestamp(%s), revoked_by = %s WHERE connection = %s AND revoked_at IS NULL "
            "AND used_at IS NULL AND expires_at > to_timestamp(%s) RETURNING id::text",
            (now, revoked_by, check_connection_name(connection), now),
        ).fetchall()
    except psycopg.Error as exc:
        raise _fail(pg, "revoke the invitations of connection %s" % connection, exc, connection) from None
    return sorted(r[0] for r in rows)


# -- landings ---------------------------------------------------------------------------------


def open_landings(store: VaultStore, connections: t.Sequence[str] | None = None) -> list[dict[str, t.Any]]:
    """The landings waiting for the controller (of these connections, by the landing's or its invitation's), in one query.

    Each: invitation (id), connection (the landing's), invitation_connection, sealed, consent, landed_at, revoked, used.
    An empty list for a store that has no invitation tables yet (nothing was ever invited).
    """
    pg = _pg(store)
    conn = pg._session(write=False)
    if conn is None or pg.schema_version < 2:
        return []
    query = (
        "SELECT l.invitation::text, l.connection, i.connection, l.sealed, l.consent, extract(epoch FROM l.landed_at)::float8, "
        "i.revoked_at IS NOT NULL, i.used_at IS NOT NULL FROM preauth_oauth2_landing l JOIN preauth_oauth2_invitation i ON i.id = l.invitation"
    )
    try:
        if connections is None:
            rows = conn.execute(query + " ORDER BY l.landed_at").fetchall()
        else:
            names = [check_connection_name(n) for n in connections]
            rows = conn.execute(query + " WHERE l.connection = ANY(%s) OR i.connection = ANY(%s) ORDER BY l.landed_at", (names, names)).fetchall()
    except psycopg.Error as exc:
        raise _fail(pg, "read the landings", exc) from None
    names_ = ("invitation", "connection", "invitation_connection", "sealed", "consent", "landed_at", "revoked", "used")
    found = []
    for r in rows:
        item = dict(zip(names_, r, strict=True))
        item["sealed"] = bytes(item["sealed"])
        item["consent"] = item["consent"] if isinstance(item["consent"], dict) else {}
        found.append(item)
    return found


def finish_landing(store: VaultStore, invitation: str, connection: str, now: float | None = None) -> None:
    """After its chain is stored: delete the landing and mark the invitation collected, in one transaction."""
    pg = _pg(store, connection)
    now = time.time() if now is None else now
    conn = pg._session()
    try:
        with conn.transaction():
            conn.execute("DELETE FROM preauth_oauth2_landing WHERE invitation = %s", (invitation,))
            conn.execute("UPDATE preauth_oauth2_invitation SET collected_at = to_timestamp(%s) WHERE id = %s", (now, invitation))
    except psycopg.Error as exc:
        raise StoreError(
            "connection %s: the chain of invitation %s is stored, but its landing could not be removed (%s); the next run sees that the chain "
            "is already stored and removes it" % (connection, invitation, pg._reason(exc)),
            connection,
        ) from None


def overview(store: VaultStore, connections: t.Sequence[str] | None = None, now: float | None = None) -> dict[str, dict[str, t.Any]]:
    """Per connection, in one query: its open invitations (count, latest expiry), landings waiting, and who consented last.

    Empty for a store that is not PostgreSQL or has no invitation tables: a report asks it of every store.
    """
    if getattr(store, "kind", None) != "postgresql":
        return {}
    now = time.time() if now is None else now
    found: dict[str, dict[str, t.Any]] = {}
    for row in invitations(store, None, now):
        if connections is not None and row["connection"] not in connections:
            continue
        entry = found.setdefault(row["connection"], {"open": 0, "open_until": None, "waiting": 0, "last_consent": None})
        if row["state"] == "open":
            entry["open"] += 1
            entry["open_until"] = max(entry["open_until"] or 0, row["expires_at"])
        if row["state"] == "used":
            entry["waiting"] += 1
        if row["used_at"] and (entry["last_consent"] is None or row["used_at"] >= entry["last_consent"]["at"]):
            who = row["used_by"] or {}
            entry["last_consent"] = {"at": row["used_at"], "invitation": row["id"], **{k: who.get(k) for k in ("first_name", "last_name", "email", "company")}}
    return found
