"""Constants and helpers the tests import (``from helpers import ...``); the pytest fixtures live in conftest.py.

conftest.py calls ``install_collection_loader``; a script that a test starts in a new process calls it
first, before it imports ``ansible_collections.preauth.oauth2`` (or ``chains``, which does).
"""

from __future__ import annotations

import os
import shutil
import sys

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
