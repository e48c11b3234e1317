# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OAuth2 client side: authorization URLs, PKCE, redirects, token calls, error classes.

This module util is PRIVATE to the collection. It can change at any time without notice.

No Ansible imports: the action plugins call these functions and turn ``OAuthError`` into a
failed result. Nothing here puts a token, code, verifier or secret into a message.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import hashlib
import importlib
import importlib.util
import secrets
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError

# requests is imported when the first request is made: a run with nothing to send (a no-op
# refresh, check mode) does not pay for the import.
HAS_REQUESTS = importlib.util.find_spec("requests") is not None


def _requests() -> t.Any:
    return importlib.import_module("requests")


USER_AGENT = "preauth.oauth2 (Ansible collection)"


class OAuthError(PreauthError):
    """A failed OAuth2 step. ``kind`` says what the caller should do about it.

    Kinds: ``denied`` (the person pressed Deny), ``bad_redirect`` (not a usable redirect URL),
    ``invalid_grant``, ``invalid_client``, ``too_early`` (Exact's 570 s rule), ``expired``
    (refresh token expired), ``oauth_error`` (other OAuth error answers), ``rate_limited``
    (429/503), ``server_error`` (other 5xx: the request may have been processed),
    ``not_json`` (an HTML or other non-JSON answer), ``timeout``, ``connection``, ``config``.
    """

    def __init__(self, msg: str, kind: str, status: int | None = None, error: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(msg)
        self.kind = kind
        self.status = status
        self.error = error
        self.retry_after = retry_after


@dataclasses.dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None
    token_type: str
    scope: str | None
    expires_in: int | None
    received_at: float


@dataclasses.dataclass
class Redirect:
    code: str
    state: str | None


# -- building the authorization request ------------------------------------------------------


def new_state() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def new_pkce() -> tuple[str, str]:
    """An RFC 7636 S256 pair: a 43-character verifier and its challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode("ascii").rstrip("=")


def fingerprint(token: str | None) -> str | None:
    """A short, non-reversible name for a token: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12] if token else None


def build_authorization_url(
    authorize_url: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    scopes: t.Sequence[str] = (),
    code_challenge: str | None = None,
    extra: t.Mapping[str, str] | None = None,
) -> str:
    params: dict[str, str] = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri}
    if scopes:
        params["scope"] = " ".join(scopes)
    params["state"] = state
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    params.update(extra or {})
    parts = urllib.parse.urlsplit(authorize_url)
    query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# -- reading the redirect --------------------------------------------------------------------


def parse_redirect(url: str) -> Redirect:
    """Take the URL a browser landed on, as pasted; decode its parameters exactly once."""
    text = (url or "").strip()
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme or not parts.netloc:
        raise OAuthError(
            "the redirect URL is not a complete URL; paste the whole address of the page the browser landed on after "
            "signing in, starting with https://",
            kind="bad_redirect",
        )
    params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    if not params and parts.fragment:
        params = dict(urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True))
    if "error" in params:
        error = params["error"]
        description = params.get("error_description", "").strip()
        detail = "%s%s" % (error, ": " + description if description else "")
        if error == "access_denied":
            raise OAuthError(
                "the sign-in was not allowed (%s); start again with a new authorization URL and press Allow on the "
                "consent page" % detail,
                kind="denied",
                error=error,
            )
        raise OAuthError("the platform refused the authorization (%s); start again with a new authorization URL" % detail, kind="denied", error=error)
    if "code" not in params:
        if "response_type" in params and "client_id" in params:
            raise OAuthError(
                "this is the authorization URL itself, not the URL the browser landed on; open it in a browser, sign in, "
                "press Allow, and paste the address of the page you land on",
                kind="bad_redirect",
            )
        raise OAuthError(
            "the URL has no code parameter; paste the complete address of the page you landed on, including "
            "everything after '?'",
            kind="bad_redirect",
        )
    if not params["code"]:
        raise OAuthError("the URL's code parameter is empty; start again with a new authorization URL", kind="bad_redirect")
    return Redirect(code=params["code"], state=params.get("state"))


