#!/bin/bash
# STS over kept-alive connections (creds-net.c's pools, as KMS's): the hops
# of a role chain share one TLS connection, and an [Account N] role's
# refreshes go over the connection its first AssumeRole opened, counted by
# the fake STS's own handshake counter (/stats stsTlsHandshakes).  Every
# call is still verified, signed by the right credentials and answered.
. "$top_srcdir/tests/integration/lib.sh"

A=$TEST_ACCOUNT
B=444455556666
C=777788889999
KB=2234abcd-12ab-34cd-56ef-1234567890ab
KC=3234abcd-12ab-34cd-56ef-1234567890ab
NO_ENV_KEYS="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
PLAIN_WRAPPER=${DAEMON_WRAPPER:-}

printf '%s PendingDeletion\n%s PendingDeletion %s\n%s PendingDeletion %s\n' "$KEY1" "$KB" "$B" "$KC" "$C" >"$T/keys"
cat >"$T/aws-config" <<CONF
[profile top]
role_arn = arn:aws:iam::$C:role/Top
source_profile = mid
region = $TEST_REGION

[profile mid]
role_arn = arn:aws:iam::$B:role/Mid
source_profile = base

[profile base]
aws_access_key_id = $TEST_AKID
aws_secret_access_key = $TEST_SECRET
CONF

# poll_stat NAME MIN: waits (20 s at most) until the fake's NAME >= MIN.
poll_stat() {
	local i
	for i in $(seq 1 400); do
		[ "$(fake_stat "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# --- a chain of three profiles: two AssumeRole calls, one handshake ---------------
start_fake
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
DAEMON_WRAPPER="$NO_ENV_KEYS $PLAIN_WRAPPER"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" AWS_PROFILE=top)
start_daemon
run_cli --json cancel "$KC"
expect_rc 0 "a key of the chain's last role cancelled"
[ "$(fake_stat stsAssumeRole)" = 2 ] && pass "two AssumeRole calls (mid, then top)" ||
	fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed by the role's account" || fail "wrongAccount=$(fake_stat wrongAccount)"
handshakes=$(fake_stat stsTlsHandshakes)
[ "$handshakes" = 1 ] && pass "both hops over one TLS connection" ||
	fail "STS handshakes for 2 hops: $handshakes (connections: $(fake_stat stsConnections))"
echo "# chain: stsAssumeRole=2 stsConnections=$(fake_stat stsConnections) stsTlsHandshakes=$handshakes"
stop_daemon

# --- an [Account N] role refreshed: the refreshes reuse the connection -----------
kill "$FAKE_PID" && wait "$FAKE_PID" 2>/dev/null
FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin" "$T/fake.sts"
# 8 s credentials are refreshed at half their life: every ~4 s.
start_fake --sts-duration 8
printf '[AWS]\nAccount=%s\n[KMS]\nRetryBase=50ms\n[Account %s]\nRoleArn=arn:aws:iam::%s:role/Rescue\n' \
	"$A" "$B" "$B" >"$T/kmscanceld.conf"
DAEMON_WRAPPER=$PLAIN_WRAPPER
DAEMON_ENV=()
start_daemon
poll_stat stsAssumeRole 1 || fail "no AssumeRole at start"
run_cli cancel "arn:aws:kms:$TEST_REGION:$B:key/$KB"
expect_rc 0 "a key of the role account cancelled"
first=$(fake_stat stsTlsHandshakes)
poll_stat stsAssumeRole 3 && pass "the role was assumed again twice, ahead of expiry" ||
	fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
calls=$(fake_stat stsAssumeRole) handshakes=$(fake_stat stsTlsHandshakes)
[ "$handshakes" = "$first" ] && pass "the refreshes made no new TLS handshake ($handshakes for $calls calls)" ||
	fail "STS handshakes: $first after the first call, $handshakes after $calls"
echo "# refresh: stsAssumeRole=$calls stsConnections=$(fake_stat stsConnections) stsTlsHandshakes=$handshakes"
set_key "$KB" PendingDeletion
fake PUT "/keys/$KB" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$B\"}" >/dev/null
run_cli cancel "arn:aws:kms:$TEST_REGION:$B:key/$KB"
expect_rc 0 "… and again with the refreshed credentials"
stop_daemon
exit 0
