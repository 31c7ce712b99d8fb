#!/bin/bash
# Role chains that start at a source profile with no static keys, followed
# as botocore's AssumeRoleProvider does (_resolve_credentials_from_profile:
# the source profile's own providers, environment variables ignored):
#   - credential_process: a chain of three (process -> Mid -> Top), each
#     AssumeRole signed by the credentials of the hop before;
#   - web identity (role_arn + web_identity_token_file): the fake STS's
#     AssumeRoleWithWebIdentity for the source's role with the profile's
#     token, then AssumeRole of the top role signed by what it gave, while
#     AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN name another token and role;
#   - an SSO source profile stays refused, saying why.
# Each chain's STS calls (action, role, signer) are compared with the ones
# botocore makes for the same profile, run offline (role-chain-botocore.py
# answers its calls itself).
. "$top_srcdir/tests/integration/lib.sh"

A=$TEST_ACCOUNT # the process's keys' account
B=444455556666  # the middle roles
C=777788889999  # role Top
KC=3234abcd-12ab-34cd-56ef-1234567890ab
WEB_TOKEN=eyJ.web-identity-token-for-the-chain.sig
NO_ENV_KEYS="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
PLAIN_WRAPPER=${DAEMON_WRAPPER:-}

printf '%s PendingDeletion\n%s PendingDeletion %s\n' "$KEY1" "$KC" "$C" >"$T/keys"
cat >"$T/proc" <<PROC
#!/bin/sh
: >>"$T/proc-ran"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "$TEST_AKID" "$TEST_SECRET"
PROC
chmod +x "$T/proc"
printf '%s\n' "$WEB_TOKEN" >"$T/web-token"
printf 'a-token-only-the-environment-names\n' >"$T/env-token"
cat >"$T/aws-config" <<CONF
[profile via-proc]
role_arn = arn:aws:iam::$C:role/Top
source_profile = mid-proc
region = $TEST_REGION

[profile mid-proc]
role_arn = arn:aws:iam::$B:role/Mid
source_profile = proc

[profile proc]
credential_process = "$T/proc"

[profile via-web]
role_arn = arn:aws:iam::$C:role/Top
source_profile = web
role_session_name = top-session
region = $TEST_REGION

[profile web]
role_arn = arn:aws:iam::$B:role/WebMid
web_identity_token_file = $T/web-token
role_session_name = web-session

[profile via-sso]
role_arn = arn:aws:iam::$C:role/Top
source_profile = sso

[profile sso]
sso_session = corp
sso_account_id = $B
sso_role_name = KeyRescue

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = $TEST_REGION
CONF

start_fake --web-identity-token "$WEB_TOKEN"
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
DAEMON_WRAPPER="$NO_ENV_KEYS $PLAIN_WRAPPER"

# sts_calls: the fake's STS log as "action roleArn accessKeyId account session" lines.
sts_calls() {
	fake GET /sts/requests | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("action", "").startswith("AssumeRole"):
        print(r.get("action"), r.get("roleArn"), r.get("accessKeyId") or "-", r.get("account") or "-",
              r.get("roleSessionName"))'
}
# same_as_botocore PROFILE WHAT: the daemon's STS calls, as "ACTION ROLE
# SIGNER" (SIGNER: the key, "issued" for one STS issued, "-" unsigned), are
# the ones botocore makes for PROFILE with the daemon's environment.
same_as_botocore() {
	local want got
	want=$(env "${DAEMON_ENV[@]}" python3 "$top_srcdir/tests/integration/role-chain-botocore.py" "$1" 2>"$T/botocore.err")
	case $? in
	0) ;;
	77) log "SKIP: no botocore: $2 not compared with it"; return ;;
	*) fail "$2: botocore failed: $(cat "$T/botocore.err")"; return ;;
	esac
	got=$(fake GET /sts/requests | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("action", "").startswith("AssumeRole"):
        key = r.get("accessKeyId") or "-"
        print(r.get("action"), r.get("roleArn"), "issued" if key.startswith("ASIAFAKE") else key)')
	[ "$got" = "$want" ] && pass "$2: the same STS calls as botocore's" ||
		fail "$2: daemon: $(echo $got); botocore: $(echo $want)"
}
status_field() {
	kmscancel --json status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}
reset_kc() { fake PUT "/keys/$KC" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$C\"}" >/dev/null; }

