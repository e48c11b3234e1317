"""Reports on stored chains: summaries, Prometheus textfile metrics, atomic files, and the
token_info action over real vault-encrypted stores made through the simulator."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import time

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.template import Templar, trust_as_template

from action_runner import pick, run_action
from ansible_collections.preauth.oauth2.plugins.action.token_info import ActionModule as TokenInfo
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.report import (
    ReportError,
    by_days_left,
    escape_label,
    prometheus_text,
    summarize,
    update_file,
    write_atomic,
)
from chains import VAULT, params, preauthenticate, stored, strict_params
from simulator.timewarp import warp

NOW = 1_800_000_000.0
DAY = 86400.0


def sample(value: float) -> str:
    """A sample value as the text format shows it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def data(name: str = "acme-nl", **fields) -> dict:
    """A decrypted store as code_exchange and token_refresh leave it, with fake token values."""
    base = {
        "schema": 1,
        "connection": name,
        "definition": {"platform": "exact_online", "client_id": "FAKE-client", "token_url": "https://t.example.test/token"},
        "generation": 3,
        "owner": {"kind": "controller", "since": NOW - 10 * DAY},
        "preauthenticated_by": {
            "first_name": "Ada",
            "last_name": "Jansen",
            "job_title": "Controller",
            "email": "ada@example.test",
            "company": "Example B.V.",
            "at": NOW - 10 * DAY,
            "controller_user": "ada",
            "controller_host": "ctl",
        },
        "tokens": {
            "access_token": "FAKE-access-token",
            "refresh_token": "FAKE-refresh-token",
            "token_type": "Bearer",
            "scope": "",
            "obtained_at": NOW - DAY,
            "access_expires_at": NOW - DAY + 600,
            "refresh_expires_at": NOW + 12.34 * DAY,
            "refresh_fingerprint": "0123456789ab",
            "last_refresh_at": NOW - DAY,
        },
        "in_flight": None,
        "reauthorization_required": None,
        "last_error": None,
        "history": [],
    }
    base.update(fields)
    return base


# -- summaries -------------------------------------------------------------------------------


def test_summary_of_a_controller_owned_chain():
    summary = summarize(data(), NOW)
    assert summary["connection"] == "acme-nl" and summary["platform"] == "exact_online"
    assert summary["owner"] == "controller" and summary["generation"] == 3
    assert summary["preauthenticated_by"] == {"name": "Ada Jansen", "email": "ada@example.test", "company": "Example B.V.", "at": "2027-01-05T08:00:00Z"}
    assert summary["days_left"] == 12.3
    assert summary["refresh_expires_at"] == "2027-01-27T16:09:36Z"
    assert summary["last_refresh_at"] == "2027-01-14T08:00:00Z"
    assert summary["access_expires_at"] == "2027-01-14T08:10:00Z"
    assert summary["reauthorization_required"] is False and summary["reauthorization_reason"] is None and summary["reauthorization_since"] is None
    assert summary["in_flight"] is False and summary["last_error"] is None and summary["has_tokens"] is True
    assert summary["timestamps"]["refresh_expires_at"] == NOW + 12.34 * DAY
    assert "FAKE-access-token" not in json.dumps(summary) and "FAKE-refresh-token" not in json.dumps(summary)


def test_summary_of_a_chain_in_trouble():
    summary = summarize(
        data(
            reauthorization_required={"since": NOW, "reason": "the platform says the refresh token was already used"},
            last_error={"at": NOW, "kind": "invalid_grant", "message": "the token endpoint refused the request (HTTP 400 invalid_grant)"},
            in_flight={"fingerprint": "0123456789ab", "started_at": NOW},
        ),
        NOW + 13 * DAY,
    )
    assert summary["owner"] == "controller"
    assert summary["reauthorization_required"] is True
    assert summary["reauthorization_reason"] == "the platform says the refresh token was already used"
    assert summary["reauthorization_since"] == "2027-01-15T08:00:00Z"
    assert summary["last_error"] == {
        "at": "2027-01-15T08:00:00Z",
        "kind": "invalid_grant",
        "message": "the token endpoint refused the request (HTTP 400 invalid_grant)",
    }
    assert summary["in_flight"] is True
    assert summary["days_left"] == -0.7  # expired: negative, so it sorts first


def test_a_chain_a_host_keeps_alive_has_no_expiry_here_and_names_the_host():
    # The store's expiry is that of the controller's last token call: 5 days past by now, while dwh01 keeps the chain alive.
    handed = data(owner={"kind": "host", "host": "dwh01", "since": NOW - 20 * DAY, "generation": 3})
    summary = summarize(handed, NOW + 17.34 * DAY)
    assert summary["owner"] == "dwh01" and summary["owner_since"] == "2026-12-26T08:00:00Z"
    assert summary["days_left"] is None and summary["refresh_expires_at"] is None and summary["access_expires_at"] is None
    assert summary["timestamps"]["refresh_expires_at"] is None and summary["timestamps"]["access_expires_at"] is None
    assert summary["timestamps"]["owner_since"] == NOW - 20 * DAY
    assert summary["last_refresh_at"] == "2027-01-14T08:00:00Z"  # the controller's, before the hand-over
    assert summary["has_tokens"] is True and summary["reauthorization_required"] is False
    assert summarize(data(owner={"kind": "host", "since": NOW}), NOW)["owner"] == "an unnamed host"


def test_days_left_is_unknown_without_a_refresh_expiry_or_without_tokens():
    unknown = summarize(data(tokens=dict(data()["tokens"], refresh_expires_at=None)), NOW)
    assert unknown["days_left"] is None and unknown["refresh_expires_at"] is None
    revoked = summarize(data(tokens=None), NOW)
    assert revoked["days_left"] is None and revoked["has_tokens"] is False and revoked["refresh_fingerprint"] is None


