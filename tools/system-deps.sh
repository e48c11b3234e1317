#!/usr/bin/env bash
# Install the Debian packages that `make test` (or `make demo`) needs and the machine lacks.
# As root it runs apt-get itself; otherwise through sudo when sudo works without a prompt;
# otherwise it stops at once and prints the exact command to run.
#
#   tools/system-deps.sh test|demo
set -euo pipefail
what=${1:?usage: system-deps.sh test|demo}

need=()
want() { # package command-or-check...
    local package=$1
    shift
    "$@" >/dev/null 2>&1 || need+=("$package")
}
# sshd and useradd live in /usr/sbin, which is not on a normal user's PATH
has() { PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1"; }
# tests/pgserver.py runs its own throw-away server from these (PREAUTH_PG_BIN: another installation's bin directory)
has_initdb() { [ -x "${PREAUTH_PG_BIN:-/nonexistent}/initdb" ] || compgen -G "/usr/lib/postgresql/*/bin/initdb"; }

want make has make
want git has git
want curl has curl                                 # integration targets talk to the simulator
want postgresql has_initdb                         # the PostgreSQL token store's tests; the demo's shared store
want chromium has chromium                         # pages in a real browser: tests/unit/docs, the consent service's tests, the demo's invitee
if [ "$what" = test ]; then
    want shellcheck has shellcheck                 # ansible-test sanity: shellcheck
    want openssh-server has sshd                   # the SSH test host for deployment tests
    want openssh-client has ssh
    want sudo has sudo                             # the deploy user becomes root with sudo
    want procps has pkill                          # stop_sshd ends sshd's connection children
    want python3-cryptography /usr/bin/python3 -c 'import cryptography'   # the SSH test host's Python
    want util-linux bash -c 'command -v setsid && command -v findmnt && command -v setpriv'
    want mount has mount                           # the runner mounts a tmpfs on /run/preauth
    want passwd has useradd                        # the SSH test host's users
    # The consent_service role's packages on the SSH test host (the role installs them; here they are ready before it runs)
    for module in flask waitress psycopg requests yaml; do
        want "python3-$module" /usr/bin/python3 -c "import $module"
    done
fi
# sort -u: one package may be named twice above
mapfile -t need < <(printf '%s\n' "${need[@]}" | sed '/^$/d' | sort -u)
[ ${#need[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${need[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    run=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    run=(sudo -n)
else
    echo "system-deps: make $what needs these Debian packages: ${need[*]}" >&2
    echo "system-deps: install them as root, then run make $what again:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${run[@]}" apt-get update -qq && "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "system-deps: apt-get could not install ${need[*]}; see above" >&2
    exit 1
fi
