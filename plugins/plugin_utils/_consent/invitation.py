# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What an invitation row asks, checked against what the service itself knows.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

The row is hostile (anyone who can write the invitation table could send an invitee's code
elsewhere): the client id must be one of the service's apps, and the endpoints the row names must be
the ones the service resolves itself (the app's settings, else the platform table for the row's
platform and country). Texts shown to the invitee are bounded; the templates escape them.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import Platform, get_platform, normalize_country, resolve_endpoints
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import App, Config

MAX_TEXT = 200
MAX_ALLOWS = 2000
MAX_SCOPES = 50
REQUEST_FORMAT = 1
FORM_FIELDS = ("first_name", "last_name", "job_title", "email", "company")
# Parameters the service sets itself: a row cannot replace them through authorize_params.
RESERVED = frozenset(("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "nonce", "response_mode"))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")
_PARAM = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Refused(PreauthError):
    """The invitation cannot be used as it is; the message is for the operator (no secret, no token)."""


def clean(value: t.Any, limit: int = MAX_TEXT) -> str:
    """Text for a page or the consent record: a string without control characters, cut at ``limit``."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value).strip()[:limit]


@dataclasses.dataclass
class Plan:
    """One invitation, checked: where to send the invitee and what to show them."""

    connection: str
    platform: Platform
    app: App
    authorize_url: str
    token_url: str
    scopes: list[str]
    extra: dict[str, str]
    shown: dict[str, str]
    prefill: dict[str, str]
    language: str | None

    @property
    def authorize_origin(self) -> str:
        split = urllib.parse.urlsplit(self.authorize_url)
        return "%s://%s" % (split.scheme, split.netloc)


def plan(row: t.Mapping[str, t.Any], config: Config) -> Plan:
    request = row.get("request")
    connection = str(row.get("connection"))
    if not isinstance(request, dict) or request.get("format") != REQUEST_FORMAT:
        raise Refused("the invitation for connection %s was made by another version of the collection; make a new invitation" % connection)
    client_id = request.get("client_id")
    app = config.apps.get(client_id) if isinstance(client_id, str) else None
    if app is None:
        raise Refused(
            "the app (client_id %s) of connection %s is not configured on the consent service; add it to the service's apps file"
            % (clean(client_id, 80) or "missing", connection)
        )
    try:
        platform = get_platform(str(request.get("platform")))
        if app.platform and app.platform.strip().lower() != platform.name:
            raise Refused(
                "the invitation for connection %s names platform %s, but the consent service has app %s for %s"
                % (connection, platform.name, app.client_id, app.platform)
            )
        country = normalize_country(platform, request.get("country") if isinstance(request.get("country"), str) else None)
        given = {k: v for k, v in (("authorize", app.authorize_url), ("token", app.token_url)) if v}
        endpoints = resolve_endpoints(platform, country=country, endpoints=given or None, connection=connection)
    except Refused:
        raise
    except PreauthError as exc:
        raise Refused("the invitation for connection %s cannot be used: %s" % (connection, exc)) from None
    for key, trusted in (("authorize_url", endpoints.authorize), ("token_url", endpoints.token)):
        if request.get(key) != trusted:
            raise Refused(
                "the %s of the invitation for connection %s differs from the one the consent service uses for app %s (%s); "
                "make the inventory and the service's apps file agree, then make a new invitation" % (key, connection, app.client_id, trusted)
            )
    scopes = request.get("scopes") or []
    if not isinstance(scopes, list) or len(scopes) > MAX_SCOPES or not all(isinstance(s, str) and _SCOPE.fullmatch(s) for s in scopes):
        raise Refused("the scopes of the invitation for connection %s are not a short list of scope names; make a new invitation" % connection)
    extra = dict(platform.auth_params)
    asked = request.get("authorize_params") or {}
    if not isinstance(asked, dict):
        asked = {}
    for key, value in asked.items():
        if isinstance(key, str) and _PARAM.fullmatch(key) and key not in RESERVED and isinstance(value, str) and len(value) <= 512:
            extra[key] = _CONTROL.sub("", value)
    raw_operator, raw_invitee = request.get("operator"), row.get("invitee")
    operator: dict[str, t.Any] = raw_operator if isinstance(raw_operator, dict) else {}
    invitee: dict[str, t.Any] = raw_invitee if isinstance(raw_invitee, dict) else {}
    shown = {
        "platform": platform.title,
        "country": clean(country or request.get("country") or "-", 40),
        "app": clean(request.get("app")) or app.client_id,
        "company": clean(operator.get("company")) or "-",
        "contact": clean(operator.get("contact")) or "-",
        "allows": clean(request.get("allows"), MAX_ALLOWS),
    }
    language = invitee.get("language") if isinstance(invitee.get("language"), str) else None
    return Plan(
        connection=connection,
        platform=platform,
        app=app,
        authorize_url=endpoints.authorize,
        token_url=endpoints.token,
        scopes=list(scopes) if platform.scopes_in_request else [],
        extra=extra,
        shown=shown,
        prefill={field: clean(invitee.get(field)) for field in FORM_FIELDS},
        language=language,
    )
