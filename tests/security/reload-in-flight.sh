#!/bin/bash
# A reload (SIGHUP) while calls are in flight frees the configuration the
# calls were started with: each call keeps what it uses (its region, whose
# credentials serve it) and is answered; a call whose [Account N] went away
# fails clearly instead of falling back to the default credentials.
#   (a) a bare-ID cancel --enable held by the fake KMS, the region changed
#   (b) a call waiting for credentials (a credential_process held open)
#   (c) a bare-ID call of a given account waiting to learn the default
#       account (STS GetCallerIdentity held), the region changed
#   (d) [Account B] removed between a cancel and its enable
#   (e) [Account C] removed while a call waits for its credentials
#   (f) the default credentials known to be another account's ([AWS]
#       Account= changed) between a cancel and its enable
#   (g) [Account B]'s profile reloaded to another account's credentials
#       (which say so) between a cancel and its enable
#   (h) [Account B] removed while its cancel is held, and then answered
#       ExpiredTokenException: the retry finds no account to refresh
# Under ASan or valgrind any use of freed memory is a report, and fails.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/inflight-lib.sh"

HOLD=$(hold_ms 3000)
start_fake "${FAKE_OPTS[@]}"
write_conf "$TEST_REGION" with-b with-c
rm -f "$T/release" # account C's credential_process is held from the start

# --- (b) a call waiting for credentials --------------------------------------------
start_daemon
wait_for_file "$T/process.runs" || fail "the credential_process did not run"
bg b cancel --enable "$(arn "$C" "$KC")"
wait_in_flight 1
write_conf eu-west-1 with-b with-c
reload # C's credential_process starts again, still held; the call keeps waiting
touch "$T/release"
wait "$BPID"
rc=$?
[ "$rc" = 0 ] && pass "(b) the call waiting for credentials is answered with success" || fail "(b) exit $rc: $(cat "$T/b.out")"
[ "$(key_state "$KC")" = Enabled ] && pass "(b) account C's key ends Enabled" || fail "(b) key is $(key_state "$KC")"
[ "$(wc -l <"$T/process.runs")" -ge 2 ] && pass "(b) the reload ran the credential_process again" ||
	fail "(b) credential_process runs: $(wc -l <"$T/process.runs")"
reqs=$(requests_for "$KC")
expect_contains "$reqs" "EnableKey $AKID_C 200 -" "(b) enabled with account C's credentials"
case "$reqs" in *"$TEST_AKID"*) fail "(b) a request for C's key was signed with the default credentials: $reqs" ;; *) pass "(b) nothing for C's key signed with the default credentials" ;; esac
run_cli cancel "$(arn "$B" "$KB")"
expect_rc 0 "account B works"
reset_keys

# reload_during_cancel NAME CHANGE CLI-ARGS...: the CLI call NAME with its
# CancelKeyDeletion held by the fake; meanwhile CHANGE (a command, eval'ed)
# rewrites the configuration and the daemon reloads.  Leaves RC and OUT
# (compacted), from a clean start (config as at start, keys reset).
reload_during_cancel() {
	local name=$1 change=$2
	shift 2
	write_conf "$TEST_REGION" with-b with-c
	reload
	fake POST /reset >/dev/null
	reset_keys
	fake POST /delay "{\"ms\":$HOLD,\"count\":1,\"operation\":\"CancelKeyDeletion\"}" >/dev/null
	[ -z "${FAULT:-}" ] || fake POST /fail "$FAULT" >/dev/null || die "fake KMS: /fail $FAULT"
	bg "$name" "$@"
	wait_fault delay 1
	eval "$change"
	reload
	wait "$BPID"
	RC=$?
	OUT=$(bg_out "$name")
}

# no_enable TAG KEY-ID: no EnableKey reached the fake for that key.
no_enable() {
	case "$(requests_for "$2")" in *EnableKey*) fail "$1 EnableKey was sent: $(requests_for "$2")" ;; *) pass "$1 no EnableKey sent" ;; esac
}

