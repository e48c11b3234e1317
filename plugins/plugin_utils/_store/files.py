# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The files of a store on the controller: opened without following a link, trusted only when the user who runs this
owns them and nobody else can write to them, and replaced atomically.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Below the stores (``_store``, ``_home``, ``_rescue``, ``_report``'s metrics): it imports nothing of the
collection but the errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
import tempfile

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError

# Opens that never follow a symbolic link in the store directory, and never leak into a child process.
NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def login(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def user(uid: int) -> str:
    name = login(uid)
    return "uid %d" % uid if name == str(uid) else "%s (uid %d)" % (name, uid)


def untrusted(info: os.stat_result, what: str, path: str, fix_mode: str) -> str | None:
    """Why a file or directory of the store must not be used (another owner, writable by others), or None."""
    me = os.geteuid()
    if info.st_uid != me:
        # Never advise chown: taking over another user's file would trust whatever that user put in it.
        return (
            "the %s %s is owned by %s, not by %s who runs this, so it is not used; nothing was changed. Use a directory of your "
            "own instead, and copy into it only what you have checked" % (what, path, user(info.st_uid), user(me))
        )
    if stat.S_IMODE(info.st_mode) & 0o022:
        return (
            "group or others can write to the %s %s (mode %04o), so it is not trusted; nothing was changed. Check what it holds, "
            "then restrict it: chmod %s %s" % (what, path, stat.S_IMODE(info.st_mode), fix_mode, path)
        )
    return None


def open_private(path: str, flags: int, what: str, mode: int = 0o600) -> int:
    """Open a file of the store without following a link; refuse one another user owns or others can write."""
    try:
        fd = os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise StoreError(
                "the %s %s is a symbolic link; the token store never follows links (another user could point it anywhere). "
                "Replace it with the file itself; nothing was changed." % (what, path)
            ) from None
        raise
    try:
        info = os.fstat(fd)
        problem = None if stat.S_ISREG(info.st_mode) else "the %s %s is not a regular file; move it away; nothing was changed" % (what, path)
        problem = problem or untrusted(info, what, path, "0600")
    except BaseException:
        os.close(fd)
        raise
    if problem:
        os.close(fd)
        raise StoreError(problem)
    return fd


def create_exclusive(path: str) -> int:
    """A new file at ``path`` (0600), never an existing one: a leftover, link or planted file is removed first."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)


def replace_file(path: str, content: bytes, mode: int = 0o600, tmp: str | None = None, durable: bool = True) -> os.stat_result:
    """Put ``content`` at ``path`` atomically: a new temporary file beside it, written whole, renamed over it.

    The one way the controller writes its files (store, index, rescue, metrics): a reader sees the
    old file or the new one, never half of one. ``tmp`` names the temporary file (removed first, then
    created exclusively, so a planted link is never written through); without it a random name is
    used. ``durable`` fsyncs the file before and the directory after the rename. Returns the new
    file's status; OSError is the caller's to word, with the temporary file already removed.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if tmp is None:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    else:
        fd = create_exclusive(tmp)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
            info = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return info


def read_all(fd: int, limit: int = -1) -> bytes:
    with os.fdopen(fd, "rb", closefd=False) as handle:
        return handle.read(limit)
