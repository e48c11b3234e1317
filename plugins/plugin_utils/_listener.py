# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A one-shot loopback listener that catches the browser's redirect (RFC 8252 section 7.3).

This module util is PRIVATE to the collection. It can change at any time without notice.

Only for platforms whose redirect URI may be ``http://127.0.0.1:PORT/...`` (or ``localhost``,
``[::1]``). It answers one request on the redirect path with a small "you may close this
window" page, and returns the full URL the browser asked for. Nothing is logged.
"""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth import OAuthError

PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='referrer' content='no-referrer'>"
    b"<title>Signed in</title></head><body style='font-family:sans-serif;margin:3em'>"
    b"<h1>Signed in</h1><p>preauth.oauth2 received the answer. You may close this window.</p></body></html>"
)


def loopback_address(redirect_uri: str) -> tuple[str, int, str]:
    """(bind address, port, path) for a loopback redirect URI; OAuthError if it is not one."""
    parts = urllib.parse.urlsplit(redirect_uri)
    host = (parts.hostname or "").lower()
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if parts.scheme != "http" or not is_loopback or not parts.port:
        raise OAuthError(
            "listen needs a loopback redirect URI with a port, such as http://127.0.0.1:8765/callback; %s is not one "
            "(paste the landed URL with redirect_url instead)" % redirect_uri,
            kind="config",
        )
    bind = "::1" if host == "::1" else "127.0.0.1"
    return bind, parts.port, parts.path or "/"


class _Catcher(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - the base class's signature
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        split = urllib.parse.urlsplit(self.path)
        if split.path != self.server.expected_path or self.server.landed is not None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        host = self.server.public_host
        self.server.landed = urllib.parse.urlunsplit(("http", host, split.path, split.query, ""))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(PAGE)


class _Server(http.server.HTTPServer):
    expected_path: str
    public_host: str
    landed: str | None = None


def wait_for_redirect(redirect_uri: str, timeout: float, ready: t.Callable[[], None] | None = None) -> str:
    """Listen on the redirect URI's loopback port until one browser request arrives."""
    bind, port, path = loopback_address(redirect_uri)
    try:
        server = _Server((bind, port), _Catcher)
    except OSError as exc:
        raise OAuthError("cannot listen on %s port %d for the redirect (%s)" % (bind, port, exc.strerror), kind="config") from None
    server.expected_path = path
    server.public_host = urllib.parse.urlsplit(redirect_uri).netloc
    server.timeout = 0.2
    try:
        if ready is not None:
            threading.Thread(target=ready, daemon=True).start()
        deadline = time.monotonic() + timeout
        while server.landed is None:
            if time.monotonic() >= deadline:
                raise OAuthError(
                    "no browser came back to %s within %d s; start again with a new authorization URL" % (redirect_uri, timeout),
                    kind="timeout",
                )
            server.handle_request()
        return server.landed
    finally:
        server.server_close()
