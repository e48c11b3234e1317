"""The settings role's ``__preauth_settings_claims``, rendered from the role's own task, decides nothing itself.

The expression only gathers who asks: for each connection, the hosts of the play that list it by name. The decision
(a rotating chain given to more than one host is deployed to none) is ``_ownership.decide``, reached through the
``invantive_settings`` action's ``claims``. Rendering the role's expression over the same table keeps the two in step.
"""

from __future__ import annotations

import os
import typing as t

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invantive import claimants
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import DEPLOY, PROCEED, REFUSE, SEVERAL_HOSTS, decide

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TASKS = os.path.join(ROOT, "roles", "settings", "tasks", "main.yml")


def claims_expression() -> str:
    with open(TASKS, encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    return next(task for task in tasks if "__preauth_settings_claims" in task.get("vars", {}))["vars"]["__preauth_settings_claims"]


def render_claims(play: dict[str, list[str] | None]) -> dict[str, list[str]]:
    """The role's claims for a play whose hosts list these connections (None: the host does not set the variable)."""
    hostvars = {name: ({} if names is None else {"preauth_settings_connections": names}) for name, names in play.items()}
    variables = {"ansible_play_hosts_all": list(play), "hostvars": hostvars}
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(claims_expression()))


# (play: host -> preauth_settings_connections, the entry's own hosts, claims of acme-nl, verdict for a rotating handover)
TABLE: list[tuple[str, dict[str, list[str] | None], list[str], list[str], str]] = [
    ("no host lists it", {"dwh01": [], "dwh02": None}, ["dwh01"], [], PROCEED),
    ("one host lists it", {"dwh01": ["acme-nl"], "dwh02": ["crm"]}, [], ["dwh01"], PROCEED),
    ("one host, by name and by the entry", {"dwh01": ["acme-nl"], "dwh02": []}, ["dwh01"], ["dwh01"], PROCEED),
    ("two hosts list it", {"dwh01": ["acme-nl"], "dwh02": ["acme-nl", "crm"]}, [], ["dwh01", "dwh02"], REFUSE),
    ("one lists it, the entry names another", {"dwh01": ["acme-nl"], "dwh02": []}, ["dwh02"], ["dwh01"], REFUSE),
    ("listed twice by one host", {"dwh01": ["acme-nl", "acme-nl"], "dwh02": None}, [], ["dwh01", "dwh01"], PROCEED),
]


@pytest.mark.parametrize("play, entry_hosts, claimed, verdict", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_the_roles_claims_feed_the_one_decision(play: dict[str, t.Any], entry_hosts: list[str], claimed: list[str], verdict: str) -> None:
    claims = render_claims(play)
    assert claims.get("acme-nl", []) == claimed
    entry = {"name": "acme-nl", "hosts": entry_hosts}
    decision = decide({"generation": 1, "owner": {"kind": "controller"}}, DEPLOY, host="dwh01", claimants=claimants(entry, claims))
    assert decision.verdict == verdict
    assert decision.reason == (SEVERAL_HOSTS if verdict == REFUSE else "")
    # With owner: controller, the inventory may give a rotating chain to several hosts.
    assert decide({"generation": 1}, DEPLOY, host="dwh01", wanted_owner="controller", claimants=claimants(entry, claims)).verdict == PROCEED


def test_every_connection_a_host_lists_is_claimed() -> None:
    assert render_claims({"dwh01": ["acme-nl", "crm"], "dwh02": ["crm"], "dwh03": None}) == {"acme-nl": ["dwh01"], "crm": ["dwh01", "dwh02"]}
