"""A real, throw-away PostgreSQL server for the tests and the demo.

``PostgresServer`` runs ``initdb`` into a fresh directory and starts the server on 127.0.0.1 and a
free port. Over TCP the application role ``preauth`` (owner of database ``preauth``) must give a
generated password (scram-sha-256), so every client exercises the password path the collection
uses in production; the superuser ``postgres`` connects through the Unix socket inside that
directory without one. PostgreSQL refuses to run as root: as root, every server program runs as the
Debian ``postgres`` user (else ``nobody``) through ``setpriv`` or ``runuser``.

Command line, for shell integration targets and the demo::

    python tests/pgserver.py start DIR      # writes DIR/env.sh and DIR/server.json, returns
    python tests/pgserver.py restart DIR    # stop (fast) and start again: same data, same port
    python tests/pgserver.py terminate DIR  # end every session of the application role
    python tests/pgserver.py stop DIR       # stop the server and remove its files

Whoever started a server (this process, or for ``start`` the program that ran the command line) is
watched by a small detached process: when it is gone, killed or timed out without cleaning up, the
watcher stops the server and removes its files, so nothing is left running.

``DIR/env.sh`` exports ``PREAUTH_OAUTH2_STORE_URL`` (no password in it) and ``PGPASSWORD``.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import importlib.util
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.parse

if t.TYPE_CHECKING:
    import psycopg

INSTALL_HINT = (
    "the PostgreSQL test server (tests/pgserver.py) needs the server programs (the Debian package 'postgresql', which tools/system-deps.sh test installs, "
    "or PREAUTH_PG_BIN set to the directory that holds initdb) and the Python driver psycopg 3 in the Python that runs "
    "the tests (pip install 'psycopg[binary]'; make test's virtual environments have it)"
)
APP_ROLE = "preauth"
APP_DATABASE = "preauth"
ADMIN_ROLE = "postgres"
START_TIMEOUT = 30.0
# The watcher looks this often whether the server's owner still runs, and gives up after WATCH_LIMIT.
WATCH_INTERVAL = 1.0
WATCH_LIMIT = 6 * 3600.0
# sun_path holds 108 bytes; the server appends "/.s.PGSQL.<port>" (and ".lock") to the socket directory.
SOCKET_DIR_MAX = 80
STATE_FILE = "server.json"
ENV_FILE = "env.sh"


class PostgresServerError(RuntimeError):
    """The test server could not be found, started, reached or stopped."""


def find_bindir() -> str:
    """The directory of ``initdb``/``pg_ctl``: $PREAUTH_PG_BIN, the newest Debian version, then pg_config."""
    explicit = os.environ.get("PREAUTH_PG_BIN")
    if explicit:
        if os.access(os.path.join(explicit, "initdb"), os.X_OK):
            return explicit
        raise PostgresServerError(f"PREAUTH_PG_BIN={explicit} holds no executable initdb; {INSTALL_HINT}")

    def version(path: str) -> tuple[int, ...]:
        name = os.path.basename(os.path.dirname(path))
        return tuple(int(part) for part in name.split(".")) if re.fullmatch(r"\d+(\.\d+)*", name) else (0,)

    candidates = [os.path.dirname(p) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb") if os.access(p, os.X_OK)]
    if candidates:
        return max(candidates, key=version)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            bindir = ""
        # Debian's pg_config belongs to the client package: its bindir may lack the server programs.
        if bindir and os.access(os.path.join(bindir, "initdb"), os.X_OK):
            return bindir
    raise PostgresServerError(f"no PostgreSQL server programs (initdb) found; {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _conf_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class RunAs:
    """Who runs the server programs: yourself, or (as root) an unprivileged user through setpriv/runuser."""

    def __init__(self) -> None:
        self.prefix: list[str] = []
        self.uid = os.geteuid()
        self.gid = os.getegid()
        self.name = pwd.getpwuid(self.uid).pw_name if self.uid else "root"
        if self.uid != 0:
            return
        for candidate in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(candidate)
            except KeyError:
                continue
            self.uid, self.gid, self.name = entry.pw_uid, entry.pw_gid, candidate
            break
        else:
            raise PostgresServerError("running as root, and neither user 'postgres' nor 'nobody' exists to run the server as")
        if shutil.which("setpriv"):
            self.prefix = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
        elif shutil.which("runuser"):
            self.prefix = ["runuser", "-u", self.name, "--"]
        else:
            raise PostgresServerError("running as root, and neither setpriv nor runuser (util-linux) is installed to drop privileges")

    @property
    def switches(self) -> bool:
        return bool(self.prefix)

    def give(self, path: str) -> None:
        if self.switches:
            os.chown(path, self.uid, self.gid)

    def can_write(self, path: str) -> bool:
        """Whether the server user reaches and writes ``path`` (every parent searchable), asked as that user."""
        if not self.switches:
            return os.access(path, os.W_OK | os.X_OK)
        result = subprocess.run([*self.prefix, "test", "-w", path, "-a", "-x", path], cwd="/", capture_output=True, timeout=30, check=False)
        return result.returncode == 0


class PostgresServer:
    """One PostgreSQL server in its own directory. Use as a context manager, or call ``start()`` and ``cleanup()``."""

    def __init__(self, parent: str | None = None, *, bindir: str | None = None, keep: bool = False) -> None:
        """``parent``: where the server directory is made (default: the temporary directory).

        ``keep``: leave the server running when this Python process exits (the command line's ``start``).
        """
        self.bindir = bindir or find_bindir()
        self.run_as = RunAs()
        self.parent = os.path.abspath(parent or tempfile.gettempdir())
        # A chosen parent is respected (or refused); the default falls back to /tmp when TMPDIR is private to root.
        self._fallback = parent is None and self.parent != "/tmp"
        self.keep = keep
        self.root = ""
        self.socket_dir = ""
        self.port = 0
        self.password = ""
        self._own_socket_dir = False
        self._atexit = False

    # ------------------------------------------------------------------ paths and URLs
    @property
    def datadir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def logfile(self) -> str:
        return os.path.join(self.root, "server.log")

    @property
    def url(self) -> str:
        """The libpq URI of the application role and database, without the password (it comes from ``env``)."""
        return self.url_for(APP_DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{APP_ROLE}@127.0.0.1:{self.port}/{urllib.parse.quote(database, safe='')}"

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs besides ``url``: the password, the way the collection receives it."""
        return {"PGPASSWORD": self.password}

    @property
    def admin_url(self) -> str:
        """The superuser over the Unix socket (trust: no password)."""
        query = urllib.parse.urlencode({"host": self.socket_dir, "port": str(self.port)})
        return f"postgresql://{ADMIN_ROLE}@/postgres?{query}"

    def admin_connect(self, dbname: str = "postgres") -> psycopg.Connection[t.Any]:
        import psycopg

        return psycopg.connect(host=self.socket_dir, port=self.port, user=ADMIN_ROLE, dbname=dbname, autocommit=True, connect_timeout=10)

    def connect(self, dbname: str = APP_DATABASE, **kwargs: t.Any) -> psycopg.Connection[t.Any]:
        """The application role over TCP with its password."""
        import psycopg

        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(self.url_for(dbname), password=self.password, **kwargs)

    # ------------------------------------------------------------------ running programs
    def _run(self, program: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        command = [*self.run_as.prefix, os.path.join(self.bindir, program), *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        if self.run_as.switches:
            env["HOME"] = self.root
        try:
            # start_new_session: the postmaster pg_ctl forks must not receive the terminal's Ctrl-C
            # before our own cleanup stops it in order.
            return subprocess.run(
                command,
                cwd=self.root if os.path.isdir(self.root) else "/",
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresServerError(f"{program} did not finish within {timeout:.0f} s{self._log_tail()}") from exc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as handle:
                tail = handle.readlines()[-lines:]
        except OSError:
            return ""
        return "\n--- server log (last lines) ---\n" + "".join(tail)

    # ------------------------------------------------------------------ life cycle
    def _make_dirs(self) -> None:
        os.makedirs(self.parent, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="pg-", dir=self.parent)
        self.run_as.give(self.root)
        if not self.run_as.can_write(self.root):
            root, self.root = self.root, ""
            shutil.rmtree(root, ignore_errors=True)
            if self._fallback:
                self.parent, self._fallback = "/tmp", False
                self._make_dirs()
                return
            raise PostgresServerError(
                f"user {self.run_as.name!r} (the server refuses root) cannot reach {root}: a parent directory is not searchable by that user; "
                "choose a parent directory outside /root (for example under /tmp)"
            )
        self.socket_dir = os.path.join(self.root, "sock")
        if len(self.socket_dir.encode()) > SOCKET_DIR_MAX:
            # A Unix socket path is limited to 107 bytes; ansible-test's output directories are longer.
            self.socket_dir = tempfile.mkdtemp(prefix="pgsock-")
            self._own_socket_dir = True
        else:
            os.mkdir(self.socket_dir, 0o700)
        self.run_as.give(self.socket_dir)

    def start(self) -> PostgresServer:
        """initdb into a fresh directory, configure, start, and wait until it accepts connections."""
        if self.root:
            raise PostgresServerError(f"server in {self.root} was already started; use start_again()")
        if not self._atexit and not self.keep:
            atexit.register(self.cleanup)
            self._atexit = True
            # atexit handlers do not run when SIGTERM (a CI timeout, kill) ends the process with the default action.
            if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if importlib.util.find_spec("psycopg") is None:
            raise PostgresServerError(f"the Python driver psycopg is not installed in {sys.executable}; {INSTALL_HINT}")
        self._make_dirs()
        try:
            self._initdb()
            for attempt in range(3):
                self.port = free_port()
                self._write_port()
                try:
                    self.start_again()
                    break
                except PostgresServerError:
                    # Another process may have taken the free port between the probe and the bind.
                    if attempt == 2 or "could not bind" not in self._log_tail(5):
                        raise
            self._create_app_role()
        except BaseException:
            self.cleanup()
            raise
        self._watch(os.getppid() if self.keep else os.getpid())
        return self

    def _watch(self, owner: int) -> None:
        """Start the detached watcher that stops this server once ``owner`` has ended."""
        state = {**self.state(), "password": ""}
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "watch", str(owner), str(_start_time(owner)), json.dumps(state)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            cwd="/",
        )

    def _initdb(self) -> None:
        self.password = secrets.token_urlsafe(24)
        pwfile = os.path.join(self.root, "initdb.pw")
        # The superuser's password is never used (it connects through the socket), but scram needs one.
        descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
        self.run_as.give(pwfile)
        try:
            result = self._run(
                "initdb",
                "-D",
                self.datadir,
                "-U",
                ADMIN_ROLE,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                timeout=120,
            )
        finally:
            os.unlink(pwfile)
        if result.returncode != 0:
            raise PostgresServerError(f"initdb failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": _conf_string(self.socket_dir),
            "max_connections": "200",
            "password_encryption": "'scram-sha-256'",
            # A test server: durability across a power cut is worth nothing, speed is. A crash of the server
            # itself (stop("immediate")) still keeps every acknowledged commit: synchronous_commit stays on.
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with open(os.path.join(self.datadir, "postgresql.conf"), "a", encoding="utf-8") as handle:
            handle.write("\n# tests/pgserver.py\n")
            handle.writelines(f"{name} = {value}\n" for name, value in settings.items())
        # Written out rather than left to initdb's defaults: the socket is trusted, TCP always asks for the password.
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w", encoding="utf-8") as handle:
            handle.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")

    def _write_port(self) -> None:
        with open(os.path.join(self.datadir, "postgresql.port.conf"), "w", encoding="utf-8") as handle:
            handle.write(f"port = {self.port}\n")
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf, encoding="utf-8") as handle:
            text = handle.read()
        if "include_if_exists 'postgresql.port.conf'" not in text:
            with open(conf, "a", encoding="utf-8") as handle:
                handle.write("include_if_exists 'postgresql.port.conf'\n")

    def _create_app_role(self) -> None:
        from psycopg import sql

        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_ROLE), sql.Literal(self.password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)))

    def start_again(self) -> None:
        """Start the server on its existing data directory and port (after ``stop``)."""
        if not self.root or not os.path.isdir(self.datadir):
            raise PostgresServerError("no data directory: call start() first")
        # -w waits until the server accepts connections; -t bounds that wait.
        result = self._run("pg_ctl", "start", "-D", self.datadir, "-l", self.logfile, "-w", "-t", str(int(START_TIMEOUT)), timeout=START_TIMEOUT + 15)
        if result.returncode != 0:
            raise PostgresServerError(f"the PostgreSQL server did not start within {START_TIMEOUT:.0f} s on port {self.port}{self._log_tail()}")
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with self.admin_connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresServerError(f"the PostgreSQL server on port {self.port} does not accept connections: {exc}{self._log_tail()}") from exc
                time.sleep(0.1)

    def postmaster_pid(self) -> int | None:
        """The server's process id from postmaster.pid, or None when the server is not running."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid"), encoding="utf-8") as handle:
                return int(handle.readline().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        if not self.root or not os.path.isdir(self.datadir):
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no data directory.
        return self._run("pg_ctl", "status", "-D", self.datadir, timeout=30).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (roll back sessions, clean shutdown) or "immediate" (like a crash)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        if not self.running():
            return
        pid = self.postmaster_pid()
        result = self._run("pg_ctl", "stop", "-D", self.datadir, "-m", mode, "-w", "-t", "30", timeout=45)
        if result.returncode != 0 and self.running():
            raise PostgresServerError(f"pg_ctl stop -m {mode} failed (exit {result.returncode}): {result.stderr.strip()}{self._log_tail()}")
        # pg_ctl returns once postmaster.pid is gone; an immediate stop's postmaster may still be exiting then.
        deadline = time.monotonic() + 10
        while pid and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop("fast")
        self.start_again()

    def terminate_backends(self, application_name: str | None = None) -> int:
        """End the application role's sessions (optionally only those of one application_name); how many ended."""
        query = "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()"
        params: list[str] = [APP_ROLE]
        if application_name is not None:
            query += " AND application_name = %s"
            params.append(application_name)
        with self.admin_connect() as conn:
            return sum(1 for row in conn.execute(query, params).fetchall() if row[0])

    def create_database(self, name: str) -> str:
        """A new empty database owned by the application role; its URL."""
        from psycopg import sql

        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _kill(self) -> None:
        """Last resort when pg_ctl cannot stop the server: SIGKILL the postmaster (its children exit with it)."""
        pid = self.postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def cleanup(self) -> None:
        """Stop the server (whatever happens) and remove its files. Safe to call twice."""
        if self.root:
            try:
                self.stop("immediate")
            except (PostgresServerError, OSError, subprocess.SubprocessError):
                self._kill()
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = ""
        if self._own_socket_dir and self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = ""
        if self._atexit:
            atexit.unregister(self.cleanup)
            self._atexit = False

    def __enter__(self) -> PostgresServer:
        if not self.root:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ state for the command line
    def state(self) -> dict[str, t.Any]:
        return {
            "url": self.url,
            "admin_url": self.admin_url,
            "password": self.password,
            "port": self.port,
            "root": self.root,
            "datadir": self.datadir,
            "socket_dir": self.socket_dir,
            "own_socket_dir": self._own_socket_dir,
            "bindir": self.bindir,
            "user": self.run_as.name,
            "log": self.logfile,
        }

    @classmethod
    def from_state(cls, state: dict[str, t.Any]) -> PostgresServer:
        server = cls(os.path.dirname(state["root"]), bindir=state["bindir"], keep=True)
        server.root = state["root"]
        server.socket_dir = state["socket_dir"]
        server._own_socket_dir = bool(state["own_socket_dir"])
        server.port = int(state["port"])
        server.password = state["password"]
        return server


