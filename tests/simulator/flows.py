"""HTTP helpers for tests that play the client by hand: a person's login, PKCE, token calls."""

from __future__ import annotations

import base64
import hashlib
import typing as t
import urllib.parse

import requests

from .browser import ScriptedBrowser

REDIRECT = "https://preauth.example.test/callback"


def authorize_url(base: str, path: str, client_id: str, **extra: str) -> str:
    params = {"client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code", "state": "st-1", **extra}
    return base + path + "?" + urllib.parse.urlencode(params)


def landed(url: str, user: dict[str, t.Any], decision: str = "allow") -> str:
    return ScriptedBrowser().login(url, user["username"], user["password"], user["totp_secret"], decision)


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def pkce_pair(verifier: str = "v" * 64) -> tuple[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def token(url: str, client: dict[str, t.Any], basic: bool = False, **form: str) -> requests.Response:
    if basic:
        return requests.post(url, data=form, auth=(client["client_id"], client["client_secret"]), timeout=10)
    body = {"client_id": client["client_id"], "client_secret": client["client_secret"], **form}
    return requests.post(url, data=body, timeout=10)


def exchange(url: str, client: dict[str, t.Any], code: str, **extra: str) -> requests.Response:
    return token(url, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, **extra)


def refresh(url: str, client: dict[str, t.Any], refresh_token: str, basic: bool = False) -> requests.Response:
    return token(url, client, basic=basic, grant_type="refresh_token", refresh_token=refresh_token)
