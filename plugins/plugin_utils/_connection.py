# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A connection's definition: the shared options, their argument spec, and their resolution
into a platform, concrete endpoints and a token store.

This plugin util is PRIVATE to the collection. It can change at any time without notice.
The options are documented once, in the ``preauth.oauth2.connection`` doc fragment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthClient
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import (
    PLATFORM_NAMES,
    Endpoints,
    Platform,
    check_endpoint_url,
    discovery_url,
    get_platform,
    normalize_country,
    resolve_endpoints,
)
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name

STORE_DIR_ENV = "PREAUTH_OAUTH2_STORE_DIR"
STORE_URL_ENV = "PREAUTH_OAUTH2_STORE_URL"
DEFAULT_STORE_DIR = "~/.local/share/preauth.oauth2/tokens"

# The options of a connection, in pieces, each documented by the doc fragment of the same name
# (plugins/doc_fragments/connection.py; tests/unit/test_docs_match_specs.py compares them).
# IDENTITY: which connection (fragment connection.identity).
IDENTITY_ARGS: dict[str, t.Any] = {
    "connection": {"type": "str", "required": True},
    "platform": {"type": "str", "required": True, "choices": list(PLATFORM_NAMES)},
    "client_id": {"type": "str", "required": True},
}
# PLATFORM: how to reach the platform and sign in (fragment connection).
PLATFORM_ARGS: dict[str, t.Any] = {
    "country": {"type": "str"},
    "tenant": {"type": "str"},
    "environment": {"type": "str"},
    "base_url": {"type": "str"},
    "client_secret": {"type": "str", "no_log": True},
    "redirect_uri": {"type": "str"},
    "scopes": {"type": "list", "elements": "str"},
    "endpoints": {
        "type": "dict",
        "options": {
            "authorize": {"type": "str"},
            "token": {"type": "str"},
            "revocation": {"type": "str"},
            "whoami": {"type": "str"},
        },
    },
    "issuer": {"type": "str"},
    "client_auth": {"type": "str", "choices": ["client_secret_post", "client_secret_basic"]},
}
# STORE: the token store (fragment connection.store).
STORE_ARGS: dict[str, t.Any] = {
    "store_dir": {"type": "path"},
    "store_url": {"type": "str"},
    "vault_id": {"type": "str"},
}
# HTTP: the HTTPS client (fragment connection.http).
HTTP_ARGS: dict[str, t.Any] = {
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "float", "default": 30.0},
}
CONNECTION_ARGS: dict[str, t.Any] = {**IDENTITY_ARGS, **PLATFORM_ARGS, **STORE_ARGS, **HTTP_ARGS}
# The keys of one inventory entry (preauth_connections) that describe the connection, and their spec: what
# token_refresh's list form and the access_token lookup take from an entry.
ENTRY_KEYS = (
    "platform",
    "country",
    "tenant",
    "environment",
    "base_url",
    "client_id",
    "client_secret",
    "redirect_uri",
    "scopes",
    "endpoints",
    "issuer",
    "client_auth",
)
ENTRY_SPEC: dict[str, t.Any] = {"connection": CONNECTION_ARGS["connection"], **{k: CONNECTION_ARGS[k] for k in ENTRY_KEYS}}


def store_args(**extra: t.Any) -> dict[str, t.Any]:
    """The store options, for actions that use the store without a connection definition."""
    spec = {k: dict(v) for k, v in STORE_ARGS.items()}
    spec.update(extra)
    return spec


def connection_args(**extra: t.Any) -> dict[str, t.Any]:
    spec = {k: dict(v) for k, v in CONNECTION_ARGS.items()}
    spec.update(extra)
    return spec


@dataclasses.dataclass
class Connection:
    name: str
    platform: Platform
    client_id: str
    client_secret: str | DeferredSecret | None
    redirect_uri: str | None
    scopes: tuple[str, ...]
    client_auth: str
    country: str | None
    tenant: str | None
    environment: str | None
    endpoints: Endpoints | None

    def secret(self) -> str | None:
        """The client secret's text, decrypting a deferred one now: the one way the flows read it."""
        if isinstance(self.client_secret, DeferredSecret):
            return self.client_secret.reveal()
        return self.client_secret

    @property
    def has_secret(self) -> bool:
        """Whether a client secret was given, without decrypting a deferred one (it counts as given)."""
        return bool(self.client_secret)

    @property
    def rotating(self) -> bool:
        """Treat a chain as rotating unless the platform is known not to rotate."""
        return self.platform.rotation != "non_rotating"

    def definition(self) -> dict[str, t.Any]:
        """What the store keeps about the connection: never the client secret."""
        ends = self.endpoints
        return {
            "platform": self.platform.name,
            "country": self.country,
            "tenant": self.tenant,
            "environment": self.environment,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scopes": list(self.scopes),
            "client_auth": self.client_auth,
            "authorize_url": ends.authorize if ends else None,
            "token_url": ends.token if ends else None,
            "revocation_url": ends.revocation if ends else None,
            "whoami_url": ends.whoami if ends else None,
            "base_url": ends.base if ends else None,
        }


