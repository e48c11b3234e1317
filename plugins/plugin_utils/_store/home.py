# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A file token store knows where it lives: its home record ``<store_dir>/.home``.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A store directory copied to a second controller (or synced, or moved) and used from both places
kills every rotating chain in it: the first copy to refresh spends the refresh token, the second
presents the spent one, and the platform revokes the whole chain. So the store records where it
was set up, and a store found anywhere else refuses to refresh rotating chains or hand them to a
host until a person adopts it there.

The record (JSON, 0600, plaintext: nothing in it is secret) holds the machine's identity (a
SHA-256 of ``/etc/machine-id`` or ``/var/lib/dbus/machine-id``; a machine with neither is named by
its host name, and the record says so), the directory's real path, its device and inode (a copy
has another inode even on the same machine and path), when it was created and, after adoptions,
the earlier homes (the last ``HISTORY_LIMIT``).

It is written the first time a store directory is made ready for a write. A store without one
predates this record and is adopted silently, once, wherever it is then. The record is not signed:
the threat is an honest copy, and whoever can write the store directory can do anything to the
store anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.files import open_private, read_all, replace_file
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso

HOME_FILE = ".home"
HOME_FORMAT = 1
HOME_MAX_BYTES = 65536
HISTORY_LIMIT = 10
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
# systemd's format; an empty file or "uninitialized" (early boot, some container images) is no identity.
MACHINE_ID = re.compile(r"[0-9a-f]{32}")
ADOPT_HOW = "ansible-playbook preauth.oauth2.refresh -e preauth_adopt_store=true (or the adopt_store option of preauth.oauth2.token_refresh)"


class StoreCopyError(StoreError):
    """The store is not where it was set up; the message says why it refuses and how to go on."""


class _Damaged(Exception):
    """The home record cannot be read as one."""


def _digest(kind: str, value: str) -> str:
    # Prefixed, so the record never shows the machine id itself (systemd asks applications not to expose it).
    return hashlib.sha256(b"preauth.oauth2 store home\0" + kind.encode("utf-8") + b"\0" + value.encode("utf-8")).hexdigest()


def machine() -> dict[str, str]:
    """This machine's identity: a digest of its machine id, or of its host name when it has none."""
    hostname = socket.gethostname()
    for path in MACHINE_ID_FILES:
        try:
            with open(path, "rb") as handle:
                text = handle.read(256).decode("ascii", "replace").strip()
        except OSError:
            continue
        if MACHINE_ID.fullmatch(text):
            return {"id": _digest("machine-id", text), "source": path, "hostname": hostname}
    return {"id": _digest("hostname", hostname), "source": "hostname", "hostname": hostname}


def here(store_dir: str) -> dict[str, t.Any]:
    """Where the store directory is now: machine, real path, device and inode."""
    try:
        info = os.stat(store_dir)
    except OSError as exc:
        raise StoreError("cannot use the token store directory %s: %s" % (store_dir, exc.strerror)) from None
    return {"machine": machine(), "path": os.path.realpath(store_dir), "device": info.st_dev, "inode": info.st_ino}


def _path(store_dir: str) -> str:
    return os.path.join(store_dir, HOME_FILE)


def read_home(store_dir: str) -> dict[str, t.Any] | None:
    """The home record, or None when the store has none. StoreError for an untrusted file, _Damaged for bad content."""
    path = _path(store_dir)
    try:
        fd = open_private(path, os.O_RDONLY, "home record")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError("cannot read the home record %s of the token store: %s" % (path, exc.strerror)) from None
    try:
        raw = read_all(fd, HOME_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > HOME_MAX_BYTES:
        raise _Damaged("larger than %d bytes" % HOME_MAX_BYTES)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Damaged("not JSON") from None
    where = body.get("machine") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("format") != HOME_FORMAT
        or not isinstance(where, dict)
        or not all(isinstance(where.get(k), str) for k in ("id", "source", "hostname"))
        or not isinstance(body.get("path"), str)
        or not all(isinstance(body.get(k), int) and not isinstance(body.get(k), bool) for k in ("device", "inode"))
        or not isinstance(body.get("adopted_from", []), list)
    ):
        raise _Damaged("not a home record of format %d" % HOME_FORMAT)
    return body


def _write(store_dir: str, body: dict[str, t.Any]) -> None:
    """Replace the home record atomically (0600, durable); OSError is the caller's to word."""
    replace_file(_path(store_dir), json.dumps(body, sort_keys=True, indent=1).encode("utf-8") + b"\n")


def _record(place: dict[str, t.Any], now: float) -> dict[str, t.Any]:
    return {"format": HOME_FORMAT, **place, "created_at": iso(now), "adopted_at": None, "adopted_from": []}


