"""Many connections against the simulator, for the targets that refresh them (refresh, refresh_postgresql): the
inventory (vault-encrypted client secrets), the checks of every stored chain against the simulator, its counters
and the secret scan. Each target's tool.py adds how it opens its store. Nothing here prints a secret."""

from __future__ import annotations

import os
import sys
import typing as t

import yaml

COLLECTIONS = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
sys.path.insert(0, os.path.join(COLLECTIONS, "ansible_collections", "preauth", "oauth2", "tests"))

from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: E402
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[COLLECTIONS])._install()

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError  # noqa: E402
from simulator.control import ControlClient  # noqa: E402

SECRETS = {"exact": "FAKE-exact-client-secret-for-tests", "strict": "FAKE-strict-client-secret-for-tests"}


def vault(work: str) -> VaultLib:
    with open(os.path.join(work, "vault-pw"), "rb") as handle:
        return VaultLib([("default", VaultSecret(handle.read().strip()))])


def write_inventory(sim: str, work: str, strict: str, exact: str, store_dir: str | None) -> None:
    """STRICT connections on the rotating_strict profile, EXACT ones on the Exact profile; the store in STORE_DIR, or
    (None) none in the inventory, for a store the environment names."""
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
    variables: dict[str, t.Any] = {"preauth_store_dir": store_dir} if store_dir else {}
    variables.update(
        sim_url=sim,
        preauth_contact={"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example.test", "company": "Example B.V."},
        preauth_connections=connections,
    )
    doc = {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}, "vars": variables}}
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)


def state(sim: str) -> dict:
    return ControlClient(sim).state()


def check_chains(tokens: t.Any, sim: str, mode: str, what: str) -> None:
    """Every stored chain decrypts; every one works (its refresh token the platform's live one) or says why it needs a
    new preauthentication. Mode "refreshed-N" ("once": N=1): also every strict chain was refreshed exactly N times and
    none was revoked. WHAT names the records in the line printed ("stores", "rows")."""
    chains = state(sim)["chains"]
    by_fingerprint = {c["refresh_fingerprint"]: c for c in chains if c["refresh_fingerprint"]}
    working = needs = 0
    names = tokens.connections()
    for name in names:
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
    if not names:
        raise SystemExit("the store holds no connection")
    if mode == "once":
        mode = "refreshed-1"
    if mode.startswith("refreshed-"):
        wanted = int(mode[len("refreshed-") :])
        counts = sorted({c["refreshes"] for c in chains if c["profile"] == "rotating_strict"})
        if counts != [wanted]:
            raise SystemExit("strict chains were refreshed %s times, not exactly %d" % (counts, wanted))
        if state(sim)["chains_revoked"]:
            raise SystemExit("%d chains were revoked" % state(sim)["chains_revoked"])
    print("checked %d %s: %d working, %d need a new preauthentication (with a reason)" % (working + needs, what, working, needs))


def counter(sim: str, what: str) -> None:
    report = state(sim)
    if what == "calls":
        print(report["token_calls_total"])
    elif what == "revoked":
        print(report["chains_revoked"])
    elif what == "max-daily":
        print(max([d["calls"] for d in report["daily_token_calls"]] or [0]))


def scan_paths(sim: str, paths: list[str], exclude: list[str]) -> None:
    """No secret of the simulator's (client secrets, codes, tokens) in any file under PATHS but EXCLUDE (the stores)."""
    report = ControlClient(sim)._call("POST", "/_sim/scan", {"paths": paths, "exclude": exclude})  # pylint: disable=protected-access
    if report["leaks"]:
        raise SystemExit("secrets leaked: " + "; ".join("%(kind)s in %(path)s" % leak for leak in report["leaks"]))
    if not report["files"]:
        raise SystemExit("the secret scan found no file to scan")
    print("secret scan: %(values)d secret values, %(files)d files, clean" % report)


def main(commands: dict[str, t.Callable[..., None]]) -> None:
    """tool.py COMMAND ARGS...: COMMAND with dashes for underscores."""
    name = sys.argv[1].replace("-", "_") if len(sys.argv) > 1 else ""
    if name not in commands:
        raise SystemExit("usage: tool.py %s ARGS..." % "|".join(sorted(c.replace("_", "-") for c in commands)))
    commands[name](*sys.argv[2:])
