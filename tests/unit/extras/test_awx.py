"""The AWX / Automation Platform files shipped in extras/awx: the credential type renders the way AWX renders it,
the execution environment definition names what the store needs, and the wrapper playbooks a user copies into an
AWX project run the collection's playbooks in real ansible-playbook runs against the simulator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import typing as t

import pytest
import yaml
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chains import CONTACT, VAULT, preauthenticate, sign_in, stored, strict_params
from helpers import COLLECTIONS, ansible_command

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
AWX = os.path.join(ROOT, "extras", "awx")
# The fields whose values are secrets: AWX encrypts them and shows them as ********** in the job's environment.
SECRET_FIELDS = {"db_password"}


def load(*path: str) -> t.Any:
    with open(os.path.join(AWX, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# -- the credential type ---------------------------------------------------------------------


class _Namespace:
    """AWX's ``tower`` template namespace: ``tower.filename.<label>`` is the path of a rendered file injector."""


def render_like_awx(credential_type: dict[str, t.Any], inputs: dict[str, t.Any], files_dir: str) -> dict[str, str]:
    """The environment AWX builds from a custom credential type (CredentialType.inject_credential in
    awx/main/models/credential/__init__.py): empty inputs are left out of the namespace, file injectors are
    rendered first, then env templates in an ImmutableSandboxedEnvironment."""
    tower = _Namespace()
    namespace: dict[str, t.Any] = {"tower": tower}
    namespace.update({k: v for k, v in inputs.items() if v})
    sandbox = ImmutableSandboxedEnvironment()
    for label, template in credential_type["injectors"].get("file", {}).items():
        path = os.path.join(files_dir, label)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(sandbox.from_string(template).render(**namespace))
        if "." in label:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()  # type: ignore[attr-defined]
            setattr(tower.filename, label.split(".")[1], path)  # type: ignore[attr-defined]
        else:
            tower.filename = path  # type: ignore[attr-defined]
    return {name: sandbox.from_string(template).render(**namespace) for name, template in credential_type["injectors"].get("env", {}).items()}


def test_the_credential_type_declares_every_input_its_injectors_use():
    credential_type = load("credential-type.yml")
    fields = credential_type["inputs"]["fields"]
    ids = [f["id"] for f in fields]
    assert len(ids) == len(set(ids)) and set(credential_type["inputs"]["required"]) <= set(ids)
    assert set(credential_type["injectors"]) <= {"env", "extra_vars", "file"}
    files = {label.split(".", 1)[1] for label in credential_type["injectors"].get("file", {}) if "." in label}
    sandbox = ImmutableSandboxedEnvironment()
    for kind, templates in credential_type["injectors"].items():
        for name, template in templates.items():
            used = meta.find_undeclared_variables(sandbox.parse(template))
            assert used <= set(ids) | {"tower"}, "%s injector %s uses undeclared %s" % (kind, name, used - set(ids))
            # tower.filename.<label> must name a file injector.
            for label in re.findall(r"tower\.filename\.(\w+)", template):
                assert label in files, "%s injector %s names a file injector %s that does not exist" % (kind, name, label)
            assert not name.upper().startswith("ANSIBLE_"), "AWX reserves names that start with ANSIBLE_"
    for field in fields:
        assert bool(field.get("secret")) == (field["id"] in SECRET_FIELDS), "secret flag of %s" % field["id"]
    assert credential_type["injectors"]["env"]["PREAUTH_OAUTH2_STORE_URL"] == "{{ store_url }}"


