"""The access_token lookup against the simulator: a valid token, refreshed through the single-flight path when due."""

from __future__ import annotations

import json
import threading
import time
import typing as t
import urllib.request

import pytest
from ansible._internal._datatag._tags import TrustedAsTemplate
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import EncryptedString, VaultSecret, VaultSecretsContext
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

from ansible_collections.preauth.oauth2.plugins.lookup import access_token
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.handover import handover
from simulator.timewarp import warp
from action_runner import pick
from chains import VAULT, file_store_only, params, preauthenticate, stored
from helpers import EXACT

DAY = 86400
PASSWORD = b"FAKE-vault-password"  # chains.VAULT's


def entry(p: dict[str, t.Any], **overrides: t.Any) -> dict[str, t.Any]:
    """The inventory entry of the connection, as preauth_connections holds it."""
    found = {"name": p["connection"], **{k: p[k] for k in ("platform", "country", "base_url", "client_id", "client_secret", "redirect_uri")}}
    found.update(overrides)
    return found


def lookup(p: dict[str, t.Any], *terms: str, connections: list[dict[str, t.Any]] | None = None, **options: t.Any) -> list[str]:
    """Run the lookup as a template does: the task's variables, a loader with the run's vault secret."""
    variables = {"preauth_connections": connections if connections is not None else [entry(p)]}
    variables.update({"preauth_" + k: v for k, v in pick(p, "store_dir").items()})
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(PASSWORD))])
    plugin = lookup_loader.get("preauth.oauth2.access_token", loader=loader, templar=Templar(loader=loader, variables=variables))
    return plugin.run(list(terms or [p["connection"]]), variables, **options)


@pytest.fixture
def exact(sim, tmp_path, control):
    p = params(sim, tmp_path, client_secret=EXACT["client_secret"])
    preauthenticate(p)
    return p


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(access_token.display, "warning", lambda msg, *a, **k: seen.append(msg))
    return seen


def later(p: dict[str, t.Any], control: t.Any, seconds: float) -> None:
    warp(seconds, control, open_store(p, VAULT))


