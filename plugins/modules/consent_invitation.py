# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: consent_invitation
short_description: Invite someone elsewhere to preauthenticate a connection, list and revoke invitations, import what landed
version_added: 0.2.0
description:
  - Makes, lists and revokes consent invitations for a connection. An invitation is a link to the collection's consent
    service; the person who holds the platform account (and its two-step device) opens it, fills in who they are, signs in,
    and the service exchanges the code at once and leaves the tokens sealed (a landing) in the token store.
  - An invitation is for one connection, works once, expires after O(days) days, and can be revoked (O(state=absent)).
    Making a new one for the same connection revokes that connection's open ones ("replaced").
  - The link carries a random token of 256 bits; the store keeps only its SHA-256. The link is returned once, in RV(link),
    by the task that makes the invitation. It is a bearer credential, so the task's result is hidden from output and logs as
    a secret result is (C(no_log)); print RV(link) from the registered result in a task of its own where it is meant to be
    seen (the playbook C(preauth.oauth2.invite) does), and send it to the invitee only.
  - With O(collect=true) (the default), every landing of the connection is imported first. It is opened with the store's landing
    key, checked (for this connection and invitation, the invitation used and not revoked, tokens of this O(client_id)),
    and stored as M(preauth.oauth2.code_exchange) stores a chain - a new generation owned by the controller, with the
    invitee's form fields, time, address and user agent as the audit record. A reconnect keeps the connection's name, history
    and hosts. A landing that does not open or check is kept in the store and reported in RV(landing_failures).
  - With O(smtp) and O(state=present), the new invitation's link is mailed to the invitee's e-mail address (O(invitee.email)),
    as the C(invitation) text of M(preauth.oauth2.notification) says it (O(template_dir) replaces it), and RV(mailed_to) names
    the address; without O(smtp) the link is only returned. A mail that cannot be sent is a warning; the invitation stays, and
    RV(link) holds the link to send by hand.
  - Invitations need the PostgreSQL token store (O(store_url)). With a file store the task fails and says how to move the
    chains with the playbook C(preauth.oauth2.store_migrate).
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.connection
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http
  - preauth.oauth2.connection.identity
  - preauth.oauth2.notify
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.attributes.controller
options:
  state:
    description:
      - V(present) makes a new invitation (and revokes the connection's open ones); V(absent) revokes the open ones; V(list)
        only lists the connection's invitations.
    type: str
    default: present
    choices: [present, absent, list]
  days:
    description:
      - How many days the invitation's link works, from V(1) to V(30).
    type: int
    default: 7
  invitee:
    description:
      - What the consent form shows prefilled; the invitee may change it. Every field is optional.
    type: dict
    suboptions:
      first_name:
        description: First name.
        type: str
      last_name:
        description: Last name.
        type: str
      job_title:
        description: Job title.
        type: str
      email:
        description: Business e-mail address.
        type: str
      company:
        description: Legal company name.
        type: str
      language:
        description: The language of the consent pages, for example V(en) or V(nl).
        type: str
  service_url:
    description:
      - The HTTPS address of the consent service (plain http only to a loopback host); the link is O(service_url)C(/i/<token>).
      - Required if O(state=present).
    type: str
  operator:
    description:
      - Who asks, as the consent page shows it.
    type: dict
    suboptions:
      company:
        description: The operator's company.
        type: str
      contact:
        description: A contact address (e-mail or telephone) for questions.
        type: str
  app_name:
    description:
      - The app's name as the consent page shows it; the O(client_id) when not given.
    type: str
  collect:
    description:
      - Import the connection's landings before anything else.
    type: bool
    default: true
  service_role:
    description:
      - The consent service's database role (made by the database's administrator, C(CREATE ROLE ... LOGIN)). When given, it is
        granted exactly what the service needs - the invitation columns it shows and checks, its sign-ins in progress, writing
        landings, the landing key's public half - and nothing on the chains; a role that has all of it is left as it is.
      - Also makes the store's landing key. Check mode names what would be granted.
    type: str
  mail_language:
    description:
      - The language of the mail (O(smtp)); by default the invitee's O(invitee.language) when it is V(en) or V(nl), else V(en).
    type: str
    choices: [en, nl]
