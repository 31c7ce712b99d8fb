#!/bin/bash
# A caller's short deadline is not another caller's.  Identical cancels
# coalesce: a cancel of a key already being cancelled follows the first
# call (the leader) and gets its answer.  Here uid 4301 cancels KEY1 with
# timeoutMs=1500 while KMS holds the answer 3 s, and uid 4302's cancel of
# the same key (timeoutMs=20000) joins it: the leader's Timeout must not be
# the follower's answer (it was, after ~1 s: any caller allowed the key
# could fail everyone else's cancels of it).  The follower goes on as its
# own cancel and succeeds; a follower whose own deadline passes still gets
# its Timeout.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv to call as other uids"
	exit 77
fi
[ -n "$AS_PY" ] || { log "SKIP: no python3 other uids can run"; exit 77; }
# Under valgrind everything is many times slower: hold longer.
if [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then F=5; else F=1; fi
SHORT=1500 FOLLOW_AFTER=0.5
SHORT=$((SHORT * F)) HOLD=$((3000 * F)) LONG=$((20000 * F))

start_fake
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[Policy]
Allow=user:4301 cancel *
Allow=user:4302 cancel *
CONF
start_daemon

# The key ARN: both calls know its account from the start (a bare key ID's
# is the daemon's, learnt in the meantime, and would key the two apart).
ARN1=arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1

# cancel_as UID TIMEOUT_MS NAME: a raw CancelKeyDeletion of ARN1 in the
# background; its reply in $T/NAME.reply, its latency in $T/NAME.ms.
cancel_as() {
	(
		start=$(now_ms)
		raw_call "$1" io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$ARN1\",\"timeoutMs\":$2}"
		printf '%s\n' "$REPLY" >"$T/$3.reply"
		echo $(($(now_ms) - start)) >"$T/$3.ms"
	) &
	PIDS+=($!)
}

# race LEADER_TIMEOUT_MS FOLLOWER_TIMEOUT_MS: uid 4301 cancels the key,
# pending deletion, while KMS holds the answer HOLD ms; uid 4302's identical
# cancel follows half a second later.
race() {
	set_key "$KEY1" PendingDeletion
	fake POST /delay "{\"ms\":$HOLD,\"count\":1,\"operation\":\"CancelKeyDeletion\"}" >/dev/null
	PIDS=()
	cancel_as 4301 "$1" leader
	sleep $((F * 5 / 10)).$((F * 5 % 10))
	cancel_as 4302 "$2" follower
	wait "${PIDS[@]}"
}

race "$SHORT" "$LONG"
log "leader:   $(cat "$T/leader.reply") ($(cat "$T/leader.ms") ms)"
log "follower: $(cat "$T/follower.reply") ($(cat "$T/follower.ms") ms)"
grep -q '"error":"io.kmscancel.Timeout"' "$T/leader.reply" && pass "the leader's own short deadline passed" ||
	fail "the leader did not time out: $(cat "$T/leader.reply")"
grep -q '"keyState":"Disabled"' "$T/follower.reply" &&
	pass "the follower with time left got its own cancel's answer: Disabled" ||
	fail "the follower got the leader's answer: $(cat "$T/follower.reply")"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key is Disabled" || fail "the key is $(key_state "$KEY1")"
audit_has "event=outcome" "uid=4302" "outcome=success" && pass "the follower's success is audited under its uid" ||
	fail "no success outcome for uid 4302"

# A follower whose own deadline is the shorter one still times out on its own.
race "$LONG" "$SHORT"
grep -q '"keyState":"Disabled"' "$T/leader.reply" && pass "a leader with time left succeeds" ||
	fail "leader: $(cat "$T/leader.reply")"
grep -q '"error":"io.kmscancel.Timeout"' "$T/follower.reply" && pass "a follower with a shorter deadline times out" ||
	fail "follower: $(cat "$T/follower.reply")"
stop_daemon
exit 0