def _running(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not reaped by an init that does not reap) does not."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): a reused pid has another."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return int(handle.read().rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return -1


def watch(owner: int, started: int, state: dict[str, t.Any]) -> None:
    """Until the server's files are gone: when ``owner`` (started at ``started``) no longer runs, stop the server."""
    deadline = time.monotonic() + WATCH_LIMIT
    while os.path.isdir(state["datadir"]) and time.monotonic() < deadline:
        if not _running(owner) or _start_time(owner) != started:
            PostgresServer.from_state(state).cleanup()
            return
        time.sleep(WATCH_INTERVAL)


def _write_private(path: str, text: str) -> None:
    descriptor = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".new", path)


def _load(directory: str) -> PostgresServer:
    try:
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as handle:
            return PostgresServer.from_state(json.load(handle))
    except FileNotFoundError as exc:
        raise PostgresServerError(f"no server started in {directory} ({STATE_FILE} is missing); run: python tests/pgserver.py start {directory}") from exc


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["watch"] and len(argv) == 4:
        watch(int(argv[1]), int(argv[2]), json.loads(argv[3]))
        return 0
    parser = argparse.ArgumentParser(prog="pgserver.py", description="A throw-away PostgreSQL server for the tests and the demo.")
    parser.add_argument("action", choices=["start", "stop", "restart", "terminate"])
    parser.add_argument("directory", help="where env.sh, server.json and (when reachable by the server user) the server's files go")
    args = parser.parse_args(argv)
    directory = os.path.abspath(args.directory)
    try:
        if args.action == "start":
            if os.path.exists(os.path.join(directory, STATE_FILE)):
                raise PostgresServerError(f"a server was already started in {directory}; stop it first: python tests/pgserver.py stop {directory}")
            os.makedirs(directory, exist_ok=True)
            started = time.monotonic()
            try:
                server = PostgresServer(directory, keep=True).start()
            except PostgresServerError as exc:
                if "cannot reach" not in str(exc):
                    raise
                # The server user cannot enter DIR (say, under /root): its files go to the temporary directory.
                server = PostgresServer(keep=True).start()
            _write_private(os.path.join(directory, STATE_FILE), json.dumps(server.state(), indent=2) + "\n")
            _write_private(
                os.path.join(directory, ENV_FILE),
                f"export PREAUTH_OAUTH2_STORE_URL={shlex.quote(server.url)}\nexport PGPASSWORD={shlex.quote(server.password)}\n",
            )
            print(
                f"pgserver: PostgreSQL on {server.url} (data in {server.root}, {time.monotonic() - started:.1f} s); source {os.path.join(directory, ENV_FILE)}"
            )
        elif args.action == "stop":
            if not os.path.exists(os.path.join(directory, STATE_FILE)):
                return 0
            _load(directory).cleanup()
            for name in (STATE_FILE, ENV_FILE):
                try:
                    os.unlink(os.path.join(directory, name))
                except FileNotFoundError:
                    pass
        elif args.action == "restart":
            _load(directory).restart()
        else:
            print(f"pgserver: terminated {_load(directory).terminate_backends()} session(s)")
    except PostgresServerError as exc:
        print(f"pgserver: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
