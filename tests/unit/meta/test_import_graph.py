"""The collection's Python imports form no cycle, not even through an import inside a function, and no plugin
imports another plugin: what two plugins share lives in plugin_utils or module_utils, below both."""

from __future__ import annotations

import ast
import os
import typing as t

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PACKAGE = "ansible_collections.preauth.oauth2"
# The kinds of plugin a module of another kind may import from: the shared code.
SHARED = ("plugin_utils", "module_utils", "doc_fragments")


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
