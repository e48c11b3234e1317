"""Sealed landings: only the store's landing key opens them, only for the invitation and connection they were sealed for."""

from __future__ import annotations

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store import landing

PAYLOAD = {"access_token": "FAKE-access-token-L", "refresh_token": "FAKE-refresh-token-L", "token_type": "Bearer", "client_id": "app-1"}
INVITATION = "6f1c2a8e-0000-4000-8000-000000000001"


def test_a_sealed_landing_opens_with_its_key_for_its_invitation_and_connection():
    public, private = landing.new_key_pair()
    sealed = landing.seal(public, INVITATION, "acme-nl", PAYLOAD)
    assert b"FAKE-refresh-token-L" not in sealed and b"FAKE-access-token-L" not in sealed
    assert landing.open_sealed(private, INVITATION, "acme-nl", sealed) == PAYLOAD


@pytest.mark.parametrize(
    "what",
    ["another key", "another connection", "another invitation", "tampered", "truncated"],
)
def test_a_landing_does_not_open_for_anything_else(what):
    public, private = landing.new_key_pair()
    sealed = landing.seal(public, INVITATION, "acme-nl", PAYLOAD)
    invitation, connection = INVITATION, "acme-nl"
    if what == "another key":
        private = landing.new_key_pair()[1]
    elif what == "another connection":
        connection = "crm"
    elif what == "another invitation":
        invitation = "6f1c2a8e-0000-4000-8000-000000000002"
    elif what == "tampered":
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    else:
        sealed = sealed[:40]
    with pytest.raises(StoreError) as caught:
        landing.open_sealed(private, invitation, connection, sealed)
    assert "was not" in caught.value.msg and connection in caught.value.msg
    assert "FAKE-" not in caught.value.msg


def test_an_oversized_landing_is_neither_sealed_nor_opened():
    public, private = landing.new_key_pair()
    with pytest.raises(StoreError, match="too large to land"):
        landing.seal(public, INVITATION, "acme-nl", {"access_token": "FAKE-" + "x" * landing.MAX_PLAIN})
    with pytest.raises(StoreError, match="not a sealed landing"):
        landing.open_sealed(private, INVITATION, "acme-nl", landing.MAGIC + b"\0" * landing.MAX_SEALED)
    with pytest.raises(StoreError, match="not a sealed landing"):
        landing.open_sealed(private, INVITATION, "acme-nl", "not bytes")


def test_a_damaged_key_is_named_not_shown():
    with pytest.raises(StoreError, match="private half of the landing key in the store is damaged"):
        landing.open_sealed("FAKE-not-base64!", INVITATION, "acme-nl", landing.seal(landing.new_key_pair()[0], INVITATION, "acme-nl", PAYLOAD))
    with pytest.raises(StoreError, match="public half"):
        landing.seal("AAAA", INVITATION, "acme-nl", PAYLOAD)
