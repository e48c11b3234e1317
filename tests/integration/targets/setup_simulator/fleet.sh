# shellcheck shell=bash
# Sourced after simulator.sh by the targets that refresh many connections (refresh, refresh_postgresql), whose
# inventory ../setup_simulator/fleet.py writes. PB is the target's ansible-playbook command, a function name.
#
#   parallel_runs PB DIR N ARGS...   N runs of PB ARGS at once, each into DIR/parallel-I.out; prints their summaries
#   noop_run PB DIR COUNT ARGS...    one run of PB ARGS that has nothing to do: COUNT unchanged, changed=0, no token call
#   fault_runs PB DIR PLAYBOOK FAULT...  each simulator fault (JSON) before a refresh of a strict connection of its own
#                                    (strict-00, strict-01, ...), then a second run; each run reports on its connection
#   killed_runs N DIR PICK ansible-playbook ARGS...
#
# killed_runs: N runs of the command, each killed with SIGKILL (its whole process group) inside its refresh, where a
# lost chain would come from: odd runs in the 0.2 s after the task "Refresh the chains that need it" started
# (before its token call, mostly), even runs in the 0.4 s after the platform committed the rotation (the answer on its way,
# the rotated token being saved, the lock being released). PICK is a function that prints run i's extra
# arguments. A random time after ansible-playbook starts would land before the refresh task on most runs
# (Python and ansible-core take 1.5 to 3 s to get there), and test nothing: so each run waits for its
# anchor, a line in its output or the simulator's call counter, at most 60 s. Prints where the kills
# landed, and fails when no kill came after a token call.

summaries() { # FILE...: how many runs ended with each summary line
    grep -ho '[0-9]* refreshed, [0-9]* unchanged, [0-9]* skipped, [0-9]* failed, [0-9]* token call(s)' "$@" | sort | uniq -c
}

parallel_runs() {
    local pb=$1 dir=$2 n=$3 i pids=()
    shift 3
    for i in $(seq 1 "$n"); do
        "$pb" "$@" >"$dir/parallel-$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    summaries "$dir"/parallel-*.out
}

noop_run() {
    local pb=$1 dir=$2 count=$3 before
    shift 3
    before=$(sim_calls)
    "$pb" "$@" >"$dir/noop.out" 2>&1
    grep -q "0 refreshed, $count unchanged, 0 skipped, 0 failed, 0 token call(s)" "$dir/noop.out"
    grep -q "changed=0" "$dir/noop.out"
    [ "$(sim_calls)" = "$before" ] || { echo "the no-op run called the token endpoint" >&2; return 1; }
    echo "no-op re-run: unchanged, zero token calls"
}

inject() { # FAULT (JSON): the simulator's next token answer
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$SIM_URL/_sim/faults" >/dev/null
}

fault_runs() {
    local pb=$1 dir=$2 playbook=$3 i=0 fault name first second
    shift 3
    for fault in "$@"; do
        name="strict-0$i"
        i=$((i + 1))
        inject "$fault"
        "$pb" "$playbook" -e preauth_only="$name" -e preauth_access_token_min_ttl=60 >"$dir/fault.out" 2>&1 || true
        first=$(grep -o "$name: [a-z]* - [^\"]*" "$dir/fault.out" | head -1 | cut -c1-110)
        # preauth_report_unchanged: a line for the connection also when the second run has nothing to do.
        "$pb" "$playbook" -e preauth_only="$name" -e preauth_access_token_min_ttl=60 -e preauth_report_unchanged=true >"$dir/after-fault.out" 2>&1 || true
        second=$(grep -o "$name: [a-z]* - [^\"]*" "$dir/after-fault.out" | head -1 | cut -c1-110)
        printf 'fault %s\n    run 1: %s\n    run 2: %s\n' "$fault" "$first" "$second"
        if [ -z "$first" ] || [ -z "$second" ]; then
            echo "a run after fault $fault did not report on $name" >&2
            return 1
        fi
    done
}

sim_calls() { # the simulator's token calls so far
    curl -fsS "$SIM_URL/_sim/state" | grep -oE '"token_calls_total": *[0-9]+' | grep -oE '[0-9]+$'
}

killed_runs() {
    local n=$1 dir=$2 pick=$3 run victim out before polls extra spread
    local killed_before=0 killed_after=0 finished=0
    shift 3
    for run in $(seq 1 "$n"); do
        out="$dir/killed-$run.out"
        before=$(sim_calls)
        read -ra extra <<<"$("$pick" "$run")"
        setsid "$@" "${extra[@]}" >"$out" 2>&1 &
        victim=$!
        polls=0
        until grep -qs 'TASK \[Refresh the chains that need it\]' "$out" || ! kill -0 "$victim" 2>/dev/null || [ $polls -ge 1200 ]; do
            sleep 0.05
            polls=$((polls + 1))
        done
        spread=20 # up to 0.2 s after the task started: the token call follows within about 0.5 s
        if [ $((run % 2)) -eq 0 ]; then
            spread=40
            polls=0
            until [ "$(sim_calls)" != "$before" ] || ! kill -0 "$victim" 2>/dev/null || [ $polls -ge 3000 ]; do
                sleep 0.02
                polls=$((polls + 1))
            done
        fi
        sleep "$(awk -v r="$RANDOM" -v spread="$spread" 'BEGIN { printf "%.2f", (r % spread) / 100 }')"
        if kill -9 -- "-$victim" 2>/dev/null; then
            wait "$victim" 2>/dev/null || true
            if [ "$(sim_calls)" = "$before" ]; then
                killed_before=$((killed_before + 1))
            else
                killed_after=$((killed_after + 1))
            fi
        else
            wait "$victim" 2>/dev/null || true
            finished=$((finished + 1))
        fi
    done
    echo "$n killed runs: $killed_before killed before their token call, $killed_after after it, $finished finished first"
    if [ "$killed_after" -eq 0 ]; then
        echo "no run was killed after its token call: the kills missed the part of a refresh they are meant to hit" >&2
        return 1
    fi
}
