"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks each signature with the independent
``standardwebhooks`` package (the specification's own library), never with this collection's code.

The webhook secrets here are made for the test run; none is a real one."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import http.server
import json
import os
import threading
import time
import traceback
import typing as t

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.errors import ChannelError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.webhook import MAKE_SECRET, USER_AGENT, send_webhook, sign

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
PAYLOAD = {"type": "connection.dead", "connection": "acme-nl", "platform": "exact", "country": "NL", "reason": "Old refresh token used.", "days_left": None}
BODY = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":")).encode()


@dataclasses.dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: t.Any  # the parsed payload, or the WebhookVerificationError


@dataclasses.dataclass
class Receiver:
    """A webhook receiver; ``answers`` are (status, headers) for the next requests, then 200. Status 0 waits
    ``headers["wait"]`` seconds before it answers 200 (an answer too late for the client)."""

    url: str
    requests: list[Request]
    answers: list[tuple[int, dict[str, str]]]


def shown(url: str) -> str:
    """How an error names a webhook: its scheme, host and port, the path as /... (it may hold the receiver's secret)."""
    scheme, _sep, rest = url.partition("://")
    return "%s://%s/..." % (scheme, rest.split("/", 1)[0])


def _handler(receiver: Receiver, secret: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            try:
                verified: t.Any = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                verified = exc
            receiver.requests.append(Request(self.path, headers, body, verified))
            status, extra = receiver.answers.pop(0) if receiver.answers else (200, {})
            if status == 0:
                time.sleep(float(extra.pop("wait")))
                status = 200
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


@pytest.fixture
def receiver(tls):
    """Starts a receiver (``scheme`` http or https with the test CA's certificate) that checks signatures with ``secret``."""
    servers = []

    def start(answers: t.Sequence[tuple[int, dict[str, str]]] = (), secret: str = SECRET, scheme: str = "http") -> Receiver:
        found = Receiver("", [], list(answers))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(found, secret))
        if scheme == "https":
            server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        found.url = "%s://127.0.0.1:%d/hooks/preauth" % (scheme, server.server_address[1])
        return found

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(vars(exc))


def test_the_signature_is_the_one_the_specification_s_library_makes():
    stamp = 1767225600
    expected = Webhook(SECRET).sign("msg_2b6a", datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc), BODY)
    assert sign(SECRET, "msg_2b6a", stamp, BODY) == expected
    assert sign(SECRET, "msg_2b6a", stamp + 1, BODY) != expected and sign(OTHER_SECRET, "msg_2b6a", stamp, BODY) != expected
    # Unpadded base64, as some providers hand it out, is the same key.
    assert sign(SECRET.rstrip("="), "msg_2b6a", stamp, BODY) == expected


def test_a_webhook_arrives_once_signed_and_verifiable(receiver):
    hook = receiver()
    sleeps = Sleeps()
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_acme-nl_dead_1", sleep=sleeps) == 200
    [got] = hook.requests
    assert got.verified == PAYLOAD and got.body == BODY and got.path == "/hooks/preauth" and sleeps == []
    assert got.headers["webhook-id"] == "msg_acme-nl_dead_1" and got.headers["Content-Type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60 and got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["User-Agent"] == USER_AGENT and "preauth.oauth2" in USER_AGENT


def test_a_receiver_with_another_secret_cannot_verify_it(receiver):
    hook = receiver(secret=OTHER_SECRET)
    send_webhook(hook.url, SECRET, PAYLOAD, "msg_1", sleep=Sleeps())
    assert isinstance(hook.requests[0].verified, WebhookVerificationError)


def test_a_503_is_retried_with_the_same_webhook_id(receiver):
    hook = receiver([(503, {})])
    sleeps = Sleeps()
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_retry", timestamp=int(time.time()), sleep=sleeps) == 200
    assert [request.headers["webhook-id"] for request in hook.requests] == ["msg_retry", "msg_retry"]
    assert [request.verified for request in hook.requests] == [PAYLOAD, PAYLOAD] and sleeps == [1.0]


@pytest.mark.parametrize("retry_after,wait", [("3", 3.0), ("120", 10.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 1.0)])
def test_a_numeric_retry_after_is_respected_up_to_10_seconds(receiver, retry_after, wait):
    hook = receiver([(429, {"Retry-After": retry_after})])
    sleeps = Sleeps()
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_429", sleep=sleeps) == 200
    assert sleeps == [wait] and len(hook.requests) == 2


def test_a_400_is_not_retried(receiver):
    hook = receiver([(400, {})] * 3)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, SECRET, PAYLOAD, "msg_400", sleep=sleeps)
    assert info.value.msg == "webhook %s: the receiver answered HTTP 400 (Bad Request); not retried" % shown(hook.url)
    assert (info.value.kind, info.value.status, info.value.attempts, info.value.target) == ("permanent", 400, 1, shown(hook.url))
    assert len(hook.requests) == 1 and sleeps == []


