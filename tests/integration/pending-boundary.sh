#!/bin/bash
# ListPendingDeletions' boundary as other uids see it (setpriv), issue 18.
# While the default credentials' account is unknown (GetCallerIdentity
# fails), their account+region is scanned and listed only for a caller the
# policy surely lets describe every key there whatever the account is: a
# caller allowed one account only, or denied an account (which may be the
# unknown one), causes no request with those credentials and is not told
# of them (fails closed), while a caller allowed * is.  A reload that
# takes a caller's rule away mid-scan is applied from the next key on.
# Naming an account tells a caller who may see nothing there nothing of
# whether the daemon serves it; keys DescribeKey cannot read are counted
# to a caller only if it may see them; a caller that never reads is cut
# off at the output limit and its scan stopped while others are served.
# The daemon exits cleanly (ASan, valgrind: DAEMON_WRAPPER).
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv (callers of other uids)"
	exit 77
fi
A=$TEST_ACCOUNT # the default credentials' own account (never learnt here)
C=777788889999  # [Account C] Profile=prod
D=444455556666  # [Account D] Profile=prodd (KMS knows not its key): only root and uid ANY may see it
X=999988887777  # no section: not an account the daemon knows
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
STS_MESSAGE="User: arn:aws:iam::$A:user/rescue-bot is not authorized to perform: sts:GetCallerIdentity"
METHOD=io.kmscancel.ListPendingDeletions
# ONLYC: describe account:C.  ANY: describe *.  NOTA: describe * but account:A.
# ONEKEY: describe C's first key.
ONLYC=4271 ANY=4272 NOTA=4273 ONEKEY=4274
NA=40 # A's keys, all pending deletion; C has 2, one pending

keyid() { printf '%08x-%04x-4abc-8def-%012x' "$1" "$2" "$1"; }
{
	for i in $(seq 1 $NA); do echo "$(keyid "$i" 1) PendingDeletion $A"; done
	echo "$(keyid 1 3) PendingDeletion $C"
	echo "$(keyid 2 3) Enabled $C"
} >"$T/keys"
printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AKID_C" "$SECRET_C" >"$T/credentials"
printf '[prodd]\naws_access_key_id = AKIDACCOUNTD00000001\naws_secret_access_key = d/secret\n' >>"$T/credentials"
DAEMON_ENV=(AWS_SHARED_CREDENTIALS_FILE="$T/credentials")
start_fake --account-creds "$C:$AKID_C:$SECRET_C"
fake POST /sts/fail "{\"action\":\"GetCallerIdentity\",\"count\":100000,\"error\":\"AccessDenied\",\"status\":403,\"message\":\"$STS_MESSAGE\"}" \
	>/dev/null || die "cannot make STS fail"

conf() {
	cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[AWS]
STSTimeout=5
[KMS]
RetryBase=50ms
[Account $C]
Profile=prod
[Account $D]
Profile=prodd
[Policy]
Allow=user:$ONLYC describe account:$C
$1
Deny=user:$NOTA describe account:$A
Allow=user:$NOTA describe *
Allow=user:$ONEKEY describe arn:aws:kms:$TEST_REGION:$C:key/$(keyid 1 3)
CONF
}
conf "Allow=user:$ANY describe *"
start_daemon

UPY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if setpriv --reuid=$ANY --regid=$ANY --clear-groups -- "$p" -c pass 2>/dev/null; then
		UPY=$p
		break
	fi
done
[ -n "$UPY" ] || { log "SKIP: no python3 other uids can run"; exit 77; }
chmod 0711 "$T"
cp "$top_srcdir/tests/integration/varlink-stream.py" "$T/stream.py" && chmod 0755 "$T/stream.py"

# scan UID PARAMS: the replies in $T/replies.UID.
scan() {
	setpriv --reuid="$1" --regid="$1" --clear-groups -- "$UPY" "$T/stream.py" "$SOCK" "$METHOD" "$2" \
		>"$T/replies.$1" 2>"$T/stream.$1.err"
}
# listed UID: the key ARNs in UID's replies, one per line.
listed() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    k = json.loads(line).get("parameters", {}).get("key")
    if k:
        print(k["keyId"])' "$T/replies.$1"
}
# requests_by AKID: KMS requests the fake logged signed with AKID.
requests_by() {
	fake GET /requests | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r.get("accessKeyId") == sys.argv[1]))' "$1"
}
# learns_nothing WHAT FILE: FILE names nothing of the default credentials.
learns_nothing() {
	local leaked= w
	for w in "$A" "rescue-bot" "not authorized" "GetCallerIdentity" "STS" '"account":""' '"account": ""'; do
		grep -qF -- "$w" "$2" && leaked="$leaked '$w'"
	done
	[ -z "$leaked" ] && pass "$1: nothing of the default credentials' account" ||
		fail "$1: says$leaked: $(tail -n 1 "$2")"
}

