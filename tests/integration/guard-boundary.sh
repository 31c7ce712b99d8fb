#!/bin/bash
# The guard's boundary as other uids see it (setpriv), issue 18: a guarded
# key named by alias stays hidden from a WatchGuard subscriber a Deny of
# the alias refuses, even once the guard has read the alias's key ARN
# (as a DescribeKey by that alias would be refused); GetStatus gives a
# caller allowed `status` the guard's counts but names the last rescued
# key only to one the policy lets describe it; a reload that changes the
# policy while a subscriber watches is applied at the next event (a
# subscriber loses, or gains, a key's events then); a uid that may
# describe no key is refused WatchGuard (PermissionDenied, audited); a call
# pipelined behind a watch is answered in order; and at stop every
# subscriber gets its final reply.
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv (subscribers of other uids)"
	exit 77
fi
VC="$top_srcdir/tests/integration/varlink-client.py"
KEY1=1134abcd-12ab-34cd-56ef-1234567890ab # guarded by alias/secret-1, Enabled
KEY2=2134abcd-12ab-34cd-56ef-1234567890ab # guarded by ARN, Enabled
KEY9=9134abcd-12ab-34cd-56ef-1234567890ab # not guarded
ARN() { printf 'arn:aws:kms:%s:%s:key/%s' "$TEST_REGION" "$TEST_ACCOUNT" "$1"; }
ARN1=$(ARN $KEY1) ARN2=$(ARN $KEY2) ARN9=$(ARN $KEY9)
# ALICE: describe anything but the secret-* aliases.  BOB: status only.
# CAROL: describe KEY2 until the reload, then nothing; DAVE: KEY9 (not
# guarded), and KEY2 too after the reload.  NOBODY: no rule.
ALICE=4261 BOB=4262 CAROL=4263 DAVE=4264 NOBODY=4265

start_fake
fake PUT "/keys/$KEY1" '{"KeyState":"Enabled","Alias":"alias/secret-1"}' >/dev/null || die "key 1"
fake PUT "/keys/$KEY2" '{"KeyState":"Enabled"}' >/dev/null || die "key 2"

# A Python the test uids can run (a pyenv shim under /root is not one).
UPY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- "$p" -c pass 2>/dev/null; then
		UPY=$p
		break
	fi
done
[ -n "$UPY" ] || { log "SKIP: no python3 other uids can run"; exit 77; }
chmod 0711 "$T"
cp "$VC" "$T/vc.py" && chmod a+r "$T/vc.py"

# policy CAROL-RULE DAVE-RULE: the configuration, with the rules that change.
policy() {
	cat >"$T/kmscanceld.conf" <<CONF
[Policy]
Deny=user:$ALICE describe alias/secret-*
Allow=user:$ALICE describe *
Allow=user:$BOB status *
$1
$2
[Guard]
Keys=alias/secret-1 $ARN2
Interval=1
Enable=yes
[KMS]
RetryBase=50ms
[Daemon]
SocketMode=0666
CONF
}
policy "Allow=user:$CAROL describe $ARN2" "Allow=user:$DAVE describe $ARN9"
start_daemon

# as UID ARGS...: varlink-client.py as UID.
as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$UPY" "$T/vc.py" "$@"
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
# events FILE: "event key keyId" per event in a subscriber's output.
events() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line).get("parameters", {}).get("event")
    if ev:
        print(ev["event"], ev["key"], ev.get("keyId", "-"))' "$1"
}
# guard_of [UID]: GetStatus's guard member (as UID, else as root), one JSON line.
guard_of() {
	local who=(python3 "$VC")
	[ -n "${1:-}" ] && who=(setpriv --reuid="$1" --regid="$1" --clear-groups -- "$UPY" "$T/vc.py")
	"${who[@]}" --stream "$SOCK" io.kmscancel.GetStatus '{}' --no-more |
		python3 -c 'import json,sys; m=json.load(sys.stdin); print(json.dumps(m.get("parameters", {}).get("guard", m.get("error"))))'
}
# rescue KEY ALIAS-JSON: schedules KEY's deletion; waits for the guard's rescue.
rescue() {
	local r0 i
	r0=$(guard_of | python3 -c 'import json,sys; print(json.load(sys.stdin)["rescues"])')
	fake PUT "/keys/$1" "{\"KeyState\":\"PendingDeletion\"$2}" >/dev/null
	for i in $(seq 1 300); do
		[ "$(guard_of | python3 -c 'import json,sys; print(json.load(sys.stdin)["rescues"])')" -gt "$r0" ] && return 0
		sleep 0.1
	done
	return 1
}

