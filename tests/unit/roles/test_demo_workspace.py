"""make demo (tools/demo.py) deploys with the settings role and runs the runner on a stand-in host: everything it writes
stays in its workspace, never in the machine's /var/lib/preauth or in the user's ~/.cache (issue 18, item 15).

The whole demo runs (about a minute and a half), with HOME set to an empty directory and a workspace of its own, so a
``make demo`` run meanwhile is not disturbed.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEMO = os.path.join(ROOT, "tools", "demo.py")
pytestmark = pytest.mark.checkout
if not os.path.isfile(DEMO):
    pytest.skip("make demo (tools/demo.py) is a contributor's tool that the built collection leaves out", allow_module_level=True)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import demo  # noqa: E402  (its private_way: the rule the settings role applies)


def listing(path: str) -> list[str] | None:
    """Every path under ``path`` (None when it does not exist)."""
    if not os.path.lexists(path):
        return None
    return sorted(os.path.join(top, name) for top, dirs, files in os.walk(path) for name in dirs + files)


def test_the_demo_keeps_everything_in_its_workspace(tmp_path):
    user = pwd.getpwuid(os.getuid()).pw_name
    # The machine's own places, as a real host and a real user have them (other users' records there are not the demo's).
    watched = ["/var/lib/preauth/health/" + user, "/var/lib/preauth/sealed/" + user, os.path.expanduser("~/.cache/preauth.oauth2-demo")]
    before = {path: listing(path) for path in watched}
    home = tmp_path / "home"
    home.mkdir()
    # In the checkout's build directory, unless the checkout is under /tmp: the settings role accepts sealed files only where no
    # one else can write on the way, and the demo would then keep the stand-in host in a temporary directory of its own instead.
    base = os.path.join(ROOT, "build")
    if not demo.private_way(base):
        base = pwd.getpwuid(os.getuid()).pw_dir
    workspace = tempfile.mkdtemp(prefix=".demo-test-", dir=base)
    try:
        env = {k: v for k, v in os.environ.items() if k != "PREAUTH_DEMO_WORKSPACE" and not k.startswith(("ANSIBLE_", "PREAUTH_OAUTH2_"))}
        env["HOME"] = str(home)
        proc = subprocess.run([sys.executable, DEMO, "--workspace", workspace], env=env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
        assert "\n    found none\n" in proc.stdout and "demo finished" in proc.stdout

        assert {path: listing(path) for path in watched} == before
        assert listing(str(home)) == []  # not even Ansible's ~/.ansible/tmp
        # The runner's base on the memory file system (the one place outside the workspace) is gone with the demo.
        (runtime,) = set(re.findall(r"--runtime-dir (\S+)", proc.stdout))
        assert runtime.startswith("/dev/shm/preauth-demo-") and not os.path.exists(runtime)
        health = os.path.join(workspace, "dwh01", "var", "lib", "preauth", "health", user)
        with open(os.path.join(health, "acme-nl.json"), encoding="utf-8") as handle:
            record = json.load(handle)
        assert record["status"] == "succeeded" and record["connection"] == "acme-nl"
        assert sorted(os.listdir(health)) == ["acme-nl.deployed", "acme-nl.json"]
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def test_a_workspace_that_is_not_the_demos_is_never_emptied(tmp_path):
    workspace = tempfile.mkdtemp(prefix="demo-test-", dir=os.path.join(ROOT, "build"))
    try:
        with open(os.path.join(workspace, "notes.txt"), "w", encoding="utf-8") as handle:
            handle.write("someone's own file")
        env = dict(os.environ, HOME=str(tmp_path))
        proc = subprocess.run([sys.executable, DEMO, "--workspace", workspace], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 1
        assert proc.stderr.strip().endswith(
            "make demo: %s is not empty and is not a workspace of the demo (no .preauth-demo-workspace in it); give another --workspace." % workspace
        )
        assert os.listdir(workspace) == ["notes.txt"]
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
