#!/usr/bin/env bash
# playbooks/deploy.yml over real SSH to two hosts (one sshd on 127.0.0.1; target2 has its own host
# key and machine id, so it is another host as far as sealing goes), at -vvvv with a log:
#  - three chains preauthenticated through playbooks/preauthenticate.yml: acme-nl (Exact Online,
#    rotating, for target1), gmail (Google, does not rotate, for both) and crm (rotating, owner:
#    controller, for target2);
#  - check mode first (predicts, writes nothing), then the deployment: files, owners, modes, the
#    hand-over; the second run changes nothing;
#  - the runner with a stand-in product: it sees the stored tokens and runs as the service user,
#    and no plaintext is left behind when it succeeds, fails or is killed, or the runner is stopped;
#  - a sealed file copied to another host does not unseal, with a clear message;
#  - a second host for a handed-over rotating chain is refused; a new generation is deployed and
#    handed over again; refresh.yml redeploys the controller-owned chain it refreshed;
#  - plain protection, and back; the service and timer units (with the product's environment);
#    afterwards no secret in any output, log, or file outside the store;
#  - where files live: sealed ones in /var/lib/preauth/sealed/<user> (root's alone all the way,
#    files root 0600), plain ones in the user's folder (the user's, 0600 in 0700);
#  - hostile service users: a symlinked Invantive folder (pointing at a root-owned directory, or at
#    the user's own sealed directory) fails a deployment with a clear message and changes nothing
#    there; a FIFO planted as a plain settings file fails it within seconds;
#  - the runner's health record per connection (root's alone, no secret) after a run that may not
#    start yet, a successful run and a failing product, and status.yml gathering it from both hosts.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
# shellcheck source=/dev/null
source ../setup_sshd/sshd.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env

leftovers=(/home/preauth-svc1/invantive /home/preauth-svc2/invantive /var/lib/preauth/sealed/preauth-svc1 /var/lib/preauth/sealed/preauth-svc2
    /run/preauth/preauth-svc1 /run/preauth/preauth-svc2 /dev/shm/preauth-integration /var/lib/preauth/health/preauth-svc1
    /var/lib/preauth/health/preauth-svc2)
sshd_dir=$(mktemp -d)
STANDIN_DIR=$(mktemp -d)
export STANDIN_DIR
cleanup_extra() { rm -rf "$sshd_dir" "$STANDIN_DIR" "${leftovers[@]}"; }
start_sshd "$sshd_dir" # it puts stop_sshd ahead of start_work's exit trap
driver=../preauthenticate/driver.py
tool="$py tool.py"
chmod 0755 "$STANDIN_DIR"
mkdir -m 1777 "$STANDIN_DIR/reports"
cp standin.py "$STANDIN_DIR/standin.py"
chmod 0755 "$STANDIN_DIR/standin.py"
# Earlier runs on this machine leave the service users' folders, sealed files and runtime directories behind.
rm -rf "${leftovers[@]}"

$tool inventory "$SIM_URL" "$work"
mkdir "$work/units"   # /etc/systemd/system on a real host
run() { ansible-playbook -i "$work/inventory.yml" -i "$SSHD_INVENTORY" --vault-password-file "$work/vault-pw" -vvvv "$@"; }
outputs=()
play() { # name playbook [args...]: run, keep the output, show its end on failure
    local name=$1 out="$work/$1.out"
    shift
    outputs+=("$out")
    run "$@" >"$out" 2>&1 || {
        tail -40 "$out"
        grep -A12 '^fatal:' "$out" | head -80
        echo "playbook run '$name' failed" >&2
        return 1
    }
}
recap() { # output host: the PLAY RECAP counters of host, e.g. "ok=9 changed=0 ... failed=0"
    grep -E "^$2 +:" "$1" | tail -1 | sed -E 's/^[^:]+: *//; s/ +/ /g'
}
changed() { recap "$1" "$2" | grep -oE 'changed=[0-9]+' | cut -d= -f2; }
preauthenticate() { # connection
    play "url-$1" "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e "preauth_connection=$1" -e preauth_step=url
    local landed
    landed=$("$py" "$driver" login "$SIM_URL" "$("$py" "$driver" find-url "$work/url-$1.out")")
    PREAUTH_REDIRECT_URL="$landed" play "exchange-$1" "$COLLECTION_ROOT/playbooks/preauthenticate.yml" -e "preauth_connection=$1"
}
# preauth-run unseals into /run/preauth and mounts a tmpfs there when /run is not one; on a machine
# that can do neither (an unprivileged container), the runner checks use /dev/shm instead.
runtime=()
probe=$(mktemp -d)
if [ "$(findmnt -n -o FSTYPE -T /run)" != tmpfs ] && ! { mount -t tmpfs -o size=1m probe "$probe" && umount "$probe"; }; then
    runtime=(--runtime-dir /dev/shm/preauth-integration)
    echo "this machine cannot mount a tmpfs on /run/preauth: the runner checks use ${runtime[*]}"
