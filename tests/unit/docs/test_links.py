"""Every link a reader of the built collection can follow leads somewhere.

README.md (Galaxy shows it from the tarball), the guides (docs/*.md) and the docs site's pages
(docs/docsite/rst/*.rst) may link only to a file the tarball holds, to another page of the site, or
to an https address of a real host: not to a file `ansible-galaxy collection build` leaves out
(galaxy.yml's build_ignore), not to a placeholder host (example.invalid, example.com, localhost),
which belong in code examples only. galaxy.yml's documentation, issues and homepage, which become
buttons on Galaxy and on every docs site page, follow the same rule.

What the tarball holds is what ansible-galaxy's own file walk gives for galaxy.yml's build_ignore,
over the files git sees (tools/collection-tree.sh copies those into the tree that is built); in an
installed collection, where galaxy.yml is gone, it is the collection's FILES.json.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import urllib.parse

import pytest
import yaml

markdown_it = pytest.importorskip("markdown_it", reason="reading the Markdown links needs markdown-it-py")
docutils_core = pytest.importorskip("docutils.core", reason="reading the docs site's links needs docutils")
from docutils import nodes  # noqa: E402  (after the importorskip that guards it)
from docutils.parsers.rst import directives, roles  # noqa: E402
from docutils.parsers.rst.directives.body import CodeBlock  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SITE = os.path.join("docs", "docsite", "rst")
SITE_LABEL = re.compile(r"\.\. _(ansible_collections\.[\w.]+):\s*$", re.MULTILINE)
# antsibull-docs' label of a plugin or role page: ansible_collections.<ns>.<name>.<plugin>_<type>
PLUGIN_LABEL = re.compile(r"ansible_collections\.preauth\.oauth2\.(\w+)_(module|lookup|role)\Z")
# Reserved names (RFC 2606, RFC 6761) and the ones people use as placeholders.
PLACEHOLDER_HOST = re.compile(r"(?:\A|.*\.)(?:example\.(?:com|net|org)|example|invalid|test|localhost|local)\Z")
BARE_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>()|`\"']+")


# -- what the tarball holds -------------------------------------------------------------------------


def git_visible(root: str) -> set[str] | None:
    """The files tools/collection-tree.sh copies (tracked, and untracked but not ignored), or None outside git."""
    if not os.path.isdir(os.path.join(root, ".git")) or shutil.which("git") is None:
        return None
    out = subprocess.run(
        ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return {name for name in out.split("\0") if name and os.path.isfile(os.path.join(root, name))}


def tarball_files(root: str) -> set[str]:
    galaxy = os.path.join(root, "galaxy.yml")
    if not os.path.exists(galaxy):
        with open(os.path.join(root, "FILES.json"), encoding="utf-8") as handle:
            return {entry["name"] for entry in json.load(handle)["files"] if entry["ftype"] == "file"} | {"MANIFEST.json", "FILES.json"}
    # ansible-galaxy's own walk, so the patterns mean what they mean to `ansible-galaxy collection build`
    from ansible.galaxy.collection import _build_files_manifest_walk  # pylint: disable=import-outside-toplevel

    with open(galaxy, encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    walked = _build_files_manifest_walk(os.fsencode(root), meta["namespace"], meta["name"], meta.get("build_ignore") or [])
    files = {entry["name"] for entry in walked["files"] if entry["ftype"] == "file"}
    visible = git_visible(root)
    return files if visible is None else files & visible


@pytest.fixture(scope="module")
def shipped() -> set[str]:
    return tarball_files(ROOT)


# -- the links of a page ----------------------------------------------------------------------------


def slug(text: str) -> str:
    """The anchor GitHub and most Markdown viewers give a heading."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def markdown_links(source: str) -> list[str]:
    """Links, images and bare addresses (which GitHub and Galaxy turn into links) outside code."""
    found: list[str] = []
    for token in markdown_it.MarkdownIt("commonmark").enable("table").parse(source):
        if token.type == "html_block":
            found += re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)""", token.content)
        for child in token.children or []:
            if child.type in ("link_open", "image"):
                found.append(str(child.attrs.get("href") or child.attrs.get("src") or ""))
            elif child.type == "html_inline":
                found += re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)""", child.content)
            elif child.type == "text":
                found += [url.rstrip(".,;:") for url in BARE_URL.findall(child.content)]
    return found


