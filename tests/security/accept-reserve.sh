#!/bin/bash
# The accept reserve (daemon/server.c, fd_ceiling): a client connection
# never takes the descriptors reserved for KMS, STS and credentials.  The
# connection limits fit the descriptor budget, but something else holds
# descriptors the budget does not know of: here 120 the daemon inherited
# from a careless parent.  A local user then opens as many connections as
# MaxConnectionsPerUser= allows; those that land at or above the soft limit
# minus the reserve are closed at once and counted in GetStatus
# connectionsRejectedForDescriptors.  Meanwhile a call sent on a connection
# made earlier needs everything the reserve is for: its credentials have
# expired (KMS answers ExpiredTokenException), so credential_process runs
# again (pipes), and the fake drops a KMS connection, so the daemon opens
# new ones.  It must succeed.  Needs root (setpriv) and prlimit.
. "$top_srcdir/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v prlimit >/dev/null 2>&1; then
	log "SKIP: needs root, setpriv and prlimit (util-linux)"
	exit 77
fi
HOLDER=4611
. "$top_srcdir/tests/security/as-uid.sh"
PY=$AS_PY
[ -n "$PY" ] || { log "SKIP: no python3 that uid $HOLDER can run"; exit 77; }

LIMIT=400     # soft = hard: the daemon cannot raise it
MAXC=300      # + the reserve (2 pools x 2 + 4 for credentials + 64) = 372, fits
INHERITED_N=120
HOLD_N=290    # within MaxConnectionsPerUser=, past the descriptors left
SLOW=1
[ -n "${DAEMON_WRAPPER:-}" ] && SLOW=6

# The holder: tests/security/conn-holder.py.
cp "$top_srcdir/tests/security/conn-holder.py" "$T/holder.py" # where other uids can read it
chmod a+r "$T/holder.py"

# early SOCKET GO: connects now, says so in $T/early.connected, sends a
# cancel once GO exists, prints the reply.
cat >"$T/early.py" <<'PY'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
open(sys.argv[2] + ".connected", "w").write("yes\n")
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
s.settimeout(120)
s.sendall(json.dumps({"method": "io.kmscancel.CancelKeyDeletion", "parameters": {"keyId": sys.argv[3]}}).encode() + b"\0")
buf = b""
while not buf.endswith(b"\0"):
    chunk = s.recv(65536)
    if not chunk:
        print("DISCONNECTED " + buf.decode(errors="replace"))
        sys.exit(1)
    buf += chunk
print(buf[:-1].decode())
PY

PIDS=()
stop_helpers() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null; done
	for p in ${PIDS[@]+"${PIDS[@]}"}; do wait "$p" 2>/dev/null; done
	PIDS=()
}
at_cleanup stop_helpers

# The default credentials come from a credential_process: fetching them
# takes descriptors (pipes) from the reserve.
cat >"$T/proc" <<PROC
#!/bin/sh
echo run >>"$T/proc.runs"
cat "$T/proc.json"
PROC
chmod +x "$T/proc"
proc_creds() { # SECRET TOKEN
	printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s"}\n' \
		"$TEST_AKID" "$1" "$2" >"$T/proc.json"
	fake PUT /credentials "{\"accessKeyId\":\"$TEST_AKID\",\"secretAccessKey\":\"$1\",\"sessionToken\":\"$2\"}" >/dev/null ||
		die "fake KMS: credentials"
}
printf '[default]\ncredential_process = %s\n' "$T/proc" >"$T/aws-config"
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
MaxConnections=$MAXC
MaxConnectionsPerUser=$MAXC
IdleConnectionTimeoutSec=600
[AWS]
Account=$TEST_ACCOUNT
[KMS]
RetryBase=50ms
MaxPools=2
MaxConnections=2
CONF

start_fake
proc_creds secret-one token-one
prlimit --nofile=$LIMIT:$LIMIT -- "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check.out" 2>&1 &&
	pass "the budget fits: MaxConnections=$MAXC under a limit of $LIMIT" || fail "--check-config: $(cat "$T/check.out")"

