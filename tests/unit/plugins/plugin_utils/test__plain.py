"""to_plain: untag ansible-core 2.19+ values for storage."""

from __future__ import annotations

import pytest
from ansible._internal._datatag._tags import Origin

from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import NotPlainError, to_plain


def test_nested_tagged_values_become_builtin_types():
    origin = Origin(path="/vars.yml", line_num=1)
    value = origin.tag({"a": origin.tag([origin.tag("x"), origin.tag(1), origin.tag(1.5), True, None]), "b": (1, 2)})
    plain = to_plain(value)
    assert plain == {"a": ["x", 1, 1.5, True, None], "b": [1, 2]}
    assert [type(v).__name__ for v in (plain, plain["a"], plain["a"][0], plain["a"][1])] == ["dict", "list", "str", "int"]


def test_bytes_are_decoded():
    assert to_plain(b"abc") == "abc"


def test_unknown_types_name_the_path_not_the_value():
    with pytest.raises(NotPlainError, match=r"arguments.labels.k has a value of type object"):
        to_plain({"labels": {"k": object()}}, "arguments")