fi
rmdir "$probe"
runner() { # user [runner args...] -- [command...]: preauth-run as root, as the systemd unit would
    "$work/prefix/bin/preauth-run" "${runtime[@]}" --user "$@"
}
status() { # command...: run it, put its exit status in rc, and go on whatever it is
    rc=0
    "$@" || rc=$?
}

for connection in acme-nl gmail crm; do preauthenticate "$connection"; done

# 1. Check mode predicts the deployment and writes nothing, on the hosts or in the store.
play check "$COLLECTION_ROOT/playbooks/deploy.yml" --check --diff
[ "$(changed "$work/check.out" target1)" -gt 0 ]
[ "$(changed "$work/check.out" target2)" -gt 0 ]
grep -q "would make host target1 the owner of connection acme-nl generation 1" "$work/check.out"
[ ! -e /home/preauth-svc1/invantive ]
[ ! -e /home/preauth-svc2/invantive ]
[ ! -e /var/lib/preauth/sealed/preauth-svc1 ]
[ ! -e /var/lib/preauth/sealed/preauth-svc2 ]
grep -q "settings-acme-nl.xml.sealed would be created" "$work/check.out"
[ ! -e "$work/prefix" ]
$tool owner "$work" acme-nl controller 1

# 2. The deployment: sealed files in root's directory for each service user (nothing in the users' folders),
#    the hand-over, the runner, the units.
play deploy "$COLLECTION_ROOT/playbooks/deploy.yml" --diff
$tool files target1 settings-acme-nl.not-before settings-acme-nl.xml.sealed settings-gmail.xml.sealed
$tool files target2 settings-crm.xml.sealed settings-gmail.xml.sealed
$tool owner "$work" acme-nl target1 1
$tool owner "$work" gmail controller
$tool owner "$work" crm controller
grep -q "settings-acme-nl.xml.sealed" "$work/deploy.out"
grep -q '"content_sha256"' "$work/deploy.out"
[ -x "$work/prefix/bin/preauth-run" ]
[ -f "$work/prefix/lib/preauth-oauth2/preauth_sealing.py" ]
[ -f "$work/units/preauth-test-product.service" ]
[ -f "$work/units/preauth-test-product.timer" ]
unit="$work/units/preauth-test-product.service"
grep -q -- '--user" "preauth-svc1"' "$unit"
grep -q -- '"--sealed-dir" "/var/lib/preauth/sealed/preauth-svc1"' "$unit"
# the product's environment: set by the unit (quotes escaped, % doubled) and passed on by the runner
grep -qxF 'Environment="PREAUTH_TEST_REGION=eu \"west\" 100%%"' "$unit"
grep -q -- '"--env=PREAUTH_TEST_REGION"' "$unit"
# systemd-analyze verify ran and accepted the units (where systemd is installed)
if [ -x /usr/bin/systemd-analyze ]; then
    sed -n '/^TASK \[preauth.oauth2.settings : Verify the unit files\]/,/^TASK /p' "$work/deploy.out" | grep -q "^ok: \[target1\]"
fi
[ -f "$work/host2/hostkey" ]
[ "$(stat -c %a "$work/host2/hostkey")" = 400 ]

# 2b. The first refresh: Exact Online accepts the next token call only 570 s after the controller's last one, so the
#     plan says when, the role leaves the runner a note (no secret), and the runner does not start the product before then.
grep -q "acme-nl: deploy - .*Exact Online refuses a refresh until 570 s after the controller's last token call, so the product there may refresh it not before" "$work/deploy.out"
grep -q "the product on target1 may refresh it not before .*preauth-run waits until then" "$work/deploy.out"
status runner preauth-svc1 --no-wait -- /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/early.json" \
    >"$work/early.out" 2>&1
