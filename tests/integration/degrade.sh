#!/bin/bash
# Graceful degradation: with KMS down (connection refused), calls fail fast
# with EndpointUnavailable once the retry budget is spent, the daemon keeps
# answering GetStatus, and it recovers by itself when KMS is back on the same
# port.  Also: with a tiny descriptor limit the daemon pauses accepting on
# EMFILE instead of spinning, and still answers every call.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
start_daemon
run_cli cancel "$KEY1"
expect_rc 0 "cancel with KMS up"
port=$FAKE_PORT

# KMS goes away: connection refused on every attempt.
kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
t0=$(date +%s%N)
run_cli --json cancel "$KEY1"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 1 "cancel with KMS down"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "KMS down -> EndpointUnavailable"
# MaxAttempts 3 with RetryBase=50ms: well under a second.
slow=3 # make -j check runs the load tests alongside
[ -z "${DAEMON_WRAPPER:-}" ] || slow=10 # under valgrind
[ "$ms" -le $((2000 * slow)) ] && pass "failed fast ($ms ms)" || fail "took $ms ms with KMS down"
t0=$(date +%s%N)
run_cli status
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 0 "GetStatus answers with KMS down ($ms ms)"
load --connections 20 --calls 100 --methods describe,status --timeout 30
[ "$LOAD_RC" = 0 ] && pass "100 calls with KMS down: each answered once" || fail "KMS down: $LOAD"

# KMS comes back on the same port: the daemon recovers without a restart.
rm -f "$T/fake.port" "$T/fake.admin"
start_fake --port "$port"
[ "$FAKE_PORT" = "$port" ] || die "fake came back on $FAKE_PORT, not $port"
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
expect_rc 0 "cancel after KMS came back"
expect_contains "$OUT" '"ok":true' "recovered on its own"
stop_daemon

# EMFILE: the daemon gets 40 descriptors; 120 clients connect at once and
# make 3 calls each.  Accepting pauses while descriptors are short (and
# resumes as clients leave); the daemon must not spin meanwhile.
if [ -z "${DAEMON_WRAPPER:-}" ]; then
	printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
	start_daemon
	prlimit --pid "$DAEMON_PID" --nofile=40:40 || die "prlimit failed"
	cpu0=$(daemon_cpu_ticks)
	t0=$(date +%s%N)
	load --connections 120 --calls 360 --methods status --timeout 60
	ms=$((($(date +%s%N) - t0) / 1000000))
	cpu1=$(daemon_cpu_ticks)
	log "EMFILE run: $LOAD; daemon CPU $((cpu1 - cpu0)) ticks in $ms ms"
	[ "$LOAD_RC" = 0 ] && [ "$(load_field replies)" = 360 ] && pass "360 calls answered under EMFILE" ||
		fail "EMFILE: $LOAD"
	grep -q "Too many open files\|EMFILE\|descriptors" "$T/daemon.log" && pass "the daemon hit EMFILE" ||
		log "note: the daemon did not log EMFILE"
	# Spinning on accept() would burn a whole CPU for the whole run.
	ticks_per_sec=$(getconf CLK_TCK)
	[ $(((cpu1 - cpu0) * 1000 / ticks_per_sec)) -le $((ms / 2)) ] && pass "no spinning" ||
		fail "daemon used $((cpu1 - cpu0)) ticks in $ms ms"
	run_cli status
	expect_rc 0 "status after EMFILE"
fi