def markdown_anchors(source: str) -> set[str]:
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(source)
    anchors: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = "".join(child.content for child in tokens[index + 1].children or [])
            base = anchor = slug(text)
            number = 0
            while anchor in anchors:
                number += 1
                anchor = "%s-%d" % (base, number)
            anchors.add(anchor)
    return anchors


def _ref_role(name, rawtext, text, lineno, inliner, options=None, content=None):  # pylint: disable=unused-argument,too-many-arguments
    """Sphinx's :ref:`text <label>` as a reference to be checked: plain docutils does not know it."""
    match = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", text)
    label = match.group(2) if match else text
    return [nodes.reference(rawtext, match.group(1) if match else text, sphinx_ref=label)], []


def rst_links(source: str) -> list[str]:
    """The page's references and images as docutils reads them (literals and code blocks hold none); :ref: as 'ref:LABEL'."""
    directives.register_directive("code-block", CodeBlock)
    roles.register_local_role("ref", _ref_role)
    tree = docutils_core.publish_doctree(
        source, settings_overrides={"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": True}
    )
    found: list[str] = []
    for node in tree.findall(nodes.reference):
        if node.get("sphinx_ref"):
            found.append("ref:" + node["sphinx_ref"])
        elif node.get("refuri"):
            found.append(node["refuri"])
    for node in tree.findall(nodes.image):
        found.append(node["uri"])
    for node in tree.findall(nodes.raw):
        found += re.findall(r"""(?:href|src)\s*=\s*["']([^"']+)""", node.astext())
    return found


# -- the verdict ------------------------------------------------------------------------------------


def web_problem(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        return "not an https address"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "no host"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "an IP address, not a host name"
    if PLACEHOLDER_HOST.match(host):
        return "a placeholder host (%s): fine in a code example, dead as a link" % host
    return None


def file_problem(link: str, page: str, shipped: set[str], root: str) -> str | None:
    path, _hash, anchor = urllib.parse.unquote(link).partition("#")
    target = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
    if target.startswith(".."):
        return "outside the collection"
    if target not in shipped:
        return "%s is not in the built collection (galaxy.yml's build_ignore leaves it out, or it does not exist)" % target
    if anchor and target.endswith(".md"):
        with open(os.path.join(root, target), encoding="utf-8") as handle:
            if anchor not in markdown_anchors(handle.read()):
                return "%s has no heading with the anchor #%s" % (target, anchor)
    return None


def site_labels(root: str) -> set[str]:
    labels: set[str] = set()
    site = os.path.join(root, SITE)
    for name in sorted(os.listdir(site)):
        with open(os.path.join(site, name), encoding="utf-8") as handle:
            labels.update(SITE_LABEL.findall(handle.read()))
    return labels


def ref_problem(label: str, root: str) -> str | None:
    if label in site_labels(root):
        return None
    plugin = PLUGIN_LABEL.match(label)
    if plugin:
        name, kind = plugin.groups()
        path = {"module": "plugins/modules/%s.py", "lookup": "plugins/lookup/%s.py", "role": "roles/%s/meta/argument_specs.yml"}[kind] % name
        if os.path.isfile(os.path.join(root, path)):
            return None
    return "no page of the site has the label %s" % label


def problems_of(page: str, source: str, shipped: set[str], root: str = ROOT) -> list[str]:
    """'page: link: why' for each link of the page that leads nowhere."""
    found = []
    rst = page.endswith(".rst")
    for link in rst_links(source) if rst else markdown_links(source):
        if link.startswith("ref:"):
            why = ref_problem(link[4:], root)
        elif rst and link.startswith("data:image/"):
            why = None  # a picture inside the page (tools/docsite.py puts the guides' images there)
        elif re.match(r"[a-z][a-z0-9+.-]*:", link):
            why = web_problem(link)
        elif rst:
            why = "a relative address: the site holds no files of the collection; link a page with :ref: or name the file"
        else:
            why = file_problem(link, page, shipped, root)
        if why:
            found.append("%s: %s: %s" % (page, link, why))
    return found


def pages(root: str) -> list[str]:
    docs = sorted("docs/" + name for name in os.listdir(os.path.join(root, "docs")) if name.endswith(".md"))
    site = sorted(SITE + "/" + name for name in os.listdir(os.path.join(root, SITE)) if name.endswith(".rst"))
    return ["README.md"] + docs + site


# -- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", pages(ROOT))
def test_every_link_leads_somewhere(page, shipped):
    assert page in shipped, "%s is a page users read, but the built collection leaves it out" % page
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        source = handle.read()
    assert problems_of(page, source, shipped) == []


def test_the_pages_have_links_to_check(shipped):
    # the readers above see links at all (a parser that found none would pass everything)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        assert "docs/store.md" in markdown_links(handle.read())
    with open(os.path.join(ROOT, SITE, "awx.rst"), encoding="utf-8") as handle:
        links = rst_links(handle.read())
    assert "ref:ansible_collections.preauth.oauth2.docsite.store" in links
    assert any(link.startswith("https://docs.ansible.com/") for link in links)
    # and the images: the guide's files, the site's pictures inside its page
    with open(os.path.join(ROOT, "docs", "consent.md"), encoding="utf-8") as handle:
        assert "images/consent-invitation-en.png" in markdown_links(handle.read())
    with open(os.path.join(ROOT, SITE, "consent.rst"), encoding="utf-8") as handle:
        assert any(link.startswith("data:image/png;base64,iVBORw0KGgo") for link in rst_links(handle.read()))


@pytest.mark.checkout
@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "galaxy.yml")), reason="an installed collection has no galaxy.yml")
def test_galaxy_buttons_lead_somewhere():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    # 'repository' is left out here: galaxy-importer requires it and the project has no public host yet
    buttons = {key: meta[key] for key in ("documentation", "issues", "homepage") if meta.get(key)}
    assert {key: why for key, url in buttons.items() if (why := web_problem(str(url)))} == {}


