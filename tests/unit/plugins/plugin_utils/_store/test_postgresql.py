"""The PostgreSQL token store against a real server and the simulator over real sockets: the
schema, the signed facts, single flight across controller processes, a session killed or a server
stopped between the token answer and the commit, the rescue file, and no password in any message."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import typing as t

import psycopg
import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import SCHEMA_VERSION, PgTokenStore, redact_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from chains import VAULT, params, preauthenticate, strict_params
from pgserver import PostgresServer
from simulator.timewarp import warp

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FAKE_DB_PASSWORD = "FAKE-db-password-1"


@pytest.fixture
def pg_env(pg, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    return pg


def pg_params(sim, tmp_path, url: str, maker: t.Callable[..., dict[str, t.Any]] = params, **overrides: t.Any) -> dict[str, t.Any]:
    return maker(sim, tmp_path, store_dir=None, store_url=url, **overrides)


def store_of(p: dict[str, t.Any], rescue_dir: str | None = None) -> PgTokenStore:
    store = open_store(p, VAULT)
    assert isinstance(store, PgTokenStore)
    if rescue_dir is not None:
        store.rescue_dir = rescue_dir
    return store


def refresher(p: dict[str, t.Any], store: PgTokenStore | None = None, **policy: t.Any) -> Refresher:
    return Refresher(store or store_of(p), new_client(p), Policy(**policy))


def refresh(p: dict[str, t.Any], store: PgTokenStore | None = None, **policy: t.Any):
    return refresher(p, store, **policy).run_one(resolve(p, new_client(p)))


def rescue_files(directory: t.Any) -> list[str]:
    """The rescue files in a rescue directory (beside them, ``.controller`` names the controller)."""
    return sorted(n for n in os.listdir(directory) if n.endswith(".json")) if os.path.isdir(directory) else []


def rescued_generation(store: PgTokenStore, generation: int) -> tuple[t.Any, bytes, str]:
    """What a rescue of crm would hold if a write of ``generation`` had failed: the record, its ciphertext, the row it came from."""
    with store.locked("crm") as record:
        record.data["generation"] = generation
        _data, ciphertext = store._ciphertext(record)  # pylint: disable=protected-access
        base = record.source[2]
        record.data["generation"] = 1
    return record, ciphertext, base


def row(pg, url: str, connection: str) -> dict[str, t.Any] | None:
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM preauth_oauth2_chain WHERE connection = %s", (connection,))
        found = cur.fetchone()
        return dict(zip([c.name for c in cur.description], found, strict=True)) if found else None


def sql(pg, url: str, statement: str, *args: t.Any) -> None:
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        conn.execute(statement, args)


# -- choosing the store, the schema, messages ---------------------------------------------------


def test_store_url_and_store_dir_together_are_refused(sim, tmp_path, pg_db):
    p = params(sim, tmp_path, store_url=pg_db)
    with pytest.raises(StoreError, match="store_dir and store_url both choose a token store; set one of them"):
        open_store(p, VAULT)


def test_the_environment_chooses_postgresql_only_when_store_dir_is_not_set(sim, tmp_path, pg_env, pg_db, monkeypatch):
    monkeypatch.setenv("PREAUTH_OAUTH2_STORE_URL", pg_db)
    assert isinstance(open_store(dict(params(sim, tmp_path), store_dir=None), VAULT), PgTokenStore)
    assert not isinstance(open_store(params(sim, tmp_path), VAULT), PgTokenStore)


def test_a_password_in_the_url_is_never_shown(sim, tmp_path, pg):
    url = pg.url.replace("preauth@", "preauth:%s@" % FAKE_DB_PASSWORD) + "?sslmode=disable&password=" + FAKE_DB_PASSWORD
    assert FAKE_DB_PASSWORD not in redact_url(url)
    store = PgTokenStore(url, VAULT)
    with pytest.raises(StoreError) as caught:
        store.connections()
    assert "password authentication failed" in caught.value.msg
    assert FAKE_DB_PASSWORD not in caught.value.msg and FAKE_DB_PASSWORD not in store.location
    assert store.location.startswith("postgresql://preauth@127.0.0.1:")


def test_a_missing_store_reads_as_empty_and_the_first_write_creates_the_schema(sim, tmp_path, pg_env, pg_db):
    p = pg_params(sim, tmp_path, pg_db)
    store = store_of(p)
    assert store.connections() == [] and store.exists() is False
    assert store.read("acme-nl").exists is False
    preauthenticate(p)
    store = store_of(p)
    assert store.exists() is True and store.connections() == ["acme-nl"]
    found = row(pg_env, pg_db, "acme-nl")
    # The document is vault ciphertext; the columns hold facts, never a token.
    assert bytes(found["document"]).startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    text = json.dumps({k: v for k, v in found.items() if k != "document"}, default=str)
    data = store.read("acme-nl").data
    for secret in (data["tokens"]["refresh_token"], data["tokens"]["access_token"], p["client_secret"]):
        assert secret not in text and secret.encode() not in bytes(found["document"])
    assert found["owner_kind"] == "controller" and found["generation"] == 1 and found["has_chain"] is True


def test_a_newer_schema_is_refused_and_nothing_is_written(sim, tmp_path, pg_env, pg_db):
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_meta SET value = %s WHERE name = 'schema_version'", str(SCHEMA_VERSION + 1))
    before = row(pg_env, pg_db, "acme-nl")
    with pytest.raises(StoreError, match="has schema version %d, newer than this collection knows" % (SCHEMA_VERSION + 1)):
        store_of(p).read("acme-nl")
    assert row(pg_env, pg_db, "acme-nl") == before


# -- the signed facts ----------------------------------------------------------------------------


def test_nothing_to_do_is_decided_from_the_facts_in_one_query(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    store = store_of(p)
    store.prefetch(["acme-nl"])
    facts = store.index("acme-nl")
    assert facts is not None and facts["chain"] is True and facts["owner"]["kind"] == "controller"
    calls = control.state()["token_calls_total"]
    assert refresh(p).status == "unchanged" and control.state()["token_calls_total"] == calls


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE preauth_oauth2_chain SET facts = replace(facts, '\"in_flight\":false', '\"in_flight\":true')",
        "UPDATE preauth_oauth2_chain SET document = document || '\\x0a'::bytea",
        "UPDATE preauth_oauth2_chain SET mac = md5(mac) || md5(mac)",
        "UPDATE preauth_oauth2_meta SET value = 'another-store' WHERE name = 'store_id'",
    ],
    ids=["facts edited", "document changed without its facts", "mac replaced", "facts of another store"],
)
def test_facts_are_believed_only_with_their_mac_and_document(sim, tmp_path, pg_env, pg_db, tamper):
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    assert store_of(p).index("acme-nl") is not None
    sql(pg_env, pg_db, tamper)
    assert store_of(p).index("acme-nl") is None


def test_facts_in_another_textual_form_are_checked_the_long_way(sim, tmp_path, pg_env, pg_db):
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    signed = store_of(p).index("acme-nl")
    # PostgreSQL's own JSON text: other spacing and key order, the same facts. The mac is checked over the
    # canonical text the store wrote; any other text is put back into that form first.
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_chain SET facts = (facts::jsonb)::text")
    with psycopg.connect(pg_db, password=pg_env.password, autocommit=True) as conn:
        assert '"chain": true' in conn.execute("SELECT facts FROM preauth_oauth2_chain").fetchone()[0]
    assert store_of(p).index("acme-nl") == signed
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_chain SET facts = (facts::jsonb || '{\"in_flight\": true}')::text")
    assert store_of(p).index("acme-nl") is None


# -- single flight across controllers ------------------------------------------------------------

CONTROLLER = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    import helpers
    helpers.install_collection_loader()
    from chains import VAULT
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
    all_params = json.loads(sys.argv[2])
    client = new_client(all_params[0])
    store = open_store(all_params[0], VAULT)
    results = Refresher(store, client, Policy(access_token_min_ttl=60)).run_many(
        [resolve(p, client) for p in all_params], [p["connection"] for p in all_params], 4)
    print(json.dumps([[r.connection, r.status, r.reason, r.token_calls] for r in results]))
    """
)


