"""A trivial action on the collection's action base, for the action_base integration target."""

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError


class ActionModule(PreauthAction):
    argument_spec = {
        "name": {"type": "str", "required": True},
        "secret": {"type": "str", "no_log": True},
        "mode": {"type": "str", "default": "ok", "choices": ["ok", "fail", "leak", "secret"]},
    }

    def run_action(self, request: Request) -> Outcome:
        p = request.params
        if p["mode"] == "fail":
            raise PreauthError("connection %s: nothing stored yet; run playbooks/preauthenticate.yml first" % p["name"])
        if p["mode"] == "secret":
            return Outcome(result={"token": p["secret"]}, carries_secrets=True)
        if p["mode"] == "leak":
            return Outcome(result={"echo": "value is %s" % p["secret"]}, msg="saw %s" % p["secret"])
        return Outcome(
            changed=not request.check_mode,
            result={"name": p["name"]},
            msg="would store %s" % p["name"] if request.check_mode else "stored %s" % p["name"],
            before={"name": None},
            after={"name": p["name"]},
        )
