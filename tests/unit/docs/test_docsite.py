"""The docs site's pages (docs/docsite/rst) are what tools/docsite.py makes from the guides (docs/*.md)."""

from __future__ import annotations

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