def test_the_credential_type_injects_the_store_url_password_and_ca_file(tmp_path):
    credential_type = load("credential-type.yml")
    url = "postgresql://preauth@db.example.test/preauth?sslmode=verify-full"
    pem = "-----BEGIN CERTIFICATE-----\nFAKE-ca\n-----END CERTIFICATE-----\n"
    full = render_like_awx(credential_type, {"store_url": url, "db_password": "FAKE-db-password", "sslrootcert": pem}, str(tmp_path))
    assert full["PREAUTH_OAUTH2_STORE_URL"] == url and full["PGPASSWORD"] == "FAKE-db-password"
    assert open(full["PGSSLROOTCERT"], encoding="utf-8").read() == pem
    # Without a password and a CA certificate, libpq gets empty values, which it treats as unset (.pgpass, ~/.postgresql/root.crt).
    (tmp_path / "bare").mkdir()
    bare = render_like_awx(credential_type, {"store_url": url, "db_password": "", "sslrootcert": ""}, str(tmp_path / "bare"))
    assert bare == {"PREAUTH_OAUTH2_STORE_URL": url, "PGPASSWORD": "", "PGSSLROOTCERT": ""}


def test_the_credential_type_help_keeps_the_password_out_of_the_url():
    fields = {f["id"]: f for f in load("credential-type.yml")["inputs"]["fields"]}
    assert "without a password" in fields["store_url"]["help_text"]
    assert "secret" not in fields["store_url"]


# -- the execution environment ---------------------------------------------------------------


def collection_version() -> str:
    """galaxy.yml's version in a checkout; an installed collection has MANIFEST.json in its place."""
    if not os.path.exists(os.path.join(ROOT, "galaxy.yml")):
        with open(os.path.join(ROOT, "MANIFEST.json"), encoding="utf-8") as handle:
            return json.load(handle)["collection_info"]["version"]
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["version"]


def test_the_execution_environment_names_this_version_and_the_store_driver():
    ee = load("execution-environment.yml")
    version = collection_version()
    tarball = "preauth-oauth2-%s.tar.gz" % version
    assert ee["version"] == 3 and ee["images"]["base_image"]["name"]
    assert ee["dependencies"]["galaxy"]["collections"] == [{"name": "/build/collections/" + tarball, "type": "file"}]
    assert ee["additional_build_files"] == [{"src": tarball, "dest": "collections"}]
    python = [re.split(r"[<>=!~\[]", r, maxsplit=1)[0] for r in ee["dependencies"]["python"]]
    assert {"psycopg", "cryptography", "requests"} <= set(python)
    assert "psycopg[binary]" in " ".join(ee["dependencies"]["python"])


# -- the wrapper playbooks, in real ansible-playbook runs ------------------------------------


@pytest.mark.parametrize("name", ["refresh", "status", "deploy", "preauthenticate", "invite"])
def test_each_wrapper_imports_the_collection_playbook_of_its_name(name):
    plays = load("playbooks", name + ".yml")
    assert plays == [{"name": "Run preauth.oauth2.%s from the collection" % name, "ansible.builtin.import_playbook": "preauth.oauth2." + name}]
    assert os.path.isfile(os.path.join(ROOT, "playbooks", name + ".yml"))


class _Vaulted(str):
    """An inline ansible-vault value, written as a !vault string."""


class _VaultDumper(yaml.SafeDumper):
    pass