def test_sorting_by_days_left_with_unknown_last_and_names_breaking_ties():
    summaries = [
        {"connection": "z", "days_left": None},
        {"connection": "b", "days_left": 5.0},
        {"connection": "a", "days_left": 5.0},
        {"connection": "y", "days_left": None},
        {"connection": "c", "days_left": -1.5},
        {"connection": "d", "days_left": 0.0},
    ]
    assert [s["connection"] for s in by_days_left(summaries)] == ["c", "d", "a", "b", "y", "z"]


# -- Prometheus text -------------------------------------------------------------------------


def test_prometheus_text_format():
    never_refreshed = data("b-conn", tokens=dict(data()["tokens"], last_refresh_at=None, refresh_expires_at=None))
    needs_login = data("a-conn", reauthorization_required={"since": NOW, "reason": "spent"})
    handed = data("d-conn", owner={"kind": "host", "host": "dwh01", "since": NOW - 2 * DAY, "generation": 3})
    summaries = [summarize(never_refreshed, NOW), summarize(needs_login, NOW), summarize(data("c-conn", tokens=None), NOW), summarize(handed, NOW)]
    text = prometheus_text(summaries, missing=["e-conn"], unreadable=["f-conn"])
    lines = text.splitlines()
    assert text.endswith("\n")
    assert [line for line in lines if line.startswith("# TYPE")] == [
        "# TYPE preauth_refresh_token_expiry_timestamp_seconds gauge",
        "# TYPE preauth_reauthorization_required gauge",
        "# TYPE preauth_last_refresh_timestamp_seconds gauge",
        "# TYPE preauth_chain_present gauge",
        "# TYPE preauth_handed_over_timestamp_seconds gauge",
        "# TYPE preauth_record_unreadable gauge",
    ]
    assert sum(line.startswith("# HELP preauth_") for line in lines) == 6
    samples = [line for line in lines if not line.startswith("#")]
    a, b, c, d = ('connection="%s-conn",platform="exact_online",owner="controller"' % n for n in "abcd")
    d = d.replace("controller", "dwh01")
    e = 'connection="e-conn",platform="",owner=""'
    f = 'connection="f-conn",platform="",owner=""'
    assert samples == [
        # b-conn's lifetime is unknown, c-conn was revoked, dwh01 keeps d-conn alive, e-conn has no chain: no expiry series for them.
        "preauth_refresh_token_expiry_timestamp_seconds{%s} %s" % (a, sample(NOW + 12.34 * DAY)),
        "preauth_reauthorization_required{%s} 1" % a,
        "preauth_reauthorization_required{%s} 0" % b,
        "preauth_reauthorization_required{%s} 0" % c,
        "preauth_reauthorization_required{%s} 0" % d,
        "preauth_last_refresh_timestamp_seconds{%s} 1799913600" % a,
        # never refreshed: the preauthentication time
        "preauth_last_refresh_timestamp_seconds{%s} 1799136000" % b,
        "preauth_last_refresh_timestamp_seconds{%s} 1799136000" % c,
        "preauth_chain_present{%s} 1" % a,
        "preauth_chain_present{%s} 1" % b,
        "preauth_chain_present{%s} 0" % c,
        "preauth_chain_present{%s} 1" % d,
        "preauth_chain_present{%s} 0" % e,
        "preauth_handed_over_timestamp_seconds{%s} %s" % (d, sample(NOW - 2 * DAY)),
        # f-conn's record cannot be read: that is all that is known of it; e-conn has no record at all.
        "preauth_record_unreadable{%s} 0" % a,
        "preauth_record_unreadable{%s} 0" % b,
        "preauth_record_unreadable{%s} 0" % c,
        "preauth_record_unreadable{%s} 0" % d,
        "preauth_record_unreadable{%s} 1" % f,
    ]


def test_prometheus_label_values_are_escaped():
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    odd = data(definition={"platform": 'ex"act\\on\nline'})
    assert 'platform="ex\\"act\\\\on\\nline",owner="controller"} 0' in prometheus_text([summarize(odd, NOW)])


def test_prometheus_text_does_not_depend_on_the_time_it_is_made():
    assert prometheus_text([summarize(data(), NOW)]) == prometheus_text([summarize(data(), NOW + 5 * DAY)])


# -- files -----------------------------------------------------------------------------------


def test_write_atomic_replaces_the_file_with_mode_0644_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "preauth.prom"
    path.write_text("old\n")
    os.chmod(path, 0o600)
    inode = os.stat(path).st_ino
    old_umask = os.umask(0o077)
    try:
        write_atomic(str(path), "new\n")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.stat(path).st_ino != inode  # renamed over, not rewritten in place
    assert os.listdir(tmp_path) == ["preauth.prom"]


def test_write_atomic_into_a_missing_directory(tmp_path):
    message = r"cannot write .*/missing/x.prom: No such file or directory in .*/missing; create the directory or choose another path"
    with pytest.raises(ReportError, match=message):
        write_atomic(str(tmp_path / "missing" / "x.prom"), "x\n")


def test_update_file_writes_only_a_change_and_nothing_in_check_mode(tmp_path):
    path = str(tmp_path / "preauth.prom")
    assert update_file(path, "a\n", check_mode=True) == (True, None)
    assert not os.path.exists(path)
    assert update_file(path, "a\n", check_mode=False) == (True, None)
    before = os.stat(path)
    os.utime(path, (1000.0, 1000.0))
    assert update_file(path, "a\n", check_mode=True) == (False, "a\n")
    assert os.stat(path).st_mtime == 1000.0  # check mode touches nothing
    assert update_file(path, "a\n", check_mode=False) == (False, "a\n")
    after = os.stat(path)
    # Same file, same content, but the modification time is now: the heartbeat a staleness alert reads.
    assert after.st_ino == before.st_ino and after.st_mtime >= before.st_mtime
    assert update_file(path, "b\n", check_mode=True) == (True, "a\n")
    assert open(path).read() == "a\n"
    with pytest.raises(ReportError, match=r"the directory .*/nowhere does not exist; create it or choose another path"):
        update_file(str(tmp_path / "nowhere" / "x.prom"), "a\n", check_mode=True)


# -- token_info over real stores ------------------------------------------------------------


