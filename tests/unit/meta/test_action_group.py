"""The action group preauth.oauth2.oauth2 of meta/runtime.yml: every member takes every option the group documents.

A real ansible-playbook run sets those options under ``module_defaults: group/preauth.oauth2.oauth2`` and calls each
member so that it gets past argument validation to its own work (a member that refused an option would fail with
"Unsupported parameters"). The members' argument specs and the group's documentation are checked against one list.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import yaml
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import GROUP_OPTIONS
from helpers import ansible_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FAKE_VAULT_PASSWORD = b"FAKE-vault-password-for-the-group-test"


def members() -> list[str]:
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as f:
        return list(yaml.safe_load(f)["action_groups"]["oauth2"])


def test_the_group_is_every_action_that_uses_the_store():
    actions = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "plugins", "action")) if n.endswith(".py") and not n.startswith("_"))
    assert sorted(members()) == actions


def test_every_member_takes_every_group_option():
    for member in members():
        spec = importlib.import_module("ansible_collections.preauth.oauth2.plugins.action.%s" % member).ActionModule.argument_spec
        assert [name for name in GROUP_OPTIONS if name not in spec] == [], member


def test_every_member_documents_the_group_options_and_the_group_names_them():
    for member in members():
        path = os.path.join(ROOT, "plugins", "modules", member + ".py")
        doc = get_docstring(path, fragment_loader, collection_name="preauth.oauth2", plugin_type="module")[0]
        assert [name for name in GROUP_OPTIONS if name not in doc["options"]] == [], member
        group = doc["attributes"]["action_group"]
        assert group["membership"] == ["preauth.oauth2.oauth2"], member
        assert [name for name in GROUP_OPTIONS if "O(%s)" % name not in group["description"]] == [], member


# Each member with the options a task of its own gives; everything group-wide comes from module_defaults. A member that
# meets a wall after validation (no chain to hand over) must meet that wall, said in its own words.
ACME = {
    "connection": "acme-nl",
    "platform": "exact_online",
    "base_url": "http://127.0.0.1:9/nl",
    "client_id": "00000000-0000-4000-8000-000000000000",
    "redirect_uri": "https://relay.example.com/preauth/",
}
CONTACT = {"first_name": "Ada", "last_name": "Example", "job_title": "Tester", "email": "ada@example.com", "company": "Example B.V."}
TASKS = [
    {"name": "authorization_url", "preauth.oauth2.authorization_url": ACME, "register": "auth"},
    {
        "name": "code_exchange",
        "preauth.oauth2.code_exchange": dict(
            ACME,
            client_secret="FAKE-client-secret",
            redirect_url="https://relay.example.com/preauth/?code=FAKE-code&state={{ auth.state }}",
            preauthenticated_by=CONTACT,
        ),
        "check_mode": True,
        "no_log": True,
        "register": "exchange",
    },
    {"name": "token_refresh", "preauth.oauth2.token_refresh": {"connections": []}, "register": "refresh"},
    {"name": "token_info", "preauth.oauth2.token_info": {}, "register": "info"},
    {
        "name": "token_handover",
        "preauth.oauth2.token_handover": {"connection": "acme-nl", "host": "localhost"},
        "register": "handover",
        "failed_when": "handover.msg is not search('cannot be handed over: it holds no tokens')",
    },
    {"name": "token_move", "preauth.oauth2.token_move": {"to_store_dir": "{{ other_store }}"}, "check_mode": True, "register": "move"},
    {"name": "token_revoke", "preauth.oauth2.token_revoke": ACME, "check_mode": True, "register": "revoke"},
    {"name": "invantive_settings", "preauth.oauth2.invantive_settings": {"connections": [], "host": "localhost"}, "register": "plan"},
    {
        "name": "consent_invitation",
        "preauth.oauth2.consent_invitation": dict(ACME, state="list"),
        "register": "invitation",
        "failed_when": "invitation.msg is not search('consent invitations need the PostgreSQL token store')",
    },
    {
        "name": "notification",
        "preauth.oauth2.notification": {
            "connections": [],
            "webhooks": [{"url": "https://hooks.example.com/x", "secret": "whsec_RkFLRS1ncm91cC10ZXN0LXNlY3JldC0wMQ=="}],
        },
        "register": "told",
    },
]
GROUP_DEFAULTS = {
    "store_dir": "{{ store }}",
    "vault_id": "default",
    "timeout": 7.5,
    "validate_certs": False,
    "ca_path": "{{ ca_file }}",
}


def test_a_play_sets_every_group_option_once_for_every_member(tmp_path):
    assert set(GROUP_DEFAULTS) | {"store_url"} == set(GROUP_OPTIONS)  # store_url and store_dir exclude each other
    assert sorted(t["name"] for t in TASKS) == sorted(members())
    base = tmp_path / "collections"
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not read: no member calls a platform here\n", encoding="utf-8")
    secret = tmp_path / "vault-pw"
    secret.write_bytes(FAKE_VAULT_PASSWORD + b"\n")
    play = {
        "name": "Every member of the group with the group's options",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"store": str(tmp_path / "tokens"), "other_store": str(tmp_path / "other"), "ca_file": str(ca_file)},
        "module_defaults": {"group/preauth.oauth2.oauth2": GROUP_DEFAULTS},
        "tasks": [
            *TASKS,
            {
                "name": "What each member did",
                "ansible.builtin.copy": {
                    "content": "{{ {'auth': auth.state is string, 'exchange': exchange is changed, 'refresh': refresh.counts,"
                    " 'info': info.store, 'handover': handover.msg, 'move': move.destination, 'revoke': revoke.connection,"
                    " 'plan': plan.counts, 'told': told.watched} | to_json }}",
                    "dest": str(tmp_path / "results.json"),
                    "mode": "0600",
                },
            },
        ],
    }
    playbook = tmp_path / "group.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False), encoding="utf-8")
    inventory = tmp_path / "inventory.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local}}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    command = [ansible_command("ansible-playbook"), "-i", str(inventory), "--vault-password-file", str(secret), str(playbook)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)
    assert "Supported parameters include" not in run.stdout + run.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["handover"].startswith("connection acme-nl cannot be handed over: it holds no tokens")
    assert results == {
        "auth": True,
        "exchange": True,
        "refresh": {"refreshed": 0, "unchanged": 0, "skipped": 0, "failed": 0},
        "info": str(tmp_path / "tokens"),
        "handover": results["handover"],
        "move": str(tmp_path / "other"),
        "revoke": "acme-nl",
        "plan": {"deploy": 0, "keep": 0, "skip": 0},
        "told": 0,
    }
