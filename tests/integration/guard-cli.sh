#!/bin/bash
# kmscancel guard against the real daemon and the fake KMS: the counters;
# guard --watch says when the watch is in place, prints a rescue as it
# happens (human line, and --json), exits 0 on SIGINT and SIGTERM, and
# says so and exits 0 when the daemon stops; a daemon that cannot be
# reached is exit 69.
. "$top_srcdir/tests/integration/lib.sh"

KEYG=5234abcd-12ab-34cd-56ef-1234567890ab # guarded by alias, Enabled
ARNG="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEYG"
start_fake
fake PUT "/keys/$KEYG" '{"KeyState":"Enabled","Alias":"alias/guarded-cli"}' >/dev/null || die "guarded key"
cat >"$T/kmscanceld.conf" <<CONF
[Guard]
Keys=alias/guarded-cli
Interval=1
Enable=yes
[KMS]
RetryBase=50ms
CONF
start_daemon

# wait_line FILE PATTERN: polls until a line of FILE has PATTERN (30 s).
wait_line() {
	local i
	for i in $(seq 1 600); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# watch NAME ARGS...: kmscancel ARGS in the background, stdout in
# $T/NAME.out, stderr in $T/NAME.err, its pid in WPID; returns once the
# watch is in place.
watch() {
	local name=$1
	shift
	(exec ${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" "$@" >"$T/$name.out" 2>"$T/$name.err") &
	WPID=$!
	at_cleanup "kill $WPID 2>/dev/null"
	wait_line "$T/$name.err" "watching kmscanceld's guard" && pass "$name: the watch is in place" ||
		fail "$name: no watch: $(cat "$T/$name.err")"
}

# The counters, once the key has been read.
for i in $(seq 1 200); do
	run_cli guard
	case "$OUT" in "guarded keys: 1, checks: "[1-9]*) break ;; esac
	sleep 0.05
done
expect_rc 0 "guard: the counters"
expect_contains "$OUT" "guarded keys: 1, checks: " "... one key guarded, read"
run_cli --json guard
expect_contains "$OUT" '"keys":1' "--json guard: the guard object"

watch human guard --watch
HUMAN=$WPID
watch json --json guard --watch
JSON=$WPID
fake POST /schedule "{\"KeyId\":\"$KEYG\",\"PendingWindowInDays\":7}" >/dev/null || die "schedule"
wait_line "$T/human.out" " enabled " || fail "no enabled event: $(cat "$T/human.out")"
line=$(grep "  rescued  " "$T/human.out")
case "$line" in
20[0-9][0-9]-*Z"  rescued  $ARNG (guarded as alias/guarded-cli; account $TEST_ACCOUNT; region $TEST_REGION; deletion was due 20"*"Z; now Disabled; requests "*)
	pass "the rescue, as a line: time, event, key ARN, alias, account, region, the date it had, state, requests" ;;
*) fail "rescue line: '$line' in $(cat "$T/human.out")" ;;
esac
expect_contains "$(cat "$T/human.out")" "  enabled  $ARNG (guarded as alias/guarded-cli" "the key enabled again"
wait_line "$T/json.out" '"event": "enabled"' || fail "no enabled event in JSON: $(cat "$T/json.out")"
python3 - "$T/json.out" "$ARNG" <<'PY' && pass "--json: the events as objects" || fail "--json: $(cat "$T/json.out")"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
rescued = [e for e in events if e["event"] == "rescued"]
assert len(rescued) == 1, events
e = rescued[0]
assert e["keyId"] == sys.argv[2] and e["key"] == "alias/guarded-cli" and e["keyState"] == "Disabled", e
assert e["deletionDate"].endswith("Z") and e["requestIds"], e
PY
[ "$(key_state $KEYG)" = Enabled ] && pass "the key is Enabled again" || fail "key: $(key_state $KEYG)"
run_cli status
expect_contains "$OUT" "Guard:        guarded keys: 1, checks: " "status: the guard's counters, labelled"
expect_contains "$OUT" "Last rescue:  alias/guarded-cli at 20" "status: the last rescue, the key as [Guard] names it"
raw=$(printf '%s\n' "$OUT" | sed 1d | grep -v '^[A-Z][A-Za-z. ]*: ')
[ -z "$raw" ] && pass "status: every line labelled" || fail "status prints raw fields: $raw"

# Interrupted: exit 0, whichever the signal.
kill -INT "$HUMAN"
wait "$HUMAN"
RC=$? OUT=$(cat "$T/human.out") ERR=$(cat "$T/human.err")
expect_rc 0 "guard --watch ends on SIGINT"
kill -TERM "$JSON"
wait "$JSON"
RC=$? OUT=$(cat "$T/json.out") ERR=$(cat "$T/json.err")
expect_rc 0 "guard --watch ends on SIGTERM"
case "$ERR" in *"kmscancel: watching kmscanceld's guard; Ctrl-C stops") pass "nothing more on stderr" ;;
*) fail "stderr: $ERR" ;; esac

# The daemon stops: the watch ends, saying so, exit 0.
watch last guard --watch
LAST=$WPID
stop_daemon
wait "$LAST"
RC=$? OUT=$(cat "$T/last.out") ERR=$(cat "$T/last.err")
expect_rc 0 "guard --watch when the daemon stops"
expect_contains "$ERR" "kmscanceld ended the watch" "... says the daemon ended it"

run_cli guard --watch
expect_rc 69 "no daemon: exit 69"
run_cli guard extra
expect_rc 2 "guard takes no arguments"
exit 0