def test_bad_links_are_named(shipped):
    readme = """\
See [the store](docs/store.md), [its locking](docs/store.md#locking), [the licence](LICENSE),
[the test driver](tools/test.sh), [a guide that is gone](docs/gone.md),
[a heading that is not there](docs/store.md#no-such-part), [the tracker](https://example.invalid/issues),
[plain web](http://forum.invantive.com/), [an address](https://127.0.0.1:8443/cb) and
https://localhost:8080/callback in the text. Code is an example, not a link: `https://example.com/cb`.

```sh
curl https://example.com/token
```
"""
    assert problems_of("README.md", readme, shipped) == [
        "README.md: tools/test.sh: tools/test.sh is not in the built collection"
        " (galaxy.yml's build_ignore leaves it out, or it does not exist)",
        "README.md: docs/gone.md: docs/gone.md is not in the built collection (galaxy.yml's build_ignore leaves it out, or it does not exist)",
        "README.md: docs/store.md#no-such-part: docs/store.md has no heading with the anchor #no-such-part",
        "README.md: https://example.invalid/issues: a placeholder host (example.invalid): fine in a code example, dead as a link",
        "README.md: http://forum.invantive.com/: not an https address",
        "README.md: https://127.0.0.1:8443/cb: an IP address, not a host name",
        "README.md: https://localhost:8080/callback: a placeholder host (localhost): fine in a code example, dead as a link",
    ]
    guide = "The [relay page](redirect-relay.html), [the licence](../LICENSE) and [the demo](../tools/demo.py).\n"
    assert problems_of("docs/awx.md", guide, shipped) == ["docs/awx.md: ../tools/demo.py: tools/demo.py is not in the built collection"
                                                          " (galaxy.yml's build_ignore leaves it out, or it does not exist)"]
    # images are links too: one the collection ships, one it does not have
    guide = "![The invitation](images/consent-invitation-en.png)\n\n![A page that was never taken](images/consent-gone.png)\n"
    assert problems_of("docs/consent.md", guide, shipped) == [
        "docs/consent.md: images/consent-gone.png: docs/images/consent-gone.png is not in the built collection"
        " (galaxy.yml's build_ignore leaves it out, or it does not exist)"
    ]


