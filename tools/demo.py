"""make demo: the story of preauth.oauth2 against the embedded Exact Online simulator.

1. start the simulator (its own process, 127.0.0.1) and show what a client finds there;
2. preauthenticate the Exact Online connection of examples/inventory.yml with
   playbooks/preauthenticate.yml, interactively, while a scripted browser plays the person who
   signs in with two-step verification;
3. show the vault-encrypted token store with ansible-vault view, secrets masked in this printout;
4. to 6. 24 days later: refresh (changed), refresh again (nothing to do), the status table;
7. to 9. deploy the settings sealed to a stand-in product host, run a stand-in product through the
   runner, and deploy again (nothing changes; the chain belongs to that host now);
10. two controllers share their chains through a PostgreSQL token store (a throw-away server of
   tests/pgserver.py in the workspace): two connections preauthenticated into a file store are
   moved into it with store_migrate.yml, the file store's tombstones refuse a refresh, both
   controllers run refresh.yml at the same moment, the simulator's counters show that each chain
   was refreshed once and none revoked, and status.yml on the second controller shows them;
11. the person who consents is somewhere else: the database's administrator makes the consent service's
   own role, the store's owner grants it its rights (invite.yml's preauth_consent_service_role), the consent
   service (plugins/plugin_utils/_consent) starts as its own process on 127.0.0.1 with that role and an
   apps file, playbooks/invite.yml prints a link for a new Exact Online connection, a scripted invitee
   in headless chromium (Playwright) opens it, fills in the form in Dutch, signs in at the simulator with
   two-step verification and sees the success page (screenshots in the workspace's consent/screenshots),
   then refresh.yml on the other controller imports the landing and status.yml shows the chain and who
   consented;
12. the chain dies and its owners are told: with preauth_notify in the inventory (an SMTP server and a
   webhook receiver of tests/receivers.py on 127.0.0.1, the webhook's fake secret vault-encrypted in
   secrets.yml), 24 days later a copy of retail-nl's chain used elsewhere has spent the stored refresh
   token; refresh.yml hears "Old refresh token used." and mails the consenter and the team once, with a
   fresh invitation link (masked in this printout), and the webhook receiver verifies a connection.dead
   event; the next refresh tells nobody again; the invitee follows the link in chromium and consents, and
   status.yml imports the consent and sends "recovered" (the mails and webhook bodies kept in the
   workspace's consent/mail);
13. the simulator looks for every secret it issued or holds in what the demo printed and wrote, the
   consent service's log and the mails among it, and the demo looks for the link tokens (step 11's only
   in the invite playbook's line with the link, step 12's only in the mails that carry it), the service
   role's password and the webhook secret.

Everything runs against the simulator; the client secrets and the vault password are fake demo
values, the secrets kept in a real ansible-vault file. Nothing leaves this machine.

Everything the demo writes stays in its workspace, build/demo of the checkout, or the directory
given with --workspace DIR (or PREAUTH_DEMO_WORKSPACE=DIR, e.g. make demo PREAUTH_DEMO_WORKSPACE=~/x):
the stand-in host's sealed files, runner and health records, Ansible's temporary files, the
controllers' homes and the consent service's files, log and screenshots. The exceptions are what
must be elsewhere: the runner's run directory on a memory file system (a private directory under
/dev/shm, removed at the end), as root the PostgreSQL server's files in the temporary directory (its
user cannot enter the workspace), and the invitee's chromium profile, Playwright's temporary one,
removed when the browser closes (it is the invitee's browser, elsewhere; its caches and crash reports
go to the workspace's consent/browser-home).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import io
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import typing as t
import urllib.request
from secrets import token_urlsafe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simulator import DEFAULT_CONFIG  # noqa: E402
from simulator.browser import ScriptedBrowser  # noqa: E402
from simulator.control import SimulatorProcess  # noqa: E402
from simulator.person import Person  # noqa: E402
from simulator.timewarp import warp  # noqa: E402

from pgserver import PostgresServer, PostgresServerError, free_port  # noqa: E402

BIN = os.path.dirname(sys.executable)
DEFAULT_WORK = os.path.join(ROOT, "build", "demo")
WORK = DEFAULT_WORK  # set by main() from --workspace
# Where the stand-in host's tree goes (see check_workspace); a temporary one is removed at the end.
HOST_BASE = DEFAULT_WORK
HOST_BASE_TEMPORARY = False
MARKER = ".preauth-demo-workspace"
SHARED_CONNECTIONS = ("acme-be", "crm")
SECRET_KEYS = re.compile(r"^(\s*)(access_token|refresh_token|code_verifier|nonce|state):\s*(\S.*)$")
# Everything the demo prints, for the leak check at the end.
TRANSCRIPT: list[str] = []


def say(text: str = "") -> None:
    TRANSCRIPT.append(text + "\n")
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say()
    say("=" * 100)
    say("[%d] %s" % (number, title))
    say("=" * 100)


def prepare_workspace() -> dict[str, str]:
    """A fresh demo workspace: a fake vault password and the client secret in a vault file."""
    # Emptied only when it is the demo's: build/demo always is, but --workspace may name any directory, and a typo must not
    # wipe one.
    if WORK != DEFAULT_WORK and os.path.isdir(WORK) and os.listdir(WORK) and not os.path.exists(os.path.join(WORK, MARKER)):
        raise SystemExit("make demo: %s is not empty and is not a workspace of the demo (no %s in it); give another --workspace." % (WORK, MARKER))
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK, mode=0o700)
    with open(os.path.join(WORK, MARKER), "w", encoding="utf-8") as handle:
        handle.write("a workspace of tools/demo.py (make demo); the next demo empties it\n")
    # Ansible's own directory and temporary files (local, and on the "remote" that is this machine) in the workspace, not in
    # ~/.ansible: for the commands below and the playbooks, and for this process, which opens the stores with the collection's code.
    ansible_home = os.path.join(WORK, ".ansible")
    os.environ.update(
        ANSIBLE_HOME=ansible_home, ANSIBLE_LOCAL_TEMP=os.path.join(ansible_home, "tmp"), ANSIBLE_REMOTE_TEMP=os.path.join(ansible_home, "remote-tmp")
    )
    password = os.path.join(WORK, "vault-password")
    fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("FAKE-demo-vault-password\n")
    secrets = os.path.join(WORK, "secrets.yml")
    plain = "demo_exact_secret: %s\ndemo_strict_secret: %s\n" % (DEFAULT_CONFIG["clients"][0]["client_secret"], DEFAULT_CONFIG["clients"][1]["client_secret"])
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


def demo_vault(work: dict[str, str]):
    """The demo vault password as a VaultLib, with the collection importable from build/collections."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[os.path.join(ROOT, "build", "collections")])._install()
    with open(work["password"], "rb") as handle:
        return VaultLib([("default", VaultSecret(handle.read().strip()))])


def open_store(work: dict[str, str]):
    """The demo store, opened with the collection's own FileTokenStore and the demo vault password."""
    vault = demo_vault(work)
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore

    return FileTokenStore(os.path.join(WORK, "tokens"), vault)


def echo(chunk: bytes) -> None:
    """The interactive playbook's own output, as it comes, into the terminal and the transcript."""
    TRANSCRIPT.append(chunk.decode("utf-8", "replace"))
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def shown(command: list[str]) -> str:
    """A command line as the demo prints it: paths relative to the checkout."""
    return " ".join(shlex.quote(c.replace(ROOT + os.sep, "")) for c in command)


