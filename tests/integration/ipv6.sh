#!/bin/bash
# IPv6 end to end: the fake KMS and STS listen on ::1 only, and the daemon
# reaches them by the dual-stack names it computes (AWS_USE_DUALSTACK_ENDPOINT:
# kms.us-east-1.api.aws, sts.us-east-1.api.aws), mapped to [::1] with
# KMSCANCELD_CONNECT_TO (no DNS).  GetCallerIdentity, an [Account N]
# AssumeRole and the cancels all go over IPv6; the KMS name's first address
# is a dead IPv4 one, so the connection also fails over from IPv4 to IPv6.
# Skipped, saying so, where the machine has no ::1.  netguard fails the test
# on anything off loopback.
. "$top_srcdir/tests/integration/lib.sh"

if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	log "SKIP: no IPv6 loopback (::1) on this machine"
	exit 77
fi

B=444455556666
KB=2234abcd-12ab-34cd-56ef-1234567890ab
KMS_HOST=kms.us-east-1.api.aws
STS_HOST=sts.us-east-1.api.aws
printf '%s PendingDeletion\n%s PendingDeletion %s\n' "$KEY1" "$KB" "$B" >"$T/keys"
server_cert_for "$KMS_HOST" "$STS_HOST"
start_fake --listen ::1
# 127.0.0.2:9 refuses: the KMS name's IPv4 address is dead, its IPv6 one answers.
connect_to="$KMS_HOST:443=127.0.0.2:9,$KMS_HOST:443=[::1]:$FAKE_PORT,$STS_HOST:443=[::1]:$FAKE_STS_PORT"
printf '[KMS]\nRetryBase=50ms\n[Account %s]\nRoleArn=arn:aws:iam::%s:role/Rescue\n' "$B" "$B" >"$T/kmscanceld.conf"
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
# kms_by_name_wrapper points STS at a closed port; lift that too.
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "env -u AWS_ENDPOINT_URL_STS $WRAPPER")
DAEMON_ENV=(AWS_REGION=us-east-1 AWS_USE_DUALSTACK_ENDPOINT=true)
start_daemon

wait_account "$TEST_ACCOUNT" && pass "account learned from STS over IPv6" || fail "no account: $OUT"
run_cli --json cancel "$KEY1"
expect_rc 0 "cancel over IPv6"
expect_contains "$OUT" '"attempts":1' "… in one attempt, past the dead IPv4 address"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key is Disabled" || fail "key state $(key_state "$KEY1")"
grep -q "dns: $KMS_HOST: address 127.0.0.2 failed" "$T/daemon.log" && pass "the dead IPv4 address was reported" ||
	fail "no report of the dead IPv4 address"
run_cli --json cancel "arn:aws:kms:us-east-1:$B:key/$KB"
expect_rc 0 "a role account's key: AssumeRole and cancel over IPv6"
[ "$(fake_stat stsAssumeRole)" = 1 ] && pass "one AssumeRole" || fail "AssumeRole calls: $(fake_stat stsAssumeRole)"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed by the role's account" || fail "wrongAccount=$(fake_stat wrongAccount)"
reqs=$(fake GET /sts/requests | sed -e 's/": /":/g')
expect_contains "$reqs" "\"host\":\"$STS_HOST\"" "STS was asked as $STS_HOST"
reqs=$(fake GET /requests | sed -e 's/": /":/g')
expect_contains "$reqs" "\"host\":\"$KMS_HOST\"" "KMS was asked as $KMS_HOST"
stop_daemon
exit 0
