# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: authorization_url
short_description: Start a preauthentication - make the authorization URL a person opens to sign in
version_added: 0.1.0
description:
  - First step of preauthenticating a connection with the OAuth2 authorization-code flow. Builds the authorization URL
    (C(response_type=code), client ID, redirect URI, scopes, a fresh 256-bit C(state), PKCE S256 where the platform does
    not refuse it, and the platform's extra parameters such as Exact Online's C(force_login=1)).
  - Stores the pending attempt (state, PKCE verifier, nonce, redirect URI, expiry) in the connection's vault-encrypted token
    store. A new call replaces an older pending attempt. A chain stored earlier is not touched.
  - A person opens RV(url), signs in with two-step verification and allows access; the URL the browser then lands on goes
    to M(preauth.oauth2.code_exchange).
  - Runs on the controller. The run needs the vault secret of the token store (C(--ask-vault-pass) or C(--vault-id)).
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
options:
  pending_ttl:
    description:
      - Seconds the pending attempt stays valid. The platform's code may live shorter (Exact Online 3 minutes after the
        redirect).
      - From V(60) to V(86400) (a day); other values are refused.
    type: int
    default: 900
attributes:
  check_mode:
    support: full
    details:
      - Makes no network call and writes nothing; reports that a new pending attempt would be stored.
  diff_mode:
    support: full
    details:
      - Shows the chain's metadata and the pending attempt's expiry before and after, never a secret.
  idempotent:
    support: none
    details:
      - Every run makes a new attempt with a new C(state), so it always reports a change.
seealso:
  - module: preauth.oauth2.code_exchange
notes:
  - The PKCE verifier never leaves the token store; it is not returned.
"""

EXAMPLES = r"""
- name: Start the preauthentication of an Exact Online connection
  preauth.oauth2.authorization_url:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    redirect_uri: https://relay.example.com/preauth/
    store_dir: /srv/preauth/tokens
  register: auth

- name: Show the URL to the person who signs in
  ansible.builtin.debug:
    msg: "Open {{ auth.url }} and sign in before {{ auth.expires_at }}"

- name: A generic OpenID Connect platform, endpoints from its discovery document
  preauth.oauth2.authorization_url:
    connection: crm
    platform: generic
    issuer: https://login.example.com/realms/crm
    client_id: replicator
    redirect_uri: http://127.0.0.1:8765/callback
    scopes: [openid, offline_access]
"""

RETURN = r"""
url:
  description: The authorization URL to open in a browser. V(null) in check mode.
  returned: success
  type: str
  sample: https://start.exactonline.nl/api/oauth2/auth?response_type=code&client_id=...&state=...
state:
  description: The C(state) value of this attempt (not a secret; the redirect must carry it back).
  returned: success
  type: str
  sample: EXAMPLE-state-not-a-real-value
expires_at:
  description: When the pending attempt expires (UTC, ISO 8601).
  returned: success
  type: str
  sample: "2026-11-28T10:15:00Z"
connection:
  description: The connection name.
  returned: always
  type: str
  sample: acme-nl
platform:
  description: The platform.
  returned: always
  type: str
  sample: exact_online
redirect_uri:
  description: The redirect URI the platform will send the browser to.
  returned: success
  type: str
  sample: https://relay.example.com/preauth/
code_lifetime:
  description: Seconds the platform's authorization code lives, where known.
  returned: success
  type: int
  sample: 180
pkce:
  description: Whether a PKCE challenge was sent.
  returned: success
  type: bool
  sample: true
loopback_redirect:
  description: Whether the platform accepts a loopback redirect URI (V(allowed), V(not_allowed), V(unknown), ...).
  returned: success
  type: str
  sample: not_allowed
"""
