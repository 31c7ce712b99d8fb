#!/bin/bash
# Finding 5 of issue 14: a caller chooses the region of every key ARN it
# sends, and the daemon used to make a KMS connection pool for each one,
# forever: pools, their idle TLS connections (descriptors) and memory grew
# without bound, and past ~64 KiB of pools GetStatus failed for everyone.
# Here an allowed uid sends DescribeKey for 1,000 distinct, well-formed
# regions.  Every regional name is connected to the loopback fake
# (KMSCANCELD_CONNECT_TO=*.amazonaws.com:443=..., no DNS), which holds a
# certificate for all of them and answers each with an error (its region is
# us-east-1): what matters is the pools.  Checked: every call is answered
# (a refusal when calls hold every pool, or the quarter of them one uid may
# hold, is EndpointUnavailable), the pool
# count never passes [KMS] MaxPools=, GetStatus answers throughout and stays
# far below the Varlink message limit, the daemon's RSS and descriptors stay
# bounded, idle pools are freed after the pools' idle timeout, and netguard
# refused nothing.  Needs root (setpriv) and the openssl CLI.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v "${OPENSSL:-openssl}" >/dev/null 2>&1; then
	log "SKIP: needs root, setpriv and openssl"
	exit 77
fi
SPRAYER=4701
N=1000
MAX_POOLS=64 # KMS_DEFAULT_MAX_POOLS
PY=$AS_PY # as-uid.sh: a python3 other uids can run
[ -n "$PY" ] || { log "SKIP: no python3 that uid $SPRAYER can run"; exit 77; }

region() { printf 'xx-spray-%d' "$1"; }

# A server certificate for every regional KMS name, from the test CA.
names=()
for i in $(seq 1 $N); do names+=("kms.$(region "$i").amazonaws.com"); done
server_cert_for "${names[@]}"
start_fake

cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[AWS]
Account=$TEST_ACCOUNT
[KMS]
RetryBase=50ms
IdleTimeout=3s
[Policy]
Allow=user:$SPRAYER describe *
CONF
# In a sanitizer build, ASan's quarantine keeps freed memory (256 MiB by
# default) and would hide what the daemon holds: keep it small here.
# Its shadow memory and redzones make the rest ~2x: 49 MiB measured.
RSS_LIMIT_KB=65536
if ldd "$KMSCANCELD" 2>/dev/null | grep -q libasan; then
	DAEMON_ENV=(ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8")
	RSS_LIMIT_KB=131072
fi
# Under valgrind RSS is valgrind's: its shadow memory and the freed blocks
# it keeps (+136 MiB measured with the bound; the old daemon's +210 MiB of
# live memory would be several times that).
[ -n "${DAEMON_WRAPPER:-}" ] && RSS_LIMIT_KB=262144
WRAPPER=${DAEMON_WRAPPER:-}
DAEMON_WRAPPER=$(kms_by_name_wrapper "*.amazonaws.com:443=127.0.0.1:$FAKE_PORT" "$WRAPPER")
start_daemon

# The sprayer: N DescribeKey calls, one region each, 32 in flight on each of
# 4 connections.  Prints {"replies", "errors": {name: n}, "sample": {...}}.
cat >"$T/spray.py" <<'PY'
import json, selectors, socket, sys
path, account, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
calls = [json.dumps({"method": "io.kmscancel.DescribeKey", "parameters": {
    "keyId": "arn:aws:kms:xx-spray-%d:%s:key/%s" % (i, account, key), "timeoutMs": 60000}}).encode() + b"\0"
    for i in range(1, n + 1)]
sel = selectors.DefaultSelector()
conns = []
for c in range(4):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.setblocking(False)
    st = {"s": s, "todo": calls[c::4], "inflight": 0, "buf": b"", "out": b""}
    conns.append(st)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
replies, errors, sample = 0, {}, {}
while replies < n:
    ev = sel.select(120)
    if not ev:
        break
    for k, mask in ev:
        st = k.data
        while st["todo"] and st["inflight"] < 32:
            st["out"] += st["todo"].pop(0)
            st["inflight"] += 1
        if mask & selectors.EVENT_WRITE and st["out"]:
            try:
                st["out"] = st["out"][st["s"].send(st["out"]):]
            except BlockingIOError:
                pass
        if mask & selectors.EVENT_READ:
            data = st["s"].recv(1 << 16)
            if not data:
                print(json.dumps({"closed": True, "replies": replies}))
                sys.exit(1)
            st["buf"] += data
            while b"\0" in st["buf"]:
                m, st["buf"] = st["buf"].split(b"\0", 1)
                r = json.loads(m)
                replies += 1
                st["inflight"] -= 1
                e = r.get("error", "ok")
                if e == "io.kmscancel.KMSException":
                    e += "/" + r["parameters"].get("type", "")
                errors[e] = errors.get(e, 0) + 1
                sample.setdefault(e, r.get("parameters", {}).get("message", ""))
print(json.dumps({"replies": replies, "errors": errors, "sample": sample}))
PY
# The watcher (root, whom GetStatus always answers): GetStatus every 100 ms
# until told to stop; prints the most pools seen, the largest reply, and
# how many GetStatus calls failed.
cat >"$T/watch.py" <<'PY'
import json, os, socket, sys, time
path, stop = sys.argv[1], sys.argv[2]
most, biggest, ok, failed, last = 0, 0, 0, 0, None
while True:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(path)
        s.sendall(b'{"method":"io.kmscancel.GetStatus"}\0')
        buf = b""
        while not buf.endswith(b"\0"):
            d = s.recv(1 << 16)
            if not d:
                break
            buf += d
        s.close()
        r = json.loads(buf[:-1])
        k = r["parameters"]["kms"]
        most = max(most, k["endpoints"])
        biggest = max(biggest, len(buf))
        ok += 1
        last = {x: k.get(x) for x in ("endpoints", "maxPools", "poolsEvicted", "poolsRefused", "poolsOmitted")}
        last["listed"] = len(k["pools"])
    except Exception as e:
        failed += 1
        last = {"error": str(e)}
    if os.path.exists(stop):
        break
    time.sleep(0.1)
print(json.dumps({"most": most, "biggest": biggest, "ok": ok, "failed": failed, "last": last}))
PY
chmod a+r "$T/spray.py" "$T/watch.py"

rss_before=$(daemon_rss_kb)
fds_before=$(daemon_fds)
python3 "$T/watch.py" "$SOCK" "$T/stop" >"$T/watch.out" 2>&1 &
watch=$!
start=$(now_ms)
setpriv --reuid=$SPRAYER --regid=$SPRAYER --clear-groups -- "$PY" "$T/spray.py" "$SOCK" "$TEST_ACCOUNT" "$KEY1" $N \
	>"$T/spray.out" 2>&1
spray_rc=$?
log "spray: $(cat "$T/spray.out") in $(($(now_ms) - start)) ms"
rss_after=$(daemon_rss_kb)
fds_after=$(daemon_fds)
touch "$T/stop"
wait $watch
log "watch: $(cat "$T/watch.out")"
log "daemon: RSS $rss_before -> $rss_after KiB, descriptors $fds_before -> $fds_after"

SPRAY=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/spray.out")
WATCH=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/watch.out")
num() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" | head -n 1; }

[ $spray_rc -eq 0 ] && [ "$(num "$SPRAY" replies)" = $N ] && pass "all $N calls were answered" ||
	fail "spray: $SPRAY"
# Every answer is the fake's refusal of a foreign region, or the daemon's
# own when calls hold every pool: nothing else (no crash, no out-of-memory).
others=$(printf '%s' "$SPRAY" | sed -e 's/.*"errors":{\([^}]*\)}.*/\1/' | tr ',' '\n' |
	grep -v -e '"io.kmscancel.KMSException/InvalidSignatureException":' -e '"io.kmscancel.EndpointUnavailable":' | grep .)
[ -z "$others" ] && pass "every answer is KMS's or a clear EndpointUnavailable" || fail "other answers: $others"
case "$SPRAY" in
*EndpointUnavailable*) expect_contains "$SPRAY" "MaxPools" "a refusal names [KMS] MaxPools=" ;;
esac
most=$(num "$WATCH" most)
[ "$(num "$WATCH" failed)" = 0 ] && [ "$(num "$WATCH" ok)" -gt 0 ] &&
	pass "GetStatus answered throughout ($(num "$WATCH" ok) times)" || fail "GetStatus failed: $WATCH"
