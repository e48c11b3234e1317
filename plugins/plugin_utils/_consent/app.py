# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The consent service's web application (Flask): invitation page, callback, result pages.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Flow: ``GET /i/<token>`` shows who asks and the form; ``POST`` checks it (CSRF token tied to the
invitation), stores an attempt under the SHA-256 of a new state and sends the browser to the
platform with PKCE, the verifier derived from the state with the service's key (nothing secret is
stored). ``/callback`` (GET, or POST for ``response_mode=form_post``) finds the attempt and, in one
transaction with the invitation locked, exchanges the code, seals the answer to the store's landing
key, writes the landing and marks the invitation used. A state that belongs to no attempt is an
ordinary preauthentication: the page shows the landed address to copy.

The link token, the state and the code appear in no log line, no page and no table (only hashes).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
import typing as t
import urllib.parse

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthClient, OAuthError, build_authorization_url, pkce_challenge
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import CLIENT_AUTH_METHODS
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import landing
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent import i18n
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import Config
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.db import ConsentDb, ConsentDbError, status
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.invitation import FORM_FIELDS, MAX_TEXT, Plan, Refused, clean, plan

try:
    import flask
    from werkzeug.exceptions import HTTPException

    HAS_FLASK = True
    _Base: t.Any = flask.Flask
except ImportError:  # pragma: no cover - sanity's import test, a controller without the service's packages
    HAS_FLASK = False
    _Base = object

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_CONTENT = 16 * 1024
CSRF_LIFETIME = 2 * 3600
MAX_USER_AGENT = 300
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
# The result pages a callback sends the browser to (so a reload never repeats a callback).
RESULT_PAGES = {"success": 200, "deny": 200, "expired": 410, "used": 409, "revoked": 410, "unknown": 404, "too-late": 410}
log = logging.getLogger("preauth.oauth2.consent")
access_log = logging.getLogger("preauth.oauth2.consent.access")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shown_path(path: str) -> str:
    """A request path as logs show it: never the link token."""
    return re.sub(r"\A/i/[^/]*", "/i/(hidden)", path)


class RateLimiter:
    """A token bucket per client address, in process memory, for at most ``size`` addresses (least recently seen dropped)."""

    def __init__(self, rate: float, burst: int, size: int) -> None:
        self.rate, self.burst, self.size = rate, burst, size
        self.buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self.lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, seen = self.buckets.pop(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - seen) * self.rate)
            allowed = tokens >= 1.0
            self.buckets[address] = (tokens - 1.0 if allowed else tokens, now)
            while len(self.buckets) > self.size:
                self.buckets.popitem(last=False)
            return allowed


class ConsentFlask(_Base):
    def log_exception(self, exc_info: t.Any) -> None:
        # Flask's own line names request.path, which holds the link token.
        log.error("unexpected error on %s %s (reference %s)", flask.request.method, shown_path(flask.request.path), flask.g.get("ref"), exc_info=exc_info)


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\0".join(parts).encode("utf-8"), hashlib.sha256).digest()


def csrf_token(key: bytes, token_sha256: str, now: float | None = None) -> str:
    stamp = str(int(time.time() if now is None else now))
    return stamp + "." + _mac(key, "csrf", token_sha256, stamp).hex()


def csrf_ok(key: bytes, token_sha256: str, value: t.Any, now: float | None = None) -> bool:
    if not isinstance(value, str) or "." not in value or len(value) > 100:
        return False
    stamp, _dot, mac = value.partition(".")
    if not stamp.isdigit() or not 0 <= (time.time() if now is None else now) - int(stamp) <= CSRF_LIFETIME:
        return False
    return hmac.compare_digest(mac, _mac(key, "csrf", token_sha256, stamp).hex())


def pkce_verifier(key: bytes, state: str) -> str:
    """RFC 7636 verifier (43 characters) derived from the state: nothing to store, nothing to leak from the database."""
    return base64.urlsafe_b64encode(_mac(key, "pkce", state)).decode("ascii").rstrip("=")


