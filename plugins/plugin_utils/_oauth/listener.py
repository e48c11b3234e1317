# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A loopback listener that catches the browser's redirect (RFC 8252 section 7.3).

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Only for platforms whose redirect URI may be ``http://127.0.0.1:PORT/...`` (or ``localhost``,
``[::1]``). Any local process can send requests to that port, so the listener only accepts a
request on the redirect path whose ``state`` is the pending attempt's (one ``state``, compared in
constant time); it answers every other request with a short error page and keeps listening until
the deadline, for a bounded number of requests. The accepted request gets a small "you may close
this window" page, and its full URL is returned. Nothing is logged, and no page echoes a request.
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthError


def _page(title: str, text: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='referrer' content='no-referrer'>"
        "<title>%s</title></head><body style='font-family:sans-serif;margin:3em'><h1>%s</h1><p>%s</p></body></html>" % (title, title, text)
    ).encode("utf-8")


PAGE = _page("Signed in", "preauth.oauth2 received the answer. You may close this window.")
NOT_THIS_SIGN_IN = _page("Not this sign-in", "This request does not carry the answer preauth.oauth2 is waiting for, so it was ignored.")
NOT_FOUND = _page("Not found", "preauth.oauth2 only waits for the sign-in's redirect here.")
# Requests one listening session answers before it gives up: a person's browser sends a handful.
MAX_REQUESTS = 100
# Seconds one connection may take to send its request: a silent client must not hold the listener.
REQUEST_TIMEOUT = 5.0


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


def _carries_state(query: str, state: str) -> bool:
    """Whether the query has exactly one ``state``, equal to the pending attempt's."""
    try:
        values = urllib.parse.parse_qs(query, keep_blank_values=True, max_num_fields=64).get("state") or []
    except ValueError:
        return False
    return len(values) == 1 and hmac.compare_digest(values[0].encode("utf-8"), state.encode("utf-8"))


class _Catcher(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - the base class's signature
        return

    def _answer(self, status: int, page: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(page)
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        split = urllib.parse.urlsplit(self.path)
        if split.path != self.server.expected_path or self.server.landed is not None:
            self._answer(404, NOT_FOUND)
            return
        if not _carries_state(split.query, self.server.expected_state):
            self._answer(400, NOT_THIS_SIGN_IN)
            return
        self.server.landed = urllib.parse.urlunsplit(("http", self.server.public_host, split.path, split.query, ""))
        self._answer(200, PAGE)


class _Server(http.server.HTTPServer):
    expected_path: str
    expected_state: str
    public_host: str
    landed: str | None = None
    served = 0

    def verify_request(self, request: t.Any, client_address: t.Any) -> bool:
        # Every connection counts, whatever it asks for (a method other than GET gets 501 from the base class).
        self.served += 1
        return True


def wait_for_redirect(redirect_uri: str, timeout: float, state: str, ready: t.Callable[[], None] | None = None) -> str:
    """Listen on the redirect URI's loopback port until the browser brings back ``state``, or the deadline passes."""
    bind, port, path = loopback_address(redirect_uri)
    if not state:
        raise OAuthError("the pending authorization has no state to wait for; start again with a new authorization URL", kind="config")
    try:
        server = _Server((bind, port), _Catcher)
    except OSError as exc:
        raise OAuthError("cannot listen on %s port %d for the redirect (%s)" % (bind, port, exc.strerror), kind="config") from None
    server.expected_path = path
    server.expected_state = state
    server.public_host = urllib.parse.urlsplit(redirect_uri).netloc
    server.timeout = 0.2
    try:
        if ready is not None:
            threading.Thread(target=ready, daemon=True).start()
        deadline = time.monotonic() + timeout
        while server.landed is None:
            served = server.served
            if time.monotonic() >= deadline:
                raise OAuthError(
                    "no browser came back to %s with this attempt's state within %d s%s; start again with a new authorization URL"
                    % (redirect_uri, timeout, " (%d other request(s) were ignored)" % served if served else ""),
                    kind="timeout",
                )
            if served >= MAX_REQUESTS:
                raise OAuthError(
                    "the listener on %s answered %d requests without this attempt's state, so it stopped: something else on this "
                    "computer sends requests to port %d. Stop it, or paste the landed URL with redirect_url instead" % (redirect_uri, served, port),
                    kind="bad_redirect",
                )
            server.handle_request()
        return server.landed
    finally:
        server.server_close()
