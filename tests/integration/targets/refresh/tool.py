"""Helpers for the refresh target: an inventory of many connections with vault-encrypted client
secrets, moving the world forward, checking stores against the simulator, and the secret scan.
Nothing here prints a secret."""

from __future__ import annotations

import json
import os
import sys

import yaml

COLLECTIONS = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
sys.path.insert(0, os.path.join(COLLECTIONS, "ansible_collections", "preauth", "oauth2", "tests"))

from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: E402
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[COLLECTIONS])._install()

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import StoreError, FileTokenStore  # noqa: E402
from simulator.control import ControlClient  # noqa: E402
from simulator.timewarp import warp  # noqa: E402

SECRETS = {"exact": "FAKE-exact-client-secret-for-tests", "strict": "FAKE-strict-client-secret-for-tests"}


def vault(work: str) -> VaultLib:
    with open(os.path.join(work, "vault-pw"), "rb") as handle:
        return VaultLib([("default", VaultSecret(handle.read().strip()))])


def store(work: str) -> FileTokenStore:
    return FileTokenStore(os.path.join(work, "tokens"), vault(work))


def inventory(sim: str, work: str, strict: str, exact: str) -> None:
    """STRICT connections on the rotating_strict profile, EXACT ones on the Exact profile."""
    lib = vault(work)

    class Vaulted(str):
        pass

    yaml.SafeDumper.add_representer(Vaulted, lambda d, v: d.represent_scalar("!vault", str(v), style="|"))
    connections = []
    for i in range(int(strict)):
        connections.append(
            {
                "name": "strict-%02d" % i,
                "platform": "generic",
                "endpoints": {"authorize": sim + "/strict/authorize", "token": sim + "/strict/token", "whoami": sim + "/strict/userinfo"},
                "client_id": "strict-demo-client",
                "client_secret": Vaulted(lib.encrypt(SECRETS["strict"]).decode()),
                "redirect_uri": "https://preauth.example.test/callback",
                "scopes": ["openid", "offline_access"],
            }
        )
    for i in range(int(exact)):
        connections.append(
            {
                "name": "exact-%02d" % i,
                "platform": "exact_online",
                "country": "nl",
                "base_url": sim + "/nl",
                "client_id": "00000000-0000-4000-8000-00000000e0e1",
                "client_secret": Vaulted(lib.encrypt(SECRETS["exact"]).decode()),
                "redirect_uri": "https://preauth.example.test/callback",
            }
        )
    doc = {
        "all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "vars": {
                "preauth_store_dir": os.path.join(work, "tokens"),
                "sim_url": sim,
                "preauth_contact": {
                    "first_name": "Ada",
                    "last_name": "Jansen",
                    "job_title": "Controller",
                    "email": "ada@example.test",
                    "company": "Example B.V.",
                },
                "preauth_connections": connections,
            },
        }
    }
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)


def later(sim: str, work: str, seconds: str) -> None:
    warp(float(seconds), ControlClient(sim), store(work))


def state(sim: str) -> dict:
    return ControlClient(sim).state()


def check(sim: str, work: str, mode: str) -> None:
    """Every store decrypts; every chain works or says why it needs a new preauthentication.

    mode "once": additionally every strict chain was refreshed exactly once and none revoked.
    """
    tokens = store(work)
    chains = state(sim)["chains"]
    by_fingerprint = {c["refresh_fingerprint"]: c for c in chains if c["refresh_fingerprint"]}
    working = needs = 0
    for name in tokens.connections():
        try:
            data = tokens.read(name).data
        except StoreError as exc:
            raise SystemExit("%s does not decrypt: %s" % (name, exc)) from None
        reauth = data.get("reauthorization_required")
        if reauth:
            if not reauth.get("reason"):
                raise SystemExit("%s needs reauthorization without a reason" % name)
            needs += 1
            continue
        chain = by_fingerprint.get(data["tokens"]["refresh_fingerprint"])
        if chain is None or chain["state"] != "alive":
            raise SystemExit("%s: the stored refresh token is not the live one at the platform, and nothing says so" % name)
        working += 1
    if mode == "once":
        strict = [c for c in chains if c["profile"] == "rotating_strict"]
        counts = sorted({c["refreshes"] for c in strict})
        if counts != [1]:
            raise SystemExit("strict chains were refreshed %s times, not exactly once" % counts)
        if state(sim)["chains_revoked"]:
            raise SystemExit("%d chains were revoked" % state(sim)["chains_revoked"])
    print("checked %d stores: %d working, %d need a new preauthentication (with a reason)" % (working + needs, working, needs))


def counter(sim: str, what: str) -> None:
    report = state(sim)
    if what == "calls":
        print(report["token_calls_total"])
    elif what == "revoked":
        print(report["chains_revoked"])
    elif what == "max-daily":
        print(max([d["calls"] for d in report["daily_token_calls"]] or [0]))


def scan(sim: str, work: str) -> None:
    tokens = os.path.join(work, "tokens")
    stores = [os.path.join(tokens, n) for n in os.listdir(tokens) if n.endswith(".yml")]
    report = ControlClient(sim)._call("POST", "/_sim/scan", {"paths": [work], "exclude": stores})
    if report["leaks"]:
        raise SystemExit("secrets leaked: " + "; ".join("%(kind)s in %(path)s" % leak for leak in report["leaks"]))
    print("secret scan: %(values)d secret values, %(files)d files, clean" % report)


def status_of(work: str, name: str) -> None:
    data = store(work).read(name).data
    print(json.dumps({"reauthorization_required": bool(data.get("reauthorization_required")), "in_flight": bool(data.get("in_flight"))}))


if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
