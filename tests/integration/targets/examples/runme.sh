#!/usr/bin/env bash
# Every module's EXAMPLES block (and the access_token lookup's), run with ansible-playbook against the simulator (driver.py says how
# the example text is adapted: only the simulator's address, the test store and absolute paths, which
# move under a temporary root). Module tasks must change on their first run as expected, and those of
# idempotent modules must not change on a second run. Runs as root: sealed_file's examples set owners.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
work=$(mktemp -d)
start_work "$work"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp"
# The examples' service user (sealed_file owner and group); created like the deploy target's users.
if ! id -u invantive >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin invantive
fi
"$SIM_PYTHON" driver.py "$SIM_URL" "$work"
