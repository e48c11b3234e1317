# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: token_info
short_description: Report on stored refresh-token chains, optionally as a Prometheus textfile
version_added: 0.1.0
description:
  - Reads the token store of one connection, of several, or of every connection that has a store file in O(store_dir), and
    returns for each its platform, owner, generation, who preauthenticated it and when, access and refresh token expiry, days
    left, last refresh, last error and whether it needs reauthorization. The list is sorted by days left, fewest first.
  - Read-only - the store is never written and no platform is called.
  - With O(return_secrets=true) each entry also carries the tokens and the app's client ID and endpoints, and the whole result
    is hidden from output and logs (C(no_log)). This is how a deploy role gets the credentials.
  - A chain handed over to a host with M(preauth.oauth2.token_handover) is kept alive by that host, which refreshes it
    itself. The store only knows the token times of the controller's last token call before the hand-over, so for such a
    chain RV(connections[].refresh_expires_at), RV(connections[].days_left) and RV(connections[].access_expires_at) are
    V(null), and RV(connections[].owner) and RV(connections[].owner_since) say which host keeps it alive since when.
  - With O(expected) (the names of the inventory's connections) it also compares the store with the inventory - see
    RV(missing) and RV(unexpected). RV(store_exists) tells whether the store directory exists at all.
  - A record that this run cannot read (written with another vault password, damaged ciphertext, not a store of that
    connection) does not fail the report - it is returned in RV(unreadable) with the store's reason (which never holds a
    secret), said in a warning, and written to O(prometheus_file) as C(preauth_record_unreadable) V(1); every other
    connection is reported as usual. With O(return_secrets=true) such a record fails the task instead.
  - With O(prometheus_file) it writes the metrics C(preauth_refresh_token_expiry_timestamp_seconds),
    C(preauth_reauthorization_required), C(preauth_last_refresh_timestamp_seconds), C(preauth_chain_present) and
    C(preauth_handed_over_timestamp_seconds) and C(preauth_record_unreadable), each with the labels C(connection), C(platform) and C(owner) (V(controller)
    or the host's name), for node_exporter's textfile collector, so an alert fires before a chain dies. The expiry and the
    last refresh are written only for chains the controller keeps alive, the hand-over time only for chains a host keeps
    alive. A connection of O(expected) without a chain is written as C(preauth_chain_present) V(0) with empty
    C(platform) and C(owner) labels. The file holds no secret and no time-dependent value; it is replaced atomically, and
    only when its content changes. Example alert rules are in
    R(the monitoring guide,ansible_collections.preauth.oauth2.docsite.monitoring).
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
      - Report on this connection only. It must have a store file; a connection without one fails with a message that says
        how to create it (run C(ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME) for it).
      - Without O(connection) and O(connections), every store file in O(store_dir) is reported.
      - Mutually exclusive with O(connections) and O(expected).
    type: str
  connections:
    description:
      - Report on these connections. Each must have a store file.
      - Mutually exclusive with O(connection) and O(expected).
    type: list
    elements: str
  expected:
    description:
      - The names of the connections that should have a chain, usually those of the inventory's C(preauth_connections).
      - Every store file in O(store_dir) is reported, as without O(connection). A name without a store file does not fail
        the task; it is returned in RV(missing) (and written to O(prometheus_file) as a chain that is not present), and a
        store file of a connection not named here is returned in RV(unexpected). C(ansible-playbook preauth.oauth2.status) sets this and
        fails after showing its table when RV(missing) is not empty.
      - Mutually exclusive with O(connection) and O(connections).
    type: list
    elements: str
  return_secrets:
    description:
      - Add C(access_token), C(refresh_token), C(client_id), C(token_url), C(base_url) and C(redirect_uri) to every entry of
        RV(connections), and hide the whole result from output and logs.
      - The client secret is never in the store, so it is never returned.
      - A record that cannot be read then fails the task (the result would lack a connection that was asked for), rather
        than being returned in RV(unreadable).
    type: bool
    default: false
  prometheus_file:
    description:
      - Write the metrics of the reported connections to this file, in the Prometheus text format, for node_exporter's
        textfile collector (in its C(--collector.textfile.directory); node_exporter reads only files whose name ends in C(.prom)).
      - Written through a temporary file in the same directory and renamed, with mode 0644; the directory must exist.
        Reported as changed only when the content changed.
      - When the content is unchanged, only the file's modification time is set to now (not in check mode), so that
        node_exporter's C(node_textfile_mtime_seconds) tells an alert when the reports stopped.
    type: path
attributes:
  check_mode:
    support: full
    details:
      - Reads the store as always; reports whether O(prometheus_file) would change without writing it.
  diff_mode:
    support: full
    details:
      - Shows the metric lines of O(prometheus_file) before and after when it changes; they hold no secret.
  idempotent:
    support: full
    details:
      - The store is never written, and O(prometheus_file) is rewritten only when the chains changed (its modification time is
        updated on every run).
seealso:
  - module: preauth.oauth2.token_handover
  - module: preauth.oauth2.token_revoke
  - name: node_exporter textfile collector
    description: How node_exporter reads C(*.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
"""

EXAMPLES = r"""
- name: Report on every connection in the store
  preauth.oauth2.token_info:
    store_dir: /srv/preauth/tokens
  register: preauth_info

- name: Warn about chains that die within a week
  ansible.builtin.debug:
    msg: "{{ item.connection }}: {{ item.days_left }} days left (refresh token expires {{ item.refresh_expires_at }})"
  loop: "{{ preauth_info.connections | selectattr('days_left', 'ne', none) | selectattr('days_left', 'lt', 7) }}"
  loop_control:
    label: "{{ item.connection }}"

- name: Write metrics for node_exporter, with a series for every connection of the inventory that has no chain
  preauth.oauth2.token_info:
    store_dir: /srv/preauth/tokens
    expected: "{{ preauth_connections | map(attribute='name') | list }}"
    prometheus_file: /var/lib/prometheus/node-exporter/preauth.prom

- name: Get the credentials of one connection for a deployment
  preauth.oauth2.token_info:
    connection: acme-nl
    store_dir: /srv/preauth/tokens
    return_secrets: true
  register: preauth_credentials
  no_log: true
"""

RETURN = r"""
invitations:
  description:
    - With the PostgreSQL store, per connection that has consent invitations (see M(preauth.oauth2.consent_invitation)) - C(open)
      (how many are open), C(open_until) (the latest expiry of an open one), C(waiting) (consents whose landing was not imported
      yet; M(preauth.oauth2.token_refresh) and M(preauth.oauth2.consent_invitation) import them) and C(last_consent) (when, which
      invitation, and the name, e-mail and company the invitee gave).
  returned: with the PostgreSQL store
  type: dict
  sample:
    acme-nl:
      open: 0
      open_until: null
      waiting: 0
      last_consent: {"at": "2026-12-08T10:11:12Z", "invitation": "6f1c2a8e-0000-4000-8000-000000000000", "first_name": "Bea",
                     "last_name": "Boekhouder", "email": "bea@client.example.com", "company": "Client B.V."}
connections:
  description:
    - One entry per connection, sorted by RV(connections[].days_left), fewest first; connections whose refresh-token expiry
      is unknown come last.
  returned: success
  type: list
  elements: dict
  sample:
    - connection: acme-nl
      platform: exact_online
      owner: controller
      owner_since: '2026-12-07T14:40:59Z'
      generation: 1
      deployed_to: []
      has_tokens: true
      refresh_fingerprint: 3f9a1c0be2d4
      preauthenticated_by:
        name: Ada Jansen
        email: ada.jansen@example.com
        company: Example Accountants B.V.
        at: '2026-12-07T14:40:59Z'
      access_expires_at: '2026-12-07T14:50:59Z'
      refresh_expires_at: '2027-01-06T14:40:59Z'
      days_left: 29.6
      last_refresh_at: '2026-12-07T16:02:11Z'
      last_error: null
      reauthorization_required: false
      reauthorization_reason: null
      reauthorization_since: null
      in_flight: false
      unreadable: false
      moved_to: null
      timestamps:
        access_expires_at: 1796655059.1
        refresh_expires_at: 1799246459.1
        last_refresh_at: 1796659331.4
        preauthenticated_at: 1796654459.1
        owner_since: 1796654459.1
  contains:
    connection:
      description: The connection name.
      type: str
      sample: acme-nl
    platform:
      description: The platform of the stored chain.
      type: str
      sample: exact_online
    owner:
      description:
        - V(controller), or the name of the host the chain was handed over to with M(preauth.oauth2.token_handover); that host
          keeps the chain alive.
      type: str
      sample: controller
    owner_since:
      description: Since when the owner owns the chain (UTC, ISO 8601); for a host, when the chain was handed over.
      type: str
      sample: '2026-12-07T14:40:59Z'
    generation:
      description: The chain's generation; every preauthentication adds one.
      type: int
      sample: 1
    deployed_to:
      description: Hosts a chain of a platform that does not rotate refresh tokens was deployed to.
      type: list
      elements: str
      sample: ["dwh01", "dwh02"]
    has_tokens:
      description: Whether the store holds tokens; V(false) after M(preauth.oauth2.token_revoke).
      type: bool
      sample: true
    refresh_fingerprint:
      description: First 12 hex digits of the SHA-256 of the refresh token.
      type: str
      sample: 3f9a1c0be2d4
    preauthenticated_by:
      description: Who preauthenticated the current generation, and when.
      type: dict
      sample:
        name: Ada Jansen
        email: ada.jansen@example.com
        company: Example Accountants B.V.
        at: '2026-12-07T14:40:59Z'
      contains:
        name:
          description: First and last name.
          type: str
          sample: Ada Jansen
        email:
          description: Business e-mail address.
          type: str
          sample: ada.jansen@example.com
        company:
          description: Legal company name.
          type: str
          sample: Example Accountants B.V.
        at:
          description: When (UTC, ISO 8601).
          type: str
          sample: '2026-12-07T14:40:59Z'
    access_expires_at:
      description: When the access token expires (UTC, ISO 8601); V(null) for a chain a host keeps alive.
      type: str
      sample: '2026-12-07T14:50:59Z'
    refresh_expires_at:
      description:
        - Estimated expiry of the refresh token (UTC, ISO 8601).
        - V(null) when the platform's lifetime is unknown, and for a chain a host keeps alive (the host's refreshes move it).
      type: str
      sample: '2027-01-06T14:40:59Z'
    days_left:
      description: Days until RV(connections[].refresh_expires_at), one decimal; negative when past; V(null) when unknown.
      type: float
      sample: 29.6
    last_refresh_at:
      description:
        - The controller's last successful refresh (UTC, ISO 8601), V(null) when never refreshed.
        - For a chain a host keeps alive, the last refresh before the hand-over.
      type: str
      sample: '2026-12-07T16:02:11Z'
    last_error:
      description: The last refresh error, with C(at), C(kind) and C(message); V(null) when the last refresh worked.
      type: dict
      sample: {"at": "2026-12-06T03:00:12Z", "kind": "timeout", "message": "no answer from the token endpoint within 30 s"}
    reauthorization_required:
      description: Whether the chain no longer works and a person has to preauthenticate it again.
      type: bool
      sample: false
    reauthorization_reason:
      description:
        - Why reauthorization is required, with the platform's answer (for a refresh token that was already used, Exact Online
          answers HTTP 401 C(unauthorized_client) with C(Old refresh token used.)); V(null) when it is not.
      type: str
      sample: >-
        the platform refuses the refresh token: it was used elsewhere, revoked or expired (the token endpoint refused the
        request (HTTP 401 unauthorized_client: Old refresh token used.))
    reauthorization_since:
      description: Since when reauthorization is required (UTC, ISO 8601); V(null) when it is not.
      type: str
      sample: '2026-12-08T03:00:12Z'
    in_flight:
      description: Whether a refresh was started whose outcome is unknown (the next refresh settles it).
      type: bool
      sample: false
    unreadable:
      description: Always V(false) here; the records that cannot be read are in the top-level RV(unreadable), not in RV(connections).
      type: bool
      sample: false
    moved_to:
      description:
        - The token store the chain was moved to with M(preauth.oauth2.token_move) (its directory, or its URI without the password);
          this store holds only a tombstone then. V(null) otherwise.
      type: str
      sample: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    timestamps:
      description: The same times as Unix timestamps (C(access_expires_at), C(refresh_expires_at), C(last_refresh_at),
        C(preauthenticated_at), C(owner_since)), for arithmetic in templates.
      type: dict
      sample:
        access_expires_at: 1796655059.1
        refresh_expires_at: 1799246459.1
        last_refresh_at: 1796659331.4
        preauthenticated_at: 1796654459.1
        owner_since: 1796654459.1
    access_token:
      description: The access token.
      returned: when O(return_secrets=true)
      type: str
      sample: EXAMPLE-access-token-not-real
    refresh_token:
      description: The refresh token.
      returned: when O(return_secrets=true)
      type: str
      sample: EXAMPLE-refresh-token-not-real
    client_id:
      description: The app's client ID the chain belongs to.
      returned: when O(return_secrets=true)
      type: str
      sample: 00000000-0000-4000-8000-000000000000
    token_url:
      description: The token endpoint of the chain.
      returned: when O(return_secrets=true)
      type: str
      sample: https://start.exactonline.nl/api/oauth2/token
    base_url:
      description: The platform's base address (for Exact Online the Invantive C(api-url)).
      returned: when O(return_secrets=true)
      type: str
      sample: https://start.exactonline.nl
    redirect_uri:
      description: The redirect URI registered for the app.
      returned: when O(return_secrets=true)
      type: str
      sample: https://relay.example.com/preauth/
