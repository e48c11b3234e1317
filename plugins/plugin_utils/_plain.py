# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Turn task arguments into plain Python values.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

ansible-core 2.19 and later tag templated values (data tagging): strings, numbers, lists and
dicts arrive as subclasses that ``yaml.safe_dump`` and ``json`` refuse or mangle. Everything
that is stored or compared goes through ``to_plain`` first.

A secret that is still encrypted (an inline ansible-vault value an action chose not to have
decrypted) becomes a ``DeferredSecret``: decrypted when it is used, not when it arrives.
"""

from __future__ import annotations

import threading
import typing as t


class NotPlainError(TypeError):
    """A value of a type that has no plain equivalent (named by path, never shown)."""


class DeferredSecret:
    """A secret that is decrypted when something needs it, not before.

    Decrypting an inline ansible-vault value costs a key derivation; a batch that sends no
    request needs none of its secrets. It counts as present; whether it is empty is known once
    revealed. It has no text of its own: ``str()`` refuses, ``repr()`` shows none.
    """

    def __init__(self, reveal: t.Callable[[], str]) -> None:
        self._reveal: t.Callable[[], str] | None = reveal
        self._value = ""
        self._lock = threading.Lock()

    def reveal(self) -> str:
        """The secret's text, decrypted on the first call; an error is raised again by the next call."""
        with self._lock:
            if self._reveal is not None:
                self._value = self._reveal()
                self._reveal = None
            return self._value

    def __bool__(self) -> bool:
        return True

    def __copy__(self) -> DeferredSecret:
        return self  # one secret, decrypted at most once, however often its container is copied

    def __deepcopy__(self, memo: dict[int, t.Any]) -> DeferredSecret:
        return self

    def __repr__(self) -> str:
        return "DeferredSecret(...)"

    def __str__(self) -> str:
        raise TypeError("a deferred secret has no text until reveal() is called")


_SCALARS = (bool, str, int, float)


def to_plain(value: t.Any, path: str = "value", convert: t.Callable[[t.Any, str], t.Any] | None = None) -> t.Any:
    """Return a copy of ``value`` built only from dict, list, str, int, float, bool and None.

    A ``DeferredSecret`` stays as it is. ``convert`` may replace a value of any other type (it
    gets the value and its path); it raises ``NotPlainError`` for what it does not know.
    """
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, DeferredSecret):
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
    if isinstance(value, dict) or isinstance(value, t.Mapping):  # the first test is much the cheaper
        # Plain scalars are taken as they are and paths are built only on the way down: a long list of
        # connections has tens of thousands of values.
        return {
            (k if type(k) is str else to_plain(k, path, convert)): (  # pylint: disable=unidiomatic-typecheck
                v if v is None or type(v) in _SCALARS else to_plain(v, "%s.%s" % (path, k), convert)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [v if v is None or type(v) in _SCALARS else to_plain(v, "%s[%d]" % (path, i), convert) for i, v in enumerate(value)]
    if convert is not None:
        return convert(value, path)
    raise NotPlainError("%s has a value of type %s that cannot be stored" % (path, type(value).__name__))
