"""Fixtures of the notification channel tests: a test CA and a server certificate for 127.0.0.1 (made by tests/receivers.py with
cryptography, nothing from outside), and a free loopback port."""

from __future__ import annotations

import typing as t

import pytest

import receivers
from receivers import Tls, make_tls


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A CA and a certificate it issued for 127.0.0.1 and localhost (tests/receivers.py)."""
    return make_tls(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def free_port() -> t.Callable[[], int]:
    """Gives a loopback TCP port that nothing listens on right now (for a server to start on, or to be refused)."""
    return receivers.free_port
