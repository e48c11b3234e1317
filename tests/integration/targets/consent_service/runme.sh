#!/usr/bin/env bash
# The consent_service role over real SSH, with become, on the Debian packages it installs (Flask, waitress, psycopg):
#  - check mode first (predicts changes, writes nothing), then the deployment: the service's user, its code from the
#    collection (root's), the apps file (no secret), the credentials encrypted with systemd-creds (root's alone,
#    0600 in 0700; no plaintext on disk), the unit checked with systemd-analyze verify; the second run changes nothing;
#  - the store's owner grants the service's database role its rights and makes an invitation with
#    preauth.oauth2.consent_invitation; the unit's ExecStart= is started as systemd would (its User=, its
#    credentials decrypted into a private directory, its Environment=): the invitation page, its form (a 303 to the
#    platform with PKCE and the service's own redirect URI) and an unknown link answer as documented, with the security
#    headers;
#  - the service's database role cannot read the chain table;
#  - no client secret, database password, service key or link token in any output, log, unit, apps file or credential.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
# shellcheck source=/dev/null
source ../setup_sshd/sshd.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
pgserver="$COLLECTION_ROOT/tests/pgserver.py"
pgdir=$(mktemp -d)
sshd_dir=$(mktemp -d)
creds=/dev/shm/preauth-consent-it-credentials
prefix=/opt/preauth-consent-it
config=/etc/preauth-consent-it
leftovers=("$prefix" "$config" "$creds")
cleanup_extra() {
    [ -f "$work/service.pid" ] && "$py" tool.py stop "$work/service.pid"
    "$py" "$pgserver" stop "$pgdir" || true
    rm -rf "$pgdir" "$sshd_dir" "${leftovers[@]}"
}
rm -rf "${leftovers[@]}"
"$py" "$pgserver" start "$pgdir"
# shellcheck source=/dev/null
source "$pgdir/env.sh"
start_sshd "$sshd_dir"

client_secret="FAKE-consent-client-secret-$RANDOM$RANDOM"
role_password="FAKE-consent-role-password-$RANDOM$RANDOM"
client_id="00000000-0000-4000-8000-00000000c0de"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
public="http://127.0.0.1:$port"
db_port=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port)' "$PREAUTH_OAUTH2_STORE_URL")
"$py" tool.py role "$pgdir" preauth_consent_it "$role_password"

# The role's secrets in a real ansible-vault file, as users keep them.
cat >"$work/secrets.yml" <<EOF
vault_consent_client_secret: $client_secret
vault_consent_db_password: $role_password
EOF
ansible-vault encrypt --vault-password-file "$work/vault-pw" "$work/secrets.yml" >/dev/null
mkdir "$work/units"
cat >"$work/service.yml" <<EOF
- name: Deploy the consent service
  hosts: target1
  become: true
  vars_files: [$work/secrets.yml]
  roles:
    - role: preauth.oauth2.consent_service
      vars:
        preauth_consent_public_url: $public
        preauth_consent_listen: 127.0.0.1:$port
        preauth_consent_database_url: postgresql://preauth_consent_it@127.0.0.1:$db_port/preauth
        preauth_consent_database_password: "{{ vault_consent_db_password }}"
        preauth_consent_user: preauth-consent-it
        preauth_consent_prefix: $prefix
        preauth_consent_config_dir: $config
        preauth_consent_unit_name: preauth-consent-it
        preauth_consent_systemd_unit_dir: $work/units
        preauth_consent_apps:
          - client_id: $client_id
            client_secret: "{{ vault_consent_client_secret }}"
            platform: exact_online
            authorize_url: $SIM_URL/nl/api/oauth2/auth
            token_url: $SIM_URL/nl/api/oauth2/token
EOF
run() { ansible-playbook -i "$SSHD_INVENTORY" --vault-password-file "$work/vault-pw" -vvvv "$@"; }
outputs=()
play() { # name playbook [args...]
    local name=$1 out="$work/$1.out"
    shift
    outputs+=("$out")
    run "$@" >"$out" 2>&1 || {
        tail -40 "$out"
        echo "playbook run '$name' failed" >&2
        exit 1
    }
}
recap() { grep -E '^target1 +:' "$work/$1.out"; }

play check "$work/service.yml" --check --diff
recap check | grep -Eq 'changed=[1-9]' || { echo "check mode predicted no change" >&2; exit 1; }
if [ -e "$config" ] || [ -e "$prefix" ]; then
    echo "check mode wrote files" >&2
    exit 1