def oidc_nonce(key: bytes, state: str) -> str:
    return base64.urlsafe_b64encode(_mac(key, "nonce", state)).decode("ascii").rstrip("=")


def read_form(values: t.Mapping[str, t.Any]) -> tuple[dict[str, str], dict[str, tuple[str, dict[str, t.Any]]]]:
    """The form's fields, cleaned, and the errors by field (catalog key and values)."""
    form: dict[str, str] = {}
    errors: dict[str, tuple[str, dict[str, t.Any]]] = {}
    for field in FORM_FIELDS:
        raw = values.get(field)
        value = clean(raw, MAX_TEXT + 1)
        if not value:
            errors[field] = ("err_required", {})
        elif len(value) > MAX_TEXT:
            errors[field] = ("err_long", {"n": MAX_TEXT})
        elif field == "email" and not _EMAIL.fullmatch(value):
            errors[field] = ("err_email", {})
        form[field] = value[:MAX_TEXT]
    if values.get("consent") != "yes":
        errors["consent"] = ("err_consent", {})
    return form, errors


def create_app(config: Config, db: ConsentDb, client: OAuthClient | None = None) -> t.Any:
    if not HAS_FLASK:
        raise PreauthError("the consent service needs the Python packages flask and waitress: pip install flask waitress")
    app = ConsentFlask(__name__, template_folder=os.path.join(HERE, "templates"), static_folder=os.path.join(HERE, "static"), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=MAX_CONTENT, MAX_FORM_MEMORY_SIZE=MAX_CONTENT, SEND_FILE_MAX_AGE_DEFAULT=0, TEMPLATES_AUTO_RELOAD=False)
    oauth = client or OAuthClient(timeout=config.token_timeout, ca_path=config.ca_path)
    limiter = RateLimiter(config.rate_per_second, config.rate_burst, config.max_addresses)
    key = config.secret_key

    def address() -> str:
        if config.trusted_proxy:
            forwarded = [part.strip() for part in flask.request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
            if forwarded:
                return clean(forwarded[-1], 64)
        return clean(flask.request.remote_addr or "", 64)

    def say(name: str, **values: t.Any) -> str:
        return i18n.text(flask.g.lang, name, **values)

    def page(template: str, status_code: int = 200, **values: t.Any) -> t.Any:
        response = flask.make_response(flask.render_template(template, say=say, lang=flask.g.lang, **values), status_code)
        return response

    def message(name: str, status_code: int, switch: bool = False, **values: t.Any) -> t.Any:
        return page("message.html", status_code, page=name, title=say(name + "_title", **values), body=say(name + "_body", **values), switch=switch, **values)

    def platform_error(reason: str) -> t.Any:
        ref = flask.g.ref
        log.warning("platform error (reference %s): %s", ref, reason)
        return page("platform_error.html", 502, page="platform", title=say("platform_title"), body=say("platform_body"), reason=reason, ref=ref, switch=False)

    @app.before_request
    def before() -> t.Any:
        flask.g.started = time.monotonic()
        flask.g.ref = secrets.token_hex(4)
        flask.g.form_action = ""
        asked = flask.request.args.get("lang")
        flask.g.lang = i18n.choose(asked, flask.request.cookies.get("lang"), flask.request.accept_languages.best_match)
        flask.g.set_lang = asked if asked in i18n.LANGUAGES else None
        if flask.request.path.startswith(("/i/", "/callback")) and not limiter.allow(address()):
            return message("rate", 429)
        return None

    @app.after_request
    def headers(response: t.Any) -> t.Any:
        form_action = "'self'" + (" " + flask.g.form_action if flask.g.get("form_action") else "")
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action %s; frame-ancestors 'none'; base-uri 'none'" % form_action
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if flask.g.get("set_lang"):
            response.set_cookie("lang", flask.g.set_lang, max_age=365 * 86400, secure=config.secure_cookies, httponly=True, samesite="Lax")
        access_log.info(
            "%s %s %s %d %.0fms",
            address(),
            flask.request.method,
            shown_path(flask.request.path),
            response.status_code,
            (time.monotonic() - flask.g.get("started", time.monotonic())) * 1000,
        )
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: t.Any) -> t.Any:
        if exc.code == 413:
            return message("large", 413)
        if exc.code == 404:
            return message("notfound", 404)
        if exc.code == 405:
            return message("notfound", 405)
        return message("error", exc.code or 500, ref=flask.g.get("ref", "-"))

    @app.errorhandler(Exception)
    def unexpected(exc: BaseException) -> t.Any:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        if isinstance(exc, ConsentDbError):
            log.error("database error (reference %s): %s", flask.g.get("ref"), exc.msg)
            return message("error", 503, ref=flask.g.get("ref", "-"))
        log.error("unexpected %s (reference %s)", type(exc).__name__, flask.g.get("ref"))
        return message("error", 500, ref=flask.g.get("ref", "-"))

    @app.get("/healthz")
    def healthz() -> t.Any:
        return flask.Response("ok\n", mimetype="text/plain")

    @app.get("/p/<name>")
    def result(name: str) -> t.Any:
        if name not in RESULT_PAGES:
            flask.abort(404)
        return message(name.replace("-", "_"), RESULT_PAGES[name], switch=True)

    def find(token: str) -> tuple[dict[str, t.Any] | None, t.Any]:
        """The open invitation of a link token, or the page to answer with (the same page for unknown and malformed)."""
        if not _TOKEN.fullmatch(token):
            return None, message("unknown", 404, switch=True)
        row = db.invitation(sha256(token))
        if row is None:
            return None, message("unknown", 404, switch=True)
        found = status(row)
        if found != "open":
            return None, message(found, RESULT_PAGES[found], switch=True)
        return row, None

    def invitation_page(chosen: Plan, token_sha256: str, form: t.Mapping[str, str], errors: t.Mapping[str, t.Any], status_code: int = 200) -> t.Any:
        flask.g.form_action = chosen.authorize_origin
        shown_errors = {field: say(name, **values) for field, (name, values) in errors.items()}
        return page(
            "invitation.html",
            status_code,
            page="invitation",
            switch=True,
            title=say("invite_title", app=chosen.shown["app"], platform=chosen.shown["platform"]),
            shown=chosen.shown,
            form=form,
            errors=shown_errors,
            fields=FORM_FIELDS,
            csrf=csrf_token(key, token_sha256),
            checked=flask.request.form.get("consent") == "yes",
        )

    @app.route("/i/<token>", methods=["GET", "POST"])
    def invitation(token: str) -> t.Any:
        row, answer = find(token)
        if row is None:
            return answer
        try:
            chosen = plan(row, config)
        except Refused as exc:
            return platform_error(exc.msg)
        if flask.request.args.get("lang") is None and flask.request.cookies.get("lang") is None and chosen.language in i18n.LANGUAGES:
            flask.g.lang = chosen.language
        token_sha256 = sha256(token)
        if flask.request.method == "GET":
            return invitation_page(chosen, token_sha256, chosen.prefill, {})
        form, errors = read_form(flask.request.form)
        if not csrf_ok(key, token_sha256, flask.request.form.get("csrf")):
            errors = {"csrf": ("err_csrf", {})}
        if errors:
            return invitation_page(chosen, token_sha256, form, errors, 400)
        state = secrets.token_urlsafe(32)
        record = dict(form, address=address(), user_agent=clean(flask.request.headers.get("User-Agent"), MAX_USER_AGENT), consented_at=round(time.time(), 3))
        if not db.add_attempt(sha256(state), row["id"], record, config.attempt_minutes):
            return message("rate", 429)
        extra = dict(chosen.extra)
        if chosen.platform.nonce:
            extra["nonce"] = oidc_nonce(key, state)
        challenge = pkce_challenge(pkce_verifier(key, state)) if chosen.platform.pkce != "off" else None
        url = build_authorization_url(chosen.authorize_url, chosen.app.client_id, config.redirect_uri, state, chosen.scopes, challenge, extra)
        flask.g.form_action = chosen.authorize_origin
        log.info("invitee of connection %s sent to the %s sign-in", chosen.connection, chosen.platform.name)
        return flask.redirect(url, 303)

    def relay(values: t.Mapping[str, t.Any]) -> t.Any:
        if flask.request.method == "GET":
            query = flask.request.query_string.decode("latin-1")
        else:
            query = urllib.parse.urlencode(list(t.cast(t.Any, values).items(multi=True)))
        landed = config.redirect_uri + ("?" + query if query else "")
        error = clean(values.get("error"), 80)
        return page("relay.html", 200, page="relay", title=say("relay_title"), landed=landed, error=error, switch=False)

    @app.route("/callback", methods=["GET", "POST"])
    def callback() -> t.Any:
        arrived = time.monotonic()
        values = flask.request.form if flask.request.method == "POST" else flask.request.args
        state = values.get("state")
        attempt = db.attempt(sha256(state)) if isinstance(state, str) and 0 < len(state) <= 512 else None
        if attempt is None:
            return relay(values)
        state_sha256 = attempt["state_sha256"]
        if values.get("error"):
            db.drop_attempt(state_sha256)
            if values.get("error") == "access_denied":
                return flask.redirect("/p/deny", 303)
            return platform_error(
                "the platform answered the sign-in with error %s%s"
                % (clean(values.get("error"), 80), (": " + clean(values.get("error_description"), 300)) if values.get("error_description") else "")
            )
        if attempt["late"]:
            db.drop_attempt(state_sha256)
            return flask.redirect("/p/too-late", 303)
        code = values.get("code")
        if not isinstance(code, str) or not code or len(code) > 4096:
            db.drop_attempt(state_sha256)
            return platform_error("the platform's answer to the sign-in has no authorization code")
        form = attempt["form"] if isinstance(attempt["form"], dict) else {}

        def make(row: dict[str, t.Any], public_key: str) -> tuple[bytes, dict[str, t.Any]]:
            chosen = plan(row, config)
            asked = (row.get("request") or {}).get("client_auth")
            client_auth = asked if asked in CLIENT_AUTH_METHODS else chosen.platform.client_auth
            tokens = oauth.exchange_code(
                chosen.token_url,
                code,
                config.redirect_uri,
                chosen.app.client_id,
                chosen.app.secret(),
                client_auth,
                code_verifier=pkce_verifier(key, t.cast(str, state)) if chosen.platform.pkce != "off" else None,
                error_rules=chosen.platform.token_errors,
            )
            if not tokens.refresh_token:
                raise Refused(
                    "the platform returned an access token but no refresh token for connection %s; %s"
                    % (chosen.connection, chosen.platform.no_refresh_token_hint)
                )
            payload = {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "token_type": tokens.token_type,
                "scope": tokens.scope,
                "expires_in": tokens.expires_in,
                "received_at": tokens.received_at,
                "client_id": chosen.app.client_id,
                "redirect_uri": config.redirect_uri,
                "token_url": chosen.token_url,
            }
            consent: dict[str, t.Any] = {field: clean(form.get(field)) for field in FORM_FIELDS}
            consent.update(
                address=clean(form.get("address"), 64) or address(),
                user_agent=clean(form.get("user_agent") or flask.request.headers.get("User-Agent"), MAX_USER_AGENT),
                at=form.get("consented_at") if isinstance(form.get("consented_at"), (int, float)) else round(time.time(), 3),
            )
            return landing.seal(public_key, str(row["id"]), str(row["connection"]), payload), consent

        try:
            found = db.land(state_sha256, attempt["invitation"], make)
        except ConsentDbError as exc:
            log.error("database error (reference %s): %s", flask.g.ref, exc.msg)
            return message("error", 503, ref=flask.g.ref)
        except OAuthError as exc:
            return platform_error("the code exchange failed: %s" % exc.msg)
        except PreauthError as exc:
            return platform_error(exc.msg)
        if found != "open":
            return flask.redirect("/p/%s" % found, 303)
        log.info("landing stored for invitation %s in %.3f s after the callback arrived", attempt["invitation"], time.monotonic() - arrived)
        return flask.redirect("/p/success", 303)

    return app
