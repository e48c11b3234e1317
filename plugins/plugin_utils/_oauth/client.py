# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OAuth2 client side: authorization URLs, PKCE, redirects, token calls, error classes.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

No Ansible imports: the action plugins call these functions and turn ``OAuthError`` into a
failed result. Nothing here puts a token, code, verifier or secret into a message.

An endpoint is not trusted to behave: every answer is read with a total deadline and a size cap
(``OAuthClient._request``), every number in it is clamped (``bounded_seconds``, ``retry_after``),
and server text reaches a message only through ``server_text``, which removes the secrets of the
exchange, control characters and length. A token answer that carries a new refresh token hands it
to the caller even when the rest of the answer is refused (``OAuthError.rotation``), so the caller
can save the chain before it judges the answer.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import email.utils
import hashlib
import http.client
import importlib
import importlib.util
import json
import math
import re
import secrets
import socket
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import ErrorRule
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import DAY

# requests is imported when the first request is made: a run with nothing to send (a no-op
# refresh, check mode) does not pay for the import.
HAS_REQUESTS = importlib.util.find_spec("requests") is not None


def _requests() -> t.Any:
    return importlib.import_module("requests")


USER_AGENT = "preauth.oauth2 (Ansible collection)"

# Token, discovery, revocation and userinfo answers are a few KiB; anything larger is not one.
MAX_BODY = 1024 * 1024
CHUNK = 64 * 1024
# The most of each number this collection takes from a server; a larger value is clamped with a warning.
MAX_ACCESS_LIFETIME = 366 * DAY
MAX_REFRESH_LIFETIME = 10 * 366 * DAY
MAX_RETRY_AFTER = DAY
# Server text copied into a message: at most this long, without control characters.
MAX_SERVER_TEXT = 300
HIDDEN = "(hidden)"
# Form fields of a token or revocation request that hold a secret.
SECRET_FIELDS = ("refresh_token", "code", "code_verifier", "token", "client_secret")
# C0 and C1 controls, and the Unicode marks that reorder or hide text on a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_SPACE = re.compile(r"[\t\n\r ]+")
# Terminal escape sequences (CSI such as colours, OSC such as window titles), removed whole.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")


class OAuthError(PreauthError):
    """A failed OAuth2 step. ``kind`` says what the caller should do about it.

    Kinds: ``denied`` (the person pressed Deny), ``bad_redirect`` (not a usable redirect URL),
    ``invalid_grant``, ``invalid_client``, ``too_early`` (a platform's minimum refresh interval,
    such as Exact's 570 s), ``expired`` (a refresh token expiry a platform words as another error;
    both come from the platform's ``token_errors``, see ``classify``), ``oauth_error`` (other OAuth
    error answers), ``rate_limited``
    (429/503), ``server_error`` (other 5xx: the request may have been processed),
    ``not_json`` (an HTML or other non-JSON answer), ``timeout``, ``connection``, ``config``.
    ``too_large`` (an answer over ``MAX_BODY``) is, like ``timeout``, a lost answer. ``rotation``
    holds the new refresh token of an answer that is refused for another reason.
    """

    def __init__(
        self,
        msg: str,
        kind: str,
        status: int | None = None,
        error: str | None = None,
        retry_after: float | None = None,
        rotation: Rotation | None = None,
    ) -> None:
        super().__init__(msg)
        self.kind = kind
        self.status = status
        self.error = error
        self.retry_after = retry_after
        self.rotation = rotation


