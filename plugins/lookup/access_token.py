# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: access_token
short_description: A valid access token for a connection of the inventory, refreshed when needed
version_added: 0.1.0
description:
  - Returns an access token of each connection named in the terms that stays valid for at least O(min_ttl) seconds, for
    example for the C(Authorization) header of an M(ansible.builtin.uri) task.
  - The connection's definition is the entry of the variable C(preauth_connections) whose C(name) is the term, as the
    playbooks use it; its client secret may be an inline ansible-vault value, decrypted with the run's vault secrets.
  - When the stored access token has less than O(min_ttl) seconds left, or the refresh token less than a week (the default
    O(preauth.oauth2.token_refresh#module:refresh_before)), the chain is refreshed exactly as M(preauth.oauth2.token_refresh)
    does it - under the store's lock, with the rotated refresh token saved before anything else - so parallel lookups and
    refresh runs make one token call between them, and the others get its token.
  - A platform's minimum interval between refreshes (Exact Online, 570 seconds) can leave a token with less than O(min_ttl)
    but more than zero seconds; it is returned with a warning. A connection without a stored chain, one that needs a new
    preauthentication, one handed over to a host, or one whose token has expired while a refresh is not yet allowed fails
    with a message that names the connection and what to do next.
  - In check mode (C(--check), the variable C(ansible_check_mode)) the lookup sends no token request and writes nothing, as the
    modules in check mode; it returns the stored access token while it has not expired (with a warning when it has less than
    O(min_ttl) seconds left, where a real run would refresh it first) and fails with a message that says so otherwise. Discovery
    documents (C(issuer)) are still read, as M(preauth.oauth2.token_refresh) reads them in check mode. A task's own
    C(check_mode) keyword does not reach a lookup; C(--check) does.
  - "The token is a secret: a task that uses it must have C(no_log: true), or the token shows in the task's output and logs."
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.store_sources
  - preauth.oauth2.connection.http
options:
  _terms:
    description:
      - Names of connections of C(preauth_connections). One token is returned per name, in the same order.
    type: list
    elements: str
    required: true
  min_ttl:
    description:
      - Seconds the returned access token must stay valid; a token with less left is refreshed first.
      - V(0) accepts any token that has not expired yet.
    type: int
    default: 60
  max_wait:
    description:
      - Most seconds to wait in total when the platform answers a refresh with 429 or 503.
    type: int
    default: 60
notes:
  - The lookup runs on the controller, where the token store and the vault secrets are.
  - The definition is looked up in C(preauth_connections) as the task sees it; the playbooks' variable C(preauth_store_dir)
    and C(preauth_vault_id) set O(store_dir) and O(vault_id) for it too, and C(preauth_store_url) sets O(store_url).
seealso:
  - module: preauth.oauth2.token_refresh
"""

EXAMPLES = r"""
- name: Ask Exact Online who the token belongs to
  ansible.builtin.uri:
    url: https://start.exactonline.nl/api/v1/current/Me
    headers:
      Accept: application/json
      Authorization: "Bearer {{ lookup('preauth.oauth2.access_token', 'acme-nl', min_ttl=120) }}"
  no_log: true  # the header holds the access token
  register: me

- name: Show the division the token works in (no secret in it)
  ansible.builtin.debug:
    msg: "acme-nl works in division {{ me.json.d.results[0].CurrentDivision }}"
"""

RETURN = r"""
_raw:
  description:
    - One access token per term, valid for at least O(min_ttl) seconds unless a warning says otherwise.
  type: list
  elements: str
  sample: [EXAMPLE-access-token-not-real]
"""

import time
import typing as t

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import ENTRY_KEYS, ENTRY_SPEC, HTTP_ARGS, STORE_ARGS, new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import NotPlainError, to_plain
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import ChainResult, Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import from_iso

display = Display()

CONNECTIONS_VAR = "preauth_connections"
SHARED = (*STORE_ARGS, *HTTP_ARGS)
STORE_CHOICES = ("store_dir", "store_url")


class LookupModule(LookupBase):
    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        options = {name: self.get_option(name) for name in (*SHARED, "min_ttl", "max_wait")}
        for name in STORE_CHOICES:
            # A store chosen by the environment is left to the modules' rule (_connection.store_url_of), which refuses
            # both variables at once: the lookup and the modules choose a store alike.
            if str(self.get_option_and_origin(name)[1]).startswith("env:"):
                options[name] = None
        if options["min_ttl"] < 0:
            raise AnsibleError("preauth.oauth2.access_token: min_ttl must be 0 or more seconds, not %d" % options["min_ttl"])
        check_mode = bool((variables or {}).get("ansible_check_mode"))
        return [self._token(term, variables or {}, options, check_mode) for term in terms]

    def _definition(self, name: str, variables: dict[str, t.Any]) -> dict[str, t.Any]:
        """The connection's entry of preauth_connections, templated: an inline-vaulted secret decrypts here."""
        raw = variables.get(CONNECTIONS_VAR)
        entries = self._templar.template(raw) if raw is not None else []
        if not isinstance(entries, list):
            raise AnsibleError(
                "connection %s: %s is not a list of connection definitions; see inventory/exact-online.yml in the collection" % (name, CONNECTIONS_VAR)
            )
        found = [e for e in entries if isinstance(e, dict) and e.get("name", e.get("connection")) == name]
        if not found:
            raise AnsibleError(
                "connection %s is not in %s of this host's variables; add its definition there (see inventory/exact-online.yml in the collection), "
                "or check the name" % (name, CONNECTIONS_VAR)
            )
        try:
            entry = to_plain(found[0], CONNECTIONS_VAR)
        except NotPlainError as exc:
            raise AnsibleError("connection %s: %s" % (name, exc)) from None
        return {k: v for k, v in entry.items() if k in ENTRY_KEYS}

    def _token(self, name: t.Any, variables: dict[str, t.Any], options: dict[str, t.Any], check_mode: bool = False) -> str:
        if not isinstance(name, str) or not name:
            raise AnsibleError("preauth.oauth2.access_token: each term is the name of a connection of %s, not %r" % (CONNECTIONS_VAR, type(name).__name__))
        name = str.__str__(name)
        entry = self._definition(name, variables)
        hidden = {entry["client_secret"]} if isinstance(entry.get("client_secret"), str) and entry["client_secret"] else set()
        checked = ArgumentSpecValidator(ENTRY_SPEC).validate(dict(entry, connection=name))
        if checked.error_messages:
            problems = remove_values("; ".join(str(m) for m in checked.error_messages), hidden)
            raise AnsibleError("connection %s: invalid definition in %s: %s" % (name, CONNECTIONS_VAR, problems))
        params = dict(to_plain(checked.validated_parameters), **{k: options[k] for k in SHARED})
        if check_mode:
            # Check mode sends no token request: the stored access token, whatever a real run would refresh (refresh_before 0).
            policy = Policy(access_token_min_ttl=0, refresh_before=0, return_access_token=True, max_wait=options["max_wait"])
        else:
            # 0 asks for a token that is valid now: the refresher's 0 means "never refresh for the access token".
            policy = Policy(access_token_min_ttl=max(1, options["min_ttl"]), return_access_token=True, max_wait=options["max_wait"])
        try:
            client = new_client(params)
        except PreauthError as exc:
            raise AnsibleError("connection %s: %s" % (name, exc.msg)) from None
        try:
            try:
                connection = resolve(params, client)
            except PreauthError as exc:
                raise AnsibleError("connection %s: %s" % (name, remove_values(exc.msg, hidden))) from None
            try:
                store = open_store(params, self._loader._vault)
            except PreauthError as exc:
                raise AnsibleError("connection %s: %s" % (name, exc.msg)) from None
            try:
                # run_one never raises: every failure is the connection's result, its message free of values.
                # In check mode the client only reads discovery documents (resolve): the refresher gets none.
                result = Refresher(store, None if check_mode else client, policy, check_mode=check_mode).run_one(connection)
            finally:
                store.close()
        finally:
            client.close()
        hidden.update(v for v in result.secrets if v)
        for warning in store.warnings + result.warnings:
            display.warning(remove_values(warning, hidden))
        return self._checked(name, result, options["min_ttl"], hidden, time.time(), check_mode)

    @staticmethod
    def _checked(name: str, result: ChainResult, min_ttl: int, hidden: set[str], now: float, check_mode: bool = False) -> str:
        """The token of a result that has a valid one; otherwise an error that says what to do (never a token)."""
        token = result.access_token
        if token:
            hidden.add(token)
        msg = remove_values(result.msg, hidden)
        if result.status == "failed":
            raise AnsibleError("connection %s: no access token: %s" % (name, msg))
        if result.reason == "owned_by_host":
            raise AnsibleError(
                "connection %s: no access token: %s. The controller must not refresh it; use the token on that host, or give the chain "
                "back with preauth.oauth2.token_handover state=controller" % (name, msg)
            )
        expires = from_iso((result.after or result.before or {}).get("access_expires_at"))
        left = (expires - now) if expires is not None else None
        if check_mode and result.status == "refreshed":
            # A lost answer to settle, or an unreadable expiry: only a token request could tell.
            raise AnsibleError(
                "connection %s: no access token in check mode: %s. Check mode sends no token request; run without --check" % (name, msg)
            )
        if not token or left is None or left <= 0:
            if check_mode:
                raise AnsibleError(
                    "connection %s: no valid access token in check mode: the stored one expired at %s, and check mode sends no token "
                    "request (a run without --check refreshes the chain first)" % (name, (result.after or result.before or {}).get("access_expires_at"))
                )
            # Only a refresh the platform does not allow yet leaves an expired token here.
            raise AnsibleError("connection %s: no valid access token, and no refresh is possible now: %s. Try again later" % (name, msg))
        if check_mode and left < min_ttl:
            display.warning(
                "connection %s: check mode: the stored access token has only %d s left, less than min_ttl=%d; it is returned as it is, "
                "where a run without --check would refresh it first" % (name, left, min_ttl)
            )
            return token
        if left < min_ttl:
            display.warning("connection %s: the access token has only %d s left, less than min_ttl=%d: %s" % (name, left, min_ttl, msg))
        return token