def me(sim: t.Any, token: str) -> dict[str, t.Any]:
    request = urllib.request.Request(sim.base_url + "/nl/api/v1/current/Me", headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_fresh_token_is_returned_without_a_token_call(sim, exact, control, warnings):
    calls = control.state()["token_calls_total"]
    assert lookup(exact, min_ttl=120) == [stored(exact)["tokens"]["access_token"]]
    assert control.state()["token_calls_total"] == calls and warnings == []


def test_a_token_with_less_than_min_ttl_left_is_refreshed_and_works(sim, exact, control, warnings):
    old = stored(exact)["tokens"]
    later(exact, control, 590)
    calls = control.state()["token_calls_total"]
    [token] = lookup(exact, min_ttl=120)
    after = stored(exact)["tokens"]
    assert token == after["access_token"] != old["access_token"]
    assert after["refresh_token"] != old["refresh_token"]  # the rotation is in the store
    assert control.state()["token_calls_total"] == calls + 1 and warnings == []
    assert me(sim, token)["d"]["results"][0]["UserName"]


def test_two_concurrent_lookups_make_one_token_call(sim, exact, control):
    # Ansible loads a plugin and its doc fragments once, in the main process, before its workers run the lookup;
    # two threads that race through the plugin loader's first import of a fragment would test ansible-core's
    # loader, not the store's single flight.
    lookup_loader.get("preauth.oauth2.access_token")
    later(exact, control, 590)
    calls = control.state()["token_calls_total"]
    start = threading.Barrier(2)
    found: list[t.Any] = []

    def one() -> None:
        start.wait()
        try:
            found.extend(lookup(exact, min_ttl=120))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            found.append(exc)

    threads = [threading.Thread(target=one), threading.Thread(target=one)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert control.state()["token_calls_total"] == calls + 1
    assert found == [stored(exact)["tokens"]["access_token"]] * 2


def test_several_terms_give_one_token_each(sim, tmp_path, exact):
    assert lookup(exact, "acme-nl", "acme-nl") == [stored(exact)["tokens"]["access_token"]] * 2


def test_inside_the_platform_interval_a_valid_token_is_returned_with_a_warning(sim, exact, control, warnings):
    later(exact, control, 500)
    calls = control.state()["token_calls_total"]
    assert lookup(exact, min_ttl=120) == [stored(exact)["tokens"]["access_token"]]
    assert control.state()["token_calls_total"] == calls
    assert len(warnings) == 1
    assert warnings[0].startswith("connection acme-nl: the access token has only ")
    assert "less than min_ttl=120" in warnings[0] and "Exact Online allows a refresh only 570 s after the last access token: not before" in warnings[0]


def test_too_early_without_a_valid_token_fails_with_the_time(sim, exact, control):
    store = open_store(exact, VAULT)
    with store.locked("acme-nl") as record:
        record.data["tokens"]["access_expires_at"] = round(time.time() - 5, 3)  # expired, but obtained just now
    tokens = stored(exact)["tokens"]
    with pytest.raises(AnsibleError) as caught:
        lookup(exact, min_ttl=0)
    msg = caught.value.message
    assert msg.startswith("connection acme-nl: no valid access token, and no refresh is possible now: the access token expired")
    assert "not before" in msg and msg.endswith("Try again later")
    assert tokens["access_token"] not in msg and tokens["refresh_token"] not in msg


def test_no_stored_chain_says_to_preauthenticate(sim, tmp_path):
    p = params(sim, tmp_path)
    with pytest.raises(AnsibleError) as caught:
        lookup(p)
    assert caught.value.message == (
        "connection acme-nl: no access token: no stored chain in %s; run ansible-playbook preauth.oauth2.preauthenticate "
        "-e preauth_connection=acme-nl to create one" % open_store(p, VAULT).where("acme-nl")
    )


def test_a_connection_missing_from_the_inventory(sim, exact):
    with pytest.raises(AnsibleError) as caught:
        lookup(exact, "acme-be")
    assert caught.value.message == (
        "connection acme-be is not in preauth_connections of this host's variables; add its definition there "
        "(see inventory/exact-online.yml in the collection), or check the name"
    )


def test_a_chain_that_needs_preauthentication(sim, exact, control):
    later(exact, control, 31 * DAY)
    tokens = stored(exact)["tokens"]
    with pytest.raises(AnsibleError) as caught:
        lookup(exact)
    msg = caught.value.message
    assert msg.startswith("connection acme-nl: no access token: needs a new preauthentication: the refresh token expired")
    assert msg.endswith("run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl")
    assert tokens["access_token"] not in msg and tokens["refresh_token"] not in msg and EXACT["client_secret"] not in msg


def test_a_chain_handed_over_to_a_host_is_not_touched(sim, exact, control):
    handover(open_store(exact, VAULT), "acme-nl", "host", "dwh01", False)
    later(exact, control, 590)
    calls = control.state()["token_calls_total"]
    with pytest.raises(AnsibleError) as caught:
        lookup(exact)
    msg = caught.value.message
    assert msg.startswith("connection acme-nl: no access token: generation 1 is owned by host dwh01 since")
    assert msg.endswith("use the token on that host, or give the chain back with preauth.oauth2.token_handover state=controller")
    assert control.state()["token_calls_total"] == calls


def test_an_invalid_definition_names_the_problem_without_the_secret(sim, exact):
    with pytest.raises(AnsibleError) as caught:
        lookup(exact, connections=[entry(exact, platform="nope")])
    msg = caught.value.message
    assert msg.startswith("connection acme-nl: invalid definition in preauth_connections: value of platform must be one of:")
    assert EXACT["client_secret"] not in msg


def test_a_negative_min_ttl_is_refused(sim, exact):
    with pytest.raises(AnsibleError) as caught:
        lookup(exact, min_ttl=-1)
    assert caught.value.message == "preauth.oauth2.access_token: min_ttl must be 0 or more seconds, not -1"


def test_an_inline_vaulted_client_secret_is_decrypted_with_the_run_secrets(sim, exact, control, monkeypatch):
    # ansible-playbook decrypts inline vault values with the run's secrets; so does templating here.
    monkeypatch.setattr(VaultSecretsContext, "_current", VaultSecretsContext([("default", VaultSecret(PASSWORD))]))
    vaulted = EncryptedString(ciphertext=VAULT.encrypt(EXACT["client_secret"]).decode())
    trusted = TrustedAsTemplate().tag
    later(exact, control, 590)
    connections = [entry(exact, client_secret=vaulted, country=trusted("{{ 'nl' }}"))]
    [token] = lookup(exact, connections=connections, min_ttl=120)
    assert token == stored(exact)["tokens"]["access_token"]
    assert stored(exact)["history"][-1]["event"] == "refreshed"


# -- check mode sends no token request; the store is chosen as the modules choose it -----------------------------------


def lookup_as(p: dict[str, t.Any], variables: dict[str, t.Any], store_vars: bool = True, **options: t.Any) -> list[str]:
    """``lookup``, with more task variables (ansible_check_mode), and optionally without the playbooks' store variables."""
    found = {"preauth_connections": [entry(p)], **variables}
    if store_vars:
        found.update({"preauth_" + k: v for k, v in pick(p, "store_dir").items()})
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(PASSWORD))])
    plugin = lookup_loader.get("preauth.oauth2.access_token", loader=loader, templar=Templar(loader=loader, variables=found))
    return plugin.run([p["connection"]], found, **options)