def ensure_home(store_dir: str, now: t.Callable[[], float] = time.time) -> None:
    """Record the home of a store directory that has no record yet (new, or older than the record).

    Best effort: a record that cannot be written now is written by the next write, and a store
    without one is not refused.
    """
    if os.path.lexists(_path(store_dir)):
        return
    with contextlib.suppress(OSError, StoreError):
        _write(store_dir, _record(here(store_dir), now()))


def _place(home: t.Mapping[str, t.Any]) -> str:
    where = home["machine"]
    by_name = " (a machine without a machine id, named by its host name)" if where.get("source") == "hostname" else ""
    return "%s on %s%s" % (home["path"], where.get("hostname") or "an unnamed machine", by_name)


def _differences(recorded: t.Mapping[str, t.Any], place: t.Mapping[str, t.Any]) -> list[str]:
    found = []
    if recorded["machine"]["id"] != place["machine"]["id"]:
        found.append("another machine")
    if recorded["path"] != place["path"]:
        found.append("another path")
    if (recorded["device"], recorded["inode"]) != (place["device"], place["inode"]):
        found.append(
            "another directory (device and inode %d:%d, recorded %d:%d: a copy, or a restore that recreated it)"
            % (place["device"], place["inode"], recorded["device"], recorded["inode"])
        )
    return found


def _way_out() -> str:
    return (
        "Nothing was sent or changed. If this is now the only copy (the store was moved), adopt it here: %s. If the original is still in "
        "use, keep using that one and remove this copy. To share chains among several controllers, use the PostgreSQL store (store_url)." % ADOPT_HOW
    )


def home_problem(store_dir: str) -> str | None:
    """None when the store is at its home (or has no record yet); otherwise why it refuses and how to go on."""
    if not os.path.isdir(store_dir):
        return None
    path = _path(store_dir)
    try:
        recorded = read_home(store_dir)
    except _Damaged as exc:
        return (
            "the home record %s of the token store is damaged (%s), so it cannot tell whether this store is a copy; rotating "
            "refresh-token chains are neither refreshed nor handed to a host from it. %s" % (path, exc, _way_out())
        )
    if recorded is None:
        return None
    place = here(store_dir)
    differs = _differences(recorded, place)
    if not differs:
        return None
    return (
        "the token store %s is not where it was set up: it belongs to %s, and this is %s. Rotating refresh-token chains are neither "
        "refreshed nor handed to a host from a copy: when a copy and its original both refresh a chain, the platform sees a spent "
        "refresh token used again and revokes the whole chain, and a person must preauthenticate it again. %s"
        % (place["path"], _place(recorded), "; ".join(differs), _way_out())
    )


def check_home(store_dir: str) -> None:
    problem = home_problem(store_dir)
    if problem is not None:
        raise StoreCopyError(problem)


def _describe(home: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {"host": home["machine"].get("hostname"), "path": home["path"]}


def adopt(store_dir: str, check_mode: bool = False, now: t.Callable[[], float] = time.time) -> dict[str, t.Any]:
    """Make here the store's home, keeping the previous home in its history.

    Returns ``changed``, and ``from`` (the previous home, None when it was unknown) and ``to``.
    """
    if not os.path.isdir(store_dir):
        return {"changed": False, "from": None, "to": None}
    place = here(store_dir)
    try:
        recorded = read_home(store_dir)
    except _Damaged:
        recorded = None
        damaged = True
    else:
        damaged = False
    if recorded is None and not damaged:
        # A store older than the record is at home wherever it is first seen: nothing to adopt.
        if not check_mode:
            ensure_home(store_dir, now)
        return {"changed": False, "from": None, "to": _describe(place)}
    if recorded is not None and not _differences(recorded, place):
        return {"changed": False, "from": None, "to": _describe(place)}
    result = {"changed": True, "from": _describe(recorded) if recorded is not None else None, "to": _describe(place)}
    if check_mode:
        return result
    at = now()
    body = _record(place, at)
    if recorded is not None:
        earlier = [entry for entry in recorded.get("adopted_from") or [] if isinstance(entry, dict)]
        left = {k: recorded.get(k) for k in ("machine", "path", "device", "inode", "created_at", "adopted_at")}
        body["created_at"] = recorded.get("created_at") if isinstance(recorded.get("created_at"), str) else body["created_at"]
        body["adopted_from"] = (earlier + [dict(left, left_at=iso(at))])[-HISTORY_LIMIT:]
    else:
        body["adopted_from"] = [{"damaged": True, "left_at": iso(at)}]
    body["adopted_at"] = iso(at)
    try:
        _write(store_dir, body)
    except OSError as exc:
        raise StoreError("cannot write the home record %s of the token store: %s" % (_path(store_dir), exc.strerror)) from None
    return result
