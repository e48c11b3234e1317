# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The two ways a notification fails: its text cannot be made, or a channel cannot deliver it.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

They are apart on purpose: a ``NotifyError`` is the operator's template or the caller's context
(the same on every run until someone fixes it), a ``ChannelError`` is one delivery (a mail server or
a webhook receiver that said no or could not be reached), which a refresh run reports and survives.
Neither message ever holds a password, a webhook secret or a value of the template's context.
"""

from __future__ import annotations

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError

# ChannelError kinds.
CONFIG = "config"
PERMANENT = "permanent"
TEMPORARY = "temporary"


class NotifyError(PreauthError):
    """A message cannot be rendered: the message names the template file and the reason."""


class ChannelError(PreauthError):
    """A message was not delivered. ``target`` is the channel as a message shows it (``smtp://host:port``,
    a webhook URL without userinfo or query); ``kind`` says whether trying again can help:

    - ``config``: the settings, an address or a URL were refused before anything was sent;
    - ``permanent``: the server refused it (a 5xx reply, an authentication failure, an HTTP 4xx, a
      certificate that does not verify): the same message would be refused again;
    - ``temporary``: every one of ``attempts`` tries met a temporary failure (refused or dropped
      connection, timeout, a 4xx SMTP reply, HTTP 429 or 5xx); a later run may succeed.

    ``status`` is the last HTTP status or SMTP reply code, when there was one.
    """

    def __init__(self, msg: str, target: str, kind: str, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(msg)
        self.target = target
        self.kind = kind
        self.attempts = attempts
        self.status = status
