# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The token store: one ansible-vault encrypted YAML file per connection.

This module util is PRIVATE to the collection. It can change at any time without notice.

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
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import os
import re
import stat
import time
import typing as t

import yaml

try:  # libyaml's parser is many times faster; a batch refresh reads every store
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import to_plain

SCHEMA = 1
HISTORY_LIMIT = 30
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


class StoreError(PreauthError):
    """The store cannot be read or written; the message names the file and the next step."""


class VaultLike(t.Protocol):
    """What the store needs from ``ansible.parsing.vault.VaultLib``."""

    secrets: list[tuple[str, t.Any]]

    def encrypt(self, plaintext: t.Any, secret: t.Any = None, vault_id: str | None = None, salt: t.Any = None) -> bytes: ...

    def decrypt_and_get_vault_id(self, vaulttext: t.Any) -> tuple[bytes, str, t.Any]: ...


def check_connection_name(name: str) -> str:
    if not isinstance(name, str) or not CONNECTION_NAME.match(name) or name in (".", ".."):
        raise StoreError(
            "connection name %r is not valid: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' "
            "(the name is also the store file's name)" % (name,)
        )
    return name


class Record:
    """The decrypted content of one store file, plus what is needed to write it back."""

    def __init__(self, connection: str, data: dict[str, t.Any] | None, vault_id: str | None) -> None:
        self.connection = connection
        self.exists = data is not None
        self.data: dict[str, t.Any] = data if data is not None else {"schema": SCHEMA, "connection": connection, "generation": 0, "history": []}
        self.original = copy.deepcopy(data) if data is not None else None
        self.vault_id = vault_id

    @property
    def changed(self) -> bool:
        return to_plain(self.data) != self.original

    def add_event(self, event: str, at: float, **details: t.Any) -> None:
        history = self.data.setdefault("history", [])
        history.append({"at": round(at, 3), "event": event, **details})
        del history[:-HISTORY_LIMIT]


