"""The invite playbook with ansible-playbook against the real PostgreSQL store: the link printed once (only by the
task meant to show it), list and revoke, check mode, and the file store's refusal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t

import pytest
import yaml

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent
from chains import VAULT
from helpers import EXACT, ansible_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SERVICE = "https://consent.example.test"


@pytest.fixture
def invite(tmp_path, pg, pg_db, monkeypatch) -> t.Callable[..., subprocess.CompletedProcess]:
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    base = tmp_path / "collections"
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    secret = tmp_path / "vault-pw"
    secret.write_bytes(b"FAKE-vault-password\n")
    connection = {
        "name": "acme-nl",
        "platform": "exact_online",
        "country": "nl",
        "client_id": EXACT["client_id"],
        "client_secret": "FAKE-client-secret-not-used",
        "redirect_uri": SERVICE + "/callback",
    }
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {"localhost": local},
                    "vars": {
                        "preauth_connections": [connection],
                        "preauth_store_url": pg_db,
                        "preauth_consent_service_url": SERVICE,
                        "preauth_operator": {"company": "Ops B.V.", "contact": "ops@example.test"},
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))

    def run(*args: str, playbook: str = "invite") -> subprocess.CompletedProcess:
        command = [ansible_command("ansible-playbook"), "-i", str(inventory), "--vault-password-file", str(secret), "preauth.oauth2." + playbook, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)

    run.store_url = pg_db  # type: ignore[attr-defined]
    return run


def test_the_playbook_prints_the_link_once_and_lists_and_revokes(invite):
    made = invite("-v", "-e", "preauth_connection=acme-nl", "-e", "preauth_invitee_email=bea@client.example.test", "-e", "preauth_invitation_days=3")
    assert made.returncode == 0, made.stdout + made.stderr
    links = re.findall(re.escape(SERVICE) + r"/i/([A-Za-z0-9_-]{43})", made.stdout + made.stderr)
    assert len(links) == 1, made.stdout  # in the task meant to show it, nowhere else
    assert "censored" in made.stdout  # the result of the task that made it (shown at -v) is hidden
    store = open_store({"store_url": invite.store_url}, VAULT)
    (row,) = consent.invitations(store, "acme-nl")
    assert row["state"] == "open" and row["invitee"] == {"email": "bea@client.example.test"}
    listed = invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitation_state=list")
    assert listed.returncode == 0 and "1 open" in listed.stdout and links[0] not in listed.stdout
    checked = invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitation_state=absent", "--check")
    assert checked.returncode == 0 and "would revoke 1 open invitation" in checked.stdout
    revoked = invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitation_state=absent")
    assert revoked.returncode == 0 and "revoked 1 invitation(s) of connection acme-nl" in revoked.stdout
    assert [i["state"] for i in consent.invitations(store, "acme-nl")] == ["revoked"]
    for run in (made, listed, checked, revoked):
        assert "FAKE-client-secret-not-used" not in run.stdout + run.stderr


def test_check_mode_prints_no_link_and_writes_nothing(invite):
    checked = invite("-e", "preauth_connection=acme-nl", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "/i/" not in checked.stdout and "would make an invitation for connection acme-nl" in checked.stdout
    assert consent.invitations(open_store({"store_url": invite.store_url}, VAULT), "acme-nl") == []


def test_an_unknown_connection_and_a_bad_state_fail_before_anything(invite):
    unknown = invite("-e", "preauth_connection=nope")
    assert unknown.returncode != 0 and "nope is not a connection of preauth_connections" in unknown.stdout
    bad = invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitation_state=gone")
    assert bad.returncode != 0 and 'preauth_invitation_state="gone" is not one of present, absent, list' in bad.stdout
    assert json.dumps(consent.invitations(open_store({"store_url": invite.store_url}, VAULT), "acme-nl")) == "[]"


def test_status_shows_open_invitations_and_who_consented_last(invite, pg):
    import psycopg

    assert invite("-e", "preauth_connection=acme-nl").returncode == 0
    with psycopg.connect(invite.store_url, password=pg.password, autocommit=True) as db:
        used_by = json.dumps({"first_name": "Bea", "email": "bea@client.example.test"})
        db.execute("UPDATE preauth_oauth2_invitation SET used_at = now(), used_by = %s::jsonb", (used_by,))
    assert invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitee_email=x@client.example.test").returncode == 0
    status = invite(playbook="status")
    assert "acme-nl: 1 open invitation(s) until" in status.stdout, status.stdout
    assert "1 consent(s) waiting (not in preauth_connections, or not imported" in status.stdout
    assert "last consent" in status.stdout and "Bea <bea@client.example.test>" in status.stdout


def test_with_preauth_notify_the_link_is_mailed_to_the_invitee_and_not_printed(invite, tmp_path):
    from receivers import Mailbox

    with Mailbox() as box:
        path = tmp_path / "inventory.yml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["all"]["vars"]["preauth_notify"] = {"smtp": {"host": "127.0.0.1", "port": box.port, "security": "none", "sender": "preauth@example.test"}}
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        made = invite(
            "-e", "preauth_connection=acme-nl", "-e", "preauth_invitee_email=bea@client.example.test", "-e", '{"preauth_invitee": {"language": "nl"}}'
        )
        assert made.returncode == 0, made.stdout + made.stderr
        assert "the link was mailed to bea@client.example.test" in made.stdout
        (mail,) = box.to("bea@client.example.test")
        links = re.findall(re.escape(SERVICE) + r"/i/[A-Za-z0-9_-]{43}", box.body(mail))
        assert len(links) == 1 and links[0] not in made.stdout + made.stderr
        assert "Ops B.V." in mail["Subject"] and "toestemming" in box.body(mail)
        printed = invite("-e", "preauth_connection=acme-nl", "-e", "preauth_invitee_email=bea@client.example.test", "-e", "preauth_invitation_mail=false")
        assert printed.returncode == 0 and len(box.messages) == 1
        assert re.search(re.escape(SERVICE) + r"/i/[A-Za-z0-9_-]{43}", printed.stdout)
