"""preauth.oauth2.sealed_file run as a real module process, the way a target host runs it."""

from __future__ import annotations

import contextlib
import grp
import io
import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.preauth.oauth2.plugins.module_utils import _sealing
from helpers import COLLECTIONS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULE = os.path.join(ROOT, "plugins", "modules", "sealed_file.py")

FAKE = "<settings>FAKE-api-client-secret-0a1b2c FAKE-refresh-token-3d4e5f</settings>\n"
FAKE_CHANGED = "<settings>FAKE-api-client-secret-0a1b2c FAKE-refresh-token-999999</settings>\n"
MACHINE_ID = "0123456789abcdef0123456789abcdef\n"

SYSTEMD_CREDS_WORKS = _sealing.systemd_creds_works(_sealing.find_systemd_creds())
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root to give a file to another user, the user nobody (CI runs the unit tests as root)")


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

    def run(self, check_mode: bool = False, diff: bool = True, timeout: float | None = None, **args) -> dict:
        args.setdefault("host_key_path", self.host_key_path)
        args.setdefault("machine_id_path", self.machine_id_path)
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        self.runs += 1
        args_file = self.root / ("args-%d.json" % self.runs)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        # ansible-test units finds ansible itself through PYTHONPATH: keep it behind the collection.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [COLLECTIONS, os.environ.get("PYTHONPATH")])))
        proc = subprocess.run([sys.executable, MODULE, str(args_file)], capture_output=True, text=True, env=env, check=False, timeout=timeout)
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


@needs_root
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
    assert result["failed"] is True and result["reason"] == "path"
    assert result["msg"] == "The directory %s of %s does not exist; create it first, or set directory_mode to have this module create it." % (
        tmp_path / "missing",
        path,
    )
    assert target.run(path=path, state="absent")["changed"] is False


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


# --- a hostile service user -------------------------------------------------------------------
#
# The settings files live in a folder of the product's service user, who can rename, link and replace
# anything in it while root writes. These tests use the real unprivileged account nobody; they run as
# root, as the CI does. As a normal user, that user is the service user: the refusals are tested all the same,
# and what needs root (files of root's that a race could give away, a change of owner) skips.

SERVICE = pwd.getpwnam("nobody") if IS_ROOT else pwd.getpwuid(os.geteuid())
SERVICE_GROUP = grp.getgrgid(SERVICE.pw_gid).gr_name
VICTIM_CONTENT = b"FAKE-root-only-content\n"
PADDING = "<!-- padding -->\n" * (1 << 14)


def attributes(path: str) -> tuple:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink, read(path)


@pytest.fixture
def victim(tmp_path) -> str:
    """A file of root's (the service user's own, without root), mode 0600, in a directory of root's."""
    directory = tmp_path / "root-only"
    directory.mkdir(mode=0o700)
    path = directory / "victim"
    path.write_bytes(VICTIM_CONTENT)
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def home(tmp_path) -> str:
    """The service user's own folder, where the settings files go."""
    path = tmp_path / "svc"
    path.mkdir()
    os.chown(str(path), SERVICE.pw_uid, SERVICE.pw_gid)
    path.chmod(0o700)
    return str(path)


def become_the_service_user() -> None:
    """In a forked child: drop root for the service user's ids (a normal user is that user already)."""
    if IS_ROOT:
        os.setgroups([])
        os.setgid(SERVICE.pw_gid)
        os.setuid(SERVICE.pw_uid)


def as_service_user(directory: str, action) -> None:
    """Run ``action(dir_fd)`` as the service user in a forked child that holds only a descriptor of ``directory``."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            become_the_service_user()
            action(dir_fd)
            code = 0
        finally:
            os._exit(code)
    os.close(dir_fd)
    assert os.waitpid(pid, 0)[1] == 0, "the action as the service user failed"


def run_in_process(args: dict) -> dict:
    """The module's main() in this process: hundreds of runs in a race take seconds instead of minutes."""
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.preauth.oauth2.plugins.modules import sealed_file

    out = io.StringIO()
    with patch_module_args(dict(args, _ansible_diff=True)), contextlib.redirect_stdout(out):
        try:
            sealed_file.main()
        except SystemExit:
            pass
    assert "FAKE-api-client-secret" not in out.getvalue()
    return json.loads(out.getvalue())


