"""Resolving a connection against a discovery document served over a real socket, including a hostile one.

A discovery document decides where the authorization code and the client secret go, so it is
believed only for the issuer it was fetched for and only for endpoints on that issuer's origin.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import typing as t

import pytest

from action_runner import given, run_action
from ansible_collections.preauth.oauth2.plugins.action.authorization_url import ActionModule as AuthorizationUrl
from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, http_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
from chains import VAULT, begin, preauthenticate, stored, strict_params


class _Provider(http.server.ThreadingHTTPServer):
    document: dict[str, t.Any]
    seen: list[tuple[str, str]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Provider

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - the base class's signature
        return

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path))

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._record()
        body = json.dumps(self.server.document).encode() if self.path == "/idp/.well-known/openid-configuration" else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def _serving() -> t.Iterator[_Provider]:
    server = _Provider(("127.0.0.1", 0), _Handler)
    server.document, server.seen = {}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def provider() -> t.Iterator[_Provider]:
    """A discovery server whose document a test writes; it records every request it gets."""
    with _serving() as server:
        yield server


@pytest.fixture
def collector() -> t.Iterator[_Provider]:
    """Another origin that would like to receive codes and client secrets."""
    with _serving() as server:
        yield server


def url_of(server: _Provider) -> str:
    return "http://127.0.0.1:%d" % server.server_address[1]


def honest(issuer: str) -> dict[str, t.Any]:
    return {"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token", "userinfo_endpoint": issuer + "/me"}


def test_a_document_on_the_issuers_origin_is_used(sim, tmp_path, provider):
    issuer = url_of(provider) + "/idp"
    provider.document = honest(issuer)
    conn = resolve(strict_params(sim, tmp_path, issuer=issuer), new_client({"timeout": 5.0}))
    assert (conn.endpoints.authorize, conn.endpoints.token, conn.endpoints.whoami) == (issuer + "/authorize", issuer + "/token", issuer + "/me")


def test_a_token_endpoint_on_another_origin_never_gets_the_code_or_the_secret(sim, tmp_path, provider, collector):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    chain = stored(p)
    issuer = url_of(provider) + "/idp"
    provider.document = dict(honest(issuer), token_endpoint=url_of(collector) + "/token")
    hostile = dict(p, issuer=issuer)
    expected = (
        "connection crm: the discovery document of issuer %s gives the token endpoint %s/token, which is on another origin (scheme, "
        "host, port) than the issuer, so it is not used: it would receive the authorization code and the client secret. If your "
        "provider really serves it there, set endpoints.token to it explicitly" % (issuer, url_of(collector))
    )
    with pytest.raises(PreauthError) as info:
        begin(hostile)
    assert str(info.value) == expected
    assert p["client_secret"] not in str(info.value)
    assert collector.seen == [] and provider.seen == [("GET", "/idp/.well-known/openid-configuration")]
    assert stored(p) == chain  # the chain stored earlier is untouched, no pending attempt was made
    # Named explicitly, the other origin is the user's choice.
    chosen = resolve(dict(hostile, endpoints={"token": url_of(collector) + "/token"}), new_client({"timeout": 5.0}))
    assert chosen.endpoints.token == url_of(collector) + "/token" and chosen.endpoints.authorize == issuer + "/authorize"


def test_a_document_that_names_another_issuer_is_not_used(sim, tmp_path, provider, collector):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    chain = stored(p)
    issuer = url_of(provider) + "/idp"
    provider.document = honest(url_of(collector) + "/idp")
    with pytest.raises(PreauthError) as info:
        begin(dict(p, issuer=issuer))
    assert str(info.value) == (
        "connection crm: the discovery document of issuer %s names '%s/idp' as its issuer; they must be identical (RFC 8414 "
        "section 3.3, OpenID Connect Discovery section 4.3), so none of its endpoints are used. Set issuer to exactly the "
        "provider's issuer URL, or give endpoints.authorize and endpoints.token explicitly" % (issuer, url_of(collector))
    )
    assert collector.seen == [] and stored(p) == chain


def test_the_action_names_the_connection_once_in_a_discovery_failure(sim, tmp_path, provider, collector):
    issuer = url_of(provider) + "/idp"
    provider.document = honest(url_of(collector) + "/idp")
    result = run_action(AuthorizationUrl, given(strict_params(sim, tmp_path, issuer=issuer)))
    assert result["failed"] is True
    assert result["msg"].startswith("connection crm: the discovery document of issuer %s names " % issuer)

# -- the HTTP client of a task and the client secret -----------------------------------------------


def test_open_client_closes_the_client_at_the_end_of_the_block_also_after_an_error(sim):
    with http_client({"timeout": 5.0}) as client:
        assert client is not None and client.timeout == 5.0
        client._session(sim.base_url)
        assert client.sessions
    assert client.sessions == {}
    with pytest.raises(PreauthError), http_client({}) as failing:
        assert failing is not None
        failing._session(sim.base_url)
        raise PreauthError("stop")
    assert failing.sessions == {}


def test_open_client_gives_no_client_when_not_enabled():
    with http_client({"timeout": 5.0}, enabled=False) as client:
        assert client is None


def test_a_deferred_secret_counts_as_given_without_being_decrypted(sim, tmp_path):
    def never() -> str:
        raise AssertionError("decrypted")

    p = strict_params(sim, tmp_path, endpoints={"authorize": sim.base_url + "/strict/authorize", "token": sim.base_url + "/strict/token"})
    assert resolve(dict(p, client_secret=DeferredSecret(never)), None).has_secret is True
    assert resolve(dict(p, client_secret=""), None).has_secret is False
    assert resolve(dict(p, client_secret=None), None).has_secret is False
    assert resolve(p, None).has_secret is True


# -- check mode predicts a real run; one rule for choosing the store ---------------------------------------------------


def test_check_mode_reads_the_discovery_document_and_predicts_what_a_real_run_does(sim, tmp_path, control):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    store = open_store(p, VAULT)
    before = store.read(p["connection"]).source
    calls = control.state()["token_requests_total"]
    args = dict(given(p), force=True)
    checked = run_action(TokenRefresh, args, check_mode=True)
    assert not checked.get("failed"), checked["msg"]
    assert (checked["status"], checked["reason"]) == ("refreshed", "would_refresh")
    assert checked["msg"] == "check mode: 1 would be refreshed, 0 unchanged, 0 skipped, 0 failed; nothing was sent or written"
    assert "definition" not in checked["summary"][0]
    assert control.state()["token_requests_total"] == calls and store.read(p["connection"]).source == before
    real = run_action(TokenRefresh, args)
    assert not real.get("failed"), real["msg"]
    assert (real["status"], real["changed"]) == ("refreshed", True)
    unchanged = run_action(TokenRefresh, given(p), check_mode=True)
    assert (unchanged["status"], unchanged["changed"]) == ("unchanged", False), unchanged["msg"]


def test_check_mode_reports_a_discovery_that_fails_as_a_real_run_would(sim, tmp_path, control):
    p = strict_params(sim, tmp_path)
    preauthenticate(p)
    control.inject_fault("http_500_before", endpoint="discovery")
    checked = run_action(TokenRefresh, dict(given(p), fail_on_error=False), check_mode=True)
    assert checked["connections"][0]["status"] == "failed"
    assert checked["connections"][0]["msg"] == "the discovery document %s/strict/.well-known/openid-configuration answered HTTP 500" % sim.base_url


BOTH = "the environment variables PREAUTH_OAUTH2_STORE_DIR and PREAUTH_OAUTH2_STORE_URL are both set, and each chooses a token store"


def test_both_store_variables_in_the_environment_are_refused_and_an_option_wins_over_them(sim, tmp_path, monkeypatch):
    p = strict_params(sim, tmp_path)
    monkeypatch.setenv("PREAUTH_OAUTH2_STORE_DIR", str(tmp_path / "env-tokens"))
    monkeypatch.setenv("PREAUTH_OAUTH2_STORE_URL", "postgresql://preauth@127.0.0.1:1/nowhere")
    with pytest.raises(StoreError) as info:
        open_store(dict(p, store_dir=None, store_url=None), VAULT)
    assert str(info.value) == (
        BOTH + "; unset one of them, or choose the store with the store_dir or store_url option (the playbooks' preauth_store_dir or "
        "preauth_store_url), which wins over the environment"
    )
    result = run_action(TokenRefresh, {k: v for k, v in given(p).items() if k not in ("store_dir", "store_url")})
    assert result["failed"] and BOTH in result["msg"]
    assert isinstance(open_store(dict(p, store_dir=str(tmp_path / "tokens"), store_url=None), VAULT), FileTokenStore)
    monkeypatch.delenv("PREAUTH_OAUTH2_STORE_URL")
    assert open_store(dict(p, store_dir=None, store_url=None), VAULT).location == str(tmp_path / "env-tokens")