count:
  description: Number of connections reported in RV(connections) (records in RV(unreadable) not counted).
  returned: success
  type: int
  sample: 3
unreadable:
  description:
    - The records of the store that this run cannot read, sorted by name, each with C(connection) and C(reason) (the store's
      message, for example that the record is encrypted with another vault password; never a secret). They are not in
      RV(connections). C(ansible-playbook preauth.oauth2.status) shows them as C(UNREADABLE) and fails after its tables.
  returned: success
  type: list
  elements: dict
  sample: [{"connection": "hr-nl", "reason": "cannot decrypt the token store ... with the vault secrets of this run; ..."}]
store:
  description: The token store that was read, its directory, or for the PostgreSQL store (O(store_url)) its URI without the password.
  returned: success
  type: str
  sample: /srv/preauth/tokens
store_dir:
  description:
    - Deprecated, use RV(store) - the same value, returned only for a file store (O(store_dir)); a PostgreSQL store's URI is
      not a directory, so it is not returned for one. Will be removed in a later major release.
  returned: when the store is a file store
  type: str
  sample: /srv/preauth/tokens
store_exists:
  description:
    - Whether the token store directory exists. V(false) means nothing was ever preauthenticated with this O(store_dir)
      (or it is the wrong directory); RV(connections) is then empty.
  returned: success
  type: bool
  sample: true
missing:
  description: The names of O(expected) that have no store file, sorted.
  returned: when O(expected) is set
  type: list
  elements: str
  sample: [crm]
unexpected:
  description: The connections with a store file that O(expected) does not name, sorted.
  returned: when O(expected) is set
  type: list
  elements: str
  sample: ["old-crm"]
prometheus_file:
  description: The path of the metrics file.
  returned: when O(prometheus_file) is set
  type: str
  sample: /var/lib/prometheus/node-exporter/preauth.prom
prometheus_text:
  description:
    - The metrics of the reported connections in the Prometheus text format, byte for byte what O(prometheus_file) gets
      (or would get), returned whether or not O(prometheus_file) is set.
    - For a job whose files do not outlive it, such as one in an AWX execution environment - ship it to a Pushgateway or
      a node_exporter textfile directory on another host. It holds no secret and no time-dependent value.
  returned: success
  type: str
  sample: |-
    # HELP preauth_reauthorization_required 1 when the connection's chain no longer works and a person has to preauthenticate it again.
    # TYPE preauth_reauthorization_required gauge
    preauth_reauthorization_required{connection="acme-nl",platform="exact_online",owner="controller"} 0
"""
