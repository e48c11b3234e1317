# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reports on stored chains: per-connection summaries, Prometheus textfile metrics, atomic files.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

No Ansible imports. ``summarize`` reads one decrypted store and returns metadata only;
``secrets_of`` is the separate, explicit way to get the values a deploy role needs.
``prometheus_text`` holds no time-dependent value (no "generated at", no "days left"), so an
unchanged set of chains gives a byte-identical file and a re-run reports no change; alert rules
compute ``expiry - time()`` themselves.

A chain handed over to a host is refreshed there: the expiry and last refresh in the store are
those of the controller's last token call before the hand-over, not the chain's. Reports therefore
give no expiry, no days left and no refresh metric for a host-owned chain (an expiry alert would
fire for every chain the hosts keep alive); they name the host and the hand-over time instead.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import host_owned as is_host_owned
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import section
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError, preauthenticate_hint
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import DAY, iso, seconds
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.files import replace_file
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import VaultStore, check_connection_name

CONTROLLER = "controller"

# Metric name, help text, and the summary value it reports (None: the series is left out).
# Every series carries the labels connection, platform and owner (see prometheus_text).
_METRICS: tuple[tuple[str, str, t.Callable[[dict[str, t.Any]], float | None]], ...] = (
    (
        "preauth_refresh_token_expiry_timestamp_seconds",
        "Estimated expiry of the refresh token of a chain the controller keeps alive (Unix time); "
        "absent when the platform's lifetime is unknown and for chains a host keeps alive (owner label not controller).",
        lambda s: s["timestamps"]["refresh_expires_at"],
    ),
    (
        "preauth_reauthorization_required",
        "1 when the connection's chain no longer works and a person has to preauthenticate it again.",
        lambda s: None if s["reauthorization_required"] is None else 1.0 if s["reauthorization_required"] else 0.0,
    ),
    (
        "preauth_last_refresh_timestamp_seconds",
        "The controller's last successful refresh of the chain, or its preauthentication when it was never refreshed (Unix time); "
        "absent for chains a host keeps alive.",
        lambda s: (s["timestamps"]["last_refresh_at"] or s["timestamps"]["preauthenticated_at"]) if s["owner"] == CONTROLLER else None,
    ),
    (
        "preauth_chain_present",
        "1 when the store holds tokens for the connection, 0 after they were revoked or when the inventory defines a connection "
        "that was never preauthenticated.",
        lambda s: None if s["has_tokens"] is None else 1.0 if s["has_tokens"] else 0.0,
    ),
    (
        "preauth_handed_over_timestamp_seconds",
        "When the chain was handed over to the host in the owner label, which keeps it alive since (Unix time); "
        "absent for chains the controller keeps alive.",
        lambda s: s["timestamps"]["owner_since"] if s["owner"] not in (CONTROLLER, None) else None,
    ),
    (
        "preauth_record_unreadable",
        "1 when the store holds a record of the connection that this run cannot read (another vault password, damaged data); "
        "then its other series are absent and platform and owner are empty. 0 for every record that was read.",
        lambda s: None if s.get("unreadable") is None else 1.0 if s["unreadable"] else 0.0,
    ),
)


class ReportError(PreauthError):
    """A report cannot be made or written."""