outputs+=("$work/early.out")
cat "$work/early.out"
[ "$rc" = 75 ]
grep -q "preauth-run: connection acme-nl may not be refreshed before .* COMMAND was not started" "$work/early.out"
[ ! -e "$STANDIN_DIR/reports/early.json" ]
# ...and the runner recorded it: not started, nothing used successfully yet; the role noted the deployed generation.
$tool health preauth-svc1 acme-nl not_started 75 1 none
$tool health preauth-svc1 gmail not_started 75 1 none
# The world moves on (the runner reads the host's real clock): the note's time is now past.
$tool age-notes /var/lib/preauth/sealed/preauth-svc1 600

# 3. The second run changes nothing.
play again "$COLLECTION_ROOT/playbooks/deploy.yml" --diff
[ "$(changed "$work/again.out" target1)" = 0 ]
[ "$(changed "$work/again.out" target2)" = 0 ]
grep -q "acme-nl: keep" "$work/again.out"

# 4. The runner: the stand-in product sees the stored tokens, as its user; nothing is left behind.
$tool expect "$work" target1 acme-nl gmail
$tool expect "$work" target2 crm gmail
out="$work/runner.out"
outputs+=("$out")
runner preauth-svc1 -- /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/t1.json" >"$out" 2>&1
$tool report "$STANDIN_DIR/reports/t1.json" preauth-svc1 acme-nl gmail
runner preauth-svc2 --host-key "$work/host2/hostkey" --machine-id "$work/host2/machine-id" -- \
    /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target2.json" "$STANDIN_DIR/reports/t2.json" >>"$out" 2>&1
$tool report "$STANDIN_DIR/reports/t2.json" preauth-svc2 crm gmail
# ...over SSH too, the way an operator or a scheduler on the host would start it
ansible target1 -i "$work/inventory.yml" -i "$SSHD_INVENTORY" --vault-password-file "$work/vault-pw" -m ansible.builtin.command \
    -a "$work/prefix/bin/preauth-run ${runtime[*]} --user preauth-svc1 -- /usr/bin/python3 $STANDIN_DIR/standin.py $STANDIN_DIR/expect-target1.json $STANDIN_DIR/reports/ssh.json" \
    >>"$out" 2>&1 || { tail -30 "$out"; exit 1; }
$tool report "$STANDIN_DIR/reports/ssh.json" preauth-svc1 acme-nl gmail
$tool health preauth-svc1 acme-nl succeeded 0 1 set
$tool health preauth-svc2 crm succeeded 0 1 set
# a failing product: its status comes through, and the plaintext is gone
status runner preauth-svc1 -- /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/fail.json" fail >>"$out" 2>&1
[ "$rc" = 3 ]
$tool report "$STANDIN_DIR/reports/fail.json" preauth-svc1 acme-nl gmail
# the failure is recorded, and the last success is kept; status.yml gathers both hosts' records over SSH
$tool health preauth-svc1 acme-nl failed 3 1 set
$tool health preauth-svc1 gmail failed 3 1 set
play health "$COLLECTION_ROOT/playbooks/status.yml" -e preauth_status_hosts=target1:target2
grep -qE '"acme-nl +target1 +preauth-svc1 +1  \S+Z  failed \(exit 3\) +\S+Z +0\.[0-9]  ok",?$' "$work/health.out"
grep -qE '"crm +target2 +preauth-svc2 +1  \S+Z  succeeded +\S+Z +0\.[0-9]  ok",?$' "$work/health.out"
grep -qE '"gmail +target2 +preauth-svc2 ' "$work/health.out"
# a limit of no hours flags every chain and fails the run, naming them
status run "$COLLECTION_ROOT/playbooks/status.yml" -e preauth_status_hosts=target1:target2 -e preauth_status_stale_hours=0 >"$work/stale.out" 2>&1
outputs+=("$work/stale.out")
[ "$rc" != 0 ]
grep -qE "NOT USED SUCCESSFULLY FOR 0\.[0-9] HOURS \(more than 0\)" "$work/stale.out"
grep -q "not used successfully on the host for more than 0 hours (or never): acme-nl on target1, gmail on target1, crm on target2, gmail on target2." "$work/stale.out"
# a product killed with SIGKILL
status runner preauth-svc1 -- /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/kill.json" kill >>"$out" 2>&1
[ "$rc" = 137 ]
$tool report "$STANDIN_DIR/reports/kill.json" preauth-svc1 acme-nl gmail
# the runner stopped with SIGTERM while the product runs (as systemd stops a service)
"$work/prefix/bin/preauth-run" "${runtime[@]}" --user preauth-svc1 -- \
    /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/term.json" wait >>"$out" 2>&1 &
