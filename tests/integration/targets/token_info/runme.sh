#!/usr/bin/env bash
# token_info, token_handover and token_revoke in real ansible-playbook runs, at -vvvv with a log:
#  - one Exact Online connection preauthenticated through playbooks/preauthenticate.yml in two runs,
#  - then reports.yml: token_info twice (the Prometheus file is written, then left alone), the
#    hand-over to a host and back (refusing a second host), revocation by hand, check mode first,
#  - and afterwards no secret in stdout, stderr, the log, the Prometheus file or any other file.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
start_simulator

work=$(mktemp -d)
cleanup() { rm -rf "$work"; stop_simulator; }
trap cleanup EXIT
py="$SIM_PYTHON"
driver=../preauthenticate/driver.py
echo "FAKE-vault-password-for-integration" >"$work/vault-pw"
"$py" "$driver" inventory "$SIM_URL" "$work"
mkdir "$work/textfile"
export ANSIBLE_LOG_PATH="$work/ansible.log"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp"
run() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -vvvv "$@"; }

# Preauthenticate acme-nl in two runs, as AWX would.
run "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e preauth_connection=acme-nl -e preauth_step=url >"$work/url.out" 2>&1 \
    || { tail -60 "$work/url.out"; exit 1; }
landed=$("$py" "$driver" login "$SIM_URL" "$("$py" "$driver" find-url "$work/url.out")")
PREAUTH_REDIRECT_URL="$landed" run "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e preauth_connection=acme-nl >"$work/exchange.out" 2>&1 \
    || { tail -60 "$work/exchange.out"; exit 1; }
grep -q "stored generation 1 of connection acme-nl, owned by the controller" "$work/exchange.out"

run reports.yml -e "preauth_work=$work" >"$work/reports.out" 2>&1 || { tail -80 "$work/reports.out"; exit 1; }
grep -q "connection acme-nl generation 1 is owned by host dwh01 since" "$work/reports.out"
grep -q "My Exact Online → Security center → Revoke" "$work/reports.out"

# The metrics file is world-readable and holds no secret; nothing else leaked either.
[ "$(stat -c %a "$work/textfile/preauth.prom")" = 644 ] || { echo "the Prometheus file is not mode 0644" >&2; exit 1; }
"$py" "$driver" scan "$SIM_URL" "$work" "$work"
echo "token_info: reports, hand-over and revocation work; nothing leaked"
