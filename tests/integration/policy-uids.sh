#!/bin/bash
# The policy against real callers of other uids (setpriv): allowed user and
# key, the same user and another key, group membership, rules for another
# account or region, root by default, first match wins with Deny=, a reload
# with a broken policy, the audit record of each case, and a flood from one
# uid that leaves another uid served.  Needs root (CI runs as root).
. "$top_srcdir/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv (util-linux) to run clients as other uids"
	exit 77
fi

# Test-only ids: no passwd entry needed, the rules name them by number.
ALICE=4242 BOB=4243 CAROL=4244 FLOOD=4245 OPS_GID=4300
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab

# The other uids must reach the socket: through $T, and a 0666 socket.
chmod 0711 "$T"

# ... and run the CLI: the build tree may sit where they cannot go (under
# /root), so give them a copy of the binary and its library in $T.
CLI=("$KMSCANCEL")
if ! setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- "$KMSCANCEL" --version >/dev/null 2>&1; then
	mkdir -m 0755 "$T/bin"
	cp "$top_builddir/.libs/kmscancel" "$top_builddir"/.libs/libkmscancel.so* "$T/bin/" 2>/dev/null
	chmod -R a+rX "$T/bin"
	CLI=(env LD_LIBRARY_PATH="$T/bin" "$T/bin/kmscancel")
	setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- "${CLI[@]}" --version >/dev/null 2>&1 ||
		{ log "SKIP: another uid cannot run the CLI from $top_builddir"; exit 77; }
fi
# A Python another uid can run (a pyenv shim under /root is not one).
PY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if [ -x "$p" ] && setpriv --reuid=$FLOOD --regid=$FLOOD --clear-groups -- "$p" -c pass 2>/dev/null; then
		PY=$p
		break
	fi
done

# as UID GID [SUPPLEMENTARY] -- CLI ARGS: the CLI as that caller; OUT, ERR, RC.
as() {
	local uid=$1 gid=$2 groups=--clear-groups
	shift 2
	if [ "$1" != -- ]; then groups="--groups=$1"; shift; fi
	shift
	setpriv --reuid="$uid" --regid="$gid" "$groups" -- "${CLI[@]}" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/out")
	ERR=$(cat "$T/err")
}

# audit_has PATTERN... : some audit line of the daemon log has every pattern.
audit_has() {
	local line p ok
	while IFS= read -r line; do
		ok=1
		for p in "$@"; do
			case "$line" in *"$p"*) ;; *) ok=0; break ;; esac
		done
		[ $ok = 1 ] && return 0
	done < <(grep 'audit event=' "$T/daemon.log")
	return 1
}

expect_audit() {
	local what=$1
	shift
	if audit_has "$@"; then pass "audit: $what"; else fail "audit: $what: no line with: $*"; fi
}

# A real group with a real member, so that membership is found the way the
# daemon finds it (getgrouplist), not only through the primary gid.
GROUP_USER= GROUP_NAME=
if command -v useradd >/dev/null 2>&1 && command -v groupadd >/dev/null 2>&1; then
	GROUP_NAME=kmsct$$g
	GROUP_USER=kmsct$$u
	if groupadd "$GROUP_NAME" 2>/dev/null &&
		useradd -M -N -g nogroup -G "$GROUP_NAME" -s /usr/sbin/nologin "$GROUP_USER" 2>/dev/null; then
		at_cleanup "userdel $GROUP_USER 2>/dev/null; groupdel $GROUP_NAME 2>/dev/null"
	else
		groupdel "$GROUP_NAME" 2>/dev/null
		GROUP_USER= GROUP_NAME=
	fi
fi

start_fake
for k in "$KEY2" "$KEY3"; do set_key "$k" PendingDeletion; done

write_conf() {
	cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
$1
[AWS]
Account=$TEST_ACCOUNT
[KMS]
RetryBase=50ms
[Policy]
$2
CONF
}

