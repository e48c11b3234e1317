# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rescue directory of a controller: where the PostgreSQL store keeps what it could not commit.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A rescue file may hold the only copy of a rotated refresh token, so the directory gets the token
store directory's rules and a little more: it must be a real directory (not a link) owned by the
user who runs, that nobody else can write to; every file in it is opened through the directory's
file descriptor, never followed through a link, and must be a regular file of that user with one
name only (a hard link would let another place change it). Whoever could delete a rescue file
could make the next run present a spent token, so a directory that fails these rules is refused,
not repaired: no token request leaves until the rescue directory can be trusted.

The directory also names the controller: ``.controller`` holds a random id made the first time a
refresh needs it. An in-flight marker records that id (see ``_refresh``), because only the runs
that share this directory can see a rescue file in it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import time
import typing as t
import uuid

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.files import NOFOLLOW, login, untrusted

CONTROLLER_FILE = ".controller"
CONTROLLER_MAX_BYTES = 4096
# More entries than this in a rescue directory is not a controller's doing: listing stops there.
MAX_ENTRIES = 100000
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW


def _trusted_file(fd: int, what: str, path: str, single_link: bool) -> str | None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return "the %s %s is not a regular file; nothing was changed. Find out who put it there, then move it away" % (what, path)
    if single_link and info.st_nlink != 1:
        return (
            "the %s %s has %d names (hard links), so another place can change it; nothing was changed. Find out who linked it, "
            "then keep one copy of it in a rescue directory of your own" % (what, path, info.st_nlink)
        )
    return untrusted(info, what, path, "0600")


class RescueDir:
    """One controller's rescue directory (``path``), used only through its file descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _refused(self, problem: str) -> StoreError:
        return StoreError(
            "%s. A rescue file may hold the only copy of a rotated refresh token, so no refresh that rotates a chain of the PostgreSQL "
            "store runs until its rescue directory can be trusted; set PREAUTH_OAUTH2_RESCUE_DIR to a directory of your own "
            "(mode 0700) and keep it there" % problem
        )

    @contextlib.contextmanager
    def opened(self, create: bool) -> t.Iterator[int | None]:
        """The directory's file descriptor (None when it does not exist and ``create`` is false); StoreError when untrusted."""
        if create:
            try:
                os.makedirs(self.path, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise self._refused("cannot create the rescue directory %s (%s)" % (self.path, exc.strerror)) from None
        try:
            fd = os.open(self.path, _DIR_FLAGS)
        except FileNotFoundError:
            if create:
                raise self._refused("the rescue directory %s disappeared while it was created" % self.path) from None
            yield None
            return
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._refused(
                    "the rescue directory %s is a symbolic link or not a directory; rescue directories are never followed through links"
                    % self.path
                ) from None
            raise self._refused("cannot open the rescue directory %s (%s)" % (self.path, exc.strerror)) from None
        try:
            info = os.fstat(fd)
            problem = untrusted(info, "rescue directory", self.path, "0700")
            if problem:
                raise self._refused(problem.rstrip("."))
            if stat.S_IMODE(info.st_mode) & 0o077:
                # Ours and writable by nobody else, only readable: tightening it is safe.
                os.fchmod(fd, 0o700)
            yield fd
        finally:
            os.close(fd)

    # -- files ---------------------------------------------------------------------------

    def read(self, name: str, limit: int) -> bytes | None:
        """The file's content (at most ``limit`` bytes), None when there is none; StoreError when it cannot be trusted."""
        with self.opened(create=False) as dir_fd:
            if dir_fd is None:
                return None
            return self._read(dir_fd, name, limit)

    def _read(self, dir_fd: int, name: str, limit: int, single_link: bool = True) -> bytes | None:
        path = os.path.join(self.path, name)
        try:
            fd = os.open(name, os.O_RDONLY | NOFOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._refused("the rescue file %s is a symbolic link" % path) from None
            raise StoreError("cannot read the rescue file %s: %s" % (path, exc.strerror)) from None
        try:
            problem = _trusted_file(fd, "rescue file" if single_link else "controller file", path, single_link)
            if problem:
                raise self._refused(problem.rstrip("."))
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(limit)
        finally:
            os.close(fd)

    def write(self, name: str, content: bytes) -> str:
        """Put ``content`` in the file ``name`` atomically (0600, flushed to disk); its path. OSError for the caller to word."""
        with self.opened(create=True) as dir_fd:
            if dir_fd is None:  # pragma: no cover - opened(create=True) never yields None
                raise FileNotFoundError(errno.ENOENT, "no rescue directory", self.path)
            self._write(dir_fd, name, content)
        return os.path.join(self.path, name)

    @staticmethod
    def _write(dir_fd: int, name: str, content: bytes) -> None:
        tmp = ".%s~%s.tmp" % (name, secrets.token_hex(8))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600, dir_fd=dir_fd)
        try:
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)

    def remove(self, name: str) -> None:
        with self.opened(create=False) as dir_fd:
            if dir_fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)

    def names(self) -> list[str]:
        """The names in the directory, sorted (at most MAX_ENTRIES); StoreError when it cannot be trusted."""
        with self.opened(create=False) as dir_fd:
            if dir_fd is None:
                return []
            found: list[str] = []
            with os.scandir(dir_fd) as entries:
                for entry in entries:
                    if len(found) >= MAX_ENTRIES:
                        break
                    found.append(entry.name)
            return sorted(found)

    # -- the controller's identity -------------------------------------------------------

    def controller(self, create: bool) -> dict[str, t.Any] | None:
        """Who keeps rescues here: ``id`` (random, made once), ``host``, ``user`` and ``rescue_dir``; None if not made yet."""
        with self.opened(create=create) as dir_fd:
            if dir_fd is None:
                return None
            for _attempt in range(2):
                # No single-name rule here: the id is no secret, and it has two names for a moment while it is made.
                raw = self._read(dir_fd, CONTROLLER_FILE, CONTROLLER_MAX_BYTES + 1, single_link=False)
                if raw is not None:
                    return self._identity(raw)
                if not create:
                    return None
                body = json.dumps({"format": 1, "id": str(uuid.uuid4()), "created_at": round(time.time(), 3)}, sort_keys=True).encode("utf-8")
                tmp = ".%s~%s.tmp" % (CONTROLLER_FILE, secrets.token_hex(8))
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600, dir_fd=dir_fd)
                try:
                    try:
                        os.write(fd, body)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    # A link never replaces: when another run made one at the same moment, this one reads that.
                    with contextlib.suppress(FileExistsError):
                        os.link(tmp, CONTROLLER_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp, dir_fd=dir_fd)
                os.fsync(dir_fd)
        raise self._refused("the controller file %s cannot be read back" % os.path.join(self.path, CONTROLLER_FILE))

    def _identity(self, raw: bytes) -> dict[str, t.Any]:
        try:
            body = json.loads(raw) if len(raw) <= CONTROLLER_MAX_BYTES else None
            found = body.get("id") if isinstance(body, dict) else None
        except ValueError:
            found = None
        if not isinstance(found, str) or not _UUID.fullmatch(found):
            raise self._refused(
                "the controller file %s is damaged (it holds no controller id). Rescue files beside it stay as they are; move the "
                "controller file away only after no in-flight marker in the store names this directory" % os.path.join(self.path, CONTROLLER_FILE)
            )
        return {"id": found, "host": os.uname().nodename[:64], "user": login(os.geteuid()), "rescue_dir": self.path}
