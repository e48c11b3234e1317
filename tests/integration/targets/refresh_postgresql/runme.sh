#!/usr/bin/env bash
# Reliability of playbooks/refresh.yml with the chains in a real PostgreSQL store (tests/pgserver.py):
#  1. 8 ansible-playbook processes at once over 20 chains that need refreshing (rotating_strict):
#     each chain refreshed exactly once, none revoked, every row decrypts;
#  2. a re-run with nothing to do changes nothing and makes no token call;
#  3. two controllers (own working directory, HOME, ansible.cfg and ANSIBLE_LOCAL_TEMP each), one
#     database, at once: nothing refreshed twice, nothing lost;
#  4. injected faults (500 after commit, timeout after commit, 429) and SIGKILL of the playbook inside
#     its refresh in 12 runs (before and after the token call, ../setup_simulator/kills.sh): every row
#     decrypts, every chain works or says why it needs a new preauthentication;
#  5. the database session terminated between the platform's answer and the write: the write is
#     retried on a new session, the chain is refreshed and alive;
#  6. the server restarted at that moment: committed after the restart, or kept in a rescue file that
#     the next run writes back (a warning says so); and the server down until the run gives up: always
#     the rescue file, written back by the next run; either way the chain is alive;
#  7. no secret (nor the database password) in any output, log, rescue file or database row;
#  8-10 (chain_safety.sh): a database crash mid-refresh with two controllers, a copy of the database, and
#     rescue directories that others can change.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
# shellcheck source=/dev/null
source ../setup_simulator/fleet.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
pgserver="$COLLECTION_ROOT/tests/pgserver.py"
# The server's own files (env.sh and server.json hold its password) stay outside the scanned work directory.
pgdir=$(mktemp -d)
cleanup_extra() {
    "$py" "$pgserver" stop "$pgdir" || true
    rm -rf "$pgdir"
}
"$py" "$pgserver" start "$pgdir"
# shellcheck source=/dev/null
source "$pgdir/env.sh"

export PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue"
refresh="$COLLECTION_ROOT/playbooks/refresh.yml"
pb() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" -vvvv "$@"; }
calls() { sim_calls; }
lap_start=$SECONDS
lap() {
    echo "timing: $1: $((SECONDS - lap_start)) s"
    lap_start=$SECONDS
}
strict=$(seq -f 'strict-%02g' -s, 0 19)

# Seeding passes the store as the playbook variable; every later run finds it in the environment only.
"$py" tool.py inventory "$SIM_URL" "$work" 20 3
pb seed.yml -e preauth_store_url="$PREAUTH_OAUTH2_STORE_URL" >"$work/seed.out" 2>&1 || { tail -40 "$work/seed.out"; exit 1; }
"$py" tool.py check "$SIM_URL" "$work" any
lap "seed 23 chains"

# 1. An hour later every strict access token has expired: 8 processes at once.
"$py" tool.py later "$SIM_URL" "$work" 3601
parallel_runs pb "$work" 8 "$refresh" -e preauth_access_token_min_ttl=60 -e preauth_only="$strict"
"$py" tool.py check "$SIM_URL" "$work" refreshed-1
lap "1. 8 processes at once"

# 2. Nothing to do: no change, no token call.
noop_run pb "$work" 20 "$refresh" -e preauth_access_token_min_ttl=60 -e preauth_only="$strict"
lap "2. no-op re-run"

# 3. Two controllers share the database: 4 processes each, at once.
controller() {
    local dir="$work/controller-$1"
    mkdir -p "$dir/home" "$dir/tmp"
    cp "$work/inventory.yml" "$work/vault-pw" "$dir/"
    printf '[defaults]\nlocal_tmp = %s\nlog_path = %s\n' "$dir/tmp" "$dir/ansible.log" >"$dir/ansible.cfg"
    (
        cd "$dir"
        unset ANSIBLE_LOG_PATH
        export HOME="$dir/home" ANSIBLE_CONFIG="$dir/ansible.cfg" ANSIBLE_LOCAL_TEMP="$dir/tmp" PREAUTH_OAUTH2_RESCUE_DIR="$dir/rescue"
        runs=()
        for i in 1 2 3 4; do
            ansible-playbook -i inventory.yml --vault-password-file vault-pw -vvvv "$refresh" \
                -e preauth_access_token_min_ttl=60 -e preauth_only="$strict" >"run-$i.out" 2>&1 &
            runs+=($!)
        done
        for run in "${runs[@]}"; do wait "$run"; done
    )
}
"$py" tool.py later "$SIM_URL" "$work" 3601
controller a &
first=$!
controller b &
second=$!
wait "$first"
wait "$second"
for name in a b; do
    grep -q "Using $work/controller-$name/ansible.cfg as config file" "$work/controller-$name/run-1.out"
    [ -s "$work/controller-$name/ansible.log" ] || { echo "controller $name did not log to its own log_path" >&2; exit 1; }
done
"$py" tool.py check "$SIM_URL" "$work" refreshed-2
summaries "$work"/controller-*/run-*.out
lap "3. two controllers at once"

# 4a. Faults, one connection each, then a normal run: works or says why.
"$py" tool.py later "$SIM_URL" "$work" 3601
fault_runs pb "$work" "$refresh" '{"kind": "http_500_after"}' '{"kind": "timeout_after", "seconds": 3}' '{"kind": "http_429", "retry_after": "1"}'
lap "4a. faults"

