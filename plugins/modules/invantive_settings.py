# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: invantive_settings
short_description: Plan and render a host's Invantive settings files from the token store
version_added: 0.1.0
description:
  - Decides which connections of the inventory go to a host, and renders one Invantive settings file per connection
    (C(settings) - C(group) - C(connection) - C(database) with the provider code and a C(connectionString)) from the stored chain
    and the inventory's client secret. Writes nothing - the P(preauth.oauth2.settings#role) role seals the files on the host
    with M(preauth.oauth2.sealed_file) and then hands rotating chains over with M(preauth.oauth2.token_handover).
  - "A connection goes to a host when its entry lists the host in C(hosts), or when O(names) lists it. Per chain ownership:
    a rotating chain owned by the controller is deployed and marked for hand-over; one already owned by this host (same
    generation) is kept - the product there holds the rotated token, so nothing overwrites it; one owned by another host is
    refused with a message that says how to get a second chain. A platform that does not rotate refresh tokens, and an entry
    with C(owner=controller), are deployed with the current tokens every time."
  - The provider code and connection-string keys come from the collection's platform table (Exact Online - C(ExactOnlineAll)
    with C(api-url), C(api-client-id), C(api-client-secret), C(api-redirect-url), C(api-refresh-token)). For platforms whose keys
    Invantive does not document publicly, the entry gives them under C(invantive).
  - A value the C(key=value;) connection string cannot carry - a C(;), surrounding white space, a leading quote, a control
    character - is refused with a message that names the connection and key (never a secret value). XML escaping is complete.
  - Any connection that cannot go to the host fails the task before anything is written, with every reason in one message.
    A chain marked as needing a new preauthentication (for example after Exact Online's C(Old refresh token used.)) is refused
    with a message that names it and says to run C(ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME).
  - On a platform with a minimum time between token calls (Exact Online - 570 seconds), a chain deployed soon after the
    controller's last token call cannot be refreshed at once - RV(files[].refresh_not_before) says from when it can.
  - The data container carries C(userLogonCodeMode=Hidden) and C(passwordMode=Hidden), as every official Invantive
    settings example does.
  - The result carries the files' contents (secrets) and is therefore hidden from output and logs as a whole; RV(summary)
    and RV(files) hold only metadata, for a following M(ansible.builtin.debug).
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.controller
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http_ignored
options:
  connections:
    description:
      - The connection definitions of the inventory, as in C(preauth_connections). Each entry has C(name), C(platform),
        C(client_id), C(client_secret) and the other connection options, and for deployment
      - C(hosts) - the inventory names of the hosts that get the connection;
      - C(owner) - V(handover) (default) or V(controller). V(controller) keeps a rotating chain owned by the controller, which
        refreshes and redeploys it (only for products that never refresh the token themselves);
      - "C(invantive) - optional: C(group) (default: the platform's title), C(alias) (default C(eol) for Exact Online, else the
        platform name), C(provider), C(keys) (connection-string key per role: C(url), C(client_id), C(client_secret),
        C(redirect_url), C(refresh_token)), C(extra) (more C(key: value) pairs for the connection string, not secret) and
        C(order) (default 10)."
    type: list
    elements: dict
    required: true
  host:
    description:
      - The inventory name of the host the files are for. Defaults to the task's C(inventory_hostname).
    type: str
  names:
    description:
      - More connections for this host, by name, for inventories that list a host's connections in a host variable.
    type: list
    elements: str
    default: []
  claims:
    description:
      - Connection name to the hosts that list it by name (in their C(preauth_settings_connections)), for every host of the play.
        Together with the entries' C(hosts) it tells whether a rotating chain is given to more than one host - which is refused
        for all of them, since a rotating refresh token lives in one place. The P(preauth.oauth2.settings#role) role fills it in.
    type: dict
    default: {}
  only:
    description:
      - Of the host's connections, plan only these (by name). Default - all of them.
    type: list
    elements: str
  redeploy_only:
    description:
      - Deploy only chains that stay owned by the controller - platforms that do not rotate refresh tokens, and entries with
        C(owner=controller). Rotating chains that would be handed over are reported as V(skip). For redeployment after a
        refresh (C(ansible-playbook preauth.oauth2.refresh)); the first deployment of a rotating chain is the job of
        C(ansible-playbook preauth.oauth2.deploy).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Reads the store as always; it never writes.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Never changes anything.
notes:
  - The settings-file format and connection-string keys follow Invantive's public documentation; see
    R(the deployment guide,ansible_collections.preauth.oauth2.docsite.deploy) for what is confirmed and what is not.
seealso:
  - module: preauth.oauth2.sealed_file
  - module: preauth.oauth2.token_handover
  - module: preauth.oauth2.token_info
"""

EXAMPLES = r"""
- name: Plan the settings files of this host
  preauth.oauth2.invantive_settings:
    connections: "{{ preauth_connections }}"
    store_dir: /srv/preauth/tokens
  register: preauth_plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ preauth_plan.summary }}"

