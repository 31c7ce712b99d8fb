#!/bin/bash
# A caller no rule allows learns nothing of the daemon's configuration and
# causes nothing: GetStatus, a CancelKeyDeletion of a key ARN of an account
# the daemon has no credentials for, and one of a bare key ID while the
# daemon's account is unknown (GetCallerIdentity failed) are each refused
# with PermissionDenied, in raw Varlink replies and through the CLI, with
# no account number the caller did not send, no role ARN, no path and no
# credential or STS error; and the fake STS, the fake KMS and a counting
# credential_process see no request caused by them.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

A=$TEST_ACCOUNT  # the default credentials' own account (never learnt here)
B=444455556666   # [Account B] RoleArn=
C=777788889999   # [Account C] Profile= with a credential_process
D=999900001111   # no credentials: the caller names it in its ARN
ROLE="arn:aws:iam::$B:role/KeyRescue"
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
STS_MESSAGE="User: arn:aws:iam::$A:user/rescue-bot is not authorized to perform: sts:GetCallerIdentity"
NOBODY=4301

cat >"$T/proc" <<PROC
#!/bin/sh
echo run >>"$T/proc.count"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "$AKID_C" "$SECRET_C"
PROC
chmod 0755 "$T/proc"
printf '[profile vault]\ncredential_process = "%s"\n' "$T/proc" >"$T/aws-config"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[AWS]
STSTimeout=5
[KMS]
RetryBase=50ms
[Account $B]
RoleArn=$ROLE
[Account $C]
Profile=vault
[Policy]
Allow=user:4999 cancel account:$B
Allow=group:4998 * *
CONF

start_fake --account-creds "$C:$AKID_C:$SECRET_C"
fake POST /sts/fail "{\"action\":\"GetCallerIdentity\",\"count\":1,\"error\":\"AccessDenied\",\"status\":403,\"message\":\"$STS_MESSAGE\"}" \
	>/dev/null || die "cannot make STS fail"
start_daemon

# The daemon's own start: AssumeRole for B, the credential_process for C,
# one failed GetCallerIdentity.  Wait for all of it, then past the time a
# failed GetCallerIdentity is not repeated (ACCOUNTS_IDENTITY_RETRY_MS,
# 5 s): from then on a call that needs the account would ask STS again.
for _ in $(seq 1 400); do
	run_cli --json status
	case "$OUT" in *'"accountState":"failed"'*'"credentialSource":"assume-role"'* | \
		*'"credentialSource":"assume-role"'*'"accountState":"failed"'*) break ;; esac
	sleep 0.05
done
expect_contains "$OUT" '"accountState":"failed"' "the daemon's account is unknown (GetCallerIdentity failed)"
[ -s "$T/proc.count" ] && pass "the credential_process ran at start" || fail "the credential_process never ran"
sleep 5.5
sts_before=$(fake_stat stsCalls)
kms_before=$(fake_stat requests)
proc_before=$(wc -l <"$T/proc.count")

# learns_nothing WHAT TEXT [ACCOUNT-THE-CALLER-SENT]: TEXT names nothing of
# the configuration.
learns_nothing() {
	local what=$1 text=$2 sent=${3:-} leaked= w
	for w in "$A" "$B" "$C" "$ROLE" "KeyRescue" "vault" "$T" "kmscanceld.conf" "/etc/" "AccessDenied" "not authorized" \
		"GetCallerIdentity" "STS" "credential" "Account " "[Policy]" "Allow=" "4999" "4998"; do
		[ "$w" = "$sent" ] && continue
		case "$text" in *"$w"*) leaked="$leaked '$w'" ;; esac
	done
	[ -z "$leaked" ] && pass "$what: tells nothing of the configuration" || fail "$what: says$leaked: $text"
}

# --- raw Varlink ------------------------------------------------------------------------------------
raw_call $NOBODY io.kmscancel.GetStatus '{}'
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "GetStatus: PermissionDenied"
learns_nothing "GetStatus" "$REPLY"
case "$REPLY" in *uptimeSec* | *'"accounts"'*) fail "GetStatus answered anyway: $REPLY" ;; *) pass "GetStatus: no status" ;; esac

