"""Shared fixtures: the simulator on a real socket and a real PostgreSQL server (constants are in helpers.py)."""

from __future__ import annotations

import os
import sys
import typing as t

import pytest

# tests/ on the path for runs that do not read pyproject.toml's pythonpath.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import install_collection_loader  # noqa: E402

# Before any test module imports the collection.
install_collection_loader()

from simulator import Simulator  # noqa: E402
from simulator.control import ControlClient  # noqa: E402


@pytest.fixture(autouse=True)
def rescue_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test's own rescue directory (the PostgreSQL store's), never the default one in the real HOME."""
    path = str(tmp_path_factory.mktemp("rescue") / "rescue")
    monkeypatch.setenv("PREAUTH_OAUTH2_RESCUE_DIR", path)
    return path


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


# Tests of what does not depend on ansible-core or the controller's Python (the test PostgreSQL server, the simulator,
# the docs and their pages in a browser): make test runs them once, on the newest line, and sets
# PREAUTH_TEST_CORE_INDEPENDENT=skip for the other lines, where they are counted as skipped with this reason.
CORE_INDEPENDENT = ("test_pgserver.py", "docs/", "simulator/", "meta/test_import_graph.py", "plugins/plugin_utils/_consent/")


def pytest_configure(config: pytest.Config) -> None:
    # ansible-test units runs pytest with --strict-markers and its own configuration file: the marker is declared here.
    config.addinivalue_line(
        "markers",
        "checkout: needs this repository's checkout or its tools (tools/, galaxy.yml, git, changelogs/fragments, antsibull-changelog), "
        "in whole or in part; an installed collection skips that part, so make test runs these tests again from the checkout on "
        "the newest line (pytest -m checkout)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PREAUTH_TEST_CORE_INDEPENDENT") != "skip":
        return
    unit = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit") + os.sep
    skip = pytest.mark.skip(reason="does not depend on ansible-core: make test runs it on the newest line only")
    for item in items:
        path = str(item.path)
        if path.startswith(unit) and path[len(unit) :].startswith(CORE_INDEPENDENT):
            item.add_marker(skip)
