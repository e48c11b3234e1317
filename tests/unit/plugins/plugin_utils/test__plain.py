"""to_plain: untag ansible-core 2.19+ values for storage."""

from __future__ import annotations

import copy

import pytest
from ansible._internal._datatag._tags import Origin

from ansible_collections.preauth.oauth2.plugins.plugin_utils._plain import DeferredSecret, NotPlainError, to_plain


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


def test_a_deferred_secret_is_revealed_once_when_used_and_never_shown():
    calls = []

    def reveal():
        calls.append(1)
        return "FAKE-client-secret-4a5b6c"

    secret = DeferredSecret(reveal)
    assert bool(secret) and calls == []
    assert "FAKE" not in repr(secret)
    with pytest.raises(TypeError, match="no text until reveal"):
        str(secret)
    assert copy.deepcopy({"s": secret})["s"] is secret and copy.copy(secret) is secret
    assert to_plain({"entries": [{"client_secret": secret}]}) == {"entries": [{"client_secret": secret}]}
    assert calls == []
    assert secret.reveal() == "FAKE-client-secret-4a5b6c" and secret.reveal() == "FAKE-client-secret-4a5b6c"
    assert calls == [1]


def test_a_deferred_secret_that_cannot_be_decrypted_says_so_each_time():
    def refuse():
        raise ValueError("cannot decrypt")

    secret = DeferredSecret(refuse)
    for _attempt in range(2):
        with pytest.raises(ValueError, match="cannot decrypt"):
            secret.reveal()


def test_convert_replaces_values_of_other_types_by_path():
    seen = []

    def convert(value, path):
        seen.append(path)
        return "converted"

    assert to_plain({"a": [object()]}, "arguments", convert) == {"a": ["converted"]}
    assert seen == ["arguments.a[0]"]