# --- credential_process at the start of a chain of three -----------------------------
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=via-proc)
start_daemon
run_cli --json cancel "$KC"
expect_rc 0 "a key of the chain's last role cancelled"
[ -e "$T/proc-ran" ] && pass "the source profile's credential_process ran" || fail "credential_process not run"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed by the role's account" || fail "wrongAccount=$(fake_stat wrongAccount)"
calls=$(sts_calls)
[ "$(printf '%s\n' "$calls" | grep -c .)" = 2 ] && pass "two AssumeRole calls" || fail "STS calls: $calls"
case "$(printf '%s\n' "$calls" | sed -n 1p)" in
"AssumeRole arn:aws:iam::$B:role/Mid $TEST_AKID $A "*) pass "hop 1: Mid assumed with the process's keys" ;;
*) fail "hop 1: $(printf '%s\n' "$calls" | sed -n 1p)" ;;
esac
case "$(printf '%s\n' "$calls" | sed -n 2p)" in
"AssumeRole arn:aws:iam::$C:role/Top ASIAFAKE"*" $B "*) pass "hop 2: Top assumed with Mid's credentials" ;;
*) fail "hop 2: $(printf '%s\n' "$calls" | sed -n 2p)" ;;
esac
expect_contains "$(status_field credentialSource)" "assume-role (profile via-proc via mid-proc via proc)" \
	"status names the chain"
same_as_botocore via-proc "credential_process chain"
stop_daemon

# --- web identity at the start; the environment's token and role are not used ---------
fake POST /reset >/dev/null
reset_kc
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=via-web AWS_WEB_IDENTITY_TOKEN_FILE="$T/env-token"
	AWS_ROLE_ARN="arn:aws:iam::$A:role/FromTheEnvironment" AWS_ROLE_SESSION_NAME=env-session)
start_daemon
run_cli --json cancel "$KC"
expect_rc 0 "a key of the role assumed from a web identity"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed by the role's account" || fail "wrongAccount=$(fake_stat wrongAccount)"
calls=$(sts_calls)
[ "$(printf '%s\n' "$calls" | grep -c .)" = 2 ] && pass "two STS calls" || fail "STS calls: $calls"
case "$(printf '%s\n' "$calls" | sed -n 1p)" in
"AssumeRoleWithWebIdentity arn:aws:iam::$B:role/WebMid - - web-session") pass "hop 1: the profile's role with its token" ;;
*) fail "hop 1: $(printf '%s\n' "$calls" | sed -n 1p)" ;;
esac
case "$(printf '%s\n' "$calls" | sed -n 2p)" in
"AssumeRole arn:aws:iam::$C:role/Top ASIAFAKE"*" $B top-session") pass "hop 2: Top assumed with WebMid's credentials" ;;
*) fail "hop 2: $(printf '%s\n' "$calls" | sed -n 2p)" ;;
esac
[ "$(fake_stat stsAssumeRoleWithWebIdentity)" = 1 ] && pass "one AssumeRoleWithWebIdentity" ||
	fail "AssumeRoleWithWebIdentity: $(fake_stat stsAssumeRoleWithWebIdentity)"
expect_contains "$(status_field credentialSource)" "assume-role (profile via-web via web)" "status names the chain"
same_as_botocore via-web "web identity chain"
stop_daemon

# A wrong token in the profile's file: the chain fails, naming the step.
printf 'not-the-token\n' >"$T/web-token"
fake POST /reset >/dev/null
start_daemon
run_cli describe "$KEY1"
expect_rc 1 "a refused web identity token fails the chain"
expect_contains "$OUT$ERR" "InvalidIdentityToken" "… with STS's error"
[ "$(fake_stat stsAssumeRole)" = 0 ] && pass "… and no AssumeRole sent" || fail "AssumeRole sent"
stop_daemon

# --- an SSO source profile: refused, nothing sent ----------------------------------
fake POST /reset >/dev/null
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=via-sso)
start_daemon
run_cli describe "$KEY1"
expect_rc 1 "an SSO source profile is refused"
expect_contains "$OUT$ERR" "gets its credentials from SSO" "… saying why"
[ "$(fake_stat stsCalls)" = 0 ] && pass "… with nothing sent to STS" || fail "STS calls: $(fake_stat stsCalls)"
stop_daemon
grep -q -e "$TEST_SECRET" -e "$WEB_TOKEN" "$T"/*.log "$T/out" "$T/err" && fail "a secret reached a log or an output" ||
	pass "no secret or token in any log or output"
exit 0
