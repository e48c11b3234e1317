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


# -- what comes back from a host is hostile (issue 18, item 13) -------------------------------------

# The file name a service user could give a plain settings file, and what an older runner made of it.
FORGED = 'x",host="dwh02",user="root"} 1e12 # '


def test_a_forged_or_broken_record_is_ignored_and_said_and_the_host_metrics_still_parse(ansible_playbook, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    health = tmp_path / "health"
    health.mkdir()
    record(health, "acme-nl", "succeeded", 0, 1, 1, 3)
    record(health, FORGED, "succeeded", 0, 1, 1, 7)  # a healthy-looking row under a name that is no connection name
    (health / "broken.json").write_text('{"schema": 1, "connection": "broken", "nested": {"a": 1}}', encoding="utf-8")
    (health / "other.json").write_text(json.dumps(dict(json.loads((health / "acme-nl.json").read_text()), exit_status="0")), encoding="utf-8")
    (health / "big.json").write_text(" " * 70000, encoding="utf-8")
    result = status(ansible_playbook, tmp_path, preauth_prometheus_file=str(tmp_path / "preauth.prom"), preauth_status_stale_hours=1000)
    text = (tmp_path / "preauth.hosts.prom").read_text(encoding="utf-8")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for family in families.values():
        assert [(s.labels["connection"], s.labels["host"], s.labels["user"]) for s in family.samples] == [("acme-nl", "localhost", "invantive")]
    assert "dwh02" not in text and "root" not in text
    rows = health_table(result.stdout)
    assert [row.split()[0] for row in rows[1:] if row.endswith("  ok")] == ["acme-nl"], rows  # no healthy row under the forged name
    part = result.stdout.split("TASK [Show the health of the chains on the hosts]", 1)[1].split("TASK [", 1)[0]
    invalid = {line.split()[0]: line for line in re.findall(r'^\s+"(\S+ +localhost .*INVALID RECORD.*?)",?$', part, re.M)}
    shown = re.sub(r"[^A-Za-z0-9._-]", "?", FORGED + ".json")  # the name as the table shows it: no quote, brace or space of it
    assert set(invalid) == {shown, "broken.json", "other.json", "big.json"}, part
    assert invalid[shown].endswith("INVALID RECORD, ignored: not a health record of preauth-run (connection)")
    assert invalid["broken.json"].endswith("INVALID RECORD, ignored: not a health record of preauth-run (not a JSON object of plain values)")
    assert invalid["other.json"].endswith("not a health record of preauth-run (connection, exit_status)")
    assert invalid["big.json"].endswith("INVALID RECORD, ignored: larger than 65536 bytes")
    assert result.returncode != 0
    assert "health records that preauth-run did not write were ignored: " in result.stdout
    assert "broken.json on localhost" in result.stdout


def test_more_records_than_the_runner_writes_are_not_all_read(ansible_playbook, tmp_path):
    health = tmp_path / "health"
    health.mkdir()
    for number in range(258):
        record(health, "c%03d" % number, "succeeded", 0, 1, 1, 1)
    result = status(ansible_playbook, tmp_path, preauth_status_stale_hours=1000)
    rows = health_table(result.stdout)
    assert len([row for row in rows if re.match(r"c\d{3} ", row)]) == 256
    assert re.search(r"2 more record\(s\) +localhost .*INVALID RECORD, ignored: more than 256 records; only the first by name were read", result.stdout)
    assert result.returncode != 0


def test_every_label_value_of_the_host_metrics_is_escaped(tmp_path):
    """The template itself, rendered with a host name that holds every character the text format escapes."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    from prometheus_client.parser import text_string_to_metric_families

    with open(os.path.join(ROOT, "playbooks", "status.yml"), encoding="utf-8") as handle:
        tasks = [task for play in yaml.safe_load(handle) for task in play.get("tasks", [])]
    (task,) = [task for task in tasks if task.get("name") == "Write the hosts' health metrics for the textfile collector"]
    content = task["ansible.builtin.copy"]["content"]
    host = 'dwh"01\\x\n} 1e12 #'
    rows = [{"connection": "acme-nl", "host": host, "user": "invantive", "finished_epoch": 1, "success_epoch": 2, "exit_status": 0, "generation": 3}]
    text = Templar(loader=DataLoader(), variables={"preauth_health_rows": rows}).template(trust_as_template(content))
    families = list(text_string_to_metric_families(text))
    assert len(families) == 4
    assert all([s.labels for s in family.samples] == [{"connection": "acme-nl", "host": host, "user": "invantive"}] for family in families)


# -- a record the run cannot read (issue 18, item 8) -----------------------------------------------


def test_a_record_the_run_cannot_read_is_shown_and_watched_and_the_rest_reported(ansible_playbook, tmp_path):
    from ansible.parsing.vault import VaultLib, VaultSecret
    from prometheus_client.parser import text_string_to_metric_families

    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore

    password = tmp_path / "vault-password"
    password.write_text("FAKE-status-vault-password\n", encoding="utf-8")
    now = time.time()
    for name, secret in (("acme-nl", b"FAKE-status-vault-password"), ("hr-nl", b"FAKE-another-vault-password")):
        store = FileTokenStore(str(tmp_path / "tokens"), VaultLib([("default", VaultSecret(secret))]))
        with store.locked(name) as chain:
            chain.data.update(
                definition={"platform": "exact_online", "client_id": "FAKE-client"},
                generation=1,
                owner={"kind": "controller", "since": now},
                tokens={"access_token": "FAKE-access-token", "refresh_token": "FAKE-refresh-token", "refresh_fingerprint": "0123456789ab",
                        "obtained_at": now, "access_expires_at": now + 600, "refresh_expires_at": now + 20 * 86400, "last_refresh_at": now},
            )
    prom = tmp_path / "preauth.prom"
    prom.write_text('preauth_chain_present{connection="hr-nl",platform="exact_online",owner="controller"} 1\n', encoding="utf-8")
    inventory = {"vars": {"preauth_store_dir": str(tmp_path / "tokens"), "preauth_connections": [{"name": "acme-nl"}, {"name": "hr-nl"}]}}
    result = ansible_playbook("status", "--vault-password-file", str(password), extra={"preauth_prometheus_file": str(prom)}, inventory=inventory)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert not [secret for secret in ("FAKE-access-token", "FAKE-refresh-token", "FAKE-status-vault", "FAKE-another-vault") if secret in out]
    rows = dict(re.findall(r'^\s+"((?:acme|hr)-nl) +(.*?)",?$', result.stdout.split("TASK [Show the table]", 1)[1].split("TASK [", 1)[0], re.M))
    assert rows["acme-nl"].endswith("  ok")
    where = re.escape(str(tmp_path / "tokens" / "hr-nl.yml"))
    assert re.fullmatch(r"- +- +- +- +- +UNREADABLE: cannot decrypt .*%s.* with the vault secrets of this run.*" % where, rows["hr-nl"])
    families = {family.name: family for family in text_string_to_metric_families(prom.read_text(encoding="utf-8"))}
    assert {s.labels["connection"]: s.value for s in families["preauth_record_unreadable"].samples} == {"acme-nl": 0, "hr-nl": 1}
    assert [s.labels["connection"] for s in families["preauth_chain_present"].samples] == ["acme-nl"]  # the old hr-nl series is gone
    said = "1 record(s) of the token store %s cannot be read by this run, so their chains are not reported or watched: hr-nl." % (tmp_path / "tokens")
    assert said in result.stdout


def test_a_host_that_stopped_using_its_chain_is_told_as_expiring_from_its_health_record(ansible_playbook, tmp_path):
    """status.yml's health records reach preauth_notify: a chain that localhost keeps, last used 25 days ago, expires within 7."""
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
    from chains import VAULT
    from receivers import WebhookReceiver

    secret = "whsec_RkFLRS13ZWJob29rLXNlY3JldC1mb3ItaGVhbHRoLXRlc3Q="
    now = time.time()
    with FileTokenStore(str(tmp_path / "tokens"), VAULT).locked("acme-nl") as stored:
        stored.data.update(
            generation=1,
            definition={"platform": "exact_online", "country": "nl", "client_id": "00000000-0000-4000-8000-000000000000"},
            tokens={"refresh_token": "FAKE-refresh-token-of-the-host", "refresh_fingerprint": "f" * 12, "refresh_expires_at": now + 5 * 86400},
            owner={"kind": "host", "host": "localhost", "since": now - 40 * 86400, "generation": 1},
            preauthenticated_by={"first_name": "Bea", "email": "bea@client.example.test", "at": now - 40 * 86400},
        )
    health = tmp_path / "health"
    health.mkdir()
    record(health, "acme-nl", "failed", 3, 1, 25 * 24, 1)
    password = tmp_path / "vault-pw"
    password.write_bytes(b"FAKE-vault-password\n")
    with WebhookReceiver(secret) as hook:
        connection = {"name": "acme-nl", "platform": "exact_online", "country": "nl", "client_id": "00000000-0000-4000-8000-000000000000"}
        inventory = {
            "host": {"ansible_become": False},
            "vars": {
                "preauth_store_dir": str(tmp_path / "tokens"),
                "preauth_connections": [connection],
                "preauth_notify": {"webhooks": [{"url": hook.url, "secret": secret}]},
            },
        }
        extra = {"preauth_status_hosts": "localhost", "preauth_settings_health_dir": str(health), "preauth_status_stale_hours": 10000}
        result = ansible_playbook("status", "--vault-password-file", str(password), extra=extra, inventory=inventory)
        assert "acme-nl: expiring: sent" in result.stdout, result.stdout[-3000:]
        (call,) = hook.received
        assert call["payload"]["type"] == "connection.expiring" and "localhost" in call["payload"]["data"]["reason"]
        again = ansible_playbook("status", "--vault-password-file", str(password), extra=extra, inventory=inventory)
        assert "acme-nl: expiring" not in again.stdout and len(hook.received) == 1
