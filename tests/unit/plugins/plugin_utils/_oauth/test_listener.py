"""The loopback listener on real sockets: any local process can talk to it, so only this attempt's answer ends it."""

from __future__ import annotations

import socket
import threading
import time
import typing as t

import pytest
import requests

from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.listener import MAX_REQUESTS, wait_for_redirect
from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import OAuthError

STATE = "FAKE-state-0123456789abcdef"
CODE = "FAKE-code-9f8e7d"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redirect_uri() -> str:
    return "http://127.0.0.1:%d/callback" % free_port()


def listen(redirect_uri: str, visits: t.Callable[[], None], timeout: float = 10) -> str:
    return wait_for_redirect(redirect_uri, timeout, STATE, ready=visits)


def test_requests_without_this_attempts_state_are_answered_and_ignored(redirect_uri):
    answers: list[requests.Response] = []
    forged = [
        redirect_uri + "?code=FAKE-forged-code",  # no state
        redirect_uri + "?code=FAKE-forged-code&state=FAKE-guess",  # another state
        redirect_uri + "?code=FAKE-forged-code&state=" + STATE + "&state=FAKE-guess",  # two states
        redirect_uri.replace("/callback", "/favicon.ico"),  # another path
    ]

    done = threading.Event()

    def visits() -> None:
        try:
            for url in forged + [redirect_uri + "?code=%s&state=%s" % (CODE, STATE)]:
                answers.append(requests.get(url, timeout=5))
        finally:
            done.set()

    landed = listen(redirect_uri, visits)
    assert done.wait(10)  # the listener may return before the last answer reached the client
    assert landed == redirect_uri + "?code=%s&state=%s" % (CODE, STATE)
    assert [a.status_code for a in answers] == [400, 400, 400, 404, 200]
    assert all("ignored" in a.text for a in answers[:3]) and "You may close this window" in answers[4].text
    # No page echoes what a request carried.
    assert all("FAKE-" not in a.text for a in answers)


def test_an_error_answer_with_this_attempts_state_ends_the_wait(redirect_uri):
    # The platform's refusal carries the state too: the person pressed Deny, there is nothing more to wait for.
    denied = redirect_uri + "?error=access_denied&state=" + STATE
    assert listen(redirect_uri, lambda: requests.get(denied, timeout=5)) == denied


def test_only_forged_requests_end_at_the_deadline_with_a_message(redirect_uri):
    started = time.monotonic()
    with pytest.raises(OAuthError) as info:
        listen(redirect_uri, lambda: requests.get(redirect_uri + "?code=FAKE-forged-code", timeout=5), timeout=1.5)
    assert time.monotonic() - started >= 1.5
    assert str(info.value) == (
        "no browser came back to %s with this attempt's state within 1 s (1 other request(s) were ignored); start again with a new "
        "authorization URL" % redirect_uri
    )
    assert info.value.kind == "timeout"


def test_the_number_of_requests_is_bounded(redirect_uri):
    def flood() -> None:
        with requests.Session() as session:
            for _request in range(MAX_REQUESTS + 5):
                try:
                    session.get(redirect_uri + "?state=FAKE-guess", timeout=5)
                except requests.RequestException:
                    return  # the listener stopped

    with pytest.raises(OAuthError) as info:
        listen(redirect_uri, flood, timeout=60)
    port = int(redirect_uri.split(":")[2].split("/")[0])
    assert str(info.value) == (
        "the listener on %s answered %d requests without this attempt's state, so it stopped: something else on this computer sends "
        "requests to port %d. Stop it, or paste the landed URL with redirect_url instead" % (redirect_uri, MAX_REQUESTS, port)
    )


def test_a_silent_connection_does_not_hold_the_listener(redirect_uri):
    def visits() -> None:
        silent = socket.create_connection(("127.0.0.1", int(redirect_uri.split(":")[2].split("/")[0])))
        try:
            time.sleep(0.1)
            requests.get(redirect_uri + "?code=%s&state=%s" % (CODE, STATE), timeout=15)
        finally:
            silent.close()

    started = time.monotonic()
    assert listen(redirect_uri, visits, timeout=20).endswith("state=" + STATE)
    assert time.monotonic() - started < 12
