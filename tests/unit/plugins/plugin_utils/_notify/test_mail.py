"""E-mail against a real SMTP server (aiosmtpd) on 127.0.0.1: plain SMTP, STARTTLS and SMTPS with a test CA, AUTH
PLAIN and LOGIN, temporary and permanent refusals, a server that is not there, and no password in any error.

Every credential here is obviously fake."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import email.policy
import email.utils
import traceback
import typing as t

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.errors import ChannelError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.mail import SmtpSettings, send_mail
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import Message, render

FAKE_USER = "notify-user"
FAKE_PASSWORD = "fake-smtp-password-for-tests"
SENDER = "Acme Connections <noreply@acme.example>"
CONTEXT = {
    "connection": "acme-nl",
    "platform": "exact",
    "platform_title": "Exact Online",
    "country": "NL",
    "reason": None,
    "since": "2026-03-01T10:00:00Z",
    "expires_at": "2026-03-08T10:00:00Z",
    "days_left": 2,
    "failures": 0,
    "reminder": False,
    "invitation_url": "https://consent.example.com/i/FAKE-invitation-token-0123456789",
    "invitation_expires_at": "2026-03-09T10:00:00Z",
    "operator": {"company": "Acme Boekhouding BV", "contact": "it@acme.example"},
    "consenter": {"first_name": "Anneke", "last_name": "Geïntegreerd", "email": "anneke@klant.example"},
    "commands": {},
}


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail: email.message.EmailMessage


class Recorder:
    """An aiosmtpd handler that keeps what arrives; ``data_replies`` answer the first DATA commands instead of 250,
    ``rcpt_replies`` maps an address to the replies its first RCPT commands get."""

    def __init__(self, data_replies: t.Sequence[str] = (), rcpt_replies: t.Mapping[str, t.Sequence[str]] | None = None) -> None:
        self.received: list[Received] = []
        self.data_replies = list(data_replies)
        self.rcpt_replies = {address: list(replies) for address, replies in (rcpt_replies or {}).items()}
        self.data_commands = 0
        self.auth: list[str] = []
        self.data_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        await asyncio.sleep(self.data_delay)
        if self.data_replies:
            return self.data_replies.pop(0)
        mail = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), t.cast(email.message.EmailMessage, mail)))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        self.auth.append(mechanism)
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (FAKE_USER.encode(), FAKE_PASSWORD.encode())
        return AuthResult(success=good, handled=False)


@pytest.fixture
def smtp_server(free_port):
    """Starts an aiosmtpd server on 127.0.0.1 with the given handler and options; each is stopped at the end."""
    started = []

    def start(handler: Recorder, **options: t.Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


class Sleeps(list):
    """The waits that send_mail asked for, without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def dead_message(language: str = "nl") -> Message:
    return render("expiring", CONTEXT, language)


def error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(vars(exc))


def test_a_plain_delivery_arrives_with_its_headers_and_its_dutch_utf8_body(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    message = dead_message("nl")
    sleeps = Sleeps()
    accepted = send_mail(
        SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER), message, ["anneke@klant.example", "it@acme.example"], sleeps
    )
    assert accepted == ["anneke@klant.example", "it@acme.example"] and sleeps == []
    [got] = handler.received
    assert got.mail_from == "noreply@acme.example" and got.rcpt_tos == ["anneke@klant.example", "it@acme.example"]
    mail = got.mail
    assert mail["From"] == SENDER and mail["To"] == "anneke@klant.example, it@acme.example"
    assert mail["Subject"] == message.subject == "De verbinding acme-nl met Exact Online verloopt over 2 dagen"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["Content-Language"] == "nl"
    assert email.utils.parsedate_to_datetime(mail["Date"]).tzinfo is not None
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@acme.example>")
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    body = mail.get_content().replace("\r\n", "\n")
    assert body == message.text and "Volg vóór die tijd deze link" in body and "Beste Anneke," in body


