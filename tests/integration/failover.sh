#!/bin/bash
# Failover between a name's addresses: kms.us-east-1.amazonaws.com has three
# (KMSCANCELD_CONNECT_TO, no DNS), of which the first two refuse
# connections.  The cancel succeeds in one attempt on the third; the dead
# addresses are reported once and skipped by the next connections.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
HOST=kms.us-east-1.amazonaws.com
# 127.0.0.2 and 127.0.0.3 are loopback too; nothing listens on port 9.
connect_to="$HOST:443=127.0.0.2:9,$HOST:443=127.0.0.3:9,$HOST:443=127.0.0.1:$FAKE_PORT"
printf '[AWS]\nAccount=%s\n[KMS]\nRetryBase=50ms\nIdleTimeout=200ms\n' "$TEST_ACCOUNT" >"$T/kmscanceld.conf"
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "$WRAPPER")
start_daemon

dead_reports() { grep -c "dns: $HOST: address 127.0.0.[23] failed" "$T/daemon.log"; }
# Waits (with a deadline) until the idle connection has been closed, so
# that the next call opens a new one.
wait_no_connections() {
	local i
	for i in $(seq 1 100); do
		kmscancel --json status 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
pools = s.get("kms", {}).get("pools", [])
open_ = sum(p.get("connectionsOpen", 0) for p in pools)
sys.exit(0 if open_ == 0 else 1)' && return 0
		sleep 0.1
	done
	return 1
}

run_cli --json cancel "$KEY1"
expect_rc 0 "cancel through the third address"
expect_contains "$OUT" '"attempts":1' "… in one attempt"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key is Disabled" || fail "key state $(key_state "$KEY1")"
[ "$(dead_reports)" = 2 ] && pass "both dead addresses reported" || fail "dead address reports: $(dead_reports)"

wait_no_connections && pass "the idle connection was closed" || fail "a connection stayed open"
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
expect_rc 0 "the next call, on a new connection"
expect_contains "$OUT" '"attempts":1' "… in one attempt"
[ "$(dead_reports)" = 2 ] && pass "the dead addresses were skipped (no new failures)" ||
	fail "dead address reports: $(dead_reports)"
[ "$(fake_stat connections)" = 2 ] && pass "two connections reached the fake, one per call" ||
	fail "connections at the fake: $(fake_stat connections)"
stop_daemon
[ ! -s "$NETGUARD_LOG" ] && pass "nothing left loopback" || fail "netguard refused: $(cat "$NETGUARD_LOG")"
exit 0
