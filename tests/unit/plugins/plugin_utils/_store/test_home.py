"""A file store knows where it lives: its home record, copies that refuse, and adoption."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import typing as t

import pytest

from action_runner import PASSWORD, given, pick, run_action
from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover
from ansible_collections.preauth.oauth2.plugins.action.token_refresh import ActionModule as TokenRefresh
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import home as _home
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.home import HOME_FILE, HISTORY_LIMIT, StoreCopyError, home_problem, machine
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
from chains import VAULT, google_params, params, preauthenticate, stored
from helpers import ansible_command
from simulator.timewarp import warp

DAY = 86400
MACHINE_A = "0123456789abcdef0123456789abcdef"
MACHINE_B = "fedcba9876543210fedcba9876543210"
REAL_MACHINE_ID_FILES = _home.MACHINE_ID_FILES
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))))


@pytest.fixture(autouse=True)
def machine_a(tmp_path, monkeypatch) -> str:
    """Every test runs on a machine whose machine id it controls."""
    path = tmp_path / "machine-id"
    path.write_text(MACHINE_A + "\n")
    monkeypatch.setattr(_home, "MACHINE_ID_FILES", (str(path), str(tmp_path / "no-dbus-machine-id")))
    return str(path)


def on_machine(machine_id_file: str, machine_id: str) -> None:
    with open(machine_id_file, "w", encoding="ascii") as handle:
        handle.write(machine_id + "\n")


def new_store(tmp_path, name: str = "tokens") -> FileTokenStore:
    store = FileTokenStore(str(tmp_path / name), VAULT)
    with store.locked("acme") as record:
        record.data["generation"] = 1
    return store


def home_of(store_dir: str) -> dict[str, t.Any]:
    with open(os.path.join(store_dir, HOME_FILE), encoding="utf-8") as handle:
        return json.load(handle)


def copy_of(store_dir: str, tmp_path, name: str = "copy") -> str:
    target = str(tmp_path / name)
    shutil.copytree(store_dir, target)
    return target


# -- the record --------------------------------------------------------------------------------


def test_the_first_write_records_the_home(tmp_path):
    store = new_store(tmp_path)
    path = os.path.join(store.store_dir, HOME_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    home = home_of(store.store_dir)
    info = os.stat(store.store_dir)
    assert (home["path"], home["device"], home["inode"]) == (os.path.realpath(store.store_dir), info.st_dev, info.st_ino)
    assert home["machine"]["source"].endswith("machine-id") and MACHINE_A not in json.dumps(home)
    assert home["machine"]["id"] == machine()["id"] and len(home["machine"]["id"]) == 64
    assert home["created_at"].endswith("Z") and home["adopted_at"] is None and home["adopted_from"] == []
    assert home_problem(store.store_dir) is None
    store.check_home()
    assert [n for n in os.listdir(store.store_dir) if n.endswith(".tmp")] == []


def test_a_machine_without_a_machine_id_is_named_by_its_host_name(tmp_path, monkeypatch, machine_a):
    on_machine(machine_a, "uninitialized")
    found = machine()
    assert found["source"] == "hostname" and found["hostname"]
    monkeypatch.setattr(_home, "MACHINE_ID_FILES", (str(tmp_path / "none"),))
    assert machine() == found
    store = new_store(tmp_path)
    copy = copy_of(store.store_dir, tmp_path)
    assert "(a machine without a machine id, named by its host name)" in home_problem(copy)


def test_a_copy_at_another_path_refuses_with_why_and_how(tmp_path):
    store = new_store(tmp_path)
    copy = copy_of(store.store_dir, tmp_path)
    problem = home_problem(copy)
    assert problem.startswith("the token store %s is not where it was set up: it belongs to %s on " % (copy, store.store_dir))
    assert "and this is another path; another directory (device and inode" in problem
    assert "when a copy and its original both refresh a chain, the platform sees a spent refresh token used again and revokes the whole chain" in problem
    assert "Nothing was sent or changed. If this is now the only copy (the store was moved), adopt it here: ansible-playbook preauth.oauth2.refresh " in problem
    assert "-e preauth_adopt_store=true (or the adopt_store option of preauth.oauth2.token_refresh)" in problem
    assert "If the original is still in use, keep using that one and remove this copy" in problem
    assert problem.endswith("To share chains among several controllers, use the PostgreSQL store (store_url).")
    with pytest.raises(StoreCopyError) as raised:
        FileTokenStore(copy, VAULT).check_home()
    assert isinstance(raised.value, StoreError) and raised.value.msg == problem
    assert home_problem(store.store_dir) is None  # the original is at home


def test_a_store_renamed_on_the_same_filesystem_is_at_another_path(tmp_path):
    store = new_store(tmp_path)
    moved = str(tmp_path / "moved")
    os.rename(store.store_dir, moved)
    problem = home_problem(moved)
    assert "and this is another path. Rotating" in problem


def test_a_directory_recreated_at_the_same_path_is_another_directory(tmp_path):
    store = new_store(tmp_path)
    copy = copy_of(store.store_dir, tmp_path)
    shutil.rmtree(store.store_dir)
    os.rename(copy, store.store_dir)
    problem = home_problem(store.store_dir)
    assert "and this is another directory (device and inode" in problem and "another path" not in problem
    assert "a copy, or a restore that recreated it" in problem


def test_a_store_on_another_machine_at_the_same_path(tmp_path, machine_a):
    store = new_store(tmp_path)
    on_machine(machine_a, MACHINE_B)
    assert "and this is another machine. Rotating" in home_problem(store.store_dir)


def test_a_store_without_a_record_predates_it_and_is_adopted_silently(tmp_path):
    store = new_store(tmp_path)
    os.unlink(os.path.join(store.store_dir, HOME_FILE))
    copy = copy_of(store.store_dir, tmp_path)
    # Read-only uses write nothing; the next write records wherever the store is then.
    assert home_problem(copy) is None and not os.path.exists(os.path.join(copy, HOME_FILE))
    assert FileTokenStore(copy, VAULT).adopt() == {"changed": False, "from": None, "to": {"host": machine()["hostname"], "path": copy}}
    assert home_of(copy)["path"] == copy
    with store.locked("acme"):
        pass
    assert home_of(store.store_dir)["path"] == store.store_dir


def test_adoption_makes_here_the_home_and_keeps_the_history(tmp_path):
    store = new_store(tmp_path)
    original = home_of(store.store_dir)
    copy = copy_of(store.store_dir, tmp_path)
    before = open(os.path.join(copy, HOME_FILE), "rb").read()
    predicted = FileTokenStore(copy, VAULT).adopt(check_mode=True)
    assert open(os.path.join(copy, HOME_FILE), "rb").read() == before
    moved = FileTokenStore(copy, VAULT).adopt()
    host = machine()["hostname"]
    assert moved == predicted == {"changed": True, "from": {"host": host, "path": store.store_dir}, "to": {"host": host, "path": copy}}
    assert home_problem(copy) is None
    home = home_of(copy)
    assert home["path"] == copy and home["created_at"] == original["created_at"] and home["adopted_at"].endswith("Z")
    (left,) = home["adopted_from"]
    assert (left["path"], left["inode"], left["machine"]) == (store.store_dir, original["inode"], original["machine"])
    assert FileTokenStore(copy, VAULT).adopt()["changed"] is False
    assert [n for n in os.listdir(copy) if n.endswith(".tmp")] == []


def test_the_history_of_adoptions_is_bounded(tmp_path, machine_a):
    store = new_store(tmp_path)
    for turn in range(HISTORY_LIMIT + 3):
        on_machine(machine_a, MACHINE_B if turn % 2 == 0 else MACHINE_A)
        assert store.adopt()["changed"] is True
    assert len(home_of(store.store_dir)["adopted_from"]) == HISTORY_LIMIT


@pytest.mark.parametrize(
    "content, reason",
    [(b"{not json", "not JSON"), (b'{"format": 1}', "not a home record of format 1"), (b"[]", "not a home record of format 1"), (b"x" * 70000, "larger than")],
)
def test_a_damaged_record_refuses_until_adopted(tmp_path, content, reason):
    store = new_store(tmp_path)
    with open(os.path.join(store.store_dir, HOME_FILE), "wb") as handle:
        handle.write(content)
    problem = home_problem(store.store_dir)
    assert problem.startswith("the home record %s of the token store is damaged (%s" % (os.path.join(store.store_dir, HOME_FILE), reason))
    assert "adopt it here: ansible-playbook preauth.oauth2.refresh -e preauth_adopt_store=true" in problem
    assert store.adopt() == {"changed": True, "from": None, "to": {"host": machine()["hostname"], "path": store.store_dir}}
    assert home_problem(store.store_dir) is None and home_of(store.store_dir)["adopted_from"][0]["damaged"] is True


def test_a_linked_or_loose_record_is_not_trusted(tmp_path):
    store = new_store(tmp_path)
    path = os.path.join(store.store_dir, HOME_FILE)
    os.chmod(path, 0o620)
    with pytest.raises(StoreError, match=r"group or others can write to the home record .*chmod 0600"):
        home_problem(store.store_dir)
    elsewhere = tmp_path / "elsewhere.json"
    os.rename(path, str(elsewhere))
    os.symlink(str(elsewhere), path)
    with pytest.raises(StoreError, match=r"the home record .* is a symbolic link; the token store never follows links"):
        store.check_home()


def test_a_record_that_cannot_be_written_never_stops_a_store_write(tmp_path, monkeypatch):
    real_replace = os.replace
    refused = []

    def refuse(src, dst):
        # Only the home record fails; the store file itself is written the same way and must still be.
        if os.path.basename(dst) != HOME_FILE:
            return real_replace(src, dst)
        refused.append(dst)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    store = new_store(tmp_path)
    assert store.read("acme").data["generation"] == 1
    assert refused, "the home record was never written, so its failure was not tested"
    assert sorted(n for n in os.listdir(store.store_dir) if "home" in n) == []


def test_the_machine_id_itself_never_reaches_the_record(tmp_path):
    store = new_store(tmp_path)
    raw = open(os.path.join(store.store_dir, HOME_FILE), "rb").read()
    assert MACHINE_A.encode() not in raw and hashlib.sha256(MACHINE_A.encode()).hexdigest().encode() not in raw


# -- refreshing and handing over from a copy, against the simulator --------------------------------


def refresh(p: dict[str, t.Any], **policy: t.Any):
    client = new_client(p)
    return Refresher(open_store(p, VAULT), client, Policy(**policy)).run_one(resolve(p, client))


@pytest.fixture
def exact(sim, tmp_path, control):
    """An Exact Online chain (rotating) whose refresh token is due: 24 of its 30 days are gone."""
    p = params(sim, tmp_path)
    preauthenticate(p)
    warp(24 * DAY, control, open_store(p, VAULT))
    return p


def test_a_copied_store_makes_no_token_call_and_says_why(exact, control, tmp_path):
    copy = dict(exact, store_dir=copy_of(exact["store_dir"], tmp_path))
    content = open(open_store(copy, VAULT).path("acme-nl"), "rb").read()
    calls = control.state()["token_calls_total"]
    refused = refresh(copy)
    assert (refused.status, refused.reason, refused.token_calls) == ("failed", "store_copy", 0)
    assert refused.msg == home_problem(copy["store_dir"])
    assert "the platform sees a spent refresh token used again and revokes the whole chain" in refused.msg
    assert control.state()["token_calls_total"] == calls
    assert open(open_store(copy, VAULT).path("acme-nl"), "rb").read() == content  # no in-flight marker either
    # The original keeps working, and the copy still refuses afterwards.
    assert refresh(exact).status == "refreshed"
    assert refresh(copy).reason == "store_copy" and control.state()["token_calls_total"] == calls + 1


def test_check_mode_on_a_copy_predicts_the_refusal(exact, tmp_path):
    copy = dict(exact, store_dir=copy_of(exact["store_dir"], tmp_path))
    predicted = Refresher(open_store(copy, VAULT), None, Policy(), check_mode=True).run_one(resolve(copy, None))
    assert (predicted.status, predicted.reason) == ("failed", "store_copy") and predicted.msg == home_problem(copy["store_dir"])
    original = Refresher(open_store(exact, VAULT), None, Policy(), check_mode=True).run_one(resolve(exact, None))
    assert original.reason == "would_refresh"


def test_a_moved_store_refreshes_once_adopted(exact, control, tmp_path):
    moved = dict(exact, store_dir=copy_of(exact["store_dir"], tmp_path))
    shutil.rmtree(exact["store_dir"])
    assert refresh(moved).reason == "store_copy"
    assert open_store(moved, VAULT).adopt()["changed"] is True
    result = refresh(moved)
    assert result.status == "refreshed" and result.token_calls == 1
    assert control.state()["chains"][0]["refresh_fingerprint"] == stored(moved)["tokens"]["refresh_fingerprint"]


def test_a_chain_that_does_not_rotate_still_refreshes_from_a_copy(sim, tmp_path, control):
    google = google_params(sim, tmp_path)
    preauthenticate(google)
    copy = dict(google, store_dir=copy_of(google["store_dir"], tmp_path))
    assert home_problem(copy["store_dir"]) is not None
    result = refresh(copy, force=True)
    assert result.status == "refreshed" and result.token_calls == 1


def test_a_rotating_chain_is_not_handed_over_from_a_copy(exact, tmp_path):
    copy = dict(exact, store_dir=copy_of(exact["store_dir"], tmp_path))
    content = open(open_store(copy, VAULT).path("acme-nl"), "rb").read()
    for check_mode in (True, False):
        refused = run_action(TokenHandover, dict(pick(copy, "connection", "store_dir"), host="dwh01"), check_mode=check_mode)
        assert refused["failed"] is True and refused["msg"] == "connection acme-nl: " + home_problem(copy["store_dir"])
    assert open(open_store(copy, VAULT).path("acme-nl"), "rb").read() == content
    assert run_action(TokenHandover, dict(pick(exact, "connection", "store_dir"), host="dwh01"))["changed"] is True


def test_a_chain_that_does_not_rotate_may_be_recorded_as_deployed_from_a_copy(sim, tmp_path):
    google = google_params(sim, tmp_path)
    preauthenticate(google)
    copy = dict(google, store_dir=copy_of(google["store_dir"], tmp_path))
    assert run_action(TokenHandover, dict(pick(copy, "connection", "store_dir"), host="dwh01"))["changed"] is True


def test_token_refresh_adopts_a_moved_store_when_asked(exact, control, tmp_path):
    moved = dict(exact, store_dir=copy_of(exact["store_dir"], tmp_path))
    shutil.rmtree(exact["store_dir"])
    args = dict(given(moved), fail_on_error=False)
    refused = run_action(TokenRefresh, args)
    assert refused["connections"][0]["reason"] == "store_copy" and "adopted" not in refused and refused["changed"] is False
    before = open(os.path.join(moved["store_dir"], HOME_FILE), "rb").read()
    calls = control.state()["token_calls_total"]
    where = {"from": {"host": machine()["hostname"], "path": exact["store_dir"]}, "to": {"host": machine()["hostname"], "path": moved["store_dir"]}}
    predicted = run_action(TokenRefresh, dict(args, adopt_store=True), check_mode=True)
    assert predicted["adopted"] == where and predicted["changed"] is True
    host = machine()["hostname"]
    assert predicted["warnings"][0].startswith(
        "check mode: would adopt the token store %s on %s: it was set up at %s on " % (moved["store_dir"], host, exact["store_dir"])
    )
    assert open(os.path.join(moved["store_dir"], HOME_FILE), "rb").read() == before and control.state()["token_calls_total"] == calls
    adopted = run_action(TokenRefresh, dict(args, adopt_store=True))
    assert adopted["adopted"] == where and adopted["changed"] is True and adopted["counts"]["refreshed"] == 1
    assert adopted["warnings"][0].startswith("adopted the token store %s on " % moved["store_dir"])
    assert "make sure no copy of it is used anywhere else, or the platform revokes the chains that both refresh" in adopted["warnings"][0]
    again = run_action(TokenRefresh, dict(args, adopt_store=True))
    assert "adopted" not in again and again["changed"] is False and not again.get("warnings")


def test_the_refresh_playbook_adopts_with_preauth_adopt_store(exact, tmp_path, monkeypatch):
    """The documented command line, run by ansible-playbook: refused first, then adopted and refreshed."""
    moved = copy_of(exact["store_dir"], tmp_path)
    shutil.rmtree(exact["store_dir"])
    collections = tmp_path / "collections" / "ansible_collections" / "preauth"
    collections.mkdir(parents=True)
    os.symlink(ROOT, collections / "oauth2")
    connection = {k: exact[k] for k in ("platform", "country", "base_url", "client_id", "client_secret", "redirect_uri")}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                    "vars": {"preauth_connections": [dict(connection, name="acme-nl")], "preauth_store_dir": moved, "preauth_deploy": False},
                }
            }
        )
    )
    password = tmp_path / "vault-pass"
    password.write_bytes(PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    env["COLUMNS"] = "10000"  # warnings on one line

    def playbook(*extra: str) -> subprocess.CompletedProcess:
        command = [ansible_command("ansible-playbook"), "-i", str(inventory), "--vault-password-file", str(password)]
        command += ["preauth.oauth2.refresh", *extra]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)

    refused = playbook()
    assert refused.returncode != 0 and "acme-nl: failed - the token store %s is not where it was set up" % moved in refused.stdout
    before = open(os.path.join(moved, HOME_FILE), "rb").read()
    predicted = playbook("--check", "-e", "preauth_adopt_store=true")
    assert "check mode: would adopt the token store %s on " % moved in predicted.stdout + predicted.stderr
    assert open(os.path.join(moved, HOME_FILE), "rb").read() == before
    adopted = playbook("-e", "preauth_adopt_store=true")
    assert adopted.returncode == 0, adopted.stdout[-3000:]
    assert "adopted the token store %s on " % moved in adopted.stdout + adopted.stderr
    assert "1 refreshed, 0 unchanged, 0 skipped, 0 failed, 1 token call(s)" in adopted.stdout
    monkeypatch.setattr(_home, "MACHINE_ID_FILES", REAL_MACHINE_ID_FILES)  # ansible-playbook ran on the real machine
    assert home_problem(moved) is None
