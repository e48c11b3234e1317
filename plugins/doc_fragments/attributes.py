# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Attribute descriptions shared by the collection's modules; each module states its support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
  idempotent:
    description: Running the module again with the same arguments changes nothing more.
"""

    ACTIONGROUP_OAUTH2 = r"""
options: {}
attributes:
  action_group:
    description: >-
      Use C(group/preauth.oauth2.oauth2) in C(module_defaults) to set defaults for this module. The group holds every action
      that uses the token store. Every member takes the store options O(store_dir), O(store_url) and O(vault_id) and the HTTP
      options O(validate_certs), O(ca_path) and O(timeout), so set those for the group (a member that calls no platform
      ignores the HTTP ones); set other options in the C(module_defaults) of the modules that take them.
    support: full
    membership:
      - preauth.oauth2.oauth2
"""

    CONTROLLER = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
    details:
      - This action runs on the controller, where the vault secrets and the token store are.
"""