# Subscribers: root (sees all), and each test uid.
python3 "$VC" --stream "$SOCK" io.kmscancel.WatchGuard >"$T/root.out" 2>"$T/root.err" &
PIDS=($!)
for u in $ALICE $CAROL $DAVE; do
	: >"$T/$u.out"
	chmod a+rw "$T/$u.out"
	as $u --stream "$SOCK" io.kmscancel.WatchGuard >>"$T/$u.out" 2>"$T/$u.err" &
	PIDS+=($!)
done
at_cleanup 'kill "${PIDS[@]}" 2>/dev/null'
for u in root $ALICE $CAROL $DAVE; do
	wait_line "$T/$u.out" '"continues": true' || fail "$u's watch: $(cat "$T/$u.out" "$T/$u.err")"
done
pass "four subscribers in place"

# A uid the policy lets describe no key (none at all, or status only):
# refused before anything, as ListPendingDeletions refuses it (it would
# see no event, and must not learn whether there is a guard, nor take a
# subscriber's place).
for u in $NOBODY $BOB; do
	timeout 20 setpriv --reuid=$u --regid=$u --clear-groups -- "$UPY" "$T/vc.py" --stream "$SOCK" \
		io.kmscancel.WatchGuard >"$T/nobody.out" 2>&1
	grep -q '"error": "org.varlink.service.PermissionDenied"' "$T/nobody.out" &&
		pass "uid $u, who may describe no key: WatchGuard is PermissionDenied" ||
		fail "uid $u's WatchGuard: $(cat "$T/nobody.out")"
done
grep -q "op=watch-guard.*uid=$NOBODY\|uid=$NOBODY.*op=watch-guard" "$T/daemon.log" && pass "the refusal is audited" ||
	fail "no audit record of the refusal: $(grep "uid=$NOBODY" "$T/daemon.log")"

# The guard reads both keys first: KEY1's alias is resolved to its ARN.
for i in $(seq 1 300); do
	[ "$(guard_of | python3 -c 'import json,sys; print(json.load(sys.stdin)["checks"])')" -ge 4 ] && break
	sleep 0.1
done

# --- an alias a Deny names, once its key is known ------------------------------------------------
rescue $KEY1 ',"Alias":"alias/secret-1"' && pass "the guard rescued alias/secret-1" || fail "alias/secret-1 not rescued"
wait_line "$T/root.out" '"event": "enabled"' || fail "root saw no enabled event: $(events "$T/root.out")"
events "$T/root.out" | grep -q "^rescued alias/secret-1 $ARN1" && pass "root sees the rescue, with the key ARN" ||
	fail "root: $(events "$T/root.out")"
events "$T/$ALICE.out" | grep -q -e secret-1 -e "$KEY1" &&
	fail "uid $ALICE, whom a Deny of alias/secret-* refuses, saw it: $(events "$T/$ALICE.out")" ||
	pass "uid $ALICE (Allow *, Deny alias/secret-*) sees nothing of the alias's key"
as $ALICE --stream "$SOCK" io.kmscancel.DescribeKey "{\"keyId\":\"alias/secret-1\"}" --no-more >"$T/describe.out" 2>&1
grep -q PermissionDenied "$T/describe.out" && pass "as a DescribeKey by that alias is refused" ||
	fail "DescribeKey alias/secret-1 as $ALICE: $(cat "$T/describe.out")"

# --- GetStatus: the counts, and the last rescued key only to one who may describe it ----------------
g=$(guard_of $BOB)
case "$g" in
*'"rescues": 1'*) pass "uid $BOB (status only) sees the guard's counts" ;;
*) fail "uid $BOB's guard status: $g" ;;
esac
case "$g" in
*lastRescueKey*) fail "uid $BOB, who may not describe it, is told the last rescued key: $g" ;;
*) pass "uid $BOB is not told the last rescued key" ;;
esac
case "$(guard_of)" in
*'"lastRescueKey": "alias/secret-1"'*) pass "root is told the last rescued key" ;;
*) fail "root's guard status: $(guard_of)" ;;
esac

