#!/usr/bin/env bash
# Run `ansible-test units` in the collection as a user gets it: the tarball installed with ansible-galaxy into a
# temporary directory, the unit tests run there by the ansible-test of VENV in a virtual environment it makes with
# tests/unit/requirements.txt (pip reaches the package index). Removes the directory afterwards.
#
#   tools/units-installed.sh build/dist/preauth-oauth2-0.2.0.tar.gz .venv [TEST_PATH...]
#
# TEST_PATH (tests/unit/extras/test_awx.py, ...) narrows the run; by default every unit test runs.
# Prints pytest's lines (-r a: every skip with its reason) and, last, "N passed, M failed, K skipped" over the
# controller and the module test runs; exits non-zero when a test failed or ansible-test did not run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: tools/units-installed.sh TARBALL VENV [TEST_PATH...]"
tarball=${1:?$usage}
venv=${2:?$usage}
shift 2

if [ ! -f "$tarball" ]; then
    echo "units-installed: $tarball does not exist; build it with ansible-galaxy collection build" >&2
    exit 2
fi
if [ ! -x "$venv/bin/ansible-test" ]; then
    echo "units-installed: $venv has no ansible-test; make it with tools/bootstrap.sh" >&2
    exit 2
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
venv=$(cd "$venv" && pwd)
python=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test --venv bootstraps pip with a script it would download from outside the package index.
"$root/tools/pip-shim.sh" "$venv"

work=$(mktemp -d "${TMPDIR:-/tmp}/preauth-units-installed.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_CONFIG "$venv/bin/ansible-galaxy" collection install --offline "$tarball" -p "$work" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; echo "units-installed: ansible-galaxy could not install $tarball" >&2; exit 1; }
tree="$work/ansible_collections/preauth/oauth2"

rc=0
(
    cd "$tree"
    exec env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_CONFIG -u PREAUTH_TEST_STORE PATH="$venv/bin:$PATH" \
        "$venv/bin/ansible-test" units --venv --python "$python" --color no "$@"
) 2>&1 | tee "$work/units.log" || rc=$?

# One pytest summary per test context (controller, modules): "== 12 passed, 1 skipped in 3.2s ==".
read -r passed failed skipped < <(grep -E '^=+ .*[0-9]+ (passed|failed|skipped|errors?|deselected).* in [0-9.]+s' "$work/units.log" | awk '
    { for (i = 2; i <= NF; i++) { n = $(i - 1) + 0; w = $i; sub(/,$/, "", w)
        if (w == "passed") p += n; else if (w == "failed" || w == "error" || w == "errors") f += n; else if (w == "skipped") s += n } }
    END { print p + 0, f + 0, s + 0 }')
runs=$(grep -cE '^=+ .* in [0-9.]+s' "$work/units.log" || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$runs" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "units-installed: ansible-test ran no unit test"
    failed=1
fi
echo "units-installed: ansible-test units with Python $python in $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
