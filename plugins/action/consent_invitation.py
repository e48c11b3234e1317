# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invite import collect, grant, invite, listing, revoke
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.notify import SMTP_SPEC, Target, mail_invitation, moment, smtp_settings
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import LANGUAGES
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.consent import DEFAULT_DAYS, INVITEE_FIELDS, needs_postgresql


class ActionModule(PreauthAction):
    argument_spec = connection_args(
        state={"type": "str", "default": "present", "choices": ["present", "absent", "list"]},
        days={"type": "int", "default": DEFAULT_DAYS},
        invitee={"type": "dict", "options": {name: {"type": "str"} for name in INVITEE_FIELDS}},
        service_url={"type": "str"},
        operator={"type": "dict", "options": {"company": {"type": "str"}, "contact": {"type": "str"}}},
        app_name={"type": "str"},
        collect={"type": "bool", "default": True},
        service_role={"type": "str"},
        smtp={"type": "dict", "options": SMTP_SPEC},
        mail_language={"type": "str", "choices": list(LANGUAGES)},
        template_dir={"type": "path"},
    )
    required_if = [("state", "present", ("service_url",))]

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        store = self.open_store(params)
        if store.kind != "postgresql":
            raise needs_postgresql(store, params["connection"])
        with http_client(params) as client:
            conn = resolve(params, client)
        granted = grant(params["service_role"], store, request.check_mode) if params["service_role"] else None
        collected = collect(conn, store, request.check_mode, hide=self.hide) if params["collect"] else None
        if params["state"] == "present":
            outcome = invite(conn, store, request.check_mode, params["service_url"], params["days"], params["invitee"], params["operator"], params["app_name"])
            if params["smtp"]:
                self._mail(params, conn, outcome)
        elif params["state"] == "absent":
            outcome = revoke(conn.name, store, request.check_mode)
        else:
            outcome = listing(conn.name, store)
        if granted is not None:
            outcome.result["service_role"] = granted.result
            outcome.changed = outcome.changed or granted.changed
            outcome.msg = "%s; %s" % (granted.msg, outcome.msg)
        if collected is not None:
            outcome.result["collected"] = collected.result["collected"]
            outcome.result["landing_failures"] = collected.result["landing_failures"]
            outcome.warnings[:0] = collected.warnings
            if collected.result["collected"]:
                outcome.changed = True
                outcome.msg = "%s; %s" % (collected.msg, outcome.msg)
        return outcome

    def _mail(self, params: t.Mapping[str, t.Any], conn: t.Any, outcome: Outcome) -> None:
        """Mail the new link to the invitee (``smtp``); a failure is a warning, and the link stays in the result to send by hand."""
        link = outcome.result.get("link")
        outcome.result["mailed_to"] = None
        if not link:
            return  # check mode: nothing was made, nothing is mailed
        asked = (params["invitee"] or {}).get("language")
        target = Target(conn.name, conn.platform, conn.country, [], params["mail_language"] or (asked if asked in LANGUAGES else "en"))
        try:
            address = mail_invitation(
                smtp_settings(params["smtp"]),
                target,
                link,
                moment(outcome.result["invitation"]["expires_at"]),
                params["invitee"] or {},
                params["operator"],
                params.get("template_dir"),
            )
        except PreauthError as exc:
            outcome.warnings.append("the invitation's link was not mailed: %s; send the link in the result to the invitee yourself" % exc.msg)
            return
        outcome.result["mailed_to"] = address
        outcome.msg = "%s; its link was mailed to %s" % (outcome.msg, address)
