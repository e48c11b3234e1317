"""The consent_invitation action as ansible-playbook runs it: the link only in a result hidden as a secret, list and
revoke, check mode and diff, landings imported first, and the file store's refusal with the way to move."""

from __future__ import annotations

import json

import psycopg
import pytest

from ansible_collections.preauth.oauth2.plugins.action.consent_invitation import ActionModule
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent, landing
from action_runner import given, run_action
from chains import VAULT, params, stored

SERVICE = "https://consent.example.test"
FAKE_REFRESH = "FAKE-action-refresh-token-3"


@pytest.fixture
def p(sim, tmp_path, pg, pg_db, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    return params(sim, tmp_path, store_dir=None, store_url=pg_db)


def args(p, **extra):
    found = given(p)
    found.pop("client_secret", None)
    found.update(extra)
    return found


def test_present_returns_the_link_in_a_secret_result_and_list_never_does(p):
    result = run_action(ActionModule, args(p, service_url=SERVICE, invitee={"email": "bea@client.example.test"}, days=2), diff=True)
    assert not result.get("failed"), result
    assert result["changed"] and result["_ansible_no_log"] is True
    assert result["link"].startswith(SERVICE + "/i/")
    token = result["link"].rsplit("/", 1)[1]
    listed = run_action(ActionModule, args(p, state="list"))
    assert listed["changed"] is False and "_ansible_no_log" not in listed
    assert [i["state"] for i in listed["invitations"]] == ["open"] and listed["invitations"][0]["invitee_email"] == "bea@client.example.test"
    assert token not in json.dumps(listed) and "link" not in listed


def test_present_needs_a_service_url_and_days_in_range(p):
    result = run_action(ActionModule, args(p))
    assert result["failed"] and "service_url" in result["msg"]
    result = run_action(ActionModule, args(p, service_url=SERVICE, days=31))
    assert result["failed"] and result["msg"].startswith("connection acme-nl: days must be a whole number from 1 to 30")
    assert consent.invitations(open_store(p, VAULT), "acme-nl") == []


def test_absent_revokes_with_check_mode_and_diff(p):
    run_action(ActionModule, args(p, service_url=SERVICE))
    checked = run_action(ActionModule, args(p, state="absent"), check_mode=True, diff=True)
    assert checked["changed"] and checked["diff"]["after"]["invitations"][0]["state"] == "revoked"
    assert [i["state"] for i in consent.invitations(open_store(p, VAULT), "acme-nl")] == ["open"]
    done = run_action(ActionModule, args(p, state="absent"))
    assert done["changed"] and len(done["revoked"]) == 1
    assert run_action(ActionModule, args(p, state="absent"))["changed"] is False


def test_a_landing_is_imported_before_the_listing(p, pg):
    made = run_action(ActionModule, args(p, service_url=SERVICE))["invitation"]["id"]
    store = open_store(p, VAULT)
    public = consent.ensure_landing_key(store)
    sealed = landing.seal(public, made, "acme-nl", {"access_token": "FAKE-a", "refresh_token": FAKE_REFRESH, "client_id": p["client_id"]})
    with psycopg.connect(p["store_url"], password=pg.password, autocommit=True) as db:
        db.execute("UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = '{\"email\": \"bea@client.example.test\"}'::jsonb")
        db.execute("INSERT INTO preauth_oauth2_landing (invitation, connection, sealed, consent) VALUES (%s, 'acme-nl', %s, '{}'::jsonb)", (made, sealed))
    result = run_action(ActionModule, args(p, state="list"))
    assert result["changed"] and [c["invitation"] for c in result["collected"]] == [made]
    assert [i["state"] for i in result["invitations"]] == ["collected"]
    assert result["invitations"][0]["used_by"] == {"email": "bea@client.example.test"}
    assert FAKE_REFRESH not in json.dumps(result) and "FAKE-a\"" not in json.dumps(result)
    assert stored(p)["tokens"]["refresh_token"] == FAKE_REFRESH


def test_a_file_store_fails_with_the_way_to_move(sim, tmp_path):
    fp = params(sim, tmp_path)
    fp["store_dir"] = str(tmp_path / "tokens")
    fp["store_url"] = None
    result = run_action(ActionModule, args(fp, state="list"))
    assert result["failed"]
    assert result["msg"].startswith("consent invitations need the PostgreSQL token store, and connection acme-nl uses the file store")
    assert "ansible-playbook preauth.oauth2.store_migrate" in result["msg"]


def test_token_refresh_imports_a_landing_before_it_refreshes(p, pg):
    from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as Refresh

    made = run_action(ActionModule, args(p, service_url=SERVICE))["invitation"]["id"]
    store = open_store(p, VAULT)
    body = {"access_token": "FAKE-a", "refresh_token": FAKE_REFRESH, "client_id": p["client_id"], "expires_in": 600}
    sealed = landing.seal(consent.ensure_landing_key(store), made, "acme-nl", body)
    with psycopg.connect(p["store_url"], password=pg.password, autocommit=True) as db:
        db.execute("UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = '{}'::jsonb")
        db.execute("INSERT INTO preauth_oauth2_landing (invitation, connection, sealed, consent) VALUES (%s, 'acme-nl', %s, '{}'::jsonb)", (made, sealed))
    entry = {k: v for k, v in given(p).items() if k in ("platform", "country", "base_url", "client_id", "client_secret", "redirect_uri")}
    refresh_args = {"connections": [dict(entry, name="acme-nl")], "store_url": p["store_url"], "timeout": 5.0}
    checked = run_action(Refresh, refresh_args, check_mode=True)
    assert checked["landings"]["collected"][0]["invitation"] == made and "would import 1 landing" in checked["msg"]
    assert len(consent.open_landings(store)) == 1
    result = run_action(Refresh, refresh_args)
    assert not result.get("failed"), result
    assert result["changed"] and [c["connection"] for c in result["landings"]["collected"]] == ["acme-nl"]
    assert "imported 1 landing" in result["msg"] and FAKE_REFRESH not in json.dumps(result)
    assert consent.open_landings(store) == [] and stored(p)["generation"] == 1
    again = run_action(Refresh, refresh_args)
    assert "landings" not in again


def test_token_info_shows_open_invitations_and_who_consented_last(p, pg):
    from ansible_collections.preauth.oauth2.plugins.action.token_info import ActionModule as Info

    first = run_action(ActionModule, args(p, service_url=SERVICE))["invitation"]["id"]
    with psycopg.connect(p["store_url"], password=pg.password, autocommit=True) as db:
        db.execute(
            "UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = %s::jsonb WHERE id = %s",
            (json.dumps({"first_name": "Bea", "last_name": "Boekhouder", "email": "bea@client.example.test"}), first),
        )
    run_action(ActionModule, args(p, service_url=SERVICE, collect=False))
    result = run_action(Info, {"store_url": p["store_url"], "expected": ["acme-nl"]})
    assert not result.get("failed"), result
    seen = result["invitations"]["acme-nl"]
    assert seen["open"] == 1 and seen["open_until"] and seen["waiting"] == 1
    assert seen["last_consent"]["invitation"] == first and seen["last_consent"]["email"] == "bea@client.example.test"
