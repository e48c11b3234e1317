"""Start the simulator as a separate process and talk to its control API.

Used by tests that need a real process boundary, by integration targets and by the demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class ControlClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, verb: str, path: str, body: t.Any = None) -> t.Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=verb)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise RuntimeError("simulator control %s %s: HTTP %d %s" % (verb, path, err.code, err.read()[:300])) from None

    def state(self) -> dict[str, t.Any]:
        return self._call("GET", "/_sim/state")

    def realms(self) -> dict[str, t.Any]:
        return self._call("GET", "/_sim/realms")

    def advance_clock(self, seconds: float) -> dict[str, t.Any]:
        return self._call("POST", "/_sim/clock", {"advance": seconds})

    def inject_fault(self, kind: str, **options: t.Any) -> dict[str, t.Any]:
        return self._call("POST", "/_sim/faults", {"kind": kind, **options})

    def add_client(self, **spec: t.Any) -> dict[str, t.Any]:
        return self._call("POST", "/_sim/clients", spec)

    def login(self, url: str, decision: str = "allow", **options: t.Any) -> dict[str, t.Any]:
        return self._call("POST", "/_sim/login", {"url": url, "decision": decision, **options})


class SimulatorProcess:
    """``with SimulatorProcess() as client: ...`` runs ``python -m simulator --control``."""

    def __init__(self, control: bool = True, python: str | None = None, extra: list[str] | None = None) -> None:
        self.control = control
        self.python = python or sys.executable
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.mkdtemp(prefix="preauth-sim-")
        self.port_file = os.path.join(self.workdir, "port.json")
        self.base_url = ""

    def start(self, wait: float = 20.0) -> ControlClient:
        cmd = [self.python, "-m", "simulator", "--port-file", self.port_file] + (["--control"] if self.control else []) + self.extra
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(HERE), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + wait
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited early: %s" % (self.proc.stderr.read().decode()[-500:] if self.proc.stderr else ""))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator did not start within %.0f s" % wait)
            time.sleep(0.05)
        with open(self.port_file, encoding="utf-8") as handle:
            self.base_url = json.load(handle)["base_url"]
        return ControlClient(self.base_url)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        return code

    def __enter__(self) -> ControlClient:
        return self.start()

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()
