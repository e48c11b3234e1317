# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import complete


class ActionModule(PreauthAction):
    argument_spec = connection_args(
        redirect_url={"type": "str", "no_log": True},
        code={"type": "str", "no_log": True},
        state={"type": "str", "no_log": False},
        listen={"type": "bool"},
        listen_timeout={"type": "int", "default": 300},
        verify={"type": "bool", "default": False},
        preauthenticated_by={
            "type": "dict",
            "required": True,
            "options": {
                "first_name": {"type": "str", "required": True},
                "last_name": {"type": "str", "required": True},
                "job_title": {"type": "str", "required": True},
                "email": {"type": "str", "required": True},
                "company": {"type": "str", "required": True},
            },
        },
    )
    mutually_exclusive = [("redirect_url", "code", "listen")]
    required_together = [("code", "state")]
    required_one_of = [("redirect_url", "code", "listen")]

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        with http_client(params, enabled=not request.check_mode) as client:
            conn = resolve(params, client)
            return complete(
                conn,
                self.open_store(params),
                client,
                request.check_mode,
                params["preauthenticated_by"],
                redirect_url=params["redirect_url"],
                code=params["code"],
                state=params["state"],
                listen=bool(params["listen"]),
                listen_timeout=params["listen_timeout"],
                verify=params["verify"],
                hide=self.hide,
            )