def run_visibly(command: list[str], env: dict[str, str]) -> str:
    """Run a command, its standard output shown line by line; returns that output."""
    say("    $ " + shown(command))
    done = subprocess.run(command, env=dict(env, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.strip():
            say("    | " + line)
    if done.returncode != 0:
        raise SystemExit("the playbook failed (exit code %d): %s" % (done.returncode, done.stderr[-500:]))
    return done.stdout


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


def private_way(path: str) -> bool:
    """Whether every directory from / to ``path`` is root's or ours and writable by nobody else (what the role demands)."""
    path = os.path.realpath(path)
    parts = [path]
    while os.path.dirname(parts[-1]) != parts[-1]:
        parts.append(os.path.dirname(parts[-1]))
    for directory in parts:
        info = os.stat(directory)
        if info.st_uid not in (0, os.getuid()) or info.st_mode & 0o022:
            return False
    return True


def check_workspace() -> None:
    """Choose where the stand-in host's tree goes: the workspace, unless the settings role would refuse it there.

    The role accepts sealed files only where every directory on the way is root's or ours and writable by nobody
    else; a checkout under /tmp is not. Then the tree goes to a new private directory in the user's home directory
    (from the password database, so a HOME pointed elsewhere does not matter), which the demo removes at its end.
    """
    global HOST_BASE, HOST_BASE_TEMPORARY
    existing = WORK
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if private_way(existing):
        HOST_BASE, HOST_BASE_TEMPORARY = WORK, False
        return
    import pwd

    home = pwd.getpwuid(os.getuid()).pw_dir
    if not os.path.isdir(home) or not private_way(home):
        raise SystemExit(
            "make demo: the stand-in host's sealed files go into the workspace %s, and the settings role accepts them only where "
            "every directory on the way is root's or yours and writable by nobody else (a checkout under /tmp is not), and your "
            "home directory %s is not such a place either. Give a workspace that is: make demo PREAUTH_DEMO_WORKSPACE=DIR "
            "(or tools/demo.py --workspace DIR)." % (WORK, home)
        )
    HOST_BASE, HOST_BASE_TEMPORARY = tempfile.mkdtemp(prefix=".preauth.oauth2-demo-", dir=home), True


def here(path: str) -> str:
    """A path as the demo prints it: relative to the checkout when it is inside."""
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def workspace_shown() -> str:
    return here(WORK)


def demo_target(work: dict[str, str]) -> dict[str, str]:
    """An inventory with one more host, dwh01: a local directory tree standing in for a product host."""
    root = os.path.join(HOST_BASE, "dwh01")
    if HOST_BASE_TEMPORARY:
        say("    (the workspace is under a directory others can write, such as /tmp, which the settings role refuses for sealed")
        say("    files; dwh01's tree goes to %s for this run, removed at the end)" % root)
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    target = {
        "root": root,
        "folder": os.path.join(root, "home", "invantive"),
        # On a real host /var/lib/preauth/sealed/<user>: root's alone, where the service user cannot reach.
        "sealed_dir": os.path.join(root, "var", "lib", "preauth", "sealed", user),
        # On a real host /var/lib/preauth/health/<user>, where the runner records each run for status.yml.
        "health_dir": os.path.join(root, "var", "lib", "preauth", "health", user),
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
        "preauth_settings_health_dir": target["health_dir"],
        "preauth_settings_seal_method": "hostkey",
        "preauth_settings_host_key_path": target["host_key"],
        "preauth_settings_runner_prefix": target["prefix"],
        "preauth_settings_runner_python": sys.executable,
        "preauth_settings_runner_owner": user,
    }
    with open(target["inventory"], "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"dwh01": host}}}, handle, indent=2)
    return target


def age_notes(sealed_dir: str, seconds: int) -> None:
    """Make the runner's first-refresh notes (settings-<connection>.not-before) ``seconds`` older, as warp does to stores."""
    for name in os.listdir(sealed_dir):
        if name.endswith(".not-before"):
            path = os.path.join(sealed_dir, name)
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            text = re.sub(r"(?m)^not_before=(\d+)$", lambda found: "not_before=%d" % (int(found.group(1)) - seconds), text)
            # In place: the file keeps its owner and mode 0600, which the runner checks.
            with open(path, "r+", encoding="utf-8") as handle:
                handle.write(text)
                handle.truncate()


def start_postgres() -> PostgresServer:
    """A throw-away PostgreSQL server for the shared store, in the workspace where the server's user can reach it."""
    try:
        return PostgresServer(os.path.join(WORK, "postgresql")).start()
    except PostgresServerError as exc:
        if "cannot reach" not in str(exc):
            raise SystemExit("cannot start the demo's PostgreSQL server: %s" % exc) from None
    # As root the server runs as user postgres, which cannot enter the private workspace: its files go to the temporary directory.
    try:
        return PostgresServer().start()
    except PostgresServerError as exc:
        raise SystemExit("cannot start the demo's PostgreSQL server: %s" % exc) from None


def shared_inventory(base: str) -> str:
    """Two connections whose chains live in PostgreSQL: no preauth_store_dir, so PREAUTH_OAUTH2_STORE_URL chooses the store."""
    path = os.path.join(WORK, "shared.yml")
    connections = [
        {
            "name": "acme-be",
            "platform": "exact_online",
            "country": "be",
            "base_url": base + "/be",
            "client_id": DEFAULT_CONFIG["clients"][0]["client_id"],
            "client_secret": "{{ demo_exact_secret }}",
            "redirect_uri": "https://preauth.example.test/callback",
        },
        {
            "name": "crm",
            "platform": "generic",
            "issuer": base + "/strict",
            "client_id": DEFAULT_CONFIG["clients"][1]["client_id"],
            "client_secret": "{{ demo_strict_secret }}",
            "redirect_uri": "https://preauth.example.test/callback",
            "scopes": ["openid", "offline_access"],
        },
    ]
    contact = {
        "first_name": "Demo",
        "last_name": "Accountant",
        "job_title": "Controller",
        "email": "demo.accountant@example.test",
        "company": "Example Accountants B.V.",
    }
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"localhost": host}, "vars": {"preauth_contact": contact, "preauth_connections": connections}}}, handle, indent=2)
    return path


def controller_env(env: dict[str, str], name: str, server: PostgresServer) -> dict[str, str]:
    """A controller of its own: its own HOME and Ansible temporary directory, the shared store's URL and password."""
    home = os.path.join(WORK, "controller-" + name)
    os.makedirs(os.path.join(home, ".ansible", "tmp"), mode=0o700)
    out = {k: v for k, v in env.items() if k != "PREAUTH_OAUTH2_STORE_DIR"}
    out.update(HOME=home, ANSIBLE_HOME=os.path.join(home, ".ansible"), ANSIBLE_LOCAL_TEMP=os.path.join(home, ".ansible", "tmp"))
    out.update(ANSIBLE_REMOTE_TEMP=os.path.join(home, ".ansible", "remote-tmp"), PREAUTH_OAUTH2_STORE_URL=server.url, **server.env)
    return out


def msg_lines(output: str, task: str) -> list[str]:
    """The lines of a task's msg (debug, or assert's message: a list, or one string of lines) in a playbook's output."""
    lines: list[str] = []
    inside = listing = False
    for line in output.splitlines():
        if line.startswith("TASK ["):
            inside = line.startswith("TASK [%s" % task)
            listing = False
            continue
        if inside and re.fullmatch(r'\s+"msg": \[\s*', line):
            listing = True
            continue
        if listing and re.fullmatch(r"\s+\],?\s*", line):
            listing = False
            continue
        found = re.fullmatch(r'\s+"(.*)",?\s*', line)
        if listing and found:
            lines.append(found.group(1).replace('\\"', '"'))
            continue
        # A failed assert's message is one string, its lines joined with \n.
        joined = re.fullmatch(r'\s+"msg": "(.*)",?\s*', line)
        if inside and joined:
            lines.extend(json.loads('"%s"' % joined.group(1)).splitlines())
    return lines


