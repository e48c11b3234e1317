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
Only ``facts`` with a valid ``mac`` and a document whose SHA-256 still matches is believed, exactly
as a file store's index; a run with nothing to do reads every wanted row's facts in one query and
decrypts nothing.

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
import json
import math
import os
import re
import threading
import time
import typing as t
import urllib.parse
import uuid

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import (
    CONNECTION_NAME,
    Record,
    StoreError,
    VaultLike,
    VaultStore,
    _open_private,
    _read_all,
    check_connection_name,
    replace_file,
)

try:
    import psycopg
except ImportError:  # pragma: no cover - a controller without the optional driver
    psycopg = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
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
# Any fixed 64-bit number names the schema lock; the per-connection leases hash their names.
_SCHEMA_LOCK = 0x7072656175746832


def _lease_key(connection: str) -> int:
    """A signed 64-bit advisory lock key for the connection (a collision only serializes two connections)."""
    return int.from_bytes(hashlib.sha256(b"preauth.oauth2 lease\0" + connection.encode("utf-8")).digest()[:8], "big", signed=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def redact_url(url: str) -> str:
    """The store URL without a password (libpq URIs may carry one in the userinfo or as a parameter)."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, hostport = netloc.rsplit("@", 1)
            netloc = userinfo.split(":", 1)[0] + "@" + hostport
        query = urllib.parse.urlencode(
            [(k, "********" if k.lower() == "password" else v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        )
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "postgresql://(a store URL that cannot be parsed)"


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
        self._local = threading.local()
        self._all: list[t.Any] = []
        self._all_lock = threading.Lock()
        self._facts: dict[str, tuple[str | None, str | None, bool]] = {}
        self._rescued = False

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
        secret = urllib.parse.urlsplit(self.url).password
        if secret:
            text = text.replace(secret, "********")
        return text[:300]

    def _session(self, write: bool = True) -> t.Any:
        """This thread's session, schema checked; None when ``write`` is false and the schema does not exist yet."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        if self.store_id is None:
            self.store_id = self._schema(conn, create=write)
            if self.store_id is None:
                return None
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
                    for statement in _SCHEMA_V1:
                        conn.execute(statement)
                    store_id = str(uuid.uuid4())
                    conn.execute(
                        "INSERT INTO preauth_oauth2_meta (name, value) VALUES ('schema_version', %s), ('store_id', %s)", (str(SCHEMA_VERSION), store_id)
                    )
                    return store_id
                if not version.isdigit() or int(version) > SCHEMA_VERSION:
                    raise StoreError(
                        "the PostgreSQL token store %s has schema version %s, newer than this collection knows (%d); nothing was changed. "
                        "Upgrade preauth.oauth2 on this controller." % (self.location, version, SCHEMA_VERSION)
                    )
                return rows["store_id"]
        except psycopg.Error as exc:
            raise StoreError(
                "cannot use the PostgreSQL token store %s: %s. The role needs to own the database or have CREATE on its schema the first "
                "time, then SELECT, INSERT, UPDATE, DELETE on preauth_oauth2_chain and preauth_oauth2_meta" % (self.location, self._reason(exc))
            ) from None

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
                "SELECT connection, facts, mac, sha256(document) = decode(document_sha256, 'hex') FROM preauth_oauth2_chain WHERE connection = ANY(%s)",
                (wanted,),
            ).fetchall()
        except psycopg.Error:
            return  # no facts: every connection reads its row
        self._facts.update({name: (facts, mac, bool(intact)) for name, facts, mac, intact in rows})

    def index(self, connection: str) -> dict[str, t.Any] | None:
        """The verified facts of the connection's row (see the module's docstring), else None."""
        try:
            found = self._facts.pop(connection, None)
            if found is None:
                conn = self._session(write=False)
                if conn is None:
                    return None
                row = conn.execute(
                    "SELECT facts, mac, sha256(document) = decode(document_sha256, 'hex') FROM preauth_oauth2_chain WHERE connection = %s", (connection,)
                ).fetchone()
                if row is None:
                    return None
                found = (row[0], row[1], bool(row[2]))
            facts, mac, intact = found
            if not intact or not isinstance(facts, str) or not isinstance(mac, str):
                return None
            body = self._verified_facts(connection, facts, mac)
        except (psycopg.Error, StoreError, ValueError, TypeError, RecursionError):
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

    def _rescue_path(self, connection: str) -> str:
        return os.path.join(self.rescue_dir, "%s.%s.json" % (self.store_id or "unknown", connection))

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
            os.makedirs(self.rescue_dir, mode=0o700, exist_ok=True)
            replace_file(path, content, tmp=path + "~tmp")
        except OSError as exc:
            raise StoreError(
                "could not write %s and could not keep it in the rescue file %s either (%s); the platform may already have rotated the refresh "
                "token, so check the connection with playbooks/status.yml" % (self.where(record.connection), path, exc.strerror)
            ) from None
        return path

    def rescues(self) -> list[str]:
        """Connections of this store that have a rescue file waiting."""
        prefix = "%s." % self.store_id
        try:
            names = os.listdir(self.rescue_dir)
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
        for connection in self.rescues():
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
            fd = _open_private(path, os.O_RDONLY, "rescue file")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError("cannot read the rescue file %s of %s: %s" % (path, self.where(connection), exc.strerror)) from None
        try:
            raw = _read_all(fd, 4 * 1024 * 1024)
        finally:
            os.close(fd)
        try:
            rescue = json.loads(raw)
            b_document = rescue["document"].encode("ascii")
            base = rescue["base_sha256"]
            if rescue.get("format") != RESCUE_FORMAT or rescue.get("connection") != connection or rescue.get("document_sha256") != _sha256(b_document):
                raise ValueError("not a rescue file of this connection")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
            raise StoreError(
                "the rescue file %s of %s is damaged; nothing was changed. Move it away after checking the chain with playbooks/status.yml"
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
                "Nothing was changed. Compare the two (playbooks/status.yml; the rescue file decrypts with ansible-vault after extracting its "
                "'document'), keep the one with the newer refresh token, and move the rescue file away."
                % (self.where(connection), path, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rescue.get("saved_at") or 0))),
                connection,
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
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
