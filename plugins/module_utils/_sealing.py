# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sealed files: content encrypted at rest and bound to the host that sealed it.

This module util is PRIVATE to the collection. It can change at any time without notice.

It runs on target hosts (the ``preauth.oauth2.sealed_file`` module and the runner that unseals
settings for the product), so it has no Ansible imports and keeps to Python 3.8.

The rule on target hosts: **root never acts by name on a path the product's service user can
change.** That user owns the folder the settings files live in, so between two system calls it can
put a symbolic link, a hard link, a FIFO or another file where a name was. Therefore:

- Directories are reached by walking the path one component at a time from ``/``, each opened with
  ``O_DIRECTORY|O_NOFOLLOW`` relative to the previous one (`open_directory`). A symbolic link on the
  way is followed only when the directory that holds it is owned by root and not writable by group
  or others, so no other user can have put it there (``/var/run -> /run`` works,
  ``~svc/invantive -> /etc`` does not); at most 40 links are followed.
- Files are created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` under that directory's descriptor, and their
  owner and mode are set with ``fchown``/``fchmod`` on the new file's descriptor before it is renamed
  into place (`write_at`). After the rename the name is checked to hold our file.
- Existing files are opened with ``O_NOFOLLOW|O_NONBLOCK`` and checked with ``fstat``: a regular file,
  at most `MAX_FILE_SIZE` bytes, optionally one link and a given owner (`read_at`). Nothing is looked
  up a second time by name.
- An existing file is never chowned or chmodded in place (it could be a hard link to a file of root's):
  a file whose owner or mode must change is rewritten through a fresh temporary file.

Two methods, told apart by the first bytes of the file:

``systemd-creds``
    The file is exactly what ``systemd-creds encrypt --with-key=auto --name=<NAME> - -`` writes
    (TPM2 where present, else systemd's host key ``/var/lib/systemd/credential.secret``), so
    ``systemd-creds decrypt --name=<NAME> <file> -`` and ``LoadCredentialEncrypted=`` read it too.
    ``<NAME>`` is the file's base name: systemd-creds refuses to decrypt under another name, so a
    renamed file no longer unseals. Plaintext goes in on stdin and comes out on stdout, never on a
    command line or in a temporary file.

``hostkey``
    AES-256-GCM (``cryptography``) under a per-file key. All integers are single bytes::

        offset  size  field
        0       8     magic  b"PAOSEAL\\x00"
        8       1     format version, 1
        9       1     method, 1 = hostkey
        10      8     key id: HKDF-SHA256(IKM=host key, salt=machine id, info=b"preauth.oauth2 key-id v1"), 8 bytes
        18      12    nonce, random for every seal
        30      n+16  AES-256-GCM ciphertext of the n plaintext bytes followed by the 16-byte tag;
                      the 30 header bytes are the associated data, so none of them can change unnoticed

    The file key is HKDF-SHA256(IKM=host key, salt=machine id,
    info=b"preauth.oauth2 sealed_file v1\\x00" + absolute path of the file), 32 bytes. The host key
    is 32 random bytes in ``/etc/preauth/hostkey`` (mode 0400, in a 0700 directory, created once,
    atomically, and never read by anything but this code on this host); the machine id is the
    stripped content of ``/etc/machine-id``. A file copied to another host (other key or machine
    id) or to another path, or changed in any byte, does not unseal. The key id only lets the
    error say which of those is likely; it reveals nothing about the key.

Fingerprints are the first 12 hex digits of the plaintext's SHA-256: enough to see that content
changed, and the only thing about the content that is ever reported.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import traceback

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()  # type: str | None
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

DEFAULT_HOST_KEY_PATH = "/etc/preauth/hostkey"
DEFAULT_MACHINE_ID_PATH = "/etc/machine-id"

HOSTKEY = "hostkey"
SYSTEMD_CREDS = "systemd-creds"
METHODS = (HOSTKEY, SYSTEMD_CREDS)

MAGIC = b"PAOSEAL\x00"
VERSION = 1
METHOD_HOSTKEY = 1
KEY_ID_SIZE = 8
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + 2 + KEY_ID_SIZE + NONCE_SIZE
HOST_KEY_SIZE = 32

_FILE_KEY_INFO = b"preauth.oauth2 sealed_file v1\x00"
_KEY_ID_INFO = b"preauth.oauth2 key-id v1"
_PROBE = b"preauth.oauth2 systemd-creds probe"
_RESEAL_HINT = "Remove it (state=absent, or delete the file) and seal the content again on this host, or restore the original file."


class SealingError(Exception):
    """An expected failure; the message names the file and the next step, never the content."""

    def __init__(self, msg: str, reason: str = "error") -> None:
        super().__init__(msg)
        self.msg = msg
        self.reason = reason

    def __str__(self) -> str:
        return self.msg


def fingerprint(plaintext: bytes) -> str:
    """The first 12 hex digits of the plaintext's SHA-256.

    The same digest as the controller's ``plugin_utils._oauth.client.fingerprint`` (a plan's ``content_sha256``), which a
    target cannot import.
    """
    return hashlib.sha256(plaintext).hexdigest()[:12]


def detect_method(data: bytes) -> str:
    """Which method sealed ``data``: ``hostkey`` when it starts with the magic, else ``systemd-creds``."""
    return HOSTKEY if data.startswith(MAGIC) else SYSTEMD_CREDS


def credential_name(path: str) -> str:
    """The systemd credential name of a sealed file: its base name."""
    return os.path.basename(os.path.abspath(path))


def _require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise SealingError(
            "The hostkey method needs the Python library cryptography on the target host. Install it (for example the "
            "python3-cryptography package) for the Python that runs the module, or use method=systemd-creds.",
            reason="missing-library",
        )


# --- host key and machine id ------------------------------------------------------------------


def read_machine_id(machine_id_path: str = DEFAULT_MACHINE_ID_PATH) -> bytes:
    """The machine id as bytes (stripped); a missing or empty file is an error."""
    try:
        with open(machine_id_path, "rb") as handle:
            machine_id = handle.read().strip()
    except OSError as exc:
        raise SealingError(
            "Cannot read the machine id from %s (%s). The hostkey method binds sealed files to it; "
            "run systemd-machine-id-setup or dbus-uuidgen --ensure=%s to create one." % (machine_id_path, exc.strerror, machine_id_path),
            reason="machine-id",
        ) from None
    if not machine_id:
        raise SealingError(
            "The machine id file %s is empty. The hostkey method binds sealed files to it; run systemd-machine-id-setup to fill it." % machine_id_path,
            reason="machine-id",
        )
    return machine_id


def read_host_key(host_key_path: str = DEFAULT_HOST_KEY_PATH) -> bytes | None:
    """The host key, or ``None`` when it does not exist yet. A key of the wrong size is an error."""
    try:
        with open(host_key_path, "rb") as handle:
            key = handle.read(HOST_KEY_SIZE + 1)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise SealingError(
            "Cannot read the host key %s (%s). Run the task as root (become: true)." % (host_key_path, exc.strerror),
            reason="host-key",
        ) from None
    if len(key) != HOST_KEY_SIZE:
        raise SealingError(
            "The host key %s is damaged: it holds %s bytes instead of %d. Restore it from a backup; files sealed with it "
            "cannot be unsealed without it." % (host_key_path, "more" if len(key) > HOST_KEY_SIZE else len(key), HOST_KEY_SIZE),
            reason="host-key",
        )
    return key


def ensure_host_key(host_key_path: str = DEFAULT_HOST_KEY_PATH) -> bytes:
    """Return the host key, creating it once if missing: 32 random bytes, mode 0400, directory 0700.

    The key is written to a temporary file in the key's directory and linked into place, so a
    reader never sees a partial key, and of two concurrent creators the first one wins.
    """
    key = read_host_key(host_key_path)
    if key is not None:
        return key
    directory = os.path.dirname(os.path.abspath(host_key_path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hostkey.", suffix=".tmp")
    except OSError as exc:
        raise SealingError(
            "Cannot create the host key %s (%s). Run the task as root (become: true)." % (host_key_path, exc.strerror),
            reason="host-key",
        ) from None
    try:
        os.fchmod(fd, 0o400)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(HOST_KEY_SIZE))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, host_key_path)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        _fsync_directory(directory)
    except OSError as exc:
        raise SealingError("Cannot create the host key %s (%s)." % (host_key_path, exc.strerror), reason="host-key") from None
    finally:
        _unlink_quietly(tmp)
    key = read_host_key(host_key_path)
    if key is None:
        raise SealingError("The host key %s disappeared while it was created; run the task again." % host_key_path, reason="host-key")
    return key


# --- hostkey method ---------------------------------------------------------------------------


def _hkdf(host_key: bytes, machine_id: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=machine_id, info=info).derive(host_key)


def _file_key(host_key: bytes, machine_id: bytes, path: str) -> bytes:
    return _hkdf(host_key, machine_id, _FILE_KEY_INFO + os.fsencode(os.path.abspath(path)))


def _key_id(host_key: bytes, machine_id: bytes) -> bytes:
    return _hkdf(host_key, machine_id, _KEY_ID_INFO)[:KEY_ID_SIZE]


def hostkey_seal(plaintext: bytes, path: str, host_key: bytes, machine_id: bytes) -> bytes:
    """Seal ``plaintext`` for ``path`` on this host; returns the file's bytes."""
    _require_cryptography()
    header = MAGIC + bytes((VERSION, METHOD_HOSTKEY)) + _key_id(host_key, machine_id) + os.urandom(NONCE_SIZE)
    return header + AESGCM(_file_key(host_key, machine_id, path)).encrypt(header[-NONCE_SIZE:], plaintext, header)


def hostkey_unseal(data: bytes, path: str, host_key: bytes, machine_id: bytes) -> bytes:
    """The plaintext of a hostkey-sealed file's bytes ``data`` that was read from ``path``."""
    _require_cryptography()
    if len(data) < HEADER_SIZE + TAG_SIZE or not data.startswith(MAGIC):
        raise SealingError("%s is not a complete hostkey-sealed file (it is too short). %s" % (path, _RESEAL_HINT), reason="damaged")
    version, method = data[len(MAGIC)], data[len(MAGIC) + 1]
    if version != VERSION or method != METHOD_HOSTKEY:
        raise SealingError(
            "%s has sealed-file format version %d, method %d; this collection reads version %d, method %d (hostkey). "
            "Update the preauth.oauth2 collection on the controller. It is left untouched." % (path, version, method, VERSION, METHOD_HOSTKEY),
            reason="version",
        )
    header = data[:HEADER_SIZE]
    if header[len(MAGIC) + 2 : len(MAGIC) + 2 + KEY_ID_SIZE] != _key_id(host_key, machine_id):
        raise SealingError(
            "%s was sealed with another host key or machine id: it comes from another host, or this host's key or "
            "/etc/machine-id changed since. It is left untouched. %s" % (path, _RESEAL_HINT),
            reason="other-host",
        )
    try:
        return AESGCM(_file_key(host_key, machine_id, path)).decrypt(header[-NONCE_SIZE:], data[HEADER_SIZE:], header)
    except InvalidTag:
        raise SealingError(
            "%s fails its integrity check: it was changed after it was sealed (damaged or tampered with), or it was "
            "sealed for another path and moved here. It is left untouched. %s" % (path, _RESEAL_HINT),
            reason="tampered",
        ) from None


# --- systemd-creds method ---------------------------------------------------------------------


def find_systemd_creds() -> str | None:
    """The path of ``systemd-creds``, or ``None``."""
    return shutil.which("systemd-creds") or next((p for p in ("/usr/bin/systemd-creds", "/bin/systemd-creds") if os.access(p, os.X_OK)), None)


def _run(argv: list[str], stdin: bytes) -> subprocess.CompletedProcess:
    # Not AnsibleModule.run_command: unseal() also runs in the runner, where there is no module, and
    # run_command gives the child the module's own stdin when the input is empty (empty content).
    return subprocess.run(  # pylint: disable=ansible-bad-function
        argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, env=dict(os.environ, LC_ALL="C")
    )


def _stderr(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if "not located on encrypted media" not in line]
    return " ".join(lines).strip() or "exit code %d" % result.returncode


def systemd_creds_seal(plaintext: bytes, path: str, systemd_creds: str) -> bytes:
    """Encrypt ``plaintext`` with ``systemd-creds encrypt --with-key=auto`` under the file's credential name."""
    try:
        result = _run([systemd_creds, "encrypt", "--with-key=auto", "--name=" + credential_name(path), "-", "-"], plaintext)
    except OSError as exc:
        raise SealingError("Cannot run %s (%s); use method=hostkey." % (systemd_creds, exc.strerror), reason="systemd-creds") from None
    if result.returncode != 0 or not result.stdout:
        raise SealingError(
            "systemd-creds could not encrypt %s: %s. Use method=hostkey on hosts where systemd-creds does not work." % (path, _stderr(result)),
            reason="systemd-creds",
        )
    return result.stdout


def systemd_creds_unseal(data: bytes, path: str, systemd_creds: str | None) -> bytes:
    """Decrypt a systemd-creds sealed file's bytes ``data`` read from ``path``."""
    if not systemd_creds:
        raise SealingError(
            "%s is not a hostkey-sealed file, and systemd-creds, which would read it otherwise, is not installed on this host. "
            "It is left untouched. %s" % (path, _RESEAL_HINT),
            reason="systemd-creds",
        )
    try:
        result = _run([systemd_creds, "decrypt", "--name=" + credential_name(path), "-", "-"], data)
    except OSError as exc:
        raise SealingError("Cannot run %s (%s)." % (systemd_creds, exc.strerror), reason="systemd-creds") from None
    if result.returncode != 0:
        raise SealingError(
            "systemd-creds could not decrypt %s: %s. It was sealed on another host (other TPM2 or systemd host key), renamed "
            "(its credential name is its file name), damaged, or it is not a sealed file. It is left untouched. %s" % (path, _stderr(result), _RESEAL_HINT),
            reason="systemd-creds",
        )
    return result.stdout


def systemd_creds_works(systemd_creds: str | None) -> bool:
    """Whether ``systemd-creds`` exists and round-trips a probe value (no TPM2 needed: it falls back to its host key)."""
    if not systemd_creds:
        return False
    try:
        sealed = _run([systemd_creds, "encrypt", "--with-key=auto", "--name=preauth-probe", "-", "-"], _PROBE)
        if sealed.returncode != 0 or not sealed.stdout:
            return False
        opened = _run([systemd_creds, "decrypt", "--name=preauth-probe", "-", "-"], sealed.stdout)
    except OSError:
        return False
    return opened.returncode == 0 and opened.stdout == _PROBE


def resolve_method(method: str, systemd_creds: str | None) -> str:
    """``auto`` becomes ``systemd-creds`` when it works here, else ``hostkey``; an explicit method is kept."""
    if method == "auto":
        return SYSTEMD_CREDS if systemd_creds_works(systemd_creds) else HOSTKEY
    return method


def unseal_data(
    data: bytes,
    path: str,
    host_key_path: str = DEFAULT_HOST_KEY_PATH,
    machine_id_path: str = DEFAULT_MACHINE_ID_PATH,
    systemd_creds: str | None = None,
) -> bytes:
    """The plaintext of sealed bytes ``data`` that belong to ``path``, whichever method sealed them."""
    if detect_method(data) == SYSTEMD_CREDS:
        return systemd_creds_unseal(data, path, systemd_creds or find_systemd_creds())
    _require_cryptography()
    host_key = read_host_key(host_key_path)
    if host_key is None:
        raise SealingError(
            "The host key %s is missing, so %s (sealed with the hostkey method) cannot be unsealed. It is left untouched. "
            "Restore the host key from a backup; if it is lost, the file cannot be recovered: remove it (state=absent) and "
            "seal the content again, which creates a new host key." % (host_key_path, path),
            reason="no-host-key",
        )
    return hostkey_unseal(data, path, host_key, read_machine_id(machine_id_path))


def unseal(path: str, host_key_path: str = DEFAULT_HOST_KEY_PATH, machine_id_path: str = DEFAULT_MACHINE_ID_PATH) -> bytes:
    """Read the sealed file ``path`` and return its plaintext; the entry point for the runner.

    The method is read from the file itself (see the module docstring). Nothing is written and
    nothing is printed; the caller decides where the plaintext goes. Raises ``SealingError`` with
    a message that says what happened and what to do next (another host, tampered, no host key,
    systemd-creds missing or refusing, or a path that is not a regular file reached safely).
    """
    path = os.path.abspath(path)
    dir_fd = open_directory(os.path.dirname(path))
    try:
        data = read_at(dir_fd, os.path.basename(path), path)
    finally:
        os.close(dir_fd)
    if data is None:
        raise SealingError("%s does not exist; deploy it with preauth.oauth2.sealed_file first." % path, reason="missing")
    return unseal_data(data, path, host_key_path=host_key_path, machine_id_path=machine_id_path)


def seal(
    plaintext: bytes,
    path: str,
    method: str,
    host_key_path: str = DEFAULT_HOST_KEY_PATH,
    machine_id_path: str = DEFAULT_MACHINE_ID_PATH,
    systemd_creds: str | None = None,
) -> bytes:
    """Seal ``plaintext`` for ``path`` with ``method`` (``hostkey`` or ``systemd-creds``); creates the host key if needed."""
    if method == SYSTEMD_CREDS:
        systemd_creds = systemd_creds or find_systemd_creds()
        if not systemd_creds:
            raise SealingError("method=systemd-creds, but systemd-creds is not installed on this host; use method=hostkey or auto.", reason="systemd-creds")
        return systemd_creds_seal(plaintext, path, systemd_creds)
    _require_cryptography()
    machine_id = read_machine_id(machine_id_path)
    return hostkey_seal(plaintext, path, ensure_host_key(host_key_path), machine_id)


# --- files, strictly by file descriptor (see the rule in the module docstring) ---------------------

MAX_FILE_SIZE = 16 * 1024 * 1024
"""The largest file that is read (settings files are a few kilobytes); a bigger one is refused."""

MAX_SYMLINK_HOPS = 40
"""At most this many symbolic links are followed while a path is walked, like the kernel's own limit."""

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a terminal must not become ours.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMPORARY_ATTEMPTS = 16


class MissingPathError(SealingError):
    """A directory on the way to a path does not exist (``reason="path"``); state=absent treats that as done."""


def _file_type(mode: int) -> str:
    """A reader's name for the type of a file."""
    for test, name in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "named pipe (FIFO)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def _user_name(uid: int) -> str:
    try:
        return "user %s" % pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def _only_root_can_change(st: os.stat_result) -> bool:
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _who_can_change(st: os.stat_result) -> str:
    if st.st_uid != 0:
        return "is owned by %s" % _user_name(st.st_uid)
    return "is writable by %s" % (
        "group and others" if st.st_mode & stat.S_IWGRP and st.st_mode & stat.S_IWOTH else "group" if st.st_mode & stat.S_IWGRP else "others"
    )


def _check_name(name: str, path: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise SealingError("%s does not end in a file name; give the path of a file." % path, reason="path")


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def open_directory(path: str, root_only: bool = False) -> int:
    """A descriptor (``O_RDONLY|O_DIRECTORY|O_CLOEXEC``) of the directory ``path``, reached from ``/`` one component at a time.

    A symbolic link on the way is followed only when the directory that holds it is owned by root and
    not writable by group or others, at most `MAX_SYMLINK_HOPS` times. With ``root_only`` every
    directory on the way, the last one included, must be owned by root and not writable by group or
    others. Raises `SealingError` (``reason="path"``; `MissingPathError` for a missing component)
    naming ``path`` and the component at fault. The caller closes the descriptor.
    """
    path = os.path.abspath(path)
    pending = [part for part in reversed(path.split("/")) if part]
    where = "/"
    hops = 0
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if root_only:
            _require_root_only(fd, where, path)
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            here = os.path.normpath(os.path.join(where, part))
            try:
                next_fd = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except OSError as exc:
                st = _lstat_at(fd, part)
                if exc.errno == errno.ENOENT:
                    raise MissingPathError(
                        "The directory %s does not exist%s. Create it first, or give the path of an existing directory."
                        % (path, "" if here == path else " (%s is missing)" % here),
                        reason="path",
                    ) from None
                if st is None or not stat.S_ISLNK(st.st_mode):
                    if st is not None and not stat.S_ISDIR(st.st_mode):
                        raise SealingError(
                            "%s cannot be reached: %s is a %s, not a directory." % (path, here, _file_type(st.st_mode)),
                            reason="path",
                        ) from None
                    raise SealingError("Cannot open the directory %s (%s: %s)." % (path, here, exc.strerror), reason="path") from None
                holder = os.fstat(fd)
                if not _only_root_can_change(holder):
                    raise SealingError(
                        "%s cannot be reached safely: %s is a symbolic link, and the directory %s that holds it %s, so someone other "
                        "than root could point it anywhere; refusing to follow it. Give the path without symbolic links, or replace the link "
                        "by a directory." % (path, here, where, _who_can_change(holder)),
                        reason="path",
                    ) from None
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SealingError(
                        "%s cannot be reached: more than %d symbolic links on the way (a loop?)." % (path, MAX_SYMLINK_HOPS), reason="path"
                    ) from None
                # The holder is root's alone, so the link read now is the one the open above met.
                target = os.readlink(part, dir_fd=fd)
                pending.extend(p for p in reversed(target.split("/")) if p)
                if target.startswith("/"):
                    os.close(fd)
                    fd = -1
                    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    where = "/"
                continue
            os.close(fd)
            fd = next_fd
            where = here
            if root_only:
                _require_root_only(fd, where, path)
        result, fd = fd, -1
        return result
    finally:
        if fd >= 0:
            os.close(fd)


def _require_root_only(fd: int, where: str, path: str) -> None:
    st = os.fstat(fd)
    if not _only_root_can_change(st):
        raise SealingError(
            "%s must be root's alone, but the directory %s on the way %s. Make it owned by root and not writable by group or others, "
            "or use another path." % (path, where, _who_can_change(st)),
            reason="path",
        )


def read_at_with_stat(
    dir_fd: int, name: str, path: str, max_size: int = MAX_FILE_SIZE, owner: int | None = None, single_link: bool = False
) -> tuple[bytes, os.stat_result] | None:
    """`read_at`, also returning the ``fstat`` of the file that was read."""
    _check_name(name, path)
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise SealingError("%s is a symbolic link; refusing to read it. Remove the link (rm %s) and run again." % (path, path), reason="path") from None
        st = _lstat_at(dir_fd, name)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise _not_a_regular_file(path, st.st_mode) from None
        raise SealingError("Cannot read %s (%s)." % (path, exc.strerror), reason="path") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_a_regular_file(path, st.st_mode)
        if owner is not None and st.st_uid != owner:
            raise SealingError(
                "%s is owned by %s, not by %s; refusing to read it. Remove it, or chown it to %s if it is yours."
                % (path, _user_name(st.st_uid), _user_name(owner), _user_name(owner)),
                reason="path",
            )
        if single_link and st.st_nlink > 1:
            raise SealingError(
                "%s has %d hard links: it is also another file under another name, which must not be replaced or read through it; "
                "refusing. Remove it (rm %s) and run again." % (path, st.st_nlink, path),
                reason="path",
            )
        if st.st_size > max_size:
            raise _too_big(path, max_size)
        chunks = []
        size = 0
        while size <= max_size:
            chunk = os.read(fd, min(1 << 16, max_size + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_size:
            raise _too_big(path, max_size)
        return b"".join(chunks), st
    except OSError as exc:
        raise SealingError("Cannot read %s (%s)." % (path, exc.strerror), reason="path") from None
    finally:
        os.close(fd)


def read_at(dir_fd: int, name: str, path: str, max_size: int = MAX_FILE_SIZE, owner: int | None = None, single_link: bool = False) -> bytes | None:
    """The bytes of the file ``name`` in the directory ``dir_fd``, or ``None`` when there is none.

    Refuses (`SealingError`, ``reason="path"``) a symbolic link, anything but a regular file (saying
    which type it is), a file of more than ``max_size`` bytes, a file not owned by ``owner`` (when
    given) and, with ``single_link``, a file with more than one hard link. ``path`` is the file's
    full path, for messages only.
    """
    found = read_at_with_stat(dir_fd, name, path, max_size=max_size, owner=owner, single_link=single_link)
    return None if found is None else found[0]


def _not_a_regular_file(path: str, mode: int) -> SealingError:
    return SealingError(
        "%s is a %s, not a regular file; refusing to use it. Remove it (rm %s) and run again." % (path, _file_type(mode), path),
        reason="path",
    )


def _too_big(path: str, max_size: int) -> SealingError:
    return SealingError(
        "%s is larger than %d bytes, far more than a settings file; refusing to read it. Check what it is and remove it." % (path, max_size),
        reason="path",
    )


def write_at(dir_fd: int, name: str, path: str, data: bytes, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Replace the file ``name`` in the directory ``dir_fd`` atomically with ``data``, owned ``uid``:``gid`` with ``mode``.

    A new temporary file (``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600) gets the data, fsync, then
    ``fchown`` and ``fchmod`` on its descriptor, and is renamed over ``name``; afterwards ``name`` must
    hold that file, or someone replaced it in between (`SealingError`). ``-1`` keeps the module user's
    owner or group. The temporary file is removed on every failure. ``path`` is for messages only.
    """
    _check_name(name, path)
    fd, created = _create_temporary(dir_fd, name, path)
    tmp = created  # type: str | None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        # after fchown, which clears set-user-ID and set-group-ID bits
        os.fchmod(fd, mode)
        ours = os.fstat(fd)
        os.rename(created, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = None
        # fd is still open, so our inode cannot be freed and its number reused by whatever took the name
        now = _lstat_at(dir_fd, name)
        if now is None or (now.st_dev, now.st_ino) != (ours.st_dev, ours.st_ino):
            raise SealingError(
                "%s was replaced by something else while it was written: another user changes that directory. Find out who, and run again." % path,
                reason="path",
            )
        os.fsync(dir_fd)
    except OSError as exc:
        raise SealingError("Cannot write %s (%s)." % (path, exc.strerror), reason="path") from None
    finally:
        os.close(fd)
        if tmp is not None:
            _unlink_at_quietly(dir_fd, tmp)


def _create_temporary(dir_fd: int, name: str, path: str) -> tuple[int, str]:
    for _attempt in range(_TEMPORARY_ATTEMPTS):
        tmp = ".%s.%s.tmp" % (name, os.urandom(6).hex())
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise SealingError("Cannot write in the directory of %s (%s)." % (path, exc.strerror), reason="path") from None
    raise SealingError("Cannot create a temporary file beside %s: every name tried exists already." % path, reason="path")


def remove_at(dir_fd: int, name: str, path: str) -> bool:
    """Remove the file ``name`` from the directory ``dir_fd`` (whatever kind of file it is); ``False`` when there was none.

    A directory there is an error. ``path`` is for messages only.
    """
    _check_name(name, path)
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EISDIR, errno.EPERM) and _is_directory_at(dir_fd, name):
            raise SealingError("%s is a directory, not a file; refusing to remove it. Remove it yourself if it is not needed." % path, reason="path") from None
        raise SealingError("Cannot remove %s (%s)." % (path, exc.strerror), reason="path") from None
    os.fsync(dir_fd)
    return True


def _is_directory_at(dir_fd: int, name: str) -> bool:
    st = _lstat_at(dir_fd, name)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _open_last_directory(path: str, create: bool) -> tuple[int, bool] | None:
    """A descriptor of the directory ``path`` and whether it was created now; ``None`` when it is missing and not created.

    The parent is reached with `open_directory`; the last component is opened with ``O_NOFOLLOW``.
    """
    parent, name = os.path.split(os.path.abspath(path))
    if not name:
        return os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), False
    parent_fd = open_directory(parent)
    try:
        created = False
        if create:
            try:
                # 0700 until fchown/fchmod on its descriptor give it the final owner and mode
                os.mkdir(name, 0o700, dir_fd=parent_fd)
                created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise SealingError("Cannot create the directory %s (%s)." % (path, exc.strerror), reason="path") from None
        try:
            return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd), created
        except FileNotFoundError:
            return None
        except OSError as exc:
            st = _lstat_at(parent_fd, name)
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise SealingError(
                    "%s is a symbolic link; refusing to follow it (whoever can change %s could point it at a directory of root's). "
                    "Replace it by a directory, or give the real directory as the path." % (path, parent),
                    reason="path",
                ) from None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                raise SealingError(
                    "%s is a %s, not a directory. Remove it, or give another path." % (path, _file_type(st.st_mode)),
                    reason="path",
                ) from None
            raise SealingError("Cannot open the directory %s (%s)." % (path, exc.strerror), reason="path") from None
    finally:
        os.close(parent_fd)


def directory_status(path: str) -> os.stat_result | None:
    """The ``fstat`` of the directory ``path``, or ``None`` when it is missing; a symbolic link as last component is refused.

    Changes nothing: check mode uses it to predict `ensure_directory`. The parent must exist.
    """
    found = _open_last_directory(path, create=False)
    if found is None:
        return None
    try:
        return os.fstat(found[0])
    finally:
        os.close(found[0])


def ensure_directory(path: str, mode: int, uid: int = -1, gid: int = -1) -> tuple[int, bool]:
    """Create the directory ``path`` when missing (its parent must exist) and give it ``mode``, ``uid`` and ``gid``.

    Returns a descriptor of the directory (the caller closes it) and whether anything changed. The
    parent is reached with `open_directory`; a symbolic link as the last component is refused. The
    owner and mode are set with ``fchown``/``fchmod`` on the directory's descriptor (a directory cannot
    be a hard link to something else). ``-1`` leaves the owner or group as it is.
    """
    path = os.path.abspath(path)
    if path == "/":
        raise SealingError("Refusing to change the owner or mode of /; give the path of a directory below it.", reason="path")
    found = _open_last_directory(path, create=True)
    if found is None:
        raise SealingError("The directory %s disappeared while it was created; find out what removes it, and run again." % path, reason="path")
    fd, changed = found
    try:
        st = os.fstat(fd)
        if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
            os.fchown(fd, uid, gid)
            changed = True
        # after fchown, which may clear the set-group-ID bit
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
            changed = True
        result, fd = fd, -1
        return result, changed
    except OSError as exc:
        raise SealingError("Cannot set the owner or mode of the directory %s (%s)." % (path, exc.strerror), reason="path") from None
    finally:
        if fd >= 0:
            os.close(fd)


def write_atomically(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace the file ``path`` with ``data`` (mode ``mode``, owned by the caller) through `open_directory` and `write_at`."""
    path = os.path.abspath(path)
    dir_fd = open_directory(os.path.dirname(path))
    try:
        write_at(dir_fd, os.path.basename(path), path, data, mode)
    finally:
        os.close(dir_fd)


def _unlink_at_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
