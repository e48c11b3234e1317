"""Make the docs site's pages (docs/docsite/rst/*.rst) from the guides (docs/*.md), or check that they agree.

The Markdown guides are the canonical text: the README links them, GitHub shows them, and tests read
them. antsibull-docs wants reStructuredText under docs/docsite/rst/, listed in docs/docsite/extra-docs.yml,
so this converts the subset of Markdown the guides use (headings, paragraphs, lists, pipe tables, fenced
code, inline code, emphasis, links, images) and writes one page per guide.

An image (`![what it shows](images/consent-invitation-en.png)`, in a paragraph of its own) becomes an
`.. image::` with the alt text as `:alt:` (a `.. figure::` with the title as its caption when it has one).
antsibull-docs copies only the .rst files of docs/docsite/rst into the site, so a picture of docs/ goes into
the page itself, as a data: URI (the site's HTML then holds it; the Markdown guide links the file, which the
collection ships): keep the pictures small. An image inside a line of text, or a file that is not there,
stops the conversion with the guide's name.

Usage: python3 tools/docsite.py           write the pages
       python3 tools/docsite.py --check   exit 1, naming the pages, when a page is not what the guide gives
Needs markdown-it-py: .venv-lint has it (antsibull-docs needs it), .venv through rich.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import urllib.parse

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
RST_DIR = os.path.join(DOCS, "docsite", "rst")
LABEL = "ansible_collections.preauth.oauth2.docsite.%s"
# The guides in the order of the site's section, by file name without .md.
GUIDES = ("exact-online-app", "deploy", "store", "consent", "awx", "monitoring", "security", "architecture", "sources")
UNDERLINE = {1: "=", 2: "-", 3: "^", 4: '"'}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}
DATA_URI_LINE = 76  # characters of a data: URI per line of the page (docutils joins them again)
LANGUAGES = {"": "text", "sh": "shell", "console": "console", "yaml": "yaml", "yml": "yaml", "ini": "ini", "json": "json", "python": "python"}


def parses_as_yaml(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return True


def page_of(name: str) -> str:
    """The page's name on the site (antsibull-docs wants letters, digits and underscores)."""
    return name.replace("-", "_")


def label_of(name: str) -> str:
    return LABEL % name.replace("-", "_")


