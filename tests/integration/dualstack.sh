#!/bin/bash
# Dual-stack endpoints: with AWS_USE_DUALSTACK_ENDPOINT (or the profile's
# use_dualstack_endpoint) the daemon derives kms[-fips].REGION.<the
# partition's dual-stack suffix> — kms.us-east-1.api.aws,
# kms.cn-north-1.api.amazonwebservices.com.cn, kms.us-gov-west-1.api.aws —
# and reaches each through KMSCANCELD_CONNECT_TO on loopback (no DNS); the
# certificates, from the test CA, name the dual-stack hosts and are checked
# against them.  Only the KMS overrides are lifted (kms_by_name_wrapper);
# netguard refuses anything off loopback and the test fails on it.
. "$top_srcdir/tests/integration/lib.sh"

NAMES=(kms.us-east-1.api.aws kms-fips.us-east-1.api.aws kms.cn-north-1.api.amazonwebservices.com.cn
	kms.us-gov-west-1.api.aws)
server_cert_for "${NAMES[@]}"
start_fake # us-east-1
declare -A PORT ADMIN
PORT[us-east-1]=$FAKE_PORT ADMIN[us-east-1]=$FAKE_ADMIN_PORT
start_region_fakes cn-north-1 us-gov-west-1
connect_to="kms.us-east-1.api.aws:443=127.0.0.1:${PORT[us-east-1]},kms-fips.us-east-1.api.aws:443=127.0.0.1:${PORT[us-east-1]}"
connect_to+=",kms.cn-north-1.api.amazonwebservices.com.cn:443=127.0.0.1:${PORT[cn-north-1]}"
connect_to+=",kms.us-gov-west-1.api.aws:443=127.0.0.1:${PORT[us-gov-west-1]}"

printf '[AWS]\nAccount=%s\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "$WRAPPER")

DAEMON_ENV=(AWS_USE_DUALSTACK_ENDPOINT=true)
start_daemon
check_routed us-east-1 "$KEY1" kms.us-east-1.api.aws
check_routed cn-north-1 "arn:aws-cn:kms:cn-north-1:$TEST_ACCOUNT:key/$KEY1" kms.cn-north-1.api.amazonwebservices.com.cn
check_routed us-gov-west-1 "arn:aws-us-gov:kms:us-gov-west-1:$TEST_ACCOUNT:key/$KEY1" kms.us-gov-west-1.api.aws
stop_daemon

# The profile's setting, with FIPS: kms-fips on the dual-stack suffix.
printf '[default]\nuse_dualstack_endpoint = true\nuse_fips_endpoint = true\n' >"$T/aws-config"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
start_daemon
check_routed us-east-1 "$KEY1" kms-fips.us-east-1.api.aws
stop_daemon

# A malformed value is an error, not a silent false.
env AWS_USE_DUALSTACK_ENDPOINT=maybe AWS_REGION="$TEST_REGION" \
	"$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check" 2>&1
rc=$?
[ "$rc" -ne 0 ] && pass "AWS_USE_DUALSTACK_ENDPOINT=maybe refused (exit $rc)" || fail "maybe accepted"
expect_contains "$(cat "$T/check")" AWS_USE_DUALSTACK_ENDPOINT "… naming the variable"

[ ! -s "$NETGUARD_LOG" ] && pass "no DNS query or connection left loopback" ||
	fail "netguard refused: $(cat "$NETGUARD_LOG")"
grep -q 'cannot resolve' "$T/daemon.log" && fail "the daemon tried DNS: $(grep 'cannot resolve' "$T/daemon.log")"
exit 0
