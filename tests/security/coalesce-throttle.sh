#!/bin/bash
# A caller's full rate-limit queue is not another caller's.  Identical
# cancels coalesce (coalesce-deadline.sh): a cancel of a key already being
# cancelled follows the first call (the leader) and gets its answer.  The
# daemon refuses at once, with Throttling, a call whose caller already has
# [KMS] MaxQueued= requests waiting for the KMS request quota.  Here uid
# 4311 leads a cancel of KEY1 whose first attempt KMS holds and then fails
# (500, retried), uid 4312's identical cancel follows it, and meanwhile uid
# 4311 fills its own queue: the leader's retry is refused locally.  That
# refusal is about uid 4311 only and must not be uid 4312's answer (it
# was): the follower goes on as its own cancel and succeeds.  AWS's own
# ThrottlingException still answers every follower.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv to call as other uids"
	exit 77
fi
[ -n "$AS_PY" ] || { log "SKIP: no python3 other uids can run"; exit 77; }
# Under valgrind everything is many times slower: hold longer.
if [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then F=4; else F=1; fi
HOLD=$((1500 * F)) LONG=$((40000 * F))
A=4311 B=4312
OTHER=aaaabbbb-12ab-34cd-56ef-1234567890ab

start_fake
# One CancelKeyDeletion token every 10 s (a burst of one), and one waiting
# request per caller: the leader's first attempt takes the token, uid A's
# next cancel waits for the next one and fills A's queue.
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[KMS]
RetryBase=50ms
CancelRate=0.1
MaxQueued=1
[Policy]
Allow=user:$A cancel *
Allow=user:$B cancel *
CONF
start_daemon

ARN1=arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1
ARN2=arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$OTHER

# cancel_as UID ARN TIMEOUT_MS NAME: a raw CancelKeyDeletion in the
# background; its reply in $T/NAME.reply.
cancel_as() {
	(
		raw_call "$1" io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$2\",\"timeoutMs\":$3}"
		printf '%s\n' "$REPLY" >"$T/$4.reply"
	) &
	PIDS+=($!)
}

# race FAIL_JSON: KMS holds the leader's first CancelKeyDeletion HOLD ms and
# answers it with FAIL_JSON's error; B follows; A fills its own queue.
race() {
	set_key "$KEY1" PendingDeletion
	fake POST /reset >/dev/null 2>&1
	fake POST /delay "{\"ms\":$HOLD,\"count\":1,\"operation\":\"CancelKeyDeletion\"}" >/dev/null
	fake POST /fail "$1" >/dev/null
	PIDS=()
	cancel_as $A "$ARN1" "$LONG" leader
	sleep $((F * 3 / 10)).$((F * 3 % 10))
	cancel_as $B "$ARN1" "$LONG" follower
	sleep $((F * 3 / 10)).$((F * 3 % 10))
	cancel_as $A "$ARN2" "$LONG" filler
	wait "${PIDS[@]}"
	log "leader:   $(cat "$T/leader.reply")"
	log "follower: $(cat "$T/follower.reply")"
	log "filler:   $(cat "$T/filler.reply")"
}

race '{"error":"KMSInternalException","status":500,"count":1,"operation":"CancelKeyDeletion"}'
grep -q '"error":"io.kmscancel.ThrottlingException"' "$T/leader.reply" && grep -q 'MaxQueued' "$T/leader.reply" &&
	pass "the leader's retry was refused: its caller's queue was full" ||
	fail "the leader was not throttled locally: $(cat "$T/leader.reply")"
grep -q '"keyState":"Disabled"' "$T/follower.reply" &&
	pass "the follower made its own cancel and got its answer: Disabled" ||
	fail "the follower got the leader's answer: $(cat "$T/follower.reply")"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key is Disabled" || fail "the key is $(key_state "$KEY1")"
audit_has "event=outcome" "uid=$B" "outcome=success" && pass "the follower's success is audited under its uid" ||
	fail "no success outcome for uid $B"

# KMS's own ThrottlingException (not retried past MaxAttempts=1 here: one
# attempt, then the answer) is everyone's answer, followers included.
stop_daemon
sed -i -e 's/^RetryBase=50ms$/RetryBase=50ms\nMaxAttempts=1/' -e '/^CancelRate=/d' -e '/^MaxQueued=/d' \
	"$T/kmscanceld.conf"
start_daemon
race '{"error":"ThrottlingException","status":400,"count":1,"operation":"CancelKeyDeletion"}'
grep -q '"error":"io.kmscancel.ThrottlingException"' "$T/leader.reply" && grep -q requestId "$T/leader.reply" &&
	pass "KMS throttled the leader" || fail "leader: $(cat "$T/leader.reply")"
grep -q '"error":"io.kmscancel.ThrottlingException"' "$T/follower.reply" && grep -q requestId "$T/follower.reply" &&
	pass "KMS's ThrottlingException reached the follower too" || fail "follower: $(cat "$T/follower.reply")"
stop_daemon
exit 0
