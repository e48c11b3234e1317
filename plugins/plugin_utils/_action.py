# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The base that the collection's action plugins share.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

An action plugin subclasses ``PreauthAction``, declares its argument spec and implements
``run_action``. The base validates the task arguments with Ansible's own
``ArgumentSpecValidator``, hands plain (untagged) values to the action, honours check and diff
mode, masks ``no_log`` values in everything it returns, marks results that carry secrets with
``_ansible_no_log``, and turns every ``PreauthError`` into a failed result with its message.

An inline ansible-vault value that reaches the action still encrypted (see
``template_keeping_vaulted``) arrives as a ``DeferredSecret`` that decrypts with the run's vault
secrets when used; a revealed value is masked like a ``no_log`` value.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_text
from ansible.parsing.vault import EncryptedString, VaultHelper
from ansible.plugins.action import ActionBase

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret, NotPlainError, to_plain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import HTTP_ARGS, STORE_ARGS, open_store, store_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore


# What makes a string a template for Ansible (ansible-core's is_possibly_template with Jinja's default
# delimiters; other delimiters need the override header, which counts as a template too).
_TEMPLATE_MARKS = ("{{", "{%", "{#")
_JINJA_OVERRIDE = "#jinja2:"

# What module_defaults for group/preauth.oauth2.oauth2 (meta/runtime.yml) may set: the store and the HTTP options. Every member
# takes all of them, whether or not it uses them, so that one module_defaults entry serves the whole group.
GROUP_OPTIONS = (*STORE_ARGS, *HTTP_ARGS)
# The HTTP options as a member that calls no platform takes them: accepted for the group and ignored, so without defaults
# (doc fragment connection.http_ignored).
IGNORED_HTTP_ARGS: dict[str, t.Any] = {name: {"type": spec["type"]} for name, spec in HTTP_ARGS.items()}


def group_args(**extra: t.Any) -> dict[str, t.Any]:
    """The argument spec of a group member that calls no platform: the store options, the ignored HTTP options and ``extra``."""
    return store_args(**{k: dict(v) for k, v in IGNORED_HTTP_ARGS.items()}, **extra)


class _NotStatic(Exception):
    """A value that only Ansible's own templating may finish: a template, a vaulted value, another type."""


def _static_copy(value: t.Any, depth: int = 0) -> t.Any:
    """A plain copy of ``value`` if templating it would change nothing; raises ``_NotStatic`` otherwise."""
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, str):
        if value.startswith(_JINJA_OVERRIDE) or any(mark in value for mark in _TEMPLATE_MARKS):
            raise _NotStatic()
        return str.__str__(value)  # drops the tags of a tagged str
    if depth < 32 and isinstance(value, dict):
        return {_static_copy(k, depth + 1): _static_copy(v, depth + 1) for k, v in value.items()}
    if depth < 32 and isinstance(value, list):
        return [_static_copy(v, depth + 1) for v in value]
    raise _NotStatic()


def template_keeping_vaulted(value: t.Any, templar: t.Any, key: str) -> t.Any:
    """Template a task argument that is a list of dicts as Ansible does, except that an inline
    ansible-vault value (``!vault``) under ``key`` in an entry stays encrypted.

    For ``ActionBase.finalize_task_arg`` (ansible-core 2.19+): Ansible decrypts every vaulted
    value while it templates task arguments, one key derivation each, whether the action needs it
    or not. An entry that holds no template and no other vaulted value is copied as it is, since
    templating would return it unchanged: ``templar.template`` costs about 0.4 ms per entry (tens of
    seconds for a large inventory on every run), the copy a tenth of that. Any other entry is
    templated the usual way, which also reports errors as Ansible does.
    """
    try:
        entries = templar.resolve_to_container(value)
        if not isinstance(entries, list):
            return templar.template(value)
        done = []
        for raw in entries:
            entry = templar.resolve_to_container(raw)  # the entry's own values are not rendered yet
            if not isinstance(entry, dict):
                done.append(templar.template(entry))
                continue
            kept = entry.get(key)
            vaulted = type(kept) is EncryptedString  # pylint: disable=unidiomatic-typecheck
            given = {k: v for k, v in entry.items() if k != key} if vaulted else entry
            try:
                rest = _static_copy(given)
            except _NotStatic:
                rest = templar.template(given)
                if not isinstance(rest, dict):
                    return templar.template(value)
            if vaulted:
                rest[key] = kept
            done.append(rest)
        return done
    except Exception:  # pylint: disable=broad-exception-caught
        return templar.template(value)


