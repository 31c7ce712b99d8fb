# Routing by the key ARN: partition and region pick the endpoint
# (kms.<region>.amazonaws.com, .amazonaws.com.cn for aws-cn, GovCloud,
# kms-fips with FIPS=yes), bare key IDs go to the default region.  Every
# regional endpoint is connected to its own loopback fake with
# KMSCANCELD_CONNECT_TO (no DNS); certificates are still checked against
# the real names (the test CA issues them).  Only the KMS overrides are
# lifted: STS stays on a closed loopback port and IMDS off (test-env.sh),
# and netguard, preloaded, refuses any query or connection off loopback, so
# a name missing from the map fails the test instead of going out.
. "$top_srcdir/tests/integration/lib.sh"

start_fake # us-east-1, the default region
PIDS=()
trap 'rc=$?; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT
declare -A PORT ADMIN
PORT[us-east-1]=$FAKE_PORT ADMIN[us-east-1]=$FAKE_ADMIN_PORT
for r in eu-west-1 cn-north-1 us-gov-west-1; do
	"$FAKE_KMS" --cert "$T/certs/server.pem" --key "$T/certs/server.key" --port-file "$T/$r.port" \
		--admin-port-file "$T/$r.admin" --access-key "$TEST_AKID" --secret "$TEST_SECRET" \
		--region "$r" --account "$TEST_ACCOUNT" --keys "$T/keys" >"$T/$r.log" 2>&1 &
	PIDS+=($!)
	wait_for_file "$T/$r.port" || die "fake for $r did not start"
	PORT[$r]=$(cat "$T/$r.port") ADMIN[$r]=$(cat "$T/$r.admin")
done

host_of() { case "$1" in cn-*) echo "kms${2-}.$1.amazonaws.com.cn" ;; *) echo "kms${2-}.$1.amazonaws.com" ;; esac; }
connect_to=
for r in us-east-1 eu-west-1 cn-north-1 us-gov-west-1; do
	connect_to+="$(host_of $r):443=127.0.0.1:${PORT[$r]},$(host_of $r -fips):443=127.0.0.1:${PORT[$r]},"
done

printf '[AWS]\nAccount=%s\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
# No endpoint override at all: the daemon must derive each one.
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "$WRAPPER")
start_daemon

# check REGION KEY-AS-GIVEN HOST: one cancel, answered by REGION's fake, sent to HOST.
check() {
	run_cli --json cancel "$2"
	expect_rc 0 "cancel $2"
	local reqs
	reqs=$(bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /requests | sed -e 's/": /":/g')
	expect_contains "$reqs" "\"host\":\"$3\"" "$2 went to $3 ($1's fake)"
	bash "$FAKE_ADMIN" "${ADMIN[$1]}" PUT "/keys/$KEY1" '{"KeyState":"PendingDeletion"}' >/dev/null
}
check us-east-1 "$KEY1" kms.us-east-1.amazonaws.com
check eu-west-1 "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY1" kms.eu-west-1.amazonaws.com
check cn-north-1 "arn:aws-cn:kms:cn-north-1:$TEST_ACCOUNT:key/$KEY1" kms.cn-north-1.amazonaws.com.cn
check us-gov-west-1 "arn:aws-us-gov:kms:us-gov-west-1:$TEST_ACCOUNT:key/$KEY1" kms.us-gov-west-1.amazonaws.com
stop_daemon

printf '[AWS]\nAccount=%s\n[KMS]\nFIPS=yes\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
start_daemon
check us-east-1 "$KEY1" kms-fips.us-east-1.amazonaws.com
check eu-west-1 "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY1" kms-fips.eu-west-1.amazonaws.com
stop_daemon

# AWS_ENDPOINT_URL_KMS overrides every region.
DAEMON_WRAPPER="env KMSCANCELD_CONNECT_TO=$connect_to $WRAPPER"
start_daemon
before=$(fake_stat requests)
run_cli cancel "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY1"
[ "$(fake_stat requests)" -gt "$before" ] && pass "the endpoint override took the eu-west-1 ARN" ||
	fail "the eu-west-1 ARN bypassed AWS_ENDPOINT_URL_KMS"
stop_daemon
[ ! -s "$NETGUARD_LOG" ] && pass "no DNS query or connection left loopback" ||
	fail "netguard refused: $(cat "$NETGUARD_LOG")"
grep -q 'cannot resolve' "$T/daemon.log" && fail "the daemon tried DNS: $(grep 'cannot resolve' "$T/daemon.log")"
exit 0