# 4b. SIGKILL inside the refresh in 12 runs, before and after the token call.
forced() { echo "-e preauth_force=true -e preauth_only=strict-0$(($1 % 7 + 3))"; }
killed_runs 12 "$work" forced ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" "$refresh"
"$py" tool.py in-flight "$work"
# Two minutes later every in-flight marker a killed run left has passed its deadline: the next run decides.
"$py" tool.py later "$SIM_URL" "$work" 120
pb "$refresh" -e preauth_access_token_min_ttl=60 >"$work/after-kill.out" 2>&1 || true
grep -o '[0-9]* refreshed, [0-9]* unchanged, [0-9]* skipped, [0-9]* failed, [0-9]* token call(s)' "$work/after-kill.out"
"$py" tool.py check "$SIM_URL" "$work" any
lap "4b. 12 killed runs"

# 5 and 6: the database goes away while the platform's answer (already committed there) trickles in.
interrupted() {
    local name=$1 action=$2 before victim interval=0.02
    # The outage must begin while the answer still trickles in (about 15 s at 0.06 s a byte): stopping the server
    # (a Python process and pg_ctl) takes seconds on a busy machine.
    [ "$action" != outage ] || interval=0.06
    inject '{"kind": "drip_after", "interval": '"$interval"'}'
    before=$(calls)
    pb "$refresh" -e preauth_only="$name" -e preauth_force=true >"$work/$action.out" 2>&1 &
    victim=$!
    for _try in $(seq 1 400); do
        [ "$(calls)" != "$before" ] && break
        sleep 0.05
    done
    [ "$(calls)" != "$before" ] || { echo "$name: the forced refresh never reached the token endpoint" >&2; exit 1; }
    if [ "$action" = outage ]; then
        # Down until the run has given up on the database: the answer must survive in the rescue file.
        "$py" tool.py server "$pgdir" down || exit 1
        wait "$victim" && rc=0 || rc=$?
        "$py" tool.py server "$pgdir" up || exit 1
        return "$rc"
    fi
    "$py" "$pgserver" "$action" "$pgdir" || exit 1
    wait "$victim"
}

# 5. The session is terminated: the write is tried again on a new session and commits.
interrupted strict-10 terminate
grep -q "strict-10: refreshed - " "$work/terminate.out"
grep -q "trying again on a new database session" "$work/terminate.out"
! compgen -G "$work/rescue/*.json" >/dev/null || { echo "a terminated session left a rescue file" >&2; exit 1; }
"$py" tool.py live "$SIM_URL" "$work" strict-10
pb "$refresh" -e preauth_only=strict-10 -e preauth_force=true >"$work/terminate-after.out" 2>&1
grep -q "strict-10: refreshed - " "$work/terminate-after.out"
"$py" tool.py live "$SIM_URL" "$work" strict-10
lap "5. session terminated after the token answer"

# 6. The server restarts (a): committed after the restart, or rescued and written back by the next run.
# (b) The server stays down until the run gives up: always the rescue file, written back by the next run.
rescued() {
    local name=$1 out=$2 rescue
    grep -q "$name: failed - could not write .* is kept in the rescue file $work/rescue/" "$out"
    rescue=$(ls "$work"/rescue/*."$name".json)
    cp "$rescue" "$work/rescue-copy-$name.json" # the secret scan below reads it
    "$py" tool.py rescue-is-ciphertext "$work/rescue-copy-$name.json"
    pb "$refresh" -e preauth_only="$name" -e preauth_access_token_min_ttl=60 >"$work/$name-next.out" 2>&1
    grep -q "the chain kept in the rescue file $rescue when the database could not be written was written to the database now" "$work/$name-next.out"
    [ ! -e "$rescue" ] || { echo "$name: the rescue file was not removed after it was written back" >&2; exit 1; }
}
alive() {
    "$py" tool.py live "$SIM_URL" "$work" "$1"
    pb "$refresh" -e preauth_only="$1" -e preauth_force=true >"$work/$1-after.out" 2>&1
    grep -q "$1: refreshed - " "$work/$1-after.out"
    "$py" tool.py live "$SIM_URL" "$work" "$1"
}
if interrupted strict-11 restart; then
    grep -q "strict-11: refreshed - " "$work/restart.out"
    echo "server restart: the write committed on a new session after the restart"
else
    rescued strict-11 "$work/restart.out"
    echo "server restart: rescue file written, and written back by the next run"
fi
alive strict-11
if interrupted strict-12 outage; then
    echo "strict-12: the run succeeded although the database was down when the answer arrived" >&2
    exit 1
fi
rescued strict-12 "$work/outage.out"
echo "server down when the answer arrived: rescue file written, and written back by the next run"
alive strict-12
"$py" tool.py check "$SIM_URL" "$work" any
lap "6. server restarted / down after the token answer"

# 8-10: a database crash with two controllers, a copy of the database, rescue directories others can change.
# shellcheck source=chain_safety.sh
source chain_safety.sh

# A move between stores SIGKILLed at each of its steps (issue 18, item 4).
# shellcheck source=move_kill.sh
source move_kill.sh

# 7. Everything ran at -vvvv with log files; the database rows and the server's log are scanned too.
"$py" tool.py dump "$work" "$work/db-rows.txt"
cp "$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["log"])' "$pgdir/server.json")" "$work/pg-server.log"
"$py" tool.py scan "$SIM_URL" "$work"
if grep -rlF -- "$PGPASSWORD" "$work"; then
    echo "the database password leaked into the files above" >&2
    exit 1
fi
echo "database password: in no output, log or file"
lap "7. secret scan"
echo "refresh_postgresql: concurrency, no-op, two controllers, faults, kills, a terminated session, a restarted and a crashed server, a database copy and hostile rescue directories behave; nothing leaked"
