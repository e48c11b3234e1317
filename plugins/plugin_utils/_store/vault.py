# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The token store: one ansible-vault encrypted YAML file per connection.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

``<store_dir>/<connection>.yml`` (mode 0600, directory 0700) is the single source of truth for a
connection's chain. Rules, all enforced here:

* decrypted with the run's vault secrets; a missing or wrong secret is a clear error;
* re-encrypted with the vault id the file already has (a new file uses the chosen identity);
* written only when the decrypted content changed (vault ciphertext is salted, so rewriting
  equal data would churn backups and lie about change);
* written atomically: ciphertext to a temporary file in the same directory, fsync, rename,
  fsync of the directory. Plaintext never touches the disk;
* every read-modify-write runs under an exclusive lock file (``.<connection>.lock``) held from
  the read to the write, so a second process waits and then sees the first one's result;
* a file that is not vault data, cannot be decrypted or does not hold a store is refused and
  left exactly as it is.

Beside each store file, after every write and under the same lock, an index
``.<connection>.index`` records the few facts a batch refresh needs to see that nothing is due
(expiry times, owner, flags, generation, a hash of the chain's identity fields) without
decrypting the store - one vault key derivation per file is most of a no-op run's work. It holds
no token, code, verifier or secret. It is trusted only while it verifiably describes the store
file as it is now: the file's size, mtime and SHA-256 must match, and an HMAC under a key derived
from the run's vault secret (PBKDF2, once per run) must match, so a store rewritten by anyone
else, an index edited by hand or copied from another store, or an index written with another
vault secret is never believed. Anything short of that means: decrypt as before. A crash between
the store write and the index write leaves an index that describes the old file: a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import typing as t

import yaml

try:  # libyaml's parser is many times faster; a batch refresh reads every store
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError, preauthenticate_command
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import to_plain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import SCHEMA, Record, notice_facts

CONNECTION_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
# Definition fields that make a stored chain another chain when they change.
IDENTITY_FIELDS = ("platform", "client_id", "country", "token_url")
INDEX_FORMAT = 1
INDEX_MAX_BYTES = 16384
# More than the 2 x 10000 PBKDF2 rounds that checking a vault file's HMAC costs: the index is
# never a cheaper way to test guesses of the vault password than the store file beside it.
INDEX_KEY_ROUNDS = 100000
INDEX_TOKEN_FIELDS = ("obtained_at", "access_expires_at", "refresh_expires_at", "last_refresh_at", "refresh_fingerprint")


def definition_fingerprint(definition: t.Any) -> str | None:
    """SHA-256 of the identity fields of a connection definition; equal fingerprints, same chain."""
    if not isinstance(definition, t.Mapping):
        definition = {}
    try:
        text = json.dumps({k: definition.get(k) for k in IDENTITY_FIELDS}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(body: dict[str, t.Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


class VaultLike(t.Protocol):
    """What the store needs from ``ansible.parsing.vault.VaultLib``."""

    secrets: list[tuple[str, t.Any]]

    def encrypt(self, plaintext: t.Any, secret: t.Any = None, vault_id: str | None = None, salt: t.Any = None) -> bytes: ...

    def decrypt_and_get_vault_id(self, vaulttext: t.Any) -> tuple[bytes, str, t.Any]: ...


def check_connection_name(name: str) -> str:
    if not isinstance(name, str) or not CONNECTION_NAME.fullmatch(name) or name in (".", ".."):
        raise StoreError(
            "connection name %r is not valid: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' "
            "(the name is also the store file's name)" % (name,),
            str(name),
        )
    return name


class VaultStore:
    """What every token store shares: one ansible-vault encrypted YAML document per connection, and
    the index of non-secret decision facts, trusted only under an HMAC keyed from the vault secret.

    A backend says where a record lives (``location``, ``where``), and reads, locks and writes
    documents; encryption, validation and the index's signature are the same for all of them.
    """

    kind = "abstract"
    # Whether a lease can end while the run that held it still lives (a database session killed or
    # restarted). Then another run must not take an in-flight marker for a lost answer before its "until".
    lease_can_be_lost = False

    def __init__(self, vault: VaultLike, encrypt_vault_id: str | None = None, lock_timeout: float = 120.0) -> None:
        self.vault = vault
        self.encrypt_vault_id = encrypt_vault_id
        self.lock_timeout = lock_timeout
        # Said once per run by the action that owns the store (a rescued chain, a lost database session).
        self.warnings: list[str] = []
        self._index_keys: dict[tuple[str, int], bytes | None] = {}
        self._index_keys_lock = threading.Lock()

    location = ""

    # -- what every backend implements -------------------------------------------------------

    def where(self, connection: str) -> str:  # pragma: no cover - backends implement it
        """Where the connection's record is, for messages."""
        raise NotImplementedError

    def exists(self) -> bool:  # pragma: no cover - backends implement it
        """Whether the store exists at all (a missing store is said once, not per connection)."""
        raise NotImplementedError

    def connections(self) -> list[str]:  # pragma: no cover - backends implement it
        """Names of the connections that have a record."""
        raise NotImplementedError

    def read(self, connection: str) -> Record:  # pragma: no cover - backends implement it
        """The connection's record, decrypted, without the lock (reports, check mode)."""
        raise NotImplementedError

    def locked(self, connection: str) -> t.ContextManager[Record]:  # pragma: no cover - backends implement it
        """Hold the connection's lock or lease; yield its record; write it back if it changed."""
        raise NotImplementedError

    def save(self, record: Record) -> bool:  # pragma: no cover - backends implement it
        """Write the record now if it changed (within ``locked``); whether it was written."""
        raise NotImplementedError

    def index(self, connection: str) -> dict[str, t.Any] | None:  # pragma: no cover - backends implement it
        """The verified non-secret facts of the connection's record, or None: then the record is decrypted."""
        raise NotImplementedError

    def prefetch(self, names: t.Sequence[str]) -> None:
        """Load what ``index`` needs for many connections at once, where the backend can."""

    def replay_rescues(self) -> None:
        """Write back what an earlier run could not commit, where the backend keeps such rescues."""

    def in_flight_holder(self) -> dict[str, t.Any] | None:
        """Who an in-flight marker written now names as the one that may hold its answer (None: one machine's lock says it)."""
        return None

    def holds(self, marker: t.Mapping[str, t.Any]) -> bool:
        """Whether an expired in-flight marker's answer, if any was kept, could only be with this run (always, for one machine)."""
        return True

    def check_home(self) -> None:
        """StoreError when this store must not refresh rotating chains from here (a copy)."""

    def adopt(self, check_mode: bool = False) -> dict[str, t.Any]:
        """Make this place the store's home (a file store moved on purpose); ``changed``, ``from``, ``to``."""
        return {"changed": False, "from": None, "to": None}

    def close(self) -> None:
        """Release what the store holds open."""

    def _index_salt(self, vault_id: str) -> bytes:  # pragma: no cover - backends implement it
        raise NotImplementedError

    def _named(self, where: str) -> str:
        """``where`` (``where(connection)``) as a message names it: a backend's own words ("connection X of the PostgreSQL token store ...")."""
        return where

    def _view_hint(self, where: str) -> str:
        """How a person with the vault password looks at a record by hand ("" where no single command does)."""
        return ""

    def _decrypt(self, connection: str, path: str, b_data: bytes) -> tuple[dict[str, t.Any], str | None, t.Any]:
        """The record's data, the vault id to keep (the label the document already has) and the secret that decrypted it.

        The label is the document's own, not the id of the secret that happened to decrypt it: the same password may be loaded
        under another label (``--vault-id prod@...``), and writing the record back under that label would relabel it, and
        lock out the runs that decrypt it by its own label (``vault_id_match``).
        """
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import CIPHER_ALLOWLIST, AnsibleVaultError, AnsibleVaultFormatError, is_encrypted, parse_vaulttext_envelope

        named = self._named(path)
        if not is_encrypted(b_data):
            raise StoreError(
                "%s is not an ansible-vault encrypted file, so it is not used as the token store of connection %s; "
                "nothing was changed. Move it away, or encrypt it with ansible-vault if it is a store you decrypted by hand." % (path, connection)
            )
        damaged = StoreError(
            "%s is damaged (not valid ansible-vault data); nothing was changed. Restore it from a "
            "backup, or move it away and run %s again." % (named, preauthenticate_command(connection))
        )
        try:
            _body, _version, cipher, file_vault_id = parse_vaulttext_envelope(b_data)
        except AnsibleError:
            raise damaged from None
        file_vault_id = None if file_vault_id == "default" else file_vault_id
        if cipher not in CIPHER_ALLOWLIST:  # VaultLib says AnsibleVaultError for it too, as for a wrong password
            raise damaged
        if not self.vault.secrets:
            raise StoreError(
                "%s is vault-encrypted and this run has no vault secret; run ansible-playbook with "
                "--ask-vault-pass or --vault-id %s@prompt (or a password file)" % (named, file_vault_id or "<id>")
            )
        # By type (ansible.parsing.vault): AnsibleVaultFormatError for data that is not vault text (a broken envelope or hex),
        # AnsibleVaultError when no secret of this run passes the HMAC (a wrong password, or a file changed after it was
        # written: the two look the same), any other AnsibleError for the rest.
        try:
            b_plain, _secret_id, secret = self.vault.decrypt_and_get_vault_id(b_data)
        except AnsibleVaultFormatError:
            raise damaged from None
        except AnsibleVaultError:
            raise StoreError(
                "cannot decrypt %s with the vault secrets of this run%s; use the vault password it was written with%s. Nothing was changed."
                % (named, " (its vault id is '%s')" % file_vault_id if file_vault_id else "", self._view_hint(path))
            ) from None
        except AnsibleError:
            raise damaged from None
        try:
            data = yaml.load(b_plain, Loader=_Loader)  # nosec - a safe loader
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("connection") != connection:
            raise StoreError(
                "%s decrypts but does not hold the store of connection %s (schema %s); nothing was "
                "changed. Restore it from a backup." % (named, connection, SCHEMA)
            )
        return data, file_vault_id or "default", secret

    def _encrypt(self, record: Record, plaintext: str) -> bytes:
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import match_encrypt_secret

        secrets = self.vault.secrets
        if not secrets:
            raise StoreError(
                "no vault secret is loaded, so the token store of connection %s cannot be encrypted; run ansible-playbook "
                "with --ask-vault-pass or --vault-id <id>@prompt" % record.connection
            )
        if record.secret is not None and record.vault_id:
            # A record read (or written) before: the secret that opened it, under the label it has - never relabelled.
            return self.vault.encrypt(plaintext, secret=record.secret, vault_id=record.vault_id)
        wanted = record.vault_id or self.encrypt_vault_id
        if wanted is None:
            ids = sorted({vid for vid, _secret in secrets})
            if len(ids) > 1:
                raise StoreError(
                    "several vault identities are loaded (%s); choose the one that encrypts the token store of connection %s "
                    "with the vault_id option" % (", ".join(ids), record.connection)
                )
        try:
            vault_id, secret = match_encrypt_secret(secrets, encrypt_vault_id=wanted)
        except AnsibleError:
            raise StoreError(
                "vault id '%s' is not loaded in this run, so the token store of connection %s cannot be encrypted with it; "
                "add --vault-id %s@prompt (or a password file)" % (wanted, record.connection, wanted)
            ) from None
        record.vault_id = vault_id
        record.secret = secret
        return self.vault.encrypt(plaintext, secret=secret, vault_id=vault_id)

    def _index_body(self, record: Record) -> dict[str, t.Any]:
        """Only decision inputs that are not secret: no token, code, verifier or client secret.

        Built from ``record.original``: the content of the file as last read or written.
        """
        data = record.original or {}
        for section in ("tokens", "owner", "definition"):
            if data.get(section) and not isinstance(data[section], dict):
                raise TypeError("%s is not a mapping" % section)  # no index: let the full path read it
        tokens = data.get("tokens") or {}
        owner = data.get("owner") or {}
        size, mtime_ns, digest = record.source or (None, None, None)
        return {
            "format": INDEX_FORMAT,
            "connection": record.connection,
            "store": {"size": size, "mtime_ns": mtime_ns, "sha256": digest},
            "vault_id": record.vault_id,
            "generation": data.get("generation"),
            "owner": {"kind": owner.get("kind"), "host": owner.get("host")},
            "chain": bool(tokens.get("refresh_token")),
            "definition": definition_fingerprint(data.get("definition")),
            "reauthorization_required": bool(data.get("reauthorization_required")),
            "in_flight": bool(data.get("in_flight")),
            "tokens": {k: tokens.get(k) for k in INDEX_TOKEN_FIELDS},
            "notice": notice_facts(data),
        }

    def _keys_for(self, vault_id: str) -> list[bytes]:
        """Keys of the loaded secrets with this vault id (usually one)."""
        keys = []
        for vid, secret in self.vault.secrets:
            key = self._key(vid, secret) if vid == vault_id else None
            if key is not None:
                keys.append(key)
        return keys

    def _key(self, vault_id: str, secret: t.Any) -> bytes | None:
        """The index HMAC key for one vault secret, derived once per store object (i.e. per run)."""
        cache_key = (vault_id, id(secret))
        with self._index_keys_lock:
            if cache_key not in self._index_keys:
                # A secret that cannot load its password gives no key: no index, the store is decrypted.
                try:
                    password = secret.bytes
                except Exception:  # pylint: disable=broad-exception-caught
                    password = None
                if not isinstance(password, bytes) or not password:
                    self._index_keys[cache_key] = None
                else:
                    self._index_keys[cache_key] = hashlib.pbkdf2_hmac("sha256", password, self._index_salt(vault_id), INDEX_KEY_ROUNDS)
            return self._index_keys[cache_key]

    def _ciphertext(self, record: Record) -> tuple[dict[str, t.Any], bytes] | None:
        """The record's plain data and its new ciphertext, or None when the content did not change.

        Vault ciphertext is salted, so rewriting equal data would churn backups and lie about change.
        """
        data = to_plain(record.data)
        if data == record.original or (record.original is None and data == record.blank):
            return None
        return data, self._encrypt(record, yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False))

    def _signed(self, record: Record) -> tuple[dict[str, t.Any], bytes] | None:
        """The record's index body and its canonical signed bytes (``mac`` included), or None when it cannot be signed."""
        if record.source is None or record.original is None or record.secret is None or not isinstance(record.vault_id, str):
            return None
        key = self._key(record.vault_id, record.secret)
        if key is None:
            return None
        try:
            body = self._index_body(record)
            return body, _canonical(dict(body, mac=hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()))
        except (TypeError, ValueError):  # a value JSON cannot hold: no index, the store is decrypted
            return None

    def _verified_facts(self, connection: str, facts: str, mac: str) -> dict[str, t.Any] | None:
        """``_verified`` for facts kept apart from their mac, as the canonical text that was signed (the PostgreSQL store).

        The mac is checked over that text as it is, without writing it again; text in another form is put into
        the canonical form first.
        """
        try:
            if len(facts) > INDEX_MAX_BYTES:
                return None
            body = json.loads(facts)
            if not self._index_shaped(body, connection) or "mac" in body:
                return None
            message = facts.encode("utf-8")
            if self._mac_matches(body, message, mac):
                return body
            canonical = _canonical(body)
        except (ValueError, TypeError, RecursionError):
            return None
        return body if canonical != message and self._mac_matches(body, canonical, mac) else None

    def _verified(self, connection: str, raw: bytes | str) -> dict[str, t.Any] | None:
        """The index body in ``raw`` if it is one for this connection under a key of this run's vault secrets, else None."""
        try:
            if len(raw) > INDEX_MAX_BYTES:
                return None
            body = json.loads(raw)
            if not isinstance(body, dict):
                return None
            mac = body.pop("mac", None)
            if not self._index_shaped(body, connection):
                return None
            message = _canonical(body)
        except (ValueError, TypeError, RecursionError):
            return None
        return body if self._mac_matches(body, message, mac) else None

    @staticmethod
    def _index_shaped(body: t.Any, connection: str) -> bool:
        """An index body (without its mac) of this format, for this connection."""
        return (
            isinstance(body, dict)
            and body.get("format") == INDEX_FORMAT
            and body.get("connection") == connection
            and isinstance(body.get("store"), dict)
            and isinstance(body.get("vault_id"), str)
        )

    def _mac_matches(self, body: dict[str, t.Any], message: bytes, mac: t.Any) -> bool:
        """Whether ``mac`` is the HMAC of ``message`` under a key of this run's secrets for the body's vault id."""
        if not isinstance(mac, str):
            return False
        return any(hmac.compare_digest(hmac.new(key, message, hashlib.sha256).hexdigest(), mac) for key in self._keys_for(body["vault_id"]))
