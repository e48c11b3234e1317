"""What a user of the installed collection reads names what they run, never a path of this repository.

A message or a guide that says "run playbooks/refresh.yml" fails from the user's own directory ("could not
be found"): the installed collection is run as ``ansible-playbook preauth.oauth2.refresh``. Scanned: the
string literals of plugins/ (module and lookup docs included, docstrings of the code not), the playbooks and
the role (minus comments and the file names that tasks import), the playbooks' variables, meta/ and galaxy.yml,
extras/awx/, the guides and the docs site, and the README. Allowed: comments and docstrings (for contributors), docs/architecture.md (for contributors), the
README's "What is where" and "Development" sections (the repository's layout), and, in the AWX guide and
extras/awx/, the bare names of the wrapper playbooks an AWX project holds (``refresh.yml``).
"""

from __future__ import annotations

import ast
import pathlib
import re
import typing as t

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]

# Texts for contributors, not users.
CONTRIBUTOR_FILES = {"docs/architecture.md", "docs/docsite/rst/architecture.rst"}
CONTRIBUTOR_SECTIONS = {"README.md": ("What is where", "Development")}
# The AWX guide and extras/awx/ name the wrapper playbooks an AWX project holds, by their file names.
AWX_FILES = re.compile(r"(?:docs/awx\.md|docs/docsite/rst/awx\.rst|extras/awx/.*)\Z")
# YAML keys whose values are files a task imports, not text for a user (ansible.builtin.import_tasks: tasks/x.yml).
FILE_KEYS = {"import_tasks", "include_tasks", "import_playbook", "include_vars", "src", "template"}


def _playbook_names(root: pathlib.Path) -> list[str]:
    return sorted(path.stem for path in (root / "playbooks").glob("*.yml"))


def _patterns(root: pathlib.Path) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A repository path (playbooks/x.yml, playbooks/tasks/x.yml, tasks/x.yml), and a playbook's bare file name."""
    # Not after a letter, '.', '/' or '-': extras/awx/playbooks/refresh.yml and roles/settings/tasks/main.yml are
    # files of the installed collection, not playbooks to run by a repository path.
    path = re.compile(r"(?<![\w./-])(?:playbooks/(?:tasks/)?|tasks/)[\w-]+\.ya?ml\b")
    bare = re.compile(r"(?<![\w./-])(?:%s)\.ya?ml\b" % "|".join(map(re.escape, _playbook_names(root))))
    return path, bare


