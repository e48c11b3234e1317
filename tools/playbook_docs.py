"""Make the docs site's playbook reference (docs/docsite/rst/playbooks.rst) from playbooks/vars/variables.yml, or check it.

playbooks/vars/variables.yml is what playbooks/tasks/check_vars.yml validates every run with: each playbook's
variables (type, choices, default, example), tags and failures. This page is made from the same data, so the
reference and the checks cannot drift; tests/unit/playbooks/test_playbook_docs.py fails when the page is stale.

Usage: python3 tools/playbook_docs.py           write the page
       python3 tools/playbook_docs.py --check   exit 1 when the page is not what the data gives
"""

from __future__ import annotations

import json
import os
import re
import sys
import typing as t

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "playbooks", "vars", "variables.yml")
PAGE = os.path.join(ROOT, "docs", "docsite", "rst", "playbooks.rst")
LABEL = "ansible_collections.preauth.oauth2.docsite.playbooks"
# The order of the page: the order a person meets them in.
ORDER = ("preauthenticate", "invite", "deploy", "refresh", "status", "store_migrate")

# What ansible-playbook returns (ansible.errors.ExitCode, the same in ansible-core 2.19 to 2.21).
EXIT_CODES = (
    ("0", "The run succeeded: every play ran and nothing failed (a task's ``ignore_errors`` does not count)."),
    ("1", "An error outside the hosts' tasks: Ansible stopped before or between them (its message says why)."),
    ("2", "A host failed: the playbook's checks or one of its failures below (the ``[ERROR]`` lines say which, one line per problem)."),
    ("4", "A host could not be reached (deploy, and status with ``preauth_status_hosts``), or a playbook, inventory or variables file does not parse."),
    ("5", "An invalid command-line option."),
    ("99", "Interrupted (Ctrl-C)."),
    ("250", "An unexpected error in Ansible itself."),
)


def load() -> dict[str, t.Any]:
    with open(DATA, encoding="utf-8") as handle:
        data: dict[str, t.Any] = yaml.safe_load(handle)
    return data


def text(value: str) -> str:
    """Prose with `code` to reStructuredText: code becomes a literal, the rest is escaped."""
    parts = value.split("`")
    out = []
    for number, part in enumerate(parts):
        if number % 2:
            out.append("``%s``" % part)
        else:
            # Only a trailing underscore makes a reference (name_): one inside a word stays as it is.
            out.append(re.sub(r"_(?=\W|$)", r"\\_", re.sub(r"([\\*|])", r"\\\1", part)))
    return "".join(out)


def plain(value: t.Any) -> str:
    """A value as the user writes it after NAME= (a list as names separated by commas)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def literal(value: t.Any) -> str:
    return "``%s``" % plain(value) if plain(value) else "(empty)"


def option(name: str, value: t.Any) -> str:
    """What follows -e on a shell command line, as the checks' messages say it too (tasks/check_vars.yml)."""
    if isinstance(value, dict):
        return "'%s'" % json.dumps({name: value})
    shown = "%s=%s" % (name, plain(value))
    return "'%s'" % shown if re.search(r"[&?;<>$ ]", shown) else shown


def type_of(doc: dict[str, t.Any]) -> str:
    shown = doc["type"]
    if doc["type"] == "list":
        shown = "list of %s, or one string separated by commas" % doc.get("elements", "str")
    if "choices" in doc:
        shown += "; one of " + ", ".join("``%s``" % c for c in doc["choices"])
    if "options" in doc:
        shown += " with keys " + ", ".join("``%s``" % o for o in doc["options"])
    return shown


def default_of(doc: dict[str, t.Any]) -> str:
    if "default" in doc:
        return literal(doc["default"]) if doc["default"] not in ([], {}) else "none"
    return text(doc.get("default_text", "none"))


def heading(title: str, mark: str) -> list[str]:
    return [title, mark * len(title), ""]


def variable(name: str, doc: dict[str, t.Any]) -> list[str]:
    lines = ["``%s``" % name, "  " + text(doc["description"]), ""]
    facts = [("Type", type_of(doc)), ("Default", default_of(doc)), ("Example", "``-e %s``" % option(name, doc["example"]))]
    if doc.get("checked_against"):
        facts.append(("Checked", "each name must be a connection of ``%s``; the run fails naming the others and the close ones" % doc["checked_against"]))
    if doc.get("refuse_empty"):
        facts.append(("Empty", "a value that names nothing (blank, only commas, ``[]``) is refused, never read as *every connection*"))
    if doc.get("no_log"):
        facts.append(("Secret", "never shown in the run's output"))
    for label, value in facts:
        lines.append("  * %s: %s" % (label, value))
    lines.append("")
    return lines


