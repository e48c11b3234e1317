"""tests/pgserver.py: the real PostgreSQL server the store tests, integration targets and demo run against."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import typing as t
import urllib.parse

import psycopg
import pytest
from pgserver import APP_ROLE, PostgresServer, PostgresServerError, find_bindir

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(TESTS, "pgserver.py")


def alive(pid: int) -> bool:
    """Whether the process runs: a zombie (an exited server nobody reaped yet, as under an init that does not reap) is not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def open_parent() -> t.Iterator[str]:
    """A directory the server user can enter even when the tests run as root (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="pgtest-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_server(open_parent: str) -> t.Iterator[PostgresServer]:
    """A server of its own, for the tests that stop or restart it."""
    with PostgresServer(open_parent) as server:
        yield server


def test_connects_with_url_and_env_password(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = urllib.parse.urlsplit(pg.url)
    assert (parts.scheme, parts.username, parts.password, parts.hostname, parts.port, parts.path) == (
        "postgresql",
        APP_ROLE,
        None,
        "127.0.0.1",
        pg.port,
        "/preauth",
    )
    assert pg.password not in pg.url
    monkeypatch.setenv("PGPASSWORD", pg.env["PGPASSWORD"])
    with psycopg.connect(pg.url, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user, current_database(), inet_server_addr()::text").fetchone() == (APP_ROLE, "preauth", "127.0.0.1/32")


def test_tcp_requires_the_password(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: t.Any) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(pg.url, connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.url, password="FAKE-wrong-password", connect_timeout=10)
    with pg.admin_connect() as conn:
        assert conn.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s", [APP_ROLE]).fetchone() == (True,)


def test_pg_db_is_a_fresh_database_owned_by_the_app_role(pg: PostgresServer, pg_db: str) -> None:
    name = urllib.parse.urlsplit(pg_db).path.lstrip("/")
    assert name != "preauth"
    with psycopg.connect(pg_db, password=pg.password, connect_timeout=10) as conn:
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").fetchone() == (APP_ROLE,)
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE probe (n int)")


def test_drop_database_ends_open_sessions(pg: PostgresServer) -> None:
    url = pg.create_database("test_dropped")
    left_open = psycopg.connect(url, password=pg.password, connect_timeout=10)
    pg.drop_database("test_dropped")
    with pg.admin_connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'test_dropped'").fetchone() == (0,)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    left_open.close()


def test_restart_keeps_data_and_port(own_server: PostgresServer) -> None:
    port = own_server.port
    with own_server.connect() as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('FAKE-refresh-token-1')")
    own_server.restart()
    assert own_server.port == port
    with own_server.connect() as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("FAKE-refresh-token-1",)]
    # A crash right after a commit keeps it: what the store's "persist before anything else" relies on.
    with own_server.connect() as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        conn.execute("INSERT INTO kept VALUES ('FAKE-refresh-token-2')")
    own_server.stop("immediate")
    own_server.start_again()
    with own_server.connect() as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (2,)


def test_terminate_backends_kills_the_app_sessions(pg: PostgresServer) -> None:
    victim = pg.connect(application_name="victim", autocommit=True)
    bystander = pg.connect(application_name="bystander", autocommit=True)
    try:
        assert pg.terminate_backends(application_name="victim") == 1
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)
        assert pg.terminate_backends() >= 1
        with pytest.raises(psycopg.OperationalError):
            bystander.execute("SELECT 1")
    finally:
        victim.close()
        bystander.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_stop_leaves_no_process(own_server: PostgresServer, mode: str) -> None:
    pid = own_server.postmaster_pid()
    assert pid and alive(pid)
    own_server.stop(mode)
    assert not os.path.exists(os.path.join(own_server.datadir, "postmaster.pid"))
    assert not alive(pid)
    # pg_ctl refuses root even for "status": ask as the server user. Exit 3: no server running.
    status = subprocess.run(
        [*own_server.run_as.prefix, os.path.join(own_server.bindir, "pg_ctl"), "status", "-D", own_server.datadir], capture_output=True, check=False
    )
    assert status.returncode == 3
    root = own_server.root
    own_server.cleanup()
    assert not os.path.exists(root)


def test_cleanup_removes_a_running_server(open_parent: str) -> None:
    server = PostgresServer(open_parent).start()
    pid, root = server.postmaster_pid(), server.root
    assert pid and alive(pid)
    server.cleanup()
    server.cleanup()
    assert not alive(pid)
    assert not os.path.exists(root)


@pytest.mark.parametrize("ending", ["sys.exit(0)", "raise RuntimeError('FAKE failure')", "time.sleep(120)"])
def test_a_forgotten_server_stops_when_python_exits(open_parent: str, ending: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {TESTS!r})
        from pgserver import PostgresServer
        server = PostgresServer({open_parent!r}).start()
        print(server.postmaster_pid(), server.root, flush=True)
        {ending}
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout
        pid, root = process.stdout.readline().split()
        if "sleep" in ending:
            process.send_signal(signal.SIGTERM)  # as a CI timeout ends a test run
        assert process.wait(timeout=60) != 0 or ending == "sys.exit(0)"
    assert not alive(int(pid))
    assert not os.path.exists(root)


def wait_gone(pid: int, root: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while (alive(pid) or os.path.exists(root)) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_server_whose_owner_is_killed_is_stopped_by_its_watcher(open_parent: str) -> None:
    """SIGKILL runs no atexit handler and no signal handler: the detached watcher stops the server instead."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {TESTS!r})
        from pgserver import PostgresServer
        server = PostgresServer({open_parent!r}).start()
        print(server.postmaster_pid(), server.root, flush=True)
        time.sleep(120)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout
        pid, root = process.stdout.readline().split()
        assert alive(int(pid))
        process.kill()
        process.wait(timeout=30)
    wait_gone(int(pid), root)
    assert not alive(int(pid))
    assert not os.path.exists(root)


