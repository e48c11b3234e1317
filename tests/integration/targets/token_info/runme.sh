#!/usr/bin/env bash
# token_info, token_handover and token_revoke in real ansible-playbook runs, at -vvvv with a log:
#  - one Exact Online connection preauthenticated through playbooks/preauthenticate.yml in two runs,
#    after check mode has said what each run would do,
#  - playbooks/status.yml against a missing store, an empty one, the store with crm missing, with acme-nl
#    handed over to dwh01, and with nothing missing (twice: the metrics file is written once),
#  - then reports.yml: token_info twice (the Prometheus file is written, then left alone), the
#    hand-over to a host and back (refusing a second host), revocation by hand, check mode first,
#  - and afterwards no secret in stdout, stderr, the log, the Prometheus file or any other file.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
driver=../preauthenticate/driver.py
"$py" "$driver" inventory "$SIM_URL" "$work"
mkdir "$work/textfile"
run() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -vvvv "$@"; }

fails() { echo "token_info: $*" >&2; exit 1; }
has() { grep -Eq -- "$2" "$1" || { tail -80 "$1"; fails "$(basename "$1"): no line matches: $2"; }; }
hasnt() { ! grep -Eq -- "$2" "$1" || fails "$(basename "$1"): a line matches: $2"; }
preauth() { run "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e preauth_connection=acme-nl "$@"; }

# Check mode says what it would do: no empty URL, no "before None", and it stops before asking anything.
preauth --check -e preauth_step=url >"$work/url-check.out" 2>&1 || { tail -60 "$work/url-check.out"; exit 1; }
has "$work/url-check.out" "Without --check this run would print the URL to open for acme-nl \(exact_online\), and stop \(run 1 of 2\)"
has "$work/url-check.out" "check mode: would create a new authorization URL and store it as the pending attempt; nothing was sent or written"
preauth --check >"$work/interactive-check.out" 2>&1 </dev/null || { tail -60 "$work/interactive-check.out"; exit 1; }
has "$work/interactive-check.out" "then ask for the address the browser lands on \(it starts with https://"
for out in url-check interactive-check; do
    hasnt "$work/$out.out" "open this URL in a browser|before None|Paste the full address"
done
[ ! -e "$work/tokens" ] || [ -z "$(ls -A "$work/tokens")" ] || fails "check mode wrote the token store"

# Preauthenticate acme-nl in two runs, as AWX would; the second once in check mode first.
preauth -e preauth_step=url >"$work/url.out" 2>&1 || { tail -60 "$work/url.out"; exit 1; }
landed=$("$py" "$driver" login "$SIM_URL" "$("$py" "$driver" find-url "$work/url.out")")
PREAUTH_REDIRECT_URL="$landed" preauth --check >"$work/exchange-check.out" 2>&1 || { tail -60 "$work/exchange-check.out"; exit 1; }
has "$work/exchange-check.out" "check mode: the redirect matches the pending authorization; would exchange the code and store generation 1"
has "$work/exchange-check.out" "Without --check this run would exchange the code once, store generation 1 of acme-nl and check it against the API"
hasnt "$work/exchange-check.out" "Refresh token fingerprint|Not verified against the API"
PREAUTH_REDIRECT_URL="$landed" preauth >"$work/exchange.out" 2>&1 || { tail -60 "$work/exchange.out"; exit 1; }
grep -q "stored generation 1 of connection acme-nl, owned by the controller" "$work/exchange.out"

# -- playbooks/status.yml: the store against the inventory (acme-nl and crm; crm was never preauthenticated) --
status() { run "$COLLECTION_ROOT/playbooks/status.yml" -e "preauth_prometheus_file=$work/textfile/status.prom" "$@"; }
row='[[:space:]]+'

# A store directory that does not exist, and an empty one: said once, and the play fails.
status -e "preauth_store_dir=$work/nowhere" >"$work/status-nowhere.out" 2>&1 && fails "status.yml passed without a store"
has "$work/status-nowhere.out" "The token store $work/nowhere does not exist: nothing was preauthenticated with this store_dir yet - 2 connection\(s\) of preauth_connections have no chain \(acme-nl, crm\); preauthenticate each with ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=NAME"
has "$work/status-nowhere.out" "the token store $work/nowhere does not exist, so none of the 2 connection\(s\) of preauth_connections has a chain"
hasnt "$work/status-nowhere.out" "MISSING"
mkdir -m 0700 "$work/empty"
status -e "preauth_store_dir=$work/empty" >"$work/status-empty.out" 2>&1 && fails "status.yml passed with an empty store"
has "$work/status-empty.out" "The token store $work/empty holds no chain - 2 connection\(s\) of preauth_connections have none \(acme-nl, crm\)"
hasnt "$work/status-empty.out" "MISSING"

# acme-nl stored, crm missing: the table shows both, then the play fails; the metrics say crm has no chain.
status >"$work/status-missing.out" 2>&1 && fails "status.yml passed with crm missing"
has "$work/status-missing.out" "\"acme-nl${row}exact_online${row}controller${row}1${row}30\.0${row}[0-9T:-]+Z${row}ok\""
has "$work/status-missing.out" "\"crm${row}generic${row}-${row}-${row}-${row}-${row}MISSING: in preauth_connections, but no chain is stored; run ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=crm\""
has "$work/status-missing.out" "no chain is stored for 1 connection\(s\) of preauth_connections: crm; preauthenticate each with ansible-playbook preauth.oauth2.preauthenticate"
has "$work/textfile/status.prom" '^preauth_chain_present\{connection="crm",platform="",owner=""\} 0$'
has "$work/textfile/status.prom" '^preauth_refresh_token_expiry_timestamp_seconds\{connection="acme-nl",platform="exact_online",owner="controller"\} '

# acme-nl handed over to dwh01: kept alive there, so no days left, no expiry metric, the owner everywhere.
handover() { ansible localhost -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -m preauth.oauth2.token_handover -a "connection=acme-nl store_dir={{ preauth_store_dir }} $1"; }
handover host=dwh01 >"$work/handover.out" 2>&1 || { tail -40 "$work/handover.out"; exit 1; }
status >"$work/status-host.out" 2>&1 && fails "status.yml passed with crm missing"
has "$work/status-host.out" "\"acme-nl${row}exact_online${row}dwh01${row}1${row}-${row}-${row}kept alive by dwh01 since [0-9T:-]+Z \(the host refreshes it; its expiry is not known here\)\""
hasnt "$work/textfile/status.prom" '^preauth_(refresh_token_expiry|last_refresh)_timestamp_seconds\{connection="acme-nl"'
has "$work/textfile/status.prom" '^preauth_handed_over_timestamp_seconds\{connection="acme-nl",platform="exact_online",owner="dwh01"\} [0-9.e+]+$'
has "$work/textfile/status.prom" '^preauth_chain_present\{connection="acme-nl",platform="exact_online",owner="dwh01"\} 1$'
handover state=controller >"$work/handback.out" 2>&1 || { tail -40 "$work/handback.out"; exit 1; }

# An inventory of acme-nl alone: nothing missing, the play passes; check mode first, then the file is written
# once and left alone (only its modification time moves).
only='{"preauth_connections": [{"name": "acme-nl", "platform": "exact_online"}]}'
status -e "$only" --check >"$work/status-check.out" 2>&1 || { tail -60 "$work/status-check.out"; exit 1; }
has "$work/status-check.out" "1 connection\(s\); would write the Prometheus file"
status -e "$only" >"$work/status-ok.out" 2>&1 || { tail -60 "$work/status-ok.out"; exit 1; }
has "$work/status-ok.out" "localhost${row}: ok=[0-9]+${row}changed=1 .*failed=0"
touch -d @1000 "$work/textfile/status.prom"
status -e "$only" >"$work/status-again.out" 2>&1 || { tail -60 "$work/status-again.out"; exit 1; }
has "$work/status-again.out" "localhost${row}: ok=[0-9]+${row}changed=0 .*failed=0"
[ "$(stat -c %Y "$work/textfile/status.prom")" -gt 1000 ] || fails "the unchanged metrics file did not get a new modification time"

run reports.yml -e "preauth_work=$work" >"$work/reports.out" 2>&1 || { tail -80 "$work/reports.out"; exit 1; }
grep -q "connection acme-nl generation 1 is owned by host dwh01 since" "$work/reports.out"
grep -q "My Exact Online → Security center → Revoke" "$work/reports.out"

# The metrics file is world-readable and holds no secret; nothing else leaked either.
[ "$(stat -c %a "$work/textfile/preauth.prom")" = 644 ] || { echo "the Prometheus file is not mode 0644" >&2; exit 1; }
"$py" "$driver" scan "$SIM_URL" "$work" "$work"
echo "token_info: reports, hand-over and revocation work; nothing leaked"
