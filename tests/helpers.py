"""Constants and helpers the tests import (``from helpers import ...``); the pytest fixtures live in conftest.py.

conftest.py calls ``install_collection_loader``; a script that a test starts in a new process calls it
first, before it imports ``ansible_collections.preauth.oauth2`` (or ``chains``, which does).
"""

from __future__ import annotations

import os
import shutil
import sys
import typing as t

from simulator import DEFAULT_CONFIG

TESTS = os.path.dirname(os.path.abspath(__file__))


def _collections_root(root: str) -> str:
    """The directory that holds ``ansible_collections/preauth/oauth2``: the one the collection sits in when it is in
    such a tree (an installed collection, a tools/collection-tree.sh copy), else a checkout's build/collections
    (tools/bootstrap.sh links the checkout there)."""
    namespace = os.path.dirname(root)
    if os.path.basename(os.path.dirname(namespace)) == "ansible_collections" and (os.path.basename(namespace), os.path.basename(root)) == ("preauth", "oauth2"):
        return os.path.dirname(os.path.dirname(namespace))
    return os.path.join(root, "build", "collections")


# For ANSIBLE_COLLECTIONS_PATH and PYTHONPATH of the processes a test starts.
COLLECTIONS = _collections_root(os.path.dirname(TESTS))


def ansible_command(name: str) -> str:
    """An ansible command (``ansible-playbook``) of the Python that runs the tests: the one beside it in a virtual
    environment, else the one on PATH (ansible-test units puts its ansible's bin directory first)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    found = beside if os.path.exists(beside) else shutil.which(name)
    if found is None:
        raise FileNotFoundError("%s is neither beside %s nor on PATH: install ansible-core there" % (name, sys.executable))
    return found


def install_collection_loader() -> None:
    """Import ``ansible_collections.*`` the way ansible-core does (ansible-test units does the same)."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[COLLECTIONS])._install()


# The simulator's fake demo clients and user (obviously fake secrets, never real ones).
EXACT = DEFAULT_CONFIG["clients"][0]
STRICT = DEFAULT_CONFIG["clients"][1]
TWINFIELD = DEFAULT_CONFIG["clients"][2]
USER = DEFAULT_CONFIG["users"][0]


def report(request: t.Any, line: str) -> None:
    """A line in the test run's output, also under -q and with captured output (timings the tests measured)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:  # pragma: no cover - ansible-test's pytest runs with the reporter
        print(line)


def walk_sign_in(page: t.Any, decision: str = "allow", final: str = "**/p/success") -> None:
    """The simulator's sign-in as a person walks it in a browser (Playwright): user name and password, the second factor,
    then Allow or Deny, until the page ``final`` (a URL pattern) has loaded."""
    from simulator.totp import totp  # noqa: PLC0415 - only the browser tests need it

    page.wait_for_selector("form#login")
    page.fill("form#login input[name=username]", USER["username"])
    page.fill("form#login input[name=password]", USER["password"])
    with page.expect_navigation():
        page.click("form#login button")
    page.fill("form#mfa input[name=totp]", totp(USER["totp_secret"]))
    with page.expect_navigation():
        page.click("form#mfa button")
    page.wait_for_selector("form#consent")
    with page.expect_navigation(url=final):
        page.click("form#consent button[value=%s]" % decision)