def test_the_command_line_server_stops_when_the_script_that_started_it_is_killed(open_parent: str) -> None:
    """``pgserver.py start`` keeps the server for the script that ran it (an integration target), not longer."""
    state_dir = os.path.join(open_parent, "state")
    script = f"{sys.executable} {CLI} start {state_dir} >/dev/null && cat {state_dir}/server.json && sleep 120"
    with subprocess.Popen(["/bin/bash", "-c", script], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout
        text = ""
        while not text.rstrip().endswith("}"):
            chunk = process.stdout.readline()
            assert chunk, "the command line printed no server state"
            text += chunk
        state = json.loads(text)
        with open(os.path.join(state["datadir"], "postmaster.pid"), encoding="utf-8") as handle:
            pid = int(handle.readline())
        assert alive(pid)
        process.kill()
        process.wait(timeout=30)
    wait_gone(pid, state["root"])
    assert not alive(pid)
    assert not os.path.exists(state["root"])


def test_long_parent_gets_a_short_socket_directory(open_parent: str) -> None:
    parent = os.path.join(open_parent, "x" * 90)
    os.mkdir(parent)
    with PostgresServer(parent) as server:
        assert not server.socket_dir.startswith(server.root)
        socket_dir = server.socket_dir
        with server.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not os.path.exists(socket_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to another user (make test runs as root in CI)")
def test_as_root_the_server_runs_as_an_unprivileged_user(pg: PostgresServer, tmp_path: t.Any) -> None:
    with pg.admin_connect() as conn:
        datadir = conn.execute("SHOW data_directory").fetchone()
    assert datadir == (pg.datadir,)
    assert os.stat(pg.datadir).st_uid != 0
    pid = pg.postmaster_pid()
    assert pid and os.stat(f"/proc/{pid}").st_uid == os.stat(pg.datadir).st_uid
    # pytest's tmp_path is 0700 root: the server user cannot enter it, and the error says so and what to do.
    with pytest.raises(PostgresServerError, match=r"cannot reach .*outside /root"):
        PostgresServer(str(tmp_path)).start()
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to another user (make test runs as root in CI)")
def test_as_root_a_private_tmpdir_falls_back_to_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: t.Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with PostgresServer() as server:
        assert os.path.dirname(server.root) == "/tmp"
        with server.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert os.listdir(tmp_path) == []


def test_missing_binaries_name_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: t.Any) -> None:
    monkeypatch.setenv("PREAUTH_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresServerError, match=r"holds no executable initdb; .*tools/system-deps\.sh test"):
        find_bindir()
    monkeypatch.delenv("PREAUTH_PG_BIN")
    assert os.access(os.path.join(find_bindir(), "pg_ctl"), os.X_OK)


def test_failed_initdb_leaves_nothing_behind(open_parent: str) -> None:
    fake = os.path.join(open_parent, "bin")
    os.mkdir(fake)
    initdb = os.path.join(fake, "initdb")
    with open(initdb, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\necho 'initdb: FAKE failure' >&2\nexit 1\n")
    os.chmod(initdb, 0o755)
    with pytest.raises(PostgresServerError, match="(?s)initdb failed .*FAKE failure"):
        PostgresServer(open_parent, bindir=fake).start()
    assert os.listdir(open_parent) == ["bin"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # capture_output + timeout: "start" must return even though the server keeps running (no inherited pipes).
    return subprocess.run([sys.executable, CLI, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(params=["open", "private"])
def cli_dir(request: pytest.FixtureRequest, open_parent: str, tmp_path: t.Any) -> t.Iterator[tuple[str, str]]:
    """Where the command line starts a server; stopped afterwards even when the test fails.

    "private": pytest's 0700 tmp_path, which a root run's server user cannot enter: the data goes elsewhere.
    """
    directory = os.path.join(open_parent if request.param == "open" else str(tmp_path), "db")
    yield directory, request.param
    run_cli("stop", directory)


def test_cli_start_terminate_restart_stop(cli_dir: tuple[str, str]) -> None:
    directory, where = cli_dir
    started = run_cli("start", directory)
    assert started.returncode == 0, started.stderr
    with open(os.path.join(directory, "server.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    assert os.stat(os.path.join(directory, "env.sh")).st_mode & 0o077 == 0
    assert state["password"] not in started.stdout + started.stderr
    if where == "open":
        assert state["root"].startswith(directory + os.sep)
    pid = int(open(os.path.join(state["datadir"], "postmaster.pid"), encoding="utf-8").readline())
    assert alive(pid)

    client = 'import os, psycopg; print(psycopg.connect(os.environ["PREAUTH_OAUTH2_STORE_URL"]).execute("SELECT current_user").fetchone()[0])'
    shell = f". {directory}/env.sh && exec {sys.executable} -c '{client}'"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    assert subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=60, check=True).stdout.strip() == APP_ROLE

    victim = psycopg.connect(state["url"], password=state["password"], connect_timeout=10)
    terminated = run_cli("terminate", directory)
    assert terminated.returncode == 0 and "terminated 1 session(s)" in terminated.stdout
    with pytest.raises(psycopg.OperationalError):
        victim.execute("SELECT 1")
    victim.close()

    assert run_cli("restart", directory).returncode == 0
    assert not alive(pid)
    with psycopg.connect(state["url"], password=state["password"], connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    again = run_cli("start", directory)
    assert again.returncode == 1 and "already started" in again.stderr
    new_pid = int(open(os.path.join(state["datadir"], "postmaster.pid"), encoding="utf-8").readline())
    assert run_cli("stop", directory).returncode == 0
    assert not alive(new_pid)
    assert not os.path.exists(state["root"])
    assert not os.path.exists(os.path.join(directory, "env.sh")) and not os.path.exists(os.path.join(directory, "server.json"))
    assert run_cli("stop", directory).returncode == 0  # stopping twice is harmless
    missing = run_cli("restart", directory)
    assert missing.returncode == 1 and "no server started" in missing.stderr


def test_stop_refuses_unknown_modes(pg: PostgresServer) -> None:
    with pytest.raises(ValueError, match="unknown shutdown mode"):
        pg.stop("now")
    assert pg.running()


def test_the_server_is_outside_the_test_run_process_group(open_parent: str) -> None:
    # The postmaster runs in its own session: a Ctrl-C aimed at the test run's process group does not reach it.
    with PostgresServer(open_parent) as server:
        pid = server.postmaster_pid()
        assert pid and os.getsid(pid) != os.getsid(0)
        assert os.getpgid(pid) != os.getpgid(0)
