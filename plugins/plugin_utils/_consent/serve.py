# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Start the consent service under waitress: options, logging without tokens, bounded threads.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

``python -m ansible_collections.preauth.oauth2.plugins.plugin_utils._consent --help``. TLS is the
reverse proxy's job; the service listens on 127.0.0.1:8470 unless told otherwise.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.app import HAS_FLASK, create_app
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.config import Config, load_apps, load_secret_key, public_url, read_database_url
from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.db import ConsentDb

try:
    import waitress

    HAS_WAITRESS = True
except ImportError:  # pragma: no cover - sanity's import test
    HAS_WAITRESS = False

DEFAULT_LISTEN = "127.0.0.1:8470"
THREADS = 8
CONNECTION_LIMIT = 200
# Whatever a library logs, a link token, state or code in it is hidden: /i/<token>, and query or form values.
_HIDE = (
    (re.compile(r"/i/[A-Za-z0-9_%-]+"), "/i/(hidden)"),
    (re.compile(r"(?i)\b(code|state|token|code_verifier|id_token|access_token|refresh_token|client_secret)=[^&\s\"']*"), r"\1=(hidden)"),
)


def hide(text: str) -> str:
    for pattern, replacement in _HIDE:
        text = pattern.sub(replacement, text)
    return text


class HidingFilter(logging.Filter):
    """Rewrites every record so that no link token, state or code reaches a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = hide(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = hide(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_logging(handler: logging.Handler | None = None, level: int = logging.INFO) -> logging.Handler:
    """One handler for the service's and waitress's loggers, behind the hiding filter."""
    handler = handler or logging.StreamHandler(sys.stderr)
    handler.addFilter(HidingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("preauth.oauth2.consent", "waitress"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
    return handler


def parse_listen(value: str) -> tuple[str, int]:
    host, _sep, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PreauthError("--listen must be HOST:PORT, such as 127.0.0.1:8470")
    return host.strip("[]"), int(port)


def make_server(app: t.Any, host: str, port: int, threads: int = THREADS, trusted_proxy: bool = False) -> t.Any:
    """A waitress server (not yet running: call ``run()``); ``effective_port`` is the port it got.

    Waitress removes X-Forwarded-For before the application sees it unless told otherwise; with ``trusted_proxy``
    (the service behind the operator's own proxy) it is kept, for the application's ``address()`` to read.
    """
    if not HAS_WAITRESS:
        raise PreauthError("the consent service needs the Python package waitress: pip install waitress")
    return waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=30,
        ident="",
        max_request_body_size=64 * 1024,
        max_request_header_size=32 * 1024,
        expose_tracebacks=False,
        clear_untrusted_proxy_headers=not trusted_proxy,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent-service", description="The preauth.oauth2 consent service (behind an HTTPS reverse proxy).")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT to listen on (default %(default)s)")
    parser.add_argument("--public-url", required=True, help="the service's address as invitees see it, such as https://consent.example.com")
    parser.add_argument(
        "--database-url",
        help="libpq URL of the store's database as the service's role (or PREAUTH_CONSENT_DATABASE_URL; password from PGPASSWORD or ~/.pgpass)",
    )
    parser.add_argument("--database-url-file", help="a file that holds the database URL")
    parser.add_argument("--apps", required=True, help="YAML or JSON file: client_id -> {secret_file, optional platform, authorize_url, token_url}")
    parser.add_argument("--secret-key-file", help="file with at least 32 random bytes (CSRF tokens, PKCE); without it a random key for a try-out")
    parser.add_argument("--trusted-proxy", action="store_true", help="take the client address from X-Forwarded-For (only behind your own proxy)")
    parser.add_argument("--insecure-cookies", action="store_true", help="cookies without Secure, for a try-out on http://127.0.0.1")
    parser.add_argument("--threads", type=int, default=THREADS, help="worker threads (default %(default)s)")
    return parser


def main(argv: t.Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_logging()
    log = logging.getLogger("preauth.oauth2.consent")
    if not HAS_FLASK:
        log.error("the consent service needs the Python packages flask and waitress: pip install flask waitress")
        return 2
    try:
        host, port = parse_listen(args.listen)
        key, random_key = load_secret_key(args.secret_key_file)
        config = Config(
            public_url=public_url(args.public_url),
            apps=load_apps(args.apps),
            secret_key=key,
            trusted_proxy=args.trusted_proxy,
            secure_cookies=not args.insecure_cookies,
        )
        db = ConsentDb(read_database_url(args.database_url, args.database_url_file), size=max(1, args.threads))
        server = make_server(create_app(config, db), host, port, max(1, min(args.threads, 64)), trusted_proxy=args.trusted_proxy)
    except PreauthError as exc:
        log.error("%s", exc.msg)
        return 2
    if random_key:
        log.warning("no --secret-key-file: a random key for this run only (forms and sign-ins in progress break on a restart)")
    log.info(
        "consent service on http://%s:%d for %s, database %s, apps: %s",
        host,
        int(server.effective_port),
        config.public_url,
        db.location,
        ", ".join(sorted(config.apps)),
    )
    try:
        server.run()
    finally:
        db.close()
    return 0
