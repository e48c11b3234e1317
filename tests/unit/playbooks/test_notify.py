"""preauth_notify with ansible-playbook, on the PostgreSQL store, the simulator, a real SMTP server and a real webhook receiver:
refresh finds a spent chain and tells the consenter and the team once, with a fresh invitation link that the run's output
never shows; re-runs of refresh and status send nothing more; --check --diff says what it would send; a new consent makes one
"recovered"; the webhook secret comes from ansible-vault, and nothing secret shows anywhere."""

from __future__ import annotations

import concurrent.futures
import copy
import os
import re
import subprocess
import sys
import textwrap
import typing as t

import pytest
import yaml

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent
from chains import CONTACT, VAULT, params, preauthenticate, stored
from helpers import ansible_command
from receivers import Mailbox, WebhookReceiver, make_tls
from simulator.timewarp import warp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SERVICE = "https://consent.example.test"
SECRET = "whsec_RkFLRS13ZWJob29rLXNlY3JldC1mb3ItcGxheWJvb2tz"
SMTP_PASSWORD = "FAKE-smtp-password-for-playbook-tests"
TEAM = "data-team@example.test"
DAY = 86400


@pytest.fixture
def told(sim, control, tmp_path, pg, pg_db, monkeypatch):
    """A preauthenticated acme-nl in a PostgreSQL store, an inventory with preauth_notify, and the receivers."""
    for name, value in pg.env.items():
        monkeypatch.setenv(name, value)
    p = params(sim, tmp_path, store_dir=None, store_url=pg_db, redirect_uri=params(sim, tmp_path)["redirect_uri"])
    preauthenticate(p)
    base = tmp_path / "collections"
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    password = tmp_path / "vault-pw"
    password.write_bytes(b"FAKE-vault-password\n")
    tls = make_tls(str(tmp_path))
    with Mailbox(tls=tls, credentials=("preauth", SMTP_PASSWORD)) as box, WebhookReceiver(SECRET) as hook:
        connection = {
            "name": "acme-nl",
            "platform": "exact_online",
            "country": "nl",
            "base_url": p["base_url"],
            "client_id": p["client_id"],
            "redirect_uri": p["redirect_uri"],
            "notify_email": TEAM,
            "notify_language": "nl",
        }
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {
            "all": {
                "hosts": {"localhost": local},
                "vars": {
                    "preauth_connections": [connection],
                    "preauth_store_url": pg_db,
                    "preauth_consent_service_url": SERVICE,
                    "preauth_operator": {"company": "Ops B.V.", "contact": "ops@example.test"},
                    "preauth_notify": {
                        "smtp": {
                            "host": "127.0.0.1",
                            "port": box.port,
                            "security": "starttls",
                            "ca_path": tls.ca_path,
                            "username": "preauth",
                            "password": "VAULTED",
                            "sender": "preauth@example.test",
                        },
                        "webhooks": [{"url": hook.url, "secret": "VAULTED", "name": "tickets"}],
                    },
                },
            }
        }
        text = yaml.safe_dump(inventory, sort_keys=False)
        text = text.replace("secret: VAULTED", "secret: " + vaulted(SECRET)).replace("password: VAULTED", "password: " + vaulted(SMTP_PASSWORD))
        text = text.replace(
            "redirect_uri: %s\n" % p["redirect_uri"], "redirect_uri: %s\n      client_secret: %s\n" % (p["redirect_uri"], vaulted(p["client_secret"]))
        )
        (tmp_path / "inventory.yml").write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
        env.update(ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))

        def run(playbook: str, *args: str) -> subprocess.CompletedProcess:
            command = [ansible_command("ansible-playbook"), "-i", str(tmp_path / "inventory.yml"), "--vault-password-file", str(password)]
            done = subprocess.run(
                command + ["preauth.oauth2." + playbook, *args], env=env, capture_output=True, text=True, timeout=240, check=False, stdin=subprocess.DEVNULL
            )
            for secret in (SECRET, SMTP_PASSWORD, p["client_secret"], *(v for v in (stored(p)["tokens"] or {}).values() if isinstance(v, str) and len(v) > 20)):
                assert secret not in done.stdout + done.stderr
            return done

        yield {"run": run, "p": p, "box": box, "hook": hook, "control": control}


