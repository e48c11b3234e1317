"""Benchmark variant (c), the floor: the same refreshes as (b) in a plain Python script.

    python bench/floor.py --inventory INVENTORY --vault-password-file PW [--min-ttl 600]

Reads the connections of a (b)/(c) inventory (client secrets as inline ``!vault``), and for each
one, sequentially, with one ``requests.Session``: decrypts its token file, skips it when the
access token has at least ``--min-ttl`` seconds left, else POSTs ``grant_type=refresh_token``
and writes the rotated pair back encrypted (VaultLib, tempfile, fsync, os.replace, fsync of the
directory). Prints counts only, never a token.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import typing as t

import requests
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))


def write_encrypted(path: str, data: dict[str, t.Any], vault: VaultLib) -> None:
    ciphertext = vault.encrypt(yaml.safe_dump(data, default_flow_style=False))
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ciphertext)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--vault-password-file", required=True)
    parser.add_argument("--min-ttl", type=int, default=600)
    args = parser.parse_args()

    with open(args.vault_password_file, "rb") as handle:
        vault = VaultLib([("default", VaultSecret(handle.read().strip()))])
    with open(args.inventory, encoding="utf-8") as handle:
        variables = yaml.load(handle, Loader=_Loader)["all"]["vars"]  # a SafeLoader that also reads !vault
    token_dir = variables["oauth_token_dir"]
    counts = {"refreshed": 0, "unchanged": 0, "failed": 0}
    with requests.Session() as session:
        for conn in variables["oauth_connections"]:
            path = os.path.join(token_dir, conn["name"] + ".yml")
            with open(path, "rb") as handle:
                stored = yaml.safe_load(vault.decrypt(handle.read()))
            if stored["expires_at"] - time.time() >= args.min_ttl:
                counts["unchanged"] += 1
                continue
            form = {
                "grant_type": "refresh_token",
                "refresh_token": stored["refresh_token"],
                "client_id": conn["client_id"],
                "client_secret": vault.decrypt(conn["client_secret"]).decode(),
            }
            response = session.post(conn["token_url"], data=form, timeout=30)
            if response.status_code != 200:
                counts["failed"] += 1
                print("%s: failed, HTTP %d" % (conn["name"], response.status_code))
                continue
            body = response.json()
            fresh = {
                "access_token": body["access_token"],
                "refresh_token": body.get("refresh_token", stored["refresh_token"]),
                "expires_at": int(time.time()) + int(body["expires_in"]),
            }
            write_encrypted(path, fresh, vault)
            counts["refreshed"] += 1
    print("refreshed=%(refreshed)d unchanged=%(unchanged)d failed=%(failed)d" % counts)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
