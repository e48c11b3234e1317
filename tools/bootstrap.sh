#!/usr/bin/env bash
# Create (or refresh) a virtual environment for one ansible-core line and link the collection
# into a collections path inside build/, so that `preauth.oauth2` imports from this checkout.
#
#   tools/bootstrap.sh new   -> .venv       newest Python >= 3.12 (pyenv first), ansible-core 2.21
#   tools/bootstrap.sh old   -> .venv-2.19  Python 3.11, ansible-core 2.19
#   tools/bootstrap.sh lint  -> .venv-lint  the pinned static checkers (ruff, mypy)
#
# With no Python >= 3.12 on the machine, "new" falls back to the system Python and the newest
# ansible-core line that supports it (2.19).
set -euo pipefail
cd "$(dirname "$0")/.."
line=${1:?usage: bootstrap.sh new|old|lint}

find_python() {
    local v cand
    for v in "$@"; do
        for cand in "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v python"$v" || true)"; do
            if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv, ensurepip' 2>/dev/null; then
                echo "$cand"
                return 0
            fi
        done
    done
    return 1
}

if [ "$line" = new ]; then
    venv=.venv
    if python=$(find_python 3.13 3.12); then
        reqs=tests/requirements/core-2.21.txt
    else
        python=$(command -v python3)
        reqs=tests/requirements/core-2.19.txt
        echo "bootstrap: no Python 3.12+ found; using $python with ansible-core 2.19" >&2
    fi
elif [ "$line" = lint ]; then
    venv=.venv-lint
    python=$(find_python 3.13 3.12 3.11) || python=$(command -v python3)
    reqs=tests/requirements/lint.txt
else
    venv=.venv-2.19
    python=$(find_python 3.11) || python=$(command -v python3)
    reqs=tests/requirements/core-2.19.txt
fi

stamp="$venv/.installed"
want="$(sha256sum "$reqs" | cut -c1-16) $python"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: creating $venv with $("$python" --version 2>&1) from $reqs" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
    echo "$want" > "$stamp"
fi

mkdir -p build/collections/ansible_collections/preauth
ln -sfn ../../../.. build/collections/ansible_collections/preauth/oauth2
