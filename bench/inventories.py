"""Inventories for the benchmark, with every client secret vault-encrypted inline (``!vault``).

Variant (a) gets what playbooks/refresh.yml reads: ``preauth_store_dir`` and
``preauth_connections``; variant (d) the same connections without ``preauth_store_dir`` (its run
names the PostgreSQL store in ``PREAUTH_OAUTH2_STORE_URL``); the bare playbook (e) reads (a)'s.
Variants (b) and (c) get what a user without the collection would keep: ``oauth_token_dir``
and ``oauth_connections`` (name, token_url, client_id, client_secret).
Each connection's secret is encrypted on its own, as ``ansible-vault encrypt_string`` makes it.
"""

from __future__ import annotations

import os
import sys
import typing as t

import yaml
from chains import REDIRECT_URI, SCOPES, STRICT_CLIENT_ID, STRICT_CLIENT_SECRET, connection_name, endpoints


class _Vaulted(str):
    """Ciphertext that is written with the ``!vault`` tag."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|"))


def _hosts() -> dict[str, t.Any]:
    return {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}


def _write(path: str, doc: dict[str, t.Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.dump(doc, handle, Dumper=_Dumper, sort_keys=False, width=200)


def collection_inventory(path: str, sim_url: str, store_dir: str | None, n: int, vault: t.Any) -> None:
    """Variants (a) and (d): the collection's inventory format; without ``store_dir`` the store comes from the environment."""
    connections = [
        {
            "name": connection_name(i),
            "platform": "generic",
            "endpoints": endpoints(sim_url),
            "client_id": STRICT_CLIENT_ID,
            "client_secret": _Vaulted(vault.encrypt(STRICT_CLIENT_SECRET).decode()),
            "redirect_uri": REDIRECT_URI,
            "scopes": list(SCOPES),
        }
        for i in range(n)
    ]
    store = {"preauth_store_dir": store_dir} if store_dir is not None else {}
    _write(path, {"all": {"hosts": _hosts(), "vars": {**store, "preauth_connections": connections}}})


def user_inventory(path: str, sim_url: str, token_dir: str, n: int, vault: t.Any) -> None:
    """Variants (b) and (c): what a user keeps without the collection."""
    connections = [
        {
            "name": connection_name(i),
            "token_url": endpoints(sim_url)["token"],
            "client_id": STRICT_CLIENT_ID,
            "client_secret": _Vaulted(vault.encrypt(STRICT_CLIENT_SECRET).decode()),
        }
        for i in range(n)
    ]
    _write(path, {"all": {"hosts": _hosts(), "vars": {"oauth_token_dir": token_dir, "oauth_connections": connections}}})


def write_password_file(path: str, password: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(password + b"\n")