def _section(data: t.Mapping[str, t.Any], key: str) -> dict[str, t.Any]:
    """A section of a store as a mapping; a value of another type (a hand-edited file) reads as empty."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _count(value: t.Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def summarize(data: t.Mapping[str, t.Any], now: float) -> dict[str, t.Any]:
    """Metadata of one decrypted store for reports: never a token or a secret.

    Odd values in a store (a time no datetime can show, a string where a number belongs) never
    fail the report: a time that is not one shows as ``invalid time (...)`` and counts as unknown
    in ``days_left``, ``timestamps`` and the metrics.
    """
    definition = _section(data, "definition")
    owner = _section(data, "owner")
    tokens = _section(data, "tokens")
    person = _section(data, "preauthenticated_by")
    reauth = _section(data, "reauthorization_required") if data.get("reauthorization_required") else None
    error = _section(data, "last_error") if data.get("last_error") else None
    # A host refreshes the chain it was handed: the stored token times stopped at the hand-over.
    host_owned = is_host_owned(data)
    refresh_expires = None if host_owned else seconds(tokens.get("refresh_expires_at"))
    access_expires = None if host_owned else seconds(tokens.get("access_expires_at"))
    preauthenticated = seconds(person.get("at"))
    last_refresh = seconds(tokens.get("last_refresh_at"))
    name = " ".join(str(person[k]).strip() for k in ("first_name", "last_name") if person.get(k)) or None
    deployed = data.get("deployed_to")
    return {
        "connection": data.get("connection"),
        "platform": definition.get("platform"),
        "owner": str(owner.get("host") or "an unnamed host") if host_owned else CONTROLLER,
        "owner_since": iso(owner.get("since")),
        "generation": _count(data.get("generation")),
        "deployed_to": sorted(str(host) for host in deployed) if isinstance(deployed, list) else [],
        "has_tokens": bool(tokens),
        "refresh_fingerprint": tokens.get("refresh_fingerprint"),
        "preauthenticated_by": {
            "name": name,
            "email": person.get("email"),
            "company": person.get("company"),
            "at": iso(person.get("at")),
        },
        "access_expires_at": None if host_owned else iso(tokens.get("access_expires_at")),
        "refresh_expires_at": None if host_owned else iso(tokens.get("refresh_expires_at")),
        "days_left": round((refresh_expires - now) / DAY, 1) if refresh_expires is not None else None,
        "last_refresh_at": iso(tokens.get("last_refresh_at")),
        "last_error": {"at": iso(error.get("at")), "kind": error.get("kind"), "message": error.get("message")} if error is not None else None,
        "reauthorization_required": bool(data.get("reauthorization_required")),
        "reauthorization_reason": reauth.get("reason") if reauth is not None else None,
        "reauthorization_since": iso(reauth.get("since")) if reauth is not None else None,
        "in_flight": bool(data.get("in_flight")),
        "unreadable": False,
        "moved_to": _text(section(data, "moved_to").get("store")),
        "timestamps": {
            "access_expires_at": access_expires,
            "refresh_expires_at": refresh_expires,
            "last_refresh_at": last_refresh,
            "preauthenticated_at": preauthenticated,
            "owner_since": seconds(owner.get("since")),
        },
    }


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) and value else None


def secrets_of(data: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What a deploy role needs besides the metadata. Only for results that are hidden (no_log)."""
    definition = data.get("definition") or {}
    tokens = data.get("tokens") or {}
    return {
        "access_token": tokens.get("access_token"),
        "refresh_token": tokens.get("refresh_token"),
        "client_id": definition.get("client_id"),
        "token_url": definition.get("token_url"),
        "base_url": definition.get("base_url"),
        "redirect_uri": definition.get("redirect_uri"),
    }


