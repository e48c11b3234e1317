# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import fnmatch
import os
import socket
import typing as t

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import PreauthAction, Request
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import ENTRY_KEYS, ENTRY_SPEC, HTTP_ARGS, http_client, resolve, store_args
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invite import invite
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.notify import (
    SMTP_SPEC,
    Channels,
    Notifier,
    Policy,
    Target,
    moment,
    smtp_settings,
    webhook_label,
)
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.mail import check_address, check_settings
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import LANGUAGES
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.webhook import check_url, sign
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PlatformError, get_platform
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.consent import DEFAULT_DAYS
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import check_connection_name


def _addresses(value: t.Any, where: str) -> list[str]:
    """A list of e-mail addresses, or one string of them separated by commas; each checked as the mail channel checks it."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise PreauthError("%s must be an e-mail address or a list of them; nothing was sent" % where)
    found = []
    for item in (i.strip() for i in items if i.strip()):
        try:
            found.append(check_address(item))
        except ValueError as exc:
            raise PreauthError("%s: %s; nothing was sent" % (where, exc)) from None
    return found


class ActionModule(PreauthAction):
    argument_spec = store_args(
        connections={"type": "list", "elements": "dict", "required": True},
        email={"type": "list", "elements": "str", "default": []},
        groups={
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {"connections": {"type": "list", "elements": "str", "required": True}, "email": {"type": "list", "elements": "str", "required": True}},
        },
        notify_consenter={"type": "bool", "default": True},
        language={"type": "str", "default": "en", "choices": list(LANGUAGES)},
        template_dir={"type": "path"},
        smtp={"type": "dict", "options": SMTP_SPEC},
        webhooks={
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {"url": {"type": "str", "required": True}, "secret": {"type": "str", "required": True, "no_log": True}, "name": {"type": "str"}},
        },
        expiring_days={"type": "int", "default": 7},
        failing_runs={"type": "int", "default": 3},
        remind_days={"type": "int", "default": 0},
        consent_service_url={"type": "str"},
        operator={"type": "dict", "default": {}, "options": {"company": {"type": "str"}, "contact": {"type": "str"}}},
        invitation_days={"type": "int", "default": DEFAULT_DAYS},
        health={"type": "list", "elements": "dict", "default": []},
        **{k: dict(v) for k, v in HTTP_ARGS.items()},
    )

    def run_action(self, request: Request) -> Outcome:
        params = request.params
        for name in ("expiring_days", "failing_runs", "remind_days", "invitation_days"):
            if params[name] < (0 if name == "remind_days" else 1):
                raise PreauthError("%s must be %s, not %d; nothing was sent" % (name, "0 or more" if name == "remind_days" else "1 or more", params[name]))
        if not params["smtp"] and not params["webhooks"]:
            raise PreauthError("give smtp (e-mail) or webhooks, or both: there is no channel to tell anyone; nothing was sent")
        store = self.open_store(params)
        targets, entries = self._targets(params)
        channels = Channels(
            smtp=smtp_settings(params["smtp"]) if params["smtp"] else None,
            webhooks=[(webhook_label(h["url"], h.get("name")), h["url"], h["secret"]) for h in params["webhooks"]],
            template_dir=params.get("template_dir"),
            operator={k: v for k, v in (params["operator"] or {}).items() if v},
        )
        # Settings that cannot work fail the task before anything is sent or written (the playbooks report it at their end).
        if channels.smtp is not None:
            check_settings(channels.smtp)
        for label, url, secret in channels.webhooks:
            try:
                check_url(url)
                sign(secret, "msg_check", 0, b"")
            except ValueError as exc:
                raise PreauthError("webhook %s: %s; nothing was sent" % (label, exc)) from None
        policy = Policy(params["expiring_days"], params["failing_runs"], params["remind_days"], params["notify_consenter"])
        link = None
        if params.get("consent_service_url") and store.kind == "postgresql":
            link = self._link_maker(params, store, entries)
        notifier = Notifier(
            store,
            channels,
            policy,
            check_mode=request.check_mode,
            health=params["health"],
            invite_link=link,
            holder="%s pid %d" % (socket.gethostname(), os.getpid()),
        )
        outcome = notifier.run(targets)
        if not request.diff_mode:
            outcome.before = outcome.after = None
        return outcome

    def _targets(self, params: t.Mapping[str, t.Any]) -> tuple[list[Target], dict[str, dict[str, t.Any]]]:
        targets: list[Target] = []
        entries: dict[str, dict[str, t.Any]] = {}
        for position, raw in enumerate(params["connections"]):
            name = raw.get("name", raw.get("connection"))
            if not isinstance(name, str):
                raise PreauthError("connections[%d] has no name; nothing was sent" % position)
            check_connection_name(name)
            if name in entries:
                raise PreauthError("connection %s is listed twice in connections; nothing was sent" % name)
            try:
                platform = get_platform(str(raw.get("platform")))
            except PlatformError:
                platform = None
            language = raw.get("notify_language") or params["language"]
            if language not in LANGUAGES:
                raise PreauthError("connection %s: notify_language must be one of %s, not %r" % (name, ", ".join(LANGUAGES), language))
            recipients = _addresses(raw.get("notify_email"), "connection %s: notify_email" % name)
            for number, group in enumerate(params["groups"]):
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in group["connections"]):
                    recipients.extend(_addresses(group["email"], "groups[%d].email" % number))
            recipients.extend(_addresses(params["email"], "email"))
            country = raw.get("country") if isinstance(raw.get("country"), str) else None
            targets.append(Target(name, platform, country, recipients, language))
            entries[name] = {k: v for k, v in raw.items() if k in ENTRY_KEYS + ("app_name",) and k != "client_secret"}
        return targets, entries

    def _link_maker(self, params: t.Mapping[str, t.Any], store: t.Any, entries: t.Mapping[str, dict[str, t.Any]]) -> t.Callable[..., t.Any]:
        """Make a fresh invitation for the person who consented last, and hide its link in everything the task returns."""
        validator = ArgumentSpecValidator(ENTRY_SPEC)

        def make(target: Target, consenter: t.Mapping[str, t.Any]) -> tuple[str, float] | None:
            entry = dict(entries[target.name], connection=target.name)
            app = entry.pop("app_name", None)
            checked = validator.validate(entry)
            if checked.error_messages:
                raise PreauthError("the inventory's entry cannot make an invitation: %s" % "; ".join(str(m) for m in checked.error_messages), target.name)
            settings = dict(checked.validated_parameters, **{k: params[k] for k in HTTP_ARGS})
            with http_client(settings) as client:
                conn = resolve(settings, client)
            invitee = {k: v for k, v in consenter.items() if v}
            outcome = invite(conn, store, False, params["consent_service_url"], params["invitation_days"], invitee, params["operator"] or None, app)
            link = outcome.result["link"]
            self.hide(link)
            expires = moment(outcome.result["invitation"]["expires_at"])
            if not link or expires is None:
                raise PreauthError("the invitation was made but gave no link or expiry", target.name)
            return link, expires

        return make
