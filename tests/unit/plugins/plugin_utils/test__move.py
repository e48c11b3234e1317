"""Moving chains between token stores (token_move) against the simulator and a real PostgreSQL server: file -> PostgreSQL
and back, idempotence, check mode, the tombstone that refuses to refresh, and the refusal of two live copies."""

from __future__ import annotations

import copy
import hashlib
import os

import psycopg
import pytest

from action_runner import run_action
from ansible_collections.preauth.oauth2.plugins.action.token_move import ActionModule as TokenMove
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._move import move
from ansible_collections.preauth.oauth2.plugins.plugin_utils._pgstore import redact_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._refresh import Policy, Refresher
from chains import VAULT, params, preauthenticate, stored
from simulator.timewarp import warp


@pytest.fixture
def pg_env(pg, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    return pg


@pytest.fixture
def stores(sim, tmp_path, pg, pg_db, monkeypatch):
    """Parameters of one connection in a file store (preauthenticated) and in an empty PostgreSQL store."""
    in_file = params(sim, tmp_path, store_dir=str(tmp_path / "tokens"), store_url=None)
    in_pg = params(sim, tmp_path, store_dir=None, store_url=pg_db)
    # After params: with PREAUTH_TEST_STORE=postgresql it starts its own server and exports that one's password.
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    preauthenticate(in_file)
    return in_file, in_pg


def moving(src, dst, check_mode=False, diff=False, **args):
    task = {"store_dir": src["store_dir"]} if src["store_dir"] else {"store_url": src["store_url"]}
    task.update({"to_store_dir": dst["store_dir"]} if dst["store_dir"] else {"to_store_url": dst["store_url"]})
    task.update(args)
    return run_action(TokenMove, task, check_mode=check_mode, diff=diff)


def refresh(p, control=None, **policy):
    if control is not None:  # an hour later: past the platform's minimum interval between refreshes
        warp(3601, control, open_store(p, VAULT))
    return Refresher(open_store(p, VAULT), new_client(p), Policy(**policy)).run_one(resolve(p, new_client(p)))


def file_bytes(p):
    return open(os.path.join(p["store_dir"], p["connection"] + ".yml"), "rb").read()


def row(pg, url, connection="acme-nl"):
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        try:
            found = conn.execute("SELECT document, updated_at FROM preauth_oauth2_chain WHERE connection = %s", (connection,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return tuple(bytes(v) if isinstance(v, memoryview) else v for v in found) if found else None


def secrets_of(data):
    tokens = data["tokens"]
    return [tokens["refresh_token"], tokens["access_token"]]


def test_file_to_postgresql_and_back(stores, pg_env, control):
    in_file, in_pg = stores
    original = stored(in_file)
    secrets = secrets_of(original)
    result = moving(in_file, in_pg, diff=True)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["counts"] == {"moved": 1, "unchanged": 0, "skipped": 0, "failed": 0}
    assert result["destination"] == redact_url(in_pg["store_url"])
    assert result["summary"] == ["acme-nl: moved - moved to %s" % result["destination"]]
    assert not any(s in str(result) for s in secrets)
    assert result["diff"]["before"]["acme-nl"]["destination"]["live_chain"] is False
    assert result["diff"]["after"]["acme-nl"]["destination"]["live_chain"] is True
    assert result["diff"]["after"]["acme-nl"]["source"]["moved_to"]["store"] == result["destination"]
    # The destination holds the same record; the source a tombstone that names it.
    moved = stored(in_pg)
    assert moved["tokens"] == original["tokens"] and moved["generation"] == original["generation"] and "moved_to" not in moved
    tomb = stored(in_file)
    assert tomb["tokens"] is None and "pending" not in tomb
    assert tomb["moved_to"]["store"] == redact_url(in_pg["store_url"])
    assert (tomb["moved_to"]["fingerprint"], tomb["moved_to"]["generation"]) == (original["tokens"]["refresh_fingerprint"], original["generation"])
    assert tomb["history"][-1]["event"] == "moved" and tomb["history"][-1]["to"] == tomb["moved_to"]["store"]
    # The moved chain refreshes in its new store.
    assert refresh(in_pg, control, force=True).status == "refreshed"
    # And goes back: the file store's tombstone gives way to the live chain, PostgreSQL keeps the tombstone.
    back = moving(in_pg, in_file)
    assert back["changed"] is True and back["counts"]["moved"] == 1, back
    assert stored(in_file)["tokens"]["refresh_token"] and "moved_to" not in stored(in_file)
    assert stored(in_pg)["tokens"] is None and stored(in_pg)["moved_to"]["store"] == in_file["store_dir"]
    assert refresh(in_file, control, force=True).status == "refreshed"
    calls = control.state()["token_calls_total"]
    stale = refresh(in_pg, force=True)
    assert (stale.status, stale.reason) == ("failed", "moved") and control.state()["token_calls_total"] == calls


def test_a_second_run_changes_nothing(stores, pg_env, pg_db, control):
    in_file, in_pg = stores
    moving(in_file, in_pg)
    files, rows = file_bytes(in_file), row(pg_env, pg_db)
    again = moving(in_file, in_pg)
    assert again["changed"] is False and again["counts"]["unchanged"] == 1, again
    assert again["connections"][0]["msg"].startswith("already moved to %s at " % redact_url(pg_db))
    assert file_bytes(in_file) == files and row(pg_env, pg_db) == rows
    # Refreshed in the new store since: still unchanged, and it says so.
    assert refresh(in_pg, control, force=True).status == "refreshed"
    later = moving(in_file, in_pg)
    assert later["changed"] is False and later["connections"][0]["msg"].endswith("and refreshed there since")


def test_check_mode_writes_nothing(stores, pg_env, pg_db):
    in_file, in_pg = stores
    files = file_bytes(in_file)
    result = moving(in_file, in_pg, check_mode=True, diff=True)
    assert result["changed"] is True and result["counts"]["moved"] == 1
    assert result["msg"] == "check mode: 1 would be moved, 0 unchanged, 0 skipped, 0 failed; nothing was written"
    assert result["connections"][0]["msg"] == "check mode: would be moved to %s; nothing was written" % redact_url(pg_db)
    assert result["diff"]["after"]["acme-nl"]["source"]["live_chain"] is False
    assert file_bytes(in_file) == files and row(pg_env, pg_db) is None


def test_a_forgotten_refresh_on_the_old_store_makes_no_token_call_and_says_where_the_chain_went(stores, control):
    in_file, in_pg = stores
    moving(in_file, in_pg)
    calls = control.state()["token_calls_total"]
    for force in (False, True):
        result = refresh(in_file, force=force)
        assert (result.status, result.reason) == ("failed", "moved")
        assert result.msg.startswith("the chain was moved to %s at " % redact_url(in_pg["store_url"]))
        assert result.msg.endswith("use that store (store_url/store_dir) - this store no longer refreshes it")
    assert control.state()["token_calls_total"] == calls


def test_two_live_copies_are_refused_and_nothing_changes(stores, pg_env, pg_db):
    in_file, in_pg = stores
    preauthenticate(in_pg)
    preauthenticate(in_pg)  # generation 2 there: the destination is newer
    files, rows = file_bytes(in_file), row(pg_env, pg_db)
    result = moving(in_file, in_pg)
    assert result["failed"] is True and result["changed"] is False
    assert result["counts"]["failed"] == 1
    assert (
        "connection acme-nl has a live chain in both stores - source %s (generation 1, last refresh never) and destination %s (generation 2, "
        "last refresh never); the destination has the newer generation. Nothing was changed." % (in_file["store_dir"], redact_url(pg_db))
    ) in result["msg"]
    assert "revoke the other with preauth.oauth2.token_revoke" in result["msg"]
    assert file_bytes(in_file) == files and row(pg_env, pg_db) == rows


def test_an_interrupted_move_is_finished(stores):
    in_file, in_pg = stores
    # The destination was written and the run stopped before the source became a tombstone.
    with open_store(in_pg, VAULT).locked("acme-nl") as record:
        record.data = copy.deepcopy(stored(in_file))
    result = moving(in_file, in_pg)
    assert result["changed"] is True and result["connections"][0]["msg"].endswith("(finished a move that stopped after the chain was written there)")
    assert stored(in_file)["tokens"] is None and stored(in_pg)["tokens"]["refresh_token"]


def test_a_chain_owned_by_a_host_moves_with_its_owner(stores):
    in_file, in_pg = stores
    with open_store(in_file, VAULT).locked("acme-nl") as record:
        record.data["owner"] = {"kind": "host", "host": "dwh01", "since": 1.0, "generation": 1}
    assert moving(in_file, in_pg)["changed"] is True
    assert stored(in_pg)["owner"] == {"kind": "host", "host": "dwh01", "since": 1.0, "generation": 1}


def test_a_refresh_with_an_unknown_outcome_is_not_moved(stores, pg_env, pg_db):
    in_file, in_pg = stores
    with open_store(in_file, VAULT).locked("acme-nl") as record:
        record.data["in_flight"] = {"fingerprint": "0" * 12, "started_at": 1000.0, "until": 1060.0}
    result = moving(in_file, in_pg)
    assert result["failed"] is True and "a refresh started at 1970-01-01T00:16:40Z has an unknown outcome" in result["msg"]
    assert "run preauth.oauth2.token_refresh for it against %s first" % in_file["store_dir"] in result["msg"]
    assert row(pg_env, pg_db) is None and stored(in_file)["tokens"]


def test_a_record_without_tokens_is_skipped_and_others_still_move(sim, tmp_path, stores):
    in_file, in_pg = stores
    other = dict(in_file, connection="old-one")
    with open_store(other, VAULT).locked("old-one") as record:
        record.data.update(tokens=None, generation=1)
    result = moving(in_file, in_pg)
    assert result["counts"] == {"moved": 1, "unchanged": 0, "skipped": 1, "failed": 0}
    assert "old-one: skipped - holds no tokens in %s" % in_file["store_dir"] in result["summary"][1]


def test_only_the_named_connections_move(stores, pg_env, pg_db):
    in_file, in_pg = stores
    result = moving(in_file, in_pg, connections=["nobody"])
    assert result["failed"] is True and "connection nobody has no record in the source store %s" % in_file["store_dir"] in result["msg"]
    assert row(pg_env, pg_db) is None


def test_the_same_store_on_both_sides_is_refused(stores):
    in_file = stores[0]
    result = moving(in_file, in_file)
    assert result["failed"] is True
    assert "the source and the destination are the same token store (%s)" % in_file["store_dir"] in result["msg"]


def test_one_destination_option_is_required(stores):
    in_file, in_pg = stores
    result = run_action(TokenMove, {"store_dir": in_file["store_dir"]})
    assert result["failed"] is True and "one of the following is required: to_store_dir, to_store_url" in result["msg"]
    result = run_action(TokenMove, {"store_dir": in_file["store_dir"], "to_store_dir": "/tmp/x", "to_store_url": in_pg["store_url"]})
    assert result["failed"] is True and "parameters are mutually exclusive: to_store_dir|to_store_url" in result["msg"]


class _Garbling:
    """A destination whose read-back differs from what was written (a broken disk or database)."""

    def __init__(self, store):
        self.store = store

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read(self, connection):
        record = self.store.read(connection)
        if record.exists and record.data.get("tokens"):
            record.data["tokens"]["refresh_token"] = "FAKE-garbled"
        return record


def test_a_copy_that_does_not_read_back_the_same_leaves_the_source_live_and_the_copy_dead(stores, tmp_path):
    in_file, in_pg = stores
    source, destination = open_store(in_file, VAULT), _Garbling(open_store(in_pg, VAULT))
    before = hashlib.sha256(file_bytes(in_file)).hexdigest()
    [result] = move(source, destination, None, False)  # type: ignore[arg-type]
    assert result.status == "failed" and "the copy read back from connection acme-nl of the PostgreSQL token store" in result.msg
    assert "the source store still holds it and was not changed, and the copy's tokens were removed" in result.msg
    assert hashlib.sha256(file_bytes(in_file)).hexdigest() == before
    assert stored(in_pg)["tokens"] is None


def test_a_tombstone_is_reported_as_moved_and_is_neither_handed_over_nor_deployed(stores, pg_env):
    from action_runner import pick
    from ansible_collections.preauth.oauth2.plugins.action.invantive_settings import ActionModule as InvantiveSettings
    from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover
    from ansible_collections.preauth.oauth2.plugins.action.token_info import ActionModule as TokenInfo

    in_file, in_pg = stores
    moving(in_file, in_pg)
    where = redact_url(in_pg["store_url"])
    info = run_action(TokenInfo, pick(in_file, "store_dir"))
    assert [(c["connection"], c["moved_to"], c["has_tokens"]) for c in info["connections"]] == [("acme-nl", where, False)]
    live = run_action(TokenInfo, pick(in_pg, "store_dir"))
    assert [c["moved_to"] for c in live["connections"]] == [None]
    handed = run_action(TokenHandover, dict(pick(in_file, "connection", "store_dir"), host="dwh01"))
    assert handed["failed"] and "was moved to the token store %s at " % where in handed["msg"] and "Hand it over from that store" in handed["msg"]
    entry = {"name": "acme-nl", "platform": "exact_online", "client_id": in_file["client_id"], "owner": "controller", "hosts": ["dwh01"]}
    deployed = run_action(InvantiveSettings, dict(connections=[entry], host="dwh01", **pick(in_file, "store_dir")))
    assert deployed["failed"] and "was moved to the token store %s at " % where in deployed["msg"] and "Deploy from that store" in deployed["msg"]


def test_preauthenticating_again_where_a_tombstone_is_makes_a_live_chain(stores, pg_env):
    in_file, in_pg = stores
    moving(in_file, in_pg)
    preauthenticate(in_file)
    again = stored(in_file)
    assert again["tokens"]["refresh_token"] and "moved_to" not in again
