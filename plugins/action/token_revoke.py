# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import Outcome, PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import connection_args, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._revoke import RevocationClient, revoke


class ActionModule(PreauthAction):
    argument_spec = connection_args()

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        client = None
        if not request.check_mode:
            client = RevocationClient(timeout=float(params["timeout"]), validate_certs=bool(params["validate_certs"]), ca_path=params["ca_path"])
        try:
            # Without network first: the stored definition usually names the revocation endpoint.
            conn = resolve(params, None)
            step, warnings = revoke(
                conn,
                self.open_store(params),
                client,
                request.check_mode,
                resolve_with_client=(lambda: resolve(params, client)) if client is not None else None,
                hide=self.hide,
            )
        finally:
            if client is not None:
                client.close()
        return Outcome(changed=step.changed, result=step.result, msg=step.msg, before=step.before, after=step.after, warnings=warnings)