runner_pid=$!
for _try in $(seq 1 100); do [ -s "$STANDIN_DIR/reports/term.json" ] && break; sleep 0.1; done
kill -TERM "$runner_pid"
status wait "$runner_pid"
[ "$rc" = 143 ]
$tool report "$STANDIN_DIR/reports/term.json" preauth-svc1 acme-nl gmail

# 5. Sealed files on another host: target2's files read with another host's identity (its own host key
#    and machine id) do not unseal, and the message says why.
"$py" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400); os.write(fd, os.urandom(32))' "$work/other-host-key"
status "$work/prefix/bin/preauth-run" "${runtime[@]}" --user preauth-svc2 --host-key "$work/other-host-key" --machine-id /etc/machine-id \
    -- /usr/bin/true >"$work/other-host.out" 2>&1
outputs+=("$work/other-host.out")
cat "$work/other-host.out"
[ "$rc" = 78 ]
grep -q "settings-crm.xml.sealed\|settings-gmail.xml.sealed" "$work/other-host.out"
grep -qi "another host\|other host\|another machine" "$work/other-host.out"
$tool files target2 settings-crm.xml.sealed settings-gmail.xml.sealed

# 6. A second host for the handed-over rotating chain is refused, and nothing is written there.
status run "$COLLECTION_ROOT/playbooks/deploy.yml" -e '{"preauth_settings_connections": ["acme-nl"]}' --limit target2 >"$work/second-host.out" 2>&1
outputs+=("$work/second-host.out")
[ "$rc" != 0 ]
grep -q "connection acme-nl generation 1 is owned by host target1" "$work/second-host.out"
grep -q "preauthenticate a separate chain" "$work/second-host.out"
$tool files target2 settings-crm.xml.sealed settings-gmail.xml.sealed
$tool owner "$work" acme-nl target1 1

# 7. A new preauthentication is a new generation: deployed to target1 and handed over again.
sealed1=/var/lib/preauth/sealed/preauth-svc1
sealed2=/var/lib/preauth/sealed/preauth-svc2
before=$($tool digest $sealed1/settings-acme-nl.xml.sealed)
preauthenticate acme-nl
$tool owner "$work" acme-nl controller 2
play newgen "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1
[ "$(changed "$work/newgen.out" target1)" -gt 0 ]
[ "$($tool digest $sealed1/settings-acme-nl.xml.sealed)" != "$before" ]
$tool owner "$work" acme-nl target1 2
status runner preauth-svc1 --no-wait -- /usr/bin/true >>"$out" 2>&1
[ "$rc" = 75 ]
$tool age-notes $sealed1 600
$tool expect "$work" target1 acme-nl gmail
runner preauth-svc1 -- /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target1.json" "$STANDIN_DIR/reports/gen2.json" >>"$out" 2>&1
$tool report "$STANDIN_DIR/reports/gen2.json" preauth-svc1 acme-nl gmail

# ...and a chain the host owns whose file disappeared is reported, not silently rewritten.
mv $sealed1/settings-acme-nl.xml.sealed "$work/moved-away.sealed"
status run "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1 >"$work/missing.out" 2>&1
outputs+=("$work/missing.out")
mv "$work/moved-away.sealed" $sealed1/settings-acme-nl.xml.sealed
[ "$rc" != 0 ]
grep -q "Connection(s) acme-nl belong to target1" "$work/missing.out"
grep -qF "preauthenticate again (ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl)." "$work/missing.out"
play restored "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1
[ "$(changed "$work/restored.out" target1)" = 0 ]

# 8. refresh.yml redeploys the controller-owned chain it refreshed (crm), and leaves the handed-over one alone.
before=$($tool digest $sealed2/settings-crm.xml.sealed)
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"advance": 700}' "$SIM_URL/_sim/clock" >/dev/null
play refresh "$COLLECTION_ROOT/playbooks/refresh.yml" -e preauth_force=true
grep -q "acme-nl: skipped" "$work/refresh.out"
grep -q "crm: refreshed" "$work/refresh.out"
[ "$($tool digest $sealed2/settings-crm.xml.sealed)" != "$before" ]
$tool expect "$work" target2 crm gmail
runner preauth-svc2 --host-key "$work/host2/hostkey" --machine-id "$work/host2/machine-id" -- \
    /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target2.json" "$STANDIN_DIR/reports/refreshed.json" >>"$out" 2>&1
$tool report "$STANDIN_DIR/reports/refreshed.json" preauth-svc2 crm gmail
$tool owner "$work" acme-nl target1 2

