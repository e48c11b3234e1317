"""The release notes a user of the tarball gets: the release of galaxy.yml's version, what it ships, as antsibull-changelog writes them.

changelogs/changelog.yaml holds every release (antsibull-changelog release); the files of config.yaml's
`output` (CHANGELOG.rst, CHANGELOG.md) are generated from it and must not be edited by hand or left
behind; the built tarball carries them. In an installed collection (no galaxy.yml, no git) the version
comes from MANIFEST.json and the tarball's content from FILES.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHECKOUT = os.path.exists(os.path.join(ROOT, "galaxy.yml"))


def collection_info() -> dict:
    if CHECKOUT:
        with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    with open(os.path.join(ROOT, "MANIFEST.json"), encoding="utf-8") as handle:
        return json.load(handle)["collection_info"]


def load(path: str) -> dict:
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def outputs() -> list[str]:
    return [entry["file"] for entry in load("changelogs/config.yaml")["output"]]


def version_key(version: str) -> tuple:
    core, _dash, pre = version.partition("-")
    return tuple(int(part) for part in core.split(".")) + ((1,) if not pre else (0, pre))


def changelog_cli(*args: str, cwd: str, monkeypatch, capfd) -> tuple[int, str]:
    """antsibull-changelog ARGS in CWD, in this process (a second Python costs seconds): its exit code and output."""
    cli = pytest.importorskip("antsibull_changelog.cli", reason="needs antsibull-changelog (tests/requirements/core-2.21.txt)")
    monkeypatch.chdir(cwd)
    capfd.readouterr()
    code = cli.run(["antsibull-changelog", *args])
    out, err = capfd.readouterr()
    return code, out + err


def test_the_newest_release_is_the_collection_version():
    changelog = load("changelogs/changelog.yaml")
    version = collection_info()["version"]
    releases = changelog.get("releases") or {}
    assert version in releases, "changelogs/changelog.yaml has no release %s: run antsibull-changelog release" % version
    assert max(releases, key=version_key) == version
    release = releases[version]
    assert release.get("release_date")
    assert (release.get("changes") or {}).get("release_summary"), "release %s has no release_summary" % version


def shipped_names(release_data: dict) -> str:
    """Everything a release's notes say: its change entries and the plugins antsibull-changelog listed as new."""
    text = [json.dumps(release_data.get("changes") or {})]
    for kind in ("modules",):
        text += ["preauth.oauth2.%s" % entry["name"] for entry in release_data.get(kind) or []]
    for group in ("plugins", "objects"):
        for entries in (release_data.get(group) or {}).values():
            text += ["preauth.oauth2.%s" % entry["name"] for entry in entries]
    return "\n".join(text)


def test_the_releases_name_everything_the_collection_ships():
    said = "\n".join(shipped_names(data) for data in (load("changelogs/changelog.yaml").get("releases") or {}).values())
    names = {"module %s" % name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules")) if name.endswith(".py") and name[0] != "_"}
    names |= {"lookup %s" % name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "lookup")) if name.endswith(".py") and name[0] != "_"}
    names |= {"role %s" % name for name in os.listdir(os.path.join(ROOT, "roles"))}
    names |= {"playbook %s" % name[:-4] for name in os.listdir(os.path.join(ROOT, "playbooks")) if name.endswith(".yml")}
    assert len(names) > 10
    assert sorted(name for name in names if "preauth.oauth2.%s" % name.split(" ", 1)[1] not in said) == []


@pytest.mark.checkout
def test_the_changelog_files_are_what_antsibull_changelog_generates(tmp_path, monkeypatch, capfd):
    info = collection_info()
    (tmp_path / "changelogs").mkdir()
    for name in ("config.yaml", "changelog.yaml"):
        shutil.copy(os.path.join(ROOT, "changelogs", name), tmp_path / "changelogs" / name)
    (tmp_path / "galaxy.yml").write_text(
        yaml.safe_dump({key: info[key] for key in ("namespace", "name", "version", "readme", "authors")}), encoding="utf-8"
    )
    code, output = changelog_cli("generate", cwd=str(tmp_path), monkeypatch=monkeypatch, capfd=capfd)
    assert code == 0, output
    for name in outputs():
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            ours = handle.read()
        assert ours == (tmp_path / name).read_text(encoding="utf-8"), "%s is not what changelogs/changelog.yaml gives: run antsibull-changelog generate" % name


@pytest.mark.checkout
@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, "changelogs", "fragments")), reason="the fragments stay in the repository")
def test_the_fragments_and_the_changelog_lint_clean(monkeypatch, capfd):
    for args in (("lint",), ("lint-changelog-yaml", "changelogs/changelog.yaml")):
        assert changelog_cli(*args, cwd=ROOT, monkeypatch=monkeypatch, capfd=capfd) == (0, ""), "antsibull-changelog %s" % " ".join(args)


def git_visible() -> set[str]:
    """The files tools/collection-tree.sh copies into the tree that make test builds: tracked, and untracked but not ignored."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], check=True, capture_output=True).stdout
    return {name for name in out.decode("utf-8").split("\0") if name and os.path.isfile(os.path.join(ROOT, name))}


@pytest.mark.checkout
def test_the_tarball_carries_the_release_notes():
    wanted = set(outputs()) | {"changelogs/changelog.yaml"}
    if not CHECKOUT:
        with open(os.path.join(ROOT, "FILES.json"), encoding="utf-8") as handle:
            assert sorted(wanted - {entry["name"] for entry in json.load(handle)["files"]}) == []
        return
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("what the tarball holds is what git sees (tools/collection-tree.sh)")
    # ansible-galaxy's own walk with galaxy.yml's build_ignore: what `ansible-galaxy collection build` packs (building
    # the tarball here takes 5 to 15 s; make test's build stage builds it and unpacks it for the importer)
    from ansible.galaxy.collection import _build_files_manifest_walk  # pylint: disable=import-outside-toplevel

    info = collection_info()
    walked = _build_files_manifest_walk(os.fsencode(ROOT), info["namespace"], info["name"], info.get("build_ignore") or [])
    packed = {entry["name"] for entry in walked["files"] if entry["ftype"] == "file"} & git_visible()
    assert sorted(wanted - packed) == [], "galaxy.yml's build_ignore leaves the release notes out, or git does not see them"
