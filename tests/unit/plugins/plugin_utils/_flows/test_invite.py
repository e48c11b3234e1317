"""The invitation flow against the real PostgreSQL store: invite (the request the consent service needs, the link once),
revoke, list, check mode; collect: a landing becomes a new generation with the invitee's audit record, a reconnect keeps
the connection's history and hosts, a landing for another connection or app or that does not open is kept and
nothing is stored, and no token appears in any result or message."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse

import psycopg
import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows import invite as flow
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import start
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent, landing
from chains import VAULT, params, preauthenticate, stored

SERVICE = "https://consent.example.test"
CONSENT = {
    "first_name": "Bea",
    "last_name": "Boekhouder",
    "job_title": "Bookkeeper",
    "email": "bea@client.example.test",
    "company": "Client B.V.",
    "address": "192.0.2.7",
    "user_agent": "FAKE-browser/1.0",
    "at": 1796000000.5,
}
FAKE_ACCESS = "FAKE-landed-access-token-7"
FAKE_REFRESH = "FAKE-landed-refresh-token-7"


@pytest.fixture
def p(sim, tmp_path, pg, pg_db, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    return params(sim, tmp_path, store_dir=None, store_url=pg_db)


def conn_of(p):
    return resolve(p, new_client(p))


def payload(p, **changes):
    found = {
        "access_token": FAKE_ACCESS,
        "refresh_token": FAKE_REFRESH,
        "token_type": "bearer",
        "scope": None,
        "expires_in": 600,
        "received_at": time.time(),
        "client_id": p["client_id"],
        "redirect_uri": SERVICE + "/callback",
        "token_url": "https://example.test/token",
    }
    found.update(changes)
    return found


def land(pg, p, invitation, connection="acme-nl", body=None, sealed=None):
    """What the consent service does after the code exchange: one transaction, as its role."""
    with psycopg.connect(p["store_url"], password=pg.password, autocommit=True) as db:
        public = db.execute("SELECT public_key FROM preauth_oauth2_landing_key").fetchone()[0]
        with db.transaction():
            db.execute(
                "UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = %s::jsonb, landed_at = now() WHERE id = %s",
                (json.dumps(CONSENT), invitation),
            )
            db.execute(
                "INSERT INTO preauth_oauth2_landing (invitation, connection, sealed, consent) VALUES (%s, %s, %s, %s::jsonb)",
                (
                    invitation,
                    connection,
                    sealed if sealed is not None else landing.seal(public, invitation, connection, body or payload(p)),
                    json.dumps(CONSENT),
                ),
            )


def invited(p, **kwargs):
    return flow.invite(conn_of(p), open_store(p, VAULT), False, SERVICE, **kwargs)


def no_secret(*things):
    text = json.dumps([repr(t) for t in things], default=repr)
    for secret in (FAKE_ACCESS, FAKE_REFRESH, "FAKE-client-secret"):
        assert secret not in text


def test_invite_returns_the_link_once_as_a_secret_and_stores_the_request_authorization_url_needs(p, pg):
    out = invited(p, days=3, invitee={"email": "bea@client.example.test", "language": "nl"}, operator={"company": "Ops B.V.", "contact": "ops@example.test"})
    assert out.changed and out.carries_secrets
    link = out.result["link"]
    assert link.startswith(SERVICE + "/i/")
    token = link.rsplit("/", 1)[1]
    assert token not in json.dumps([out.msg, out.before, out.after, out.result["invitations"], out.result["invitation"]])
    with psycopg.connect(p["store_url"], password=pg.password) as db:
        sha, request, invitee = db.execute("SELECT token_sha256, request, invitee FROM preauth_oauth2_invitation").fetchone()
    assert sha == hashlib.sha256(token.encode()).hexdigest()
    assert invitee == {"email": "bea@client.example.test", "language": "nl"}
    # The same URL authorization_url would build: endpoint, client, scopes, PKCE and extra parameters.
    url = start(conn_of(p), open_store(p, VAULT), False, 900).result["url"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(request["authorize_url"] + "?")
    assert query["client_id"] == request["client_id"] == p["client_id"]
    assert ("code_challenge" in query) == request["pkce"]
    assert {k: query[k] for k in request["authorize_params"]} == request["authorize_params"]
    assert request["format"] == 1 and request["platform"] == "exact_online" and request["country"] == "nl"
    assert request["operator"] == {"company": "Ops B.V.", "contact": "ops@example.test"} and request["allows"] is None
    assert request["token_url"] and request["client_auth"] and request["app"] == p["client_id"]
    assert out.result["invitation"]["state"] == "open" and out.result["replaced"] == []


def test_a_second_invitation_replaces_the_first_and_diff_shows_it(p):
    first = invited(p).result["invitation"]["id"]
    out = invited(p)
    assert out.result["replaced"] == [first]
    assert [i["state"] for i in out.before["invitations"]] == ["open"]
    assert [i["state"] for i in out.after["invitations"]] == ["revoked", "open"]
    assert "replaces 1 open invitation" in out.msg


def test_check_mode_writes_nothing(p, pg):
    out = flow.invite(conn_of(p), open_store(p, VAULT), True, SERVICE)
    assert out.changed and out.result["link"] is None and not out.carries_secrets
    assert [i["id"] for i in out.after["invitations"]] == ["(new)"]
    assert consent.invitations(open_store(p, VAULT), "acme-nl") == []
    invited(p)
    out = flow.revoke("acme-nl", open_store(p, VAULT), True)
    assert out.changed and [i["state"] for i in consent.invitations(open_store(p, VAULT), "acme-nl")] == ["open"]


def test_revoke_and_list(p):
    made = invited(p).result["invitation"]["id"]
    out = flow.revoke("acme-nl", open_store(p, VAULT), False)
    assert out.changed and out.result["revoked"] == [made] and "no longer work" in out.msg
    again = flow.revoke("acme-nl", open_store(p, VAULT), False)
    assert not again.changed and again.msg == "connection acme-nl has no open invitation"
    listed = flow.listing("acme-nl", open_store(p, VAULT))
    assert listed.msg == "connection acme-nl: invitations: 1 revoked" and listed.result["invitations"][0]["revoked_by"]


@pytest.mark.parametrize("url", [None, "", "http://consent.example.test"])
def test_invite_needs_a_safe_service_url(p, url):
    with pytest.raises(PreauthError):
        flow.invite(conn_of(p), open_store(p, VAULT), False, url)
    assert consent.invitations(open_store(p, VAULT), "acme-nl") == []


def test_collect_stores_the_chain_with_the_invitees_audit_record_and_removes_the_landing(p, pg):
    made = invited(p).result["invitation"]["id"]
    land(pg, p, made)
    store = open_store(p, VAULT)
    hidden: list[str] = []
    out = flow.collect(conn_of(p), store, False, hide=lambda *values: hidden.extend(values))
    assert out.changed and out.result["landing_failures"] == [] and out.warnings == []
    assert [c["invitation"] for c in out.result["collected"]] == [made] and out.result["collected"][0]["generation"] == 1
    assert set(hidden) == {FAKE_ACCESS, FAKE_REFRESH}
    data = stored(p)
    assert data["tokens"]["refresh_token"] == FAKE_REFRESH and data["owner"]["kind"] == "controller" and data["generation"] == 1
    audit = data["preauthenticated_by"]
    assert {k: audit[k] for k in ("first_name", "last_name", "job_title", "email", "company", "address", "user_agent")} == {
        k: CONSENT[k] for k in ("first_name", "last_name", "job_title", "email", "company", "address", "user_agent")
    }
    assert audit["at"] == CONSENT["at"] and audit["via"] == "invitation %s" % made and audit["controller_user"]
    assert data["history"][-1]["event"] == "consent_collected" and data["history"][-1]["invitation"] == made
    assert consent.open_landings(store) == []
    assert [i["state"] for i in consent.invitations(store, "acme-nl")] == ["collected"]
    assert consent.invitations(store, "acme-nl")[0]["used_by"]["email"] == CONSENT["email"]
    no_secret(out.result, out.msg, out.before, out.after)
    assert not flow.collect(conn_of(p), store, False).changed


def test_a_reconnect_keeps_history_and_hosts(p, pg):
    preauthenticate(p)
    store = open_store(p, VAULT)
    with store.locked("acme-nl") as record:
        record.data["deployed_to"] = ["replicator-1"]
        record.data["owner"] = {"kind": "host", "host": "replicator-1", "since": 1.0, "generation": 1}
    before = stored(p)
    made = invited(p).result["invitation"]["id"]
    land(pg, p, made)
    out = flow.collect(conn_of(p), open_store(p, VAULT), False)
    assert out.before["generation"] == 1 and out.after["generation"] == 2
    data = stored(p)
    assert data["generation"] == 2 and data["owner"]["kind"] == "controller" and data["deployed_to"] == ["replicator-1"]
    assert data["history"][: len(before["history"])] == before["history"]
    assert data["history"][-1]["replaced"] == before["tokens"]["refresh_fingerprint"]


def test_check_mode_collect_stores_nothing_and_keeps_the_landing(p, pg):
    made = invited(p).result["invitation"]["id"]
    land(pg, p, made)
    out = flow.collect(conn_of(p), open_store(p, VAULT), True)
    assert out.changed and out.result["collected"][0]["generation"] is None and "would import" in out.msg
    assert len(consent.open_landings(open_store(p, VAULT))) == 1
    assert open_store(p, VAULT).read("acme-nl").data.get("tokens") is None


@pytest.mark.parametrize("how", ["other connection", "other app", "tampered", "revoked", "other key", "no refresh token"])
def test_a_landing_that_does_not_check_is_kept_and_nothing_is_stored(p, pg, how):
    made = invited(p).result["invitation"]["id"]
    body = payload(p)
    sealed = None
    connection = "acme-nl"
    if how == "other connection":
        connection = "crm"
    elif how == "other app":
        body = payload(p, client_id="FAKE-other-app")
    elif how == "no refresh token":
        body = payload(p, refresh_token="")
    elif how == "tampered":
        with psycopg.connect(p["store_url"], password=pg.password) as db:
            public = db.execute("SELECT public_key FROM preauth_oauth2_landing_key").fetchone()[0]
        sealed = bytearray(landing.seal(public, made, connection, body))
        sealed[-3] ^= 0xFF
        sealed = bytes(sealed)
    elif how == "other key":
        sealed = landing.seal(landing.new_key_pair()[0], made, connection, body)
    land(pg, p, made, connection=connection, body=body, sealed=sealed)
    if how == "revoked":
        with psycopg.connect(p["store_url"], password=pg.password, autocommit=True) as db:
            db.execute("UPDATE preauth_oauth2_invitation SET revoked_at = now()")
    store = open_store(p, VAULT)
    out = flow.collect(conn_of(p), store, False)
    assert not out.changed and out.result["collected"] == []
    assert [f["invitation"] for f in out.result["landing_failures"]] == [made]
    assert len(out.warnings) == 1 and "is kept in the store" in out.warnings[0] and "preauth.oauth2.invite -e preauth_connection=acme-nl" in out.warnings[0]
    assert len(consent.open_landings(store)) == 1
    assert store.read("acme-nl").data.get("tokens") is None
    no_secret(out.result, out.msg, out.warnings)


def test_a_landing_stored_before_its_removal_failed_is_not_stored_twice(p, pg):
    made = invited(p).result["invitation"]["id"]
    land(pg, p, made)
    store = open_store(p, VAULT)
    landings = consent.open_landings(store, ["acme-nl"])
    flow.collect(conn_of(p), store, False, landings=landings)
    # The removal "failed": the same landing again.
    out = flow.collect(conn_of(p), store, False, landings=landings)
    assert out.result["collected"][0]["generation"] == 1 and stored(p)["generation"] == 1


def test_a_file_store_refuses_collect_and_invite(sim, tmp_path):
    fp = params(sim, tmp_path, store_dir=str(tmp_path / "tokens"))
    for call in (
        lambda: flow.collect(conn_of(fp), open_store(fp, VAULT), False),
        lambda: flow.invite(conn_of(fp), open_store(fp, VAULT), False, SERVICE),
        lambda: flow.revoke("acme-nl", open_store(fp, VAULT), False),
    ):
        with pytest.raises(StoreError, match="need the PostgreSQL token store"):
            call()
