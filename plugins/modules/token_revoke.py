# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: token_revoke
short_description: Revoke a connection's refresh-token chain and remove its tokens from the store
version_added: 0.1.0
description:
  - Where the platform has an RFC 7009 revocation endpoint, sends the stored refresh token there (C(token_type_hint=refresh_token))
    with client authentication as at the token endpoint, then removes the tokens from the connection's store. The endpoint is the
    one stored with the chain, else the platform's (or O(endpoints.revocation), or the issuer's discovery document).
  - Where the platform has none (Exact Online, Teamleader), removes the tokens and says where a person revokes the app's access
    by hand - Exact Online C(My Exact Online > Security center > Revoke); Teamleader by uninstalling the integration in the
    Marketplace.
  - The store keeps the generation, the audit record of who preauthenticated the chain and the history, with a C(revoked) event;
    the owner becomes the controller again.
  - If the revocation endpoint refuses the request, the task fails and the tokens stay in the store.
  - The request is sent while the connection's lock is held, so no refresh can rotate the token in between.
  - A chain handed over to a host can be revoked; a warning says that the product on that host stops working.
  - The options must name the app that obtained the chain (same platform and client ID), otherwise the task is refused -
    a platform silently ignores a revocation by another app.
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.connection
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http
  - preauth.oauth2.connection.identity
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.attributes.controller
notes:
  - O(client_secret) is needed when the platform has a revocation endpoint.
attributes:
  check_mode:
    support: full
    details:
      - Makes no network call and writes nothing; reports what would be revoked and where.
  diff_mode:
    support: full
    details:
      - Shows generation, owner, refresh-token fingerprint and expiry before and after; never a token.
  idempotent:
    support: full
    details:
      - A connection whose tokens were already removed is reported unchanged.
seealso:
  - module: preauth.oauth2.token_info
  - module: preauth.oauth2.token_handover
  - name: RFC 7009 - OAuth 2.0 Token Revocation
    description: The revocation request this module sends.
    link: https://www.rfc-editor.org/rfc/rfc7009
"""

EXAMPLES = r"""
- name: Revoke a chain at the platform and remove it from the store
  preauth.oauth2.token_revoke:
    connection: crm
    platform: generic
    issuer: https://login.example.com/realms/crm
    client_id: replicator
    client_secret: "{{ vault_crm_client_secret }}"
    store_dir: /srv/preauth/tokens
  register: preauth_revoked

- name: Exact Online has no revocation endpoint - remove the tokens and tell the person what to do
  preauth.oauth2.token_revoke:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    store_dir: /srv/preauth/tokens
  register: preauth_revoked

- name: Show where to revoke by hand
  ansible.builtin.debug:
    msg: "Revoke the app's access by hand: {{ preauth_revoked.manual_revocation }}"
  when: preauth_revoked.manual_revocation is not none
"""

RETURN = r"""
connection:
  description: The connection name.
  returned: success
  type: str
  sample: acme-nl
platform:
  description: The platform.
  returned: success
  type: str
  sample: exact_online
generation:
  description: The generation of the revoked chain; it stays in the store.
  returned: success
  type: int
  sample: 1
revoked_at_platform:
  description:
    - Whether the refresh token was (or in check mode would be) revoked at the platform's revocation endpoint.
    - V(null) in check mode when the endpoint can only be known from the issuer's discovery document.
  returned: success
  type: bool
  sample: false
revocation_url:
  description: The revocation endpoint used, V(null) when the platform has none.
  returned: success
  type: str
  sample: https://login.example.com/realms/crm/protocol/openid-connect/revoke
manual_revocation:
  description: Where a person revokes the app's access by hand, when the platform has no revocation endpoint.
  returned: success
  type: str
  sample: My Exact Online → Security center → Revoke (next to the app)
"""