# The daemon's account stays unknown.
for _ in $(seq 1 400); do
	[ "$(fake_stat stsGetCallerIdentity)" -ge 1 ] && break
	sleep 0.05
done
run_cli --json status
expect_contains "$OUT" '"accountState":"failed"' "the daemon's account is unknown (GetCallerIdentity failed)"

# --- an unknown account is scanned only for who may see any account --------------------------------
for uid in $ONLYC $NOTA; do
	before=$(requests_by "$TEST_AKID")
	scan $uid '{}'
	tail -n 1 "$T/replies.$uid" | grep -q '"scans"' || fail "uid $uid: no final reply: $(tail -n 1 "$T/replies.$uid")"
	[ "$(listed $uid)" = "arn:aws:kms:$TEST_REGION:$C:key/$(keyid 1 3)" ] && pass "uid $uid: C's pending key only" ||
		fail "uid $uid listed: $(listed $uid | head -n 3)"
	[ "$(requests_by "$TEST_AKID")" = "$before" ] &&
		pass "uid $uid: no request with the default credentials (their account may be one it may not see)" ||
		fail "uid $uid: $(($(requests_by "$TEST_AKID") - before)) requests with the default credentials"
	learns_nothing "uid $uid" "$T/replies.$uid"
done
before=$(requests_by "$TEST_AKID")
scan $ANY '{}'
[ "$(listed $ANY | grep -c ":$A:key/")" = $NA ] && pass "uid $ANY (describe *): the unknown account's $NA keys are listed" ||
	fail "uid $ANY listed $(listed $ANY | grep -c ":$A:key/") of A's keys: $(tail -n 1 "$T/replies.$ANY")"
[ "$(requests_by "$TEST_AKID")" -gt "$before" ] && pass "uid $ANY: the default credentials are used" ||
	fail "uid $ANY: no request with the default credentials"

# --- naming an account: the same answer whether the daemon knows it or not -------------------------
# uid ONLYC may see account C only: naming D (configured) or X (not) tells
# it nothing of which accounts the daemon serves; both are an empty scan.
# uid ANY, who may see any account, is told X is not one (InvalidParameter).
for acct in $D $X; do
	before=$(requests_by "$TEST_AKID")$(requests_by "$AKID_C")
	scan $ONLYC "{\"account\":\"$acct\"}"
	cp "$T/replies.$ONLYC" "$T/named.$acct"
	[ "$(requests_by "$TEST_AKID")$(requests_by "$AKID_C")" = "$before" ] || fail "uid $ONLYC naming $acct: requests made"
done
[ "$(tail -n 1 "$T/named.$D")" = '{"parameters":{"scans":[]}}' ] && pass "uid $ONLYC naming account D: an empty scan" ||
	fail "uid $ONLYC naming D: $(tail -n 1 "$T/named.$D")"
cmp -s "$T/named.$D" "$T/named.$X" && pass "uid $ONLYC naming unknown account X: the same answer as for D" ||
	fail "uid $ONLYC tells D ($(tail -n 1 "$T/named.$D")) from X ($(tail -n 1 "$T/named.$X"))"
scan $ANY "{\"account\":\"$X\"}"
grep -q '"parameter":"account"' "$T/replies.$ANY" && pass "uid $ANY naming X: InvalidParameter account" ||
	fail "uid $ANY naming X: $(tail -n 1 "$T/replies.$ANY")"

# --- a reload that takes the rule away mid-scan ------------------------------------------------------
# Each DescribeKey held 200 ms: the scan of A's keys takes seconds.
fake POST /delay '{"ms":200,"count":100000,"operation":"DescribeKey"}' >/dev/null
: >"$T/replies.$ANY"
chmod a+rw "$T/replies.$ANY"
setpriv --reuid=$ANY --regid=$ANY --clear-groups -- "$UPY" "$T/stream.py" "$SOCK" "$METHOD" '{}' \
	>>"$T/replies.$ANY" 2>"$T/stream.$ANY.err" &
SCAN_PID=$!
at_cleanup 'kill "$SCAN_PID" 2>/dev/null'
for _ in $(seq 1 300); do
	grep -q '"key"' "$T/replies.$ANY" && break
	sleep 0.1
done
conf ""
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q 'reloaded' "$T/daemon.log" && break; sleep 0.1; done
grep -q 'reloaded' "$T/daemon.log" || fail "no reload: $(tail -n 5 "$T/daemon.log")"
n_reload=$(listed $ANY | wc -l)
wait "$SCAN_PID"
rc=$?
[ $rc -eq 0 ] && tail -n 1 "$T/replies.$ANY" | grep -q '"scans"' && pass "the scan ends with its final reply" ||
	fail "scan through the reload: rc $rc, $(tail -n 1 "$T/replies.$ANY")"
