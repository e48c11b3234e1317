# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""E-mail over SMTP: one rendered message to a list of recipients, with bounded retries.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Security is ``starttls`` (port 587 unless set: the connection is upgraded before anything else is
said, and a server that does not offer STARTTLS gets nothing), ``ssl`` (implicit TLS, SMTPS, port
465) or ``none`` (plain SMTP, port 25: a local relay or a test server). Certificates are verified
against the system's CAs or ``ca_path``; only ``validate_certs: false`` turns that off. A user name
and password are never sent in clear text: with ``none`` only to a loopback address.

A try that meets a temporary failure (a refused, dropped or timed out connection, a 4xx reply) is
repeated, up to ``attempts`` tries in all, after 1, 2, 4... seconds (at most ``MAX_BACKOFF``); a
permanent one (a 5xx reply, refused credentials, a certificate that does not verify) is not. A
recipient the server refuses with a 4xx reply is tried again in the next try, the others are not
sent twice; every try carries the same Message-ID, so a copy that did arrive twice can be told.
Errors name ``smtp://host:port`` and the reason; the password (in any form the server could echo)
is hidden from every message.
"""

from __future__ import annotations

import base64
import dataclasses
import email.headerregistry
import email.message
import email.utils
import ipaddress
import re
import smtplib
import socket
import ssl
import time
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.errors import CONFIG, PERMANENT, TEMPORARY, ChannelError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import Message
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import server_text

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
MAX_ATTEMPTS = 10
MAX_BACKOFF = 8.0
MAX_RECIPIENTS = 100
# In this order; inside TLS, PLAIN hides nothing less than the others.
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
# RFC 5321: 64 characters for the local part, 254 for a whole address in a path.
MAX_LOCAL = 64
MAX_ADDRESS = 254
# An address as this channel sends it: ASCII, one @, nothing that a header or an SMTP command gives a meaning.
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+|[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@\[[0-9A-Fa-f:.]+\]")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclasses.dataclass
class SmtpSettings:
    """Where and how to send mail; ``port`` defaults by ``security`` (587, 465, 25)."""

    host: str
    port: int | None = None
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    sender: str = ""
    timeout: float = 10.0
    validate_certs: bool = True
    ca_path: str | None = None
    attempts: int = 3


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1), written as such: no name is looked up."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def target(settings: SmtpSettings) -> str:
    """The server as a message names it: ``smtp://host:port``."""
    host = str(settings.host)
    shown = "[%s]" % host if ":" in host and not host.startswith("[") else host
    return "smtp://%s:%s" % (shown, settings.port if settings.port else DEFAULT_PORTS.get(settings.security, "?"))


def check_address(value: t.Any, what: str = "address") -> str:
    """A bare e-mail address (``name@example.com``): ASCII, one ``@``, no line break, unchanged by ``parseaddr``.

    ``what`` names the address in the ValueError (never the settings' other values).
    """
    if not isinstance(value, str) or not value:
        raise ValueError("the %s is empty or not a string" % what)
    if _CONTROL.search(value):
        raise ValueError("the %s %r holds a line break or a control character" % (what, value.encode("unicode_escape").decode("ascii")))
    if value.count("@") != 1 or not _ADDRESS.fullmatch(value) or email.utils.parseaddr(value) != ("", value):
        raise ValueError("the %s %r is not an e-mail address such as name@example.com" % (what, value))
    local, domain = value.split("@", 1)
    if ".." in value or local.startswith(".") or local.endswith(".") or domain.startswith(".") or domain.endswith("."):
        raise ValueError("the %s %r is not an e-mail address such as name@example.com" % (what, value))
    if len(local) > MAX_LOCAL or len(value) > MAX_ADDRESS:
        raise ValueError("the %s %r is longer than an e-mail address can be" % (what, value))
    return value


