"""Run the README's command lines as written, against the simulator, from a clean directory.

Usage: quickstart.py SIM_URL WORK

The lines are read from README.md of the collection under test (never copied into the test):
the three ``sh`` blocks of the "Quick start" section - the Quick start itself, the crontab, textfile
directory and status lines, the deploy lines. The Quick start block runs as one bash script under a
pseudo-terminal, where the scripted person (tests/simulator/person.py) answers the prompts, as a
person typing the block into one terminal would; the other lines run one by one, in the shell the
Quick start left (its virtual environment first on PATH, as its ``. ~/ansible/bin/activate`` made it).

The environment is a new terminal's: an empty HOME (so ``~/.ansible/collections``, the token store
``~/.local/share/preauth.oauth2/tokens`` and ``~/.vault-pass`` are the documented defaults there),
USER and LOGNAME, PATH=/usr/bin:/bin, no ANSIBLE_* variable, and pip without a package index (the
requirements are already installed in the Python under test, so pip only checks them). The
checkout is a copy of the collection tree under test.

The crontab line runs as cron runs it, without its five schedule fields: ``/bin/sh -c LINE`` in HOME
with cron's environment and nothing else (HOME, LOGNAME, SHELL=/bin/sh, PATH=/usr/bin:/bin), with no
substitution. No cron daemon runs it: what breaks a crontab line is that environment, not the
schedule. It runs twice: at once (nothing to do, no token call) and 24 days later (the test ages the
token store and moves the simulator's clock, as tests/simulator/timewarp.py does): the chain is
refreshed, with one token call.

Substitutions, and nothing else:
1. ``python3 -m venv ~/ansible`` (the virtual environment for ansible-core) becomes a symbolic link
   ``~/ansible`` to the virtual environment of the Python under test, which has ansible-core and the
   requirements (there is no package index here); the rest of that line, ``~/ansible/bin/pip install
   'ansible-core>=2.19'``, runs as written and only checks that the version is new enough.
2. ``--vault-id <label>@prompt`` reads the vault password from ``~/.vault-pass`` instead of the
   terminal (the test writes that file, as the README tells the reader to for unattended runs).
3. Right after the line that copies the example inventory, one inserted line points the copy at the
   simulator: each connection gets ``base_url: <simulator>/<country>`` (the simulator serves Exact
   Online's country sites under /<country>), and the simulator registers the inventory's client ID
   and redirect URI with the fake client secret the person types in.
4. The interactive sign-in (two-step login, Allow) is done by the simulator's scripted browser,
   and the person answers the prompts: the vault variable's name and the (fake) client secret,
   the contact fields, the address the browser landed on.
5. The Prometheus textfile directory /var/lib/prometheus/node-exporter becomes ~/textfile, and the
   line that makes it runs without ``sudo`` (the directory is in the test's HOME).
6. The deploy lines need a host that runs the product, and so does refresh.yml's redeploy play:
   after the Quick start the inventory's product host is reached with a local connection (this
   machine, as root) and its service user is ``nobody``, an existing user. Run by a normal user,
   who need not have password-less sudo, become is off and the service user is that user. The
   ``--check --diff`` line runs in full (it plans, predicts and writes nothing); the line without
   ``--check`` would write sealed files on this shared machine and hand the chain over, so it gets
   ``--syntax-check``; the deploy integration target runs a real deployment over SSH.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ["COLLECTION_ROOT"]
sys.path.insert(0, os.path.join(HERE, "..", "preauthenticate"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from driver import control, login  # noqa: E402  pylint: disable=wrong-import-position
from simulator.person import Person  # noqa: E402  pylint: disable=wrong-import-position

CLIENT_SECRET = "FAKE-quickstart-exact-client-secret"
VAULT_PASSWORD = "FAKE-quickstart-vault-password"
CONTACT = {
    "Your first name": "Ada",
    "Your last name": "Jansen",
    "Your job title": "Controller",
    "Your email": "ada.jansen@example.test",
    "Your company": "Example Accountants B.V.",
}
# A crontab line: five schedule fields, then the command.
CRON = re.compile(r"(?:[0-9*][0-9*/,-]*\s+){5}(\S.*)")
# What cron gives a command (Debian's cron: HOME and LOGNAME from the user's passwd entry, no PATH= line in the crontab).
CRON_PATH = "/usr/bin:/bin"
PROMPT = re.compile(r"(--vault-id [A-Za-z0-9_]+)@prompt")
VENV = re.compile(r"python3 -m venv (~/[A-Za-z0-9_.-]+)(?= |\Z)")
TEXTFILE = "/var/lib/prometheus/node-exporter"
LATER = 24 * 86400  # Exact's refresh tokens last 30 days unused; refresh.yml refreshes those with under 7 days left


def readme_blocks() -> list[list[str]]:
    """The command lines of each sh block of the Quick start section (comments and continuations resolved)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.M | re.S)
    if not section:
        raise SystemExit("README.md has no Quick start section")
    blocks = []
    for body in re.findall(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S):
        lines: list[str] = []
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
        blocks.append(lines)
    return blocks


