# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Invantive settings files for a host: which connections go there, and what each file holds.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A settings file is ``<settings>`` → ``<group name>`` → ``<connection name>`` → ``<database
order alias provider connectionString/>`` (FORUM-1570, DOC-CREDSRV in docs/sources.md). The connection string is
a ``key=value;key=value`` list; the provider code and the keys come from the platform table,
and an inventory entry may override them under ``invantive:`` for platforms whose keys are not
documented. A value that the connection string cannot carry (a ``;``, a quote at the start,
surrounding spaces, a control character) is refused rather than mangled. XML escaping is left
to ElementTree, which escapes every attribute value.

Who may receive which chain is decided by ``_ownership.decide``, by the rules hand-overs follow too: a rotating chain
owned by the controller is deployed and then handed to the host; one already owned by this host
is kept as the host's product left it; one owned by another host is refused. Non-rotating chains,
and entries with ``owner: controller``, are deployed whenever their tokens change.

A platform with a minimum time between token calls (Exact Online: 570 s) refuses the product's first refresh
when the controller's last token call (the stored ``obtained_at``) was too recent. The plan says from when the
host may refresh (``refresh_not_before``), and gives the runner ``preauth-run`` that time in a small note beside
the sealed file (``settings-<connection>.not-before``, no secret), so that it starts the product only then.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import typing as t
import unicodedata
import xml.etree.ElementTree as ET

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_hint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import fingerprint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import INVANTIVE_ROLES, Platform, get_platform
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import ownership as _ownership
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import Record, section, unusable
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso, seconds

# Short data container aliases users know from Invantive's examples; others use the platform name.
DEFAULT_ALIASES = {"exact_online": "eol"}
KEY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
ALIAS_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
OWNER_CHOICES = ("handover", "controller")
INVANTIVE_OPTIONS = ("group", "alias", "provider", "keys", "extra", "order")
DEPLOY = "deploy"
KEEP = "keep"
SKIP = "skip"
# The note preauth-run reads beside a sealed settings file: settings-<connection>.not-before (no .xml: no pattern of
# the runner's settings files matches it). Keys and format are the runner's NOTE_* constants; keep them in step.
NOTE_SUFFIX = ".not-before"


class SettingsError(PreauthError):
    """A connection cannot be deployed as asked; the message says why and what to do."""


