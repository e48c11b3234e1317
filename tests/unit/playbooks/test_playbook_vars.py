"""The playbooks' variables (playbooks/tasks/check_vars.yml) and tags, through real ansible-playbook runs.

Only the checks run (``--tags`` with a tag no task has: the checks are tagged ``always``), against an
inventory with no connections, so nothing reaches a store, a platform or a host.
"""

from __future__ import annotations

import json
import os
import re
import typing as t

import pytest
import yaml

from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows import preauth as _preauth

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS = ("deploy", "invite", "preauthenticate", "refresh", "status", "store_migrate")
VARIABLES = os.path.join(ROOT, "playbooks", "vars", "variables.yml")
# The inventory's connections, for the variables that name connections of the inventory (only names: nothing is called).
CONNECTIONS = [
    {"name": "acme-nl", "platform": "exact_online", "country": "nl", "client_id": "FAKE-client-id", "client_secret": "FAKE-secret"},
    {"name": "crm", "platform": "exact_online", "country": "be", "client_id": "FAKE-client-id", "client_secret": "FAKE-secret"},
]


def data() -> dict[str, t.Any]:
    with open(VARIABLES, encoding="utf-8") as handle:
        loaded: dict[str, t.Any] = yaml.safe_load(handle)
    return loaded


def valid(names: t.Iterable[str]) -> dict[str, t.Any]:
    """A valid value for each name: the example of the variables' data (the playbook reference shows the same)."""
    entries = dict(data()["common"])
    for entry in data()["playbooks"].values():
        entries.update(entry["variables"])
    # The test inventory's only host, instead of the examples' dwh01.example.com.
    extra = {"preauth_settings_user": "invantive", "preauth_settings_connections": ["acme-nl"], "preauth_deploy_hosts": "localhost"}
    return {name: extra[name] if name in extra else entries[name]["example"] for name in names}


def as_string(value: t.Any) -> t.Any:
    """The value as -e NAME=VALUE gives it: a string (a list as names separated by commas); a mapping stays one."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return ",".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def only_checks(ansible_playbook: t.Callable[..., t.Any], name: str, extra: dict[str, t.Any]) -> t.Any:
    return ansible_playbook(name, "--tags", "no-task-has-this-tag", extra=extra, inventory={"vars": {"preauth_connections": CONNECTIONS}})


def errors(result: t.Any) -> list[str]:
    """The lines of the [ERROR] message, up to the Origin line."""
    found = re.search(r"^\[ERROR\]: Task failed: Action failed: (.*?)\nOrigin: ", result.stdout + result.stderr, re.M | re.S)
    assert found is not None, result.stdout[-3000:]
    return found.group(1).split("\n")


def documented(name: str) -> set[str]:
    """The preauth_* names in a playbook's header comment."""
    with open(os.path.join(ROOT, "playbooks", name + ".yml"), encoding="utf-8") as handle:
        header = "".join(line for line in handle if line.startswith("#"))
    return set(re.findall(r"\bpreauth_[a-z_]+[a-z]", header))


def own_vars(name: str) -> set[str]:
    """The variables of one playbook besides those every playbook accepts."""
    return set(data()["playbooks"][name]["variables"])


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_a_typo_fails_and_names_it_and_the_valid_ones(ansible_playbook: t.Callable[..., t.Any], name: str) -> None:
    result = only_checks(ansible_playbook, name, {"preauth_onyl": "acme-nl", "preauth_xyzzy": "1"})
    assert result.returncode == 2
    lines = errors(result)
    close = " (did you mean preauth_only?)" if "preauth_only" in own_vars(name) else ""
    assert lines[0] == "preauth_onyl is not a variable of the playbook preauth.oauth2.%s%s." % (name, close)
    assert lines[1] == "preauth_xyzzy is not a variable of the playbook preauth.oauth2.%s." % name
    assert lines[2].startswith("The variables of preauth.oauth2.%s: " % name)
    for own in sorted(own_vars(name)):
        assert own in lines[2]
    assert "preauth_store_url" in lines[2] and len(lines) == 3


def test_a_typo_of_a_long_name_gets_the_close_ones(ansible_playbook: t.Callable[..., t.Any]) -> None:
    result = only_checks(ansible_playbook, "status", {"preauth_stauts_hosts": "all"})
    assert errors(result)[0] == "preauth_stauts_hosts is not a variable of the playbook preauth.oauth2.status (did you mean preauth_status_hosts?)."


