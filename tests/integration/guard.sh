#!/bin/bash
# The guard ([Guard], issue 18): guarded keys read every Interval=, a key
# scheduled for deletion rescued within an interval (and enabled again when
# it was Enabled and Enable=yes, not when it was Disabled), unguarded keys
# left alone, a key that cannot be read reported, the GetStatus counters,
# WatchGuard subscribers told each event their policy lets them see (a uid
# refused describe on a key sees nothing of it), a reload that drops a key
# stops reading it, and the subscribers' final reply when the daemon stops
# (whose drain waits for a rescue in flight).
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
VC="$top_srcdir/tests/integration/varlink-client.py"
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab # guarded by ARN, Enabled
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab # guarded by alias, Disabled
KEY4=4234abcd-12ab-34cd-56ef-1234567890ab # not guarded, pending deletion
KEY6=6234abcd-12ab-34cd-56ef-1234567890ab # guarded, deleted from KMS meanwhile
ARN() { printf 'arn:aws:kms:%s:%s:key/%s' "$TEST_REGION" "$TEST_ACCOUNT" "$1"; }
ARN2=$(ARN $KEY2) ARN3=$(ARN $KEY3) ARN6=$(ARN $KEY6)
ALICE=4242

start_fake
fake PUT "/keys/$KEY2" '{"KeyState":"Enabled"}' >/dev/null || die "key 2"
fake PUT "/keys/$KEY3" '{"KeyState":"Disabled","Alias":"alias/guarded-3"}' >/dev/null || die "key 3"
fake PUT "/keys/$KEY4" '{"KeyState":"PendingDeletion"}' >/dev/null || die "key 4"
fake PUT "/keys/$KEY6" '{"KeyState":"Enabled"}' >/dev/null || die "key 6"

# status_get MEMBER: one member of GetStatus's guard (keys, checks, …).
status_get() {
	python3 "$VC" --stream "$SOCK" io.kmscancel.GetStatus '{}' --no-more |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["parameters"].get("guard", {}).get(sys.argv[1], ""))' "$1"
}
# wait_status MEMBER MIN: polls until the guard's MEMBER is at least MIN (30 s).
wait_status() {
	local i v
	for i in $(seq 1 300); do
		v=$(status_get "$1")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_line FILE PATTERN: polls until a line of FILE has PATTERN (30 s).
wait_line() {
	local i
	for i in $(seq 1 300); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# events FILE: the events in a watcher's output, "event key" per line.
events() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line).get("parameters", {}).get("event")
    if ev:
        print(ev["event"], ev["key"], ev.get("keyState", "-"), ev.get("error", "-"))' "$1"
}
# requests_for KEY-ID: the fake's logged operations naming that key, one per line.
requests_for() {
	fake GET /requests | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if sys.argv[1] in (r.get("keyId") or ""):
        print(r["seq"], r["operation"])' "$1"
}

cat >"$T/kmscanceld.conf" <<CONF
[Policy]
Allow=user:$ALICE describe $ARN2
[Guard]
Keys=$ARN2 alias/guarded-3
Keys=$ARN6
Interval=1
Enable=yes
[KMS]
RetryBase=50ms
[Daemon]
SocketMode=0666
CONF
start_daemon

# Streaming only: without "more" WatchGuard is ExpectedMore.
python3 "$VC" --stream "$SOCK" io.kmscancel.WatchGuard '{}' --no-more >"$T/nomore.out"
grep -q '"error": "org.varlink.service.ExpectedMore"' "$T/nomore.out" && pass "WatchGuard without more: ExpectedMore" ||
	fail "WatchGuard without more: $(cat "$T/nomore.out")"

# A watcher of ours (this uid: root in CI, else allowed by nothing but its
# events come all the same when root) and one as a uid the policy lets
# describe KEY2 only.
python3 "$VC" --stream "$SOCK" io.kmscancel.WatchGuard >"$T/watch.out" 2>"$T/watch.err" &
WATCH_PID=$!
at_cleanup 'kill "$WATCH_PID" 2>/dev/null'
wait_line "$T/watch.out" '"continues": true' && pass "the watch is in place (first reply, continues)" ||
	fail "no first reply: $(cat "$T/watch.out" "$T/watch.err")"