POLICY="Allow=user:$ALICE cancel,describe $KEY1
Allow=group:$OPS_GID cancel arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY2
Allow=user:$CAROL cancel account:444455556666
Allow=user:$CAROL cancel region:eu-west-1
Deny=user:$BOB cancel $KEY3
Allow=user:$BOB cancel,describe *
Allow=user:$ALICE describe $KEY3"
[ -n "$GROUP_NAME" ] && POLICY="$POLICY
Allow=group:$GROUP_NAME describe $KEY3"
write_conf "" "$POLICY"
start_daemon

# --- allowed user, allowed key ------------------------------------------------------------------
as $ALICE $ALICE -- --json cancel "$KEY1"
expect_rc 0 "alice may cancel KEY1"
expect_audit "alice's allow" "event=decision" "op=cancel" "key=$KEY1" "uid=$ALICE" "gid=$ALICE" "pid=" \
	"comm=kmscancel" "decision=allow" "rule=$T/kmscanceld.conf:"
expect_audit "alice's outcome" "event=outcome" "key=$KEY1" "uid=$ALICE" "outcome=success" "key_state=Disabled" \
	"request_id=" "attempts=1" "latency_ms="

# --- same user, another key: refused before any request -------------------------------------------
before=$(fake_stat requests)
as $ALICE $ALICE -- --json cancel "$KEY2"
expect_rc 1 "alice may not cancel KEY2"
expect_contains "$OUT" '"error":"PermissionDenied"' "PermissionDenied"
expect_contains "$OUT" "local policy" "the refusal says it is the local policy"
case "$OUT" in *"$T"*) fail "the refusal names the config file: $OUT" ;; *) pass "the refusal names no path" ;; esac
case "$OUT" in *"$KEY1"* | *"$KEY3"*) fail "the refusal names other keys: $OUT" ;; *) pass "no other key named" ;; esac
[ "$(fake_stat requests)" = "$before" ] && pass "the fake saw no request" || fail "a refused call reached the fake"
[ "$(key_state "$KEY2")" = PendingDeletion ] && pass "KEY2 untouched" || fail "KEY2 changed"
expect_audit "alice's deny" "event=decision" "key=$KEY2" "uid=$ALICE" "decision=deny" "rule=default"
expect_audit "the denial's outcome" "event=outcome" "key=$KEY2" "uid=$ALICE" "outcome=failure" \
	"error=PermissionDenied" "attempts=0"

# --- group membership ---------------------------------------------------------------------------
# Supplementary groups come from the group database (getgrouplist), not from
# the process: a group it holds that the database does not list is no grant.
as 4250 4250 $OPS_GID -- cancel "$KEY2"
expect_rc 1 "a supplementary group unknown to the group database grants nothing"
as 4250 $OPS_GID -- --json cancel "$KEY2"
expect_rc 0 "the primary group grants"
expect_audit "group grant" "uid=4250" "gid=$OPS_GID" "key=$KEY2" "decision=allow"
if [ -n "$GROUP_USER" ]; then
	uid=$(id -u "$GROUP_USER")
	as "$uid" "$(id -g "$GROUP_USER")" -- describe "$KEY3"
	expect_rc 0 "membership in group:$GROUP_NAME (found by getgrouplist) grants"
	as "$uid" "$(id -g "$GROUP_USER")" -- cancel "$KEY3"
	expect_rc 1 "... only what the rule says"
else
	log "note: no useradd/groupadd; supplementary membership checked by unit tests only"
fi

# --- rules for another account or region do not match ------------------------------------------
as $CAROL $CAROL -- --json cancel "$KEY3"
expect_rc 1 "account:/region: rules for elsewhere do not match this key"
expect_contains "$OUT" PermissionDenied "carol is refused"
as $CAROL $CAROL -- --json cancel "arn:aws:kms:eu-west-1:$TEST_ACCOUNT:key/$KEY3"
expect_audit "region:eu-west-1 matches a key ARN there" "uid=$CAROL" "key=arn:aws:kms:eu-west-1:" "decision=allow"

