#!/usr/bin/env bash
# Reliability of playbooks/refresh.yml against the simulator, with real processes:
#  1. 8 ansible-playbook processes at once over 20 chains that need refreshing (rotating_strict):
#     each chain refreshed exactly once, none revoked, every store decrypts;
#  2. a re-run with nothing to do changes nothing and makes no token call;
#  3. Exact Online rules: a forced refresh inside 570 s is skipped without a call; 30 idle days
#     surface as "needs a new preauthentication"; the daily budget is never exceeded;
#  4. injected faults (500 after commit, timeout after commit, HTML 502, 429 with and without
#     headers) and SIGKILL of the playbook inside its refresh in 12 runs (before and after the token
#     call, ../setup_simulator/kills.sh): every store decrypts and every chain works or says why it needs
#     a new preauthentication;
#  5. no secret in any output, log or file outside the stores (everything ran at -vvvv).
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
# shellcheck source=/dev/null
source ../setup_simulator/fleet.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
refresh="$COLLECTION_ROOT/playbooks/refresh.yml"
pb() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -vvvv "$@"; }
calls() { sim_calls; }

"$py" tool.py inventory "$SIM_URL" "$work" 20 3
pb seed.yml >"$work/seed.out" 2>&1 || { tail -40 "$work/seed.out"; exit 1; }

# 3a. Exact: a forced refresh right after preauthentication is inside 570 s: skipped, no call.
before=$(calls)
pb "$refresh" -e preauth_only=exact-00 -e preauth_force=true >"$work/early.out" 2>&1
grep -q "exact-00: skipped - forced, but Exact Online allows a refresh only 570 s after the last access token" "$work/early.out"
[ "$(calls)" = "$before" ] || { echo "a too-early refresh called the token endpoint" >&2; exit 1; }
echo "570 s rule: forced refresh skipped without a token call"

# 1. An hour later every strict access token has expired: 8 processes at once.
"$py" tool.py later "$SIM_URL" "$work" 3601
strict=$(seq -f 'strict-%02g' -s, 0 19)
parallel_runs pb "$work" 8 "$refresh" -e preauth_access_token_min_ttl=60 -e preauth_only="$strict"
"$py" tool.py check "$SIM_URL" "$work" once

# 2. Nothing to do: no change, no token call.
noop_run pb "$work" 20 "$refresh" -e preauth_access_token_min_ttl=60 -e preauth_only="$strict"

# 4a. Faults, one connection each, then a normal run: works or says why.
"$py" tool.py later "$SIM_URL" "$work" 3601
fault_runs pb "$work" "$refresh" '{"kind": "http_500_after"}' '{"kind": "timeout_after", "seconds": 3}' '{"kind": "html_502"}' \
    '{"kind": "http_429", "retry_after": "1"}' '{"kind": "http_429"}' '{"kind": "reset_before"}'
"$py" tool.py check "$SIM_URL" "$work" any

# 4b. SIGKILL inside the refresh in 12 runs, before and after the token call.
forced() { echo "-e preauth_force=true -e preauth_only=strict-0$(($1 % 10))"; }
killed_runs 12 "$work" forced ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" "$refresh"
pb "$refresh" -e preauth_access_token_min_ttl=60 >"$work/after-kill.out" 2>&1 || true
"$py" tool.py check "$SIM_URL" "$work" any

# 3b. Exact: 30 idle days end the chain; the playbook says so and exits non-zero.
"$py" tool.py later "$SIM_URL" "$work" 2678400
if pb "$refresh" -e preauth_only=exact-01 -e preauth_force=true >"$work/idle.out" 2>&1; then
    echo "an expired chain did not fail the playbook" >&2
    exit 1
fi
grep -q "exact-01: failed - needs a new preauthentication: the refresh token expired" "$work/idle.out"
grep -qF "needs a new preauthentication: exact-01 (for each: ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME)" "$work/idle.out"
echo "30 idle days: reported as needing a new preauthentication"
[ "$("$py" tool.py counter "$SIM_URL" max-daily)" -le 200 ] || { echo "a daily token budget was exceeded" >&2; exit 1; }

# 5. The whole suite ran at -vvvv with a log file.
"$py" tool.py scan "$SIM_URL" "$work"
echo "refresh: concurrency, no-op, Exact rules, faults and kills behave; nothing leaked"