def store_dir_of(params: t.Mapping[str, t.Any]) -> str:
    return str(params.get("store_dir") or os.environ.get(STORE_DIR_ENV) or DEFAULT_STORE_DIR)


def store_url_of(params: t.Mapping[str, t.Any]) -> str | None:
    """The PostgreSQL store's URL when one is chosen: the option, else the environment unless store_dir is set.

    One rule for modules and lookups: an option chooses over the environment; two options that both choose a store, or
    (without either option) both environment variables, are refused rather than one of them silently winning.
    """
    if params.get("store_url") and params.get("store_dir"):
        raise StoreError(
            "store_dir and store_url both choose a token store; set one of them (store_url for the PostgreSQL store that several "
            "controllers share, store_dir for a file store on this controller)"
        )
    if params.get("store_url"):
        return str(params["store_url"])
    if params.get("store_dir"):
        return None
    if os.environ.get(STORE_URL_ENV) and os.environ.get(STORE_DIR_ENV):
        raise StoreError(
            "the environment variables %s and %s are both set, and each chooses a token store; unset one of them, or choose the store "
            "with the store_dir or store_url option (the playbooks' preauth_store_dir or preauth_store_url), which wins over the "
            "environment" % (STORE_DIR_ENV, STORE_URL_ENV)
        )
    return os.environ.get(STORE_URL_ENV) or None


def open_store(params: t.Mapping[str, t.Any], vault: t.Any) -> VaultStore:
    """The token store the options choose: PostgreSQL (store_url) or a directory (store_dir)."""
    url = store_url_of(params)
    if url:
        # Imported only here: psycopg is needed only by those who choose this store.
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import PgTokenStore

        return PgTokenStore(url, vault, encrypt_vault_id=params.get("vault_id"))
    return FileTokenStore(store_dir_of(params), vault, encrypt_vault_id=params.get("vault_id"))


def new_client(params: t.Mapping[str, t.Any]) -> OAuthClient:
    """A client with the options' timeout and certificate checks; its caller closes it (``http_client`` does)."""
    return OAuthClient(timeout=float(params.get("timeout") or 30.0), validate_certs=bool(params.get("validate_certs", True)), ca_path=params.get("ca_path"))


@contextlib.contextmanager
def http_client(params: t.Mapping[str, t.Any], enabled: bool = True) -> t.Iterator[OAuthClient | None]:
    """``new_client`` for the length of a ``with`` block, closed at its end; None when not enabled (check mode sends nothing)."""
    client = new_client(params) if enabled else None
    try:
        yield client
    finally:
        if client is not None:
            client.close()


def resolve(params: t.Mapping[str, t.Any], client: OAuthClient | None) -> Connection:
    """Build the connection from the shared options; fetch a discovery document with ``client``.

    Without a client a generic connection that needs discovery has no endpoints, and so not the definition a store
    holds for it: check mode passes a client as well (a discovery document is a GET that changes nothing), and keeps
    it from the token requests instead.
    """
    name = check_connection_name(params["connection"])
    platform = get_platform(params["platform"])
    base_url = params.get("base_url")
    country = params.get("country")
    if country or not base_url:
        # A base_url (a test or proxy instance) stands in for the country's address.
        country = normalize_country(platform, country)
    explicit = {k: v for k, v in (params.get("endpoints") or {}).items() if v}
    issuer = params.get("issuer")
    if issuer and platform.name != "generic":
        raise PreauthError("issuer is only used with platform generic; platform %s has its endpoints built in" % platform.name)
    needs_discovery = bool(issuer) and not ("authorize" in explicit and "token" in explicit)
    endpoints: Endpoints | None = None
    if not needs_discovery or client is not None:
        discovery = client.discover(discovery_url(issuer)) if issuer and needs_discovery and client is not None else None
        endpoints = resolve_endpoints(
            platform,
            country=country,
            tenant=params.get("tenant"),
            environment=params.get("environment"),
            base_url=base_url,
            endpoints=explicit or None,
            discovery=discovery,
            issuer=issuer,
            connection=name,
        )
    redirect_uri = params.get("redirect_uri")
    if redirect_uri:
        check_endpoint_url(redirect_uri, "redirect URI")
    scopes = params.get("scopes")
    return Connection(
        name=name,
        platform=platform,
        client_id=params["client_id"],
        client_secret=params.get("client_secret"),
        redirect_uri=redirect_uri,
        scopes=tuple(scopes if scopes is not None else platform.default_scopes),
        client_auth=params.get("client_auth") or platform.client_auth,
        country=country,
        tenant=params.get("tenant"),
        environment=params.get("environment"),
        endpoints=endpoints,
    )
