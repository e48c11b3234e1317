# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, http_client, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.revoke import revoke


class ActionModule(PreauthAction):
    argument_spec = connection_args()

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        with http_client(params, enabled=not request.check_mode) as client:
            # Without network first: the stored definition usually names the revocation endpoint.
            conn = resolve(params, None)
            return revoke(
                conn,
                self.open_store(params),
                client,
                request.check_mode,
                resolve_with_client=(lambda: resolve(params, client)) if client is not None else None,
                hide=self.hide,
            )
