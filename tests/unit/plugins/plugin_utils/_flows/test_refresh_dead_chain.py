"""After a dead-chain answer no token call is made for that chain until a new consent.

Exact Online counts every refused call against "10 error messages per app, administration, endpoint and hour" (its July
2021 announcement, Invantive forum 3507); a chain the platform has killed must therefore not be presented again, whatever
the schedule or ``force`` says, or the errors pile up into a block of the whole app.
"""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from chains import VAULT, params, preauthenticate, stored
from simulator.timewarp import warp

DAY = 86400
CHAIN_ID = "Token is not allowed, because of invalid or empty chainId"


def refresh(p: dict[str, t.Any], **policy: t.Any):
    client = new_client(p)
    return Refresher(open_store(p, VAULT), client, Policy(**policy), sleep=lambda s: None).run_one(resolve(p, client))


@pytest.fixture
def exact(sim, tmp_path, control):
    p = params(sim, tmp_path)
    preauthenticate(p)
    warp(24 * DAY, control, open_store(p, VAULT))
    return p


@pytest.mark.parametrize(
    "status, error, description",
    [(400, "invalid_grant", CHAIN_ID), (401, "unauthorized_client", "Old refresh token used.")],
    ids=["invalid-or-empty-chainId", "old-refresh-token-used"],
)
def test_no_token_call_after_a_dead_chain_answer_until_a_new_consent(exact, control, status, error, description):
    before = control.state()["token_requests_total"]
    control.inject_fault("echo_before", status=status, error=error, description=description)
    dead = refresh(exact)
    assert (dead.status, dead.reason, dead.reauthorization_required) == ("failed", "reauthorization_required", True)
    assert "(HTTP %d %s: %s)" % (status, error, description) in dead.msg
    assert control.state()["token_requests_total"] == before + 1
    data = stored(exact)
    assert data["reauthorization_required"] is not None and data["last_error"]["kind"] == "invalid_grant"

    # Later runs, forced or not, a day later or not, call nobody: one refused call per chain, never a series.
    for _run in range(3):
        for again in (refresh(exact), refresh(exact, force=True)):
            assert (again.reason, again.token_calls, again.reauthorization_required) == ("reauthorization_required", 0, True)
        warp(DAY, control, open_store(exact, VAULT))
    assert control.state()["token_requests_total"] == before + 1

    # A new consent starts a new chain, and refreshing works again.
    preauthenticate(exact)
    assert stored(exact)["reauthorization_required"] is None
    warp(24 * DAY, control, open_store(exact, VAULT))
    assert refresh(exact).status == "refreshed"
