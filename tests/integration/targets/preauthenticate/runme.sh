#!/usr/bin/env bash
# playbooks/preauthenticate.yml against the simulator, both ways, at -vvvv with a log file:
#  - non-interactive in two runs (Exact Online profile, country base URL),
#  - interactive under a pseudo-terminal (rotating_strict profile through generic discovery),
#  - bad input through the playbook keeps the stored chain,
#  - and afterwards no secret in stdout, stderr, the log or any file outside the store.
set -eu
# shellcheck source=/dev/null
source ../setup_simulator/simulator.sh
work=$(mktemp -d)
py="$SIM_PYTHON"
start_work "$work" --ansible-env
"$py" driver.py inventory "$SIM_URL" "$work"
playbook="$COLLECTION_ROOT/playbooks/preauthenticate.yml"
run() { ansible-playbook -i "$work/inventory.yml" --vault-password-file "$work/vault-pw" "$playbook" -vvvv "$@"; }
expect_failure() { # name, expected text, args...
    local name=$1 text=$2
    shift 2
    if run "$@" >"$work/$name.out" 2>&1; then
        echo "$name: the playbook should have failed" >&2
        exit 1
    fi
    grep -qF -- "$text" "$work/$name.out" || { echo "$name: message not found: $text" >&2; tail -40 "$work/$name.out" >&2; exit 1; }
    echo "$name: failed as expected"
}

# No terminal and no redirect URL (AWX, cron): step 1, then a successful end that says how to finish.
run -e preauth_connection=acme-nl </dev/null >"$work/notty.out" 2>&1 || { tail -60 "$work/notty.out"; exit 1; }
grep -q "Step 1 is done: the URL above is valid and its pending attempt is stored until" "$work/notty.out"
grep -qF "then run PREAUTH_REDIRECT_URL='<the address>' ansible-playbook preauth.oauth2.preauthenticate -i INVENTORY -e preauth_connection=acme-nl (or -e preauth_redirect_url='<the address>'" "$work/notty.out"
"$py" driver.py find-url "$work/notty.out" >/dev/null
if grep -q "not a complete URL" "$work/notty.out"; then echo "notty: the empty answer reached the code exchange" >&2; exit 1; fi
# ... and the contact fields are checked before any URL is made: without a terminal nobody can answer.
expect_failure notty-contact "preauth_contact needs job_title, email (the person who signs in is recorded" \
    -e preauth_connection=acme-nl -e '{"preauth_contact": {"first_name": "Ada", "last_name": "Jansen", "company": "Example B.V."}}' </dev/null
if grep -q "open this URL" "$work/notty-contact.out"; then echo "notty-contact: a URL was made before the contact check" >&2; exit 1; fi
expect_failure bad-email "preauth_contact.email is not an e-mail address" -e preauth_connection=acme-nl -e preauth_step=url \
    -e '{"preauth_contact": {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada@example", "company": "Example B.V."}}'
# A typo in a variable fails before anything else, naming it and the valid ones.
expect_failure typo "preauth_conection is not a variable of the playbook preauth.oauth2.preauthenticate (did you mean preauth_connection or preauth_connections?)." \
    -e preauth_conection=acme-nl

# Non-interactive, run 1: the URL and the pending attempt.
run -e preauth_connection=acme-nl -e preauth_step=url >"$work/url.out" 2>&1 || { tail -60 "$work/url.out"; exit 1; }
url=$("$py" driver.py find-url "$work/url.out")
grep -qF "run PREAUTH_REDIRECT_URL='<the address>' ansible-playbook preauth.oauth2.preauthenticate -i INVENTORY -e preauth_connection=acme-nl" "$work/url.out"

# Check mode predicts a new attempt, with --diff, and neither sends nor writes anything.
before=$(sha256sum "$work/tokens/acme-nl.yml")
run --check --diff -e preauth_connection=acme-nl -e preauth_step=url >"$work/check.out" 2>&1 || { tail -60 "$work/check.out"; exit 1; }
grep -q "check mode: would create a new authorization URL and store it as the pending attempt (replacing the one that expires at" "$work/check.out"
grep -q '"pending_authorization_expires_at": "(new)"' "$work/check.out"
[ "$(sha256sum "$work/tokens/acme-nl.yml")" = "$before" ] || { echo "check mode wrote the store" >&2; exit 1; }

# Bad input: the authorization URL pasted instead of the landed one.
expect_failure pasted-auth-url "this is the authorization URL itself, not the URL the browser landed on" \
    -e preauth_connection=acme-nl -e "preauth_redirect_url=$url"

# The person signs in; run 2 completes it. The landed URL holds the code: it goes through the
# environment, because ansible-playbook prints -e values at -vvvv.
landed=$("$py" driver.py login "$SIM_URL" "$url")
PREAUTH_REDIRECT_URL="$landed" run -e preauth_connection=acme-nl >"$work/exchange.out" 2>&1 || { tail -60 "$work/exchange.out"; exit 1; }
grep -q "stored generation 1 of connection acme-nl, owned by the controller" "$work/exchange.out"
grep -q "Signed in as accountant@example.test" "$work/exchange.out"
chain=$("$py" driver.py fingerprint "$work" acme-nl)

# Bad input after a chain exists: the used URL again, a denied sign-in, an unknown connection.
PREAUTH_REDIRECT_URL="$landed" expect_failure replayed "there is no pending authorization to complete" -e preauth_connection=acme-nl
run -e preauth_connection=acme-nl -e preauth_step=url >"$work/url2.out" 2>&1
denied=$("$py" driver.py login "$SIM_URL" "$("$py" driver.py find-url "$work/url2.out")" deny)
expect_failure denied "the sign-in was not allowed (access_denied" -e preauth_connection=acme-nl -e "preauth_redirect_url=$denied"
expect_failure unknown "preauth_connection: nope is not a connection of preauth_connections" -e preauth_connection=nope
[ "$("$py" driver.py fingerprint "$work" acme-nl)" = "$chain" ] || { echo "bad input changed the stored chain" >&2; exit 1; }
"$py" driver.py check-chain "$SIM_URL" "$work" acme-nl 1

# Interactive, under a pseudo-terminal, with one contact field asked for.
"$py" interactive.py "$SIM_URL" "$work/interactive.out" -- "$(dirname "$py")/ansible-playbook" -i "$work/inventory.yml" \
    --vault-password-file "$work/vault-pw" "$playbook" -vvvv -e preauth_connection=crm \
    -e '{"preauth_contact": {"first_name": "Ada", "last_name": "Jansen", "email": "ada.jansen@example.test", "company": "Example Accountants B.V."}}' \
    || { tail -60 "$work/interactive.out"; exit 1; }
grep -q "stored generation 1 of connection crm, owned by the controller" "$work/interactive.out"
"$py" driver.py check-chain "$SIM_URL" "$work" crm 1

# No secret anywhere but in the two store files.
"$py" driver.py scan "$SIM_URL" "$work" "$work"
echo "preauthenticate: both ways work, bad input is refused, nothing leaked"
