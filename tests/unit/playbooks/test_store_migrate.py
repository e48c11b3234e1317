"""playbooks/store_migrate.yml through real ansible-playbook runs: a file store moved to a real PostgreSQL store, check mode
first, then the move, then a second run that changes nothing, a refusal that fails the play after the table, and a run
SIGKILLed after it wrote the destination (the test-only pause seam), settled by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import typing as t

import psycopg
import pytest
import yaml

from action_runner import PASSWORD
from chains import params, preauthenticate, stored
from helpers import ansible_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class _PgEnv:
    """The test server, and ``use()``: its password in PGPASSWORD for this process (again after ``params``, which
    with PREAUTH_TEST_STORE=postgresql starts its own server and exports that one's)."""

    def __init__(self, pg, monkeypatch):
        self.pg, self.monkeypatch = pg, monkeypatch
        self.password = pg.password

    def use(self):
        for name, value in self.pg.env.items():
            self.monkeypatch.setenv(name, value)


@pytest.fixture
def pg_env(pg, monkeypatch):
    found = _PgEnv(pg, monkeypatch)
    found.use()
    return found


@pytest.fixture
def migrate(tmp_path, pg) -> t.Callable[..., subprocess.CompletedProcess]:
    """``migrate(*args)``: ansible-playbook preauth.oauth2.store_migrate, the database password in PGPASSWORD as users give it."""
    base = tmp_path / "collections"
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    inventory = tmp_path / "inventory.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local}}}), encoding="utf-8")
    secret = tmp_path / "vault-pw"
    secret.write_bytes(PASSWORD + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
    env.update(pg.env, ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    playbook = ansible_command("ansible-playbook")

    def command(*args: str) -> list[str]:
        return [playbook, "-i", str(inventory), "--vault-password-file", str(secret), "preauth.oauth2.store_migrate", *args]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(command(*args), env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)

    run.command, run.env = command, env  # type: ignore[attr-defined]
    return run


def rows(pg, url: str) -> list[t.Any]:
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        try:
            return conn.execute("SELECT connection, document FROM preauth_oauth2_chain ORDER BY connection").fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def test_store_migrate_moves_a_file_store_to_postgresql(sim, tmp_path, pg_env, pg_db, migrate):
    in_file = params(sim, tmp_path, store_dir=str(tmp_path / "tokens"), store_url=None)
    in_pg = params(sim, tmp_path, store_dir=None, store_url=pg_db)
    pg_env.use()
    preauthenticate(in_file)
    preauthenticate(dict(in_file, connection="crm"))
    path = os.path.join(in_file["store_dir"], "acme-nl.yml")
    original = open(path, "rb").read()
    refresh_token = stored(in_file)["tokens"]["refresh_token"]
    where = ["-e", "preauth_store_dir=" + in_file["store_dir"], "-e", "preauth_to_store_url=" + pg_db]

    check = migrate(*where, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "acme-nl                  moved         1  check mode: would be moved to %s; nothing was written" % pg_db in check.stdout
    assert open(path, "rb").read() == original and rows(pg_env, pg_db) == []

    first = migrate(*where, "-e", "preauth_only=acme-nl")
    assert first.returncode == 0, first.stdout[-3000:]
    assert "From %s to %s" % (in_file["store_dir"], pg_db) in first.stdout
    assert "acme-nl                  moved         1  moved to %s" % pg_db in first.stdout
    assert "crm " not in first.stdout
    assert refresh_token not in first.stdout + first.stderr
    assert stored(in_file)["moved_to"]["store"] == pg_db and stored(in_pg)["tokens"]["refresh_token"] == refresh_token
    assert [found[0] for found in rows(pg_env, pg_db)] == ["acme-nl"]

    again = migrate(*where)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "acme-nl                  unchanged     1  already moved to %s at " % pg_db in again.stdout
    assert "crm                      moved         1  moved to %s" % pg_db in again.stdout


def test_store_migrate_fails_after_the_table_when_a_connection_cannot_move(sim, tmp_path, pg_env, pg_db, migrate):
    in_file = params(sim, tmp_path, store_dir=str(tmp_path / "tokens"), store_url=None)
    in_pg = params(sim, tmp_path, store_dir=None, store_url=pg_db)
    pg_env.use()
    preauthenticate(in_file)
    preauthenticate(in_pg)
    result = migrate("-e", "preauth_store_dir=" + in_file["store_dir"], "-e", "preauth_to_store_url=" + pg_db)
    assert result.returncode != 0
    assert "acme-nl                  failed        -  connection acme-nl has a live chain in both stores" in result.stdout
    assert "0 moved, 0 unchanged, 0 skipped, 1 failed" in result.stdout
    assert "1 connection(s) could not be moved; see the table above" in result.stdout
    assert stored(in_file)["tokens"]["refresh_token"]


def test_store_migrate_needs_exactly_one_destination(migrate, tmp_path):
    result = migrate("-e", "preauth_store_dir=" + str(tmp_path / "tokens"))
    assert result.returncode != 0
    assert "Set exactly one of preauth_to_store_url (a PostgreSQL URI) and preauth_to_store_dir (a directory)" in result.stdout


def test_store_migrate_killed_after_writing_the_destination_is_finished_by_the_next_run(sim, tmp_path, pg_env, pg_db, migrate):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.move import PAUSE_ENV
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import moving_mark

    in_file = params(sim, tmp_path, store_dir=str(tmp_path / "tokens"), store_url=None)
    in_pg = params(sim, tmp_path, store_dir=None, store_url=pg_db)
    pg_env.use()
    preauthenticate(in_file)
    refresh_token = stored(in_file)["tokens"]["refresh_token"]
    where = ["-e", "preauth_store_dir=" + in_file["store_dir"], "-e", "preauth_to_store_url=" + pg_db]
    flag = tmp_path / "paused"
    env = dict(migrate.env, **{PAUSE_ENV: "written:%s" % flag})  # type: ignore[attr-defined]
    command = migrate.command(*where)  # type: ignore[attr-defined]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:] if proc.poll() is not None else "no pause"
        time.sleep(0.1)
    # The worker that paused (ansible-playbook's workers are not in its process group), then the playbook.
    os.kill(int(flag.read_text()), signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    # Both stores hold the chain, and both refuse it until the move is run again.
    assert moving_mark(stored(in_file))["side"] == "source" and moving_mark(stored(in_pg))["side"] == "destination"
    again = migrate(*where)
    assert again.returncode == 0, again.stdout[-3000:]
    assert (
        "acme-nl                  moved         1  moved to %s (finished the move from %s to %s that stopped at " % (pg_db, in_file["store_dir"], pg_db)
        in again.stdout
    ), again.stdout[-3000:]
    assert refresh_token not in again.stdout + again.stderr
    assert stored(in_file)["tokens"] is None and stored(in_pg)["tokens"]["refresh_token"] == refresh_token and moving_mark(stored(in_pg)) is None