# --- (a) a bare-ID cancel --enable held by KMS; the reload changes the region ------
reload_during_cancel a 'write_conf eu-west-1 with-b with-c' cancel --enable "$KEY1"
[ "$RC" = 0 ] && pass "(a) the held cancel --enable is answered with success" || fail "(a) exit $RC: $OUT"
[ "$(key_state "$KEY1")" = Enabled ] && pass "(a) the key ends Enabled" || fail "(a) key is $(key_state "$KEY1")"
# The fake answers only requests signed for its own region (us-east-1): an
# EnableKey signed for the reloaded eu-west-1 would fail its signature check.
reqs=$(requests_for "$KEY1")
expect_contains "$reqs" "EnableKey $TEST_AKID 200 -" "(a) EnableKey signed for the region the call started in"

# --- (c) a call waiting to learn the default account ------------------------------
write_conf "$TEST_REGION" with-b with-c
reload
fake POST /reset >/dev/null
reset_keys
fake POST /sts/fail "{\"kind\":\"delay\",\"action\":\"GetCallerIdentity\",\"ms\":$HOLD,\"count\":1}" >/dev/null
reload # the default account is learned again, slowly
vcall c io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$KEY1\",\"enableKey\":true,\"account\":\"$A\"}"
wait_in_flight 1
write_conf eu-west-1 with-b with-c
reload
wait "$VPID"
rc=$?
[ "$rc" = 0 ] && expect_contains "$(bg_out c)" '"keyState":"Enabled"' "(c) the call waiting for the account is answered with success" ||
	fail "(c) exit $rc: $(cat "$T/c.out")"
[ "$(key_state "$KEY1")" = Enabled ] && pass "(c) the key ends Enabled" || fail "(c) key is $(key_state "$KEY1")"
reqs=$(requests_for "$KEY1")
expect_contains "$reqs" "EnableKey $TEST_AKID 200 -" "(c) EnableKey signed for the region the call started in"

# --- (d) [Account B] removed between the cancel and the enable -----------------------
reload_during_cancel d 'write_conf "$TEST_REGION" no-b with-c' cancel --enable "$(arn "$B" "$KB")"
[ "$RC" = 1 ] && pass "(d) the call fails" || fail "(d) exit $RC: $OUT"
expect_contains "$OUT" '"error":"CredentialsUnavailable"' "(d) with CredentialsUnavailable"
expect_contains "$OUT" "[Account $B] section went away with a reload" "(d) saying the account's section went away"
expect_contains "$OUT" "deletion cancelled (key is Disabled)" "(d) and that the deletion was cancelled"
[ "$(key_state "$KB")" = Disabled ] && pass "(d) the key is Disabled (the cancel was done)" || fail "(d) key is $(key_state "$KB")"
reqs=$(requests_for "$KB")
case "$reqs" in *"$TEST_AKID"*) fail "(d) a request for B's key was signed with the default credentials: $reqs" ;; *) pass "(d) nothing for B's key signed with the default credentials" ;; esac
no_enable "(d)" "$KB"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "(d) no request crossed accounts" || fail "(d) wrongAccount=$(fake_stat wrongAccount)"

# --- (f) the default credentials turn out another account's before the enable ------
reload_during_cancel f 'DEFAULT_ACCOUNT=999988887777 write_conf "$TEST_REGION" with-b with-c' \
	cancel --enable "$(arn "$A" "$KEY3")"
[ "$RC" = 1 ] && pass "(f) the call fails" || fail "(f) exit $RC: $OUT"
expect_contains "$OUT" '"error":"CredentialsUnavailable"' "(f) with CredentialsUnavailable"
expect_contains "$OUT" "the default credentials serve account 999988887777, not account $A" "(f) saying whose they are now"
no_enable "(f)" "$KEY3"
[ "$(key_state "$KEY3")" = Disabled ] && pass "(f) the key is Disabled (the cancel was done)" || fail "(f) key is $(key_state "$KEY3")"