# --- first match wins ---------------------------------------------------------------------------
as $BOB $BOB -- --json cancel "$KEY3"
expect_rc 1 "bob's Deny comes before his Allow"
expect_audit "bob's deny names the Deny rule" "uid=$BOB" "key=$KEY3" "decision=deny" "rule=$T/kmscanceld.conf:"
as $BOB $BOB -- describe "$KEY3"
expect_rc 0 "the Deny is for cancel only"

# --- root: allowed unless AllowRoot=no ----------------------------------------------------------
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
expect_rc 0 "root by default"
expect_audit "root" "uid=0" "key=$KEY1" "decision=allow" "rule=root"

# --- a reload with a broken policy keeps the old one --------------------------------------------
write_conf "" "Allow=user:$ALICE destroy *"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q "reload failed" "$T/daemon.log" && break; sleep 0.05; done
grep "reload failed" "$T/daemon.log" | grep -q "destroy" && pass "the failed reload says why" ||
	fail "no reload failure naming the bad rule"
set_key "$KEY1" PendingDeletion
as $ALICE $ALICE -- cancel "$KEY1"
expect_rc 0 "the old policy still applies"
as $ALICE $ALICE -- cancel "$KEY2"
expect_rc 1 "... all of it"
set_key "$KEY2" PendingDeletion
write_conf "" "Allow=user:$ALICE cancel $KEY2
AllowRoot=no"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q "reloaded " "$T/daemon.log" && break; sleep 0.05; done
as $ALICE $ALICE -- cancel "$KEY2"
expect_rc 0 "a good reload applies the new policy"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 1 "AllowRoot=no after the reload refuses root"
stop_daemon

# --- a flood from one uid leaves another served -------------------------------------------------
if [ -z "$PY" ]; then
	fail "no python3 that uid $FLOOD can run: the flood is not tested"
	exit 1
fi
# One KMS connection, every reply held 400 ms: FLOOD's 200 pipelined calls
# would hold it for 80 s if they could all queue.  MaxCallsPerUser=2 keeps
# most of them unread in their sockets, and MaxConnectionsPerUser=8 turns
# away its other connections.
write_conf "MaxConnectionsPerUser=8
MaxCallsPerUser=2" "Allow=* describe *"
sed -i 's/^RetryBase=50ms$/RetryBase=50ms\nMaxConnections=1\nTimeout=120/' "$T/kmscanceld.conf"
start_daemon
fake POST /delay '{"ms":400,"count":100000}' >/dev/null
setpriv --reuid=$FLOOD --regid=$FLOOD --clear-groups -- "$PY" - "$SOCK" "$KEY1" >"$T/flood.log" 2>&1 <<'PY' &
import json, socket, sys, time
conns, refused = [], 0
for i in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
call = json.dumps({"method": "io.kmscancel.DescribeKey", "parameters": {"keyId": sys.argv[2]}}).encode() + b"\0"
for s in conns:
    try:
        s.setblocking(False)
        s.send(call * 25)
    except OSError:
        refused += 1
print("connections refused or closed:", refused, flush=True)
time.sleep(30)
PY
flood=$!
sleep 1.5
start=$(date +%s%N)
as $ALICE $ALICE -- --timeout 20 describe "$KEY1"
ms=$((($(date +%s%N) - start) / 1000000))
expect_rc 0 "alice is served during the flood"
[ "$ms" -lt 5000 ] && pass "alice's call took $ms ms (one held reply is 400 ms)" ||
	fail "alice waited $ms ms behind the flood"
run_cli --json status
rejected=$(printf '%s' "$OUT" | sed -n 's/.*"connectionsRejected":\([0-9]*\).*/\1/p')
held=$(printf '%s' "$OUT" | sed -n 's/.*"callsHeldBack":\([0-9]*\).*/\1/p')
[ "${rejected:-0}" -ge 12 ] && pass "the flood's extra connections were turned away ($rejected)" ||
	fail "connectionsRejected=$rejected: $OUT"
[ "${held:-0}" -gt 0 ] && pass "the flood's calls were held back ($held)" || fail "callsHeldBack=$held"
kill "$flood" 2>/dev/null
wait "$flood" 2>/dev/null || :
