"""Chains for tests: connection parameters, preauthentication through the simulator with the
scripted browser, and reading a store back - with real vault secrets, over real sockets."""

from __future__ import annotations

import atexit
import hashlib
import os
import typing as t

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import CONNECTION_ARGS, new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import complete, start
from helpers import EXACT, STRICT, TWINFIELD, USER
from simulator.browser import ScriptedBrowser

CONTACT = {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example.test", "company": "Example B.V."}
VAULT = VaultLib([("default", VaultSecret(b"FAKE-vault-password"))])

# PREAUTH_TEST_STORE=postgresql runs every test that builds its options here against the PostgreSQL
# store (a real server, one fresh database per test directory) instead of a file store.
STORE_BACKEND = os.environ.get("PREAUTH_TEST_STORE", "file")
_PG: dict[str, t.Any] = {}


def pg_server() -> t.Any:
    """The PostgreSQL server of this test process, started on first use and stopped at exit."""
    if "server" not in _PG:
        from pgserver import PostgresServer

        server = PostgresServer().start()
        atexit.register(server.cleanup)
        os.environ.update(server.env)  # PGPASSWORD, the way users give the store its password
        _PG["server"] = server
    return _PG["server"]


def pg_store_url(tmp_path: t.Any) -> str:
    """A fresh database for one test directory (the same one for every call with that directory)."""
    key = str(tmp_path)
    if key not in _PG:
        name = "t_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
        _PG[key] = pg_server().create_database(name)
    return str(_PG[key])


def store_options(tmp_path: t.Any) -> dict[str, t.Any]:
    if STORE_BACKEND == "postgresql":
        return {"store_dir": None, "store_url": pg_store_url(tmp_path)}
    return {"store_dir": str(tmp_path / "tokens")}


def params(sim, tmp_path, **overrides: t.Any) -> dict[str, t.Any]:
    found = {name: spec.get("default") for name, spec in CONNECTION_ARGS.items()}
    found.update(
        connection="acme-nl",
        platform="exact_online",
        country="nl",
        base_url=sim.base_url + "/nl",
        client_id=EXACT["client_id"],
        client_secret=EXACT["client_secret"],
        redirect_uri=EXACT["redirect_uris"][0],
        timeout=5.0,
        **store_options(tmp_path),
    )
    found.update(overrides)
    return found


def google_params(sim, tmp_path, **overrides: t.Any) -> dict[str, t.Any]:
    """A platform that does not rotate refresh tokens (Google), served by the simulator's OpenID server."""
    base = sim.base_url + "/strict"
    found = dict(
        connection="gmail",
        platform="google",
        country=None,
        base_url=None,
        client_id=STRICT["client_id"],
        client_secret=STRICT["client_secret"],
        endpoints={"authorize": base + "/authorize", "token": base + "/token", "revocation": base + "/revoke", "whoami": base + "/userinfo"},
        scopes=["openid", "offline_access"],
    )
    found.update(overrides)
    return params(sim, tmp_path, **found)


def twinfield_params(sim, tmp_path, **overrides: t.Any) -> dict[str, t.Any]:
    """Twinfield at the simulator: Basic client authentication only, a nonce, rotation not known."""
    base = sim.base_url + "/twinfield/auth/authentication/connect"
    found = dict(
        connection="tw",
        platform="twinfield",
        country=None,
        base_url=None,
        client_id=TWINFIELD["client_id"],
        client_secret=TWINFIELD["client_secret"],
        endpoints={"authorize": base + "/authorize", "token": base + "/token", "revocation": None, "whoami": base + "/userinfo"},
        scopes=["openid", "offline_access"],
    )
    found.update(overrides)
    return params(sim, tmp_path, **found)


def begin(p: dict[str, t.Any], check_mode: bool = False):
    client = new_client(p)
    return start(resolve(p, client), open_store(p, VAULT), check_mode, 900)


def finish(p: dict[str, t.Any], check_mode: bool = False, **kwargs: t.Any):
    client = None if check_mode else new_client(p)
    hidden: list[str] = []
    step = complete(
        resolve(p, client), open_store(p, VAULT), client, check_mode, kwargs.pop("contact", CONTACT), hide=lambda *v: hidden.extend(x for x in v if x), **kwargs
    )
    return step


def sign_in(url: str, decision: str = "allow") -> str:
    return ScriptedBrowser().login(url, USER["username"], USER["password"], USER["totp_secret"], decision)


def preauthenticate(p: dict[str, t.Any], **kwargs: t.Any):
    return finish(p, redirect_url=sign_in(begin(p).result["url"]), **kwargs)


def stored(p: dict[str, t.Any]) -> dict[str, t.Any]:
    return open_store(p, VAULT).read(p["connection"]).data


def strict_params(sim, tmp_path, **overrides: t.Any) -> dict[str, t.Any]:
    """A generic OpenID Connect connection on the simulator's rotating_strict server (discovery)."""
    found = {
        "connection": "crm",
        "platform": "generic",
        "country": None,
        "base_url": None,
        "issuer": sim.base_url + "/strict",
        "client_id": STRICT["client_id"],
        "client_secret": STRICT["client_secret"],
        "scopes": ["openid", "offline_access"],
    }
    found.update(overrides)
    return params(sim, tmp_path, **found)


# For the few tests that look at the file store's own files (paths, modes, its index file) or retry a
# lost answer at once (on PostgreSQL the in-flight marker waits for its "until"; tests/unit/plugins/plugin_utils/_store/test_postgresql.py covers it).
file_store_only = pytest.mark.skipif(STORE_BACKEND != "file", reason="about the file store itself")
