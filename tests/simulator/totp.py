"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s), standard library only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

STEP = 30
DIGITS = 6


def _secret_bytes(secret_b32: str) -> bytes:
    cleaned = secret_b32.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def totp(secret_b32: str, at: float | None = None) -> str:
    """The code an authenticator app shows at time ``at`` (default: now)."""
    counter = int((time.time() if at is None else at) // STEP)
    digest = hmac.new(_secret_bytes(secret_b32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret_b32: str, code: str, at: float | None = None, window: int = 1) -> bool:
    """Accept the current code and ``window`` steps either side (clock drift of the phone)."""
    now = time.time() if at is None else at
    code = (code or "").strip()
    return any(hmac.compare_digest(totp(secret_b32, now + i * STEP), code) for i in range(-window, window + 1))
