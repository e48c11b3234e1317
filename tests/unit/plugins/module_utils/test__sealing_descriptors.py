"""The descriptor API of the sealing helpers: walking to a directory, reading, writing and removing by file descriptor.

These tests build the hostile layouts the service user could make (a folder of theirs replaced by a link to a
directory of root's, a FIFO or a hard link where a settings file belongs) as root, with the ownership the user
would have; the race against a running attacker is in tests/unit/plugins/modules/test_sealed_file.py. The CI runs
them as root, with the user nobody as the service user; as a normal user that user is the service user, and the tests
that need a directory of root's or files of another user skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile

import pytest

from ansible_collections.preauth.oauth2.plugins.module_utils import _sealing
from ansible_collections.preauth.oauth2.plugins.module_utils._sealing import SealingError

NOBODY = pwd.getpwnam("nobody")
IS_ROOT = os.geteuid() == 0
# The service user who owns the folders and links: nobody as root; a normal user can make files of its own only.
USER = NOBODY if IS_ROOT else pwd.getpwuid(os.geteuid())
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root to make a directory of root's alone, the only kind whose links are followed (CI runs as root)")
needs_root_to_chown = pytest.mark.skipif(not IS_ROOT, reason="needs root to give a directory to another user and back (CI runs as root)")
VICTIM_CONTENT = b"FAKE-root-only-content\n"


def user_dir(path, mode: int = 0o755) -> str:
    """A directory owned by the unprivileged user, as their home or Invantive folder would be."""
    os.mkdir(str(path))
    os.chown(str(path), USER.pw_uid, USER.pw_gid)
    os.chmod(str(path), mode)
    return str(path)


def root_dir(path, mode: int = 0o755) -> str:
    os.mkdir(str(path))
    os.chmod(str(path), mode)
    return str(path)


def user_symlink(target: str, link) -> str:
    os.symlink(target, str(link))
    os.lchown(str(link), USER.pw_uid, USER.pw_gid)
    return str(link)


def same_directory(fd: int, path: str) -> bool:
    st, expected = os.fstat(fd), os.stat(path)
    return (st.st_dev, st.st_ino) == (expected.st_dev, expected.st_ino)


def snapshot(path: str) -> tuple:
    st = os.lstat(path)
    content = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else sorted(os.listdir(path))
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink, content


@pytest.fixture
def victim(tmp_path) -> str:
    """A file of root's (of the user's, without root), mode 0600, in a directory of root's: what an attacker points links at."""
    directory = root_dir(tmp_path / "root-only", 0o700)
    path = os.path.join(directory, "victim")
    with open(path, "wb") as handle:
        handle.write(VICTIM_CONTENT)
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def root_base():
    """A directory outside /tmp whose every ancestor is root's alone, for root_only; removed afterwards."""
    for parent in ("/run", "/var/lib", "/opt", "/srv"):
        try:
            base = tempfile.mkdtemp(prefix="preauth-sealing-test-", dir=parent)
        except OSError:
            continue
        os.chmod(base, 0o755)
        try:
            os.close(_sealing.open_directory(base, root_only=True))
        except SealingError:
            shutil.rmtree(base)
            continue
        yield base
        shutil.rmtree(base)
        return
    pytest.fail("no directory of root's alone is writable here (tried /run, /var/lib, /opt, /srv); run the tests as root")


