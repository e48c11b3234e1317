"""Moving chains between token stores (token_move) against the simulator and a real PostgreSQL server: file -> PostgreSQL
and back, idempotence, check mode, the tombstone that refuses to refresh, the refusal of two live copies, and a move
SIGKILLed at each of its steps (the real action in a subprocess, stopped at the test-only pause seam) and settled by
running it again or the reverse move."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from action_runner import run_action
from ansible_collections.preauth.oauth2.plugins.action.token_move import ActionModule as TokenMove
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.move import PAUSE_ENV, move
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import moving_mark
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import redact_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
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
    # The way out names no refresh or revocation of a copy (either can kill a rotating chain), but the explicit choice.
    assert "refresh, revoke, hand over and deploy neither" in result["msg"]
    assert "run the move again with the same stores and -e preauth_keep=source or -e preauth_keep=destination" in result["msg"]
    assert "token_refresh" not in result["msg"] and "token_revoke" not in result["msg"]
    assert file_bytes(in_file) == files and row(pg_env, pg_db) == rows


def test_keep_says_which_of_two_live_chains_stays_without_a_token_call(stores, pg_env, pg_db, control):
    in_file, in_pg = stores
    preauthenticate(in_pg)
    newer = stored(in_pg)["tokens"]["refresh_fingerprint"]
    calls = control.state()["token_calls_total"]
    kept = moving(in_file, in_pg, keep="destination")
    assert kept["changed"] is True and kept["counts"]["moved"] == 1, kept
    assert kept["connections"][0]["msg"] == "kept the chain of %s (keep=destination); the source's chain became a tombstone" % redact_url(pg_db)
    assert stored(in_file)["tokens"] is None and stored(in_file)["moved_to"]["store"] == redact_url(pg_db)
    assert stored(in_pg)["tokens"]["refresh_fingerprint"] == newer and moving_mark(stored(in_pg)) is None
    # keep=source the other way: the file store's chain replaces the PostgreSQL one, which ends as the tombstone.
    preauthenticate(in_file)
    older = stored(in_file)["tokens"]["refresh_fingerprint"]
    assert control.state()["token_calls_total"] == calls + 1  # the code exchange of that preauthentication, no more
    calls += 1
    back = moving(in_file, in_pg, keep="source")
    assert back["changed"] is True and back["connections"][0]["msg"].endswith("(keep=source: it replaced the chain the destination held)"), back
    assert stored(in_pg)["tokens"]["refresh_fingerprint"] == older and stored(in_file)["tokens"] is None
    assert control.state()["token_calls_total"] == calls


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
    original = stored(in_file)
    [result] = move(source, destination, None, False)  # type: ignore[arg-type]
    assert result.status == "failed" and "the copy read back from connection acme-nl of the PostgreSQL token store" in result.msg
    assert "the source store still holds it, and the copy's tokens were removed" in result.msg
    after = stored(in_file)
    assert (after["tokens"], after["owner"]) == (original["tokens"], original["owner"]) and moving_mark(after) is None
    assert stored(in_pg)["tokens"] is None and moving_mark(stored(in_pg)) is None


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


# -- a move SIGKILLed at each of its steps ------------------------------------------------------------------------------

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
# The real action, in a process of its own, as ansible-playbook's worker runs it.
_MOVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from helpers import install_collection_loader
install_collection_loader()
from action_runner import run_action
from ansible_collections.preauth.oauth2.plugins.action.token_move import ActionModule
print(json.dumps({k: v for k, v in run_action(ActionModule, json.loads(sys.argv[2])).items() if k in ("msg", "changed", "failed")}))
"""


def task_of(src, dst):
    task = {"store_dir": src["store_dir"]} if src["store_dir"] else {"store_url": src["store_url"]}
    task.update({"to_store_dir": dst["store_dir"]} if dst["store_dir"] else {"to_store_url": dst["store_url"]})
    return task


def killed(src, dst, step, tmp_path):
    """Run the move in a subprocess, stopped at ``step`` by the test-only pause seam, and SIGKILL it there."""
    flag = tmp_path / ("paused-at-" + step)
    env = dict(os.environ, **{PAUSE_ENV: "%s:%s" % (step, flag)})
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOVER, TESTS, json.dumps(task_of(src, dst))], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None, "the move ended before it reached %s: %s" % (step, proc.communicate()[0][-2000:])
        assert time.monotonic() < deadline, "the move did not reach %s in 60 s" % step
        time.sleep(0.05)
    assert int(flag.read_text()) == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    flag.unlink()


