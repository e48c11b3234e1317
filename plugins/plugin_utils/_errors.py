# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The exception family that helpers raise for expected failures.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A message says what happened, for which connection, and what to do next. It never contains a
secret: action plugins show it as is.
"""

from __future__ import annotations

import typing as t


class PreauthError(Exception):
    """An expected failure with a message for the user and optional metadata for the result.

    ``connection`` is the connection that the message names (at its start); without it an action
    names the task's connection in front of the message. It is positional, so that a result's
    ``connection`` key can still be one of the ``details``.
    """

    def __init__(self, msg: str, connection: str | None = None, /, **details: t.Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.connection = connection
        self.details = details

    def __str__(self) -> str:
        return self.msg


class StoreError(PreauthError):
    """The store cannot be read or written; the message names the file and the next step."""


def preauthenticate_command(connection: str) -> str:
    """The command that preauthenticates a connection, as a user of the installed collection runs it."""
    return "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=%s" % connection


def preauthenticate_hint(connection: str) -> str:
    """What to do when only a new preauthentication brings a connection's chain (back): the playbook, with its name."""
    return "run %s" % preauthenticate_command(connection)
