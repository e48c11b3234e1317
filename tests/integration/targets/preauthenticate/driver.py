"""Helpers for the preauthenticate target: inventory with real vault-encrypted client secrets,
the person's sign-in through the simulator, checks of the stored chain, and a secret scan.

Nothing here prints or writes a secret, except ``login``, whose landed URL (with the code) the
caller keeps in a shell variable for the next run.
"""

from __future__ import annotations

import json
import os
import re
import sys
import typing as t
import urllib.parse
import urllib.request

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

EXACT_SECRET = "FAKE-exact-client-secret-for-tests"
STRICT_SECRET = "FAKE-strict-client-secret-for-tests"


def vault(work: str) -> VaultLib:
    with open(os.path.join(work, "vault-pw"), "rb") as handle:
        return VaultLib([("default", VaultSecret(handle.read().strip()))])


def control(sim: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sim + path, data=data, method="POST" if data else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class Vaulted(str):
    """A value that yaml.safe_dump writes as an inline !vault string."""


yaml.SafeDumper.add_representer(Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|"))


def sealer(work: str) -> t.Callable[[str], Vaulted]:
    """Encrypts values with the run's vault password, for inventories with real inline vault secrets."""
    lib = vault(work)
    return lambda value: Vaulted(lib.encrypt(value).decode())


CONTACT = {
    "first_name": "Ada",
    "last_name": "Jansen",
    "job_title": "Controller",
    "email": "ada.jansen@example.test",
    "company": "Example Accountants B.V.",
}


def exact_entry(sim: str, sealed: t.Callable[[str], Vaulted], **extra: t.Any) -> dict:
    """The inventory entry of acme-nl, Exact Online at the simulator."""
    entry = {
        "name": "acme-nl",
        "platform": "exact_online",
        "country": "nl",
        "base_url": sim + "/nl",
        "client_id": "00000000-0000-4000-8000-00000000e0e1",
        "client_secret": sealed(EXACT_SECRET),
        "redirect_uri": "https://preauth.example.test/callback",
    }
    entry.update(extra)
    return entry


def inventory(sim: str, work: str) -> None:
    sealed = sealer(work)
    doc = {
        "all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "vars": {
                "preauth_store_dir": os.path.join(work, "tokens"),
                "preauth_contact": CONTACT,
                "preauth_connections": [
                    exact_entry(sim, sealed),
                    {
                        "name": "crm",
                        "platform": "generic",
                        "issuer": sim + "/strict",
                        "client_id": "strict-demo-client",
                        "client_secret": sealed(STRICT_SECRET),
                        "redirect_uri": "https://preauth.example.test/callback",
                        "scopes": ["openid", "offline_access"],
                    },
                ],
            },
        }
    }
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)


def find_url(output_file: str) -> str:
    with open(output_file, encoding="utf-8") as handle:
        found = re.findall(r"open this URL in a browser: (\S+?)\"?,?$", handle.read(), re.M)
    if not found:
        raise SystemExit("no authorization URL in %s" % output_file)
    return found[-1]


def login(sim: str, url: str, decision: str = "allow") -> str:
    return control(sim, "/_sim/login", {"url": url, "decision": decision})["redirect_url"]


def store(work: str, connection: str) -> dict:
    with open(os.path.join(work, "tokens", connection + ".yml"), "rb") as handle:
        plain, _vault_id, _secret = vault(work).decrypt_and_get_vault_id(handle.read())
    return yaml.safe_load(plain)


def fingerprint(work: str, connection: str) -> None:
    """Generation, owner and refresh-token fingerprint of the stored chain (to compare later)."""
    data = store(work, connection)
    print("generation=%s owner=%s fingerprint=%s" % (data["generation"], data["owner"]["kind"], data["tokens"]["refresh_fingerprint"]))


def check_chain(sim: str, work: str, connection: str, generation: str) -> None:
    """The stored chain is the one the simulator knows, and a refresh with it succeeds.

    The refresh rotates the chain at the simulator, so this is the last use of the stored token.
    """
    data = store(work, connection)
    assert data["generation"] == int(generation), data["generation"]
    assert data["owner"]["kind"] == "controller"
    assert data["preauthenticated_by"]["email"] == "ada.jansen@example.test"
    definition = data["definition"]
    control(sim, "/_sim/clock", {"advance": 600})
    secret = EXACT_SECRET if definition["platform"] == "exact_online" else STRICT_SECRET
    form = {"grant_type": "refresh_token", "refresh_token": data["tokens"]["refresh_token"], "client_id": definition["client_id"], "client_secret": secret}
    request = urllib.request.Request(definition["token_url"], data=urllib.parse.urlencode(form).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert json.load(response)["refresh_token"] != data["tokens"]["refresh_token"]
    print("%s: generation %s stored and refreshable" % (connection, generation))


def scan(sim: str, work: str, *paths: str) -> None:
    """Ask the simulator, which knows every secret of this run, to look for them; the store is excluded."""
    tokens = os.path.join(work, "tokens")
    stores = [os.path.join(tokens, n) for n in os.listdir(tokens) if n.endswith(".yml")] if os.path.isdir(tokens) else []
    report = control(sim, "/_sim/scan", {"paths": list(paths), "exclude": stores})
    if report["leaks"]:
        raise SystemExit("secrets leaked: " + "; ".join("%(kind)s in %(path)s" % leak for leak in report["leaks"]))
    if report["files"] == 0:
        raise SystemExit("the secret scan found no files to look at")
    print("secret scan: %(values)d secret values, %(files)d files, clean" % report)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "inventory":
        inventory(*args)
    elif command == "find-url":
        print(find_url(*args))
    elif command == "login":
        print(login(*args))
    elif command == "fingerprint":
        fingerprint(*args)
    elif command == "check-chain":
        check_chain(*args)
    elif command == "scan":
        scan(*args)
    else:
        raise SystemExit("unknown command " + command)