ALICE_PID=
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 0711 "$T"
	cp "$VC" "$T/vc.py" && chmod a+r "$T/vc.py"
	: >"$T/alice.out"
	chmod a+rw "$T/alice.out"
	setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- /usr/bin/python3 "$T/vc.py" --stream "$SOCK" \
		io.kmscancel.WatchGuard >>"$T/alice.out" 2>"$T/alice.err" &
	ALICE_PID=$!
	at_cleanup 'kill "$ALICE_PID" 2>/dev/null'
	wait_line "$T/alice.out" '"continues": true' || fail "alice's watch: $(cat "$T/alice.out" "$T/alice.err")"
else
	log "SKIP (part): not root or no setpriv: no watcher of another uid"
fi

# Every key read once; then one gone from KMS (after the watchers are in
# place: events are not replayed) is reported, and again once it is back.
wait_status checks 3 && pass "the guarded keys are read" || fail "guard checks: $(status_get checks)"
fake DELETE "/keys/$KEY6" >/dev/null || die "delete key 6"
wait_status unreadable 1 && pass "the unknown key is counted unreadable" || fail "unreadable: $(status_get unreadable)"
wait_line "$T/watch.out" '"event": "unreadable"' && pass "an unreadable event" || fail "no unreadable event"
events "$T/watch.out" | grep -q "^unreadable $ARN6 - NotFoundException" && pass "it names the key and NotFoundException" ||
	fail "unreadable event: $(events "$T/watch.out")"
grep -q "guard: $ARN6 cannot be read.*NotFoundException" "$T/daemon.log" && pass "a warning in the log" ||
	fail "no warning for the unreadable key"
[ "$(status_get keys)" = 3 ] && pass "GetStatus: 3 keys guarded" || fail "keys: $(status_get keys)"
fake PUT "/keys/$KEY6" '{"KeyState":"Enabled"}' >/dev/null || die "key 6 again"
wait_line "$T/watch.out" '"event": "readable"' && pass "a readable event once it is back" || fail "no readable event"
wait_status checks 0 && [ "$(status_get unreadable)" = 0 ] && pass "no key unreadable now" ||
	fail "unreadable: $(status_get unreadable)"

# KEY2 (Enabled) scheduled for deletion: rescued and enabled again.
start=$(now_ms)
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion"}' >/dev/null
for i in $(seq 1 300); do [ "$(key_state $KEY2)" = Enabled ] && break; sleep 0.1; done
elapsed=$(($(now_ms) - start))
[ "$(key_state $KEY2)" = Enabled ] && pass "KEY2 rescued and enabled again ($elapsed ms)" || fail "KEY2: $(key_state $KEY2)"
timing_check "[ $elapsed -lt 3000 ]" "rescued within an interval of 1 s (and the rescue's own time): $elapsed ms"
wait_line "$T/watch.out" '"event": "enabled"' || fail "no enabled event"
events "$T/watch.out" | grep -q "^rescued $ARN2 Disabled -" && pass "a rescued event" ||
	fail "rescued event: $(events "$T/watch.out")"
events "$T/watch.out" | grep -q "^enabled $ARN2 Enabled -" && pass "an enabled event" ||
	fail "enabled event: $(events "$T/watch.out")"
grep '"event": "rescued"' "$T/watch.out" | grep -q "\"keyId\": \"$ARN2\".*\"requestIds\": \[\"[^\"]*\", \"[^\"]*\"\]" &&
	pass "the rescued event has the key ARN and the request IDs" || fail "rescued event: $(grep rescued "$T/watch.out")"
grep -q "guard: $ARN2 .*was scheduled for deletion on 20.*deletion cancelled" "$T/daemon.log" &&
	pass "the rescue is in the log" || fail "no rescue record in the log"

# KEY3 (Disabled, by alias) scheduled: rescued, left Disabled.
fake PUT "/keys/$KEY3" '{"KeyState":"PendingDeletion","Alias":"alias/guarded-3"}' >/dev/null
wait_status rescues 2 && pass "KEY3 rescued" || fail "rescues: $(status_get rescues)"
[ "$(key_state $KEY3)" = Disabled ] && pass "KEY3 left Disabled (it was Disabled)" || fail "KEY3: $(key_state $KEY3)"
requests_for $KEY3 | grep -q EnableKey && fail "EnableKey sent for KEY3" || pass "no EnableKey for KEY3"
wait_line "$T/watch.out" "\"key\": \"alias/guarded-3\"" || true
events "$T/watch.out" | grep -q "^rescued alias/guarded-3 Disabled" && pass "a rescued event for the alias" ||
	fail "alias event: $(events "$T/watch.out")"
