"""Helpers for the refresh target, with the chains in a file store ($work/tokens): the inventory, the clock, the
checks and the secret scan of ../setup_simulator/fleet.py. Nothing here prints a secret."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "setup_simulator"))

from fleet import check_chains, counter, main, scan_paths, vault, write_inventory  # noqa: E402

from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore  # noqa: E402
from simulator.control import ControlClient  # noqa: E402
from simulator.timewarp import warp  # noqa: E402


def store(work: str) -> FileTokenStore:
    return FileTokenStore(os.path.join(work, "tokens"), vault(work))


def inventory(sim: str, work: str, strict: str, exact: str) -> None:
    write_inventory(sim, work, strict, exact, os.path.join(work, "tokens"))


def later(sim: str, work: str, seconds: str) -> None:
    warp(float(seconds), ControlClient(sim), store(work))


def check(sim: str, work: str, mode: str) -> None:
    check_chains(store(work), sim, mode, "stores")


def scan(sim: str, work: str) -> None:
    tokens = os.path.join(work, "tokens")
    scan_paths(sim, [work], [os.path.join(tokens, n) for n in os.listdir(tokens) if n.endswith(".yml")])


if __name__ == "__main__":
    main({"inventory": inventory, "later": later, "check": check, "counter": counter, "scan": scan})
