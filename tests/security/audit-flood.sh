#!/bin/bash
# One user cannot flood the audit trail.  A refusal costs the daemon only
# its record, so a uid no rule allows could write tens of thousands of
# them a second (40,960 in 0.8 s when this was found), and journald drops a
# service's messages past its rate limit (RateLimitBurst=, 10,000 per 30 s
# by default) whatever they are: every other user's records with them.
# Here uid 4242 (no rule) sends 5,000 pipelined calls: at most
# AUDIT_REFUSALS_PER_SECOND (20) of its refusals a second are recorded one
# by one, "left-out" records count the rest exactly, and the allowed uid
# 4243's call right after is recorded.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv to call as other uids"
	exit 77
fi
FLOODER=4242 ALLOWED=4243 N=5000
PY=$AS_PY # as-uid.sh: a python3 other uids can run
[ -n "$PY" ] || { log "SKIP: no python3 uid $FLOODER can run"; exit 77; }

start_fake
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[Policy]
Allow=user:$ALLOWED describe *
[KMS]
RetryBase=50ms
CONF
start_daemon

# calls_as UID N [ACCOUNT]: N DescribeKey calls of $KEY (KEY1) as UID (with that
# account parameter), pipelined on 8 connections; prints how many replies
# came back.
calls_as() {
	setpriv --reuid="$1" --regid="$1" --clear-groups -- "$PY" - "$SOCK" "${KEY:-$KEY1}" "$2" "${3:-}" <<'EOF'
import json, socket, sys
params = {"keyId": sys.argv[2]}
if sys.argv[4]:
    params["account"] = sys.argv[4]
msg = json.dumps({"method": "io.kmscancel.DescribeKey", "parameters": params}).encode() + b"\0"
n = int(sys.argv[3])
conns = [socket.socket(socket.AF_UNIX) for _ in range(min(8, n))]
for s in conns:
    s.connect(sys.argv[1])
per = [n // len(conns) + (i < n % len(conns)) for i in range(len(conns))]
replies = 0
for s, k in zip(conns, per):
    sent = 0
    while sent < k:
        batch = min(64, k - sent)
        s.sendall(msg * batch)
        got = 0
        while got < batch:
            data = s.recv(1 << 20)
            if not data:
                break
            got += data.count(b"\0")
        replies += got
        sent += batch
print(replies)
EOF
}

start=$(now_ms)
got=$(calls_as $FLOODER $N)
secs=$((($(now_ms) - start) / 1000 + 1))
[ "$got" = "$N" ] && pass "every one of the $N refused calls was answered" || fail "$got replies to $N calls"
sleep 1.1 # the flood's last second is over: the next record brings its count
got=$(calls_as $ALLOWED 1)
[ "$got" = 1 ] || fail "the allowed uid got no reply"
stop_daemon

deny=$(grep -c "audit event=decision .*uid=$FLOODER .*decision=deny" "$T/daemon.log")
left=$(grep "audit event=left-out .*uid=$FLOODER " "$T/daemon.log" | sed -n 's/.*left_out=\([0-9]*\).*/\1/p' |
	awk '{ n += $1 } END { print n + 0 }')
log "$N refusals in ${secs}s: $deny recorded one by one, $left counted in left-out records"
[ "$deny" -le $((20 * (secs + 1))) ] && pass "at most 20 refusals a second recorded one by one ($deny in ${secs}s)" ||
	fail "$deny refusal records for $N calls in ${secs}s"
[ $((deny + left)) -eq "$N" ] && pass "left-out records count the rest exactly ($left)" ||
	fail "$deny recorded + $left left out != $N"
# Every record a refused call makes is under the same bound: its outcome
# (failure: PermissionDenied) too, not only its decision.
all=$(grep "audit event=" "$T/daemon.log" | grep " uid=$FLOODER " | grep -vc "audit event=left-out")
[ "$all" -le $((2 * 20 * (secs + 1))) ] && pass "the flooder's records, outcomes included, are bounded ($all)" ||
	fail "$all records of uid $FLOODER for $N refused calls in ${secs}s (outcomes not rate-limited)"
grep -q "audit event=decision .*uid=$ALLOWED .*decision=allow" "$T/daemon.log" &&
	pass "the allowed uid's call right after the flood is recorded" || fail "no record of uid $ALLOWED's call"

# A count still pending when the daemon stops is written on the way out
# (and the housekeeping tick writes it when no other record comes).
start_daemon
N2=500
got=$(calls_as $FLOODER $N2)
[ "$got" = "$N2" ] || fail "$got replies to $N2 calls"
stop_daemon
deny=$(grep -c "audit event=decision .*uid=$FLOODER .*decision=deny" "$T/daemon.log")
left=$(grep "audit event=left-out .*uid=$FLOODER " "$T/daemon.log" | sed -n 's/.*left_out=\([0-9]*\).*/\1/p' |
	awk '{ n += $1 } END { print n + 0 }')
[ $((deny + left)) -eq "$N2" ] && pass "stopped right after a flood: $deny recorded + $left left out = $N2" ||
	fail "stopped right after a flood: $deny recorded + $left left out != $N2 (a pending count was lost)"

# A call whose key ARN and account parameter disagree is refused before
# the policy, by anyone: its records are under the same bound.
start_daemon
N3=1000
start=$(now_ms)
got=$(KEY=arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1 calls_as $FLOODER $N3 000000000001)
secs=$((($(now_ms) - start) / 1000 + 1))
[ "$got" = "$N3" ] || fail "$got replies to $N3 calls"
stop_daemon
rej=$(grep -c "audit event=reject .*uid=$FLOODER " "$T/daemon.log")
left=$(grep "audit event=left-out .*uid=$FLOODER " "$T/daemon.log" | sed -n 's/.*left_out=\([0-9]*\).*/\1/p' |
	awk '{ n += $1 } END { print n + 0 }')
all=$(grep "audit event=" "$T/daemon.log" | grep " uid=$FLOODER " | grep -vc "audit event=left-out")
[ "$all" -le $((2 * 20 * (secs + 1))) ] && [ $((rej + left)) -eq "$N3" ] &&
	pass "key ARN and account disagreeing: $all records, $rej rejects + $left left out = $N3" ||
	fail "key ARN and account disagreeing: $all records of uid $FLOODER, $rej rejects + $left left out for $N3 calls"
exit 0
