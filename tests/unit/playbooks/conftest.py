"""Run the collection's playbooks with ansible-playbook, the collection found through ANSIBLE_COLLECTIONS_PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest
import yaml

from helpers import ansible_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

Runner = t.Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def ansible_playbook(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """``ansible_playbook(name, *args, extra=None, inventory=None)``: preauth.oauth2.<name> on localhost, stdin from /dev/null."""
    base = tmp_path_factory.mktemp("collections")
    os.makedirs(base / "ansible_collections" / "preauth")
    os.symlink(ROOT, base / "ansible_collections" / "preauth" / "oauth2")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(base / "tmp"), ANSIBLE_FORCE_COLOR="0")
    count = [0]

    def run(name: str, *args: str, extra: dict[str, t.Any] | None = None, inventory: dict[str, t.Any] | None = None) -> subprocess.CompletedProcess:
        count[0] += 1
        path = base / ("inventory-%d.yml" % count[0])
        doc = {"all": {"hosts": {"localhost": dict(local, **((inventory or {}).get("host") or {}))}, "vars": (inventory or {}).get("vars") or {}}}
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        command = [ansible_command("ansible-playbook"), "-i", str(path), "preauth.oauth2." + name, *args]
        if extra is not None:
            command += ["-e", json.dumps(extra)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)

    return run
