"""The platform table resolves exactly as pinned in ``platform_table.json``.

The snapshot holds every platform's model (``dataclasses.asdict``, in table order, so the order of
countries and environments that messages list is pinned too) and what ``resolve_endpoints`` makes of
a fixed set of arguments per platform: each country and alias, each environment, a tenant, a base URL,
explicit endpoints and refused values (with their messages). An edit of the table that changes any of
it fails here; when the change is intended, rewrite the snapshot and review its diff:

    PREAUTH_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest -q tests/unit/plugins/plugin_utils/_platforms/test_table.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import typing as t

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.table import EVERY_FACT, TABLE
from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import (
    FACT_FIELDS,
    FIELD_NAMES,
    PLATFORM_NAMES,
    PLATFORMS,
    Platform,
    PlatformError,
    _platform,
    resolve_endpoints,
)

SNAPSHOT = pathlib.Path(__file__).with_name("platform_table.json")
# Fake URLs: a loopback test server, and explicit endpoints on a host that does not exist.
BASE_URL = "https://127.0.0.1:8443/"
GIVEN = {key: "https://idp.example.test/oauth/%s" % key for key in ("authorize", "token", "revocation", "whoami")}


def _arguments(platform: Platform) -> list[dict[str, t.Any]]:
    """The resolve_endpoints arguments pinned for ``platform``: its defaults, every choice it offers, and refused values."""
    cases: list[dict[str, t.Any]] = [{}]
    cases += [{"country": country} for country in platform.countries]
    cases += [{"environment": environment} for environment in platform.environments]
    first_country = next(iter(platform.countries), None)
    cases += [
        {"country": "xx"},
        {"environment": "nowhere"},
        {"tenant": "contoso.example", "country": first_country},
        {"tenant": "not a tenant", "country": first_country},
        {"base_url": BASE_URL},
        {"base_url": BASE_URL, "country": first_country},
        {"endpoints": GIVEN, "country": first_country},
    ]
    return cases


def _resolved(platform: Platform, arguments: dict[str, t.Any]) -> dict[str, t.Any]:
    try:
        return {"endpoints": dataclasses.asdict(resolve_endpoints(platform, **arguments))}
    except PlatformError as exc:
        return {"error": str(exc)}


def _snapshot() -> dict[str, t.Any]:
    platforms = {}
    for name, platform in PLATFORMS.items():
        platforms[name] = {
            "model": json.loads(json.dumps(dataclasses.asdict(platform))),
            "resolved": [{"arguments": arguments, **_resolved(platform, arguments)} for arguments in _arguments(platform)],
        }
    return {"field_names": list(FIELD_NAMES), "fact_fields": list(FACT_FIELDS), "platform_names": list(PLATFORM_NAMES), "platforms": platforms}


def _text(value: t.Any) -> str:
    # Not sorted: the order of platforms, countries and environments is part of what is pinned.
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def test_every_platform_resolves_as_pinned():
    current = _snapshot()
    if os.environ.get("PREAUTH_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(_text(current), encoding="utf-8")
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    for key in ("field_names", "fact_fields", "platform_names"):
        assert current[key] == pinned[key], key
    assert list(current["platforms"]) == list(pinned["platforms"]), "table order"
    for name, expected in pinned["platforms"].items():
        # Compared as text so that a changed order of countries or environments shows up as well.
        assert _text(current["platforms"][name]) == _text(expected), "platform %s differs from %s" % (name, SNAPSHOT.name)


def test_the_snapshot_covers_every_choice_and_a_refusal():
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    exact = pinned["platforms"]["exact_online"]["resolved"]
    assert {"arguments": {"country": "uk"}, "endpoints": {**_endpoints_of(exact, {"country": "co.uk"})}} in exact
    assert any("error" in case and "unknown Exact Online country 'xx'" in case["error"] for case in exact)
    loket = pinned["platforms"]["loket"]["resolved"]
    assert _endpoints_of(loket, {"environment": "acceptance"})["token"] == "https://oauth.loket-acc.nl/token"
    generic = pinned["platforms"]["generic"]["resolved"]
    assert "error" in generic[0] and _endpoints_of(generic, {"endpoints": GIVEN, "country": None})["token"] == GIVEN["token"]


def _endpoints_of(cases: list[dict[str, t.Any]], arguments: dict[str, t.Any]) -> dict[str, t.Any]:
    return next(case["endpoints"] for case in cases if case["arguments"] == arguments)


STRUCTURAL = {"auth_params": {}, "invantive_keys": {}, "countries": {}, "tenant_default": None, "environments": {}, "environment_default": None}


def _entry(name: str) -> dict[str, t.Any]:
    return dict(next(entry for entry in TABLE if entry["name"] == name))


def test_structural_fields_default_to_empty_and_read_only():
    entry = {key: value for key, value in _entry("github").items() if key not in STRUCTURAL}
    platform = _platform(entry)
    assert {field: getattr(platform, field) for field in STRUCTURAL} == STRUCTURAL
    with pytest.raises(TypeError, match="read-only"):
        platform.countries["nl"] = "nl"  # type: ignore[index]


@pytest.mark.parametrize("fact", ["authorize_url", "rotation", "refresh_token_lifetime", "invantive_provider", "unconfirmed", "sources"])
def test_fact_fields_have_no_default(fact):
    entry = _entry("exact_online")
    del entry[fact]
    with pytest.raises(TypeError, match=fact):
        _platform(entry)


def test_the_table_leaves_structural_fields_out_when_empty():
    for entry in TABLE:
        assert not [field for field, empty in STRUCTURAL.items() if field in entry and entry[field] == empty], entry["name"]


def test_every_fact_stands_for_all_fact_fields():
    unsourced = [entry["name"] for entry in TABLE if entry["unconfirmed"] == EVERY_FACT]
    assert "paypal" in unsourced and "generic" not in unsourced and "atlassian" not in unsourced and "github" not in unsourced
    for name in unsourced:
        assert PLATFORMS[name].unconfirmed == FACT_FIELDS
    assert _platform({**_entry("generic"), "unconfirmed": ("pkce",)}).unconfirmed == ("pkce",)
