"""Invantive settings for a host: rendering, escaping, refusals and chain ownership, over real chains
made at the simulator and read back through the invantive_settings action."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from action_runner import pick, run_action
from ansible_collections.preauth.oauth2.plugins.action.invantive_settings import ActionModule as InvantiveSettings
from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.handover import handover
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invantive import SettingsError, connection_string, settings_xml
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.invantive import plan as plan_files
from ansible_collections.preauth.oauth2.plugins.plugin_utils._times import iso
from chains import VAULT, google_params, params, preauthenticate, stored, twinfield_params
from helpers import EXACT


def entry(p, **extra):
    """The inventory entry (preauth_connections item) of connection parameters ``p``."""
    found = {"name": p["connection"], "platform": p["platform"], "client_id": p["client_id"], "client_secret": p["client_secret"]}
    found.update(extra)
    return found


def plan(p, entries, host="target1", **args):
    return run_action(InvantiveSettings, dict(connections=entries, host=host, **pick(p, "store_dir"), **args))


def database(xml: str) -> dict:
    root = ET.fromstring(xml)
    assert root.tag == "settings"
    (group,) = root.findall("group")
    (conn,) = group.findall("connection")
    (db,) = conn.findall("database")
    return dict(db.attrib, group=group.get("name"), connection=conn.get("name"))


def pairs(conn_string: str) -> dict:
    return dict(part.split("=", 1) for part in conn_string.split(";"))


@pytest.fixture
def exact(sim, tmp_path):
    p = params(sim, tmp_path)
    preauthenticate(p)
    return p


@pytest.fixture
def twinfield(sim, tmp_path):
    p = twinfield_params(sim, tmp_path, connection="books")
    preauthenticate(p)
    return p


@pytest.fixture
def google(sim, tmp_path):
    """A platform that does not rotate refresh tokens, served by the simulator's OpenID server."""
    p = google_params(sim, tmp_path)
    preauthenticate(p)
    return p


def test_exact_settings_carry_the_provider_keys_and_current_tokens(exact):
    result = plan(exact, [entry(exact, hosts=["target1"])])
    assert result["_ansible_no_log"] is True and not result.get("failed"), result.get("msg")
    (item,) = result["files"]
    assert item["action"] == "deploy" and item["handover"] is True and item["file"] == "settings-acme-nl.xml"
    assert "content" not in item and len(item["content_sha256"]) == 12
    db = database(result["contents"]["acme-nl"])
    assert (db["group"], db["connection"], db["alias"], db["provider"]) == ("Exact Online", "acme-nl", "eol", "ExactOnlineAll")
    data = stored(exact)
    assert pairs(db["connectionString"]) == {
        "api-url": exact["base_url"],
        "api-client-id": EXACT["client_id"],
        "api-client-secret": EXACT["client_secret"],
        "api-redirect-url": exact["redirect_uri"],
        "api-refresh-token": data["tokens"]["refresh_token"],
    }
    assert result["counts"] == {"deploy": 1, "keep": 0, "skip": 0}


def test_only_the_hosts_connections_are_planned(exact):
    other = dict(entry(exact), name="other-nl", hosts=["target2"])
    assert plan(exact, [entry(exact, hosts=["target1"]), other])["counts"]["deploy"] == 1
    # a connection named in the host's own list counts too; an unknown name is an error
    assert plan(exact, [entry(exact)], names=["acme-nl"])["counts"]["deploy"] == 1
    failed = plan(exact, [entry(exact)], names=["missing-nl"])
    assert failed["failed"] and "missing-nl" in failed["msg"] and "preauth_connections" in failed["msg"]
    assert plan(exact, [entry(exact, hosts=["target2"])], host="target1")["files"] == []


def test_xml_escaping_keeps_awkward_but_legal_values_intact():
    xml = settings_xml('R&D <"Ops">', "x", "eol", "ExactOnlineAll", connection_string("x", [("api-url", "https://h/?a=1&b=<2>", False)]))
    db = database(xml)
    assert db["group"] == 'R&D <"Ops">' and pairs(db["connectionString"]) == {"api-url": "https://h/?a=1&b=<2>"}
    assert "&amp;" in xml and "&lt;" in xml


@pytest.mark.parametrize(
    "value, why",
    [("a;b", "';'"), (" a", "white space"), ('"a', "quote"), ("a\nb", "control character"), ("", "empty")],
)
def test_values_that_break_the_connection_string_are_refused(value, why):
    with pytest.raises(SettingsError) as caught:
        connection_string("acme-nl", [("api-client-id", value, False)])
    assert "acme-nl" in str(caught.value) and why in str(caught.value)


