# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The PostgreSQL token store: one store that several controllers share.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A row per connection in ``preauth_oauth2_chain`` holds the same ansible-vault encrypted YAML
document as a file store's ``<connection>.yml``: a database administrator, a replica or a dump sees
ciphertext only. Beside it, the non-secret index (expiry times, owner, flags, generation, the
definition's fingerprint) as canonical JSON with its HMAC (keyed from the vault secret, salted with
the store's random id), and copies of its fields in plain columns for people who query the table.
Only ``facts`` with a valid ``mac`` whose signed body names the SHA-256 of the row's document as
it is now is believed, exactly as a file store's index; a run with nothing to do reads every
wanted row's facts in one query and decrypts nothing.

Single flight across controllers: ``locked`` takes a session-level advisory lock for the
connection, held from the read through every write of the decide -> mark in-flight -> POST ->
persist sequence, and released when the block ends or the controller's session dies. Every write
is a compare-and-swap on the SHA-256 of the document the record was read or last written as, so a
writer whose lock was lost with its session can never overwrite what another controller wrote since.

When a write cannot be committed (the session was killed, the server went away), the connection is
tried again on a new session (the compare-and-swap keeps that safe); if that fails too, the exact
ciphertext is kept in a local rescue file (0600, in a 0700 directory, still vault-encrypted) and
written to the database by the next run that opens the store, loudly, and only onto the document it
was derived from.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import math
import os
import re
import threading
import time
import typing as t
import urllib.parse
import uuid

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.home import ADOPT_HOW, StoreCopyError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.rescue import RescueDir
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import CONNECTION_NAME, VaultLike, VaultStore, check_connection_name

try:
    import psycopg
except ImportError:  # pragma: no cover - a controller without the optional driver
    psycopg = None  # type: ignore[assignment]

SCHEMA_VERSION = 2
STORE_URL_ENV = "PREAUTH_OAUTH2_STORE_URL"
RESCUE_DIR_ENV = "PREAUTH_OAUTH2_RESCUE_DIR"
DEFAULT_RESCUE_DIR = "~/.local/state/preauth.oauth2/rescue"
APPLICATION_NAME = "preauth.oauth2"
RESCUE_FORMAT = 1
# A write that lost its session is tried on a new one this often before the rescue file.
WRITE_ATTEMPTS = 3
CONNECT_TIMEOUT = 10

# The schema, versioned in preauth_oauth2_meta. Created by the first run that opens the store; a
# newer version than this code knows is refused rather than written with old rules.
_SCHEMA_V1 = (
    """CREATE TABLE preauth_oauth2_chain (
        connection text PRIMARY KEY CHECK (connection ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$'),
        document bytea NOT NULL,
        document_sha256 text NOT NULL,
        facts text,
        mac text,
        vault_id text,
        generation integer,
        owner_kind text,
        owner_host text,
        has_chain boolean,
        in_flight boolean,
        reauthorization_required boolean,
        access_expires_at double precision,
        refresh_expires_at double precision,
        definition_sha256 text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
    )""",
    "COMMENT ON TABLE preauth_oauth2_chain IS 'preauth.oauth2 token store: document is ansible-vault ciphertext; "
    "only facts with a valid mac are trusted, the other columns are informational copies'",
)
# Version 2: consent invitations and their landings (see _store/consent.py). The consent service's
# database role gets column grants on these tables only (consent.grant_statements), never the chain.
_SCHEMA_V2 = (
    """CREATE TABLE preauth_oauth2_invitation (
        id uuid PRIMARY KEY,
        connection text NOT NULL CHECK (connection ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$'),
        token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_by text,
        used_at timestamptz,
        used_by jsonb,
        landed_at timestamptz,
        collected_at timestamptz,
        invitee jsonb NOT NULL DEFAULT '{}'::jsonb,
        request jsonb NOT NULL DEFAULT '{}'::jsonb
    )""",
    "CREATE INDEX preauth_oauth2_invitation_connection ON preauth_oauth2_invitation (connection, created_at)",
    """CREATE TABLE preauth_oauth2_attempt (
        state_sha256 text PRIMARY KEY CHECK (state_sha256 ~ '^[0-9a-f]{64}$'),
        invitation uuid NOT NULL REFERENCES preauth_oauth2_invitation (id) ON DELETE CASCADE,
        form jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )""",
    """CREATE TABLE preauth_oauth2_landing (
        invitation uuid PRIMARY KEY REFERENCES preauth_oauth2_invitation (id) ON DELETE CASCADE,
        connection text NOT NULL CHECK (connection ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$'),
        sealed bytea NOT NULL CHECK (octet_length(sealed) <= 65536),
        consent jsonb NOT NULL DEFAULT '{}'::jsonb,
        landed_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE preauth_oauth2_landing_key (
        id integer PRIMARY KEY CHECK (id = 1),
        public_key text NOT NULL,
        private_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    "COMMENT ON TABLE preauth_oauth2_invitation IS 'preauth.oauth2 consent invitations: only the SHA-256 of each link''s token is kept'",
    "COMMENT ON TABLE preauth_oauth2_landing IS 'preauth.oauth2 landings: tokens sealed to preauth_oauth2_landing_key.public_key; "
    "only a controller with the vault password opens them'",
    "COMMENT ON TABLE preauth_oauth2_landing_key IS 'preauth.oauth2 landing key: private_key is ansible-vault ciphertext'",
)
# Each version's statements, applied in order under the schema lock by the first run that opens an older store.
_MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2}
# Any fixed 64-bit number names the schema lock; the per-connection leases hash their names.
_SCHEMA_LOCK = 0x7072656175746832
# store_id names rescue files and salts the facts' key: anything but a UUID is a changed table, not ours.
_STORE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HOME_FORMAT = 1
HOME_MAX_BYTES = 65536
HOME_HISTORY = 10
RESCUE_MAX_BYTES = 4 * 1024 * 1024
# Query parameters whose values are shown in messages; any other value (password, options, ...) is hidden.
_SHOWN_PARAMETERS = frozenset(
    ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "connect_timeout", "target_session_attrs", "application_name", "gssencmode",
     "channel_binding", "host", "hostaddr", "port", "dbname", "user", "load_balance_hosts", "sslnegotiation")
)
# A libpq URI as the store shows it: scheme, optional user (and password), hosts, database, parameters.
_URI = re.compile(
    r"(?P<scheme>postgres(?:ql)?)://(?:(?P<user>[A-Za-z0-9._~%!$&'()*+;=-]*)(?::[^@/?#]*)?@)?(?P<hosts>[A-Za-z0-9.%:\[\],_-]*)"
    r"(?P<path>/[^?#]*)?(?:\?(?P<query>[^#]*))?"
)
# libpq quotes what it cannot parse, the whole URI included; such a quote is never shown.
_QUOTED = re.compile(r'"[^"]*"')
_URI_LIKE = re.compile(r"://|@|password", re.IGNORECASE)
_PASSWORD_SETTING = re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s#]*)")


def _lease_key(connection: str) -> int:
    """A signed 64-bit advisory lock key for the connection (a collision only serializes two connections)."""
    return int.from_bytes(hashlib.sha256(b"preauth.oauth2 lease\0" + connection.encode("utf-8")).digest()[:8], "big", signed=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def redact_url(url: str) -> str:
    """The store URL as messages show it: no password, and no parameter value that is not known to be harmless.

    Built from the parts of a URI of the expected shape only; anything else is not shown at all,
    because a password can hide in text that libpq reads in other ways than a URI parser.
    """
    found = _URI.fullmatch(url) if isinstance(url, str) else None
    if found is None:
        return "postgresql://(a store URL that cannot be parsed; not shown)"
    shown = "%s://%s%s%s" % (found["scheme"], found["user"] + "@" if found["user"] else "", found["hosts"], found["path"] or "")
    if found["query"]:
        pairs = []
        for pair in found["query"].split("&"):
            key, _sep, value = pair.partition("=")
            key = urllib.parse.unquote(key)
            pairs.append("%s=%s" % (urllib.parse.quote(key, safe=""), value if key.lower() in _SHOWN_PARAMETERS else "********"))
        shown += "?" + "&".join(pairs)
    return shown


def _secrets_of(url: str) -> list[str]:
    """Every text in the URL that libpq could take for a password, as written and decoded, longest first."""
    found: set[str] = set()
    head = url.split("://", 1)[1] if "://" in url else url
    userinfo = head.split("/", 1)[0].split("?", 1)[0]
    if "@" in userinfo:
        user = userinfo.rsplit("@", 1)[0]
        if ":" in user:
            found.add(user.split(":", 1)[1])
    for match in _PASSWORD_SETTING.finditer(url):
        found.add(match.group(2))
    found |= {urllib.parse.unquote(value) for value in found} | {value.strip("'") for value in found}
    return sorted((value for value in found if value), key=len, reverse=True)


def redact_text(text: str, url: str) -> str:
    """``text`` (a driver's or server's message) without the store URL, its passwords, or libpq's quote of the URI."""
    if url:
        text = text.replace(url, redact_url(url))
    for value in _secrets_of(url or ""):
        text = text.replace(value, "********")
    text = _QUOTED.sub(lambda m: '"(the store URL, not shown)"' if _URI_LIKE.search(m.group(0)) else m.group(0), text)
    return _PASSWORD_SETTING.sub(lambda m: m.group(1) + "********", text)


def check_store_url(url: str) -> str:
    if not isinstance(url, str) or not re.fullmatch(r"postgres(ql)?://[^\s]*", url):
        raise StoreError(
            "store_url must be a PostgreSQL connection URI such as postgresql://preauth@db.example.com/preauth?sslmode=verify-full, "
            "not %s; the password comes from PGPASSWORD or ~/.pgpass" % ("an empty value" if not url else "a value of another form")
        )
    return url


def _no_driver() -> StoreError:
    return StoreError(
        "store_url selects the PostgreSQL token store, which needs the Python package psycopg (version 3) on the controller; install it "
        "with: python3 -m pip install 'psycopg[binary]>=3.1' (in an execution environment, add it to the python requirements)"
    )


class PgTokenStore(VaultStore):
    """The PostgreSQL store, with the interface of the file store (read, locked, save, index, connections)."""

    kind = "postgresql"
    lease_can_be_lost = True

    def __init__(
        self,
        url: str,
        vault: VaultLike,
        encrypt_vault_id: str | None = None,
        lock_timeout: float = 120.0,
        rescue_dir: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(vault, encrypt_vault_id, lock_timeout)
        if psycopg is None:
            raise _no_driver()
        self.url = check_store_url(url)
        self.location = redact_url(url)
        self.rescue_dir = os.path.abspath(os.path.expanduser(rescue_dir or os.environ.get(RESCUE_DIR_ENV) or DEFAULT_RESCUE_DIR))
        self.connect_timeout = connect_timeout
        self.store_id: str | None = None
        self.schema_version = 0
        self._local = threading.local()
        self._all: list[t.Any] = []
        self._all_lock = threading.Lock()
        self._facts: dict[str, tuple[str | None, str | None, str]] = {}
        self._rescued = False
        self._home: dict[str, t.Any] | None = None
        self._here: dict[str, t.Any] | None = None
        self._home_problem: str | None = None
        self._home_unrecorded = False

    @property
    def rescue_dir(self) -> str:
        return self.rescue.path

    @rescue_dir.setter
    def rescue_dir(self, path: str) -> None:
        self.rescue = RescueDir(path)

    # -- where -----------------------------------------------------------------------------

    def where(self, connection: str) -> str:
        return "connection %s of the PostgreSQL token store %s" % (check_connection_name(connection), self.location)

    def exists(self) -> bool:
        return self._session(write=False) is not None

    # -- sessions --------------------------------------------------------------------------

    def _connect(self) -> t.Any:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)), application_name=APPLICATION_NAME)
        except psycopg.Error as exc:
            raise StoreError("cannot connect to the PostgreSQL token store %s: %s" % (self.location, self._reason(exc))) from None
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _reason(self, exc: BaseException) -> str:
        """The server's or driver's reason, first line only, without the password or URL parameters."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return redact_text(text, self.url)[:300]

    def _session(self, write: bool = True) -> t.Any:
        """This thread's session, schema checked; None when ``write`` is false and the schema does not exist yet."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        if self.store_id is None:
            self.store_id = self._schema(conn, create=write)
            if self.store_id is None:
                return None
        elif write and self.schema_version < SCHEMA_VERSION:
            self._schema(conn, create=True)
        elif write and self._home_unrecorded:
            self._record_home(conn, self._here or self._place(conn))
        return conn

    def _schema(self, conn: t.Any, create: bool) -> str | None:
        """The store's id; creates the schema (once, under a lock) when ``create``. Refuses a newer schema."""
        try:
            with conn.transaction():
                if create:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    conn.execute("CREATE TABLE IF NOT EXISTS preauth_oauth2_meta (name text PRIMARY KEY, value text NOT NULL)")
                elif conn.execute("SELECT to_regclass('preauth_oauth2_meta')").fetchone()[0] is None:
                    return None
                rows = dict(conn.execute("SELECT name, value FROM preauth_oauth2_meta").fetchall())
                version = rows.get("schema_version")
                if version is None:
                    if not create:
                        return None
                    for number in sorted(_MIGRATIONS):
                        for statement in _MIGRATIONS[number]:
                            conn.execute(statement)
                    store_id = str(uuid.uuid4())
                    conn.execute(
                        "INSERT INTO preauth_oauth2_meta (name, value) VALUES ('schema_version', %s), ('store_id', %s), ('home', %s)",
                        (str(SCHEMA_VERSION), store_id, _home_text(self._place(conn), time.time())),
                    )
                    self.schema_version = SCHEMA_VERSION
                    return store_id
                if not version.isdigit() or int(version) > SCHEMA_VERSION:
                    raise StoreError(
                        "the PostgreSQL token store %s has schema version %s, newer than this collection knows (%d); nothing was changed. "
                        "Upgrade preauth.oauth2 on this controller." % (self.location, version[:20], SCHEMA_VERSION)
                    )
                # A read-only look at an older store reads its chains as they are; the first write migrates it.
                self.schema_version = int(version)
                if int(version) < SCHEMA_VERSION and create:
                    self._migrate(conn, int(version))
                    self.schema_version = SCHEMA_VERSION
                found = rows.get("store_id")
                if not isinstance(found, str) or not _STORE_ID.fullmatch(found):
                    raise StoreError(
                        "the PostgreSQL token store %s has %s in preauth_oauth2_meta, where the random id made with the store belongs "
                        "(a UUID); it names the rescue files and keys the signed facts, so the store is not used and nothing was changed. "
                        "Put back the id from a backup of the database, or ask its administrator who changed preauth_oauth2_meta"
                        % (self.location, "no store_id" if found is None else "a store_id that is not a UUID")
                    )
                self._home_problem = self._check_place(conn, rows.get("home"), create)
                return found
        except psycopg.Error as exc:
            raise StoreError(
                "cannot use the PostgreSQL token store %s: %s. The role needs to own the database or have CREATE on its schema the first "
                "time, then SELECT, INSERT, UPDATE, DELETE on preauth_oauth2_chain and preauth_oauth2_meta" % (self.location, self._reason(exc))
            ) from None

    def _migrate(self, conn: t.Any, version: int) -> None:
        """Bring an older schema up to SCHEMA_VERSION, inside the caller's transaction and schema lock."""
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[number]:
                conn.execute(statement)
        conn.execute("UPDATE preauth_oauth2_meta SET value = %s WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))

    # -- where the database lives (its home) -------------------------------------------------

    @staticmethod
    def _place(conn: t.Any) -> dict[str, t.Any]:
        """This database: its name and OID, and the cluster's system identifier where the role may read it."""
        name, oid = conn.execute("SELECT current_database(), oid::bigint FROM pg_database WHERE datname = current_database()").fetchone()
        cluster = None
        if conn.execute("SELECT has_function_privilege('pg_control_system()', 'EXECUTE')").fetchone()[0]:
            cluster = str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
        return {"cluster": cluster, "database": name, "database_oid": int(oid)}

    def _check_place(self, conn: t.Any, recorded: str | None, create: bool) -> str | None:
        """Why this database is not the store's home (a copy), or None. A store older than the record is at home here."""
        place = self._place(conn)
        self._here = place
        if recorded is None:
            self._home_unrecorded = True
            if create:
                self._record_home(conn, place)
            return None
        home = _parse_home(recorded)
        self._home = home
        if home is None:
            return (
                "the home record of the PostgreSQL token store %s (preauth_oauth2_meta, name 'home') is damaged, so this store cannot tell "
                "whether it is the original or a copy; rotating chains are not refreshed or handed over from it, and nothing was sent or "
                "changed. If this database is the only one in use, adopt it: %s" % (self.location, ADOPT_HOW)
            )
        known = [key for key in ("cluster", "database_oid", "database") if home.get(key) is not None and place.get(key) is not None]
        differs = [key for key in known if home[key] != place[key]]
        if not differs:
            return None
        return (
            "the PostgreSQL token store %s is a copy: it was set up as %s, and this is %s (%s differ). A copy (CREATE DATABASE ... TEMPLATE, a "
            "dump restored into another database or server, a replica promoted beside its primary) holds the same rotating refresh tokens as "
            "its original, and when both refresh, the platform revokes the chains. Rotating chains are not refreshed or handed over from here, "
            "and nothing was sent or changed. If this database is now the only one in use (the original is gone or no longer used by any "
            "controller), adopt it here once: %s. Otherwise point store_url back at the original and remove this copy"
            % (self.location, _describe_place(home), _describe_place(place), ", ".join(differs).replace("database_oid", "database OID"), ADOPT_HOW)
        )

    def _record_home(self, conn: t.Any, place: dict[str, t.Any]) -> None:
        """Write the home record of a store older than it: it is at home where it is first written."""
        try:
            conn.execute("INSERT INTO preauth_oauth2_meta (name, value) VALUES ('home', %s) ON CONFLICT (name) DO NOTHING", (_home_text(place, time.time()),))
        except psycopg.Error as exc:
            raise StoreError("cannot write the home record of the PostgreSQL token store %s: %s" % (self.location, self._reason(exc))) from None
        self._home_unrecorded = False

    def check_home(self) -> None:
        """StoreCopyError when this database is a copy of the store found away from its home (see ``_check_place``)."""
        if self._session(write=False) is not None and self._home_problem:
            raise StoreCopyError(self._home_problem)

    def adopt(self, check_mode: bool = False) -> dict[str, t.Any]:
        """Make this database the store's home; ``changed``, ``from`` and ``to`` (``host``: the cluster, ``path``: the database)."""
        conn = self._session(write=not check_mode)
        if conn is None:
            return {"changed": False, "from": None, "to": None}
        place = self._here or self._place(conn)
        if not self._home_problem:
            return {"changed": False, "from": None, "to": _adopt_view(place)}
        home = self._home
        result = {"changed": True, "from": _adopt_view(home) if home is not None else None, "to": _adopt_view(place)}
        if check_mode:
            return result
        now = time.time()
        body = json.loads(_home_text(place, now))
        earlier = [entry for entry in (home or {}).get("adopted_from") or [] if isinstance(entry, dict)]
        left = {k: (home or {}).get(k) for k in ("cluster", "database", "database_oid", "created_at")} if home is not None else {"damaged": True}
        body["adopted_from"] = (earlier + [dict(left, left_at=round(now, 3))])[-HOME_HISTORY:]
        body["adopted_at"] = round(now, 3)
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(
                    "INSERT INTO preauth_oauth2_meta (name, value) VALUES ('home', %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    (json.dumps(body, sort_keys=True),),
                )
        except psycopg.Error as exc:
            raise StoreError("cannot write the home record of the PostgreSQL token store %s: %s" % (self.location, self._reason(exc))) from None
        self._home, self._home_problem = body, None
        return result

    def _drop_session(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._all_lock:
            sessions, self._all = self._all, []
        for conn in sessions:
            with contextlib.suppress(Exception):
                conn.close()

    def _index_salt(self, vault_id: str) -> bytes:
        # Salted with the store's random id: a key computed for one store fits no other.
        return b"preauth.oauth2 token store index\0postgresql:%s\0%s" % (str(self.store_id).encode("utf-8"), vault_id.encode("utf-8"))

    # -- reading ---------------------------------------------------------------------------

    def connections(self) -> list[str]:
        conn = self._session(write=False)
        if conn is None:
            return []
        try:
            rows = conn.execute("SELECT connection FROM preauth_oauth2_chain ORDER BY connection").fetchall()
        except psycopg.Error as exc:
            raise StoreError("cannot list the PostgreSQL token store %s: %s" % (self.location, self._reason(exc))) from None
        return [name for (name,) in rows if CONNECTION_NAME.fullmatch(name)]

    def _fetch(self, conn: t.Any, connection: str) -> bytes | None:
        row = conn.execute("SELECT document FROM preauth_oauth2_chain WHERE connection = %s", (connection,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def _record(self, connection: str, b_data: bytes | None) -> Record:
        if b_data is None:
            return Record(connection, None, None)
        data, vault_id, secret = self._decrypt(connection, self.where(connection), b_data)
        return Record(connection, data, vault_id, secret, (len(b_data), 0, _sha256(b_data)))

    def read(self, connection: str) -> Record:
        """Decrypt the connection's record without the lease (for reports and check mode)."""
        check_connection_name(connection)
        conn = self._session(write=False)
        if conn is None:
            return Record(connection, None, None)
        try:
            b_data = self._fetch(conn, connection)
        except psycopg.Error as exc:
            raise StoreError("cannot read %s: %s" % (self.where(connection), self._reason(exc))) from None
        return self._record(connection, b_data)

    def prefetch(self, names: t.Sequence[str]) -> None:
        """Every wanted row's facts in one query."""
        conn = self._session(write=False)
        if conn is None:
            return
        wanted = [n for n in names if isinstance(n, str) and CONNECTION_NAME.fullmatch(n)]
        try:
            rows = conn.execute(
                "SELECT connection, facts, mac, encode(sha256(document), 'hex') FROM preauth_oauth2_chain WHERE connection = ANY(%s)",
                (wanted,),
            ).fetchall()
        except psycopg.Error:
            return  # no facts: every connection reads its row
        self._facts.update({name: (facts, mac, digest) for name, facts, mac, digest in rows})

    def index(self, connection: str) -> dict[str, t.Any] | None:
        """The verified facts of the connection's row (see the module's docstring), else None."""
        try:
            found = self._facts.pop(connection, None)
            if found is None:
                conn = self._session(write=False)
                if conn is None:
                    return None
                row = conn.execute(
                    "SELECT facts, mac, encode(sha256(document), 'hex') FROM preauth_oauth2_chain WHERE connection = %s", (connection,)
                ).fetchone()
                if row is None:
                    return None
                found = (row[0], row[1], row[2])
            facts, mac, digest = found
            if not isinstance(facts, str) or not isinstance(mac, str) or not isinstance(digest, str):
                return None
            body = self._verified_facts(connection, facts, mac)
            # Signed facts name the document they describe: facts put back beside a newer document (or an older one) are not believed.
            if body is None or not hmac.compare_digest(str(body["store"].get("sha256")), digest):
                return None
        except (psycopg.Error, StoreError, ValueError, TypeError, RecursionError, AttributeError):
            return None
        return body

    # -- the lease and writing -------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, connection: str) -> t.Iterator[Record]:
        """Hold the connection's lease (a session advisory lock); yield its record; write it back if it changed."""
        check_connection_name(connection)
        with self._lease(connection) as conn:
            self._replay(conn, connection)
            try:
                record = self._record(connection, self._fetch(conn, connection))
            except psycopg.Error as exc:
                raise StoreError("cannot read %s: %s" % (self.where(connection), self._reason(exc))) from None
            yield record
            self.save(record)

    @contextlib.contextmanager
    def _lease(self, connection: str) -> t.Iterator[t.Any]:
        """This thread's session, holding the connection's advisory lock until the block ends (or the session dies)."""
        conn = self._session()
        key = _lease_key(connection)
        self._acquire(conn, key, connection)
        try:
            yield conn
        finally:
            if not conn.closed and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _acquire(self, conn: t.Any, key: int, connection: str) -> None:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    return
            except psycopg.Error as exc:
                raise StoreError("cannot take the lease of %s: %s" % (self.where(connection), self._reason(exc))) from None
            if time.monotonic() >= deadline:
                raise StoreError(
                    "%s is leased by another run for more than %d s (another controller or job is refreshing it); wait for that run to "
                    "finish and try again" % (self.where(connection), self.lock_timeout),
                    connection,
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def save(self, record: Record) -> bool:
        """Encrypt and write the record if its content changed: a compare-and-swap on the document it was read as.

        A lost session is tried again on a new one; when that fails too, the ciphertext goes to the
        rescue file and StoreError says so. Call within ``locked``.
        """
        new = self._ciphertext(record)
        if new is None:
            return False
        data, b_ciphertext = new
        base = record.source[2] if record.source is not None and record.exists else None
        problem = ""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                conn = self._session()
                written = self._swap(conn, record, data, b_ciphertext, base)
            except (psycopg.Error, StoreError) as exc:
                problem = exc.msg if isinstance(exc, StoreError) else self._reason(exc)
                self._drop_session()  # a new session next time; the compare-and-swap keeps writing without the lease safe
                if attempt + 1 < WRITE_ATTEMPTS:
                    self.warnings.append("%s: a write failed (%s); trying again on a new database session" % (self.where(record.connection), problem))
                    time.sleep(min(2.0, 0.25 * 2**attempt))
                continue
            if written:
                return True
            problem = "another run changed it since this run read it (its lease was lost with its database session)"
            break
        rescue = self._rescue(record, b_ciphertext, base)
        record.original = copy.deepcopy(data)  # kept in the rescue file: the end of the lease must not write (or rescue) it again
        raise StoreError(
            "could not write %s: %s. The new content (vault-encrypted) is kept in the rescue file %s; the next run against this store writes it "
            "to the database before anything else, or says why it cannot. Do not delete that file: it may hold the only copy of a rotated "
            "refresh token." % (self.where(record.connection), problem, rescue)
        )

    def _swap(self, conn: t.Any, record: Record, data: dict[str, t.Any], b_ciphertext: bytes, base: str | None) -> bool:
        """One compare-and-swap; True when written (or when the row already holds exactly this document)."""
        digest = _sha256(b_ciphertext)
        previous = (record.original, record.source, record.exists)
        record.original, record.source, record.exists = copy.deepcopy(data), (len(b_ciphertext), 0, digest), True
        signed = self._signed(record)
        body = signed[0] if signed is not None else {}
        facts = json.loads(signed[1]) if signed is not None else None
        mac = facts.pop("mac") if facts is not None else None
        tokens = body.get("tokens") or {}
        owner = body.get("owner") or {}
        columns = {
            "document": b_ciphertext,
            "document_sha256": digest,
            "facts": json.dumps(facts, sort_keys=True, separators=(",", ":")) if facts is not None else None,
            "mac": mac,
            "vault_id": record.vault_id,
            "generation": body.get("generation") if isinstance(body.get("generation"), int) and not isinstance(body.get("generation"), bool) else None,
            "owner_kind": owner.get("kind") if isinstance(owner.get("kind"), str) else None,
            "owner_host": owner.get("host") if isinstance(owner.get("host"), str) else None,
            "has_chain": body.get("chain"),
            "in_flight": body.get("in_flight"),
            "reauthorization_required": body.get("reauthorization_required"),
            "access_expires_at": _number(tokens.get("access_expires_at")),
            "refresh_expires_at": _number(tokens.get("refresh_expires_at")),
            "definition_sha256": body.get("definition"),
            "updated_by": "%s pid %d" % (os.uname().nodename[:64], os.getpid()),
        }
        try:
            with conn.transaction():
                if base is None:
                    cursor = conn.execute(
                        "INSERT INTO preauth_oauth2_chain (connection, %s) VALUES (%%s, %s) ON CONFLICT (connection) DO NOTHING"
                        % (", ".join(columns), ", ".join(["%s"] * len(columns))),
                        (record.connection, *columns.values()),
                    )
                else:
                    cursor = conn.execute(
                        "UPDATE preauth_oauth2_chain SET %s, updated_at = now() WHERE connection = %%s AND document_sha256 = %%s"
                        % ", ".join("%s = %%s" % name for name in columns),
                        (*columns.values(), record.connection, base),
                    )
                if cursor.rowcount == 1:
                    return True
                current = conn.execute("SELECT document_sha256 FROM preauth_oauth2_chain WHERE connection = %s", (record.connection,)).fetchone()
        except BaseException:
            record.original, record.source, record.exists = previous
            raise
        if current is not None and current[0] == digest:
            return True  # an earlier attempt committed and lost only its answer
        record.original, record.source, record.exists = previous
        return False

    # -- the rescue file -------------------------------------------------------------------

    def _rescue_name(self, connection: str) -> str:
        if self.store_id is None or not _STORE_ID.fullmatch(self.store_id):  # pragma: no cover - _schema refuses any other id
            raise StoreError("the PostgreSQL token store %s has no valid store_id, so %s has no rescue file name" % (self.location, connection))
        return "%s.%s.json" % (self.store_id, check_connection_name(connection))

    def _rescue_path(self, connection: str) -> str:
        return os.path.join(self.rescue_dir, self._rescue_name(connection))

    def _rescue(self, record: Record, b_ciphertext: bytes, base: str | None) -> str:
        """Keep the ciphertext that could not be committed; the path. Raises StoreError when even that fails."""
        path = self._rescue_path(record.connection)
        content = json.dumps(
            {
                "format": RESCUE_FORMAT,
                "store": self.location,
                "store_id": self.store_id,
                "connection": record.connection,
                "base_sha256": base,
                "document_sha256": _sha256(b_ciphertext),
                "document": b_ciphertext.decode("ascii"),
                "saved_at": round(time.time(), 3),
            },
            sort_keys=True,
        ).encode("utf-8")
        try:
            self.rescue.write(self._rescue_name(record.connection), content)
        except StoreError as exc:
            raise StoreError(
                "could not write %s and could not keep it in the rescue file %s either: %s; the platform may already have rotated the "
                "refresh token, so check the connection with ansible-playbook preauth.oauth2.status" % (self.where(record.connection), path, exc.msg)
            ) from None
        except OSError as exc:
            raise StoreError(
                "could not write %s and could not keep it in the rescue file %s either (%s); the platform may already have rotated the refresh "
                "token, so check the connection with ansible-playbook preauth.oauth2.status" % (self.where(record.connection), path, exc.strerror)
            ) from None
        return path

    # -- who may hold the answer of an in-flight refresh ------------------------------------

    def in_flight_holder(self) -> dict[str, t.Any] | None:
        """This controller as an in-flight marker names it: the rescue directory's id (made now if needed), host, user, path."""
        return self.rescue.controller(create=True)

    def holds(self, marker: t.Mapping[str, t.Any]) -> bool:
        """Whether a rescue of the marker's request could only be here: it names this controller's rescue directory."""
        holder = marker.get("holder")
        if not isinstance(holder, dict) or not isinstance(holder.get("id"), str):
            return False  # an older marker, or one edited: its holder is unknown
        mine = self.rescue.controller(create=False)
        return mine is not None and hmac.compare_digest(mine["id"], holder["id"])

    def rescues(self) -> list[str]:
        """Connections of this store that have a rescue file waiting."""
        prefix = "%s." % self.store_id
        try:
            names = self.rescue.names()
        except OSError:
            return []
        found = []
        for name in sorted(names):
            connection = name[len(prefix) : -len(".json")] if name.startswith(prefix) and name.endswith(".json") else ""
            if CONNECTION_NAME.fullmatch(connection):
                found.append(connection)
        return found

    def replay_rescues(self) -> None:
        """Write every rescue file of this store to the database, each under its connection's lease (once per store object).

        A run that refreshes calls this first, so a rescued chain reaches the database even when its
        connection has nothing to do; ``locked`` does it again for its own connection.
        """
        if self._rescued:
            return
        self._rescued = True
        self._session()  # the store's id names its rescue files
        try:
            waiting = self.rescues()
        except StoreError:
            return  # an untrusted rescue directory: every connection's lease refuses it with the message
        for connection in waiting:
            # One that cannot be written back is said here and refused again when its connection is used.
            try:
                with self._lease(connection) as conn:
                    self._replay(conn, connection)
            except StoreError as exc:
                self.warnings.append(exc.msg)

    def _replay(self, conn: t.Any, connection: str) -> None:
        """Under the lease: write the connection's rescue file onto the row it was derived from, then remove it."""
        path = self._rescue_path(connection)
        try:
            raw = self.rescue.read(self._rescue_name(connection), RESCUE_MAX_BYTES)
        except OSError as exc:
            raise StoreError("cannot read the rescue file %s of %s: %s" % (path, self.where(connection), exc.strerror)) from None
        if raw is None:
            return
        try:
            rescue = json.loads(raw)
            b_document = rescue["document"].encode("ascii")
            base = rescue["base_sha256"]
            if rescue.get("format") != RESCUE_FORMAT or rescue.get("connection") != connection or rescue.get("document_sha256") != _sha256(b_document):
                raise ValueError("not a rescue file of this connection")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
            raise StoreError(
                "the rescue file %s of %s is damaged; nothing was changed. Move it away after checking the chain with ansible-playbook preauth.oauth2.status"
                % (path, self.where(connection))
            ) from None
        record = self._record(connection, b_document)  # it must decrypt with this run's secrets and hold this connection
        try:
            row = conn.execute("SELECT document_sha256 FROM preauth_oauth2_chain WHERE connection = %s", (connection,)).fetchone()
        except psycopg.Error as exc:
            raise StoreError("cannot read %s: %s" % (self.where(connection), self._reason(exc))) from None
        current = row[0] if row is not None else None
        if current == rescue["document_sha256"]:
            outcome = "was already in the database"
        elif current is not None and current != base and self._superseded(conn, connection, record):
            outcome = "is older than the database's chain (its refresh token was already used or replaced there), so it was not written"
        elif current == base:
            record.original = None  # written as new content onto exactly the row it was derived from
            record.exists = base is not None
            if base is not None:
                record.source = (0, 0, base)
            if not self._swap(conn, record, copy.deepcopy(record.data), b_document, base):
                raise StoreError(
                    "%s changed while its rescue file %s was written back; nothing was lost, run again" % (self.where(connection), path), connection
                )
            outcome = "was written to the database now"
        else:
            raise StoreError(
                "%s has a rescue file %s from %s that was never committed, but the database row changed since (another controller wrote it). "
                "Nothing was changed. Compare the two (ansible-playbook preauth.oauth2.status; the rescue file decrypts with ansible-vault after "
                "extracting its 'document'), keep the one with the newer refresh token, and move the rescue file away."
                % (self.where(connection), path, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rescue.get("saved_at") or 0))),
                connection,
            )
        try:
            self.rescue.remove(self._rescue_name(connection))
        except OSError as exc:
            raise StoreError(
                "%s: the rescue file %s %s, but it cannot be removed (%s); remove it by hand" % (self.where(connection), path, outcome, exc.strerror)
            ) from None
        self.warnings.append(
            "%s: the chain kept in the rescue file %s when the database could not be written %s; the rescue file is removed"
            % (self.where(connection), path, outcome)
        )

    def _superseded(self, conn: t.Any, connection: str, rescued: Record) -> bool:
        """Whether the database's chain already holds or replaced the rescued refresh token (then the rescue adds nothing)."""
        rescued_tokens = rescued.data.get("tokens")
        held = rescued_tokens.get("refresh_fingerprint") if isinstance(rescued_tokens, dict) else None
        if not held:
            return True  # no chain in the rescue: nothing in it can be lost
        try:
            current = self._record(connection, self._fetch(conn, connection))
        except psycopg.Error as exc:
            raise StoreError("cannot read %s: %s" % (self.where(connection), self._reason(exc))) from None
        tokens = current.data.get("tokens")
        history = current.data.get("history")
        known = {e.get("replaced") for e in (history if isinstance(history, list) else []) if isinstance(e, dict)}
        if isinstance(tokens, dict):
            known.add(tokens.get("refresh_fingerprint"))
        return held in known


def _number(value: t.Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and abs(value) < 1e300 else None


def _home_text(place: t.Mapping[str, t.Any], now: float) -> str:
    return json.dumps(dict(place, format=HOME_FORMAT, created_at=round(now, 3)), sort_keys=True)


def _parse_home(text: t.Any) -> dict[str, t.Any] | None:
    """The home record, or None when it is not one (edited, truncated, of another format)."""
    try:
        body = json.loads(text) if isinstance(text, str) and len(text) <= HOME_MAX_BYTES else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("format") != HOME_FORMAT:
        return None
    cluster, name, oid = body.get("cluster"), body.get("database"), body.get("database_oid")
    if not (cluster is None or isinstance(cluster, str)) or not isinstance(name, str) or isinstance(oid, bool) or not isinstance(oid, int):
        return None
    return body


def _describe_place(place: t.Mapping[str, t.Any]) -> str:
    cluster = place.get("cluster")
    return "database %s (OID %s) of %s" % (
        json.dumps(str(place.get("database"))[:64]),
        place.get("database_oid"),
        "the PostgreSQL cluster with system identifier %s" % str(cluster)[:32] if cluster else "a cluster whose system identifier this role may not read",
    )


def _adopt_view(place: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A home as the adopt result shows it, in the file store's terms: ``host`` and ``path``."""
    cluster = place.get("cluster")
    return {
        "host": "PostgreSQL cluster %s" % str(cluster)[:32] if cluster else "a PostgreSQL cluster",
        "path": "database %s (OID %s)" % (str(place.get("database"))[:64], place.get("database_oid")),
    }
