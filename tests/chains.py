"""Chains for tests: connection parameters, preauthentication through the simulator with the
scripted browser, and reading a store back - with real vault secrets, over real sockets."""

from __future__ import annotations

import typing as t

from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import CONNECTION_ARGS, http_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._preauth import complete, start
from conftest import EXACT, STRICT, TWINFIELD, USER
from simulator.browser import ScriptedBrowser

CONTACT = {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example.test", "company": "Example B.V."}
VAULT = VaultLib([("default", VaultSecret(b"FAKE-vault-password"))])


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
        store_dir=str(tmp_path / "tokens"),
        timeout=5.0,
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
    client = http_client(p)
    return start(resolve(p, client), open_store(p, VAULT), check_mode, 900)


def finish(p: dict[str, t.Any], check_mode: bool = False, **kwargs: t.Any):
    client = None if check_mode else http_client(p)
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