def preauthenticate_quietly(command: list[str], env: dict[str, str]) -> list[str]:
    """preauthenticate.yml with the scripted browser as in step 2, without its output: the stored chain's report."""
    user = DEFAULT_CONFIG["users"][0]

    def sign_in(url: str) -> str:
        return ScriptedBrowser(narrate=lambda s: None).login(url, user["username"], user["password"], user["totp_secret"])

    output = io.BytesIO()
    code = Person(sign_in=sign_in).run(command, output=output, env=env)
    text = output.getvalue().decode("utf-8", "replace").replace("\r", "")
    # Not shown, but looked through by the leak check like everything shown.
    TRANSCRIPT.append(text)
    if code != 0:
        raise SystemExit("the preauthentication failed (exit code %d):\n%s" % (code, text[-1500:]))
    return msg_lines(text, "Report the stored chain")


def run_quietly(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """A playbook run whose output the demo picks lines from: its exit code and standard output."""
    done = subprocess.run(command, env=dict(env, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, check=False, timeout=600)
    TRANSCRIPT.append(done.stdout + done.stderr)
    return done.returncode, done.stdout


def run_together(runs: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, str]:
    """Start the commands at the same moment and wait for all; their standard output by name."""
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, (command, env) in runs.items():
            procs[name] = subprocess.Popen(command, env=dict(env, ANSIBLE_NOCOLOR="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outputs = {}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=600)
            TRANSCRIPT.append(stdout + stderr)
            if proc.returncode != 0:
                raise SystemExit("controller %s: the playbook failed (exit code %d): %s%s" % (name, proc.returncode, stdout[-1500:], stderr[-500:]))
            outputs[name] = stdout
        return outputs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def open_pg_store(work: dict[str, str], server: PostgresServer) -> t.Any:
    """The shared store, opened with the collection's own PgTokenStore (the password is put in this process's environment by the caller)."""
    vault = demo_vault(work)
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import PgTokenStore

    return PgTokenStore(server.url, vault, rescue_dir=os.path.join(WORK, "rescue"))


def with_pg_password(server: PostgresServer, action: t.Callable[[], t.Any]) -> t.Any:
    """Run ``action`` with PGPASSWORD set in this process only, so the later child processes do not inherit it unasked."""
    os.environ["PGPASSWORD"] = server.password
    try:
        return action()
    finally:
        del os.environ["PGPASSWORD"]


def shared_store(control: t.Any, base: str, work: dict[str, str], env: dict[str, str], server: PostgresServer) -> tuple[dict[str, str], dict[str, str]]:
    """Step 10: two controllers, one PostgreSQL store; each chain is refreshed once however both run. Returns their environments."""
    inventory = shared_inventory(base)
    version = os.path.basename(os.path.dirname(server.bindir))
    say("    a throw-away PostgreSQL %s server (tests/pgserver.py) runs on 127.0.0.1:%d, its files in %s" % (
        version, server.port, here(server.root)))
    if not server.root.startswith(WORK):
        say("    (as root, the server runs as user %s, which cannot enter the private workspace %s)" % (server.run_as.name, workspace_shown()))
    say("    both controllers get the same two settings; the password stays in the environment, never on a command line:")
    say("        PREAUTH_OAUTH2_STORE_URL=%s" % server.url)
    say("        PGPASSWORD=******** (generated for this server)")
    say("    each controller has its own HOME and ANSIBLE_LOCAL_TEMP: %s/controller-a and %s/controller-b" % (workspace_shown(), workspace_shown()))
    env_a, env_b = controller_env(env, "a", server), controller_env(env, "b", server)
    playbook = [os.path.join(BIN, "ansible-playbook"), "-i", inventory]
    common = ["--vault-password-file", work["password"], "-e", "@" + work["secrets"]]

    say()
    files = os.path.join(WORK, "controller-a", "tokens")
    say("    Until now controller a kept two more connections in its own file store (%s): a person" % here(files))
    say("    preauthenticated them there, with the scripted browser of step 2; only the playbook's report is repeated:")
    for name in SHARED_CONNECTIONS:
        command = playbook + [os.path.join(ROOT, "playbooks", "preauthenticate.yml"), "-e", "preauth_connection=" + name]
        command += ["-e", "preauth_store_dir=" + files] + common
        say("    $ " + shown(command))
        for line in preauthenticate_quietly(command, env_a):
            say("    | " + line)

    say()
    say("    playbooks/store_migrate.yml moves both chains into PostgreSQL, without a new login:")
    move = playbook + [os.path.join(ROOT, "playbooks", "store_migrate.yml"), "-e", "preauth_store_dir=" + files, "-e", "preauth_to_store_url=" + server.url]
    move += common
    say("    $ " + shown(move))
    code, output = run_quietly(move, env_a)
    for line in msg_lines(output, "Show the table"):
        say("    | " + line)
    if code != 0:
        raise SystemExit("store_migrate.yml failed (exit code %d); see the table above" % code)
    with server.connect() as conn:
        rows = conn.execute(
            "SELECT connection, generation, owner_kind, octet_length(document), convert_from(substr(document, 1, 25), 'UTF8') "
            "FROM preauth_oauth2_chain ORDER BY connection"
        ).fetchall()
    say("    the table preauth_oauth2_chain now holds, per connection, the same vault-encrypted document a file store keeps:")
    for row in rows:
        say("    | %-8s generation %s, owner %s, document %d bytes starting with %s" % row)
    say("    the file store keeps a tombstone per connection: a refresh from it, even forced, is refused and sends nothing")
    stale = playbook + [os.path.join(ROOT, "playbooks", "refresh.yml"), "-e", "preauth_store_dir=" + files, "-e", "preauth_force=true"] + common
    say("    $ " + shown(stale))
    calls = control.state()["token_calls_total"]
    code, output = run_quietly(stale, env_a)
    for line in msg_lines(output, "Report the connections"):
        say("    | " + line)
    sent = control.state()["token_calls_total"] - calls
    say("    exit code %d; token calls: %d" % (code, sent))
    if code == 0 or sent:
        raise SystemExit("the old file store did not refuse to refresh the moved chains: a bug to report")

    say()
    say("    2 hours later: every access token has expired (Exact Online's live 10 minutes, crm's an hour); with")
    say("    preauth_access_token_min_ttl=300 refresh.yml wants a fresh one for each connection")
    pg_store = with_pg_password(server, lambda: open_pg_store(work, server))
    try:
        chain_of = with_pg_password(server, lambda: {n: pg_store.read(n).data["tokens"]["refresh_fingerprint"] for n in SHARED_CONNECTIONS})
        with_pg_password(server, lambda: warp(2 * 3600, control, pg_store))
    finally:
        pg_store.close()
    before = control.state()
    chains = {c["refresh_fingerprint"]: c["chain_id"] for c in before["chains"] if c["refresh_fingerprint"]}
    chain_of = {name: chains[fingerprint] for name, fingerprint in chain_of.items()}
    refresh = playbook + [os.path.join(ROOT, "playbooks", "refresh.yml"), "-e", "preauth_access_token_min_ttl=300"]
    refresh += ["-e", "preauth_report_unchanged=true"] + common  # a line for each connection, also where the other controller was first
    say("    controllers a and b start the same command at the same moment (as two cron jobs, or cron and AWX, would):")
    say("    $ " + shown(refresh))
    outputs = run_together({"a": (refresh, env_a), "b": (refresh, env_b)})
    for name, output in outputs.items():
        for line in msg_lines(output, "Report the connections"):
            say("    controller %s | %s" % (name, line))
    after = control.state()
    counts = {c["chain_id"]: c for c in after["chains"]}
    old = {c["chain_id"]: c for c in before["chains"]}
    say("    whichever controller takes a connection's lease (a PostgreSQL advisory lock) first refreshes it; the other, if it")
    say("    comes meanwhile, waits for the lease, then reads the new document and has nothing to do. The simulator counted:")
    wrong = []
    for name, chain in chain_of.items():
        refreshed = counts[chain]["refreshes"] - old[chain]["refreshes"]
        say("    | %-8s chain refreshed %d time(s) in this step, %s" % (name, refreshed, counts[chain]["state"]))
        if refreshed != 1 or counts[chain]["state"] != "alive":
            wrong.append(name)
    say("    | token calls: %d; chains revoked: %d" % (after["token_calls_total"] - before["token_calls_total"], after["chains_revoked"]))
    if wrong or after["chains_revoked"]:
        raise SystemExit("the shared store did not keep every chain alive with one refresh each (%s): a bug to report" % ", ".join(wrong or ["revoked"]))

    say()
    say("    playbooks/status.yml on controller b, which never preauthenticated anything, shows both chains:")
    run_visibly(playbook + [os.path.join(ROOT, "playbooks", "status.yml")] + common, env_b)
    return env_a, env_b


# Step 11: the person who consents is somewhere else.
CONSENT_ROLE = "preauth_consent"
CONSENT_CONNECTION = "retail-nl"
# Who the invitee is, as she types it into the consent form (the e-mail comes prefilled from the invitation).
INVITEE = {
    "first_name": "Bea",
    "last_name": "Boekhouder",
    "job_title": "Hoofd administratie",
    "email": "bea.boekhouder@acme-retail.example",
    "company": "Acme Retail B.V.",
}
OPERATOR = {"company": "Example Accountants B.V.", "contact": "support@example-accountants.test"}
# What the leak check looks for besides the simulator's secrets: kind -> values (the link token, the service role's password).
CONSENT_SECRETS: dict[str, list[str]] = {}
# Files that hold a secret by design, left out of the leak check: the consent service's client secret file.
LEAK_EXCLUDE: list[str] = []


class ConsentService:
    """The consent service as its own process (python -m ..._consent), its output in a log file of the workspace."""

    def __init__(self, command: list[str], env: dict[str, str], log: str, url: str) -> None:
        self.command, self.env, self.log, self.url = command, env, log, url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ConsentService:
        import time
        import urllib.error

        with open(self.log, "ab") as handle:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=os.path.dirname(self.log)
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("the consent service stopped at once (exit code %d):\n%s" % (self.proc.returncode, self.tail()))
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).close()
                return self
            except urllib.error.HTTPError:
                return self  # it answers (404 for /): it is up
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the consent service did not answer within 30 s:\n%s" % self.tail())

    def tail(self, lines: int = 20) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def consent_missing() -> str | None:
    """Why the consent scene cannot run here, or None."""
    import importlib.util

    lacking = [name for name in ("flask", "waitress", "playwright") if importlib.util.find_spec(name) is None]
    if lacking:
        return "this Python (%s) lacks %s: tools/bootstrap.sh new installs them with ansible-core 2.21, which needs Python 3.12 or newer" % (
            sys.executable, ", ".join(lacking))
    if shutil.which("chromium") is None:
        return "Debian's chromium is missing: tools/system-deps.sh demo installs it"
    return None


def consent_inventory(base: str, service_url: str) -> str:
    """The shared inventory of step 10 with one more Exact Online connection, retail-nl, and the consent service's address."""
    with open(os.path.join(WORK, "shared.yml"), encoding="utf-8") as handle:
        inventory = json.load(handle)
    group = inventory["all"]["vars"]
    group["preauth_connections"].append(
        {
            "name": CONSENT_CONNECTION,
            "platform": "exact_online",
            "country": "nl",
            "base_url": base + "/nl",
            "client_id": DEFAULT_CONFIG["clients"][0]["client_id"],
            "client_secret": "{{ demo_exact_secret }}",
            "app_name": "Example Accountants Reporting",
            # The consent service's callback, registered with the app beside the one the controller uses.
            "redirect_uri": service_url + "/callback",
        }
    )
    group["preauth_consent_service_url"] = service_url
    group["preauth_operator"] = OPERATOR
    path = os.path.join(WORK, "consent.yml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle, indent=2)
    return path


def invitee_in_browser(link: str, shots: str, brief: bool = False) -> None:
    """A scripted invitee in headless chromium (Debian's, through Playwright): the invitation, the form, the sign-in, the result.

    ``brief``: three lines instead of one per page (the second time, step 12)."""
    from playwright.sync_api import sync_playwright

    from simulator.totp import totp

    user = DEFAULT_CONFIG["users"][0]
    os.makedirs(shots, mode=0o700, exist_ok=True)
    taken: list[str] = []

    def shot(page: t.Any, name: str) -> None:
        path = os.path.join(shots, name + ".png")
        page.screenshot(path=path, full_page=True)
        taken.append(os.path.basename(path))

    def detail(text: str) -> None:
        if not brief:
            say(text)

    def tell(text: str) -> None:
        detail("    [invitee] " + text)

    seen: list[str] = []  # what the brief version says: the invitation's heading, the fields she typed, the result's heading

    with sync_playwright() as playwright:
        # No sandbox: the demo may run as root, where chromium's sandbox refuses to start. Playwright's profile is temporary.
        # Its caches, configuration and crash reports go to a home of its own in the workspace, not to the user's.
        home = os.path.join(WORK, "consent", "browser-home")
        os.makedirs(home, mode=0o700, exist_ok=True)
        places = {"HOME": home, "XDG_CACHE_HOME": os.path.join(home, ".cache"), "XDG_CONFIG_HOME": os.path.join(home, ".config")}
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"], headless=True, env=dict(os.environ, **places)
        )
        try:
            context = browser.new_context(locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"}, viewport={"width": 1000, "height": 900})
            context.set_default_timeout(20000)
            page = context.new_page()
            tell("Bea Boekhouder, bookkeeper of Acme Retail B.V., opens the link from her e-mail (headless chromium, Dutch)")
            page.goto(link)
            page.wait_for_selector("html[lang=nl]")
            seen.append(page.inner_text("h1"))
            detail("    page 1, the consent service's invitation:  %s" % page.inner_text("h1"))
            detail("        %s" % page.inner_text("#who"))
            detail("        %s" % page.inner_text("#contact"))
            detail("        the e-mail is prefilled from the invitation: %s" % page.input_value("#email"))
            shot(page, "1-uitnodiging")
            typed_in: list[str] = []
            for field in ("first_name", "last_name", "job_title", "email", "company"):
                if page.input_value("#" + field) != INVITEE[field]:
                    page.fill("#" + field, INVITEE[field])
                    typed_in.append(page.inner_text("label[for=%s]" % field).strip())
            page.check("#consent")
            typed = ", ".join("%s %s" % (page.inner_text("label[for=%s]" % f).strip(), INVITEE[f]) for f in ("first_name", "last_name", "job_title", "company"))
            tell("types %s; ticks \"%s\"" % (typed, page.inner_text("label.check").strip()))
            shot(page, "2-formulier-ingevuld")
            tell("presses \"%s\"" % page.inner_text("#continue").strip())
            with page.expect_navigation(url="**/api/oauth2/auth**"):
                page.click("#continue")
            page.wait_for_selector("form#login")
            detail("    page 2, the platform's sign-in (the simulator's Exact Online, %s):  %s" % (page.url.split("/api/")[0], page.inner_text("h1")))
            page.fill("form#login input[name=username]", user["username"])
            page.fill("form#login input[name=password]", user["password"])
            shot(page, "3-exact-online-inloggen")
            tell("signs in with her own user name %s and password (the consent service never sees them)" % user["username"])
            with page.expect_navigation():
                page.click("form#login button")
            page.wait_for_selector("form#mfa")
            detail("    page 3, two-step verification:  %s" % page.inner_text("h1"))
            page.fill("form#mfa input[name=totp]", totp(user["totp_secret"]))
            shot(page, "4-tweestapsverificatie")
            tell("types the six-digit code her authenticator app shows")
            with page.expect_navigation():
                page.click("form#mfa button")
            page.wait_for_selector("form#consent")
            detail("    page 4, the platform asks for consent:  %s" % page.inner_text("h1"))
            shot(page, "5-exact-online-toestemming")
            tell("presses Allow; Exact Online sends her browser back to the consent service with a code, which it exchanges at once")
            with page.expect_navigation(url="**/p/success"):
                page.click("form#consent button[value=allow]")
            detail("    page 5, the consent service's result:  %s" % page.inner_text("h1"))
            detail("        %s" % " ".join(text.strip() for text in page.locator("main p").all_inner_texts()))
            shot(page, "6-gelukt")
            seen.append(page.inner_text("h1"))
            if "toegang gegeven" not in page.inner_text("main"):
                raise SystemExit("the consent service did not show its success page: a bug to report")
            context.close()
        finally:
            browser.close()
    if brief:
        say("    [invitee] Bea opens the link from the mail in chromium: \"%s\"" % seen[0])
        say("    [invitee] %s, ticks the consent, signs in at Exact Online with two-step verification, presses Allow" % (
            "types %s again (the rest comes prefilled from her last consent)" % " and ".join(typed_in) if typed_in else "finds the form filled in"))
        say("    [invitee] the consent service: \"%s\" (screenshots in %s/)" % (seen[1], here(shots)))
        return
    say("    screenshots of each page: %s/ (%s)" % (here(shots), ", ".join(taken)))


def consent_elsewhere(
    control: t.Any, base: str, work: dict[str, str], server: PostgresServer, env_a: dict[str, str], env_b: dict[str, str], running: list[ConsentService]
) -> None:
    """Step 11: an invitation, a consent service of its own, an invitee in a browser elsewhere; refresh imports, status shows.

    The service it starts goes into ``running``, which the caller stops at the end, also when a line here fails."""
    from psycopg import sql

    why = consent_missing()
    if why:
        say("    skipped: %s" % why)
        return
    directory = os.path.join(WORK, "consent")
    os.makedirs(directory, mode=0o700)
    port = free_port()
    service_url = "http://127.0.0.1:%d" % port
    inventory = consent_inventory(base, service_url)
    say("    The bookkeeper of a client, Acme Retail B.V., holds its Exact Online login and the phone with its two-step code;")
    say("    she is not at the controller. The operator invites her to the new connection %s through a link to the consent" % CONSENT_CONNECTION)
    say("    service, a small web service of the collection that shares only the PostgreSQL store with the controllers.")
    say("    (%s: step 10's inventory with %s, preauth_consent_service_url and preauth_operator)" % (here(inventory), CONSENT_CONNECTION))

    say()
    say("    1. The database's administrator makes the service's own login role (as PostgreSQL's superuser):")
    password = token_urlsafe(24)
    CONSENT_SECRETS["consent service's database password"] = [password]
    with server.admin_connect() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(CONSENT_ROLE), sql.Literal(password)))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier("preauth"), sql.Identifier(CONSENT_ROLE)))
    say("    | CREATE ROLE %s LOGIN PASSWORD '********';  -- generated for this run" % CONSENT_ROLE)
    say("    | GRANT CONNECT ON DATABASE preauth TO %s;" % CONSENT_ROLE)

    say()
    say("    2. The store's owner (controller a, with the vault password) grants it exactly what the service needs, with the")
    say("       invite playbook's preauth_consent_service_role (which also makes the store's landing key):")
    realm = control.realms()["nl"]
    client = DEFAULT_CONFIG["clients"][0]
    grant = [os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.invite", "-i", inventory, "--vault-password-file", work["password"]]
    grant += ["-e", "@" + work["secrets"], "-e", "preauth_connection=" + CONSENT_CONNECTION, "-e", "preauth_consent_service_role=" + CONSENT_ROLE]
    grant += ["-e", "preauth_invitation_state=list"]
    run_visibly(grant, env_a)

    say()
    say("    3. Exact Online's app registration gets the service's callback %s/callback as a second redirect URI;" % service_url)
    say("       the consent service runs as its own process with the restricted role, an apps file and a secret file:")
    # The simulator's app, as before, with one more redirect URI (the App Center's "add a redirect URI").
    control.add_client(**dict(client, redirect_uris=client["redirect_uris"] + [service_url + "/callback"]))
    secret_file = os.path.join(directory, "exact-client-secret")
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(client["client_secret"] + "\n")
    LEAK_EXCLUDE.append(secret_file)
    key_file = os.path.join(directory, "service-key")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token_urlsafe(48) + "\n")
    apps_file = os.path.join(directory, "apps.json")
    # A relative secret_file is found beside the apps file (or in systemd's credentials directory, as the role deploys it).
    entry = {"secret_file": "exact-client-secret", "platform": "exact_online", "authorize_url": realm["authorize"], "token_url": realm["token"]}
    apps = {client["client_id"]: entry}
    with open(apps_file, "w", encoding="utf-8") as handle:
        json.dump({"apps": apps}, handle, indent=2)
    say("    %s (the secret file beside it holds the app's fake client secret, mode 0600):" % here(apps_file))
    for line in json.dumps({"apps": apps}, indent=2).splitlines():
        say("    | " + line)
    database_url = "postgresql://%s@127.0.0.1:%d/preauth" % (CONSENT_ROLE, server.port)
    command = [
        sys.executable, "-m", "ansible_collections.preauth.oauth2.plugins.plugin_utils._consent",
        "--listen", "127.0.0.1:%d" % port, "--public-url", service_url, "--database-url", database_url,
        "--apps", apps_file, "--secret-key-file", key_file, "--insecure-cookies",
    ]
    log = os.path.join(directory, "service.log")
    # A clean environment, as a service manager gives: the collection on the path, the role's password in PGPASSWORD.
    service_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": directory, "PGPASSWORD": password}
    service_env["PYTHONPATH"] = os.path.join(ROOT, "build", "collections")
    say("    $ PGPASSWORD=******** PYTHONPATH=build/collections " + shown(command) + " >" + here(log) + " 2>&1 &")
    service = ConsentService(command, service_env, log, service_url)
    running.append(service)  # main() stops it, whatever fails below
    service.start()
    started = [line for line in service.tail().splitlines() if " consent service on " in line]
    say("    | (%s) %s" % (here(log), started[-1].split(" ", 2)[-1] if started else "(no start line)"))
    say("    (plain http and --insecure-cookies only because it listens on 127.0.0.1; a real one is behind an HTTPS proxy)")

    say()
    say("    4. The operator invites her; the playbook prints the link once (it works once, for 7 days):")
    invite = [os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.invite", "-i", inventory, "--vault-password-file", work["password"]]
    invite += ["-e", "@" + work["secrets"], "-e", "preauth_connection=" + CONSENT_CONNECTION, "-e", "preauth_invitee_email=" + INVITEE["email"]]
    invite += ["-e", '{"preauth_invitee":{"language":"nl"}}']
    output = run_visibly(invite, env_a)
    found = sorted(set(re.findall(r"%s/i/([A-Za-z0-9_-]{16,128})" % re.escape(service_url), output)))
    if len(found) != 1:
        raise SystemExit("the invite playbook did not print one link: a bug to report")
    token = found[0]
    CONSENT_SECRETS["invitation link token"] = [token]
    lines = [line for line in output.splitlines() if token in line]
    if len(lines) != 1:
        raise SystemExit("the invite playbook printed the link token on %d lines, not one: a bug to report" % len(lines))
    say("    (the operator sends it by e-mail to her alone: the link is a bearer credential; the store keeps only its SHA-256)")

    say()
    say("    5. Elsewhere, the invitee follows the link:")
    before = control.state()
    invitee_in_browser(service_url + "/i/" + token, os.path.join(directory, "screenshots"))
    after = control.state()
    say("    the consent service exchanged the code (token calls: %d), sealed the chain to the store's landing key, whose private" % (
        after["token_calls_total"] - before["token_calls_total"]))
    say("    half only a controller with the vault password opens, and left it in the store; it cannot read a chain itself")

    say()
    say("    6. On controller b, the next scheduled refresh imports the landing as the chain of %s:" % CONSENT_CONNECTION)
    common = ["-i", inventory, "--vault-password-file", work["password"], "-e", "@" + work["secrets"]]
    run_visibly([os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.refresh"] + common, env_b)
    say()
    say("    7. status shows the new chain and who consented:")
    output = run_visibly([os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.status"] + common, env_b)
    if "%s %s" % (INVITEE["first_name"], INVITEE["last_name"]) not in output or not re.search(r"\b%s\s+exact_online\s+controller" % CONSENT_CONNECTION, output):
        raise SystemExit("status.yml does not show %s's chain with the invitee's name: a bug to report" % CONSENT_CONNECTION)


# Step 12: a chain dies, and the people who own it are told.
TEAM = "data-team@example-accountants.test"
SENDER = "preauth@example-accountants.test"
# A fake Standard Webhooks signing secret, obviously one: whsec_ and base64 of these 33 bytes. In secrets.yml, vault-encrypted.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"FAKE-demo-webhook-secret-not-real").decode("ascii")
# The messages that carry a fresh invitation link by design -> its token, which the leak check accepts there, once each.
LINK_ALLOWED: dict[str, str] = {}


def notify_missing() -> str | None:
    """Why the notification scene cannot run here, or None."""
    import importlib.util

    lacking = [name for name in ("aiosmtpd", "standardwebhooks") if importlib.util.find_spec(name) is None]
    if lacking:
        return "this Python (%s) lacks %s, which the mail and webhook receivers of tests/receivers.py need" % (sys.executable, ", ".join(lacking))
    return None


def add_to_secrets(work: dict[str, str], name: str, value: str) -> None:
    """One more variable in the demo's vault-encrypted secrets.yml (decrypted in memory only, written anew, mode 0600)."""
    vault = demo_vault(work)
    with open(work["secrets"], "rb") as handle:
        plain = vault.decrypt(handle.read()).decode("utf-8")
    new = work["secrets"] + ".new"
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(vault.encrypt(plain + "%s: %s\n" % (name, value)))
    os.replace(new, work["secrets"])


def notify_inventory(smtp_port: int, webhook_url: str) -> tuple[str, dict[str, t.Any]]:
    """Step 11's inventory with preauth_notify: the mailbox, the team's address, Dutch, the webhook (its secret from the vault)."""
    with open(os.path.join(WORK, "consent.yml"), encoding="utf-8") as handle:
        inventory = json.load(handle)
    notify = {
        "email": [TEAM],
        "language": "nl",
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "sender": SENDER},
        "webhooks": [{"name": "tickets", "url": webhook_url, "secret": "{{ demo_webhook_secret }}"}],
    }
    inventory["all"]["vars"]["preauth_notify"] = notify
    path = os.path.join(WORK, "notify.yml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle, indent=2)
    return path, notify


def private_file(path: str, data: bytes) -> None:
    """Write a file of mode 0600 (a mail with an invitation link is for its recipient)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)


def keep_messages(box: t.Any, hook: t.Any, directory: str, service_url: str) -> None:
    """Every mail as the mailbox got it (.eml) and decoded (.txt), every webhook body (.json), for step 13's leak check."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for number, (rcpt, message) in enumerate(list(box.messages), 1):
        base = os.path.join(directory, "%d-%s" % (number, rcpt))
        body = box.body(message)
        decoded = "".join("%s: %s\n" % (k, message[k]) for k in ("From", "To", "Subject", "Date", "Message-ID")) + "\n" + body
        links = re.findall(re.escape(service_url) + r"/i/([A-Za-z0-9_-]{16,128})", body)
        for path, data in ((base + ".eml", message.as_bytes()), (base + ".txt", decoded.encode("utf-8"))):
            private_file(path, data)
            if links:
                LINK_ALLOWED[path] = links[0]
    for number, event in enumerate(list(hook.received), 1):
        data = json.dumps({"webhook-id": event["id"], "body": event["body"]}, indent=2).encode("utf-8")
        private_file(os.path.join(directory, "webhook-%d-%s.json" % (number, event["payload"]["type"])), data)


def tell_the_owners(control: t.Any, work: dict[str, str], server: PostgresServer, env_b: dict[str, str], running: list[ConsentService]) -> None:
    """Step 12: retail-nl's chain dies; preauth_notify tells Bea and the team once, with a fresh link; she consents; "recovered"."""
    why = notify_missing() or (None if running else "step 11's consent service is not running (step 11 was skipped)")
    if why:
        say("    skipped: %s" % why)
        return
    from receivers import Mailbox, WebhookReceiver
    from simulator.flows import refresh as platform_refresh

    service_url = running[0].url
    directory = os.path.join(WORK, "consent", "mail")
    add_to_secrets(work, "demo_webhook_secret", WEBHOOK_SECRET)
    CONSENT_SECRETS["webhook signing secret"] = [WEBHOOK_SECRET]
    with Mailbox() as box, WebhookReceiver(WEBHOOK_SECRET) as hook:
        inventory, notify = notify_inventory(box.port, hook.url)
        say("    %s is step 11's inventory with preauth_notify: an SMTP server and a webhook receiver that checks" % here(inventory))
        say("    signatures (tests/receivers.py) on 127.0.0.1; the webhook's fake secret is vault-encrypted in %s:" % here(work["secrets"]))
        say("    | \"preauth_notify\": {\"email\": %s, \"language\": %s," % (json.dumps(notify["email"]), json.dumps(notify["language"])))
        say("    |   \"smtp\": %s," % json.dumps(notify["smtp"]))
        say("    |   \"webhooks\": %s}" % json.dumps(notify["webhooks"]))
        common = ["-i", inventory, "--vault-password-file", work["password"], "-e", "@" + work["secrets"]]
        refresh = [os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.refresh"] + common

        say()
        say("    1. 24 days later. Meanwhile a copy of %s's chain was used elsewhere (an export on a developer's laptop):" % CONSENT_CONNECTION)
        say("       Exact Online rotated the refresh token there, so the one in the store is spent. Controller b's nightly refresh:")
        pg_store = with_pg_password(server, lambda: open_pg_store(work, server))
        try:
            with_pg_password(server, lambda: warp(24 * 86400, control, pg_store))
            copy = with_pg_password(server, lambda: pg_store.read(CONSENT_CONNECTION).data["tokens"]["refresh_token"])
        finally:
            pg_store.close()
        if platform_refresh(control.realms()["nl"]["token"], DEFAULT_CONFIG["clients"][0], copy).status_code != 200:
            raise SystemExit("the copy of %s's chain could not be refreshed elsewhere: a bug in the demo" % CONSENT_CONNECTION)
        del copy
        say("    $ " + shown(refresh))
        code, output = run_quietly(refresh, env_b)
        for line in msg_lines(output, "Report the connections") + msg_lines(output, "Show who was told what")[:-1]:
            say("    | " + line)
        say("    exit code %d (a chain that needs a new consent fails the run, for cron's mail and AWX)" % code)
        mine, team = box.to(INVITEE["email"]), box.to(TEAM)
        if code == 0 or "%s: dead: sent" % CONSENT_CONNECTION not in output or len(mine) != 1 or len(team) != 1 or hook.types() != ["connection.dead"]:
            raise SystemExit("refresh.yml did not tell Bea and the team once that %s died: a bug to report" % CONSENT_CONNECTION)
        body = box.body(mine[0])
        links = re.findall(re.escape(service_url) + r"/i/([A-Za-z0-9_-]{16,128})", body)
        if len(links) != 1 or links[0] in output:
            raise SystemExit("the message about %s has no fresh invitation link, or the run's output shows it: a bug to report" % CONSENT_CONNECTION)
        CONSENT_SECRETS.setdefault("invitation link token", []).append(links[0])
        keep_messages(box, hook, directory, service_url)

        say()
        say("    2. What Bea got, as the mailbox received it (the team the same; every mail and webhook body is kept in")
        say("       %s/ for step 13); the link is a bearer credential, masked here:" % here(directory))
        say("    | From: %s  To: %s" % (mine[0]["From"], mine[0]["To"]))
        say("    | Subject: %s" % mine[0]["Subject"])
        lines = body.splitlines()
        # The reason, and the link with the line that introduces it.
        for number, line in enumerate(lines):
            if line.strip() and (line.startswith(("Wat er aan de hand", "Melding van het platform")) or links[0] in "".join(lines[number:number + 3])):
                say("    | " + line.replace(links[0], "******** (masked by the demo; a new link, made for this message)"))
        say("    the webhook receiver verified the signature of one POST: %s (its JSON holds no link)" % ", ".join(hook.types()))

        say()
        say("    3. The next night's refresh (the same command) fails the same way, and tells nobody again:")
        code, output = run_quietly(refresh, env_b)
        for line in msg_lines(output, "Report the connections")[-1:]:
            say("    | " + line)
        say("    mails in the mailbox: %d, as before; webhook events: %d" % (len(box.messages), len(hook.received)))
        if len(box.messages) != 2 or len(hook.received) != 1 or "%s: dead" % CONSENT_CONNECTION in output:
            raise SystemExit("the second refresh told someone again: a bug to report")

        say()
        say("    4. Bea follows the link in the mail:")
        invitee_in_browser(service_url + "/i/" + links[0], os.path.join(WORK, "consent", "screenshots-again"), brief=True)

        say()
        say("    5. status.yml imports the consent and tells Bea and the team that %s works again:" % CONSENT_CONNECTION)
        status = [os.path.join(BIN, "ansible-playbook"), "preauth.oauth2.status"] + common
        say("    $ " + shown(status))
        code, output = run_quietly(status, env_b)
        table = [line for line in msg_lines(output, "Show the table") if re.match(r"%s\s+exact_online" % CONSENT_CONNECTION, line)]
        for line in table + msg_lines(output, "Show who was told what")[:-1]:
            say("    | " + line)
        again = box.to(INVITEE["email"])
        if code != 0 or "%s: recovered: sent" % CONSENT_CONNECTION not in output or len(again) != 2 or len(box.to(TEAM)) != 2:
            raise SystemExit("status.yml did not tell Bea and the team once that %s recovered: a bug to report" % CONSENT_CONNECTION)
        say("    Bea's second mail: \"%s\"; the webhook's events: %s" % (again[1]["Subject"], ", ".join(hook.types())))
        keep_messages(box, hook, directory, service_url)


def scan_consent_secrets(paths: list[str], transcript: str) -> tuple[int, list[dict[str, str]]]:
    """Look for CONSENT_SECRETS (which the simulator does not know) as the simulator's scan looks for its own: raw,
    URL-encoded, JSON-escaped. Step 11's link token may be in the transcript once: the invite playbook's line with the link;
    the fresh link of step 12 once in each file of a message that carries it (LINK_ALLOWED)."""
    import stat
    import urllib.parse

    needles = []
    for kind, values in CONSENT_SECRETS.items():
        for value in values:
            once = urllib.parse.quote(value, safe="")
            for variant in dict.fromkeys((value, once, urllib.parse.quote(once, safe=""), json.dumps(value)[1:-1], urllib.parse.quote_plus(value))):
                needles.append((kind, variant.encode("utf-8")))
    tokens = CONSENT_SECRETS.get("invitation link token", [])
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(os.path.join(root, n) for root, _dirs, names in os.walk(path) for n in names)
        elif os.path.isfile(path):
            files.append(path)
    leaks: list[dict[str, str]] = []
    scanned = 0
    for name in files:
        info = os.lstat(name)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 64 * 1024 * 1024:
            continue
        with open(name, "rb") as handle:
            content = handle.read()
        scanned += 1
        if name == transcript and tokens:
            # The one allowed place: the invite playbook's debug line that shows the link, exactly once.
            lines = [line for line in content.splitlines() if any(token.encode() in line for token in tokens)]
            allowed = len(lines) == 1 and re.fullmatch(rb'\s+\| +"http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_-]+",?', lines[0]) is not None
            if allowed and content.count(tokens[0].encode()) == 1:
                content = content.replace(tokens[0].encode(), b"")
        allowed_link = LINK_ALLOWED.get(name, "").encode()
        if allowed_link and content.count(allowed_link) == 1:
            # A dead-chain message carries its fresh link by design: once, in the file of that message.
            content = content.replace(allowed_link, b"")
        kinds = sorted({kind for kind, needle in needles if needle in content})
        leaks.extend({"path": name, "kind": kind} for kind in kinds)
    return scanned, leaks


def leak_check(control: t.Any, server: PostgresServer | None, runtime: str | None) -> bool:
    """Step 13: the simulator looks for every secret it issued or holds in everything the demo printed and wrote;
    the demo itself looks for the invitations' link tokens, the consent service's database password and the webhook secret."""
    transcript = os.path.join(WORK, "transcript.txt")
    with open(transcript, "w", encoding="utf-8") as handle:
        handle.writelines(TRANSCRIPT)
    paths = [WORK]
    if server is not None and server.root:
        paths += [server.datadir, server.logfile]
    if runtime is not None and os.path.isdir(runtime):
        paths.append(runtime)
    report = control._call("POST", "/_sim/scan", {"paths": paths, "exclude": LEAK_EXCLUDE})
    scanned, ours = scan_consent_secrets(paths, transcript)
    leaks = report["leaks"] + ours
    say("    looked for %d secret values (client secrets, password, TOTP secret, codes, PKCE verifiers, access and refresh" % report["values"])
    say("    tokens) in %d files: this printout with every playbook's full output (%s/transcript.txt), the workspace" % (report["files"], workspace_shown()))
    say("    with both controllers' homes, the PostgreSQL server's data files and log")
    if CONSENT_SECRETS:
        say("    and the consent service's log (%s/consent/service.log), its files and the invitee's screenshots%s" % (
            workspace_shown(), "," if LINK_ALLOWED else "; left out:"))
        if LINK_ALLOWED:
            say("    and the mails and webhook bodies of step 12 (%s/consent/mail); left out:" % workspace_shown())
        say("    %s, the service's client secret file, which holds the secret by design" % ", ".join(here(p) for p in LEAK_EXCLUDE))
        kinds = ["the %s%s" % (kind, "s" if len(values) > 1 else "") for kind, values in sorted(CONSENT_SECRETS.items())]
        text = "the demo looked for %s in the same %d files: %s link token may be only in the one line of the transcript where " % (
            " and ".join(", ".join(kinds).rsplit(", ", 1)), scanned, "step 11's" if LINK_ALLOWED else "the")
        text += "the invite playbook printed the link" + (", step 12's fresh one only in the mails that carry it" if LINK_ALLOWED else "")
        for line in textwrap.wrap(text, 116):
            say("    " + line)
    for leak in leaks:
        say("    LEAK: %s in %s" % (leak["kind"], leak["path"]))
    say("    %s" % ("found none" if not leaks else "%d leak(s): a bug to report" % len(leaks)))
    return not leaks


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/demo.py", description="The story of preauth.oauth2 against the local simulator (make demo).")
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=os.environ.get("PREAUTH_DEMO_WORKSPACE") or DEFAULT_WORK,
        help="where the demo writes everything; emptied first (default: $PREAUTH_DEMO_WORKSPACE, else build/demo of the checkout)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global WORK
    WORK = os.path.abspath(os.path.expanduser(parse_args(sys.argv[1:] if argv is None else argv).workspace))
    check_workspace()
    say("preauth.oauth2 demo: preauthenticate an Exact Online connection against the local simulator")
    process = SimulatorProcess(control=True)
    control = process.start()
    server: PostgresServer | None = None
    consent: list[ConsentService] = []
    runtime: str | None = None
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
        say("    client secret: in %s (ansible-vault encrypted); vault password: a fake demo value" % here(work["secrets"]))
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
            # The example inventory names build/demo/tokens; the workspace may be elsewhere.
            "-e",
            "preauth_store_dir=" + os.path.join(WORK, "tokens"),
        ]
        person = Person(sign_in=sign_in, echo=echo)
        code = person.run(command, env=env)
        if code != 0:
            say("the preauthentication failed (exit code %d)" % code)
            return 1

        step(3, "The token store: one ansible-vault encrypted file per connection")
        store = os.path.join(WORK, "tokens", "acme-nl.yml")
        with open(store, encoding="utf-8") as handle:
            say("    %s starts with: %s" % (here(store), handle.readline().strip()))
        say("    ansible-vault view %s  (token values masked in this printout):" % here(store))
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
        common += ["-e", "preauth_store_dir=" + os.path.join(WORK, "tokens")]
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
        say("    dwh01 stands in for the product host: a local directory tree under %s, so the demo needs no" % here(target["root"]))
        say("    SSH and no root (make test deploys over real SSH); the product's service user is you.")
        deploy = playbook + ["-i", target["inventory"], os.path.join(ROOT, "playbooks", "deploy.yml")] + common
        deploy += ["-e", "preauth_deploy_hosts=dwh01", "-e", "preauth_deploy_become=false"]
        run_visibly(deploy + ["--diff"], env)
        sealed = os.path.join(target["sealed_dir"], "settings-acme-nl.xml.sealed")
        with open(sealed, "rb") as handle:
            data = handle.read()
        say("    %s: %d bytes, mode %o; it starts with %r and holds no readable setting" % (
            here(sealed), len(data), os.stat(sealed).st_mode & 0o777, data[:8]))
        say("    (connectionString in the file: %s; a copy on another machine does not unseal)" % ("yes" if b"connectionString" in data else "no"))

        step(8, "The product runs through the runner: unsealed into memory for the run only, then removed")
        say("    Exact Online refuses a refresh within 570 s of the controller's last token call, so the runner would wait until")
        say("    then before it starts the product (the note beside the sealed file says when); the demo moves the world 10")
        say("    minutes forward instead: the simulator's clock, the store's times and that note")
        warp(600, control, open_store(work))
        age_notes(target["sealed_dir"], 600)
        # The run directory must be on a memory file system, which the workspace is not: a private one under /dev/shm.
        runtime = tempfile.mkdtemp(prefix="preauth-demo-", dir="/dev/shm") if os.path.isdir("/dev/shm") else os.path.join(target["root"], "run")
        runner = [
            os.path.join(target["prefix"], "bin", "preauth-run"),
            "--sealed-dir", target["sealed_dir"],
            "--settings-dir", target["folder"],
            "--health-dir", target["health_dir"],
            "--host-key", target["host_key"],
            "--runtime-dir", runtime,
            "--", sys.executable, os.path.join(ROOT, "tools", "demo_product.py"),
        ]
        run_visibly(runner, env)
        left = [os.path.join(r, n) for r, ds, fs in os.walk(runtime) for n in ds + fs if n.startswith(("run-", "settings"))]
        say("    after the run: %s" % ("left behind: " + ", ".join(left) if left else "nothing of it is left in " + runtime))
        with open(os.path.join(target["health_dir"], "acme-nl.json"), encoding="utf-8") as handle:
            record = json.load(handle)
        say("    the runner recorded the run for playbooks/status.yml in %s/acme-nl.json (no secret): %s, exit status %d, generation %s"
            % (here(target["health_dir"]), record["status"], record["exit_status"], record["generation"]))
        say("    the stored chain's refresh token fingerprint: %s" % (open_store(work).read("acme-nl").data["tokens"]["refresh_fingerprint"]))

        step(9, "Deploy again: nothing changes; acme-nl belongs to dwh01 now, so refresh.yml leaves it alone")
        run_visibly(deploy, env)
        run_visibly(playbook + [os.path.join(ROOT, "playbooks", "refresh.yml")] + common, env)

        step(10, "A second controller: the chains shared through a PostgreSQL token store (store_url)")
        server = start_postgres()
        env_a, env_b = shared_store(control, base, work, env, server)

        step(11, "The person who consents is somewhere else: an invitation, the consent service, refresh imports the consent")
        consent_elsewhere(control, base, work, server, env_a, env_b, consent)

        step(12, "A chain dies and the people who own it are told, with a fresh consent link; the invitee consents again; they are told it recovered")
        tell_the_owners(control, work, server, env_b, consent)

        step(13, "Nothing secret in what the demo printed or wrote")
        if not leak_check(control, server, runtime):
            return 1
    finally:
        for service in consent:
            service.stop()
        if server is not None:
            server.cleanup()
        process.stop()
        if runtime is not None and runtime.startswith("/dev/shm/"):
            shutil.rmtree(runtime, ignore_errors=True)
        if HOST_BASE_TEMPORARY:
            shutil.rmtree(HOST_BASE, ignore_errors=True)
    say()
    say("demo finished; the simulator, the consent service and the PostgreSQL server have stopped (workspace: %s)" % workspace_shown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
