"""Run every EXAMPLES block of every module, and of the access_token lookup, with ansible-playbook against the simulator.

One playbook per module (or lookup), made from its EXAMPLES block. The example text is used as written, except:

1. the simulator's address: an OpenID issuer ``https://login.example.com/...`` becomes the simulator's
   ``/strict`` issuer, and a task with ``platform: exact_online`` and ``country: XX`` gets ``base_url:
   <simulator>/XX`` (the option the docs give for "a local simulator"); in the lookup's examples the Exact Online address
   ``https://start.exactonline.XX`` in an ``ansible.builtin.uri`` URL becomes ``<simulator>/XX``;
2. the test store: ``/srv/preauth/tokens`` becomes the run's own token store, which is also the default
   for examples that name none (the environment variable ``PREAUTH_OAUTH2_STORE_DIR``, as documented);
3. token_move's and consent_invitation's PostgreSQL URI ``postgresql://preauth@db.example.com/...`` becomes a throw-away PostgreSQL
   server's (tests/pgserver.py, started for that block; its password in ``PGPASSWORD``, as documented);
4. any other absolute path in a module option (``path``, ``prometheus_file``) is moved under the run's
   own root directory (``/etc/preauth/x`` -> ``<work>/root/etc/preauth/x``); sealed_file's host key
   (not named in the examples) is put there too with ``module_defaults``;
5. notification's mail server ``smtp.example.com`` becomes a real SMTP server on loopback (STARTTLS with a test CA that
   the run trusts through ``SSL_CERT_FILE``, as a private CA is trusted; AUTH), and its webhook
   ``https://hooks.example.com/preauth`` a receiver that checks every signature (tests/receivers.py).

Variables the examples take from the inventory (``preauth_connections``, ``preauth_contact``, the vaulted
client secrets, ``landed_url``, ``acme_settings``) are in the inventory, with obviously fake values.
State an example needs is prepared by the examples before it (authorization_url stores the pending
attempts code_exchange completes) or here (the simulator's clients, the person's sign-in, 24 days
passing after preauthentication, so that token_info finds a chain with under 7 days left and token_refresh
has one to refresh, the directories the examples expect to exist).

Every module task is checked: whether it changed on its first run is compared with EXPECTED, and a task
of a module whose documentation says ``idempotent: full`` is run a second time right after itself and
must not change. No example task may be skipped (a loop over nothing or a false ``when`` would show
nothing). Nothing here prints a secret; the simulator scans the outputs for every secret it knows.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as t
import urllib.error
import urllib.request

import yaml

COLLECTIONS = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
ROOT = os.path.join(COLLECTIONS, "ansible_collections", "preauth", "oauth2")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[COLLECTIONS])._install()

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore  # noqa: E402
from pgserver import PostgresServer  # noqa: E402
from simulator.control import ControlClient  # noqa: E402
from simulator.timewarp import warp  # noqa: E402

# The order in which the examples build on each other's state.
ORDER = [
    "authorization_url",
    "code_exchange",
    "token_info",
    "token_refresh",
    "access_token",
    "invantive_settings",
    "token_handover",
    "token_move",
    "consent_invitation",
    "notification",
    "token_revoke",
    "sealed_file",
]
# Plugins that are not modules, by the directory their EXAMPLES are in. Their tasks are not module tasks: the block must run.
PLUGIN_DIRS = {"access_token": "lookup"}

# Whether each module task (numbered from 1 among the block's tasks) changes on its first run.
EXPECTED: dict[str, dict[int, bool]] = {
    "authorization_url": {1: True, 3: True},
    "code_exchange": {1: True, 2: True},
    # 24 days after preauthentication acme-nl has under 7 days of idle life left and is refreshed; crm has 66 days.
    # The single-connection example then finds the access token fresh: unchanged, access token returned.
    "token_info": {1: False, 3: True, 4: False},
    "token_refresh": {1: True, 2: False},
    "access_token": {},
    "invantive_settings": {1: False, 3: True},
    "token_handover": {1: True, 2: True},
    # crm goes to PostgreSQL and back: each move changes once, and nothing on its second run.
    "token_move": {1: True, 2: True},
    # The service's role gets its rights (changed), an invitation is made, then revoked.
    "consent_invitation": {1: True, 2: True, 4: True},
    # acme-nl's chain was refused (set here): the example tells its people once; on its second run nothing is left to tell.
    "notification": {1: True},
    "token_revoke": {1: True, 2: True},
    "sealed_file": {1: True, 2: True, 3: True},
}

ACME_SECRET = "FAKE-acme-client-secret-for-examples"
CRM_SECRET = "FAKE-crm-client-secret-for-examples"
ACME_CLIENT = "00000000-0000-4000-8000-000000000000"
ISSUER_IN_EXAMPLES = "https://login.example.com/realms/crm"
STORE_IN_EXAMPLES = "/srv/preauth/tokens"
STORE_URL_IN_EXAMPLES = "postgresql://preauth@db.example.com/preauth?sslmode=verify-full"
LISTENER = "http://127.0.0.1:8765/callback"
# The PostgreSQL server of token_move's examples, while they run.
_PG: dict[str, str] = {}
# The SMTP server (STARTTLS with a test CA, AUTH) and the webhook receiver of notification's examples, while they run.
_MAIL: dict[str, t.Any] = {}
SMTP_IN_EXAMPLES = "smtp.example.com"
HOOK_IN_EXAMPLES = "https://hooks.example.com/preauth"
SMTP_PASSWORD = "FAKE-smtp-password-for-examples"
WEBHOOK_SECRET = "whsec_RkFLRS13ZWJob29rLXNlY3JldC1mb3ItZXhhbXBsZXM="


def module_docs(name: str) -> tuple[dict[str, t.Any], str]:
    """DOCUMENTATION (parsed) and EXAMPLES (text) of a module, read without importing it."""
    with open(os.path.join(ROOT, "plugins", PLUGIN_DIRS.get(name, "modules"), name + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant):
            found[node.targets[0].id] = node.value.value
    return yaml.safe_load(found["DOCUMENTATION"]), found["EXAMPLES"]


def idempotent(doc: dict[str, t.Any]) -> bool:
    return doc.get("attributes", {}).get("idempotent", {}).get("support") == "full"


def substitute(value: t.Any, sim: str, work: str) -> t.Any:
    """Rules 2, 3 and 4 (and the issuer of rule 1) on one option value."""
    if isinstance(value, str):
        if value == STORE_IN_EXAMPLES:
            return os.path.join(work, "tokens")
        if value == STORE_URL_IN_EXAMPLES:
            return _PG["url"]
        if value == ISSUER_IN_EXAMPLES:
            return sim + "/strict"
        if value.startswith("/"):
            return os.path.join(work, "root") + value
        return value
    if isinstance(value, dict):
        return {k: substitute(v, sim, work) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, sim, work) for v in value]
    return value


def module_of(task: dict[str, t.Any]) -> str | None:
    return next((key for key in task if key.startswith("preauth.oauth2.")), None)


def playbook(name: str, sim: str, work: str) -> tuple[list[dict[str, t.Any]], list[int]]:
    """The play for one module's EXAMPLES, with the checks; also the numbers of its module tasks."""
    doc, examples = module_docs(name)
    tasks = []
    numbers = []
    keys = []
    for number, task in enumerate(yaml.safe_load(examples), start=1):
        fqcn = module_of(task)
        if fqcn is None:
            if name in PLUGIN_DIRS and isinstance(task.get("ansible.builtin.uri"), dict):
                uri = task["ansible.builtin.uri"]
                uri["url"] = re.sub(r"\Ahttps://start\.exactonline\.([a-z.]+)(?=/)", lambda m: "%s/%s" % (sim, m.group(1)), uri["url"])
            tasks.append(task)
            continue
        args = task[fqcn] = substitute(task[fqcn], sim, work)
        if isinstance(args.get("smtp"), dict) and args["smtp"].get("host") == SMTP_IN_EXAMPLES:
            args["smtp"].update(host="127.0.0.1", port=_MAIL["port"])
        for hook in args.get("webhooks") or []:
            if hook.get("url") == HOOK_IN_EXAMPLES:
                hook["url"] = _MAIL["hook"]
        if args.get("platform") == "exact_online" and args.get("country"):
            args["base_url"] = "%s/%s" % (sim, args["country"])
        task.setdefault("register", "_example_%d" % number)
        numbers.append(number)
        tasks.append(task)
        tasks.append(record(number, task["register"], name == "authorization_url"))
        keys.append(str(number))
        if idempotent(module_docs(fqcn.split(".")[-1])[0]):
            again = copy.deepcopy(task)
            again["name"] = "%s (again: nothing to change)" % task["name"]
            again["register"] = "_again_%d" % number
            tasks.append(again)
            tasks.append(record(number, again["register"], False, "again"))
            keys.append("again_%d" % number)
    facts = ", ".join("'%s': _result_%s" % (key, key) for key in keys)
    tasks.append(
        {
            "name": "Harness - write what each example task did (no values)",
            "ansible.builtin.copy": {
                "dest": os.path.join(work, "out", name + ".json"),
                "content": "{{ {%s} | to_json }}" % facts,
                "mode": "0600",
            },
        }
    )
    play = {
        "name": "EXAMPLES of preauth.oauth2.%s" % name,
        "hosts": "dwh01",
        "gather_facts": False,
        "module_defaults": {"preauth.oauth2.sealed_file": {"host_key_path": os.path.join(work, "root", "etc", "preauth", "hostkey")}},
        "tasks": tasks,
    }
    return [play], numbers