def test_a_subject_with_accents_arrives_unchanged(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    message = Message(event="recovered", language="nl", subject="Verbinding café-één werkt weer", text="Geïntegreerd.\n")
    send_mail(SmtpSettings(host="127.0.0.1", port=port, security="none", sender="noreply@acme.example"), message, ["a@klant.example"], Sleeps())
    [got] = handler.received
    assert got.mail["Subject"] == "Verbinding café-één werkt weer" and got.mail.get_content() == "Geïntegreerd.\r\n"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_with_the_test_ca_and_auth(smtp_server, tls, mechanism):
    handler = Recorder()
    excluded = ["LOGIN"] if mechanism == "PLAIN" else ["PLAIN"]
    port = smtp_server(
        handler,
        tls_context=tls.server_context(),
        require_starttls=True,
        authenticator=handler.authenticator,
        auth_required=True,
        auth_exclude_mechanism=excluded,
    )
    settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER, ca_path=tls.ca_path)
    assert send_mail(settings, dead_message("en"), ["anneke@klant.example"], Sleeps()) == ["anneke@klant.example"]
    assert handler.auth == [mechanism] and len(handler.received) == 1
    assert handler.received[0].mail["Content-Language"] == "en"


def test_starttls_refuses_a_certificate_it_cannot_verify_and_sends_no_password(smtp_server, tls):
    handler = Recorder()
    port = smtp_server(handler, tls_context=tls.server_context(), require_starttls=True, authenticator=handler.authenticator, auth_required=True)
    settings = SmtpSettings(host="127.0.0.1", port=port, username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_mail(settings, dead_message(), ["anneke@klant.example"], sleeps)
    assert info.value.kind == "permanent" and sleeps == [] and handler.auth == [] and handler.received == []
    assert info.value.msg.startswith("smtp://127.0.0.1:%d: the mail was not sent: the server's TLS certificate could not be verified" % port)
    assert "set ca_path" in info.value.msg and FAKE_PASSWORD not in error_text(info.value)
    # Without verification (validate_certs: false) the same server takes it.
    assert send_mail(dataclasses.replace(settings, validate_certs=False), dead_message(), ["anneke@klant.example"], Sleeps()) == ["anneke@klant.example"]


def test_a_server_without_starttls_gets_nothing(smtp_server):
    handler = Recorder()
    port = smtp_server(handler, authenticator=handler.authenticator, auth_require_tls=False)
    settings = SmtpSettings(host="127.0.0.1", port=port, username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER)
    with pytest.raises(ChannelError) as info:
        send_mail(settings, dead_message(), ["anneke@klant.example"], Sleeps())
    assert "the server does not offer STARTTLS; nothing was sent" in info.value.msg
    assert handler.auth == [] and handler.data_commands == 0


# aiosmtpd's warning assumes plain SMTP: here TLS is implicit, it is there before AUTH.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtps_implicit_tls_with_auth(smtp_server, tls):
    handler = Recorder()
    port = smtp_server(handler, ssl_context=tls.server_context(), authenticator=handler.authenticator, auth_required=True, auth_require_tls=False)
    settings = SmtpSettings(host="127.0.0.1", port=port, security="ssl", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER, ca_path=tls.ca_path)
    assert send_mail(settings, dead_message(), ["anneke@klant.example"], Sleeps()) == ["anneke@klant.example"]
    assert handler.auth == ["PLAIN"] and len(handler.received) == 1


def test_a_wrong_password_is_not_retried_and_not_shown_even_when_the_server_echoes_it(smtp_server, tls):
    handler = Recorder()
    user_and_password = base64.b64encode(("\0%s\0%s" % (FAKE_USER, "fake-wrong-password-for-tests")).encode()).decode()

    def echoing(server, session, envelope, mechanism, auth_data):
        handler.auth.append(mechanism)
        return AuthResult(success=False, handled=False, message="535 5.7.8 refused %s %s" % (auth_data.password.decode(), user_and_password))

    port = smtp_server(handler, tls_context=tls.server_context(), authenticator=echoing, auth_required=True)
    settings = SmtpSettings(
        host="127.0.0.1", port=port, username=FAKE_USER, password="fake-wrong-password-for-tests", sender=SENDER, ca_path=tls.ca_path, attempts=3
    )
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_mail(settings, dead_message(), ["anneke@klant.example"], sleeps)
    assert info.value.kind == "permanent" and info.value.status == 535 and sleeps == [] and handler.auth == ["PLAIN"]
    assert (
        info.value.msg
        == "smtp://127.0.0.1:%d: the mail was not sent: the server refused the user name or password (535 5.7.8 refused (hidden) (hidden))" % port
    )
    text = error_text(info.value)
    assert "fake-wrong-password-for-tests" not in text and user_and_password not in text


def test_a_451_is_retried_and_the_mail_arrives_once(smtp_server):
    handler = Recorder(data_replies=["451 4.3.0 Try again later"])
    port = smtp_server(handler)
    sleeps = Sleeps()
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER)
    assert send_mail(settings, dead_message(), ["anneke@klant.example"], sleeps) == ["anneke@klant.example"]
    assert handler.data_commands == 2 and len(handler.received) == 1 and sleeps == [1.0]