def vaulted(value: str) -> str:
    """A vault-encrypted inventory value, as ansible-vault encrypt_string writes it (indented for the inventory's nesting)."""
    return "!vault |\n" + textwrap.indent(VAULT.encrypt(value).decode().strip(), " " * 10)


def spend(p: dict[str, t.Any], control: t.Any) -> None:
    """Put back a refresh token the platform has rotated since: the next refresh hears "Old refresh token used."."""
    warp(24 * DAY, control, open_store(p, VAULT))
    old = copy.deepcopy(stored(p)["tokens"])
    client = new_client(p)
    assert Refresher(open_store(p, VAULT), client, Policy(), sleep=lambda s: None).run_one(resolve(p, client)).status == "refreshed"
    with open_store(p, VAULT).locked(p["connection"]) as record:
        record.data["tokens"] = old


def test_two_controllers_tell_once_with_a_link_reruns_add_nothing_and_a_new_consent_recovers(told):
    run, p, box, hook = told["run"], told["p"], told["box"], told["hook"]
    spend(p, told["control"])
    quiet = run("refresh", "-e", "preauth_force=true", "--skip-tags", "notify")
    assert "needs a new preauthentication: acme-nl" in quiet.stdout and box.messages == [], quiet.stdout
    checked = run("refresh", "--check", "--diff")
    assert "would_send" in checked.stdout and "would send" in checked.stdout, checked.stdout
    assert box.messages == [] and hook.received == []
    # Two controllers at once on the same PostgreSQL store: a refresh and a status run.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        both = list(pool.map(run, ["refresh", "status"]))
    assert "needs a new preauthentication: acme-nl" in both[0].stdout, both[0].stdout
    said = [b.stdout.count("acme-nl: dead: sent") for b in both]
    assert sorted(said) == [0, 1], [b.stdout for b in both]
    (mine,) = box.to(CONTACT["email"])
    (team,) = box.to(TEAM)
    body = box.body(mine)
    links = re.findall(re.escape(SERVICE) + r"/i/[A-Za-z0-9_-]{43}", body)
    assert len(links) == 1 and all(links[0] not in b.stdout + b.stderr for b in both)
    assert "verbinding" in body.lower() and "acme-nl" in team["Subject"]
    (row,) = consent.invitations(open_store(p, VAULT), "acme-nl")
    assert row["state"] == "open" and row["invitee"]["email"] == CONTACT["email"]
    assert hook.types() == ["connection.dead"] and hook.rejected == []
    # Again: nothing new.
    assert "acme-nl: dead" not in run("refresh").stdout
    assert "acme-nl: dead" not in run("status").stdout
    assert len(box.messages) == 2 and len(hook.received) == 1
    # A new consent (here at the operator's terminal): status tells it works again, once.
    preauthenticate(p)
    back = run("status")
    assert "acme-nl: recovered: sent" in back.stdout, back.stdout
    assert len(box.to(CONTACT["email"])) == 2 and hook.types() == ["connection.dead", "connection.recovered"]
    assert "acme-nl: recovered" not in run("status").stdout
    for text in box.texts() + [hook.dump()]:
        assert SECRET not in text and SMTP_PASSWORD not in text and p["client_secret"] not in text


def test_settings_that_cannot_send_do_not_hide_the_refresh_report_and_fail_the_run(told, tmp_path):
    run, p = told["run"], told["p"]
    path = tmp_path / "inventory.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("sender: preauth@example.test", "sender: not-an-address"), encoding="utf-8")
    spend(p, told["control"])
    done = run("refresh", "-e", "preauth_force=true")
    assert done.returncode != 0
    assert "needs a new preauthentication: acme-nl" in done.stdout, done.stdout  # the report still shows
    assert "Nobody was told anything in this run:" in done.stdout and "sender" in done.stdout
    assert told["box"].messages == []
    quiet = run("status")
    assert quiet.returncode != 0 and "Nobody was told about the connections:" in quiet.stdout, quiet.stdout


def test_an_address_of_the_inventory_that_is_none_is_refused_before_anything_is_sent(told, tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("notify_email: %s" % TEAM, "notify_email: data-team at example"), encoding="utf-8")
    done = told["run"]("status")
    assert done.returncode != 0
    assert "connection acme-nl: notify_email: the address 'data-team at example' is not an e-mail address" in done.stdout, done.stdout
    assert told["box"].messages == [] and told["hook"].received == []