@pytest.fixture
def three(sim, tmp_path):
    """Three real chains: Exact (30 days left), one Exact aged to 2.5 days left, a strict one with no known expiry."""
    exact = params(sim, tmp_path)
    preauthenticate(exact)
    aged = params(sim, tmp_path, connection="aged-nl")
    preauthenticate(aged)
    with open_store(aged, VAULT).locked("aged-nl") as record:
        record.data["tokens"]["refresh_expires_at"] = record.data["tokens"]["obtained_at"] - 27.5 * DAY + 30 * DAY
    strict = strict_params(sim, tmp_path)
    preauthenticate(strict)
    return exact, aged, strict


def store_bytes(p: dict) -> dict[str, str]:
    """The SHA-256 of each record as stored (a file, or a row's document)."""
    store = open_store(p, VAULT)
    try:
        return {name: store.read(name).source[2] for name in store.connections()}
    finally:
        store.close()


def test_every_connection_sorted_by_days_left_and_nothing_secret(three):
    exact, aged, strict = three
    before = store_bytes(exact)
    result = run_action(TokenInfo, {**pick(exact, "store_dir")})
    assert result["changed"] is False and result["count"] == 3
    assert [c["connection"] for c in result["connections"]] == ["aged-nl", "acme-nl", "crm"]
    days = [c["days_left"] for c in result["connections"]]
    assert days[0] == 2.5 and days[1] == 30.0 and days[2] is None
    assert result["connections"][1]["preauthenticated_by"]["name"] == "Ada Jansen"
    assert result["msg"] == "3 connection(s) in %s" % open_store(exact, VAULT).location
    assert "_ansible_no_log" not in result
    text = json.dumps(result)
    for p in three:
        tokens = stored(p)["tokens"]
        assert tokens["refresh_token"] not in text and tokens["access_token"] not in text
        assert p["client_secret"] not in text
    assert len(before) == 3 and store_bytes(exact) == before  # read-only


def test_named_connections_in_check_mode(three):
    exact, _aged, strict = three
    one = run_action(TokenInfo, {**pick(exact, "store_dir"), "connection": "crm"}, check_mode=True)
    assert one["count"] == 1 and one["connections"][0]["platform"] == "generic" and one["connections"][0]["days_left"] is None
    two = run_action(TokenInfo, {**pick(exact, "store_dir"), "connections": ["crm", "acme-nl", "crm"]})
    assert [c["connection"] for c in two["connections"]] == ["acme-nl", "crm"]


def test_return_secrets_marks_the_result_no_log(three):
    exact, _aged, _strict = three
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "connection": "acme-nl", "return_secrets": True})
    assert result["_ansible_no_log"] is True
    entry = result["connections"][0]
    tokens = stored(exact)["tokens"]
    assert entry["access_token"] == tokens["access_token"] and entry["refresh_token"] == tokens["refresh_token"]
    assert entry["client_id"] == exact["client_id"]
    assert entry["token_url"] == exact["base_url"] + "/api/oauth2/token" and entry["base_url"] == exact["base_url"]
    assert entry["redirect_uri"] == exact["redirect_uri"]
    assert "client_secret" not in entry


def test_prometheus_file_is_written_once_and_rewritten_only_on_change(three, tmp_path):
    exact, aged, strict = three
    prom = tmp_path / "textfile" / "preauth.prom"
    prom.parent.mkdir()
    args = {**pick(exact, "store_dir"), "prometheus_file": str(prom)}
    predicted = run_action(TokenInfo, args, check_mode=True, diff=True)
    assert predicted["changed"] is True and not prom.exists()
    assert predicted["msg"] == "3 connection(s); would write the Prometheus file %s" % prom
    assert predicted["diff"]["before"]["metrics"] == [] and len(predicted["diff"]["after"]["metrics"]) > 8
    first = run_action(TokenInfo, args)
    assert first["changed"] is True and first["prometheus_file"] == str(prom)
    text = prom.read_text()
    expiry = stored(exact)["tokens"]["refresh_expires_at"]
    assert 'preauth_refresh_token_expiry_timestamp_seconds{connection="acme-nl",platform="exact_online",owner="controller"} %s\n' % sample(expiry) in text
    assert 'preauth_reauthorization_required{connection="crm",platform="generic",owner="controller"} 0\n' in text
    assert not any(line.startswith('preauth_refresh_token_expiry_timestamp_seconds{connection="crm"') for line in text.splitlines())
    assert stat.S_IMODE(os.stat(prom).st_mode) == 0o644
    for p in three:
        assert stored(p)["tokens"]["refresh_token"] not in text
    inode = os.stat(prom).st_ino
    os.utime(prom, (1000.0, 1000.0))
    again = run_action(TokenInfo, args)
    assert again["changed"] is False and again["msg"] == "3 connection(s); left unchanged the Prometheus file %s" % prom
    assert os.stat(prom).st_ino == inode and prom.read_text() == text
    assert os.stat(prom).st_mtime > time.time() - 60  # touched: node_textfile_mtime_seconds shows the report still runs
    # A chain that needs reauthorization changes the metrics: the file is replaced.
    with open_store(aged, VAULT).locked("aged-nl") as record:
        record.data["reauthorization_required"] = {"since": 1.0, "reason": "spent"}
    changed = run_action(TokenInfo, args)
    assert changed["changed"] is True and os.stat(prom).st_ino != inode
    assert 'preauth_reauthorization_required{connection="aged-nl",platform="exact_online",owner="controller"} 1\n' in prom.read_text()


def test_prometheus_file_with_return_secrets_holds_no_secret(three, tmp_path):
    exact, _aged, _strict = three
    prom = tmp_path / "preauth.prom"
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "prometheus_file": str(prom), "return_secrets": True})
    assert result["changed"] is True and result["_ansible_no_log"] is True
    assert stored(exact)["tokens"]["refresh_token"] not in prom.read_text()
    assert "access_token" not in prom.read_text()