def same_redirect_target(landed: str, redirect_uri: str) -> bool:
    """Whether the landed URL is the registered redirect URI (scheme, host, port and path)."""
    a, b = urllib.parse.urlsplit(landed.strip()), urllib.parse.urlsplit(redirect_uri)
    return (a.scheme.lower(), (a.hostname or "").lower(), a.port, a.path or "/") == (b.scheme.lower(), (b.hostname or "").lower(), b.port, b.path or "/")


# -- talking to endpoints --------------------------------------------------------------------


def retry_after(headers: t.Mapping[str, str], now: float) -> float | None:
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        with_date = email.utils.parsedate_to_datetime(value) if value else None
        if with_date is not None:
            return max(0.0, with_date.timestamp() - now)
    reset = headers.get("X-RateLimit-Minutely-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) / 1000.0 - now)
    return None


def parse_expires_in(value: t.Any) -> int | None:
    """``expires_in`` as a number of seconds; Exact sends it as a string ("600")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class OAuthClient:
    """HTTP calls to token, discovery and API endpoints; one session per endpoint host."""

    def __init__(self, timeout: float = 30.0, validate_certs: bool = True, ca_path: str | None = None) -> None:
        if not HAS_REQUESTS:
            raise OAuthError(
                "the Python library 'requests' is needed on the controller: pip install requests (see the collection's requirements.txt)",
                kind="config",
            )
        self.timeout = timeout
        self.verify: bool | str = ca_path if ca_path else validate_certs
        self.sessions: dict[str, t.Any] = {}
        self.discovered: dict[str, dict[str, t.Any]] = {}
        self.lock = threading.Lock()
        self.calls = 0

    def _session(self, url: str) -> t.Any:
        key = urllib.parse.urlsplit(url).netloc
        with self.lock:
            session = self.sessions.get(key)
            if session is None:
                requests = _requests()
                session = requests.Session()
                session.headers["User-Agent"] = USER_AGENT
                session.verify = self.verify
                # Enough pooled connections for the batch refresher's worker threads.
                adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self.sessions[key] = session
        return session

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()

    def _request(self, method: str, url: str, what: str, **kwargs: t.Any) -> t.Any:
        requests = _requests()
        try:
            return self._session(url).request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.Timeout:
            raise OAuthError("no answer from the %s within %g s" % (what, self.timeout), kind="timeout") from None
        except requests.exceptions.SSLError:
            raise OAuthError(
                "the TLS certificate of the %s could not be verified; set ca_path to your CA bundle if a proxy inspects TLS" % what,
                kind="connection",
            ) from None
        except requests.exceptions.ConnectionError:
            raise OAuthError("the %s could not be reached or dropped the connection" % what, kind="connection") from None
        except requests.exceptions.RequestException as exc:
            raise OAuthError("the request to the %s failed (%s)" % (what, type(exc).__name__), kind="connection") from None

    def discover(self, discovery_url: str) -> dict[str, t.Any]:
        """Fetch a discovery document once per client (many connections share an issuer)."""
        with self.lock:
            cached = self.discovered.get(discovery_url)
        if cached is not None:
            return cached
        document = self._fetch_discovery(discovery_url)
        with self.lock:
            self.discovered[discovery_url] = document
        return document

    def _fetch_discovery(self, discovery_url: str) -> dict[str, t.Any]:
        response = self._request("GET", discovery_url, "discovery document", headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise OAuthError(
                "the discovery document %s answered HTTP %d" % (discovery_url, response.status_code), kind="config", status=response.status_code
            )
        try:
            document = response.json()
        except ValueError:
            raise OAuthError("the discovery document %s is not JSON" % discovery_url, kind="not_json", status=200) from None
        if not isinstance(document, dict):
            raise OAuthError("the discovery document %s is not a JSON object" % discovery_url, kind="not_json", status=200)
        return document

    def client_post(self, url: str, what: str, form: dict[str, str], client_id: str, client_secret: str, client_auth: str) -> t.Any:
        """POST ``form`` with client authentication as the platform wants it (token and revocation endpoints)."""
        body = dict(form)
        auth = None
        if client_auth == "client_secret_basic":
            # RFC 6749 section 2.3.1: both parts form-encoded before Basic encoding.
            auth = (urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(client_secret))
        else:
            body["client_id"] = client_id
            body["client_secret"] = client_secret
        return self._request("POST", url, what, data=body, auth=auth, headers={"Accept": "application/json"})

    def token_request(self, token_url: str, form: dict[str, str], client_id: str, client_secret: str, client_auth: str) -> TokenSet:
        with self.lock:
            self.calls += 1
        response = self.client_post(token_url, "token endpoint", form, client_id, client_secret, client_auth)
        received_at = time.time()
        return self._token_answer(response, received_at)

    def _token_answer(self, response: t.Any, received_at: float) -> TokenSet:
        status = response.status_code
        ctype = response.headers.get("Content-Type", "")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if status in (429, 503):
            wait = retry_after(response.headers, received_at)
            raise OAuthError(
                "the token endpoint is rate limiting (HTTP %d%s)" % (status, ", retry after %.0f s" % wait if wait is not None else ""),
                kind="rate_limited",
                status=status,
                retry_after=wait,
            )
        if not isinstance(payload, dict):
            kind = "server_error" if status >= 500 else "not_json"
            shape = "an HTML page" if "html" in ctype.lower() else "a non-JSON answer (%s)" % (ctype or "no content type")
            raise OAuthError("the token endpoint answered HTTP %d with %s instead of an OAuth2 JSON response" % (status, shape), kind=kind, status=status)
        if status == 200:
            access = payload.get("access_token")
            if not isinstance(access, str) or not access:
                raise OAuthError("the token endpoint answered HTTP 200 without an access_token", kind="oauth_error", status=status)
            refresh = payload.get("refresh_token")
            return TokenSet(
                access_token=access,
                refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                token_type=str(payload.get("token_type") or "Bearer"),
                scope=payload.get("scope") if isinstance(payload.get("scope"), str) else None,
                expires_in=parse_expires_in(payload.get("expires_in")),
                received_at=received_at,
            )
        if status >= 500:
            raise OAuthError(
                "the token endpoint failed with HTTP %d; the request may or may not have been processed" % status, kind="server_error", status=status
            )
        error = str(payload.get("error") or "")
        description = str(payload.get("error_description") or "").strip()
        detail = "HTTP %d %s%s" % (status, error or "error", ": " + description if description else "")
        reason = response.headers.get("Reason", "")
        if error == "access_denied" and ("TooEarlyToRefreshTokens" in reason or "access_token not expired" in description):
            kind = "too_early"
        elif error == "invalid_grant":
            kind = "invalid_grant"
        elif error == "invalid_client" or status == 401:
            kind = "invalid_client"
        elif "expired" in description.lower() and "refresh token" in description.lower():
            kind = "expired"
        else:
            kind = "oauth_error"
        raise OAuthError("the token endpoint refused the request (%s)" % detail, kind=kind, status=status, error=error or None)

    def exchange_code(
        self,
        token_url: str,
        code: str,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        client_auth: str,
        code_verifier: str | None = None,
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self.token_request(token_url, form, client_id, client_secret, client_auth)

    def refresh(self, token_url: str, refresh_token: str, client_id: str, client_secret: str, client_auth: str) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.token_request(token_url, form, client_id, client_secret, client_auth)

    def whoami(self, url: str, access_token: str) -> dict[str, t.Any]:
        """Call the platform's "who am I" endpoint; return a short, secret-free summary."""
        response = self._request("GET", url, "API", headers={"Authorization": "Bearer " + access_token, "Accept": "application/json"})
        if response.status_code != 200:
            raise OAuthError(
                "the API at %s refused the new access token (HTTP %d)" % (url, response.status_code), kind="oauth_error", status=response.status_code
            )
        try:
            body = response.json()
        except ValueError:
            raise OAuthError("the API at %s did not answer with JSON" % url, kind="not_json", status=200) from None
        return summarize_identity(body)


def summarize_identity(body: t.Any) -> dict[str, t.Any]:
    """Pick who the token belongs to out of an Exact OData answer or an OIDC userinfo answer."""
    if isinstance(body, dict) and isinstance(body.get("d"), dict):
        results = body["d"].get("results")
        first = results[0] if isinstance(results, list) and results else body["d"]
        if isinstance(first, dict):
            return {k: first[k] for k in ("UserName", "FullName", "CurrentDivision") if k in first}
    if isinstance(body, dict):
        return {k: body[k] for k in ("sub", "name", "email", "preferred_username") if k in body}
    return {}
