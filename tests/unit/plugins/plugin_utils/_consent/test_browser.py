"""The consent service walked in a real browser (Debian's chromium, headless, through Playwright): every page,
in English and Dutch, against the simulator's sign-in with its second factor, with the service under
waitress and the real PostgreSQL as the service's restricted role. Screenshots: build/consent-screenshots/."""

from __future__ import annotations

import json
import os
import time
import typing as t
import urllib.parse

import psycopg
import pytest
import requests

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import landing

HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
CSP_PARTS = ("default-src 'none'", "style-src 'self'", "img-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'")


def watch_headers(page: t.Any, service: t.Any, seen: list[tuple[str, dict[str, str]]]) -> None:
    """Keep the headers of every answer of the service this page receives."""

    def keep(response: t.Any) -> None:
        if response.url.startswith(service.url):
            seen.append((response.url, response.all_headers()))

    page.on("response", keep)


def assert_secure_headers(seen: list[tuple[str, dict[str, str]]]) -> None:
    assert seen
    for url, headers in seen:
        for name, value in HEADERS.items():
            assert headers.get(name) == value, (urllib.parse.urlsplit(url).path[:3], name)
        csp = headers.get("content-security-policy", "")
        assert all(part in csp for part in CSP_PARTS), csp
        assert "unsafe-inline" not in csp and "script-src" not in csp


def fill_and_continue(page: t.Any, job_title: str = "Controller") -> None:
    page.fill("#job_title", job_title)
    page.check("#consent")
    with page.expect_navigation(url="**/api/oauth2/auth**"):
        page.click("#continue")


def test_invitation_in_english_and_dutch_then_consent_lands(service, page, request):
    seen: list[tuple[str, dict[str, str]]] = []
    watch_headers(page, service, seen)
    token, ident = service.invite()
    page.goto(service.link(token))
    assert page.inner_text("h1") == "Give Acme Data Replicator access to Exact Online"
    assert "Acme Accountants B.V. asks you" in page.inner_text("#who")
    assert "ops@acme.example" in page.inner_text("#contact")
    assert "Read and write the administration" in page.inner_text("#allows")
    assert page.input_value("#first_name") == "Bea" and page.input_value("#email") == "bea@retail.example"
    assert page.input_value("#job_title") == ""
    service.shot(page, "01-invitation-en")

    page.click("#switch")
    page.wait_for_selector("html[lang=nl]")
    assert page.inner_text("h1") == "Geef Acme Data Replicator toegang tot Exact Online"
    assert page.input_value("#company") == "Acme Retail B.V."
    service.shot(page, "02-invitation-nl")

    # Without the consent box and the job title: the form comes back, in Dutch, with both marked.
    with page.expect_navigation():
        page.click("#continue")
    assert "Verbeter de gemarkeerde velden" in page.inner_text("#errors")
    assert "Verplicht." in page.inner_text("form") and "Vink het vakje aan" in page.inner_text("form")
    service.shot(page, "03-invitation-nl-errors")
    assert service.attempts(ident) == 0

    fill_and_continue(page)
    assert service.attempts(ident) == 1
    started = {}
    page.on("request", lambda req: started.setdefault("callback", time.monotonic()) if "/callback?" in req.url else None)
    service.sign_in(page)
    elapsed = time.monotonic() - started["callback"]
    assert "Het platform heeft toegang gegeven" in page.inner_text("main")
    service.shot(page, "04-success-nl")

    row = service.row(ident)
    assert row["used_at"] is not None and row["landed_at"] is not None
    consent = row["used_by"]
    assert {k: consent[k] for k in ("first_name", "last_name", "job_title", "email", "company")} == {
        "first_name": "Bea",
        "last_name": "Boekhouder",
        "job_title": "Controller",
        "email": "bea@retail.example",
        "company": "Acme Retail B.V.",
    }
    assert consent["address"] == "127.0.0.1" and "Chrome" in consent["user_agent"] and len(consent["user_agent"]) <= 300
    assert isinstance(consent["at"], float) and abs(consent["at"] - time.time()) < 120
    found = service.landing(ident)
    assert found is not None and found["connection"] == "acme-nl" and found["consent"] == consent
    payload = landing.open_sealed(service.private_key, ident, "acme-nl", found["sealed"])
    assert set(payload) == {"access_token", "refresh_token", "token_type", "scope", "expires_in", "received_at", "client_id", "redirect_uri", "token_url"}
    assert payload["refresh_token"] and payload["access_token"] and payload["client_id"] == service.client_id
    assert payload["redirect_uri"] == service.url + "/callback" and payload["token_url"] == service.token_url
    assert service.attempts(ident) == 0
    service.timings.append(elapsed)
    service.report(request, "consent service: callback -> landing stored -> success page in %.3f s (limit 2 s)" % elapsed)
    assert elapsed < 2.0

    # The link again: used.
    page.goto(service.link(token) + "?lang=en")
    assert page.inner_text("h1") == "This invitation was already used"
    service.shot(page, "05-used-en")
    assert_secure_headers(seen)


