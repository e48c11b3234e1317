#!/usr/bin/env bash
# Copy the collection, as git sees it (tracked and untracked-but-not-ignored files), into a fresh
# ansible_collections/preauth/oauth2 tree with its own git index, which is where ansible-test
# must run. Prints the path of the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-$(mktemp -d "${TMPDIR:-/tmp}/preauth-ansible-test.XXXXXX")}
dest="$root/ansible_collections/preauth/oauth2"
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$dest"
(
    cd "$dest"
    git init -q
    git add -A
)
echo "$dest"
