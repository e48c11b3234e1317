"""Zoho as the platform table states it, and the simulator's ``zoho`` profile answering the same way.

The chain runs over real HTTP against the simulator's Zoho accounts server (``/zoho``): the authorization URL carries the
table's ``access_type=offline``, and a refresh answer without a refresh token keeps the stored one (Zoho's refresh tokens
do not rotate, docs/sources.md ZH2, ZH3, ZH6).
"""

from __future__ import annotations

import typing as t
import urllib.parse

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client, open_store, resolve
from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.refresh import Policy, Refresher
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PlatformError, get_platform, resolve_endpoints
from chains import VAULT, begin, params, preauthenticate, stored
from simulator import DEFAULT_CONFIG
from simulator.authority import PROFILES
from simulator.flows import authorize_url, exchange, landed, query_of, refresh as platform_refresh, token
from simulator.timewarp import warp
from helpers import USER

DAY = 86400
ZOHO = next(c for c in DEFAULT_CONFIG["clients"] if c["profile"] == "zoho")
AUTH, TOKEN = "/zoho/oauth/v2/auth", "/zoho/oauth/v2/token"


def test_zoho_facts_and_their_sources():
    zoho = get_platform("zoho")
    assert (zoho.rotation, zoho.spent_token, zoho.refresh_token_lifetime, zoho.refresh_token_lifetime_kind) == ("non_rotating", "accepted", None, "none")
    assert (zoho.access_token_lifetime, zoho.code_lifetime, zoho.client_auth) == (3600, 120, "client_secret_post")
    assert dict(zoho.auth_params) == {"access_type": "offline", "prompt": "consent"}
    assert set(zoho.countries.values()) == {"com", "eu", "in", "com.au", "jp", "com.cn", "sa"}
    assert {"ZH1", "ZH2", "ZH3", "ZH4", "ZH5", "ZH6", "ZH7", "ZH8", "ZH9"} <= set(zoho.sources)
    # Not confirmed by a source read here: named, so nobody takes them for facts.
    assert {"revocation_url", "whoami_url", "pkce", "loopback_redirect", "token_errors"} <= set(zoho.unconfirmed)
    assert "auth_params" not in zoho.unconfirmed
    assert "20" in zoho.notes and "ten access tokens per refresh token in ten minutes" in zoho.notes


DATA_CENTRES = [
    ("eu", "accounts.zoho.eu"),
    ("us", "accounts.zoho.com"),
    ("AU", "accounts.zoho.com.au"),
    ("cn", "accounts.zoho.com.cn"),
    ("sa", "accounts.zoho.sa"),
]


@pytest.mark.parametrize("country, host", DATA_CENTRES)
def test_each_data_centre_has_its_accounts_server(country, host):
    resolved = resolve_endpoints(get_platform("zoho"), country=country)
    base = "https://" + host
    assert (resolved.authorize, resolved.token, resolved.revocation, resolved.whoami, resolved.base) == (
        base + "/oauth/v2/auth", base + "/oauth/v2/token", base + "/oauth/v2/token/revoke", None, base,
    )  # fmt: skip


def test_canada_is_reached_with_base_url_and_a_data_centre_is_required():
    resolved = resolve_endpoints(get_platform("zoho"), base_url="https://accounts.zohocloud.ca")
    assert resolved.token == "https://accounts.zohocloud.ca/oauth/v2/token"
    with pytest.raises(PlatformError) as caught:
        resolve_endpoints(get_platform("zoho"))
    assert str(caught.value) == "Zoho needs a country; use one of: com (or us), eu, in, com.au (or au), jp, com.cn (or cn), sa"
    with pytest.raises(PlatformError) as caught:
        resolve_endpoints(get_platform("zoho"), country="ca")
    assert str(caught.value).startswith("unknown Zoho country 'ca'; use one of: com (or us), eu")


def test_the_simulators_zoho_profile_is_the_table():
    profile, zoho = PROFILES["zoho"], get_platform("zoho")
    assert profile.rotating is (zoho.rotation != "non_rotating") is False
    assert (profile.access_lifetime, profile.code_lifetime, profile.refresh_idle_lifetime) == (zoho.access_token_lifetime, zoho.code_lifetime, None)
    assert profile.client_auth == (zoho.client_auth,)
    assert profile.refresh_needs_access_type_offline and zoho.auth_params["access_type"] == "offline"


def _code(sim, **extra: str) -> str:
    return query_of(landed(authorize_url(sim.base_url, AUTH, ZOHO["client_id"], scope="ZohoCRM.modules.ALL", **extra), USER))["code"]


def test_the_profile_gives_a_refresh_token_only_for_offline_access_and_never_rotates_it(sim, control):
    online = exchange(sim.base_url + TOKEN, ZOHO, _code(sim)).json()
    assert "refresh_token" not in online and online["api_domain"] == "https://www.zohoapis.eu"
    first = exchange(sim.base_url + TOKEN, ZOHO, _code(sim, access_type="offline")).json()
    assert first["expires_in"] == 3600 and first["refresh_token"].startswith("1000.")
    for _run in range(3):
        answer = platform_refresh(sim.base_url + TOKEN, ZOHO, first["refresh_token"])
        assert answer.status_code == 200 and "refresh_token" not in answer.json(), answer.text
        assert answer.json()["access_token"] != first["access_token"] and answer.json()["api_domain"] == "https://www.zohoapis.eu"
    # A year unused changes nothing: Zoho's refresh tokens live until revoked.
    control.advance_clock(365 * DAY)
    assert platform_refresh(sim.base_url + TOKEN, ZOHO, first["refresh_token"]).status_code == 200
    # Client credentials in the body only, as the table's client_auth says.
    basic = token(sim.base_url + TOKEN, ZOHO, basic=True, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"


def zoho_params(sim, tmp_path) -> dict[str, t.Any]:
    return params(
        sim,
        tmp_path,
        connection="crm-zoho",
        platform="zoho",
        country="eu",
        base_url=sim.base_url + "/zoho",
        client_id=ZOHO["client_id"],
        client_secret=ZOHO["client_secret"],
        scopes=["ZohoCRM.modules.ALL"],
    )


def test_the_authorization_url_asks_for_offline_access(sim, tmp_path):
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(begin(zoho_params(sim, tmp_path)).result["url"]).query))
    assert (query["access_type"], query["prompt"], query["scope"]) == ("offline", "consent", "ZohoCRM.modules.ALL")


def test_a_refresh_without_a_new_refresh_token_keeps_the_stored_one(sim, tmp_path, control):
    p = zoho_params(sim, tmp_path)
    preauthenticate(p)
    before = stored(p)["tokens"]
    assert before["refresh_token"]
    warp(3700, control, open_store(p, VAULT))  # the access token of 3600 s has run out
    client = new_client(p)
    try:
        # A refresh token that lives until revoked never needs a refresh of its own: the access token asks for this one.
        result = Refresher(open_store(p, VAULT), client, Policy(access_token_min_ttl=60)).run_one(resolve(p, client))
    finally:
        client.close()
    assert result.status == "refreshed", result.msg
    after = stored(p)["tokens"]
    assert after["access_token"] != before["access_token"]
    assert (after["refresh_token"], after["refresh_fingerprint"]) == (before["refresh_token"], before["refresh_fingerprint"])
    assert control.state()["chains"][0]["refreshes"] == 1