class Converter:
    """Markdown tokens to reStructuredText lines, one guide at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []

    # -- inline ----------------------------------------------------------------------------------

    @staticmethod
    def escape(text: str) -> str:
        text = re.sub(r"([\\`*|])", r"\\\1", text)
        # "word_" is a reference in reStructuredText, "_word" a target only after a space: escape the first
        return re.sub(r"(?<=\w)_(?=\W|\Z)", r"\\_", text)

    def inline(self, tokens: list[Token]) -> str:
        pieces: list[tuple[str, bool]] = []  # (text, is markup)
        link: list[str] | None = None
        href = ""
        stack: list[str] = []
        for token in tokens:
            kind = token.type
            if kind == "text":
                if link is not None:
                    link.append(token.content)
                else:
                    pieces.append((self.escape(token.content), False))
            elif kind == "code_inline":
                if link is not None:
                    link.append(token.content)
                else:
                    pieces.append(("``%s``" % token.content, True))
            elif kind in ("softbreak", "hardbreak"):
                pieces.append(("\n", False))
            elif kind in ("strong_open", "em_open"):
                stack.append(kind)
                pieces.append(("", False))
                start = len(pieces)
                stack.append(str(start))
            elif kind in ("strong_close", "em_close"):
                start = int(stack.pop())
                opener = stack.pop()
                inner = "".join(text for text, _markup in pieces[start:]).replace("\n", " ")
                del pieces[start:]
                mark = "**" if opener == "strong_open" else "*"
                # reStructuredText has no nested inline markup: code inside emphasis stays as plain text
                pieces.append((mark + inner.replace("``", "") + mark, True))
            elif kind == "link_open":
                link, href = [], str(token.attrs.get("href", ""))
            elif kind == "link_close":
                text = " ".join("".join(link or []).split())
                pieces.append((self.link(text, href), True))
                link = None
            elif kind == "html_inline":
                pieces.append((self.escape(token.content), False))
            elif kind == "image":
                raise ValueError("docs/%s.md: the image %s is inside a line of text: give it a paragraph of its own" % (self.name, token.attrs.get("src", "")))
            else:
                raise ValueError("docs/%s.md: no conversion for the inline element %s" % (self.name, kind))
        out = ""
        for index, (text, markup) in enumerate(pieces):
            if markup and out and re.search(r"[\w)]\Z", out):
                out += "\\ "
            out += text
            following = pieces[index + 1][0] if index + 1 < len(pieces) else ""
            if markup and re.match(r"[\w(]", following):
                out += "\\ "
        return out

    def link(self, text: str, href: str) -> str:
        target = href.split("#", 1)[0]
        if target.endswith(".md") and "/" not in target and target[:-3] in GUIDES:
            return ":ref:`%s <%s>`" % (text.replace("`", ""), label_of(target[:-3]))
        if not re.match(r"[a-z]+://", href):
            # another file of docs/, which the site does not hold: name it
            return "``docs/%s``" % href if href in text else "%s (``docs/%s``)" % (self.escape(text), href)
        return "`%s <%s>`__" % (text.replace("`", ""), href)

    # -- images ----------------------------------------------------------------------------------

    @staticmethod
    def images_of(children: list[Token]) -> list[Token] | None:
        """The images of a paragraph that holds nothing else (line breaks and spaces between them aside), else None."""
        images = [token for token in children if token.type == "image"]
        between = ("image", "softbreak", "hardbreak")
        rest = [token for token in children if token.type not in between and not (token.type == "text" and not token.content.strip())]
        return images if images and not rest else None

    @staticmethod
    def alt_of(image: Token) -> str:
        """The alt text as plain text (the markup of `![*this*](x.png)` is not part of it), on one line."""
        text = "".join(child.content for child in image.children or [] if child.type in ("text", "code_inline"))
        return " ".join(text.split())

    def image_uri(self, src: str) -> str:
        if re.match(r"[a-z][a-z0-9+.-]*:", src):
            return src
        path = os.path.normpath(os.path.join(DOCS, urllib.parse.unquote(src.split("#", 1)[0])))
        kind = IMAGE_TYPES.get(os.path.splitext(path)[1].lower())
        if kind is None:
            raise ValueError("docs/%s.md: the image %s is not one of %s" % (self.name, src, ", ".join(sorted(IMAGE_TYPES))))
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ValueError("docs/%s.md: the image %s cannot be read: %s" % (self.name, src, exc.strerror)) from exc
        return "data:%s;base64,%s" % (kind, base64.b64encode(data).decode("ascii"))

    def image(self, image: Token, indent: str, first: str | None) -> None:
        alt = self.alt_of(image)
        if not alt:
            raise ValueError("docs/%s.md: the image %s has no alt text: say what it shows" % (self.name, image.attrs.get("src", "")))
        uri = self.image_uri(str(image.attrs.get("src", "")))
        title = " ".join(str(image.attrs.get("title") or "").split())
        self.blank()
        self.emit(".. %s:: %s" % ("figure" if title else "image", uri[:DATA_URI_LINE]), indent, first)
        for start in range(DATA_URI_LINE, len(uri), DATA_URI_LINE):
            self.lines.append(indent + "  " + uri[start : start + DATA_URI_LINE])
        self.lines.append(indent + "  :alt: " + alt)  # an option's value is taken as it is: no escapes
        if title:
            self.lines.append("")
            self.lines.append(indent + "  " + self.escape(title))
        self.lines.append("")

    # -- blocks ----------------------------------------------------------------------------------

    def emit(self, text: str, indent: str, first: str | None = None) -> None:
        for number, line in enumerate(text.split("\n")):
            prefix = first if (first is not None and number == 0) else indent
            self.lines.append((prefix + line).rstrip())

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def convert(self, source: str) -> str:
        parser = MarkdownIt("commonmark").enable("table")
        tokens = parser.parse(source)
        self.lines = [
            ".. Generated from docs/%s.md by tools/docsite.py: edit the guide, then run tools/docsite.py." % self.name,
            "",
            ".. _%s:" % label_of(self.name),
            "",
        ]
        self.blocks(tokens, 0, len(tokens), "")
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def blocks(self, tokens: list[Token], start: int, end: int, indent: str) -> None:  # pylint: disable=too-many-branches
        index = start
        first: str | None = None  # the list marker for the first line of a list item
        while index < end:
            token = tokens[index]
            kind = token.type
            if kind == "heading_open":
                level = int(token.tag[1])
                text = self.inline(tokens[index + 1].children or []).replace("\n", " ")
                self.blank()
                self.lines.append(indent + text)
                self.lines.append(indent + UNDERLINE[level] * max(len(text), 3))
                self.lines.append("")
                index += 3
            elif kind == "paragraph_open" and self.images_of(tokens[index + 1].children or []):
                for image in self.images_of(tokens[index + 1].children or []) or []:
                    self.image(image, indent, first)
                    first = None
                index += 3
            elif kind == "paragraph_open":
                self.emit(self.inline(tokens[index + 1].children or []), indent, first)
                first = None
                if not token.hidden or not tokens[index + 2].hidden:
                    self.lines.append("")
                index += 3
            elif kind == "fence" or kind == "code_block":
                language = LANGUAGES.get(token.info.strip().split(" ")[0] if kind == "fence" else "", "text")
                if language == "yaml" and not parses_as_yaml(token.content):
                    language = "text"  # an excerpt with "..." in it: shown as it is, not checked as YAML
                self.blank()
                self.emit(".. code-block:: %s" % language, indent, first)
                first = None
                self.lines.append("")
                self.emit(token.content.rstrip("\n"), indent + "  ")
                self.lines.append("")
                index += 1
            elif kind in ("bullet_list_open", "ordered_list_open"):
                close = self.closing(tokens, index)
                self.blank()
                self.list_items(tokens, index + 1, close, indent, "- " if kind == "bullet_list_open" else "#. ")
                self.blank()
                index = close + 1
            elif kind == "table_open":
                close = self.closing(tokens, index)
                self.table(tokens[index:close], indent)
                index = close + 1
            elif kind == "blockquote_open":
                close = self.closing(tokens, index)
                self.blocks(tokens, index + 1, close, indent + "  ")
                index = close + 1
            elif kind == "hr":
                self.blank()
                self.lines.append(indent + "----")
                self.lines.append("")
                index += 1
            elif kind == "html_block":
                self.blank()
                self.emit(".. raw:: html", indent, first)
                self.lines.append("")
                self.emit(token.content.rstrip("\n"), indent + "  ")
                self.lines.append("")
                index += 1
            else:
                raise ValueError("docs/%s.md: no conversion for the block %s" % (self.name, kind))

    @staticmethod
    def closing(tokens: list[Token], index: int) -> int:
        depth = 0
        for position in range(index, len(tokens)):
            depth += tokens[position].nesting
            if depth == 0:
                return position
        raise ValueError("unbalanced Markdown tokens")

    def list_items(self, tokens: list[Token], start: int, end: int, indent: str, marker: str) -> None:
        index = start
        while index < end:
            close = self.closing(tokens, index)  # list_item_open .. list_item_close
            before = len(self.lines)
            self.lines.append(indent + marker + "\0")
            self.blocks(tokens, index + 1, close, indent + " " * len(marker))
            # the item's first line goes after its marker
            body = self.lines[before + 1 :]
            del self.lines[before:]
            stripped = [line[len(indent) + len(marker) :] if line.startswith(indent + " " * len(marker)) else line for line in body]
            while stripped and stripped[-1] == "":
                stripped.pop()
            while stripped and stripped[0] == "":
                stripped.pop(0)
            if stripped:
                self.lines.append(indent + marker + stripped[0])
                self.lines.extend((indent + " " * len(marker) + line).rstrip() if line else "" for line in stripped[1:])
            else:
                self.lines.append(indent + marker.rstrip())
            index = close + 1

    def table(self, tokens: list[Token], indent: str) -> None:
        rows: list[list[str]] = []
        for token in tokens:
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline":
                rows[-1].append(self.inline(token.children or []).replace("\n", " "))
        self.blank()
        self.lines.append(indent + ".. list-table::")
        self.lines.append(indent + "  :header-rows: 1")
        self.lines.append("")
        for row in rows:
            for number, cell in enumerate(row):
                self.lines.append((indent + ("  * - " if number == 0 else "    - ") + cell).rstrip())
        self.lines.append("")


def pages() -> dict[str, str]:
    found = {}
    for name in GUIDES:
        with open(os.path.join(DOCS, name + ".md"), encoding="utf-8") as handle:
            found[os.path.join(RST_DIR, page_of(name) + ".rst")] = Converter(name).convert(handle.read())
    return found


def main(argv: list[str]) -> int:
    wanted = pages()
    if argv[1:] == ["--check"]:
        stale = []
        for path, text in wanted.items():
            try:
                with open(path, encoding="utf-8") as handle:
                    same = handle.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(os.path.relpath(path, ROOT))
        if stale:
            print("not what the guides give: %s; run tools/docsite.py" % ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 64
    os.makedirs(RST_DIR, exist_ok=True)
    for path, text in wanted.items():
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
