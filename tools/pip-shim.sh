#!/usr/bin/env bash
# ansible-test --venv bootstraps pip with a script it downloads from a host outside the reachable package
# registries: put a stand-in (tools/get_pip_shim.py: ensurepip, then pip from the package index) in its cache,
# for every pip version the ansible-test of VENV asks for.
#
#   tools/pip-shim.sh VENV
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:?usage: tools/pip-shim.sh VENV}
grep -ohE "pip='[0-9.]+'" "$venv"/lib/python3.*/site-packages/ansible_test/_internal/python_requirements.py \
    | grep -oE '[0-9.]+' | sort -u | while read -r version; do
        dest="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
        [ -f "$dest" ] || { mkdir -p "$(dirname "$dest")" && cp "$root/tools/get_pip_shim.py" "$dest"; }
    done