@dataclasses.dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None
    token_type: str
    scope: str | None
    expires_in: int | None
    received_at: float
    refresh_expires_in: int | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Rotation:
    """A new refresh token in an answer that is otherwise refused (no access token, a 429, an error status)."""

    refresh_token: str
    refresh_expires_in: int | None
    received_at: float
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Answer:
    """An HTTP answer read within the limits: status, headers and the whole (capped) body."""

    status_code: int
    headers: t.Mapping[str, str]
    content: bytes

    def json(self) -> t.Any:
        """The body as JSON; ValueError when it is not (also for nesting too deep to parse)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


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
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if not pairs and parts.fragment:
        pairs = urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True)
    names = [name for name, _value in pairs]
    repeated = [name for name in ("code", "state") if names.count(name) > 1]
    if repeated:
        # Which one the platform meant is unknowable: a second value is an injection, not a choice.
        raise OAuthError(
            "the redirect URL has more than one %s parameter, so it is not the answer of one sign-in; start again with a new "
            "authorization URL and paste the address the browser lands on, unchanged" % " and ".join(repeated),
            kind="bad_redirect",
        )
    params = dict(pairs)
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


def _variants(value: str) -> list[str]:
    """A secret as a server may echo it: as sent, URL-encoded (both ways) or escaped inside JSON."""
    return list(dict.fromkeys((value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value), json.dumps(value)[1:-1])))


def redact(text: str, hidden: t.Iterable[str | None]) -> str:
    """``text`` with every hidden value replaced by ``(hidden)``, longest first."""
    for value in sorted({v for v in hidden if isinstance(v, str) and v}, key=len, reverse=True):
        for variant in _variants(value):
            text = text.replace(variant, HIDDEN)
    return text


def server_text(value: t.Any, hidden: t.Iterable[str | None], limit: int = MAX_SERVER_TEXT) -> str:
    """Text from a server made fit for a message: secrets hidden, control characters removed, shortened.

    Hidden values are removed before and after the control characters, so a token split by
    invisible characters is found too, and before shortening, so no prefix of one is left.
    """
    hidden = list(hidden)
    text = redact(str(value), hidden)
    text = _CONTROL.sub("", _ANSI.sub("", _SPACE.sub(" ", text)))
    text = redact(text, hidden).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def _shown(number: float) -> str:
    # str()/format() rather than %-formatting: pylint's inference crashes on "%d" % inf.
    return str(int(number)) if math.isfinite(number) and number.is_integer() and abs(number) < 1e15 else format(number, "g")


def bounded_seconds(value: t.Any, name: str, maximum: int) -> tuple[int | None, str | None]:
    """A number of seconds from a server, clamped to [0, maximum], and a warning when it was not usable as sent.

    Exact Online sends ``expires_in`` as a string ("600"). A value that is no number is ignored
    (None), never an error: it may arrive in an answer that rotated the refresh token.
    """
    if value is None:
        return None, None
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = float(value) if abs(value) < 10**300 else (math.inf if value > 0 else -math.inf)  # JSON ints are unbounded
    elif isinstance(value, float):
        number = value if not math.isnan(value) else None
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]{1,9})?", value.strip()):
        number = float(value.strip())
    if number is None:
        return None, "%s is not a number of seconds; it is ignored" % name
    if number < 0:
        return 0, "%s is negative (%s); 0 s is used" % (name, _shown(number))
    if number > maximum:
        return maximum, "%s is %s s, more than the %d s this collection accepts; %d s is used" % (name, _shown(number), maximum, maximum)
    return int(number), None


def parse_expires_in(value: t.Any) -> int | None:
    """``expires_in`` as a number of seconds in [0, MAX_ACCESS_LIFETIME]; Exact sends it as a string ("600")."""
    return bounded_seconds(value, "expires_in", MAX_ACCESS_LIFETIME)[0]


def _wait(seconds: float) -> float:
    return min(max(0.0, seconds), float(MAX_RETRY_AFTER))


def retry_after(headers: t.Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP-date) or Exact's
    ``X-RateLimit-Minutely-Reset`` (epoch milliseconds), in [0, MAX_RETRY_AFTER]; None when
    neither header is there or readable."""
    value = headers.get("Retry-After")
    if isinstance(value, str) and value.strip():
        value = value.strip()
        if re.fullmatch(r"[0-9]{1,15}", value):
            return _wait(float(value))
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None  # not an HTTP-date either; Python 3.8 raises TypeError, newer ValueError
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)  # "-0000": RFC 5322 says UTC, source unknown
            try:
                return _wait(when.timestamp() - now)
            except (OverflowError, ValueError, OSError):
                pass
    reset = headers.get("X-RateLimit-Minutely-Reset")
    if isinstance(reset, str) and re.fullmatch(r"[0-9]{1,16}", reset.strip()):
        return _wait(int(reset.strip()) / 1000.0 - now)
    return None


