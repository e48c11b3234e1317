# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import start


class ActionModule(PreauthAction):
    argument_spec = connection_args(pending_ttl={"type": "int", "default": 900})

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        with http_client(params, enabled=not request.check_mode) as client:
            conn = resolve(params, client)
            return start(conn, self.open_store(params), request.check_mode, params["pending_ttl"])
