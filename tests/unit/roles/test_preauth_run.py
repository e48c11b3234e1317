"""The runner preauth-run, run as a real process from the layout the settings role installs on a target host."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import pty
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.module_utils import _sealing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "roles", "settings", "files", "preauth-run")
LIBRARY = os.path.join(ROOT, "plugins", "module_utils", "_sealing.py")

SECRET = "FAKE-refresh-token-for-tests"
CONTENT = ("<settings><!-- %s --></settings>\n" % SECRET).encode()
PLAIN_SECRET = "FAKE-plain-database-password"
PLAIN = ("<settings><!-- %s --></settings>\n" % PLAIN_SECRET).encode()
SECRETS = (SECRET, PLAIN_SECRET, "FAKE-")
MACHINE_ID = "0123456789abcdef0123456789abcdef\n"
OTHER_MACHINE_ID = "fedcba9876543210fedcba9876543210\n"
NOBODY = "nobody"

IS_ROOT = os.geteuid() == 0
# Who runs the tests, and so the runner: its runtime directory <base>/<user> and its messages name that user (root in CI).
USER = pwd.getpwuid(os.geteuid()).pw_name
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: tests what a runner started as root checks and drops (CI runs the unit tests as root)")


def _nobody_uid() -> int | None:
    try:
        return pwd.getpwnam(NOBODY).pw_uid
    except KeyError:
        return None


NOBODY_UID = _nobody_uid()
needs_nobody = pytest.mark.skipif(not IS_ROOT or NOBODY_UID is None, reason="needs root and the user nobody to test running the command as another user")

# The stand-in for the product: reports what it sees (file names, modes, owners, content hashes, ids),
# never the content itself, then does what its arguments say.
STANDIN = r"""
import hashlib, json, os, signal, subprocess, sys, time

report, action, args = sys.argv[1], sys.argv[2], sys.argv[3:]
folder = os.environ["INVANTIVE_CONFIGURATION_DATABASES_FOLDER"]
files = {}
for name in sorted(os.listdir(folder)):
    st = os.stat(os.path.join(folder, name))
    with open(os.path.join(folder, name), "rb") as handle:
        files[name] = {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "sha256": hashlib.sha256(handle.read()).hexdigest()}
