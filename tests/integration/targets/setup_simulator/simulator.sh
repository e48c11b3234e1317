# shellcheck shell=bash
# Sourced by integration targets (needs/target/setup_simulator): start the local authorization
# server in the background on an ephemeral 127.0.0.1 port, export SIM_URL, stop it on exit.


export COLLECTION_ROOT="${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/preauth/oauth2"
SIM_PYTHON="${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}"
# Modules on localhost run with the same interpreter as the controller.
export ANSIBLE_PYTHON_INTERPRETER="$SIM_PYTHON"

stop_simulator() {
    if [ -n "${SIM_PID:-}" ] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill "$SIM_PID"
        wait "$SIM_PID" || true
    fi
}

start_simulator() {
    local workdir portfile
    workdir=$(mktemp -d)
    portfile="$workdir/simulator.json"
    PYTHONPATH="$COLLECTION_ROOT/tests" "$SIM_PYTHON" -m simulator --control --port-file "$portfile" >"$workdir/simulator.log" 2>&1 &
    SIM_PID=$!
    trap stop_simulator EXIT
    for _try in $(seq 1 200); do
        [ -s "$portfile" ] && break
        sleep 0.05
    done
    SIM_URL=$("$SIM_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_url"])' "$portfile")
    export SIM_URL
}
