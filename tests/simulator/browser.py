"""A scripted browser that signs in the way a person does: it reads each page, fills the form it
finds, and submits it, until the server redirects to the application's redirect URI.

It never follows that last redirect (the redirect URI is the application's, often not reachable
from here); it returns the URL the browser would land on, which is what a person copies.
"""

from __future__ import annotations

import html.parser
import typing as t
import urllib.error
import urllib.parse
import urllib.request

from .totp import totp


class LoginFailed(Exception):
    """The sign-in did not reach the redirect URI; the message says where it stopped."""


class _Form(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.form_id: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self.form_id = a.get("id")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.buttons.setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "p" and "error" in a.get("class", ""):
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None


class ScriptedBrowser:
    def __init__(self, timeout: float = 10.0, narrate: t.Callable[[str], None] | None = None) -> None:
        self.timeout = timeout
        self.narrate = narrate
        self.steps: list[str] = []
        self.opener = urllib.request.build_opener(_NoRedirect())

    def _say(self, step: str) -> None:
        self.steps.append(step)
        if self.narrate:
            self.narrate(step)

    def _open(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, str | None]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read().decode("utf-8", "replace"), None
        except urllib.error.HTTPError as err:
            location = err.headers.get("Location")
            body = err.read().decode("utf-8", "replace")
            return err.code, body, location

    def login(self, authorize_url: str, username: str, password: str, totp_secret: str, decision: str = "allow") -> str:
        """Sign in, pass the second factor, allow or deny; return the URL the browser lands on."""
        self._say("open the authorization URL")
        status, page, location = self._open(authorize_url)
        url = authorize_url
        for _page_number in range(6):
            if location is not None:
                self._say("redirected back to the application")
                return urllib.parse.urljoin(url, location)
            if status != 200:
                raise LoginFailed("the server answered HTTP %d: %s" % (status, _text(page)))
            form = _Form()
            form.feed(page)
            if form.action is None:
                raise LoginFailed("no form on the page: %s" % _text(page))
            fields = dict(form.fields)
            if form.form_id == "login":
                if form.errors:
                    raise LoginFailed(form.errors[0])
                self._say("fill in user name and password")
                fields.update(username=username, password=password)
            elif form.form_id == "mfa":
                if form.errors:
                    raise LoginFailed(form.errors[0])
                self._say("enter the code from the authenticator app")
                fields["totp"] = totp(totp_secret)
            elif form.form_id == "consent":
                self._say("press %s on the consent page" % ("Allow" if decision == "allow" else "Deny"))
                fields["decision"] = decision
            else:
                raise LoginFailed("unexpected form %r" % form.form_id)
            url = urllib.parse.urljoin(url, form.action)
            status, page, location = self._open(url, fields)
        raise LoginFailed("the sign-in did not finish")


def _text(page: str) -> str:
    chunks: list[str] = []

    class _Strip(html.parser.HTMLParser):
        def handle_data(self, data: str) -> None:
            if data.strip():
                chunks.append(data.strip())

    _Strip().feed(page)
    return " ".join(chunks)[:300]
