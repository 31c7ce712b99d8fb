#!/bin/bash
# Many accounts from one daemon: each key ARN goes to its own account's
# credentials ([Account N] RoleArn= through STS AssumeRole, Profile= from the
# shared files, the default credentials for their own account), and the fake
# KMS checks every request is signed by the key's owner.  An account without
# credentials is refused before anything is sent; an AssumeRole failure
# (AccessDenied, malformed XML, timeout) is CredentialsUnavailable for that
# account only; assumed credentials are refreshed ahead of expiry with one
# STS call however many requests wait.
. "$top_srcdir/tests/integration/lib.sh"

A=$TEST_ACCOUNT  # the default credentials' own account
B=444455556666   # RoleArn=
C=777788889999   # Profile=
D=999900001111   # no credentials configured
ROLE="arn:aws:iam::$B:role/KeyRescue"
EXTERNAL_ID=rescue-external-id-1
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
KC=3234abcd-12ab-34cd-56ef-1234567890ab
KD=4234abcd-12ab-34cd-56ef-1234567890ab
arn() { printf 'arn:aws:kms:%s:%s:key/%s' "$TEST_REGION" "$1" "$2"; }
kb() { printf 'b%07d-12ab-34cd-56ef-1234567890ab' "$1"; }

{
	printf '%s PendingDeletion\n' "$KEY1"
	for i in $(seq 1 20); do printf '%s PendingDeletion\n' "$(arn $B "$(kb "$i")")"; done
	printf '%s PendingDeletion %s\n' "$KC" "$C"
	printf '%s PendingDeletion %s\n' "$KD" "$D"
} >"$T/keys"

printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AKID_C" "$SECRET_C" >"$T/credentials"
write_conf() {
	cat >"$T/kmscanceld.conf" <<CONF
[AWS]
STSTimeout=${1:-5}
[KMS]
RetryBase=50ms
CancelRate=100
[Account $B]
RoleArn=$ROLE
ExternalId=$EXTERNAL_ID
[Account $C]
Profile=prod
CONF
}
DAEMON_ENV=(AWS_SHARED_CREDENTIALS_FILE="$T/credentials")
FAKE_OPTS=(--account-creds "$C:$AKID_C:$SECRET_C" --external-id "$EXTERNAL_ID")

reset_keys() {
	local i
	set_key "$KEY1" PendingDeletion
	for i in $(seq 1 20); do fake PUT "/keys/$(kb "$i")" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$B\"}" >/dev/null; done
	fake PUT "/keys/$KC" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$C\"}" >/dev/null
}

start_fake "${FAKE_OPTS[@]}"
write_conf
start_daemon

# --- three accounts at once, each with its own credentials ------------------
run_cli --json cancel "$(arn $A "$KEY1")" "$(arn $B "$(kb 1)")" "$(arn $C "$KC")" "$(arn $B "$(kb 2)")"
expect_rc 0 "keys of three accounts cancelled in one batch"
[ "$(key_state "$KEY1")/$(key_state "$(kb 1)")/$(key_state "$KC")/$(key_state "$(kb 2)")" = Disabled/Disabled/Disabled/Disabled ] &&
	pass "every key Disabled in its own account" || fail "key states: $(fake GET /keys)"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "no request signed by another account's credentials" ||
	fail "wrongAccount=$(fake_stat wrongAccount)"
[ "$(fake_stat stsAssumeRole)" = 1 ] && pass "one AssumeRole for account $B" || fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
sts=$(fake GET /sts/requests)
expect_contains "$sts" "\"roleArn\":\"$ROLE\"" "AssumeRole names the role"
expect_contains "$sts" '"roleSessionName":"kmscanceld@' "the session name names the daemon and the host"
expect_contains "$sts" '"externalId":true' "the external ID is passed"
expect_contains "$(cat "$T/daemon.log")" "account=$B credentials=\"account $B, role $ROLE\"" \
	"the audit record says which account's credentials served the call"
expect_contains "$(cat "$T/daemon.log")" "account=$C credentials=\"account $C, profile prod\"" "… for the profile too"
if grep -q -e "$EXTERNAL_ID" -e "$SECRET_C" "$T/daemon.log"; then fail "a secret reached the log"; else pass "no secret in the log"; fi

# --- an account without credentials: refused, nothing sent -------------------
before=$(fake_stat requests)
run_cli --json cancel "$(arn $D "$KD")"
expect_rc 1 "a key of an account without credentials fails"
expect_contains "$OUT" '"error":"PermissionDenied"' "… with PermissionDenied"
expect_contains "$OUT" "no credentials for account $D" "… naming the account"
expect_contains "$OUT" "[Account $D]" "… and the section that would serve it"
[ "$(fake_stat requests)" = "$before" ] && pass "nothing sent for it" || fail "the fake saw a request"
[ "$(key_state "$KD")" = PendingDeletion ] && pass "its key untouched" || fail "key $KD changed"