def test_the_prometheus_text_is_returned_with_or_without_a_file_and_equals_the_file(three, tmp_path):
    # A job in an execution environment loses its files: the result carries the same bytes, to ship anywhere.
    exact, _aged, _strict = three
    prom = tmp_path / "preauth.prom"
    with_file = run_action(TokenInfo, {**pick(exact, "store_dir"), "prometheus_file": str(prom), "expected": ["acme-nl", "aged-nl", "crm", "gone"]})
    assert with_file["prometheus_text"].encode("utf-8") == prom.read_bytes()
    assert 'preauth_chain_present{connection="gone",platform="",owner=""} 0\n' in with_file["prometheus_text"]
    without = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": ["acme-nl", "aged-nl", "crm", "gone"]}, check_mode=True)
    assert without["changed"] is False and "prometheus_file" not in without
    assert without["prometheus_text"] == with_file["prometheus_text"]
    assert sorted(os.listdir(tmp_path)) == sorted(["preauth.prom", "tokens"] if exact.get("store_dir") else ["preauth.prom"])
    secrets = run_action(TokenInfo, {**pick(exact, "store_dir"), "return_secrets": True})
    assert secrets["_ansible_no_log"] is True
    for p in three:
        tokens = stored(p)["tokens"]
        assert tokens["refresh_token"] not in secrets["prometheus_text"] and tokens["access_token"] not in secrets["prometheus_text"]


def test_an_empty_store_directory_reports_nothing(tmp_path):
    result = run_action(TokenInfo, {"store_dir": str(tmp_path / "none"), "prometheus_file": str(tmp_path / "p.prom")})
    assert result["count"] == 0 and result["connections"] == [] and result["changed"] is True
    assert (tmp_path / "p.prom").read_text().count("# TYPE") == 6


def status_tasks() -> list[dict]:
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..")
    with open(os.path.join(root, "playbooks", "status.yml"), encoding="utf-8") as handle:
        return [task for play in yaml.safe_load(handle) for task in play.get("tasks", [])]


def status_lines(result: dict, **variables) -> list[str]:
    """The table playbooks/status.yml shows, rendered from its own template with this token_info result."""
    expression = next(task for task in status_tasks() if "preauth_status_lines" in task.get("vars", {}))["vars"]["preauth_status_lines"]
    return Templar(loader=DataLoader(), variables=dict(variables, preauth_status=result)).template(trust_as_template(expression))


def status_failure(result: dict) -> str | None:
    """The message of status.yml's failing task for this token_info result, or None when the task would not run."""
    task = next(task for task in status_tasks() if task.get("name") == "Fail when a connection of the inventory has no stored chain")
    templar = Templar(loader=DataLoader(), variables={"preauth_status": result})
    if not templar.evaluate_conditional(trust_as_template(task["when"])):
        return None
    return templar.template(trust_as_template(task["ansible.builtin.fail"]["msg"]))


INVENTORY = [{"name": "acme-nl", "platform": "exact_online"}, {"name": "crm", "platform": "generic"}, {"name": "hr-nl", "platform": "exact_online"}]


def test_status_against_a_store_with_a_missing_chain_and_a_host_owned_chain(sim, tmp_path):
    """acme-nl is kept alive by dwh01 since its hand-over 35 days ago, crm is fine, hr-nl was never preauthenticated."""
    from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover

    exact = params(sim, tmp_path)
    preauthenticate(exact)
    assert run_action(TokenHandover, {**pick(exact, "store_dir"), "connection": "acme-nl", "host": "dwh01"})["changed"] is True
    strict = strict_params(sim, tmp_path)
    preauthenticate(strict)
    store = open_store(exact, VAULT)
    # 35 days later: the expiry the controller saw at the hand-over lies 5 days in the past; dwh01 refreshed it long since.
    for name in ("acme-nl", "crm"):
        with store.locked(name) as record:
            for section, key in (("tokens", "obtained_at"), ("tokens", "access_expires_at"), ("tokens", "refresh_expires_at"), ("owner", "since")):
                if isinstance(record.data[section].get(key), float):
                    record.data[section][key] -= 35 * DAY
            record.data["preauthenticated_by"]["at"] -= 35 * DAY
    handed_over_at = stored(exact)["owner"]["since"]
    prom = tmp_path / "preauth.prom"
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": [c["name"] for c in INVENTORY], "prometheus_file": str(prom)})
    assert "failed" not in result and result["changed"] is True
    assert (result["missing"], result["unexpected"], result["store_exists"], result["count"]) == (["hr-nl"], [], True, 2)
    assert result["msg"] == "2 connection(s); wrote the Prometheus file %s; no chain stored for 1 connection(s) of the inventory: hr-nl" % prom
    acme = next(c for c in result["connections"] if c["connection"] == "acme-nl")
    assert acme["owner"] == "dwh01" and acme["days_left"] is None and acme["refresh_expires_at"] is None
    assert acme["owner_since"] == summarize(stored(exact), 0)["owner_since"] and acme["owner_since"].startswith("20")

    header, acme_row, crm, missing_row = status_lines(result, preauth_connections=INVENTORY)  # both: no days left known
    assert header.startswith("CONNECTION ")
    assert crm.split()[:4] == ["crm", "generic", "controller", "1"] and crm.endswith("  ok")
    # Not "DAYS LEFT -5.0 ... ok": no days left, no controller refresh time, and who keeps it alive since when.
    assert acme_row.split()[:6] == ["acme-nl", "exact_online", "dwh01", "1", "-", "-"]
    assert acme_row.endswith("kept alive by dwh01 since %s (the host refreshes it; its expiry is not known here)" % acme["owner_since"])
    assert missing_row.split()[:6] == ["hr-nl", "exact_online", "-", "-", "-", "-"]
    assert missing_row.endswith(
        "MISSING: in preauth_connections, but no chain is stored; run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=hr-nl"
    )
    assert status_failure(result) == (
        "no chain is stored for 1 connection(s) of preauth_connections: hr-nl; preauthenticate each with ansible-playbook preauth.oauth2.preauthenticate "
        "-e preauth_connection=NAME"
    )

    text = prom.read_text()
    assert not any(line.startswith("preauth_refresh_token_expiry_timestamp_seconds{") and "acme-nl" in line for line in text.splitlines())
    assert not any(line.startswith("preauth_last_refresh_timestamp_seconds{") and "acme-nl" in line for line in text.splitlines())
    assert 'preauth_handed_over_timestamp_seconds{connection="acme-nl",platform="exact_online",owner="dwh01"} %s\n' % sample(handed_over_at) in text
    assert 'preauth_chain_present{connection="acme-nl",platform="exact_online",owner="dwh01"} 1\n' in text
    assert 'preauth_chain_present{connection="hr-nl",platform="",owner=""} 0\n' in text
    assert 'preauth_refresh_token_expiry_timestamp_seconds{connection="crm"' not in text  # generic: lifetime unknown
    assert 'preauth_reauthorization_required{connection="crm",platform="generic",owner="controller"} 0\n' in text
    for p in (exact, strict):
        assert stored(p)["tokens"]["refresh_token"] not in text + json.dumps(result)