# --- (g) [Account B]'s profile gives another account's credentials after a reload -
cp "$T/credentials" "$T/credentials.b"
reload_during_cancel g 'printf "[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = %s\n" "$AKID_C" "$SECRET_C" "$C" >"$T/credentials"' \
	cancel --enable "$(arn "$B" "$KB")"
mv "$T/credentials.b" "$T/credentials"
[ "$RC" = 1 ] && pass "(g) the call fails" || fail "(g) exit $RC: $OUT"
expect_contains "$OUT" '"error":"CredentialsUnavailable"' "(g) with CredentialsUnavailable"
expect_contains "$OUT" "belong to account $C, not to account $B" "(g) saying whose credentials they are"
no_enable "(g)" "$KB"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "(g) no request crossed accounts" || fail "(g) wrongAccount=$(fake_stat wrongAccount)"

# --- (h) [Account B] removed, then its held cancel is answered ExpiredToken -------
# The retry after ExpiredTokenException fetches credentials again: of the
# account the call started with, which is gone, so it fails; it must not
# refresh and sign with the default credentials instead.
FAULT='{"error":"ExpiredTokenException","count":1,"operation":"CancelKeyDeletion"}' \
	reload_during_cancel h 'write_conf "$TEST_REGION" no-b with-c' cancel "$(arn "$B" "$KB")"
[ "$RC" = 1 ] && pass "(h) the call fails" || fail "(h) exit $RC: $OUT"
expect_contains "$OUT" '"error":"CredentialsUnavailable"' "(h) with CredentialsUnavailable"
expect_contains "$OUT" "[Account $B] section went away with a reload" "(h) saying the account's section went away"
# An injected error is answered before the fake reads the key ID: all the
# fake's records since its reset are this call's.
reqs=$(fake GET /requests | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print(r.get("operation"), r.get("accessKeyId"), r.get("status"), r.get("error") or "-")
')
[ "$reqs" = "CancelKeyDeletion $AKID_B 400 ExpiredTokenException" ] &&
	pass "(h) one attempt, B's, answered ExpiredTokenException; no retry reached the fake" ||
	fail "(h) the fake saw: $reqs"
case "$reqs" in *"$TEST_AKID"*) fail "(h) a request was signed with the default credentials: $reqs" ;; *) pass "(h) nothing signed with the default credentials" ;; esac
[ "$(fake_stat wrongAccount)" = 0 ] && pass "(h) no request crossed accounts" || fail "(h) wrongAccount=$(fake_stat wrongAccount)"
[ "$(key_state "$KB")" = PendingDeletion ] && pass "(h) B's key untouched" || fail "(h) key is $(key_state "$KB")"

# --- (e) [Account C] removed while a call waits for its credentials ----------------
stop_daemon
write_conf "$TEST_REGION" with-b with-c
rm -f "$T/release" "$T/process.runs"
fake POST /reset >/dev/null
reset_keys
RELOADS=0
start_daemon # C's credentials are fetched from the start, held
wait_for_file "$T/process.runs" || fail "the credential_process did not run"
bg e cancel "$(arn "$C" "$KC")"
wait_in_flight 1
write_conf "$TEST_REGION" with-b no-c
reload
wait "$BPID"
rc=$?
touch "$T/release"
out=$(bg_out e)
[ "$rc" = 1 ] && pass "(e) the call fails" || fail "(e) exit $rc: $out"
expect_contains "$out" '"error":"CredentialsUnavailable"' "(e) with CredentialsUnavailable"
expect_contains "$out" "[Account $C] section went away with a reload" "(e) saying the account's section went away"
[ -z "$(requests_for "$KC")" ] && pass "(e) nothing sent for C's key" || fail "(e) requests: $(requests_for "$KC")"
[ "$(key_state "$KC")" = PendingDeletion ] && pass "(e) C's key untouched" || fail "(e) key is $(key_state "$KC")"

run_cli cancel "$KEY2"
expect_rc 0 "the daemon still serves after the reloads"
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "the daemon exits 0" || fail "daemon exit status $DAEMON_RC"
