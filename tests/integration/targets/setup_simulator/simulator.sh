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

# start_work WORK [--ansible-env]: the simulator; WORK (a directory, mktemp -d) removed on exit, after cleanup_extra
# when the target defines that function (the simulator is stopped last); and the vault password file WORK/vault-pw.
# With --ansible-env, ansible-playbook also writes its log ($ANSIBLE_LOG_PATH) and its local temporary files into
# WORK, where the targets' secret scans look. A target sets its own $work and $py="$SIM_PYTHON", so that the
# linter, which does not read this file, sees where they come from.
start_work() {
    _work=${1:?start_work needs a work directory}
    start_simulator
    trap end_work EXIT
    echo "FAKE-vault-password-for-integration" >"$_work/vault-pw"
    if [ "${2:-}" = --ansible-env ]; then
        export ANSIBLE_LOG_PATH="$_work/ansible.log"
        export ANSIBLE_LOCAL_TEMP="$_work/ansible-tmp"
    fi
}

end_work() {
    if declare -F cleanup_extra >/dev/null; then cleanup_extra || true; fi
    rm -rf "$_work"
    stop_simulator
}
