"""Consent invitations in the PostgreSQL store against a real server: the landing key, the lifecycle of an
invitation (replaced, expired, revoked), only the link token's hash stored, schema 1 migrated to 2 with its
chains kept, the consent service's role that cannot read a chain, and the file store's refusal."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse

import psycopg
import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent, landing, postgresql
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import PgTokenStore
from chains import VAULT, params, preauthenticate, stored

REQUEST = {"format": 1, "platform": "exact_online", "client_id": "app-1"}
FAKE_ROLE_PASSWORD = "FAKE-consent-role-password"


@pytest.fixture
def store(pg, pg_db, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    found = PgTokenStore(pg_db, VAULT)
    yield found
    found.close()


def rows(pg, url, query, *args):
    with psycopg.connect(url, password=pg.password, autocommit=True) as conn:
        return conn.execute(query, args).fetchall()


def test_an_invitation_keeps_only_the_hash_of_a_256_bit_token(store, pg, pg_db):
    row, token, replaced = consent.create_invitation(store, "acme-nl", {"email": "ada@example.test", "phone": "ignored"}, REQUEST, days=7)
    assert replaced == [] and row["state"] == "open" and row["connection"] == "acme-nl"
    assert len(urllib.parse.unquote(token)) >= 43  # token_urlsafe(32): 256 bits, at least the 128 the issue asks
    assert abs(row["expires_at"] - row["created_at"] - 7 * 86400) < 1
    (found,) = rows(pg, pg_db, "SELECT token_sha256, invitee, request, row_to_json(i)::text FROM preauth_oauth2_invitation i")
    assert found[0] == hashlib.sha256(token.encode()).hexdigest()
    assert found[1] == {"email": "ada@example.test"} and found[2] == REQUEST
    assert token not in found[3]
    assert all(token not in repr(i) for i in consent.invitations(store, "acme-nl"))


def test_a_new_invitation_replaces_the_open_one_and_revoke_ends_it(store):
    first, _token, _replaced = consent.create_invitation(store, "acme-nl", {}, REQUEST)
    other, _token, _replaced = consent.create_invitation(store, "crm", {}, REQUEST)
    second, _token, replaced = consent.create_invitation(store, "acme-nl", {}, REQUEST, days=1)
    assert replaced == [first["id"]]
    states = {i["id"]: (i["state"], i["revoked_by"]) for i in consent.invitations(store, "acme-nl")}
    assert states == {first["id"]: ("revoked", "replaced by invitation %s" % second["id"]), second["id"]: ("open", None)}
    assert [i["state"] for i in consent.invitations(store, "crm")] == ["open"]
    assert len(consent.invitations(store)) == 3
    assert consent.revoke_invitations(store, "acme-nl", revoked_by="ops") == [second["id"]]
    assert consent.revoke_invitations(store, "acme-nl") == []
    assert [i["state"] for i in consent.invitations(store, "acme-nl")] == ["revoked", "revoked"]
    assert [i["id"] for i in consent.invitations(store, "crm")] == [other["id"]]


def test_an_invitation_expires_and_is_then_not_replaced_or_revoked(store):
    made = time.time() - 2 * 86400
    row, _token, _replaced = consent.create_invitation(store, "acme-nl", {}, REQUEST, days=1, now=made)
    assert consent.invitations(store, "acme-nl")[0]["state"] == "expired"
    assert consent.invitations(store, "acme-nl", now=made + 60)[0]["state"] == "open"
    assert consent.revoke_invitations(store, "acme-nl") == []
    assert consent.create_invitation(store, "acme-nl", {}, REQUEST)[2] == []
    assert consent.invitations(store, "acme-nl")[0]["id"] == row["id"]


@pytest.mark.parametrize("days", [0, 31, -1, True, "7"])
def test_days_out_of_range_are_refused_and_nothing_is_written(store, days):
    with pytest.raises(StoreError, match="days must be a whole number from 1 to 30") as caught:
        consent.create_invitation(store, "acme-nl", {}, REQUEST, days=days)
    assert caught.value.connection == "acme-nl"
    assert consent.invitations(store, "acme-nl") == []


def test_the_landing_key_is_made_once_and_its_private_half_is_vault_encrypted(store, pg, pg_db):
    public = consent.ensure_landing_key(store)
    assert consent.ensure_landing_key(store) == public
    ((stored_public, stored_private),) = rows(pg, pg_db, "SELECT public_key, private_key FROM preauth_oauth2_landing_key")
    assert stored_public == public and stored_private.startswith("$ANSIBLE_VAULT;")
    private = consent.private_key(store, "acme-nl")
    assert private not in stored_private
    sealed = landing.seal(public, "x", "acme-nl", {"refresh_token": "FAKE-r"})
    assert landing.open_sealed(private, "x", "acme-nl", sealed) == {"refresh_token": "FAKE-r"}


def test_a_store_without_a_landing_key_says_how_to_make_one(store):
    with pytest.raises(StoreError, match="has no landing key.*preauth.oauth2.invite -e preauth_connection=acme-nl"):
        consent.private_key(store, "acme-nl")


def test_schema_1_is_migrated_to_2_by_the_first_invitation_and_keeps_its_chains(sim, tmp_path, pg, pg_db, monkeypatch):
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    p = params(sim, tmp_path, store_dir=None, store_url=pg_db)
    with monkeypatch.context() as old:
        old.setattr(postgresql, "SCHEMA_VERSION", 1)
        old.setattr(postgresql, "_MIGRATIONS", {1: postgresql._SCHEMA_V1})
        preauthenticate(p)
        before = stored(p)
    assert rows(pg, pg_db, "SELECT value FROM preauth_oauth2_meta WHERE name = 'schema_version'") == [("1",)]
    assert rows(pg, pg_db, "SELECT to_regclass('preauth_oauth2_invitation')") == [(None,)]
    store = open_store(p, VAULT)
    assert consent.invitations(store, "acme-nl") == [] and consent.open_landings(store) == []  # a read-only look does not migrate
    consent.create_invitation(store, "acme-nl", {}, REQUEST)
    assert rows(pg, pg_db, "SELECT value FROM preauth_oauth2_meta WHERE name = 'schema_version'") == [("2",)]
    assert stored(p) == before
    assert [i["state"] for i in consent.invitations(store, "acme-nl")] == ["open"]


def test_the_consent_role_reads_invitations_writes_landings_and_cannot_read_a_chain(store, pg, pg_db):
    database = urllib.parse.urlsplit(pg_db).path.lstrip("/")
    role = "consent_" + os.urandom(4).hex()
    with pg.admin_connect(database) as admin:
        admin.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(psycopg.sql.Identifier(role), psycopg.sql.Literal(FAKE_ROLE_PASSWORD)))
    try:
        row, _token, _replaced = consent.create_invitation(store, "acme-nl", {}, REQUEST)
        granted = consent.grant_consent_role(store, role)
        assert len(granted) == len(consent.CONSENT_GRANTS) and all(role in g for g in granted)
        assert not any("chain" in g or "meta" in g for g in granted)
        url = "postgresql://%s@127.0.0.1:%d/%s" % (role, pg.port, database)
        with psycopg.connect(url, password=FAKE_ROLE_PASSWORD, autocommit=True) as service:
            assert service.execute("SELECT id::text, request FROM preauth_oauth2_invitation").fetchall() == [(row["id"], REQUEST)]
            public = service.execute("SELECT public_key FROM preauth_oauth2_landing_key").fetchone()[0]
            with service.transaction():
                service.execute("UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = '{}'::jsonb, landed_at = now() WHERE id = %s", (row["id"],))
                service.execute(
                    "INSERT INTO preauth_oauth2_landing (invitation, connection, sealed) VALUES (%s, 'acme-nl', %s)",
                    (row["id"], landing.seal(public, row["id"], "acme-nl", {"refresh_token": "FAKE-r"})),
                )
            for query in (
                "SELECT * FROM preauth_oauth2_chain",
                "SELECT connection FROM preauth_oauth2_chain",
                "SELECT * FROM preauth_oauth2_meta",
                "SELECT private_key FROM preauth_oauth2_landing_key",
                "SELECT sealed FROM preauth_oauth2_landing",
                "UPDATE preauth_oauth2_invitation SET collected_at = now()",
                "DELETE FROM preauth_oauth2_invitation",
                "INSERT INTO preauth_oauth2_chain (connection, document, document_sha256) VALUES ('x', 'x', 'x')",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    service.execute(query)
        assert [f["invitation"] for f in consent.open_landings(store, ["acme-nl"])] == [row["id"]]
    finally:
        with pg.admin_connect(database) as admin:
            admin.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(psycopg.sql.Identifier(role)))
            admin.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


def test_a_role_name_is_quoted_not_spliced(store):
    statements = consent.grant_statements('x"; DROP TABLE preauth_oauth2_chain; --')
    with pytest.raises(StoreError, match="cannot grant the consent service's role"):
        consent.grant_consent_role(store, 'x"; DROP TABLE preauth_oauth2_chain; --')
    assert len(statements) == len(consent.CONSENT_GRANTS)
    assert store.connections() == []  # the chain table is still there
    with pytest.raises(StoreError, match="1 to 63 characters"):
        consent.grant_statements("")


def test_a_file_store_says_invitations_need_postgresql_and_how_to_move(tmp_path):
    files = open_store({"store_dir": str(tmp_path / "tokens")}, VAULT)
    calls = [
        lambda: consent.create_invitation(files, "acme-nl", {}, REQUEST),
        lambda: consent.invitations(files, "acme-nl"),
        lambda: consent.revoke_invitations(files, "acme-nl"),
        lambda: consent.open_landings(files),
        lambda: consent.ensure_landing_key(files),
        lambda: consent.private_key(files),
        lambda: consent.grant_consent_role(files, "consent"),
        lambda: consent.finish_landing(files, "x", "acme-nl"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        assert "consent invitations need the PostgreSQL token store" in caught.value.msg
        assert "ansible-playbook preauth.oauth2.store_migrate -e preauth_store_dir=" in caught.value.msg
    assert not os.path.exists(tmp_path / "tokens")
