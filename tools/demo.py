"""make demo: the story of preauth.oauth2 against the embedded Exact Online simulator.

Starts the simulator as its own process on 127.0.0.1, shows what a client discovers there, lets a
scripted browser play the person who signs in with two-step verification, and tells where the
story continues. Secrets that pass by are masked in everything printed here.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simulator import DEFAULT_CONFIG  # noqa: E402
from simulator.browser import ScriptedBrowser  # noqa: E402
from simulator.control import SimulatorProcess  # noqa: E402


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say()
    say("[%d] %s" % (number, title))


def mask(value: str) -> str:
    return value[:4] + "…(%d characters, masked)" % len(value) if value else value


def main() -> int:
    say("preauth.oauth2 demo — against the local Exact Online simulator (nothing leaves this machine)")
    process = SimulatorProcess(control=True)
    control = process.start()
    try:
        base = process.base_url
        step(1, "The simulator listens on %s" % base)
        realms = control.realms()
        for country in ("nl", "be", "co.uk"):
            say("    Exact Online %-6s authorize %s" % (country, realms[country]["authorize"]))
            say("    %-19s token     %s" % ("", realms[country]["token"]))

        step(2, "Discovery document of the generic OpenID Connect profile (%s/strict)" % base)
        with urllib.request.urlopen(base + "/strict/.well-known/openid-configuration", timeout=10) as response:
            for key, value in json.load(response).items():
                say("    %-38s %s" % (key, ", ".join(value) if isinstance(value, list) else value))

        step(3, "A person signs in once, with two-step verification (a scripted browser plays the person)")
        client = DEFAULT_CONFIG["clients"][0]
        user = DEFAULT_CONFIG["users"][0]
        query = urllib.parse.urlencode(
            {
                "client_id": client["client_id"],
                "redirect_uri": client["redirect_uris"][0],
                "response_type": "code",
                "state": "demo-state",
                "force_login": "1",
            }
        )
        browser = ScriptedBrowser(narrate=lambda s: say("    browser: " + s))
        landed = browser.login(realms["nl"]["authorize"] + "?" + query, user["username"], user["password"], user["totp_secret"])
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed).query))
        say("    landed on %s?code=%s&state=%s" % (client["redirect_uris"][0], mask(params["code"]), params["state"]))
        say("    the code contains '!' and arrived URL-encoded; it lives 3 minutes and works once")

        state = control.state()
        say("    simulator counters: %d token calls so far, %d chains alive (the code has not been exchanged)"
            % (state["token_calls_total"], state["chains_alive"]))

        step(4, "Where the story continues")
        say("    This release has the simulator, the action base and the quality gates. Next, in this order:")
        say("    preauthenticate (authorization_url + code_exchange into an ansible-vault encrypted store),")
        say("    keep chains alive (token_refresh, token_info, status), and deploy sealed settings to hosts.")
    finally:
        process.stop()
    say()
    say("demo finished; the simulator has stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