def has_control(text: str) -> bool:
    """Whether ``text`` has a character a settings file cannot carry: a control character (C0, DEL, C1), a lone
    surrogate, or U+FFFE/U+FFFF. XML 1.0 has no way to write most of them, escaped or not: the file would not parse."""
    return any(unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff" for c in text)


def check_text(name: str, option: str, value: str) -> str:
    """A name the settings file carries as an XML attribute (group, provider), or a SettingsError that names the option."""
    if has_control(value):
        raise SettingsError(
            "connection %s: %s %r contains a control character, which the Invantive settings file cannot carry; nothing was "
            "deployed. Fix %s in the inventory" % (name, option, value, option)
        )
    return value


def check_value(name: str, key: str, value: str, secret: bool) -> str:
    """A connection-string value, or a SettingsError that names the key and never shows a secret value."""
    shown = "its value" if secret else repr(value)
    problem = None
    if value == "":
        problem = "is empty"
    elif ";" in value:
        problem = "contains ';', which ends a key=value pair in the connection string"
    elif value != value.strip():
        problem = "starts or ends with white space, which the connection string drops"
    elif value[0] in "\"'":
        problem = "starts with a quote, which the connection string reads as quoting"
    elif has_control(value):
        problem = "contains a control character"
    if problem:
        raise SettingsError(
            "connection %s: %s for %s %s, so it cannot be written into the Invantive settings file safely; nothing was deployed. "
            "Fix the value in the inventory (or, for a token, preauthenticate again: %s)" % (name, shown, key, problem, preauthenticate_hint(name))
        )
    return value


def connection_string(name: str, pairs: t.Sequence[tuple[str, str, bool]]) -> str:
    """``key=value;...`` from (key, value, secret) triples, each checked."""
    parts = []
    seen = set()
    for key, value, secret in pairs:
        if not KEY_PATTERN.fullmatch(key):
            raise SettingsError(
                "connection %s: %r is not a connection-string key (letters, digits, '-', '_', '.'); fix invantive.keys or invantive.extra" % (name, key)
            )
        if key.lower() in seen:
            raise SettingsError("connection %s: the connection-string key %s is given twice; check invantive.keys and invantive.extra" % (name, key))
        seen.add(key.lower())
        parts.append("%s=%s" % (key, check_value(name, key, value, secret)))
    return ";".join(parts)


def settings_xml(group: str, connection: str, alias: str, provider: str, conn_string: str, order: int = 10) -> str:
    """The settings file: one group, one connection, one data container."""
    root = ET.Element("settings", {"forcedefault": "false"})
    group_el = ET.SubElement(root, "group", {"name": group})
    conn_el = ET.SubElement(group_el, "connection", {"name": connection})
    # userLogonCodeMode/passwordMode="Hidden" on the data container, as in every official example: Invantive's
    # "Link Settings.xml to Invantive Cloud Data Containers" page (Invantive Credentials Server), forum thread 1570
    # and the Invantive Business "members" page. What omitting them does is not documented; the examples are followed.
    ET.SubElement(
        conn_el,
        "database",
        {
            "order": str(order),
            "alias": alias,
            "provider": provider,
            "userLogonCodeMode": "Hidden",
            "passwordMode": "Hidden",
            "connectionString": conn_string,
            "AllowConnectionStringRewrite": "false",
        },
    )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@dataclasses.dataclass
class Planned:
    connection: str
    file: str
    action: str
    handover: bool
    msg: str
    generation: int
    owner: str
    rotating: bool
    refresh_fingerprint: str | None = None
    refresh_not_before: str | None = None
    content: str | None = None
    note: str | None = None

    def public(self) -> dict[str, t.Any]:
        data = dataclasses.asdict(self)
        content = data.pop("content")
        data.pop("note")
        data["content_sha256"] = fingerprint(content)
        return data


def first_refresh(platform: Platform, data: t.Mapping[str, t.Any]) -> float | None:
    """When the platform first accepts a refresh of the stored chain (whole seconds, rounded up), or None when it has no
    minimum interval or the time of the last token call is not known."""
    interval = platform.min_refresh_interval
    obtained = seconds((data.get("tokens") or {}).get("obtained_at"))
    if not interval or obtained is None:
        return None
    return float(math.ceil(obtained + interval))


def runner_note(name: str, platform: Platform, not_before: float) -> str:
    """The note for preauth-run: from when the product may refresh the chain. Times and a name only, no secret."""
    return (
        "# preauth.oauth2: %s refuses a refresh of connection %s before %s, %d s after the controller's last token call.\n"
        "# preauth-run starts the product only then (it waits, or exits 75 with --no-wait).\n"
        "not_before=%d\ninterval=%d\n" % (platform.title, name, iso(not_before), platform.min_refresh_interval, not_before, platform.min_refresh_interval)
    )


def for_host(
    entries: t.Sequence[t.Mapping[str, t.Any]], host: str, names: t.Sequence[str] = (), only: t.Sequence[str] | None = None
) -> list[t.Mapping[str, t.Any]]:
    """The inventory entries that go to ``host``: those listing it in ``hosts``, and those named in ``names``; of these,
    only the ones in ``only`` when it is given."""
    known = {str(e.get("name") or ""): e for e in entries}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SettingsError(
            "host %s lists connection(s) %s, which preauth_connections does not define; add them to the inventory or remove them "
            "from the host's preauth_settings_connections" % (host, ", ".join(unknown))
        )
    chosen = []
    for entry in entries:
        hosts = entry.get("hosts") or []
        if isinstance(hosts, str):
            hosts = [hosts]
        if (host in hosts or entry.get("name") in names) and (only is None or entry.get("name") in only):
            chosen.append(entry)
    return chosen


def _invantive_options(name: str, entry: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    options = entry.get("invantive") or {}
    if not isinstance(options, dict):
        raise SettingsError("connection %s: invantive must be a dictionary with %s" % (name, ", ".join(INVANTIVE_OPTIONS)))
    extra = sorted(set(options) - set(INVANTIVE_OPTIONS))
    if extra:
        raise SettingsError("connection %s: invantive has unknown option(s) %s; known: %s" % (name, ", ".join(extra), ", ".join(INVANTIVE_OPTIONS)))
    return options


def _keys(name: str, platform: Platform, options: t.Mapping[str, t.Any]) -> dict[str, str]:
    keys = dict(platform.invantive_keys)
    given = options.get("keys") or {}
    bad = sorted(set(given) - set(INVANTIVE_ROLES))
    if bad:
        raise SettingsError("connection %s: invantive.keys has unknown role(s) %s; roles are %s" % (name, ", ".join(bad), ", ".join(INVANTIVE_ROLES)))
    keys.update({role: str(key) for role, key in given.items() if key})
    missing = [role for role in ("client_id", "refresh_token") if role not in keys]
    if missing:
        raise SettingsError(
            "connection %s: the Invantive connection-string key(s) for %s on platform %s are not known to this collection; give them "
            "in the inventory entry as invantive.keys (for example invantive: {provider: ..., keys: {client_id: api-client-id, "
            "refresh_token: api-refresh-token}}) after checking the connector's documentation" % (name, ", ".join(missing), platform.name)
        )
    return keys


def render(name: str, entry: t.Mapping[str, t.Any], platform: Platform, record: Record) -> str:
    """The settings XML of one connection from its inventory entry and stored chain."""
    options = _invantive_options(name, entry)
    provider = options.get("provider") or platform.invantive_provider
    if not provider:
        raise SettingsError(
            "connection %s: the Invantive provider code of platform %s is not known to this collection; give it as "
            "invantive.provider in the inventory entry (the connector's 'Code for use in settings.xml')" % (name, platform.name)
        )
    provider = check_text(name, "invantive.provider", str(provider))
    keys = _keys(name, platform, options)
    definition = record.data.get("definition") or {}
    tokens = record.data.get("tokens") or {}
    values: dict[str, tuple[str | None, bool]] = {
        "url": (definition.get("base_url"), False),
        "client_id": (definition.get("client_id"), False),
        "client_secret": (entry.get("client_secret"), True),
        "redirect_url": (definition.get("redirect_uri"), False),
        "refresh_token": (tokens.get("refresh_token"), True),
    }
    pairs = []
    for role in INVANTIVE_ROLES:
        value, secret = values[role]
        if role in keys and value:
            pairs.append((keys[role], str(value), secret))
    if not tokens.get("refresh_token"):
        raise SettingsError("connection %s: the stored chain has no refresh token; %s" % (name, preauthenticate_hint(name)))
    for key, value in sorted((options.get("extra") or {}).items()):
        pairs.append((str(key), str(value), False))
    alias = str(options.get("alias") or DEFAULT_ALIASES.get(platform.name, platform.name))
    if not ALIAS_PATTERN.fullmatch(alias):
        raise SettingsError("connection %s: invantive.alias %r must be a letter followed by letters, digits or '_'" % (name, alias))
    group = check_text(name, "invantive.group", str(options.get("group") or platform.title))
    order = options.get("order", 10)
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise SettingsError("connection %s: invantive.order must be a whole number, not %r" % (name, order))
    return settings_xml(group, name, alias, provider, connection_string(name, pairs), order)


def _reauthorization(reauth: t.Any) -> str:
    """Since when and why a chain needs a new preauthentication, from whatever the store holds."""
    if not isinstance(reauth, dict):
        return "(no time or reason recorded)"
    return "since %s (%s)" % (iso(reauth.get("since")) or "an unknown time", reauth.get("reason") or "no reason recorded")


def _check_chain(name: str, entry: t.Mapping[str, t.Any], record: Record, store: VaultStore) -> Platform:
    data = record.data
    problem = unusable(record.exists, data)
    if problem is not None and problem.kind == "missing":
        raise SettingsError(
            "connection %s has no stored chain in %s, so there is nothing to deploy; %s" % (name, store.location, preauthenticate_hint(name))
        )
    definition = section(data, "definition")
    platform = get_platform(definition.get("platform") or "")
    for key in ("platform", "client_id"):
        wanted = entry.get(key)
        if wanted and definition.get(key) and str(wanted) != str(definition.get(key)):
            raise SettingsError(
                "connection %s: the inventory's %s (%s) is not the one its stored chain was preauthenticated with (%s); nothing "
                "was deployed. Preauthenticate the connection again with the new definition: %s"
                % (name, key, wanted, definition.get(key), preauthenticate_hint(name))
            )
    if problem is None:
        return platform
    if problem.kind == "moved":
        raise SettingsError(
            "connection %s was moved to the token store %s at %s; this store holds only a tombstone, so nothing was deployed. Deploy "
            "from that store" % (name, (problem.moved_to or {}).get("store"), iso(problem.since))
        )
    if problem.kind in ("revoked", "no_tokens"):
        raise SettingsError("connection %s holds no tokens (revoked?), so there is nothing to deploy; %s" % (name, preauthenticate_hint(name)))
    if problem.kind == "reauthorization_required":
        raise SettingsError(
            "connection %s needs a new preauthentication %s: its chain is dead, so it is neither deployed nor handed over; %s"
            % (name, _reauthorization(data.get("reauthorization_required")), preauthenticate_hint(name))
        )
    raise SettingsError(
        "connection %s: a refresh started at %s has an unknown outcome, so the stored refresh token may be spent; run "
        "ansible-playbook preauth.oauth2.refresh -e preauth_only=%s (or preauth.oauth2.token_refresh) for it first, which settles that, "
        "then deploy again" % (name, iso(problem.since), name)
    )


def claimants(entry: t.Mapping[str, t.Any], claims: t.Mapping[str, t.Sequence[str]]) -> list[str]:
    """Every host the inventory gives the connection to: its ``hosts`` and the hosts that list it by name."""
    hosts = entry.get("hosts") or []
    if isinstance(hosts, str):
        hosts = [hosts]
    return sorted(set(hosts) | set(claims.get(str(entry.get("name") or ""), [])))


def plan_one(
    store: VaultStore,
    entry: t.Mapping[str, t.Any],
    host: str,
    claims: t.Mapping[str, t.Sequence[str]] | None = None,
    redeploy_only: bool = False,
    now: float | None = None,
) -> Planned:
    name = check_connection_name(str(entry.get("name") or ""))
    wanted_owner = entry.get("owner") or "handover"
    if wanted_owner not in OWNER_CHOICES:
        raise SettingsError("connection %s: owner must be %s, not %r" % (name, " or ".join(OWNER_CHOICES), wanted_owner))
    record = store.read(name)
    platform = _check_chain(name, entry, record, store)
    data = record.data
    generation = int(data.get("generation") or 0)
    rotating = platform.rotation != "non_rotating"
    wanted_by = claimants(entry, claims or {})
    decision = _ownership.decide(data, _ownership.DEPLOY, rotating, host, wanted_owner, redeploy_only, wanted_by)
    owned_by = decision.owned_by
    common: dict[str, t.Any] = dict(
        connection=name,
        file="settings-%s.xml" % name,
        generation=generation,
        owner=owned_by or "controller",
        rotating=rotating,
        refresh_fingerprint=fingerprint(str(data["tokens"].get("refresh_token") or "")),
    )
    if decision.verdict == _ownership.KEEP:
        return Planned(
            action=KEEP,
            handover=False,
            msg="connection %s generation %d is owned by host %s since %s; its product keeps the rotated token, so its settings are "
            "left as they are (preauthenticate again to deploy a new generation)" % (name, generation, host, iso(decision.since)),
            **common,
        )
    if decision.reason == _ownership.OWNED_BY_ANOTHER_HOST:
        raise SettingsError(
            "connection %s generation %d is owned by host %s since %s, so it is not deployed to %s: a rotating refresh token lives in "
            "one place. For %s, preauthenticate a separate chain (a second connection name); or, once the product on %s stopped "
            "using it, return it with preauth.oauth2.token_handover state=controller and deploy again"
            % (name, generation, owned_by, iso(decision.since), host, host, owned_by)
        )
    if decision.reason == _ownership.FIRST_DEPLOYMENT:
        return Planned(
            action=SKIP,
            handover=False,
            msg="connection %s generation %d is not deployed here: its first deployment hands the rotating chain over to the host, "
            "which only ansible-playbook preauth.oauth2.deploy does" % (name, generation),
            **common,
        )
    if decision.reason == _ownership.SEVERAL_HOSTS:
        raise SettingsError(
            "connection %s is a rotating chain and the inventory gives it to %d hosts (%s); a rotating refresh token lives in one "
            "place, so it is deployed to none of them. Keep one host, and preauthenticate a separate connection for each other host"
            % (name, len(wanted_by), ", ".join(wanted_by))
        )
    content = render(name, entry, platform, record)
    not_before = first_refresh(platform, data)
    deployed: dict[str, t.Any] = dict(common, content=content)
    wait = ""
    if not_before is not None:
        deployed.update(refresh_not_before=iso(not_before), note=runner_note(name, platform, not_before))
        if not_before > (time.time() if now is None else now):
            wait = "; %s refuses a refresh until %d s after the controller's last token call, so the product there may refresh it not before %s" % (
                platform.title,
                platform.min_refresh_interval,
                iso(not_before),
            )
    if not decision.handover:
        msg = "connection %s generation %d stays owned by the controller (owner: controller) and is deployed with its current tokens" % (name, generation)
        return Planned(action=DEPLOY, handover=False, msg=msg + wait, **deployed)
    if rotating:
        msg = "connection %s generation %d is deployed and then handed over to host %s" % (name, generation, host)
    else:
        msg = "connection %s (%s does not rotate refresh tokens) is deployed with its current tokens" % (name, platform.title)
    return Planned(action=DEPLOY, handover=True, msg=msg + wait, **deployed)


def plan(
    store: VaultStore,
    entries: t.Sequence[t.Mapping[str, t.Any]],
    host: str,
    names: t.Sequence[str] = (),
    claims: t.Mapping[str, t.Sequence[str]] | None = None,
    redeploy_only: bool = False,
    only: t.Sequence[str] | None = None,
    now: float | None = None,
) -> list[Planned]:
    """The settings files of ``host``; any connection that cannot go there fails the whole plan, before anything is written."""
    chosen = for_host(entries, host, names, only)
    planned, problems = [], []
    seen = set()
    for entry in chosen:
        name = str(entry.get("name") or "")
        if name in seen:
            problems.append("connection %s is defined twice in preauth_connections" % name)
            continue
        seen.add(name)
        try:
            planned.append(plan_one(store, entry, host, claims, redeploy_only, now))
        except PreauthError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError("host %s: %s" % (host, " | ".join(problems)))
    return planned
