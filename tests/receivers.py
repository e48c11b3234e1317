"""Real receivers of the messages the collection sends, for tests and the demo: an SMTP server (aiosmtpd) and a webhook
receiver that checks each signature with the independent ``standardwebhooks`` package. Both listen on 127.0.0.1 only.

Nothing here is the collection's code: a message counts as delivered when these servers got it over a socket.
"""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.policy
import http.server
import ipaddress
import json
import os
import socket
import ssl
import threading
import typing as t

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass
class Tls:
    ca_path: str
    cert_path: str
    key_path: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(folder: str) -> Tls:
    """A CA and a certificate it issued for 127.0.0.1 and localhost, with the extensions Python's strict verification wants."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("preauth.oauth2 notify test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    found = Tls(os.path.join(folder, "ca.pem"), os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem"))
    with open(found.ca_path, "wb") as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(found.cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(found.key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(self, server: t.Any, session: t.Any, envelope: t.Any, address: str, rcpt_options: t.Any) -> str:  # noqa: N802
        if address in self.box.refuse:
            return "550 5.1.1 no such mailbox here (test)"
        if self.box.busy > 0:
            self.box.busy -= 1
            return "451 4.3.0 try again later (test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: t.Any, session: t.Any, envelope: t.Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.box.lock:
            for rcpt in envelope.rcpt_tos:
                self.box.messages.append((rcpt, message))
        return "250 Message accepted for delivery"


class _Authenticator:
    """AUTH PLAIN or LOGIN with one user name and password."""

    def __init__(self, credentials: tuple[str, str]) -> None:
        self.credentials = credentials

    def __call__(self, server: t.Any, session: t.Any, envelope: t.Any, mechanism: str, auth_data: t.Any) -> t.Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        given = (auth_data.login.decode(), auth_data.password.decode()) if isinstance(auth_data, LoginPassword) else None
        return AuthResult(success=given == self.credentials)


class Mailbox:
    """An SMTP server on loopback that keeps every message it accepted, per recipient.

    ``refuse`` holds addresses answered with 550; ``busy`` answers that many recipients with 451 first.
    """

    def __init__(self, tls: Tls | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, t.Any]] = []
        self.refuse: set[str] = set()
        self.busy = 0
        self.lock = threading.Lock()
        self.port = free_port()
        options: dict[str, t.Any] = {}
        if tls is not None:
            # STARTTLS required before anything else, as a submission server on port 587 wants it.
            options.update(tls_context=tls.server_context(), require_starttls=True)
        if credentials is not None:
            options.update(authenticator=_Authenticator(credentials), auth_required=True, auth_require_tls=tls is not None)
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[t.Any]:
        with self.lock:
            return [m for rcpt, m in self.messages if rcpt == address]

    @staticmethod
    def body(message: t.Any) -> str:
        return str(message.get_body(preferencelist=("plain",)).get_content())

    def texts(self) -> list[str]:
        """Every message as text (headers and body), for leak scans."""
        with self.lock:
            return [m.as_string() for _rcpt, m in self.messages]


class WebhookReceiver:
    """An HTTP server on loopback that verifies each POST as Standard Webhooks says, and keeps the verified ones.

    ``answers`` is a list of status codes to give first (then 204). A request whose signature does not verify is
    answered 401 and kept in ``rejected``.
    """

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self.verifier = Webhook(secret)
        self.received: list[dict[str, t.Any]] = []
        self.rejected: list[dict[str, t.Any]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 204
                    try:
                        payload = receiver.verifier.verify(body, headers)
                    except Exception as exc:  # pylint: disable=broad-exception-caught
                        receiver.rejected.append({"headers": headers, "body": body.decode("utf-8", "replace"), "why": str(exc)})
                        status = 401
                    else:
                        if status < 300:
                            receiver.received.append({"id": headers.get("webhook-id"), "payload": payload, "body": body.decode("utf-8")})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - the name BaseHTTPRequestHandler gives it
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/preauth" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def types(self) -> list[str]:
        with self.lock:
            return [r["payload"]["type"] for r in self.received]

    def dump(self) -> str:
        with self.lock:
            return json.dumps(self.received + self.rejected)