[ -n "$most" ] && [ "$most" -le $MAX_POOLS ] && pass "never more than $MAX_POOLS pools (at most $most seen)" ||
	fail "pools grew to ${most:-?}: $WATCH"
[ "$(num "$WATCH" biggest)" -lt 16384 ] && pass "GetStatus replies stayed small ($(num "$WATCH" biggest) bytes at most)" ||
	fail "GetStatus reply of $(num "$WATCH" biggest) bytes"
[ "$(num "$WATCH" listed)" -le 16 ] && pass "GetStatus lists at most 16 pools" || fail "$WATCH"
# Measured (plain build): before the bound, 1,000 pools with an idle TLS
# connection each cost ~1,000 descriptors and +210 MiB of RSS; with it, +64
# descriptors and ~+22 MiB (64 pools, 128 calls in flight); 64 MiB is the
# bound (128 MiB under ASan, 256 MiB under valgrind: see below).
[ $((fds_after - fds_before)) -le $((MAX_POOLS + 16)) ] &&
	pass "descriptors bounded ($fds_before -> $fds_after)" || fail "descriptors $fds_before -> $fds_after"
[ $((rss_after - rss_before)) -le $RSS_LIMIT_KB ] && pass "RSS bounded (+$((rss_after - rss_before)) KiB)" ||
	fail "RSS grew by $((rss_after - rss_before)) KiB"

# Idle pools go: IdleTimeout=3s, so within about two of it every pool is freed.
deadline=$(($(date +%s) + 30))
while [ "$(date +%s)" -lt $deadline ]; do
	run_cli --json status
	left=$(printf '%s' "$OUT" | sed -n 's/.*"endpoints":\([0-9]*\).*/\1/p')
	[ "$left" = 0 ] && break
	sleep 0.5
done
[ "$left" = 0 ] && pass "idle pools were freed after their idle timeout" || fail "$left pools left"
stop_daemon
[ ! -s "$NETGUARD_LOG" ] && pass "nothing left loopback" || fail "netguard refused: $(cat "$NETGUARD_LOG")"
grep -q 'cannot resolve' "$T/daemon.log" && fail "the daemon tried DNS: $(grep -m1 'cannot resolve' "$T/daemon.log")"
exit 0