def test_deny_leaves_the_invitation_usable(service, page):
    token, ident = service.invite("acme-deny")
    page.goto(service.link(token))
    fill_and_continue(page)
    service.sign_in(page, "deny", final="**/p/deny")
    assert page.inner_text("h1") == "You declined"
    service.shot(page, "06-deny-en")
    assert service.attempts(ident) == 0 and service.row(ident)["used_at"] is None and service.landing(ident) is None
    page.goto(service.link(token))
    assert page.is_visible("#consent-form")


@pytest.mark.parametrize("case", ["expired", "revoked", "unknown", "malformed"])
def test_pages_for_links_that_cannot_be_used(service, page, case):
    seen: list[tuple[str, dict[str, str]]] = []
    watch_headers(page, service, seen)
    if case == "expired":
        token, _ident = service.invite("acme-expired", days=-1)
    elif case == "revoked":
        token, _ident = service.invite("acme-revoked", revoked=True)
    elif case == "unknown":
        token = "A" * 43
    else:
        token = "not a token!"
    answer = page.goto(service.link(urllib.parse.quote(token)))
    titles = {
        "expired": "This invitation has expired",
        "revoked": "This invitation was withdrawn",
        "unknown": "This link is not valid",
        "malformed": "This link is not valid",
    }
    assert page.inner_text("h1") == titles[case]
    assert answer.status == {"expired": 410, "revoked": 410, "unknown": 404, "malformed": 404}[case]
    service.shot(page, "07-%s-en" % case)
    page.click("#switch")
    page.wait_for_selector("html[lang=nl]")
    service.shot(page, "07-%s-nl" % case)
    assert_secure_headers(seen)


def test_two_tabs_racing_land_once(service, browser):
    token, ident = service.invite("acme-race")
    contexts = [browser.new_context(locale="en-GB") for _tab in range(2)]
    try:
        tabs = [context.new_page() for context in contexts]
        for tab in tabs:
            tab.goto(service.link(token))
            fill_and_continue(tab)
            tab.wait_for_selector("form#login")
            tab.fill("form#login input[name=username]", "accountant@example.test")
        # Both sign in up to the consent page, then both press Allow at once.
        from helpers import USER
        from simulator.totp import totp

        for tab in tabs:
            tab.fill("form#login input[name=password]", USER["password"])
            with tab.expect_navigation():
                tab.click("form#login button")
            tab.fill("form#mfa input[name=totp]", totp(USER["totp_secret"]))
            with tab.expect_navigation():
                tab.click("form#mfa button")
            tab.wait_for_selector("form#consent")
        for tab in tabs:
            tab.click("form#consent button[value=allow]", no_wait_after=True)
        for tab in tabs:
            tab.wait_for_url(lambda url: "/p/" in url)
        titles = sorted(tab.inner_text("h1") for tab in tabs)
        assert titles == ["Thank you: access was granted", "This invitation was already used"]
        service.shot(tabs[[tab.inner_text("h1") for tab in tabs].index("This invitation was already used")], "08-race-second-tab-used")
    finally:
        for context in contexts:
            context.close()
    with service.owner() as conn:
        assert conn.execute("SELECT count(*) FROM preauth_oauth2_landing WHERE invitation = %s", (ident,)).fetchone()[0] == 1
    assert service.attempts(ident) == 0


