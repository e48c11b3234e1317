# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: token_move
short_description: Move refresh-token chains to another token store, leaving the old store unable to refresh them
version_added: 0.1.0
description:
  - Moves each connection's chain from the source token store (O(store_dir) or O(store_url)) to the destination
    (O(to_store_dir) or O(to_store_url)), for example from a file store to the PostgreSQL store and back, without a new login.
  - Per connection, under the source's lock and then the destination's, at no instant can two copies refresh the chain. First
    the source record is marked as moving (naming both stores and the time) and saved, so that it refuses to refresh, to be handed
    over and to be deployed; then the record is written to the destination with the same mark, so the new copy refuses too, and is
    read back and compared (refresh token fingerprint and generation); then the source becomes a tombstone that holds no tokens and
    names the destination; last the destination's mark is removed, and only then can the chain refresh there. A refresh against
    the old store (a forgotten cron job) makes no token call and fails with a message that says where the chain went.
  - A move that stopped on the way (killed, a lost database) leaves a mark that every flow refuses with a message that names both
    stores and says to run the move again. Running it again with the same stores settles it without a person - it is finished,
    or, if the reverse move is run, rolled back where the source still holds the chain - and never leaves two copies that can
    refresh. A copy in the destination that never became live is removed.
  - Two live copies of a rotating chain kill it at the second refresh, so a connection with a live chain in both stores that no
    stopped move explains is refused, with which one looks newer, and nothing is changed until O(keep) says which store's chain
    stays. A connection already moved to the destination is left unchanged. The same chain on both sides without a mark (a move
    of an older version of the collection that stopped before the tombstone) is finished.
  - A chain handed over to a host moves with its owner record. A connection whose last refresh has an unknown outcome is
    refused until a refresh against the source settles it; one without tokens (revoked) is skipped.
  - The results carry metadata only. The task fails when a connection failed; the others are moved all the same.
  - C(ansible-playbook preauth.oauth2.store_migrate) runs this module for every connection of a store and prints a table.
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
      - Names of the connections to move. Default is every connection of the source store.
      - An empty list, or an empty name, is refused rather than read as every connection.
    type: list
    elements: str
  keep:
    description:
      - For a connection with a live chain in both stores that no stopped move explains (a copy, a new preauthentication in
        the destination), which store's chain stays; the other store's becomes a tombstone, without a token call. Only a person
        can know which one the platform still accepts; the refusal says which looks newer.
      - Without it such a connection is refused and nothing is changed.
    type: str
    choices: [source, destination]
  to_store_dir:
    description:
      - Directory of the destination file store; created (mode 0700) when missing.
      - Mutually exclusive with O(to_store_url).
      - One of O(to_store_dir) or O(to_store_url) is required.
    type: path
  to_store_url:
    description:
      - PostgreSQL connection URI of the destination store, as O(store_url). The password comes the libpq ways (E(PGPASSWORD),
        C(~/.pgpass)).
      - Mutually exclusive with O(to_store_dir).
      - One of O(to_store_dir) or O(to_store_url) is required.
    type: str
notes:
  - The destination is decrypted and encrypted with the vault secrets of the run; O(vault_id) chooses the identity for records
    new to the destination.
  - After the move, point O(store_dir) / O(store_url) (or E(PREAUTH_OAUTH2_STORE_DIR) / E(PREAUTH_OAUTH2_STORE_URL), cron jobs,
    AWX credentials) at the destination.
attributes:
  check_mode:
    support: full
    details:
      - Makes the same decisions, refusals included, from both stores and reports them without writing either.
  diff_mode:
    support: full
    details:
      - Shows, per connection and for both stores, whether a live chain is there, its generation, refresh token fingerprint
        and where a tombstone points. Never a token.
  idempotent:
    support: full
seealso:
  - module: preauth.oauth2.token_info
  - module: preauth.oauth2.token_refresh
"""

EXAMPLES = r"""
- name: Move the crm chain from the file store to the PostgreSQL store
  preauth.oauth2.token_move:
    connections: [crm]
    store_dir: /srv/preauth/tokens
    to_store_url: postgresql://preauth@db.example.com/preauth?sslmode=verify-full

- name: Move it back; the PostgreSQL record becomes the tombstone
  preauth.oauth2.token_move:
    connections: [crm]
    store_url: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    to_store_dir: /srv/preauth/tokens
  register: preauth_moved

- name: Show what happened to each connection
  ansible.builtin.debug:
    msg: "{{ preauth_moved.summary }}"
"""

RETURN = r"""
source:
  description: The source store (a directory, or the PostgreSQL URI without a password).
  returned: always
  type: str
  sample: /srv/preauth/tokens
destination:
  description: The destination store, as RV(source).
  returned: always
  type: str
  sample: postgresql://preauth@db.example.com/preauth?sslmode=verify-full
connections:
  description: One entry per connection, in the order moved.
  returned: always
  type: list
  elements: dict
  sample:
    - connection: crm
      status: moved
      msg: moved to postgresql://preauth@db.example.com/preauth?sslmode=verify-full
      generation: 1
      refresh_fingerprint: 3f2a9c0d1e4b
  contains:
    connection:
      description: The connection name.
      type: str
      sample: crm
    status:
      description: What happened; in check mode, what would happen.
      type: str
      choices: [moved, unchanged, skipped, failed]
      sample: moved
    msg:
      description: Why, and for a failure what to do.
      type: str
      sample: moved to postgresql://preauth@db.example.com/preauth?sslmode=verify-full
    generation:
      description: The generation of the chain.
      type: int
      sample: 1
    refresh_fingerprint:
      description: The first 12 hex digits of the SHA-256 of the refresh token that moved (not the token).
      type: str
      sample: 3f2a9c0d1e4b
counts:
  description: How many connections were moved, unchanged, skipped and failed.
  returned: always
  type: dict
  sample: {moved: 1, unchanged: 0, skipped: 0, failed: 0}
summary:
  description: "One line per connection: C(NAME: STATUS - MESSAGE)."
  returned: always
  type: list
  elements: str
  sample: ["crm: moved - moved to postgresql://preauth@db.example.com/preauth?sslmode=verify-full"]
"""