def record(number: int, register: str, with_url: bool, kind: str = "") -> dict[str, t.Any]:
    key = "%s_%d" % (kind, number) if kind else str(number)
    fact = "{'changed': %s is changed, 'failed': %s is failed, 'keys': %s | list" % (register, register, register)
    if with_url:
        fact += ", 'url': %s.url" % register
    return {
        "name": "Harness - note whether task %d changed" % number,
        "ansible.builtin.set_fact": {"_result_%s" % key: "{{ %s} }}" % fact},
    }


def inventory(sim: str, work: str) -> None:
    connections = [
        {
            "name": "acme-nl",
            "platform": "exact_online",
            "country": "nl",
            "base_url": sim + "/nl",
            "client_id": ACME_CLIENT,
            "client_secret": ACME_SECRET,
            "redirect_uri": "https://relay.example.com/preauth/",
            "hosts": ["dwh01"],
        },
        {
            "name": "crm",
            "platform": "generic",
            "issuer": sim + "/strict",
            "client_id": "replicator",
            "client_secret": CRM_SECRET,
            "redirect_uri": LISTENER,
            "scopes": ["openid", "offline_access"],
        },
    ]
    doc = {
        "all": {
            "hosts": {"dwh01": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "vars": {
                "preauth_connections": connections,
                "preauth_contact": {
                    "first_name": "Ada",
                    "last_name": "Jansen",
                    "job_title": "Controller",
                    "email": "ada.jansen@example.com",
                    "company": "Example Accountants B.V.",
                },
                "vault_acme_client_secret": ACME_SECRET,
                "vault_smtp_password": SMTP_PASSWORD,
                "vault_webhook_secret": WEBHOOK_SECRET,
                "vault_crm_client_secret": CRM_SECRET,
                "acme_settings": "<settings>FAKE settings of acme-nl</settings>\n",
                # The landed URL holds the code: it comes through the environment, never the command line.
                "landed_url": "{{ lookup('ansible.builtin.env', 'PREAUTH_EXAMPLES_LANDED_URL') }}",
            },
        }
    }
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)


