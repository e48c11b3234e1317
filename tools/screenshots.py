"""Take the screenshots of docs/consent.md (docs/images/consent-*.png) from the consent service's real pages.

    .venv/bin/python tools/screenshots.py [DEST]     (DEST: docs/images; then run tools/docsite.py)

The service runs exactly as the browser tests run it: this tool hands the fixtures of tests/conftest.py (a
throwaway PostgreSQL) and tests/unit/plugins/plugin_utils/_consent/conftest.py (the service under waitress on
127.0.0.1 with its restricted database role, the OAuth simulator as the platform, Debian's /usr/bin/chromium
headless through Playwright) to pytest as plugins and lets pytest run shoot() below with them; nothing of
that set-up is repeated here. The invitee walks the pages as in test_browser.py, with the sign-in of
tests/helpers.py (walk_sign_in). Every value on the pages is the conftest's fake one (Acme Accountants B.V.,
ops@acme.example, Bea Boekhouder); "what consenting allows" is left to the service, in the page's language, as
the invite playbook leaves it. No page shows a link token, a code or a token.

Each picture is a full page 760 CSS pixels wide, reduced to at most 256 colours (a median cut, no
dithering: the pages are flat colours and anti-aliased text) and written as an indexed PNG at zlib's best
compression, so that it stays well under 80 KB: the docs site carries it inside its page as well
(tools/docsite.py), and the collection ships both.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
import typing as t
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
CONSENT_CONFTEST = os.path.join(TESTS, "unit", "plugins", "plugin_utils", "_consent", "conftest.py")
DEST_VARIABLE = "PREAUTH_SCREENSHOTS_DEST"  # how main() tells shoot(), which pytest imports anew, where to write
WIDTH = 760  # the card is 40rem wide: this leaves a margin of the page's grey on both sides
VIEWPORT_HEIGHT = 200  # a full page is at least as high as the window: a low one keeps the short pages short
LANGUAGES = {"en": ("en-GB", "en-GB,en;q=0.9"), "nl": ("nl-NL", "nl-NL,nl;q=0.9")}
# name -> what the page's heading must say (the tool stops when a page is not the one it means to show)
PAGES = {
    "consent-invitation-en": "Give Acme Data Replicator access to Exact Online",
    "consent-form-filled-en": "Give Acme Data Replicator access to Exact Online",
    "consent-done-en": "Thank you: access was granted",
    "consent-expired-en": "This invitation has expired",
    "consent-invitation-nl": "Geef Acme Data Replicator toegang tot Exact Online",
}


# -- the pictures ------------------------------------------------------------------------------------


def _chunks(data: bytes) -> t.Iterator[tuple[bytes, bytes]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        yield data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        offset += 12 + length


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def decode(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows as RGB bytes of an 8-bit RGB or RGBA PNG without interlace (what chromium writes)."""
    header, idat = b"", b""
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError("only 8-bit RGB or RGBA PNGs without interlace (this one: depth %d, colour type %d)" % (depth, colour))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + previous[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(stride):
                row[i] = (row[i] + _paeth(row[i - bpp] if i >= bpp else 0, previous[i], previous[i - bpp] if i >= bpp else 0)) & 0xFF
        elif kind != 0:
            raise ValueError("unknown PNG filter %d" % kind)
        previous = row
        if bpp == 4:  # on white, where a pixel is not opaque
            rgb = bytearray(width * 3)
            for x in range(width):
                r, g, b, a = row[4 * x : 4 * x + 4]
                rgb[3 * x : 3 * x + 3] = bytes(((v * a + 255 * (255 - a)) // 255) for v in (r, g, b))
            rows.append(bytes(rgb))
        else:
            rows.append(bytes(row))
    return width, height, rows


def median_cut(histogram: dict[bytes, int], size: int = 256) -> list[bytes]:
    """At most size colours for the histogram (colour -> pixels): split the box whose widest channel is widest, weighted
    by the pixels it holds, at its median, until there are size boxes; each box's colour is its pixels' mean."""
    boxes: list[list[tuple[bytes, int]]] = [list(histogram.items())]

    def spread(box: list[tuple[bytes, int]]) -> tuple[int, int]:
        ranges = [max(colour[c] for colour, _n in box) - min(colour[c] for colour, _n in box) for c in range(3)]
        widest = max(range(3), key=lambda c: ranges[c])
        return ranges[widest], widest

    while len(boxes) < size:
        scored = [(spread(box)[0] * sum(n for _c, n in box) ** 0.5, index) for index, box in enumerate(boxes) if len(box) > 1]
        if not scored:
            break
        _score, index = max(scored)
        box = boxes.pop(index)
        channel = spread(box)[1]
        box.sort(key=lambda item: item[0][channel])
        half, seen, split = sum(n for _c, n in box) / 2, 0, 1
        while split < len(box) - 1:  # the first colours that hold half the box's pixels, and at least one left over
            seen += box[split - 1][1]
            if seen >= half:
                break
            split += 1
        boxes += [box[:split], box[split:]]
    palette = []
    for box in boxes:
        total = sum(n for _c, n in box)
        palette.append(bytes(round(sum(colour[c] * n for colour, n in box) / total) for c in range(3)))
    return palette


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def optimize(data: bytes) -> bytes:
    """The picture as an indexed PNG of at most 256 colours (exact when it has no more), compressed as far as zlib goes."""
    width, height, rows = decode(data)
    histogram: dict[bytes, int] = {}
    for row in rows:
        for x in range(0, len(row), 3):
            colour = row[x : x + 3]
            histogram[colour] = histogram.get(colour, 0) + 1
    palette = list(histogram) if len(histogram) <= 256 else median_cut(histogram)
    # the most used colours first: the index bytes of the background then repeat, which deflate likes
    weight = {colour: 0 for colour in palette}
    nearest: dict[bytes, bytes] = {}
    for colour, n in histogram.items():
        best = min(palette, key=lambda p: (p[0] - colour[0]) ** 2 + (p[1] - colour[1]) ** 2 + (p[2] - colour[2]) ** 2)
        nearest[colour] = best
        weight[best] += n
    palette = sorted((p for p in palette if weight[p]), key=lambda p: -weight[p])
    index = {colour: palette.index(best) for colour, best in nearest.items()}
    pixels = bytearray()
    for row in rows:
        pixels.append(0)  # filter None: the one that suits an indexed picture
        pixels += bytes(index[row[x : x + 3]] for x in range(0, len(row), 3))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", b"".join(palette))
        + _chunk(b"IDAT", zlib.compress(bytes(pixels), 9))
        + _chunk(b"IEND", b"")
    )


# -- the pages ---------------------------------------------------------------------------------------


def shoot(service: t.Any, browser: t.Any) -> None:
    """What pytest runs with the consent conftest's service and browser: the invitee's pages, each saved as DEST/NAME.png."""
    dest = os.environ[DEST_VARIABLE]
    os.makedirs(dest, exist_ok=True)

    def save(page: t.Any, name: str) -> None:
        heading = page.inner_text("h1")
        assert heading == PAGES[name], "%s: the page says %r, not %r: see what changed in the consent service's pages" % (name, heading, PAGES[name])
        shot = page.screenshot(full_page=True, animations="disabled", caret="hide")
        small = optimize(shot)
        with open(os.path.join(dest, name + ".png"), "wb") as handle:
            handle.write(small)
        print("%s/%s.png: %d KB (chromium's PNG: %d KB)" % (os.path.relpath(dest), name, (len(small) + 1023) // 1024, (len(shot) + 1023) // 1024))

    def context(language: str) -> t.Any:
        locale, accept = LANGUAGES[language]
        made = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": accept}, viewport={"width": WIDTH, "height": VIEWPORT_HEIGHT})
        made.set_default_timeout(15000)
        return made

    english = context("en")
    try:
        page = english.new_page()
        token, _ident = service.invite("acme-nl", allows=None)
        page.goto(service.link(token))
        page.wait_for_selector("html[lang=en]")
        save(page, "consent-invitation-en")
        page.fill("#job_title", "Controller")
        page.check("#consent")
        save(page, "consent-form-filled-en")
        with page.expect_navigation(url="**/api/oauth2/auth**"):
            page.click("#continue")
        service.sign_in(page)  # walk_sign_in: the simulator's login, second factor and Allow, back to /p/success
        save(page, "consent-done-en")
        token, _ident = service.invite("acme-expired", days=-1, allows=None)
        page.goto(service.link(token))
        save(page, "consent-expired-en")
    finally:
        english.close()
    dutch = context("nl")
    try:
        page = dutch.new_page()
        token, _ident = service.invite("acme-be", allows=None)
        page.goto(service.link(token))
        page.wait_for_selector("html[lang=nl]")
        save(page, "consent-invitation-nl")
    finally:
        dutch.close()


def _module(name: str, path: str) -> t.Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    if len(argv) > 2 or argv[1:2] in (["-h"], ["--help"]):
        print(__doc__, file=sys.stderr)
        return 64
    import pytest  # noqa: PLC0415 - the tool runs with .venv's Python, which has the test requirements

    os.environ[DEST_VARIABLE] = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "images"))
    sys.path.insert(0, TESTS)
    # tests/conftest.py first: it puts the collection loader in place, which the consent conftest's imports need
    plugins = [_module("preauth_tests_conftest", os.path.join(TESTS, "conftest.py")), _module("preauth_consent_conftest", CONSENT_CONFTEST)]
    args = [os.path.abspath(__file__), "-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider", "--rootdir", ROOT, "-c", os.path.join(ROOT, "pyproject.toml")]
    args += ["-o", "python_files=screenshots.py", "-o", "python_functions=shoot"]
    return int(pytest.main(args, plugins=plugins))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