def check_sender(value: t.Any) -> tuple[str, str]:
    """The sender as ``(display name, address)``: ``name@example.com`` or ``Display Name <name@example.com>``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("no sender is set: set the sender address (for example 'Connections <noreply@example.com>')")
    if _CONTROL.search(value):
        raise ValueError("the sender holds a line break or a control character")
    text = value.strip()
    name, address = email.utils.parseaddr(text)
    check_address(address, "sender address")
    if text not in (address, "%s <%s>" % (name, address), email.utils.formataddr((name, address))):
        raise ValueError("the sender %r is not 'name@example.com' or 'Display Name <name@example.com>'" % value)
    return name, address


def check_settings(settings: SmtpSettings) -> int:
    """The port to use, once ``settings`` are usable; ChannelError (``config``) saying what to change when they are not."""
    where = target(settings)

    def refuse(reason: str) -> ChannelError:
        return ChannelError("%s: %s" % (where, reason), where, CONFIG)

    if not isinstance(settings.host, str) or not _HOST.fullmatch(settings.host):
        raise refuse("the host is not a host name or IP address")
    if settings.security not in SECURITY:
        raise refuse("security %r is not one of %s" % (settings.security, ", ".join(SECURITY)))
    port = settings.port if settings.port else DEFAULT_PORTS[settings.security]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise refuse("the port must be a number from 1 to 65535")
    if bool(settings.username) != bool(settings.password):
        raise refuse("set both the user name and the password, or neither")
    if settings.username and settings.security == "none" and not is_loopback(settings.host):
        raise refuse(
            "security 'none' would send the user name and password in clear text; use 'starttls' or 'ssl' "
            "(plain SMTP with credentials is only for a relay on a loopback address)"
        )
    if isinstance(settings.attempts, bool) or not isinstance(settings.attempts, int) or not 1 <= settings.attempts <= MAX_ATTEMPTS:
        raise refuse("attempts must be a number from 1 to %d" % MAX_ATTEMPTS)
    if not isinstance(settings.timeout, (int, float)) or not 0 < settings.timeout <= 300:
        raise refuse("the timeout must be more than 0 and at most 300 seconds")
    try:
        check_sender(settings.sender)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    return port


def _recipients(recipients: t.Sequence[str], where: str) -> list[str]:
    if isinstance(recipients, str) or not recipients:
        raise ChannelError("%s: no recipients: give at least one e-mail address" % where, where, CONFIG)
    if len(recipients) > MAX_RECIPIENTS:
        raise ChannelError("%s: %d recipients are more than the %d one message is sent to" % (where, len(recipients), MAX_RECIPIENTS), where, CONFIG)
    found: dict[str, str] = {}
    for value in recipients:
        try:
            address = check_address(value, "recipient")
        except ValueError as exc:
            raise ChannelError("%s: %s" % (where, exc), where, CONFIG) from None
        found.setdefault(address.lower(), address)
    return list(found.values())


def build(settings: SmtpSettings, message: Message, recipients: t.Sequence[str]) -> email.message.EmailMessage:
    """The e-mail as it is sent: UTF-8 plain text, quoted-printable, marked as sent by a program (RFC 3834)."""
    name, address = check_sender(settings.sender)
    if _CONTROL.search(message.subject) or not message.subject.strip():
        raise ValueError("the subject is empty or not one line")
    mail = email.message.EmailMessage()
    mail["From"] = email.headerregistry.Address(display_name=name, addr_spec=address)
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = email.utils.make_msgid(domain=address.rsplit("@", 1)[1].strip("[]"))
    mail["Auto-Submitted"] = "auto-generated"
    # Exchange and others send no out-of-office answer to a message that asks for none.
    mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text, charset="utf-8", cte="quoted-printable")
    # After set_content, which replaces every Content-* header.
    mail["Content-Language"] = message.language
    return mail


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_path or None)
    if not settings.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Try(Exception):
    """One try's failure: ``temporary`` says whether another try can help."""

    def __init__(self, reason: str, temporary: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.code = code


def _hidden(settings: SmtpSettings) -> list[str]:
    """The password as a server could echo it: as is, and inside the base64 of AUTH PLAIN and LOGIN."""
    password = settings.password
    if not password:
        return []
    user = settings.username or ""
    forms = [password, user + "\0" + password, "\0" + user + "\0" + password]
    return [password] + [base64.b64encode(form.encode("utf-8")).decode("ascii") for form in forms]


def _reply(exc: smtplib.SMTPResponseException, settings: SmtpSettings) -> str:
    error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return "%d %s" % (exc.smtp_code, server_text(error, _hidden(settings), 200))


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Authenticate with one mechanism: smtplib's ``login`` tries the next one after a refusal, and a second
    refused login per try counts twice against a lockout policy."""
    offered = (smtp.esmtp_features.get("auth") or "").upper().split() if smtp.has_extn("auth") else []
    mechanism = next((name for name in AUTH_MECHANISMS if name in offered), None)
    if mechanism is None:
        raise _Try(
            "the server offers no authentication this collection uses (%s); remove the user name and password, or use its submission port"
            % ", ".join(AUTH_MECHANISMS),
            False,
        )
    smtp.user, smtp.password = username, password
    smtp.ehlo_or_helo_if_needed()
    smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower().replace("-", "_")))


def _send_once(
    settings: SmtpSettings, port: int, context: ssl.SSLContext | None, mail: email.message.EmailMessage, sender: str, recipients: list[str]
) -> dict[str, tuple[int, str]]:
    """One connection: the recipients the server refused, with code and reply (an empty dict: all accepted)."""
    host = settings.host.strip("[]")
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=settings.timeout)
    with smtp:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise _Try("the server does not offer STARTTLS; nothing was sent (set security to 'ssl' for port 465)", temporary=False)
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username and settings.password:
            _login(smtp, settings.username, settings.password)
        try:
            refused = smtp.send_message(mail, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients  # every one of them: the same as a partial refusal, for the caller
    return {address: (code, server_text(reply.decode("utf-8", "replace"), _hidden(settings), 200)) for address, (code, reply) in refused.items()}


def _classify(exc: _Try | smtplib.SMTPException | OSError, settings: SmtpSettings) -> _Try:
    """What one try's exception means, in words fit for a message (no password)."""
    if isinstance(exc, _Try):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _Try("the server refused the user name or password (%s)" % _reply(exc, settings), False, exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _Try("the server answered %s" % _reply(exc, settings), 400 <= exc.smtp_code < 500, exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Try("the server does not support what this message needs (%s)" % server_text(exc, _hidden(settings), 200), False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Try(
            "the server's TLS certificate could not be verified (%s); set ca_path to the CA that issued it" % server_text(exc.verify_message, [], 120), False
        )
    if isinstance(exc, ssl.SSLError):
        return _Try(
            "TLS failed (%s): check that security matches the port (ssl: implicit TLS, usually 465; starttls: usually 587)" % (exc.reason or "SSLError"),
            False,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a reply that did not come in time as a closed connection.
        if isinstance(exc.__context__, (socket.timeout, TimeoutError)):
            return _Try("no answer within %g s" % settings.timeout, True)
        return _Try("the server closed the connection", True)
    if isinstance(exc, ConnectionRefusedError):
        return _Try("the connection was refused (is the host and port right, does the server run?)", True)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _Try("no answer within %g s" % settings.timeout, True)
    if isinstance(exc, socket.gaierror):
        return _Try("the host name could not be resolved", True)
    if isinstance(exc, smtplib.SMTPException):
        # Such as "No suitable authentication method found": the client's own refusal, the same on every try.
        return _Try("the SMTP exchange failed (%s)" % server_text(exc, _hidden(settings), 200), False)
    return _Try("the connection failed (%s)" % (exc.strerror or type(exc).__name__), True)


def backoff(attempt: int) -> float:
    """Seconds to wait after try number ``attempt`` (1, 2, 4... at most ``MAX_BACKOFF``)."""
    return min(float(2 ** (attempt - 1)), MAX_BACKOFF)


def send_mail(settings: SmtpSettings, message: Message, recipients: t.Sequence[str], sleep: t.Callable[[float], None] = time.sleep) -> list[str]:
    """Send ``message`` to ``recipients``; the recipients the server accepted, in the order given.

    A ChannelError when no recipient accepted it: ``config`` (nothing sent: settings, an address),
    ``permanent`` (not retried) or ``temporary`` (every try failed). A recipient refused for good
    while others were accepted is left out of the list; the caller reports it.
    """
    where = target(settings)
    port = check_settings(settings)
    wanted = _recipients(recipients, where)
    try:
        mail = build(settings, message, wanted)
    except ValueError as exc:
        raise ChannelError("%s: the message cannot be sent: %s" % (where, exc), where, CONFIG) from None
    sender = check_sender(settings.sender)[1]
    try:
        context = _tls_context(settings) if settings.security != "none" else None
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ChannelError("%s: ca_path %s cannot be read as PEM CA certificates (%s)" % (where, settings.ca_path, type(exc).__name__), where, CONFIG) from None
    accepted: list[str] = []
    pending = list(wanted)
    failure = _Try("no try was made", False)
    refused_for_good: dict[str, str] = {}
    attempt = 0
    for attempt in range(1, settings.attempts + 1):
        try:
            refused = _send_once(settings, port, context, mail, sender, pending)
        except (_Try, smtplib.SMTPException, OSError) as exc:
            failure = _classify(exc, settings)
            if not failure.temporary:
                break
        else:
            accepted.extend(address for address in pending if address not in refused)
            refused_for_good.update({address: "%d %s" % reply for address, reply in refused.items() if not 400 <= reply[0] < 500})
            pending = [address for address in pending if address in refused and 400 <= refused[address][0] < 500]
            if not pending:
                break
            failure = _Try("the server refused %s for now (%s)" % (", ".join(pending), "; ".join("%d %s" % refused[a] for a in pending)), True)
        if attempt < settings.attempts:
            sleep(backoff(attempt))
    if accepted:
        return [address for address in wanted if address in accepted]
    if refused_for_good and not pending:
        failure = _Try("the server refused every recipient (%s)" % "; ".join("%s: %s" % item for item in refused_for_good.items()), False)
    kind = TEMPORARY if failure.temporary else PERMANENT
    tail = " after %d attempts" % attempt if failure.temporary and attempt > 1 else ""
    raise ChannelError("%s: the mail was not sent: %s%s" % (where, failure.reason, tail), where, kind, attempts=attempt, status=failure.code)