fi

play deploy "$work/service.yml"
recap deploy | grep -Eq 'changed=[1-9]' || { echo "the deployment changed nothing" >&2; exit 1; }
grep -q 'systemd-analyze' "$work/deploy.out" || { echo "the unit was not verified" >&2; exit 1; }
play again "$work/service.yml"
recap again | grep -q 'changed=0' || { recap again; echo "the second run changed something" >&2; exit 1; }

# Who owns what: the credentials are root's alone and encrypted; the apps file and unit hold no secret.
[ "$(stat -c '%U %a' "$config/credentials")" = "root 700" ]
for name in app-1 database-url secret-key; do
    [ "$(stat -c '%U %a' "$config/credentials/$name")" = "root 600" ]
done
[ "$(stat -c '%U %G %a' "$config/apps.yml")" = "root preauth-consent-it 640" ]
[ "$(stat -c '%U' "$prefix/lib/ansible_collections/preauth/oauth2/plugins/plugin_utils/_consent/app.py")" = root ]
[ "$(systemd-creds decrypt --name=app-1 "$config/credentials/app-1" - 2>/dev/null)" = "$client_secret" ]
grep -q "^LoadCredentialEncrypted=app-1:$config/credentials/app-1\$" "$work/units/preauth-consent-it.service"
grep -q '^User=preauth-consent-it$' "$work/units/preauth-consent-it.service"

# The store's owner grants the service's role and makes an invitation (the link goes to a file, not to the output).
cat >"$work/invite.yml" <<EOF
- name: Invite
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Grant the consent service's role and make an invitation
      preauth.oauth2.consent_invitation:
        connection: acme-nl
        platform: exact_online
        country: nl
        base_url: $SIM_URL/nl
        client_id: $client_id
        redirect_uri: $public/callback
        store_url: "{{ lookup('ansible.builtin.env', 'PREAUTH_OAUTH2_STORE_URL') }}"
        service_role: preauth_consent_it
        service_url: $public
        operator:
          company: Example Accountants B.V.
          contact: support@accountants.example
      register: invitation
    - name: Keep the link for the test
      ansible.builtin.copy:
        content: "{{ invitation.link }}"
        dest: $work/link
        mode: "0600"
      no_log: true
    - name: The role has its rights now (the task above hides its whole result, as it holds the link)
      preauth.oauth2.consent_invitation:
        connection: acme-nl
        platform: exact_online
        country: nl
        base_url: $SIM_URL/nl
        client_id: $client_id
        store_url: "{{ lookup('ansible.builtin.env', 'PREAUTH_OAUTH2_STORE_URL') }}"
        service_role: preauth_consent_it
        state: list
      register: listed
      failed_when: listed is changed or listed.service_role.granted != [] or listed.invitations | selectattr('state', 'eq', 'open') | list | length != 1
EOF
play invite "$work/invite.yml"
grep -q 'has its rights, and no more were given' "$work/invite.out" || { echo "the role was not granted" >&2; exit 1; }

"$py" tool.py start "$work/units/preauth-consent-it.service" "$creds" "$work/service.log"
"$py" tool.py pages "$work/link" "$public" "Example Accountants B.V." || {
    echo "the end of the service's log:" >&2
    tail -20 "$work/service.log" >&2
    exit 1
}

# The service's role may not read a chain.
if PGPASSWORD="$role_password" "$py" -c '
import sys, psycopg
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("SELECT count(*) FROM preauth_oauth2_chain")
' "postgresql://preauth_consent_it@127.0.0.1:$db_port/preauth" 2>"$work/denied.err"; then
    echo "the consent service's role read the chain table" >&2
    exit 1
fi
grep -q 'permission denied' "$work/denied.err"

# No secret anywhere it could be read.
token=$(sed 's#.*/i/##' "$work/link")
key=$(systemd-creds decrypt --name=secret-key "$config/credentials/secret-key" - 2>/dev/null)
for value in "$client_secret" "$role_password" "$token" "$key"; do
    if grep -rqF -- "$value" "${outputs[@]}" "$work/service.log" "$work/units" "$config" "$prefix" "$work/ansible.log" 2>/dev/null; then
        echo "a secret of the consent service was found in an output, log or file" >&2
        exit 1
    fi
done
echo "consent_service: deployed, idempotent, started as its unit says, pages as documented, no secret anywhere"
