"""preauth.oauth2.sealed_file run as a real module process, the way a target host runs it."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys

import pytest

from ansible_collections.preauth.oauth2.plugins.module_utils import _sealing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULE = os.path.join(ROOT, "plugins", "modules", "sealed_file.py")
COLLECTIONS = os.path.join(ROOT, "build", "collections")

FAKE = "<settings>FAKE-api-client-secret-0a1b2c FAKE-refresh-token-3d4e5f</settings>\n"
FAKE_CHANGED = "<settings>FAKE-api-client-secret-0a1b2c FAKE-refresh-token-999999</settings>\n"
MACHINE_ID = "0123456789abcdef0123456789abcdef\n"

SYSTEMD_CREDS_WORKS = _sealing.systemd_creds_works(_sealing.find_systemd_creds())


class Target:
    """A simulated target host: host key and machine id in a temporary directory, and the module runner."""

    def __init__(self, root, machine_id: str = MACHINE_ID) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_key_path = str(root / "etc-preauth" / "hostkey")
        self.machine_id_path = str(root / "machine-id")
        with open(self.machine_id_path, "w") as handle:
            handle.write(machine_id)
        self.runs = 0

    def run(self, check_mode: bool = False, diff: bool = True, **args) -> dict:
        args.setdefault("host_key_path", self.host_key_path)
        args.setdefault("machine_id_path", self.machine_id_path)
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        self.runs += 1
        args_file = self.root / ("args-%d.json" % self.runs)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        proc = subprocess.run([sys.executable, MODULE, str(args_file)], capture_output=True, text=True, env=env, check=False)
        args_file.unlink()  # it held the fake content
        for value in (FAKE, FAKE_CHANGED, "FAKE-api-client-secret", "FAKE-refresh-token"):
            assert value not in proc.stdout and value not in proc.stderr
        result = json.loads(proc.stdout)
        assert ("failed" in result) == (proc.returncode != 0), proc.stderr
        return result


@pytest.fixture
def target(tmp_path) -> Target:
    return Target(tmp_path / "host-a")


@pytest.fixture
def path(tmp_path) -> str:
    directory = tmp_path / "invantive"
    directory.mkdir()
    return str(directory / "settings-acme-nl.xml.sealed")


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def unseal(target: Target, path: str) -> str:
    return _sealing.unseal(path, host_key_path=target.host_key_path, machine_id_path=target.machine_id_path).decode()


def test_round_trip_then_idempotent(target, path):
    first = target.run(path=path, content=FAKE, method="hostkey")
    assert first["changed"] is True and first["method"] == "hostkey"
    assert first["content_size"] == len(FAKE) and first["content_sha256"] == _sealing.fingerprint(FAKE.encode())
    assert first["state"] == "file" and first["mode"] == "0600"
    sealed = read(path)
    assert b"FAKE" not in sealed and unseal(target, path) == FAKE
    assert stat.S_IMODE(os.stat(target.host_key_path).st_mode) == 0o400

    second = target.run(path=path, content=FAKE, method="hostkey")
    assert second["changed"] is False and second["content_sha256"] == first["content_sha256"]
    assert read(path) == sealed
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]


def test_content_change_is_changed_and_resealed(target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    result = target.run(path=path, content=FAKE_CHANGED, method="hostkey")
    assert result["changed"] is True
    assert result["diff"]["before"]["content_sha256"] == _sealing.fingerprint(FAKE.encode())
    assert result["diff"]["after"]["content_sha256"] == _sealing.fingerprint(FAKE_CHANGED.encode())
    assert unseal(target, path) == FAKE_CHANGED


def test_check_mode_predicts_without_writing_or_creating_the_host_key(target, path):
    result = target.run(check_mode=True, path=path, content=FAKE, method="hostkey")
    assert result["changed"] is True and result["state"] == "absent"
    assert not os.path.exists(path) and not os.path.exists(target.host_key_path)

    target.run(path=path, content=FAKE, method="hostkey")
    sealed = read(path)
    assert target.run(check_mode=True, path=path, content=FAKE, method="hostkey")["changed"] is False
    assert target.run(check_mode=True, path=path, content=FAKE_CHANGED, method="hostkey")["changed"] is True
    assert target.run(check_mode=True, path=path, content=FAKE, method="hostkey", mode="0640")["changed"] is True
    assert read(path) == sealed and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_diff_shows_metadata_only(target, path):
    result = target.run(path=path, content=FAKE, method="hostkey")
    assert result["diff"] == {
        "before_header": path,
        "after_header": path,
        "before": {"state": "absent"},
        "after": {"state": "present", "method": "hostkey", "content_size": len(FAKE), "content_sha256": _sealing.fingerprint(FAKE.encode())},
    }
    changed = target.run(path=path, content=FAKE_CHANGED, method="hostkey", mode="0640")
    text = json.dumps(changed)
    assert "FAKE" not in text and "settings>" not in text
    assert changed["diff"]["before"]["method"] == "hostkey" and changed["diff"]["before"]["content_size"] == len(FAKE)


def test_file_from_another_machine_is_refused_and_left_untouched(tmp_path, target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    sealed = read(path)
    other = Target(tmp_path / "host-b", "fedcba9876543210fedcba9876543210\n")
    os.makedirs(os.path.dirname(other.host_key_path))
    with open(other.host_key_path, "wb") as handle:
        handle.write(read(target.host_key_path))  # the copied disk includes the key; the machine id still differs
    result = other.run(path=path, content=FAKE_CHANGED, method="hostkey")
    assert result["failed"] is True and result["reason"] == "other-host"
    assert result["msg"].startswith("%s was sealed with another host key or machine id: it comes from another host" % path)
    assert "It is left untouched. Remove it (state=absent, or delete the file) and seal the content again on this host" in result["msg"]
    assert read(path) == sealed


def test_tampered_file_is_refused_and_left_untouched(target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    tampered = bytearray(read(path))
    tampered[40] ^= 0x80
    with open(path, "wb") as handle:
        handle.write(bytes(tampered))
    result = target.run(path=path, content=FAKE, method="hostkey")
    assert result["failed"] is True and result["reason"] == "tampered"
    assert "fails its integrity check: it was changed after it was sealed (damaged or tampered with)" in result["msg"]
    assert read(path) == bytes(tampered)


def test_missing_host_key_with_an_existing_file_is_refused(target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    sealed = read(path)
    os.unlink(target.host_key_path)
    result = target.run(path=path, content=FAKE, method="hostkey")
    assert result["failed"] is True and result["reason"] == "no-host-key"
    assert "The host key %s is missing, so %s (sealed with the hostkey method) cannot be unsealed" % (target.host_key_path, path) in result["msg"]
    assert read(path) == sealed and not os.path.exists(target.host_key_path)


def test_a_plain_file_in_the_way_is_refused_and_left_untouched(target, path):
    with open(path, "w") as handle:
        handle.write("<settings/>\n")
    result = target.run(path=path, content=FAKE, method="hostkey")
    assert result["failed"] is True
    assert "It is left untouched" in result["msg"]
    assert read(path) == b"<settings/>\n"


def test_state_absent_removes_and_is_idempotent(target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    checked = target.run(check_mode=True, path=path, state="absent")
    assert checked["changed"] is True and os.path.exists(path)
    removed = target.run(path=path, state="absent")
    assert removed["changed"] is True and removed["state"] == "absent" and not os.path.exists(path)
    assert removed["diff"]["before"] == {"state": "present", "method": "hostkey"}
    assert target.run(path=path, state="absent")["changed"] is False


def test_state_absent_removes_a_file_from_another_machine(tmp_path, target, path):
    target.run(path=path, content=FAKE, method="hostkey")
    other = Target(tmp_path / "host-b", "fedcba9876543210fedcba9876543210\n")
    assert other.run(path=path, state="absent")["changed"] is True and not os.path.exists(path)


def test_owner_group_and_mode_are_applied(target, path):
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    result = target.run(path=path, content=FAKE, method="hostkey", owner="nobody", group=group, mode="0640")
    st = os.stat(path)
    assert result["changed"] is True and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o640)
    assert result["owner"] == "nobody" and result["mode"] == "0640"

    again = target.run(path=path, content=FAKE, method="hostkey", owner="nobody", group=group, mode="0640")
    assert again["changed"] is False

    only_mode = target.run(path=path, content=FAKE, method="hostkey", mode="0600")
    assert only_mode["changed"] is True and only_mode["diff"]["before"]["mode"] == "0640" and only_mode["diff"]["after"]["mode"] == "0600"

    resealed = target.run(path=path, content=FAKE_CHANGED, method="hostkey")
    st = os.stat(path)
    assert resealed["changed"] is True and (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, 0o600), "a replaced file keeps its owner and mode"


def test_content_is_required_for_state_present(target, path):
    result = target.run(path=path, method="hostkey")
    assert result["failed"] is True and "state is present but all of the following are missing: content" in result["msg"]


def test_missing_directory(tmp_path, target):
    path = str(tmp_path / "missing" / "f.sealed")
    result = target.run(path=path, content=FAKE, method="hostkey")
    assert result["failed"] is True and "does not exist; create it first" in result["msg"]


@pytest.mark.skipif(not SYSTEMD_CREDS_WORKS, reason="systemd-creds cannot encrypt and decrypt here (not installed, or no usable host key or TPM2)")
def test_systemd_creds_and_auto(target, path):
    first = target.run(path=path, content=FAKE, method="auto")
    assert first["changed"] is True and first["method"] == "systemd-creds"
    sealed = read(path)
    assert b"FAKE" not in sealed and not sealed.startswith(_sealing.MAGIC)
    assert unseal(target, path) == FAKE and not os.path.exists(target.host_key_path)
    assert target.run(path=path, content=FAKE, method="systemd-creds")["changed"] is False
    assert read(path) == sealed

    to_hostkey = target.run(path=path, content=FAKE, method="hostkey")
    assert to_hostkey["changed"] is True and to_hostkey["diff"]["before"]["method"] == "systemd-creds"
    assert to_hostkey["diff"]["after"]["method"] == "hostkey" and read(path).startswith(_sealing.MAGIC)
    assert target.run(path=path, content=FAKE, method="auto")["method"] == "systemd-creds"
    assert unseal(target, path) == FAKE


def test_auto_without_systemd_creds_uses_hostkey(target, path, tmp_path):
    # The module finds systemd-creds with get_bin_path, which also searches the system directories, so
    # removing it from PATH is not enough: a systemd-creds that always fails goes first on PATH instead.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "systemd-creds"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = "%s:%s" % (bin_dir, old_path)
    try:
        result = target.run(path=path, content=FAKE, method="auto")
    finally:
        os.environ["PATH"] = old_path
    assert result["changed"] is True and result["method"] == "hostkey" and unseal(target, path) == FAKE


def test_plain_method_writes_the_content_compares_bytes_and_creates_no_host_key(target, path):
    first = target.run(path=path, content=FAKE, method="plain", mode="0600")
    assert first["changed"] is True and first["method"] == "plain"
    assert read(path) == FAKE.encode()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not os.path.exists(target.host_key_path)
    again = target.run(path=path, content=FAKE, method="plain", mode="0600")
    assert again["changed"] is False
    changed = target.run(path=path, content=FAKE_CHANGED, method="plain", mode="0600")
    assert changed["changed"] is True
    assert changed["diff"]["before"]["content_sha256"] == _sealing.fingerprint(FAKE.encode())
    assert changed["diff"]["after"]["content_sha256"] == _sealing.fingerprint(FAKE_CHANGED.encode())
    assert read(path) == FAKE_CHANGED.encode()


def test_plain_method_in_check_mode_writes_nothing(target, path):
    result = target.run(check_mode=True, path=path, content=FAKE, method="plain")
    assert result["changed"] is True and not os.path.exists(path)
