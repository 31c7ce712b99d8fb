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
declare -A PORT ADMIN
PORT[us-east-1]=$FAKE_PORT ADMIN[us-east-1]=$FAKE_ADMIN_PORT
start_region_fakes eu-west-1 cn-north-1 us-gov-west-1

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

check_routed us-east-1 "$KEY1" kms.us-east-1.amazonaws.com
check_routed eu-west-1 "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY1" kms.eu-west-1.amazonaws.com
check_routed cn-north-1 "arn:aws-cn:kms:cn-north-1:$TEST_ACCOUNT:key/$KEY1" kms.cn-north-1.amazonaws.com.cn
check_routed us-gov-west-1 "arn:aws-us-gov:kms:us-gov-west-1:$TEST_ACCOUNT:key/$KEY1" kms.us-gov-west-1.amazonaws.com
stop_daemon

printf '[AWS]\nAccount=%s\n[KMS]\nFIPS=yes\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
start_daemon
check_routed us-east-1 "$KEY1" kms-fips.us-east-1.amazonaws.com
check_routed eu-west-1 "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY1" kms-fips.eu-west-1.amazonaws.com
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