def find(block: list[str], pattern: str) -> list[str]:
    found = [line for line in block if re.search(pattern, line)]
    if not found:
        raise SystemExit("no README line matches %r in %s" % (pattern, block))
    return found


def environment(work: str) -> dict[str, str]:
    """A new terminal's environment, before the Quick start."""
    home = os.path.join(work, "home")
    user = pwd.getpwuid(os.getuid()).pw_name
    return {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "PATH": CRON_PATH,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "ANSIBLE_NOCOLOR": "1",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def activated(env: dict[str, str], venv: str) -> dict[str, str]:
    """The shell after ``. VENV/bin/activate``: what activate exports."""
    return dict(env, VIRTUAL_ENV=venv, PATH=os.path.join(venv, "bin") + ":" + env["PATH"])


def cron_environment(env: dict[str, str]) -> dict[str, str]:
    return {"HOME": env["HOME"], "LOGNAME": env["LOGNAME"], "SHELL": "/bin/sh", "PATH": CRON_PATH}


def under_test_venv() -> str:
    """The virtual environment of the Python under test, which substitution 1 gives the reader."""
    prefix = sys.prefix
    missing = [name for name in ("activate", "pip", "ansible-playbook") if not os.path.exists(os.path.join(prefix, "bin", name))]
    if prefix == sys.base_prefix or missing:
        raise SystemExit(
            "the quickstart target follows the README's virtual environment ~/ansible with the one of the Python under test; "
            "%s is not a virtual environment with ansible-core (missing: %s): run ansible-test from a venv (make test does)"
            % (prefix, ", ".join(missing) or "pyvenv.cfg")
        )
    return prefix


def substitute(line: str, env: dict[str, str]) -> str:
    line = VENV.sub(lambda match: "ln -s %s %s" % (under_test_venv(), match.group(1)), line)
    line = PROMPT.sub(r"\1@" + os.path.join(env["HOME"], ".vault-pass"), line)
    textfile = os.path.join(env["HOME"], "textfile")
    if TEXTFILE in line:
        line = line.replace(TEXTFILE, textfile)
        line = re.sub(r"^sudo (install -d )", r"\1", line)
    return line


def point_to_simulator(sim: str, path: str) -> None:
    """Substitution 2: the copied inventory's connections go to the simulator."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    doc = yaml.safe_load(text)
    connections = doc["all"]["vars"]["preauth_connections"]
    for entry in connections:
        assert entry["platform"] == "exact_online" and "base_url" not in entry, entry
        client = {"client_id": entry["client_id"], "client_secret": CLIENT_SECRET, "redirect_uris": [entry["redirect_uri"]], "profile": "exact"}
        control(sim, "/_sim/clients", client)
        # A line added below the country keeps the file as the reader has it, comments included.
        country = r"^( +)country: %s\n" % re.escape(entry["country"])
        text, count = re.subn(country, r"\g<0>\1base_url: %s/%s\n" % (sim, entry["country"]), text, count=1, flags=re.M)
        assert count == 1, entry["name"]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def product_host_here(path: str) -> list[str]:
    """Substitution 6: the product hosts are this machine, over a local connection, service user nobody."""
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    hosts = []
    for group in doc["all"]["children"].values():
        for name in group["hosts"]:
            here = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "preauth_settings_user": "nobody"}
            if os.geteuid() != 0:
                here.update(ansible_become=False, preauth_settings_user=pwd.getpwuid(os.getuid()).pw_name)
            group["hosts"][name] = dict(group["hosts"][name] or {}, **here)
            hosts.append(name)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)
    return hosts


def run(line: str, cwd: str, env: dict[str, str], work: str, name: str, shell: tuple[str, ...] = ("/bin/bash", "-euc")) -> str:
    """One README line in a shell with exactly ``env`` (env -i: nothing of this test's environment)."""
    out = os.path.join(work, name + ".out")
    argv = ["/usr/bin/env", "-i", *("%s=%s" % item for item in env.items()), *shell, line]
    with open(out, "wb") as handle:
        code = subprocess.call(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    with open(out, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if code != 0:
        print(text[-4000:], file=sys.stderr)
        raise SystemExit("README line failed with %d: %s" % (code, line))
    print("ok: %s" % line)
    return text


def cron(line: str, env: dict[str, str], work: str, name: str) -> str:
    """The command of a crontab line as cron runs it: /bin/sh -c in HOME, with cron's environment only."""
    match = CRON.fullmatch(line)
    assert match, line
    return run(match.group(1), env["HOME"], cron_environment(env), work, name, shell=("/bin/sh", "-c"))


def later(sim: str, home: str, seconds: float) -> None:
    """The world LATER seconds on: the simulator's clock and every time in the token store (tests/simulator/timewarp.py)."""
    collections = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # pylint: disable=import-outside-toplevel

    _AnsibleCollectionFinder(paths=[collections])._install()  # pylint: disable=protected-access
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore  # pylint: disable=import-outside-toplevel
    from simulator.control import ControlClient  # pylint: disable=import-outside-toplevel
    from simulator.timewarp import warp  # pylint: disable=import-outside-toplevel

    tokens = os.path.join(home, ".local", "share", "preauth.oauth2", "tokens")
    warp(seconds, ControlClient(sim), FileTokenStore(tokens, VaultLib([("prod", VaultSecret(VAULT_PASSWORD.encode()))])))


def expect(text: str, pattern: str, what: str) -> None:
    if not re.search(pattern, text, re.M):
        print(text[-4000:], file=sys.stderr)
        raise SystemExit("%s: %r not found" % (what, pattern))


def token_calls(sim: str) -> int:
    return int(control(sim, "/_sim/state")["token_calls_total"])


def sha(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def quick_start(sim: str, work: str, block: list[str], env: dict[str, str]) -> str:
    """Run the Quick start block; the virtual environment it made (the path ~/NAME stands for)."""
    (venv_line,) = find(block, r"^python3 -m venv ~/\S+ ")
    venv = VENV.match(venv_line)
    assert venv, venv_line
    name = venv.group(1)
    for pattern in (
        r"^python3 -m venv %s && %s/bin/pip install 'ansible-core>=2\.19'" % (re.escape(name), re.escape(name)),
        r"^\. %s/bin/activate(\s|\Z)" % re.escape(name),
        r"^ansible-galaxy collection build\b",
        r"^ansible-galaxy collection install \S+\.tar\.gz",
        # The requirements go into the Python that runs Ansible: the virtual environment's.
        r"^%s/bin/pip install -r \S+/requirements\.txt" % re.escape(name),
        r"^cp \S+/inventory/\S+\.yml inventory\.yml",
        r"ansible-vault encrypt_string .*--vault-id \w+@prompt",
        r"^ansible-playbook preauth\.oauth2\.preauthenticate ",
        r"^ansible-playbook preauth\.oauth2\.status ",
    ):
        find(block, pattern)
    script = ["set -eu"]
    for line in block:
        script.append(substitute(line, env))
        if re.match(r"cp \S+ inventory\.yml(\s|\Z)", line):
            script.append('COLLECTION_ROOT="%s" "%s" "%s" point-to-simulator "%s" inventory.yml' % (ROOT, sys.executable, os.path.abspath(__file__), sim))
    checkout = os.path.join(work, "checkout")
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns("output"), symlinks=True)
    with open(os.path.join(work, "quickstart.sh"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(script) + "\n")
    answers = {"Variable name": "vault_acme_client_secret", "String to encrypt": CLIENT_SECRET, **CONTACT}
    person = Person(sign_in=lambda url: login(sim, url), answers=answers, timeout=600.0)
    output = os.path.join(work, "quickstart.out")
    os.chdir(checkout)
    with open(output, "wb") as handle:
        # env -i: the person's terminal has the clean environment only, not this test's.
        clean = ["%s=%s" % item for item in env.items()]
        code = person.run(["/usr/bin/env", "-i", *clean, "/bin/bash", os.path.join(work, "quickstart.sh")], output=handle)
    with open(output, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if code != 0 or person.timed_out or not person.pasted or set(answers) - person.answered:
        print(text[-6000:], file=sys.stderr)
        state = (code, person.timed_out, sorted(set(answers) - person.answered), person.pasted)
        raise SystemExit("the Quick start ended with %d (timed out: %s, unanswered %s, pasted %s)" % state)
    expect(text, r"stored generation 1 of connection acme-nl, owned by the controller", "preauthenticate")
    expect(text, r"Signed in as ", "preauthenticate")
    expect(text, r"acme-nl\s+exact_online\s+controller\s+1\s+[0-9.]+\s+\S+\s+ok\b", "status table")
    assert os.path.islink(os.path.join(env["HOME"], name[2:])), "the Quick start made no %s" % name
    print("ok: the Quick start block (%d lines) ran as written" % len(block))
    return os.path.join(env["HOME"], name[2:])


def main() -> None:
    sim, work = sys.argv[1], os.path.abspath(sys.argv[2])
    blocks = readme_blocks()
    quick = next(b for b in blocks if any("collection install" in line for line in b))
    keep = next(b for b in blocks if any("preauth.oauth2.refresh" in line for line in b))
    deploy = next(b for b in blocks if any("preauth.oauth2.deploy" in line for line in b))
    env = environment(work)
    home = env["HOME"]
    os.makedirs(home, mode=0o700)
    fd = os.open(os.path.join(home, ".vault-pass"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, VAULT_PASSWORD.encode() + b"\n")
    os.close(fd)

    venv = quick_start(sim, work, quick, env)
    shell = activated(env, venv)
    acme = os.path.join(home, "acme")
    store = os.path.join(home, ".local", "share", "preauth.oauth2", "tokens", "acme-nl.yml")
    assert os.path.isfile(store), "no token store at the documented default path"
    assert os.path.isfile(os.path.join(home, ".ansible", "collections", "ansible_collections", "preauth", "oauth2", "inventory", "exact-online.yml"))
    with open(os.path.join(acme, "group_vars", "all", "vault.yml"), encoding="utf-8") as handle:
        assert handle.read().startswith("vault_acme_client_secret: !vault |"), "the vault file does not hold vault_acme_client_secret"

    # From here on the product host is this machine (substitution 6): refresh.yml's redeploy play connects to it too.
    hosts = product_host_here(os.path.join(acme, "inventory.yml"))

    # The crontab line, under cron's environment, then the textfile directory and status lines in the shell.
    crontab = [line for line in keep if CRON.fullmatch(line)]
    assert len(crontab) == 1 and "preauth.oauth2.refresh" in crontab[0], keep
    before = token_calls(sim)
    text = cron(crontab[0], env, work, "cron-nothing-to-do")
    assert "acme-nl: unchanged" not in text, "refresh.yml listed a connection with nothing to do without preauth_report_unchanged=true"
    expect(text, r"0 refreshed, 1 unchanged, 0 skipped, 0 failed, 0 token call\(s\)", "refresh under cron")
    assert token_calls(sim) == before, "a run with nothing to do called the token endpoint"
    later(sim, home, LATER)
    text = cron(crontab[0], env, work, "cron-24-days-later")
    expect(text, r"1 refreshed, 0 unchanged, 0 skipped, 0 failed, 1 token call\(s\)", "refresh under cron, 24 days later")
    assert token_calls(sim) == before + 1, "the simulator counted %d token calls, not 1" % (token_calls(sim) - before)
    print("ok: the crontab line under cron's environment (PATH=%s): nothing to do, then one refresh" % CRON_PATH)
    statuses = 0
    for index, line in enumerate(line for line in keep if line not in crontab):
        text = run(substitute(line, env), acme, shell, work, "keep-%d" % index)
        if re.search(r"preauth\.oauth2\.status", line):
            # Generation 1 (one preauthentication), 30 days left again: refreshed 24 days after the preauthentication.
            expect(text, r"acme-nl\s+exact_online\s+controller\s+1\s+(?:29\.9|30\.0)\s", "status")
            statuses += 1
    assert statuses == 1, keep
    prom = os.path.join(home, "textfile", "preauth.prom")
    with open(prom, encoding="utf-8") as handle:
        assert 'connection="acme-nl"' in handle.read(), "the Prometheus file has no acme-nl metrics"

    # The deploy lines: check mode in full, the real one checked for syntax (see substitution 6).
    lines = find(deploy, r"^ansible-playbook preauth\.oauth2\.deploy ")
    checks = [line for line in lines if re.search(r"\s--check(\s|$)", line)]
    real = [line for line in lines if line not in checks]
    assert len(checks) == 1 and len(real) == 1, lines
    before_store = sha(store)
    text = run(substitute(checks[0], env), acme, shell, work, "deploy-check")
    expect(text, r"acme-nl.*would", "deploy --check")
    for host in hosts:
        expect(text, r"^%s\s+: ok=\d+\s+changed=[1-9]" % re.escape(host), "deploy --check")
    assert sha(store) == before_store, "deploy --check wrote the token store"
    run(substitute(real[0], env) + " --syntax-check", acme, shell, work, "deploy-syntax")

    # The home directory (installed collection, inventory, vault file, store directory) and every output;
    # the checkout and the installed collection's tests/ are left out: their test sources hold the simulator's
    # fake secrets. The link to the virtual environment is not followed (os.walk does not follow links to directories).
    paths = [home] + [os.path.join(work, name) for name in os.listdir(work) if os.path.isfile(os.path.join(work, name))]
    installed_tests = os.path.join(home, ".ansible", "collections", "ansible_collections", "preauth", "oauth2", "tests")
    assert os.path.isdir(installed_tests), "the installed collection has no tests/ directory"
    report = control(sim, "/_sim/scan", {"paths": paths, "exclude": [store, installed_tests]})
    if report["leaks"]:
        raise SystemExit("secrets leaked: " + "; ".join("%(kind)s in %(path)s" % leak for leak in report["leaks"]))
    print("secret scan: %(values)d secret values, %(files)d files, clean" % report)
    print(json.dumps({"quickstart": "ok", "lines": sum(len(b) for b in blocks)}))


if __name__ == "__main__":
    if sys.argv[1] == "point-to-simulator":
        point_to_simulator(sys.argv[2], sys.argv[3])
    else:
        main()
