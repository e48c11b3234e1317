#!/usr/bin/env bash
# Every quality gate of `make test`, on every ansible-core line whose virtual environment exists
# (tools/bootstrap.sh makes them): .venv (2.21, newest Python), .venv-2.20 (units and sanity) and
# .venv-2.19 (Python 3.11). Per line: unit tests (pytest-xdist) and ansible-test sanity; integration targets on
# the newest and the oldest line. Once, with .venv: the flows' tests again on the PostgreSQL store and the
# refresh_postgresql target, ansible-test units from the installed tarball and the tests only a checkout can run,
# ansible-lint, ruff + mypy, antsibull-docs lint, the docs site built offline, changelog lint, collection build and
# tarball content, galaxy-importer on the tarball, the execution-environment build context, ansible-doc of every
# module and role. The README's Development section has the table.
#
#   tools/test.sh [STAGE...]   STAGE: all (default), units, lint, integration; TARGET=name narrows integration
#
# Two workers (the machine's two cores; PREAUTH_TEST_LANES=1: one) take the stages from one queue, longest first.
# Integration targets that change the machine (needs/root: users, sshd, /var/lib/preauth) take a lock, so
# they never meet. Prints one line per stage with
# its counts and wall time, the reasons of every skip, and ends with "N passed, M failed, K skipped".
# Interrupted (Ctrl-C, a CI timeout's SIGTERM), it stops every stage it started and what they started.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
export ANSIBLE_COLLECTIONS_PATH="$root/build/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
logs="$root/build/test-logs"
results="$logs/results"
rm -rf "$logs"
mkdir -p "$results"
lanes=${PREAUTH_TEST_LANES:-2}
started=$SECONDS
what=("${@:-all}")

NEW=.venv MID=.venv-2.20 OLD=.venv-2.19

# ------------------------------------------------------------------ bookkeeping
stage_id=""
stage_start=$SECONDS
line() { printf '%-46s %4d passed, %d failed, %d skipped %5ss%s\n' "$1" "$2" "$3" "$4" "$5" "${6:+  ($6)}"; }

record() { # name passed failed skipped [note]
    local seconds=$((SECONDS - stage_start))
    printf '%s\t%d\t%d\t%d\t%d\t%s\n' "$1" "$2" "$3" "$4" "$seconds" "${5:-}" >"$results/$stage_id"
    line "$1" "$2" "$3" "$4" "$seconds" "${5:-}"
}

skip_stage() { # name reason: a stage that cannot run here, counted with its reason
    record "$1" 0 0 1 "skipped: $2"
    echo "$1: $2" >>"$results/$stage_id.skips"
}

stage() { # id function args...
    stage_id=$1
    shift
    stage_start=$SECONDS
    "$@"
}

fail_log() { # stage logfile
    {
        echo "---- $1 failed; the end of $2:"
        tail -n 60 "$2"
        echo "----"
    } >&2
}

