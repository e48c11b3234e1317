"""make demo: the story of preauth.oauth2 against the embedded Exact Online simulator.

1. start the simulator (its own process, 127.0.0.1) and show what a client finds there;
2. preauthenticate the Exact Online connection of examples/inventory.yml with
   playbooks/preauthenticate.yml, interactively, while a scripted browser plays the person who
   signs in with two-step verification;
3. show the vault-encrypted token store with ansible-vault view, secrets masked in this printout;
4. to 6. 24 days later: refresh (changed), refresh again (nothing to do), the status table;
7. to 9. deploy the settings sealed to a stand-in product host, run a stand-in product through the
   runner, and deploy again (nothing changes; the chain belongs to that host now).

Everything runs against the simulator; the client secret and the vault password are fake demo
values, the secret kept in a real ansible-vault file. Nothing leaves this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simulator import DEFAULT_CONFIG  # noqa: E402
from simulator.browser import ScriptedBrowser  # noqa: E402
from simulator.control import SimulatorProcess  # noqa: E402
from simulator.person import Person  # noqa: E402
from simulator.timewarp import warp  # noqa: E402

BIN = os.path.dirname(sys.executable)
WORK = os.path.join(ROOT, "build", "demo")
SECRET_KEYS = re.compile(r"^(\s*)(access_token|refresh_token|code_verifier|nonce|state):\s*(\S.*)$")


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say()
    say("=" * 100)
    say("[%d] %s" % (number, title))
    say("=" * 100)


def prepare_workspace() -> dict[str, str]:
    """A fresh demo workspace: a fake vault password and the client secret in a vault file."""
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK, mode=0o700)
    password = os.path.join(WORK, "vault-password")
    fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("FAKE-demo-vault-password\n")
    secrets = os.path.join(WORK, "secrets.yml")
    plain = "demo_exact_secret: %s\n" % DEFAULT_CONFIG["clients"][0]["client_secret"]
    encrypted = subprocess.run(
        [os.path.join(BIN, "ansible-vault"), "encrypt", "--vault-password-file", password, "--output", secrets, "-"],
        input=plain,
        text=True,
        capture_output=True,
        check=True,
    )
    del encrypted
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    return {"password": password, "secrets": secrets, **{"env:" + k: v for k, v in env.items()}}


def open_store(work: dict[str, str]):
    """The demo store, opened with the collection's own TokenStore and the demo vault password."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[os.path.join(ROOT, "build", "collections")])._install()
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import TokenStore

    with open(work["password"], "rb") as handle:
        vault = VaultLib([("default", VaultSecret(handle.read().strip()))])
    return TokenStore(os.path.join(WORK, "tokens"), vault)