def test_status_of_a_store_the_inventory_does_not_know_and_of_all_present(sim, tmp_path):
    exact = params(sim, tmp_path)
    preauthenticate(exact)
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": ["crm", "crm"]})
    assert (result["missing"], result["unexpected"]) == (["crm"], ["acme-nl"])
    assert status_lines(result, preauth_connections=INVENTORY)[1].endswith("  ok; not in preauth_connections")
    present = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": ["acme-nl"]})
    assert (present["missing"], present["unexpected"], present["msg"]) == ([], [], "1 connection(s) in %s" % open_store(exact, VAULT).location)
    assert len(status_lines(present, preauth_connections=INVENTORY[:1])) == 2 and status_failure(present) is None


def test_status_of_a_store_that_does_not_exist_says_so_once(tmp_path):
    store_dir = str(tmp_path / "tokens")
    result = run_action(TokenInfo, {"store_dir": store_dir, "expected": [c["name"] for c in INVENTORY]})
    assert "failed" not in result and result["store_exists"] is False and result["count"] == 0
    assert result["missing"] == ["acme-nl", "crm", "hr-nl"]
    assert result["msg"] == (
        "0 connection(s) in %s; the token store %s does not exist (nothing was preauthenticated with this store_dir); "
        "no chain stored for 3 connection(s) of the inventory: acme-nl, crm, hr-nl" % (store_dir, store_dir)
    )
    header, line = status_lines(result, preauth_connections=INVENTORY)
    assert line == (
        "The token store %s does not exist: nothing was preauthenticated with this store_dir yet - 3 connection(s) of preauth_connections "
        "have no chain (acme-nl, crm, hr-nl); preauthenticate each with ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME, "
        "or set preauth_store_dir to the right store." % store_dir
    )
    assert status_failure(result) == (
        "the token store %s does not exist, so none of the 3 connection(s) of preauth_connections has a chain: preauthenticate each "
        "with ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME, or set preauth_store_dir to the right store" % store_dir
    )
    nothing = run_action(TokenInfo, {"store_dir": store_dir, "expected": []})
    lines = status_lines(nothing, preauth_connections=[])
    assert lines[1] == "The token store %s does not exist: nothing was preauthenticated with this store_dir yet." % store_dir
    assert status_failure(nothing) is None


def test_status_of_an_empty_store_says_so_once(tmp_path):
    store_dir = tmp_path / "tokens"
    store_dir.mkdir(mode=0o700)
    result = run_action(TokenInfo, {"store_dir": str(store_dir), "expected": ["acme-nl", "crm"]})
    assert result["store_exists"] is True and result["missing"] == ["acme-nl", "crm"]
    assert status_lines(result, preauth_connections=INVENTORY[:2])[1:] == [
        "The token store %s holds no chain - 2 connection(s) of preauth_connections have none (acme-nl, crm); "
        "preauthenticate each with ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME." % store_dir
    ]
    assert status_failure(result) == (
        "no chain is stored for 2 connection(s) of preauth_connections: acme-nl, crm; preauthenticate each with "
        "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME"
    )


def test_expected_names_are_checked_and_exclude_named_connections(tmp_path):
    bad = run_action(TokenInfo, {"store_dir": str(tmp_path), "expected": ["ok", "../etc"]})
    assert bad["failed"] is True and bad["msg"].startswith("connection name '../etc' is not valid")
    both = run_action(TokenInfo, {"store_dir": str(tmp_path), "connection": "a", "expected": ["a"]})
    assert both["failed"] is True
    assert "parameters are mutually exclusive: connection|connections|expected" in both["msg"]


def test_a_chain_exact_calls_old_is_shown_as_needing_a_new_preauthentication(sim, tmp_path, control):
    p = params(sim, tmp_path)
    preauthenticate(p)
    store = open_store(p, VAULT)
    warp(24 * DAY, control, store)
    refresher = Refresher(store, new_client(p), Policy(), sleep=lambda s: None)
    control.inject_fault("http_500_after")
    assert refresher.run_one(resolve(p, new_client(p))).reason == "lost_response"
    warp(600, control, store)
    assert refresher.run_one(resolve(p, new_client(p))).reason == "reauthorization_required"
    result = run_action(TokenInfo, {**pick(p, "store_dir"), "prometheus_file": str(tmp_path / "p.prom")})
    (info,) = result["connections"]
    since = stored(p)["reauthorization_required"]["since"]
    assert info["reauthorization_required"] is True and info["in_flight"] is False
    assert info["reauthorization_since"] == summarize(stored(p), since)["reauthorization_since"] and info["reauthorization_since"].startswith("20")
    assert info["reauthorization_reason"].endswith(
        "lost its answer after the platform had already rotated the token, and the platform now refuses it (the token endpoint "
        "refused the request (HTTP 401 unauthorized_client: Old refresh token used.))"
    )
    assert 'preauth_reauthorization_required{connection="acme-nl",platform="exact_online",owner="controller"} 1' in (tmp_path / "p.prom").read_text()
    header, row, note = status_lines(result)
    assert note == "preauth_connections is not defined in the inventory: the store was not compared with it."
    assert header.split() == ["CONNECTION", "PLATFORM", "OWNER", "GEN", "DAYS", "LEFT", "LAST", "REFRESH", "STATE"]
    assert row.startswith("acme-nl ") and "NEEDS PREAUTHENTICATION since %s: the refresh at " % info["reauthorization_since"] in row
    assert row.endswith("(HTTP 401 unauthorized_client: Old refresh token used.))")
    tokens = stored(p)["tokens"]
    assert tokens["refresh_token"] not in json.dumps(result) and tokens["access_token"] not in json.dumps(result)


