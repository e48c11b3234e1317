#!/usr/bin/env bash
# A client written with ansible.builtin.uri walks the Exact Online flow on the simulator.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
start_simulator
ansible-playbook -i localhost, -c local exact_flow.yml -e "sim_url=$SIM_URL" "$@"
