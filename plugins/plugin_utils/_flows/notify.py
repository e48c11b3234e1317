# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Telling people: one message per change of a connection's state, remembered in the store.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A connection is in one of these states (``condition``), the first that holds:

``dead``
    the platform refused the chain (``reauthorization_required``): a person has to consent again;
``expiring``
    the refresh token expires within ``Policy.expiring_days`` and nothing renews it: the controller's
    refreshes fail, the platform's lifetime is absolute (a refresh does not extend it), or a host keeps
    the chain and has not used it successfully since (its health record) for so long that the platform's
    idle lifetime runs out in the window;
``failing``
    refreshes failed in ``Policy.failing_runs`` runs in a row without the platform calling the chain dead;
``ok``
    none of those.

A connection without a chain (never preauthenticated, revoked, moved to another store) is not watched.

Rules:

* One message per change of state. A change to dead, expiring or failing sends that event; a change from
  one of them back to ok sends ``recovered``, but only when the bad news was delivered (nobody is told of a
  recovery from something they never heard of). ``Policy.remind_days`` repeats an unresolved state.
* The store remembers it (the record's ``notice``): the state, the event, a message id, who claimed the
  sending and when, what was delivered. A run claims a message under the connection's lock before it sends,
  and records what was delivered under the lock after: a second controller at the same time finds the claim
  and sends nothing. A claim older than ``CLAIM_TTL`` without a delivery (a controller that died while
  sending) is taken over; so a crash in the middle of sending can repeat a message, never lose it, and a
  webhook's repeat carries the same ``webhook-id``.
* Each recipient and each webhook is a delivery of its own: the next run retries only those that failed,
  for at most ``MAX_TRIES`` runs; a failing channel never fails the run, it is reported.
* Check mode writes and sends nothing; its diff shows what would be sent to whom.
* Nothing secret goes into a message, a result or the store: the reasons are the collection's own words and
  the platform's error text as the OAuth client reports it. A fresh invitation link (dead and expiring, when
  the consent service is set up) goes only into the message body for its recipients.
* A verified index (``notice_facts``) answers "nothing to tell" without decrypting the record, so a run over
  thousands of connections that all work stays cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import typing as t
import uuid

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_command
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invite import invite_command
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.mail import SmtpSettings, check_address, send_mail
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import Message, render
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.webhook import send_webhook
from ansible_collections.preauth.oauth2.plugins.plugin_utils._outcome import Outcome
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import Platform
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import failure_count, host_owned, owner_host, section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import DAY, from_iso, iso, seconds

BAD = ("dead", "expiring", "failing")
# A claim without a delivery after this long belongs to a controller that is gone: the next run takes it over.
CLAIM_TTL = 900.0
# Runs that try to deliver one message before it is given up (and reported as such).
MAX_TRIES = 5


# The smtp option of the modules that send mail (notification, consent_invitation), as an argument spec.
SMTP_SPEC: dict[str, t.Any] = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int"},
    "security": {"type": "str", "default": "starttls", "choices": ["starttls", "ssl", "none"]},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "sender": {"type": "str", "required": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
}


def smtp_settings(smtp: t.Mapping[str, t.Any]) -> SmtpSettings:
    """The validated ``smtp`` option (``SMTP_SPEC``) as the mail channel takes it."""
    return SmtpSettings(
        host=smtp["host"],
        port=smtp.get("port"),
        security=smtp["security"],
        username=smtp.get("username"),
        password=smtp.get("password"),
        sender=smtp["sender"],
        timeout=float(smtp["timeout"]),
        validate_certs=bool(smtp["validate_certs"]),
        ca_path=smtp.get("ca_path"),
    )


