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
PIDS=()
trap 'rc=$?; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT
declare -A PORT ADMIN
PORT[us-east-1]=$FAKE_PORT ADMIN[us-east-1]=$FAKE_ADMIN_PORT
for r in cn-north-1 us-gov-west-1; do
	"$FAKE_KMS" --cert "$T/certs/server.pem" --key "$T/certs/server.key" --port-file "$T/$r.port" \
		--admin-port-file "$T/$r.admin" --access-key "$TEST_AKID" --secret "$TEST_SECRET" \
		--region "$r" --account "$TEST_ACCOUNT" --keys "$T/keys" >"$T/$r.log" 2>&1 &
	PIDS+=($!)
	wait_for_file "$T/$r.port" || die "fake for $r did not start"
	PORT[$r]=$(cat "$T/$r.port") ADMIN[$r]=$(cat "$T/$r.admin")
done
connect_to="kms.us-east-1.api.aws:443=127.0.0.1:${PORT[us-east-1]},kms-fips.us-east-1.api.aws:443=127.0.0.1:${PORT[us-east-1]}"
connect_to+=",kms.cn-north-1.api.amazonwebservices.com.cn:443=127.0.0.1:${PORT[cn-north-1]}"
connect_to+=",kms.us-gov-west-1.api.aws:443=127.0.0.1:${PORT[us-gov-west-1]}"

printf '[AWS]\nAccount=%s\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "$WRAPPER")

# check REGION KEY-AS-GIVEN HOST: one cancel, answered by REGION's fake, sent to HOST.
check() {
	run_cli --json cancel "$2"
	expect_rc 0 "cancel $2"
	local reqs
	reqs=$(bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /requests | sed -e 's/": /":/g')
	expect_contains "$reqs" "\"host\":\"$3\"" "$2 went to $3 ($1's fake)"
	bash "$FAKE_ADMIN" "${ADMIN[$1]}" PUT "/keys/$KEY1" '{"KeyState":"PendingDeletion"}' >/dev/null
}

DAEMON_ENV=(AWS_USE_DUALSTACK_ENDPOINT=true)
start_daemon
check us-east-1 "$KEY1" kms.us-east-1.api.aws
check cn-north-1 "arn:aws-cn:kms:cn-north-1:$TEST_ACCOUNT:key/$KEY1" kms.cn-north-1.api.amazonwebservices.com.cn
check us-gov-west-1 "arn:aws-us-gov:kms:us-gov-west-1:$TEST_ACCOUNT:key/$KEY1" kms.us-gov-west-1.api.aws
stop_daemon

# The profile's setting, with FIPS: kms-fips on the dual-stack suffix.
printf '[default]\nuse_dualstack_endpoint = true\nuse_fips_endpoint = true\n' >"$T/aws-config"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
start_daemon
check us-east-1 "$KEY1" kms-fips.us-east-1.api.aws
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
