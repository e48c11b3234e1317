#!/usr/bin/env bash
# Real ansible-playbook runs of a trivial action on the shared base: results, check mode, diff,
# and no secret in the output or the log, even at -vvvv.
set -eu
secret=FAKE-integration-secret-3d9b
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ANSIBLE_LOG_PATH="$work/ansible.log"

ansible-playbook -i localhost, -c local echo.yml --diff -vvvv "$@" >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }

grep -q '"name": null' "$work/out.txt" || { echo "diff before/after not shown with --diff" >&2; exit 1; }
grep -q 'censored' "$work/out.txt" || { echo "the secret-bearing result was not censored" >&2; exit 1; }
if grep -r -- "$secret" "$work/out.txt" "$ANSIBLE_LOG_PATH"; then
    echo "a no_log value appeared in the output or the log" >&2
    exit 1
fi
echo "action_base: results, check mode, diff and no_log behave"
