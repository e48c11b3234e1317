"""The pictures the guides show (docs/images/) are there, small, and each is shown by a guide.

The consent guide's screenshots are taken from the real pages by tools/screenshots.py, which needs the
service, PostgreSQL and chromium and is too slow for every run: this checks what it leaves behind. When a
guide names a picture that is not there, take the screenshots again (and run tools/docsite.py, which puts
them into the docs site's pages); test_links.py checks that the collection ships them.
"""

from __future__ import annotations

import os
import re
import struct
import urllib.parse

import pytest

markdown_it = pytest.importorskip("markdown_it", reason="reading the guides' images needs markdown-it-py")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOCS = os.path.join(ROOT, "docs")
IMAGES = os.path.join(DOCS, "images")
MAX_BYTES = 80 * 1024  # the docs site carries each picture once more, inside its page
# What docs/consent.md must show, one picture each (tools/screenshots.py takes them).
CONSENT_PAGES = {"consent-invitation-en.png", "consent-form-filled-en.png", "consent-done-en.png", "consent-expired-en.png", "consent-invitation-nl.png"}


def images_of(source: str) -> list[tuple[str, str]]:
    """(src, alt) of every Markdown image outside code."""
    found = []

    def walk(tokens: list) -> None:
        for token in tokens:
            if token.type == "image":
                found.append((str(token.attrs.get("src", "")), token.content))
            walk(token.children or [])

    walk(markdown_it.MarkdownIt("commonmark").enable("table").parse(source))
    return found


def guide_images() -> dict[str, list[tuple[str, str]]]:
    """guide (docs/NAME.md) -> its images."""
    found = {}
    for name in sorted(os.listdir(DOCS)):
        if name.endswith(".md"):
            with open(os.path.join(DOCS, name), encoding="utf-8") as handle:
                found["docs/" + name] = images_of(handle.read())
    return found


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "%s is not a PNG" % os.path.relpath(path, ROOT)
    return struct.unpack(">II", head[16:24])


def test_every_image_a_guide_shows_is_there():
    problems = []
    for guide, images in guide_images().items():
        for src, alt in images:
            if re.match(r"[a-z][a-z0-9+.-]*:", src):
                continue  # an address: test_links.py checks those
            path = os.path.normpath(os.path.join(DOCS, urllib.parse.unquote(src)))
            if not os.path.isfile(path):
                problems.append("%s: %s is not there (take the screenshots again: tools/screenshots.py)" % (guide, src))
            elif not alt.strip():
                problems.append("%s: %s has no alt text" % (guide, src))
    assert problems == []


def test_the_consent_guide_shows_each_page():
    shown = {os.path.basename(src) for src, _alt in guide_images()["docs/consent.md"]}
    assert shown == CONSENT_PAGES


def test_the_pictures_are_small_and_each_is_shown():
    files = sorted(os.listdir(IMAGES))
    assert set(files) >= CONSENT_PAGES
    shown = {os.path.normpath(os.path.join(DOCS, urllib.parse.unquote(src))) for images in guide_images().values() for src, _alt in images}
    problems = []
    for name in files:
        path = os.path.join(IMAGES, name)
        if path not in shown:
            problems.append("docs/images/%s: no guide shows it, but the collection ships it" % name)
        if os.path.getsize(path) > MAX_BYTES:
            problems.append("docs/images/%s: %d bytes, more than %d" % (name, os.path.getsize(path), MAX_BYTES))
        if name.endswith(".png"):
            width, height = png_size(path)
            if not (320 <= width <= 1600 and 100 <= height <= 2400):
                problems.append("docs/images/%s: %dx%d pixels, not a page's screenshot" % (name, width, height))
    assert problems == []


def test_the_reader_finds_images_outside_code():
    assert images_of("Text.\n\n![The page](images/consent-gone.png)\n\n```\n![not an image](in-code.png)\n```\n") == [("images/consent-gone.png", "The page")]
