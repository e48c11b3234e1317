"""The ownership rules, as one table: who owns, who asks, for what, rotating or not, with which inventory."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import (
    ALREADY,
    DEPLOY,
    FIRST_DEPLOYMENT,
    HAND_OVER,
    KEEP,
    NOT_THE_OWNER,
    OWNED_BY_ANOTHER_HOST,
    OWNED_BY_HOST,
    PROCEED,
    REFRESH,
    REFUSE,
    RETURN,
    SEVERAL_HOSTS,
    SKIP,
    Decision,
    decide,
)

SINCE = 1780000000.0


def record(owner: t.Any = None, generation: t.Any = 2, deployed_to: t.Any = None) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {"generation": generation}
    if owner is not None:
        data["owner"] = owner
    if deployed_to is not None:
        data["deployed_to"] = deployed_to
    return data


def host(name: str | None = "dwh01", generation: t.Any = 2) -> dict[str, t.Any]:
    owner: dict[str, t.Any] = {"kind": "host", "since": SINCE, "generation": generation}
    if name is not None:
        owner["host"] = name
    return owner


CONTROLLER = {"kind": "controller", "since": SINCE}
TWO = ["dwh01", "dwh02"]

# (record, asked, keyword arguments, verdict, reason)
TABLE: list[tuple[str, dict[str, t.Any], str, dict[str, t.Any], str, str]] = [
    # The controller refreshes what no host was given, whatever else is asked of it (force is decided after this).
    ("refresh, never handed over", record(), REFRESH, {}, PROCEED, ""),
    ("refresh, owned by the controller", record(CONTROLLER), REFRESH, {}, PROCEED, ""),
    ("refresh, returned to the controller", record({"kind": "controller"}), REFRESH, {}, PROCEED, ""),
    ("refresh, a hand-edited owner", record("a host"), REFRESH, {}, PROCEED, ""),
    ("refresh, owned by a host", record(host()), REFRESH, {}, SKIP, OWNED_BY_HOST),
    ("refresh, owned by a host of an older generation", record(host(generation=1)), REFRESH, {}, SKIP, OWNED_BY_HOST),
    ("refresh, owned by an unnamed host", record(host(None)), REFRESH, {}, SKIP, OWNED_BY_HOST),
    ("refresh, a non-rotating chain owned by a host", record(host()), REFRESH, {"rotating": False}, SKIP, OWNED_BY_HOST),
    # Returning to the controller.
    ("return, owned by the controller", record(CONTROLLER), RETURN, {}, ALREADY, ""),
    ("return, no owner recorded", record(), RETURN, {"host": "dwh01"}, ALREADY, ""),
    ("return, an unnamed host counts as the controller", record(host(None)), RETURN, {}, ALREADY, ""),
    ("return, by the owner", record(host()), RETURN, {"host": "dwh01"}, PROCEED, ""),
    ("return, no host named", record(host()), RETURN, {}, PROCEED, ""),
    ("return, an empty host named", record(host()), RETURN, {"host": ""}, PROCEED, ""),
    ("return, another host named", record(host()), RETURN, {"host": "dwh02"}, REFUSE, NOT_THE_OWNER),
    # Handing a rotating chain over.
    ("hand over, owned by the controller", record(CONTROLLER), HAND_OVER, {"host": "dwh01"}, PROCEED, ""),
    ("hand over, never handed over", record(), HAND_OVER, {"host": "dwh01"}, PROCEED, ""),
    ("hand over, this host owns this generation", record(host()), HAND_OVER, {"host": "dwh01"}, ALREADY, ""),
    ("hand over, this host owns an older generation", record(host(generation=1)), HAND_OVER, {"host": "dwh01"}, PROCEED, ""),
    ("hand over, generations as text", record(host(generation="2"), generation="2"), HAND_OVER, {"host": "dwh01"}, ALREADY, ""),
    ("hand over, no generations", record(host(generation=None), generation=None), HAND_OVER, {"host": "dwh01"}, ALREADY, ""),
    ("hand over, another host owns it", record(host()), HAND_OVER, {"host": "dwh02"}, REFUSE, OWNED_BY_ANOTHER_HOST),
    ("hand over, another host owns an older generation", record(host(generation=1)), HAND_OVER, {"host": "dwh02"}, REFUSE, OWNED_BY_ANOTHER_HOST),
    ("hand over, an unnamed host owns it", record(host(None)), HAND_OVER, {"host": "dwh01"}, PROCEED, ""),
    # A non-rotating chain: the controller keeps it and lists the hosts, whoever the record says owns it.
    ("list a host, none listed", record(CONTROLLER), HAND_OVER, {"host": "dwh01", "rotating": False}, PROCEED, ""),
    ("list a host, others listed", record(CONTROLLER, deployed_to=["dwh02"]), HAND_OVER, {"host": "dwh01", "rotating": False}, PROCEED, ""),
    ("list a host, already listed", record(CONTROLLER, deployed_to=["dwh01"]), HAND_OVER, {"host": "dwh01", "rotating": False}, ALREADY, ""),
    ("list a host, a host owns it", record(host("dwh02"), deployed_to=["dwh01"]), HAND_OVER, {"host": "dwh01", "rotating": False}, ALREADY, ""),
    ("list a host, a host owns it, not listed", record(host("dwh02")), HAND_OVER, {"host": "dwh01", "rotating": False}, PROCEED, ""),
    # Planning a settings file.
    ("deploy, owned by the controller", record(CONTROLLER), DEPLOY, {"host": "dwh01"}, PROCEED, ""),
    ("deploy, this host owns this generation", record(host()), DEPLOY, {"host": "dwh01"}, KEEP, ""),
    ("deploy, this host owns it, redeploy only", record(host()), DEPLOY, {"host": "dwh01", "redeploy_only": True}, KEEP, ""),
    ("deploy, this host owns it, owner: controller", record(host()), DEPLOY, {"host": "dwh01", "wanted_owner": "controller"}, KEEP, ""),
    ("deploy, this host owns an older generation", record(host(generation=1)), DEPLOY, {"host": "dwh01"}, REFUSE, OWNED_BY_ANOTHER_HOST),
    ("deploy, another host owns it", record(host()), DEPLOY, {"host": "dwh02"}, REFUSE, OWNED_BY_ANOTHER_HOST),
    ("deploy, another host owns it, owner: controller", record(host()), DEPLOY, {"host": "dwh02", "wanted_owner": "controller"}, REFUSE, OWNED_BY_ANOTHER_HOST),
    ("deploy, an unnamed host owns it", record(host(None)), DEPLOY, {"host": "dwh01"}, PROCEED, ""),
    ("deploy, redeploy only", record(CONTROLLER), DEPLOY, {"host": "dwh01", "redeploy_only": True}, SKIP, FIRST_DEPLOYMENT),
    ("deploy, redeploy only, owner: controller", record(CONTROLLER), DEPLOY, dict(host="dwh01", wanted_owner="controller", redeploy_only=True), PROCEED, ""),
    ("deploy, one claimant", record(CONTROLLER), DEPLOY, {"host": "dwh01", "claimants": ["dwh01"]}, PROCEED, ""),
    ("deploy, two claimants", record(CONTROLLER), DEPLOY, {"host": "dwh01", "claimants": TWO}, REFUSE, SEVERAL_HOSTS),
    ("deploy, two claimants, redeploy only", record(CONTROLLER), DEPLOY, {"host": "dwh01", "claimants": TWO, "redeploy_only": True}, SKIP, FIRST_DEPLOYMENT),
    ("deploy, two claimants, owner: controller", record(CONTROLLER), DEPLOY, {"host": "dwh01", "claimants": TWO, "wanted_owner": "controller"}, PROCEED, ""),
    ("deploy non-rotating, two claimants", record(CONTROLLER), DEPLOY, {"host": "dwh01", "claimants": TWO, "rotating": False}, PROCEED, ""),
    ("deploy non-rotating, redeploy only", record(CONTROLLER), DEPLOY, {"host": "dwh01", "redeploy_only": True, "rotating": False}, PROCEED, ""),
    ("deploy non-rotating, another host owns it", record(host("dwh02")), DEPLOY, {"host": "dwh01", "rotating": False}, PROCEED, ""),
]


@pytest.mark.parametrize("data, asked, kwargs, verdict, reason", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_the_decision_table(data: dict[str, t.Any], asked: str, kwargs: dict[str, t.Any], verdict: str, reason: str) -> None:
    decision = decide(data, asked, **kwargs)
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_a_decision_names_the_owner_and_since_when() -> None:
    assert decide(record(host()), HAND_OVER, host="dwh02") == Decision(REFUSE, OWNED_BY_ANOTHER_HOST, "dwh01", SINCE)
    assert decide(record(host()), RETURN, host="dwh01") == Decision(PROCEED, owned_by="dwh01", since=SINCE)
    assert decide(record(host(None)), REFRESH) == Decision(SKIP, OWNED_BY_HOST, None, SINCE)
    assert decide(record(CONTROLLER), RETURN).owned_by is None


@pytest.mark.parametrize(
    "kwargs, handover",
    [
        ({}, True),
        ({"wanted_owner": "controller"}, False),
        ({"rotating": False}, True),
        ({"rotating": False, "wanted_owner": "controller"}, True),
    ],
)
def test_a_deployment_says_whether_the_host_takes_the_chain(kwargs: dict[str, t.Any], handover: bool) -> None:
    decision = decide(record(CONTROLLER), DEPLOY, host="dwh01", **kwargs)
    assert decision.verdict == PROCEED and decision.handover is handover


def test_only_a_non_rotating_hand_over_is_a_listing() -> None:
    assert decide(record(CONTROLLER), HAND_OVER, rotating=False, host="dwh01").listed is True
    assert decide(record(CONTROLLER), HAND_OVER, host="dwh01").listed is False


@pytest.mark.parametrize("owner", [None, "host", ["host"], {"kind": None}, {}])
def test_an_odd_owner_section_reads_as_the_controller(owner: t.Any) -> None:
    data = {"generation": 1, "owner": owner}
    assert decide(data, REFRESH).verdict == PROCEED
    assert decide(data, RETURN).verdict == ALREADY
    assert decide(data, HAND_OVER, host="dwh01").verdict == PROCEED
    assert decide(data, DEPLOY, host="dwh01").verdict == PROCEED


def test_an_unknown_question_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown ownership question 'delete'"):
        decide(record(), "delete")