# 9. Plain protection replaces the sealed files with XML in the user's folder (created, the user's, 0700), and back.
play plain "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target2 -e preauth_settings_protection=plain
$tool files target2 settings-crm.xml settings-gmail.xml
$tool expect "$work" target2 crm gmail
runner preauth-svc2 --host-key "$work/host2/hostkey" --machine-id "$work/host2/machine-id" -- \
    /usr/bin/python3 "$STANDIN_DIR/standin.py" "$STANDIN_DIR/expect-target2.json" "$STANDIN_DIR/reports/plain.json" >>"$out" 2>&1
$tool report "$STANDIN_DIR/reports/plain.json" preauth-svc2 crm gmail

# ...a FIFO planted as a plain settings file: the deployment ends within seconds, saying what it is.
rm /home/preauth-svc2/invantive/settings-gmail.xml
mkfifo -m 0600 /home/preauth-svc2/invantive/settings-gmail.xml
chown preauth-svc2: /home/preauth-svc2/invantive/settings-gmail.xml
started=$SECONDS
status timeout 300 ansible-playbook -i "$work/inventory.yml" -i "$SSHD_INVENTORY" --vault-password-file "$work/vault-pw" \
    "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target2 -e preauth_settings_protection=plain >"$work/fifo.out" 2>&1
outputs+=("$work/fifo.out")
[ "$rc" != 0 ] && [ "$rc" != 124 ]
[ $((SECONDS - started)) -lt 60 ]
grep -q "/home/preauth-svc2/invantive/settings-gmail.xml is a named pipe (FIFO), not a regular file" "$work/fifo.out"
[ -p /home/preauth-svc2/invantive/settings-gmail.xml ]
rm /home/preauth-svc2/invantive/settings-gmail.xml
play sealed "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target2
$tool files target2 settings-crm.xml.sealed settings-gmail.xml.sealed

# ...the Invantive folder replaced by a symbolic link to a directory of root's: a plain deployment fails and
# root writes nothing there, changes neither its owner nor its mode.
mkdir -m 0755 "$work/roots-own"
touch "$work/roots-own/keep"
$tool snapshot "$work/roots-own" "$work/roots-own.json"
ln -s "$work/roots-own" /home/preauth-svc1/invantive
chown -h preauth-svc1: /home/preauth-svc1/invantive
status run "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1 -e preauth_settings_protection=plain >"$work/symlink-plain.out" 2>&1
outputs+=("$work/symlink-plain.out")
[ "$rc" != 0 ]
grep -q "/home/preauth-svc1/invantive is a symbolic link; refusing to follow it" "$work/symlink-plain.out"
$tool same "$work/roots-own" "$work/roots-own.json"
# ...and pointing at the user's own sealed directory, a sealed deployment writes its file there but then refuses
# to remove the "other" files through the link: the sealed files stay, and no chain is handed over without one.
ln -sfn "$sealed1" /home/preauth-svc1/invantive
status run "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1 >"$work/symlink-sealed.out" 2>&1
outputs+=("$work/symlink-sealed.out")
[ "$rc" != 0 ]
grep -q "/home/preauth-svc1/invantive cannot be reached safely: .* is a symbolic link" "$work/symlink-sealed.out"
rm /home/preauth-svc1/invantive
$tool files target1 settings-acme-nl.not-before settings-acme-nl.xml.sealed settings-gmail.xml.sealed
$tool owner "$work" acme-nl target1 2
play restored-folder "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target1
$tool files target1 settings-acme-nl.not-before settings-acme-nl.xml.sealed settings-gmail.xml.sealed

# ...a sealed directory below one that others can change (/tmp) is refused before root creates anything there.
unsafe=/tmp/preauth-integration-$$/sealed
status run "$COLLECTION_ROOT/playbooks/deploy.yml" --limit target2 -e "preauth_settings_sealed_dir=$unsafe" >"$work/unsafe-dir.out" 2>&1
outputs+=("$work/unsafe-dir.out")
[ "$rc" != 0 ]
grep -q "would go to $unsafe, but /tmp is a directory owned by root with mode 1777" "$work/unsafe-dir.out"
[ ! -e "$(dirname "$unsafe")" ]

# 10. No secret anywhere but the store: outputs, the log, the hosts' folders, the runner's files.
"$py" "$driver" scan "$SIM_URL" "$work" "${outputs[@]}" "$ANSIBLE_LOG_PATH" "$work/units" "$work/prefix" \
    /home/preauth-svc2/invantive "$sealed1" "$sealed2" "$STANDIN_DIR" /var/lib/preauth/health/preauth-svc1 /var/lib/preauth/health/preauth-svc2
echo "deploy: all checks passed"