@dataclasses.dataclass
class Request:
    """What an action gets: validated plain parameters and the run's modes."""

    params: dict[str, t.Any]
    check_mode: bool
    diff_mode: bool
    task_vars: dict[str, t.Any]


class PreauthAction(ActionBase):
    """Base for actions that run on the controller only."""

    # These actions work on the controller's token store and call HTTPS endpoints themselves.
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    argument_spec: t.ClassVar[dict[str, t.Any]] = {}
    mutually_exclusive: t.ClassVar[list[t.Any]] = []
    required_together: t.ClassVar[list[t.Any]] = []
    required_one_of: t.ClassVar[list[t.Any]] = []
    required_if: t.ClassVar[list[t.Any]] = []
    required_by: t.ClassVar[dict[str, t.Any]] = {}

    def run_action(self, request: Request) -> Outcome:  # pragma: no cover - subclasses implement it
        raise NotImplementedError

    def open_store(self, params: t.Mapping[str, t.Any]) -> VaultStore:
        """The token store the task's options choose; closed, and its warnings reported, when the task ends."""
        store = open_store(params, self._loader._vault)
        self._stores.append(store)
        return store

    def hide(self, *values: str | None) -> None:
        """Mask these values (codes, tokens, verifiers met during the run) in everything returned."""
        self._hidden.update(v for v in values if v)

    def _task_connection(self) -> str | None:
        """The connection the task names, if it names one."""
        name = self._task.args.get("connection") if isinstance(self._task.args, dict) else None
        return name if isinstance(name, str) and name else None

    def _subject(self) -> str:
        name = self._task_connection()
        return "connection %s: " % name if name else ""

    @property
    def action_name(self) -> str:
        return str(getattr(self._task, "resolved_action", None) or self._task.action)

    def _defer_vaulted(self, value: t.Any, path: str) -> DeferredSecret:
        """Turn a still-encrypted vault value into a secret that decrypts when it is used."""
        if type(value) is not EncryptedString:  # pylint: disable=unidiomatic-typecheck
            raise NotPlainError("%s has a value of type %s that cannot be stored" % (path, type(value).__name__))
        vault = self._loader._vault
        ciphertext = VaultHelper.get_ciphertext(value, with_tags=False)
        where = path.replace("arguments.", "", 1)

        def reveal() -> str:
            try:
                plaintext = to_text(vault.decrypt(ciphertext))
            except AnsibleError:
                raise PreauthError(
                    "%s cannot be decrypted with the vault secrets of this run; pass the vault password or --vault-id it was encrypted with" % where
                ) from None
            self.hide(plaintext)
            return plaintext

        return DeferredSecret(reveal)

    def _validate(self) -> tuple[dict[str, t.Any], set[str]]:
        validator = ArgumentSpecValidator(
            self.argument_spec,
            mutually_exclusive=self.mutually_exclusive or None,
            required_together=self.required_together or None,
            required_one_of=self.required_one_of or None,
            required_if=self.required_if or None,
            required_by=self.required_by or None,
        )
        try:
            # Plain values first: the validator deep-copies its input, and copying the tags of
            # every value of a long list of connections costs more than the validation.
            args = to_plain(dict(self._task.args), "arguments", self._defer_vaulted)
        except NotPlainError as exc:
            raise PreauthError("%s: %s" % (self.action_name, exc)) from None
        # A list of dicts without sub-options (``connections``) is checked entry by entry by the action. The validator
        # only sees that each entry is a dict, and deep-copies what it gets: it gets an empty dict for each.
        entries: dict[str, list[t.Any]] = {}
        for name, spec in self.argument_spec.items():
            value = args.get(name)
            if spec.get("type") == "list" and spec.get("elements") == "dict" and "options" not in spec and isinstance(value, list):
                entries[name] = value
                args[name] = [{} if isinstance(entry, dict) else entry for entry in value]
        validation = validator.validate(args)
        # The validator documents these as the values it found marked no_log.
        no_log_values = {str(v) for v in validation._no_log_values if v}
        if validation.error_messages:
            msg = "; ".join(str(m) for m in validation.error_messages)
            raise PreauthError("%s%s: invalid arguments: %s" % (self._subject(), self.action_name, remove_values(msg, no_log_values)), self._task_connection())
        validated = to_plain(validation.validated_parameters, "arguments")
        for name, given in entries.items():
            checked = validated.get(name)
            if isinstance(checked, list) and len(checked) == len(given):
                validated[name] = [entry if isinstance(entry, dict) else converted for entry, converted in zip(given, checked, strict=True)]
        return validated, no_log_values

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        self._hidden: set[str] = set()
        self._stores: list[VaultStore] = []
        try:
            return self._run(result, task_vars)
        finally:
            for store in self._stores:
                store.close()

    def _run(self, result: dict[str, t.Any], task_vars: dict[str, t.Any] | None) -> dict[str, t.Any]:
        no_log_values: set[str] = set()
        try:
            params, no_log_values = self._validate()
            request = Request(
                params=params,
                check_mode=bool(self._task.check_mode),
                diff_mode=bool(self._task.diff),
                task_vars=task_vars or {},
            )
            outcome = self.run_action(request)
        except PreauthError as exc:
            masked = no_log_values | self._hidden
            msg = exc.msg if exc.connection is not None else self._subject() + exc.msg
            result.update(remove_values(to_plain(exc.details, "details"), masked))
            result.update(failed=True, changed=False, msg=remove_values(msg, masked))
            return self._store_warnings(result, masked)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Not an expected failure: name it without echoing data that may hold a secret.
            result.update(
                failed=True,
                changed=False,
                msg="%s failed unexpectedly (%s). Please report this as a bug; the message was: %s"
                % (self.action_name, type(exc).__name__, remove_values(str(exc), no_log_values | self._hidden)),
            )
            return result
        return self._store_warnings(self._shape(result, outcome, request, no_log_values | self._hidden), no_log_values | self._hidden)

    def _store_warnings(self, result: dict[str, t.Any], masked: set[str]) -> dict[str, t.Any]:
        """What a store had to say (a chain written back from a rescue file, a lost database session), even when the task failed."""
        said = [remove_values(w, masked) for store in self._stores for w in store.warnings]
        if said:
            result["warnings"] = said + list(result.get("warnings") or [])
        return result

    def _shape(self, result: dict[str, t.Any], outcome: Outcome, request: Request, no_log_values: set[str]) -> dict[str, t.Any]:
        body = dict(outcome.result)
        if outcome.msg is not None:
            body["msg"] = outcome.msg
        if request.diff_mode and (outcome.before is not None or outcome.after is not None):
            body["diff"] = {"before": outcome.before or {}, "after": outcome.after or {}}
        if outcome.carries_secrets:
            result["_ansible_no_log"] = True
        elif no_log_values:
            body = remove_values(body, no_log_values)
        if outcome.warnings:
            # Warnings are printed even under no_log: they never carry values, only masked text.
            result["warnings"] = [remove_values(w, no_log_values) for w in outcome.warnings]
        result.update(body)
        result["changed"] = bool(outcome.changed)
        return result
