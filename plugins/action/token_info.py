# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import time

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request, group_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.report import collect, compare, prometheus_text, update_file
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.consent import overview
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso


class ActionModule(PreauthAction):
    # In the oauth2 action group: it takes the group's store and HTTP options (it calls no platform, so the HTTP ones are ignored);
    # connection options set for the group are refused here.
    argument_spec = {
        "connection": {"type": "str"},
        "connections": {"type": "list", "elements": "str"},
        "expected": {"type": "list", "elements": "str"},
        **group_args(),
        "return_secrets": {"type": "bool", "default": False},
        "prometheus_file": {"type": "path"},
    }
    mutually_exclusive = [("connection", "connections", "expected")]

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        store = self.open_store(params)
        names = [params["connection"]] if params["connection"] else params["connections"]
        now = time.time()
        # A report goes on past a record it cannot read and names it; a result with secrets is used to deploy, and one
        # that silently lacked a connection would deploy less than asked, so there such a record fails the task.
        unreadable: list[dict[str, str]] | None = None if params["return_secrets"] else []
        found = collect(store, names, now, with_secrets=params["return_secrets"], unreadable=unreadable)
        unreadable = unreadable or []
        result = {"connections": found, "count": len(found), "unreadable": unreadable, "store": store.location}
        if isinstance(store, FileTokenStore):
            result["store_dir"] = store.location  # the older name of "store", kept for file stores only
        missing: list[str] = []
        if params["expected"] is not None:
            comparison = compare(store, params["expected"])
            result.update(comparison)
            missing = comparison["missing"]
        else:
            result["store_exists"] = store.exists()
        if store.kind == "postgresql":
            seen = overview(store, [c["connection"] for c in found] + missing)
            result["invitations"] = {
                name: dict(entry, open_until=iso(entry["open_until"]), last_consent=dict(entry["last_consent"], at=iso(entry["last_consent"]["at"]))
                           if entry["last_consent"] else None)
                for name, entry in seen.items()
            }
        outcome = Outcome(result=result, carries_secrets=params["return_secrets"])
        outcome.warnings.extend("connection %s cannot be read, so it is reported as unreadable: %s" % (u["connection"], u["reason"]) for u in unreadable)
        # prometheus_text reads metadata fields only: secrets never reach the file or the result. It is returned
        # whether or not a file is written, because a file written inside an execution environment vanishes with it.
        text = prometheus_text(found, missing, [u["connection"] for u in unreadable])
        outcome.result["prometheus_text"] = text
        path = params["prometheus_file"]
        if path:
            changed, old = update_file(path, text, request.check_mode)
            outcome.changed = changed
            outcome.result["prometheus_file"] = path
            if changed:
                outcome.before = {"prometheus_file": path, "metrics": (old or "").splitlines()}
                outcome.after = {"prometheus_file": path, "metrics": text.splitlines()}
            verb = ("would write" if request.check_mode else "wrote") if changed else "left unchanged"
            outcome.msg = "%d connection(s); %s the Prometheus file %s" % (len(found), verb, path)
        else:
            outcome.msg = "%d connection(s) in %s" % (len(found), store.location)
        if not result["store_exists"]:
            outcome.msg += "; the token store %s does not exist (nothing was preauthenticated with this store_dir)" % store.location
        if missing:
            outcome.msg += "; no chain stored for %d connection(s) of the inventory: %s" % (len(missing), ", ".join(missing))
        if unreadable:
            outcome.msg += "; %d record(s) cannot be read (see unreadable): %s" % (len(unreadable), ", ".join(u["connection"] for u in unreadable))
        return outcome
