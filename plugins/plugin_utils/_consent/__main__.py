# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``python -m ansible_collections.preauth.oauth2.plugins.plugin_utils._consent``: run the consent service.

This plugin util is PRIVATE to the collection. It can change at any time without notice.
"""

from __future__ import annotations

import sys

from ansible_collections.preauth.oauth2.plugins.plugin_utils._consent.serve import main

if __name__ == "__main__":
    sys.exit(main())
