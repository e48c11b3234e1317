"""The consent service's rules one at a time: Flask's test client on the real database (the service's
restricted role), and the pure helpers (apps file, invitation checks, rate limiter, log hiding, CLI)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import subprocess
import sys

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent import i18n
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.app import RateLimiter, create_app, csrf_ok, csrf_token, pkce_verifier, shown_path
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import ConsentConfigError, parse_apps, public_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.db import ConsentDb
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.invitation import Refused, plan
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.serve import HidingFilter, hide
from helpers import COLLECTIONS

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))


@pytest.fixture(scope="module")
def client(service):
    config = dataclasses.replace(service.config, rate_burst=1000)
    db = ConsentDb(service.db_url)
    app = create_app(config, db)
    yield app.test_client()
    db.close()


def form_of(client, token, **values):
    page = client.get("/i/" + token).get_data(as_text=True)
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    found = {"csrf": csrf, "first_name": "A", "last_name": "B", "job_title": "C", "email": "a@b.example", "company": "D", "consent": "yes"}
    found.update(values)
    return found


def test_the_form_needs_a_valid_csrf_token_of_this_invitation(service, client):
    token, ident = service.invite("acme-csrf")
    other, _ident = service.invite("acme-csrf-other")
    form = form_of(client, other)
    answer = client.post("/i/" + token, data=form)
    assert answer.status_code == 400 and "This form has expired" in answer.get_data(as_text=True)
    answer = client.post("/i/" + token, data=dict(form, csrf="1.00"))
    assert answer.status_code == 400
    assert service.attempts(ident) == 0
    answer = client.post("/i/" + token, data=form_of(client, token))
    assert answer.status_code == 303 and answer.headers["Location"].startswith(service.authorize_url + "?")
    assert service.attempts(ident) == 1
    # Chrome checks form-action on the redirect after the POST: the platform's origin is allowed on this page only.
    csp = answer.headers["Content-Security-Policy"]
    assert "form-action 'self' %s;" % service.sim.base_url in csp


def test_the_authorization_url_has_pkce_and_the_service_redirect_uri_whatever_the_row_says(service, client):
    token, _ident = service.invite(
        "acme-params", authorize_params={"redirect_uri": "https://attacker.example/cb", "state": "x", "prompt": "login", "bad key": "1"}
    )
    answer = client.post("/i/" + token, data=form_of(client, token))
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["redirect_uri"] == [service.url + "/callback"] and query["client_id"] == [service.client_id]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["prompt"] == ["login"] and query["force_login"] == ["1"] and "bad key" not in query
    assert query["state"][0] != "x" and len(query["state"][0]) >= 43


def test_bad_form_values_are_refused_with_the_field_named(service, client):
    token, ident = service.invite("acme-form")
    answer = client.post("/i/" + token, data=form_of(client, token, email="not-an-address", first_name="x" * 201, consent=""))
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Give a business e-mail address" in text and "At most 200 characters." in text and "Tick the box" in text
    assert service.attempts(ident) == 0


def test_invitation_texts_are_escaped(service, client):
    token, _ident = service.invite("acme-xss", app="<script>alert(1)</script>", allows="<img src=x onerror=alert(1)>")
    text = client.get("/i/" + token).get_data(as_text=True)
    assert "<script>alert" not in text and "<img src=x" not in text and "&lt;script&gt;" in text


def test_language_from_accept_language_cookie_and_switch(service, client):
    token, _ident = service.invite("acme-lang")
    assert 'lang="nl"' in client.get("/i/" + token, headers={"Accept-Language": "nl-NL,nl;q=0.9"}).get_data(as_text=True)
    answer = client.get("/i/" + token + "?lang=en", headers={"Accept-Language": "nl"})
    assert 'lang="en"' in answer.get_data(as_text=True)
    cookie = answer.headers["Set-Cookie"]
    assert "lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert 'lang="en"' in client.get("/i/" + token, headers={"Accept-Language": "nl"}).get_data(as_text=True)
    client.delete_cookie("lang")
    # The operator's language for the invitee, when the browser has no choice made here.
    token, _ident = service.invite("acme-lang-nl", invitee={"language": "nl"})
    assert 'lang="nl"' in client.get("/i/" + token).get_data(as_text=True)


def test_every_key_of_the_catalog_is_in_both_languages():
    assert set(i18n.CATALOG["en"]) == set(i18n.CATALOG["nl"])
    assert i18n.text("fr", "close") == i18n.CATALOG["en"]["close"]


def test_headers_on_every_kind_of_answer(service, client):
    token, _ident = service.invite("acme-headers")
    answers = [
        client.get("/i/" + token),
        client.get("/nowhere"),
        client.get("/static/style.css"),
        client.get("/p/deny"),
        client.get("/healthz"),
        client.post("/i/" + token, data="x" * 20000, content_type="application/x-www-form-urlencoded"),
        client.put("/callback"),
    ]
    assert [a.status_code for a in answers] == [200, 404, 200, 200, 200, 413, 405]
    for answer in answers:
        assert answer.headers["Referrer-Policy"] == "no-referrer" and answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "Server" not in answer.headers or "Werkzeug" not in answer.headers.get("Server", "")


def test_look_ups_are_rate_limited_per_address(service):
    db = ConsentDb(service.db_url)
    try:
        app = create_app(dataclasses.replace(service.config, rate_burst=3, rate_per_second=0.001), db)
        client = app.test_client()
        codes = [client.get("/i/" + "A" * 43).status_code for _look in range(5)]
        assert codes == [404, 404, 404, 429, 429]
        assert "Too many requests" in client.get("/i/x").get_data(as_text=True)
        assert client.get("/i/x", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 404
        # Behind a trusted proxy the address is the proxy's last X-Forwarded-For entry; without trust the header is ignored.
        assert client.get("/i/x", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
        trusted = create_app(dataclasses.replace(service.config, rate_burst=1, rate_per_second=0.001, trusted_proxy=True), db).test_client()
        assert trusted.get("/i/x", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
        assert trusted.get("/i/x", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
        assert trusted.get("/i/x", headers={"X-Forwarded-For": "198.51.100.1, 198.51.100.2"}).status_code == 404
    finally:
        db.close()


def test_the_rate_limiter_keeps_a_bounded_number_of_addresses():
    limiter = RateLimiter(rate=1.0, burst=2, size=100)
    for n in range(1000):
        limiter.allow("10.0.%d.%d" % (n // 256, n % 256), now=0.0)
    assert len(limiter.buckets) == 100
    assert limiter.allow("a", 0.0) and limiter.allow("a", 0.0) and not limiter.allow("a", 0.0) and limiter.allow("a", 1.0)


def test_csrf_tokens_and_verifiers():
    key = b"k" * 32
    token = csrf_token(key, "a" * 64, now=1000.0)
    assert csrf_ok(key, "a" * 64, token, now=1000.0 + 60)
    assert not csrf_ok(key, "b" * 64, token, now=1000.0 + 60)
    assert not csrf_ok(key, "a" * 64, token, now=1000.0 + 3 * 3600)
    assert not csrf_ok(b"j" * 32, "a" * 64, token, now=1000.0)
    verifier = pkce_verifier(key, "state")
    assert len(verifier) == 43 and verifier == pkce_verifier(key, "state") != pkce_verifier(key, "other")


def test_logs_never_show_the_link_token_state_or_code():
    assert shown_path("/i/abcdefghijklmnopqrstuvwxyz") == "/i/(hidden)"
    assert (
        hide("GET /i/AbC_-123 and /callback?code=X%21Y&state=S1 body code_verifier=V")
        == "GET /i/(hidden) and /callback?code=(hidden)&state=(hidden) body code_verifier=(hidden)"
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(HidingFilter())
    logger = logging.getLogger("test.consent.hiding")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("while serving /i/SECRETTOKEN123456?code=SECRETCODE")
    except ValueError:
        logger.exception("Exception while serving %s", "/i/SECRETTOKEN123456")
    assert "SECRET" not in stream.getvalue() and "/i/(hidden)" in stream.getvalue()


def test_apps_file_and_public_url_are_checked(tmp_path):
    with pytest.raises(ConsentConfigError, match="needs secret_file"):
        parse_apps({"app1": {}}, "apps.yml")
    with pytest.raises(ConsentConfigError, match="unknown settings: secret"):
        parse_apps({"app1": {"secret_file": "/x", "secret": "FAKE"}}, "apps.yml")
    with pytest.raises(ConsentConfigError, match="is not HTTPS"):
        parse_apps({"apps": {"app1": {"secret_file": "/x", "token_url": "http://example.com/token"}}}, "apps.yml")
    assert public_url("https://consent.example.com/") == "https://consent.example.com"
    with pytest.raises(ConsentConfigError):
        public_url("http://consent.example.com")


def test_a_hostile_row_is_refused(service):
    config = service.config
    row = {"connection": "acme-nl", "invitee": {}, "request": service.request()}
    assert plan(row, config).token_url == service.token_url
    for change, message in (
        ({"format": 2}, "another version"),
        ({"client_id": "other"}, "not configured on the consent service"),
        ({"token_url": "https://attacker.example/token"}, "token_url of the invitation"),
        ({"authorize_url": "https://attacker.example/auth"}, "authorize_url of the invitation"),
        ({"platform": "nonsense"}, "unknown platform"),
        ({"scopes": ["a b"]}, "scopes"),
    ):
        with pytest.raises(Refused, match=message):
            plan(dict(row, request=service.request(**change)), config)


def test_the_command_line_never_prints_the_database_password(tmp_path):
    apps = tmp_path / "apps.json"
    apps.write_text(json.dumps({"c": {"secret_file": str(tmp_path / "secret")}}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [
        sys.executable,
        "-m",
        "ansible_collections.preauth.oauth2.plugins.plugin_utils._consent",
        "--listen",
        "127.0.0.1:bad",
        "--public-url",
        "http://127.0.0.1:1",
        "--apps",
        str(apps),
        "--database-url",
        "postgresql://svc:FAKE-cli-password@127.0.0.1:1/db",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2 and "--listen must be HOST:PORT" in done.stderr
    assert "FAKE-cli-password" not in done.stdout + done.stderr
    help_text = subprocess.run(argv[:3] + ["--help"], capture_output=True, text=True, env=env, timeout=60, check=False).stdout
    assert "--database-url" in help_text and "--trusted-proxy" in help_text


def test_an_invitation_takes_a_bounded_number_of_sign_ins_at_once(service, client):
    token, ident = service.invite("acme-attempts")
    form = form_of(client, token)
    codes = [client.post("/i/" + token, data=form).status_code for _post in range(21)]
    assert codes == [303] * 20 + [429]
    assert service.attempts(ident) == 20


def test_the_command_runs_the_service_under_waitress(service, tmp_path):
    import socket
    import time

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url_file = tmp_path / "database-url"
    url_file.write_text(service.db_url + "\n")
    key_file = tmp_path / "key"
    key_file.write_bytes(os.urandom(48))
    apps = tmp_path / "apps.json"
    apps.write_text(
        json.dumps({service.client_id: {"secret_file": str(tmp_path / "secret"), "authorize_url": service.authorize_url, "token_url": service.token_url}})
    )
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [
        sys.executable,
        "-m",
        "ansible_collections.preauth.oauth2.plugins.plugin_utils._consent",
        "--listen",
        "127.0.0.1:%d" % port,
        "--public-url",
        "http://127.0.0.1:%d" % port,
        "--apps",
        str(apps),
        "--database-url-file",
        str(url_file),
        "--secret-key-file",
        str(key_file),
        "--insecure-cookies",
    ]
    token, _ident = service.invite("acme-cli")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get("http://127.0.0.1:%d/healthz" % port, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, "the service did not start"
                time.sleep(0.1)
        assert answer.text == "ok\n"
        page = requests.get("http://127.0.0.1:%d/i/%s" % (port, token), timeout=5)
        assert page.status_code == 200 and "Give Acme Data Replicator access" in page.text
        assert "Server" not in page.headers
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert "consent service on http://127.0.0.1:%d" % port in err and "GET /i/(hidden) 200" in err
    assert service.fake_db_password not in out + err and token not in out + err


def test_a_database_that_cannot_be_reached_gives_an_error_page_without_the_password(service):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(HidingFilter())
    logger = logging.getLogger("preauth.oauth2.consent")
    logger.addHandler(handler)
    db = ConsentDb("postgresql://nobody:FAKE-unreachable-password@127.0.0.1:1/db", connect_timeout=2)
    try:
        client = create_app(service.config, db).test_client()
        answer = client.get("/i/" + "B" * 43)
        assert answer.status_code == 503 and "Something went wrong" in answer.get_data(as_text=True)
        assert answer.headers["Cache-Control"] == "no-store"
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "database error (reference" in logged and "postgresql://nobody@127.0.0.1:1/db" in logged
    assert "FAKE-unreachable-password" not in logged + answer.get_data(as_text=True) and "B" * 43 not in logged


def test_cookies_are_secure_unless_turned_off(service):
    db = ConsentDb(service.db_url)
    try:
        client = create_app(dataclasses.replace(service.config, secure_cookies=True), db).test_client()
        cookie = client.get("/p/deny?lang=nl").headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        db.close()


def test_an_apps_file_in_yaml(tmp_path):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import load_apps

    path = tmp_path / "apps.yml"
    path.write_text("apps:\n  my-client:\n    secret_file: /etc/consent/my-client.secret\n    platform: exact_online\n")
    apps = load_apps(str(path))
    assert list(apps) == ["my-client"] and apps["my-client"].platform == "exact_online" and repr(apps["my-client"]) == "App('my-client')"
    path.write_text("apps: [")
    with pytest.raises(ConsentConfigError, match="not valid YAML"):
        load_apps(str(path))


def test_a_relative_secret_file_is_a_systemd_credential_or_beside_the_apps_file(tmp_path, monkeypatch):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import load_apps

    path = tmp_path / "apps.yml"
    path.write_text("apps:\n  my-client:\n    secret_file: app-1\n")
    (tmp_path / "app-1").write_text("FAKE-beside-secret\n")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert load_apps(str(path))["my-client"].secret() == "FAKE-beside-secret"
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "app-1").write_text("FAKE-credential-secret")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_apps(str(path))["my-client"].secret() == "FAKE-credential-secret"
    (credentials / "app-1").write_text("")
    with pytest.raises(ConsentConfigError, match="is empty or too large") as caught:
        load_apps(str(path))["my-client"].secret()
    assert "FAKE" not in str(caught.value)