# -- bad input -------------------------------------------------------------------------------


def test_a_named_connection_without_a_store_says_how_to_create_one(three):
    exact, _aged, _strict = three
    for args in ({"connection": "nope"}, {"connections": ["acme-nl", "nope"]}):
        result = run_action(TokenInfo, dict(args, **pick(exact, "store_dir")))
        assert result["failed"] is True
        assert result["msg"] == (
            "connection nope has no stored chain in %s; create one by preauthenticating it: run "
            "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=nope, or check the store options" % open_store(exact, VAULT).location
        )


def test_a_store_the_run_cannot_decrypt_reports_every_record_as_unreadable_with_the_store_message(three):
    exact, _aged, _strict = three
    store = open_store(exact, VAULT)
    result = run_action(TokenInfo, {**pick(exact, "store_dir")}, secrets=[("default", VaultSecret(b"FAKE-wrong-password"))])
    assert "failed" not in result and result["count"] == 0 and result["connections"] == []
    assert [u["connection"] for u in result["unreadable"]] == ["acme-nl", "aged-nl", "crm"]
    for entry in result["unreadable"]:
        assert entry["reason"].startswith("cannot decrypt ") and store.where(entry["connection"]) in entry["reason"]
        assert "with the vault secrets of this run" in entry["reason"]
    assert result["msg"].endswith("; 3 record(s) cannot be read (see unreadable): acme-nl, aged-nl, crm")
    assert "FAKE-wrong-password" not in json.dumps(result)
    no_secret = run_action(TokenInfo, {**pick(exact, "store_dir"), "connection": "acme-nl"}, secrets=[])
    assert "is vault-encrypted and this run has no vault secret; run ansible-playbook with --ask-vault-pass" in no_secret["unreadable"][0]["reason"]
    # Secrets are asked for to deploy them: a record that cannot be read fails the task rather than being left out.
    failed = run_action(TokenInfo, {**pick(exact, "store_dir"), "return_secrets": True}, secrets=[("default", VaultSecret(b"FAKE-wrong-password"))])
    assert failed["failed"] is True
    assert failed["msg"].startswith("cannot decrypt ") and "with the vault secrets of this run" in failed["msg"]
    assert any(store.where(name) in failed["msg"] for name in ("acme-nl", "aged-nl", "crm"))


OTHER_VAULT = VaultLib([("default", VaultSecret(b"FAKE-other-vault-password"))])


def plant_unreadable(sim, tmp_path, exact: dict) -> None:
    """hr-nl written with another vault password, gl-nl's ciphertext damaged: in a file store or in PostgreSQL rows."""
    chain = stored(exact)
    other = params(sim, tmp_path, connection="hr-nl")
    with open_store(other, OTHER_VAULT).locked("hr-nl") as record:
        record.data.update(copy.deepcopy(chain), connection="hr-nl")
    damaged = params(sim, tmp_path, connection="gl-nl")
    with open_store(damaged, VAULT).locked("gl-nl") as record:
        record.data.update(copy.deepcopy(chain), connection="gl-nl")
    garbage = b"$ANSIBLE_VAULT;1.1;AES256\nFAKE-not-hex-ciphertext\n"
    if exact.get("store_url"):
        import psycopg

        from chains import pg_server

        with psycopg.connect(exact["store_url"], password=pg_server().password, autocommit=True) as conn:
            conn.execute("UPDATE preauth_oauth2_chain SET document = %s WHERE connection = 'gl-nl'", (garbage,))
    else:
        with open(os.path.join(exact["store_dir"], "gl-nl.yml"), "wb") as handle:
            handle.write(garbage)


