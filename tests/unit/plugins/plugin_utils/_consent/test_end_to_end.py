"""An invitation from the operator's command to the stored chain, every part real: ansible-playbook runs invite.yml
against the PostgreSQL store and grants the consent service's database role in the same run (preauth_consent_service_role,
the module's service_role); the consent service runs under waitress on 127.0.0.1 as that role; headless chromium walks the
link, the form and the simulator's sign-in with its second factor; refresh.yml imports the landing and status.yml names who
consented. Then a leak scan of everything written on the way, and a reconnect that keeps the connection's history.

Timing (callback -> landing stored, as the service measures it and as the browser sees it) is printed and written to
build/consent-e2e/results.json."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import typing as t
import urllib.parse

import psycopg
import pytest
import requests
import yaml
from psycopg import sql

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.app import create_app
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import Config, load_apps
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.db import ConsentDb
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.serve import install_logging, make_server
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent
from chains import VAULT
from helpers import ansible_command, report, walk_sign_in
from simulator import Simulator
from simulator.control import ControlClient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
RESULTS = os.path.join(ROOT, "build", "consent-e2e")
CONNECTION = "acme-nl"
CLIENT_ID = "e2e-exact-client"
FAKE_CLIENT_SECRET = "FAKE-e2e-client-secret-7d1c"
FAKE_ROLE_PASSWORD = "FAKE-e2e-service-role-password-3b9a"
FAKE_SERVICE_KEY = b"FAKE-e2e-service-key-for-tests-only-0123456789"
FAKE_VAULT_PASSWORD = "FAKE-vault-password"  # chains.VAULT's, so that the test opens the store the playbooks wrote
BEA = {"first_name": "Bea", "last_name": "Boekhouder", "email": "bea@retail.example", "company": "Acme Retail B.V."}
PIET = {"first_name": "Piet", "last_name": "Post", "email": "piet@retail.example", "company": "Acme Retail B.V."}
LANDED_LINE = re.compile(r"landing stored for invitation (\S+) in ([0-9.]+) s after the callback arrived")


class Stack:
    """The store, the service, the simulator and the playbook runner of one module."""

    def __init__(self) -> None:
        self.outputs: dict[str, str] = {}  # playbook run name -> stdout and stderr
        self.links: list[str] = []  # every link token the playbooks printed
        self.results: dict[str, t.Any] = {}
        self.pg: t.Any = None
        self.dbname = self.store_url = self.role = self.url = ""
        self.sim: t.Any = None
        self.control: t.Any = None
        self.log = io.StringIO()
        self.run: t.Callable[..., subprocess.CompletedProcess] = lambda *a, **k: t.cast(t.Any, None)

    def owner(self) -> t.Any:
        return self.pg.connect(self.dbname, autocommit=True)

    def store(self) -> t.Any:
        return open_store({"store_url": self.store_url}, VAULT)

    def landed_seconds(self, invitation: str) -> float:
        """The service's own measure, from its log: the callback's arrival to the committed landing."""
        found = [float(s) for ident, s in LANDED_LINE.findall(self.log.getvalue()) if ident == invitation]
        assert len(found) == 1, self.log.getvalue()[-2000:]
        return found[0]

    def invite(self, name: str, invitee: dict[str, str], *args: str) -> str:
        made = self.run(name, "preauth.oauth2.invite", "-e", "preauth_connection=%s" % CONNECTION, "-e", json.dumps({"preauth_invitee": invitee}), *args)
        assert made.returncode == 0, made.stdout + made.stderr
        found = re.findall(re.escape(self.url) + r"/i/([A-Za-z0-9_-]{43})", made.stdout + made.stderr)
        assert len(found) == 1, made.stdout  # printed once, by the task meant to show it
        self.links.append(found[0])
        return found[0]


@pytest.fixture(scope="module")
def stack(pg: t.Any, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Stack]:
    found = Stack()
    found.pg = pg
    found.dbname = "e2e_%s" % os.urandom(5).hex()
    found.role = "consent_e2e_%s" % os.urandom(4).hex()
    found.store_url = pg.create_database(found.dbname)
    tmp = tmp_path_factory.mktemp("e2e")
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = pg.password
    handler = None
    try:
        # The role as an administrator makes it: it may log in, and has no right on any table until the module grants them.
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(found.role), sql.Literal(FAKE_ROLE_PASSWORD)))
        with Simulator(control=True) as sim:
            found.sim, found.control = sim, ControlClient(sim.base_url)
            (tmp / "client-secret").write_text(FAKE_CLIENT_SECRET + "\n", encoding="utf-8")
            # The endpoints the service trusts are its own settings (an invitation row is not believed): the simulator's.
            apps = {
                CLIENT_ID: {
                    "secret_file": str(tmp / "client-secret"),
                    "authorize_url": sim.base_url + "/nl/api/oauth2/auth",
                    "token_url": sim.base_url + "/nl/api/oauth2/token",
                }
            }
            (tmp / "apps.json").write_text(json.dumps(apps), encoding="utf-8")
            handler = install_logging(logging.StreamHandler(found.log))
            db = ConsentDb("postgresql://%s:%s@127.0.0.1:%d/%s" % (found.role, FAKE_ROLE_PASSWORD, pg.port, found.dbname))
            config = Config(public_url="http://127.0.0.1:0", apps=load_apps(str(tmp / "apps.json")), secret_key=FAKE_SERVICE_KEY, secure_cookies=False)
            server = make_server(create_app(config, db), "127.0.0.1", 0)
            config.public_url = found.url = "http://127.0.0.1:%d" % int(server.effective_port)
            found.control.add_client(client_id=CLIENT_ID, client_secret=FAKE_CLIENT_SECRET, redirect_uris=[config.redirect_uri], profile="exact")
            thread = threading.Thread(target=server.run, daemon=True, name="consent-service-e2e")
            thread.start()

            base = tmp / "collections"
            os.makedirs(base / "ansible_collections" / "preauth")
            os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
            (tmp / "vault-pw").write_text(FAKE_VAULT_PASSWORD + "\n", encoding="utf-8")
            connection = {
                "name": CONNECTION,
                "platform": "exact_online",
                "country": "nl",
                "base_url": sim.base_url + "/nl",
                "client_id": CLIENT_ID,
                "client_secret": FAKE_CLIENT_SECRET,
                "redirect_uri": config.redirect_uri,
                "app_name": "Acme Data Replicator",
            }
            inventory = {
                "all": {
                    "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                    "vars": {
                        "preauth_connections": [connection],
                        "preauth_store_url": found.store_url,
                        "preauth_consent_service_url": found.url,
                        "preauth_operator": {"company": "Acme Accountants B.V.", "contact": "ops@acme.example"},
                    },
                }
            }
            (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
            env.update(
                ANSIBLE_COLLECTIONS_PATH=str(base),
                ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
                PREAUTH_OAUTH2_RESCUE_DIR=str(tmp / "rescue"),
            )

            def run(name: str, playbook: str, *args: str) -> subprocess.CompletedProcess:
                command = [ansible_command("ansible-playbook"), "-i", str(tmp / "inventory.yml"), "--vault-password-file", str(tmp / "vault-pw")]
                command += [str(tmp / playbook) if playbook.endswith(".yml") else playbook, *args]
                began = time.monotonic()
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)
                found.results.setdefault("playbook_seconds", {})[name] = round(time.monotonic() - began, 2)
                found.outputs[name] = done.stdout + done.stderr
                return done

            found.run = run
            yield found
            server.task_dispatcher.shutdown()
            server.close()
            db.close()
    finally:
        if handler is not None:
            for name in ("preauth.oauth2.consent", "waitress"):
                logging.getLogger(name).removeHandler(handler)
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved
        pg.drop_database(found.dbname)
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(found.role)))
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "results.json"), "w", encoding="utf-8") as handle:
            json.dump(found.results, handle, indent=2, sort_keys=True)


def sim_chain(stack: Stack, fingerprint: str) -> dict[str, t.Any]:
    chains = [c for c in stack.control.state()["chains"] if c["refresh_fingerprint"] == fingerprint]
    assert len(chains) == 1 and chains[0]["client_id"] == CLIENT_ID and chains[0]["state"] == "alive", chains
    return chains[0]


def first_consent(stack, page, request):
    """Invite, consent in Chromium, refresh imports the landing, status names the invitee."""
    # The service's role exists (the administrator made it) but has no right yet: the same invite run grants them.
    assert consent.missing_grants(stack.store(), stack.role)
    token = stack.invite("invite-1", dict(BEA, job_title="Controller"), "-e", "preauth_consent_service_role=%s" % stack.role)
    assert consent.missing_grants(stack.store(), stack.role) == []
    with psycopg.connect("postgresql://%s@127.0.0.1:%d/%s" % (stack.role, stack.pg.port, stack.dbname), password=FAKE_ROLE_PASSWORD) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM preauth_oauth2_chain")
    (first,) = [i for i in consent.invitations(stack.store(), CONNECTION) if i["state"] == "open"]

    page.goto(stack.url + "/i/" + token)
    assert page.inner_text("h1") == "Give Acme Data Replicator access to Exact Online"
    assert "Acme Accountants B.V. asks you" in page.inner_text("#who")
    assert page.input_value("#first_name") == "Bea" and page.input_value("#job_title") == "Controller"
    page.check("#consent")
    with page.expect_navigation(url="**/api/oauth2/auth**"):
        page.click("#continue")
    seen: dict[str, float] = {}
    page.on("request", lambda req: seen.setdefault("callback", time.monotonic()) if urllib.parse.urlsplit(req.url).path == "/callback" else None)
    walk_sign_in(page)
    browser_seconds = time.monotonic() - seen["callback"]
    assert page.inner_text("h1") == "Thank you: access was granted"
    service_seconds = stack.landed_seconds(first["id"])
    with stack.owner() as conn:
        assert conn.execute("SELECT count(*) FROM preauth_oauth2_landing WHERE invitation = %s", (first["id"],)).fetchone()[0] == 1
    stack.results["first_consent"] = {"callback_to_landing_stored_s": service_seconds, "callback_to_success_page_in_browser_s": round(browser_seconds, 3)}
    report(
        request,
        "end to end: callback -> landing stored %.3f s (service's clock), callback -> success page %.3f s (browser's); limit 2 s"
        % (service_seconds, browser_seconds),
    )
    assert service_seconds < 2.0 and browser_seconds < 2.0

    refreshed = stack.run("refresh-1", "preauth.oauth2.refresh")
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "imported 1 landing" in refreshed.stdout, refreshed.stdout
    data = stack.store().read(CONNECTION).data
    assert data["generation"] == 1 and data["owner"]["kind"] == "controller"
    by = data["preauthenticated_by"]
    assert {k: by.get(k) for k in ("first_name", "last_name", "job_title", "email", "company")} == dict(BEA, job_title="Controller")
    assert by["via"] == "invitation %s" % first["id"] and by["address"] == "127.0.0.1" and "Chrome" in by["user_agent"]
    assert [(e["event"], e.get("invitation"), e["generation"]) for e in data["history"] if e["event"] == "consent_collected"] == [
        ("consent_collected", first["id"], 1)
    ]
    sim_chain(stack, data["tokens"]["refresh_fingerprint"])  # the chain the simulator issued to the service, alive
    assert consent.open_landings(stack.store()) == []
    assert [i["state"] for i in consent.invitations(stack.store(), CONNECTION)] == ["collected"]

    status = stack.run("status-1", "preauth.oauth2.status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"acme-nl\s+exact_online\s+controller\s+1\s+[0-9.]+\s+\S+\s+ok", status.stdout), status.stdout
    assert "acme-nl: 0 open invitation(s)" in status.stdout
    assert "last consent" in status.stdout and "by Bea Boekhouder <bea@retail.example> of Acme Retail B.V. (invitation %s)" % first["id"] in status.stdout


def reconnect(stack, request):
    """A second invitation for the connection, imported by status.yml: generation 2, the history kept, status names the new invitee."""
    before = stack.store().read(CONNECTION).data
    assert before["generation"] == 1
    token = stack.invite("invite-2", PIET)
    (second,) = [i for i in consent.invitations(stack.store(), CONNECTION) if i["state"] == "open"]
    # This time the invitee's browser is an HTTP client: the form POST, the simulator's sign-in, the callback.
    session = requests.Session()
    answer = session.get(stack.url + "/i/" + token, timeout=10)
    csrf = answer.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = dict(PIET, csrf=csrf, job_title="CFO", consent="yes")
    answer = session.post(stack.url + "/i/" + token, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    landed = stack.control.login(answer.headers["Location"])["redirect_url"]
    answer = session.get(landed, allow_redirects=False, timeout=10)
    assert (answer.status_code, answer.headers.get("Location")) == (303, "/p/success")
    stack.results["reconnect"] = {"callback_to_landing_stored_s": stack.landed_seconds(second["id"])}

    # This time status.yml imports the landing before its table, as refresh.yml did the first time.
    status = stack.run("status-2", "preauth.oauth2.status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Import the consents that landed" in status.stdout and "changed: [localhost] => (item=acme-nl)" in status.stdout, status.stdout
    data = stack.store().read(CONNECTION).data
    assert data["generation"] == 2 and data["owner"]["kind"] == "controller"
    assert data["preauthenticated_by"]["via"] == "invitation %s" % second["id"] and data["preauthenticated_by"]["job_title"] == "CFO"
    # The first generation's events are all still there, then the reconnect replacing its refresh token.
    assert data["history"][: len(before["history"])] == before["history"]
    collected = [e for e in data["history"] if e["event"] == "consent_collected"]
    assert [(e["invitation"], e["generation"]) for e in collected] == [(before["history"][-1]["invitation"], 1), (second["id"], 2)]
    assert collected[1]["replaced"] == before["tokens"]["refresh_fingerprint"] != data["tokens"]["refresh_fingerprint"]
    sim_chain(stack, data["tokens"]["refresh_fingerprint"])
    assert sorted(i["state"] for i in consent.invitations(stack.store(), CONNECTION)) == ["collected", "collected"]

    assert "consent(s) waiting" not in status.stdout
    assert re.search(r"acme-nl\s+exact_online\s+controller\s+2\s", status.stdout), status.stdout
    assert "by Piet Post <piet@retail.example> of Acme Retail B.V. (invitation %s)" % second["id"] in status.stdout
    report(request, "end to end: reconnect landed as generation 2 with the history kept (%d events)" % len(data["history"]))


def no_secret_anywhere(stack, request):
    """No secret in any playbook output, the service's log or the store's tables."""
    assert {"invite-1", "refresh-1", "status-1", "invite-2", "status-2"} <= set(stack.outputs)
    scan = os.path.join(RESULTS, "scan")
    shutil.rmtree(scan, ignore_errors=True)
    os.makedirs(scan)
    for name, text in stack.outputs.items():
        with open(os.path.join(scan, "playbook-%s.txt" % name), "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(os.path.join(scan, "service.log"), "w", encoding="utf-8") as handle:
        handle.write(stack.log.getvalue())
    with stack.owner() as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'preauth_oauth2_%' ORDER BY 1").fetchall()]
        dump = {table: [repr(row) for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()] for table in tables}
    assert {"preauth_oauth2_chain", "preauth_oauth2_invitation", "preauth_oauth2_landing", "preauth_oauth2_landing_key"} <= set(dump)
    with open(os.path.join(scan, "tables.json"), "w", encoding="utf-8") as handle:
        json.dump(dump, handle)
    result = stack.control._call("POST", "/_sim/scan", {"paths": [scan]})
    assert result["files"] == len(stack.outputs) + 2 and result["values"] > 0
    assert result["leaks"] == []  # codes, verifiers, access and refresh tokens, the client secret, the user's password and TOTP secret
    ours = {"client secret": FAKE_CLIENT_SECRET, "service role password": FAKE_ROLE_PASSWORD, "store password": stack.pg.password}
    ours.update({"vault password": FAKE_VAULT_PASSWORD, "service key": FAKE_SERVICE_KEY.decode()})
    ours.update({"link token %d" % n: token for n, token in enumerate(stack.links)})
    leaks = []
    for name in sorted(os.listdir(scan)):
        with open(os.path.join(scan, name), encoding="utf-8") as handle:
            text = handle.read()
        for what, value in ours.items():
            quoted = urllib.parse.quote(value, safe="")
            count = text.count(value) + (text.count(quoted) if quoted != value else 0)
            # The invite runs print their own link once, in the task meant to show it.
            allowed = 1 if what.startswith("link token") and name == "playbook-invite-%d.txt" % (int(what.rsplit(" ", 1)[1]) + 1) else 0
            if count != allowed:
                leaks.append((name, what, count))
    assert leaks == []
    assert "/i/(hidden)" in stack.log.getvalue()
    stack.results["leak_scan"] = {"files": result["files"], "simulator_values": result["values"], "own_values": len(ours), "leaks": 0}
    report(
        request,
        "end to end: leak scan of %d playbook outputs, the service log and %d tables: %d simulator secrets and %d of ours looked for, none found"
        % (len(stack.outputs), len(dump), result["values"], len(ours)),
    )


def test_invite_consent_refresh_and_status_then_a_reconnect_and_no_secret_anywhere(stack, page, request):
    # One story in one test, in this order whatever runs it (pytest-xdist spreads a module's tests over workers).
    first_consent(stack, page, request)
    reconnect(stack, request)
    no_secret_anywhere(stack, request)
