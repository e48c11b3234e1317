"""Every action's argument spec equals its module documentation as ansible-doc shows it (fragments merged).

Compared per option: type, required, default, choices, elements, aliases and suboptions (recursively), and
the set of options itself. Ansible's docs have no field for the constraints between options, so each one
must be stated in the documentation with a fixed sentence (see ``constraint_sentences``), in the description
of the option it constrains; that sentence is checked here, so the docs cannot drift from the code.
"""

from __future__ import annotations

import importlib
import os
import typing as t

import pytest
import yaml
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

from ansible_collections.preauth.oauth2.plugins.plugin_utils._platforms.model import PLATFORM_NAMES, PLATFORMS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = os.path.join(ROOT, "plugins", "modules")
ACTIONS = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "action")) if name.endswith(".py") and not name.startswith("_"))
MODULE_NAMES = sorted(name[:-3] for name in os.listdir(MODULES) if name.endswith(".py") and not name.startswith("_"))


def documentation(module: str) -> dict[str, t.Any]:
    """The merged DOCUMENTATION, loaded as ansible-doc loads it."""
    data = get_docstring(os.path.join(MODULES, module + ".py"), fragment_loader, collection_name="preauth.oauth2", plugin_type="module")
    return data[0]


def action(module: str) -> t.Any:
    return importlib.import_module("ansible_collections.preauth.oauth2.plugins.action.%s" % module).ActionModule


def _default(value: t.Any, kind: str) -> t.Any:
    # YAML writes 30 for a float default of 30.0; an empty list or dict default documents as no default
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if value in ([], {}):
        return None
    return value


def normalized_spec(spec: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    result = {}
    for name, option in spec.items():
        kind = option.get("type", "str")
        entry = {
            "type": kind,
            "required": bool(option.get("required", False)),
            "default": _default(option.get("default"), kind),
            "choices": list(option["choices"]) if option.get("choices") is not None else None,
            "elements": option.get("elements"),
            "aliases": sorted(option.get("aliases", [])),
        }
        if option.get("options"):
            entry["suboptions"] = normalized_spec(option["options"])
        result[name] = entry
    return result


def normalized_docs(options: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    result = {}
    for name, option in (options or {}).items():
        kind = option.get("type", "str")
        entry = {
            "type": kind,
            "required": bool(option.get("required", False)),
            "default": _default(option.get("default"), kind),
            "choices": list(option["choices"]) if option.get("choices") is not None else None,
            "elements": option.get("elements"),
            "aliases": sorted(option.get("aliases", [])),
        }
        if option.get("suboptions"):
            entry["suboptions"] = normalized_docs(option["suboptions"])
        result[name] = entry
    return result


def _join(names: t.Iterable[str], word: str) -> str:
    marked = ["O(%s)" % name for name in names]
    return marked[0] if len(marked) == 1 else "%s %s %s" % (", ".join(marked[:-1]), word, marked[-1])


def constraint_sentences(cls: t.Any) -> list[tuple[str, str]]:
    """(option, sentence) pairs: the sentence the description of that option must contain."""
    wanted = []
    for group in cls.mutually_exclusive:
        for name in group:
            wanted.append((name, "Mutually exclusive with %s." % _join([n for n in group if n != name], "and")))
    for group in cls.required_one_of:
        for name in group:
            wanted.append((name, "One of %s is required." % _join(group, "or")))
    for group in cls.required_together:
        for name in group:
            wanted.append((name, "Required together with %s." % _join([n for n in group if n != name], "and")))
    for rule in cls.required_if:
        key, value, names = rule[0], rule[1], rule[2]
        for name in names:
            wanted.append((name, "Required if O(%s=%s)." % (key, value)))
    for key, names in cls.required_by.items():
        for name in [names] if isinstance(names, str) else names:
            wanted.append((name, "Required with O(%s)." % key))
    return wanted


def test_every_action_has_a_module_and_back():
    assert ACTIONS == [m for m in MODULE_NAMES if m != "sealed_file"]


@pytest.mark.parametrize("module", ACTIONS)
def test_documented_options_equal_the_argument_spec(module):
    docs = normalized_docs(documentation(module).get("options"))
    spec = normalized_spec(action(module).argument_spec)
    assert sorted(docs) == sorted(spec), "options documented but not accepted, or accepted but not documented"
    for name in spec:
        assert docs[name] == spec[name], "option %s of %s: docs (left) differ from the argument spec (right)" % (name, module)


@pytest.mark.parametrize("module", ACTIONS)
def test_constraints_between_options_are_documented(module):
    options = documentation(module).get("options") or {}
    for name, sentence in constraint_sentences(action(module)):
        description = options[name].get("description", "")
        text = " ".join(description) if isinstance(description, list) else description
        assert sentence in " ".join(text.split()), "%s: the description of %s must say %r" % (module, name, sentence)


# One source for the platform names: the platform table. Every documented list is checked against it.
def test_platform_names_are_the_table():
    assert PLATFORM_NAMES == tuple(sorted(PLATFORMS))


@pytest.mark.parametrize("module", ACTIONS)
def test_documented_platform_choices_are_the_table(module):
    platform = (documentation(module).get("options") or {}).get("platform")
    if platform is not None:
        assert platform["choices"] == list(PLATFORM_NAMES)


# The lookup's options are its documentation (Ansible's config system reads them from it): the options it shares with the
# modules must be documented as the modules take them, and every documented option must be one it reads.
def lookup_documentation(name: str) -> dict[str, t.Any]:
    path = os.path.join(ROOT, "plugins", "lookup", name + ".py")
    return get_docstring(path, fragment_loader, collection_name="preauth.oauth2", plugin_type="lookup")[0]


def test_the_lookup_documents_the_options_it_reads_as_the_modules_take_them():
    from ansible_collections.preauth.oauth2.plugins.lookup import access_token
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import CONNECTION_ARGS, STORE_DIR_ENV

    options = lookup_documentation("access_token")["options"]
    assert sorted(options) == sorted(["_terms", "min_ttl", "max_wait", *access_token.SHARED])
    docs = normalized_docs({k: v for k, v in options.items() if k in access_token.SHARED})
    assert docs == normalized_spec({k: CONNECTION_ARGS[k] for k in access_token.SHARED})
    assert [e["name"] for e in options["store_dir"]["env"]] == [STORE_DIR_ENV]


def test_each_doc_fragment_documents_its_piece_of_the_connection_options():
    from ansible_collections.preauth.oauth2.plugins.doc_fragments.connection import ModuleDocFragment
    from ansible_collections.preauth.oauth2.plugins.plugin_utils import _connection
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._action import IGNORED_HTTP_ARGS

    pieces = {
        "DOCUMENTATION": _connection.PLATFORM_ARGS,
        "IDENTITY": _connection.IDENTITY_ARGS,
        "STORE": _connection.STORE_ARGS,
        "HTTP": _connection.HTTP_ARGS,
        "HTTP_IGNORED": IGNORED_HTTP_ARGS,
    }
    for name, args in pieces.items():
        options = yaml.safe_load(getattr(ModuleDocFragment, name))["options"]
        assert normalized_docs(options) == normalized_spec(args), name
    assert {k for piece in pieces.values() for k in piece} == set(_connection.CONNECTION_ARGS)
