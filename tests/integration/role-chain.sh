#!/bin/bash
# Role chaining in the shared config file, through the real daemon and the
# fake STS (tests/fakes/fake-kms.c, which checks every signature): a chain
# of three profiles ending in static keys, each AssumeRole signed by the
# credentials of the hop before; credential_source; the same chain for an
# [Account N] Profile= section; cycles, mfa_serial and SSO profiles refused
# with messages that say why; refreshed ahead of expiry.
. "$top_srcdir/tests/integration/lib.sh"

A=$TEST_ACCOUNT # the static keys' account
B=444455556666  # role Mid
C=777788889999  # role Top
TOP="arn:aws:iam::$C:role/Top"
MID="arn:aws:iam::$B:role/Mid"
EXTERNAL_ID=mid-external-id-do-not-log
KC=3234abcd-12ab-34cd-56ef-1234567890ab
NO_ENV_KEYS="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
PLAIN_WRAPPER=${DAEMON_WRAPPER:-}

printf '%s PendingDeletion\n%s PendingDeletion %s\n' "$KEY1" "$KC" "$C" >"$T/keys"
cat >"$T/aws-config" <<CONF
[profile top]
role_arn = $TOP
source_profile = mid
role_session_name = top-session
duration_seconds = 1800
region = $TEST_REGION

[profile mid]
role_arn = $MID
source_profile = base
external_id = $EXTERNAL_ID

[profile base]
aws_access_key_id = $TEST_AKID
aws_secret_access_key = $TEST_SECRET
# A source profile's static keys win over its own role (botocore's rule).
role_arn = arn:aws:iam::$A:role/NeverAssumed
source_profile = mid

[profile env-source]
role_arn = $TOP
credential_source = Environment

[profile loop-a]
role_arn = $TOP
source_profile = loop-b

[profile loop-b]
role_arn = $MID
source_profile = loop-a

[profile with-mfa]
role_arn = $TOP
source_profile = base
mfa_serial = arn:aws:iam::$A:mfa/operator

[profile bad-source]
role_arn = $TOP
credential_source = Ec2Metadata

[profile sso]
sso_session = corp
sso_account_id = $C
sso_role_name = KeyRescue
region = $TEST_REGION

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = $TEST_REGION
CONF

start_fake
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"

# sts_calls: the fake's AssumeRole log as "roleArn accessKeyId account externalId session" lines.
sts_calls() {
	fake GET /sts/requests | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("action") == "AssumeRole":
        print(r.get("roleArn"), r.get("accessKeyId"), r.get("account"), r.get("externalId"), r.get("roleSessionName"))'
}
reset_kc() { fake PUT "/keys/$KC" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$C\"}" >/dev/null; }
status_field() {
	kmscancel --json status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}

# --- a chain of three profiles ending in static keys ----------------------------
DAEMON_WRAPPER="$NO_ENV_KEYS $PLAIN_WRAPPER"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=top)
start_daemon
run_cli --json cancel "$KC"
expect_rc 0 "a key of the chain's last role cancelled"
[ "$(key_state "$KC")" = Disabled ] && pass "… and Disabled" || fail "key $KC: $(key_state "$KC")"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed by the role's account" || fail "wrongAccount=$(fake_stat wrongAccount)"
calls=$(sts_calls)
first=$(printf '%s\n' "$calls" | sed -n 1p)
second=$(printf '%s\n' "$calls" | sed -n 2p)
[ "$(printf '%s\n' "$calls" | grep -c .)" = 2 ] && pass "two AssumeRole calls" || fail "AssumeRole calls: $calls"
case "$first" in
"$MID $TEST_AKID $A True "*) pass "hop 1: Mid assumed with base's static keys and the external ID" ;;
*) fail "hop 1: $first" ;;
esac
case "$second" in
"$TOP ASIAFAKE"*" $B False top-session") pass "hop 2: Top assumed with Mid's credentials, role_session_name passed" ;;
*) fail "hop 2: $second" ;;
esac
expect_contains "$(status_field credentialSource)" "assume-role (profile top via mid via base)" \
	"status names the chain"
expect_contains "$(status_field account)" "$C" "the default account is the last role's"
stop_daemon

