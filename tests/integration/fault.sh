#!/bin/bash
# Fault injection end to end, through the fake KMS: whatever the endpoint
# does, the caller gets exactly one answer, in bounded time, and it is never
# a false success: "ok" only when the fake really cancelled the key, and an
# error leaves the key as it was when the fake did not process the call.
# (Untrusted CA and host name mismatch: tls.sh; KMS down: degrade.sh.)
. "$top_srcdir/tests/integration/lib.sh"

# Time limits are 3x what an idle machine needs (make -j check runs the
# load tests alongside), 10x under valgrind, where crowds are smaller too.
# The error names carry the meaning; the limits show nothing waits for a
# deadline it should not.
SLOW=3 VANISH=1000
[ -z "${DAEMON_WRAPPER:-}" ] || { SLOW=10; VANISH=200; }
# AttemptTimeout=no: the cases below show what the call's deadline does; a
# silent or endless response cut short by AttemptTimeout= (which would fire
# first under valgrind's longer Timeout=) is attempt-timeout.sh's.
printf '[KMS]\nRetryBase=50ms\nTimeout=%ds\nAttemptTimeout=no\n' $((2 * SLOW)) >"$T/kmscanceld.conf"
start_fake
start_daemon

# case NAME FAULT BODY EXPECT_RC EXPECT_TEXT MAX_MS: inject one fault rule,
# cancel KEY1, and check the exit status, the answer and the time taken.
case_() {
	local name=$1 path=$2 body=$3 want_rc=$4 want=$5 max_ms=$6 t0 ms state
	fake POST /reset >/dev/null
	set_key "$KEY1" PendingDeletion
	fake POST "$path" "$body" >/dev/null || die "fake refused $path $body"
	t0=$(date +%s%N)
	run_cli --json cancel "$KEY1"
	ms=$((($(date +%s%N) - t0) / 1000000))
	state=$(key_state "$KEY1")
	RESULTS+=("$name|$path $body|$(printf '%s' "$OUT" | sed -n 's/.*"error":"\([A-Za-z0-9]*\)".*/\1/p')|$RC|$state|$ms")
	[ "$want_rc" = any ] || expect_rc "$want_rc" "$name"
	expect_contains "$OUT" "$want" "$name: $want"
	max_ms=$((max_ms * SLOW))
	[ "$ms" -le "$max_ms" ] && pass "$name: answered in $ms ms" || fail "$name: took $ms ms (limit $max_ms)"
	# Never a false success, never a lost cancel reported as failed silently.
	case "$OUT" in
	*'"ok":true'*) [ "$state" = Disabled ] || fail "$name: success reported, key is $state" ;;
	esac
}
RESULTS=()

# Half a response, then a clean close / a reset; the fake did not process
# the call (process:false), so a retry is safe and succeeds.
case_ "half a response, then close" /truncate '{"process":false}' 0 '"ok":true' 1500
case_ "reset mid-response" /truncate '{"process":false,"reset":true}' 0 '"ok":true' 1500
# Every attempt cut short: EndpointUnavailable once the retries are spent.
case_ "every response cut short" /truncate '{"process":false,"count":10}' 1 '"error":"EndpointUnavailable"' 1500
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "key untouched" || fail "key changed"
case_ "every response reset" /truncate '{"process":false,"reset":true,"count":10}' 1 '"error":"EndpointUnavailable"' 1500
# The cancel happened, its response was cut: whatever is reported must be true.
set_key "$KEY1" PendingDeletion
case_ "processed, response cut" /truncate '{"reset":true}' any '"keyId"' 2500
# A response that never ends (silence, and a byte every 100 ms): the call's
# deadline (Timeout=) ends it, not the endpoint.
case_ "response never ends (silent)" /endless '{"process":false}' 1 '"error":"Timeout"' 3500
# (Trickling, the HTTPS request timeout may fire a moment before the call's
# deadline: EndpointUnavailable "no response within the request timeout".)
case_ "response never ends (trickle)" /endless '{"process":false,"trickleMs":100}' 1 '"ok":false' 3500
# An 8 MiB body is refused (the parser's 1 MiB cap), not buffered.
rss0=$(daemon_rss_kb)
case_ "8 MiB body" /respond '{"body":"x","repeat":8388608,"count":10}' 1 '"error":"EndpointUnavailable"' 2500
rss1=$(daemon_rss_kb)
[ "$rss1" -le $((rss0 + 16384)) ] && pass "RSS $rss0 -> $rss1 KiB" || fail "8 MiB body grew RSS $rss0 -> $rss1 KiB"
case_ "invalid JSON with 200" /respond '{"body":"{\"KeyId\":","count":10}' 1 '"error":"EndpointUnavailable"' 1500
case_ "HTTP 200 with an error body" /respond \
	'{"body":"{\"__type\":\"KMSInternalException\",\"message\":\"oops\"}","count":10}' 1 '"error":"InvalidResponse"' 1500