def test_bad_links_of_a_site_page_are_named(shipped):
    page = """\
.. _ansible_collections.preauth.oauth2.docsite.example:

Read :ref:`the store <ansible_collections.preauth.oauth2.docsite.store>`,
:ref:`the refresh module <ansible_collections.preauth.oauth2.token_refresh_module>`,
:ref:`a page that is gone <ansible_collections.preauth.oauth2.docsite.gone>`,
`the tracker <https://example.invalid/issues>`__, `a file <store.md>`__ and https://www.example.org/x.
Code is not a link: ``https://example.com/cb``.

.. image:: data:image/png;base64,iVBORw0KGgo=
  :alt: a picture inside the page

.. image:: ../../images/consent-invitation-en.png
  :alt: a picture of a file that the site does not hold

.. code-block:: yaml

  url: https://example.com/token
"""
    assert problems_of(SITE + "/example.rst", page, shipped) == [
        SITE + "/example.rst: ref:ansible_collections.preauth.oauth2.docsite.gone: no page of the site has the label"
        " ansible_collections.preauth.oauth2.docsite.gone",
        SITE + "/example.rst: https://example.invalid/issues: a placeholder host (example.invalid): fine in a code example, dead as a link",
        SITE + "/example.rst: store.md: a relative address: the site holds no files of the collection; link a page with :ref: or name the file",
        SITE + "/example.rst: https://www.example.org/x: a placeholder host (www.example.org): fine in a code example, dead as a link",
        SITE + "/example.rst: ../../images/consent-invitation-en.png: a relative address: the site holds no files of the collection;"
        " link a page with :ref: or name the file",
    ]


def test_what_the_tarball_holds_follows_build_ignore(shipped):
    assert {"README.md", "LICENSE", "docs/store.md", "docs/images/consent-invitation-en.png", "galaxy.yml"} - shipped == {"galaxy.yml"}
    assert not {name for name in shipped if name.startswith(("tests/output/", "tools/", "changelogs/fragments/"))}


def plugin_doc_links(root: str) -> list[tuple[str, str]]:
    """(file, link) for the R(), L() and U() of the module, plugin and role docs, which become the site's plugin pages."""
    found = []
    sources = [os.path.join(folder, name) for folder, _dirs, names in os.walk(os.path.join(root, "plugins")) for name in names if name.endswith(".py")]
    roles_dir = os.path.join(root, "roles")
    sources += [os.path.join(roles_dir, role, "meta", "argument_specs.yml") for role in os.listdir(roles_dir)]
    for path in sorted(sources):
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        name = os.path.relpath(path, root)
        found += [(name, "ref:" + label) for label in re.findall(r"\bR\([^,()]*,\s*([\w.]+)\)", text)]
        found += [(name, url) for url in re.findall(r"\bL\([^,()]*,\s*([^()\s]+)\)", text)]
        found += [(name, url) for url in re.findall(r"\bU\(([^()\s]+)\)", text)]
    return found


def test_the_plugin_pages_link_the_site_or_real_hosts():
    links = plugin_doc_links(ROOT)
    assert links, "no R(), L() or U() found in the plugin docs: the reader above is broken"
    problems = []
    for name, link in links:
        why = ref_problem(link[4:], ROOT) if link.startswith("ref:") else web_problem(link)
        if why:
            problems.append("%s: %s: %s" % (name, link, why))
    assert problems == []


def test_the_site_says_to_install_the_tarball():
    with open(os.path.join(ROOT, "docs", "docsite", "antsibull-docs.cfg"), encoding="utf-8") as handle:
        config = handle.read()
    tables = re.findall(r"^(\w+) = \{(.*?)^\}", config, re.MULTILINE | re.DOTALL)
    settings = {key: dict(re.findall(r'^\s*"([^"]+)" = "([^"]*)"', body, re.MULTILINE)) for key, body in tables}
    # the collection is not on Galaxy: each plugin page links the site's own index and says what the Quick start says
    assert settings["collection_url"]["preauth.oauth2"] == "index.html"
    install = settings["collection_install"]["preauth.oauth2"]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        quick_start = [line.split("#", 1)[0].strip() for line in handle if line.startswith("ansible-galaxy collection install")]
    assert quick_start == [install]