class OAuthClient:
    """HTTP calls to token, revocation (RFC 7009), discovery and API endpoints; one session per endpoint host."""

    # Token calls take the platform's ``token_errors`` (``_platforms.ErrorRule``): how its refusals
    # differ from RFC 6749. Without them a refusal gets the RFC reading (``classify``).

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
                # The size cap counts the bytes as sent: no compressed answer that unpacks to many times the cap.
                session.headers["Accept-Encoding"] = "identity"
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

    def _request(self, method: str, url: str, what: str, **kwargs: t.Any) -> Answer:
        """Send one request and read its answer within ``timeout`` seconds in total and ``MAX_BODY`` bytes.

        ``timeout`` is also the limit for each read from the socket. The body is read with at most
        one read per step (``read1``) and the deadline is checked between steps, so a body dripped
        byte by byte ends at the deadline, not at the last byte. An answer past the deadline is a
        ``timeout``, one over the cap ``too_large``: for a refresh both are lost answers.
        """
        requests = _requests()
        deadline = time.monotonic() + self.timeout
        try:
            # verify on each request: a session's own is overridden by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, and ca_path or
            # validate_certs=false must win (with neither, verify=True still lets those variables name the CA bundle).
            response = self._session(url).request(method, url, timeout=self.timeout, allow_redirects=False, stream=True, verify=self.verify, **kwargs)
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
        try:
            return Answer(response.status_code, response.headers, self._body(response, what, deadline))
        finally:
            response.close()  # also drops a connection whose answer was not read to the end

    def _body(self, response: t.Any, what: str, deadline: float) -> bytes:
        status = response.status_code
        too_large = OAuthError(
            "the %s sent an answer larger than %d KiB (HTTP %d); it was not read" % (what, MAX_BODY // 1024, status), kind="too_large", status=status
        )
        late = OAuthError("the %s did not finish its answer within %g s" % (what, self.timeout), kind="timeout", status=status)
        header = str(response.headers.get("Content-Length") or "").strip()
        declared = int(header) if re.fullmatch(r"[0-9]{1,20}", header) else None
        if declared is not None and declared > MAX_BODY:
            raise too_large
        urllib3_errors = importlib.import_module("urllib3.exceptions")  # loaded with requests
        raw = response.raw
        read1 = getattr(raw, "read1", None)  # urllib3 2: returns after at most one read from the socket
        chunks: list[bytes] = []
        size = 0
        try:
            # A body that arrived whole is used even when the deadline passed meanwhile: it may hold a rotated token.
            while declared is None or size < declared:
                if time.monotonic() > deadline:
                    raise late
                chunk = read1(CHUNK) if read1 is not None else raw.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY:
                    raise too_large
                chunks.append(chunk)
        except (urllib3_errors.HTTPError, http.client.HTTPException, OSError) as exc:
            # While the body arrives: a read timeout, a reset, a broken chunk.
            if isinstance(exc, (urllib3_errors.TimeoutError, socket.timeout)):
                raise late from None
            raise OAuthError("the %s dropped the connection while answering (%s)" % (what, type(exc).__name__), kind="connection", status=status) from None
        return b"".join(chunks)

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

    def _get_json(self, url: str, what: str, headers: dict[str, str], refused: t.Callable[[int], str], refused_kind: str, not_json: str) -> t.Any:
        """GET ``url`` and its JSON body; ``refused(status)`` and ``not_json`` are the messages when it is not that."""
        response = self._request("GET", url, what, headers=dict(headers, Accept="application/json"))
        if response.status_code != 200:
            raise OAuthError(refused(response.status_code), kind=refused_kind, status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise OAuthError(not_json, kind="not_json", status=200) from None

    def _fetch_discovery(self, discovery_url: str) -> dict[str, t.Any]:
        document = self._get_json(
            discovery_url,
            "discovery document",
            {},
            lambda status: "the discovery document %s answered HTTP %d" % (discovery_url, status),
            "config",
            "the discovery document %s is not JSON" % discovery_url,
        )
        if not isinstance(document, dict):
            raise OAuthError("the discovery document %s is not a JSON object" % discovery_url, kind="not_json", status=200)
        return document

    def client_post(self, url: str, what: str, form: dict[str, str], client_id: str, client_secret: str, client_auth: str) -> Answer:
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

    def token_request(
        self,
        token_url: str,
        form: dict[str, str],
        client_id: str,
        client_secret: str,
        client_auth: str,
        error_rules: t.Sequence[ErrorRule] = (),
    ) -> TokenSet:
        with self.lock:
            self.calls += 1
        response = self.client_post(token_url, "token endpoint", form, client_id, client_secret, client_auth)
        received_at = time.time()
        hidden = [client_secret] + [form.get(k) for k in SECRET_FIELDS]
        return self._token_answer(response, received_at, hidden, form.get("refresh_token"), error_rules)

    @staticmethod
    def _rotation(payload: t.Any, presented: str | None, received_at: float) -> Rotation | None:
        """The new refresh token in an answer, if there is one: a non-empty string other than the one presented."""
        if not isinstance(payload, dict):
            return None
        refresh = payload.get("refresh_token")
        if not isinstance(refresh, str) or not refresh or refresh == presented:
            return None
        life, warning = bounded_seconds(payload.get("refresh_token_expires_in"), "refresh_token_expires_in", MAX_REFRESH_LIFETIME)
        return Rotation(refresh_token=refresh, refresh_expires_in=life, received_at=received_at, warnings=[warning] if warning else [])

    def _token_answer(
        self,
        response: Answer,
        received_at: float,
        hidden: list[str | None],
        presented: str | None = None,
        error_rules: t.Sequence[ErrorRule] = (),
    ) -> TokenSet:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        rotation = self._rotation(payload, presented, received_at)
        if isinstance(payload, dict):
            # Whatever the answer says, the tokens in it are never repeated in a message.
            hidden = hidden + [v for k, v in payload.items() if k in ("access_token", "refresh_token", "id_token") and isinstance(v, str)]
        if status in (429, 503):
            wait = retry_after(response.headers, received_at)
            raise OAuthError(
                "the token endpoint is rate limiting (HTTP %d%s)" % (status, ", retry after %.0f s" % wait if wait is not None else ""),
                kind="rate_limited",
                status=status,
                retry_after=wait,
                rotation=rotation,
            )
        if not isinstance(payload, dict):
            kind = "server_error" if status >= 500 else "not_json"
            ctype = server_text(response.headers.get("Content-Type", ""), hidden, 80)
            shape = "an HTML page" if "html" in ctype.lower() else "a non-JSON answer (%s)" % (ctype or "no content type")
            raise OAuthError("the token endpoint answered HTTP %d with %s instead of an OAuth2 JSON response" % (status, shape), kind=kind, status=status)
        if status == 200:
            access = payload.get("access_token")
            if not isinstance(access, str) or not access:
                raise OAuthError("the token endpoint answered HTTP 200 without an access_token", kind="oauth_error", status=status, rotation=rotation)
            refresh = payload.get("refresh_token")
            expires_in, access_warning = bounded_seconds(payload.get("expires_in"), "expires_in", MAX_ACCESS_LIFETIME)
            refresh_life, refresh_warning = bounded_seconds(payload.get("refresh_token_expires_in"), "refresh_token_expires_in", MAX_REFRESH_LIFETIME)
            token_type = payload.get("token_type")
            scope = payload.get("scope")
            return TokenSet(
                access_token=access,
                refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                token_type=token_type if isinstance(token_type, str) and 0 < len(token_type) <= 64 else "Bearer",
                scope=scope if isinstance(scope, str) and len(scope) <= 4096 else None,
                expires_in=expires_in,
                received_at=received_at,
                refresh_expires_in=refresh_life,
                warnings=[w for w in (access_warning, refresh_warning) if w],
            )
        if status >= 500:
            said = _server_fault(payload, hidden)
            raise OAuthError(
                "the token endpoint failed with HTTP %d%s; the request may or may not have been processed" % (status, " (%s)" % said if said else ""),
                kind="server_error",
                status=status,
                rotation=rotation,
            )
        raw_error, raw_description = _error_fields(payload)
        error = server_text(raw_error, hidden, 80) if isinstance(raw_error, str) else ""
        description = server_text(raw_description, hidden) if isinstance(raw_description, str) else ""
        detail = "HTTP %d %s%s" % (status, error or "error", ": " + description if description else "")
        kind = classify(status, raw_error if isinstance(raw_error, str) else None, description, response.headers, error_rules)
        raise OAuthError("the token endpoint refused the request (%s)" % detail, kind=kind, status=status, error=error or None, rotation=rotation)

    def exchange_code(
        self,
        token_url: str,
        code: str,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        client_auth: str,
        code_verifier: str | None = None,
        error_rules: t.Sequence[ErrorRule] = (),
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self.token_request(token_url, form, client_id, client_secret, client_auth, error_rules)

    def refresh(
        self,
        token_url: str,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        client_auth: str,
        error_rules: t.Sequence[ErrorRule] = (),
    ) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.token_request(token_url, form, client_id, client_secret, client_auth, error_rules)

    def revoke(self, url: str, token: str, hint: str, client_id: str, client_secret: str, client_auth: str) -> None:
        """POST ``token`` to the revocation endpoint with client authentication as at the token endpoint.

        RFC 7009 answers 200 for any token it accepted the request for, known or not.
        """
        form = {"token": token, "token_type_hint": hint}
        response = self.client_post(url, "revocation endpoint", form, client_id, client_secret, client_auth)
        status = response.status_code
        if status == 200:
            return
        try:
            payload = response.json()
        except ValueError:
            payload = None
        hidden = [token, client_secret]  # an endpoint may echo what it was sent
        raw_error = payload.get("error") if isinstance(payload, dict) else None
        raw_description = payload.get("error_description") if isinstance(payload, dict) else None
        error = server_text(raw_error, hidden, 80) if isinstance(raw_error, str) else ""
        description = server_text(raw_description, hidden) if isinstance(raw_description, str) else ""
        detail = "HTTP %d%s%s" % (status, " " + error if error else "", ": " + description if description else "")
        if status in (429, 503):
            wait = retry_after(response.headers, time.time())
            raise OAuthError(
                "the revocation endpoint is unavailable (%s)%s" % (detail, "; it asks to retry after %.0f s" % wait if wait is not None else ""),
                kind="rate_limited",
                status=status,
                error=error or None,
                retry_after=wait,
            )
        kind = "invalid_client" if raw_error == "invalid_client" or status == 401 else "server_error" if status >= 500 else "oauth_error"
        raise OAuthError("the revocation endpoint refused the request (%s)" % detail, kind=kind, status=status, error=error or None)

    def whoami(self, url: str, access_token: str) -> dict[str, t.Any]:
        """Call the platform's "who am I" endpoint; return a short, secret-free summary."""
        body = self._get_json(
            url,
            "API",
            {"Authorization": "Bearer " + access_token},
            lambda status: "the API at %s refused the new access token (HTTP %d)" % (url, status),
            "oauth_error",
            "the API at %s did not answer with JSON" % url,
        )
        # Shown in results: short plain values only, and never the token that was just sent.
        found = summarize_identity(body).items()
        return {k: server_text(v, [access_token], 200) if isinstance(v, str) else v for k, v in found if isinstance(v, (str, int, float))}


def _error_fields(payload: t.Mapping[str, t.Any]) -> tuple[t.Any, t.Any]:
    """The error code and description of a refusal: RFC 6749's ``error`` and ``error_description``.

    An answer without an ``error`` key may be HubSpot's own shape, ``{"status": "BAD_REFRESH_TOKEN", "message":
    "missing or invalid refresh token"}`` (H8): then ``status`` is read as the code and ``message`` as the description,
    and only when ``status`` is text (a number there is an HTTP status, not a code). An answer without a textual
    ``error_description`` may carry its description in ``reason``, as Zoom's ``{"reason": "Invalid Token!", "error":
    "invalid_grant"}`` does (ZM5). The caller bounds both as it does the RFC fields.
    """
    if "error" in payload or not isinstance(payload.get("status"), str):
        description = payload.get("error_description")
        if not isinstance(description, str) or not description.strip():
            description = payload.get("reason", description)
        return payload.get("error"), description
    return payload["status"], payload.get("message")


def _server_fault(payload: t.Mapping[str, t.Any], hidden: list[str | None]) -> str:
    """What a 5xx JSON answer says went wrong: an API gateway's fault (Apigee: ``fault.faultstring`` and
    ``fault.detail.errorcode``, as Exact Online answers a refresh it may have processed, I12) or an OAuth error; "" for neither."""
    fault = payload.get("fault")
    if isinstance(fault, dict):
        detail = fault.get("detail")
        code = detail.get("errorcode") if isinstance(detail, dict) else None
        parts = [server_text(v, hidden, 160) for v in (fault.get("faultstring"), code) if isinstance(v, str) and v]
        return "gateway fault: %s" % ", ".join(parts) if parts else ""
    parts = [server_text(payload[k], hidden, 160) for k in ("error", "error_description") if isinstance(payload.get(k), str) and payload[k]]
    return ": ".join(parts)


def classify(status: int, error: str | None, description: str, headers: t.Mapping[str, str], rules: t.Sequence[ErrorRule] = ()) -> str:
    """The ``OAuthError`` kind of a token endpoint's refusal: the platform's own reading first, then RFC 6749's.

    ``description`` is the error_description as a message shows it (``server_text``). RFC 6749 section
    5.2: ``invalid_grant`` is a refresh token that is invalid, expired, revoked or issued to another
    client; ``invalid_client`` (and any 401) is a client authentication problem. A platform whose words
    differ (Exact Online answers a spent refresh token with 401 ``unauthorized_client``) says so in its
    ``token_errors``.
    """
    for rule in rules:
        if rule.matches(status, error, description, headers):
            return rule.kind
    if error == "invalid_grant":
        return "invalid_grant"
    if error == "invalid_client" or status == 401:
        return "invalid_client"
    return "oauth_error"


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