events "$T/watch.out" | grep -q "^enabled alias/guarded-3" && fail "an enabled event for KEY3" || true

# The unguarded key: never read, still pending deletion.
[ -z "$(requests_for $KEY4)" ] && pass "the unguarded key was never sent to KMS" || fail "KEY4: $(requests_for $KEY4)"
[ "$(key_state $KEY4)" = PendingDeletion ] && pass "the unguarded key is still pending deletion" ||
	fail "KEY4: $(key_state $KEY4)"

# The counters.
[ "$(status_get failures)" = 0 ] && pass "GetStatus: no failures yet" || fail "failures: $(status_get failures)"
[ "$(status_get lastRescueKey)" = alias/guarded-3 ] && pass "GetStatus: the last rescue's key" ||
	fail "lastRescueKey: $(status_get lastRescueKey)"
status_get lastRescue | grep -q '^20[0-9-]*T[0-9:]*Z$' && pass "GetStatus: the last rescue's time" ||
	fail "lastRescue: $(status_get lastRescue)"

# Subscribers that never read: they hold no one up, and no more than 8
# per uid are let in.  This uid has one already.
cat >"$T/watchers.py" <<'PY'
import json, os, socket, sys, time
sock, n, release = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conns, refused = [], "-"
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(json.dumps({"method": "io.kmscancel.WatchGuard", "more": True}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    r = json.loads(buf.split(b"\0", 1)[0]) if buf else {"error": "closed"}
    if r.get("error"):
        refused = r["error"]
        s.close()
        break
    conns.append(s)  # never read again
print(len(conns), refused, flush=True)
while not os.path.exists(release):
    time.sleep(0.05)
PY
python3 "$T/watchers.py" "$SOCK" 10 "$T/release" >"$T/watchers.out" 2>&1 &
HOLD_PID=$!
at_cleanup 'kill "$HOLD_PID" 2>/dev/null'
wait_line "$T/watchers.out" . || fail "watchers.py: no answer"
[ "$(cat "$T/watchers.out")" = "7 io.kmscancel.ThrottlingException" ] && pass "8 subscribers per uid, then ThrottlingException" ||
	fail "subscribers: $(cat "$T/watchers.out")"
fake DELETE "/keys/$KEY6" >/dev/null
for i in $(seq 1 300); do [ "$(grep -c '"event": "unreadable"' "$T/watch.out")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c '"event": "unreadable"' "$T/watch.out")" -ge 2 ] && pass "events reach a reader while 7 others do not read" ||
	fail "the reader got no second event: $(events "$T/watch.out")"
fake PUT "/keys/$KEY6" '{"KeyState":"Enabled"}' >/dev/null
touch "$T/release"
wait "$HOLD_PID"
# Those that hung up are let go (within a sweep): the places are free again.
for i in $(seq 1 100); do
	python3 "$T/watchers.py" "$SOCK" 7 "$T/release" >"$T/watchers.out" 2>&1
	[ "$(cat "$T/watchers.out")" = "7 -" ] && break
	sleep 0.1
done
[ "$(cat "$T/watchers.out")" = "7 -" ] && pass "subscribers that hung up are let go" ||
	fail "after hanging up: $(cat "$T/watchers.out")"

# A rescue that fails (AccessDenied on the cancel) is recorded, counted,
# told, and made again at the next read.
fake POST /fail '{"error":"AccessDeniedException","count":1,"operation":"CancelKeyDeletion"}' >/dev/null
fake PUT "/keys/$KEY3" '{"KeyState":"PendingDeletion","Alias":"alias/guarded-3"}' >/dev/null
wait_status failures 1 && pass "a failed rescue is counted" || fail "failures: $(status_get failures)"
wait_status rescues 3 && pass "and made again at the next read" || fail "rescues: $(status_get rescues)"
events "$T/watch.out" | grep -q "^rescueFailed alias/guarded-3 - AccessDeniedException" && pass "a rescueFailed event" ||
	fail "no rescueFailed event: $(events "$T/watch.out")"
grep -q "guard: alias/guarded-3 .*could not be rescued: AccessDeniedException" "$T/daemon.log" &&
	pass "the failed rescue is in the log" || fail "no failure record in the log"

# Alice may describe KEY2 only: its events, none about the others.
if [ -n "$ALICE_PID" ]; then
	events "$T/alice.out" | grep -q "^rescued $ARN2" && pass "alice sees KEY2's rescue" ||
		fail "alice: $(cat "$T/alice.out")"
	events "$T/alice.out" | grep -q -e "guarded-3" -e "$KEY6" && fail "alice saw keys she may not describe" ||
		pass "alice sees nothing of the keys she may not describe"
fi

# A reload without KEY2 while its rescue is in flight (KMS holds the
# cancel's answer): the rescue finishes and is recorded, then KEY2 is read
# no more.
r0=$(status_get rescues)
n0=$(grep -c "guard: $ARN2 .*cancelling the deletion" "$T/daemon.log")
fake POST /delay '{"ms":3000,"count":1,"operation":"CancelKeyDeletion"}' >/dev/null
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion"}' >/dev/null
for i in $(seq 1 300); do
	[ "$(grep -c "guard: $ARN2 .*cancelling the deletion" "$T/daemon.log")" -gt "$n0" ] && break
	sleep 0.1
done
sed -i "s|^Keys=$ARN2 alias/guarded-3|Keys=alias/guarded-3|" "$T/kmscanceld.conf"
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do [ "$(status_get keys)" = 2 ] && break; sleep 0.1; done
[ "$(status_get keys)" = 2 ] && pass "after the reload: 2 keys guarded" || fail "keys: $(status_get keys)"
[ "$(status_get rescues)" = "$r0" ] && pass "the reload came while the rescue was in flight" ||
	log "note: the rescue finished before the reload (a slow machine); the in-flight case was not exercised"
wait_status rescues $((r0 + 1)) && pass "the rescue in flight at the reload finished" ||
	fail "rescues: $(status_get rescues) (was $r0)"
[ "$(key_state $KEY2)" != PendingDeletion ] && pass "KEY2 was rescued ($(key_state $KEY2))" || fail "KEY2 still pending"
[ "$(grep -c "guard: $ARN2 .*deletion cancelled" "$T/daemon.log")" -ge 2 ] && pass "and recorded" ||
	fail "no second rescue record for KEY2"
last=$(requests_for $KEY2 | tail -n 1 | cut -d' ' -f1)
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion"}' >/dev/null
c0=$(status_get checks)
wait_status checks $((c0 + 4)) || fail "the guard stopped reading"
[ -z "$(requests_for $KEY2 | awk -v l="${last:-0}" '$1 > l')" ] && pass "the dropped key is not read after the reload" ||
	fail "KEY2 read after the reload: $(requests_for $KEY2)"
[ "$(key_state $KEY2)" = PendingDeletion ] && pass "the dropped key is left pending deletion" ||
	fail "KEY2: $(key_state $KEY2)"

# The daemon stops during a rescue (KMS holds its answer): the drain waits
# for the rescue, and every watcher gets its final reply.
n0=$(grep -c "guard: alias/guarded-3 .*cancelling the deletion" "$T/daemon.log")
d0=$(grep -c "guard: alias/guarded-3 .*deletion cancelled" "$T/daemon.log")
fake POST /delay '{"ms":2000,"count":1,"operation":"CancelKeyDeletion"}' >/dev/null
fake PUT "/keys/$KEY3" '{"KeyState":"PendingDeletion","Alias":"alias/guarded-3"}' >/dev/null
for i in $(seq 1 300); do
	[ "$(grep -c "guard: alias/guarded-3 .*cancelling the deletion" "$T/daemon.log")" -gt "$n0" ] && break
	sleep 0.1
done
stop_daemon
grep -q "waiting for the guard's rescue before exit" "$T/daemon.log" && pass "the drain waits for the guard's rescue" ||
	log "note: the rescue finished before SIGTERM (a slow machine); the drain's wait was not exercised"
[ "$(key_state $KEY3)" = Disabled ] && pass "the rescue in flight at SIGTERM finished" || fail "KEY3: $(key_state $KEY3)"
[ "$(grep -c "guard: alias/guarded-3 .*deletion cancelled" "$T/daemon.log")" -gt "$d0" ] &&
	pass "and was recorded before exit" || fail "no rescue record for the rescue at SIGTERM"
wait "$WATCH_PID"
rc=$?
[ $rc -eq 0 ] && tail -n 1 "$T/watch.out" | grep -qv continues && pass "the watcher got a final reply at stop" ||
	fail "watcher at stop: rc $rc, $(tail -n 1 "$T/watch.out")"
[ "$DAEMON_RC" -eq 0 ] && pass "the daemon exited cleanly" || fail "daemon exit status $DAEMON_RC"

[ "$failures" -eq 0 ]