class Deadline:
    """Fail instead of hanging when a call blocks (a FIFO opened without O_NONBLOCK waits for a writer forever)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def expired(signum, frame):
            raise TimeoutError("blocked for more than %d seconds" % self.seconds)

        self.previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(self.seconds)

    def __exit__(self, *exc_info) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


# --- open_directory ---------------------------------------------------------------------------


@needs_root
def test_a_link_in_a_directory_of_roots_alone_is_followed(tmp_path):
    real = root_dir(tmp_path / "real")
    holder = root_dir(tmp_path / "holder", 0o755)
    os.symlink(real, os.path.join(holder, "absolute"))
    os.symlink("../real", os.path.join(holder, "relative"))
    os.symlink("absolute", os.path.join(holder, "chained"))
    for name in ("absolute", "relative", "chained"):
        fd = _sealing.open_directory(os.path.join(holder, name))
        try:
            assert same_directory(fd, real), name
        finally:
            os.close(fd)


def test_var_run_is_followed_to_run():
    if not os.path.islink("/var/run"):
        pytest.skip("/var/run is not a symbolic link on this machine")
    fd = _sealing.open_directory("/var/run", root_only=True)
    try:
        assert same_directory(fd, os.path.realpath("/var/run"))
    finally:
        os.close(fd)


def test_a_link_in_the_users_folder_to_a_directory_of_roots_is_refused(tmp_path):
    home = user_dir(tmp_path / "home")
    target = root_dir(tmp_path / "etc-like", 0o755)
    link = user_symlink(target, os.path.join(home, "invantive"))
    for path in (link, os.path.join(link, "sub")):
        with pytest.raises(SealingError) as caught:
            _sealing.open_directory(path)
        assert caught.value.reason == "path"
        assert caught.value.msg.startswith(
            "%s cannot be reached safely: %s is a symbolic link, and the directory %s that holds it is owned by user %s, so someone "
            "other than root could point it anywhere; refusing to follow it." % (path, link, home, USER.pw_name)
        )


@needs_root
@pytest.mark.parametrize("mode, who", [(0o775, "group"), (0o757, "others"), (0o1777, "group and others")])
def test_a_link_in_a_directory_others_can_write_is_refused(tmp_path, mode, who):
    real = root_dir(tmp_path / "real")
    holder = root_dir(tmp_path / "holder")
    os.chmod(holder, mode)
    os.symlink(real, os.path.join(holder, "link"))
    with pytest.raises(SealingError, match="the directory %s that holds it is writable by %s" % (holder, who)):
        _sealing.open_directory(os.path.join(holder, "link"))


@needs_root
def test_a_link_loop_ends_after_40_hops(tmp_path):
    holder = root_dir(tmp_path / "holder")
    os.symlink("b", os.path.join(holder, "a"))
    os.symlink("a", os.path.join(holder, "b"))
    with pytest.raises(SealingError, match="more than 40 symbolic links on the way"):
        _sealing.open_directory(os.path.join(holder, "a"))


def test_missing_and_non_directory_components(tmp_path):
    with pytest.raises(_sealing.MissingPathError, match=r"does not exist \(%s is missing\)" % (tmp_path / "a")):
        _sealing.open_directory(str(tmp_path / "a" / "b"))
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(SealingError, match="%s is a regular file, not a directory" % (tmp_path / "file")):
        _sealing.open_directory(str(tmp_path / "file" / "b"))


@needs_root
def test_root_only_refuses_a_component_of_the_users(root_base):
    home = user_dir(os.path.join(root_base, "home"))
    settings = root_dir(os.path.join(home, "settings"))
    with pytest.raises(SealingError) as caught:
        _sealing.open_directory(settings, root_only=True)
    assert caught.value.msg.startswith("%s must be root's alone, but the directory %s on the way is owned by user nobody." % (settings, home))
    os.close(_sealing.open_directory(settings))  # without root_only the walk is fine: no link on the way
    os.close(_sealing.open_directory(root_base, root_only=True))


def test_root_only_refuses_a_world_writable_directory(tmp_path):
    with pytest.raises(SealingError, match="the directory /tmp on the way is writable by group and others"):
        _sealing.open_directory(str(tmp_path), root_only=True)


# --- ensure_directory and directory_status ----------------------------------------------------


@needs_root_to_chown
def test_ensure_directory_creates_then_keeps_then_fixes(tmp_path):
    home = user_dir(tmp_path / "home")
    path = os.path.join(home, "invantive")
    assert _sealing.directory_status(path) is None
    fd, changed = _sealing.ensure_directory(path, 0o700, NOBODY.pw_uid, NOBODY.pw_gid)
    os.close(fd)
    st = os.stat(path)
    assert changed and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY.pw_uid, NOBODY.pw_gid, 0o700)
    fd, changed = _sealing.ensure_directory(path, 0o700, NOBODY.pw_uid, NOBODY.pw_gid)
    os.close(fd)
    assert not changed
    os.chmod(path, 0o755)
    os.chown(path, 0, 0)
    fd, changed = _sealing.ensure_directory(path, 0o700, NOBODY.pw_uid, -1)
    os.close(fd)
    st = _sealing.directory_status(path)
    assert changed and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY.pw_uid, 0, 0o700)


def test_ensure_directory_refuses_a_link_as_the_last_component(tmp_path):
    home = user_dir(tmp_path / "home")
    target = root_dir(tmp_path / "roots", 0o755)
    before = snapshot(target)
    link = user_symlink(target, os.path.join(home, "invantive"))
    for call in (lambda: _sealing.ensure_directory(link, 0o700, USER.pw_uid, USER.pw_gid), lambda: _sealing.directory_status(link)):
        with pytest.raises(SealingError, match="%s is a symbolic link; refusing to follow it" % link):
            call()
    assert snapshot(target) == before
    # even in a directory of root's alone: the directory to create or fix must be the one named
    holder = root_dir(tmp_path / "holder")
    os.symlink(target, os.path.join(holder, "link"))
    with pytest.raises(SealingError, match="is a symbolic link; refusing to follow it"):
        _sealing.ensure_directory(os.path.join(holder, "link"), 0o700)
    assert snapshot(target) == before


def test_ensure_directory_refuses_a_file_and_a_missing_parent(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(SealingError, match="%s is a regular file, not a directory" % (tmp_path / "file")):
        _sealing.ensure_directory(str(tmp_path / "file"), 0o700)
    with pytest.raises(_sealing.MissingPathError):
        _sealing.ensure_directory(str(tmp_path / "missing" / "dir"), 0o700)
    assert not os.path.exists(tmp_path / "missing")


# --- read_at ----------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    path = user_dir(tmp_path / "invantive", 0o700)
    fd = _sealing.open_directory(path)
    yield path, fd
    os.close(fd)


def test_read_at_a_fifo_returns_at_once_and_names_it(folder):
    path, fd = folder
    os.mkfifo(os.path.join(path, "settings-acme.xml.sealed"))
    target = os.path.join(path, "settings-acme.xml.sealed")
    with Deadline(5), pytest.raises(SealingError) as caught:
        _sealing.read_at(fd, "settings-acme.xml.sealed", target)
    assert caught.value.msg == "%s is a named pipe (FIFO), not a regular file; refusing to use it. Remove it (rm %s) and run again." % (target, target)


def test_read_at_other_kinds_of_files(folder, victim):
    path, fd = folder
    os.mkdir(os.path.join(path, "a-directory"))
    os.symlink(victim, os.path.join(path, "a-link"))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(os.path.join(path, "a-socket"))
        for name, message in (
            ("a-directory", "is a directory, not a regular file"),
            ("a-link", "is a symbolic link; refusing to read it. Remove the link"),
            ("a-socket", "is a socket, not a regular file"),
        ):
            with Deadline(5), pytest.raises(SealingError) as caught:
                _sealing.read_at(fd, name, os.path.join(path, name))
            assert caught.value.msg.startswith(os.path.join(path, name) + " " + message)
            assert VICTIM_CONTENT.decode() not in caught.value.msg
    finally:
        sock.close()
    assert _sealing.read_at(fd, "missing", os.path.join(path, "missing")) is None


def test_read_at_a_hard_link_owner_and_size(folder, victim):
    path, fd = folder
    os.link(victim, os.path.join(path, "linked"))
    assert _sealing.read_at(fd, "linked", "x") == VICTIM_CONTENT  # only refused when the caller asks
    with pytest.raises(SealingError, match="%s has 2 hard links: .* refusing. Remove it" % os.path.join(path, "linked")):
        _sealing.read_at(fd, "linked", os.path.join(path, "linked"), single_link=True)
    with pytest.raises(SealingError, match="is owned by user %s, not by user nobody; refusing to read it" % pwd.getpwuid(os.geteuid()).pw_name):
        _sealing.read_at(fd, "linked", os.path.join(path, "linked"), owner=NOBODY.pw_uid)
    with pytest.raises(SealingError, match="is larger than 8 bytes, far more than a settings file; refusing to read it"):
        _sealing.read_at(fd, "linked", os.path.join(path, "linked"), max_size=8)
    assert _sealing.read_at(fd, "linked", "x", max_size=len(VICTIM_CONTENT)) == VICTIM_CONTENT
    assert _sealing.MAX_FILE_SIZE == 16 * 1024 * 1024


def test_read_at_refuses_a_name_that_is_not_one_component(folder):
    path, fd = folder
    for name in ("", ".", "..", "../etc", "a/b"):
        with pytest.raises(SealingError, match="does not end in a file name"):
            _sealing.read_at(fd, name, path)


def test_unseal_refuses_a_link_at_the_path(tmp_path, folder, victim):
    path, fd = folder
    link = os.path.join(path, "settings-acme.xml.sealed")
    os.symlink(victim, link)
    with pytest.raises(SealingError, match="is a symbolic link; refusing to read it"):
        _sealing.unseal(link, host_key_path=str(tmp_path / "hostkey"), machine_id_path=str(tmp_path / "machine-id"))


# --- write_at and remove_at -------------------------------------------------------------------


def test_write_at_never_opens_an_existing_temporary_name(folder, victim, monkeypatch):
    """The user plants links at every temporary name write_at will try: O_EXCL|O_NOFOLLOW refuses each, the victim stays."""
    path, fd = folder
    monkeypatch.setattr(os, "urandom", lambda n: b"\x01" * n)
    tmp = ".settings-acme.xml.sealed.%s.tmp" % ("01" * 6)
    user_symlink(victim, os.path.join(path, tmp))
    before = snapshot(victim)
    with pytest.raises(SealingError, match="Cannot create a temporary file beside .*: every name tried exists already"):
        _sealing.write_at(fd, "settings-acme.xml.sealed", os.path.join(path, "settings-acme.xml.sealed"), b"FAKE-sealed", 0o644, USER.pw_uid)
    assert snapshot(victim) == before


def test_write_at_notices_a_file_swapped_in_after_the_rename(folder, victim, monkeypatch):
    path, fd = folder
    real_rename = os.rename

    def rename_then_swap(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        os.unlink(dst, dir_fd=dst_dir_fd)
        os.symlink(victim, dst, dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "rename", rename_then_swap)
    before = snapshot(victim)
    target = os.path.join(path, "settings-acme.xml.sealed")
    with pytest.raises(SealingError, match="%s was replaced by something else while it was written" % target):
        _sealing.write_at(fd, "settings-acme.xml.sealed", target, b"FAKE-sealed", 0o644, USER.pw_uid, USER.pw_gid)
    assert snapshot(victim) == before
    assert sorted(os.listdir(path)) == ["settings-acme.xml.sealed"] and os.path.islink(target)


def test_remove_at(folder, victim):
    path, fd = folder
    open(os.path.join(path, "file"), "wb").close()
    os.symlink(victim, os.path.join(path, "link"))
    os.mkdir(os.path.join(path, "dir"))
    before = snapshot(victim)
    assert _sealing.remove_at(fd, "file", os.path.join(path, "file")) is True
    assert _sealing.remove_at(fd, "link", os.path.join(path, "link")) is True
    assert _sealing.remove_at(fd, "file", os.path.join(path, "file")) is False
    with pytest.raises(SealingError, match="%s is a directory, not a file; refusing to remove it" % os.path.join(path, "dir")):
        _sealing.remove_at(fd, "dir", os.path.join(path, "dir"))
    assert sorted(os.listdir(path)) == ["dir"] and snapshot(victim) == before
