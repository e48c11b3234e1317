"""The HTTP side of the simulator: routing, faults and the test-only control API.

URL layout (all on one port, 127.0.0.1 only):

* Exact Online, one base URL per country as a path prefix: ``/nl``, ``/be``, ``/de``, ``/co.uk``,
  ``/com``, ``/fr``, ``/es``; under each ``/api/oauth2/auth``, ``/api/oauth2/token`` and
  ``/api/v1/current/Me``. A chain started under ``/nl`` only works under ``/nl``.
* ``rotating_strict`` (generic OpenID Connect): issuer ``/strict`` with
  ``/strict/.well-known/openid-configuration``, ``/strict/authorize``, ``/strict/token``,
  ``/strict/userinfo`` and ``/strict/revoke`` (RFC 7009).
* ``xero``: ``/xero`` with ``/identity/connect/authorize``, ``/connect/token`` and ``/connections``.
* ``twinfield``: ``/twinfield/auth/authentication`` with ``/connect/authorize``,
  ``/connect/token``, ``/connect/userinfo`` and its discovery document.
* Login pages live below each authorize URL (``.../login``, ``.../mfa``, ``.../consent``).
* ``/_sim/...``: the control API, answered only when the simulator was started with control on.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import http.server
import json
import socket
import struct
import threading
import time
import typing as t
import urllib.parse

from . import pages
from .authority import EXACT_COUNTRIES, DEFAULT_CONFIG, Authority, Reply


@dataclasses.dataclass(frozen=True)
class Realm:
    """One simulated authorization server: a path prefix, a profile and its endpoint paths."""

    name: str
    profile: str
    prefix: str
    authorize: str
    token: str
    me: str
    revoke: str | None = None
    discovery: str | None = None

    def paths(self) -> dict[str, str]:
        found = {"authorize": self.authorize, "token": self.token, "me": self.me}
        if self.revoke:
            found["revoke"] = self.revoke
        if self.discovery:
            found["discovery"] = self.discovery
        return {k: self.prefix + v for k, v in found.items()}


REALMS: list[Realm] = [
    Realm(
        name=country,
        profile="exact",
        prefix="/" + country,
        authorize="/api/oauth2/auth",
        token="/api/oauth2/token",
        me="/api/v1/current/Me",
    )
    for country in EXACT_COUNTRIES
] + [
    Realm(
        name="strict",
        profile="rotating_strict",
        prefix="/strict",
        authorize="/authorize",
        token="/token",
        me="/userinfo",
        revoke="/revoke",
        discovery="/.well-known/openid-configuration",
    ),
    Realm(
        name="xero",
        profile="xero",
        prefix="/xero",
        authorize="/identity/connect/authorize",
        token="/connect/token",
        me="/connections",
    ),
    Realm(
        name="zoho",
        profile="zoho",
        prefix="/zoho",
        authorize="/oauth/v2/auth",
        token="/oauth/v2/token",
        # Not a who-am-I the platform table uses (its whoami_url is None): the simulator's realms all have one.
        me="/oauth/user/info",
        revoke="/oauth/v2/token/revoke",
    ),
    Realm(
        name="twinfield",
        profile="twinfield",
        prefix="/twinfield/auth/authentication",
        authorize="/connect/authorize",
        token="/connect/token",
        me="/connect/userinfo",
        discovery="/.well-known/openid-configuration",
    ),
]

FAULT_KINDS = (
    "http_500_before",
    "http_500_after",
    "timeout_after",
    "reset_before",
    "html_502",
    "http_429",
    "http_503",
    # Hostile answers (see README): a real answer changed after the server committed it, an error
    # that echoes what the client sent, a body dripped slowly, a body far too large.
    "patch_after",
    "echo_before",
    "drip_after",
    "huge_before",
)
FAULT_ENDPOINTS = ("token", "me", "discovery", "revoke", "any")

APIGEE_FAULT = {
    "fault": {
        "faultstring": "Failed to execute the ExtractVariables: ExtractAccessToken",
        "detail": {"errorcode": "steps.extractvariables.ExecutionFailed"},
    }
}


@dataclasses.dataclass
class Fault:
    kind: str
    endpoint: str = "token"
    count: int = 1
    seconds: float = 5.0
    retry_after: str | None = None
    minutely_reset_in: float | None = None
    # patch_after: the status to answer with instead, keys to drop from the JSON body, values to set in it.
    # echo_before: the status of its error answer (default 400), and keys to drop from it and values to set in it (a
    # platform's own error shape, such as HubSpot's status and message); string values repeat request fields as below.
    status: int | None = None
    drop: list[str] = dataclasses.field(default_factory=list)
    values: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    # echo_before: an OAuth error whose description repeats request fields: "{refresh_token}", "{client_secret}", ...
    error: str = "invalid_request"
    description: str = "The request was refused: {refresh_token}"
    # drip_after: seconds between the body's bytes. huge_before: the body's size, and whether it is sent chunked.
    interval: float = 0.5
    size: int = 200 * 1024 * 1024
    chunked: bool = False

    @classmethod
    def from_dict(cls, spec: dict[str, t.Any]) -> Fault:
        if spec.get("kind") not in FAULT_KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(FAULT_KINDS))
        if spec.get("endpoint", "token") not in FAULT_ENDPOINTS:
            raise ValueError("endpoint must be one of %s" % ", ".join(FAULT_ENDPOINTS))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(spec) - fields
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        fault = cls(**spec)
        if fault.retry_after is not None:
            fault.retry_after = str(fault.retry_after)
        return fault


def _patched(reply: Reply, fault: Fault) -> Reply:
    """The committed answer as a broken server would send it: another status, keys dropped or set."""
    body = dict(reply.body) if isinstance(reply.body, dict) else reply.body
    if isinstance(body, dict):
        for key in fault.drop:
            body.pop(key, None)
        body.update(fault.values)
    headers = dict(reply.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    return Reply(fault.status or reply.status, body, headers, reply.text, reply.content_type)


def _variants(value: str) -> set[bytes]:
    """A secret as it may appear: raw, URL-encoded (twice, too), or escaped inside JSON."""
    once = urllib.parse.quote(value, safe="")
    return {v.encode("utf-8") for v in (value, once, urllib.parse.quote(once, safe=""), json.dumps(value)[1:-1], urllib.parse.quote_plus(value)) if v}


def scan_files(secrets: dict[str, list[str]], paths: list[str], exclude: list[str]) -> dict[str, t.Any]:
    """Look for every known secret in files (directories are walked); report kinds, never values.

    ``exclude``: files, or directories whose every file is left out (an installed collection's own tests hold the
    simulator's fake secrets)."""
    import os
    import stat

    skipped = {os.path.realpath(p) for p in exclude}
    skipped_dirs = tuple(p + os.sep for p in skipped if os.path.isdir(p))
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, names in os.walk(path):
                files.extend(os.path.join(root, n) for n in names)
        elif os.path.isfile(path):
            files.append(path)
    needles = [(kind, variant) for kind, values in secrets.items() for value in values for variant in _variants(value)]
    leaks = []
    scanned = 0
    for name in files:
        real = os.path.realpath(name)
        if real in skipped or real.startswith(skipped_dirs):
            continue
        st = os.lstat(name)
        # Only regular files hold content: not a link, nor a socket (a PostgreSQL server's, in a normal user's demo workspace) or a FIFO.
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 1024 * 1024:
            continue
        with open(name, "rb") as handle:
            content = handle.read()
        scanned += 1
        kinds = sorted({kind for kind, needle in needles if needle in content})
        leaks.extend({"path": name, "kind": kind} for kind in kinds)
    return {"files": scanned, "values": sum(len(v) for v in secrets.values()), "leaks": leaks}


class Simulator:
    """An authorization server on 127.0.0.1, served from a background thread."""

    def __init__(self, config: dict[str, t.Any] | None = None, control: bool = False, port: int = 0) -> None:
        self.authority = Authority(config or DEFAULT_CONFIG)
        self.control = control
        self.faults: collections.deque[Fault] = collections.deque()
        self.fault_lock = threading.Lock()
        self.fault_bytes_sent = 0  # body bytes that drip_after and huge_before got out before the client stopped reading
        self.token_requests = 0  # every request to a token endpoint, faulted ones included
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.simulator = self
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> Simulator:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()

    def realm_urls(self) -> dict[str, dict[str, t.Any]]:
        return {r.name: {"profile": r.profile, **{k: self.base_url + v for k, v in r.paths().items()}} for r in REALMS}

    def add_fault(self, spec: dict[str, t.Any]) -> Fault:
        fault = Fault.from_dict(spec)
        with self.fault_lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.fault_lock:
            for fault in self.faults:
                if fault.endpoint in (endpoint, "any"):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def discovery(self, realm: Realm) -> dict[str, t.Any]:
        base = self.base_url + realm.prefix
        doc = {
            "issuer": base,
            "authorization_endpoint": base + realm.authorize,
            "token_endpoint": base + realm.token,
            "userinfo_endpoint": base + realm.me,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                m for m in ("client_secret_post", "client_secret_basic") if m in _profile(realm).client_auth
            ],
        }
        if realm.revoke:
            doc["revocation_endpoint"] = base + realm.revoke
        return doc


