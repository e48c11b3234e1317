# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The consent service's own settings: its apps (client id -> secret file, endpoints), its key, its URL.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

An invitation row is hostile: it names a client id and endpoints, but the client secret and the
endpoints the service trusts come from here only, from files on the service host.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import check_endpoint_url

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - JSON still works
    HAS_YAML = False

MAX_FILE = 64 * 1024
MAX_SECRET = 4096
MIN_KEY = 32
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,256}")


class ConsentConfigError(PreauthError):
    """A setting of the consent service that cannot be used; the message names the file or option."""


class App:
    """One configured app. The secret is read from its file when needed and never shown."""

    def __init__(self, client_id: str, secret_file: str, platform: str | None = None, authorize_url: str | None = None, token_url: str | None = None) -> None:
        self.client_id = client_id
        self.secret_file = secret_file
        self.platform = platform
        self.authorize_url = authorize_url
        self.token_url = token_url

    def __repr__(self) -> str:
        return "App(%r)" % self.client_id

    def secret(self) -> str:
        try:
            with open(self.secret_file, "rb") as handle:
                data = handle.read(MAX_SECRET + 1)
        except OSError as exc:
            raise ConsentConfigError("cannot read the client secret file %s of app %s (%s)" % (self.secret_file, self.client_id, exc.strerror)) from None
        value = data.decode("utf-8", "replace").strip()
        if not value or len(data) > MAX_SECRET:
            raise ConsentConfigError("the client secret file %s of app %s is empty or too large" % (self.secret_file, self.client_id))
        return value


@dataclasses.dataclass
class Config:
    public_url: str
    apps: dict[str, App]
    secret_key: bytes
    trusted_proxy: bool = False
    secure_cookies: bool = True
    attempt_minutes: int = 15
    rate_per_second: float = 1.0
    rate_burst: int = 30
    max_addresses: int = 10000
    token_timeout: float = 20.0
    ca_path: str | None = None

    def __repr__(self) -> str:
        return "Config(public_url=%r, apps=%r)" % (self.public_url, sorted(self.apps))

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/callback"


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise ConsentConfigError("cannot read the %s %s (%s)" % (what, path, exc.strerror)) from None
    if len(data) > MAX_FILE:
        raise ConsentConfigError("the %s %s is larger than %d bytes" % (what, path, MAX_FILE))
    return data


def _url(value: t.Any, what: str) -> str | None:
    if value is None:
        return None
    try:
        return check_endpoint_url(value, what)
    except PreauthError as exc:
        raise ConsentConfigError(str(exc)) from None


def parse_apps(data: t.Any, where: str, base: str | None = None) -> dict[str, App]:
    """``{client_id: {secret_file, platform?, authorize_url?, token_url?}}``, optionally below a key ``apps``.

    A relative ``secret_file`` is found in ``base``: systemd's ``$CREDENTIALS_DIRECTORY`` when the unit loads
    the secrets as credentials (the consent_service role does), else the apps file's folder.
    """
    if isinstance(data, dict) and isinstance(data.get("apps"), dict):
        data = data["apps"]
    if not isinstance(data, dict) or not data:
        raise ConsentConfigError("the apps file %s must map each client_id to its settings (secret_file, optionally token_url and authorize_url)" % where)
    apps = {}
    for client_id, entry in data.items():
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise ConsentConfigError("the apps file %s has a client_id that is not printable text of 1 to 256 characters" % where)
        if not isinstance(entry, dict) or not isinstance(entry.get("secret_file"), str) or not entry["secret_file"]:
            raise ConsentConfigError("app %s in %s needs secret_file: the path of a file that holds its client secret" % (client_id, where))
        unknown = sorted(set(entry) - {"secret_file", "platform", "authorize_url", "token_url"})
        if unknown:
            raise ConsentConfigError("app %s in %s has unknown settings: %s" % (client_id, where, ", ".join(map(str, unknown))))
        platform = entry.get("platform")
        if platform is not None and not isinstance(platform, str):
            raise ConsentConfigError("app %s in %s: platform must be a platform name" % (client_id, where))
        secret_file = entry["secret_file"]
        if base and not os.path.isabs(secret_file):
            secret_file = os.path.join(base, secret_file)
        apps[client_id] = App(
            client_id,
            secret_file,
            platform,
            _url(entry.get("authorize_url"), "authorize_url of app %s" % client_id),
            _url(entry.get("token_url"), "token_url of app %s" % client_id),
        )
    return apps


def load_apps(path: str) -> dict[str, App]:
    text = _read(path, "apps file").decode("utf-8", "replace")
    try:
        data = json.loads(text) if path.endswith(".json") or not HAS_YAML else yaml.safe_load(text)
    except ValueError:
        raise ConsentConfigError("the apps file %s is not valid JSON" % path) from None
    except Exception:  # yaml.YAMLError and its relatives
        raise ConsentConfigError("the apps file %s is not valid YAML" % path) from None
    return parse_apps(data, path, os.environ.get("CREDENTIALS_DIRECTORY") or os.path.dirname(os.path.abspath(path)))


def load_secret_key(path: str | None) -> tuple[bytes, bool]:
    """The key for CSRF tokens and PKCE verifiers: from the file, or random (a try-out; True when random)."""
    if not path:
        return secrets.token_bytes(32), True
    data = _read(path, "secret key file").strip()
    if len(data) < MIN_KEY:
        raise ConsentConfigError(
            "the secret key file %s holds fewer than %d bytes; fill it with: head -c 48 /dev/urandom | base64 > %s" % (path, MIN_KEY, path)
        )
    return data, False


def public_url(value: str) -> str:
    """The service's address as the invitee's browser sees it: https (or http on loopback), no path end slash, no query."""
    url = _url(value, "public URL") or ""
    split = urllib.parse.urlsplit(url)
    if split.query:
        raise ConsentConfigError("the public URL %s must not have a query" % url)
    return url.rstrip("/")


def read_database_url(value: str | None, path: str | None) -> str:
    """The database URL from the option, else from its file, else from PREAUTH_CONSENT_DATABASE_URL."""
    if value:
        return value
    if path:
        return _read(path, "database URL file").decode("utf-8", "replace").strip()
    found = os.environ.get("PREAUTH_CONSENT_DATABASE_URL", "")
    if not found:
        raise ConsentConfigError("give the database URL: --database-url, --database-url-file or PREAUTH_CONSENT_DATABASE_URL")
    return found
