"""The consent service as it runs: waitress on 127.0.0.1, the real PostgreSQL with the service's restricted
role, the simulator as the platform, and one headless chromium (Debian's, through Playwright) per module.

Every secret here is obviously fake; the invitation tokens are random and collected for the leak scan."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import threading
import typing as t
import uuid

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.app import create_app
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import Config, load_apps
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.db import ConsentDb
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.serve import install_logging, make_server
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import landing
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.consent import grant_consent_role
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import PgTokenStore
from chains import VAULT
from helpers import report, walk_sign_in
from simulator import Simulator
from simulator.control import ControlClient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
SCREENSHOTS = os.path.join(ROOT, "build", "consent-screenshots")
CLIENT_ID = "consent-exact-client"
FAKE_CLIENT_SECRET = "FAKE-consent-client-secret-0123"
FAKE_DB_PASSWORD = "FAKE-consent-db-password-4567"
FAKE_SERVICE_KEY = b"FAKE-consent-service-key-for-tests-only-89abcdef"


class Service:
    """One running consent service and what the tests need around it."""

    def __init__(self, pg: t.Any, dbname: str, sim: t.Any, url: str, log: io.StringIO, apps: dict[str, t.Any]) -> None:
        self.pg, self.dbname, self.sim, self.url, self.log, self.apps = pg, dbname, sim, url, log, apps
        self.control = ControlClient(sim.base_url)
        self.authorize_url = sim.base_url + "/nl/api/oauth2/auth"
        self.token_url = sim.base_url + "/nl/api/oauth2/token"
        self.tokens: list[str] = []  # every invitation token made, for the leak scan
        self.pages: dict[str, str] = {}  # screenshot name -> the page's HTML
        self.private_key = ""
        self.role = ""
        self.tmp = ""
        self.db_url = ""
        self.config: t.Any = None
        self.timings: list[float] = []
        self.client_id = CLIENT_ID
        self.fake_client_secret = FAKE_CLIENT_SECRET
        self.fake_db_password = FAKE_DB_PASSWORD
        self.fake_service_key = FAKE_SERVICE_KEY
        self.screenshots = SCREENSHOTS

    report = staticmethod(report)

    def owner(self) -> t.Any:
        return self.pg.connect(self.dbname, autocommit=True)

    def request(self, **overrides: t.Any) -> dict[str, t.Any]:
        found = {
            "format": 1,
            "platform": "exact_online",
            "platform_title": "Exact Online",
            "country": "nl",
            "client_id": CLIENT_ID,
            "app": "Acme Data Replicator",
            "scopes": [],
            "authorize_url": self.authorize_url,
            "token_url": self.token_url,
            "client_auth": "client_secret_post",
            "pkce": True,
            "authorize_params": {"force_login": "1"},
            "operator": {"company": "Acme Accountants B.V.", "contact": "ops@acme.example"},
            "allows": "Read and write the administration of Acme Retail in Exact Online, for the data replicator of Acme Accountants.",
        }
        found.update(overrides)
        return found

    def invite(
        self, connection: str = "acme-nl", *, days: float = 7, revoked: bool = False, invitee: dict[str, t.Any] | None = None, **request: t.Any
    ) -> tuple[str, str]:
        """A new invitation inserted as the store's owner: (link token, invitation id)."""
        token = secrets.token_urlsafe(32)
        self.tokens.append(token)
        ident = str(uuid.uuid4())
        invitee = (
            invitee if invitee is not None else {"first_name": "Bea", "last_name": "Boekhouder", "email": "bea@retail.example", "company": "Acme Retail B.V."}
        )
        with self.owner() as conn:
            conn.execute(
                "INSERT INTO preauth_oauth2_invitation (id, connection, token_sha256, created_by, expires_at, revoked_at, invitee, request) "
                "VALUES (%s, %s, %s, 'tests', now() + make_interval(secs => %s), %s, %s, %s)",
                (
                    ident,
                    connection,
                    hashlib.sha256(token.encode()).hexdigest(),
                    days * 86400,
                    datetime.datetime.now(datetime.timezone.utc) if revoked else None,
                    json.dumps(invitee),
                    json.dumps(self.request(**request)),
                ),
            )
        return token, ident

    def link(self, token: str) -> str:
        return self.url + "/i/" + token

    def row(self, ident: str) -> dict[str, t.Any]:
        with self.owner() as conn:
            conn.row_factory = psycopg.rows.dict_row
            return t.cast("dict[str, t.Any]", conn.execute("SELECT * FROM preauth_oauth2_invitation WHERE id = %s", (ident,)).fetchone())

    def landing(self, ident: str) -> dict[str, t.Any] | None:
        with self.owner() as conn:
            conn.row_factory = psycopg.rows.dict_row
            return t.cast("dict[str, t.Any] | None", conn.execute("SELECT * FROM preauth_oauth2_landing WHERE invitation = %s", (ident,)).fetchone())

    def attempts(self, ident: str) -> int:
        with self.owner() as conn:
            return int(conn.execute("SELECT count(*) FROM preauth_oauth2_attempt WHERE invitation = %s", (ident,)).fetchone()[0])

    def shot(self, page: t.Any, name: str) -> None:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, name + ".png"), full_page=True)
        self.pages[name] = page.content()

    def sign_in(self, page: t.Any, decision: str = "allow", final: str = "**/p/success") -> None:
        """Walk the simulator's sign-in pages as a person does: user name and password, the second factor, Allow or Deny."""
        walk_sign_in(page, decision, final)


