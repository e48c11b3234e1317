# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file backend: one ansible-vault encrypted YAML file per connection, with its lock and index files.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

What a record holds and how it is encrypted and signed is ``vault.VaultStore``'s; this module only says where the
bytes live (``<store_dir>/<connection>.yml``, mode 0600, in a directory 0700 that is the caller's and writable by
nobody else), how they are replaced (atomically, fsynced) and how two processes take turns (a lock file per
connection). Where the store was made, and whether this is still that place, is ``home.py``'s.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import hashlib
import hmac
import os
import stat
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.files import open_private, read_all, replace_file, untrusted
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.home import adopt, check_home, ensure_home
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import CONNECTION_NAME, INDEX_MAX_BYTES, VaultLike, VaultStore, check_connection_name


class FileTokenStore(VaultStore):
    """The file store: ``<store_dir>/<connection>.yml`` beside its lock and index files."""

    kind = "file"

    def __init__(self, store_dir: str, vault: VaultLike, encrypt_vault_id: str | None = None, lock_timeout: float = 120.0) -> None:
        super().__init__(vault, encrypt_vault_id, lock_timeout)
        self.store_dir = os.path.abspath(os.path.expanduser(store_dir))
        self.location = self.store_dir

    def where(self, connection: str) -> str:
        return self.path(connection)

    def _named(self, where: str) -> str:
        return "the token store %s" % where

    def _view_hint(self, where: str) -> str:
        return " (ansible-vault view %s shows it to a person who has it)" % where

    def exists(self) -> bool:
        return self._check_dir()

    def _index_salt(self, vault_id: str) -> bytes:
        # Salted with the directory: a key computed for one installation fits no other.
        return b"preauth.oauth2 token store index\0%s\0%s" % (os.path.realpath(self.store_dir).encode("utf-8"), vault_id.encode("utf-8"))

    # -- paths ---------------------------------------------------------------------------

    def path(self, connection: str) -> str:
        return os.path.join(self.store_dir, check_connection_name(connection) + ".yml")

    def lock_path(self, connection: str) -> str:
        return os.path.join(self.store_dir, "." + check_connection_name(connection) + ".lock")

    def index_path(self, connection: str) -> str:
        return os.path.join(self.store_dir, "." + check_connection_name(connection) + ".index")

    def connections(self) -> list[str]:
        """Names of the connections that have a store file."""
        if not self._check_dir():
            return []
        try:
            names = os.listdir(self.store_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in sorted(names):
            if name.endswith(".yml") and not name.startswith(".") and CONNECTION_NAME.fullmatch(name[:-4]):
                found.append(name[:-4])
        return found

    def _check_dir(self) -> bool:
        """Whether the store directory exists; StoreError if another user owns it or others can write to it.

        Everything else trusts that nobody but this user can add, replace or link a file in it.
        """
        try:
            info = os.stat(self.store_dir)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError("cannot use the token store directory %s: %s" % (self.store_dir, exc.strerror)) from None
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError("the token store directory %s is not a directory; set store_dir to a directory of your own" % self.store_dir)
        problem = untrusted(info, "token store directory", self.store_dir, "0700")
        if problem:
            raise StoreError(problem)
        return True

    def ensure_dir(self) -> None:
        try:
            os.makedirs(self.store_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StoreError("cannot create the token store directory %s: %s" % (self.store_dir, exc.strerror)) from None
        self._check_dir()
        mode = stat.S_IMODE(os.stat(self.store_dir).st_mode)
        if mode & 0o077:
            # Readable by others, yet ours and writable by nobody else: tightening it is safe.
            try:
                os.chmod(self.store_dir, 0o700)
            except OSError as exc:
                raise StoreError(
                    "the token store directory %s is accessible to other users (mode %o) and cannot be restricted: %s" % (self.store_dir, mode, exc.strerror)
                ) from None

        ensure_home(self.store_dir)  # a new store, or one older than the home record, is at home here

    # -- reading -------------------------------------------------------------------------

    def read(self, connection: str) -> Record:
        """Decrypt the connection's store without taking the lock (for reports and check mode)."""
        path = self.path(connection)
        if not self._check_dir():
            return Record(connection, None, None)
        try:
            fd = open_private(path, os.O_RDONLY, "token store")
        except FileNotFoundError:
            return Record(connection, None, None)
        except OSError as exc:
            raise StoreError("cannot read the token store %s: %s" % (path, exc.strerror)) from None
        try:
            mtime_ns = os.fstat(fd).st_mtime_ns
            b_data = read_all(fd)
        except OSError as exc:
            raise StoreError("cannot read the token store %s: %s" % (path, exc.strerror)) from None
        finally:
            os.close(fd)
        data, vault_id, secret = self._decrypt(connection, path, b_data)
        return Record(connection, data, vault_id, secret, (len(b_data), mtime_ns, hashlib.sha256(b_data).hexdigest()))

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, connection: str) -> t.Iterator[Record]:
        """Hold the connection's lock; yield its record; write it back if it changed."""
        self.ensure_dir()
        lock_path = self.lock_path(connection)
        try:
            fd = open_private(lock_path, os.O_RDWR | os.O_CREAT, "lock file")
        except OSError as exc:
            raise StoreError("cannot open the lock file %s of connection %s: %s" % (lock_path, connection, exc.strerror)) from None
        try:
            self._acquire(fd, connection)
            record = self.read(connection)
            yield record
            if not self.save(record):
                self._write_index(record)  # a store written before indexes existed, or by another writer
        finally:
            os.close(fd)  # closing releases the lock

    def _tmp_path(self, connection: str) -> str:
        # One fixed name per connection is safe: only the lock holder writes it. A file left by a
        # killed writer (ciphertext only) is removed and created anew by the next write, so nothing
        # ever has to list the directory, and a link planted under the name is never written through.
        # '~' cannot appear in a connection name.
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
                    "finish and try again" % (connection, self.lock_timeout, self.lock_path(connection)),
                    connection,
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def save(self, record: Record) -> bool:
        """Encrypt and write the record if its content changed. Call with the lock held."""
        new = self._ciphertext(record)
        if new is None:
            return False
        data, b_ciphertext = new
        path = self.path(record.connection)
        try:
            mtime_ns = replace_file(path, b_ciphertext, tmp=self._tmp_path(record.connection)).st_mtime_ns
        except OSError as exc:
            raise StoreError(
                "could not write the token store %s (%s); the previous content is unchanged. If this happened right after a "
                "refresh, the platform may already have rotated the refresh token." % (path, exc.strerror)
            ) from None
        record.original = copy.deepcopy(data)
        record.exists = True
        record.source = (len(b_ciphertext), mtime_ns, hashlib.sha256(b_ciphertext).hexdigest())
        self._write_index(record)
        return True

    # -- the index ----------------------------------------------------------------------------

    def index(self, connection: str) -> dict[str, t.Any] | None:
        """The index of the connection's store if it verifiably describes the store file as it is
        now (size, mtime, SHA-256, and an HMAC under this run's vault secret), else None.

        Read without the lock: store and index are each replaced atomically, and an index that
        matches the bytes read describes exactly those bytes, a complete state of the store.
        """
        try:
            if not self._check_dir():
                return None
            fd = open_private(self.index_path(connection), os.O_RDONLY, "index")
            try:
                raw = read_all(fd, INDEX_MAX_BYTES + 1)
            finally:
                os.close(fd)
            body = self._verified(connection, raw)
            if body is None:
                return None
            source = body["store"]
            fd = open_private(self.path(connection), os.O_RDONLY, "token store")
            try:
                info = os.fstat(fd)
                if info.st_size != source.get("size") or info.st_mtime_ns != source.get("mtime_ns"):
                    return None
                b_data = read_all(fd)
            finally:
                os.close(fd)
            if not hmac.compare_digest(hashlib.sha256(b_data).hexdigest(), str(source.get("sha256"))):
                return None
        except (OSError, ValueError, TypeError, RecursionError, StoreError):
            # An untrusted index or store file is no answer: reading the store refuses it with a message.
            return None
        return body

    def _write_index(self, record: Record) -> None:
        """Describe the store file as the record knows it. Call with the lock held.

        Best effort: a failure leaves an index that does not match the store, which only means
        that the next run decrypts.
        """
        signed = self._signed(record)
        content = signed[1] + b"\n" if signed is not None else None
        path = self.index_path(record.connection)
        tmp = os.path.join(self.store_dir, "." + record.connection + "~index.tmp")
        try:
            fd = open_private(path, os.O_RDONLY, "index")
            try:
                if content is not None and read_all(fd, INDEX_MAX_BYTES + 1) == content:
                    return
            finally:
                os.close(fd)
        except (OSError, StoreError):
            pass  # rewritten below: os.replace puts a new file in place of a link or a foreign file
        try:
            if content is None:
                os.unlink(path)
                return
            # Not durable: an index lost or torn in a crash fails to match, which only costs a decryption.
            replace_file(path, content, tmp=tmp, durable=False)
        except OSError:
            pass

    # -- the home record (see _home) ---------------------------------------------------------

    def check_home(self) -> None:
        """StoreCopyError (a StoreError) when this directory is a copy found away from its home."""

        if self._check_dir():
            check_home(self.store_dir)

    def adopt(self, check_mode: bool = False) -> dict[str, t.Any]:
        """Make this place the store's home; ``changed``, ``from`` and ``to`` say what moved."""

        if not self._check_dir():
            return {"changed": False, "from": None, "to": None}
        return adopt(self.store_dir, check_mode)