# --- a reload that changes the policy under the subscribers ----------------------------------------
rescue $KEY2 "" && pass "the guard rescued KEY2" || fail "KEY2 not rescued"
wait_line "$T/$CAROL.out" "\"key\": \"$ARN2\"" && pass "uid $CAROL (describe KEY2) sees its rescue" ||
	fail "uid $CAROL: $(events "$T/$CAROL.out")"
wait_line "$T/$ALICE.out" "\"key\": \"$ARN2\"" && pass "uid $ALICE sees KEY2's rescue" ||
	fail "uid $ALICE: $(events "$T/$ALICE.out")"
events "$T/$DAVE.out" | grep -q . && fail "uid $DAVE, allowed no guarded key yet, saw: $(events "$T/$DAVE.out")" ||
	pass "uid $DAVE, allowed no guarded key yet, sees nothing"
n_carol=$(events "$T/$CAROL.out" | wc -l)
policy "" "Allow=user:$DAVE describe $ARN9 $ARN2"
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do grep -q 'reloaded' "$T/daemon.log" && break; sleep 0.1; done
grep -q 'reloaded' "$T/daemon.log" || fail "no reload: $(tail -n 5 "$T/daemon.log")"
rescue $KEY2 "" && pass "KEY2 rescued again after the reload" || fail "KEY2 not rescued after the reload"
wait_line "$T/$DAVE.out" "\"key\": \"$ARN2\"" && pass "uid $DAVE, allowed by the reload, sees the rescue" ||
	fail "uid $DAVE after the reload: $(events "$T/$DAVE.out")"
[ "$(events "$T/$CAROL.out" | wc -l)" = "$n_carol" ] && pass "uid $CAROL, no longer allowed, sees nothing more" ||
	fail "uid $CAROL after the reload: $(events "$T/$CAROL.out")"
[ "$(guard_of $CAROL)" = '"io.kmscancel.PermissionDenied"' ] && pass "uid $CAROL may not read the status" ||
	fail "uid $CAROL's status: $(guard_of $CAROL)"
case "$(guard_of $BOB)" in
*lastRescueKey*) fail "uid $BOB is told KEY2: $(guard_of $BOB)" ;;
*'"rescues": 3'*) pass "uid $BOB: three rescues, no key named" ;;
*) fail "uid $BOB's guard status: $(guard_of $BOB)" ;;
esac

# --- a call pipelined behind a watch on one connection ------------------------------------------------
# Replies keep the calls' order: GetStatus is answered after the watch's
# final reply, which comes at stop; nothing is lost, nothing leaks.
cat >"$T/pipeline.py" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.kmscancel.WatchGuard", "more": True}).encode() + b"\0" +
          json.dumps({"method": "io.kmscancel.GetStatus"}).encode() + b"\0")
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    while b"\0" in buf:
        msg, buf = buf.split(b"\0", 1)
        m = json.loads(msg)
        p = m.get("parameters", {})
        print("status" if "uptimeSec" in p else "event" if "event" in p else
              "error " + m["error"] if m.get("error") else "more" if m.get("continues") else "final", flush=True)
PY
python3 "$T/pipeline.py" "$SOCK" >"$T/pipeline.out" 2>&1 &
PIPE_PID=$!
at_cleanup 'kill "$PIPE_PID" 2>/dev/null'
wait_line "$T/pipeline.out" '^more' || fail "the pipelined watch: $(cat "$T/pipeline.out")"
grep -q status "$T/pipeline.out" && fail "GetStatus answered before the watch ended: $(cat "$T/pipeline.out")" ||
	pass "a call pipelined behind a watch waits for it (replies in order)"

# --- stop: every subscriber's final reply -------------------------------------------------------------
stop_daemon
wait "$PIPE_PID"
[ "$(grep -v '^event' "$T/pipeline.out" | tr '\n' ' ')" = "more final status " ] &&
	pass "at stop: the watch's final reply, then the pipelined GetStatus answered" ||
	fail "pipelined at stop: $(tr '\n' ' ' <"$T/pipeline.out")"
[ "$DAEMON_RC" -eq 0 ] && pass "the daemon exited cleanly" || fail "daemon exit status $DAEMON_RC: $(tail -n 20 "$T/daemon.log")"
for p in "${PIDS[@]}"; do wait "$p"; done
for u in root $ALICE $CAROL $DAVE; do
	tail -n 1 "$T/$u.out" | grep -q continues && fail "$u: no final reply at stop: $(tail -n 1 "$T/$u.out")"
done
pass "every subscriber got its final reply at stop"

[ "$failures" -eq 0 ]
