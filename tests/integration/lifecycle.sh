#!/bin/bash
# The daemon as systemd sees it: the sd_notify protocol (READY, STATUS,
# WATCHDOG at half of WATCHDOG_USEC, RELOADING with MONOTONIC_USEC, STOPPING),
# SIGHUP reloads that keep the old state when the new config is broken, and
# SIGTERM with 50 calls in flight against a slow KMS: every one answered,
# then exit 0.
. "$top_srcdir/tests/integration/lib.sh"

HARNESS="$top_srcdir/tests/integration/sd-harness.py"
NOTIFY="$T/notify.sock"
NLOG="$T/notify.log"

# wait_for_line FILE PATTERN: up to ~10 s for an extended regex in FILE.
wait_for_line() {
	local i
	for i in $(seq 1 200); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

python3 "$HARNESS" notify "$NOTIFY" "$NLOG" &
NOTIFY_PID=$!
trap 'kill $NOTIFY_PID 2>/dev/null; cleanup' EXIT
for i in $(seq 1 100); do [ -S "$NOTIFY" ] && break; sleep 0.05; done

# 50 keys pending deletion for the drain below.
PREFIX=1234abcd-12ab-34cd-56ef-123456789
: >"$T/keys"
for i in $(seq -w 0 49); do printf '%s PendingDeletion\n' "${PREFIX}0$i" >>"$T/keys"; done
printf '%s PendingDeletion\n' "$KEY1" >>"$T/keys"
start_fake

printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
DAEMON_ENV=(NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=600000)
start_daemon

# --- READY and STATUS ---------------------------------------------------------
wait_for_line "$NLOG" ' READY=1$' && pass "READY=1 sent" || fail "no READY=1: $(cat "$NLOG")"
wait_for_line "$NLOG" ' STATUS=Serving: 0 connections' && pass "STATUS= describes the service" ||
	fail "no STATUS=Serving: $(cat "$NLOG")"
run_cli cancel "$KEY1"
expect_rc 0 "a cancel is served"
wait_for_line "$NLOG" ' STATUS=Serving: .* 1 succeeded, 0 failed' && pass "STATUS= carries live counters" ||
	fail "STATUS= did not count the call: $(grep STATUS "$NLOG")"

# --- WATCHDOG=1 every 300 ms (half of 600 ms) from the loop ------------------------------
sleep 1.6
pings=$(grep -c ' WATCHDOG=1$' "$NLOG")
[ "$pings" -ge 5 ] && pass "WATCHDOG=1 pings ($pings)" || fail "only $pings WATCHDOG=1 pings"
gaps=$(grep ' WATCHDOG=1$' "$NLOG" | awk 'NR > 1 { print $1 - prev } { prev = $1 }' | sort -n)
lo=$(printf '%s\n' "$gaps" | sed -n 2p) hi=$(printf '%s\n' "$gaps" | tail -n 2 | head -n 1)
# Under valgrind the loop itself is slow: only the lower bound holds there.
max_gap=450
[ -n "${DAEMON_WRAPPER:-}" ] && max_gap=2000
if [ -n "$lo" ] && [ "$lo" -ge 200 ] && [ "$hi" -le "$max_gap" ]; then
	pass "watchdog cadence ${lo}..${hi} ms for WATCHDOG_USEC=600000"
else
	fail "watchdog gaps (ms): $(echo $gaps)"
fi

# --- SIGHUP with a broken config: old state kept, error logged, calls work ----------
printf '[KMS]\nRetryBase=50ms\nTimeout=banana\n' >"$T/kmscanceld.conf"
: >"$NLOG"
kill -HUP "$DAEMON_PID"
wait_for_line "$T/daemon.log" 'reload failed, keeping the running configuration: .*Timeout' &&
	pass "a broken config is reported on reload" || fail "no reload error in the log"
wait_for_line "$NLOG" ' READY=1$' || fail "no READY=1 after the failed reload"
grep -Eq '^[0-9]+ RELOADING=1$' "$NLOG" && grep -Eq '^[0-9]+ MONOTONIC_USEC=[0-9]+$' "$NLOG" &&
	pass "RELOADING=1 with MONOTONIC_USEC" || fail "no RELOADING=1/MONOTONIC_USEC: $(cat "$NLOG")"
mono=$(sed -n 's/^[0-9]* MONOTONIC_USEC=//p' "$NLOG")
now=$(awk '{ printf "%d", $1 * 1000000 }' /proc/uptime)
# CLOCK_MONOTONIC and /proc/uptime differ by suspend time at most; same order.
[ "${#mono}" -ge "$((${#now} - 1))" ] && pass "MONOTONIC_USEC is CLOCK_MONOTONIC" || fail "MONOTONIC_USEC=$mono, uptime $now"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 0 "calls keep working after a failed reload"
kill -0 "$DAEMON_PID" && pass "daemon alive after the failed reload" || fail "daemon died on a bad reload"

# --- SIGHUP with a good config: it applies (AllowRoot=no refuses us, root) ------------
printf '[KMS]\nRetryBase=50ms\n[Policy]\nAllowRoot=no\nAllow=user:%s describe *\n' "$(id -un)" >"$T/kmscanceld.conf"
: >"$NLOG"
kill -HUP "$DAEMON_PID"
wait_for_line "$T/daemon.log" 'reloaded ' && pass "reload logged" || fail "no reload message"
wait_for_line "$NLOG" ' READY=1$' && pass "READY=1 after the reload" || fail "no READY=1 after reload"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 1 "the reloaded policy applies"
expect_contains "$ERR" "PermissionDenied" "refused by the new policy"

# --- kmscancel status: what the reloads and the refusal left -----------------------------
run_cli status
log "$OUT"
expect_rc 0 "kmscancel status"
expect_contains "$OUT" "Config:       $T/kmscanceld.conf" "status names the config file"
expect_contains "$OUT" "Credentials:  environment" "status names the credential source"
expect_contains "$OUT" "Errors:       PermissionDenied 1" "status counts failures per error"
expect_contains "$OUT" "Reloads:      1, 1 failed" "status counts reloads"
expect_contains "$OUT" "Endpoint:     https://127.0.0.1:$FAKE_PORT: " "status lists the KMS pools"
run_cli --json status
expect_contains "$OUT" '"errors":{"PermissionDenied":1}' "--json status has the per-error counters"
expect_contains "$OUT" '"pools":[{"endpoint":"https://127.0.0.1:' "--json status has the pools"
expect_contains "$OUT" '"state":"running"' "--json status has the state"
printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do [ "$(grep -c 'reloaded ' "$T/daemon.log")" -ge 2 ] && break; sleep 0.05; done

# --- a reload that changes the KMS endpoint, with a call in flight on the old one -------
set_key "$KEY1" PendingDeletion
# Long enough for the status polls below, slower under valgrind.
delay=2000
[ -n "${DAEMON_WRAPPER:-}" ] && delay=8000
fake POST /delay "{\"ms\":$delay,\"count\":1}" >/dev/null
kmscancel cancel "$KEY1" >"$T/inflight.out" 2>&1 &
inflight_pid=$!
# Until the KMS client has the call (GetStatus kms.callsInFlight).
for i in $(seq 1 200); do
	kmscancel --json status | sed 's/.*"kms": *{//' | grep -q '"callsInFlight": *1' && break
	sleep 0.05
done
printf '[AWS]\nEndpointURL=https://127.0.0.1:%s/\n[KMS]\nRetryBase=50ms\n' "$FAKE_PORT" >"$T/kmscanceld.conf"
n_reloaded=$(grep -c 'reloaded ' "$T/daemon.log")
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do [ "$(grep -c 'reloaded ' "$T/daemon.log")" -gt "$n_reloaded" ] && break; sleep 0.05; done
wait "$inflight_pid"
RC=$? OUT=$(cat "$T/inflight.out") ERR=
expect_rc 0 "a call in flight across a reload that replaced the KMS client completes"
grep -q 'a new KMS client; 1 calls finish on the old one' "$T/daemon.log" && pass "the call finished on the old client" ||
	fail "no KMS client replacement with 1 call in flight logged"
run_cli --json status
expect_contains "$OUT" "\"pools\":[]" "the new KMS client starts with no pools"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 0 "the new KMS client serves calls"

# --- SIGTERM with 50 calls in flight against a slow KMS --------------------------------
fake POST /delay '{"ms":600,"count":50}' >/dev/null
# Wait until the daemon has read all 50 (GetStatus counts dispatched calls).
before=$(kmscancel --json status | sed -n 's/.*"calls": *\([0-9]*\).*/\1/p')
python3 "$HARNESS" calls "$SOCK" 50 "$PREFIX" "$T/calls.sent" "$T/calls.result" &
CALLS_PID=$!
wait_for_file "$T/calls.sent" || fail "the 50 calls were not sent"
for i in $(seq 1 100); do
	n=$(kmscancel --json status | sed -n 's/.*"calls": *\([0-9]*\).*/\1/p')
	[ "$n" -ge "$((before + 50))" ] && break
	sleep 0.05
done
: >"$NLOG"
kill -TERM "$DAEMON_PID"
wait "$CALLS_PID"
wait "$DAEMON_PID"
DAEMON_RC=$?
DAEMON_PID=
ok=$(grep -c '^ok Disabled$' "$T/calls.result")
[ "$ok" = 50 ] && pass "all 50 in-flight calls answered during the drain" ||
	fail "$ok of 50 answered: $(sort "$T/calls.result" | uniq -c)"
[ "$DAEMON_RC" = 0 ] && pass "exit 0 after the drain" || fail "exit status $DAEMON_RC after the drain"
grep -q ' STOPPING=1$' "$NLOG" && pass "STOPPING=1 sent" || fail "no STOPPING=1: $(cat "$NLOG")"
inflight=$(sed -n 's/.* STATUS=Stopping (SIGTERM): \([0-9]*\) calls in flight.*/\1/p' "$NLOG" | head -n 1)
[ "${inflight:-0}" -ge 40 ] && pass "SIGTERM came with $inflight calls in flight" ||
	fail "SIGTERM came with ${inflight:-no} calls in flight: $(cat "$NLOG")"
grep -q 'all calls answered, exiting' "$T/daemon.log" && pass "drain completed, not timed out" ||
	fail "drain did not complete"
