#!/usr/bin/env bash
# The access_token lookup and the action group in real ansible-playbook runs, at -vvvv with a log:
#  - acme-nl (Exact Online, client secret inline-vaulted in the inventory) preauthenticated through the playbook,
#  - lookup.yml: the lookup's token in ansible.builtin.uri calls to the simulator's /api/v1/current/Me; fresh, it makes
#    no token call; 590 s later (access token nearly expired) two lookups make exactly one refresh between them,
#  - group.yml: module_defaults for group/preauth.oauth2.oauth2 alone give all seven actions their store, while
#    PREAUTH_OAUTH2_STORE_DIR points at a directory that must stay empty,
#  - and afterwards no secret in stdout, stderr, the log or any other file.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
driver=../preauthenticate/driver.py
tool=../refresh/tool.py
"$py" "$driver" inventory "$SIM_URL" "$work"
run() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -e "sim_url=$SIM_URL" -vvvv "$@"; }
calls() { "$py" "$tool" counter "$SIM_URL" calls; }

# Preauthenticate acme-nl in two runs, as AWX would.
run "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e preauth_connection=acme-nl -e preauth_step=url >"$work/url.out" 2>&1 \
    || { tail -60 "$work/url.out"; exit 1; }
landed=$("$py" "$driver" login "$SIM_URL" "$("$py" "$driver" find-url "$work/url.out")")
PREAUTH_REDIRECT_URL="$landed" run "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e preauth_connection=acme-nl >"$work/exchange.out" 2>&1 \
    || { tail -60 "$work/exchange.out"; exit 1; }

# The store comes from the inventory's preauth_store_dir; the environment variable names another (empty) one.
mkdir -m 0700 "$work/env-tokens"
export PREAUTH_OAUTH2_STORE_DIR="$work/env-tokens"

# A fresh access token: returned as it is, no token call.
run lookup.yml -e "expect_calls=$(calls)" >"$work/fresh.out" 2>&1 || { tail -60 "$work/fresh.out"; exit 1; }
# 590 s later 10 s are left, under min_ttl=120: the first lookup refreshes (one call), the second uses its token.
"$py" "$tool" later "$SIM_URL" "$work" 590
before=$(calls)
run lookup.yml -e "expect_calls=$((before + 1))" >"$work/refresh.out" 2>&1 || { tail -60 "$work/refresh.out"; exit 1; }
"$py" "$driver" check-chain "$SIM_URL" "$work" acme-nl 1  # the rotated chain was stored

# The action group: a new store, given only by the group's module_defaults.
run group.yml -e "group_store=$work/group-tokens" >"$work/group.out" 2>&1 || { tail -80 "$work/group.out"; exit 1; }
[ -z "$(ls -A "$work/env-tokens")" ] || { echo "an action used PREAUTH_OAUTH2_STORE_DIR instead of the group's store_dir" >&2; exit 1; }

"$py" "$driver" scan "$SIM_URL" "$work" "$work"
echo "lookup_access_token: the lookup's token works with ansible.builtin.uri, refreshes once when due; the action group reaches all seven actions; nothing leaked"