def test_two_controllers_refresh_the_same_chains_once(sim, tmp_path, pg_env, pg_db, control):
    chains = [pg_params(sim, tmp_path, pg_db, strict_params, connection="crm-%02d" % i) for i in range(8)]
    for p in chains:
        preauthenticate(p)
    warp(3601, control, store_of(chains[0]))  # every access token expired: every chain is due once
    calls = control.state()["token_calls_total"]
    procs = []
    for name in ("controller-a", "controller-b"):
        home = tmp_path / name
        home.mkdir()
        env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(home / "tmp"), HOME=str(home))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", CONTROLLER, TESTS, json.dumps(chains)], cwd=str(home), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-2000:] for _out, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
    refreshed = sorted(name for each in results for name, status, _reason, _calls in each if status == "refreshed")
    assert refreshed == sorted(p["connection"] for p in chains)  # each chain once, by one of the two
    assert all(status in ("refreshed", "unchanged") for each in results for _n, status, _r, _c in each)
    assert control.state()["token_calls_total"] - calls == len(chains)
    assert control.state()["chains_revoked"] == 0
    for p in chains:  # every chain works afterwards
        assert refresh(p, force=True).status == "refreshed"


def test_the_lease_is_released_when_the_controller_process_dies(sim, tmp_path, pg_env, pg_db):
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                sys.path.insert(0, sys.argv[1])
                import helpers
                helpers.install_collection_loader()
                from chains import VAULT
                from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import PgTokenStore
                with PgTokenStore(sys.argv[2], VAULT).locked("acme-nl"):
                    print("held", flush=True)
                    time.sleep(600)
                """
            ),
            TESTS,
            pg_db,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        waiting = store_of(p)
        waiting.lock_timeout = 0.5
        with pytest.raises(StoreError, match="is leased by another run for more than 0 s"):
            with waiting.locked("acme-nl"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    start = time.monotonic()
    with store_of(p).locked("acme-nl") as record:
        assert record.exists
    assert time.monotonic() - start < 10


# -- the database goes away between the token answer and the commit ----------------------------


def _refresh_while(p: dict[str, t.Any], store: PgTokenStore, control: t.Any, interrupt: t.Callable[[], None]):
    """Refresh in a thread; ``interrupt`` runs once the simulator has rotated the chain and drips its answer."""
    control.inject_fault("drip_after", endpoint="token", interval=0.02)
    calls = control.state()["token_calls_total"]
    outcome: dict[str, t.Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=refresh(p, store, force=True)))
    worker.start()
    deadline = time.monotonic() + 10
    while control.state()["token_calls_total"] == calls and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupt()
    worker.join(60)
    return outcome["result"]


def test_a_session_killed_after_the_token_answer_keeps_the_chain(sim, tmp_path, pg_env, pg_db, control):
    # A request deadline far beyond the dripped answer (about 5 s): the answer must arrive, also on a busy machine.
    p = pg_params(sim, tmp_path, pg_db, strict_params, timeout=30.0)
    preauthenticate(p)
    store = store_of(p, rescue_dir=str(tmp_path / "rescue"))
    result = _refresh_while(p, store, control, lambda: pg_env.terminate_backends("preauth.oauth2"))
    assert (result.status, result.reason) == ("refreshed", "refreshed"), result.msg
    assert any("trying again on a new database session" in w for w in store.warnings)
    assert rescue_files(tmp_path / "rescue") == []
    stored = store_of(p).read("crm").data
    assert stored["in_flight"] is None
    assert stored["tokens"]["refresh_fingerprint"] == control.state()["chains"][0]["refresh_fingerprint"]
    assert refresh(p, force=True).status == "refreshed"  # the chain lives


def test_a_server_stopped_after_the_token_answer_leaves_a_rescue_that_the_next_run_writes(sim, tmp_path, control):
    with PostgresServer().start() as own:
        os.environ.update(own.env)
        p = pg_params(sim, tmp_path, own.url, strict_params, timeout=30.0)
        preauthenticate(p)
        rescue_dir = str(tmp_path / "rescue")
        store = store_of(p, rescue_dir=rescue_dir)
        result = _refresh_while(p, store, control, lambda: own.stop("immediate"))
        assert result.status == "failed"
        assert "is kept in the rescue file %s/" % rescue_dir in result.msg and "Do not delete that file" in result.msg
        files = rescue_files(rescue_dir)
        assert len(files) == 1 and files[0].endswith(".crm.json")
        path = os.path.join(rescue_dir, files[0])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(rescue_dir).st_mode) == 0o700
        raw = open(path, encoding="utf-8").read()
        assert json.loads(raw)["document"].startswith("$ANSIBLE_VAULT;1.1;AES256")
        for secret in result.secrets:
            assert secret not in raw and secret not in result.msg
        live = control.state()["chains"][0]["refresh_fingerprint"]

        own.start_again()
        again = store_of(p, rescue_dir=rescue_dir)
        batch = Refresher(again, new_client(p), Policy()).run_many([resolve(p, new_client(p))], ["crm"], 1)
        assert [(r.status, r.reason) for r in batch] == [("unchanged", "not_needed")], [r.msg for r in batch] + again.warnings
        assert any("was written to the database now" in w for w in again.warnings)
        assert rescue_files(rescue_dir) == []
        assert store_of(p).read("crm").data["tokens"]["refresh_fingerprint"] == live
        assert refresh(p, force=True).status == "refreshed"  # the rotated token was kept: the chain lives
        store.close()
        again.close()


def test_a_rescue_older_than_the_database_is_dropped_and_a_conflicting_one_is_kept(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    rescue_dir = str(tmp_path / "rescue")
    store = store_of(p, rescue_dir=rescue_dir)
    record, ciphertext, base = rescued_generation(store, 7)
    # The database moved on with a refresh of its own: the rescue holds a token the database already replaced.
    assert refresh(p, force=True).status == "refreshed"
    path = store._rescue(record, ciphertext, base)  # pylint: disable=protected-access
    later = store_of(p, rescue_dir=rescue_dir)
    later.replay_rescues()
    assert any("is older than the database's chain" in w for w in later.warnings) and not os.path.exists(path)

    # A rescue whose token the database never saw, onto a row that changed since: kept, and refused with the choice.
    with store.locked("crm") as record:
        record.data["tokens"] = dict(record.data["tokens"], refresh_token="FAKE-rescued-refresh-token", refresh_fingerprint="f" * 16)
        _data, ciphertext = store._ciphertext(record)  # pylint: disable=protected-access
        path = store._rescue(record, ciphertext, "0" * 64)  # pylint: disable=protected-access
        record.data = store.read("crm").data
        record.original = record.data
    with pytest.raises(PreauthError, match="never committed, but the database row changed since"):
        with store_of(p, rescue_dir=rescue_dir).locked("crm"):
            pass
    assert os.path.exists(path)
    conflicted = store_of(p, rescue_dir=rescue_dir)
    conflicted.replay_rescues()
    assert any("never committed" in w for w in conflicted.warnings) and "FAKE-rescued-refresh-token" not in " ".join(conflicted.warnings)


def test_an_in_flight_marker_of_a_live_run_is_left_to_finish(sim, tmp_path, pg_env, pg_db, control):
    """A lease can end with its session while its run still waits for the answer: the marker's time says until when."""
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    now = time.time()
    with store_of(p).locked("crm") as record:
        record.data["in_flight"] = {
            "fingerprint": record.data["tokens"]["refresh_fingerprint"],
            "started_at": now,
            "until": now + 95,
            "holder": store_of(p).in_flight_holder(),  # this controller's: past its time, it settles the chain itself
        }
    calls = control.state()["token_calls_total"]
    result = refresh(p)
    assert (result.status, result.reason) == ("skipped", "in_flight") and "may still be waiting for its answer" in result.msg
    assert control.state()["token_calls_total"] == calls
    with store_of(p).locked("crm") as record:
        record.data["in_flight"]["until"] = now - 1
    assert refresh(p).status == "refreshed"


