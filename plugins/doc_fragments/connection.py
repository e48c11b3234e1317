# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options that define a connection, shared by every module that takes one connection's definition;
    # the three that name it are in IDENTITY, because token_refresh takes them only in its single-connection form.
    DOCUMENTATION = r"""
options:
  country:
    description:
      - Exact Online country, the end of the domain you sign in on. One of V(nl), V(be), V(de), V(co.uk) (or V(uk)),
        V(com) (or V(us)), V(fr), V(es).
      - Zoho data centre, the end of its C(accounts.zoho.) host. One of V(com) (or V(us)), V(eu), V(in), V(com.au) (or V(au)),
        V(jp), V(com.cn) (or V(cn)), V(sa). For Canada set O(base_url) to V(https://accounts.zohocloud.ca).
      - Required for O(platform=exact_online) and O(platform=zoho) unless O(base_url) is given.
    type: str
  tenant:
    description:
      - Tenant for platforms that have one (Microsoft Entra ID, for example a tenant ID or V(organizations)).
    type: str
  environment:
    description:
      - Environment for platforms that have several (for example Loket.nl V(production) or V(acceptance)).
    type: str
  base_url:
    description:
      - Replaces the platform's base address, for example a test instance or a local simulator such as
        V(http://127.0.0.1:8080/nl). Endpoint paths stay the platform's.
    type: str
  client_secret:
    description:
      - Client secret of the app. Keep it in ansible-vault. It is never stored in the token store.
      - Required to exchange or refresh tokens.
    type: str
  redirect_uri:
    description:
      - Redirect URI registered for the app, matched exactly by the platform.
      - Must be HTTPS, or http to a loopback address (V(127.0.0.1), V(::1), V(localhost)) where the platform allows it.
    type: str
  scopes:
    description:
      - Scopes to request. Defaults to the platform's (for OpenID Connect platforms V(openid) and V(offline_access)).
      - Ignored for platforms that fix scopes at app registration.
    type: list
    elements: str
  endpoints:
    description:
      - Endpoint URLs that replace the platform's. Required for O(platform=generic) without O(issuer).
      - Every endpoint must be HTTPS, or http to a loopback address; anything else is refused.
    type: dict
    suboptions:
      authorize:
        description: Authorization endpoint.
        type: str
      token:
        description: Token endpoint.
        type: str
      revocation:
        description: RFC 7009 token revocation endpoint.
        type: str
      whoami:
        description: An API endpoint that answers who the access token belongs to, used to verify new tokens.
        type: str
  issuer:
    description:
      - OpenID Connect issuer for O(platform=generic); its C(/.well-known/openid-configuration) provides the endpoints.
      - The document is used only if its C(issuer) is exactly this value, and only for endpoints on the issuer's origin
        (scheme, host and port); give an endpoint on another origin explicitly in O(endpoints).
    type: str
  client_auth:
    description:
      - How the client authenticates at the token endpoint. Defaults to the platform's.
    type: str
    choices: [client_secret_post, client_secret_basic]
"""

    # Name, platform and app of one connection, required where a module acts on exactly one.
    IDENTITY = r"""
options:
  connection:
    description:
      - Name of the connection. It names the token store file C(<store_dir>/<connection>.yml).
      - 1 to 128 letters, digits, V(.), V(_) or V(-), not starting with V(.).
    type: str
    required: true
  platform:
    description:
      - The OAuth2 platform. Its endpoints, client authentication, PKCE, token rotation and refresh rules come from the
        collection's platform table.
      - V(generic) takes O(endpoints) or an O(issuer) whose C(/.well-known/openid-configuration) is fetched.
    type: str
    required: true
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
      - Client ID of the app registered at the platform.
    type: str
    required: true
"""

    # The token store, for every module and plugin that uses it (with the full connection options or without).
    STORE = r"""
options:
  store_dir:
    description:
      - Directory of the token store (created with mode 0700; store files are 0600).
      - A directory, store, lock or index file that another user owns or that group or others can write to is refused, and
        symbolic links in it are not followed.
      - Defaults to the environment variable E(PREAUTH_OAUTH2_STORE_DIR), else C(~/.local/share/preauth.oauth2/tokens)
        of the controller user. Put it on storage that is backed up, and set it once for all module tasks with
        C(module_defaults) and the C(group/preauth.oauth2.oauth2) action group (the playbooks' variable C(preauth_store_dir)
        sets it for them and for the lookup).
    type: path
  store_url:
    description:
      - A PostgreSQL connection URI that selects the PostgreSQL token store, which several controllers, AWX/AAP jobs and schedules
        share, for example V(postgresql://preauth@db.example.com/preauth?sslmode=verify-full).
      - Defaults to the environment variable E(PREAUTH_OAUTH2_STORE_URL) when O(store_dir) is not set. Set only one of O(store_url)
        and O(store_dir).
      - One rule for the modules and the lookups - an option (or a playbook variable such as C(preauth_store_url)) wins over the
        environment, and two choices of the same rank are refused rather than one silently winning - so O(store_url) and O(store_dir)
        together fail, and so do E(PREAUTH_OAUTH2_STORE_URL) and E(PREAUTH_OAUTH2_STORE_DIR) together when neither option is set,
        with a message that names both.
      - The password comes the libpq ways (E(PGPASSWORD), E(PGPASSFILE) or C(~/.pgpass), an AWX credential); it is never shown. Put it
        in the URI only if nothing else is possible.
      - Each record stays ansible-vault encrypted in the database. The schema is created on first use; see
        R(the token store guide,ansible_collections.preauth.oauth2.docsite.store).
      - A rotated chain that cannot be committed is kept in a vault-encrypted rescue file in E(PREAUTH_OAUTH2_RESCUE_DIR)
        (default C(~/.local/state/preauth.oauth2/rescue)) and written to the database by the next run.
      - Needs the Python package C(psycopg) (version 3) on the controller.
    type: str
  vault_id:
    description:
      - Vault identity that encrypts the store records that are written, when the run loads several (C(--vault-id)).
      - An existing record keeps the vault identity it was written with; reading uses whichever vault secret of the run decrypts it.
    type: str
requirements:
  - cryptography >= 41.0.0 (Python library) on the controller, for the ansible-vault encryption of the token store
  - psycopg >= 3.1 (Python library) on the controller, only for the PostgreSQL token store (O(store_url))
"""

    # The HTTPS client, for every module and plugin that calls the platform.
    HTTP = r"""
options:
  validate_certs:
    description:
      - Verify the platform's TLS certificates.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle to verify TLS certificates with, for example behind a TLS-inspecting proxy.
    type: path
  timeout:
    description:
      - Seconds to wait for an answer from the platform.
    type: float
    default: 30
requirements:
  - requests >= 2.28.0 (Python library) on the controller, for the HTTPS calls to the platform
"""

    # The HTTP options as the members of the oauth2 action group that call no platform take them: so that the group's
    # module_defaults can set them for every member (see the action_group attribute).
    HTTP_IGNORED = r"""
options:
  validate_certs:
    description:
      - Ignored by this module, which calls no platform. Accepted so that C(module_defaults) for the C(group/preauth.oauth2.oauth2)
        action group can set it for every member.
    type: bool
  ca_path:
    description:
      - Ignored by this module, which calls no platform. Accepted so that C(module_defaults) for the C(group/preauth.oauth2.oauth2)
        action group can set it for every member.
    type: path
  timeout:
    description:
      - Ignored by this module, which calls no platform. Accepted so that C(module_defaults) for the C(group/preauth.oauth2.oauth2)
        action group can set it for every member.
    type: float
"""

    # Where plugins with configuration sources (lookups) also take the store options from; modules say it in the description.
    STORE_SOURCES = r"""
options:
  store_dir:
    env:
      - name: PREAUTH_OAUTH2_STORE_DIR
    vars:
      - name: preauth_store_dir
  store_url:
    env:
      - name: PREAUTH_OAUTH2_STORE_URL
    vars:
      - name: preauth_store_url
  vault_id:
    vars:
      - name: preauth_vault_id
"""
