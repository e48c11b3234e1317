"""The redirect relay page (docs/redirect-relay.html) in a real headless browser.

Debian's chromium runs the page itself, script and all; the test reads the page's state through
the Chrome DevTools protocol over a pipe (--remote-debugging-pipe), because --dump-dom shows
attributes only and not the value the script puts into the address field.
Only fake codes and states are used.
"""

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "redirect-relay.html"
TIMEOUT = 30.0

# Everything the tests look at, read in one go once the page has loaded and its script has run.
STATE = """
(() => {
  const byId = (id) => document.getElementById(id);
  const seen = (id) => { const e = byId(id); if (!e) return null;
    const r = e.getBoundingClientRect(); return e.checkVisibility() && r.width > 0 && r.height > 0; };
  const text = (id) => byId(id) ? byId(id).textContent : null;
  return JSON.stringify({
    ready: document.readyState === "complete" && location.protocol === "file:",
    href: location.href,
    landed: byId("landed") ? byId("landed").value : null,
    landedSeen: seen("landed"),
    copySeen: seen("copy"), copyText: text("copy"), copyTag: byId("copy") ? byId("copy").tagName : null,
    left: text("left"), leftSeen: seen("left"),
    gotCode: seen("got-code"), gotError: seen("got-error"), about: seen("about"),
    error: text("error"), errorDescription: text("error-description"),
    shown: document.body.innerText,
  });
})()
"""


class Chromium:
    """A headless chromium driven through the DevTools protocol on fds 3 and 4."""

    def __init__(self, url, profile):
        binary = shutil.which("chromium")
        if binary is None:
            pytest.fail("chromium is missing: run tools/system-deps.sh test (make test installs it)")
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-pipe", url]
        # chromium reads commands from fd 3 and writes answers to fd 4: wire those to our pipes.
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.deadline = time.monotonic() + TIMEOUT
        self.buffer = b""
        self.next_id = 0

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.proc.stdin.write(json.dumps(message).encode() + b"\0")
        self.proc.stdin.flush()
        while True:
            answer = self._receive()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def _receive(self):
        fd = self.proc.stdout.fileno()
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                pytest.fail(f"chromium did not answer within {TIMEOUT} seconds")
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"chromium exited (code {self.proc.wait()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def page_state(self):
        """The page's state once it has loaded from the file and its script has run."""
        session = None
        while time.monotonic() < self.deadline:
            if session is None:
                pages = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
                if pages:
                    session = self.call("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)["sessionId"]
            if session is not None:
                try:
                    result = self.call("Runtime.evaluate", session, expression=STATE, returnByValue=True)["result"]
                except RuntimeError:  # the page navigated while we asked; ask again
                    result = {}
                if "value" in result:
                    state = json.loads(result["value"])
                    if state["ready"]:
                        return state
            time.sleep(0.05)
        pytest.fail(f"the page did not load within {TIMEOUT} seconds")

    def close(self):
        try:
            self.call("Browser.close")
        except (Exception, pytest.fail.Exception):
            pass  # closing politely is best effort; the kill below makes sure
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def open_page(tmp_path):
    browsers = []

    def opened(query):
        url = PAGE.as_uri() + query
        browser = Chromium(url, tmp_path / f"profile-{len(browsers)}")
        browsers.append(browser)
        return url, browser.page_state()

    yield opened
    for browser in browsers:
        browser.close()


def test_code_shows_the_exact_address_copy_button_and_countdown(open_page):
    url, state = open_page("?code=FAKE-code-123&state=FAKE-state-456")
    assert state["gotCode"] is True
    assert state["gotError"] is False
    assert state["about"] is False
    # The whole address, exactly as opened: the playbook parses it, so the page must not decode it.
    assert state["href"] == url
    assert state["landed"] == url
    assert "code=FAKE-code-123" in state["landed"] and "state=FAKE-state-456" in state["landed"]
    assert state["landedSeen"] is True
    assert state["copyTag"] == "BUTTON"
    assert state["copyText"] == "Copy"
    assert state["copySeen"] is True
    # The countdown started at 3:00 when the page opened and ticks every second.
    minutes, colon, seconds = state["left"].partition(":")
    assert colon == ":", state["left"]
    assert state["leftSeen"] is True
    assert minutes.isdigit() and len(seconds) == 2 and seconds.isdigit(), state["left"]
    assert 150 <= int(minutes) * 60 + int(seconds) <= 180, state["left"]


def test_code_address_keeps_its_encoding(open_page):
    url, state = open_page("?code=FAKE%2Fcode%2B123&state=FAKE-state-456&scope=a+b")
    assert state["landed"] == url
    assert "code=FAKE%2Fcode%2B123" in state["landed"]


def test_second_run_is_told_to_use_the_environment_variable(open_page):
    state = open_page("?code=FAKE-code-123&state=FAKE-state-456")[1]
    shown = state["shown"]
    assert "PREAUTH_REDIRECT_URL='…' ansible-playbook" in shown
    assert "-vvvv" in shown  # says why: extra variables are printed at -vvvv
    source = PAGE.read_text(encoding="utf-8")
    assert "-e preauth_redirect_url" not in shown
    assert "-e preauth_redirect_url" not in source


def test_access_denied_explains_and_offers_nothing_to_copy(open_page):
    state = open_page("?error=access_denied&error_description=FAKE+user+pressed%20Deny&state=FAKE-state-456")[1]
    assert state["gotError"] is True
    assert state["gotCode"] is False
    assert state["about"] is False
    assert state["error"] == "access_denied"
    # Decoded as the page decodes it (URLSearchParams: '+' and %20 are spaces).
    assert state["errorDescription"] == "FAKE user pressed Deny"
    assert state["landedSeen"] is False
    assert state["copySeen"] is False
    assert state["landed"] == ""
    assert "access_denied usually means that someone pressed Deny" in " ".join(state["shown"].split())


def test_error_without_description_says_none_given(open_page):
    state = open_page("?error=access_denied")[1]
    assert state["gotError"] is True
    assert state["errorDescription"] == "(none given)"


def test_without_query_shows_instructions(open_page):
    state = open_page("")[1]
    assert state["about"] is True
    assert state["gotCode"] is False
    assert state["gotError"] is False
    assert state["copySeen"] is False
    shown = " ".join(state["shown"].split())
    assert "It was opened without a code or an error, so there is nothing to do here." in shown
    assert "run the playbook and open the authorization URL it prints" in shown


def test_page_cannot_send_the_code_anywhere():
    source = PAGE.read_text(encoding="utf-8")
    assert "content=\"default-src 'none';" in source
    for call in ("fetch(", "XMLHttpRequest", "sendBeacon", "WebSocket", "localStorage", "document.cookie"):
        assert call not in source
