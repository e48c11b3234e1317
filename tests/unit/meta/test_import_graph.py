"""The collection's Python imports form no cycle, not even through an import inside a function, no plugin
imports another plugin (what two plugins share lives in plugin_utils or module_utils, below both), and no
module of plugin_utils imports from a layer below its own. The layers are the table of docs/architecture.md:
the folder list a newcomer reads is the one this test checks."""

from __future__ import annotations

import ast
import os
import re
import typing as t

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PACKAGE = "ansible_collections.preauth.oauth2"
# The kinds of plugin a module of another kind may import from: the shared code.
SHARED = ("plugin_utils", "module_utils", "doc_fragments")
UTILS = PACKAGE + ".plugins.plugin_utils."


def modules() -> dict[str, str]:
    """Module name -> path, for every Python file below plugins/."""
    found = {}
    for directory, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
                found[PACKAGE + "." + dotted.removesuffix(".__init__")] = path
    return found


def imports(path: str, known: t.Collection[str]) -> set[str]:
    """The collection's modules that a file imports, at the top or inside a function."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [node.module + "." + alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name for name in names if name in known)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, found) for name, path in found.items()}


def cycle_through(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path start -> ... -> start, or None (depth-first, iterative: the graph is small but the rule is general)."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def short(name: str) -> str:
    return name[len(PACKAGE) + 1 :]


def test_no_module_imports_itself_through_others():
    edges = graph()
    cycles = []
    for name in sorted(edges):
        found = cycle_through(name, edges)
        if found:
            cycles.append(" -> ".join(short(n) for n in found))
    assert cycles == []


@pytest.mark.parametrize("kind", ["action", "lookup", "modules"])
def test_a_plugin_imports_only_shared_code(kind):
    edges = graph()
    wrong = sorted(
        "%s imports %s" % (short(name), short(dep))
        for name, deps in edges.items()
        if short(name).startswith("plugins.%s." % kind)
        for dep in deps
        if short(dep).split(".")[1] not in SHARED
    )
    assert wrong == []


def test_the_checks_see_a_cycle_and_a_plugin_that_imports_a_plugin():
    """The two rules above, on a graph that breaks them: they would fail."""
    a, b, c = (PACKAGE + ".plugins.plugin_utils." + n for n in ("_a", "_b", "_c"))
    assert cycle_through(a, {a: {b}, b: {c}, c: {a}}) == [a, b, c, a]
    assert cycle_through(a, {a: {b}, b: {c}, c: set()}) is None
    assert short(PACKAGE + ".plugins.action.token_refresh").split(".")[1] not in SHARED


def layers(text: str) -> dict[str, int]:
    """Module of plugin_utils (``_store.vault``, ``_times``) -> its layer's rank, from the layer table of the
    architecture page: a row names plain files (``_times.py``) or a folder and its files (``_store/``: ``vault.py``)."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Layer")]
    ranks = {}
    for rank, row in enumerate(rows):
        cell = row.split("|")[2]
        folder = ""
        for name in re.findall(r"`([^`]+)`", cell):
            if name.endswith("/"):
                folder = name[:-1] + "."
            else:
                ranks[folder + name.removesuffix(".py")] = rank
    return ranks


def architecture() -> dict[str, int]:
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as handle:
        return layers(handle.read())


def upward(edges: dict[str, set[str]], ranks: dict[str, int]) -> list[str]:
    """Every import of a plugin_utils module from a module of a lower layer (a higher rank)."""
    return sorted(
        "%s (%d) imports %s (%d)" % (name[len(UTILS) :], ranks[name[len(UTILS) :]], dep[len(UTILS) :], ranks[dep[len(UTILS) :]])
        for name, deps in edges.items()
        if name.startswith(UTILS) and name[len(UTILS) :] in ranks
        for dep in deps
        if dep.startswith(UTILS) and dep[len(UTILS) :] in ranks and ranks[dep[len(UTILS) :]] > ranks[name[len(UTILS) :]]
    )


def test_the_architecture_page_names_every_file_of_plugin_utils():
    ranks = architecture()
    found = {name[len(UTILS) :] for name in modules() if name.startswith(UTILS) and not name.endswith("_utils")}
    packages = {name.split(".")[0] for name in found if "." in name}
    assert sorted(found - set(ranks) - packages) == []
    assert sorted(set(ranks) - found) == []


def test_no_module_imports_from_a_layer_below_its_own():
    assert upward(graph(), architecture()) == []


def test_the_layer_check_reads_the_table_and_sees_an_import_that_goes_up():
    """The table's two kinds of cell, and an edge from the store up to a flow, which the check above would report."""
    table = (
        "## Layers\n\n| Layer | In x | What |\n|---|---|---|\n| basics | `_times.py`, `_errors.py` | b |\n"
        "| the store | `_store/`: `vault.py`, `file.py` | s |\n| the flows | `_flows/`: `refresh.py` | f |\n\n## Next\n| x | `_no.py` | y |\n"
    )
    ranks = layers(table)
    assert ranks == {"_times": 0, "_errors": 0, "_store.vault": 1, "_store.file": 1, "_flows.refresh": 2}
    vault, refresh, times = UTILS + "_store.vault", UTILS + "_flows.refresh", UTILS + "_times"
    assert upward({refresh: {vault, times}, vault: {times}}, ranks) == []
    assert upward({vault: {refresh}}, ranks) == ["_store.vault (1) imports _flows.refresh (2)"]