WRAPPER=${DAEMON_WRAPPER:-}
DAEMON_WRAPPER="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY prlimit --nofile=$LIMIT:$LIMIT -- $WRAPPER"
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
INHERITED=()
for i in $(seq 1 $INHERITED_N); do
	exec {fd}</dev/null
	INHERITED+=("$fd")
done
start_daemon
for fd in "${INHERITED[@]}"; do exec {fd}<&-; done
DAEMON_WRAPPER=$WRAPPER
log "daemon descriptors at start: $(daemon_fds)"

"$PY" "$T/early.py" "$SOCK" "$T/go" "$KEY1" >"$T/early.out" 2>&1 &
EARLY=$!
PIDS+=("$EARLY")
wait_for_file "$T/go.connected" || fail "the early client did not connect"

setpriv --reuid="$HOLDER" --regid="$HOLDER" --clear-groups -- "$PY" "$T/holder.py" "$SOCK" $HOLD_N $((2 * SLOW)) \
	>"$T/hold.log" 2>&1 &
PIDS+=("$!")
for i in $(seq 1 $((300 * SLOW))); do
	grep -q '^alive ' "$T/hold.log" && break
	sleep 0.1
done
alive=$(sed -n 's/^alive //p' "$T/hold.log")
log "the holder kept ${alive:-?} of $HOLD_N connections; daemon descriptors: $(daemon_fds) of $LIMIT"
[ -n "$alive" ] && [ "$alive" -gt 0 ] && [ "$alive" -lt $HOLD_N ] &&
	pass "connections past the reserve were closed ($((HOLD_N - alive)) of $HOLD_N), the others kept" ||
	fail "the holder: $(cat "$T/hold.log")"

# The call on the early connection: its credentials expired, and the next
# KMS connection is dropped.
runs=$(wc -l <"$T/proc.runs")
conns=$(fake_stat connections)
proc_creds secret-two token-two
fake POST /drop '{"count":1}' >/dev/null
touch "$T/go"
wait "$EARLY"
out=$(sed -e 's/": /":/g' "$T/early.out")
expect_contains "$out" '"keyState":"Disabled"' "a call made with every client descriptor taken succeeds"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key was cancelled" || fail "KEY1 is $(key_state "$KEY1")"
[ "$(wc -l <"$T/proc.runs")" -gt "$runs" ] && pass "… after credential_process ran again (ExpiredTokenException)" ||
	fail "credential_process did not run again ($(wc -l <"$T/proc.runs") runs)"
[ "$(fake_stat connections)" -ge $((conns + 2)) ] &&
	pass "… and the daemon opened KMS connections meanwhile ($conns -> $(fake_stat connections))" ||
	fail "KMS connections: $conns -> $(fake_stat connections)"
kill -0 "$DAEMON_PID" 2>/dev/null && pass "the daemon still runs" || fail "the daemon died: $(tail -n 5 "$T/daemon.log")"

stop_helpers
for i in $(seq 1 $((100 * SLOW))); do
	[ "$(daemon_fds)" -lt $((INHERITED_N + 60)) ] && break
	sleep 0.1
done
run_cli --json status
rejected=$(printf '%s' "$OUT" | sed -n 's/.*"connectionsRejectedForDescriptors":\([0-9]*\).*/\1/p')
[ -n "$alive" ] && [ "${rejected:-0}" -gt 0 ] && [ "$rejected" = $((HOLD_N - alive)) ] &&
	pass "GetStatus counts them: connectionsRejectedForDescriptors=$rejected" ||
	fail "connectionsRejectedForDescriptors=${rejected:-?}, the holder lost $((HOLD_N - ${alive:-0}))"
grep -q 'file descriptors are running out' "$T/daemon.log" && pass "the refusal is logged" ||
	fail "no log line about the refusal"
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1"
expect_rc 0 "the daemon serves once the connections are gone"
stop_daemon
[ "$DAEMON_RC" = 0 ] && pass "the daemon exits 0" || fail "daemon exit status $DAEMON_RC"
exit 0
