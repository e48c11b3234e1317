# shellcheck shell=bash
# Sourced after simulator.sh by the targets that kill refresh runs (refresh, refresh_postgresql).
#
#   killed_runs N DIR PICK ansible-playbook ARGS...
#
# N runs of the command, each killed with SIGKILL (its whole process group) inside its refresh, where a
# lost chain would come from: odd runs in the 0.2 s after the task "Refresh the chains that need it" started
# (before its token call, mostly), even runs in the 0.4 s after the platform committed the rotation (the answer on its way,
# the rotated token being saved, the lock being released). PICK is a function that prints run i's extra
# arguments. A random time after ansible-playbook starts would land before the refresh task on most runs
# (Python and ansible-core take 1.5 to 3 s to get there), and test nothing: so each run waits for its
# anchor, a line in its output or the simulator's call counter, at most 60 s. Prints where the kills
# landed, and fails when no kill came after a token call.

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
        until grep -q 'TASK \[Refresh the chains that need it\]' "$out" || ! kill -0 "$victim" 2>/dev/null || [ $polls -ge 1200 ]; do
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