@pytest.mark.parametrize("form", ["as given", "as -e NAME=VALUE strings"])
@pytest.mark.parametrize("name", PLAYBOOKS)
def test_every_documented_variable_passes(ansible_playbook: t.Callable[..., t.Any], name: str, form: str) -> None:
    names = documented(name) | own_vars(name) | {"preauth_store_dir", "preauth_store_url", "preauth_vault_id", "preauth_settings_user"}
    names -= {"preauth_connections"}  # the inventory's
    extra = valid(names)
    if form != "as given":
        extra = {k: as_string(v) for k, v in extra.items()}
    result = only_checks(ansible_playbook, name, extra)
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"^localhost +: ok=[1-9]\d* .* failed=0 ", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_the_header_documents_the_playbooks_variables(name: str) -> None:
    assert own_vars(name) <= documented(name)
    assert documented(name) <= own_vars(name) | set(data()["common"]) | set(data()["known"])


def test_a_value_of_the_wrong_type_is_one_line_with_an_example(ansible_playbook: t.Callable[..., t.Any]) -> None:
    result = only_checks(ansible_playbook, "refresh", {"preauth_parallel": "many", "preauth_deploy_hosts": {"web": 1}})
    assert result.returncode == 2
    assert errors(result) == [
        'preauth_parallel="many" is not an integer; for example -e preauth_parallel=4.',
        'preauth_deploy_hosts={"web": 1} is not a list of names, or one string of names separated by commas;'
        " for example -e preauth_deploy_hosts=dwh01.example.com.",
    ]
    assert "argument_spec_data" not in result.stdout  # not the whole argument spec
    result = only_checks(ansible_playbook, "preauthenticate", {"preauth_step": "both", "preauth_verify": "maybe"})
    assert result.returncode == 2
    assert errors(result) == [
        'preauth_verify="maybe" is not true or false; for example -e preauth_verify=false.',
        'preauth_step="both" is not one of interactive, url, exchange; for example -e preauth_step=url.',
    ]


def test_the_role_variables_are_valid_everywhere() -> None:
    with open(os.path.join(ROOT, "roles", "settings", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        role = set(yaml.safe_load(handle)["argument_specs"]["main"]["options"])
    known = set(data()["known"]) | set(data()["common"])
    assert role <= known
    assert {n for n in known if n.startswith("preauth_settings_")} <= role


def test_the_contact_check_uses_the_modules_email_pattern() -> None:
    with open(os.path.join(ROOT, "playbooks", "preauthenticate.yml"), encoding="utf-8") as handle:
        found = re.search(r"is regex\('(.+?)', match_type='fullmatch'\)", handle.read())
    assert found is not None
    assert found.group(1).replace("\\\\", "\\") == _preauth.EMAIL.pattern
    assert list(data()["playbooks"]["preauthenticate"]["variables"]["preauth_contact"]["options"]) == list(_preauth.CONTACT_FIELDS)


@pytest.mark.parametrize(
    ("name", "tags"),
    [("refresh", {"refresh", "notify", "report", "deploy"}), ("deploy", {"deploy"}), ("status", {"report", "health", "notify"})],
)
def test_tags(ansible_playbook: t.Callable[..., t.Any], name: str, tags: set[str]) -> None:
    result = ansible_playbook(name, "--list-tags")
    assert result.returncode == 0, result.stderr
    listed = set().union(*(re.findall(r"\w+", m) for m in re.findall(r"TASK TAGS: \[([^\]]*)\]", result.stdout)))
    assert tags <= listed, result.stdout
    assert documented_tags(name) == tags == set(data()["playbooks"][name]["tags"])


def documented_tags(name: str) -> set[str]:
    with open(os.path.join(ROOT, "playbooks", name + ".yml"), encoding="utf-8") as handle:
        header = "".join(line for line in handle if line.startswith("#"))
    found = re.search(r"^# Tags: (.*?)(?:, e\.g\.|\.$)", header, re.M | re.S)
    assert found is not None, "the header of %s.yml documents no tags" % name
    return set(re.findall(r"(\w+) \(", found.group(1)))


@pytest.mark.parametrize("name", ["refresh", "store_migrate"])
@pytest.mark.parametrize("value", ["", ",", " ", " , ,", [], ["", " "]])
def test_a_selection_that_names_no_connection_is_refused_by_every_playbook(ansible_playbook: t.Callable[..., t.Any], name: str, value: t.Any) -> None:
    result = only_checks(ansible_playbook, name, {"preauth_only": value})
    assert result.returncode == 2, result.stdout[-2000:]
    assert errors(result) == [
        "preauth_only=%s names no connection: give connection names, separated by commas or as a list (preauth_only=acme-nl,crm), or leave "
        "preauth_only out for every connection." % json.dumps(value)
    ]


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("refresh", {"preauth_only": "acme-nl,acme-nk"}, "preauth_only: acme-nk is not a connection of preauth_connections (did you mean acme-nl?)."),
        ("refresh", {"preauth_only": ["crm", "ccrm"]}, "preauth_only: ccrm is not a connection of preauth_connections (did you mean crm?)."),
        ("refresh", {"preauth_release_in_flight": ["billing"]}, "preauth_release_in_flight: billing is not a connection of preauth_connections."),
        (
            "preauthenticate",
            {"preauth_connection": "amce-nl"},
            "preauth_connection: amce-nl is not a connection of preauth_connections (did you mean acme-nl?).",
        ),
    ],
)
def test_a_name_that_is_not_a_connection_is_refused_with_the_close_and_the_known_ones(
    ansible_playbook: t.Callable[..., t.Any], name: str, extra: dict[str, t.Any], expected: str
) -> None:
    result = only_checks(ansible_playbook, name, extra)
    assert result.returncode == 2, result.stdout[-2000:]
    assert errors(result) == [expected[:-1] + ". Its connections: acme-nl, crm."]


