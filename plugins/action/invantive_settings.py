# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, group_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invantive import DEPLOY, KEEP, SKIP, plan
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome


class ActionModule(PreauthAction):
    # In the oauth2 action group: it takes the group's store and HTTP options (it calls no platform, so the HTTP ones are ignored);
    # its connection options are per entry.
    argument_spec = {
        "connections": {"type": "list", "elements": "dict", "required": True},
        "host": {"type": "str"},
        "names": {"type": "list", "elements": "str", "default": []},
        "claims": {"type": "dict", "default": {}},
        "redeploy_only": {"type": "bool", "default": False},
        "only": {"type": "list", "elements": "str"},
        **group_args(),
    }

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        host = params["host"] or request.task_vars.get("inventory_hostname")
        if not host:
            raise PreauthError("invantive_settings: give host, the inventory name of the host the settings are for")
        for entry in params["connections"]:
            secret = entry.get("client_secret")
            self.hide(secret if isinstance(secret, str) else None)
        store = self.open_store(params)
        planned = plan(store, params["connections"], host, params["names"], params["claims"], params["redeploy_only"], params["only"])
        for item in planned:
            self.hide(item.content)
        files = [item.public() for item in planned]
        deploy = sum(1 for item in planned if item.action == DEPLOY)
        keep = sum(1 for item in planned if item.action == KEEP)
        skip = sum(1 for item in planned if item.action == SKIP)
        return Outcome(
            result={
                "host": host,
                "files": files,
                "contents": {item.connection: item.content for item in planned if item.action == DEPLOY},
                # No secret: from when each deployed chain may be refreshed, for the runner beside the sealed file.
                "runner_notes": {item.connection: item.note for item in planned if item.action == DEPLOY and item.note},
                "summary": ["%s: %s - %s" % (item.connection, item.action, item.msg) for item in planned],
                "counts": {"deploy": deploy, "keep": keep, "skip": skip},
            },
            msg="host %s: %d settings file(s) to deploy, %d kept as the host's product left them, %d skipped" % (host, deploy, keep, skip),
            carries_secrets=bool(deploy),
        )
