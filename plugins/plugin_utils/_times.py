# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the collection shows times: the store keeps epoch seconds, people read UTC ISO 8601.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A store may hold a time no datetime can show (an older collection saved ``expires_in: 1e20`` as it
came; a person edited the file): ``seconds`` reads such a value as unknown and ``iso`` names it
instead of raising, so one odd value cannot stop every later run that reads the store.
"""

from __future__ import annotations

import datetime
import math
import typing as t

# 9999-12-31T23:59:59Z, the last second a datetime can show. The store holds no time before 1970.
MAX_TIME = 253402300799.0
DAY = 86400


def seconds(value: t.Any) -> float | None:
    """A stored time as epoch seconds, or None when it is missing or cannot be a time."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not 0 <= value <= MAX_TIME:
        return None  # before float(): an int of YAML's unbounded size overflows it
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= MAX_TIME:
        return None
    return number


def iso(value: t.Any) -> str | None:
    """UTC ISO 8601 for a stored time; None for None; a short description for a value that is not a time."""
    if value is None:
        return None
    ts = seconds(value)
    if ts is None:
        # A number is shown, shortened (it cannot be a secret); any other type only by name.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(value)
            return "invalid time (%s)" % (text if len(text) <= 24 else text[:20] + "...")
        return "invalid time (a value of type %s)" % type(value).__name__
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: t.Any) -> float | None:
    """Epoch seconds of the UTC ISO 8601 text ``iso`` writes (``2026-12-08T10:00:00Z``); None for any other text."""
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return None
