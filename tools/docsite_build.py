"""Build the collection's docs site offline, as antsibull-docs makes it, and check it.

    tools/docsite_build.py DEST     (make test runs it with .venv-lint's Python, ansible-doc of .venv on PATH)

In DEST: the collection as git sees it (tools/collection-tree.sh), `antsibull-docs sphinx-init` for it, the
intersphinx inventories conf.py reads, written from docs/docsite/intersphinx.yml instead of fetched, and the
site's own build.sh (antsibull-docs collection, then `sphinx-build -W`: an undefined label or any other warning
fails). Then every page the site must have is checked: each guide and reference page of
docs/docsite/extra-docs.yml, each module, the lookup and the role, and on the playbooks page every playbook.
The site is in DEST/site/build/html. Exits 1 and names what is wrong.
The theme is Sphinx's own (alabaster): what is checked is the pages and their links, not their look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "preauth.oauth2"


def inventory(project: str, labels: dict[str, list[str]]) -> bytes:
    """An intersphinx inventory (Sphinx's objects.inv, version 2) of labels: name -> [address below base, title]."""
    lines = "".join("%s std:label -1 %s %s\n" % (name, where, title) for name, (where, title) in sorted(labels.items()))
    head = "# Sphinx inventory version 2\n# Project: %s\n# Version: devel\n# The remainder of this file is compressed using zlib.\n" % project
    return head.encode("utf-8") + zlib.compress(lines.encode("utf-8"))


def run(command: list[str], cwd: str, env: dict[str, str], log: str) -> None:
    with open(log, "ab") as out:
        out.write(("$ %s\n" % " ".join(command)).encode("utf-8"))
        out.flush()
        code = subprocess.call(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
    if code != 0:
        with open(log, encoding="utf-8", errors="replace") as handle:
            sys.stdout.write("".join(handle.readlines()[-40:]))
        sys.exit("docsite_build: %s failed (exit %d); the whole log: %s" % (command[0], code, log))


def expected_pages() -> list[str]:
    """The pages below build/html that the site must have."""
    with open(os.path.join(ROOT, "docs", "docsite", "extra-docs.yml"), encoding="utf-8") as handle:
        extra = yaml.safe_load(handle)
    pages = ["docsite/%s.html" % name for section in extra["sections"] for name in section["toctree"]]
    pages += ["%s_module.html" % name[:-3] for name in sorted(os.listdir(os.path.join(ROOT, "plugins", "modules"))) if name.endswith(".py")]
    pages += ["%s_lookup.html" % name[:-3] for name in sorted(os.listdir(os.path.join(ROOT, "plugins", "lookup"))) if name.endswith(".py")]
    pages += ["%s_role.html" % name for name in sorted(os.listdir(os.path.join(ROOT, "roles")))]
    return ["index.html"] + pages


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.exit("usage: tools/docsite_build.py DEST")
    dest = os.path.abspath(argv[1])
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    log = os.path.join(dest, "build.log")
    collections = os.path.join(dest, "collections")
    subprocess.run([os.path.join(ROOT, "tools", "collection-tree.sh"), collections], check=True, stdout=subprocess.DEVNULL)
    site = os.path.join(dest, "site")
    os.mkdir(site, 0o700)  # antsibull-docs wants a directory only its owner can write
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    antsibull = os.path.join(os.path.dirname(sys.executable), "antsibull-docs")
    run(
        [antsibull, "sphinx-init", "--use-current", "--squash-hierarchy", "--sphinx-theme", "alabaster", "--fail-on-error", "--dest-dir", site, COLLECTION],
        cwd=dest,
        env=env,
        log=log,
    )

    with open(os.path.join(ROOT, "docs", "docsite", "intersphinx.yml"), encoding="utf-8") as handle:
        stubs = yaml.safe_load(handle)
    with open(os.path.join(site, "conf.py"), encoding="utf-8") as handle:
        conf = handle.read()
    for name, spec in stubs.items():
        if "'../%s.inv'" % name not in conf:
            sys.exit("docsite_build: conf.py of antsibull-docs no longer reads ../%s.inv: update docs/docsite/intersphinx.yml" % name)
        if "'%s'" % spec["base"] not in conf:
            sys.exit("docsite_build: conf.py maps %s to another address than %s: update docs/docsite/intersphinx.yml" % (name, spec["base"]))
        with open(os.path.join(site, name + ".inv"), "wb") as out:
            out.write(inventory(spec["project"], spec["labels"]))

    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    run(["bash", os.path.join(site, "build.sh")], cwd=site, env=env, log=log)

    html = os.path.join(site, "build", "html")
    problems = ["missing page: %s" % page for page in expected_pages() if not os.path.isfile(os.path.join(html, page))]
    playbooks_page = os.path.join(html, "docsite", "playbooks.html")
    if os.path.isfile(playbooks_page):
        with open(playbooks_page, encoding="utf-8") as handle:
            text = handle.read()
        for name in sorted(os.listdir(os.path.join(ROOT, "playbooks"))):
            if name.endswith(".yml") and "%s.%s" % (COLLECTION, name[:-4]) not in text:
                problems.append("the playbooks page does not describe %s.%s" % (COLLECTION, name[:-4]))
    for problem in problems:
        print("docsite_build: " + problem)
    print("docsite_build: %d pages checked in %s, %d problem(s)" % (len(expected_pages()), html, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