- name: Seal each settings file on the host
  preauth.oauth2.sealed_file:
    path: "/home/invantive/invantive/{{ preauth_plan.files | selectattr('connection', 'eq', item) | map(attribute='file') | first }}.sealed"
    content: "{{ preauth_plan.contents[item] }}"
    owner: invantive
    mode: "0600"
  loop: "{{ preauth_plan.contents.keys() | list }}"
  become: true
"""

RETURN = r"""
host:
  description: The host the plan is for.
  returned: success
  type: str
  sample: dwh01
files:
  description: One entry per connection of the host, in inventory order.
  returned: success
  type: list
  elements: dict
  sample:
    - connection: acme-nl
      file: settings-acme-nl.xml
      action: deploy
      handover: true
      msg: connection acme-nl generation 1 is deployed and then handed over to host dwh01
      generation: 1
      owner: controller
      rotating: true
      refresh_fingerprint: 3f9a1c0be2d4
      refresh_not_before: '2026-12-07T14:50:29Z'
      content_sha256: 8c41d07be95a
  contains:
    connection:
      description: The connection name.
      type: str
      sample: acme-nl
    file:
      description: The settings file name, C(settings-<connection>.xml).
      type: str
      sample: settings-acme-nl.xml
    action:
      description: V(deploy) - write the file; V(keep) - the host owns this generation, leave its file alone; V(skip) - not with
        O(redeploy_only).
      type: str
      sample: deploy
    handover:
      description: Whether M(preauth.oauth2.token_handover) should record the host once the file is written.
      type: bool
      sample: true
    msg:
      description: Why, in words.
      type: str
      sample: connection acme-nl generation 1 is deployed and then handed over to host dwh01
    generation:
      description: The chain's generation.
      type: int
      sample: 1
    owner:
      description: The chain's owner now - V(controller) or a host.
      type: str
      sample: controller
    rotating:
      description: Whether the platform rotates refresh tokens (unknown counts as rotating).
      type: bool
      sample: true
    refresh_fingerprint:
      description: First 12 hex digits of the SHA-256 of the refresh token that goes into the file.
      type: str
      sample: 3f9a1c0be2d4
    content_sha256:
      description: First 12 hex digits of the SHA-256 of the file content; V(null) for V(keep).
      type: str
      sample: 8c41d07be95a
    refresh_not_before:
      description:
        - For V(deploy) on a platform with a minimum time between token calls (Exact Online - 570 seconds), the UTC time from
          which the platform accepts a refresh of the deployed chain - the controller's last token call plus that interval.
          The product on the host must not refresh it earlier; RV(files[].msg) says so while that time is ahead.
        - V(null) for other platforms, for V(keep) and V(skip), and when the time of the last token call is not known.
      type: str
      sample: "2027-01-15T08:09:30Z"
contents:
  description: The settings XML per connection to deploy. Secret - the whole result is hidden because of it.
  returned: success
  type: dict
  sample:
    acme-nl: |
      <?xml version="1.0" encoding="utf-8"?>
      <settings forcedefault="false">
        <group name="Exact Online">...</group>
      </settings>
runner_notes:
  description:
    - Per connection to deploy that has a RV(files[].refresh_not_before), the note the runner C(preauth-run) reads beside the
      sealed file (C(settings-<connection>.not-before)) - that time as epoch seconds and the platform's interval. No secret.
  returned: success
  type: dict
  sample: {acme-nl: "# preauth.oauth2: ...\nnot_before=1800000570\ninterval=570\n"}
summary:
  description: One line per connection - name, action and reason.
  returned: success
  type: list
  elements: str
  sample: ["acme-nl: deploy - connection acme-nl generation 1 is deployed and then handed over to host dwh01"]
counts:
  description: How many files to deploy, keep and skip.
  returned: success
  type: dict
  sample: {deploy: 2, keep: 1, skip: 0}
"""
