"""status.yml with preauth_status_hosts: the runner's health records gathered from a host, the combined table,
the flag for a chain not used successfully for N hours, and the host metrics with the alert rule of docs/monitoring.md.

The host is localhost, its records written here as preauth-run writes them; the runner's own writing of them
is tested in tests/unit/roles/test_preauth_run.py, and end to end over SSH in the deploy integration target.
"""

from __future__ import annotations

import json
import os
import re
import time
import typing as t

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def record(
    health: t.Any, connection: str, status: str, exit_status: int, ran_hours_ago: float, success_hours_ago: float | None, generation: int | None
) -> None:
    now = time.time()
    data = {
        "schema": 1,
        "connection": connection,
        "user": "invantive",
        "started_at": utc(now - ran_hours_ago * 3600 - 60),
        "finished_at": utc(now - ran_hours_ago * 3600),
        "exit_status": exit_status,
        "status": status,
        "message": "connection %s may not be refreshed before ..." % connection if status == "not_started" else None,
        "generation": generation,
        "last_success_at": None if success_hours_ago is None else utc(now - success_hours_ago * 3600),
    }
    (health / (connection + ".json")).write_text(json.dumps(data), encoding="utf-8")


def status(ansible_playbook: t.Callable[..., t.Any], tmp_path: t.Any, **extra: t.Any) -> t.Any:
    inventory = {"host": {"ansible_become": False}, "vars": {"preauth_store_dir": str(tmp_path / "tokens")}}
    extra = dict({"preauth_status_hosts": "localhost", "preauth_settings_health_dir": str(tmp_path / "health")}, **extra)
    return ansible_playbook("status", extra=extra, inventory=inventory)


def health_table(stdout: str) -> list[str]:
    part = stdout.split("TASK [Show the health of the chains on the hosts]", 1)[1]
    return re.findall(r'^\s+"((?:CONNECTION|\S+ +localhost).*?)",?$', part.split("TASK [", 1)[0], re.M)


def test_the_health_of_each_chain_on_the_host_is_shown_and_a_stale_one_fails_the_run(ansible_playbook, tmp_path):
    health = tmp_path / "health"
    health.mkdir()
    record(health, "acme-nl", "succeeded", 0, 2, 2, 3)
    record(health, "crm", "failed", 3, 1, 20, None)  # failed now, but used successfully 20 hours ago
    record(health, "gmail", "killed", 137, 1, 30, 1)
    record(health, "hr-nl", "not_started", 75, 1, None, 1)
    result = status(ansible_playbook, tmp_path, preauth_prometheus_file=str(tmp_path / "preauth.prom"))
    assert result.returncode != 0
    rows = health_table(result.stdout)
    assert rows[0].split()[:4] == ["CONNECTION", "HOST", "USER", "GEN"]
    by_name = {row.split()[0]: row for row in rows[1:]}
    assert set(by_name) == {"acme-nl", "crm", "gmail", "hr-nl"}
    assert re.fullmatch(r"acme-nl +localhost +invantive +3  \S+Z  succeeded +\S+Z +2\.0  ok", by_name["acme-nl"])
    assert re.search(r"failed \(exit 3\) +\S+Z +20\.0  ok\Z", by_name["crm"])
    assert re.search(r"killed \(exit 137\) +\S+Z +30\.0  NOT USED SUCCESSFULLY FOR 30\.0 HOURS \(more than 26\)\Z", by_name["gmail"])
    assert re.search(r"not_started \(exit 75\) +- +-  NEVER USED SUCCESSFULLY: connection hr-nl may not be refreshed before \.\.\.\Z", by_name["hr-nl"])
    assert "not used successfully on the host for more than 26 hours (or never): gmail on localhost, hr-nl on localhost." in result.stdout

    # A longer limit: nothing stale, the run passes (the store is empty and the inventory names no connection).
    for name in ("gmail", "hr-nl"):
        (health / (name + ".json")).unlink()
    result = status(ansible_playbook, tmp_path, preauth_status_stale_hours=48)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "NOT USED" not in result.stdout


def test_a_host_without_records_is_said(ansible_playbook, tmp_path):
    result = status(ansible_playbook, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "localhost: no health record in %s (it does not exist: deploy with the preauth.oauth2.settings role" % (tmp_path / "health") in result.stdout
    (tmp_path / "health").mkdir()
    result = status(ansible_playbook, tmp_path)
    assert "localhost: no health record in %s (the runner has not run there since it was deployed)" % (tmp_path / "health") in result.stdout


def test_the_host_metrics_parse_and_the_documented_alert_rule_uses_them(ansible_playbook, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    health = tmp_path / "health"
    health.mkdir()
    record(health, "acme-nl", "succeeded", 0, 1, 1, 3)
    record(health, "hr-nl", "not_started", 75, 1, None, None)
    result = status(ansible_playbook, tmp_path, preauth_prometheus_file=str(tmp_path / "preauth.prom"), preauth_status_stale_hours=1000)
    assert "TASK [Write the hosts' health metrics for the textfile collector]" in result.stdout
    text = (tmp_path / "preauth.hosts.prom").read_text(encoding="utf-8")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert all(family.type == "gauge" and family.documentation for family in families.values())
    assert set(families) == {
        "preauth_host_last_run_timestamp_seconds",
        "preauth_host_last_success_timestamp_seconds",
        "preauth_host_last_exit_status",
        "preauth_host_generation",
    }
    for family in families.values():
        assert all(s.labels == {"connection": s.labels["connection"], "host": "localhost", "user": "invantive"} for s in family.samples)
    success = {s.labels["connection"]: s.value for s in families["preauth_host_last_success_timestamp_seconds"].samples}
    assert success["hr-nl"] == 0 and abs(success["acme-nl"] - (time.time() - 3600)) < 120
    assert {s.labels["connection"]: s.value for s in families["preauth_host_last_exit_status"].samples} == {"acme-nl": 0, "hr-nl": 75}
    assert [s.labels["connection"] for s in families["preauth_host_generation"].samples] == ["acme-nl"]

    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as handle:
        page = handle.read()
    (block,) = [b for b in re.findall(r"^```yaml\n(.*?)^```$", page, flags=re.S | re.M) if b.startswith("groups:")]
    rules = [rule for group in yaml.safe_load(block)["groups"] for rule in group["rules"] if "preauth_host_" in rule["expr"]]
    assert [rule["alert"] for rule in rules] == ["PreauthHostNotUsedSuccessfully"]
    for rule in rules:
        assert set(re.findall(r"\bpreauth_[a-z_]+\b", rule["expr"])) <= set(families)
        assert set(re.findall(r"\$labels\.([a-z_]+)", json.dumps(rule["annotations"]))) <= {"connection", "host", "user"}
    assert set(re.findall(r"^\| `(preauth_host_[a-z_]+)` \|", page, flags=re.M)) == set(families)