def run_visibly(command: list[str], env: dict[str, str]) -> None:
    shown = [("@" + os.path.relpath(c[1:], ROOT) if c.startswith("@") else os.path.relpath(c, ROOT)) if ROOT in c else c for c in command]
    say("    $ " + " ".join(shown))
    done = subprocess.run(command, env=dict(env, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.strip():
            say("    | " + line)
    if done.returncode != 0:
        raise SystemExit("the playbook failed (exit code %d): %s" % (done.returncode, done.stderr[-500:]))


def masked_view(password: str, store: str, env: dict[str, str]) -> list[str]:
    view = subprocess.run(
        [os.path.join(BIN, "ansible-vault"), "view", "--vault-password-file", password, store], capture_output=True, text=True, check=True, env=env
    )
    lines = []
    for line in view.stdout.splitlines():
        found = SECRET_KEYS.match(line)
        if found and found.group(3) not in ("null", "''"):
            line = "%s%s: ******** (masked by the demo; ansible-vault view shows it)" % (found.group(1), found.group(2))
        lines.append(line)
    return lines


def demo_target(work: dict[str, str]) -> dict[str, str]:
    """An inventory with one more host, dwh01: a local directory tree standing in for a product host."""
    root = os.path.join(WORK, "dwh01")
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    target = {
        "root": root,
        "folder": os.path.join(root, "home", "invantive"),
        # On a real host /var/lib/preauth/sealed/<user>: root's alone, where the service user cannot reach.
        "sealed_dir": os.path.join(root, "var", "lib", "preauth", "sealed", user),
        "prefix": os.path.join(root, "usr", "local"),
        "host_key": os.path.join(root, "etc", "preauth", "hostkey"),
        "inventory": os.path.join(WORK, "dwh01.yml"),
    }
    os.makedirs(os.path.join(root, "home"), mode=0o755)
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # inventory_dir differs for this file: the example inventory's store_dir would point elsewhere
        "preauth_store_dir": os.path.join(WORK, "tokens"),
        "preauth_settings_connections": ["acme-nl"],
        "preauth_settings_user": user,
        "preauth_settings_folder": target["folder"],
        "preauth_settings_sealed_dir": target["sealed_dir"],
        "preauth_settings_seal_method": "hostkey",
        "preauth_settings_host_key_path": target["host_key"],
        "preauth_settings_runner_prefix": target["prefix"],
        "preauth_settings_runner_python": sys.executable,
        "preauth_settings_runner_owner": user,
    }
    with open(target["inventory"], "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"dwh01": host}}}, handle, indent=2)
    return target


def main() -> int:
    say("preauth.oauth2 demo: preauthenticate an Exact Online connection against the local simulator")
    process = SimulatorProcess(control=True)
    control = process.start()
    try:
        base = process.base_url
        step(1, "The simulator behaves like Exact Online, one base URL per country (%s)" % base)
        realms = control.realms()
        for country in ("nl", "be", "co.uk"):
            say("    Exact Online %-6s authorize %s" % (country, realms[country]["authorize"]))
            say("    %-19s token     %s" % ("", realms[country]["token"]))
        say("    and a generic OpenID Connect server; its discovery document:")
        with urllib.request.urlopen(base + "/strict/.well-known/openid-configuration", timeout=10) as response:
            for key, value in json.load(response).items():
                say("    %-38s %s" % (key, ", ".join(value) if isinstance(value, list) else value))

        step(2, "A person preauthenticates acme-nl: ansible-playbook playbooks/preauthenticate.yml (interactive)")
        work = prepare_workspace()
        env = {k[4:]: v for k, v in work.items() if k.startswith("env:")}
        say("    client secret: in %s (ansible-vault encrypted); vault password: a fake demo value" % os.path.relpath(work["secrets"], ROOT))
        say("    a scripted browser plays the person: it signs in, types the code from the authenticator app and")
        say("    presses Allow; the playbook's own output follows.")
        say()
        user = DEFAULT_CONFIG["users"][0]

        def sign_in(url: str) -> str:
            say()
            browser = ScriptedBrowser(narrate=lambda s: say("    [browser] " + s))
            landed = browser.login(url, user["username"], user["password"], user["totp_secret"])
            say("    [person] copies the address and pastes it at the prompt (hidden input)")
            return landed

        command = [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            os.path.join(ROOT, "examples", "inventory.yml"),
            os.path.join(ROOT, "playbooks", "preauthenticate.yml"),
            "--vault-password-file",
            work["password"],
            "-e",
            "@" + work["secrets"],
            "-e",
            "preauth_connection=acme-nl",
            "-e",
            "demo_simulator_url=" + base,
        ]
        person = Person(sign_in=sign_in, echo=lambda chunk: (sys.stdout.buffer.write(chunk), sys.stdout.flush()))
        code = person.run(command, env=env)
        if code != 0:
            say("the preauthentication failed (exit code %d)" % code)
            return 1

        step(3, "The token store: one ansible-vault encrypted file per connection")
        store = os.path.join(WORK, "tokens", "acme-nl.yml")
        with open(store, encoding="utf-8") as handle:
            say("    %s starts with: %s" % (os.path.relpath(store, ROOT), handle.readline().strip()))
        say("    ansible-vault view %s  (token values masked in this printout):" % os.path.relpath(store, ROOT))
        for line in masked_view(work["password"], store, env):
            say("    | " + line)
        state = control.state()
        say()
        say("    simulator: %d token call(s), %d chain(s) alive" % (state["token_calls_total"], state["chains_alive"]))

        step(4, "24 days later: the scheduled refresh keeps the chain alive")
        say("    the simulator's clock and the store's times move 24 days forward; Exact Online's refresh token")
        say("    would die after 30 idle days, and refresh_before (7 days) asks for a refresh now")
        warp(24 * 86400, control, open_store(work))
        playbook = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "examples", "inventory.yml")]
        common = ["--vault-password-file", work["password"], "-e", "@" + work["secrets"], "-e", "demo_simulator_url=" + base]
        calls = control.state()["token_calls_total"]
        run_visibly(playbook + [os.path.join(ROOT, "playbooks", "refresh.yml")] + common, env)
        say("    token calls: %d" % (control.state()["token_calls_total"] - calls))

        step(5, "The same playbook again, right away: nothing to do, nothing changed, no token call")
        calls = control.state()["token_calls_total"]
        run_visibly(playbook + [os.path.join(ROOT, "playbooks", "refresh.yml")] + common, env)
        say("    token calls: %d" % (control.state()["token_calls_total"] - calls))

        step(6, "Status of every connection, sorted by days left (playbooks/status.yml)")
        run_visibly(playbook + [os.path.join(ROOT, "playbooks", "status.yml")] + common, env)

        step(7, "Deploy: the settings go to the host that runs the product, sealed to that host (playbooks/deploy.yml)")
        target = demo_target(work)
        say("    dwh01 stands in for the product host: a local directory tree under %s, so the demo needs no" % os.path.relpath(target["root"], ROOT))
        say("    SSH and no root (make test deploys over real SSH); the product's service user is you.")
        deploy = playbook + ["-i", target["inventory"], os.path.join(ROOT, "playbooks", "deploy.yml")] + common
        deploy += ["-e", "preauth_deploy_hosts=dwh01", "-e", "preauth_deploy_become=false"]
        run_visibly(deploy + ["--diff"], env)
        sealed = os.path.join(target["sealed_dir"], "settings-acme-nl.xml.sealed")
        with open(sealed, "rb") as handle:
            data = handle.read()
        say("    %s: %d bytes, mode %o; it starts with %r and holds no readable setting" % (
            os.path.relpath(sealed, ROOT), len(data), os.stat(sealed).st_mode & 0o777, data[:8]))
        say("    (connectionString in the file: %s; a copy on another machine does not unseal)" % ("yes" if b"connectionString" in data else "no"))

        step(8, "The product runs through the runner: unsealed into memory for the run only, then removed")
        runtime = "/dev/shm/preauth-demo" if os.path.isdir("/dev/shm") else os.path.join(target["root"], "run")
        runner = [
            os.path.join(target["prefix"], "bin", "preauth-run"),
            "--sealed-dir", target["sealed_dir"],
            "--settings-dir", target["folder"],
            "--host-key", target["host_key"],
            "--runtime-dir", runtime,
            "--", sys.executable, os.path.join(ROOT, "tools", "demo_product.py"),
        ]
        run_visibly(runner, env)
        left = [os.path.join(r, n) for r, ds, fs in os.walk(runtime) for n in ds + fs if n.startswith(("run-", "settings"))]
        say("    after the run: %s" % ("left behind: " + ", ".join(left) if left else "nothing of it is left in " + runtime))
        say("    the stored chain's refresh token fingerprint: %s" % (open_store(work).read("acme-nl").data["tokens"]["refresh_fingerprint"]))

        step(9, "Deploy again: nothing changes; acme-nl belongs to dwh01 now, so refresh.yml leaves it alone")
        run_visibly(deploy, env)
        run_visibly(playbook + [os.path.join(ROOT, "playbooks", "refresh.yml")] + common, env)
    finally:
        process.stop()
    say()
    say("demo finished; the simulator has stopped (workspace: build/demo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