class Text(t.NamedTuple):
    """One piece of text a user reads: its file, the lines it spans (1-based) and its value."""

    path: str
    first: int
    last: int
    value: str


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _python(rel: str, source: str, keep_module_docstring: bool) -> t.Iterator[Text]:
    """The string literals of a Python file (comments are not in the tree); docstrings are for contributors."""
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    if keep_module_docstring and isinstance(tree, ast.Module) and tree.body:
        skipped.discard(id(getattr(tree.body[0], "value", None)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield Text(rel, node.lineno, node.end_lineno or node.lineno, node.value)


def _yaml(rel: str, source: str) -> t.Iterator[Text]:
    """Every scalar of a YAML document (comments are not in it), but not the files that tasks import."""

    def walk(node: yaml.Node) -> t.Iterator[Text]:
        if isinstance(node, yaml.ScalarNode):
            yield Text(rel, node.start_mark.line + 1, node.end_mark.line + 1, str(node.value))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and str(key.value).rsplit(".", 1)[-1] in FILE_KEYS:
                    continue
                yield from walk(key)
                yield from walk(value)

    for document in yaml.compose_all(source, Loader=yaml.SafeLoader):
        if document is not None:
            yield from walk(document)


def _lines(rel: str, source: str, comment: str | None = None, skip_sections: t.Sequence[str] = ()) -> t.Iterator[Text]:
    """Plain text line by line, without comment lines and without the named Markdown sections."""
    skipping = False
    for number, line in enumerate(source.splitlines(), 1):
        if line.startswith("## "):
            skipping = line[3:].strip() in skip_sections
        if skipping or (comment and line.lstrip().startswith(comment)):
            continue
        yield Text(rel, number, number, line)


def _is_python(path: pathlib.Path) -> bool:
    with open(path, "rb") as handle:
        first = handle.readline()
    return path.suffix == ".py" or (first.startswith(b"#!") and b"python" in first)


def user_texts(root: pathlib.Path = ROOT) -> t.Iterator[Text]:
    """Every text of the collection that a user of the installed collection reads."""

    def rel(path: pathlib.Path) -> str:
        return path.relative_to(root).as_posix()

    def files(folder: str, pattern: str = "*") -> list[pathlib.Path]:
        return sorted(p for p in (root / folder).rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)

    for path in files("plugins", "*.py"):
        yield from _python(rel(path), path.read_text(encoding="utf-8"), keep_module_docstring=False)
    # The playbooks, their tasks and their variables' descriptions (the docs site's playbook reference), the
    # collection's metadata (Galaxy's page, meta/runtime.yml's messages).
    for path in files("playbooks", "*.yml") + files("meta", "*.yml") + [p for p in [root / "galaxy.yml"] if p.is_file()]:
        yield from _yaml(rel(path), path.read_text(encoding="utf-8"))
    for path in files("roles") + files("extras"):
        source = path.read_text(encoding="utf-8")
        if path.suffix in (".yml", ".yaml"):
            yield from _yaml(rel(path), source)
        elif path.suffix == ".md":
            yield from _lines(rel(path), source)
        elif _is_python(path):
            # The runner's docstring is its manual, installed on the host.
            yield from _python(rel(path), source, keep_module_docstring=True)
        else:
            yield from _lines(rel(path), source, comment="#")
    guides = sorted((root / "docs").glob("*.md")) + sorted((root / "docs" / "docsite" / "rst").glob("*.rst"))
    for path in guides:
        if rel(path) not in CONTRIBUTOR_FILES:
            yield from _lines(rel(path), path.read_text(encoding="utf-8"))
    readme = root / "README.md"
    yield from _lines("README.md", readme.read_text(encoding="utf-8"), skip_sections=CONTRIBUTOR_SECTIONS["README.md"])


def repository_paths(root: pathlib.Path = ROOT) -> list[str]:
    """'file:line: what it says' for every repository path (or bare playbook file name) users are told about."""
    path_pattern, bare_pattern = _patterns(root)
    found = []
    sources: dict[str, list[str]] = {}
    for text in user_texts(root):
        patterns = [path_pattern] if AWX_FILES.match(text.path) else [path_pattern, bare_pattern]
        for pattern in patterns:
            for match in pattern.finditer(text.value):
                if text.path not in sources:
                    sources[text.path] = (root / text.path).read_text(encoding="utf-8").splitlines()
                # The line of the match inside the text (a folded YAML scalar or a joined string has lost its line breaks).
                span = sources[text.path][text.first - 1 : text.last]
                line = next((text.first + n for n, source in enumerate(span) if match.group(0) in source), text.first)
                found.append("%s:%d: %s" % (text.path, line, match.group(0)))
    return sorted(set(found))


def test_users_are_told_what_to_run_not_repository_paths():
    found = repository_paths()
    assert not found, (
        "what users read names repository paths; say what a user of the installed collection runs, e.g. "
        "'ansible-playbook preauth.oauth2.refresh -e preauth_only=NAME':\n  " + "\n  ".join(found)
    )


def test_the_scan_reads_every_kind_of_text():
    scanned = {text.path for text in user_texts()}
    for wanted in (
        "plugins/plugin_utils/_errors.py",
        "plugins/modules/token_refresh.py",
        "plugins/lookup/access_token.py",
        "playbooks/status.yml",
        "playbooks/tasks/check_vars.yml",
        "meta/runtime.yml",
        *(["galaxy.yml"] if (ROOT / "galaxy.yml").is_file() else []),  # an installed collection has MANIFEST.json instead
        "roles/settings/tasks/main.yml",
        "roles/settings/files/preauth-run",
        "roles/settings/meta/argument_specs.yml",
        "extras/awx/credential-type.yml",
        "docs/monitoring.md",
        "docs/docsite/rst/monitoring.rst",
        "README.md",
    ):
        assert wanted in scanned, wanted
    assert not scanned & CONTRIBUTOR_FILES


def _plant(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def test_planted_repository_paths_are_found_and_contributor_texts_are_not(tmp_path):
    _plant(
        tmp_path,
        {
            "plugins/plugin_utils/_x.py": (
                '"""Header: playbooks/status.yml reads this (a docstring, for contributors)."""\n'
                "# playbooks/deploy.yml calls this (a comment)\n"
                "def hint(name):\n"
                '    """playbooks/deploy.yml again (a docstring)."""\n'
                '    return ("connection %s is gone; run "\n'
                '            "playbooks/preauthenticate.yml with -e preauth_connection=%s" % (name, name))\n'
                'SETTLE = "then run refresh.yml for it"\n'
                'FINE = "run ansible-playbook preauth.oauth2.refresh -e preauth_only=acme-nl"\n'
            ),
            "plugins/modules/m.py": 'EXAMPLES = r"""\n- name: Refresh\n  # as playbooks/refresh.yml does\n  x: 1\n"""\n',
            "playbooks/refresh.yml": "",
            "playbooks/deploy.yml": "",
            "playbooks/preauthenticate.yml": "",
            "playbooks/status.yml": (
                "# Tags: see playbooks/tasks/check_vars.yml (a comment)\n"
                "- hosts: localhost\n"
                "  pre_tasks:\n"
                "    - ansible.builtin.import_tasks: tasks/check_vars.yml\n"
                "  tasks:\n"
                "    - ansible.builtin.fail:\n"
                "        msg: >-\n"
                "          no chain for {{ name }}; run\n"
                "          playbooks/preauthenticate.yml -e preauth_connection={{ name }}\n"
                "    - ansible.builtin.debug:\n"
                "        msg: \"{{ 'checked by tasks/check_vars.yml' }}\"\n"
            ),
            "roles/settings/files/preauth-run": (
                '#!/usr/bin/python3\n"""Usage: playbooks/status.yml -e preauth_status_hosts=... gathers the records."""\n'
                "# for playbooks/status.yml (a comment)\n"
            ),
            "roles/settings/templates/unit.j2": "# for playbooks/status.yml (a comment)\nDescription=see status.yml\n",
            "extras/awx/playbooks/refresh.yml": "# refresh.yml, copy it\n- ansible.builtin.import_playbook: preauth.oauth2.refresh\n",
            "extras/awx/credential-type.yml": "description: copy extras/awx/playbooks/refresh.yml into the project\n",
            "docs/awx.md": "The job template runs `refresh.yml`, a copy of `extras/awx/playbooks/refresh.yml`.\n",
            "docs/architecture.md": "`playbooks/refresh.yml` asks for it.\n",
            "docs/store.md": "After a restore run `playbooks/status.yml`.\n",
            "docs/docsite/rst/store.rst": "After a restore run ``playbooks/status.yml``.\n",
            "README.md": (
                "# x\n\n## Quick start\n\nansible-playbook -i inventory.yml playbooks/deploy.yml\n\n"
                "## What is where\n\n| `playbooks/` | `playbooks/deploy.yml` |\n\n## Development\n\n`tasks/check_vars.yml`\n"
            ),
        },
    )
    assert repository_paths(tmp_path) == [
        "README.md:5: playbooks/deploy.yml",
        "docs/docsite/rst/store.rst:1: playbooks/status.yml",
        "docs/store.md:1: playbooks/status.yml",
        "playbooks/status.yml:11: tasks/check_vars.yml",
        "playbooks/status.yml:9: playbooks/preauthenticate.yml",
        "plugins/modules/m.py:3: playbooks/refresh.yml",
        "plugins/plugin_utils/_x.py:6: playbooks/preauthenticate.yml",
        "plugins/plugin_utils/_x.py:7: refresh.yml",
        "roles/settings/files/preauth-run:2: playbooks/status.yml",
        "roles/settings/templates/unit.j2:2: status.yml",
    ]
