# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Webhooks signed as the Standard Webhooks specification says (https://www.standardwebhooks.com).

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A notification is a JSON POST. Its headers ``webhook-id`` (the message's id, the same on every try,
so a receiver drops a repeat), ``webhook-timestamp`` (integer Unix seconds) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}``, keyed by the
bytes of the secret ``whsec_<base64>``) let the receiver check that the body came from the holder of
the secret, unchanged and recently. The body is compact JSON with sorted keys.

Only ``https://`` URLs, or ``http://`` to a loopback address (a receiver on the same host). Redirects
are not followed: a signed POST goes where it was configured to go. A try that meets a connection
error, a timeout, HTTP 429 or a 5xx answer is repeated, up to ``attempts`` tries, after a short
backoff or the answer's numeric ``Retry-After`` (at most ``MAX_RETRY_AFTER`` seconds); any other
answer is final. Without a ``timestamp`` each try is signed with the time it is sent, as receivers
refuse old timestamps. The answer's body is never read. Errors name the URL without userinfo or
query (either may hold a credential), and never the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import importlib
import importlib.util
import ipaddress
import json
import os
import re
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.errors import CONFIG, PERMANENT, TEMPORARY, ChannelError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import USER_AGENT, server_text

# requests is imported when the first webhook is sent, as the OAuth client does.
HAS_REQUESTS = importlib.util.find_spec("requests") is not None


def _requests() -> t.Any:
    return importlib.import_module("requests")


SECRET_PREFIX = "whsec_"
# The specification's bounds for a secret's key.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
MAKE_SECRET = "python3 -c 'import base64,os; print(\"whsec_\" + base64.b64encode(os.urandom(32)).decode())'"
MAX_ATTEMPTS = 10
MAX_RETRY_AFTER = 10.0
MAX_BACKOFF = 8.0
MAX_BODY = 256 * 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# A webhook-id goes into a header and into the signed content: printable ASCII, no space.
_MSG_ID = re.compile(r"[\x21-\x7e]{1,256}")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


def _secret_key(secret: t.Any) -> bytes:
    """The key bytes of ``whsec_<base64>``; ValueError that says how to make a good one (and never shows the secret)."""
    how = "make one with: %s" % MAKE_SECRET
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError("the webhook secret must be 'whsec_' followed by base64; %s" % how)
    encoded = secret[len(SECRET_PREFIX) :]
    if not _BASE64.fullmatch(encoded):
        raise ValueError("the webhook secret after 'whsec_' is not base64; %s" % how)
    # With or without its padding, as other Standard Webhooks libraries read it.
    bare = encoded.rstrip("=")
    try:
        key = base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret after 'whsec_' is not valid base64; %s" % how) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError("the webhook secret holds %d bytes, not %d to %d; %s" % (len(key), MIN_SECRET_BYTES, MAX_SECRET_BYTES, how))
    return key


def _check_id(msg_id: t.Any) -> str:
    if not isinstance(msg_id, str) or not _MSG_ID.fullmatch(msg_id):
        raise ValueError("the webhook-id must be 1 to 256 printable ASCII characters without spaces")
    return msg_id


