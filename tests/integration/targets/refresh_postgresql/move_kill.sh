# shellcheck shell=bash
# shellcheck disable=SC2154 # work, py, refresh, COLLECTION_ROOT and SIM_URL are runme.sh's
# Sourced by runme.sh (uses pb, calls, $work, $py, $refresh and tool.py): playbooks/store_migrate.yml SIGKILLed at
# each step of a move of one chain from the PostgreSQL store to a file store (issue 18, item 4). At every kill point
# no store holds a copy that refreshes: a forced refresh against either store makes no token call and fails with the
# message that names both stores and says to run the move again; running it again (or the reverse move) settles it
# without a person. PREAUTH_OAUTH2_TEST_MOVE_PAUSE=<step>:<file> is a test-only seam of plugins/plugin_utils/_flows/move.py:
# the move writes its process id to <file> at that step and waits there, so the kill lands exactly there.
migrate="$COLLECTION_ROOT/playbooks/store_migrate.yml"
moving=strict-15
held="connection $moving is held by a move between token stores that did not finish"

# migrate_killed STEP OUT ARGS...: the move, killed (the pausing worker, then the playbook) when it reaches STEP.
migrate_killed() {
    local step=$1 out=$2 flag="$work/move-paused" victim
    shift 2
    rm -f "$flag"
    PREAUTH_OAUTH2_TEST_MOVE_PAUSE="$step:$flag" setsid ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" \
        "$migrate" -e preauth_only="$moving" "$@" >"$out" 2>&1 &
    victim=$!
    for _try in $(seq 1 600); do
        [ -s "$flag" ] && break
        sleep 0.1
    done
    [ -s "$flag" ] || { echo "the move never reached step $step" >&2; tail -30 "$out" >&2; exit 1; }
    kill -9 "$(cat "$flag")"
    kill -9 -- "-$victim" 2>/dev/null || true
    wait "$victim" 2>/dev/null || true
}

# refused STORE_ARGS...: a forced refresh against that store fails for the chain and makes no token call.
refused() {
    local expected=$1 out="$work/move-refresh.out" before
    shift
    before=$(calls)
    if pb "$refresh" -e preauth_only="$moving" -e preauth_force=true "$@" >"$out" 2>&1; then
        echo "$moving: a refresh during a stopped move succeeded ($*)" >&2
        exit 1
    fi
    grep -q "$moving: failed - $expected" "$out" || { echo "$moving: not refused with '$expected' ($*)" >&2; grep -o "$moving: [a-z]* - .\{0,300\}" "$out" | head -3 >&2; exit 1; }
    if grep -q "$held" "$out"; then
        grep -q "Run the move again with the same stores, which settles it without a new login: ansible-playbook preauth.oauth2.store_migrate" "$out"
        if grep -q "${held}[^\"]*preauth.oauth2.token_re" "$out"; then # never "refresh or revoke a copy"
            echo "$moving: the refusal names a refresh or a revocation as the way out" >&2
            exit 1
        fi
    fi
    [ "$(calls)" = "$before" ] || { echo "$moving: a refresh during a stopped move called the token endpoint" >&2; exit 1; }
}

settled() { # OUT WHAT ARGS...: the move run again, and what its table says it did
    local out=$1 what=$2
    shift 2
    pb "$migrate" -e preauth_only="$moving" "$@" >"$out" 2>&1 || { tail -40 "$out" >&2; exit 1; }
    grep -Eq "$moving +moved +[0-9]+  moved to .*$what the move from " "$out" || { grep -o "$moving  .*" "$out" >&2; exit 1; }
}

before_moves=$(calls)
for step in marked written tombstoned; do
    dir="$work/moved-$step"
    migrate_killed "$step" "$work/move-$step.out" -e preauth_to_store_dir="$dir"
    case $step in
        marked)
            "$py" tool.py move-sides "$work" "$moving" "$dir" marked:-
            refused "$held"
            refused "no stored chain" -e preauth_store_dir="$dir"
            ;;
        written)
            "$py" tool.py move-sides "$work" "$moving" "$dir" marked:marked
            refused "$held"
            refused "$held" -e preauth_store_dir="$dir"
            ;;
        tombstoned)
            "$py" tool.py move-sides "$work" "$moving" "$dir" tombstone:marked
            refused "the chain was moved to $dir"
            refused "$held" -e preauth_store_dir="$dir"
            ;;
    esac
    if [ "$step" = written ]; then
        # The reverse move rolls it back: the copy gives way, the chain stays in PostgreSQL.
        settled "$work/move-$step-again.out" "rolled back" -e preauth_store_dir="$dir" -e preauth_to_store_url="$PREAUTH_OAUTH2_STORE_URL"
    else
        settled "$work/move-$step-again.out" finished -e preauth_to_store_dir="$dir"
        "$py" tool.py move-sides "$work" "$moving" "$dir" tombstone:live
        pb "$migrate" -e preauth_only="$moving" -e preauth_store_dir="$dir" -e preauth_to_store_url="$PREAUTH_OAUTH2_STORE_URL" >"$work/move-$step-back.out" 2>&1
    fi
    "$py" tool.py move-sides "$work" "$moving" "$dir" live:tombstone
    "$py" tool.py live "$SIM_URL" "$work" "$moving"
    echo "move killed after '$step': no copy refreshed, settled by the next run"
done

# A rollback killed half way (the copy is a tombstone, the source still marked) is settled by running it again.
dir="$work/moved-rollback"
migrate_killed written "$work/move-rollback-1.out" -e preauth_to_store_dir="$dir"
migrate_killed copy_removed "$work/move-rollback-2.out" -e preauth_store_dir="$dir" -e preauth_to_store_url="$PREAUTH_OAUTH2_STORE_URL"
"$py" tool.py move-sides "$work" "$moving" "$dir" marked:tombstone
refused "$held"
settled "$work/move-rollback-3.out" "rolled back" -e preauth_store_dir="$dir" -e preauth_to_store_url="$PREAUTH_OAUTH2_STORE_URL"
"$py" tool.py move-sides "$work" "$moving" "$dir" live:tombstone
[ "$(calls)" = "$before_moves" ] || { echo "the killed moves and their refusals called the token endpoint" >&2; exit 1; }

# The chain is alive where it ended: an hour later a forced refresh from PostgreSQL rotates it.
"$py" tool.py later "$SIM_URL" "$work" 3601
pb "$refresh" -e preauth_only="$moving" -e preauth_force=true >"$work/move-after.out" 2>&1
grep -q "$moving: refreshed - " "$work/move-after.out"
"$py" tool.py live "$SIM_URL" "$work" "$moving"
lap "move killed at each step"
