#!/usr/bin/env bash
# The README's command lines, as written, against the simulator, from a clean directory: the Quick
# start (ansible-core in a virtual environment, build, install the tarball, Python requirements and
# the example inventory from the installed collection, the vault variable, an interactive
# preauthentication, status), the crontab line under cron's environment (no cron daemon: its PATH
# is what breaks such a line), the textfile directory and status lines, and the deploy lines.
# quickstart.py reads them from README.md and documents the substitutions (the only differences
# from what a reader types). Runs as root or as a normal user (no sudo needed).
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
work=$(mktemp -d)
start_work "$work"
"$SIM_PYTHON" quickstart.py "$SIM_URL" "$work"
echo "quickstart: the README's command lines run as written"