raw_call $NOBODY io.kmscancel.CancelKeyDeletion "{\"keyId\":\"arn:aws:kms:$TEST_REGION:$D:key/$KEY1\"}"
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "an ARN of an account without credentials: PermissionDenied"
learns_nothing "an ARN of an account without credentials" "$REPLY" "$D"

raw_call $NOBODY io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$KEY1\",\"enableKey\":true}"
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "a bare key ID, account unknown: PermissionDenied"
learns_nothing "a bare key ID, account unknown" "$REPLY"

raw_call $NOBODY io.kmscancel.DescribeKey "{\"keyId\":\"$KEY1\",\"account\":\"$B\"}"
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "a bare key ID of a configured account: PermissionDenied"
learns_nothing "a bare key ID of a configured account" "$REPLY" "$B"

# --- the CLI ----------------------------------------------------------------------------------------
as $NOBODY $NOBODY -- status
expect_rc 1 "kmscancel status: refused"
expect_contains "$ERR" "status operation" "kmscancel status says what would grant it"
learns_nothing "kmscancel status" "$OUT $ERR"
as $NOBODY $NOBODY -- --json cancel "arn:aws:kms:$TEST_REGION:$D:key/$KEY1" "$KEY1"
expect_rc 1 "kmscancel cancel: refused"
expect_contains "$OUT" '"error":"PermissionDenied"' "kmscancel cancel: PermissionDenied"
learns_nothing "kmscancel cancel" "$OUT $ERR" "$D"

# --- and nothing happened ---------------------------------------------------------------------------
[ "$(fake_stat stsCalls)" = "$sts_before" ] && pass "the fake STS saw no request" ||
	fail "the fake STS saw $(($(fake_stat stsCalls) - sts_before)) request(s)"
[ "$(fake_stat requests)" = "$kms_before" ] && pass "the fake KMS saw no request" ||
	fail "the fake KMS saw $(($(fake_stat requests) - kms_before)) request(s)"
[ "$(wc -l <"$T/proc.count")" = "$proc_before" ] && pass "the credential_process did not run" ||
	fail "the credential_process ran $(($(wc -l <"$T/proc.count") - proc_before)) more time(s)"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "the key untouched" || fail "the key changed"
audit_has "event=decision" "op=status" "uid=$NOBODY" "decision=deny" "rule=default" &&
	pass "the refused GetStatus is audited" || fail "no audit record of the refused GetStatus"
grep -q "audit event=decision.*uid=$NOBODY.*decision=deny.*rule=default" "$T/daemon.log" &&
	pass "the refused cancels are audited" || fail "no audit record of the refused cancels"

# --- root still gets the status, even with AllowRoot=no ---------------------------------------------
printf 'AllowRoot=no\n' >>"$T/kmscanceld.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 400); do grep -q "reloaded " "$T/daemon.log" && break; sleep 0.05; done
run_cli --json status
expect_rc 0 "root reads the status with AllowRoot=no"
expect_contains "$OUT" "\"roleArn\":\"$ROLE\"" "... all of it"
run_cli --json cancel "$KEY1"
expect_contains "$OUT" '"error":"PermissionDenied"' "... and nothing else"

# --- no region for bare key IDs: the policy still answers first ---------------------------------------
# A daemon without a default region cannot serve a bare key ID; a caller no
# rule allows is refused before it learns that (and an allowed one is told).
stop_daemon
sed -i '/^AllowRoot=no$/d' "$T/kmscanceld.conf"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_REGION= AWS_DEFAULT_REGION=)
start_daemon
raw_call $NOBODY io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$KEY1\"}"
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "no region configured: a refused caller gets PermissionDenied"
case "$REPLY" in *region* | *AWS_REGION*) fail "… and learns that no region is set: $REPLY" ;;
*) pass "… and does not learn that no region is set" ;; esac
run_cli --json cancel "$KEY1"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "root, allowed, is told that no region is configured"
expect_contains "$OUT" "region" "… in so many words"
