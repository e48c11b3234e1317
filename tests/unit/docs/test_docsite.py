"""The docs site's pages (docs/docsite/rst) are what tools/docsite.py makes from the guides (docs/*.md)."""

from __future__ import annotations

import base64
import importlib.util
import os

import pytest
import yaml

pytest.importorskip("markdown_it", reason="tools/docsite.py needs markdown-it-py")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
pytestmark = pytest.mark.checkout
if not os.path.isfile(os.path.join(ROOT, "tools", "docsite.py")):
    pytest.skip("tools/docsite.py is a contributor's tool that the built collection leaves out", allow_module_level=True)
spec = importlib.util.spec_from_file_location("docsite", os.path.join(ROOT, "tools", "docsite.py"))
assert spec is not None and spec.loader is not None
docsite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docsite)


def test_the_pages_agree_with_the_guides():
    assert docsite.main(["docsite.py", "--check"]) == 0, "run tools/docsite.py after editing a guide in docs/"


def test_a_page_that_differs_from_its_guide_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docsite, "RST_DIR", str(tmp_path))
    for path, text in docsite.pages().items():
        (tmp_path / os.path.basename(path)).write_text(text, encoding="utf-8")
    assert docsite.main(["docsite.py", "--check"]) == 0
    (tmp_path / "store.rst").write_text("edited by hand\n", encoding="utf-8")
    (tmp_path / "awx.rst").unlink()
    assert docsite.main(["docsite.py", "--check"]) == 1
    assert "not what the guides give: %s, %s; run tools/docsite.py" % (tmp_path / "store.rst", tmp_path / "awx.rst") in capsys.readouterr().err.replace(
        os.path.relpath(str(tmp_path), ROOT) + "/", str(tmp_path) + "/"
    )


def test_the_site_lists_every_guide():
    with open(os.path.join(ROOT, "docs", "docsite", "extra-docs.yml"), encoding="utf-8") as handle:
        section, reference = yaml.safe_load(handle)["sections"]
    assert section["toctree"] == [docsite.page_of(name) for name in docsite.GUIDES]
    assert reference == {"title": "Reference", "toctree": ["playbooks"]}  # tools/playbook_docs.py makes it
    guides = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))
    assert guides == sorted(docsite.GUIDES)


def test_the_markdown_the_guides_use_becomes_restructuredtext():
    source = """# A guide

Text with `code`s, **bold**, *a word_ here* and [a link](https://example.test/x) or
[the store](store.md) and
[the page](redirect-relay.html) and [`redirect-relay.html`](redirect-relay.html).

## Part

- one `item`
- two
  - nested

1. first
2. second

```yaml
key: value
```

```yaml
a: 1
...
  b:
```

| metric | value |
| --- | --- |
| `m` | 1 |
"""
    expected = """\
.. Generated from docs/monitoring.md by tools/docsite.py: edit the guide, then run tools/docsite.py.

.. _ansible_collections.preauth.oauth2.docsite.monitoring:

A guide
=======

Text with ``code``\\ s, **bold**, *a word\\_ here* and `a link <https://example.test/x>`__ or
:ref:`the store <ansible_collections.preauth.oauth2.docsite.store>` and
the page (``docs/redirect-relay.html``) and ``docs/redirect-relay.html``.

Part
----

- one ``item``
- two

  - nested

#. first
#. second

.. code-block:: yaml

  key: value

.. code-block:: text

  a: 1
  ...
    b:

.. list-table::
  :header-rows: 1

  * - metric
    - value
  * - ``m``
    - 1
"""
    assert docsite.Converter("monitoring").convert(source) == expected


def test_an_image_becomes_an_image_of_the_page_itself(tmp_path, monkeypatch):
    # antsibull-docs copies only the .rst files into the site: the picture goes into the page, as a data: URI
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "page.png").write_bytes(bytes(range(60)))
    monkeypatch.setattr(docsite, "DOCS", str(tmp_path))
    source = """# Pages

The invitation:

![The invitation page: *who* asks, and the `form`](images/page.png)

- a list item with a picture of a remote page:

  ![The remote page](https://example.test/page.png "The caption")

![First](images/page.png)
![Second](images/page.png)
"""
    expected = """\
.. Generated from docs/consent.md by tools/docsite.py: edit the guide, then run tools/docsite.py.

.. _ansible_collections.preauth.oauth2.docsite.consent:

Pages
=====

The invitation:

.. image:: data:image/png;base64,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJy
  gpKissLS4vMDEyMzQ1Njc4OTo7
  :alt: The invitation page: who asks, and the form

- a list item with a picture of a remote page:

  .. figure:: https://example.test/page.png
    :alt: The remote page

    The caption

.. image:: data:image/png;base64,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJy
  gpKissLS4vMDEyMzQ1Njc4OTo7
  :alt: First

.. image:: data:image/png;base64,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJy
  gpKissLS4vMDEyMzQ1Njc4OTo7
  :alt: Second
"""
    assert docsite.Converter("consent").convert(source) == expected


def test_the_image_rst_reads_back_as_the_picture(tmp_path, monkeypatch):
    docutils_core = pytest.importorskip("docutils.core", reason="reading the page back needs docutils")
    from docutils import nodes

    (tmp_path / "images").mkdir()
    picture = bytes(range(256)) * 3
    (tmp_path / "images" / "page.png").write_bytes(picture)
    monkeypatch.setattr(docsite, "DOCS", str(tmp_path))
    page = docsite.Converter("consent").convert("![The page](images/page.png)\n")
    (image,) = docutils_core.publish_doctree(page, settings_overrides={"report_level": 2, "halt_level": 2}).findall(nodes.image)
    assert image["alt"] == "The page"
    assert base64.b64decode(image["uri"].split(",", 1)[1]) == picture


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("Text and ![an image](images/page.png).\n", "docs/consent.md: the image images/page.png is inside a line of text: give it a paragraph of its own"),
        ("![](images/page.png)\n", "docs/consent.md: the image images/page.png has no alt text: say what it shows"),
        ("![A page](images/gone.png)\n", "docs/consent.md: the image images/gone.png cannot be read: No such file or directory"),
        ("![A page](images/page.bmp)\n", "docs/consent.md: the image images/page.bmp is not one of .gif, .jpeg, .jpg, .png, .svg, .webp"),
    ],
)
def test_an_image_that_cannot_be_converted_is_named(tmp_path, monkeypatch, source, why):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "page.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setattr(docsite, "DOCS", str(tmp_path))
    with pytest.raises(ValueError) as raised:
        docsite.Converter("consent").convert(source)
    assert str(raised.value) == why
