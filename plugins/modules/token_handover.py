# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: token_handover
short_description: Record which host owns a connection's refresh-token chain
version_added: 0.1.0
description:
  - A rotating refresh token (Exact Online, Teamleader, Xero, ...) is a chain with exactly one owner. O(state=host) records
    that the connection's current generation now belongs to O(host) - the product there refreshes it and keeps the rotated
    token, and the collection never refreshes or re-deploys it again. Handing the same generation to a second host is refused
    with a message that says how to get a second chain. A new preauthentication starts a new generation owned by the controller.
  - For a platform that does not rotate refresh tokens (Google, Microsoft Entra ID) the owner stays the controller and the host
    is added to RV(deployed_to); such a chain may go to many hosts. A platform whose rotation is not known is treated as rotating.
  - O(state=controller) returns ownership to the controller. Do this only after the host's product stopped using the chain -
    from then on the collection refreshes it, and a product that still refreshes it would break the chain for both.
  - A connection without a stored chain, whose tokens were revoked, that needs reauthorization, or whose last refresh has an
    unknown outcome cannot be handed over; the message says what to do.
  - The decision is made under the connection's lock after re-reading the store. The result carries metadata only.
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.controller
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http_ignored
options:
  connection:
    description:
      - Name of the connection. It names the token store file C(<store_dir>/<connection>.yml).
    type: str
    required: true
  host:
    description:
      - Inventory name of the host that takes the chain. Required if O(state=host).
      - With O(state=controller), if given, the chain must be owned by this host.
    type: str
  state:
    description:
      - V(host) hands the current generation to O(host); V(controller) returns it to the controller.
    type: str
    choices: [host, controller]
    default: host
attributes:
  check_mode:
    support: full
    details:
      - Makes the same decision, including refusals, and reports it without writing.
  diff_mode:
    support: full
    details:
      - Shows owner, generation and the hosts a non-rotating chain was deployed to, before and after.
  idempotent:
    support: full
seealso:
  - module: preauth.oauth2.token_info
  - module: preauth.oauth2.token_revoke
"""

EXAMPLES = r"""
- name: The product on dwh01 takes over the chain (it refreshes it from now on)
  preauth.oauth2.token_handover:
    connection: acme-nl
    host: "{{ inventory_hostname }}"
    store_dir: /srv/preauth/tokens
  delegate_to: localhost

- name: Return the chain to the controller after the product on dwh01 was stopped
  preauth.oauth2.token_handover:
    connection: acme-nl
    host: dwh01
    state: controller
    store_dir: /srv/preauth/tokens
"""

RETURN = r"""
connection:
  description: The connection name.
  returned: success
  type: str
  sample: acme-nl
owner:
  description: V(controller), or the name of the host that owns the chain.
  returned: success
  type: str
  sample: dwh01
generation:
  description: The generation of the stored chain.
  returned: success
  type: int
  sample: 1
deployed_to:
  description: Hosts a chain of a platform that does not rotate refresh tokens was deployed to; empty for rotating chains.
  returned: success
  type: list
  elements: str
  sample: [dwh01, dwh02]
"""
