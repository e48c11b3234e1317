# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, group_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.move import KEEP_CHOICES, STATUSES, move
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome


class ActionModule(PreauthAction):
    # In the oauth2 action group: store_dir, store_url and vault_id set for the group choose the source store; the group's HTTP
    # options are taken and ignored (it calls no platform).
    argument_spec = {
        "connections": {"type": "list", "elements": "str"},
        **group_args(),
        "to_store_dir": {"type": "path"},
        "to_store_url": {"type": "str"},
        "keep": {"type": "str", "choices": list(KEEP_CHOICES)},
    }
    mutually_exclusive = [("to_store_dir", "to_store_url")]
    required_one_of = [("to_store_dir", "to_store_url")]

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        source = self.open_store(params)
        # The same vault secrets; vault_id chooses the identity of records new to the destination.
        destination = self.open_store({"store_dir": params["to_store_dir"], "store_url": params["to_store_url"], "vault_id": params["vault_id"]})
        results = move(source, destination, params["connections"], request.check_mode, keep=params["keep"])
        counts = {status: sum(1 for r in results if r.status == status) for status in STATUSES}
        msg = "%(moved)d moved, %(unchanged)d unchanged, %(skipped)d skipped, %(failed)d failed" % counts
        if request.check_mode:
            msg = "check mode: " + msg.replace("moved", "would be moved", 1) + "; nothing was written"
        body = {
            "source": source.location,
            "destination": destination.location,
            "connections": [r.public() for r in results],
            "counts": counts,
            "summary": ["%s: %s - %s" % (r.connection, r.status, r.msg) for r in results],
        }
        if counts["failed"]:
            failed = "; ".join("%s: %s" % (r.connection, r.msg) for r in results if r.status == "failed")
            raise PreauthError("%s. %s" % (msg, failed), **body)
        return Outcome(
            changed=any(r.changed for r in results),
            result=body,
            msg=msg,
            before={r.connection: r.before for r in results},
            after={r.connection: r.after for r in results},
        )
