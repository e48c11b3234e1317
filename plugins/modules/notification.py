# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: notification
short_description: Tell the people who own a connection when its chain is dying, dead or working again
version_added: 0.3.0
description:
  - Decides each connection's state from the token store and sends one message per change of state, by e-mail (SMTP) and
    signed webhooks, to the person who consented last and the addresses the inventory names. The store remembers what was
    sent, so a re-run, a restart or a second controller on the same PostgreSQL store sends nothing twice.
  - The states, the first that holds - V(dead) the platform refused the chain (a person has to consent again); V(expiring)
    the refresh token expires within O(expiring_days) days and nothing renews it (the refreshes fail, the platform's
    lifetime is absolute, or a host keeps the chain and has not used it successfully for so long, by its health record in
    O(health), that the platform's idle lifetime runs out); V(failing) refreshes failed in O(failing_runs) runs in a row
    without the platform calling the chain dead. A chain that was one of those and works again gets a V(recovered) message
    (only when the bad news was delivered).
  - For V(dead) and V(expiring), when O(consent_service_url) is set and the store is the PostgreSQL store, the message carries
    a fresh invitation link (made as M(preauth.oauth2.consent_invitation) makes one, with the person who consented last as
    the invitee; it replaces that connection's open invitation). The link goes into the e-mail only, never into the task's
    result or a webhook.
  - A message that could not be delivered to a recipient or a webhook is reported as a warning and tried again by the next
    runs, for at most five runs; a failing channel never fails the task.
  - Give O(smtp), O(webhooks) or both; a task without either fails before it reads the store.
  - Messages hold no secret. English and Dutch texts are shipped; O(template_dir) replaces them.
  - The playbooks C(preauth.oauth2.refresh) and C(preauth.oauth2.status) run this module after their work when the inventory
    sets C(preauth_notify).
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http
  - preauth.oauth2.notify
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.attributes.controller
options:
  connections:
    description:
      - The connections to watch, as the inventory's C(preauth_connections) lists them (C(name), C(platform), C(country), and
        for invitations the keys M(preauth.oauth2.consent_invitation) takes, C(app_name) among them). A C(client_secret) is never read;
        leave it out.
      - Per connection, C(notify_email) (an address or a list of them) adds recipients, and C(notify_language) (V(en) or V(nl))
        chooses the language of its messages.
    type: list
    elements: dict
    required: true
  email:
    description:
      - Addresses that get the messages of every connection.
    type: list
    elements: str
    default: []
  groups:
    description:
      - Addresses for groups of connections, by name patterns (C(fnmatch), for example V(acme-*)).
    type: list
    elements: dict
    default: []
    suboptions:
      connections:
        description: Name patterns of the group's connections.
        type: list
        elements: str
        required: true
      email:
        description: The group's addresses.
        type: list
        elements: str
        required: true
  notify_consenter:
    description:
      - Also send each connection's messages to the person who consented last (the e-mail address of the store's audit record).
    type: bool
    default: true
  language:
    description:
      - The language of the messages of connections without C(notify_language).
    type: str
    default: en
    choices: [en, nl]
  webhooks:
    description:
      - Receivers of a JSON POST per message, signed as the Standard Webhooks specification describes (headers C(webhook-id),
        C(webhook-timestamp), C(webhook-signature)). A retried message keeps its C(webhook-id). The JSON has C(type)
        (C(connection.dead), ...), C(timestamp), C(id) and C(data) (the connection, platform, country, state, reason, times);
        no link and no secret.
    type: list
    elements: dict
    default: []
    suboptions:
      url:
        description: The receiver's HTTPS address (plain http only to a loopback address).
        type: str
        required: true
      secret:
        description: The signing secret, C(whsec_) and base64 of at least 24 random bytes; keep it in ansible-vault.
        type: str
        required: true
      name:
        description: How results name the receiver; by default its host (never its path or query, which may hold a secret).
        type: str
  expiring_days:
    description:
      - How many days before a refresh token expires a connection counts as V(expiring).
    type: int
    default: 7
  failing_runs:
    description:
      - How many runs in a row with a failed refresh make a connection V(failing).
    type: int
    default: 3
  remind_days:
    description:
      - Send the message of an unresolved state again after this many days; V(0) never.
    type: int
    default: 0
  consent_service_url:
    description:
      - The HTTPS address of the consent service. With the PostgreSQL store, V(dead) and V(expiring) messages carry a fresh
        invitation link for the connection.
    type: str
  operator:
    description:
      - Who the messages come from, as they name it.
    type: dict
    default: {}
    suboptions:
      company:
        description: The operator's company.
        type: str
      contact:
        description: A contact address for questions.
        type: str
  invitation_days:
    description:
      - How many days the invitation link of a message works, from V(1) to V(30).
    type: int
    default: 7
  health:
    description:
      - The health records of the hosts that keep chains alive, as the playbook C(preauth.oauth2.status) gathers them with
        C(preauth_status_hosts) (C(connection), C(host), C(last_success_at)); a host-owned chain is judged V(expiring) only
        from these.
    type: list
    elements: dict
    default: []