def test_a_refused_secret_is_never_shown(exact):
    bad = "FAKE-client-secret;with-a-semicolon"
    result = plan(exact, [entry(exact, hosts=["target1"], client_secret=bad)])
    assert result["failed"] and "api-client-secret" in result["msg"] and "';'" in result["msg"]
    assert "FAKE-client-secret" not in str(result)


def test_extra_keys_and_bad_keys(exact):
    ok = plan(exact, [entry(exact, hosts=["target1"], invantive={"extra": {"api-division": "12345"}, "alias": "acme", "group": "Clients"})])
    db = database(ok["contents"]["acme-nl"])
    assert pairs(db["connectionString"])["api-division"] == "12345" and db["alias"] == "acme" and db["group"] == "Clients"
    twice = plan(exact, [entry(exact, hosts=["target1"], invantive={"extra": {"api-url": "https://elsewhere.example"}})])
    assert twice["failed"] and "twice" in twice["msg"]
    unknown = plan(exact, [entry(exact, hosts=["target1"], invantive={"colour": "blue"})])
    assert unknown["failed"] and "colour" in unknown["msg"]


@pytest.mark.parametrize(
    ("option", "value"),
    [("group", "Clients\x00"), ("group", "Cli\x1bents"), ("group", "Clients\n"), ("group", "C\x85lients"), ("provider", "ExactOnlineAll\x07")],
)
def test_control_characters_in_group_or_provider_are_refused(exact, option, value):
    result = plan(exact, [entry(exact, hosts=["target1"], invantive={option: value})])
    assert result["failed"] and "contents" not in result
    assert result["msg"] == (
        "host target1: connection acme-nl: invantive.%s %r contains a control character, which the Invantive settings file cannot "
        "carry; nothing was deployed. Fix invantive.%s in the inventory" % (option, value, option)
    )


@pytest.mark.parametrize(
    ("invantive", "words"),
    [
        ({"alias": "eol\n"}, "invantive.alias 'eol\\n' must be a letter followed by letters, digits or '_'"),
        ({"keys": {"client_id": "api-client-id\n"}}, "'api-client-id\\n' is not a connection-string key"),
        ({"extra": {"api-division\n": "12345"}}, "'api-division\\n' is not a connection-string key"),
    ],
)
def test_a_trailing_newline_in_an_alias_or_key_is_refused(exact, invantive, words):
    result = plan(exact, [entry(exact, hosts=["target1"], invantive=invantive)])
    assert result["failed"] and "contents" not in result and "acme-nl" in result["msg"] and words in result["msg"], result["msg"]


def test_a_connection_name_with_a_trailing_newline_is_refused(exact):
    result = plan(exact, [dict(entry(exact), name="acme-nl\n", hosts=["target1"])])
    assert result["failed"] and "connection name 'acme-nl\\n' is not valid" in result["msg"], result["msg"]


def test_every_rendered_file_parses_as_xml(exact):
    awkward = {"group": 'R&D <"Ops"> \u00e9\u4e2d', "extra": {"api-note": 'tab\u00a0and <more> & "quotes"'}}
    result = plan(exact, [entry(exact, hosts=["target1"], invantive=awkward)])
    db = database(result["contents"]["acme-nl"])
    assert db["group"] == awkward["group"] and pairs(db["connectionString"])["api-note"] == awkward["extra"]["api-note"]


def test_platform_without_known_keys_needs_them_in_the_inventory(twinfield):
    bare = plan(twinfield, [entry(twinfield, hosts=["target1"])])
    assert bare["failed"] and "invantive.provider" in bare["msg"] and "books" in bare["msg"]
    given = plan(
        twinfield,
        [
            entry(
                twinfield,
                hosts=["target1"],
                invantive={"provider": "Twinfield", "keys": {"client_id": "api-client-id", "refresh_token": "api-refresh-token"}},
            )
        ],
    )
    assert not given.get("failed"), given.get("msg")
    db = database(given["contents"]["books"])
    assert db["provider"] == "Twinfield" and set(pairs(db["connectionString"])) == {"api-client-id", "api-refresh-token"}