def store_file(p: dict[str, t.Any]) -> t.Any:
    return open_store(p, VAULT).read(p["connection"]).source


def test_check_mode_returns_the_stored_token_without_a_token_request(sim, exact, control, warnings):
    later(exact, control, 590)  # 10 s left: a real run refreshes it (min_ttl 120), and may (570 s have passed)
    tokens, before, calls = stored(exact)["tokens"], store_file(exact), control.state()["token_requests_total"]
    assert lookup_as(exact, {"ansible_check_mode": True}, min_ttl=120) == [tokens["access_token"]]
    assert control.state()["token_requests_total"] == calls and store_file(exact) == before
    assert len(warnings) == 1 and warnings[0].startswith("connection acme-nl: check mode: the stored access token has only ")
    assert warnings[0].endswith("less than min_ttl=120; it is returned as it is, where a run without --check would refresh it first")
    # Without check mode the same lookup refreshes.
    assert lookup_as(exact, {"ansible_check_mode": False}, min_ttl=120) != [tokens["access_token"]]
    assert control.state()["token_requests_total"] == calls + 1


def test_check_mode_with_an_expired_token_fails_and_says_why(sim, exact, control):
    later(exact, control, 700)
    tokens, calls = stored(exact)["tokens"], control.state()["token_requests_total"]
    with pytest.raises(AnsibleError) as caught:
        lookup_as(exact, {"ansible_check_mode": True}, min_ttl=60)
    msg = caught.value.message
    assert msg.startswith("connection acme-nl: no valid access token in check mode: the stored one expired at 20")
    assert msg.endswith("and check mode sends no token request (a run without --check refreshes the chain first)")
    assert tokens["access_token"] not in msg and tokens["refresh_token"] not in msg
    assert control.state()["token_requests_total"] == calls


# On PostgreSQL the marker waits for its until first (_store/test_postgresql.py covers what happens then).
@file_store_only
def test_check_mode_never_settles_a_lost_answer(sim, exact, control):
    later(exact, control, 24 * 86400)
    control.inject_fault("http_500_before")
    with pytest.raises(AnsibleError):
        lookup_as(exact, {})  # the lost answer: the lookup's refresh fails, the marker stays
    calls = control.state()["token_requests_total"]
    with pytest.raises(AnsibleError) as caught:
        lookup_as(exact, {"ansible_check_mode": True})
    assert caught.value.message.startswith("connection acme-nl: no access token in check mode: check mode: would refresh (the refresh started at ")
    assert caught.value.message.endswith("Check mode sends no token request; run without --check")
    assert control.state()["token_requests_total"] == calls and stored(exact)["in_flight"] is not None


BOTH = "the environment variables PREAUTH_OAUTH2_STORE_DIR and PREAUTH_OAUTH2_STORE_URL are both set, and each chooses a token store"


@file_store_only  # it needs a store directory to set PREAUTH_OAUTH2_STORE_DIR to
def test_both_store_variables_are_refused_as_the_modules_refuse_them(sim, exact, monkeypatch):
    monkeypatch.setenv("PREAUTH_OAUTH2_STORE_DIR", exact["store_dir"] or "")
    monkeypatch.setenv("PREAUTH_OAUTH2_STORE_URL", "postgresql://preauth@127.0.0.1:1/nowhere")
    with pytest.raises(AnsibleError) as caught:
        lookup_as(exact, {}, store_vars=False)
    assert caught.value.message.startswith("connection acme-nl: " + BOTH + "; unset one of them, or choose the store with the store_dir")
    # A playbook variable (or an option) chooses over the environment, as a module option does.
    assert lookup_as(exact, {}) == [stored(exact)["tokens"]["access_token"]]
    monkeypatch.delenv("PREAUTH_OAUTH2_STORE_URL")
    assert lookup_as(exact, {}, store_vars=False) == [stored(exact)["tokens"]["access_token"]]
