# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one result shape that the flows return and the action plugins hand back.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

No Ansible imports: the flows (``_preauth``, ``_revoke``, ``_handover``, ...) build it and unit
tests read it directly; ``_action.PreauthAction`` turns it into the task result.
"""

from __future__ import annotations

import dataclasses
import typing as t


@dataclasses.dataclass
class Outcome:
    """What a flow or an action returns.

    ``result`` holds the return values. ``before``/``after`` are metadata for ``--diff`` (never
    secrets). ``carries_secrets`` hides the whole result from output and logs.
    """

    changed: bool = False
    result: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    msg: str | None = None
    before: dict[str, t.Any] | None = None
    after: dict[str, t.Any] | None = None
    carries_secrets: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)