notes:
  - Once per change of state is kept by a claim in the store under the connection's lock before sending and a record of the
    deliveries after. A controller that dies while sending leaves a claim that the next run takes over after 15 minutes, so
    such a crash can repeat a message (a webhook with the same C(webhook-id)), never lose it.
attributes:
  check_mode:
    support: full
    details:
      - Sends and writes nothing; the result lists the messages that would be sent, with their recipients and subjects.
  diff_mode:
    support: full
    details:
      - Shows each connection's state and last event before and after, and the message that would be sent.
  idempotent:
    support: full
    details:
      - A second run sends nothing, unless a delivery failed (it is tried again) or a reminder is due.
seealso:
  - module: preauth.oauth2.consent_invitation
  - module: preauth.oauth2.token_refresh
"""

EXAMPLES = r"""
- name: Tell the owners of the inventory's connections about chains that die, expire, fail or recover
  preauth.oauth2.notification:
    connections: "{{ preauth_connections | map('dict2items') | map('rejectattr', 'key', 'equalto', 'client_secret') | map('items2dict') | list }}"
    store_dir: /srv/preauth/tokens
    email: [data-team@example.com]
    groups:
      - connections: ["acme-*"]
        email: [acme-desk@example.com]
    language: nl
    smtp:
      host: smtp.example.com
      port: 587
      security: starttls
      username: preauth
      password: "{{ vault_smtp_password }}"
      sender: preauth@example.com
    webhooks:
      - url: https://hooks.example.com/preauth
        secret: "{{ vault_webhook_secret }}"
        name: ticketing
  register: told

- name: Show what was sent
  ansible.builtin.debug:
    msg: "{{ told.msg }}"
"""

RETURN = r"""
notices:
  description:
    - One item per connection that had something to tell (or, in check mode, would have), with C(connection), C(event)
      (V(dead), V(expiring), V(failing), V(recovered)), C(reminder), C(status) (V(sent), V(partly sent), V(failed),
      V(given up), V(quiet) - a state written without a message, V(would send)), C(message_id), C(delivered) (the
      addresses and webhook names reached) and C(failed) (each with C(to) and C(error)). In check mode C(to) and C(subject)
      say what would be sent. Never a link or a secret.
  returned: always
  type: list
  elements: dict
  sample:
    - connection: acme-nl
      event: dead
      reminder: false
      status: sent
      message_id: msg_0f3c9a8e5d0b4c21a7e6f1d2c3b4a596
      delivered: [ada.jansen@example.com, "ticketing#1a2b3c4d"]
      failed: []
counts:
  description: How many notices had each status.
  returned: always
  type: dict
  sample: {"sent": 1, "partly sent": 0, "failed": 0, "given up": 0, "quiet": 0, "would send": 0}
watched:
  description: How many connections were looked at.
  returned: always
  type: int
  sample: 12
"""