def _profile(realm: Realm):
    from .authority import PROFILES

    return PROFILES[realm.profile]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    simulator: Simulator


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, keep-alive clients wait for
    # delayed ACKs (about 40 ms per request).
    disable_nagle_algorithm = True
    server_version = "preauth-simulator/1"
    server: _Server

    # Request lines carry codes and states in their query strings: log nothing of them.
    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - signature of the base class
        return

    # -- plumbing ------------------------------------------------------------------------

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self) -> dict[str, str]:
        parsed = urllib.parse.parse_qs(self._body().decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
        user, _sep, password = decoded.partition(":")
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)

    def _send(self, reply: Reply) -> None:
        if reply.text is not None:
            payload = reply.text.encode("utf-8")
            ctype = reply.content_type + ("; charset=utf-8" if reply.content_type.startswith("text/") else "")
        else:
            payload = json.dumps(reply.body).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _json(self, status: int, body: t.Any) -> None:
        self._send(Reply(status, body))

    def _html(self, status: int, text: str) -> None:
        self._send(Reply(status, text=text, content_type="text/html"))

    def _route(self) -> tuple[Realm, str] | None:
        path = urllib.parse.urlsplit(self.path).path
        for realm in REALMS:
            if path == realm.prefix or path.startswith(realm.prefix + "/"):
                return realm, path[len(realm.prefix) :]
        return None

    # -- verbs ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith("/_sim/"):
            return self._control("GET", split.path)
        if split.path == "/":
            return self._json(200, {"simulator": "preauth.oauth2", "realms": self.sim.realm_urls()})
        routed = self._route()
        if routed is None:
            return self._json(404, {"error": "not_found"})
        realm, rest = routed
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        if realm.discovery and rest == realm.discovery:
            fault = self.sim.take_fault("discovery")
            if fault is not None and self._fault_before(fault, query):
                return None
            return self._json(200, self.sim.discovery(realm))
        if rest == realm.authorize:
            login, error = self.sim.authority.begin(realm.name, realm.profile, query)
            if error is not None:
                return self._send(error if error.status == 302 else Reply(400, text=pages.error(error.text or ""), content_type="text/html"))
            assert login is not None
            app = self.sim.authority.clients[login.client_id].name or login.client_id
            return self._html(200, pages.login(realm.prefix + realm.authorize + "/login", login.txn, app))
        if rest == realm.me:
            return self._me(realm)
        return self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith("/_sim/"):
            return self._control("POST", split.path)
        routed = self._route()
        if routed is None:
            self._body()
            return self._json(404, {"error": "not_found"})
        realm, rest = routed
        if rest == realm.token:
            return self._token(realm)
        if realm.revoke and rest == realm.revoke:
            form = self._form()
            fault = self.sim.take_fault("revoke")
            if fault is not None and self._fault_before(fault, form, self._basic()):
                return None
            return self._send(self.sim.authority.revoke(realm.profile, form, self._basic()))
        if rest.startswith(realm.authorize + "/"):
            return self._login_step(realm, rest[len(realm.authorize) + 1 :])
        self._body()
        return self._json(404, {"error": "not_found"})

    # -- login pages ---------------------------------------------------------------------

    def _login_step(self, realm: Realm, step: str) -> None:
        form = self._form()
        authority = self.sim.authority
        base = realm.prefix + realm.authorize
        wanted = {"login": "login", "mfa": "mfa", "consent": "consent"}.get(step)
        login = authority.login_step(form.get("txn", ""), wanted) if wanted else None
        if login is None or login.realm != realm.name:
            return self._html(400, pages.error("This sign-in attempt is unknown or already finished. Start again from the application."))
        if step == "login":
            if not authority.check_password(login, form.get("username", ""), form.get("password", "")):
                app = authority.clients[login.client_id].name
                return self._html(200, pages.login(base + "/login", login.txn, app, "User name or password is not correct."))
            return self._html(200, pages.second_factor(base + "/mfa", login.txn))
        if step == "mfa":
            if not authority.check_totp(login, form.get("totp", "")):
                return self._html(200, pages.second_factor(base + "/mfa", login.txn, "The code is not correct. Try the next code."))
            app = authority.clients[login.client_id].name
            return self._html(200, pages.consent(base + "/consent", login.txn, app, login.username or "", login.scope))
        return self._send(authority.decide(login, form.get("decision") == "allow"))

    # -- token and API endpoints, with injected faults -------------------------------------

    def _token(self, realm: Realm) -> None:
        form = self._form()
        basic = self._basic()
        with self.sim.fault_lock:
            self.sim.token_requests += 1
        fault = self.sim.take_fault("token")
        if fault is not None and self._fault_before(fault, form, basic):
            return
        reply = self.sim.authority.token(realm.name, realm.profile, form, basic)
        if fault is not None and fault.kind == "http_500_after":
            return self._json(500, APIGEE_FAULT)
        if fault is not None and fault.kind == "timeout_after":
            time.sleep(fault.seconds)
            self._drop()
            return
        if fault is not None and fault.kind == "patch_after":
            return self._send(_patched(reply, fault))
        if fault is not None and fault.kind == "drip_after":
            return self._drip(reply, fault.interval)
        return self._send(reply)

    def _me(self, realm: Realm) -> None:
        fault = self.sim.take_fault("me")
        if fault is not None and self._fault_before(fault):
            return
        header = self.headers.get("Authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        return self._send(self.sim.authority.whoami(realm.name, bearer))

    def _fault_before(self, fault: Fault, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None) -> bool:
        """Answer a fault that happens before the server does any work. True when answered."""
        if fault.kind == "echo_before":
            sent = dict(form or {})
            if basic is not None:
                sent.setdefault("client_id", basic[0])
                sent.setdefault("client_secret", basic[1])

            def echoed(text: str) -> str:
                for name, value in sent.items():
                    text = text.replace("{%s}" % name, value)
                return text

            body: dict[str, t.Any] = {"error": fault.error, "error_description": echoed(fault.description)}
            for key in fault.drop:
                body.pop(key, None)
            body.update({k: echoed(v) if isinstance(v, str) else v for k, v in fault.values.items()})
            self._json(fault.status or 400, body)
        elif fault.kind == "huge_before":
            self._huge(fault.size, fault.chunked)
        elif fault.kind == "http_500_before":
            self._json(500, APIGEE_FAULT)
        elif fault.kind == "html_502":
            self._html(502, pages.bad_gateway())
        elif fault.kind == "reset_before":
            self._drop(reset=True)
        elif fault.kind in ("http_429", "http_503"):
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.minutely_reset_in is not None:
                # Absolute times in headers use real time: tests age their stores instead of the
                # controller's clock (simulator.timewarp), so only real time means the same to both.
                reset_ms = int((time.time() + fault.minutely_reset_in) * 1000)
                headers["X-RateLimit-Minutely-Reset"] = str(reset_ms)
                headers["X-RateLimit-Minutely-Remaining"] = "0"
            self._send(Reply(429 if fault.kind == "http_429" else 503, text="", content_type="text/plain", headers=headers))
        else:
            return False
        return True

    def _drip(self, reply: Reply, interval: float) -> None:
        """Send the real answer's headers at once and its body one byte at a time, ``interval`` seconds apart."""
        payload = json.dumps(reply.body).encode("utf-8") if reply.text is None else reply.text.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.flush()
            for position in range(len(payload)):
                time.sleep(interval)
                self.wfile.write(payload[position : position + 1])
                self.wfile.flush()
                self._count_sent(1)
        except OSError:
            pass  # the client gave up: that is the point

    def _huge(self, size: int, chunked: bool) -> None:
        """A 200 whose body is ``size`` bytes of JSON whitespace (then ``{}``), with or without a Content-Length."""
        block = b" " * 65536
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size + 2))
        self.end_headers()
        self.close_connection = True
        left = size
        try:
            while left > 0:
                part = block[: min(left, len(block))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                left -= len(part)
                self._count_sent(len(part))
            self.wfile.write(b"2\r\n{}\r\n0\r\n\r\n" if chunked else b"{}")
        except OSError:
            pass

    def _count_sent(self, count: int) -> None:
        with self.sim.fault_lock:
            self.sim.fault_bytes_sent += count

    def _drop(self, reset: bool = False) -> None:
        """Close the connection without an answer (a lost response)."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- control API (tests and the demo only) -------------------------------------------

    def _control(self, verb: str, path: str) -> None:
        body = self._body() if verb == "POST" else b""
        if not self.sim.control:
            return self._json(404, {"error": "not_found"})
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return self._json(400, {"error": "body must be JSON"})
        try:
            status, answer = self._control_action(verb, path, data)
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(400, {"error": str(exc)})
        return self._json(status, answer)

    def _control_action(self, verb: str, path: str, data: dict[str, t.Any]) -> tuple[int, t.Any]:
        authority = self.sim.authority
        if (verb, path) == ("GET", "/_sim/state"):
            with self.sim.fault_lock:
                sent, requests = self.sim.fault_bytes_sent, self.sim.token_requests
            return 200, dict(authority.report(), fault_bytes_sent=sent, token_requests_total=requests)
        if (verb, path) == ("GET", "/_sim/realms"):
            return 200, self.sim.realm_urls()
        if (verb, path) == ("POST", "/_sim/clock"):
            authority.clock.advance(float(data["advance"]))
            return 200, {"now": authority.clock.now(), "offset": authority.clock.offset}
        if (verb, path) == ("POST", "/_sim/faults"):
            fault = self.sim.add_fault(data)
            return 200, {"queued": dataclasses.asdict(fault)}
        if (verb, path) == ("GET", "/_sim/faults"):
            with self.sim.fault_lock:
                return 200, [dataclasses.asdict(f) for f in self.sim.faults]
        if (verb, path) == ("POST", "/_sim/clients"):
            client = authority.add_client(data)
            return 200, {"client_id": client.client_id, "profile": client.profile}
        if (verb, path) == ("POST", "/_sim/scan"):
            return 200, scan_files(authority.secret_values(), [str(p) for p in data["paths"]], [str(p) for p in data.get("exclude", [])])
        if (verb, path) == ("POST", "/_sim/login"):
            from .browser import LoginFailed, ScriptedBrowser

            user = authority.users[data.get("username") or next(iter(authority.users))]
            browser = ScriptedBrowser(timeout=float(data.get("timeout", 10)))
            try:
                landed = browser.login(
                    str(data["url"]),
                    username=user.username,
                    password=str(data.get("password") or user.password),
                    totp_secret=user.totp_secret,
                    decision=str(data.get("decision", "allow")),
                )
            except (LoginFailed, OSError, ValueError) as exc:
                return 409, {"error": "%s: %s" % (type(exc).__name__, exc), "steps": browser.steps}
            return 200, {"redirect_url": landed, "steps": browser.steps}
        return 404, {"error": "no control action %s %s" % (verb, path)}