def vault(work: str) -> t.Any:
    from ansible.parsing.vault import VaultLib, VaultSecret

    with open(os.path.join(work, "vault-pw"), "rb") as handle:
        return VaultLib([("default", VaultSecret(handle.read().strip()))])


def prepare(sim: str, work: str) -> None:
    control = ControlClient(sim)
    control.add_client(client_id=ACME_CLIENT, client_secret=ACME_SECRET, redirect_uris=["https://relay.example.com/preauth/"], profile="exact")
    control.add_client(client_id="replicator", client_secret=CRM_SECRET, redirect_uris=[LISTENER], profile="rotating_strict")
    for directory in ("out", "tokens", "templates", "root/home/invantive/invantive", "root/etc/preauth", "root/var/lib/prometheus/node-exporter"):
        os.makedirs(os.path.join(work, directory), mode=0o700, exist_ok=True)
    # sealed_file's first example renders this template, as a role would ship it.
    with open(os.path.join(work, "templates", "settings.xml.j2"), "w", encoding="utf-8") as handle:
        handle.write("<settings>{{ 'FAKE settings rendered for ' ~ inventory_hostname }}</settings>\n")
    with open(os.path.join(work, "vault-pw"), "w", encoding="utf-8") as handle:
        handle.write("FAKE-vault-password-for-examples\n")
    inventory(sim, work)


