#!/usr/bin/env bash
# Run galaxy-importer, the check Galaxy and Automation Hub run on an upload, on a built collection tarball, offline
# (tests/galaxy-importer.cfg: ansible-doc and ansible-lint, no ansible-test, no container), and fail on any error
# or warning it reports.
#
#   tools/galaxy-importer.sh dist/preauth-oauth2-0.2.0.tar.gz
#
# The importer runs from its own virtual environment (default .venv-importer, from
# tests/requirements/galaxy-importer.txt; IMPORTER_VENV=path for another). Prints the offending lines and one
# summary line "galaxy-importer: N errors, M warnings"; exits 0 only when both are 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tarball=${1:?usage: tools/galaxy-importer.sh TARBALL}
venv=${IMPORTER_VENV:-$root/.venv-importer}

if [ ! -f "$tarball" ]; then
    echo "galaxy-importer: $tarball does not exist; build it with ansible-galaxy collection build" >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import galaxy_importer' 2>/dev/null; then
    echo "galaxy-importer: no galaxy-importer in $venv; create it with" \
        "python3 -m venv $venv && $venv/bin/pip install -r tests/requirements/galaxy-importer.txt" >&2
    exit 2
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

work=$(mktemp -d "${TMPDIR:-/tmp}/preauth-galaxy-importer.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp" "$work/home"

# The importer finds ansible-doc and ansible-lint on PATH; nothing of the caller's Ansible setup may leak in.
rc=0
(
    cd "$work"
    exec env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_COLLECTIONS_PATHS \
        PATH="$venv/bin:$PATH" HOME="$work/home" TMPDIR="$work/tmp" \
        GALAXY_IMPORTER_CONFIG="$root/tests/galaxy-importer.cfg" \
        "$venv/bin/python" -m galaxy_importer.main "$tarball"
) >"$work/out.log" 2>&1 || rc=$?

# The importer logs "ERROR: ..." and "WARNING: ..." lines (ansible-lint's findings are warnings); a traceback or an
# exit status other than 0 is an error too.
errors=$(grep -c -E '^(ERROR|CRITICAL):|^Traceback ' "$work/out.log" || true)
warnings=$(grep -c '^WARNING:' "$work/out.log" || true)
if [ "$rc" -ne 0 ] && [ "$errors" -eq 0 ]; then
    errors=1
    echo "galaxy-importer exited with status $rc:"
    tail -n 20 "$work/out.log"
fi
if ! grep -q '^Importer processing completed successfully' "$work/out.log" && [ "$errors" -eq 0 ]; then
    errors=1
    echo "galaxy-importer did not complete:"
    tail -n 20 "$work/out.log"
fi
grep -E '^(ERROR|CRITICAL|WARNING):|^Traceback ' "$work/out.log" || true
echo "galaxy-importer: $errors errors, $warnings warnings"
[ "$errors" -eq 0 ] && [ "$warnings" -eq 0 ]
