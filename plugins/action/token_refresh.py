# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import typing as t

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, template_keeping_vaulted
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import ENTRY_KEYS, ENTRY_SPEC, Connection, connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret, to_plain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invite import collect_many

SHARED = ("store_dir", "store_url", "vault_id", "validate_certs", "ca_path", "timeout")


def _spec() -> dict[str, t.Any]:
    spec = connection_args(
        connections={"type": "list", "elements": "dict"},
        access_token_min_ttl={"type": "int", "default": 0},
        refresh_before={"type": "int", "default": 7 * 86400},
        force={"type": "bool", "default": False},
        parallel={"type": "int", "default": 8},
        fail_on_error={"type": "bool", "default": True},
        return_access_token={"type": "bool", "default": False},
        return_unchanged={"type": "bool", "default": True},
        max_wait={"type": "int", "default": 60},
        adopt_store={"type": "bool", "default": False},
        release_in_flight={"type": "list", "elements": "str", "default": []},
    )
    for name in ("connection", "platform", "client_id"):
        spec[name] = dict(spec[name], required=False)
    return spec


class _EntryValidator:
    """``ArgumentSpecValidator(ENTRY_SPEC)`` for many entries that differ mostly in name and client secret.

    Validating one entry costs about 0.3 ms (the validator deep-copies it and walks the spec): seconds
    for a large inventory on every run. Entries alike except for a ``str`` name and a ``str`` or absent
    client secret validate alike, so the result of the first stands for the others, with their own
    name and secret put back. Anything else is validated on its own.
    """

    def __init__(self) -> None:
        self._validator = ArgumentSpecValidator(ENTRY_SPEC)
        self._known: dict[str, tuple[dict[str, t.Any], list[str]]] = {}

    def __call__(self, entry: dict[str, t.Any]) -> tuple[dict[str, t.Any], list[str]]:
        name, secret = entry.get("connection"), entry.get("client_secret")
        shape = None
        if type(name) is str and (secret is None or type(secret) is str):  # pylint: disable=unidiomatic-typecheck
            try:
                rest = {k: v for k, v in entry.items() if k not in ("connection", "client_secret")}
                shape = json.dumps(rest, sort_keys=True) + ("" if secret is None else " +secret")
            except (TypeError, ValueError):
                shape = None
        if shape is None:
            return self._validate(entry)
        if shape not in self._known:
            self._known[shape] = self._validate(entry)
        validated, errors = self._known[shape]
        if errors:
            return {}, errors
        own = dict(validated, connection=name)
        if secret is not None:
            own["client_secret"] = secret
        return own, []

    def _validate(self, entry: dict[str, t.Any]) -> tuple[dict[str, t.Any], list[str]]:
        checked = self._validator.validate(entry)
        if checked.error_messages:
            return {}, [str(m) for m in checked.error_messages]
        return to_plain(checked.validated_parameters), []