class Attacker:
    """The service user in a tight loop, as a forked child running as nobody with a descriptor of its folder.

    Every temporary file root creates there (``.*.tmp``) is renamed away and replaced by a symbolic link
    to the victim, so a root that then chowns or chmods the temporary file by name changes the victim.
    Now and then the sealed file itself is replaced by such a link too.
    """

    def __init__(self, directory: str, victim: str, final_name: str) -> None:
        self.directory, self.victim, self.final_name = directory, victim, final_name

    def __enter__(self) -> Attacker:
        read_end, write_end = os.pipe()
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.close(read_end)
                become_the_service_user()
                os.write(write_end, json.dumps(self._attack(dir_fd)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        os.close(dir_fd)
        self.read_end = read_end
        return self

    def _attack(self, dir_fd: int) -> dict:
        stop = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
        counts = dict(swaps=0, finals=0)
        planted = set()
        loops = 0
        while not stop:
            loops += 1
            try:
                names = [entry.name for entry in os.scandir(dir_fd)]
            except OSError:
                continue
            for name in names:
                try:
                    if name.startswith(".") and name.endswith(".tmp") and name not in planted:
                        os.rename(name, "stolen-%d" % loops, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                        os.symlink(self.victim, name, dir_fd=dir_fd)
                        planted.add(name)
                        counts["swaps"] += 1
                    elif name.startswith("stolen-"):
                        os.unlink(name, dir_fd=dir_fd)
                    elif name == self.final_name and loops % 2000 == 0 and stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                        os.unlink(name, dir_fd=dir_fd)
                        os.symlink(self.victim, name, dir_fd=dir_fd)
                        counts["finals"] += 1
                except OSError:
                    pass
        return counts

    def __exit__(self, *exc_info) -> None:
        os.kill(self.pid, signal.SIGTERM)
        with os.fdopen(self.read_end, "rb") as pipe:
            report = pipe.read()
        status = os.waitpid(self.pid, 0)[1]
        self.counts = json.loads(report) if report else None
        assert status == 0 and self.counts is not None, "the attacker failed"


def put_back(path: str, data: bytes) -> None:
    """Put a regular file of the service user's with ``data`` at ``path`` unless one is there: exclusive create, fchown, no name followed."""
    while True:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            return
        if st is not None:
            os.unlink(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        try:
            os.write(fd, data)
            os.fchown(fd, SERVICE.pw_uid, SERVICE.pw_gid)
        finally:
            os.close(fd)


# Without root the victim is the user's own: a chown or chmod by name could not change it, so the test could not fail.
@pytest.mark.skipif(not IS_ROOT, reason="needs root, whose files a race in the folder of the user nobody could give away (CI runs as root)")
def test_a_symlink_race_on_the_temporary_file_never_reaches_a_file_of_roots(target, home, victim):
    """Bug 1: the temporary file was chowned and chmodded by name, in the user's folder."""
    name = "settings-acme-nl.xml.sealed"
    path = os.path.join(home, name)
    args = dict(
        path=path,
        method="hostkey",
        owner=SERVICE.pw_name,
        group=SERVICE_GROUP,
        mode="0600",
        host_key_path=target.host_key_path,
        machine_id_path=target.machine_id_path,
    )
    assert run_in_process(dict(args, content=FAKE))["changed"] is True
    sealed = read(path)
    before = attributes(victim)
    expected = ("was replaced by something else while it was written", "Cannot write %s (No such file or directory)" % path, "is a symbolic link; refusing")
    outcomes = dict(written=0, refused=0)
    with Attacker(home, victim, name) as attacker:
        for run in range(300):
            # an existing sealed file of the user's each time, so every run replaces one (the test, not the code under test, puts it back)
            put_back(path, sealed)
            # a large content keeps the temporary file around longer (write, fsync), for old and new code alike
            result = run_in_process(dict(args, content=FAKE.replace("3d4e5f", "%06d" % run) + PADDING))
            assert attributes(victim) == before, "run %d gave the victim to the attacker: %s" % (run, result.get("msg"))
            if result.get("failed"):
                outcomes["refused"] += 1
                assert any(text in result["msg"] for text in expected), result["msg"]
            else:
                outcomes["written"] += 1
    assert attacker.counts["swaps"] > 0, "the attacker never saw a temporary file: the race was not run"
    assert attributes(victim) == before


def test_a_symlinked_folder_with_directory_mode_is_refused(target, home, tmp_path):
    """Bug 2: a folder of the user's replaced by a link to a directory of root's made root write and chown there."""
    roots = tmp_path / "roots"
    roots.mkdir(mode=0o755)
    roots.chmod(0o755)
    (roots / "keep").write_bytes(b"root's file\n")
    before = (os.stat(str(roots)).st_uid, stat.S_IMODE(os.stat(str(roots)).st_mode), sorted(os.listdir(str(roots))))
    as_service_user(home, lambda dir_fd: os.symlink(str(roots), "invantive", dir_fd=dir_fd))
    path = os.path.join(home, "invantive", "settings-acme-nl.xml.sealed")

    def roots_unchanged() -> bool:
        return (os.stat(str(roots)).st_uid, stat.S_IMODE(os.stat(str(roots)).st_mode), sorted(os.listdir(str(roots)))) == before

    # the walk to the file's directory refuses the link: it sits in a folder the user can change
    result = target.run(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0600")
    assert roots_unchanged(), "root wrote into its own directory through the user's link"
    assert result["failed"] is True and "is a symbolic link, and the directory %s that holds it is owned by user %s" % (home, SERVICE.pw_name) in result["msg"]
    for check_mode in (True, False):
        result = target.run(
            check_mode=check_mode, path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0600", directory_mode="0700"
        )
        assert result["failed"] is True and result["reason"] == "path"
        assert result["msg"].startswith("%s is a symbolic link; refusing to follow it" % os.path.join(home, "invantive"))
        assert roots_unchanged()


def test_a_fifo_at_the_path_fails_at_once_and_is_named(target, home):
    """Bug 3: a FIFO at the sealed file's path made every deploy hang."""
    name = "settings-acme-nl.xml.sealed"
    path = os.path.join(home, name)
    as_service_user(home, lambda dir_fd: os.mkfifo(name, dir_fd=dir_fd))
    started = time.monotonic()
    result = target.run(timeout=20, path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0600")
    assert time.monotonic() - started < 10
    assert result["failed"] is True and result["reason"] == "path"
    assert result["msg"] == "%s is a named pipe (FIFO), not a regular file; refusing to use it. Remove it (rm %s) and run again." % (path, path)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    removed = target.run(timeout=20, path=path, state="absent")
    assert removed["changed"] is True and not os.path.lexists(path)


def test_a_symlink_at_the_path_is_refused_and_not_read(target, home, victim):
    name = "settings-acme-nl.xml.sealed"
    path = os.path.join(home, name)
    before = attributes(victim)
    as_service_user(home, lambda dir_fd: os.symlink(victim, name, dir_fd=dir_fd))
    result = target.run(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0600")
    assert result["failed"] is True and result["msg"].startswith("%s is a symbolic link; refusing to read it." % path)
    assert attributes(victim) == before and os.path.islink(path)
    removed = target.run(path=path, state="absent")
    assert removed["changed"] is True and not os.path.lexists(path) and attributes(victim) == before


def test_a_hard_link_to_a_file_of_roots_is_refused(target, home, victim):
    path = os.path.join(home, "settings-acme-nl.xml.sealed")
    os.link(victim, path)  # as root: fs.protected_hardlinks stops the user, but a host may have it off
    before = attributes(victim)
    for method in ("hostkey", "plain"):
        result = target.run(path=path, content=FAKE, method=method, owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0640")
        assert result["failed"] is True and result["reason"] == "path"
        assert result["msg"].startswith("%s has 2 hard links: it is also another file under another name" % path)
        assert VICTIM_CONTENT.decode().strip() not in result["msg"]
        assert attributes(victim) == before


@needs_root
def test_an_existing_file_whose_owner_and_mode_differ_is_rewritten(target, home):
    path = os.path.join(home, "settings-acme-nl.xml.sealed")
    target.run(path=path, content=FAKE, method="hostkey", mode="0600")
    sealed, inode = read(path), os.stat(path).st_ino
    result = target.run(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0640")
    st = os.stat(path)
    assert result["changed"] is True and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (SERVICE.pw_uid, SERVICE.pw_gid, 0o640)
    assert st.st_ino != inode, "a new file, not a chown/chmod of the old one"
    assert read(path) == sealed and unseal(target, path) == FAKE
    assert result["diff"]["before"]["mode"] == "0600" and result["diff"]["after"]["mode"] == "0640"
    assert result["diff"]["before"]["owner"] == 0 and result["diff"]["after"]["owner"] == SERVICE.pw_uid
    assert target.run(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0640")["changed"] is False
    assert target.run(path=path, content=FAKE, method="hostkey", mode="u=rw,g=r")["changed"] is False
    assert sorted(os.listdir(home)) == ["settings-acme-nl.xml.sealed"]


def test_an_existing_file_with_a_second_hard_link_is_not_touched(target, home, tmp_path):
    path = os.path.join(home, "settings-acme-nl.xml.sealed")
    target.run(path=path, content=FAKE, method="hostkey", mode="0600")
    other_name = str(tmp_path / "root-only-copy")
    os.link(path, other_name)
    before = attributes(other_name)
    result = target.run(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0644")
    assert result["failed"] is True and "has 2 hard links" in result["msg"]
    assert attributes(other_name) == before and attributes(path) == before


def test_directory_mode_creates_the_folder_then_is_idempotent(target, home):
    folder = os.path.join(home, "invantive")
    path = os.path.join(folder, "settings-acme-nl.xml.sealed")
    args = dict(path=path, content=FAKE, method="hostkey", owner=SERVICE.pw_name, group=SERVICE_GROUP, mode="0600", directory_mode="0700")

    predicted = target.run(check_mode=True, **args)
    assert predicted["changed"] is True and not os.path.exists(folder)
    assert predicted["diff"]["before"]["directory"] == {"path": folder, "state": "absent"}
    assert predicted["diff"]["after"]["directory"] == {"path": folder, "state": "directory", "mode": "0700", "owner": SERVICE.pw_uid, "group": SERVICE.pw_gid}

    first = target.run(**args)
    st = os.stat(folder)
    assert first["changed"] is True and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (SERVICE.pw_uid, SERVICE.pw_gid, 0o700)
    assert unseal(target, path) == FAKE and os.stat(path).st_uid == SERVICE.pw_uid

    again = target.run(**args)
    assert again["changed"] is False and again["diff"]["before"]["directory"] == again["diff"]["after"]["directory"]
    assert target.run(check_mode=True, **args)["changed"] is False

    os.chmod(folder, 0o755)
    fixed_in_check_mode = target.run(check_mode=True, **args)
    assert fixed_in_check_mode["changed"] is True and stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert fixed_in_check_mode["diff"]["before"]["directory"]["mode"] == "0755"
    fixed = target.run(**args)
    assert fixed["changed"] is True and stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_bad_owner_and_modes_are_refused(target, home):
    path = os.path.join(home, "f.sealed")
    result = target.run(path=path, content=FAKE, method="hostkey", owner="no-such-user-preauth")
    assert (
        result["failed"] is True
        and result["msg"] == "owner=no-such-user-preauth: there is no user no-such-user-preauth on this host. Create it first, or give another owner."
    )
    result = target.run(path=path, content=FAKE, method="hostkey", directory_mode="rwx")
    assert result["failed"] is True and result["msg"].startswith("directory_mode=rwx is not a mode")
    assert not os.path.exists(path)
