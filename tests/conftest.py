"""Shared fixtures: the simulator on a real socket, its fake demo credentials, and a real PostgreSQL server."""

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


from pgserver import PostgresServer, PostgresServerError  # noqa: E402


@pytest.fixture(scope="session")
def pg() -> t.Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run. Missing binaries fail (make test installs them), never skip."""
    try:
        server = PostgresServer().start()
    except PostgresServerError as exc:
        pytest.fail(f"cannot start the PostgreSQL test server: {exc}", pytrace=False)
    with server:
        yield server


@pytest.fixture
def pg_db(pg: PostgresServer) -> t.Iterator[str]:
    """A fresh empty database owned by the application role; its URL (password: ``pg.env``). Dropped afterwards."""
    name = f"test_{os.urandom(6).hex()}"
    url = pg.create_database(name)
    try:
        yield url
    finally:
        pg.drop_database(name)