_VaultDumper.add_representer(_Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|"))


class Project:
    """An AWX project as a user makes it: the wrapper playbooks copied in, an inventory with a vaulted client secret,
    a vault password, and the store directory in the environment (as a credential or the job's environment sets it)."""

    def __init__(self, sim: t.Any, tmp_path: t.Any) -> None:
        self.dir = tmp_path / "project"
        self.dir.mkdir()
        for name in ("refresh", "status", "preauthenticate"):
            shutil.copy(os.path.join(AWX, "playbooks", name + ".yml"), self.dir / (name + ".yml"))
        self.p = strict_params(sim, tmp_path)
        (tmp_path / "vault-pw").write_text("FAKE-vault-password\n")
        self.vault_file = str(tmp_path / "vault-pw")
        secret = VAULT.encrypt(self.p["client_secret"]).decode()
        entry = {k: self.p[k] for k in ("platform", "issuer", "client_id", "redirect_uri", "scopes")}
        entry.update(name=self.p["connection"], client_secret=_Vaulted(secret))
        inventory = {
            "all": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                "vars": {"preauth_connections": [entry]},
            }
        }
        (self.dir / "inventory.yml").write_text(yaml.dump(inventory, Dumper=_VaultDumper, sort_keys=False))
        # Only this project's store: nothing of the caller's environment may point the runs elsewhere.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PREAUTH_", "PG", "ANSIBLE_"))}
        self.env = dict(
            inherited,
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_NOCOLOR="1",
            PREAUTH_OAUTH2_STORE_DIR=self.p["store_dir"],
        )

    def run(self, playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [ansible_command("ansible-playbook"), "-i", "inventory.yml", "--vault-password-file", self.vault_file, playbook]
        return subprocess.run([*command, *extra], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=300, check=False)


def test_the_copied_refresh_and_status_playbooks_run_the_collection(sim, tmp_path, control):
    project = Project(sim, tmp_path)
    # Before anything is preauthenticated, status fails and names the missing connection.
    missing = project.run("status.yml")
    assert missing.returncode != 0, missing.stdout
    assert "the token store %s does not exist" % project.p["store_dir"] in missing.stdout
    preauthenticate(project.p)
    before = stored(project.p)["tokens"]["refresh_token"]
    calls = control.state()["token_calls_total"]
    refreshed = project.run("refresh.yml", "-e", "preauth_force=true")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:]
    assert "crm: refreshed" in refreshed.stdout
    assert control.state()["token_calls_total"] == calls + 1
    after = stored(project.p)["tokens"]["refresh_token"]
    assert after != before
    status = project.run("status.yml")
    assert status.returncode == 0, status.stdout[-3000:]
    assert re.search(r'"crm +generic +controller +1 ', status.stdout), status.stdout[-3000:]
    for out in (missing, refreshed, status):
        assert before not in out.stdout + out.stderr and after not in out.stdout + out.stderr
        assert project.p["client_secret"] not in out.stdout + out.stderr


def awx_extra_vars(project: Project, name: str, answers: dict[str, t.Any]) -> str:
    """The job template's Variables of docs/awx.md plus the survey answers, in a file, as AWX passes them (-e @file)."""
    variables: dict[str, t.Any] = {
        "preauth_contact": {field: "{{ contact_%s }}" % field for field in ("first_name", "last_name", "job_title", "email", "company")}
    }
    variables.update(answers)
    path = project.dir / (name + ".extravars.yml")
    path.write_text(yaml.safe_dump(variables))
    return "@" + str(path)


def test_the_copied_preauthenticate_playbook_in_two_jobs_as_docs_awx_describes(sim, tmp_path):
    project = Project(sim, tmp_path)
    survey = {"preauth_connection": "crm", **{"contact_" + k: v for k, v in CONTACT.items()}}
    # AWX has no terminal to ask on: run 1 refuses missing contact fields before anyone signs in.
    incomplete = dict(survey, contact_company="")
    refused = project.run("preauthenticate.yml", "-e", awx_extra_vars(project, "refused", dict(incomplete, preauth_step="url")))
    assert refused.returncode != 0 and "preauth_contact needs company" in refused.stdout, refused.stdout[-3000:]
    assert "open this URL" not in refused.stdout
    first = project.run("preauthenticate.yml", "-e", awx_extra_vars(project, "first", dict(survey, preauth_step="url")))
    assert first.returncode == 0, first.stdout[-3000:]
    urls = re.findall(r"Step 1: open this URL in a browser: (%s/strict/authorize\?[^\s\"]+)" % re.escape(sim.base_url), first.stdout)
    assert len(urls) == 1, first.stdout[-3000:]
    landed = sign_in(urls[0])
    # Run 2 at -vvvv, the landed URL as a (password) survey answer: it is in no output.
    second = project.run("preauthenticate.yml", "-vvvv", "-e", awx_extra_vars(project, "second", dict(survey, preauth_redirect_url=landed)))
    assert second.returncode == 0, second.stdout[-3000:]
    assert "stored generation 1 of connection crm" in second.stdout
    code = re.search(r"[?&]code=([^&]+)", landed).group(1)
    assert code not in second.stdout + second.stderr and landed not in second.stdout + second.stderr
    record = stored(project.p)
    assert record["generation"] == 1 and record["preauthenticated_by"]["company"] == CONTACT["company"]
