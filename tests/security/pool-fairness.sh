#!/bin/bash
# One uid cannot take every KMS connection pool.  The daemon keeps at most
# [KMS] MaxPools= pools (region-spray.sh), and a call that needs a new one
# when calls hold all of them fails with EndpointUnavailable.  A caller
# allowed any region could keep a call in flight in MaxPools= regions (a
# slow endpoint, a rate-limit queue) and every other uid then got
# EndpointUnavailable for any region without a pool yet.  Now one uid's
# calls may hold at most a quarter of MaxPools= pools alone.  Here
# MaxPools=8: uid 4321 sends DescribeKey in 8 regions while KMS holds every
# answer; it gets 2 pools and a clear refusal for the rest, and uid 4322's
# cancel in a region with no pool yet (us-east-1) still succeeds.  All
# regional names are connected to the loopback fake as in region-spray.sh.
# Needs root (setpriv) and the openssl CLI.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v "${OPENSSL:-openssl}" >/dev/null 2>&1; then
	log "SKIP: needs root, setpriv and openssl"
	exit 77
fi
[ -n "$AS_PY" ] || { log "SKIP: no python3 other uids can run"; exit 77; }
A=4321 B=4322 N=8 MAX_POOLS=8 SHARE=2
if [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then F=4; else F=1; fi
HOLD=$((6000 * F))

region() { printf 'xx-fair-%d' "$1"; }

# A server certificate for us-east-1 and every sprayed region, from the test CA.
names=("kms.$TEST_REGION.amazonaws.com")
for i in $(seq 1 $N); do names+=("kms.$(region "$i").amazonaws.com"); done
server_cert_for "${names[@]}"
start_fake

cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[AWS]
Account=$TEST_ACCOUNT
[KMS]
MaxPools=$MAX_POOLS
MaxAttempts=1
[Policy]
Allow=user:$A describe *
Allow=user:$B cancel *
CONF
WRAPPER=${DAEMON_WRAPPER:-}
DAEMON_WRAPPER=$(kms_by_name_wrapper "*.amazonaws.com:443=127.0.0.1:$FAKE_PORT" "$WRAPPER")
start_daemon

# uid A: N DescribeKey calls at once on one connection, one region each.
# Prints {"replies", "errors": {name: n}, "sample": {name: message}}.
cat >"$T/hold.py" <<'PY'
import json, socket, sys
path, account, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
for i in range(1, n + 1):
    s.sendall(json.dumps({"method": "io.kmscancel.DescribeKey", "parameters": {
        "keyId": "arn:aws:kms:xx-fair-%d:%s:key/%s" % (i, account, key), "timeoutMs": 120000}}).encode() + b"\0")
buf, replies, errors, sample = b"", 0, {}, {}
while replies < n:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
    while b"\0" in buf:
        m, buf = buf.split(b"\0", 1)
        r = json.loads(m)
        replies += 1
        e = r.get("error", "ok")
        errors[e] = errors.get(e, 0) + 1
        sample.setdefault(e, r.get("parameters", {}).get("message", ""))
print(json.dumps({"replies": replies, "errors": errors, "sample": sample}))
PY
chmod a+r "$T/hold.py"

fake POST /delay "{\"ms\":$HOLD,\"count\":$N,\"operation\":\"DescribeKey\"}" >/dev/null
set_key "$KEY1" PendingDeletion
setpriv --reuid=$A --regid=$A --clear-groups -- "$AS_PY" "$T/hold.py" "$SOCK" "$TEST_ACCOUNT" "$KEY1" $N \
	>"$T/hold.out" 2>&1 &
holder=$!
# Wait until A's calls hold their pools (KMS has them all in hand).
deadline=$(($(date +%s) + 10 * F))
while [ "$(date +%s)" -lt $deadline ]; do
	run_cli --json status
	held=$(printf '%s' "$OUT" | sed -n 's/.*"endpoints":\([0-9]*\).*/\1/p')
	[ -n "$held" ] && [ "$held" -ge $SHARE ] && break
	sleep 0.2
done
sleep 0.5
run_cli --json status
log "while A holds: endpoints $(json_field endpoints), poolsRefused $(json_field poolsRefused)"
[ "$(json_field endpoints)" = $SHARE ] && pass "uid $A holds $SHARE pools, a quarter of MaxPools=$MAX_POOLS" ||
	fail "uid $A holds $(json_field endpoints) pools"

# uid B, in a region with no pool yet, while A's calls are still held.
raw_call $B io.kmscancel.CancelKeyDeletion \
	"{\"keyId\":\"arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1\",\"timeoutMs\":$((20000 * F))}"
log "uid $B: $REPLY"
printf '%s' "$REPLY" | grep -q '"keyState":"Disabled"' && pass "uid $B's cancel in a fresh region succeeded" ||
	fail "uid $B was refused: $REPLY"
kill -0 $holder 2>/dev/null && pass "uid $A's calls were still in flight" || fail "uid $A's calls ended too soon"

wait $holder
log "uid $A: $(cat "$T/hold.out")"
HOLD_OUT=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/hold.out")
expect_contains "$HOLD_OUT" "\"replies\":$N" "every call of uid $A was answered"
expect_contains "$HOLD_OUT" "\"io.kmscancel.EndpointUnavailable\":$((N - SHARE))" \
	"uid $A's calls past its share got EndpointUnavailable"
expect_contains "$HOLD_OUT" "a quarter of [KMS] MaxPools=$MAX_POOLS" "the refusal names the limit"
stop_daemon
[ ! -s "$NETGUARD_LOG" ] && pass "nothing left loopback" || fail "netguard refused: $(cat "$NETGUARD_LOG")"
exit 0
