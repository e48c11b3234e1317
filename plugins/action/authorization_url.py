# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import Outcome, PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._preauth import start


class ActionModule(PreauthAction):
    argument_spec = connection_args(pending_ttl={"type": "int", "default": 900})

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        client = None if request.check_mode else http_client(params)
        try:
            conn = resolve(params, client)
            step = start(conn, self.open_store(params), request.check_mode, params["pending_ttl"])
        finally:
            if client is not None:
                client.close()
        return Outcome(changed=step.changed, result=step.result, msg=step.msg, before=step.before, after=step.after)
