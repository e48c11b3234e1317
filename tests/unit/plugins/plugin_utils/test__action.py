"""The shared action base, exercised through a trivial action defined here."""

from __future__ import annotations

import json
import typing as t

import pytest
import yaml
from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.errors import AnsibleUndefinedVariable
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import EncryptedString, VaultLib, VaultSecret, VaultSecretsContext
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader
from ansible.template import Templar

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, template_keeping_vaulted
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret

FAKE_SECRET = "FAKE-secret-value-7c1e"


class EchoAction(PreauthAction):
    argument_spec = {
        "name": {"type": "str", "required": True},
        "secret": {"type": "str", "no_log": True},
        "count": {"type": "int", "default": 1},
        "labels": {"type": "dict", "default": {}},
        "entries": {"type": "list", "elements": "dict"},
        "mode": {"type": "str", "default": "ok", "choices": ["ok", "fail", "boom", "leak", "secret"]},
    }
    required_if = [("mode", "secret", ["secret"])]
    seen: t.ClassVar[list[Request]] = []

    def run_action(self, request: Request) -> Outcome:
        EchoAction.seen.append(request)
        p = request.params
        if p["mode"] == "fail":
            # A connection detail for the result (the connection that a message names is positional).
            # pylint: disable-next=kwarg-superseded-by-positional-arg
            raise PreauthError("connection %s: the store is locked by another run; try again" % p["name"], connection=p["name"])
        if p["mode"] == "boom":
            raise RuntimeError("unexpected trouble near %s" % p["secret"])
        if p["mode"] == "secret":
            return Outcome(result={"token": p["secret"]}, carries_secrets=True)
        if p["mode"] == "leak":
            return Outcome(result={"echo": "value is %s" % p["secret"]}, msg="saw %s" % p["secret"], warnings=["careful with %s" % p["secret"]])
        return Outcome(
            changed=not request.check_mode,
            result={"name": p["name"], "count": p["count"]},
            msg="would change" if request.check_mode else "changed",
            before={"count": 0},
            after={"count": p["count"]},
        )


def run(args: dict[str, t.Any], check_mode: bool = False, diff: bool = False) -> dict[str, t.Any]:
    task = Task()
    task.action = "echo"
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    play_context = PlayContext()
    connection = connection_loader.get("local", play_context)
    action = EchoAction(task, connection, play_context, DataLoader(), None)
    return action.run(task_vars={})


@pytest.fixture(autouse=True)
def _reset_seen():
    EchoAction.seen.clear()


def test_valid_arguments_reach_the_action_with_defaults():
    result = run({"name": "acme", "count": "3"})
    assert result["changed"] is True
    assert result["msg"] == "changed"
    assert EchoAction.seen[0].params == {"name": "acme", "count": 3, "labels": {}, "mode": "ok", "secret": None, "entries": None}
    assert "diff" not in result


def test_invalid_arguments_fail_with_the_validator_message_and_never_reach_the_action():
    result = run({"count": "x"})
    assert result["failed"] is True
    assert result["changed"] is False
    assert "echo: invalid arguments" in result["msg"]
    assert "missing required arguments: name" in result["msg"]
    assert EchoAction.seen == []
    unknown = run({"name": "a", "colour": "red"})
    assert "colour" in unknown["msg"] and unknown["failed"] is True


def test_a_list_of_dicts_reaches_the_action_as_given_and_other_elements_as_the_validator_converts_them():
    entries = [{"name": "a", "nested": {"scopes": ["x", "y"]}, "port": 8443}, "k=v,w=1", {}]
    run({"name": "n", "entries": entries})
    assert EchoAction.seen[0].params["entries"] == [{"name": "a", "nested": {"scopes": ["x", "y"]}, "port": 8443}, {"k": "v", "w": "1"}, {}]
    result = run({"name": "n", "entries": [{"name": "a"}, 42]})
    assert result["failed"] is True and "entries" in result["msg"] and "dict" in result["msg"]


def test_check_mode_and_diff_mode_are_passed_and_shaped():
    result = run({"name": "acme", "count": 2}, check_mode=True, diff=True)
    assert EchoAction.seen[0].check_mode is True and EchoAction.seen[0].diff_mode is True
    assert result["changed"] is False
    assert result["msg"] == "would change"
    assert result["diff"] == {"before": {"count": 0}, "after": {"count": 2}}


def test_expected_failures_become_a_failed_result_with_the_message_and_details():
    result = run({"name": "acme", "mode": "fail"})
    assert result == {
        "failed": True,
        "changed": False,
        "msg": "connection acme: the store is locked by another run; try again",
        "connection": "acme",
    }