def mail_invitation(
    settings: SmtpSettings,
    target: Target,
    link: str,
    expires_at: float | None,
    invitee: t.Mapping[str, t.Any],
    operator: t.Mapping[str, t.Any] | None,
    template_dir: str | None = None,
    now: t.Callable[[], float] = time.time,
    sleep: t.Callable[[float], None] = time.sleep,
) -> str:
    """Mail an invitation's link to its invitee (the ``invitation`` text); the address it went to. Raises ``PreauthError``."""
    address = invitee.get("email")
    if not isinstance(address, str) or not _address(address.strip()):
        raise PreauthError("the invitation has no invitee e-mail address to mail its link to", target.name)
    consenter = {k: invitee.get(k) for k in ("first_name", "last_name")}
    found = Condition("ok")
    context = _context(
        target, {"preauthenticated_by": dict(consenter, email=address.strip())}, found, "invitation", False, Channels(operator=dict(operator or {})), now()
    )
    context["invitation_url"], context["invitation_expires_at"] = link, iso(expires_at)
    send_mail(settings, render("invitation", context, target.language, template_dir), [address.strip()], sleep=sleep)
    return address.strip()


@dataclasses.dataclass
class Policy:
    expiring_days: int = 7
    failing_runs: int = 3
    remind_days: int = 0
    notify_consenter: bool = True


@dataclasses.dataclass
class Condition:
    state: str | None
    reason: str | None = None
    since: float | None = None
    expires_at: float | None = None
    failures: int = 0
    # Why, as a word the texts can say in their own language (the reason is the collection's and the platform's English).
    kind: str | None = None


@dataclasses.dataclass
class Target:
    """A connection of the inventory as far as telling people goes."""

    name: str
    platform: Platform | None
    country: str | None = None
    recipients: list[str] = dataclasses.field(default_factory=list)
    language: str = "en"


