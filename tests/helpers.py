"""Constants and helpers the tests import (``from helpers import ...``); the pytest fixtures live in conftest.py.

conftest.py calls ``install_collection_loader``; a script that a test starts in a new process calls it
first, before it imports ``ansible_collections.preauth.oauth2`` (or ``chains``, which does).
"""

from __future__ import annotations

import os

from simulator import DEFAULT_CONFIG

TESTS = os.path.dirname(os.path.abspath(__file__))


def install_collection_loader() -> None:
    """Import ``ansible_collections.*`` the way ansible-core does (ansible-test units does the same)."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    collections = os.path.join(os.path.dirname(TESTS), "build", "collections")
    _AnsibleCollectionFinder(paths=[collections])._install()


# The simulator's fake demo clients and user (obviously fake secrets, never real ones).
EXACT = DEFAULT_CONFIG["clients"][0]
STRICT = DEFAULT_CONFIG["clients"][1]
TWINFIELD = DEFAULT_CONFIG["clients"][2]
USER = DEFAULT_CONFIG["users"][0]