def _check_timestamp(timestamp: t.Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("the webhook-timestamp must be a whole number of seconds since 1970")
    return timestamp


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value: ``v1,`` and the base64 HMAC-SHA256 of ``{msg_id}.{timestamp}.{body}``.

    ValueError for a secret that is not ``whsec_`` + base64 of 24 to 64 bytes, an id that cannot be a
    header value or a timestamp that is not a non-negative int.
    """
    key = _secret_key(secret)
    content = ("%s.%d." % (_check_id(msg_id), _check_timestamp(timestamp))).encode("ascii") + bytes(body)
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_url(url: t.Any) -> str:
    """The URL as a message shows it: scheme, host and port; no userinfo, path, query or fragment.

    Many receivers (chat and ticketing webhooks) carry their secret in the path, so a path shows as ``/...``.
    """
    if not isinstance(url, str) or not url:
        return "(no URL)"
    if _CONTROL.search(url):
        return "(not a valid URL)"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(not a URL)"
    netloc = ("[%s]" % host if ":" in host else host) + (":%d" % port if port else "")
    path = "/..." if parts.path not in ("", "/") else parts.path
    return server_text(urllib.parse.urlunsplit((parts.scheme, netloc, path, "", "")), [], 200)


def check_url(url: t.Any) -> str:
    """``url`` when it is ``https://host/...`` or ``http://`` to a loopback address; ValueError otherwise."""
    if not isinstance(url, str) or not url:
        raise ValueError("the webhook URL is empty")
    if _CONTROL.search(url):
        raise ValueError("the webhook URL holds spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        raise ValueError("the webhook URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host or port == 0:
        raise ValueError("the webhook URL must be an https:// URL with a host")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError("the webhook URL must use https:// (plain http:// only to a loopback address such as 127.0.0.1)")
    return url


def body_of(payload: t.Mapping[str, t.Any]) -> bytes:
    """The request body: compact JSON with sorted keys, ASCII."""
    if not isinstance(payload, t.Mapping):
        raise ValueError("the webhook payload must be a mapping, not %s" % type(payload).__name__)
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        # The reason names a type ("Object of type X is not JSON serializable"), not a value.
        raise ValueError("the webhook payload is not JSON (%s)" % type(exc).__name__) from None
    body = text.encode("ascii")
    if len(body) > MAX_BODY:
        raise ValueError("the webhook payload is %d KiB, more than %d KiB" % (len(body) // 1024, MAX_BODY // 1024))
    return body


def _retry_after(headers: t.Mapping[str, str]) -> float | None:
    value = str(headers.get("Retry-After") or "").strip()
    return min(float(value), MAX_RETRY_AFTER) if re.fullmatch(r"[0-9]{1,10}", value) else None


def backoff(attempt: int) -> float:
    """Seconds to wait after try number ``attempt`` without a ``Retry-After`` (1, 2, 4... at most ``MAX_BACKOFF``)."""
    return min(float(2 ** (attempt - 1)), MAX_BACKOFF)


def send_webhook(
    url: str,
    secret: str,
    payload: t.Mapping[str, t.Any],
    msg_id: str,
    timestamp: int | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    validate_certs: bool = True,
    ca_path: str | None = None,
    sleep: t.Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` to ``url``, signed with ``secret``; the HTTP status of the answer that accepted it (2xx).

    ChannelError otherwise: ``config`` (nothing sent: the URL, the secret, the payload), ``permanent``
    (a 3xx or 4xx other than 429, a certificate that does not verify) or ``temporary`` (every try met
    a connection error, a timeout, 429 or 5xx).
    """
    where = shown_url(url)

    def refuse(reason: str) -> ChannelError:
        return ChannelError("webhook %s: %s" % (where, reason), where, CONFIG)

    try:
        check_url(url)
        _secret_key(secret)
        _check_id(msg_id)
        if timestamp is not None:
            _check_timestamp(timestamp)
        body = body_of(payload)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        raise refuse("attempts must be a number from 1 to %d" % MAX_ATTEMPTS)
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise refuse("the timeout must be more than 0 and at most 300 seconds")
    if ca_path and not os.path.exists(ca_path):
        raise refuse("ca_path %s does not exist: give a PEM file of CA certificates" % ca_path)
    if not HAS_REQUESTS:
        raise refuse("the Python library 'requests' is needed on the controller: pip install requests (see the collection's requirements.txt)")
    requests = _requests()
    hidden = [secret, secret[len(SECRET_PREFIX) :]]
    reason = "no try was made"
    status: int | None = None
    attempt = 0
    # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override a session's verify.
    verify: bool | str = ca_path if ca_path else bool(validate_certs)
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            stamp = timestamp if timestamp is not None else int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(secret, msg_id, stamp, body),
            }
            wait = backoff(attempt)
            try:
                response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True, verify=verify)
            except requests.exceptions.SSLError:
                reason = "the receiver's TLS certificate could not be verified; set ca_path to the CA that issued it"
                raise ChannelError("webhook %s: %s" % (where, reason), where, PERMANENT, attempts=attempt) from None
            except requests.exceptions.Timeout:
                reason, status = "no answer within %g s" % timeout, None
            except requests.exceptions.ConnectionError:
                reason, status = "the receiver could not be reached or dropped the connection", None
            except requests.exceptions.RequestException as exc:
                reason = "the request failed (%s)" % type(exc).__name__
                raise ChannelError("webhook %s: %s" % (where, reason), where, PERMANENT, attempts=attempt) from None
            else:
                # The body is never read; closing drops a connection whose answer was not read.
                with response:
                    status = int(response.status_code)
                    phrase = server_text(response.reason or "", hidden, 80)
                    after = _retry_after(response.headers)
                if 200 <= status < 300:
                    return status
                answered = "the receiver answered HTTP %d%s" % (status, " (%s)" % phrase if phrase else "")
                if status == 429 or status >= 500:
                    reason = answered
                    wait = after if after is not None else wait
                else:
                    tail = "; redirects are not followed: configure the final URL" if 300 <= status < 400 else ""
                    raise ChannelError("webhook %s: %s; not retried%s" % (where, answered, tail), where, PERMANENT, attempts=attempt, status=status)
            if attempt < attempts:
                sleep(wait)
    tail = " after %d attempts" % attempt if attempt > 1 else ""
    raise ChannelError("webhook %s: %s%s" % (where, reason, tail), where, TEMPORARY, attempts=attempt, status=status)