fstype = subprocess.run(["stat", "-f", "-c", "%T", folder], stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
seen = {"folder": folder, "folder_mode": os.stat(folder).st_mode & 0o7777, "fstype": fstype, "files": files, "uid": os.getuid(),
        "env": {key: os.environ.get(key) for key in ("HOME", "USER", "LOGNAME")}, "environ": dict(os.environ)}
caught = []

def note(signum, frame):
    caught.append(signum)
    with open(args[0], "w") as handle:
        handle.write(json.dumps(caught))
    if action == "die-of-signal":
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(signum, note)
if action == "wait-interrupts":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # taken below with sigtimedwait, which tells who sent it
with open(report + ".tmp", "w") as handle:
    json.dump(seen, handle)
os.rename(report + ".tmp", report)
deadline = time.time() + 30
if action == "exit":
    sys.exit(int(args[0]))
elif action == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
elif action == "wait-for":
    while not os.path.exists(args[0]) and time.time() < deadline:
        time.sleep(0.02)
elif action == "die-of-signal":
    while time.time() < deadline:
        time.sleep(0.02)
    sys.exit(99)
elif action == "deep":  # a product that leaves a very deep tree, and a settings-like file at its bottom
    os.chdir(folder)
    for _ in range(int(args[0])):
        os.mkdir("d")
        os.chdir("d")
    with open("settings-left.xml", "w") as handle:
        handle.write("left by the product")
elif action == "many":  # a product that leaves more files than the clean-up removes
    os.mkdir(os.path.join(folder, "cache"))
    for number in range(int(args[0])):
        os.close(os.open(os.path.join(folder, "cache", "f%d" % number), os.O_CREAT | os.O_WRONLY, 0o600))
elif action == "links":  # links out of the run directory, to a directory and to a file the clean-up must not touch
    os.symlink(args[0], os.path.join(folder, "to-directory"))
    os.mkdir(os.path.join(folder, "sub"))
    os.symlink(os.path.join(args[0], "keep"), os.path.join(folder, "sub", "to-file"))
elif action == "wait-interrupts":
    origins = []  # si_code of every SIGINT: 0x80 from the kernel (the terminal), 0 from kill(2)
    info = signal.sigtimedwait({signal.SIGINT}, 30)
    while info is not None:
        origins.append(info.si_code)
        info = signal.sigtimedwait({signal.SIGINT}, 0.5)
    with open(args[0], "w") as handle:
        handle.write(json.dumps(origins))
"""

# The stand-in after the privilege drop, where the test's Python may not be executable: plain sh.
STANDIN_SH = r"""#!/bin/sh
folder=$INVANTIVE_CONFIGURATION_DATABASES_FOLDER
{
    grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\t' ' '
    echo "env: $HOME $USER $LOGNAME $SHELL"
    env | sed 's/^/environ: /'
    echo "folder: $folder $(stat -c '%u %a' "$folder")"
    for f in "$folder"/*; do
        echo "file: $(basename "$f") $(stat -c '%u %a' "$f") $(sha256sum < "$f" | cut -d' ' -f1)"
    done
} > "$1"
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def filesystem_type(path: str) -> str:
    """From statfs(2), independent of the runner's reading of /proc/self/mountinfo."""
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True, check=True).stdout.strip()


def _world_dir(parent: str) -> str:
    # Not pytest's tmp_path: that is private to root, and the user nobody must reach these.
    path = tempfile.mkdtemp(prefix="preauth-run-test-", dir=parent)
    os.chmod(path, 0o755)
    return path


def _root_only_parent() -> str | None:
    """A directory that is root's alone all the way from /, where root's runner accepts a sealed directory (not /tmp)."""
    for candidate in ("/run", "/var/lib", "/root"):
        try:
            os.close(_sealing.open_directory(candidate, root_only=True))
        except (_sealing.SealingError, OSError):
            continue
        return candidate
    return None


ROOT_ONLY_PARENT = _root_only_parent() if IS_ROOT else None


class Host:
    """A target host in miniature: the installed runner and library, host key, machine id, settings and runtime base."""

    def __init__(self, root: str, runtime: str) -> None:
        self.root = root
        self.prefix = os.path.join(root, "usr-local")
        self.runner = os.path.join(self.prefix, "bin", "preauth-run")
        self.library = os.path.join(self.prefix, "lib", "preauth-oauth2", "preauth_sealing.py")
        for path in (self.runner, self.library):
            os.makedirs(os.path.dirname(path), mode=0o755)
        shutil.copy(SCRIPT, self.runner)
        shutil.copy(LIBRARY, self.library)
        os.chmod(self.library, 0o644)
        self.host_key = os.path.join(root, "etc-preauth", "hostkey")
        self.machine_id = self.write("machine-id", MACHINE_ID.encode())
        _sealing.ensure_host_key(self.host_key)
        self.settings = os.path.join(root, "home", "invantive")
        os.makedirs(self.settings, mode=0o755)
        # As root, the runner reads sealed files only from a directory that is root's all the way.
        sealed_parent = ROOT_ONLY_PARENT if IS_ROOT else root
        assert sealed_parent, "no directory here is root's alone from / (tried /run, /var/lib, /root)"
        self.sealed_dir = tempfile.mkdtemp(prefix="preauth-run-test-sealed-", dir=sealed_parent)
        self.sealed_used = False
        self.base = runtime
        self.reports = os.path.join(root, "reports")
        os.makedirs(self.reports, mode=0o777)
        os.chmod(self.reports, 0o777)
        self.standin = self.write("standin.py", STANDIN.encode())
        self.standin_sh = self.write("standin.sh", STANDIN_SH.encode(), 0o755)
        self.cleanup: list[str] = []

    def write(self, name: str, data: bytes, mode: int = 0o644) -> str:
        path = os.path.join(self.root, name)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)
        return path

    def seal(
        self,
        name: str = "settings-acme-nl.xml.sealed",
        content: bytes = CONTENT,
        host_key: str | None = None,
        machine_id: str | None = None,
        directory: str | None = None,
    ) -> str:
        path = os.path.join(directory or self.sealed_dir, name)
        keys = dict(host_key_path=host_key or self.host_key, machine_id_path=machine_id or self.machine_id)
        _sealing.write_atomically(path, _sealing.seal(content, path, _sealing.HOSTKEY, **keys))
        self.sealed_used = self.sealed_used or directory is None
        return path

    def plain(self, name: str = "settings.xml", content: bytes = PLAIN) -> str:
        path = os.path.join(self.settings, name)
        with open(path, "wb") as handle:
            handle.write(content)
        return path

    def report(self, name: str = "report") -> str:
        return os.path.join(self.reports, name)

    def standin_command(self, report: str, action: str = "exit", *args: str) -> list[str]:
        if action == "exit" and not args:
            args = ("0",)
        return [sys.executable, self.standin, report, action, *args]

    def argv(self, command: list[str], *options: str, python: str = sys.executable, default_base: bool = False) -> list[str]:
        defaults = ["--settings-dir", self.settings, "--host-key", self.host_key, "--machine-id", self.machine_id]
        if (self.sealed_used or not IS_ROOT) and "--sealed-dir" not in options:
            defaults += ["--sealed-dir", self.sealed_dir]
        if not IS_ROOT and "--health-dir" not in options:
            # The defaults /var/lib/preauth/{sealed,health}/USER are under root's /var/lib/preauth, which a normal user may not
            # enter: its own sealed directory, and a health directory that does not exist (nothing recorded), as on a CI host.
            defaults += ["--health-dir", os.path.join(self.root, "no-health-records")]
        if not default_base:
            defaults += ["--runtime-dir", self.base]
        return [python, self.runner, *defaults, *options, "--", *command]

    def run(self, command: list[str], *options: str, **kwargs) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(command, *options), capture_output=True, text=True, timeout=60, check=False, **kwargs)
        assert_no_secret(proc.stdout, proc.stderr)
        return proc

    def run_dirs(self, user: str = USER) -> list[str]:
        user_dir = os.path.join(self.base, user)
        return sorted(os.listdir(user_dir)) if os.path.isdir(user_dir) else []


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output


def read_report(path: str) -> t.Any:
    with open(path) as handle:
        return json.load(handle)


def _remove_tree(path: str) -> None:
    """Remove what a test left, however deep: shutil.rmtree recurses once per level, a RecursionError in a 5000-level tree."""
    subprocess.run(["rm", "-rf", "--", path], check=False)


def wait_for(path: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, "%s did not appear" % path
        time.sleep(0.02)


@pytest.fixture
def host():
    root = _world_dir("/tmp")
    runtime = _world_dir("/dev/shm")
    assert filesystem_type(runtime) in ("tmpfs", "ramfs"), "/dev/shm is expected to be a tmpfs"
    made = None
    try:
        made = Host(root, runtime)
        yield made
    finally:
        _remove_tree(root)
        _remove_tree(runtime)
        if made is not None:
            _remove_tree(made.sealed_dir)
            for path in made.cleanup:
                _remove_tree(path)


# --- the script itself ----------------------------------------------------------------------------


def test_the_runner_is_an_executable_python3_script_that_python_3_8_can_parse():
    with open(SCRIPT, encoding="utf-8") as handle:
        source = handle.read()
    assert source.startswith("#!/usr/bin/env python\n")
    assert os.stat(SCRIPT).st_mode & 0o111 == 0o111
    ast.parse(source, SCRIPT, feature_version=(3, 8))


def test_help_documents_the_command_line_and_the_exit_codes(host):
    proc = subprocess.run([sys.executable, host.runner, "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for text in (
        "--user USER",
        "--sealed-dir DIR",
        "--settings-dir DIR",
        "--env NAME",
        "--runtime-dir DIR",
        "--host-key PATH",
        "--machine-id PATH",
        "-- COMMAND [ARG...]",
        "INVANTIVE_CONFIGURATION_DATABASES_FOLDER",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG, LANGUAGE, LC_*, TZ, TERM, INVOCATION_ID and JOURNAL_STREAM",
        "/var/lib/preauth/sealed/USER",
        "tmpfs",
        "SIGKILL",
        "128+N",
        "78 configuration",
        "71 operating system",
    ):
        assert text in proc.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--user", "x"], "give the command to run after --"),
        (["--"], "give the command to run after --"),
        (["--bogus", "--", "true"], "unrecognized arguments: --bogus"),
        (["--env", "FAKE=value", "--", "true"], "--env FAKE=value: give the name of an environment variable"),
        (["--env", "HOME", "--", "true"], "--env HOME: the runner sets HOME, USER, LOGNAME, SHELL, INVANTIVE_CONFIGURATION_DATABASES_FOLDER itself"),
    ],
    ids=["no-separator", "no-command", "unknown-option", "env-value", "env-fixed"],
)
def test_a_wrong_command_line_is_a_usage_error(host, argv, message):
    proc = subprocess.run([sys.executable, host.runner, *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 64
    assert "preauth-run: " + message in proc.stderr and "usage: preauth-run" in proc.stderr


# --- running a command ----------------------------------------------------------------------------


def test_the_command_sees_the_unsealed_and_the_plain_settings_which_are_gone_afterwards(host):
    host.seal()
    host.plain("settings.xml")
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    seen = read_report(host.report())
    user_dir = os.path.join(host.base, USER)
    assert os.path.dirname(seen["folder"]) == user_dir and os.path.basename(seen["folder"]).startswith("run-")
    assert seen["folder_mode"] == 0o700 and seen["fstype"] == "tmpfs"
    assert seen["files"] == {
        "settings-acme-nl.xml": {"mode": 0o600, "uid": os.geteuid(), "sha256": sha256(CONTENT)},
        "settings.xml": {"mode": 0o600, "uid": os.geteuid(), "sha256": sha256(PLAIN)},
    }
    assert not os.path.exists(seen["folder"])
    assert host.run_dirs() == [] and stat.S_IMODE(os.stat(user_dir).st_mode) == 0o700
    assert os.listdir(host.settings) == ["settings.xml"] and os.listdir(host.sealed_dir) == ["settings-acme-nl.xml.sealed"]


def test_a_sealed_file_wins_over_a_plain_copy_of_the_same_name_with_a_warning(host):
    host.seal("settings-acme-nl.xml.sealed")
    stale = host.plain("settings-acme-nl.xml", b"<settings><!-- FAKE-stale-plaintext --></settings>\n")
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 0
    assert read_report(host.report())["files"]["settings-acme-nl.xml"]["sha256"] == sha256(CONTENT)
    assert "preauth-run: warning: both %s and settings-acme-nl.xml.sealed exist; using the sealed one. Remove settings-acme-nl.xml" % stale in proc.stderr


def test_the_exit_status_of_a_failing_command_is_the_runners(host):
    host.seal()
    proc = host.run(host.standin_command(host.report(), "exit", "3"))
    assert proc.returncode == 3
    assert not os.path.exists(read_report(host.report())["folder"]) and host.run_dirs() == []


def test_a_command_killed_with_sigkill_gives_137_and_the_folder_is_removed(host):
    host.seal()
    proc = host.run(host.standin_command(host.report(), "kill"))
    assert proc.returncode == 128 + signal.SIGKILL
    assert not os.path.exists(read_report(host.report())["folder"]) and host.run_dirs() == []


def test_a_command_that_does_not_exist_gives_127_and_the_folder_is_removed(host):
    host.seal()
    proc = host.run([os.path.join(host.root, "no-such-command")])
    assert proc.returncode == 127
    assert "preauth-run: cannot run %s (No such file or directory)" % os.path.join(host.root, "no-such-command") in proc.stderr
    assert host.run_dirs() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_to_the_runner_is_forwarded_and_the_folder_removed(host, signum):
    host.seal()
    caught = host.report("caught")
    runner = subprocess.Popen(
        host.argv(host.standin_command(host.report(), "die-of-signal", caught)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(host.report())
    folder = read_report(host.report())["folder"]
    assert os.path.isdir(folder)
    runner.send_signal(signum)
    stdout, stderr = runner.communicate(timeout=30)
    assert_no_secret(stdout, stderr)
    assert runner.returncode == 128 + signum
    assert read_report(caught) == [signum]
    assert not os.path.exists(folder) and host.run_dirs() == []


def test_an_interrupt_on_the_terminal_reaches_the_command_once_and_the_runner_cleans_up(host):
    host.seal()
    caught = host.report("caught")
    argv = host.argv(host.standin_command(host.report(), "wait-interrupts", caught))
    pid, terminal = pty.fork()
    if pid == 0:
        try:
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    output = b""
    try:
        wait_for(host.report())
        os.write(terminal, b"\x03")  # ^C: the kernel sends SIGINT to the terminal's foreground process group
        while True:
            try:
                chunk = os.read(terminal, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        status = os.waitpid(pid, 0)[1]
        os.close(terminal)
    assert_no_secret(output.decode("utf-8", "replace"))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, output)  # the command's status: ^C did not end the runner
    assert read_report(caught) == [0x80]  # from the terminal only: the runner did not send a second one
    assert host.run_dirs() == []


def test_concurrent_runs_for_one_user_get_separate_folders(host):
    host.seal()
    go = host.report("go")
    runners = [
        subprocess.Popen(
            host.argv(host.standin_command(host.report("report-%d" % n), "wait-for", go)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for n in (1, 2)
    ]
    for n in (1, 2):
        wait_for(host.report("report-%d" % n))
    folders = [read_report(host.report("report-%d" % n))["folder"] for n in (1, 2)]
    assert folders[0] != folders[1] and all(os.path.isdir(folder) for folder in folders)
    assert host.run_dirs() == sorted("run-%d" % runner.pid for runner in runners)
    open(go, "w").close()
    for runner in runners:
        assert_no_secret(*runner.communicate(timeout=30))
        assert runner.returncode == 0
    assert host.run_dirs() == []


def test_a_stale_run_directory_of_a_dead_runner_is_removed_and_a_live_ones_is_kept(host):
    host.seal()
    dead = subprocess.Popen(["true"])
    dead.wait()
    user_dir = os.path.join(host.base, USER)
    for pid in (dead.pid, os.getpid()):
        os.makedirs(os.path.join(user_dir, "run-%d" % pid), mode=0o700)
        with open(os.path.join(user_dir, "run-%d" % pid, "settings-acme-nl.xml"), "wb") as handle:
            handle.write(CONTENT)
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 0
    assert host.run_dirs() == ["run-%d" % os.getpid()]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", ["machine-id", "host-key"])
def test_a_file_sealed_on_another_host_is_refused_and_nothing_runs(host, other):
    other_key = os.path.join(host.root, "other-host", "hostkey")
    other_id = host.write("other-machine-id", OTHER_MACHINE_ID.encode())
    if other == "host-key":
        _sealing.ensure_host_key(other_key)
        sealed = host.seal(host_key=other_key)
    else:
        sealed = host.seal(machine_id=other_id)
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 78
    assert proc.stderr.startswith("preauth-run: %s was sealed with another host key or machine id" % sealed)
    assert "seal the content again on this host" in proc.stderr and "(sealed directory %s, user %s)" % (host.sealed_dir, USER) in proc.stderr
    assert proc.stdout == ""
    assert not os.path.exists(host.report()) and os.listdir(host.base) == []


def test_a_missing_library_is_a_configuration_error(host):
    os.unlink(host.library)
    host.seal()
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 78
    assert "preauth-run: The sealing library %s is missing. Install it with the preauth.oauth2.settings role" % host.library in proc.stderr
    assert not os.path.exists(host.report()) and os.listdir(host.base) == []


@needs_root
def test_root_refuses_a_library_that_others_can_write(host):
    os.chmod(host.library, 0o666)
    host.seal()
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 78
    assert "preauth-run: %s is owned by uid 0 with mode 0666; root runs the sealing library only when root owns it" % host.library in proc.stderr
    assert not os.path.exists(host.report())


def test_no_settings_files_is_nothing_to_run_with(host):
    host.plain("other.xml")
    proc = host.run(host.standin_command(host.report()), "--sealed-dir", host.sealed_dir)
    assert proc.returncode == 78
    assert (
        "preauth-run: There is nothing to run with: no settings-*.xml.sealed or settings*.xml file in the sealed directory %s or the "
        "settings directory %s (user %s)" % (host.sealed_dir, host.settings, USER) in proc.stderr
    )
    assert not os.path.exists(host.report())


def test_a_missing_settings_directory_is_no_plain_files(host):
    host.seal()
    missing = os.path.join(host.root, "nowhere")
    proc = host.run(host.standin_command(host.report()), "--settings-dir", missing)
    assert proc.returncode == 0, proc.stderr
    assert list(read_report(host.report())["files"]) == ["settings-acme-nl.xml"]


def test_missing_sealed_and_settings_directories_are_nothing_to_run_with(host):
    missing = [os.path.join(host.sealed_dir, "no-sealed"), os.path.join(host.root, "no-plain")]
    proc = host.run(host.standin_command(host.report()), "--sealed-dir", missing[0], "--settings-dir", missing[1])
    assert proc.returncode == 78
    expected = "There is nothing to run with: no settings-*.xml.sealed or settings*.xml file in the sealed directory %s or the settings directory %s"
    assert expected % tuple(missing) in proc.stderr


def test_an_unknown_user_is_a_configuration_error(host):
    host.seal()
    proc = host.run(host.standin_command(host.report()), "--user", "no-such-user-preauth")
    assert proc.returncode == 78
    assert "preauth-run: The user no-such-user-preauth (--user) does not exist on this host" in proc.stderr


def test_a_runtime_directory_on_disk_is_refused(host):
    on_disk = next((d for d in (host.root, "/var/tmp", ROOT) if filesystem_type(d) not in ("tmpfs", "ramfs")), None)
    if on_disk is None:
        pytest.skip("no directory on a disk file system here to test the refusal with")
    base = os.path.join(on_disk, "preauth-run-test-base-%d" % os.getpid())
    host.seal()
    proc = host.run(host.standin_command(host.report()), "--runtime-dir", base)
    assert proc.returncode == 78
    refused = re.search(r"^preauth-run: The runtime directory %s is on (\S+), not on a memory file system \(tmpfs or ramfs\)" % re.escape(base), proc.stderr)
    assert refused and refused.group(1) not in ("tmpfs", "ramfs")
    assert "Give --runtime-dir on a tmpfs" in proc.stderr
    assert not os.path.exists(base) and not os.path.exists(host.report())


def _unshare_works() -> bool:
    try:
        return IS_ROOT and subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs root and unshare(1) to mount on /run/preauth in a private mount namespace")
def test_the_default_runtime_base_is_a_tmpfs_which_the_runner_mounts_where_needed(host):
    host.seal()
    existed = os.path.exists("/run/preauth")
    user_dir_existed = os.path.exists("/run/preauth/root")
    try:
        # In a private mount namespace, without whatever is mounted on /run/preauth outside it: where /run
        # is not a tmpfs (as on the CI machine) the runner must mount one, which disappears with the namespace.
        private = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'umount /run/preauth 2>/dev/null; exec "$@"', "sh"]
        proc = subprocess.run(
            [*private, *host.argv(host.standin_command(host.report()), default_base=True)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        # Leave the host as it was; /run/preauth may be a real (or another test's) runtime base.
        with contextlib.suppress(OSError):  # not empty: someone else's runs are in it
            if not user_dir_existed:
                os.rmdir("/run/preauth/root")
            if not existed and not os.path.ismount("/run/preauth"):
                os.rmdir("/run/preauth")
    assert_no_secret(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    seen = read_report(host.report())
    assert os.path.dirname(seen["folder"]) == "/run/preauth/root" and seen["fstype"] == "tmpfs"
    assert not os.path.exists(seen["folder"])


# --- root running the command as another user -------------------------------------------------------

ROOT_ONLY_SECRET = "FAKE-root-only-api-key"
ROOT_ONLY = ("<settings><!-- %s --></settings>\n" % ROOT_ONLY_SECRET).encode()


def _lines(path: str) -> list[str]:
    with open(path) as handle:
        return [line.strip() for line in handle]


def _plain_of_nobody(host: Host, name: str = "settings.xml", content: bytes = PLAIN) -> str:
    # Without a sealed file the runner looks in its default sealed directory, which must not hold anything real.
    assert host.sealed_used or not os.path.exists("/var/lib/preauth/sealed/nobody"), "a test cannot run beside /var/lib/preauth/sealed/nobody"
    path = host.plain(name, content)
    os.chown(path, NOBODY_UID, -1)
    return path


@needs_nobody
def test_the_command_runs_as_the_user_with_root_dropped_for_good(host):
    os.chown(host.settings, NOBODY_UID, -1)
    host.seal()  # root's, in root's sealed directory
    _plain_of_nobody(host)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 0, proc.stderr
    lines = _lines(host.report())
    nobody = pwd.getpwnam(NOBODY)
    assert "Uid: %d %d %d %d" % ((NOBODY_UID,) * 4) in lines and "Gid: %d %d %d %d" % ((nobody.pw_gid,) * 4) in lines
    assert "Groups: %s" % " ".join(str(gid) for gid in sorted(os.getgrouplist(NOBODY, nobody.pw_gid))) in lines
    assert "env: %s nobody nobody %s" % (nobody.pw_dir, nobody.pw_shell) in lines
    folder = next(line.split()[1] for line in lines if line.startswith("folder: "))
    assert "folder: %s %d 700" % (folder, NOBODY_UID) in lines
    assert "file: settings-acme-nl.xml %d 600 %s" % (NOBODY_UID, sha256(CONTENT)) in lines
    assert "file: settings.xml %d 600 %s" % (NOBODY_UID, sha256(PLAIN)) in lines
    assert os.path.dirname(folder) == os.path.join(host.base, NOBODY) and not os.path.exists(folder)
    # The user's runtime directory is root's: the user passes through it, but cannot rename or plant anything there.
    user_dir = os.stat(os.path.join(host.base, NOBODY))
    assert user_dir.st_uid == 0 and stat.S_IMODE(user_dir.st_mode) == 0o711


@needs_nobody
@pytest.mark.parametrize("planted", ["root-only-hard-link", "root-owned-file", "own-hard-link", "symbolic-link", "fifo"])
def test_a_plain_file_that_is_not_the_users_own_regular_file_is_refused(host, planted):
    os.chown(host.settings, NOBODY_UID, -1)
    os.chmod(host.settings, 0o700)
    _plain_of_nobody(host)  # a good file beside the planted one
    path = os.path.join(host.settings, "settings-x.xml")
    if planted in ("root-only-hard-link", "symbolic-link"):
        private = host.write("root-only.xml", ROOT_ONLY, 0o600)  # a file of root's the user must never see
        (os.link if planted == "root-only-hard-link" else os.symlink)(private, path)
        expected = "Cannot read %s (Permission denied)" if planted == "root-only-hard-link" else "%s is a symbolic link"
    elif planted == "root-owned-file":
        host.plain("settings-x.xml", ROOT_ONLY)  # root's, readable by all: still not the user's
        expected = "%s is owned by user root, not by user nobody"
    elif planted == "own-hard-link":
        elsewhere = host.write("elsewhere.xml", ROOT_ONLY, 0o600)
        os.chown(elsewhere, NOBODY_UID, -1)
        os.link(elsewhere, path)
        expected = "%s has 2 hard links"
    else:
        os.mkfifo(path, 0o600)
        os.chown(path, NOBODY_UID, -1)
        expected = "%s is a named pipe (FIFO), not a regular file"
    started = time.monotonic()
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert time.monotonic() - started < 20
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith("preauth-run: " + expected % path)
    assert ROOT_ONLY_SECRET not in proc.stdout + proc.stderr
    assert not os.path.exists(host.report()) and host.run_dirs(NOBODY) == []


@needs_nobody
def test_a_sealed_file_in_the_users_folder_is_ignored_with_a_warning(host):
    os.chown(host.settings, NOBODY_UID, -1)
    _plain_of_nobody(host)
    # Whatever the user puts in its own folder under a sealed name is never unsealed by root.
    planted = host.seal("settings-planted.xml.sealed", directory=host.settings)
    os.chown(planted, NOBODY_UID, -1)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[1] for line in _lines(host.report()) if line.startswith("file: ")] == ["settings.xml"]
    assert (
        "preauth-run: warning: ignoring settings-planted.xml.sealed in %s: sealed files are read only from the sealed directory" % host.settings in proc.stderr
    )


@needs_nobody
def test_a_symbolic_link_to_a_file_the_user_cannot_read_is_refused(host):
    host.seal()
    private = host.write("root-only.xml", b"<settings><!-- FAKE-root-only --></settings>\n", 0o600)
    link = os.path.join(host.settings, "settings-stolen.xml")
    os.symlink(private, link)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 78
    assert "preauth-run: %s is a symbolic link; refusing to read it" % link in proc.stderr
    assert not os.path.exists(host.report()) and host.run_dirs(NOBODY) == []


@needs_nobody
def test_a_sealed_file_not_owned_by_root_is_refused(host):
    sealed = host.seal()
    os.chown(sealed, 12345, -1)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 78
    assert "preauth-run: %s is owned by uid 12345, not by user root; refusing to read it" % sealed in proc.stderr
    assert "(sealed directory of user nobody)" in proc.stderr
    assert not os.path.exists(host.report())


@needs_root
@pytest.mark.parametrize("weakness", ["owned-by-nobody", "group-writable", "parent-writable-by-others"])
def test_root_refuses_a_sealed_directory_that_is_not_roots_alone(host, weakness):
    host.seal()
    weak = host.sealed_dir
    if weakness == "owned-by-nobody":
        os.chown(weak, NOBODY_UID if NOBODY_UID is not None else 65534, -1)
        expected = "is owned by user nobody" if NOBODY_UID is not None else "is owned by uid 65534"
    elif weakness == "group-writable":
        os.chmod(weak, 0o770)
        expected = "is writable by group"
    else:
        # A sealed directory inside a world-writable one: anyone could have put it there, or swap it.
        inner = os.path.join(host.sealed_dir, "inner")
        os.mkdir(inner, 0o700)
        host.seal(directory=inner)
        os.chmod(host.sealed_dir, 0o777)
        weak, expected = host.sealed_dir, "is writable by group and others"
        proc = host.run(host.standin_command(host.report()), "--sealed-dir", inner)
    if weakness != "parent-writable-by-others":
        proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 78
    assert " must be root's alone, but the directory %s on the way %s" % (weak, expected) in proc.stderr
    assert proc.stderr.startswith("preauth-run: ") and "(sealed directory of user root)" in proc.stderr
    assert not os.path.exists(host.report()) and host.run_dirs() == []


@needs_nobody
def test_the_product_does_not_get_the_callers_environment(host):
    os.chown(host.settings, NOBODY_UID, -1)
    _plain_of_nobody(host)
    caller = dict(os.environ, FAKE_ROOT_API_KEY="FAKE-not-a-secret", PATH="/opt/fake-root-only/bin:" + os.environ.get("PATH", "/usr/bin:/bin"))
    caller.update(LANG="C.UTF-8", LC_TIME="C", TZ="Europe/Amsterdam", INVOCATION_ID="0123456789abcdef0123456789abcdef", PYTHONPATH="/opt/fake")
    caller.pop("FAKE_PASSED", None)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY, env=caller)
    assert proc.returncode == 0, proc.stderr
    environ = dict(line[len("environ: ") :].split("=", 1) for line in _lines(host.report()) if line.startswith("environ: ") and "=" in line)
    nobody = pwd.getpwnam(NOBODY)
    folder = environ.pop("INVANTIVE_CONFIGURATION_DATABASES_FOLDER")
    assert os.path.dirname(folder) == os.path.join(host.base, NOBODY)
    environ.pop("PWD", None)  # sh sets it; not from the runner
    environ.pop("SHLVL", None)
    environ.pop("_", None)
    assert environ == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": nobody.pw_dir,
        "USER": NOBODY,
        "LOGNAME": NOBODY,
        "SHELL": nobody.pw_shell,
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "TZ": "Europe/Amsterdam",
        "INVOCATION_ID": "0123456789abcdef0123456789abcdef",
        **({"TERM": caller["TERM"]} if "TERM" in caller else {}),
        **{name: caller[name] for name in ("LANGUAGE", "JOURNAL_STREAM") if name in caller},
        **{name: value for name, value in caller.items() if re.fullmatch(r"LC_[A-Z_]+", name)},
    }


@needs_nobody
def test_a_variable_named_with_env_reaches_the_product(host):
    os.chown(host.settings, NOBODY_UID, -1)
    _plain_of_nobody(host)
    caller = dict(os.environ, FAKE_PASSED="FAKE-passed value", FAKE_ROOT_API_KEY="FAKE-not-a-secret")
    caller.pop("FAKE_UNSET", None)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY, "--env", "FAKE_PASSED", "--env=FAKE_UNSET", env=caller)
    assert proc.returncode == 0, proc.stderr
    lines = _lines(host.report())
    assert "environ: FAKE_PASSED=FAKE-passed value" in lines
    assert not any(line.startswith(("environ: FAKE_ROOT_API_KEY=", "environ: FAKE_UNSET=")) for line in lines)


@needs_nobody
def test_a_runtime_directory_of_the_user_is_refused(host):
    # Left by an older runner or planted: whoever owns <base>/<user> could redirect root's writes there.
    os.chown(host.settings, NOBODY_UID, -1)
    _plain_of_nobody(host)
    planted = os.path.join(host.base, NOBODY)
    os.mkdir(planted, 0o700)
    os.chown(planted, NOBODY_UID, -1)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 78
    assert "preauth-run: The runtime directory %s belongs to uid %d, not to the runner (uid 0)" % (planted, NOBODY_UID) in proc.stderr
    assert "rm -r %s" % planted in proc.stderr
    assert os.listdir(planted) == [] and not os.path.exists(host.report())


@needs_nobody
def test_a_runtime_base_that_others_can_change_is_refused(host):
    os.chown(host.settings, NOBODY_UID, -1)
    _plain_of_nobody(host)
    os.chown(host.base, NOBODY_UID, -1)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 78
    expected = "preauth-run: The runtime directory %s is owned by uid %d with mode 0755; the runner puts plaintext settings under it only"
    assert expected % (host.base, NOBODY_UID) in proc.stderr
    assert os.listdir(host.base) == [] and not os.path.exists(host.report())


@needs_nobody
def test_a_settings_directory_the_user_cannot_open_is_refused(host):
    host.seal()
    os.chmod(host.settings, 0o700)
    proc = host.run([host.standin_sh, host.report()], "--user", NOBODY)
    assert proc.returncode == 78
    assert "preauth-run: Cannot open the directory %s (%s: Permission denied)" % (host.settings, host.settings) in proc.stderr
    assert "(settings directory of user nobody, read with that user's rights)" in proc.stderr
    assert not os.path.exists(host.report())


# --- without root -----------------------------------------------------------------------------------

SYSTEM_PYTHON = "/usr/bin/python3"


def _system_python_has_cryptography() -> bool:
    return os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run([SYSTEM_PYTHON, "-c", "import cryptography"], capture_output=True, check=False).returncode == 0


# Who runs the runner without root: as root the tests become nobody (with the system's Python, which nobody can run); a normal
# user runs it as itself.
INVOKER, INVOKER_UID = (NOBODY, NOBODY_UID) if IS_ROOT else (USER, os.geteuid())


def _without_root(host: Host, command: list[str], *options: str) -> subprocess.CompletedProcess:
    if not IS_ROOT:
        return host.run(command, *options)
    proc = subprocess.run(
        host.argv(command, *options, python=SYSTEM_PYTHON),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        user=NOBODY_UID,
        group=NOBODY_UID,
        extra_groups=[],
    )
    assert_no_secret(proc.stdout, proc.stderr)
    return proc


@pytest.mark.skipif(
    IS_ROOT and (NOBODY_UID is None or not os.access(SYSTEM_PYTHON, os.X_OK)), reason="as root, needs the user nobody and /usr/bin/python3 to run without root"
)
def test_without_root_another_user_is_refused_with_what_to_do(host):
    host.seal()
    proc = _without_root(host, [host.standin_sh, host.report()], "--user", "root")
    assert proc.returncode == 78
    assert "preauth-run: --user root needs root" in proc.stderr and "sudo preauth-run --user root -- COMMAND" in proc.stderr
    assert not os.path.exists(host.report())


@pytest.mark.skipif(
    IS_ROOT and (NOBODY_UID is None or not _system_python_has_cryptography()),
    reason="as root, needs the user nobody and /usr/bin/python3 with cryptography to run without root",
)
def test_without_root_the_runner_runs_as_the_invoking_user_when_it_can_read_the_key(host):
    os.chown(host.settings, INVOKER_UID, -1)
    sealed_dir = os.path.join(host.root, "sealed-of-invoker")  # without root, the runner's own directory
    os.mkdir(sealed_dir, 0o700)
    os.chown(sealed_dir, INVOKER_UID, -1)
    os.chown(host.seal(directory=sealed_dir), INVOKER_UID, -1)
    os.chown(os.path.dirname(host.host_key), INVOKER_UID, -1)
    os.chown(host.host_key, INVOKER_UID, -1)
    os.chown(host.base, INVOKER_UID, -1)
    proc = _without_root(host, [host.standin_sh, host.report()], "--user", INVOKER, "--sealed-dir", sealed_dir)
    assert proc.returncode == 0, proc.stderr
    with open(host.report()) as handle:
        lines = [line.strip() for line in handle]
    assert "Uid: %d %d %d %d" % ((INVOKER_UID,) * 4) in lines
    assert any(line.startswith("file: settings-acme-nl.xml %d 600 %s" % (INVOKER_UID, sha256(CONTENT))) for line in lines)
    assert host.run_dirs(INVOKER) == []


# --- the first refresh: waiting for the platform's minimum interval -------------------------------


def _note(host: Host, not_before: float, interval: int = 570, connection: str = "acme-nl", text: str | None = None) -> str:
    """The note the role writes beside a sealed file: from when the platform accepts the first refresh."""
    path = os.path.join(host.sealed_dir, "settings-%s.not-before" % connection)
    with open(path, "w") as handle:
        handle.write(text if text is not None else "# preauth.oauth2: a note\nnot_before=%d\ninterval=%d\n" % (not_before, interval))
    os.chmod(path, 0o600)
    return path


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def test_the_runner_starts_the_product_only_when_the_platform_accepts_its_first_refresh(host):
    host.seal()
    not_before = int(time.time()) + 3
    _note(host, not_before)
    started = time.time()
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 0, proc.stderr
    assert os.stat(host.report()).st_mtime >= not_before and time.time() - started < 30
    assert proc.stderr.startswith(
        "preauth-run: connection acme-nl may not be refreshed before %s (its platform's minimum of 570 s after the controller's last "
        "token call): waiting " % _utc(not_before)
    )
    assert proc.stderr.rstrip().endswith("s before starting COMMAND (--no-wait exits 75 instead).")
    assert host.run_dirs() == []


def test_the_wait_is_at_most_the_interval_of_the_note(host):
    host.seal()
    not_before = int(time.time()) + 100_000  # a wrong clock or note
    _note(host, not_before, interval=2)
    started = time.time()
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 0, proc.stderr
    assert 1.5 <= time.time() - started < 20
    assert "may not be refreshed before %s (its platform's minimum of 2 s" % _utc(not_before) in proc.stderr
    assert "waiting 2 s before starting COMMAND" in proc.stderr


def test_with_no_wait_the_runner_exits_75_and_does_not_start_the_product(host):
    host.seal()
    not_before = int(time.time()) + 500
    _note(host, not_before)
    _note(host, not_before - 100, connection="other-nl")
    host.seal("settings-other-nl.xml.sealed")
    proc = host.run(host.standin_command(host.report()), "--no-wait")
    assert proc.returncode == 75
    assert proc.stderr.startswith(
        "preauth-run: connection acme-nl (and 1 more) may not be refreshed before %s (its platform's minimum of 570 s after the "
        "controller's last token call), " % _utc(not_before)
    )
    assert "COMMAND was not started. Run again after that time (the timer's next run does), or without --no-wait to wait." in proc.stderr
    assert not os.path.exists(host.report()) and host.run_dirs() == []


def test_a_past_time_an_orphan_note_and_a_broken_note_do_not_hold_the_product(host):
    host.seal()
    _note(host, int(time.time()) - 10)
    _note(host, int(time.time()) + 500, connection="gone-nl")  # no sealed file of that connection
    started = time.time()
    proc = host.run(host.standin_command(host.report()), "--no-wait")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert time.time() - started < 10
    broken = _note(host, 0, text="not_before=soon\n")
    proc = host.run(host.standin_command(host.report("broken")), "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "preauth-run: warning: ignoring %s: it has no not_before=SECONDS and interval=SECONDS lines; deploy the connection again to "
        "rewrite it.\n" % broken
    )


def test_a_note_is_read_like_a_sealed_file(host):
    host.seal()
    target = _note(host, int(time.time()) + 500, connection="elsewhere")
    os.symlink(target, os.path.join(host.sealed_dir, "settings-acme-nl.not-before"))
    proc = host.run(host.standin_command(host.report()))
    assert proc.returncode == 78 and "is a symbolic link; refusing to read it" in proc.stderr
    assert not os.path.exists(host.report())


def test_help_documents_the_first_refresh_wait(host):
    proc = subprocess.run([sys.executable, host.runner, "--help"], capture_output=True, text=True, check=False)
    assert "--no-wait" in proc.stdout and "settings-<connection>.not-before" in proc.stdout
    assert "75 (--no-wait) a chain may not be refreshed yet" in proc.stdout


# --- the health record ------------------------------------------------------------------------------


def _health_dir(host: Host) -> str:
    """A health directory the runner accepts: as root, root's alone all the way from / (like the sealed directory)."""
    path = tempfile.mkdtemp(prefix="preauth-run-test-health-", dir=ROOT_ONLY_PARENT if IS_ROOT else host.root)
    host.cleanup.append(path)
    return path


def _record(health: str, connection: str = "acme-nl") -> dict:
    with open(os.path.join(health, connection + ".json"), encoding="utf-8") as handle:
        text = handle.read()
    assert_no_secret(text)
    return json.loads(text)


def test_each_run_is_recorded_per_connection_with_the_last_success_kept(host):
    health = _health_dir(host)
    host.seal()
    host.seal("settings-crm.xml.sealed")
    host.plain("settings.xml")  # no connection name: not recorded
    with open(os.path.join(health, "acme-nl.deployed"), "w", encoding="utf-8") as handle:
        handle.write("# preauth.oauth2: the deployed chain\ngeneration=4\n")
    os.chmod(os.path.join(health, "acme-nl.deployed"), 0o600)
    before = _utc(time.time() - 1)
    proc = host.run(host.standin_command(host.report()), "--health-dir", health)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    ok = _record(health)
    assert ok["schema"] == 1 and ok["connection"] == "acme-nl" and ok["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert ok["status"] == "succeeded" and ok["exit_status"] == 0 and ok["message"] is None and ok["generation"] == 4
    assert before <= ok["started_at"] <= ok["finished_at"] == ok["last_success_at"]
    assert _record(health, "crm")["generation"] is None
    assert sorted(os.listdir(health)) == ["acme-nl.deployed", "acme-nl.json", "crm.json"]
    assert stat.S_IMODE(os.stat(os.path.join(health, "acme-nl.json")).st_mode) == 0o600

    proc = host.run(host.standin_command(host.report("failed"), "exit", "3"), "--health-dir", health)
    assert proc.returncode == 3
    failed = _record(health)
    assert failed["status"] == "failed" and failed["exit_status"] == 3 and failed["last_success_at"] == ok["last_success_at"]
    assert failed["finished_at"] >= ok["finished_at"]

    proc = host.run(host.standin_command(host.report("killed"), "kill"), "--health-dir", health)
    assert proc.returncode == 137 and _record(health)["status"] == "killed"


def test_a_run_that_does_not_start_the_product_is_recorded_with_the_runners_message(host):
    health = _health_dir(host)
    host.seal()
    _note(host, int(time.time()) + 500)
    proc = host.run(host.standin_command(host.report()), "--no-wait", "--health-dir", health)
    assert proc.returncode == 75
    record = _record(health)
    assert record["status"] == "not_started" and record["exit_status"] == 75 and record["last_success_at"] is None
    assert record["message"].startswith("connection acme-nl may not be refreshed before ")


def test_without_a_health_directory_nothing_is_recorded_and_nothing_said(host):
    host.seal()
    missing = os.path.join(_health_dir(host), "not-created")
    proc = host.run(host.standin_command(host.report()), "--health-dir", missing)
    assert proc.returncode == 0 and proc.stderr == ""
    assert not os.path.exists(missing)


@needs_root
def test_root_records_only_in_a_health_directory_that_is_roots_alone(host):
    host.seal()
    weak = _world_dir(host.root)
    proc = host.run(host.standin_command(host.report()), "--health-dir", weak)
    assert proc.returncode == 0  # the record never changes the product's outcome
    assert "preauth-run: warning: this run is not recorded: " in proc.stderr and "(health directory)" in proc.stderr
    assert os.listdir(weak) == []


# --- names a service user chooses (issue 18, item 13) --------------------------------------------------

# A plain file a service user can put in its own folder; an older runner made a health record (and a metrics row) of it.
FORGED = 'settings-x",host="dwh02",user="root"} 1e12 # .xml'


@pytest.mark.parametrize(
    "name", [FORGED, "settings-.hidden.xml", "settings-a\nb.xml", "settings-%s.xml" % ("a" * 129)], ids=["forged", "dot", "newline", "long"]
)
def test_a_plain_file_whose_name_is_no_connection_name_is_not_recorded(host, name):
    health = _health_dir(host)
    host.seal()
    host.plain(name)
    proc = host.run(host.standin_command(host.report()), "--health-dir", health)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(health)) == ["acme-nl.json"]
    connection = name[len("settings-") : -len(".xml")]
    assert proc.stderr == (
        "preauth-run: warning: the run is not recorded for the settings file %s: %s is not a connection name (1 to 128 letters, "
        "digits, '.', '_' or '-', not starting with '.'). Rename the file to settings-<connection>.xml.\n" % (ascii(name), ascii(connection))
    )
    assert name in read_report(host.report())["files"]  # the product still gets the user's file: only the record is refused


def test_plain_files_cause_at_most_max_health_records_and_sealed_ones_are_always_recorded(host):
    health = _health_dir(host)
    for number in range(260):
        host.plain("settings-c%03d.xml" % number)
    proc = host.run(host.standin_command(host.report()), "--health-dir", health)
    assert proc.returncode == 0
    assert sorted(os.listdir(health)) == ["c%03d.json" % n for n in range(256)]
    assert proc.stderr == (
        "preauth-run: warning: this run is not recorded for 4 connection(s) of plain settings files (c256, c257, c258, c259): the "
        "health directory %s already holds 256 records, as many as the runner writes for one user. Remove the records of "
        "connections that are gone from it.\n" % health
    )
    # Existing records are kept up to date, and a sealed connection (deployed by root) is recorded all the same.
    host.seal()
    proc = host.run(host.standin_command(host.report("again")), "--health-dir", health)
    assert proc.returncode == 0
    assert len(os.listdir(health)) == 257 and _record(health)["status"] == "succeeded"
    assert _record(health, "c255")["finished_at"] >= _record(health, "c000")["started_at"]


# --- the clean-up (issue 18, item 14) ------------------------------------------------------------------


def _service_file_limit() -> None:
    """In the runner's process: the soft limit of open files a systemd service has by default (LimitNOFILE=1024:524288)."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


def _deep_tree(top: str, depth: int) -> None:
    """``top/d/d/.../d`` ``depth`` levels deep (deeper than PATH_MAX allows by name), a plaintext settings file at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _level in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("settings-acme-nl.xml", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd)
    os.write(leaf, CONTENT)
    os.close(leaf)
    os.close(fd)


def test_a_very_deep_tree_the_product_leaves_is_removed_and_the_run_recorded(host):
    health = _health_dir(host)
    host.seal()
    proc = host.run(host.standin_command(host.report(), "deep", "5000"), "--health-dir", health, preexec_fn=_service_file_limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""
    assert host.run_dirs() == []
    assert _record(health)["status"] == "succeeded" and _record(health)["message"] is None


def test_a_deep_stale_run_directory_is_removed_before_the_product_starts(host):
    health = _health_dir(host)
    host.seal()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = os.path.join(host.base, USER, "run-%d" % dead.pid)
    os.makedirs(stale, mode=0o700)
    _deep_tree(stale, 5000)
    proc = host.run(host.standin_command(host.report()), "--health-dir", health, preexec_fn=_service_file_limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "" and os.path.exists(host.report())
    assert host.run_dirs() == []
    assert _record(health)["status"] == "succeeded"


def test_a_clean_up_that_stops_at_its_limit_is_reported_and_the_next_run_goes_on_with_it(host):
    health = _health_dir(host)
    host.seal()
    host.plain()
    proc = host.run(host.standin_command(host.report(), "many", "20001"), "--health-dir", health)
    assert proc.returncode == 71
    folder = read_report(host.report())["folder"]
    message = (
        "The run directory %s could not be removed completely (it holds more than one run removes, MAX_CLEANUP_ENTRIES = 20000 "
        "entries). The settings files the runner wrote there were removed first; what is left stays on the memory file system "
        "until the next run removes it before it starts the product (or: rm -r %s)." % (folder, folder)
    )
    assert proc.stderr == "preauth-run: %s\n" % message
    assert os.listdir(folder) == ["cache"]  # no plaintext is left: only some of the product's own empty files
    record = _record(health)
    assert record["status"] == "failed" and record["exit_status"] == 71 and record["message"] == message
    assert record["last_success_at"] is None

    proc = host.run(host.standin_command(host.report("next")), "--health-dir", health)
    assert proc.returncode == 0 and proc.stderr == ""
    assert not os.path.exists(folder) and host.run_dirs() == []
    assert _record(health)["status"] == "succeeded"


def test_the_clean_up_removes_links_and_never_what_they_point_to(host):
    outside = os.path.join(host.root, "outside")
    os.makedirs(outside)
    keep = host.write(os.path.join("outside", "keep"), b"not the product's")
    host.seal()
    proc = host.run(host.standin_command(host.report(), "links", outside))
    assert proc.returncode == 0 and proc.stderr == ""
    assert os.listdir(outside) == ["keep"] and open(keep, "rb").read() == b"not the product's"
    assert host.run_dirs() == []