def test_a_redirect_is_not_followed(receiver):
    hook = receiver([(307, {"Location": "http://127.0.0.1:9/elsewhere"})])
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, SECRET, PAYLOAD, "msg_307", sleep=Sleeps())
    assert info.value.kind == "permanent" and info.value.msg.endswith(
        "HTTP 307 (Temporary Redirect); not retried; redirects are not followed: configure the final URL"
    )
    assert len(hook.requests) == 1


def test_always_503_gives_up_after_the_attempts(receiver):
    hook = receiver([(503, {})] * 5)
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, SECRET, PAYLOAD, "msg_503", attempts=3, sleep=sleeps)
    assert info.value.msg == "webhook %s: the receiver answered HTTP 503 (Service Unavailable) after 3 attempts" % shown(hook.url)
    assert (info.value.kind, info.value.attempts, info.value.status) == ("temporary", 3, 503)
    assert len(hook.requests) == 3 and sleeps == [1.0, 2.0] and len({request.headers["webhook-id"] for request in hook.requests}) == 1


def test_a_receiver_that_answers_too_late_is_tried_again(receiver):
    hook = receiver([(0, {"wait": "1.0"})])
    sleeps = Sleeps()
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_slow", timeout=0.3, attempts=2, sleep=sleeps) == 200
    assert sleeps == [1.0] and [request.headers["webhook-id"] for request in hook.requests] == ["msg_slow", "msg_slow"]


def test_a_receiver_that_is_not_there_is_tried_attempts_times(free_port):
    url = "http://127.0.0.1:%d/hook" % free_port()
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_webhook(url, SECRET, PAYLOAD, "msg_gone", attempts=2, sleep=sleeps)
    assert info.value.msg == "webhook %s: the receiver could not be reached or dropped the connection after 2 attempts" % shown(url)
    assert (info.value.kind, info.value.attempts, info.value.status) == ("temporary", 2, None) and sleeps == [1.0]


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_https_with_the_test_ca_and_a_certificate_that_does_not_verify(receiver, tls):
    hook = receiver(scheme="https")
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_tls", ca_path=tls.ca_path, sleep=Sleeps()) == 200
    assert hook.requests[0].verified == PAYLOAD
    sleeps = Sleeps()
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, SECRET, PAYLOAD, "msg_tls", sleep=sleeps)
    assert info.value.kind == "permanent" and "TLS certificate could not be verified; set ca_path" in info.value.msg and sleeps == []
    assert send_webhook(hook.url, SECRET, PAYLOAD, "msg_tls", validate_certs=False, sleep=Sleeps()) == 200


def test_an_error_shows_neither_the_secret_nor_the_userinfo_nor_the_query(receiver):
    hook = receiver([(403, {})])
    port = hook.url.split(":")[2].split("/")[0]
    url = "http://hook-user:fake-hook-password@127.0.0.1:%s/hooks/preauth?token=fake-query-token#part" % port
    with pytest.raises(ChannelError) as info:
        send_webhook(url, SECRET, PAYLOAD, "msg_403", sleep=Sleeps())
    # Nor the path, where many receivers keep their secret.
    assert info.value.msg == "webhook http://127.0.0.1:%s/...: the receiver answered HTTP 403 (Forbidden); not retried" % port
    text = error_text(info.value)
    for hidden in (SECRET, SECRET[len("whsec_") :], "fake-hook-password", "fake-query-token", "hook-user"):
        assert hidden not in text


