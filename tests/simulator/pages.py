"""The HTML a person sees during login: password, second factor, consent, error pages."""

from __future__ import annotations

import html

_STYLE = "body{font-family:sans-serif;max-width:28em;margin:3em auto}label{display:block;margin:.6em 0}"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>%s</style></head>"
        "<body><h1>%s</h1>%s</body></html>" % (html.escape(title), _STYLE, html.escape(title), body)
    )


def _error(message: str | None) -> str:
    return "<p class='error' role='alert'>%s</p>" % html.escape(message) if message else ""


def login(action: str, txn: str, app_name: str, error: str | None = None) -> str:
    return _page(
        "Sign in",
        "<p>%s wants to connect to your administrations.</p>%s"
        "<form method='post' action='%s' id='login'>"
        "<input type='hidden' name='txn' value='%s'>"
        "<label>User name <input type='text' name='username' autocomplete='username'></label>"
        "<label>Password <input type='password' name='password' autocomplete='current-password'></label>"
        "<button type='submit'>Next</button></form>"
        % (html.escape(app_name), _error(error), html.escape(action), html.escape(txn)),
    )


def second_factor(action: str, txn: str, error: str | None = None) -> str:
    return _page(
        "Two-step verification",
        "<p>Enter the 6-digit code from your authenticator app.</p>%s"
        "<form method='post' action='%s' id='mfa'>"
        "<input type='hidden' name='txn' value='%s'>"
        "<label>Code <input type='text' name='totp' inputmode='numeric' autocomplete='one-time-code'></label>"
        "<button type='submit'>Verify</button></form>" % (_error(error), html.escape(action), html.escape(txn)),
    )


def consent(action: str, txn: str, app_name: str, username: str, scope: str) -> str:
    scope_line = "<p>Requested scopes: %s</p>" % html.escape(scope) if scope else ""
    return _page(
        "Allow access",
        "<p>Signed in as %s.</p><p><strong>%s</strong> asks for access to your data.</p>%s"
        "<form method='post' action='%s' id='consent'>"
        "<input type='hidden' name='txn' value='%s'>"
        "<button type='submit' name='decision' value='allow'>Allow</button> "
        "<button type='submit' name='decision' value='deny'>Deny</button></form>"
        % (html.escape(username), html.escape(app_name), scope_line, html.escape(action), html.escape(txn)),
    )


def error(message: str) -> str:
    return _page("Cannot continue", "<p>%s</p>" % html.escape(message))


def bad_gateway() -> str:
    return "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
