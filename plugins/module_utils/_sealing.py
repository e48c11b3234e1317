# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sealed files: content encrypted at rest and bound to the host that sealed it.

This module util is PRIVATE to the collection. It can change at any time without notice.

It runs on target hosts (the ``preauth.oauth2.sealed_file`` module and the runner that unseals
settings for the product), so it has no Ansible imports and keeps to Python 3.8.

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
    """The first 12 hex digits of the plaintext's SHA-256."""
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


# --- files ------------------------------------------------------------------------------------


def read_sealed(path: str) -> bytes | None:
    """The bytes of the sealed file, or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.EISDIR:
            raise SealingError("%s is a directory; give the path of a file." % path, reason="path") from None
        raise SealingError("Cannot read %s (%s)." % (path, exc.strerror), reason="path") from None


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
    systemd-creds missing or refusing).
    """
    data = read_sealed(path)
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


def write_atomically(path: str, data: bytes, before_rename=None) -> None:
    """Replace ``path`` with ``data``: temporary file (mode 0600) in the same directory, fsync, rename, fsync directory.

    ``before_rename(tmp_path)`` may set ownership and mode on the temporary file, so the file
    never appears with other attributes. ``data`` is ciphertext; nothing else is written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SealingError("The directory %s of %s does not exist; create it first (ansible.builtin.file, state=directory)." % (directory, path), reason="path")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as exc:
        raise SealingError("Cannot write in %s (%s)." % (directory, exc.strerror), reason="path") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename(tmp)
        os.rename(tmp, path)
        _fsync_directory(directory)
    except OSError as exc:
        raise SealingError("Cannot write %s (%s)." % (path, exc.strerror), reason="path") from None
    finally:
        _unlink_quietly(tmp)


def copy_attributes(source: str, target: str) -> None:
    """Give ``target`` the mode and, where permitted, the owner and group of ``source``."""
    st = os.stat(source)
    os.chmod(target, stat.S_IMODE(st.st_mode))
    try:
        os.chown(target, st.st_uid, st.st_gid)
    except PermissionError:
        pass


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
