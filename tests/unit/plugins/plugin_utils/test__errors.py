"""The connection an error names, apart from the details that go into a failed result."""

from __future__ import annotations

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.vault import check_connection_name


def test_the_named_connection_is_positional_so_a_connection_detail_stays_a_detail():
    named = PreauthError("connection crm: the store is locked", "crm")
    assert (named.connection, named.details, str(named)) == ("crm", {}, "connection crm: the store is locked")
    detailed = PreauthError("1 refreshed, 1 failed", connection="crm", counts={"failed": 1})  # pylint: disable=kwarg-superseded-by-positional-arg
    assert (detailed.connection, detailed.details) == (None, {"connection": "crm", "counts": {"failed": 1}})


@pytest.mark.parametrize("name", ["../etc", "", ".hidden"])
def test_an_invalid_connection_name_is_the_connection_the_message_names(name):
    with pytest.raises(StoreError) as info:
        check_connection_name(name)
    assert info.value.msg.startswith("connection name %r is not valid" % name)
    assert info.value.connection == name
