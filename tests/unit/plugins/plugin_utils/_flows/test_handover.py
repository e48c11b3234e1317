"""Chain ownership through the token_handover action, over real chains made at the simulator."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from action_runner import pick, run_action
from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.handover import HandoverError, handover
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import iso
from chains import file_store_only, VAULT, begin, google_params, params, preauthenticate, stored, twinfield_params


def hand(p, check_mode: bool = False, diff: bool = False, **args):
    return run_action(TokenHandover, dict(pick(p, "connection", "store_dir"), **args), check_mode=check_mode, diff=diff)


def file_hash(p) -> str:
    return hashlib.sha256(open(open_store(p, VAULT).path(p["connection"]), "rb").read()).hexdigest()


def change(p, **fields) -> None:
    with open_store(p, VAULT).locked(p["connection"]) as record:
        record.data.update(fields)


@pytest.fixture
def exact(sim, tmp_path):
    p = params(sim, tmp_path)
    preauthenticate(p)
    return p


@pytest.fixture
def google(sim, tmp_path):
    """A chain of a platform that does not rotate refresh tokens (Google), served by the simulator's OpenID server."""
    p = google_params(sim, tmp_path)
    preauthenticate(p)
    return p


@file_store_only
def test_hand_over_a_rotating_chain_once(exact):
    first = hand(exact, host="dwh01", diff=True)
    assert first["changed"] is True
    assert (first["connection"], first["owner"], first["generation"]) == ("acme-nl", "dwh01", 1)
    assert first["diff"]["before"]["owner"] == "controller" and first["diff"]["after"]["owner"] == "dwh01"
    assert first["diff"]["before"]["generation"] == first["diff"]["after"]["generation"] == 1
    assert first["msg"].startswith("connection acme-nl generation 1 is now owned by host dwh01; the collection no longer refreshes or deploys it")
    data = stored(exact)
    assert data["owner"]["kind"] == "host" and data["owner"]["host"] == "dwh01" and data["owner"]["generation"] == 1
    assert data["history"][-1]["event"] == "handed_over" and data["history"][-1]["host"] == "dwh01"
    unchanged = file_hash(exact)
    again = hand(exact, host="dwh01")
    assert again["changed"] is False and again["owner"] == "dwh01"
    assert again["msg"] == "connection acme-nl generation 1 is already owned by host dwh01"
    assert file_hash(exact) == unchanged


@file_store_only
def test_a_second_host_is_refused_with_the_way_out(exact):
    hand(exact, host="dwh01")
    since = stored(exact)["owner"]["since"]
    unchanged = file_hash(exact)
    refused = hand(exact, host="dwh02")
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["msg"] == (
        "connection acme-nl generation 1 is owned by host dwh01 since %s; a rotating refresh token lives in one place. For host "
        "dwh02, preauthenticate a separate chain (a second connection name) or return ownership first with state=controller once "
        "dwh01's product stopped using it" % iso(since)
    )
    assert file_hash(exact) == unchanged
    # The refusal holds in check mode too.
    assert hand(exact, check_mode=True, host="dwh02")["msg"] == refused["msg"]


def test_return_ownership_to_the_controller(exact):
    hand(exact, host="dwh01")
    wrong = hand(exact, state="controller", host="dwh02")
    assert wrong["failed"] is True
    assert wrong["msg"] == "connection acme-nl generation 1 is owned by host dwh01, not dwh02; nothing was changed. Give host: dwh01 (or no host) to return it"
    back = hand(exact, state="controller", diff=True)
    assert back["changed"] is True and back["owner"] == "controller"
    assert back["diff"] == {
        "before": {"owner": "dwh01", "generation": 1, "deployed_to": []},
        "after": {"owner": "controller", "generation": 1, "deployed_to": []},
    }
    assert "make sure the product on dwh01 no longer uses it" in back["msg"]
    assert stored(exact)["history"][-1]["event"] == "ownership_returned"
    again = hand(exact, state="controller", host="dwh01")
    assert again["changed"] is False and again["msg"] == "connection acme-nl generation 1 is already owned by the controller"
    # Returned: now another host may take it.
    assert hand(exact, host="dwh02")["owner"] == "dwh02"