def by_days_left(summaries: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Fewest days left first; chains whose expiry is unknown last; ties by connection name."""
    return sorted(summaries, key=lambda s: (s["days_left"] is None, s["days_left"] or 0.0, s["connection"] or ""))


def collect(
    store: VaultStore, names: t.Sequence[str] | None, now: float, with_secrets: bool = False, unreadable: list[dict[str, t.Any]] | None = None
) -> list[dict[str, t.Any]]:
    """Summaries of the named connections, or of every record in the store.

    A named connection without a record is an error: a report that silently leaves a connection
    out would hide the one that needs attention. A record that cannot be read (another vault
    password, damaged data) is an error too, unless ``unreadable`` is given: then it is appended
    there as ``{"connection", "reason"}`` (the store's message, which never holds a secret) and the
    other records are reported as usual, so one bad record does not blind the report to the rest.
    """
    wanted = [check_connection_name(n) for n in names] if names is not None else store.connections()
    found = []
    for name in dict.fromkeys(wanted):
        try:
            record = store.read(name)
        except StoreError as exc:
            if unreadable is None:
                raise
            unreadable.append({"connection": name, "reason": exc.msg})
            continue
        if not record.exists:
            raise ReportError(
                "connection %s has no stored chain in %s; create one by preauthenticating it: %s, or check the store options"
                % (name, store.location, preauthenticate_hint(name)),
                name,
            )
        summary = summarize(record.data, now)
        if with_secrets:
            summary.update(secrets_of(record.data))
        found.append(summary)
    return by_days_left(found)


def compare(store: VaultStore, expected: t.Sequence[str]) -> dict[str, t.Any]:
    """The inventory's connections against the store: which have no store file, which store files the inventory lacks.

    ``store_exists`` is false when the store directory does not exist at all, so a report can say
    that once instead of sending every connection to be preauthenticated on its own.
    """
    wanted = list(dict.fromkeys(check_connection_name(n) for n in expected))
    stored = store.connections()
    return {
        "missing": sorted(set(wanted) - set(stored)),
        "unexpected": sorted(set(stored) - set(wanted)),
        "store_exists": store.exists(),
    }


# -- Prometheus textfile collector -----------------------------------------------------------


def escape_label(value: t.Any) -> str:
    """A label value as the Prometheus text format wants it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _absent(name: str, unreadable: bool = False) -> dict[str, t.Any]:
    """What the metrics need of a connection the inventory defines and the store lacks (no chain, no record), or of a
    record that cannot be read (nothing known but that)."""
    return {
        "connection": name,
        "platform": None,
        "owner": None,
        "has_tokens": None if unreadable else False,
        "reauthorization_required": None,
        "unreadable": True if unreadable else None,
        "timestamps": {"refresh_expires_at": None, "last_refresh_at": None, "preauthenticated_at": None, "owner_since": None},
    }


def prometheus_text(summaries: t.Iterable[dict[str, t.Any]], missing: t.Iterable[str] = (), unreadable: t.Iterable[str] = ()) -> str:
    """The metrics of these chains in the text exposition format, for node_exporter's textfile collector.

    ``missing`` names connections the inventory defines that have no chain: they appear as
    ``preauth_chain_present 0`` with empty platform and owner labels, so the alert for a chain that
    needs a person catches them too. ``unreadable`` names records the run cannot read: they appear
    only as ``preauth_record_unreadable 1`` (what they hold is not known). Series are ordered by
    connection name so equal input gives byte-identical output.
    """
    entries = [*summaries, *(_absent(name) for name in missing), *(_absent(name, unreadable=True) for name in unreadable)]
    ordered = sorted(entries, key=lambda s: s["connection"] or "")
    lines = []
    for metric, help_text, pick in _METRICS:
        lines.append("# HELP %s %s" % (metric, help_text))
        lines.append("# TYPE %s gauge" % metric)
        for summary in ordered:
            value = pick(summary)
            if value is None:
                continue
            labels = ",".join('%s="%s"' % (label, escape_label(summary[label] or "")) for label in ("connection", "platform", "owner"))
            lines.append("%s{%s} %s" % (metric, labels, _sample(value)))
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------


def read_text(path: str) -> str | None:
    """The file's content, or None when it does not exist (or cannot be read as text)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return None


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory, fsync it, rename it over ``path``.

    A reader (node_exporter) sees the old file or the new one, never half of one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ReportError("cannot write %s: No such file or directory in %s; create the directory or choose another path" % (path, directory))
    try:
        replace_file(path, text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise ReportError("cannot write %s: %s; the previous file is unchanged" % (path, exc.strerror)) from None


def update_file(path: str, text: str, check_mode: bool) -> tuple[bool, str | None]:
    """Write ``text`` to ``path`` only when it differs from what is there. Returns (changed, old text).

    An unchanged file still gets the current modification time (outside check mode): the content
    holds no time, so node_exporter's ``node_textfile_mtime_seconds`` is the only way an alert can
    tell that the reports stopped.
    """
    old = read_text(path)
    if old == text:
        if not check_mode:
            try:
                os.utime(path)
            except OSError as exc:
                raise ReportError(
                    "cannot update the modification time of %s: %s; the staleness alert reads it, so make the file this user's own" % (path, exc.strerror)
                ) from None
        return False, old
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ReportError("cannot write %s: the directory %s does not exist; create it or choose another path" % (path, directory))
    if not check_mode:
        write_atomic(path, text)
    return True, old