def refusal(in_file, in_pg, side):
    return (
        "connection acme-nl is held by a move between token stores that did not finish: from %s to %s, started at "
        % (in_file["store_dir"], redact_url(in_pg["store_url"])),
        "(this is the %s store's copy). Until the move is finished or rolled back neither store refreshes, hands over or deploys the "
        "chain, so that only one copy can ever refresh it. Run the move again with the same stores, which settles it without a new "
        "login: ansible-playbook preauth.oauth2.store_migrate -e preauth_store_dir=%s -e preauth_to_store_url=%s -e preauth_only=acme-nl "
        "(with your inventory and vault options). Do not refresh, revoke or copy either store's record meanwhile"
        % (side, in_file["store_dir"], redact_url(in_pg["store_url"])),
    )


def active(p):
    """Whether the store holds a copy of the chain that a refresh would use."""
    record = open_store(p, VAULT).read(p["connection"])
    return bool(record.exists and (record.data.get("tokens") or {}).get("refresh_token") and moving_mark(record.data) is None)


# What each store holds after a kill at each step of a move from the file store to PostgreSQL: the refresh result there.
AFTER_KILL = {
    "marked": {"file": "source", "pg": "no_chain"},
    "written": {"file": "source", "pg": "destination"},
    "tombstoned": {"file": "moved", "pg": "destination"},
}


@pytest.mark.parametrize("again", ["same", "reverse"])
@pytest.mark.parametrize("step", list(AFTER_KILL))
def test_a_move_killed_at_each_step_leaves_no_copy_that_refreshes_and_running_it_again_settles_it(stores, pg_env, control, tmp_path, step, again):
    in_file, in_pg = stores
    original = stored(in_file)
    secrets = secrets_of(original)
    killed(in_file, in_pg, step, tmp_path)
    # At the kill, no store holds a copy that a refresh would use, and a forced refresh against either makes no token call.
    assert not active(in_file) and not active(in_pg)
    calls = control.state()["token_calls_total"]
    for p, name in ((in_file, "file"), (in_pg, "pg")):
        result = refresh(p, force=True)
        expected = AFTER_KILL[step][name]
        assert result.status == "failed", result
        if expected in ("source", "destination"):
            start, end = refusal(in_file, in_pg, expected)
            assert (result.reason, result.msg.startswith(start), result.msg.endswith(end)) == ("moving", True, True), result.msg
            assert "token_refresh" not in result.msg and "token_revoke" not in result.msg
        else:
            assert result.reason == expected, result
    assert control.state()["token_calls_total"] == calls
    # Running the move again (or the reverse move) settles it without a person: the chain lives in exactly one store.
    there, gone = (in_pg, in_file) if again == "same" else (in_file, in_pg)
    settled = moving(in_file, in_pg) if again == "same" else moving(in_pg, in_file)
    assert settled["changed"] is True and settled["counts"] == {"moved": 1, "unchanged": 0, "skipped": 0, "failed": 0}, settled
    assert not any(s in str(settled) for s in secrets)
    # The same move finishes; the reverse one rolls back, except after the tombstone, where it finishes and then moves back.
    word = "finished" if again == "same" or step == "tombstoned" else "rolled back"
    msg = settled["connections"][0]["msg"]
    assert "%s the move from %s to %s that stopped at " % (word, in_file["store_dir"], redact_url(in_pg["store_url"])) in msg, msg
    assert active(there) and not active(gone)
    assert stored(there)["tokens"] == original["tokens"] and stored(there)["owner"] == original["owner"]
    if (step, again) == ("marked", "reverse"):
        assert not open_store(gone, VAULT).read("acme-nl").exists  # the copy was never written
    else:
        assert stored(gone)["tokens"] is None and stored(gone)["moved_to"]["store"] == (
            redact_url(there["store_url"]) if there is in_pg else there["store_dir"]
        )
    assert refresh(there, control, force=True).status == "refreshed"
    calls = control.state()["token_calls_total"]
    assert refresh(gone, force=True).reason == ("no_chain" if (step, again) == ("marked", "reverse") else "moved")
    assert control.state()["token_calls_total"] == calls
    # A third run changes nothing.
    third = moving(in_file, in_pg) if again == "same" else moving(in_pg, in_file)
    assert third["changed"] is False and third["counts"]["unchanged"] == (0 if (step, again) == ("marked", "reverse") else 1), third