def test_unexpected_exceptions_are_named_and_masked():
    result = run({"name": "acme", "mode": "boom", "secret": FAKE_SECRET})
    assert result["failed"] is True
    assert "RuntimeError" in result["msg"] and "report this as a bug" in result["msg"]
    assert FAKE_SECRET not in json.dumps(result)


def test_no_log_values_are_masked_in_results_messages_and_warnings():
    result = run({"name": "acme", "mode": "leak", "secret": FAKE_SECRET})
    text = json.dumps(result)
    assert FAKE_SECRET not in text
    assert result["msg"] == "saw ********"
    assert result["warnings"] == ["careful with ********"]
    assert "_ansible_no_log" not in result


def test_results_that_carry_secrets_are_hidden_from_output():
    result = run({"name": "acme", "mode": "secret", "secret": FAKE_SECRET})
    assert result["_ansible_no_log"] is True
    assert result["token"] == FAKE_SECRET


def test_required_if_is_enforced():
    result = run({"name": "acme", "mode": "secret"})
    assert result["failed"] is True
    assert "mode is secret but all of the following are missing: secret" in result["msg"]


def test_tagged_values_arrive_as_plain_python_types():
    origin = Origin(path="/inventory.yml", line_num=3)
    result = run({"name": origin.tag("acme"), "count": origin.tag(4), "labels": origin.tag({"k": origin.tag(["x"])})})
    assert result["changed"] is True
    params = EchoAction.seen[0].params
    for value in (params["name"], params["count"], params["labels"], params["labels"]["k"], params["labels"]["k"][0]):
        assert type(value) in (str, int, dict, list)
    # The reason for converting: tagged values are refused by yaml.safe_dump.
    with pytest.raises(yaml.representer.RepresenterError):
        yaml.safe_dump({"name": origin.tag("acme")})
    assert yaml.safe_dump(params, sort_keys=True).startswith("count: 4")


# -- inline-vaulted secrets that the action decrypts only when it uses them -----------------

VAULT_PASSWORD = b"FAKE-vault-password-for-tests"
FAKE_SECRETS = {"a": "FAKE-client-secret-a-1f2e", "b": "FAKE-client-secret-b-3d4c"}


class DeferAction(PreauthAction):
    argument_spec = {"entries": {"type": "list", "elements": "dict", "required": True}, "use": {"type": "list", "elements": "str", "default": []}}
    seen: t.ClassVar[list[Request]] = []

    def run_action(self, request: Request) -> Outcome:
        DeferAction.seen.append(request)
        used = [e["secret"].reveal() for e in request.params["entries"] if e["name"] in request.params["use"]]
        return Outcome(result={"used": len(used)}, msg="used %s" % ", ".join(used))


def vault_lib() -> VaultLib:
    return VaultLib([("default", VaultSecret(VAULT_PASSWORD))])


def encrypted(plaintext: str, lib: VaultLib | None = None) -> EncryptedString:
    return EncryptedString(ciphertext=(lib or vault_lib()).encrypt(plaintext).decode())


def run_defer(args: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, t.Any], list[int]]:
    task = Task()
    task.action = "defer"
    task.args = args
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(VAULT_PASSWORD))])
    decrypted: list[int] = []
    real = loader._vault.decrypt
    monkeypatch.setattr(loader._vault, "decrypt", lambda *a, **k: decrypted.append(1) or real(*a, **k))
    action = DeferAction(task, connection_loader.get("local", PlayContext()), PlayContext(), loader, None)
    return action.run(task_vars={}), decrypted


@pytest.fixture(autouse=True)
def _reset_defer_seen():
    DeferAction.seen.clear()


def test_an_encrypted_value_is_decrypted_only_when_the_action_uses_it_and_is_then_masked(monkeypatch):
    entries = [{"name": name, "secret": encrypted(secret)} for name, secret in FAKE_SECRETS.items()]
    result, decrypted = run_defer({"entries": entries, "use": ["b"]}, monkeypatch)
    assert result["used"] == 1 and decrypted == [1]
    assert result["msg"] == "used ********"
    assert not any(secret in json.dumps(result) for secret in FAKE_SECRETS.values())
    untouched = DeferAction.seen[0].params["entries"][0]["secret"]
    assert isinstance(untouched, DeferredSecret) and "FAKE" not in repr(untouched)
    nothing, decrypted = run_defer({"entries": entries}, monkeypatch)
    assert nothing["used"] == 0 and decrypted == []


def test_an_encrypted_value_this_run_cannot_decrypt_fails_when_used_with_a_message(monkeypatch):
    other = VaultLib([("default", VaultSecret(b"FAKE-another-vault-password"))])
    result, _decrypted = run_defer({"entries": [{"name": "a", "secret": encrypted(FAKE_SECRETS["a"], other)}], "use": ["a"]}, monkeypatch)
    assert result["failed"] is True
    assert result["msg"] == (
        "entries[0].secret cannot be decrypted with the vault secrets of this run; pass the vault password or --vault-id it was encrypted with"
    )


