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
11. the simulator looks for every secret it issued or holds in what the demo printed and wrote.

Everything runs against the simulator; the client secrets and the vault password are fake demo
values, the secrets kept in a real ansible-vault file. Nothing leaves this machine.

Everything the demo writes stays in its workspace, build/demo of the checkout, or the directory
given with --workspace DIR (or PREAUTH_DEMO_WORKSPACE=DIR, e.g. make demo PREAUTH_DEMO_WORKSPACE=~/x):
the stand-in host's sealed files, runner and health records, Ansible's temporary files and the
controllers' homes. The exceptions are what must be elsewhere: the runner's run directory on a
memory file system (a private directory under /dev/shm, removed at the end) and, as root, the
PostgreSQL server's files in the temporary directory (its user cannot enter the workspace).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import io
import shutil
import subprocess
import sys
import tempfile
import typing as t
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simulator import DEFAULT_CONFIG  # noqa: E402
from simulator.browser import ScriptedBrowser  # noqa: E402
from simulator.control import SimulatorProcess  # noqa: E402
from simulator.person import Person  # noqa: E402
from simulator.timewarp import warp  # noqa: E402

from pgserver import PostgresServer, PostgresServerError  # noqa: E402

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
    return " ".join(c.replace(ROOT + os.sep, "") for c in command)


def run_visibly(command: list[str], env: dict[str, str]) -> None:
    say("    $ " + shown(command))
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
    """The lines of a task's msg list (debug, or assert's message) in a playbook's output."""
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


def shared_store(control: t.Any, base: str, work: dict[str, str], env: dict[str, str], server: PostgresServer) -> None:
    """Step 10: two controllers, one PostgreSQL store; each chain is refreshed once however both run."""
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


def leak_check(control: t.Any, server: PostgresServer | None, runtime: str | None) -> bool:
    """Step 11: the simulator looks for every secret it issued or holds in everything the demo printed and wrote."""
    transcript = os.path.join(WORK, "transcript.txt")
    with open(transcript, "w", encoding="utf-8") as handle:
        handle.writelines(TRANSCRIPT)
    paths = [WORK]
    if server is not None and server.root:
        paths += [server.datadir, server.logfile]
    if runtime is not None and os.path.isdir(runtime):
        paths.append(runtime)
    report = control._call("POST", "/_sim/scan", {"paths": paths})
    say("    looked for %d secret values (client secrets, password, TOTP secret, codes, PKCE verifiers, access and refresh" % report["values"])
    say("    tokens) in %d files: this printout with every playbook's full output (%s/transcript.txt), the workspace" % (report["files"], workspace_shown()))
    say("    with both controllers' homes, the PostgreSQL server's data files and log")
    for leak in report["leaks"]:
        say("    LEAK: %s in %s" % (leak["kind"], leak["path"]))
    say("    %s" % ("found none" if not report["leaks"] else "%d leak(s): a bug to report" % len(report["leaks"])))
    return not report["leaks"]


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
        shared_store(control, base, work, env, server)

        step(11, "Nothing secret in what the demo printed or wrote")
        if not leak_check(control, server, runtime):
            return 1
    finally:
        if server is not None:
            server.cleanup()
        process.stop()
        if runtime is not None and runtime.startswith("/dev/shm/"):
            shutil.rmtree(runtime, ignore_errors=True)
        if HOST_BASE_TEMPORARY:
            shutil.rmtree(HOST_BASE, ignore_errors=True)
    say()
    say("demo finished; the simulator and the PostgreSQL server have stopped (workspace: %s)" % workspace_shown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
