# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, group_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import CONNECTION_ARGS
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.handover import STATES, handover
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome


class ActionModule(PreauthAction):
    # In the oauth2 action group: it takes the group's store and HTTP options (it calls no platform, so the HTTP ones are ignored);
    # connection options set for the group are refused here.
    argument_spec = {
        "connection": dict(CONNECTION_ARGS["connection"]),
        **group_args(),
        "host": {"type": "str"},
        "state": {"type": "str", "default": "host", "choices": list(STATES)},
    }
    required_if = [("state", "host", ["host"])]

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        return handover(self.open_store(params), params["connection"], params["state"], params["host"], request.check_mode)
