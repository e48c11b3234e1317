"""docs/sources.md lists every source ID that the code and the guides cite, and only those."""

from __future__ import annotations

import pathlib
import re

from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PLATFORMS

ROOT = pathlib.Path(__file__).resolve().parents[3]
SOURCES = ROOT / "docs" / "sources.md"
# The shapes of the IDs: E17, TW7, X-gist, FORUM-1570, DOC-CREDSRV.
ID = re.compile(r"\b(?:(?:FORUM|DOC)-[A-Z0-9]+|[A-Z]{1,2}[0-9]{1,2}|[A-Z]-[a-z]+)\b")
# Words of that shape that are not sources: the C0 and C1 sets of Unicode control characters, "E-mail", and the MD5 of
# SMTP's CRAM-MD5.
NOT_SOURCES = {"C0", "C1", "E-mail", "MD5"}
ROW = re.compile(r"\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|")


def _listed() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        match = ROW.fullmatch(line)
        if match and match.group(1) != "ID":
            assert match.group(1) not in rows, "%s is listed twice" % match.group(1)
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def _files() -> list[pathlib.Path]:
    found = sorted((ROOT / "plugins").rglob("*.py"))
    found += sorted(path for path in (ROOT / "roles").rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    # The generated docs site repeats the guides; the list itself is not a citation.
    return found + sorted(path for path in (ROOT / "docs").glob("*.md") if path != SOURCES)


def _cited() -> dict[str, str]:
    cited = {}
    for path in _files():
        for source in ID.findall(path.read_text(encoding="utf-8")):
            if source not in NOT_SOURCES:
                cited.setdefault(source, str(path.relative_to(ROOT)))
    return cited


def test_every_cited_source_is_listed():
    listed = _listed()
    missing = {source: where for source, where in _cited().items() if source not in listed}
    assert not missing, "add these source IDs to docs/sources.md (ID, source, public URL): %s" % missing


def test_every_listed_source_is_cited():
    uncited = sorted(set(_listed()) - set(_cited()))
    assert not uncited, "docs/sources.md lists IDs that nothing cites: %s" % ", ".join(uncited)


def test_the_scan_finds_every_id_of_the_platform_table():
    """The sources a platform names by ID (not by page) are what the scan must find, so the scan can fail."""
    named = {source for platform in PLATFORMS.values() for source in platform.sources if ID.fullmatch(source)}
    assert {"E17", "FORUM-1570", "DOC-CREDSRV", "X-gist", "TW7"} <= named
    assert named <= set(_cited())
    pages = [source for platform in PLATFORMS.values() for source in platform.sources if not ID.fullmatch(source)]
    assert pages == ["docs.connect.visma.com: Token revocation"]


def test_every_listed_source_has_a_public_url_or_says_why_not():
    for source, (what, url) in _listed().items():
        assert what.strip(), source
        assert re.match(r"https://\S+\Z", url) or url.startswith("none known ("), source
