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

from ansible_collections.preauth.oauth2.plugins.plugin_utils import _preauth

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS = ("deploy", "preauthenticate", "refresh", "status", "store_migrate")
CHECK_VARS = os.path.join(ROOT, "playbooks", "tasks", "check_vars.yml")

# A valid value for every variable a playbook documents.
VALID: dict[str, t.Any] = {
    "preauth_only": "acme-nl,crm",
    "preauth_force": "true",
    "preauth_access_token_min_ttl": "120",
    "preauth_refresh_before": "604800",
    "preauth_parallel": "4",
    "preauth_deploy": "false",
    "preauth_deploy_hosts": "localhost",
    "preauth_deploy_become": "false",
    "preauth_adopt_store": "false",
    "preauth_release_in_flight": "acme-nl",
    "preauth_report_unchanged": "true",
    "preauth_prometheus_file": "/tmp/preauth.prom",
    "preauth_status_hosts": "localhost",
    "preauth_status_stale_hours": "26",
    "preauth_connection": "acme-nl",
    "preauth_step": "url",
    "preauth_redirect_url": "https://preauth.example.test/callback?code=FAKE-code&state=FAKE-state",
    "preauth_verify": "false",
    "preauth_contact": {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example.test", "company": "Example B.V."},
    "preauth_store_dir": "/tmp/preauth-tokens",
    "preauth_store_url": "postgresql://preauth@db.example.test/preauth",
    "preauth_to_store_dir": "/tmp/preauth-tokens-new",
    "preauth_to_store_url": "postgresql://preauth@db2.example.test/preauth",
    "preauth_keep": "destination",
    "preauth_vault_id": "prod",
    "preauth_connections": [],
    "preauth_settings_user": "invantive",
    "preauth_settings_connections": ["acme-nl"],
}


def only_checks(ansible_playbook: t.Callable[..., t.Any], name: str, extra: dict[str, t.Any]) -> t.Any:
    return ansible_playbook(name, "--tags", "no-task-has-this-tag", extra=extra)


def spec() -> dict[str, t.Any]:
    with open(CHECK_VARS, encoding="utf-8") as handle:
        return yaml.safe_load(handle)[0]["vars"]


def documented(name: str) -> set[str]:
    """The preauth_* names in a playbook's header comment."""
    with open(os.path.join(ROOT, "playbooks", name + ".yml"), encoding="utf-8") as handle:
        header = "".join(line for line in handle if line.startswith("#"))
    return set(re.findall(r"\bpreauth_[a-z_]+[a-z]", header))


def own_vars(name: str) -> set[str]:
    """The variables of one playbook besides those every playbook accepts."""
    data = spec()
    entry = data["preauth_check_vars_playbooks"][name]
    names = set(re.findall(r"'(preauth_[a-z_]+)'", entry)) if isinstance(entry, str) else set(entry)
    if "preauth_check_vars_deploy" in str(entry):
        names |= set(data["preauth_check_vars_deploy"])
    return names


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_a_typo_fails_and_names_it_and_the_valid_ones(ansible_playbook: t.Callable[..., t.Any], name: str) -> None:
    result = only_checks(ansible_playbook, name, {"preauth_onyl": "acme-nl"})
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "preauth_onyl: not a variable of the preauth.oauth2 playbook %s.yml (a typo?). Its variables: " % name in out
    for valid in sorted(own_vars(name)):
        assert valid in out
    assert "preauth_store_url" in out


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_every_documented_variable_passes(ansible_playbook: t.Callable[..., t.Any], name: str) -> None:
    names = documented(name) | {"preauth_connections", "preauth_store_dir", "preauth_store_url", "preauth_vault_id", "preauth_settings_user"}
    result = only_checks(ansible_playbook, name, {k: VALID[k] for k in names})
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"^localhost +: ok=[1-9]\d* .* failed=0 ", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_the_header_documents_the_playbooks_variables(name: str) -> None:
    assert own_vars(name) <= documented(name)
    assert documented(name) <= own_vars(name) | set(spec()["preauth_check_vars_common"]) | set(spec()["preauth_check_vars_known"])


def test_a_value_of_the_wrong_type_fails(ansible_playbook: t.Callable[..., t.Any]) -> None:
    result = only_checks(ansible_playbook, "refresh", {"preauth_parallel": "many"})
    assert result.returncode != 0
    assert "argument 'preauth_parallel' is of type str and we were unable to convert to int" in result.stdout
    result = only_checks(ansible_playbook, "preauthenticate", {"preauth_step": "both"})
    assert result.returncode != 0
    assert "value of preauth_step must be one of: interactive, url, exchange, got: both" in result.stdout


def test_the_role_variables_are_valid_everywhere() -> None:
    with open(os.path.join(ROOT, "roles", "settings", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        role = set(yaml.safe_load(handle)["argument_specs"]["main"]["options"])
    known = set(spec()["preauth_check_vars_known"]) | set(spec()["preauth_check_vars_common"])
    assert role <= known
    assert {n for n in known if n.startswith("preauth_settings_")} <= role


def test_the_contact_check_uses_the_modules_email_pattern() -> None:
    with open(os.path.join(ROOT, "playbooks", "preauthenticate.yml"), encoding="utf-8") as handle:
        found = re.search(r"is regex\('(.+?)', match_type='fullmatch'\)", handle.read())
    assert found is not None
    assert found.group(1).replace("\\\\", "\\") == _preauth.EMAIL.pattern
    assert list(spec()["preauth_check_vars_playbooks"]["preauthenticate"]["preauth_contact"]["options"]) == list(_preauth.CONTACT_FIELDS)


@pytest.mark.parametrize(
    ("name", "tags"),
    [("refresh", {"refresh", "report", "deploy"}), ("deploy", {"deploy"}), ("status", {"report", "health"})],
)
def test_tags(ansible_playbook: t.Callable[..., t.Any], name: str, tags: set[str]) -> None:
    result = ansible_playbook(name, "--list-tags")
    assert result.returncode == 0, result.stderr
    listed = set().union(*(re.findall(r"\w+", m) for m in re.findall(r"TASK TAGS: \[([^\]]*)\]", result.stdout)))
    assert tags <= listed, result.stdout
    assert documented_tags(name) == tags


def documented_tags(name: str) -> set[str]:
    with open(os.path.join(ROOT, "playbooks", name + ".yml"), encoding="utf-8") as handle:
        header = "".join(line for line in handle if line.startswith("#"))
    found = re.search(r"^# Tags: (.*?)(?:, e\.g\.|\.$)", header, re.M | re.S)
    assert found is not None, "the header of %s.yml documents no tags" % name
    return set(re.findall(r"(\w+) \(", found.group(1)))


@pytest.mark.parametrize("name", ["refresh", "store_migrate"])
@pytest.mark.parametrize("value", ["", ",", " ", " , ,"])
def test_a_selection_that_names_no_connection_is_refused_by_every_playbook(ansible_playbook: t.Callable[..., t.Any], name: str, value: str) -> None:
    result = only_checks(ansible_playbook, name, {"preauth_only": value})
    assert result.returncode != 0, result.stdout[-2000:]
    assert (
        "preauth_only=%s names no connection: give a comma-separated list of connection names (preauth_only=acme-nl,crm), or leave "
        "preauth_only out for every connection." % json.dumps(value)
    ) in " ".join(result.stdout.split()), result.stdout[-2000:]


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