def test_one_unreadable_record_is_reported_with_its_reason_and_every_other_as_usual(sim, three, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    exact, aged, strict = three
    plant_unreadable(sim, tmp_path, exact)
    store = open_store(exact, VAULT)
    prom = tmp_path / "preauth.prom"
    prom.write_text("# metrics of an earlier run, which must not stay\n", encoding="utf-8")
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": ["acme-nl", "aged-nl", "crm", "gl-nl", "hr-nl"], "prometheus_file": str(prom)})
    assert "failed" not in result and result["changed"] is True
    assert [c["connection"] for c in result["connections"]] == ["aged-nl", "acme-nl", "crm"] and result["count"] == 3
    assert result["missing"] == [] and result["unexpected"] == []
    assert [u["connection"] for u in result["unreadable"]] == ["gl-nl", "hr-nl"]
    gl, hr = (u["reason"] for u in result["unreadable"])
    # The store's own words (tests/unit/plugins/plugin_utils/_store/test_vault.py and test_postgresql.py hold them to their text).
    assert store.where("gl-nl") in gl and "is damaged (not valid ansible-vault data); nothing was changed." in gl
    assert gl.endswith("or move it away and run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=gl-nl again.")
    assert store.where("hr-nl") in hr and hr.startswith("cannot decrypt ") and "with the vault secrets of this run" in hr
    said = "connection %s cannot be read, so it is reported as unreadable: %s"
    assert result["warnings"][-2:] == [said % ("gl-nl", gl), said % ("hr-nl", hr)]
    assert result["msg"] == "3 connection(s); wrote the Prometheus file %s; 2 record(s) cannot be read (see unreadable): gl-nl, hr-nl" % prom
    # The neutral key names either store; store_dir stays for file stores only.
    assert result["store"] == store.location
    assert ("store_dir" in result) == (not exact.get("store_url")) and result.get("store_dir", store.location) == store.location

    text = prom.read_text(encoding="utf-8")
    assert text == result["prometheus_text"] and "earlier run" not in text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    unreadable = {s.labels["connection"]: (s.value, s.labels["platform"], s.labels["owner"]) for s in families["preauth_record_unreadable"].samples}
    assert unreadable == {
        "acme-nl": (0, "exact_online", "controller"),
        "aged-nl": (0, "exact_online", "controller"),
        "crm": (0, "generic", "controller"),
        "gl-nl": (1, "", ""),
        "hr-nl": (1, "", ""),
    }
    for name, family in families.items():
        if name != "preauth_record_unreadable":
            assert not {"gl-nl", "hr-nl"} & {s.labels["connection"] for s in family.samples}, name  # nothing known of them
    assert {s.labels["connection"] for s in families["preauth_chain_present"].samples} == {"acme-nl", "aged-nl", "crm"}

    out = json.dumps(result)
    for p in three:
        tokens = stored(p)["tokens"]
        assert tokens["refresh_token"] not in out + text and tokens["access_token"] not in out + text
    assert "FAKE-other-vault-password" not in out and "FAKE-vault-password" not in out and "FAKE-not-hex" not in out

    # status.yml's table shows them, and its last play fails for them after the tables and the metrics.
    lines = status_lines(result, preauth_connections=[{"name": n} for n in ("acme-nl", "aged-nl", "crm", "gl-nl", "hr-nl")])
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"acme-nl", "aged-nl", "crm", "gl-nl", "hr-nl"}
    assert rows["hr-nl"].endswith("UNREADABLE: " + hr) and rows["gl-nl"].endswith("UNREADABLE: " + gl)
    assert rows["crm"].endswith(" ok")
    task = next(task for task in status_tasks() if task.get("name") == "Fail when a stored record cannot be read")
    templar = Templar(loader=DataLoader(), variables={"preauth_status": result})
    assert templar.evaluate_conditional(trust_as_template(task["when"]))
    assert templar.template(trust_as_template(task["ansible.builtin.fail"]["msg"])).startswith(
        "2 record(s) of the token store %s cannot be read by this run, so their chains are not reported or watched: gl-nl, hr-nl." % store.location
    )
    assert status_failure(result) is None  # nothing is missing


def test_an_invalid_connection_name(tmp_path):
    result = run_action(TokenInfo, {"store_dir": str(tmp_path), "connection": "../etc"})
    assert result["failed"] is True
    assert result["msg"] == (
        "connection name '../etc' is not valid: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' "
        "(the name is also the store file's name)"
    )


def test_connection_and_connections_are_mutually_exclusive(tmp_path):
    result = run_action(TokenInfo, {"store_dir": str(tmp_path), "connection": "a", "connections": ["b"]})
    assert result["failed"] is True
    assert "preauth.oauth2.token_info: invalid arguments: parameters are mutually exclusive: connection|connections" in result["msg"]


def test_shared_connection_options_are_refused(tmp_path):
    # A connection option set for the oauth2 action group reaches token_info too, and is refused by name; the group's
    # store and HTTP options are taken.
    result = run_action(TokenInfo, {"store_dir": str(tmp_path), "client_id": "x", "timeout": 5, "validate_certs": False, "ca_path": str(tmp_path)})
    assert result["failed"] is True
    assert result["msg"] == (
        "preauth.oauth2.token_info: invalid arguments: client_id. Supported parameters include: ca_path, connection, connections, expected,"
        " prometheus_file, return_secrets, store_dir, store_url, timeout, validate_certs, vault_id."
    )


def test_a_prometheus_file_in_a_missing_directory(three, tmp_path):
    exact, _aged, _strict = three
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "prometheus_file": str(tmp_path / "no" / "p.prom")})
    assert result["failed"] is True
    assert result["msg"] == "cannot write %s: the directory %s does not exist; create it or choose another path" % (tmp_path / "no" / "p.prom", tmp_path / "no")


def test_a_prometheus_file_that_is_a_directory(three, tmp_path):
    exact, _aged, _strict = three
    target = tmp_path / "preauth.prom"
    target.mkdir()
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "prometheus_file": str(target)})
    assert result["failed"] is True
    assert result["msg"] == "cannot write %s: Is a directory; the previous file is unchanged" % target
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


# -- odd values in a store (an older collection saved what a server sent) ----------------------

ODD_TIMES = [1e20, float("inf"), float("nan"), -5, "abc", 10**30, True]


@pytest.mark.parametrize("value", ODD_TIMES, ids=lambda v: repr(v)[:12])
def test_a_summary_survives_a_time_that_is_not_one_and_shows_it(value):
    odd = data(
        tokens=dict(data()["tokens"], access_expires_at=value, refresh_expires_at=value, last_refresh_at=value),
        owner={"kind": "controller", "since": value},
        last_error={"at": value, "kind": "oauth_error", "message": "refused"},
        reauthorization_required={"since": value, "reason": "spent"},
    )
    summary = summarize(odd, NOW)
    assert summary["access_expires_at"].startswith("invalid time (") and summary["refresh_expires_at"] == summary["access_expires_at"]
    assert summary["last_error"]["at"] == summary["owner_since"] == summary["access_expires_at"]
    assert summary["days_left"] is None and summary["timestamps"]["refresh_expires_at"] is None
    text = prometheus_text([summary])
    assert "preauth_refresh_token_expiry_timestamp_seconds{" not in text and "nan" not in text.lower() and "inf" not in text.lower()
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary  # a result Ansible can show


def test_a_summary_survives_sections_of_the_wrong_type():
    summary = summarize(data(generation="three", deployed_to="dwh01", owner="controller", last_error="boom", reauthorization_required=True), NOW)
    assert (summary["generation"], summary["deployed_to"], summary["owner"], summary["owner_since"]) == (0, [], "controller", None)
    assert summary["last_error"] == {"at": None, "kind": None, "message": None}
    assert summary["reauthorization_required"] is True and summary["reauthorization_reason"] is None


