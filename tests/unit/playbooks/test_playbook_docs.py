"""The playbook reference (docs/docsite/rst/playbooks.rst) and the checks (playbooks/tasks/check_vars.yml) share one data file.

playbooks/vars/variables.yml says what each playbook accepts; these tests fail when the page is not what it gives, when a
playbook reads a preauth_* variable the data does not have (or the data has one no playbook reads), and when a default in a
playbook is not the documented one.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import typing as t

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS_DIR = os.path.join(ROOT, "playbooks")
GENERATOR = os.path.join(ROOT, "tools", "playbook_docs.py")
pytestmark = pytest.mark.checkout
if not os.path.exists(GENERATOR):  # an installed collection has no tools/ (galaxy.yml build_ignore); the repository's run has
    pytest.skip("tools/playbook_docs.py is not in this tree", allow_module_level=True)
spec = importlib.util.spec_from_file_location("playbook_docs", GENERATOR)
assert spec is not None and spec.loader is not None
playbook_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(playbook_docs)

DATA = playbook_docs.load()
NAMES = sorted(DATA["playbooks"])
VARIABLE = re.compile(r"\bpreauth_[a-z0-9_]*[a-z0-9]\b")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
CONDITIONS = {"when", "that", "failed_when", "changed_when", "until"}


def source(name: str) -> str:
    with open(os.path.join(PLAYBOOKS_DIR, name + ".yml"), encoding="utf-8") as handle:
        return handle.read()


def walk(node: t.Any, key: str | None, read: set[str], defined: set[str]) -> None:
    """The preauth_* names a playbook reads (in templates and conditions) and those it defines (vars, register, set_fact)."""
    if isinstance(node, dict):
        for sub, value in node.items():
            if sub == "vars" and isinstance(value, dict):
                defined.update(value)
            elif sub == "register":
                defined.add(value)
            elif sub == "ansible.builtin.set_fact" and isinstance(value, dict):
                defined.update(value)
            elif sub == "ansible.builtin.import_tasks" and isinstance(value, str):
                # An imported task file is part of the playbook: what it reads and what it defines count.
                with open(os.path.join(PLAYBOOKS_DIR, value), encoding="utf-8") as handle:
                    walk(yaml.safe_load(handle), None, read, defined)
            walk(value, sub, read, defined)
    elif isinstance(node, list):
        for item in node:
            walk(item, key, read, defined)
    elif isinstance(node, str):
        parts = [node] if key in CONDITIONS else JINJA.findall(node)
        for part in parts:
            # Names in the templates' string literals are text of messages (-e preauth_connection=NAME), not reads.
            read.update(VARIABLE.findall(re.sub(r"'[^']*'|\"[^\"]*\"", "", part)))


def inputs(name: str) -> tuple[set[str], set[str]]:
    read: set[str] = set()
    defined: set[str] = set()
    walk(yaml.safe_load(source(name)), None, read, defined)
    return read, defined


def test_the_page_is_what_the_data_gives() -> None:
    assert playbook_docs.main(["playbook_docs.py", "--check"]) == 0, "run tools/playbook_docs.py after editing playbooks/vars/variables.yml"


def test_a_stale_page_is_named(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "playbooks.rst"
    monkeypatch.setattr(playbook_docs, "PAGE", str(page))
    assert playbook_docs.main(["playbook_docs.py"]) == 0
    assert playbook_docs.main(["playbook_docs.py", "--check"]) == 0
    page.write_text(page.read_text(encoding="utf-8").replace("``-e preauth_parallel=4``", "``-e preauth_parallel=5``"), encoding="utf-8")
    assert playbook_docs.main(["playbook_docs.py", "--check"]) == 1
    assert "is not what playbooks/vars/variables.yml gives; run tools/playbook_docs.py" in capsys.readouterr().err


def test_every_playbook_is_on_the_page_and_in_the_data() -> None:
    files = sorted(n[:-4] for n in os.listdir(PLAYBOOKS_DIR) if n.endswith(".yml"))
    assert NAMES == files == sorted(playbook_docs.ORDER)
    page = playbook_docs.page()
    for name in NAMES:
        assert "\npreauth.oauth2.%s\n" % name in page
        for variable in DATA["playbooks"][name]["variables"]:
            assert "``%s``\n" % variable in page
    for code in ("0", "2", "4"):
        assert "  * - %s\n" % code in page


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_a_playbook_reads_is_in_the_data(name: str) -> None:
    read, defined = inputs(name)
    own = set(DATA["playbooks"][name]["variables"])
    everywhere = set(DATA["common"]) | set(DATA["known"])
    assert read - defined <= own | everywhere, "read by %s.yml but not in playbooks/vars/variables.yml" % name
    # And the data documents nothing the playbook does not read.
    assert own <= read, "in playbooks/vars/variables.yml but not read by %s.yml" % name


def test_the_reader_finds_inputs_and_definitions() -> None:
    read, defined = inputs("refresh")
    assert {"preauth_only", "preauth_parallel", "preauth_connections", "preauth_refresh"} <= read
    assert {"preauth_selected", "preauth_refresh", "preauth_refreshed_here"} <= defined
    assert "preauth_only" not in defined


@pytest.mark.parametrize("name", NAMES)
def test_the_playbooks_defaults_are_the_documented_ones(name: str) -> None:
    own = DATA["playbooks"][name]["variables"]
    text = source(name)
    found = 0
    for variable, literal in re.findall(r"\b(preauth_[a-z_]+[a-z]) \| default\(([^()]*)\)", text):
        if variable not in own or literal == "omit":
            continue
        found += 1
        assert "default" in own[variable], "%s.yml defaults %s to %s; document it" % (name, variable, literal)
        assert yaml.safe_load(literal) == own[variable]["default"], (name, variable, literal)
    for play in yaml.safe_load(text):
        for variable, value in (play.get("vars") or {}).items():
            if variable in own and "{{" not in str(value):
                found += 1
                assert own[variable].get("default") == value, (name, variable, value)
    documented = [v for v, doc in own.items() if "default" in doc]
    assert found >= len(documented)


def test_the_data_ships_in_the_collection() -> None:
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        ignored = yaml.safe_load(handle).get("build_ignore") or []
    for path in ("playbooks/vars/variables.yml", "playbooks/tasks/check_vars.yml"):
        assert not [p for p in ignored if fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/")], path


def test_every_variable_has_what_the_page_and_the_messages_need() -> None:
    for entry in [DATA["common"]] + [p["variables"] for p in DATA["playbooks"].values()]:
        for variable, doc in entry.items():
            assert doc["type"] in DATA["types"], variable
            assert doc.get("description") and "example" in doc, variable
            assert ("default" in doc) != ("default_text" in doc), variable
            if "choices" in doc:
                assert doc["example"] in doc["choices"], variable
    for name, entry in DATA["playbooks"].items():
        assert entry["summary"] and entry["usage"] and entry["description"] and entry["failures"], name
        assert all("preauth.oauth2.%s" % name in command for command in entry["usage"]), name