attributes:
  check_mode:
    support: full
    details:
      - Reports the invitation that would be made or revoked and the landings that would be imported; writes nothing.
  diff_mode:
    support: full
    details:
      - Shows the connection's invitations (id, state, expiry, use) before and after, and the chain's metadata when a landing is
        imported; never a token or a link.
  idempotent:
    support: partial
    details:
      - V(absent) and V(list) are idempotent; V(present) makes a new invitation every time.
seealso:
  - module: preauth.oauth2.code_exchange
"""

EXAMPLES = r"""
- name: Give the consent service's database role its rights, once per store (the role exists already)
  preauth.oauth2.consent_invitation:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    store_url: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    service_role: preauth_consent
    state: list

- name: Invite the bookkeeper to preauthenticate acme-nl
  preauth.oauth2.consent_invitation:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    redirect_uri: https://consent.example.com/callback
    store_url: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    service_url: https://consent.example.com
    days: 7
    invitee:
      email: ada.jansen@example.com
      language: nl
    operator:
      company: Example Accountants B.V.
      contact: support@example.com
  register: invitation

- name: Show the link (it works once; send it to the invitee only)
  ansible.builtin.debug:
    msg: "{{ invitation.link }}"

- name: Revoke the open invitation of acme-nl
  preauth.oauth2.consent_invitation:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    store_url: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    state: absent
"""

RETURN = r"""
connection:
  description: The connection name.
  returned: always
  type: str
  sample: acme-nl
link:
  description:
    - The invitation's link, O(service_url)C(/i/<token>); a bearer credential that works once. Returned by the task that made
      the invitation only (never again, and V(null) in check mode); the task's result is hidden as a secret result is.
  returned: O(state=present)
  type: str
  sample: https://consent.example.com/i/FAKE-link-token
mailed_to:
  description: The address the link was mailed to (O(smtp)); V(null) when it was not mailed.
  returned: O(state=present) and O(smtp) given
  type: str
  sample: ada.jansen@example.com
invitation:
  description: The invitation made, as RV(invitations) shows each.
  returned: O(state=present)
  type: dict
  sample: {"id": "6f1c2a8e-0000-4000-8000-000000000000", "state": "open", "expires_at": "2026-12-14T09:00:00Z"}
replaced:
  description: The ids of the open invitations the new one revoked.
  returned: O(state=present)
  type: list
  elements: str
  sample: []
revoked:
  description: The ids of the invitations revoked.
  returned: O(state=absent)
  type: list
  elements: str
  sample: ["6f1c2a8e-0000-4000-8000-000000000000"]
service_role:
  description: What O(service_role) was granted (V([]) when it had its rights already).
  returned: when O(service_role) is given
  type: dict
  sample: {"service_role": "preauth_consent", "granted": ["INSERT ON preauth_oauth2_landing"]}
invitations:
  description:
    - The connection's invitations, oldest first; never a token or its hash.
    - C(state) is V(open), V(used) (consented, not imported yet), V(collected) (imported into the store), V(revoked) or
      V(expired). C(used_by) holds the invitee's form fields.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 6f1c2a8e-0000-4000-8000-000000000000
      state: collected
      created_at: '2026-12-07T09:00:00Z'
      created_by: operator@controller
      expires_at: '2026-12-14T09:00:00Z'
      revoked_at: null
      revoked_by: null
      used_at: '2026-12-08T10:11:12Z'
      used_by: {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada.jansen@example.com", "company": "Example B.V."}
      collected_at: '2026-12-08T10:20:00Z'
      invitee_email: ada.jansen@example.com
collected:
  description: The landings imported (or, in check mode, that would be), each with the invitation, generation, refresh-token
    fingerprint and the audit record.
  returned: when O(collect=true)
  type: list
  elements: dict
  sample: [{"invitation": "6f1c2a8e-0000-4000-8000-000000000000", "generation": 2, "refresh_fingerprint": "3f9a1c0be2d4"}]
landing_failures:
  description: Landings that were not imported and are kept in the store, each with the invitation and the reason.
  returned: when O(collect=true)
  type: list
  elements: dict
  sample: []
"""