n_end=$(listed $ANY | wc -l)
[ "$n_reload" -ge 1 ] && [ "$n_end" -lt $NA ] && [ "$n_end" -le $((n_reload + 8)) ] &&
	pass "keys before the reload stand ($n_reload), none after but those already read ($n_end of $NA)" ||
	fail "uid $ANY: $n_reload keys at the reload, $n_end at the end (of $NA)"
fake POST /reset >/dev/null

# A new scan by the uid the reload left without a rule: refused at once.
scan $ANY '{}'
grep -q PermissionDenied "$T/replies.$ANY" && pass "after the reload uid $ANY is refused" ||
	fail "uid $ANY after the reload: $(tail -n 1 "$T/replies.$ANY")"

# --- keys that cannot be read: counted only where the caller may see them ----------------------------
# uid ONEKEY may describe C's first key only; DescribeKey of both of C's
# keys is refused: it is told of its own key, not of the other.
fake POST /fail '{"error":"AccessDeniedException","count":2,"operation":"DescribeKey"}' >/dev/null
scan $ONEKEY "{\"account\":\"$C\"}"
case "$(tail -n 1 "$T/replies.$ONEKEY")" in
*'"message":"1 key could not be read with DescribeKey (AccessDeniedException)"'*)
	pass "uid $ONEKEY: told of its own unreadable key only" ;;
*) fail "uid $ONEKEY: $(tail -n 1 "$T/replies.$ONEKEY")" ;;
esac
fake POST /fail '{"error":"AccessDeniedException","count":2,"operation":"DescribeKey"}' >/dev/null
python3 "$top_srcdir/tests/integration/varlink-stream.py" "$SOCK" "$METHOD" "{\"account\":\"$C\"}" >"$T/replies.root"
case "$(tail -n 1 "$T/replies.root")" in
*'"message":"2 keys could not be read with DescribeKey (AccessDeniedException)"'*) pass "root: told of both" ;;
*) fail "root: $(tail -n 1 "$T/replies.root")" ;;
esac

# --- a caller that never reads: cut off at the output limit, its scan stopped -----------------------
# 300 more of C's keys pending, each with a 7 KB description: a scan's
# replies (2 MB) overflow the socket and the connection's 1 MiB of unread
# output.  Meanwhile uid ONLYC's scan of C reads on and gets every key.
python3 -c '
import http.client, json, sys
d = "d" * 7000
body = json.dumps({"Keys": [{"KeyId": "%08x-0005-4abc-8def-%012x" % (i, i), "KeyState": "PendingDeletion",
                             "Account": sys.argv[2], "Description": d} for i in range(1, 301)]})
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/keys", body, {"Content-Type": "application/json"})
sys.exit(c.getresponse().status != 200)' "$FAKE_ADMIN_PORT" "$C" || die "cannot add C's keys"
cat >"$T/noread.py" <<'PY'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": sys.argv[2], "parameters": {"account": sys.argv[3]}, "more": True}).encode() + b"\0")
while not os.path.exists(sys.argv[4]):
    time.sleep(0.05)
PY
python3 "$T/noread.py" "$SOCK" "$METHOD" "$C" "$T/release" &
NOREAD_PID=$!
at_cleanup 'kill "$NOREAD_PID" 2>/dev/null'
scan $ONLYC '{}'
[ "$(listed $ONLYC | wc -l)" = 301 ] && pass "uid $ONLYC reads all 301 of C's pending keys meanwhile" ||
	fail "uid $ONLYC listed $(listed $ONLYC | wc -l) keys: $(tail -c 300 "$T/replies.$ONLYC")"
for _ in $(seq 1 300); do
	grep -q "ListPendingDeletions uid 0: the caller hung up; scan stopped" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "does not read its replies; dropping it" "$T/daemon.log" && pass "the caller that does not read is dropped" ||
	fail "no drop: $(grep -i 'uid 0\|dropping' "$T/daemon.log" | tail -n 5)"
grep -q "ListPendingDeletions uid 0: the caller hung up; scan stopped" "$T/daemon.log" &&
	pass "and its scan stopped ($(grep -o 'scan stopped after [0-9]* requests' "$T/daemon.log" | tail -n 1))" ||
	fail "the scan of the caller that does not read went on"
touch "$T/release"
wait "$NOREAD_PID"

stop_daemon
[ "$DAEMON_RC" -eq 0 ] && pass "the daemon exited cleanly" || fail "daemon exit status $DAEMON_RC: $(tail -n 20 "$T/daemon.log")"

[ "$failures" -eq 0 ]
