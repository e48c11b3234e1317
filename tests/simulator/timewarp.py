"""Move the whole world forward: the simulator's clock and the times in token stores.

The collection decides with the controller's clock and the platform enforces its rules with its
own; a test that wants "24 days later" moves both. Store files are decrypted and re-encrypted
with the collection's own FileTokenStore (same vault secrets, same atomic writes), never written in
plaintext.
"""

from __future__ import annotations

import typing as t

TIME_FIELDS = {
    "tokens": ("obtained_at", "access_expires_at", "refresh_expires_at", "last_refresh_at"),
    "owner": ("since",),
    "preauthenticated_by": ("at",),
    "in_flight": ("started_at", "until"),
    "moved_to": ("at",),
    "reauthorization_required": ("since",),
    "last_error": ("at",),
    "pending": ("created_at", "expires_at"),
    "token_calls": (),
}


def shift_record(data: dict[str, t.Any], seconds: float) -> None:
    """Make every time in a decrypted store ``seconds`` older."""
    for section, fields in TIME_FIELDS.items():
        part = data.get(section)
        if isinstance(part, dict):
            for field in fields:
                if isinstance(part.get(field), (int, float)):
                    part[field] = round(part[field] - seconds, 3)
    calls = data.get("token_calls")
    if isinstance(calls, dict) and isinstance(calls.get("day"), int):
        calls["day"] -= int(seconds // 86400)
    for event in data.get("history") or []:
        if isinstance(event.get("at"), (int, float)):
            event["at"] = round(event["at"] - seconds, 3)


def warp(seconds: float, control: t.Any = None, store: t.Any = None) -> None:
    """Advance the simulator (a ControlClient) and age every file of a FileTokenStore by ``seconds``."""
    if control is not None:
        control.advance_clock(seconds)
    if store is not None:
        for connection in store.connections():
            with store.locked(connection) as record:
                shift_record(record.data, seconds)
