# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sealed landings: tokens that the consent service can write and only a controller can read.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

The consent service exchanges an invitee's code and seals the answer to the store's landing key:
an ephemeral X25519 key agreement with the key's public half, HKDF-SHA256 over the shared secret
(salted with both public keys) and AES-256-GCM, with the invitation's id and connection as
associated data, so a landing moved to another invitation or connection does not open. The
private half is kept ansible-vault encrypted in the store: every controller with the vault
password opens landings, the host of the consent service (which holds the public half only) never
can, and neither can a copy of that host or of the landings table.

Nothing here is home-made but the envelope: ``PO2L1`` | ephemeral public key (32 bytes) | nonce
(12 bytes) | ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import typing as t

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - a controller without the library
    HAS_CRYPTOGRAPHY = False

MAGIC = b"PO2L1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# A landing is a token answer of a few kilobytes; anything far bigger is not ours and is not opened.
MAX_SEALED = 65536
MAX_PLAIN = MAX_SEALED - len(MAGIC) - KEY_BYTES - NONCE_BYTES - TAG_BYTES
INFO = b"preauth.oauth2 landing v1"


def _need() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise StoreError("consent landings need the Python package cryptography; install it with: python3 -m pip install cryptography")


def _raw(public: t.Any) -> bytes:
    return bytes(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def new_key_pair() -> tuple[str, str]:
    """A fresh landing key: (public half, private half), both base64 text. The private half is to be vault-encrypted at once."""
    _need()
    private = X25519PrivateKey.generate()
    b_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return base64.b64encode(_raw(private.public_key())).decode("ascii"), base64.b64encode(b_private).decode("ascii")


def _key_bytes(text: t.Any, what: str) -> bytes:
    try:
        b_key = base64.b64decode(str(text).strip(), validate=True)
    except (binascii.Error, ValueError):
        b_key = b""
    if len(b_key) != KEY_BYTES:
        raise StoreError("the %s of the landing key in the store is damaged (not 32 bytes of base64); make a new key with the invite playbook" % what)
    return b_key


def _aad(invitation: str, connection: str) -> bytes:
    return b"preauth.oauth2 landing\0%s\0%s" % (str(invitation).encode("utf-8"), str(connection).encode("utf-8"))


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO).derive(shared)


def seal(public_key: str, invitation: str, connection: str, payload: t.Mapping[str, t.Any]) -> bytes:
    """``payload`` (JSON-able) sealed to ``public_key`` for this invitation and connection."""
    _need()
    recipient = _key_bytes(public_key, "public half")
    plain = json.dumps(dict(payload), sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(plain) > MAX_PLAIN:
        raise StoreError("the platform's answer for connection %s is too large to land (%d bytes, at most %d)" % (connection, len(plain), MAX_PLAIN))
    ephemeral = X25519PrivateKey.generate()
    b_ephemeral = _raw(ephemeral.public_key())
    key = _derive(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), b_ephemeral, recipient)
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + b_ephemeral + nonce + AESGCM(key).encrypt(nonce, plain, _aad(invitation, connection))


def open_sealed(private_key: str, invitation: str, connection: str, sealed: t.Any) -> dict[str, t.Any]:
    """The payload of a landing; StoreError, naming the connection, for anything that is not a landing sealed for it."""
    _need()
    b_sealed = bytes(sealed) if isinstance(sealed, (bytes, bytearray, memoryview)) else b""
    head = len(MAGIC) + KEY_BYTES + NONCE_BYTES
    if not b_sealed.startswith(MAGIC) or not head + TAG_BYTES <= len(b_sealed) <= MAX_SEALED:
        raise StoreError("the landing of connection %s is not a sealed landing of this collection; it was not opened" % connection)
    private = X25519PrivateKey.from_private_bytes(_key_bytes(private_key, "private half"))
    b_ephemeral = b_sealed[len(MAGIC):len(MAGIC) + KEY_BYTES]
    nonce = b_sealed[len(MAGIC) + KEY_BYTES:head]
    try:
        key = _derive(private.exchange(X25519PublicKey.from_public_bytes(b_ephemeral)), b_ephemeral, _raw(private.public_key()))
        plain = AESGCM(key).decrypt(nonce, b_sealed[head:], _aad(invitation, connection))
    except (InvalidTag, ValueError):
        raise StoreError(
            "the landing of connection %s does not open with this store's landing key (sealed to another key, for another invitation "
            "or connection, or changed since); it was not used" % connection
        ) from None
    try:
        payload = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        raise StoreError("the landing of connection %s opened but holds no token answer; it was not used" % connection)
    return payload
