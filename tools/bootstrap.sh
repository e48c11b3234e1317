#!/usr/bin/env bash
# Create (or refresh) a virtual environment for one ansible-core line and link the collection
# into a collections path inside build/, so that `preauth.oauth2` imports from this checkout.
#
#   tools/bootstrap.sh new       -> .venv           newest Python >= 3.12 (pyenv first), ansible-core 2.21, and the
#                                                   tools of the once-only stages (ansible-lint, antsibull-changelog,
#                                                   ansible-builder)
#   tools/bootstrap.sh mid       -> .venv-2.20      Python 3.12+ (the oldest found), ansible-core 2.20
#   tools/bootstrap.sh old       -> .venv-2.19      Python 3.11, ansible-core 2.19
#   tools/bootstrap.sh lint      -> .venv-lint      the pinned static checkers (ruff, mypy, antsibull-docs)
#   tools/bootstrap.sh importer  -> .venv-importer  galaxy-importer, pinned, for the Galaxy import gate
#
# Without a Python >= 3.12 readable by this user, "new" falls back to the system Python with ansible-core 2.19
# (and the same tools), "mid" makes nothing, and each says so: tools/test.sh then skips the 2.21 and 2.20 lines
# with that reason. A venv is remade only when its requirements file or Python changes (.installed stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
line=${1:?usage: bootstrap.sh new|mid|old|lint|importer}
quiet=(--quiet --disable-pip-version-check)

find_python() { # minor versions, in order of preference
    local v cand
    for v in "$@"; do
        for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" "$(command -v python"$v" || true)"; do
            if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv, ensurepip' 2>/dev/null; then
                echo "$cand"
                return 0
            fi
        done
    done
    return 1
}

no_new_python() {
    echo "bootstrap: no Python 3.12 or newer that $(id -un) can run (looked in ${PYENV_ROOT:-$HOME/.pyenv}/versions and on PATH);" \
        "ansible-core 2.21 and 2.20 need one, so make test skips those lines. Install one (pyenv install 3.13, or a" \
        "python3.13 package) or set PYENV_ROOT to a readable pyenv." >&2
}

extra=()
case "$line" in
new)
    venv=.venv
    if python=$(find_python 3.13 3.12); then
        reqs=tests/requirements/core-2.21.txt
    else
        python=$(command -v python3)
        reqs=tests/requirements/core-2.19.txt
        no_new_python
    fi
    extra=(tests/requirements/tools.txt)
    ;;
mid)
    venv=.venv-2.20
    if ! python=$(find_python 3.12 3.13); then
        rm -rf "$venv"
        exit 0
    fi
    reqs=tests/requirements/core-2.20.txt
    ;;
old)
    venv=.venv-2.19
    python=$(find_python 3.11) || python=$(command -v python3)
    reqs=tests/requirements/core-2.19.txt
    ;;
lint)
    venv=.venv-lint
    python=$(find_python 3.13 3.12 3.11) || python=$(command -v python3)
    reqs=tests/requirements/lint.txt
    ;;
importer)
    venv=.venv-importer
    python=$(find_python 3.13 3.12 3.11) || python=$(command -v python3)
    reqs=tests/requirements/galaxy-importer.txt
    ;;
*)
    echo "usage: bootstrap.sh new|mid|old|lint|importer" >&2
    exit 2
    ;;
esac

stamp="$venv/.installed"
want="$(cat "$reqs" "${extra[@]}" | sha256sum | cut -c1-16) $python"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: creating $venv with $("$python" --version 2>&1) from $reqs ${extra[*]}" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install "${quiet[@]}" --upgrade pip
    args=(-r "$reqs")
    for file in "${extra[@]}"; do args+=(-r "$file"); done
    "$venv/bin/python" -m pip install "${quiet[@]}" "${args[@]}"
    echo "$want" >"$stamp"
fi

mkdir -p build/collections/ansible_collections/preauth
ln -sfn ../../../.. build/collections/ansible_collections/preauth/oauth2
