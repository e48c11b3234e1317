"""The authorization server's rules, without HTTP: clients, users, codes, token chains, clock.

Five profiles share one model and differ only in data (``PROFILES``):

``exact``
    Exact Online as documented and observed: codes contain ``!`` and live 3 minutes, access
    tokens live 600 s and ``expires_in`` is the string ``"600"``, refresh tokens rotate and the
    old one is void at once (HTTP 401 ``unauthorized_client`` "Old refresh token used.", as Exact
    answers it: picqer/exact-php-client issues 300 and 644), no refresh within 570 s of the last access
    token (``access_denied`` + ``Reason: TooEarlyToRefreshTokens``), a refresh token unused for
    30 days expires (``invalid_request`` "The refresh token expired at ..."), 200 token calls per
    app, user and day, then 429.
``rotating_strict``
    A generic OpenID Connect server that follows RFC 9700 reuse detection: presenting a rotated
    refresh token revokes the whole chain. No minimum refresh interval. Refresh tokens only with
    the ``offline_access`` scope. Has an RFC 7009 revocation endpoint.
``xero``
    Xero: refresh tokens rotate, and for 30 minutes after a rotation the refresh token presented to it
    still works (a retry after a lost answer, developer.xero.com/faq/oauth2), voiding the token of the
    lost answer; after that it gets 400 ``invalid_grant``. HTTP Basic client authentication, ``offline_access`` for a refresh token.
``twinfield``
    Twinfield: HTTP Basic client authentication only, ``nonce`` required. Whether Twinfield rotates
    refresh tokens is not documented (the platform table says ``unknown``, which the collection
    treats as rotating), so this profile rotates them: the case the collection must survive.
``zoho``
    Zoho Accounts as its pages describe it (the platform table's ZH1-ZH7): a refresh token only for
    ``access_type=offline``, codes of 2 minutes, access tokens of 3600 s, refresh tokens that do not
    rotate and do not expire (a refresh answer carries no refresh token, so the stored one stays in use),
    ``api_domain`` in every token answer, client credentials in the body only.

Every time the rules read is the simulator's clock (``Clock``), which tests can advance. Token
values never leave this module except in token responses; state reports carry fingerprints.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
import typing as t
import urllib.parse

DAY = 86400


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    rotating: bool
    reuse_revokes_chain: bool
    min_refresh_interval: int
    access_lifetime: int
    expires_in_as_string: bool
    refresh_idle_lifetime: int | None
    daily_token_budget: int | None
    client_auth: tuple[str, ...]
    nonce_required: bool
    refresh_needs_offline_access: bool
    code_lifetime: int
    loopback_any_port: bool
    code_prefix: str
    access_prefix: str
    refresh_prefix: str
    # The answer to a refresh token that was already rotated away: (status, error, error_description).
    reused_refresh_answer: tuple[int, str, str] = (400, "invalid_grant", "The refresh token was already used.")
    # The answer to a refresh token past its idle lifetime, now and on every later try; the description may
    # name {expired_at} and {now} (Exact's US-style times).
    expired_refresh_answer: tuple[int, str, str] = (400, "invalid_grant", "The refresh token has expired.")
    # Seconds after a rotation during which the refresh token presented to it still works (Xero: a retry after a lost
    # answer, for 30 minutes, developer.xero.com/faq/oauth2); None: it is void at once.
    reuse_grace: int | None = None
    # A refresh token only when the authorization request asked for access_type=offline (Zoho, Google), not for a scope.
    refresh_needs_access_type_offline: bool = False
    # Whether a refresh answer repeats the refresh token (Zoho's does not: the client keeps the one it has).
    refresh_answer_has_refresh_token: bool = True
    # Keys every token answer carries besides the RFC 6749 ones (Zoho: api_domain, the API host of the data centre).
    answer_extras: tuple[tuple[str, str], ...] = ()


PROFILES: dict[str, Profile] = {
    "exact": Profile(
        name="exact",
        rotating=True,
        reuse_revokes_chain=False,
        min_refresh_interval=570,
        access_lifetime=600,
        expires_in_as_string=True,
        refresh_idle_lifetime=30 * DAY,
        daily_token_budget=200,
        client_auth=("client_secret_post", "client_secret_basic"),
        nonce_required=False,
        refresh_needs_offline_access=False,
        code_lifetime=180,
        loopback_any_port=False,
        code_prefix="XTzM!IAAAA",
        access_prefix="AAEAA",
        refresh_prefix="Gcp7!IAAAA",
        reused_refresh_answer=(401, "unauthorized_client", "Old refresh token used."),
        # invalid_request, not RFC 6749's invalid_grant (I15).
        expired_refresh_answer=(400, "invalid_request", "The refresh token expired at {expired_at} and it is now {now}."),
    ),
    "rotating_strict": Profile(
        name="rotating_strict",
        rotating=True,
        reuse_revokes_chain=True,
        min_refresh_interval=0,
        access_lifetime=3600,
        expires_in_as_string=False,
        refresh_idle_lifetime=90 * DAY,
        daily_token_budget=None,
        client_auth=("client_secret_post", "client_secret_basic"),
        nonce_required=False,
        refresh_needs_offline_access=True,
        code_lifetime=600,
        loopback_any_port=True,
        code_prefix="sc_",
        access_prefix="sat_",
        refresh_prefix="srt_",
    ),
    "xero": Profile(
        name="xero",
        rotating=True,
        reuse_revokes_chain=False,
        min_refresh_interval=0,
        access_lifetime=1800,
        expires_in_as_string=False,
        # 30 days unused, as Xero staff say it (the platform table's X2, X7); older pages said 60.
        refresh_idle_lifetime=30 * DAY,
        daily_token_budget=None,
        client_auth=("client_secret_basic",),
        nonce_required=False,
        refresh_needs_offline_access=True,
        code_lifetime=300,
        loopback_any_port=False,
        code_prefix="xc_",
        access_prefix="xat_",
        refresh_prefix="xrt_",
        reused_refresh_answer=(400, "invalid_grant", ""),
        reuse_grace=30 * 60,
    ),
    "twinfield": Profile(
        name="twinfield",
        rotating=True,
        reuse_revokes_chain=False,
        min_refresh_interval=0,
        access_lifetime=3600,
        expires_in_as_string=False,
        refresh_idle_lifetime=None,
        daily_token_budget=None,
        client_auth=("client_secret_basic",),
        nonce_required=True,
        refresh_needs_offline_access=True,
        code_lifetime=300,
        loopback_any_port=False,
        code_prefix="tc_",
        access_prefix="tat_",
        refresh_prefix="trt_",
    ),
    "zoho": Profile(
        name="zoho",
        rotating=False,
        reuse_revokes_chain=False,
        min_refresh_interval=0,
        access_lifetime=3600,
        expires_in_as_string=False,
        refresh_idle_lifetime=None,
        daily_token_budget=None,
        client_auth=("client_secret_post",),
        nonce_required=False,
        refresh_needs_offline_access=False,
        code_lifetime=120,
        loopback_any_port=False,
        code_prefix="1000.zc",
        access_prefix="1000.zat",
        refresh_prefix="1000.zrt",
        refresh_needs_access_type_offline=True,
        refresh_answer_has_refresh_token=False,
        answer_extras=(("api_domain", "https://www.zohoapis.eu"),),
    ),
}

EXACT_COUNTRIES = ("nl", "be", "de", "co.uk", "com", "fr", "es")


def fingerprint(token: str) -> str:
    """The short SHA-256 fingerprint the collection also reports (first 12 hex digits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def _random(prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(36)).decode("ascii").rstrip("=")


class Clock:
    """Wall time plus an offset that tests advance; never goes backwards."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds


@dataclasses.dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    profile: str
    name: str = ""


@dataclasses.dataclass
class User:
    username: str
    password: str
    totp_secret: str
    full_name: str
    division: int


@dataclasses.dataclass
class Code:
    value: str
    client_id: str
    redirect_uri: str
    username: str
    realm: str
    scope: str
    expires_at: float
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    access_type: str | None = None
    used: bool = False


@dataclasses.dataclass
class Chain:
    chain_id: str
    profile: str
    realm: str
    client_id: str
    username: str
    scope: str
    refresh_token: str | None
    refresh_issued_at: float
    access_issued_at: float
    retired: list[str] = dataclasses.field(default_factory=list)
    state: str = "alive"
    reason: str = ""
    token_calls: int = 0
    refreshes: int = 0
    # A profile with a reuse grace: the token presented to the last rotation, and until when it still works.
    previous: str | None = None
    previous_until: float = 0.0

    def report(self) -> dict[str, t.Any]:
        return {
            "chain_id": self.chain_id,
            "profile": self.profile,
            "realm": self.realm,
            "client_id": self.client_id,
            "username": self.username,
            "state": self.state,
            "reason": self.reason,
            "token_calls": self.token_calls,
            "refreshes": self.refreshes,
            "refresh_fingerprint": fingerprint(self.refresh_token) if self.refresh_token else None,
            "retired_fingerprints": [fingerprint(r) for r in self.retired],
        }


@dataclasses.dataclass
class AccessToken:
    chain_id: str
    expires_at: float


@dataclasses.dataclass
class Reply:
    """A protocol answer: status, JSON body (or raw text), extra headers."""

    status: int
    body: t.Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    text: str | None = None
    content_type: str = "application/json"


def oauth_error(status: int, error: str, description: str, **headers: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description}, dict(headers))


DEFAULT_CONFIG: dict[str, t.Any] = {
    # Obviously fake credentials: the simulator is a test fixture, not a vault.
    "clients": [
        {
            "client_id": "00000000-0000-4000-8000-00000000e0e1",
            "client_secret": "FAKE-exact-client-secret-for-tests",
            "redirect_uris": ["https://preauth.example.test/callback"],
            "profile": "exact",
            "name": "preauth demo app",
        },
        {
            "client_id": "strict-demo-client",
            "client_secret": "FAKE-strict-client-secret-for-tests",
            "redirect_uris": ["https://preauth.example.test/callback", "http://127.0.0.1/callback"],
            "profile": "rotating_strict",
            "name": "strict demo app",
        },
        {
            "client_id": "twinfield-demo-client",
            "client_secret": "FAKE-twinfield-client-secret-for-tests",
            "redirect_uris": ["https://preauth.example.test/callback"],
            "profile": "twinfield",
            "name": "Twinfield demo app",
        },
        {
            "client_id": "xero-demo-client",
            "client_secret": "FAKE-xero-client-secret-for-tests",
            "redirect_uris": ["https://preauth.example.test/callback"],
            "profile": "xero",
            "name": "Xero demo app",
        },
        {
            "client_id": "1000.ZOHODEMOCLIENT",
            "client_secret": "FAKE-zoho-client-secret-for-tests",
            "redirect_uris": ["https://preauth.example.test/callback"],
            "profile": "zoho",
            "name": "Zoho demo app",
        },
    ],
    "users": [
        {
            "username": "accountant@example.test",
            "password": "FAKE-password-for-tests",
            "totp_secret": "JBSWY3DPEHPK3PXP",
            "full_name": "Demo Accountant",
            "division": 123456,
        }
    ],
}


@dataclasses.dataclass
class PendingLogin:
    """One person's way through login, second factor and consent."""

    txn: str
    realm: str
    client_id: str
    redirect_uri: str
    state: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    access_type: str | None = None
    step: str = "login"
    username: str | None = None


class Authority:
    """All state of the simulated authorization servers, guarded by one lock."""

    def __init__(self, config: dict[str, t.Any] | None = None) -> None:
        config = config or DEFAULT_CONFIG
        self.lock = threading.RLock()
        self.clock = Clock()
        self.clients: dict[str, Client] = {}
        self.users: dict[str, User] = {}
        for c in config.get("clients", []):
            self.add_client(c)
        for u in config.get("users", []):
            self.users[u["username"]] = User(**u)
        self.logins: dict[str, PendingLogin] = {}
        self.codes: dict[str, Code] = {}
        self.chains: dict[str, Chain] = {}
        self.refresh_index: dict[str, str] = {}  # refresh token (current or retired) -> chain id
        self.access_tokens: dict[str, AccessToken] = {}
        self.daily_calls: dict[tuple[str, str, int], int] = {}
        self.token_calls_total = 0
        self.token_calls_by_outcome: dict[str, int] = {}
        self.verifiers_seen: list[str] = []

    # -- configuration -------------------------------------------------------------------

    def add_client(self, spec: dict[str, t.Any]) -> Client:
        if spec.get("profile") not in PROFILES:
            raise ValueError("unknown profile %r" % spec.get("profile"))
        client = Client(
            client_id=str(spec["client_id"]),
            client_secret=str(spec["client_secret"]),
            redirect_uris=[str(u) for u in spec.get("redirect_uris", [])],
            profile=str(spec["profile"]),
            name=str(spec.get("name", "")),
        )
        with self.lock:
            self.clients[client.client_id] = client
        return client

    # -- authorization -------------------------------------------------------------------

    def redirect_uri_matches(self, client: Client, uri: str) -> bool:
        """Exact string match; loopback URIs may vary the port where the profile allows it."""
        if uri in client.redirect_uris:
            return True
        if not PROFILES[client.profile].loopback_any_port:
            return False
        given = urllib.parse.urlsplit(uri)
        if given.hostname not in ("127.0.0.1", "::1", "localhost") or given.scheme != "http":
            return False
        for registered in client.redirect_uris:
            reg = urllib.parse.urlsplit(registered)
            if reg.hostname == given.hostname and reg.path == given.path and reg.query == given.query:
                return True
        return False

    def begin(self, realm: str, profile: str, query: dict[str, str]) -> tuple[PendingLogin | None, Reply | None]:
        """Validate an authorization request. Returns the login to show, or an error reply.

        Errors about the client or the redirect URI are shown to the person (never redirected,
        RFC 6749 section 4.1.2.1); all other errors go back to the redirect URI.
        """
        client = self.clients.get(query.get("client_id", ""))
        if client is None or client.profile != profile:
            return None, Reply(400, text="Unknown client_id: this application is not registered here.", content_type="text/html")
        redirect_uri = query.get("redirect_uri", "")
        if not self.redirect_uri_matches(client, redirect_uri):
            return None, Reply(
                400,
                text="The redirect_uri does not match the one registered for this application.",
                content_type="text/html",
            )
        state = query.get("state")
        if query.get("response_type") != "code":
            return None, self.redirect_error(redirect_uri, "unsupported_response_type", "Only response_type=code is supported.", state)
        method = query.get("code_challenge_method")
        challenge = query.get("code_challenge")
        if challenge and (method or "plain") not in ("S256", "plain"):
            return None, self.redirect_error(redirect_uri, "invalid_request", "Unsupported code_challenge_method.", state)
        nonce = query.get("nonce")
        if PROFILES[profile].nonce_required and not nonce:
            return None, self.redirect_error(redirect_uri, "invalid_request", "The nonce parameter is required.", state)
        login = PendingLogin(
            txn=secrets.token_urlsafe(16),
            realm=realm,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            state=state,
            scope=query.get("scope", ""),
            code_challenge=challenge,
            code_challenge_method=(method or "plain") if challenge else None,
            nonce=nonce,
            access_type=query.get("access_type"),
        )
        with self.lock:
            self.logins[login.txn] = login
        return login, None

    @staticmethod
    def redirect_error(redirect_uri: str, error: str, description: str, state: str | None) -> Reply:
        params = {"error": error, "error_description": description}
        if state is not None:
            params["state"] = state
        return Reply(302, headers={"Location": _append_query(redirect_uri, params)}, text="")

    def login_step(self, txn: str, step: str) -> PendingLogin | None:
        login = self.logins.get(txn)
        return login if login is not None and login.step == step else None

    def check_password(self, login: PendingLogin, username: str, password: str) -> bool:
        user = self.users.get(username)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return False
        login.username = username
        login.step = "mfa"
        return True

    def check_totp(self, login: PendingLogin, code: str) -> bool:
        from .totp import verify  # the phone's clock is real time, not the simulator's

        user = self.users[login.username or ""]
        if not verify(user.totp_secret, code):
            return False
        login.step = "consent"
        return True

    def decide(self, login: PendingLogin, allow: bool) -> Reply:
        with self.lock:
            self.logins.pop(login.txn, None)
            if not allow:
                return self.redirect_error(login.redirect_uri, "access_denied", "The user denied access.", login.state)
            client = self.clients[login.client_id]
            profile = PROFILES[client.profile]
            code = Code(
                value=_random(profile.code_prefix),
                client_id=login.client_id,
                redirect_uri=login.redirect_uri,
                username=login.username or "",
                realm=login.realm,
                scope=login.scope,
                expires_at=self.clock.now() + profile.code_lifetime,
                code_challenge=login.code_challenge,
                code_challenge_method=login.code_challenge_method,
                nonce=login.nonce,
                access_type=login.access_type,
            )
            self.codes[code.value] = code
        params = {"code": code.value}
        if login.state is not None:
            params["state"] = login.state
        # urlencode turns the "!" of Exact-style codes into %21, as Exact does.
        return Reply(302, headers={"Location": _append_query(login.redirect_uri, params)}, text="")

    # -- token endpoint ------------------------------------------------------------------

    def authenticate_client(self, profile: Profile, form: dict[str, str], basic: tuple[str, str] | None) -> Client | Reply:
        if basic is not None:
            if "client_secret_basic" not in profile.client_auth:
                return oauth_error(401, "invalid_client", "HTTP Basic client authentication is not supported here.")
            client_id, secret = basic
        else:
            if "client_secret_post" not in profile.client_auth:
                return oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication must use HTTP Basic.",
                    **{"WWW-Authenticate": 'Basic realm="token"'},
                )
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or client.profile != profile.name or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        return client

    def _count_call(self, profile: Profile, client: Client, username: str) -> Reply | None:
        key = (client.client_id, username, int(self.clock.now() // DAY))
        used = self.daily_calls.get(key, 0)
        if profile.daily_token_budget is not None and used >= profile.daily_token_budget:
            return Reply(429, text="", content_type="text/plain")
        self.daily_calls[key] = used + 1
        return None

    def token(self, realm: str, profile_name: str, form: dict[str, str], basic: tuple[str, str] | None) -> Reply:
        profile = PROFILES[profile_name]
        with self.lock:
            self.token_calls_total += 1
            auth = self.authenticate_client(profile, form, basic)
            if isinstance(auth, Reply):
                return self._tally(auth)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                return self._tally(self._exchange(realm, profile, auth, form))
            if grant == "refresh_token":
                return self._tally(self._refresh(realm, profile, auth, form))
            return self._tally(oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token."))

    def _tally(self, reply: Reply) -> Reply:
        error = reply.body.get("error") if isinstance(reply.body, dict) and 400 <= reply.status < 500 else None
        key = "%d:%s" % (reply.status, error) if error else str(reply.status)
        self.token_calls_by_outcome[key] = self.token_calls_by_outcome.get(key, 0) + 1
        return reply

    def _exchange(self, realm: str, profile: Profile, client: Client, form: dict[str, str]) -> Reply:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id or code.realm != realm:
            return oauth_error(400, "invalid_grant", "The authorization code is invalid.")
        limited = self._count_call(profile, client, code.username)
        if limited:
            return limited
        if code.used:
            return oauth_error(400, "invalid_grant", "The authorization code has already been used.")
        if self.clock.now() > code.expires_at:
            return oauth_error(400, "invalid_grant", "The authorization code has expired.")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return oauth_error(400, "invalid_grant", "The redirect_uri does not match the authorization request.")
        if form.get("code_verifier"):
            self.verifiers_seen.append(form["code_verifier"])
        if code.code_challenge:
            verifier = form.get("code_verifier")
            if not verifier:
                return oauth_error(400, "invalid_grant", "code_verifier is required.")
            if code.code_challenge_method == "S256":
                computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")
            else:
                computed = verifier
            if not hmac.compare_digest(computed, code.code_challenge):
                return oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge.")
        code.used = True
        now = self.clock.now()
        wants_refresh = not profile.refresh_needs_offline_access or "offline_access" in code.scope.split()
        if profile.refresh_needs_access_type_offline:
            wants_refresh = code.access_type == "offline"
        chain = Chain(
            chain_id=secrets.token_hex(6),
            profile=profile.name,
            realm=realm,
            client_id=client.client_id,
            username=code.username,
            scope=code.scope,
            refresh_token=_random(profile.refresh_prefix) if wants_refresh else None,
            refresh_issued_at=now,
            access_issued_at=now,
            token_calls=1,
        )
        self.chains[chain.chain_id] = chain
        if chain.refresh_token:
            self.refresh_index[chain.refresh_token] = chain.chain_id
        return self._token_reply(profile, chain, now, id_token_nonce=code.nonce)

    def _refresh(self, realm: str, profile: Profile, client: Client, form: dict[str, str]) -> Reply:
        presented = form.get("refresh_token", "")
        chain = self.chains.get(self.refresh_index.get(presented, ""))
        if chain is None or chain.client_id != client.client_id or chain.realm != realm:
            return oauth_error(400, "invalid_grant", "The refresh token is invalid.")
        chain.token_calls += 1
        limited = self._count_call(profile, client, chain.username)
        if limited:
            return limited
        now = self.clock.now()
        if chain.state == "expired" and presented == chain.refresh_token:
            return self._expired(profile, chain, now)  # asked again, the platform says the same
        if chain.state != "alive":
            return oauth_error(400, "invalid_grant", "The refresh token is no longer valid (%s)." % chain.state)
        if presented != chain.refresh_token:
            if presented == chain.previous and now <= chain.previous_until and chain.state == "alive":
                # The answer to the last rotation was lost: within the grace the token presented to it works again, and the
                # chain goes on from this answer (the lost token is void).
                chain.retired.append(chain.refresh_token or "")
                chain.refresh_token = _random(profile.refresh_prefix)
                self.refresh_index[chain.refresh_token] = chain.chain_id
                chain.refresh_issued_at = now
                chain.access_issued_at = now
                chain.refreshes += 1
                return self._token_reply(profile, chain, now)
            if profile.reuse_revokes_chain:
                self._end(chain, "revoked", "a rotated refresh token was presented again")
                return oauth_error(400, "invalid_grant", "Refresh token reuse detected; the token family has been revoked.")
            return oauth_error(*profile.reused_refresh_answer)
        if profile.refresh_idle_lifetime is not None and now > chain.refresh_issued_at + profile.refresh_idle_lifetime:
            self._end(chain, "expired", "refresh token unused for too long")
            return self._expired(profile, chain, now)
        if profile.min_refresh_interval and now - chain.access_issued_at < profile.min_refresh_interval:
            description = "Rate limit exceeded: access_token not expired"
            return oauth_error(400, "access_denied", description, Reason="TooEarlyToRefreshTokens: %s" % description)
        if profile.rotating:
            if profile.reuse_grace is not None:
                chain.previous, chain.previous_until = presented, now + profile.reuse_grace
            chain.retired.append(presented)
            chain.refresh_token = _random(profile.refresh_prefix)
            self.refresh_index[chain.refresh_token] = chain.chain_id
        chain.refresh_issued_at = now
        chain.access_issued_at = now
        chain.refreshes += 1
        return self._token_reply(profile, chain, now, refreshed=True)

    @staticmethod
    def _expired(profile: Profile, chain: Chain, now: float) -> Reply:
        status, error, description = profile.expired_refresh_answer
        expired_at = chain.refresh_issued_at + (profile.refresh_idle_lifetime or 0)
        return oauth_error(status, error, description.format(expired_at=_exact_time(expired_at), now=_exact_time(now)))

    def _end(self, chain: Chain, state: str, reason: str) -> None:
        chain.state = state
        chain.reason = reason
        for value, token in list(self.access_tokens.items()):
            if token.chain_id == chain.chain_id:
                del self.access_tokens[value]

    def _token_reply(self, profile: Profile, chain: Chain, now: float, id_token_nonce: str | None = None, refreshed: bool = False) -> Reply:
        access = _random(profile.access_prefix)
        self.access_tokens[access] = AccessToken(chain.chain_id, now + profile.access_lifetime)
        body: dict[str, t.Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": str(profile.access_lifetime) if profile.expires_in_as_string else profile.access_lifetime,
        }
        if chain.refresh_token and (profile.refresh_answer_has_refresh_token or not refreshed):
            body["refresh_token"] = chain.refresh_token
        if chain.scope and profile.name != "exact":
            body["scope"] = chain.scope
        body.update(profile.answer_extras)
        return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def revoke(self, profile_name: str, form: dict[str, str], basic: tuple[str, str] | None) -> Reply:
        """RFC 7009: 200 for any token, known or not; revoking a refresh token ends its chain."""
        profile = PROFILES[profile_name]
        with self.lock:
            auth = self.authenticate_client(profile, form, basic)
            if isinstance(auth, Reply):
                return auth
            token = form.get("token", "")
            chain = self.chains.get(self.refresh_index.get(token, ""))
            if chain is not None and chain.client_id == auth.client_id and token == chain.refresh_token:
                self._end(chain, "revoked", "revoked by the client")
            elif token in self.access_tokens and self.chains[self.access_tokens[token].chain_id].client_id == auth.client_id:
                del self.access_tokens[token]
            return Reply(200, text="", content_type="text/plain")

    # -- resource API --------------------------------------------------------------------

    def whoami(self, realm: str, bearer: str | None) -> Reply:
        with self.lock:
            token = self.access_tokens.get(bearer or "")
            if token is None or self.clock.now() >= token.expires_at:
                return Reply(401, text="", content_type="text/plain", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            chain = self.chains[token.chain_id]
            if chain.realm != realm or chain.state != "alive":
                return Reply(401, text="", content_type="text/plain", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            user = self.users[chain.username]
            if chain.profile == "exact":
                return Reply(
                    200,
                    {"d": {"results": [{"UserName": user.username, "FullName": user.full_name, "CurrentDivision": user.division}]}},
                )
            return Reply(200, {"sub": user.username, "name": user.full_name, "email": user.username})

    # -- reports -------------------------------------------------------------------------

    def secret_values(self) -> dict[str, list[str]]:
        """Every secret this server issued, received or holds, by kind (for leak scans in tests)."""
        with self.lock:
            return {
                "client secret": [c.client_secret for c in self.clients.values()],
                "user password": [u.password for u in self.users.values()],
                "totp secret": [u.totp_secret for u in self.users.values()],
                "authorization code": list(self.codes),
                "pkce verifier": list(self.verifiers_seen),
                "access token": list(self.access_tokens),
                "refresh token": [c.refresh_token for c in self.chains.values() if c.refresh_token]
                + [r for c in self.chains.values() for r in c.retired],
            }

    def report(self) -> dict[str, t.Any]:
        with self.lock:
            chains = [c.report() for c in self.chains.values()]
            return {
                "clock": {"now": self.clock.now(), "offset": self.clock.offset},
                "token_calls_total": self.token_calls_total,
                "token_calls_by_outcome": dict(self.token_calls_by_outcome),
                "chains_alive": sum(1 for c in chains if c["state"] == "alive"),
                "chains_revoked": sum(1 for c in chains if c["state"] == "revoked"),
                "chains_expired": sum(1 for c in chains if c["state"] == "expired"),
                "chains": chains,
                "daily_token_calls": [
                    {"client_id": k[0], "username": k[1], "day": k[2], "calls": v} for k, v in sorted(self.daily_calls.items())
                ],
            }


def _append_query(uri: str, params: dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode(params)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _exact_time(ts: float) -> str:
    """Exact's US-style timestamps: 10/11/2022 9:18:20 PM."""
    tm = time.gmtime(ts)
    hour = tm.tm_hour % 12 or 12
    return "%d/%d/%d %d:%02d:%02d %s" % (tm.tm_mon, tm.tm_mday, tm.tm_year, hour, tm.tm_min, tm.tm_sec, "PM" if tm.tm_hour >= 12 else "AM")