@pytest.fixture
def templar(monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """Ansible's own template engine, with the run's vault secrets where templating decrypts."""
    monkeypatch.setattr(VaultSecretsContext, "_current", VaultSecretsContext([("default", VaultSecret(VAULT_PASSWORD))]))
    trusted = TrustedAsTemplate().tag
    variables = {
        "connections": [
            {"name": "a", "client_id": trusted("{{ client_a }}"), "client_secret": encrypted(FAKE_SECRETS["a"]), "country": trusted("{{ omit }}")},
            {"name": "b", "client_id": "b-id", "client_secret": trusted("{{ vaulted_b }}")},
            {"name": "c", "client_id": "c-id", "client_secret": encrypted("FAKE-client-secret-c"), "scopes": [trusted("{{ client_a }}")]},
        ],
        "client_a": "a-id",
        "vaulted_b": encrypted(FAKE_SECRETS["b"]),
        "selected": trusted("{{ connections | selectattr('name', 'in', ['a', 'c']) | list }}"),
        "static": [
            {"name": "s", "client_id": "s-id", "client_secret": encrypted("FAKE-client-secret-s"), "scopes": ["api"], "endpoints": {"token": "https://x"}},
            {"name": "t", "client_id": encrypted("t-id"), "client_secret": encrypted("FAKE-client-secret-t"), "port": 8443, "note": "50% {not a template}"},
        ],
    }
    return Templar(loader=DataLoader(), variables=variables)._engine


def test_templating_keeps_inline_vaulted_values_encrypted_and_renders_the_rest(templar):
    trusted = TrustedAsTemplate().tag
    entries = template_keeping_vaulted(trusted("{{ connections }}"), templar, "client_secret")
    assert [isinstance(e["client_secret"], EncryptedString) for e in entries] == [True, False, True]
    assert entries[1]["client_secret"] == FAKE_SECRETS["b"]  # vaulted elsewhere, referenced by a template: decrypted as Ansible does
    assert {k: v for k, v in entries[0].items() if k != "client_secret"} == {"name": "a", "client_id": "a-id"}  # omit drops out
    assert entries[2]["scopes"] == ["a-id"]
    selected = template_keeping_vaulted(trusted("{{ selected }}"), templar, "client_secret")
    assert [e["name"] for e in selected] == ["a", "c"] and all(isinstance(e["client_secret"], EncryptedString) for e in selected)
    assert template_keeping_vaulted(entries, templar, "client_secret")[0]["client_secret"] is entries[0]["client_secret"]


def test_entries_without_templates_are_copied_as_plain_data_and_other_vaulted_values_still_decrypt(templar, monkeypatch):
    rendered = []  # entries templated to the end (not just resolved to their container)
    template = templar.template

    def spy(variable: t.Any, **kwargs: t.Any) -> t.Any:
        if kwargs.get("mode") is None and isinstance(variable, dict):
            rendered.append(variable)
        return template(variable, **kwargs)

    monkeypatch.setattr(templar, "template", spy)
    entries = template_keeping_vaulted(TrustedAsTemplate().tag("{{ static }}"), templar, "client_secret")
    # Templating costs about 0.4 ms per entry: only the entry with a vaulted value besides the secret is templated.
    assert len(rendered) == 1 and rendered[0]["name"] == "t"
    assert isinstance(entries[0]["client_secret"], EncryptedString) and isinstance(entries[1]["client_secret"], EncryptedString)
    first = {k: v for k, v in entries[0].items() if k != "client_secret"}
    assert first == {"name": "s", "client_id": "s-id", "scopes": ["api"], "endpoints": {"token": "https://x"}}
    assert type(first["name"]) is str and type(first["scopes"]) is list and type(first["endpoints"]) is dict  # pylint: disable=unidiomatic-typecheck
    # An entry with a vaulted value elsewhere is templated as Ansible does: that value is decrypted, the secret stays encrypted.
    assert entries[1]["client_id"] == "t-id" and entries[1]["port"] == 8443 and entries[1]["note"] == "50% {not a template}"


def test_templating_errors_are_reported_as_ansible_reports_them(templar):
    with pytest.raises(AnsibleUndefinedVariable, match="'nothing' is undefined"):
        template_keeping_vaulted(TrustedAsTemplate().tag("{{ nothing }}"), templar, "client_secret")
    assert template_keeping_vaulted(TrustedAsTemplate().tag("{{ client_a }}"), templar, "client_secret") == "a-id"
