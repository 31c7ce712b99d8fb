#!/bin/bash
# libkmscancel's asynchronous API against the real daemon and the fake KMS,
# driven from two real event loops (poll(2) and libevent) by
# tests/async-client: 100 pipelined calls with the right results, a call
# cancelled mid-flight (the connection stays usable), and the daemon killed
# mid-call (a clean error, no hang); a streamed listing in full and
# cancelled mid-stream.
. "$top_srcdir/tests/integration/lib.sh"

ASYNC="$top_builddir/tests/async-client"
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab

# async LOOP ARGS...: runs the program (under CLI_WRAPPER, like the CLI);
# its ok/FAIL lines join the test's log.
async() {
	${CLI_WRAPPER:-} "$ASYNC" --loop "$@" 2>"$T/async.err"
	RC=$?
	cat "$T/async.err" >&2
	grep -q '^FAIL' "$T/async.err" && failures=$((failures + 1))
}

# Two sets of 100 keys, one per loop.
for k in "$KEY1" "$KEY2"; do echo "$k PendingDeletion"; done >"$T/keys"
for loop in poll libevent; do
	: >"$T/keys.$loop"
	for i in $(seq 1 100); do
		k=$(printf '%08x-0000-4000-8000-%012x' "$i" "$([ $loop = poll ] && echo 1 || echo 2)")
		echo "$k PendingDeletion" >>"$T/keys"
		echo "$k" >>"$T/keys.$loop"
	done
done
start_fake
printf '[KMS]\nRetryBase=50ms\nCancelRate=1000\n' >"$T/kmscanceld.conf"
start_daemon

# The streaming ListPendingDeletions, while the 202 keys are pending: in
# full, then cancelled at its first key with a call queued behind it.
for loop in poll libevent; do
	async "$loop" "$SOCK" stream "$KEY2"
	expect_rc 0 "$loop: a listing in full, one cancelled, the call behind it answered"
done

for loop in poll libevent; do
	log "--- $loop ---"
	async "$loop" "$SOCK" pipeline "$T/keys.$loop"
	expect_rc 0 "$loop: 100 pipelined cancels, then 100 describes"
	n=$(grep -c '"KeyState": *"Disabled"' <(for k in $(cat "$T/keys.$loop"); do fake GET "/keys/$k"; echo; done))
	[ "$n" = 100 ] && pass "$loop: the fake has all 100 Disabled" || fail "$loop: $n of 100 Disabled"

	set_key "$KEY1" PendingDeletion
	fake POST /delay '{"ms":1500,"count":1,"operation":"CancelKeyDeletion"}' >/dev/null
	async "$loop" "$SOCK" cancel "$KEY1" "$KEY2"
	expect_rc 0 "$loop: a call cancelled mid-flight; the connection stays usable"
	fake POST /reset >/dev/null
done

# The daemon killed mid-call: every loop gets a clean error.  SIGKILL, so
# that nothing is answered on the way out.
for loop in poll libevent; do
	set_key "$KEY1" PendingDeletion
	fake POST /delay '{"ms":5000,"count":1}' >/dev/null
	rm -f "$T/marker"
	${CLI_WRAPPER:-} "$ASYNC" --loop "$loop" "$SOCK" killed "$KEY1" "$T/marker" 2>"$T/async.err" &
	pid=$!
	for i in $(seq 1 200); do [ -e "$T/marker" ] && break; sleep 0.05; done
	[ -e "$T/marker" ] || fail "$loop: the request was never written"
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	wait "$pid"
	RC=$?
	cat "$T/async.err" >&2
	grep -q '^FAIL' "$T/async.err" && failures=$((failures + 1))
	expect_rc 0 "$loop: the daemon killed mid-call is a clean error, not a hang"
	fake POST /reset >/dev/null
	start_daemon
done