@pytest.mark.parametrize(
    "secret,reason",
    [
        ("", "must be 'whsec_' followed by base64"),
        (base64.b64encode(b"k" * 32).decode(), "must be 'whsec_' followed by base64"),
        ("whsec_", "is not base64"),
        ("whsec_not base64!", "is not base64"),
        ("whsec_QUJD=Q", "is not base64"),
        ("whsec_Q", "is not valid base64"),
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "holds 16 bytes, not 24 to 64"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "holds 65 bytes, not 24 to 64"),
    ],
)
def test_a_secret_that_is_not_whsec_base64_of_24_bytes_is_refused_with_how_to_make_one(receiver, secret, reason):
    hook = receiver()
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, secret, PAYLOAD, "msg_secret", sleep=Sleeps())
    assert info.value.kind == "config" and reason in info.value.msg and info.value.msg.endswith("make one with: " + MAKE_SECRET)
    if secret[len("whsec_") :]:
        assert secret[len("whsec_") :] not in info.value.msg
    assert hook.requests == []
    # The command the message gives makes a secret that works.
    assert "base64.b64encode(os.urandom(32))" in MAKE_SECRET


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://example.com/hook", "must use https://"),
        ("http://10.1.2.3/hook", "must use https://"),
        ("ftp://127.0.0.1/hook", "must be an https:// URL with a host"),
        ("https:///hook", "must be an https:// URL with a host"),
        ("https://example.com:99999/hook", "is not a valid URL"),
        ("https://example.com/hook\r\nX-Injected: 1", "holds spaces or control characters"),
        ("", "the webhook URL is empty"),
    ],
)
def test_urls_other_than_https_or_loopback_http_are_refused(url, reason):
    with pytest.raises(ChannelError) as info:
        send_webhook(url, SECRET, PAYLOAD, "msg_url", sleep=Sleeps())
    assert info.value.kind == "config" and reason in info.value.msg and "X-Injected" not in info.value.msg


def test_http_to_localhost_is_allowed(receiver):
    hook = receiver()
    assert send_webhook(hook.url.replace("127.0.0.1", "localhost"), SECRET, PAYLOAD, "msg_localhost", sleep=Sleeps()) == 200


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"msg_id": "has space"}, "the webhook-id must be 1 to 256 printable ASCII characters"),
        ({"msg_id": ""}, "the webhook-id must be 1 to 256 printable ASCII characters"),
        ({"timestamp": -1}, "the webhook-timestamp must be a whole number"),
        ({"payload": {"when": datetime.datetime(2026, 1, 1)}}, "the webhook payload is not JSON (TypeError)"),
        ({"payload": {"n": float("nan")}}, "the webhook payload is not JSON (ValueError)"),
        ({"attempts": 0}, "attempts must be a number from 1 to 10"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(receiver, change, reason):
    hook = receiver()
    arguments: dict[str, t.Any] = {"url": hook.url, "secret": SECRET, "payload": PAYLOAD, "msg_id": "msg_ok", "sleep": Sleeps()}
    arguments.update(change)
    with pytest.raises(ChannelError) as info:
        send_webhook(**arguments)
    assert info.value.kind == "config" and reason in info.value.msg and hook.requests == []


def test_a_ca_path_that_does_not_exist_is_refused(receiver, tmp_path):
    hook = receiver(scheme="https")
    with pytest.raises(ChannelError) as info:
        send_webhook(hook.url, SECRET, PAYLOAD, "msg_ca", ca_path=str(tmp_path / "missing.pem"), sleep=Sleeps())
    assert info.value.kind == "config" and "ca_path %s does not exist" % (tmp_path / "missing.pem") in info.value.msg and hook.requests == []