def test_a_list_of_something_else_than_names_is_refused_with_the_variables_name(ansible_playbook: t.Callable[..., t.Any]) -> None:
    result = only_checks(ansible_playbook, "refresh", {"preauth_only": [{"name": "acme-nl"}]})
    assert result.returncode == 2
    assert errors(result) == ["preauth_only: a list of names (strings), but an element is dict. Give -e preauth_only=acme-nl,crm or a list of strings."]


@pytest.mark.parametrize("value", [["acme-nl"], "acme-nl", " acme-nl ,"])
def test_refresh_selects_by_a_list_or_a_string(ansible_playbook: t.Callable[..., t.Any], tmp_path: t.Any, value: t.Any) -> None:
    """A real run against an empty store: the selected connection fails (no chain), the other is not looked at; one [ERROR] line each."""
    extra = {"preauth_store_dir": str(tmp_path / "tokens"), "preauth_only": value, "preauth_release_in_flight": value, "preauth_deploy": False}
    result = ansible_playbook("refresh", extra=extra, inventory={"vars": {"preauth_connections": CONNECTIONS}})
    assert result.returncode == 2, result.stdout[-3000:]
    lines = errors(result)
    assert lines[0].startswith("acme-nl: failed - no stored chain in "), lines
    assert "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl" in lines[0]
    assert lines[1].startswith("0 refreshed, 0 unchanged, 0 skipped, 1 failed") and lines[1].endswith("; 1 connection(s) failed."), lines
    assert len(lines) == 2 and "crm" not in result.stdout and "['" not in result.stdout + result.stderr


def test_a_selection_with_blank_names_among_real_ones_passes(ansible_playbook: t.Callable[..., t.Any]) -> None:
    result = only_checks(ansible_playbook, "store_migrate", {"preauth_only": "acme-nl, ,crm,"})
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("skipping", [("--skip-tags", "always"), ("--start-at-task", "Move the chains")])
def test_what_the_checks_cannot_skip_the_module_refuses(ansible_playbook: t.Callable[..., t.Any], tmp_path: t.Any, skipping: tuple[str, str]) -> None:
    """--skip-tags always and --start-at-task skip check_vars.yml; the module still refuses a blank selection and moves nothing."""
    source, destination = tmp_path / "tokens", tmp_path / "tokens-new"
    extra = {"preauth_store_dir": str(source), "preauth_to_store_dir": str(destination), "preauth_only": " , "}
    result = ansible_playbook("store_migrate", *skipping, extra=extra)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "TASK [Check the types and choices of the variables]" not in result.stdout  # the checks were skipped indeed
    assert "connections names no connection (' ', ' '): give the names of the connections to move" in result.stdout, result.stdout[-3000:]
    assert not destination.exists() or not os.listdir(destination)
    # An unknown preauth_keep is refused by the module's argument spec in the same way.
    result = ansible_playbook("store_migrate", *skipping, extra=dict(extra, preauth_only="acme-nl", preauth_keep="both"))
    assert result.returncode != 0 and "value of keep must be one of: source, destination, got: both" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("value", ["", " , "])