def test_a_rollback_killed_half_way_is_settled_by_either_move(stores, pg_env, control, tmp_path):
    in_file, in_pg = stores
    original = stored(in_file)
    killed(in_file, in_pg, "written", tmp_path)
    # The reverse move rolls it back, and is killed after the copy became a tombstone, before the source's mark went.
    killed(in_pg, in_file, "copy_removed", tmp_path)
    assert not active(in_file) and not active(in_pg)
    assert stored(in_pg)["tokens"] is None and moving_mark(stored(in_file))["side"] == "source"
    start, _end = refusal(in_file, in_pg, "source")
    assert refresh(in_file, force=True).msg.startswith(start)
    settled = moving(in_pg, in_file)
    assert settled["changed"] is True and "rolled back the move from %s to " % in_file["store_dir"] in settled["connections"][0]["msg"], settled
    assert active(in_file) and not active(in_pg) and stored(in_file)["tokens"] == original["tokens"]
    assert refresh(in_file, control, force=True).status == "refreshed"


def test_a_marked_chain_is_neither_handed_over_deployed_nor_revoked_and_check_mode_predicts_the_settling(stores, pg_env, tmp_path):
    from action_runner import given, pick
    from ansible_collections.preauth.oauth2.plugins.action.invantive_settings import ActionModule as InvantiveSettings
    from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover
    from ansible_collections.preauth.oauth2.plugins.action.token_revoke import ActionModule as TokenRevoke

    in_file, in_pg = stores
    killed(in_file, in_pg, "written", tmp_path)
    for p, side in ((in_file, "source"), (in_pg, "destination")):
        start, end = refusal(in_file, in_pg, side)
        for args in (dict(host="dwh01"), dict(state="controller")):
            handed = run_action(TokenHandover, dict(pick(p, "connection", "store_dir"), **args))
            assert handed["failed"] and handed["msg"].startswith(start) and handed["msg"].endswith(end), handed["msg"]
        entry = {"name": "acme-nl", "platform": "exact_online", "client_id": in_file["client_id"], "owner": "controller", "hosts": ["dwh01"]}
        deployed = run_action(InvantiveSettings, dict(connections=[entry], host="dwh01", **pick(p, "store_dir")))
        assert deployed["failed"] and start in deployed["msg"] and end in deployed["msg"], deployed["msg"]
        before = stored(p)
        for check_mode in (True, False):
            revoked = run_action(TokenRevoke, given(p), check_mode=check_mode)
            assert revoked["failed"] and revoked["msg"].startswith(start) and "Nothing was changed." in revoked["msg"], revoked["msg"]
        assert stored(p) == before
    files = file_bytes(in_file)
    check = moving(in_file, in_pg, check_mode=True)
    assert check["changed"] is True and check["connections"][0]["msg"].startswith(
        "check mode: would finish the move from %s to %s that stopped at " % (in_file["store_dir"], redact_url(in_pg["store_url"]))
    ), check
    assert file_bytes(in_file) == files


def test_a_copy_that_never_became_live_is_removed_when_the_source_was_preauthenticated_again(stores, pg_env, control, tmp_path):
    in_file, in_pg = stores
    killed(in_file, in_pg, "written", tmp_path)
    preauthenticate(in_file)  # a person signed in again meanwhile: generation 2 in the file store, which no move holds
    assert active(in_file) and not active(in_pg)
    result = moving(in_file, in_pg)
    msg = result["connections"][0]["msg"]
    assert result["changed"] is True and msg.startswith(
        "moved to %s; removed the copy in %s left by the move from " % ((redact_url(in_pg["store_url"]),) * 2)
    ), msg
    assert stored(in_pg)["generation"] == 2 and active(in_pg) and not active(in_file)
    assert refresh(in_pg, control, force=True).status == "refreshed"


def test_an_empty_selection_is_refused_not_read_as_every_connection(stores, pg_env, pg_db):
    in_file, in_pg = stores
    for connections in ([], ["", " "]):
        result = moving(in_file, in_pg, connections=connections)
        assert result["failed"] is True and "connections names no connection (" in result["msg"], result
        assert "give the names of the connections to move, or leave connections out to move every connection" in result["msg"]
    assert row(pg_env, pg_db) is None and stored(in_file)["tokens"]