# --- credential_source=Environment (asked alone: env keys would win the chain) ----
printf '[KMS]\nRetryBase=50ms\n[AWS]\nCredentialSource=assume-role\n' >"$T/kmscanceld.conf"
fake POST /reset >/dev/null
reset_kc
DAEMON_WRAPPER=$PLAIN_WRAPPER
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=env-source)
start_daemon
run_cli --json cancel "$KC"
expect_rc 0 "credential_source = Environment"
case "$(sts_calls)" in
"$TOP $TEST_AKID $A False kmscanceld-"*) pass "Top assumed with the environment's keys, default session name" ;;
*) fail "AssumeRole calls: $(sts_calls)" ;;
esac
expect_contains "$(status_field credentialSource)" "assume-role (profile env-source via Environment)" \
	"status names the credential source"
stop_daemon

# --- [Account N] Profile= with a chain --------------------------------------------
printf '[KMS]\nRetryBase=50ms\n[Account %s]\nProfile=top\n' "$C" >"$T/kmscanceld.conf"
fake POST /reset >/dev/null
reset_kc
set_key "$KEY1" PendingDeletion
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
start_daemon
run_cli --json cancel "arn:aws:kms:$TEST_REGION:$C:key/$KC" "$KEY1"
expect_rc 0 "a Profile= account whose profile is a chain, next to the default credentials"
[ "$(key_state "$KC")/$(key_state "$KEY1")" = Disabled/Disabled ] && pass "both keys Disabled" ||
	fail "states $(key_state "$KC")/$(key_state "$KEY1")"
[ "$(sts_calls | grep -c .)" = 2 ] && pass "the chain assumed for the account" || fail "AssumeRole calls: $(sts_calls)"
env AWS_CONFIG_FILE="$T/aws-config" AWS_REGION="$TEST_REGION" \
	"$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check" 2>&1
expect_contains "$(cat "$T/check")" "would assume $TOP (profile top via mid via base)" \
	"--check-config says what the chain would do"
stop_daemon

# --- refused: cycle, MFA, bad credential_source, SSO -------------------------------
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
DAEMON_WRAPPER="$NO_ENV_KEYS $PLAIN_WRAPPER"
refused() { # PROFILE WHAT TEXT...
	local profile=$1 what=$2
	shift 2
	fake POST /reset >/dev/null
	DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE="$profile")
	start_daemon
	run_cli describe "$KEY1"
	expect_rc 1 "$what: refused"
	expect_contains "$OUT$ERR" CredentialsUnavailable "$what: CredentialsUnavailable"
	for text in "$@"; do expect_contains "$OUT$ERR" "$text" "$what: says '$text'"; done
	[ "$(fake_stat stsAssumeRole)" = 0 ] && pass "$what: no AssumeRole sent" || fail "$what: AssumeRole sent"
	stop_daemon
}
refused loop-a "a cycle" "loop-a -> loop-b -> loop-a" "cycle"
refused with-mfa "mfa_serial" "mfa_serial" "daemon"
refused bad-source "credential_source" "Ec2Metadata" "Ec2InstanceMetadata"
refused sso "an SSO profile" "IAM Identity Center" "aws configure export-credentials --profile sso"

# --- refreshed ahead of expiry: the whole chain again --------------------------------
kill "$FAKE_PID" && wait "$FAKE_PID" 2>/dev/null
FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin" "$T/fake.sts"
start_fake --sts-duration 16
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=top)
reset_kc
start_daemon
run_cli --json describe "$KC"
expect_rc 0 "16 s credentials at the end of the chain"
# Refreshed at half their life: poll, with a deadline, for the second round.
for i in $(seq 1 300); do
	[ "$(fake_stat stsAssumeRole)" -ge 4 ] && break
	sleep 0.1
done
[ "$(fake_stat stsAssumeRole)" = 4 ] && pass "the chain assumed again ahead of expiry" ||
	fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
run_cli --json cancel "$KC"
expect_rc 0 "the refreshed credentials work"
errors=$(fake GET /stats | sed -n 's/.*"errors": *\({[^}]*}\).*/\1/p')
case "$errors" in *ExpiredToken*) fail "expired credentials were used: $errors" ;; *) pass "no expired credentials used" ;; esac
stop_daemon
if grep -q -e "$EXTERNAL_ID" -e "$TEST_SECRET" "$T"/*.log "$T/out" "$T/err" "$T/check"; then
	fail "a secret reached a log or an output"
else
	pass "no secret in any log or output"
fi
exit 0