def test_two_runs_at_once_hand_the_chain_to_one_host_only(exact):
    # Both runs decide on their unlocked read at the same moment; the lock and the second decision
    # under it let exactly one of them through.
    both_read = threading.Barrier(2, timeout=10)
    outcomes: dict[str, object] = {}

    def run(host: str) -> None:
        first = [True]

        def now() -> float:
            if first[0]:
                first[0] = False
                both_read.wait()
            return time.time()

        try:
            outcomes[host] = handover(open_store(exact, VAULT), "acme-nl", "host", host, False, now=now).result["owner"]
        except HandoverError as exc:
            outcomes[host] = exc.msg

    threads = [threading.Thread(target=run, args=(host,)) for host in ("dwh01", "dwh02")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    winner = stored(exact)["owner"]["host"]
    loser = "dwh02" if winner == "dwh01" else "dwh01"
    assert outcomes[winner] == winner
    assert str(outcomes[loser]).startswith("connection acme-nl generation 1 is owned by host %s since" % winner)
    assert [e["event"] for e in stored(exact)["history"]].count("handed_over") == 1


def test_a_new_generation_starts_at_the_controller_and_may_go_to_another_host(exact):
    hand(exact, host="dwh01")
    preauthenticate(exact)
    data = stored(exact)
    assert data["generation"] == 2 and data["owner"]["kind"] == "controller"
    moved = hand(exact, host="dwh02")
    assert moved["changed"] is True and (moved["owner"], moved["generation"]) == ("dwh02", 2)


@file_store_only
def test_check_mode_predicts_and_writes_nothing(exact):
    unchanged = file_hash(exact)
    predicted = hand(exact, check_mode=True, diff=True, host="dwh01")
    assert predicted["changed"] is True
    assert predicted["msg"] == "check mode: would make host dwh01 the owner of connection acme-nl generation 1 (now the controller); nothing was written"
    assert predicted["diff"]["after"]["owner"] == "dwh01" and predicted["owner"] == "dwh01"
    assert file_hash(exact) == unchanged and stored(exact)["owner"]["kind"] == "controller"
    hand(exact, host="dwh01")
    back = hand(exact, check_mode=True, state="controller")
    assert back["changed"] is True
    assert back["msg"].startswith("check mode: would make the controller the owner of connection acme-nl generation 1 (now host dwh01)")
    assert stored(exact)["owner"]["host"] == "dwh01"


@file_store_only
def test_a_non_rotating_chain_stays_with_the_controller_and_lists_its_hosts(google):
    first = hand(google, host="dwh02", diff=True)
    assert first["changed"] is True and first["owner"] == "controller" and first["deployed_to"] == ["dwh02"]
    assert first["diff"]["after"] == {"owner": "controller", "generation": 1, "deployed_to": ["dwh02"]}
    assert "Google does not rotate refresh tokens, so the chain stays owned by the controller" in first["msg"]
    second = hand(google, host="dwh01")
    assert second["changed"] is True and second["deployed_to"] == ["dwh01", "dwh02"]
    unchanged = file_hash(google)
    again = hand(google, host="dwh02")
    assert again["changed"] is False and again["deployed_to"] == ["dwh01", "dwh02"]
    assert again["msg"] == "connection gmail is already recorded as deployed to host dwh02; Google does not rotate refresh tokens, so the controller keeps it"
    assert file_hash(google) == unchanged
    predicted = hand(google, check_mode=True, host="dwh03")
    assert predicted["msg"] == "check mode: would record connection gmail as deployed to host dwh03; nothing was written"
    assert file_hash(google) == unchanged
    data = stored(google)
    assert data["owner"]["kind"] == "controller" and data["deployed_to"] == ["dwh01", "dwh02"]
    assert [e["event"] for e in data["history"]][-2:] == ["deployed", "deployed"]


def test_a_platform_whose_rotation_is_unknown_is_treated_as_rotating(sim, tmp_path):
    p = twinfield_params(sim, tmp_path)
    preauthenticate(p)
    assert hand(p, host="dwh01")["owner"] == "dwh01"
    refused = hand(p, host="dwh02")
    assert refused["failed"] is True and "a rotating refresh token lives in one place" in refused["msg"]


# -- a chain that cannot be handed over --------------------------------------------------------


@file_store_only
def test_no_store(sim, tmp_path):
    p = params(sim, tmp_path, connection="nope")
    result = hand(p, host="dwh01")
    assert result["failed"] is True
    assert result["msg"] == (
        "connection nope has no token store in %s, so there is no chain to hand over; preauthenticate it first: run "
        "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=nope" % p["store_dir"]
    )
    back = hand(p, state="controller")
    assert back["msg"] == "connection nope has no token store in %s; there is no ownership to return" % p["store_dir"]
    assert not os.path.exists(p["store_dir"])  # a refusal creates neither the directory nor a lock file


def test_a_store_without_a_completed_preauthentication(sim, tmp_path):
    p = params(sim, tmp_path, connection="half")
    begin(p)  # an authorization URL was made, the code never exchanged
    result = hand(p, host="dwh01")
    assert result["failed"] is True
    assert result["msg"] == (
        "connection half cannot be handed over: it holds no tokens; preauthenticate it again: run ansible-playbook "
        "preauth.oauth2.preauthenticate -e preauth_connection=half"
    )


def test_revoked_chain(exact):
    with open_store(exact, VAULT).locked("acme-nl") as record:
        record.data["tokens"] = None
        record.add_event("revoked", 1_800_000_000.0, generation=1)
    result = hand(exact, host="dwh01")
    assert result["msg"] == (
        "connection acme-nl cannot be handed over: its tokens were revoked at 2027-01-15T08:00:00Z; preauthenticate it again: "
        "run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl"
    )


def test_chain_that_needs_reauthorization(exact):
    change(exact, reauthorization_required={"since": 1_800_000_000.0, "reason": "the refresh token was already used"})
    result = hand(exact, host="dwh01")
    assert result["failed"] is True
    assert result["msg"] == (
        "connection acme-nl cannot be handed over: its chain needs reauthorization since 2027-01-15T08:00:00Z (the refresh token "
        "was already used); preauthenticate it again: run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl"
    )


def test_chain_with_a_refresh_in_flight(exact):
    change(exact, in_flight={"fingerprint": "0123456789ab", "started_at": 1_800_000_000.0})
    result = hand(exact, host="dwh01")
    assert result["msg"] == (
        "connection acme-nl cannot be handed over: a refresh started at 2027-01-15T08:00:00Z has an unknown outcome, so the stored "
        "refresh token may already be spent; run preauth.oauth2.token_refresh for it first, which settles that"
    )
    assert stored(exact)["owner"]["kind"] == "controller"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"state": "host"}, "preauth.oauth2.token_handover: invalid arguments: state is host but all of the following are missing: host"),
        ({"host": "a", "state": "elsewhere"}, "value of state must be one of: host, controller, got: elsewhere"),
        (
            {"host": "a", "client_id": "x"},
            "invalid arguments: client_id. Supported parameters include: ca_path, connection, host, state, store_dir, store_url, timeout,"
            " validate_certs, vault_id",
        ),
    ],
)
def test_bad_arguments(exact, args, message):
    result = hand(exact, **args)
    assert result["failed"] is True and message in result["msg"]


def test_handover_helper_refuses_an_unknown_state_and_a_missing_host(exact):
    store = open_store(exact, VAULT)
    with pytest.raises(HandoverError, match=r"state must be one of host, controller, not 'away'"):
        handover(store, "acme-nl", "away", "dwh01", False)
    with pytest.raises(HandoverError, match=r"connection acme-nl: state=host needs host, the inventory name of the host that takes the chain"):
        handover(store, "acme-nl", "host", None, False)


@file_store_only
@pytest.mark.parametrize("reauth", [True, "yes", {"reason": "Old refresh token used."}])
def test_a_dead_chain_whatever_its_marker_holds_is_refused_with_a_message(exact, reauth):
    change(exact, reauthorization_required=reauth)
    before = file_hash(exact)
    result = hand(exact, host="dwh01")
    reason = reauth["reason"] if isinstance(reauth, dict) else "no reason recorded"
    assert result["failed"] and result["msg"] == (
        "connection acme-nl cannot be handed over: its chain needs reauthorization since an unknown time (%s); preauthenticate it "
        "again: run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl" % reason
    )
    assert file_hash(exact) == before and stored(exact)["owner"]["kind"] == "controller"