def browser(sim: str, url: str, errors: list[str]) -> None:
    """The person signs in for the loopback example; the browser then follows the redirect to the listener."""
    try:
        landed = ControlClient(sim).login(url)["redirect_url"]
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(landed, timeout=10) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                errors.append("the listener answered %d" % exc.code)
                return
            except OSError:
                if time.monotonic() > deadline:
                    errors.append("the listener never came up")
                    return
                time.sleep(0.2)
    except Exception as exc:  # reported by the caller; the message holds no URL
        errors.append("browser: %s" % type(exc).__name__)


def run_block(name: str, sim: str, work: str, extra: dict[str, str] | None = None) -> dict[str, t.Any]:
    play, numbers = playbook(name, sim, work)
    path = os.path.join(work, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    env = dict(os.environ, PREAUTH_OAUTH2_STORE_DIR=os.path.join(work, "tokens"), **(extra or {}))
    out = os.path.join(work, "out", name + ".out")
    with open(out, "w", encoding="utf-8") as handle:
        command = ["ansible-playbook", "-i", os.path.join(work, "inventory.yml"), "--vault-password-file", os.path.join(work, "vault-pw"), path]
        rc = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if rc != 0:
        with open(out, encoding="utf-8") as handle:
            sys.stderr.write(handle.read()[-6000:])
        raise SystemExit("%s: the EXAMPLES playbook failed (rc %d)" % (name, rc))
    with open(os.path.join(work, "out", name + ".json"), encoding="utf-8") as handle:
        results = json.load(handle)
    problems = []
    with open(out, encoding="utf-8") as handle:
        skipped = handle.read().count("skipping: [")
    if skipped:
        problems.append("%d example task(s) were skipped" % skipped)
    for number in numbers:
        first = results[str(number)]
        want = EXPECTED[name].get(number)
        if want is None:
            problems.append("task %d has no expectation in EXPECTED" % number)
        elif first["changed"] is not want:
            problems.append("task %d: changed is %s, expected %s" % (number, first["changed"], want))
        again = results.get("again_%d" % number)
        if again is not None and again["changed"]:
            problems.append("task %d changed again on its second run" % number)
    if problems:
        raise SystemExit("%s EXAMPLES: %s" % (name, "; ".join(problems)))
    print(
        "%s: %d example task(s) ran as documented%s" % (name, len(numbers), ", each idempotent on a second run" if any("again_" in k for k in results) else "")
    )
    return results


def notification_block(sim: str, work: str, extra: dict[str, str]) -> dict[str, t.Any]:
    """notification's examples with acme-nl's chain refused, a real SMTP server (STARTTLS, the test CA trusted through
    SSL_CERT_FILE, as a private CA is; AUTH) and a webhook receiver that checks signatures; the chain is put back after."""
    from receivers import Mailbox, WebhookReceiver, make_tls

    tls = make_tls(os.path.join(work, "root"))
    store = FileTokenStore(os.path.join(work, "tokens"), vault(work))
    with store.locked("acme-nl") as record:
        record.data["reauthorization_required"] = {"since": time.time(), "reason": "the platform refuses the refresh token (set by the examples)"}
    with Mailbox(tls=tls, credentials=("preauth", SMTP_PASSWORD)) as box, WebhookReceiver(WEBHOOK_SECRET) as hook:
        _MAIL.update(port=box.port, hook=hook.url)
        results = run_block("notification", sim, work, dict(extra, SSL_CERT_FILE=tls.ca_path))
        texts = box.texts() + [hook.dump()]
        told = sorted(rcpt for rcpt, _message in box.messages)
        if "data-team@example.com" not in told or "acme-desk@example.com" not in told or len(told) != len(set(told)):
            raise SystemExit("notification: the example's mails went to %s" % told)
        if hook.types() != ["connection.dead"] or hook.rejected:
            raise SystemExit("notification: the webhook received %s (%d rejected)" % (hook.types(), len(hook.rejected)))
    for text in texts:
        if SMTP_PASSWORD in text or WEBHOOK_SECRET in text or ACME_SECRET in text:
            raise SystemExit("notification: a secret is in a message")
    with open(os.path.join(work, "out", "notification-messages.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(texts))  # scanned with the rest of out/ for every secret the simulator knows
    with store.locked("acme-nl") as record:
        record.data["reauthorization_required"] = None
        record.data.pop("notice", None)
    return results


def main(sim: str, work: str) -> None:
    prepare(sim, work)
    control = ControlClient(sim)
    urls = {}
    for name in ORDER:
        extra: dict[str, str] = {}
        helper = None
        errors: list[str] = []
        if name == "code_exchange":
            extra["PREAUTH_EXAMPLES_LANDED_URL"] = control.login(urls["1"])["redirect_url"]
            helper = threading.Thread(target=browser, args=(sim, urls["3"], errors), daemon=True)
            helper.start()
        if name == "token_info":
            warp(24 * 86400, control, FileTokenStore(os.path.join(work, "tokens"), vault(work)))
        if name == "consent_invitation":
            with PostgresServer() as server:
                with server.admin_connect() as admin:
                    admin.execute("CREATE ROLE preauth_consent LOGIN")
                _PG["url"] = server.url
                results = run_block(name, sim, work, dict(extra, **server.env))
                if "link" not in results["2"]["keys"]:
                    raise SystemExit("consent_invitation: the invitation example returned no link")
        elif name == "notification":
            results = notification_block(sim, work, extra)
        elif name == "token_move":
            with PostgresServer() as server:
                _PG["url"] = server.url
                results = run_block(name, sim, work, dict(extra, **server.env))
        else:
            results = run_block(name, sim, work, extra)
        if helper is not None:
            helper.join(timeout=5)
            if errors:
                raise SystemExit("code_exchange: %s" % "; ".join(errors))
        if name == "authorization_url":
            urls = {number: result["url"] for number, result in results.items() if "url" in result}
        if name == "token_refresh" and "access_token" not in results["2"]["keys"]:
            raise SystemExit("token_refresh: the single-connection example returned no access token")
    body = json.dumps({"paths": [os.path.join(work, "out"), os.path.join(work, "root", "var")]}).encode()
    request = urllib.request.Request(sim + "/_sim/scan", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        report = json.load(response)
    if report["leaks"]:
        raise SystemExit("secrets in the outputs: %s" % report["leaks"])
    print("every module EXAMPLE ran against the simulator; no secret in any output")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
