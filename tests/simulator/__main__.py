"""Run the simulator: ``python -m simulator [--port N] [--port-file F] [--control] [--config F]``.

Prints the base URL once it listens, writes ``{"port": N, "base_url": ...}`` to ``--port-file``
(atomically, so a waiting process never reads half a file), and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from .server import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: an ephemeral one)")
    parser.add_argument("--port-file", help="write the port and base URL to this JSON file")
    parser.add_argument("--control", action="store_true", help="enable the test-only control API under /_sim/")
    parser.add_argument("--config", help="JSON file with clients and users (default: the built-in demo set)")
    args = parser.parse_args(argv)

    config = None
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
    sim = Simulator(config=config, control=args.control, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"port": sim.port, "base_url": sim.base_url, "pid": os.getpid()}, handle)
        os.replace(tmp, args.port_file)
    print("simulator listening on %s (control API %s)" % (sim.base_url, "on" if args.control else "off"), flush=True)
    stop.wait()
    sim.stop()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