def test_rotating_chain_kept_on_its_host_and_refused_elsewhere(exact):
    store = open_store(exact, VAULT)
    handover(store, "acme-nl", "host", "target1", check_mode=False)
    kept = plan(exact, [entry(exact, hosts=["target1"])], host="target1")
    assert kept["files"][0]["action"] == "keep" and kept["contents"] == {} and kept["counts"] == {"deploy": 0, "keep": 1, "skip": 0}
    refused = plan(exact, [entry(exact, hosts=["target2"])], host="target2")
    assert refused["failed"] and "owned by host target1" in refused["msg"] and "second connection name" in refused["msg"]
    assert "contents" not in refused


def test_a_new_generation_is_deployed_and_handed_over_again(exact):
    handover(open_store(exact, VAULT), "acme-nl", "host", "target1", check_mode=False)
    preauthenticate(exact)
    again = plan(exact, [entry(exact, hosts=["target2"])], host="target2")
    assert again["files"][0]["action"] == "deploy" and again["files"][0]["generation"] == 2 and again["files"][0]["handover"]


def test_controller_owned_rotating_chain_is_deployed_without_handover(exact):
    result = plan(exact, [entry(exact, hosts=["target1"], owner="controller")])
    assert result["files"][0]["action"] == "deploy" and result["files"][0]["handover"] is False


def test_non_rotating_chain_goes_to_many_hosts(google):
    spec = {"provider": "GoogleFake", "keys": {"client_id": "api-client-id", "refresh_token": "api-refresh-token"}}
    e = entry(google, hosts=["target1", "target2"], invantive=spec)
    for host in ("target1", "target2"):
        result = plan(google, [e], host=host)
        assert result["files"][0]["action"] == "deploy" and result["files"][0]["rotating"] is False, result.get("msg")
        handover(open_store(google, VAULT), "gmail", "host", host, check_mode=False)
    assert stored(google)["deployed_to"] == ["target1", "target2"]


@pytest.mark.parametrize(
    "change, words, command",
    [
        ({"tokens": None}, "holds no tokens", "preauthenticate -e preauth_connection=acme-nl"),
        ({"reauthorization_required": {"since": 1.0, "reason": "invalid_grant"}}, "new preauthentication", "preauthenticate -e preauth_connection=acme-nl"),
        ({"in_flight": {"started_at": 1.0, "fingerprint": "x"}}, "unknown outcome", "refresh -e preauth_only=acme-nl"),
    ],
)
def test_chains_that_cannot_be_deployed(exact, change, words, command):
    with open_store(exact, VAULT).locked("acme-nl") as record:
        record.data.update(change)
    result = plan(exact, [entry(exact, hosts=["target1"])])
    assert result["failed"] and words in result["msg"] and "acme-nl" in result["msg"]
    assert "run ansible-playbook preauth.oauth2." + command in result["msg"]


def test_missing_chain_and_definition_mismatch(exact):
    missing = plan(exact, [dict(entry(exact), name="nobody-nl", hosts=["target1"])])
    assert missing["failed"] and "has no stored chain in" in missing["msg"]
    assert missing["msg"].endswith("run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=nobody-nl")
    other = plan(exact, [entry(exact, hosts=["target1"], client_id="11111111-1111-4111-8111-111111111111")])
    assert other["failed"] and "client_id" in other["msg"] and "preauthenticate" in other["msg"]


def test_a_rotating_chain_given_to_two_hosts_goes_to_neither(exact):
    both = plan(exact, [entry(exact, hosts=["target1", "target2"])])
    assert both["failed"] and "2 hosts (target1, target2)" in both["msg"] and "separate connection" in both["msg"]
    by_name = plan(exact, [entry(exact, hosts=["target1"])], claims={"acme-nl": ["target2"]})
    assert by_name["failed"] and "target1, target2" in by_name["msg"]
    assert plan(exact, [entry(exact, hosts=["target1"])], claims={"acme-nl": ["target1"]})["counts"]["deploy"] == 1


def test_redeploy_only_leaves_the_first_handover_to_deploy(exact, google):
    skipped = plan(exact, [entry(exact, hosts=["target1"])], redeploy_only=True)
    assert skipped["files"][0]["action"] == "skip" and "ansible-playbook preauth.oauth2.deploy" in skipped["files"][0]["msg"] and skipped["contents"] == {}
    controller = plan(exact, [entry(exact, hosts=["target1"], owner="controller")], redeploy_only=True)
    assert controller["files"][0]["action"] == "deploy"
    spec = {"provider": "GoogleFake", "keys": {"client_id": "api-client-id", "refresh_token": "api-refresh-token"}}
    assert plan(google, [entry(google, hosts=["target1"], invantive=spec)], redeploy_only=True)["files"][0]["action"] == "deploy"


