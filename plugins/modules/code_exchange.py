# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: code_exchange
short_description: Complete a preauthentication - exchange the code and store the refresh-token chain
version_added: 0.1.0
description:
  - Second step of preauthenticating a connection. Takes what the browser brought back after the person signed in (the
    landed URL as pasted, or O(code) and O(state), or a one-shot loopback listener), checks it against the pending attempt
    stored by M(preauth.oauth2.authorization_url) (state compared in constant time, attempt not expired, same redirect
    URI), decodes the code exactly once and exchanges it at the token endpoint.
  - Only after a successful exchange with a refresh token the connection's store gets the new chain - a new generation
    owned by the controller, token expiry times computed from local receipt, and an audit record of who preauthenticated
    it (O(preauthenticated_by), time, controller user and host). Any failure before that leaves the stored chain as it was.
  - Fails when no refresh token comes back, with the platform's hint (for example the C(offline_access) scope and consent).
  - Results carry metadata only, such as a short SHA-256 fingerprint of the refresh token; never a token.
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
  redirect_url:
    description:
      - The full URL the browser landed on after signing in, as pasted (with C(code) and C(state) in its query).
      - Pasting the authorization URL itself, a URL with C(error=access_denied), or a URL for another redirect URI fails with
        a message that says what to do.
      - Mutually exclusive with O(code) and O(listen). One of O(redirect_url), O(code) or O(listen) is required.
    type: str
  code:
    description:
      - The authorization code, already URL-decoded, when it arrives without the landed URL.
      - Required together with O(state). Mutually exclusive with O(redirect_url) and O(listen). One of O(redirect_url), O(code)
        or O(listen) is required.
    type: str
  state:
    description:
      - The C(state) that came back with O(code). Required together with O(code).
    type: str
  listen:
    description:
      - Listen on the loopback redirect URI (for example V(http://127.0.0.1:8765/callback)) for the browser's redirect and
        answer it with a small "you may close this window" page. Only for platforms that allow loopback redirect URIs.
      - Requests that do not carry this attempt's C(state), and requests for other paths, are answered with an error page and
        ignored; the listener keeps waiting until O(listen_timeout), for at most 100 requests.
      - Mutually exclusive with O(redirect_url) and O(code). One of O(redirect_url), O(code) or O(listen) is required.
      - Default V(false).
    type: bool
  listen_timeout:
    description:
      - Seconds to wait for the browser when O(listen=true), from V(1) to V(3600).
    type: int
    default: 300
  verify:
    description:
      - Call the platform's "who am I" endpoint (Exact Online C(/api/v1/current/Me)) with the new access token, after the chain
        is stored, and return who it belongs to.
    type: bool
    default: false
  preauthenticated_by:
    description:
      - Who signs in, for the audit record in the store. All fields are required.
    type: dict
    required: true
    suboptions:
      first_name:
        description: First name.
        type: str
        required: true
      last_name:
        description: Last name.
        type: str
        required: true
      job_title:
        description: Job title.
        type: str
        required: true
      email:
        description: Business e-mail address.
        type: str
        required: true
      company:
        description: Legal company name.
        type: str
        required: true
attributes:
  check_mode:
    support: full
    details:
      - Checks the input against the pending attempt without any network call or write, and reports that the code would be
        exchanged.
  diff_mode:
    support: full
    details:
      - Shows generation, owner, refresh-token fingerprint and expiry before and after; never a token.
  idempotent:
    support: none
    details:
      - An authorization code works once; a second run with the same input fails because the pending attempt is gone.
seealso:
  - module: preauth.oauth2.authorization_url
"""

EXAMPLES = r"""
- name: Exchange the code from the URL the browser landed on
  preauth.oauth2.code_exchange:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    client_secret: "{{ vault_acme_client_secret }}"
    redirect_uri: https://relay.example.com/preauth/
    redirect_url: "{{ landed_url }}"
    verify: true
    preauthenticated_by:
      first_name: Ada
      last_name: Jansen
      job_title: Controller
      email: ada.jansen@example.com
      company: Example Accountants B.V.
  no_log: true  # the client secret and the landed URL (it holds the code) are secrets

- name: Catch the redirect on a loopback listener
  preauth.oauth2.code_exchange:
    connection: crm
    platform: generic
    issuer: https://login.example.com/realms/crm
    client_id: replicator
    client_secret: "{{ vault_crm_client_secret }}"
    redirect_uri: http://127.0.0.1:8765/callback
    listen: true
    preauthenticated_by: "{{ preauth_contact }}"
"""

RETURN = r"""
connection:
  description: The connection name.
  returned: always
  type: str
  sample: acme-nl
platform:
  description: The platform.
  returned: success
  type: str
  sample: exact_online
generation:
  description: The stored chain's generation; every preauthentication adds one.
  returned: success
  type: int
  sample: 1
scopes:
  description: Scopes granted (or requested, when the platform does not say).
  returned: success and not check mode
  type: list
  elements: str
  sample: ["openid", "offline_access"]
access_expires_at:
  description: When the access token expires (UTC, ISO 8601), from the local time of receipt.
  returned: success and not check mode
  type: str
  sample: '2026-12-07T14:50:59Z'
refresh_expires_at:
  description: Estimated expiry of the refresh token (UTC, ISO 8601) where the platform's lifetime is known, else V(null).
  returned: success and not check mode
  type: str
  sample: '2027-01-06T14:40:59Z'
refresh_fingerprint:
  description: First 12 hex digits of the SHA-256 of the refresh token, to tell chains apart without showing them.
  returned: success and not check mode
  type: str
  sample: 3f9a1c0be2d4
store:
  description: Path of the connection's token store file.
  returned: success and not check mode
  type: str
  sample: /srv/preauth/tokens/acme-nl.yml
verified:
  description: Whether O(verify) called the platform's API successfully with the new access token.
  returned: success and not check mode
  type: bool
  sample: true
verified_as:
  description: Who the access token belongs to, as the platform's API says (user name, full name, division).
  returned: when O(verify=true) and it succeeded
  type: dict
  sample: {"UserName": "ada.jansen@example.com", "FullName": "Ada Jansen", "CurrentDivision": 123456}
"""
