"""Load, bounded, on loopback: 200 invitees of 200 connections complete at once against one consent service process
(waitress with its production threads, connection limit and rate limits, behind a proxy that forwards each invitee's
address), the real PostgreSQL as the service's restricted role. Every chain lands once, none is lost, no error page,
and the controller imports all 200.

The simulator's Exact Online profile allows 200 token calls per app, user and day. Two hundred invitees are two hundred
people, each with their own Exact Online login and authenticator: the simulator is configured with 200 users (its
config has always taken a list of users), so each invitee spends one call of their own budget and the budget rule stays
as it is. The browsers are HTTP clients here (the form POST, the sign-in pages as simulator/browser.py's ScriptedBrowser
fills them, the callback); the numbers go to the test output and build/consent-load/results.json."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as t

import requests
from psycopg import sql

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import http_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.serve import THREADS
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invite import collect_many, invite
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import consent, landing
from chains import VAULT, params
from helpers import report
from pgserver import free_port
from simulator import DEFAULT_CONFIG
from simulator.browser import ScriptedBrowser
from simulator.control import SimulatorProcess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
RESULTS = os.path.join(ROOT, "build", "consent-load")
INVITEES = 200
CLIENT_ID = "load-exact-client"
FAKE_CLIENT_SECRET = "FAKE-load-client-secret-5e2a"
FAKE_ROLE_PASSWORD = "FAKE-load-service-role-password-8c4f"
FAKE_SERVICE_KEY = b"FAKE-load-service-key-for-tests-only-0123456789"
LANDED_LINE = re.compile(r"landing stored for invitation (\S+) in ([0-9.]+) s after the callback arrived")
ACCESS_LINE = re.compile(r"preauth\.oauth2\.consent\.access INFO (\S+) (GET|POST) (\S+) (\d{3}) ")
SERVICE_MODULE = "ansible_collections.preauth.oauth2.plugins.plugin_utils._consent"


def start_service(tmp: t.Any, db_url: str, apps: dict[str, t.Any]) -> tuple[subprocess.Popen[bytes], str, t.Any]:
    """The consent service as the consent_service role runs it: its own process, its command line, behind a proxy."""
    base = tmp / "collections"
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    (tmp / "apps.json").write_text(json.dumps(apps), encoding="utf-8")
    (tmp / "database-url").write_text(db_url + "\n", encoding="utf-8")
    (tmp / "secret-key").write_bytes(FAKE_SERVICE_KEY + b"\n")
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    command = [sys.executable, "-m", SERVICE_MODULE, "--listen", "127.0.0.1:%d" % port, "--public-url", url, "--apps", str(tmp / "apps.json")]
    command += ["--database-url-file", str(tmp / "database-url"), "--secret-key-file", str(tmp / "secret-key"), "--trusted-proxy", "--insecure-cookies"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PREAUTH_"))}
    env.update(PYTHONPATH=str(base), PGPASSWORD=FAKE_ROLE_PASSWORD)
    log = open(tmp / "service.log", "wb")  # noqa: SIM115 - closed by the caller after the process ends
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/healthz", timeout=2).text == "ok\n":
                return proc, url, log
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise AssertionError("the consent service did not start: %s" % (tmp / "service.log").read_text(encoding="utf-8")[-1500:])
        time.sleep(0.1)


def invitee(n: int) -> dict[str, str]:
    """The n-th person: an Exact Online login with its own password and authenticator secret (all fake)."""
    secret = base64.b32encode(hashlib.sha256(b"FAKE-load-totp-%d" % n).digest()[:10]).decode()
    return {"username": "bookkeeper%03d@client%03d.example" % (n, n), "password": "FAKE-load-password-%03d" % n, "totp_secret": secret}


def test_200_invitees_of_200_connections_complete_at_once(pg, tmp_path, monkeypatch, request):
    test_began = time.monotonic()
    people = [invitee(n) for n in range(INVITEES)]
    config_sim = {
        "clients": DEFAULT_CONFIG["clients"],
        "users": [dict(p, full_name="Bookkeeper %d" % n, division=100000 + n) for n, p in enumerate(people)],
    }
    dbname = "load_%s" % os.urandom(5).hex()
    role = "consent_load_%s" % os.urandom(4).hex()
    store_url = pg.create_database(dbname)
    monkeypatch.setenv("PGPASSWORD", pg.password)
    results: dict[str, t.Any] = {"invitees": INVITEES}
    try:
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(FAKE_ROLE_PASSWORD)))
        store = open_store({"store_url": store_url}, VAULT)
        consent.grant_consent_role(store, role)
        (tmp_path / "simulator.json").write_text(json.dumps(config_sim), encoding="utf-8")
        with SimulatorProcess(extra=["--config", str(tmp_path / "simulator.json")]) as control:
            sim = control  # what chains.params reads: base_url
            (tmp_path / "client-secret").write_text(FAKE_CLIENT_SECRET + "\n", encoding="utf-8")
            apps = {CLIENT_ID: {"secret_file": str(tmp_path / "client-secret")}}
            apps[CLIENT_ID].update(authorize_url=sim.base_url + "/nl/api/oauth2/auth", token_url=sim.base_url + "/nl/api/oauth2/token")
            # Its production settings: waitress's 8 threads and 200 connections, 8 database connections, the default rate limits
            # per client address; behind the operator's proxy (--trusted-proxy) every invitee has an address of their own.
            proc, service_url, service_log = start_service(tmp_path, "postgresql://%s@127.0.0.1:%d/%s" % (role, pg.port, dbname), apps)
            redirect_uri = service_url + "/callback"
            control.add_client(client_id=CLIENT_ID, client_secret=FAKE_CLIENT_SECRET, redirect_uris=[redirect_uri], profile="exact")
            try:
                # The operator's side: 200 connections, one invitation each, made by the controller's own code.
                began = time.monotonic()
                conns, links = [], []
                for n in range(INVITEES):
                    p = params(sim, tmp_path, connection="client-%03d" % n, client_id=CLIENT_ID, client_secret=FAKE_CLIENT_SECRET)
                    p.update(store_dir=None, store_url=store_url, redirect_uri=redirect_uri)
                    with http_client(p) as client:
                        conn = resolve(p, client)
                    made = invite(conn, store, False, service_url, invitee={"email": people[n]["username"]}, operator={"company": "Load B.V."})
                    conns.append(conn)
                    links.append(made.result["link"])
                results["invitations_made_s"] = round(time.monotonic() - began, 2)

                def start(n: int) -> tuple[requests.Session, str]:
                    """Up to the platform's redirect back: the page, the form, the sign-in with the second factor."""
                    session = requests.Session()
                    # As the proxy of docs/consent.md's nginx example sends them: the invitee's address, one connection per request.
                    session.headers.update({"X-Forwarded-For": "10.1.%d.%d" % (n // 250, n % 250 + 1), "Connection": "close"})
                    page = session.get(links[n], timeout=30)
                    assert page.status_code == 200, page.status_code
                    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                    form = {"csrf": csrf, "first_name": "Bookkeeper", "last_name": "%03d" % n, "job_title": "Bookkeeper", "email": people[n]["username"]}
                    form.update(company="Client %03d B.V." % n, consent="yes")
                    sent = session.post(links[n], data=form, allow_redirects=False, timeout=30)
                    assert sent.status_code == 303, sent.status_code
                    landed = ScriptedBrowser(timeout=30).login(sent.headers["Location"], people[n]["username"], people[n]["password"], people[n]["totp_secret"])
                    assert landed.startswith(redirect_uri + "?")
                    return session, landed

                began = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                    started = list(pool.map(start, range(INVITEES)))
                results["forms_and_sign_ins_s"] = round(time.monotonic() - began, 2)

                # Then all 200 callbacks at once: one thread per invitee, released together.
                gate = threading.Barrier(INVITEES)

                def finish(n: int) -> tuple[int, str, float]:
                    session, landed = started[n]
                    gate.wait()
                    at = time.monotonic()
                    answer = session.get(landed, allow_redirects=False, timeout=120)
                    took = time.monotonic() - at
                    shown = session.get(service_url + answer.headers.get("Location", "/p/unknown"), timeout=60)
                    return answer.status_code, answer.headers.get("Location", "") + " %d" % shown.status_code, took

                began = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(max_workers=INVITEES) as pool:
                    finished = list(pool.map(finish, range(INVITEES)))
                wall = time.monotonic() - began
            finally:
                proc.terminate()
                proc.wait(timeout=20)
                service_log.close()
            sim_state = control.state()
        text = (tmp_path / "service.log").read_text(encoding="utf-8")

        slowest = max(seconds for _status, _where, seconds in finished)
        service_times = {ident: float(s) for ident, s in LANDED_LINE.findall(text)}
        access = ACCESS_LINE.findall(text)
        lines = text.splitlines()
        # Back-pressure, reported and not counted as errors: requests waiting for one of the 8 threads (waitress.queue), and
        # connections waiting in the listen backlog while 200 are open (waitress's connection limit). Nobody is refused by either.
        queued = [int(line.rsplit(" ", 1)[1]) for line in lines if " waitress.queue WARNING Task queue depth is " in line]
        limit = [line for line in lines if " waitress WARNING total open connections reached the connection limit" in line]
        errors = [line for line in lines if (" WARNING " in line or " ERROR " in line) and " waitress.queue " not in line and line not in limit]
        error_pages = [(method, path, code) for _addr, method, path, code in access if int(code) >= 400]
        results.update(
            callbacks_wall_s=round(wall, 2),
            slowest_callback_to_landing_client_s=round(slowest, 3),
            slowest_callback_to_landing_service_s=round(max(service_times.values() or [0.0]), 3),
            median_callback_to_landing_service_s=round(sorted(service_times.values() or [0.0])[len(service_times) // 2], 3),
            service_errors=len(errors) + len(error_pages),
            waitress_threads=THREADS,
            waitress_queue_depth_max=max(queued or [0]),
            waitress_connection_limit_reached=len(limit),
        )
        assert [(status, where) for status, where, _s in finished] == [(303, "/p/success 200")] * INVITEES
        assert errors == [] and error_pages == []
        assert [link for link in links if link.rsplit("/", 1)[1] in text] == [] and "/i/(hidden)" in text
        assert len(service_times) == INVITEES
        assert sim_state["token_calls_by_outcome"] == {"200": INVITEES}  # one exchange each, no 429 from the daily budget

        # Each landed once, for its own invitation, and opens to the chain the simulator issued for that invitee.
        with pg.connect(dbname) as owner:
            rows = owner.execute(
                "SELECT l.invitation::text, l.connection, l.sealed, i.connection, i.used_at IS NOT NULL, l.consent FROM preauth_oauth2_landing l "
                "JOIN preauth_oauth2_invitation i ON i.id = l.invitation"
            ).fetchall()
        assert len(rows) == INVITEES and len({r[0] for r in rows}) == INVITEES and sorted(r[1] for r in rows) == [c.name for c in conns]
        assert all(r[1] == r[3] and r[4] for r in rows)
        # The address each consent came from is the invitee's, as the proxy forwarded it (not the proxy's own).
        assert {r[1]: r[5]["address"] for r in rows} == {"client-%03d" % n: "10.1.%d.%d" % (n // 250, n % 250 + 1) for n in range(INVITEES)}
        key = consent.private_key(store)
        issued = {c["refresh_fingerprint"]: c["username"] for c in sim_state["chains"] if c["client_id"] == CLIENT_ID and c["state"] == "alive"}
        assert len(issued) == INVITEES
        by_connection = {r[1]: fingerprint(landing.open_sealed(key, r[0], r[1], r[2])["refresh_token"]) for r in rows}
        assert {issued[f] for f in by_connection.values()} == {p["username"] for p in people}
        assert all(issued[by_connection["client-%03d" % n]] == people[n]["username"] for n in range(INVITEES))

        # And the controller imports all 200 in one pass, as refresh.yml does first.
        began = time.monotonic()
        imported = collect_many(store, conns, False)
        results["controller_import_s"] = round(time.monotonic() - began, 2)
        assert imported.warnings == [] and imported.result["landing_failures"] == []
        assert sorted(c["connection"] for c in imported.result["collected"]) == [c.name for c in conns]
        assert consent.open_landings(store) == []
        assert all(store.read(c.name).data["tokens"]["refresh_fingerprint"] == by_connection[c.name] for c in conns)

        results["total_s"] = round(time.monotonic() - test_began, 2)
        report(
            request,
            "consent service under load: %d invitees of %d connections, callbacks at once: all landed once in %.2f s wall; slowest callback -> "
            "landing %.3f s (client), %.3f s (service); %d errors; controller imported all in %.2f s; %.1f s in all"
            % (
                INVITEES,
                INVITEES,
                wall,
                slowest,
                results["slowest_callback_to_landing_service_s"],
                results["service_errors"],
                results["controller_import_s"],
                results["total_s"],
            ),
        )
        assert slowest < 30.0  # far inside Exact's 3 minutes for the code
    finally:
        pg.drop_database(dbname)
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "results.json"), "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, sort_keys=True)