@dataclasses.dataclass
class Channels:
    smtp: SmtpSettings | None = None
    # (label, url, secret) of each webhook; the label names it in results (never the secret, not the query string).
    webhooks: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    template_dir: str | None = None
    operator: dict[str, t.Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Plan:
    """What a run does for one connection: a new event, a retry of an open one, or a reminder."""

    event: str
    state: str
    kind: str  # new, retry, reminder, quiet (only the state is written: a recovery nobody needs to hear of)
    message_id: str | None = None
    reminder: bool = False


# An invitation maker: (target, consenter) -> (link, expires_at), or None when there is no consent service.
InviteLink = t.Callable[[Target, t.Mapping[str, t.Any]], "tuple[str, float] | None"]


def _number(value: t.Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def moment(value: t.Any) -> float | None:
    """A time as epoch seconds, from a number or from the ISO 8601 text (``2026-12-08T10:00:00Z``) that health records and results hold."""
    return from_iso(value) if isinstance(value, str) else seconds(value)


def last_success(health: t.Sequence[t.Mapping[str, t.Any]] | None, connection: str, host: str | None) -> tuple[bool, float | None]:
    """Whether a health record of the connection on ``host`` was gathered, and its last successful use (None: never)."""
    found, best = False, None
    for row in health or ():
        if not isinstance(row, t.Mapping) or row.get("connection") != connection or host is None or row.get("host") != host:
            continue
        found = True
        at = moment(row.get("last_success_at"))
        if at is not None and (best is None or at > best):
            best = at
    return found, best


def condition(
    data: t.Mapping[str, t.Any],
    platform: Platform | None,
    now: float,
    policy: Policy,
    health: t.Sequence[t.Mapping[str, t.Any]] | None = None,
) -> Condition:
    """The connection's state from its record (or a verified index, which has the same fields); see the module docstring."""
    tokens = section(data, "tokens")
    if not (tokens.get("refresh_token") or tokens.get("refresh_fingerprint") or data.get("chain") is True) or data.get("moved_to"):
        return Condition(None)
    failures = failure_count(data)
    reauth = data.get("reauthorization_required")
    if reauth:
        details = section(data, "reauthorization_required")
        kind = details.get("kind") if details.get("kind") in ("refused", "expired", "lost") else None
        return Condition("dead", reason=_text(details.get("reason")), since=_number(details.get("since")), failures=failures, kind=kind)
    window = policy.expiring_days * DAY
    error = section(data, "last_error")
    if host_owned(data):
        host = owner_host(data)
        gathered, used = last_success(health, str(data.get("connection")), host)
        life = platform.refresh_token_lifetime if platform is not None and platform.refresh_token_lifetime_kind == "idle" else None
        if gathered and life:
            start = used if used is not None else _number(section(data, "owner").get("since"))
            if start is not None and start + life - now < window:
                how = "last used it successfully at %s" % iso(used) if used is not None else "has not used it successfully since it was handed over"
                return Condition(
                    "expiring",
                    reason="the host %s keeps this chain alive but %s; the platform ends an unused chain after %d days" % (host, how, life // DAY),
                    since=start,
                    expires_at=start + life,
                    failures=failures,
                    kind="host_unused",
                )
    else:
        expires = _number(tokens.get("refresh_expires_at"))
        absolute = platform is not None and platform.refresh_token_lifetime_kind == "absolute"
        if expires is not None and expires - now < window and (failures or absolute):
            why = (
                "the refreshes fail (%s)" % _text(error.get("message"))
                if failures
                else "the platform's lifetime of a refresh token is absolute: a refresh does not extend it"
            )
            return Condition("expiring", reason=why, since=now, expires_at=expires, failures=failures, kind="refresh_failing" if failures else "absolute")
    if failures >= max(policy.failing_runs, 1):
        since = _number(section(data, "failures").get("since"))
        kind = section(data, "failures").get("kind")
        known = ("config", "rate_limited", "refused", "lost_response", "incomplete_answer")
        return Condition("failing", reason=_text(error.get("message")), since=since, failures=failures, kind=kind if kind in known else None)
    return Condition("ok", failures=failures)


def _text(value: t.Any, limit: int = 500) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _facts(index: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The fields ``condition`` reads, from a verified index (raises KeyError or TypeError on another shape)."""
    notice = index["notice"]
    owner = index["owner"]
    return {
        "connection": index["connection"],
        "chain": index["chain"],
        "tokens": dict(index["tokens"]),
        "owner": {"kind": owner["kind"], "host": owner["host"]},
        "reauthorization_required": index["reauthorization_required"],
        "failures": {"count": notice["failures"]},
    }


def plan(data: t.Mapping[str, t.Any], found: Condition, now: float, policy: Policy) -> Plan | None:
    """What to do for one connection, given its record's ``notice`` and its state now."""
    if found.state is None:
        return None
    notice = section(data, "notice")
    old = notice.get("state") if isinstance(notice.get("state"), str) else "ok"
    delivered = _number(notice.get("sent_at")) is not None
    # Someone heard the bad news (a delivery of its own), even if not everyone did: they hear of the recovery too.
    heard = delivered or bool(notice.get("delivered"))
    if found.state != old:
        if found.state == "ok":
            return Plan("recovered", "ok", "new") if old in BAD and heard else Plan("recovered", "ok", "quiet")
        return Plan(found.state, found.state, "new")
    if not notice.get("id") or notice.get("given_up"):
        return None  # nothing was to be sent (a recovery nobody needed to hear of), or it was given up
    if notice.get("pending"):
        # Claimed, and not delivered to everyone yet: a run is sending it now, or one that died left it.
        claimed = section(notice, "claimed")
        at = _number(claimed.get("at"))
        if at is None or now - at > CLAIM_TTL:
            return Plan(str(notice.get("event")), found.state, "retry", message_id=str(notice.get("id")), reminder=bool(notice.get("reminder")))
        return None
    if _reminder_due(found.state, notice, now, policy):
        return Plan(found.state, found.state, "reminder", reminder=True)
    return None


def _reminder_due(state: str | None, notice: t.Mapping[str, t.Any], now: float, policy: Policy) -> bool:
    """Whether an unresolved state was last told (``reminded_at``, else ``sent_at``) ``remind_days`` or more ago."""
    if state not in BAD or policy.remind_days <= 0:
        return False
    last = _number(notice.get("reminded_at")) or _number(notice.get("sent_at")) or now
    return now - last >= policy.remind_days * DAY


def quick_nothing(index: t.Mapping[str, t.Any] | None, target: Target, now: float, policy: Policy, health: t.Any) -> bool:
    """Whether a verified index shows that nothing is to be told; False sends the run to the record."""
    if index is None:
        return False
    try:
        facts = _facts(index)
        notice = index["notice"]
        if notice["open"]:
            return False
        found = condition(facts, target.platform, now, policy, health)
        state = notice["state"] or "ok"
        if found.state is None:
            return True
        return found.state == state and not _reminder_due(found.state, notice, now, policy)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _consenter(data: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    person = section(data, "preauthenticated_by")
    email = person.get("email")
    return {
        "first_name": _text(person.get("first_name"), 100),
        "last_name": _text(person.get("last_name"), 100),
        "email": email.strip() if isinstance(email, str) and _address(email.strip()) else None,
    }


def _address(value: str) -> bool:
    """Whether ``value`` is an address the mail channel sends to (``check_address``)."""
    try:
        check_address(value)
    except ValueError:
        return False
    return True


def recipients_of(target: Target, consenter: t.Mapping[str, t.Any], policy: Policy) -> list[str]:
    """The consenter (when wanted) and the inventory's addresses, each once (case-insensitively), in that order."""
    seen: dict[str, str] = {}
    first = [consenter.get("email")] if policy.notify_consenter and consenter.get("email") else []
    for address in first + list(target.recipients):
        if isinstance(address, str) and address.strip():
            seen.setdefault(address.strip().lower(), address.strip())
    return list(seen.values())


def _webhook_key(label: str) -> str:
    return "webhook:" + label


def _deliveries(recipients: t.Sequence[str], channels: Channels) -> list[str]:
    keys = ["mail:" + r for r in recipients] if channels.smtp is not None else []
    return keys + [_webhook_key(label) for label, _url, _secret in channels.webhooks]


def _context(target: Target, data: t.Mapping[str, t.Any], found: Condition, event: str, reminder: bool, channels: Channels, now: float) -> dict[str, t.Any]:
    platform = target.platform
    return {
        "connection": target.name,
        "platform": platform.name if platform is not None else section(data, "definition").get("platform"),
        "platform_title": platform.title if platform is not None else None,
        "country": target.country,
        "event": event,
        "reason": found.reason,
        "reason_kind": found.kind,
        "since": iso(found.since if found.since is not None else now),
        "expires_at": iso(found.expires_at),
        "days_left": None if found.expires_at is None else max(int((found.expires_at - now) // DAY), 0),
        "failures": found.failures,
        "reminder": reminder,
        "invitation_url": None,
        "invitation_expires_at": None,
        "operator": dict(channels.operator),
        "consenter": _consenter(data),
        "commands": {
            "preauthenticate": preauthenticate_command(target.name),
            "invite": invite_command(target.name),
            "status": "ansible-playbook preauth.oauth2.status",
        },
    }


def webhook_payload(context: t.Mapping[str, t.Any], message_id: str, now: float) -> dict[str, t.Any]:
    """The JSON of a webhook: the event and its facts; no link (a webhook goes to systems, not to the person who consents)."""
    keys = ("connection", "platform", "country", "reason", "since", "expires_at", "days_left", "failures", "reminder")
    data = {k: context[k] for k in keys}
    data["state"] = "ok" if context["event"] == "recovered" else context["event"]
    data["invitation_expires_at"] = context["invitation_expires_at"]
    return {"type": "connection.%s" % context["event"], "timestamp": iso(now), "id": message_id, "data": data}


@dataclasses.dataclass
class Notifier:
    store: VaultStore
    channels: Channels
    policy: Policy
    check_mode: bool = False
    health: t.Sequence[t.Mapping[str, t.Any]] | None = None
    invite_link: InviteLink | None = None
    now: t.Callable[[], float] = time.time
    holder: str = "controller"
    sleep: t.Callable[[float], None] = time.sleep

    def run(self, targets: t.Sequence[Target]) -> Outcome:
        notices: list[dict[str, t.Any]] = []
        warnings: list[str] = []
        before: dict[str, t.Any] = {}
        after: dict[str, t.Any] = {}
        names = [target.name for target in targets]
        self.store.prefetch(names)
        for target in targets:
            try:
                item = self._one(target, before, after)
            except PreauthError as exc:
                # A store that cannot be read for one connection does not keep the others' messages back.
                item = {"connection": target.name, "event": None, "status": "failed", "error": exc.msg}
                warnings.append("connection %s: nobody was told about it in this run: %s" % (target.name, exc.msg))
            if item is not None:
                notices.append(item)
                warnings.extend(item.pop("warnings", []))
        sent = [n for n in notices if n.get("status") == "sent"]
        failed = [n for n in notices if n.get("status") in ("failed", "partly sent", "given up")]
        changed = any(n.get("status") in ("sent", "partly sent", "quiet", "given up", "would send") for n in notices)
        counts = {s: sum(1 for n in notices if n.get("status") == s) for s in ("sent", "partly sent", "failed", "given up", "quiet", "would send")}
        msg = "%d message(s) sent, %d failed or partly sent, %d connection(s) watched" % (len(sent), len(failed), len(targets))
        if self.check_mode:
            msg = "check mode: %d message(s) would be sent; nothing was sent or written" % counts["would send"]
        return Outcome(
            changed=changed,
            msg=msg,
            result={"notices": notices, "counts": counts, "watched": len(targets)},
            before=before,
            after=after,
            warnings=warnings,
        )

    def _one(self, target: Target, before: dict[str, t.Any], after: dict[str, t.Any]) -> dict[str, t.Any] | None:
        now = self.now()
        if quick_nothing(self.store.index(target.name), target, now, self.policy, self.health):
            return None
        record = self.store.read(target.name)
        if not record.exists:
            return None
        found = condition(record.data, target.platform, now, self.policy, self.health)
        todo = plan(record.data, found, now, self.policy)
        if todo is None:
            return None
        if self.check_mode:
            return self._would(target, record.data, found, todo, before, after, now)
        with self.store.locked(target.name) as locked:
            found = condition(locked.data, target.platform, now, self.policy, self.health)
            todo = plan(locked.data, found, now, self.policy)
            if todo is None:
                return None  # another controller did it meanwhile
            data = locked.data
            if todo.kind == "quiet":
                data["notice"] = {"state": "ok", "event": None, "since": round(now, 3)}
                return {"connection": target.name, "event": None, "state": "ok", "status": "quiet"}
            notice = self._claim(data, todo, found, target, now)
            context = _context(target, data, found, todo.event, todo.reminder, self.channels, now)
            pending = list(notice.get("pending") or [])
        return self._deliver(target, str(notice["id"]), todo, context, pending)

    def _claim(self, data: dict[str, t.Any], todo: Plan, found: Condition, target: Target, now: float) -> dict[str, t.Any]:
        old = section(data, "notice")
        if todo.kind == "retry":
            notice = dict(old, claimed={"by": self.holder, "at": round(now, 3)})
            notice["tries"] = int(_number(old.get("tries")) or 0) + 1
        else:
            recipients = recipients_of(target, _consenter(data), self.policy)
            notice = {
                "state": todo.state,
                "event": todo.event,
                "id": "msg_" + uuid.uuid4().hex,
                "since": round(found.since if found.since is not None else now, 3),
                "reminder": todo.kind == "reminder",
                "claimed": {"by": self.holder, "at": round(now, 3)},
                "sent_at": _number(old.get("sent_at")) if todo.kind == "reminder" else None,
                "recipients": recipients,
                "pending": _deliveries(recipients, self.channels),
                "delivered": [],
                "tries": 1,
            }
        data["notice"] = notice
        return notice

    def _link(self, target: Target, event: str, context: dict[str, t.Any]) -> str | None:
        """A fresh invitation for the person who consented last, where the consent service runs; a failure is said, not raised."""
        if event not in ("dead", "expiring") or self.invite_link is None:
            return None
        try:
            made = self.invite_link(target, context["consenter"])
        except PreauthError as exc:
            return "no invitation link could be made: %s" % exc.msg
        if made is not None:
            context["invitation_url"], context["invitation_expires_at"] = made[0], iso(made[1])
        return None

    def _deliver(self, target: Target, message_id: str, todo: Plan, context: dict[str, t.Any], pending: list[str]) -> dict[str, t.Any]:
        now = self.now()
        warnings: list[str] = []
        problem = self._link(target, todo.event, context)
        if problem:
            warnings.append("connection %s: %s; the message goes without one" % (target.name, problem))
        done: list[str] = []
        errors: dict[str, str] = {}
        message: Message | None = None
        for key in pending:
            try:
                if key.startswith("mail:") and self.channels.smtp is not None:
                    if message is None:
                        message = render(todo.event, context, target.language, self.channels.template_dir)
                    send_mail(self.channels.smtp, message, [key[5:]], sleep=self.sleep)
                elif key.startswith("webhook:"):
                    hook = [h for h in self.channels.webhooks if _webhook_key(h[0]) == key]
                    if not hook:
                        continue  # a webhook the inventory no longer names
                    send_webhook(hook[0][1], hook[0][2], webhook_payload(context, message_id, now), msg_id=message_id, sleep=self.sleep)
                else:
                    continue
                done.append(key)
            except PreauthError as exc:
                errors[key] = exc.msg
        return self._record_delivery(target, message_id, todo, done, errors, warnings)

    def _record_delivery(self, target: Target, message_id: str, todo: Plan, done: list[str], errors: dict[str, str], warnings: list[str]) -> dict[str, t.Any]:
        now = self.now()
        status = "sent"
        with self.store.locked(target.name) as record:
            notice = section(record.data, "notice")
            if notice.get("id") != message_id:
                status = "superseded"  # a newer event took its place while this one was sent
            else:
                left = [k for k in notice.get("pending") or [] if k not in done]
                notice = dict(notice, pending=left, delivered=sorted(set(notice.get("delivered") or []) | set(done)), claimed=None)
                if not left:
                    notice["reminded_at" if todo.reminder else "sent_at"] = round(now, 3)
                    if _number(notice.get("sent_at")) is None:
                        notice["sent_at"] = round(now, 3)
                elif int(_number(notice.get("tries")) or 0) >= MAX_TRIES:
                    notice["given_up"] = round(now, 3)
                    status = "given up"
                else:
                    status = "partly sent" if done else "failed"
                record.data["notice"] = notice
        for key, error in sorted(errors.items()):
            warnings.append(
                "connection %s: the %s message to %s was not delivered: %s%s"
                % (
                    target.name,
                    todo.event,
                    _label(key),
                    error,
                    "; given up after %d runs" % MAX_TRIES if status == "given up" else "; the next run tries again",
                )
            )
        return {
            "connection": target.name,
            "event": todo.event,
            "reminder": todo.reminder,
            "status": status,
            "message_id": message_id,
            "delivered": [_label(k) for k in done],
            "failed": [{"to": _label(k), "error": e} for k, e in sorted(errors.items())],
            "warnings": warnings,
        }

    def _would(
        self, target: Target, data: t.Mapping[str, t.Any], found: Condition, todo: Plan, before: dict[str, t.Any], after: dict[str, t.Any], now: float
    ) -> dict[str, t.Any]:
        notice = section(data, "notice")
        before[target.name] = {"state": notice.get("state") or "ok", "last_event": notice.get("event")}
        if todo.kind == "quiet":
            after[target.name] = {"state": "ok", "last_event": notice.get("event")}
            return {"connection": target.name, "event": None, "state": "ok", "status": "quiet"}
        recipients = list(notice.get("recipients") or []) if todo.kind == "retry" else recipients_of(target, _consenter(data), self.policy)
        context = _context(target, data, found, todo.event, todo.kind == "reminder", self.channels, now)
        if todo.event in ("dead", "expiring") and self.invite_link is not None:
            context["invitation_url"] = "(a new invitation link)"
        subject = render(todo.event, context, target.language, self.channels.template_dir).subject if self.channels.smtp is not None else None
        would = {
            "event": todo.event,
            "reminder": todo.kind == "reminder",
            "to": [_label(k) for k in _deliveries(recipients, self.channels)],
            "subject": subject,
        }
        after[target.name] = {"state": todo.state, "last_event": todo.event, "would_send": would}
        return {"connection": target.name, "event": todo.event, "status": "would send", **would}


def _label(key: str) -> str:
    """A delivery as results name it: the address, or the webhook's label."""
    return key.split(":", 1)[1] if ":" in key else key


def webhook_label(url: str, name: str | None = None) -> str:
    """A webhook's name in results and the store: its ``name``, else its host and a short hash of the address.

    Never the path or the query: many receivers put their secret there.
    """
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    if name:
        return "%s#%s" % (name, digest)
    rest = url.partition("://")[2]
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return "%s#%s" % (host, digest)