def test_a_550_is_not_retried(smtp_server):
    handler = Recorder(data_replies=["550 5.7.1 Message rejected as spam"] * 3)
    port = smtp_server(handler)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_mail(SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER), dead_message(), ["anneke@klant.example"], sleeps)
    assert info.value.msg == "smtp://127.0.0.1:%d: the mail was not sent: the server answered 550 5.7.1 Message rejected as spam" % port
    assert (info.value.kind, info.value.status, info.value.attempts) == ("permanent", 550, 1)
    assert handler.data_commands == 1 and handler.received == [] and sleeps == []


def test_a_server_that_answers_too_late_is_a_temporary_failure(smtp_server):
    handler = Recorder(data_replies=["451 4.3.0 Too late anyway"])
    handler.data_delay = 1.5
    port = smtp_server(handler)
    with pytest.raises(ChannelError) as info:
        send_mail(
            SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER, timeout=0.3, attempts=1), dead_message(), ["a@klant.example"], Sleeps()
        )
    assert (info.value.kind, info.value.attempts) == ("temporary", 1) and info.value.msg.endswith("the mail was not sent: no answer within 0.3 s")


def test_always_451_gives_up_after_the_attempts(smtp_server):
    handler = Recorder(data_replies=["451 4.3.0 Try again later"] * 5)
    port = smtp_server(handler)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_mail(SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER, attempts=3), dead_message(), ["anneke@klant.example"], sleeps)
    assert info.value.msg.endswith("the server answered 451 4.3.0 Try again later after 3 attempts")
    assert (info.value.kind, info.value.attempts) == ("temporary", 3) and handler.data_commands == 3 and sleeps == [1.0, 2.0]


def test_a_recipient_refused_for_now_is_tried_again_alone_and_one_refused_for_good_is_left_out(smtp_server):
    handler = Recorder(rcpt_replies={"later@klant.example": ["450 4.2.1 Mailbox busy"], "gone@klant.example": ["550 5.1.1 No such user"] * 3})
    port = smtp_server(handler)
    sleeps = Sleeps()
    recipients = ["gone@klant.example", "now@klant.example", "later@klant.example"]
    accepted = send_mail(SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER), dead_message(), recipients, sleeps)
    assert accepted == ["now@klant.example", "later@klant.example"] and sleeps == [1.0]
    assert [got.rcpt_tos for got in handler.received] == [["now@klant.example"], ["later@klant.example"]]
    # One message, twice sent: the same Message-ID, so a copy can be recognised.
    assert handler.received[0].mail["Message-ID"] == handler.received[1].mail["Message-ID"]


def test_every_recipient_refused_for_good_is_a_permanent_error(smtp_server):
    handler = Recorder(rcpt_replies={"gone@klant.example": ["550 5.1.1 No such user"] * 3})
    port = smtp_server(handler)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_mail(SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER), dead_message(), ["gone@klant.example"], sleeps)
    assert info.value.kind == "permanent" and sleeps == [] and handler.data_commands == 0
    assert info.value.msg.endswith("the server refused every recipient (gone@klant.example: 550 5.1.1 No such user)")


def test_a_refused_connection_is_tried_attempts_times_with_a_short_backoff(free_port):
    port = free_port()
    sleeps = Sleeps()
    settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER, attempts=3)
    with pytest.raises(ChannelError) as info:
        send_mail(settings, dead_message(), ["anneke@klant.example"], sleeps)
    assert info.value.msg == (
        "smtp://127.0.0.1:%d: the mail was not sent: the connection was refused (is the host and port right, does the server run?) after 3 attempts" % port
    )
    assert (info.value.kind, info.value.attempts, info.value.target) == ("temporary", 3, "smtp://127.0.0.1:%d" % port)
    assert sleeps == [1.0, 2.0] and isinstance(info.value, PreauthError)
    assert FAKE_PASSWORD not in error_text(info.value)


