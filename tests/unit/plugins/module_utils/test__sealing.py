"""Sealing helpers, with real files, real AES-GCM and, where it works here, the real systemd-creds."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from ansible_collections.preauth.oauth2.plugins.module_utils import _sealing
from ansible_collections.preauth.oauth2.plugins.module_utils._sealing import SealingError

FAKE = b"<settings>FAKE-api-client-secret-0a1b2c FAKE-refresh-token-3d4e5f</settings>\n"
MACHINE_ID = "0123456789abcdef0123456789abcdef\n"
OTHER_MACHINE_ID = "fedcba9876543210fedcba9876543210\n"

SYSTEMD_CREDS = _sealing.find_systemd_creds()
SYSTEMD_CREDS_WORKS = _sealing.systemd_creds_works(SYSTEMD_CREDS)
needs_systemd_creds = pytest.mark.skipif(
    not SYSTEMD_CREDS_WORKS,
    reason="systemd-creds is %s on this machine; its path is tested where it can encrypt (the hostkey path is tested everywhere)"
    % ("not installed" if not SYSTEMD_CREDS else "installed but cannot encrypt and decrypt a probe here (no usable host key or TPM2)"),
)


class Host:
    """One simulated host: its own host key path and machine id in a temporary directory."""

    def __init__(self, root, machine_id: str = MACHINE_ID) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.host_key_path = str(root / "etc-preauth" / "hostkey")
        self.machine_id_path = str(root / "machine-id")
        with open(self.machine_id_path, "w") as handle:
            handle.write(machine_id)

    @property
    def keys(self) -> dict:
        return dict(host_key_path=self.host_key_path, machine_id_path=self.machine_id_path)

    def seal_to(self, path: str, plaintext: bytes = FAKE) -> bytes:
        sealed = _sealing.seal(plaintext, path, _sealing.HOSTKEY, **self.keys)
        _sealing.write_atomically(path, sealed)
        return sealed


@pytest.fixture
def host(tmp_path) -> Host:
    return Host(tmp_path / "host-a")


@pytest.fixture
def target(tmp_path) -> str:
    directory = tmp_path / "files"
    directory.mkdir()
    return str(directory / "settings-acme-nl.xml.sealed")


def unchanged(path: str, before: bytes) -> bool:
    with open(path, "rb") as handle:
        return handle.read() == before


def test_hostkey_round_trip_and_documented_format(host, target):
    sealed = host.seal_to(target)
    assert FAKE not in sealed and b"FAKE" not in sealed
    assert sealed[:8] == b"PAOSEAL\x00" and sealed[8] == 1 and sealed[9] == 1
    assert len(sealed) == 30 + len(FAKE) + 16
    assert _sealing.detect_method(sealed) == "hostkey"
    assert _sealing.unseal(target, **host.keys) == FAKE


def test_every_seal_differs_but_unseals_to_the_same_content(host, target):
    first = _sealing.seal(FAKE, target, "hostkey", **host.keys)
    second = _sealing.seal(FAKE, target, "hostkey", **host.keys)
    assert first != second and first[10:18] == second[10:18]
    assert _sealing.unseal_data(first, target, **host.keys) == _sealing.unseal_data(second, target, **host.keys) == FAKE


def test_host_key_is_created_once_root_0400_in_a_0700_directory(host, target):
    assert not os.path.exists(host.host_key_path)
    host.seal_to(target)
    st = os.stat(host.host_key_path)
    assert stat.S_IMODE(st.st_mode) == 0o400 and st.st_size == 32 and st.st_uid == os.geteuid()
    assert stat.S_IMODE(os.stat(os.path.dirname(host.host_key_path)).st_mode) == 0o700
    assert os.listdir(os.path.dirname(host.host_key_path)) == ["hostkey"]
    key = open(host.host_key_path, "rb").read()
    host.seal_to(target, b"FAKE-other-content")
    assert open(host.host_key_path, "rb").read() == key
    assert _sealing.ensure_host_key(host.host_key_path) == key


def test_file_from_another_machine_id_is_refused(tmp_path, host, target):
    host.seal_to(target)
    other = Host(tmp_path / "host-b", OTHER_MACHINE_ID)
    os.makedirs(os.path.dirname(other.host_key_path))
    with open(host.host_key_path, "rb") as src, open(other.host_key_path, "wb") as dst:
        dst.write(src.read())  # even the same host key does not help on a host with another machine id
    before = open(target, "rb").read()
    with pytest.raises(SealingError) as caught:
        _sealing.unseal(target, **other.keys)
    assert caught.value.reason == "other-host"
    assert "was sealed with another host key or machine id" in caught.value.msg and "seal the content again on this host" in caught.value.msg
    assert unchanged(target, before)


def test_file_from_another_host_key_is_refused(tmp_path, host, target):
    host.seal_to(target)
    other = Host(tmp_path / "host-b")  # same machine id, its own host key
    _sealing.ensure_host_key(other.host_key_path)
    with pytest.raises(SealingError, match="sealed with another host key or machine id"):
        _sealing.unseal(target, **other.keys)


@pytest.mark.parametrize("where", [9 + 1 + 8, 30, -1], ids=["nonce", "ciphertext", "tag"])
def test_a_changed_byte_is_refused(host, target, where):
    sealed = bytearray(host.seal_to(target))
    sealed[where] ^= 0x01
    with open(target, "wb") as handle:
        handle.write(bytes(sealed))
    with pytest.raises(SealingError) as caught:
        _sealing.unseal(target, **host.keys)
    assert caught.value.reason == "tampered"
    assert "fails its integrity check: it was changed after it was sealed" in caught.value.msg


def test_an_unknown_format_version_is_refused(host, target):
    sealed = bytearray(host.seal_to(target))
    sealed[8] = 2
    with pytest.raises(SealingError, match="format version 2, method 1; this collection reads version 1"):
        _sealing.unseal_data(bytes(sealed), target, **host.keys)


def test_a_truncated_file_is_refused(host, target):
    sealed = host.seal_to(target)
    with pytest.raises(SealingError, match="not a complete hostkey-sealed file"):
        _sealing.unseal_data(sealed[:40], target, **host.keys)


def test_a_file_moved_to_another_path_is_refused(host, target, tmp_path):
    sealed = host.seal_to(target)
    moved = str(tmp_path / "files" / "moved.sealed")
    with open(moved, "wb") as handle:
        handle.write(sealed)
    with pytest.raises(SealingError, match="or it was sealed for another path and moved here"):
        _sealing.unseal(moved, **host.keys)


def test_missing_host_key_with_an_existing_file(host, target):
    host.seal_to(target)
    os.unlink(host.host_key_path)
    with pytest.raises(SealingError) as caught:
        _sealing.unseal(target, **host.keys)
    assert caught.value.reason == "no-host-key"
    assert "The host key %s is missing, so %s" % (host.host_key_path, target) in caught.value.msg
    assert "Restore the host key from a backup" in caught.value.msg


def test_damaged_host_key(host, target):
    host.seal_to(target)
    os.chmod(host.host_key_path, 0o600)
    with open(host.host_key_path, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(SealingError, match="is damaged: it holds more bytes instead of 32"):
        _sealing.unseal(target, **host.keys)


def test_missing_or_empty_machine_id(host, target):
    os.unlink(host.machine_id_path)
    with pytest.raises(SealingError, match="Cannot read the machine id from .*systemd-machine-id-setup"):
        host.seal_to(target)
    open(host.machine_id_path, "w").close()
    with pytest.raises(SealingError, match="is empty"):
        host.seal_to(target)
    assert not os.path.exists(target)


def test_unseal_of_a_missing_file(host, target):
    with pytest.raises(SealingError, match="does not exist; deploy it with preauth.oauth2.sealed_file first"):
        _sealing.unseal(target, **host.keys)


def test_a_plain_file_without_systemd_creds_is_refused(host, target):
    with pytest.raises(SealingError, match="is not a hostkey-sealed file, and systemd-creds, which would read it otherwise, is not installed"):
        _sealing.systemd_creds_unseal(b"<settings/>", target, None)


def test_write_at_sets_owner_and_mode_on_the_descriptor_and_leaves_no_temporary_file(target):
    nobody = pwd.getpwnam("nobody")
    dir_fd = _sealing.open_directory(os.path.dirname(target))
    try:
        _sealing.write_at(dir_fd, os.path.basename(target), target, b"ciphertext", 0o640, nobody.pw_uid, nobody.pw_gid)
        st = os.stat(target)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink) == (nobody.pw_uid, nobody.pw_gid, 0o640, 1)
        first_inode = st.st_ino
        _sealing.write_at(dir_fd, os.path.basename(target), target, b"ciphertext 2", 0o600)
        st = os.stat(target)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o600) and st.st_ino != first_inode, "replaced, not changed in place"
    finally:
        os.close(dir_fd)
    assert unchanged(target, b"ciphertext 2")
    assert os.listdir(os.path.dirname(target)) == [os.path.basename(target)]


def test_write_atomically_into_a_missing_directory(tmp_path):
    with pytest.raises(_sealing.MissingPathError) as caught:
        _sealing.write_atomically(str(tmp_path / "nowhere" / "f.sealed"), b"ciphertext")
    assert caught.value.reason == "path"
    assert caught.value.msg == "The directory %s does not exist. Create it first, or give the path of an existing directory." % (tmp_path / "nowhere")


def test_write_at_removes_the_temporary_file_when_a_step_fails(target, monkeypatch):
    def refuse(fd: int, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    dir_fd = _sealing.open_directory(os.path.dirname(target))
    try:
        with pytest.raises(SealingError, match="Cannot write .*Operation not permitted"):
            _sealing.write_at(dir_fd, os.path.basename(target), target, b"ciphertext", 0o600)
    finally:
        os.close(dir_fd)
    assert os.listdir(os.path.dirname(target)) == []


def test_fingerprint_is_12_hex_digits_of_sha256():
    assert _sealing.fingerprint(b"") == "e3b0c44298fc"
    assert len(_sealing.fingerprint(FAKE)) == 12


def test_auto_without_systemd_creds_is_hostkey():
    assert _sealing.resolve_method("auto", None) == "hostkey"
    assert _sealing.resolve_method("systemd-creds", None) == "systemd-creds"


def test_auto_with_a_systemd_creds_that_fails_is_hostkey(tmp_path):
    broken = tmp_path / "systemd-creds"
    broken.write_text("#!/bin/sh\necho 'Failed to determine local credential host secret' >&2\nexit 1\n")
    broken.chmod(0o755)
    assert _sealing.resolve_method("auto", str(broken)) == "hostkey"
    with pytest.raises(SealingError, match="systemd-creds could not encrypt .*: Failed to determine local credential host secret. Use method=hostkey"):
        _sealing.seal(FAKE, str(tmp_path / "f.sealed"), "systemd-creds", systemd_creds=str(broken))


@needs_systemd_creds
def test_systemd_creds_round_trip(host, target):
    sealed = _sealing.seal(FAKE, target, "systemd-creds", **host.keys)
    assert b"FAKE" not in sealed and _sealing.detect_method(sealed) == "systemd-creds"
    _sealing.write_atomically(target, sealed)
    assert _sealing.unseal(target, **host.keys) == FAKE
    assert _sealing.resolve_method("auto", SYSTEMD_CREDS) == "systemd-creds"
    assert not os.path.exists(host.host_key_path)


@needs_systemd_creds
def test_systemd_creds_file_under_another_name_is_refused(host, target, tmp_path):
    sealed = _sealing.seal(FAKE, target, "systemd-creds", **host.keys)
    renamed = str(tmp_path / "files" / "renamed.sealed")
    _sealing.write_atomically(renamed, sealed)
    with pytest.raises(SealingError) as caught:
        _sealing.unseal(renamed, **host.keys)
    assert caught.value.reason == "systemd-creds"
    assert "systemd-creds could not decrypt %s" % renamed in caught.value.msg and "renamed (its credential name is its file name)" in caught.value.msg
    assert unchanged(renamed, sealed)


@needs_systemd_creds
def test_systemd_creds_tampered_file_is_refused(host, target):
    sealed = bytearray(_sealing.seal(FAKE, target, "systemd-creds", **host.keys))
    middle = len(sealed) // 2
    sealed[middle] = ord("A") if sealed[middle] != ord("A") else ord("B")
    with pytest.raises(SealingError, match="systemd-creds could not decrypt"):
        _sealing.unseal_data(bytes(sealed), target, **host.keys)


@pytest.mark.parametrize(
    "method",
    ["hostkey", pytest.param("systemd-creds", marks=needs_systemd_creds)],
)
def test_empty_content_round_trips(host, target, method):
    _sealing.write_atomically(target, _sealing.seal(b"", target, method, **host.keys))
    assert _sealing.unseal(target, **host.keys) == b""