def test_only_narrows_the_hosts_connections(exact):
    other = dict(entry(exact), name="other-nl", hosts=["target1"])
    result = plan(exact, [other, entry(exact, hosts=["target1"])], only=["acme-nl"])
    assert [f["connection"] for f in result["files"]] == ["acme-nl"]


def test_the_data_container_hides_logon_code_and_password_as_the_official_examples_do(exact):
    # Invantive's "Link Settings.xml to Invantive Cloud Data Containers" page and forum thread 1570: every example sets both.
    db = database(plan(exact, [entry(exact, hosts=["target1"])])["contents"]["acme-nl"])
    assert (db["userLogonCodeMode"], db["passwordMode"]) == ("Hidden", "Hidden")
    assert db["AllowConnectionStringRewrite"] == "false"


def _product_refresh(p, refresh_token: str) -> tuple[int, dict]:
    """What the product on the host sends first: a refresh of the deployed token, straight to the platform."""
    body = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": p["client_id"], "client_secret": p["client_secret"]}
    ).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(p["base_url"] + "/api/oauth2/token", data=body), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read() or b"{}")


def test_the_plan_says_from_when_the_host_may_refresh_a_chain_exact_just_issued(exact, control):
    result = plan(exact, [entry(exact, hosts=["target1"])])
    (item,) = result["files"]
    obtained = stored(exact)["tokens"]["obtained_at"]
    not_before = math.ceil(obtained + 570)
    assert item["refresh_not_before"] == iso(not_before)
    assert item["msg"] == (
        "connection acme-nl generation 1 is deployed and then handed over to host target1; Exact Online refuses a refresh until 570 s "
        "after the controller's last token call, so the product there may refresh it not before %s" % iso(not_before)
    )
    assert iso(not_before) in result["summary"][0]
    note = result["runner_notes"]["acme-nl"]
    assert "not_before=%d\ninterval=570\n" % not_before in note and "FAKE" not in note
    assert stored(exact)["tokens"]["refresh_token"] not in note
    # The platform agrees: the product's first refresh is refused before that time (nothing spent) and accepted at it.
    token = database(result["contents"]["acme-nl"])["connectionString"].split("api-refresh-token=")[1]
    status, answer = _product_refresh(exact, token)
    assert status == 400 and answer["error"] == "access_denied"
    control.advance_clock(not_before - time.time() + 1)
    status, answer = _product_refresh(exact, token)
    assert status == 200 and answer["refresh_token"] != token


def test_once_the_time_has_passed_the_plan_keeps_the_time_but_stops_warning(exact):
    obtained = stored(exact)["tokens"]["obtained_at"]
    (item,) = plan_files(open_store(exact, VAULT), [entry(exact, hosts=["target1"])], "target1", now=obtained + 571)
    assert item.refresh_not_before == iso(math.ceil(obtained + 570)) and "not_before=%d" % math.ceil(obtained + 570) in item.note
    assert item.msg == "connection acme-nl generation 1 is deployed and then handed over to host target1"


def test_a_platform_without_a_minimum_interval_has_no_time_and_no_note(google):
    spec = {"provider": "GoogleFake", "keys": {"client_id": "api-client-id", "refresh_token": "api-refresh-token"}}
    result = plan(google, [entry(google, hosts=["target1"], invantive=spec)])
    assert result["files"][0]["refresh_not_before"] is None and result["runner_notes"] == {}
    assert "not before" not in result["files"][0]["msg"]


def test_a_kept_chain_has_no_time(exact):
    handover(open_store(exact, VAULT), "acme-nl", "host", "target1", check_mode=False)
    kept = plan(exact, [entry(exact, hosts=["target1"])])
    assert kept["files"][0]["refresh_not_before"] is None and kept["runner_notes"] == {}


@pytest.mark.parametrize(
    "reauth, why",
    [
        ({"since": 1_800_000_000.0, "reason": "Old refresh token used."}, "since 2027-01-15T08:00:00Z (Old refresh token used.)"),
        (True, "(no time or reason recorded)"),
        ("yes", "(no time or reason recorded)"),
    ],
)
def test_a_dead_chain_is_neither_deployed_nor_handed_over(exact, reauth, why):
    with open_store(exact, VAULT).locked("acme-nl") as record:
        record.data["reauthorization_required"] = reauth
    result = plan(exact, [entry(exact, hosts=["target1"])])
    assert result["failed"] and "contents" not in result
    assert result["msg"] == (
        "host target1: connection acme-nl needs a new preauthentication %s: its chain is dead, so it is neither deployed nor handed "
        "over; run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl" % why
    )