core_of() { "$1/bin/python" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))'; }
python_of() { "$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# pytest's skip reasons (-rs: "SKIPPED [n] file:line: reason"), counted per reason, for the summary.
skip_reasons() { # stage-name log
    grep -E '^SKIPPED \[[0-9]+\]' "$2" | sed -E 's/^SKIPPED \[([0-9]+)\] [^:]+(:[0-9]+)?: /\1\t/' \
        | awk -F'\t' -v stage="$1" '{n[$2]+=$1} END {for (r in n) printf "%s: %d skipped: %s\n", stage, n[r], r}' >"$results/$stage_id.skips"
}

# pytest's counts and its skip reasons into the stage's record.
pytest_record() { # name log rc [note]
    local name=$1 log=$2 rc=$3 passed failed skipped
    passed=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    failed=$(tail -n 3 "$log" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
    skipped=$(grep -oE '[0-9]+ skipped' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ "$rc" -eq 0 ] || fail_log "$name" "$log"
    skip_reasons "$name" "$log"
    record "$name" "${passed:-0}" "$failed" "${skipped:-0}" "${4:-}"
}

install_pip_shim() { tools/pip-shim.sh "$1"; } # ansible-test --venv's pip, from the package index

# ------------------------------------------------------------------ per core line
units() { # venv core
    local venv=$1 core=$2 log="$logs/units-$2.log" rc once=run
    # with the newest line in the same run, the tests that do not depend on ansible-core run there only
    if [ "$venv" != "$NEW" ] && wants all; then once=skip; fi
    PREAUTH_TEST_CORE_INDEPENDENT=$once timeout --kill-after=30 1500 "$venv/bin/python" -m pytest -q -p no:randomly -n "$lanes" --dist loadfile -rs --durations=25 >"$log" 2>&1
    rc=$?
    pytest_record "unit tests (core $core)" "$log" "$rc"
}

# What the installed collection cannot run (tests marked checkout: tools/, galaxy.yml, git, the fragments), from this
# checkout, on the newest line: the rest of the newest line's unit tests run in the installed collection.
units_checkout() { # venv core
    local venv=$1 core=$2 log="$logs/units-checkout-$2.log" rc
    timeout --kill-after=30 900 "$venv/bin/python" -m pytest -q -p no:randomly -n "$lanes" --dist loadfile -rs -m checkout >"$log" 2>&1
    rc=$?
    pytest_record "unit tests, checkout only (core $core)" "$log" "$rc"
}

# The tests of the flows again, with every store on PostgreSQL (a real server, tests/pgserver.py).
units_postgresql() { # venv core
    local venv=$1 core=$2 log="$logs/units-postgresql-$2.log" rc
    PREAUTH_TEST_STORE=postgresql timeout --kill-after=30 900 "$venv/bin/python" -m pytest -q -p no:randomly -n "$lanes" --dist loadfile -rs \
        tests/unit/plugins/plugin_utils/_flows/test_refresh.py tests/unit/plugins/plugin_utils/_flows/test_preauth.py \
        tests/unit/plugins/plugin_utils/_flows/test_revoke.py tests/unit/plugins/plugin_utils/_flows/test_handover.py \
        tests/unit/plugins/plugin_utils/_flows/test_invantive.py tests/unit/plugins/plugin_utils/_flows/test_report.py \
        tests/unit/plugins/lookup/test_access_token.py >"$log" 2>&1
    rc=$?
    pytest_record "unit tests, PostgreSQL store (core $core)" "$log" "$rc"
}

# Which targets change the machine: they run in one lane, one core line after the other.
machine_targets() { grep -lx 'needs/root' tests/integration/targets/*/aliases | xargs -n1 dirname | xargs -n1 basename | sort; }
all_targets() {
    local t
    for t in tests/integration/targets/*/aliases; do
        grep -qx hidden "$t" || basename "$(dirname "$t")"
    done | sort
}

integration() { # venv core label targets...
    local venv=$1 core=$2 label=$3 py log tree rc failed_name n
    shift 3
    py=$(python_of "$venv")
    log="$logs/integration-$core-$label.log"
    n=$#
    if [ "$n" -eq 0 ]; then
        skip_stage "integration, $label (core $core)" "no target selected"
        return
    fi
    if [ "$(id -u)" -ne 0 ] && [ "$label" = machine ]; then
        skip_stage "integration, $label (core $core)" "targets $* need root (users, sshd, /var/lib/preauth): run make test as root"
        return
    fi
    tree=$(tools/collection-tree.sh "$root/build/ansible-test-integration-$core-$label")
    # the targets that change the machine (users, sshd, /var/lib/preauth) never run twice at once
    exec 7>"$logs/$label.lock"
    flock 7
    (cd "$tree" && timeout --kill-after=30 2400 "$root/$venv/bin/ansible-test" integration --local --python "$py" --color no --allow-destructive "$@") >"$log" 2>&1
    rc=$?
    flock -u 7
    exec 7>&-
    if [ $rc -eq 0 ]; then
        record "integration, $label (core $core)" "$n" 0 0 "$*"
    else
        failed_name=$(grep -oE 'To resume at this test target, use the option: --start-at [^ ]+' "$log" | awk '{print $NF}')
        fail_log "integration, $label (core $core)" "$log"
        record "integration, $label (core $core)" "$(($(grep -c 'integration test \(role\|script\)' "$log") - 1))" 1 0 "failed: ${failed_name:-?}"
    fi
}

sanity() { # venv core
    local venv=$1 core=$2 py log="$logs/sanity-$2.log" tree ran failed rc
    py=$(python_of "$venv")
    install_pip_shim "$venv"
    tree=$(tools/collection-tree.sh "$root/build/ansible-test-sanity-$core")
    (cd "$tree" && timeout --kill-after=30 1200 "$root/$venv/bin/ansible-test" sanity --venv --python "$py" --color no) >"$log" 2>&1
    rc=$?
    ran=$(grep -c '^Running sanity test' "$log")
    failed=$(grep -oE 'The [0-9]+ sanity test\(s\) listed below' "$log" | grep -oE '[0-9]+' || echo 0)
    if [ $rc -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ $rc -eq 0 ] || fail_log "sanity (core $core)" "$log"
    grep -oE 'WARNING: Skipping .*' "$log" | sed "s/^WARNING: /sanity (core $core): /" >"$results/$stage_id.skips"
    record "ansible-test sanity (core $core)" "$((ran - failed))" "$failed" "$(grep -c 'WARNING: Skipping' "$log")"
}

# ------------------------------------------------------------------ once, with the newest line
lint() {
    local venv=$NEW log="$logs/ansible-lint.log" rc files
    (cd "$root" && timeout 900 "$venv/bin/ansible-lint" --profile production --nocolor) >"$log" 2>&1
    rc=$?
    files=$(grep -oE 'in [0-9]+ files' "$log" | grep -oE '[0-9]+' | tail -1)
    [ $rc -eq 0 ] || fail_log "ansible-lint" "$log"
    if [ $rc -eq 0 ]; then record "ansible-lint --profile production" "${files:-0}" 0 0 "files"; else record "ansible-lint --profile production" 0 1 0; fi
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
    record "ruff check + mypy plugins/" "$((2 - problems))" "$problems" 0 "$files Python files"
}

docs_lint() { # antsibull-docs lint-collection-docs (from .venv-lint) with ansible-doc of the newest core, in a collection tree
    local venv=$NEW log="$logs/antsibull-docs.log" tree rc
    tree=$(tools/collection-tree.sh "$root/build/docs-lint")
    (cd "$tree" && PATH="$root/$venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/build/docs-lint" \
        timeout 900 "$root/.venv-lint/bin/antsibull-docs" lint-collection-docs --plugin-docs .) >"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || fail_log "antsibull-docs lint-collection-docs" "$log"
    if [ $rc -eq 0 ]; then record "antsibull-docs lint-collection-docs" 1 0 0; else record "antsibull-docs lint-collection-docs" 0 1 0; fi
}

docsite() { # the docs site, built offline as antsibull-docs makes it (sphinx-build -W), and its pages checked
    local log="$logs/docsite.log" rc
    PATH="$root/$NEW/bin:$PATH" timeout 900 "$root/.venv-lint/bin/python" tools/docsite_build.py "$root/build/docsite" >"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || fail_log "docs site build" "$log"
    if [ $rc -eq 0 ]; then
        record "docs site build (sphinx-build -W, offline)" 1 0 0 "$(grep -oE '[0-9]+ pages checked' "$log")"
    else
        record "docs site build (sphinx-build -W, offline)" 0 1 0
    fi
}

changelog() {
    local venv=$NEW log="$logs/changelog.log" n
    n=$(find changelogs/fragments -name '*.yml' | wc -l)
    if "$venv/bin/antsibull-changelog" lint >"$log" 2>&1 && [ -z "$(cat "$log")" ]; then
        record "changelog lint" "$((n + 1))" 0 0 "changelog.yaml and $n fragments"
    else
        fail_log "antsibull-changelog lint" "$log"
        record "changelog lint" 0 1 0
    fi
}

build() {
    local venv=$NEW log="$logs/build.log" tree tarball bad checks=0 problems=0 needed
    tree=$(tools/collection-tree.sh "$root/build/galaxy-build")
    rm -rf "$root/build/dist"
    if ! "$venv/bin/ansible-galaxy" collection build "$tree" --output-path "$root/build/dist" >"$log" 2>&1; then
        fail_log "ansible-galaxy collection build" "$log"
        record "collection build + tarball content" 0 1 0
        return
    fi
    tarball=$(ls "$root"/build/dist/preauth-oauth2-*.tar.gz)
    checks=$((checks + 1))
    tar -tzf "$tarball" >"$logs/tarball.txt"
    bad=$(grep -E '^(bench|examples|tools|\.ci|build|changelogs/fragments)/|^(Makefile|pyproject\.toml)$|(^|/)\.git|\.venv|__pycache__|\.pyc$' "$logs/tarball.txt")
    checks=$((checks + 1))
    if [ -n "$bad" ]; then
        echo "files that must not be in the tarball:" >&2
        echo "$bad" >&2
        problems=$((problems + 1))
    fi
    for needed in galaxy.yml README.md LICENSE meta/runtime.yml meta/execution-environment.yml plugins/plugin_utils/_action.py \
        plugins/module_utils/_sealing.py roles/settings/meta/argument_specs.yml roles/settings/README.md roles/settings/files/preauth-run \
        playbooks/deploy.yml requirements.txt inventory/exact-online.yml extras/awx/execution-environment.yml extras/awx/credential-type.yml \
        extras/awx/playbooks/refresh.yml changelogs/changelog.yaml CHANGELOG.rst CHANGELOG.md tests/unit/requirements.txt roles/settings/README.md; do
        checks=$((checks + 1))
        if [ "$needed" = galaxy.yml ]; then needed=MANIFEST.json; fi
        grep -qx "$needed" "$logs/tarball.txt" || { echo "missing from the tarball: $needed" >&2; problems=$((problems + 1)); }
    done
    record "collection build + tarball content" "$((checks - problems))" "$problems" 0 "$(basename "$tarball")"
}

tarball_or_skip() { # stage name: the built tarball, or a skip when build failed
    local tarball
    tarball=$(compgen -G "$root/build/dist/preauth-oauth2-*.tar.gz" | head -1)
    if [ -z "$tarball" ]; then
        record "$1" 0 1 0 "no tarball: the collection build failed"
        return 1
    fi
    echo "$tarball"
}

galaxy_importer() {
    local log="$logs/galaxy-importer.log" tarball rc
    tarball=$(tarball_or_skip "galaxy-importer on the tarball") || return
    timeout 900 tools/galaxy-importer.sh "$tarball" >"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || fail_log "galaxy-importer" "$log"
    if [ $rc -eq 0 ]; then
        record "galaxy-importer on the tarball" 1 0 0 "$(grep -oE '[0-9]+ errors?, [0-9]+ warnings?' "$log" | tail -1)"
    else
        record "galaxy-importer on the tarball" 0 1 0 "$(grep -oE '[0-9]+ errors?, [0-9]+ warnings?' "$log" | tail -1)"
    fi
}

units_installed() { # ansible-test units in the collection as ansible-galaxy installs it from the tarball
    local log="$logs/units-installed.log" tarball rc passed failed skipped
    local waited=0
    while [ ! -f "$results/9-1-build" ] && [ $waited -lt 600 ]; do # the build is first in the queue
        sleep 2
        waited=$((waited + 2))
    done
    tarball=$(tarball_or_skip "ansible-test units, installed tarball") || return
    timeout --kill-after=30 1500 tools/units-installed.sh "$tarball" "$NEW" >"$log" 2>&1
    rc=$?
    read -r passed failed skipped < <(grep -oE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -1 | grep -oE '[0-9]+' | tr '\n' ' ')
    if [ $rc -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    [ $rc -eq 0 ] || fail_log "ansible-test units (installed)" "$log"
    skip_reasons "ansible-test units (installed)" "$log"
    record "unit tests, installed tarball (core $(core_of "$NEW"))" "${passed:-0}" "${failed:-0}" "${skipped:-0}"
}

execution_environment() {
    local venv=$NEW log="$logs/ee.log" ctx="$root/build/ee" checks=4 problems=0 tarball shipped=extras/awx/execution-environment.yml
    tarball=$(tarball_or_skip "execution environment context") || return
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
    record "execution environment context" "$((checks - problems))" "$problems" 0 "$shipped"
}

docs() {
    local venv=$NEW log="$logs/ansible-doc.log" n=0 bad=0 m
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
    if ! "$venv/bin/ansible-doc" -t lookup preauth.oauth2.access_token >>"$log" 2>&1; then
        bad=$((bad + 1))
        echo "ansible-doc could not render the lookup preauth.oauth2.access_token" >&2
    fi
    n=$((n + 1))
    for m in roles/*/meta/argument_specs.yml; do
        [ -e "$m" ] || continue
        m=$(basename "$(dirname "$(dirname "$m")")")
        n=$((n + 1))
        if ! "$venv/bin/ansible-doc" -t role "preauth.oauth2.$m" >>"$log" 2>&1; then
            bad=$((bad + 1))
            echo "ansible-doc could not render the role preauth.oauth2.$m" >&2
        fi
    done
    record "ansible-doc of every module, lookup and role" "$((n - bad))" "$bad" 0 "$n plugins and roles"
}

# ------------------------------------------------------------------ lanes
# The lines that exist here, newest first; a line that cannot run is a counted skip with its reason.
# PREAUTH_TEST_LINES=new: the newest line only (make units, make integration).
new_core=$(core_of "$NEW")
lines=("$NEW")
missing_lines=()
if [ "${PREAUTH_TEST_LINES:-all}" != new ]; then
    if [ -x "$MID/bin/python" ]; then lines+=("$MID"); else missing_lines+=(2.20); fi
    if [ -x "$OLD/bin/python" ] && [ "$(core_of "$OLD")" != "$new_core" ]; then lines+=("$OLD"); fi
fi
[ "$new_core" = 2.21 ] || missing_lines+=(2.21)
rank_of() { # venv: its place in lines, for the order of the summary
    local i
    for i in "${!lines[@]}"; do [ "${lines[$i]}" = "$1" ] && echo "$i"; done
}
# Integration runs on the newest and the oldest line; 2.20 gets units and sanity.
int_lines=("$NEW")
if [ ${#lines[@]} -gt 1 ] && [ "${lines[-1]}" = "$OLD" ]; then int_lines+=("$OLD"); fi

wants() { local w; for w in "${what[@]}"; do if [ "$w" = all ] || [ "$w" = "$1" ]; then return 0; fi; done; return 1; }

selected() { # targets...: those named in TARGET (comma-separated), or all when it is not set
    local t
    for t in "$@"; do
        if [ -z "${TARGET:-}" ] || [[ ",${TARGET}," == *",$t,"* ]]; then echo "$t"; fi
    done
}
mapfile -t machine_all < <(machine_targets)
mapfile -t controller_all < <(comm -23 <(all_targets) <(machine_targets))
mapfile -t machine < <(selected "${machine_all[@]}")
mapfile -t controller < <(selected "${controller_all[@]}")
if [ -n "${TARGET:-}" ] && [ $((${#machine[@]} + ${#controller[@]})) -eq 0 ]; then
    echo "test.sh: no integration target named ${TARGET}; the targets: $(all_targets | tr '\n' ' ')" >&2
    exit 2
fi

# The stages go into one queue, longest first (as measured on a 2-core machine), and $lanes workers take them
# from it in turn, so that the two cores stay busy to the end. The targets that change the machine take a lock:
# never two at once. The units of the installed tarball wait for the build, which is first in the queue.
heavy=(refresh_postgresql)
mapfile -t pg_targets < <(selected "${heavy[@]}")
mapfile -t controller < <(comm -23 <(printf '%s\n' "${controller[@]}" | sed '/^$/d') <(printf '%s\n' "${heavy[@]}"))
queue="$logs/queue"
plan() { # one line per stage: id function args...
    local venv core
    if wants all; then echo "9-1-build build"; fi
    if wants integration; then
        for venv in "${int_lines[@]}"; do
            core=$(core_of "$venv")
            [ ${#controller[@]} -eq 0 ] || echo "$(rank_of "$venv")-$core-3-int-controller integration $venv $core controller ${controller[*]}"
            if wants all && [ "$venv" = "$NEW" ]; then echo "$(rank_of "$NEW")-$new_core-1-units-installed units_installed"; fi
            [ ${#machine[@]} -eq 0 ] || echo "$(rank_of "$venv")-$core-4-int-machine integration $venv $core machine ${machine[*]}"
            # The PostgreSQL backend (_pgstore.py, psycopg, SQL) calls no ansible-core API of its own: what it shares with the
            # file store (the vault envelope, the flows, the playbooks) the older line tests with refresh and the unit tests.
            if [ ${#pg_targets[@]} -gt 0 ] && [ "$venv" = "$NEW" ]; then
                echo "$(rank_of "$venv")-$core-5-int-pg integration $venv $core postgresql ${pg_targets[*]}"
            fi
        done
    elif wants all; then
        echo "$(rank_of "$NEW")-$new_core-1-units-installed units_installed"
    fi
    if wants units; then
        for venv in "${lines[@]}"; do
            core=$(core_of "$venv")
            # The newest line's unit tests run in the collection installed from the tarball when make test runs it all;
            # the older lines run them in this checkout, where the tests of tools/ and the demo run too.
            if [ "$venv" != "$NEW" ] || ! wants all; then echo "$(rank_of "$venv")-$core-1-units units $venv $core"; fi
        done
        if wants all; then echo "$(rank_of "$NEW")-$new_core-7-units-checkout units_checkout $NEW $new_core"; fi
        # The flows' tests on a PostgreSQL store, on the newest line (see the PostgreSQL integration target above).
        echo "$(rank_of "$NEW")-$new_core-2-pg units_postgresql $NEW $new_core"
    fi
    if wants all; then
        for venv in "${lines[@]}"; do
            echo "$(rank_of "$venv")-$(core_of "$venv")-6-sanity sanity $venv $(core_of "$venv")"
        done
    fi
    if wants lint; then
        printf '%s\n' "8-1-lint lint" "8-2-static static" "8-3-docs-lint docs_lint" "8-4-changelog changelog" "8-5-docs docs" "8-6-docsite docsite"
    fi
    if wants all; then
        printf '%s\n' "9-2-ee execution_environment" "9-3-importer galaxy_importer"
    fi
}

pop() { # the next stage of the queue, taken under its lock
    local next
    exec 8>"$queue.lock"
    flock 8
    next=$(head -n 1 "$queue")
    sed -i 1d "$queue"
    flock -u 8
    exec 8>&-
    echo "$next"
}

worker() {
    local next spec
    while next=$(pop) && [ -n "$next" ]; do
        read -ra spec <<<"$next"
        stage "${spec[@]}"
    done
    return 0
}

kill_tree() { # pid: the process and everything below it, children first
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
    kill -TERM "$1" 2>/dev/null
}
stop_all() {
    trap - INT TERM HUP
    echo "test.sh: stopping every stage" >&2
    for child in $(ps -o pid= --ppid $$ 2>/dev/null); do kill_tree "$child"; done
    wait
    exit 130
}
trap stop_all INT TERM HUP
lane_failed() { # a worker that stopped before the queue was empty (a bug of this script) fails the run
    stage "9-9-worker-$1" record "worker $1 of tools/test.sh" 0 1 0 "stopped early; see its messages above"
}

echo "== tools/test.sh ${what[*]}: ansible-core $(for v in "${lines[@]}"; do printf '%s ' "$(core_of "$v")"; done)in $lanes lane(s)"
for m in "${missing_lines[@]}"; do
    stage "7-skip-$m" skip_stage "ansible-core $m line" "no Python 3.12+ readable by $(id -un) (see tools/bootstrap.sh's message above)"
done

plan >"$queue"
if [ -n "${PREAUTH_TEST_PLAN:-}" ]; then # PREAUTH_TEST_PLAN=1: print the queue, run nothing
    cat "$queue"
    exit 0
fi
workers=()
for n in $(seq 1 "$lanes"); do
    worker &
    workers+=("$!")
done
for pid in "${workers[@]}"; do wait "$pid" || lane_failed "$pid"; done

echo
echo "== summary (logs in build/test-logs; wall time $((SECONDS - started)) s)"
total_passed=0 total_failed=0 total_skipped=0
for f in $(cd "$results" && printf '%s\n' * | sort -V); do
    [[ $f == *.skips ]] && continue
    IFS=$'\t' read -r name p fl s sec note <"$results/$f"
    line "$name" "$p" "$fl" "$s" "$sec" "$note"
    total_passed=$((total_passed + p)) total_failed=$((total_failed + fl)) total_skipped=$((total_skipped + s))
done
if compgen -G "$results/*.skips" >/dev/null && [ -n "$(cat "$results"/*.skips)" ]; then
    echo
    echo "== skipped, and why"
    cat "$results"/*.skips
fi
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ]