def start_attempt(service: t.Any, token: str) -> tuple[requests.Session, str]:
    """The form posted without a browser: the session and the authorization URL it is sent to."""
    session = requests.Session()
    answer = session.get(service.link(token))
    csrf = answer.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"csrf": csrf, "first_name": "Piet", "last_name": "Post", "job_title": "CFO", "email": "piet@retail.example", "company": "Retail", "consent": "yes"}
    answer = session.post(service.link(token), data=form, allow_redirects=False)
    assert answer.status_code == 303, answer.status_code
    return session, answer.headers["Location"]


def test_a_form_post_callback_lands(service):
    token, ident = service.invite("acme-form-post")
    session, url = start_attempt(service, token)
    landed = urllib.parse.urlsplit(service.control.login(url)["redirect_url"])
    values = dict(urllib.parse.parse_qsl(landed.query))
    assert set(values) == {"code", "state"}
    answer = session.post(service.url + "/callback", data=values, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/p/success"
    found = service.landing(ident)
    assert found is not None and landing.open_sealed(service.private_key, ident, "acme-form-post", found["sealed"])["refresh_token"]
    assert found["consent"]["first_name"] == "Piet"


def test_a_code_after_the_attempt_expired_is_too_late(service, page):
    token, ident = service.invite("acme-late")
    _session, url = start_attempt(service, token)
    with service.owner() as conn:
        conn.execute("UPDATE preauth_oauth2_attempt SET expires_at = now() - interval '1 minute' WHERE invitation = %s", (ident,))
    landed = service.control.login(url)["redirect_url"]
    page.goto(landed)
    assert page.url.endswith("/p/too-late") and page.inner_text("h1") == "The sign-in took too long"
    service.shot(page, "09-too-late-en")
    assert service.landing(ident) is None and service.row(ident)["used_at"] is None


def test_an_unknown_state_is_relayed(service, page):
    seen: list[tuple[str, dict[str, str]]] = []
    watch_headers(page, service, seen)
    landed = service.url + "/callback?code=FAKE-relay-code%21x&state=FAKE-relay-state"
    page.goto(landed)
    assert page.inner_text("h1") == "Copy this address"
    assert page.input_value("#landed") == landed
    service.shot(page, "10-relay-en")
    assert_secure_headers(seen)


def test_platform_errors_say_what_to_tell_the_operator(service, page):
    token, ident = service.invite("acme-other-app", client_id="not-configured-client")
    page.goto(service.link(token))
    assert page.inner_text("h1") == "Access could not be completed"
    assert "not-configured-client" in page.inner_text("#reason") and "not configured on the consent service" in page.inner_text("#reason")
    service.shot(page, "11-platform-error-app-en")

    token, ident = service.invite("acme-elsewhere", token_url="https://attacker.example/token")
    page.goto(service.link(token))
    assert "token_url of the invitation" in page.inner_text("#reason")

    # The token endpoint fails: a platform error, and the invitation stays usable.
    token, ident = service.invite("acme-500")
    page.goto(service.link(token) + "?lang=nl")
    fill_and_continue(page)
    service.control.inject_fault("http_500_before", endpoint="token")
    service.sign_in(page, final="**/callback**")
    assert page.inner_text("h1") == "De toegang kon niet worden voltooid"
    assert "HTTP 500" in page.inner_text("#reason")
    service.shot(page, "12-platform-error-exchange-nl")
    assert service.landing(ident) is None and service.row(ident)["used_at"] is None
    page.goto(service.link(token))
    assert page.is_visible("#consent-form")


def test_the_service_role_cannot_read_chains_or_the_private_key(service):
    url = "postgresql://%s@127.0.0.1:%d/%s" % (service.role, service.pg.port, service.dbname)
    for query in (
        "SELECT * FROM preauth_oauth2_chain",
        "SELECT private_key FROM preauth_oauth2_landing_key",
        "SELECT created_by FROM preauth_oauth2_invitation",
        "SELECT sealed FROM preauth_oauth2_landing",
    ):
        with psycopg.connect(url, password=service.fake_db_password, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_no_secret_in_logs_pages_or_tables(service, page, request):
    # One more full landing, so that the scan has codes, verifiers and tokens to look for even when this test runs alone.
    token, ident = service.invite("acme-scan")
    page.goto(service.link(token))
    fill_and_continue(page)
    service.sign_in(page)
    service.shot(page, "13-success-en")
    scan_dir = os.path.join(service.tmp, "scan")
    os.makedirs(scan_dir, exist_ok=True)
    with open(os.path.join(scan_dir, "service.log"), "w") as handle:
        handle.write(service.log.getvalue())
    for name, html in service.pages.items():
        if not name.startswith("10-relay"):  # the relay page shows what it was given: a fake code
            with open(os.path.join(scan_dir, name + ".html"), "w") as handle:
                handle.write(html)
    with service.owner() as conn:
        tables = {
            table: [repr(row) for row in conn.execute("SELECT * FROM %s" % table).fetchall()]
            for table in ("preauth_oauth2_invitation", "preauth_oauth2_attempt", "preauth_oauth2_landing")
        }
    with open(os.path.join(scan_dir, "tables.json"), "w") as handle:
        json.dump(tables, handle)
    result = service.control._call("POST", "/_sim/scan", {"paths": [scan_dir]})
    assert result["files"] >= 3 and result["values"] > 0
    assert result["leaks"] == []
    ours = service.tokens + [service.fake_client_secret, service.fake_db_password, service.fake_service_key.decode()]
    for name in os.listdir(scan_dir):
        with open(os.path.join(scan_dir, name)) as handle:
            text = handle.read()
        leaked = [i for i, value in enumerate(ours) if value in text or urllib.parse.quote(value) in text]
        assert leaked == [], name
    assert "/i/(hidden)" in service.log.getvalue() and "/callback" in service.log.getvalue()
    service.report(
        request,
        "consent service: leak scan of %d files (log, %d pages, 3 tables): %d secret values looked for, none found; screenshots in %s"
        % (result["files"], len(service.pages), result["values"] + len(ours), os.path.relpath(service.screenshots)),
    )


def test_many_invitees_at_once_each_land_once(service, request):
    import concurrent.futures

    invitations = [service.invite("acme-load-%02d" % n) for n in range(40)]

    def one(token: str) -> tuple[int, str, float]:
        session, url = start_attempt(service, token)
        landed = service.control.login(url)["redirect_url"]
        started = time.monotonic()
        answer = session.get(landed, allow_redirects=False)
        return answer.status_code, answer.headers.get("Location", ""), time.monotonic() - started

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, [token for token, _ident in invitations]))
    took = time.monotonic() - began
    assert [(status, where) for status, where, _s in results] == [(303, "/p/success")] * len(invitations)
    with service.owner() as conn:
        counts = conn.execute(
            "SELECT count(*), count(DISTINCT l.invitation) FROM preauth_oauth2_landing l JOIN preauth_oauth2_invitation i ON i.id = l.invitation "
            "WHERE i.connection LIKE 'acme-load-%%' AND i.used_at IS NOT NULL"
        ).fetchone()
    assert counts == (len(invitations), len(invitations))
    slowest = max(seconds for _status, _where, seconds in results)
    service.report(
        request,
        "consent service: %d invitees at once (20 in parallel): all landed once in %.2f s; slowest callback -> landing %.3f s"
        % (len(invitations), took, slowest),
    )
    assert slowest < 2.0
