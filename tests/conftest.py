"""Shared fixtures: the simulator on a real socket, and its fake demo credentials."""

from __future__ import annotations

import os
import sys
import typing as t

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)


def _install_collection_loader() -> None:
    """Import ``ansible_collections.*`` the way ansible-core does (ansible-test units does the same)."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    collections = os.path.join(os.path.dirname(TESTS), "build", "collections")
    _AnsibleCollectionFinder(paths=[collections])._install()


_install_collection_loader()

from simulator import DEFAULT_CONFIG, Simulator  # noqa: E402
from simulator.control import ControlClient  # noqa: E402

EXACT = DEFAULT_CONFIG["clients"][0]
STRICT = DEFAULT_CONFIG["clients"][1]
TWINFIELD = DEFAULT_CONFIG["clients"][2]
USER = DEFAULT_CONFIG["users"][0]


@pytest.fixture
def sim() -> t.Iterator[Simulator]:
    with Simulator(control=True) as running:
        yield running


@pytest.fixture
def control(sim: Simulator) -> ControlClient:
    return ControlClient(sim.base_url)