@pytest.mark.parametrize("skipping", [("--skip-tags", "always"), ("--start-at-task", "Refresh the chains that need it")])
def test_a_blank_selection_refreshes_nothing_even_when_the_checks_are_skipped(
    ansible_playbook: t.Callable[..., t.Any], tmp_path: t.Any, skipping: tuple[str, str], value: str
) -> None:
    """refresh.yml selects by a defined preauth_only, so a blank one selects no connection instead of every one."""
    connections = [{"name": "acme-nl", "platform": "exact_online", "country": "nl", "client_id": "FAKE-client-id", "client_secret": "FAKE-secret"}]
    extra = {"preauth_store_dir": str(tmp_path / "tokens"), "preauth_only": value}
    result = ansible_playbook("refresh", *skipping, extra=extra, inventory={"vars": {"preauth_connections": connections}})
    assert result.returncode != 0, result.stdout[-3000:]
    assert "TASK [Check the types and choices of the variables]" not in result.stdout
    assert "No connection to refresh: preauth_connections of the inventory is empty, or preauth_only=%s matches none of them." % value in result.stdout
    assert "acme-nl" not in result.stdout and not (tmp_path / "tokens").exists()


def test_deploy_refuses_a_connection_whose_hosts_are_not_in_the_inventory(ansible_playbook: t.Callable[..., t.Any]) -> None:
    """The Quick start's trap: the host renamed in the inventory, not in the connection's hosts; nothing is deployed."""
    connections = [dict(CONNECTIONS[0], hosts=["dwh01.example.com"]), dict(CONNECTIONS[1], hosts=["localhost"])]
    result = ansible_playbook("deploy", extra={"preauth_deploy_become": False}, inventory={"vars": {"preauth_connections": connections}})
    assert result.returncode == 2, result.stdout[-3000:]
    assert errors(result) == [
        "connection acme-nl: its hosts name dwh01.example.com, which is not in the inventory, so it would be deployed nowhere there."
        " Put the inventory's name of the host in hosts: of acme-nl (the inventory has localhost), or add the host to the inventory."
    ]
    assert "TASK [preauth.oauth2.settings" not in result.stdout


@pytest.mark.parametrize("awx", [False, True])
def test_run_1_says_how_to_run_2_as_the_guides_say(ansible_playbook: t.Callable[..., t.Any], tmp_path: t.Any, awx: bool) -> None:
    """At a terminal: the environment variable or -e preauth_redirect_url; under AWX: the survey answer of docs/awx.md."""
    secret = tmp_path / "vault-pw"
    secret.write_text("FAKE-vault-password\n", encoding="utf-8")
    connection = dict(CONNECTIONS[0], redirect_uri="https://relay.example.test/preauth/")
    contact = {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example.test", "company": "Example B.V."}
    extra = {"preauth_store_dir": str(tmp_path / "tokens"), "preauth_connection": "acme-nl", "preauth_contact": contact}
    if awx:
        extra["awx_job_id"] = 42
    result = ansible_playbook("preauthenticate", "--vault-password-file", str(secret), extra=extra, inventory={"vars": {"preauth_connections": [connection]}})
    assert result.returncode == 0, result.stdout[-3000:]
    out = " ".join(result.stdout.split())
    if awx:
        assert (
            "To finish, sign in with that URL, then launch the second job template of the AWX guide (preauth authorize 2: exchange) with"
            " Connection acme-nl and the address as its password survey answer preauth_redirect_url." in out
        ), out[-2000:]
        assert "PREAUTH_REDIRECT_URL" not in out
    else:
        assert (
            "To finish, sign in with that URL, then run PREAUTH_REDIRECT_URL='<the address>' ansible-playbook preauth.oauth2.preauthenticate"
            " -i INVENTORY -e preauth_connection=acme-nl (or -e preauth_redirect_url='<the address>' instead of the environment variable;"
        ) in out, out[-2000:]
    assert "playbooks/" not in out
