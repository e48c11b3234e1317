# shellcheck shell=bash disable=SC2154
# Sourced by runme.sh (its pb, inject, calls, lap, $work, $py, $refresh, $pgdir): the store's promises across
# controllers, copies and another user's directories.
#  8. the database crashes (pg_ctl stop -m immediate) while the platform's answer trickles in: controller A keeps the
#     rotated chain in its own rescue directory; controller B, later than the marker's deadline, sends nothing and
#     says which controller holds it; A's next run writes it back and the chain lives;
#  9. a copy of the database (CREATE DATABASE ... TEMPLATE) refuses to refresh a rotating chain until adopted;
# 10. a rescue directory that others can write to, or that another user owns, is refused before any token call.

# 8. A crash mid-refresh, then another controller. The answer trickles for about 10 s: the crash (two Python
# starts and pg_ctl) must come before its last byte also on a loaded machine.
inject '{"kind": "drip_after", "interval": 0.04}'
before=$(calls)
PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-a" pb "$refresh" -e preauth_only=strict-13 -e preauth_force=true >"$work/crash-a.out" 2>&1 &
victim=$!
for _try in $(seq 1 400); do
    [ "$(calls)" != "$before" ] && break
    sleep 0.05
done
[ "$(calls)" != "$before" ] || { echo "strict-13: the forced refresh never reached the token endpoint" >&2; exit 1; }
"$py" tool.py server "$pgdir" crash
if wait "$victim"; then
    echo "strict-13: the run succeeded although the database crashed before the answer arrived" >&2
    exit 1
fi
"$py" tool.py server "$pgdir" up
grep -q "strict-13: failed - could not write .* is kept in the rescue file $work/rescue-a/" "$work/crash-a.out"
grep -q "0 refreshed, 0 unchanged, 0 skipped, 1 failed, 1 token call(s)" "$work/crash-a.out"
# Three minutes later (the rescue file ages with the row it was derived from): B must not present the spent token.
"$py" tool.py later "$SIM_URL" "$work" 180 "$work/rescue-a"
before=$(calls)
revoked=$("$py" tool.py counter "$SIM_URL" revoked)
PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-b" pb "$refresh" -e preauth_only=strict-13 -e preauth_force=true >"$work/crash-b.out" 2>&1 && {
    echo "controller B refreshed a chain whose answer controller A may hold" >&2
    exit 1
}
grep -q "strict-13: failed - the refresh started at .* lost its answer there, and only that controller can tell" "$work/crash-b.out"
grep -q "(rescue directory $work/rescue-a)" "$work/crash-b.out"
grep -q -- "-e preauth_release_in_flight=strict-13" "$work/crash-b.out"
[ "$(calls)" = "$before" ] || { echo "controller B made a token call for a chain held elsewhere" >&2; exit 1; }
[ "$("$py" tool.py counter "$SIM_URL" revoked)" = "$revoked" ] || { echo "a chain was revoked" >&2; exit 1; }
PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-a" pb "$refresh" -e preauth_only=strict-13 -e preauth_access_token_min_ttl=60 >"$work/crash-a2.out" 2>&1
grep -q "when the database could not be written was written to the database now" "$work/crash-a2.out"
cp "$work"/rescue-a/.controller "$work/controller-id-a.json" # scanned below with everything else
"$py" tool.py live "$SIM_URL" "$work" strict-13
PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-b" pb "$refresh" -e preauth_only=strict-13 -e preauth_force=true >"$work/crash-b2.out" 2>&1
grep -q "strict-13: refreshed - " "$work/crash-b2.out"
"$py" tool.py live "$SIM_URL" "$work" strict-13
echo "database crash: the other controller sent nothing; the controller that held the answer wrote it back; the chain lives"
lap "8. database crash mid-refresh, two controllers"

# 9. A copy of the database: refused until adopted, and the original goes on.
copy_url=$("$py" tool.py copy-db "$pgdir" preauth_copy)
before=$(calls)
PREAUTH_OAUTH2_STORE_URL="$copy_url" pb "$refresh" -e preauth_only=strict-14 -e preauth_force=true >"$work/copy.out" 2>&1 && {
    echo "a copy of the database refreshed a rotating chain" >&2
    exit 1
}
grep -q "strict-14: failed - the PostgreSQL token store postgresql://preauth@127.0.0.1:[0-9]*/preauth_copy is a copy: it was set up as database \"preauth\"" "$work/copy.out"
grep -q "ansible-playbook preauth.oauth2.refresh -e preauth_adopt_store=true" "$work/copy.out"
[ "$(calls)" = "$before" ] || { echo "the copy made a token call" >&2; exit 1; }
PREAUTH_OAUTH2_STORE_URL="$copy_url" pb "$refresh" --check -e preauth_only=strict-14 -e preauth_adopt_store=true >"$work/copy-check.out" 2>&1 || true
grep -q "check mode: would adopt the token store database preauth_copy" "$work/copy-check.out"
pb "$refresh" -e preauth_only=strict-14 -e preauth_force=true >"$work/copy-original.out" 2>&1
grep -q "strict-14: refreshed - " "$work/copy-original.out"
"$py" tool.py live "$SIM_URL" "$work" strict-14
echo "database copy: refused with the way out, no token call; the original refreshes"
lap "9. a copy of the database"

# 10. Rescue directories other users can change.
mkdir -m 0777 "$work/rescue-open"
chmod 0777 "$work/rescue-open"
before=$(calls)
PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-open" pb "$refresh" -e preauth_only=strict-15 -e preauth_force=true >"$work/rescue-open.out" 2>&1 && exit 1
grep -q "strict-15: failed - group or others can write to the rescue directory $work/rescue-open (mode 0777)" "$work/rescue-open.out"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    mkdir -m 0700 "$work/rescue-nobody"
    chown nobody "$work/rescue-nobody"
    PREAUTH_OAUTH2_RESCUE_DIR="$work/rescue-nobody" pb "$refresh" -e preauth_only=strict-15 -e preauth_force=true >"$work/rescue-nobody.out" 2>&1 && exit 1
    grep -q "strict-15: failed - the rescue directory $work/rescue-nobody is owned by nobody" "$work/rescue-nobody.out"
    if grep -q "chown" "$work/rescue-nobody.out"; then
        echo "the refusal advises chown" >&2
        exit 1
    fi
    rm -rf "$work/rescue-nobody"
fi
[ "$(calls)" = "$before" ] || { echo "a refresh with an untrusted rescue directory made a token call" >&2; exit 1; }
"$py" tool.py live "$SIM_URL" "$work" strict-15
rm -rf "$work/rescue-open"
echo "untrusted rescue directories: refused before any token call"
lap "10. hostile rescue directories"