def test_without_psycopg_the_message_says_how_to_install_it(tmp_path):
    """A controller without the optional driver: store_url fails with the install command, the file store still works."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # the import fails as on a controller without the package
        sys.path.insert(0, sys.argv[1])
        import helpers
        helpers.install_collection_loader()
        from chains import VAULT
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
        print(type(open_store({"store_dir": sys.argv[2]}, VAULT)).__name__)
        try:
            open_store({"store_url": "postgresql://preauth@db.example.test/preauth"}, VAULT)
        except StoreError as exc:
            print(exc.msg)
        """
    )
    done = subprocess.run([sys.executable, "-c", script, TESTS, str(tmp_path)], capture_output=True, text=True, check=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "FileTokenStore"
    assert lines[1].startswith("store_url selects the PostgreSQL token store, which needs the Python package psycopg (version 3)")
    assert "python3 -m pip install 'psycopg[binary]>=3.1'" in lines[1]


# -- issue 18: what the store promises must hold across controllers, copies and hostile inputs ----


@pytest.mark.parametrize(
    "shape",
    [
        "postgresql://preauth@[::1]x/preauth?password={pw}",  # libpq quotes the whole URI it cannot parse
        "postgresql://preauth:{pw}@[::1]x/preauth",
        "postgresql://preauth@127.0.0.1:1/preauth?password={pw}&bogus=1",
        "postgresql://preauth@127.0.0.1:1/preauth?password={pw}&port=abc",
        "postgresql://preauth@127.0.0.1:1/preauth?options=-c%20password%3D{pw}",
        "postgresql://preauth@127.0.0.1:1/preauth?password=%27{pw}%27&sslmode=bogus",
    ],
)
def test_no_form_of_a_password_in_a_store_url_is_ever_shown(sim, tmp_path, shape):
    url = shape.format(pw=FAKE_DB_PASSWORD)
    store = PgTokenStore(url, VAULT, connect_timeout=1)
    with pytest.raises(StoreError) as caught:
        store.connections()
    for text in (caught.value.msg, store.location, redact_url(url)):
        assert FAKE_DB_PASSWORD not in text and FAKE_DB_PASSWORD.replace("-", "%2D") not in text
        assert '"postgresql://' not in text  # libpq's quote of the URI is never echoed
    assert caught.value.msg.startswith("cannot connect to the PostgreSQL token store postgresql://")


def test_facts_signed_for_an_older_document_do_not_hide_a_dead_chain(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    healthy = row(pg_env, pg_db, "crm")
    assert store_of(p).index("crm") is not None  # the facts of the current document are believed
    with store_of(p).locked("crm") as record:
        record.data["reauthorization_required"] = {"since": time.time(), "reason": "the platform refused the refresh token"}
    # A database administrator puts back the older, validly signed facts beside the current document.
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_chain SET facts = %s, mac = %s WHERE connection = 'crm'", healthy["facts"], healthy["mac"])
    assert store_of(p).index("crm") is None
    result = refresh(p)
    assert (result.status, result.reason) == ("failed", "reauthorization_required"), result.msg
    # The same for an in-flight marker: old facts never answer "nothing to do" for it.
    p2 = pg_params(sim, tmp_path, pg_db, strict_params, connection="crm-2")
    preauthenticate(p2)
    healthy = row(pg_env, pg_db, "crm-2")
    now = time.time()
    with store_of(p2).locked("crm-2") as record:
        record.data["in_flight"] = {"fingerprint": "0" * 12, "started_at": now, "until": now + 95, "holder": store_of(p2).in_flight_holder()}
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_chain SET facts = %s, mac = %s WHERE connection = 'crm-2'", healthy["facts"], healthy["mac"])
    assert (refresh(p2).status, refresh(p2).reason) == ("skipped", "in_flight")


@pytest.mark.parametrize("store_id", ["../../../../tmp/preauth-test-pwn/x", None, "not-a-uuid"])
def test_a_store_id_that_is_no_uuid_is_a_store_error_for_each_connection(sim, tmp_path, pg_env, pg_db, control, store_id):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    if store_id is None:
        sql(pg_env, pg_db, "DELETE FROM preauth_oauth2_meta WHERE name = 'store_id'")
    else:
        sql(pg_env, pg_db, "UPDATE preauth_oauth2_meta SET value = %s WHERE name = 'store_id'", store_id)
    rescue_dir = str(tmp_path / "rescue")
    calls = control.state()["token_calls_total"]
    store = store_of(p, rescue_dir=rescue_dir)
    batch = Refresher(store, new_client(p), Policy(force=True)).run_many([resolve(p, new_client(p))], ["crm"], 1)
    assert [(r.connection, r.status) for r in batch] == [("crm", "failed")]
    expected = "no store_id" if store_id is None else "a store_id that is not a UUID"
    assert "has %s in preauth_oauth2_meta" % expected in batch[0].msg and "Put back the id from a backup" in batch[0].msg
    assert control.state()["token_calls_total"] == calls
    assert not os.path.exists("/tmp/preauth-test-pwn") and rescue_files(rescue_dir) == []


def _copy_database(pg, source_url: str, name: str) -> str:
    from psycopg import sql as pgsql

    with pg.admin_connect() as conn:
        conn.execute(
            pgsql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER preauth").format(pgsql.Identifier(name), pgsql.Identifier(source_url.rsplit("/", 1)[1]))
        )
    return pg.url_for(name)


def test_a_copy_of_the_database_refuses_rotating_refreshes_and_handovers_until_adopted(sim, tmp_path, pg_env, pg_db, control):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.handover import handover

    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    copy_url = _copy_database(pg_env, pg_db, pg_db.rsplit("/", 1)[1] + "_copy")
    try:
        c = pg_params(sim, tmp_path, copy_url, strict_params)
        calls = control.state()["token_calls_total"]
        result = refresh(c, force=True)
        assert (result.status, result.reason) == ("failed", "store_copy"), result.msg
        assert "is a copy: it was set up as database" in result.msg and "database OID" in result.msg
        assert "ansible-playbook preauth.oauth2.refresh -e preauth_adopt_store=true" in result.msg
        with pytest.raises(PreauthError, match="is a copy"):
            handover(store_of(c), "crm", "host", "dwh01", False)
        assert control.state()["token_calls_total"] == calls and control.state()["chains_revoked"] == 0
        assert store_of(c).read("crm").data["owner"]["kind"] == "controller"
        # Reports still work on a copy, and the original is at home.
        assert store_of(c).read("crm").exists
        assert refresh(p, force=True).status == "refreshed"

        # The original is retired: the copy is adopted, once, and refreshes from now on.
        check = store_of(c).adopt(check_mode=True)
        assert check["changed"] is True and check["from"]["path"].startswith("database ") and "_copy" in check["to"]["path"]
        assert refresh(c, force=True).reason == "store_copy"  # check mode changed nothing
        assert store_of(c).adopt()["changed"] is True
        assert store_of(c).adopt()["changed"] is False
        home = json.loads(dict(psycopg.connect(copy_url, password=pg_env.password).execute("SELECT name, value FROM preauth_oauth2_meta").fetchall())["home"])
        assert len(home["adopted_from"]) == 1 and home["database"].endswith("_copy")
        # (The copy holds the chain as it was before the original's refresh: the platform refuses that token.)
        assert refresh(c, force=True).reason == "reauthorization_required"
    finally:
        pg_env.drop_database(copy_url.rsplit("/", 1)[1])


def test_a_damaged_home_record_is_refused_like_a_copy(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    sql(pg_env, pg_db, "UPDATE preauth_oauth2_meta SET value = '{\"format\": 1, \"database\": 5}' WHERE name = 'home'")
    result = refresh(p, force=True)
    assert (result.status, result.reason) == ("failed", "store_copy") and "home record" in result.msg and "is damaged" in result.msg
    assert store_of(p).adopt()["changed"] is True
    assert refresh(p, force=True).status == "refreshed"


def test_a_store_older_than_the_home_record_is_at_home_where_it_is_first_written(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    sql(pg_env, pg_db, "DELETE FROM preauth_oauth2_meta WHERE name = 'home'")
    assert refresh(p, force=True).status == "refreshed"
    with psycopg.connect(pg_db, password=pg_env.password) as conn:
        home = json.loads(conn.execute("SELECT value FROM preauth_oauth2_meta WHERE name = 'home'").fetchone()[0])
    assert home["database"] == pg_db.rsplit("/", 1)[1] and isinstance(home["database_oid"], int) and home["cluster"].isdigit()


NOBODY = None
try:
    import pwd

    NOBODY = pwd.getpwnam("nobody")
except KeyError:  # pragma: no cover - every Debian machine has nobody
    pass
needs_root = pytest.mark.skipif(os.geteuid() != 0 or NOBODY is None, reason="needs root and the user nobody to make a directory another user owns")


@pytest.mark.parametrize("hostile", ["mode-0777", "another-owner", "a-link"])
def test_a_rescue_directory_that_others_can_change_is_refused_before_any_token_call(sim, tmp_path, pg_env, pg_db, control, hostile):
    if hostile == "another-owner" and (os.geteuid() != 0 or NOBODY is None):
        pytest.skip("needs root to make a directory another user owns (CI runs as root)")
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    rescue_dir = tmp_path / "rescue"
    if hostile == "a-link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        rescue_dir.symlink_to(tmp_path / "elsewhere")
    else:
        rescue_dir.mkdir()
        os.chmod(rescue_dir, 0o777)
        if hostile == "another-owner":
            os.chmod(rescue_dir, 0o700)
            os.chown(rescue_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    calls = control.state()["token_calls_total"]
    result = refresh(p, store_of(p, rescue_dir=str(rescue_dir)), force=True)
    assert result.status == "failed", result.msg
    assert {"mode-0777": "group or others can write to the rescue directory", "another-owner": "is owned by nobody", "a-link": "is a symbolic link"}[
        hostile
    ] in result.msg
    assert "no refresh that rotates a chain of the PostgreSQL store runs until its rescue directory can be trusted" in result.msg
    assert "chown" not in result.msg
    assert control.state()["token_calls_total"] == calls and result.token_calls == 0
    assert store_of(p).read("crm").data["in_flight"] is None  # no marker for a request that was never sent


def test_a_rescue_file_with_a_second_name_is_not_written_back(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    rescue_dir = str(tmp_path / "rescue")
    store = store_of(p, rescue_dir=rescue_dir)
    record, ciphertext, base = rescued_generation(store, 9)
    path = store._rescue(record, ciphertext, base)  # pylint: disable=protected-access
    os.link(path, str(tmp_path / "second-name.json"))
    with pytest.raises(PreauthError, match="has 2 names"):
        with store_of(p, rescue_dir=rescue_dir).locked("crm"):
            pass
    assert os.path.exists(path) and store_of(p).read("crm").data["generation"] == 1


def test_a_crash_of_the_database_mid_refresh_leaves_the_chain_to_the_controller_that_holds_the_answer(sim, tmp_path, control):
    """Controller A keeps the rotated chain in its own rescue file; controller B (its own rescue directory) must not present the
    spent token when the marker has expired, and can release it only by an explicit step."""
    with PostgresServer().start() as own:
        os.environ.update(own.env)
        p = pg_params(sim, tmp_path, own.url, strict_params, timeout=30.0)
        preauthenticate(p)
        rescue_a, rescue_b = str(tmp_path / "a-rescue"), str(tmp_path / "b-rescue")
        a = store_of(p, rescue_dir=rescue_a)
        result = _refresh_while(p, a, control, lambda: own.stop("immediate"))
        assert result.status == "failed" and "is kept in the rescue file %s/" % rescue_a in result.msg
        assert result.token_calls == 1  # the rescue path counts the call it made
        live = control.state()["chains"][0]["refresh_fingerprint"]
        own.start_again()
        a.close()

        # B, on a clock two and a half minutes later: the marker is past its time, but A may hold the answer.
        calls = control.state()["token_calls_total"]
        b = store_of(p, rescue_dir=rescue_b)
        later = Refresher(b, new_client(p), Policy(force=True), now=lambda: time.time() + 150)
        batch = later.run_many([resolve(p, new_client(p))], ["crm"], 1)
        assert [(r.status, r.reason) for r in batch] == [("failed", "in_flight_elsewhere")], [r.msg for r in batch]
        assert "rescue directory %s" % rescue_a in batch[0].msg and "-e preauth_release_in_flight=crm" in batch[0].msg
        assert "PREAUTH_OAUTH2_RESCUE_DIR=%s" % rescue_a in batch[0].msg
        assert control.state()["token_calls_total"] == calls and control.state()["chains_revoked"] == 0
        b.close()

        # A runs again: it writes its rescue back, and the chain lives on from either controller.
        again = store_of(p, rescue_dir=rescue_a)
        batch = Refresher(again, new_client(p), Policy()).run_many([resolve(p, new_client(p))], ["crm"], 1)
        assert any("was written to the database now" in w for w in again.warnings), again.warnings
        assert store_of(p).read("crm").data["tokens"]["refresh_fingerprint"] == live
        assert refresh(p, store_of(p, rescue_dir=rescue_b), force=True).status == "refreshed"
        assert control.state()["chains_revoked"] == 0
        again.close()


def test_a_person_releases_the_marker_of_a_controller_that_never_comes_back(sim, tmp_path, pg_env, pg_db, control):
    p = pg_params(sim, tmp_path, pg_db, strict_params)
    preauthenticate(p)
    gone = store_of(p, rescue_dir=str(tmp_path / "gone-rescue"))
    now = time.time()
    with gone.locked("crm") as record:  # the request of a controller killed before it was sent
        record.data["in_flight"] = {"fingerprint": "0" * 12, "started_at": now - 300, "until": now - 200, "holder": gone.in_flight_holder()}
    here = str(tmp_path / "here-rescue")
    calls = control.state()["token_calls_total"]
    assert refresh(p, store_of(p, rescue_dir=here)).reason == "in_flight_elsewhere"
    assert store_of(p, rescue_dir=here).read("crm").data["in_flight"]["holder"]["rescue_dir"] == str(tmp_path / "gone-rescue")
    assert control.state()["token_calls_total"] == calls
    # Releasing another connection's marker, or none, changes nothing.
    assert refresh(p, store_of(p, rescue_dir=here), release_in_flight=frozenset({"other"})).reason == "in_flight_elsewhere"
    result = refresh(p, store_of(p, rescue_dir=here), release_in_flight=frozenset({"crm"}))
    assert result.status == "refreshed", result.msg
    assert any("was released (release_in_flight)" in w for w in result.warnings)
    data = store_of(p).read("crm").data
    assert data["in_flight"] is None and any(e.get("event") == "in_flight_released" for e in data["history"])


# -- vault labels and decryption messages (issue 18, item 10 and "use the store's own words") ----------------------


def test_the_same_password_under_another_vault_id_label_keeps_the_records_label(sim, tmp_path, pg_env, pg_db):
    from ansible.parsing.vault import VaultLib, VaultSecret

    password = b"FAKE-vault-password"  # chains.VAULT's, under two labels
    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    name = p["connection"]
    assert bytes(row(pg_env, pg_db, name)["document"]).startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    prod = open_store(p, VaultLib([("prod", VaultSecret(password))]))
    with prod.locked(name) as record:
        record.data["generation"] = 7
    found = row(pg_env, pg_db, name)
    assert bytes(found["document"]).startswith(b"$ANSIBLE_VAULT;1.1;AES256\n") and found["vault_id"] == "default"
    assert open_store(p, VAULT).read(name).data["generation"] == 7
    # A record labelled prod stays prod when the default label of the same password writes it.
    labelled = open_store(dict(p, vault_id="prod"), VaultLib([("prod", VaultSecret(password))]))
    with labelled.locked("other") as record:
        record.data["generation"] = 1
    with open_store(p, VAULT).locked("other") as record:
        record.data["generation"] = 2
    other = row(pg_env, pg_db, "other")
    assert bytes(other["document"]).startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod\n") and other["vault_id"] == "prod"


def test_a_decryption_failure_names_the_record_in_the_stores_own_words(sim, tmp_path, pg_env, pg_db):
    from ansible.parsing.vault import VaultLib, VaultSecret

    p = pg_params(sim, tmp_path, pg_db)
    preauthenticate(p)
    store = open_store(p, VaultLib([("default", VaultSecret(b"FAKE-wrong-password"))]))
    with pytest.raises(StoreError) as info:
        store.read(p["connection"])
    assert str(info.value) == (
        "cannot decrypt %s with the vault secrets of this run; use the vault password it was written with. Nothing was changed."
        % store.where(p["connection"])
    )
    assert str(info.value).startswith("cannot decrypt connection acme-nl of the PostgreSQL token store postgresql://")
    assert "the token store connection" not in str(info.value) and pg_env.password not in str(info.value)