def test_token_info_and_token_refresh_survive_a_store_written_with_odd_values(sim, tmp_path, control):
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, resolve
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.record import chain_summary
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher

    exact = params(sim, tmp_path)
    preauthenticate(exact)
    strict = strict_params(sim, tmp_path)
    preauthenticate(strict)
    store = open_store(exact, VAULT)
    with store.locked("acme-nl") as record:
        record.data["tokens"].update(access_expires_at=1e20, refresh_expires_at="abc", last_refresh_at=float("nan"))
        record.data["preauthenticated_by"]["at"] = 10**30
    assert chain_summary(store.read("acme-nl"))["access_expires_at"] == "invalid time (1e+20)"
    prom = tmp_path / "preauth.prom"
    info = run_action(TokenInfo, {**pick(exact, "store_dir"), "prometheus_file": str(prom)})
    assert "failed" not in info and info["count"] == 2
    odd = next(c for c in info["connections"] if c["connection"] == "acme-nl")
    assert (odd["access_expires_at"], odd["refresh_expires_at"], odd["last_refresh_at"]) == (
        "invalid time (1e+20)",
        "invalid time (a value of type str)",
        "invalid time (nan)",
    )
    assert odd["preauthenticated_by"]["at"] == "invalid time (10000000000000000000...)" and odd["days_left"] is None
    assert 'preauth_chain_present{connection="acme-nl",platform="exact_online",owner="controller"} 1' in prom.read_text()
    # The refresh reads the unreadable refresh expiry as due (after Exact's 570 s) and writes readable times.
    control.advance_clock(600)
    with store.locked("acme-nl") as record:
        record.data["tokens"]["obtained_at"] -= 600
    refresher = Refresher(store, new_client(exact), Policy())
    result = refresher.run_one(resolve(exact, None))
    assert result.status == "refreshed" and "the stored refresh token expiry is unreadable (invalid time (a value of type str))" in result.msg
    assert run_action(TokenInfo, {**pick(exact, "store_dir"), "connection": "acme-nl"})["connections"][0]["days_left"] == 30.0


# -- the alert rules of docs/monitoring.md ----------------------------------------------------

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..")
NODE_EXPORTER_METRICS = {"node_textfile_mtime_seconds"}  # written by node_exporter itself, not by token_info


def alert_rules() -> list[dict]:
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as handle:
        blocks = re.findall(r"^```yaml\n(.*?)^```$", handle.read(), flags=re.S | re.M)
    (rules,) = [yaml.safe_load(block) for block in blocks if block.startswith("groups:")]
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_the_documented_alert_rules_use_metrics_and_labels_the_file_has(sim, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from ansible_collections.preauth.oauth2.plugins.action.token_handover import ActionModule as TokenHandover

    # A file with every kind of series: a chain the controller keeps alive, one a host keeps alive, one never preauthenticated.
    exact = params(sim, tmp_path)
    preauthenticate(exact)
    assert run_action(TokenHandover, {**pick(exact, "store_dir"), "connection": "acme-nl", "host": "dwh01"})["changed"] is True
    aged = params(sim, tmp_path, connection="aged-nl")
    preauthenticate(aged)
    prom = tmp_path / "preauth.prom"
    result = run_action(TokenInfo, {**pick(exact, "store_dir"), "expected": ["acme-nl", "aged-nl", "hr-nl"], "prometheus_file": str(prom)})
    assert result["changed"] is True and result["missing"] == ["hr-nl"]
    families = {family.name: family for family in text_string_to_metric_families(prom.read_text())}
    assert all(family.type == "gauge" and family.documentation for family in families.values())
    assert set(families) == {
        "preauth_refresh_token_expiry_timestamp_seconds",
        "preauth_reauthorization_required",
        "preauth_last_refresh_timestamp_seconds",
        "preauth_chain_present",
        "preauth_handed_over_timestamp_seconds",
        "preauth_record_unreadable",
    }
    for family in families.values():
        assert family.samples and all(set(s.labels) == {"connection", "platform", "owner"} for s in family.samples)
    owners = {(s.labels["connection"], s.labels["owner"]) for s in families["preauth_chain_present"].samples}
    assert owners == {("acme-nl", "dwh01"), ("aged-nl", "controller"), ("hr-nl", "")}
    assert [s.labels["connection"] for s in families["preauth_refresh_token_expiry_timestamp_seconds"].samples] == ["aged-nl"]
    assert [s.labels["connection"] for s in families["preauth_handed_over_timestamp_seconds"].samples] == ["acme-nl"]

    rules = [rule for rule in alert_rules() if "preauth_host_" not in rule["expr"]]  # the hosts' rules: tests/unit/playbooks
    assert [rule["alert"] for rule in rules] == [
        "PreauthChainExpiresSoon",
        "PreauthNeedsPreauthentication",
        "PreauthRecordUnreadable",
        "PreauthMetricsStale",
        "PreauthMetricsMissing",
    ]
    for rule in rules:
        used = set(re.findall(r"\b(?:preauth|node)_[a-z_]+\b", rule["expr"]))
        assert used, rule["alert"]
        ours = {name for name in used if name.startswith("preauth_")}
        assert ours <= set(families), "%s uses a metric the file does not have: %s" % (rule["alert"], ours - set(families))
        assert used - ours <= NODE_EXPORTER_METRICS, rule["alert"]
        labels = set(re.findall(r"\$labels\.([a-z_]+)", json.dumps(rule["annotations"])))
        available = {"connection", "platform", "owner"} if ours else {"instance", "job", "file"}
        assert labels <= available, "%s uses labels %s" % (rule["alert"], labels - available)
    # The documentation names exactly these metrics: the page's table and the module's description.
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as handle:
        table = set(re.findall(r"^\| `(preauth_(?!host_)[a-z_]+)` \|", handle.read(), flags=re.M))
    assert table == set(families)
    with open(os.path.join(ROOT, "plugins", "modules", "token_info.py"), encoding="utf-8") as handle:
        module_doc = handle.read()
    assert all("C(%s)" % name in module_doc for name in families)
