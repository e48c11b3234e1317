# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Turn task arguments into plain Python values.

This module util is PRIVATE to the collection. It can change at any time without notice.

ansible-core 2.19 and later tag templated values (data tagging): strings, numbers, lists and
dicts arrive as subclasses that ``yaml.safe_dump`` and ``json`` refuse or mangle. Everything
that is stored or compared goes through ``to_plain`` first.
"""

from __future__ import annotations

import typing as t


class NotPlainError(TypeError):
    """A value of a type that has no plain equivalent (named by path, never shown)."""


def to_plain(value: t.Any, path: str = "value") -> t.Any:
    """Return a copy of ``value`` built only from dict, list, str, int, float, bool and None."""
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        # str.__str__ returns an exact str copy of a subclass instance, dropping any tags.
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, t.Mapping):
        return {to_plain(k, path): to_plain(v, "%s.%s" % (path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    raise NotPlainError("%s has a value of type %s that cannot be stored" % (path, type(value).__name__))