@pytest.fixture(scope="module")
def service(pg: t.Any) -> t.Iterator[Service]:
    dbname = "consent_%s" % os.urandom(5).hex()
    role = "consent_%s" % os.urandom(4).hex()
    url = pg.create_database(dbname)
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = pg.password
    tmp = os.path.join(ROOT, "build", "consent-test-%s" % os.urandom(4).hex())
    os.makedirs(tmp)
    handler = None
    try:
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(FAKE_DB_PASSWORD)))
        grant_consent_role(PgTokenStore(url, VAULT), role)
        public, private = landing.new_key_pair()
        with pg.connect(dbname, autocommit=True) as conn:
            conn.execute("INSERT INTO preauth_oauth2_landing_key (id, public_key, private_key) VALUES (1, %s, '(the tests keep it in memory)')", (public,))
        with Simulator(control=True) as sim:
            secret_file = os.path.join(tmp, "client-secret")
            with open(secret_file, "w") as handle:
                handle.write(FAKE_CLIENT_SECRET + "\n")
            apps_file = os.path.join(tmp, "apps.json")
            with open(apps_file, "w") as handle:
                json.dump(
                    {
                        CLIENT_ID: {
                            "secret_file": secret_file,
                            "authorize_url": sim.base_url + "/nl/api/oauth2/auth",
                            "token_url": sim.base_url + "/nl/api/oauth2/token",
                        }
                    },
                    handle,
                )
            log = io.StringIO()
            handler = install_logging(logging.StreamHandler(log))
            db_url = "postgresql://%s:%s@127.0.0.1:%d/%s" % (role, FAKE_DB_PASSWORD, pg.port, dbname)
            db = ConsentDb(db_url)
            # The port first (0: any free one), then the public URL that the simulator must know as the redirect URI.
            config = Config(
                public_url="http://127.0.0.1:0",
                apps=load_apps(apps_file),
                secret_key=FAKE_SERVICE_KEY,
                secure_cookies=False,
                rate_burst=1000,
                rate_per_second=100,
            )
            server = make_server(create_app(config, db), "127.0.0.1", 0)
            config.public_url = "http://127.0.0.1:%d" % int(server.effective_port)
            ControlClient(sim.base_url).add_client(client_id=CLIENT_ID, client_secret=FAKE_CLIENT_SECRET, redirect_uris=[config.redirect_uri], profile="exact")
            thread = threading.Thread(target=server.run, daemon=True, name="consent-service")
            thread.start()
            found = Service(pg, dbname, sim, config.public_url, log, config.apps)
            found.private_key = private
            found.role = role
            found.tmp = tmp
            found.db_url = db_url
            found.config = config
            yield found
            server.task_dispatcher.shutdown()
            server.close()
            db.close()
    finally:
        for name in ("preauth.oauth2.consent", "waitress"):
            if handler is not None:
                logging.getLogger(name).removeHandler(handler)
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved
        pg.drop_database(dbname)
        with pg.admin_connect() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> t.Iterator[t.Any]:
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: run tools/system-deps.sh test (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: t.Any) -> t.Iterator[t.Any]:
    context = browser.new_context(locale="en-GB", extra_http_headers={"Accept-Language": "en-GB,en;q=0.9"})
    context.set_default_timeout(15000)
    try:
        yield context.new_page()
    finally:
        context.close()