def test_the_password_is_in_no_repr_of_the_settings():
    settings = SmtpSettings(host="mail.example.com", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER)
    assert FAKE_PASSWORD not in repr(settings) and FAKE_USER in repr(settings)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_over_plain_smtp_only_to_a_loopback_address(smtp_server):
    with pytest.raises(ChannelError) as info:
        send_mail(
            SmtpSettings(host="mail.example.com", security="none", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER),
            dead_message(),
            ["anneke@klant.example"],
            Sleeps(),
        )
    assert info.value.kind == "config" and info.value.msg.startswith(
        "smtp://mail.example.com:25: security 'none' would send the user name and password in clear text"
    )
    assert FAKE_PASSWORD not in error_text(info.value)
    handler = Recorder()
    port = smtp_server(handler, authenticator=handler.authenticator, auth_required=True, auth_require_tls=False)
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", username=FAKE_USER, password=FAKE_PASSWORD, sender=SENDER)
    assert send_mail(settings, dead_message(), ["anneke@klant.example"], Sleeps()) == ["anneke@klant.example"] and handler.auth == ["PLAIN"]


@pytest.mark.parametrize(
    "recipients,reason",
    [
        ([], "no recipients: give at least one e-mail address"),
        ("anneke@klant.example", "no recipients: give at least one e-mail address"),
        (["anneke@klant.example\r\nBcc: everyone@example.com"], "holds a line break or a control character"),
        (["a@b@klant.example"], "is not an e-mail address"),
        (["Anneke <anneke@klant.example>"], "is not an e-mail address"),
        (["anneke"], "is not an e-mail address"),
        (["anneke@klant..example"], "is not an e-mail address"),
    ],
)
def test_bad_recipients_are_refused_before_anything_is_sent(recipients, reason):
    with pytest.raises(ChannelError) as info:
        send_mail(SmtpSettings(host="127.0.0.1", port=9, security="none", sender=SENDER), dead_message(), recipients, Sleeps())
    assert info.value.kind == "config" and info.value.msg.startswith("smtp://127.0.0.1:9: ") and reason in info.value.msg


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"sender": ""}, "no sender is set"),
        ({"sender": "noreply@acme.example\nBcc: x@example.com"}, "the sender holds a line break"),
        ({"security": "tls"}, "security 'tls' is not one of starttls, ssl, none"),
        ({"port": 70000}, "the port must be a number from 1 to 65535"),
        ({"username": FAKE_USER}, "set both the user name and the password, or neither"),
        ({"attempts": 0}, "attempts must be a number from 1 to 10"),
        ({"host": "mail example"}, "the host is not a host name or IP address"),
    ],
)
def test_bad_settings_are_refused_with_what_to_change(change, reason):
    settings = dataclasses.replace(SmtpSettings(host="127.0.0.1", security="none", sender=SENDER), **change)
    with pytest.raises(ChannelError) as info:
        send_mail(settings, dead_message(), ["anneke@klant.example"], Sleeps())
    assert info.value.kind == "config" and reason in info.value.msg


def test_the_default_port_follows_the_security(free_port):
    for security, port in (("starttls", 587), ("ssl", 465), ("none", 25)):
        with pytest.raises(ChannelError) as info:
            send_mail(SmtpSettings(host="127.0.0.1", security=security, sender=""), dead_message(), ["a@klant.example"], Sleeps())
        assert info.value.target == "smtp://127.0.0.1:%d" % port


def test_a_subject_with_a_line_break_is_refused():
    message = Message(event="dead", language="en", subject="Hello\r\nBcc: everyone@example.com", text="x\n")
    with pytest.raises(ChannelError, match="the subject is empty or not one line"):
        send_mail(SmtpSettings(host="127.0.0.1", port=9, security="none", sender=SENDER), message, ["a@klant.example"], Sleeps())


def test_a_ca_path_that_is_not_a_ca_file_is_refused_before_anything_is_sent(tmp_path):
    for path, content in ((tmp_path / "missing.pem", None), (tmp_path / "junk.pem", "not a certificate\n")):
        if content is not None:
            path.write_text(content)
        sleeps = Sleeps()
        with pytest.raises(ChannelError) as info:
            send_mail(SmtpSettings(host="127.0.0.1", port=9, sender=SENDER, ca_path=str(path)), dead_message(), ["a@klant.example"], sleeps)
        assert info.value.kind == "config" and "ca_path %s cannot be read as PEM CA certificates" % path in info.value.msg and sleeps == []