class ActionModule(PreauthAction):
    argument_spec = _spec()
    mutually_exclusive = [("connection", "connections")]
    required_one_of = [("connection", "connections")]
    required_by = {"connection": ("platform", "client_id")}

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        # Inline-vaulted client secrets are decrypted only for the connections that are refreshed.
        if name == "connections":
            return template_keeping_vaulted(value, templar, "client_secret")
        return super().finalize_task_arg(name, value, templar, context)

    def _entries(self, params: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        if params["connection"]:
            # Unset options stay unset: None is no value of a choice such as client_auth.
            return [{k: params[k] for k in ENTRY_SPEC if params[k] is not None}]
        entries = []
        for position, raw in enumerate(params["connections"]):
            known = {k: v for k, v in raw.items() if k in ENTRY_KEYS}
            known["connection"] = raw.get("name", raw.get("connection"))
            self.hide(raw.get("client_secret") if isinstance(raw.get("client_secret"), str) else None)
            entries.append(dict(known, _position=position))
        return entries

    def _connections(self, entries: list[dict[str, t.Any]], params: dict[str, t.Any], client: t.Any) -> tuple[list[t.Any], list[str]]:
        validate = _EntryValidator()
        items: list[Connection | PreauthError] = []
        names: list[str] = []
        seen: set[str] = set()
        for entry in entries:
            position = entry.pop("_position", 0)
            name = str(entry.get("connection") or "connections[%d]" % position)
            if name in seen:
                raise PreauthError("connection %s is listed twice in connections" % name, name)
            seen.add(name)
            names.append(name)
            # A deferred secret skips the type check: it is a string once revealed.
            deferred = entry.pop("client_secret") if isinstance(entry.get("client_secret"), DeferredSecret) else None
            validated, errors = validate(entry)
            if errors:
                items.append(PreauthError("invalid connection definition: %s" % "; ".join(errors)))
                continue
            merged = dict(validated, **{k: params[k] for k in SHARED})
            if deferred is not None:
                merged["client_secret"] = deferred
            try:
                items.append(resolve(merged, client))
            except PreauthError as exc:
                items.append(exc)
        return items, names

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        if params["connection"]:
            self.hide(params["client_secret"])
        entries = self._entries(params)
        # Check mode too reads discovery documents (a GET that changes nothing), so that it resolves the endpoints a real run
        # resolves and compares the same definition; it sends no token request (the refresher gets no client).
        with http_client(params) as client:
            items, names = self._connections(entries, params, client)
            policy = Policy(
                access_token_min_ttl=params["access_token_min_ttl"],
                refresh_before=params["refresh_before"],
                force=params["force"],
                max_wait=params["max_wait"],
                return_access_token=params["return_access_token"],
                release_in_flight=frozenset(params["release_in_flight"]),
            )
            store = self.open_store(params)
            existed = store.exists()  # before a lock file or a schema is made
            adopted = self._adopt(store, request.check_mode) if params["adopt_store"] else None
            # Consents that landed since the last run become the chains that are refreshed now.
            landed = collect_many(store, [i for i in items if isinstance(i, Connection)], request.check_mode, hide=self.hide)
            refresher = Refresher(store, None if request.check_mode else client, policy, check_mode=request.check_mode)
            results = refresher.run_many(items, names, params["parallel"])
        warnings = landed.warnings + [w for r in results for w in r.warnings]
        if adopted is not None:
            warnings.insert(0, adopted.pop("warning"))
        for chain in results:
            # Masked in every message and result, including what a server echoed of them.
            self.hide(*chain.secrets)
        counts = {status: sum(1 for r in results if r.status == status) for status in ("refreshed", "unchanged", "skipped", "failed")}
        token_calls = sum(r.token_calls for r in results)
        if not params["return_unchanged"] and not params["connection"]:
            results = [r for r in results if r.status != "unchanged"]
        public = [r.public() for r in results]
        summary = ["%s: %s - %s" % (r.connection, r.status, r.msg) for r in results]
        msg = "%(refreshed)d refreshed, %(unchanged)d unchanged, %(skipped)d skipped, %(failed)d failed" % counts
        if request.check_mode:
            msg = "check mode: " + msg.replace("refreshed", "would be refreshed", 1) + "; nothing was sent or written"
        if any(r.reason == "no_chain" for r in results) and not store.connections():
            # Said once for the store, not "preauthenticate" per connection: usually the wrong store, or one that vanished.
            msg += (
                "; the token store %s %s, so no connection has a chain: check store_dir or store_url (a job in a fresh container needs "
                "the PostgreSQL store or a persistent volume), or preauthenticate the connections first"
                % (
                    store.location,
                    "does not exist" if not existed else "holds no chain",
                )
            )
        body = {
            "connections": public,
            "counts": counts,
            "summary": summary,
            "token_calls": token_calls,
            "reauthorization_required": [r.connection for r in results if r.reauthorization_required],
        }
        if params["connection"]:
            body.update({k: v for k, v in public[0].items() if k != "msg"})
        if landed.result["collected"] or landed.result["landing_failures"]:
            body["landings"] = landed.result
            msg += "; %s %d landing(s) of consent invitations" % ("would import" if request.check_mode else "imported", len(landed.result["collected"]))
        if adopted is not None:
            body["adopted"] = adopted
        if counts["failed"] and params["fail_on_error"]:
            failed = "; ".join("%s: %s" % (r.connection, r.msg) for r in results if r.status == "failed")
            for chain in results:
                self.hide(chain.access_token)  # a failed result is shown: no token in it
            details = dict(body)
            details["connections"] = [{k: v for k, v in c.items() if k != "access_token"} for c in public]
            details.pop("access_token", None)
            if warnings:
                details["warnings"] = warnings
            raise PreauthError("%s. %s" % (msg, failed), **details)
        return Outcome(
            changed=counts["refreshed"] > 0 or adopted is not None or landed.changed,
            result=body,
            msg=msg,
            before={r.connection: r.before for r in results if r.before},
            after={r.connection: (r.after or r.before) for r in results if r.before},
            carries_secrets=params["return_access_token"],
            warnings=warnings,
        )

    @staticmethod
    def _adopt(store: t.Any, check_mode: bool) -> dict[str, t.Any] | None:
        """Make this place the home of a store that was moved here; what moved, with a warning, or None."""
        moved = store.adopt(check_mode=check_mode)
        if not moved["changed"]:
            return None
        old = moved["from"]
        was = "%s on %s" % (old["path"], old["host"]) if old else "an unreadable home record"
        now = "%s on %s" % (moved["to"]["path"], moved["to"]["host"])
        verb = "check mode: would adopt" if check_mode else "adopted"
        warning = (
            "%s the token store %s: it was set up at %s. From now on rotating chains are refreshed from here only; make sure no copy of "
            "it is used anywhere else, or the platform revokes the chains that both refresh" % (verb, now, was)
        )
        return {"from": old, "to": moved["to"], "warning": warning}