def playbook(name: str, entry: dict[str, t.Any], common: dict[str, t.Any]) -> list[str]:
    lines = [".. _%s.%s:" % (LABEL, name), ""] + heading("preauth.oauth2.%s" % name, "-")
    lines += [text(entry["summary"]), "", ".. code-block:: shell", ""]
    lines += ["  " + command for command in entry["usage"]] + [""]
    for paragraph in entry["description"]:
        lines += [text(paragraph), ""]
    lines += heading("Variables", "^")
    own = entry["variables"]
    for var, doc in own.items():
        lines += variable(var, doc)
    shared = [var for var in common if var not in own]
    lines += ["Also: %s (every playbook, below)." % ", ".join("``%s``" % v for v in shared), ""]
    lines += heading("Tags", "^")
    if entry["tags"]:
        lines += ["* ``%s``: %s" % (tag, text(what)) for tag, what in entry["tags"].items()]
        lines += ["", "The variable checks are tagged ``always``: ``--skip-tags always`` and ``--start-at-task`` skip them.", ""]
    else:
        lines += ["None of its own; the variable checks are tagged ``always``.", ""]
    lines += heading("When it fails", "^")
    lines += ["The run exits with 2 when:", ""] + ["* " + text(why) for why in entry["failures"]] + [""]
    return lines


def page() -> str:
    data = load()
    lines = [
        ".. Generated from playbooks/vars/variables.yml by tools/playbook_docs.py: edit the data, then run tools/playbook_docs.py.",
        "",
        ".. _%s:" % LABEL,
        "",
    ]
    lines += heading("The playbooks", "=")
    lines += [
        "The playbooks are the collection's main interface. Run them by name from the installed collection,"
        " with your inventory and its vault password, for example "
        "``ansible-playbook preauth.oauth2.refresh -i inventory.yml --vault-password-file ~/.vault-pass``."
        " Give variables with ``-e NAME=VALUE`` or, for lists and mappings, ``-e '{\"NAME\": VALUE}'`` (JSON).",
        "",
        "Every run first checks its variables: an unknown ``preauth_*`` variable (a typo), a value of the wrong type and a"
        " name that is not a connection of the inventory fail the run before it does anything, one line per problem, with"
        " the valid names and a *did you mean* where one is close. The ``preauth_`` prefix belongs to the collection: name"
        " your own variables otherwise.",
        "",
        "A variable that names several things (connections, hosts) takes a list or one string of names separated by commas:"
        " ``-e preauth_only=acme-nl,crm`` and ``-e '{\"preauth_only\": [\"acme-nl\", \"crm\"]}'`` are the same.",
        "",
    ]
    for name in ORDER:
        lines += playbook(name, data["playbooks"][name], data["common"])
    lines += [".. _%s.common:" % LABEL, ""] + heading("Variables of every playbook", "-")
    lines += ["Accepted by every playbook, so that the inventory sets them once.", ""]
    for var, doc in data["common"].items():
        lines += variable(var, doc)
    lines += [
        "Also valid everywhere, and checked where they are used:",
        "",
    ]
    role = [name for name, what in data["known"].items() if what.startswith("A variable of the preauth.oauth2.settings role")]
    for var, what in data["known"].items():
        if var not in role:
            lines.append("* ``%s``: %s" % (var, text(what)))
    names = ", ".join("``%s``" % v for v in role)
    lines += ["* the variables of the preauth.oauth2.settings role (``ansible-doc -t role preauth.oauth2.settings``): %s." % names, ""]
    lines += [".. _%s.exit_codes:" % LABEL, ""] + heading("Exit codes", "-")
    lines += ["What ``ansible-playbook`` returns, for every playbook:", "", ".. list-table::", "  :header-rows: 1", "", "  * - code", "    - meaning"]
    for code, meaning in EXIT_CODES:
        lines += ["  * - %s" % code, "    - %s" % meaning]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    wanted = page()
    if argv[1:] == ["--check"]:
        try:
            with open(PAGE, encoding="utf-8") as handle:
                same = handle.read() == wanted
        except FileNotFoundError:
            same = False
        if not same:
            print("%s is not what %s gives; run tools/playbook_docs.py" % (os.path.relpath(PAGE, ROOT), os.path.relpath(DATA, ROOT)), file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 64
    with open(PAGE, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