# --- status and --check-config: each account, never a secret ----------------
run_cli --json status
expect_contains "$OUT" "\"roleArn\":\"$ROLE\"" "status lists the role account"
expect_contains "$OUT" '"profile":"prod"' "status lists the profile account"
expect_contains "$OUT" '"source":"role"' "… with its source"
expect_contains "$OUT" '"credentialSource":"assume-role"' "… and where its credentials came from"
expect_contains "$OUT" '"externalId":true' "… saying an external ID is set"
expect_contains "$OUT" "\"account\":\"$A\"" "the default credentials' account was learned (GetCallerIdentity)"
case "$OUT" in *"$EXTERNAL_ID"* | *"$SECRET_C"*) fail "status shows a secret" ;; *) pass "status shows no secret" ;; esac
run_cli status
expect_contains "$OUT" "Account:      $B role $ROLE" "the human status lists the role account"
expect_contains "$OUT" "Account:      $C profile prod, access key ...0001, valid" "… and the profile account"
env AWS_SHARED_CREDENTIALS_FILE="$T/credentials" AWS_REGION="$TEST_REGION" \
	"$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check" 2>&1
expect_contains "$(cat "$T/check")" "account:     $B: role $ROLE" "--check-config: the role account"
expect_contains "$(cat "$T/check")" "account:     $C: profile prod: shared-credentials-file (access key ...0001)" \
	"--check-config: what the profile resolves to"
grep -q -e "$EXTERNAL_ID" -e "$SECRET_C" "$T/check" && fail "--check-config shows a secret" || pass "--check-config shows no secret"
stop_daemon

# --- AssumeRole failures: that account only ----------------------------------
assume_fails() { # KIND DESCRIPTION EXPECTED-MESSAGE [sts/fail body extras]
	fake POST /reset >/dev/null
	reset_keys
	fake POST /sts/fail "{\"kind\":\"$1\",\"action\":\"AssumeRole\",\"count\":1000${4:-}}" >/dev/null
	start_daemon
	run_cli --json cancel "$(arn $B "$(kb 3)")" "$(arn $C "$KC")" "$KEY1"
	expect_rc 1 "$2: the batch fails"
	expect_contains "$OUT" "\"keyId\":\"$(arn $B "$(kb 3)")\",\"ok\":false,\"error\":\"CredentialsUnavailable\"" \
		"$2: CredentialsUnavailable for account $B"
	expect_contains "$OUT" "$3" "$2: the message says why"
	[ "$(key_state "$KC")/$(key_state "$KEY1")/$(key_state "$(kb 3)")" = Disabled/Disabled/PendingDeletion ] &&
		pass "$2: the other accounts keep working" || fail "$2: key states $(key_state "$KC")/$(key_state "$KEY1")/$(key_state "$(kb 3)")"
	[ "$(fake_stat wrongAccount)" = 0 ] && pass "$2: nothing sent with the wrong credentials" || fail "$2: wrongAccount"
	stop_daemon
}
assume_fails error "AccessDenied" "AccessDenied" ',"error":"AccessDenied","status":403'
assume_fails malformed "malformed XML" "malformed XML"
write_conf 1500ms
assume_fails delay "timeout" "timeout" ',"ms":4000'

# --- refreshed ahead of expiry, one STS call however many wait --------------
kill "$FAKE_PID" && wait "$FAKE_PID" 2>/dev/null
FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin" "$T/fake.sts"
start_fake "${FAKE_OPTS[@]}" --sts-duration 16
write_conf
start_daemon
sleep 0.5 # the daemon assumes the role at start
batch1=() batch2=()
for i in $(seq 1 10); do batch1+=("$(arn $B "$(kb "$i")")"); done
for i in $(seq 11 20); do batch2+=("$(arn $B "$(kb "$i")")"); done
run_cli --json cancel "${batch1[@]}"
expect_rc 0 "10 keys of the role account at once"
[ "$(fake_stat stsAssumeRole)" = 1 ] && pass "one AssumeRole for 10 waiting requests" ||
	fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
# 16 s credentials are refreshed at half their life, well before they expire.
sleep 9
[ "$(fake_stat stsAssumeRole)" = 2 ] && pass "refreshed ahead of expiry, once" ||
	fail "AssumeRole calls after 9 s: $(fake_stat stsAssumeRole)"
run_cli --json cancel "${batch2[@]}"
expect_rc 0 "10 more keys with the refreshed credentials"
[ "$(fake_stat stsAssumeRole)" = 2 ] && pass "no further AssumeRole" || fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
errors=$(fake GET /stats | sed -n 's/.*"errors": *\({[^}]*}\).*/\1/p')
case "$errors" in *ExpiredToken*) fail "expired credentials were used: $errors" ;; *) pass "no expired credentials used" ;; esac

# SIGHUP: the role account's cache is rebuilt (assumed again), kept working.
kill -HUP "$DAEMON_PID"
sleep 0.5
[ "$(fake_stat stsAssumeRole)" = 3 ] && pass "SIGHUP assumes the role again" || fail "AssumeRole after SIGHUP: $(fake_stat stsAssumeRole)"
set_key "$KEY1" PendingDeletion
fake PUT "/keys/$(kb 1)" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$B\"}" >/dev/null
run_cli cancel "$(arn $B "$(kb 1)")" "$KEY1"
expect_rc 0 "both accounts work after the reload"
stop_daemon
exit 0
