#!/usr/bin/env bash
# Every quality gate of `make test`. Arguments: the virtual environments to test with, newest
# first (tools/bootstrap.sh makes them). Per environment: unit tests, integration targets and
# ansible-test sanity. Once, with the newest: ansible-lint, changelog lint, collection build and
# tarball content, execution-environment build context, ansible-doc of every module and role,
# pinned ruff, mypy and antsibull-docs lint (tools/bootstrap.sh lint makes .venv-lint).
# Prints one line per stage with its counts and ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
export ANSIBLE_COLLECTIONS_PATH="$root/build/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
logs="$root/build/test-logs"
rm -rf "$logs"
mkdir -p "$logs"

total_passed=0
total_failed=0
report=()

record() { # stage passed failed [note]
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    report+=("$(printf '%-34s %4d passed, %d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
    printf '%-34s %4d passed, %d failed%s\n' "$1" "$2" "$3" "${4:+  ($4)}"
}

fail_log() { # stage logfile
    echo "---- $1 failed; the end of $2:" >&2
    tail -n 60 "$2" >&2
    echo "----" >&2
}

# ansible-test --venv bootstraps pip with a script it downloads from a host outside the
# reachable package registries; put a stand-in that uses ensurepip + the package index in its cache.
install_pip_shim() {
    local venv=$1 file version dest
    file=$(ls "$venv"/lib/python3.*/site-packages/ansible_test/_internal/python_requirements.py)
    grep -oE "pip='[0-9.]+'" "$file" | grep -oE '[0-9.]+' | sort -u | while read -r version; do
        dest="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
        if [ ! -f "$dest" ]; then
            mkdir -p "$(dirname "$dest")"
            cp tools/get_pip_shim.py "$dest"
        fi
    done
}

units() {
    local venv=$1 core=$2 log="$logs/units-$2.log" passed failed
    "$venv/bin/python" -m pytest -q -p no:randomly >"$log" 2>&1
    local rc=$?
    passed=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    failed=$(grep -oE '[0-9]+ (failed|error)' "$log" | awk '{s+=$1} END {print s+0}')
    if [ $rc -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ $rc -eq 0 ] || fail_log "units (core $core)" "$log"
    record "unit tests (core $core)" "${passed:-0}" "$failed"
}

# The tests of the flows again, with every store on PostgreSQL (a real server, tests/pgserver.py).
units_postgresql() {
    local venv=$1 core=$2 log="$logs/units-postgresql-$2.log" passed failed
    PREAUTH_TEST_STORE=postgresql "$venv/bin/python" -m pytest -q -p no:randomly tests/unit/plugins/plugin_utils/test__refresh.py \
        tests/unit/plugins/plugin_utils/test__preauth.py tests/unit/plugins/plugin_utils/test__revoke.py \
        tests/unit/plugins/plugin_utils/test__handover.py tests/unit/plugins/plugin_utils/test__invantive.py \
        tests/unit/plugins/plugin_utils/test__report.py tests/unit/plugins/lookup/test_access_token.py >"$log" 2>&1
    local rc=$?
    passed=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    failed=$(grep -oE '[0-9]+ (failed|error)' "$log" | awk '{s+=$1} END {print s+0}')
    if [ $rc -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ $rc -eq 0 ] || fail_log "units on PostgreSQL (core $core)" "$log"
    record "unit tests, PostgreSQL store (core $core)" "${passed:-0}" "$failed" "$(grep -oE '[0-9]+ skipped' "$log" | tail -1) (file-store only)"
}

integration() {
    local venv=$1 core=$2 py=$3 log="$logs/integration-$2.log" tree targets rc failed_name
    tree=$(tools/collection-tree.sh "$root/build/ansible-test-integration-$core")
    targets=$(cd "$tree" && "$root/$venv/bin/ansible-test" integration --list-targets --allow-destructive 2>/dev/null | grep -vc '^setup_')
    (cd "$tree" && "$root/$venv/bin/ansible-test" integration --local --python "$py" --color no --allow-destructive) >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        record "integration targets (core $core)" "$targets" 0 "real ansible-playbook runs"
    else
        failed_name=$(grep -oE 'To resume at this test target, use the option: --start-at [^ ]+' "$log" | awk '{print $NF}')
        fail_log "integration (core $core)" "$log"
        record "integration targets (core $core)" "$(( $(grep -c 'integration test \(role\|script\)' "$log") - 1 ))" 1 "failed: ${failed_name:-?}"
    fi
}

sanity() {
    local venv=$1 core=$2 py=$3 log="$logs/sanity-$2.log" tree ran failed rc
    install_pip_shim "$venv"
    tree=$(tools/collection-tree.sh "$root/build/ansible-test-sanity-$core")
    (cd "$tree" && "$root/$venv/bin/ansible-test" sanity --venv --python "$py" --color no) >"$log" 2>&1
    rc=$?
    ran=$(grep -c '^Running sanity test' "$log")
    failed=$(grep -oE 'The [0-9]+ sanity test\(s\) listed below' "$log" | grep -oE '[0-9]+' || echo 0)
    if [ $rc -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ $rc -eq 0 ] || fail_log "sanity (core $core)" "$log"
    record "ansible-test sanity (core $core)" "$((ran - failed))" "$failed" "$(grep -c 'WARNING: Skipping' "$log") skipped"
}

lint() {
    local venv=$1 log="$logs/ansible-lint.log"
    (cd "$root" && "$venv/bin/ansible-lint" --profile production --nocolor) >"$log" 2>&1
    local rc=$?
    local files
    files=$(grep -oE 'in [0-9]+ files' "$log" | grep -oE '[0-9]+' | tail -1)
    [ $rc -eq 0 ] || fail_log "ansible-lint" "$log"
    if [ $rc -eq 0 ]; then record "ansible-lint --profile production" "${files:-0}" 0 "files"; else record "ansible-lint --profile production" 0 1; fi
}

static() { # pinned ruff over the repository, mypy over plugins/ (tests/requirements/lint.txt)
    local venv=.venv-lint log="$logs/static.log" problems=0 files
    files=$(git ls-files --cached --others --exclude-standard -- '*.py' | wc -l)
    {
        echo "== ruff check"
        "$venv/bin/ruff" check --no-cache --output-format concise . || problems=$((problems + 1))
        echo "== mypy plugins/"
        (cd "$root/build/collections" && "$root/$venv/bin/mypy" --config-file "$root/pyproject.toml" --no-incremental --cache-dir /dev/null \
            -p ansible_collections.preauth.oauth2.plugins) || problems=$((problems + 1))
    } >"$log" 2>&1
    [ $problems -eq 0 ] || fail_log "ruff / mypy" "$log"
    record "ruff check + mypy plugins/" "$((2 - problems))" "$problems" "$files Python files"
}

docs_lint() { # antsibull-docs lint-collection-docs (from .venv-lint) with ansible-doc of the newest core, in a collection tree
    local venv=$1 log="$logs/antsibull-docs.log" tree rc
    tree=$(tools/collection-tree.sh "$root/build/docs-lint")
    (cd "$tree" && PATH="$root/$venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/build/docs-lint" \
        "$root/.venv-lint/bin/antsibull-docs" lint-collection-docs --plugin-docs .) >"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || fail_log "antsibull-docs lint-collection-docs" "$log"
    if [ $rc -eq 0 ]; then record "antsibull-docs lint-collection-docs" 1 0; else record "antsibull-docs lint-collection-docs" 0 1; fi
}

changelog() {
    local venv=$1 log="$logs/changelog.log" n
    n=$(find changelogs/fragments -name '*.yml' | wc -l)
    if "$venv/bin/antsibull-changelog" lint >"$log" 2>&1 && [ -z "$(cat "$log")" ]; then
        record "changelog fragments lint" "$n" 0
    else
        fail_log "antsibull-changelog lint" "$log"
        record "changelog fragments lint" 0 1
    fi
}

build() {
    local venv=$1 log="$logs/build.log" tree tarball bad checks=0 problems=0
    tree=$(tools/collection-tree.sh "$root/build/galaxy-build")
    rm -rf "$root/build/dist"
    if ! "$venv/bin/ansible-galaxy" collection build "$tree" --output-path "$root/build/dist" >"$log" 2>&1; then
        fail_log "ansible-galaxy collection build" "$log"
        record "collection build" 0 1
        return
    fi
    tarball=$(ls "$root"/build/dist/preauth-oauth2-*.tar.gz)
    checks=$((checks + 1))
    tar -tzf "$tarball" >"$logs/tarball.txt"
    bad=$(grep -E '^(tests|bench|examples|tools|\.ci|build|changelogs/fragments)/|^(Makefile|pyproject\.toml)$|(^|/)\.git|\.venv|__pycache__' "$logs/tarball.txt")
    checks=$((checks + 1))
    if [ -n "$bad" ]; then
        echo "files that must not be in the tarball:" >&2
        echo "$bad" >&2
        problems=$((problems + 1))
    fi
    for needed in galaxy.yml README.md LICENSE meta/runtime.yml meta/execution-environment.yml plugins/plugin_utils/_action.py \
        plugins/module_utils/_sealing.py roles/settings/meta/argument_specs.yml roles/settings/files/preauth-run playbooks/deploy.yml \
        requirements.txt inventory/exact-online.yml extras/awx/execution-environment.yml extras/awx/credential-type.yml \
        extras/awx/playbooks/refresh.yml; do
        checks=$((checks + 1))
        if [ "$needed" = galaxy.yml ]; then needed=MANIFEST.json; fi
        grep -qx "$needed" "$logs/tarball.txt" || { echo "missing from the tarball: $needed" >&2; problems=$((problems + 1)); }
    done
    record "collection build + tarball content" "$((checks - problems))" "$problems" "$(basename "$tarball")"
}

execution_environment() {
    local venv=$1 log="$logs/ee.log" ctx="$root/build/ee" checks=4 problems=0 tarball shipped=extras/awx/execution-environment.yml
    rm -rf "$ctx"
    mkdir -p "$ctx"
    # introspect reads meta/execution-environment.yml of the installed collection
    if ! "$venv/bin/ansible-builder" introspect --sanitize "$ANSIBLE_COLLECTIONS_PATH" >"$log" 2>&1; then
        problems=$((problems + 1))
        fail_log "ansible-builder introspect" "$log"
    elif ! grep -q "requests.*preauth.oauth2" "$log" || ! grep -q "cryptography.*preauth.oauth2" "$log"; then
        problems=$((problems + 1))
        fail_log "ansible-builder introspect (requirements not found)" "$log"
    fi
    # The build context comes from the definition users get in the tarball, with the tarball beside it as its
    # instructions say; it must name the tarball of this version.
    tarball=$(ls "$root"/build/dist/preauth-oauth2-*.tar.gz)
    cp "$shipped" "$tarball" "$ctx/"
    if ! grep -q "/build/collections/$(basename "$tarball")\$" "$ctx/execution-environment.yml" \
        || ! grep -q "src: $(basename "$tarball")\$" "$ctx/execution-environment.yml"; then
        problems=$((problems + 1))
        echo "$shipped does not name $(basename "$tarball") (galaxy.yml's version): update it" | tee -a "$log" >&2
    fi
    if ! (cd "$ctx" && "$root/$venv/bin/ansible-builder" create -f execution-environment.yml -c context --output-filename Containerfile) >>"$log" 2>&1 \
        || [ ! -f "$ctx/context/Containerfile" ] || [ ! -f "$ctx/context/_build/collections/$(basename "$tarball")" ]; then
        problems=$((problems + 1))
        fail_log "ansible-builder create -f $shipped" "$log"
    elif ! grep -q '^cryptography' "$ctx/context/_build/requirements.txt" || ! grep -q '^psycopg\[binary\]' "$ctx/context/_build/requirements.txt"; then
        problems=$((problems + 1))
        echo "psycopg[binary] or cryptography is missing from $ctx/context/_build/requirements.txt" >>"$log"
        fail_log "ansible-builder create (python requirements)" "$log"
    fi
    record "execution environment context" "$((checks - problems))" "$problems" "$shipped"
}

docs() {
    local venv=$1 log="$logs/ansible-doc.log" n=0 bad=0 m
    : >"$log"
    for m in plugins/modules/*.py; do
        [ -e "$m" ] || continue
        m=$(basename "$m" .py)
        n=$((n + 1))
        if ! "$venv/bin/ansible-doc" -t module "preauth.oauth2.$m" >>"$log" 2>&1; then
            bad=$((bad + 1))
            echo "ansible-doc could not render preauth.oauth2.$m" >&2
        fi
    done
    for m in roles/*/meta/argument_specs.yml; do
        [ -e "$m" ] || continue
        m=$(basename "$(dirname "$(dirname "$m")")")
        n=$((n + 1))
        if ! "$venv/bin/ansible-doc" -t role "preauth.oauth2.$m" >>"$log" 2>&1; then
            bad=$((bad + 1))
            echo "ansible-doc could not render the role preauth.oauth2.$m" >&2
        fi
    done
    record "ansible-doc of every module and role" "$((n - bad))" "$bad" "$n modules and roles"
}

first=1
for venv in "$@"; do
    core=$("$venv/bin/python" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
    py=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "== ansible-core $core on Python $py ($venv)"
    units "$venv" "$core"
    units_postgresql "$venv" "$core"
    integration "$venv" "$core" "$py"
    sanity "$venv" "$core" "$py"
    if [ $first -eq 1 ]; then
        lint "$venv"
        static
        docs_lint "$venv"
        changelog "$venv"
        build "$venv"
        execution_environment "$venv"
        docs "$venv"
        first=0
    fi
done

echo
echo "== summary (logs in build/test-logs)"
printf '%s\n' "${report[@]}"
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