class TokenStore:
    def __init__(self, store_dir: str, vault: VaultLike, encrypt_vault_id: str | None = None, lock_timeout: float = 120.0) -> None:
        self.store_dir = os.path.abspath(os.path.expanduser(store_dir))
        self.vault = vault
        self.encrypt_vault_id = encrypt_vault_id
        self.lock_timeout = lock_timeout

    # -- paths ---------------------------------------------------------------------------

    def path(self, connection: str) -> str:
        return os.path.join(self.store_dir, check_connection_name(connection) + ".yml")

    def lock_path(self, connection: str) -> str:
        return os.path.join(self.store_dir, "." + check_connection_name(connection) + ".lock")

    def connections(self) -> list[str]:
        """Names of the connections that have a store file."""
        try:
            names = os.listdir(self.store_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in sorted(names):
            if name.endswith(".yml") and not name.startswith(".") and CONNECTION_NAME.match(name[:-4]):
                found.append(name[:-4])
        return found

    def ensure_dir(self) -> None:
        try:
            os.makedirs(self.store_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StoreError("cannot create the token store directory %s: %s" % (self.store_dir, exc.strerror)) from None
        mode = stat.S_IMODE(os.stat(self.store_dir).st_mode)
        if mode & 0o077:
            try:
                os.chmod(self.store_dir, 0o700)
            except OSError as exc:
                raise StoreError(
                    "the token store directory %s is accessible to other users (mode %o) and cannot be restricted: %s"
                    % (self.store_dir, mode, exc.strerror)
                ) from None

    # -- reading -------------------------------------------------------------------------

    def read(self, connection: str) -> Record:
        """Decrypt the connection's store without taking the lock (for reports and check mode)."""
        path = self.path(connection)
        try:
            with open(path, "rb") as handle:
                b_data = handle.read()
        except FileNotFoundError:
            return Record(connection, None, None)
        except OSError as exc:
            raise StoreError("cannot read the token store %s: %s" % (path, exc.strerror)) from None
        data, vault_id = self._decrypt(connection, path, b_data)
        return Record(connection, data, vault_id)

    def _decrypt(self, connection: str, path: str, b_data: bytes) -> tuple[dict[str, t.Any], str | None]:
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import is_encrypted, parse_vaulttext_envelope

        if not is_encrypted(b_data):
            raise StoreError(
                "%s is not an ansible-vault encrypted file, so it is not used as the token store of connection %s; "
                "nothing was changed. Move it away, or encrypt it with ansible-vault if it is a store you decrypted by hand." % (path, connection)
            )
        try:
            file_vault_id = parse_vaulttext_envelope(b_data)[3]
            file_vault_id = None if file_vault_id == "default" else file_vault_id
        except AnsibleError:
            file_vault_id = None
        if not self.vault.secrets:
            raise StoreError(
                "the token store %s is vault-encrypted and this run has no vault secret; run ansible-playbook with "
                "--ask-vault-pass or --vault-id %s@prompt (or a password file)" % (path, file_vault_id or "<id>")
            )
        try:
            b_plain, vault_id, _secret = self.vault.decrypt_and_get_vault_id(b_data)
        except AnsibleError as exc:
            text = str(exc)
            if "HMAC verification failed" in text or "no vault secrets were found that could decrypt" in text or "Decryption failed" in text:
                raise StoreError(
                    "cannot decrypt the token store %s with the vault secrets of this run%s; use the vault password it "
                    "was written with (ansible-vault view %s shows it to a person who has it). Nothing was changed."
                    % (path, " (the file's vault id is '%s')" % file_vault_id if file_vault_id else "", path)
                ) from None
            raise StoreError(
                "the token store %s is damaged (not valid ansible-vault data); nothing was changed. Restore it from a "
                "backup, or run playbooks/preauthenticate.yml for connection %s again after moving it away." % (path, connection)
            ) from None
        try:
            data = yaml.load(b_plain, Loader=_Loader)  # nosec - a safe loader
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("connection") != connection:
            raise StoreError(
                "the token store %s decrypts but does not hold the store of connection %s (schema %s); nothing was "
                "changed. Restore it from a backup." % (path, connection, SCHEMA)
            )
        return data, vault_id

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, connection: str) -> t.Iterator[Record]:
        """Hold the connection's lock; yield its record; write it back if it changed."""
        self.ensure_dir()
        lock_path = self.lock_path(connection)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._acquire(fd, connection)
            record = self.read(connection)
            yield record
            self.save(record)
        finally:
            os.close(fd)  # closing releases the lock

    def _tmp_path(self, connection: str) -> str:
        # One fixed name per connection is safe: only the lock holder writes it. A file left by a
        # killed writer (ciphertext only) is truncated and reused by the next write, so nothing
        # ever has to list the directory. '~' cannot appear in a connection name.
        return os.path.join(self.store_dir, "." + connection + "~write.tmp")

    def _acquire(self, fd: int, connection: str) -> None:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise StoreError(
                    "connection %s is locked by another run for more than %d s (lock file %s); wait for that run to "
                    "finish and try again" % (connection, self.lock_timeout, self.lock_path(connection))
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def save(self, record: Record) -> bool:
        """Encrypt and write the record if its content changed. Call with the lock held."""
        data = to_plain(record.data)
        if data == record.original:
            return False
        path = self.path(record.connection)
        b_ciphertext = self._encrypt(record, yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False))
        tmp = self._tmp_path(record.connection)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StoreError("could not write the token store %s (%s); the previous content is unchanged" % (path, exc.strerror)) from None
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(b_ciphertext)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StoreError(
                "could not write the token store %s (%s); the previous content is unchanged. If this happened right after a "
                "refresh, the platform may already have rotated the refresh token." % (path, exc.strerror)
            ) from None
        dir_fd = os.open(self.store_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        record.original = copy.deepcopy(data)
        record.exists = True
        return True

    def _encrypt(self, record: Record, plaintext: str) -> bytes:
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import match_encrypt_secret

        secrets = self.vault.secrets
        if not secrets:
            raise StoreError(
                "no vault secret is loaded, so the token store of connection %s cannot be encrypted; run ansible-playbook "
                "with --ask-vault-pass or --vault-id <id>@prompt" % record.connection
            )
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
        return self.vault.encrypt(plaintext, secret=secret, vault_id=vault_id)