case_ "HTTP 200, empty body" /respond '{"count":10}' 1 '"error":"InvalidResponse"' 1500
case_ "HTML error page" /respond '{"status":502,"body":"<html>Bad Gateway</html>","count":10}' 1 '"ok":false' 2500

# TLS handshake failure: an endpoint that only speaks TLS 1.1.
stop_daemon
kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin"
start_fake --tls-max 1.1
start_daemon
t0=$(date +%s%N)
run_cli --json cancel "$KEY1"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 1 "TLS 1.1 only endpoint"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "TLS handshake failure -> EndpointUnavailable"
[ "$(fake_stat requests)" = 0 ] && pass "no request reached the fake" || fail "the fake saw requests"
[ "$ms" -le $((1500 * SLOW)) ] && pass "handshake failure answered in $ms ms" || fail "handshake failure took $ms ms"
RESULTS+=("TLS handshake failure (TLS 1.1 only)|--tls-max 1.1|EndpointUnavailable|$RC|$(key_state "$KEY1")|$ms")

# Slow-loris clients: 100 connections that send half a call and then a byte
# every 200 ms; meanwhile another client is served at once.
python3 "$top_srcdir/tests/load/varlink-load.py" "$SOCK" --slow --connections 100 --hold 3 >"$T/slow.out" &
slow=$!
sleep 1
fds=$(daemon_fds)
t0=$(date +%s%N)
run_cli status
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 0 "status while 100 slow-loris clients are connected ($fds fds)"
[ "$ms" -le $((1000 * SLOW)) ] && pass "answered in $ms ms" || fail "slow-loris: status took $ms ms"
wait "$slow"
RESULTS+=("slow-loris: 100 clients, 1 byte/200 ms|-|-|$RC|-|$ms")

# 1,000 clients that send a cancel and vanish while the call is in flight
# (the fake holds each reply 300 ms); then everything is back to normal.
stop_daemon
kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin"
printf '[Daemon]\nMaxConnectionsPerUser=2000\n[KMS]\nRetryBase=50ms\nTimeout=%ds\n' $((5 * SLOW)) >"$T/kmscanceld.conf"
start_fake
start_daemon
set_key "$KEY1" Enabled
# Baseline with the daemon's KMS connection pool warm (up to 8 connections).
load --connections 20 --calls 200 --methods describe
fd0=$(daemon_fds)
fake POST /delay "{\"ms\":300,\"count\":$VANISH}" >/dev/null
load --vanish --connections "$VANISH" --methods describe --timeout 30
[ "$(load_field connected)" = "$VANISH" ] && pass "$VANISH clients connected and vanished" || fail "vanish: $LOAD"
for i in $(seq 1 $((100 * SLOW))); do
	[ "$(daemon_fds)" -le "$fd0" ] && [ "$(fake_stat faultRulesPending)" = 0 ] && break
	sleep 0.1
done
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon alive" || fail "daemon died"
[ "$(daemon_fds)" -le "$fd0" ] && pass "descriptors back to $fd0" || fail "descriptors: $fd0 -> $(daemon_fds)"
fake POST /reset >/dev/null
load --connections 10 --calls 100 --methods describe,status
[ "$LOAD_RC" = 0 ] && pass "then 100 calls all answered" || fail "after vanishing clients: $LOAD"
RESULTS+=("1,000 clients vanish mid-call|/delay 300 ms|-|-|-|-")

{
	printf 'fault|injected|error|exit|key after|ms\n'
	printf '%s\n' "${RESULTS[@]}"
} >"${FAULT_RESULTS:-/dev/null}"
