# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: token_refresh
short_description: Keep preauthenticated refresh-token chains alive - idempotent, single-flight, crash-safe, batched
version_added: 0.1.0
description:
  - Refreshes the controller-owned chains that need it and persists every rotated refresh token before it reports success.
  - Per connection, under the store's lock and after re-reading the store, it refreshes when the access token has less than
    O(access_token_min_ttl) seconds left, when the refresh token's estimated remaining life is under O(refresh_before), when
    an earlier refresh lost its answer, or when O(force=true). It never refreshes inside the platform's minimum interval
    (Exact Online 570 seconds after the last access token; a forced refresh there is skipped with a message, not an
    error and not a token call), never a chain handed over to a host (reported as owned by that host), and never beyond
    the platform's daily token-call budget.
  - Before the request leaves, an in-flight marker (the refresh token's fingerprint and time) is saved. A refresh whose
    answer is lost (timeout, reset connection, 5xx, a gateway page) keeps the stored token and the marker; the next run
    tries that token once more and, if the platform says it is spent, marks the connection as needing a new
    preauthentication, saying why. There are no blind retries on the token endpoint; only 429 and 503 answers are retried,
    after the wait the platform asks for (C(Retry-After), Exact Online's C(X-RateLimit-Minutely-Reset)) but at least 1 s,
    within O(max_wait), at most 4 token calls per connection and run, and never beyond the platform's daily budget.
  - Every answer is read within O(timeout) in total and up to 1 MiB; a slower or larger answer counts as lost. An answer
    that carries a new refresh token is stored first, whatever else is wrong with it. Numbers in answers are clamped
    with a warning, and tokens or the client secret echoed by the platform never appear in messages.
  - Answers C(invalid_grant), and the answers a platform uses instead (Exact Online answers a refresh token that was already
    used with HTTP 401 C(unauthorized_client) "Old refresh token used.", and one unused for 30 days with C(invalid_request)
    "The refresh token expired at ..."), mean the chain is gone - the connection is marked C(reauthorization_required) with
    since when and why, and fails with a message to run C(ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME);
    later runs send nothing for it.
    C(access_denied) with C(TooEarlyToRefreshTokens) keeps the current access token and is not an error. C(invalid_client),
    and any other 401, is a configuration error.
  - O(connections) refreshes many connections concurrently (O(parallel) at a time, one HTTP session per endpoint host). One
    failed connection does not stop the others; the task fails at the end if any failed, unless O(fail_on_error=false).
  - Results carry metadata only, unless O(return_access_token=true).
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.connection
  - preauth.oauth2.connection.store
  - preauth.oauth2.connection.http
  - preauth.oauth2.attributes
  - preauth.oauth2.attributes.actiongroup_oauth2
  - preauth.oauth2.attributes.controller
options:
  connection:
    description:
      - Name of one connection to refresh. Use O(connections) for many.
      - Mutually exclusive with O(connections). One of O(connection) or O(connections) is required.
      - 1 to 128 letters, digits, V(.), V(_) or V(-), not starting with V(.).
    type: str
  platform:
    description:
      - The OAuth2 platform of O(connection). Required with O(connection).
    type: str
    choices:
      - atlassian
      - calendly
      - exact_online
      - fortnox
      - generic
      - github
      - gitlab
      - google
      - hubspot
      - loket
      - microsoft
      - paypal
      - quickbooks
      - salesforce
      - teamleader
      - twinfield
      - visma_net
      - xero
      - zoho
      - zoom
  client_id:
    description:
      - Client ID of the app of O(connection). Required with O(connection).
    type: str
  connections:
    description:
      - Connection definitions as in the inventory's C(preauth_connections) list, each a dict with C(name), C(platform),
        C(client_id), C(client_secret) and the other connection options (C(country), C(base_url), C(issuer), C(endpoints),
        C(redirect_uri), C(scopes), ...). Keys this module does not use (such as C(hosts)) are ignored.
      - The store options (O(store_dir), O(vault_id)) and HTTP options of the task apply to all of them.
      - Mutually exclusive with O(connection). One of O(connection) or O(connections) is required.
    type: list
    elements: dict
  access_token_min_ttl:
    description:
      - Refresh when the access token has less than this many seconds left. V(0) never refreshes for the access token's
        sake (the product that uses the chain does that).
    type: int
    default: 0
  refresh_before:
    description:
      - Refresh when the refresh token's estimated remaining life is under this many seconds (default 7 days, for Exact
        Online's 30-day idle lifetime). Platforms without a known refresh-token lifetime are not refreshed for this reason.
    type: int
    default: 604800
  force:
    description:
      - Refresh even when nothing asks for it, but never inside the platform's minimum refresh interval.
    type: bool
    default: false
  parallel:
    description:
      - How many connections are refreshed at the same time.
    type: int
    default: 8
  fail_on_error:
    description:
      - Fail the task when any connection failed or needs a new preauthentication. With V(false) the task reports them in
        RV(connections) and RV(counts) and succeeds.
    type: bool
    default: true
  return_access_token:
    description:
      - Add each connection's current access token to its result, for playbooks that call an API next. The whole result
        is then hidden from output and logs (C(_ansible_no_log)).
    type: bool
    default: false
  return_unchanged:
    description:
      - List the connections that had nothing to do (status V(unchanged)) in RV(connections), RV(summary) and the diff.
      - With V(false) those list only the connections that were refreshed, skipped or failed; RV(counts) and the message still
        count every connection. A scheduled run over thousands of connections then returns, keeps and prints a few lines
        instead of one per connection. C(ansible-playbook preauth.oauth2.refresh) asks for this unless C(preauth_report_unchanged=true).
      - Ignored with O(connection), whose result is always returned.
    type: bool
    default: true
  max_wait:
    description:
      - Seconds a connection may wait in total for 429/503 answers before it gives up for this run.
    type: int
    default: 60
  adopt_store:
    description:
      - Make the place where the store is now its home before refreshing, for a store that was moved here on purpose (a file
        store O(store_dir) on another machine, at another path or restored from a backup; a PostgreSQL store O(store_url) in another
        database or cluster, a database copied, restored or upgraded). Reported in RV(adopted) and as a warning; in check mode
        it says that it would adopt and changes nothing.
      - A file store records where it lives (machine, path, directory) in C(<store_dir>/.home); a PostgreSQL store records its
        database (name, OID and the cluster's system identifier) in C(preauth_oauth2_meta). Found anywhere else, a store
        refuses to refresh rotating chains (reason V(store_copy)), because when a copy and its original both refresh a chain, the
        platform revokes it. Adopt only the one copy that stays in use.
        See R(the token store guide,ansible_collections.preauth.oauth2.docsite.store).
    type: bool
    default: false
  release_in_flight:
    description:
      - Names of connections whose in-flight marker of another controller you release, for a PostgreSQL store O(store_url).
      - A refresh whose answer was lost leaves an in-flight marker that names the controller that sent it (its rescue
        directory). Only that controller can see whether it kept the rotated refresh token in a rescue file, so after the
        marker's time other controllers refuse to refresh the chain (reason V(in_flight_elsewhere)) instead of presenting a
        token that may be spent. Run the refresh on that controller; name a connection here only when that controller and its
        rescue directory are gone for good (an AWX node that never comes back). The stored refresh token is then presented once
        more; if the lost controller had kept a rotated one, the platform refuses it or revokes the chain. A marker that has not
        reached its time is never released.
        See R(the token store guide,ansible_collections.preauth.oauth2.docsite.store).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be refreshed and why, with no network call and no write.
  diff_mode:
    support: full
    details:
      - Shows each connection's refresh-token fingerprint and expiry times before and after; never a token.
  idempotent:
    support: full
    details:
      - A run with nothing to do changes nothing and makes no token call.
seealso:
  - module: preauth.oauth2.code_exchange
notes:
  - Run it on a schedule (cron, AWX) with C(ansible-playbook preauth.oauth2.refresh); several runs at once are safe, the store's lock makes
    the second one find nothing to do.
  - Beside each store file the collection keeps an index (C(.<connection>.index), mode 0600) of the facts that decide
    whether a refresh is due - expiry times, owner, flags, generation, a hash of the identity fields - and never a token or
    secret. A connection with nothing to do is answered from it without decrypting its store, but only while the index
    matches the store file byte for byte and was written with the run's vault secret; in every other case, and whenever a
    refresh may be due, the store is locked and decrypted as described above.
  - Client secrets given inline with C(!vault) in O(connections) are decrypted only for the connections that send a token
    request, so a run with nothing to do decrypts none of them.
"""

EXAMPLES = r"""
- name: Keep every connection of the inventory alive
  preauth.oauth2.token_refresh:
    connections: "{{ preauth_connections }}"
    store_dir: /srv/preauth/tokens
    fail_on_error: false
  register: refreshed

- name: Refresh one connection and use its access token right away
  preauth.oauth2.token_refresh:
    connection: acme-nl
    platform: exact_online
    country: nl
    client_id: 00000000-0000-4000-8000-000000000000
    client_secret: "{{ vault_acme_client_secret }}"
    access_token_min_ttl: 120
    return_access_token: true
  register: acme
  no_log: true
"""

RETURN = r"""
connections:
  description: One result per connection, in the order given (without the unchanged ones when O(return_unchanged=false)).
  returned: always
  type: list
  elements: dict
  sample:
    - connection: acme-nl
      status: refreshed
      reason: refreshed
      msg: refreshed (the refresh token expires in 6.9 days); refresh token rotated, access token valid until 2026-12-07T14:50:59Z
      platform: exact_online
      generation: 1
      owner: controller
      token_calls: 1
      reauthorization_required: false
      refresh_fingerprint: 3f9a1c0be2d4
      access_expires_at: '2026-12-07T14:50:59Z'
      refresh_expires_at: '2027-01-06T14:40:59Z'
  contains:
    connection:
      description: The connection name.
      type: str
      sample: acme-nl
    status:
      description: V(refreshed), V(unchanged), V(skipped) or V(failed). In check mode V(refreshed) means "would be refreshed".
      type: str
      sample: refreshed
    reason:
      description: >-
        Why, as a word - V(refreshed), V(not_needed), V(too_early), V(owned_by_host), V(reauthorization_required),
        V(lost_response), V(rate_limited), V(budget), V(config), V(definition_changed), V(no_chain),
        V(incomplete_answer) (the new refresh token was stored, the rest of the answer was refused), V(store_copy) (the
        store is not where it was set up; see O(adopt_store)), V(in_flight) (another run may still wait for its answer),
        V(in_flight_elsewhere) (another controller lost an answer and may keep it; see O(release_in_flight)), V(unexpected), ...
      type: str
      sample: refreshed
    msg:
      description: What happened and, for failures, what to do next.
      type: str
      sample: refreshed (the refresh token expires in 6.9 days); refresh token rotated, access token valid until 2026-12-07T14:50:59Z
    platform:
      description: The platform of the connection.
      type: str
      sample: exact_online
    generation:
      description: The chain's generation.
      type: int
      sample: 1
    owner:
      description: V(controller), or the host the chain was handed over to.
      type: str
      sample: controller
    refresh_fingerprint:
      description: First 12 hex digits of the SHA-256 of the current refresh token.
      type: str
      sample: 3f9a1c0be2d4
    access_expires_at:
      description: When the current access token expires (UTC, ISO 8601).
      type: str
      sample: '2026-12-07T14:50:59Z'
    refresh_expires_at:
      description: Estimated expiry of the refresh token (UTC, ISO 8601), where the platform's lifetime is known.
      type: str
      sample: '2027-01-06T14:40:59Z'
    token_calls:
      description: Token-endpoint calls made for this connection in this run.
      type: int
      sample: 1
    reauthorization_required:
      description: Whether the connection needs a new preauthentication.
      type: bool
      sample: false
    access_token:
      description: The current access token.
      type: str
      returned: when O(return_access_token=true)
      sample: EXAMPLE-access-token-not-real
    error_type:
      description: The type of an unexpected error (no message text, which could hold a value); please report it.
      type: str
      returned: when RV(connections[].reason) is V(unexpected)
      sample: KeyError
counts:
  description: How many connections were refreshed, unchanged, skipped and failed.
  returned: always
  type: dict
  sample: {"refreshed": 3, "unchanged": 40, "skipped": 1, "failed": 0}
summary:
  description: One line per connection, for a report (without the unchanged ones when O(return_unchanged=false)).
  returned: always
  type: list
  elements: str
  sample:
    - 'acme-nl: refreshed - refreshed (the refresh token expires in 6.9 days); refresh token rotated, access token valid until
      2026-12-07T14:50:59Z'
token_calls:
  description: Token-endpoint calls made in this run.
  returned: always
  type: int
  sample: 3
reauthorization_required:
  description:
    - Names of the connections that need a new preauthentication.
    - With O(connection), V(true) or V(false) instead - that connection's RV(connections[].reauthorization_required) (see RV(status)).
  returned: always
  type: list
  elements: str
  sample: ["hr-nl"]
landings:
  description:
    - With the PostgreSQL store, the landings of consent invitations (see M(preauth.oauth2.consent_invitation)) imported before the
      refresh, one query for the whole run; C(collected) (connection, invitation, generation, refresh-token fingerprint, who consented)
      and C(landing_failures) (connection, invitation, reason; such a landing is kept in the store and said in a warning).
  returned: when a connection of the run had a landing
  type: dict
  sample: {"collected": [{"connection": "acme-nl", "invitation": "6f1c2a8e-0000-4000-8000-000000000000", "generation": 2}], "landing_failures": []}
adopted:
  description: >-
    The file store's previous home (RV(adopted.from), V(null) when its home record was unreadable) and its new one
    (RV(adopted.to)), each with C(host) and C(path).
  returned: when O(adopt_store=true) and the store was not at its home (in check mode, what would be adopted)
  type: dict
  contains:
    from:
      description: Where the store was set up, or V(null).
      type: dict
      sample: {"host": "ctl1", "path": "/srv/preauth/tokens"}
    to:
      description: Where the store is now, its new home.
      type: dict
      sample: {"host": "ctl2", "path": "/srv/preauth/tokens"}
  sample: {"from": {"host": "ctl1", "path": "/srv/preauth/tokens"}, "to": {"host": "ctl2", "path": "/srv/preauth/tokens"}}
status:
  description:
    - The status of O(connection) (single-connection use).
    - With O(connection) every field of its entry in RV(connections) but C(msg) is also returned at the top level (RV(status),
      C(reason), C(generation), C(owner), C(refresh_fingerprint), C(access_expires_at), ...), for use as C(result.status).
  returned: when O(connection) is given
  type: str
  sample: refreshed
"""
