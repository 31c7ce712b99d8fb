#!/bin/bash
# io.kmscancel.ListPendingDeletions end to end, over a raw Varlink client
# (varlink-stream.py): 2,500 keys of one account over three ListKeys pages,
# two regions (a fake each, routed by name as in account-region.sh) and two
# accounts; only keys pending deletion are listed, with their aliases; the
# account and region narrow the scan, unknown ones are InvalidParameter; a
# failing account+region is reported while the others are listed; the
# policy filters per uid (setpriv), a caller who may describe nothing gets
# PermissionDenied before any request; the client hanging up stops the scan
# (the fake's request counter stands still); the rate limits hold against
# the fake's own quotas; the per-uid scan limit; a reload and a shutdown
# during a scan; ExpectedMore without "more"; one audit record per scan.
. "$top_srcdir/tests/integration/lib.sh"

A=$TEST_ACCOUNT # the default credentials' own account
C=777788889999  # [Account C] Profile=prod
D=444455556666  # [Account D] RoleArn=: STS credentials, expired mid-scan
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
US=us-east-1 EU=eu-west-1
N=2500
PY=python3
STREAM="$top_srcdir/tests/integration/varlink-stream.py"
METHOD=io.kmscancel.ListPendingDeletions

keyid() { printf '%08x-%04x-4abc-8def-%012x' "$1" "$2" "$1"; }

# --- the keys ------------------------------------------------------------------------------------
# us-east-1, account A: every 10th key pending (prod-aliased every 20th),
# every 50th+3 pending with a dev alias, every 10th+5 disabled with a dev
# alias; one multi-Region primary waiting for its replicas.  Account C: 5
# keys, 2 pending.  eu-west-1, account A: 400 keys, every 10th pending,
# 300 with an alias (the rate test's ListAliases pages).
: >"$T/expect.root"
{
	for i in $(seq 1 $N); do
		id=$(keyid "$i" 1) state=Enabled alias=
		if [ $((i % 10)) -eq 0 ]; then state=PendingDeletion; fi
		if [ $((i % 20)) -eq 0 ]; then alias=alias/prod-$i; fi
		if [ $((i % 50)) -eq 3 ]; then state=PendingDeletion alias=alias/dev-$i; fi
		if [ $((i % 10)) -eq 5 ]; then state=Disabled alias=alias/dev-$i; fi
		echo "$id $state $A $alias"
		[ "$state" = PendingDeletion ] && echo "arn:aws:kms:$US:$A:key/$id $alias" >>"$T/expect.root"
	done
	echo "mrk-0123456789abcdef0123456789abcdef PendingReplicaDeletion $A alias/prod-mrk"
	for i in 1 2 3 4 5; do
		state=Enabled alias=
		[ "$i" -le 2 ] && state=PendingDeletion
		[ "$i" -eq 1 ] && alias=alias/prod-c
		echo "$(keyid "$i" 3) $state $C $alias"
	done
	for i in $(seq 1 30); do
		state=Enabled
		[ $((i % 10)) -eq 0 ] && state=PendingDeletion
		echo "$(keyid "$i" 4) $state $D"
	done
} >"$T/keys"
for i in 10 20 30; do echo "arn:aws:kms:$US:$D:key/$(keyid "$i" 4) " >>"$T/expect.root"; done
echo "arn:aws:kms:$US:$A:key/mrk-0123456789abcdef0123456789abcdef alias/prod-mrk" >>"$T/expect.root"
echo "arn:aws:kms:$US:$C:key/$(keyid 1 3) alias/prod-c" >>"$T/expect.root"
echo "arn:aws:kms:$US:$C:key/$(keyid 2 3) " >>"$T/expect.root"

printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AKID_C" "$SECRET_C" >"$T/credentials"
DAEMON_ENV=(AWS_SHARED_CREDENTIALS_FILE="$T/credentials")
start_fake --account-creds "$C:$AKID_C:$SECRET_C"
declare -A PORT ADMIN
PORT[$US]=$FAKE_PORT ADMIN[$US]=$FAKE_ADMIN_PORT
{
	for i in $(seq 1 400); do
		id=$(keyid "$i" 2) state=Enabled alias=
		[ $((i % 10)) -eq 0 ] && state=PendingDeletion
		[ "$i" -le 300 ] && alias=alias/eu-$i
		echo "$id $state $A $alias"
		[ "$state" = PendingDeletion ] && echo "arn:aws:kms:$EU:$A:key/$id $alias" >>"$T/expect.root"
	done
} >"$T/keys"
start_region_fakes $EU # without account C's credentials: C's eu-west-1 scan fails
connect_to="kms.$US.amazonaws.com:443=127.0.0.1:${PORT[$US]},kms.$EU.amazonaws.com:443=127.0.0.1:${PORT[$EU]}"
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "${DAEMON_WRAPPER:-}")
sort -o "$T/expect.root" "$T/expect.root"

# Test-only uids, named by number in the rules.
PRODU=4251 ACCTC=4252 NOONE=4253 NODEV=4254 CANCELER=4255
chmod 0711 "$T"
conf() {
	cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
DrainTimeoutSec=2
[AWS]
Account=$A
Regions=$US $EU
STSEndpointURL=https://127.0.0.1:$FAKE_STS_PORT
[KMS]
RetryBase=50ms
${RATES:-}
[Account $C]
Profile=prod
Regions=$US $EU
[Account $D]
RoleArn=arn:aws:iam::$D:role/KeyRescue
Region=$US
[Policy]
Allow=user:$PRODU describe alias/prod-*
Allow=user:$ACCTC describe account:$C
Deny=user:$NODEV describe alias/dev-*
Allow=user:$NODEV describe account:$A
Allow=user:$CANCELER cancel *
CONF
}
conf
start_daemon

# A Python the test uids can run (a pyenv shim under /root is not one).
UPY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
		setpriv --reuid=$PRODU --regid=$PRODU --clear-groups -- "$p" -c pass 2>/dev/null; then
		UPY=$p
		break
	fi
done
if [ -n "$UPY" ]; then
	cp "$STREAM" "$T/stream.py" && chmod 0755 "$T/stream.py"
fi

# scan [--as UID] PARAMS [stream options]: the replies in $T/replies, exit status in RC.
scan() {
	local who=()
	if [ "$1" = --as ]; then
		who=(setpriv --reuid="$2" --regid="$2" --clear-groups -- "$UPY" "$T/stream.py")
		shift 2
	else
		who=("$PY" "$STREAM")
	fi
	"${who[@]}" "$SOCK" "$METHOD" "$@" >"$T/replies" 2>"$T/stream.err"
	RC=$?
	OUT=$(tail -c 2000 "$T/replies") ERR=$(cat "$T/stream.err")
}
# listed: "ARN ALIASES" of each key reply, sorted.
listed() {
	$PY -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    k = m.get("parameters", {}).get("key")
    if k:
        print(k["keyId"], " ".join(k["aliases"]))
' "$T/replies" | sort
}
final() { tail -n 1 "$T/replies"; }
count_op() { bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /stats | $PY -c "import json,sys; print(json.load(sys.stdin)['operations']['$2'])"; }
total_requests() { echo $(($(fake_requests $US) + $(fake_requests $EU))); }
fake_requests() { bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /stats | $PY -c "import json,sys; print(json.load(sys.stdin)['requests'])"; }
same_set() { # same_set FILE-A FILE-B WHAT
	if diff -q "$1" "$2" >/dev/null; then pass "$3"; else
		fail "$3: $(diff "$1" "$2" | head -n 8)"
	fi
}

# --- without more ----------------------------------------------------------------------------------
before=$(total_requests)
scan '{}' --no-more
expect_contains "$(final)" '"error":"org.varlink.service.ExpectedMore"' "without more: ExpectedMore"
[ "$(total_requests)" = "$before" ] && pass "ExpectedMore: no request" || fail "ExpectedMore made requests"

# --- the whole scan, as root --------------------------------------------------------------------------
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /reset >/dev/null
t0=$(now_ms)
scan '{}'
t1=$(now_ms)
expect_rc 0 "a full scan ends with a final reply"
listed >"$T/got"
same_set "$T/expect.root" "$T/got" "root sees every pending key, with its aliases ($(wc -l <"$T/expect.root") of $((N + 406)))"
log "full scan: $((t1 - t0)) ms"
expect_contains "$(final)" "\"scans\":[" "the final reply lists the scans"
case "$(final)" in *'"key":'*) fail "the final reply carries a key" ;; *) pass "the final reply has no key" ;; esac
expect_contains "$(final)" "{\"account\":\"$A\",\"region\":\"$US\"}" "A in $US: scanned in full"
expect_contains "$(final)" "{\"account\":\"$A\",\"region\":\"$EU\"}" "A in $EU: scanned in full"
expect_contains "$(final)" "{\"account\":\"$C\",\"region\":\"$US\"}" "C in $US: scanned in full"
expect_contains "$(final)" "{\"account\":\"$C\",\"region\":\"$EU\",\"error\":\"UnrecognizedClientException\"" \
	"C in $EU: its error, the other scans listed"
grep -q '"keyState":"PendingReplicaDeletion"' "$T/replies" && grep -q '"pendingDeletionWindowInDays":7' "$T/replies" &&
	pass "PendingReplicaDeletion with its waiting period" || fail "no PendingReplicaDeletion key: $(grep mrk- "$T/replies")"
grep -q "\"deletionDate\":\"20[0-9-]*T[0-9:]*Z\"" "$T/replies" && pass "deletion dates in RFC 3339" ||
	fail "no RFC 3339 deletionDate"
expect_contains "$(final)" "{\"account\":\"$D\",\"region\":\"$US\"}" "D (a role) in $US alone (its Region=): in full"
[ "$(count_op $US ListKeys)" = 5 ] && pass "ListKeys: 3 pages for A's 2,501 keys, 1 for C's, 1 for D's" ||
	fail "ListKeys requests in $US: $(count_op $US ListKeys), expected 5"
[ "$(count_op $US DescribeKey)" = $((N + 36)) ] && pass "DescribeKey once per key" ||
	fail "DescribeKey requests in $US: $(count_op $US DescribeKey), expected $((N + 36))"
[ "$(count_op $US ListAliases)" = 7 ] && pass "ListAliases: 5 pages for A's 428 aliases, 1 for C's, 1 for D's" ||
	fail "ListAliases requests in $US: $(count_op $US ListAliases), expected 7"
n=$(grep -c 'op=list-pending' "$T/daemon.log")
[ "$n" = 1 ] && pass "one audit record for the scan" || fail "$n audit records for one scan"
expect_contains "$(grep 'op=list-pending' "$T/daemon.log")" "keys_listed=$(wc -l <"$T/expect.root")" \
	"the audit record counts the keys shown"

# --- narrowing --------------------------------------------------------------------------------------
scan "{\"account\":\"$C\"}"
listed >"$T/got"
grep ":$C:" "$T/expect.root" >"$T/want"
same_set "$T/want" "$T/got" "account C: only C's keys"
case "$(final)" in *"\"account\":\"$A\""*) fail "account C: A scanned" ;; *) pass "account C: A not scanned" ;; esac
scan "{\"region\":\"$EU\"}"
listed >"$T/got"
grep ":$EU:" "$T/expect.root" >"$T/want"
same_set "$T/want" "$T/got" "region $EU: only its keys"
scan "{\"account\":\"$A\",\"region\":\"$US\",\"timeoutMs\":60000}"
listed >"$T/got"
grep ":$US:$A:" "$T/expect.root" >"$T/want"
same_set "$T/want" "$T/got" "account A, region $US"
before=$(total_requests)
scan '{"account":"999999999999"}'
expect_contains "$(final)" '"error":"org.varlink.service.InvalidParameter","parameters":{"parameter":"account"}' \
	"an account the daemon does not serve: InvalidParameter account"
scan '{"region":"ap-south-1"}'
expect_contains "$(final)" '"parameter":"region"' "a region no account is scanned in: InvalidParameter region"
scan '{"region":"EU-WEST-1"}'
expect_contains "$(final)" '"parameter":"region"' "not a region name: InvalidParameter region"
scan '{"account":"12345"}'
expect_contains "$(final)" '"parameter":"account"' "not an account ID: InvalidParameter account"
scan '{"keyId":"x"}'
expect_contains "$(final)" '"parameter":"keyId"' "an unknown parameter: InvalidParameter"
[ "$(total_requests)" = "$before" ] && pass "refused arguments: no request" || fail "refused arguments made requests"

# --- policy per uid ---------------------------------------------------------------------------------
if [ -n "$UPY" ]; then
	scan --as $PRODU '{}'
	listed >"$T/got"
	grep ' alias/prod-' "$T/expect.root" >"$T/want"
	same_set "$T/want" "$T/got" "uid $PRODU (alias/prod-*): the prod-aliased keys of both accounts"
	us_before=$(count_op $US DescribeKey)
	scan --as $ACCTC '{}'
	listed >"$T/got"
	grep ":$C:" "$T/expect.root" >"$T/want"
	same_set "$T/want" "$T/got" "uid $ACCTC (account:$C): C's keys"
	[ $(($(count_op $US DescribeKey) - us_before)) = 5 ] &&
		pass "uid $ACCTC: only C's 5 keys read; no request in accounts it may see nothing of" ||
		fail "uid $ACCTC: $(($(count_op $US DescribeKey) - us_before)) DescribeKey, expected 5"
	case "$(final)" in
	*"\"account\":\"$A\""* | *"\"account\":\"$D\""*) fail "uid $ACCTC is told of other accounts: $(final)" ;;
	*"\"account\":\"$C\""*) pass "uid $ACCTC: the final reply lists C's scans only" ;;
	*) fail "uid $ACCTC: no scans: $(final)" ;;
	esac
	scan --as $NODEV '{}'
	listed >"$T/got"
	grep ":$A:" "$T/expect.root" | grep -v ' alias/dev-' >"$T/want"
	same_set "$T/want" "$T/got" "uid $NODEV: A's keys but those a Deny names by alias"
	for uid in $NOONE $CANCELER; do
		before=$(total_requests)
		scan --as $uid '{}'
		expect_contains "$(final)" '"error":"org.varlink.service.PermissionDenied"' \
			"uid $uid, who may describe nothing: PermissionDenied"
		[ "$(total_requests)" = "$before" ] && pass "uid $uid: refused before any request" ||
			fail "uid $uid: requests were made"
	done
	expect_contains "$(grep 'op=list-pending' "$T/daemon.log" | grep "uid=$NOONE")" "decision=deny" \
		"the refusal is audited"
else
	log "SKIP part: policy per uid (needs root, setpriv and a python3 other uids can run)"
fi

# --- the client hangs up mid-scan -----------------------------------------------------------------------
# Every DescribeKey held 300 ms: the scan is slow enough to leave mid-way.
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /delay '{"ms":300,"count":100000,"operation":"DescribeKey"}' >/dev/null
before=$(count_op $US DescribeKey)
scan '{"account":"'$A'","region":"'$US'"}' --hangup-after 2
expect_rc 0 "hung up after two keys"
for i in $(seq 1 100); do
	grep -q "the caller hung up" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "the caller hung up" "$T/daemon.log" && pass "the daemon noticed the hang-up" || fail "no hang-up noticed"
sleep 0.5
mid=$(count_op $US DescribeKey)
sleep 2
after=$(count_op $US DescribeKey)
[ "$after" = "$mid" ] && [ $((after - before)) -lt 100 ] &&
	pass "no request after the hang-up ($((after - before)) DescribeKey in all)" ||
	fail "requests went on after the hang-up: $before, $mid, $after"

# --- the client hangs up before anything is sent to it --------------------------------------------------
# The scan's first request (ListAliases) held 3 s, the client gone at once:
# the daemon learns of the close from the socket itself (not from a failed
# write, as there is nothing to write yet) and asks KMS nothing more.
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /delay '{"ms":3000,"count":1,"operation":"ListAliases"}' >/dev/null
hung_before=$(grep -c "the caller hung up" "$T/daemon.log")
keys_before=$(count_op $US ListKeys)
scan '{"account":"'$A'","region":"'$US'"}' --hangup-after 0
expect_rc 0 "hung up right after the call"
for i in $(seq 1 25); do
	[ "$(grep -c "the caller hung up" "$T/daemon.log")" -gt "$hung_before" ] && break
	sleep 0.1
done
[ "$(grep -c "the caller hung up" "$T/daemon.log")" -gt "$hung_before" ] &&
	pass "the close noticed while KMS still held the first request" ||
	fail "the close went unnoticed with nothing to write"
sleep 3.5 # the held ListAliases answers
[ "$(count_op $US ListKeys)" = "$keys_before" ] && pass "no ListKeys after the close" ||
	fail "the scan went on after the close: ListKeys $keys_before -> $(count_op $US ListKeys)"

# --- the scan's deadline ---------------------------------------------------------------------------------
# Still 300 ms a DescribeKey: a 1.5 s scan of A's 2,501 keys cannot finish.
t0=$(now_ms)
scan "{\"account\":\"$A\",\"timeoutMs\":1500}"
t1=$(now_ms)
expect_rc 0 "a scan past its deadline still ends with a final reply"
expect_contains "$(final)" "{\"account\":\"$A\",\"region\":\"$US\",\"error\":\"Timeout\"" \
	"the account and region being scanned: Timeout"
expect_contains "$(final)" "{\"account\":\"$A\",\"region\":\"$EU\",\"error\":\"Timeout\"" \
	"the one not reached: Timeout"
timing_check "[ $((t1 - t0)) -lt 6000 ]" "the deadline ended the scan ($((t1 - t0)) ms for timeoutMs 1500)"

# --- credentials that expire mid-scan ---------------------------------------------------------------------
# D's keys are read with AssumeRole credentials; once the scan is reading
# them (each DescribeKey still held 300 ms), every set issued so far
# expires: KMS answers ExpiredTokenException, the daemon assumes the role
# again and reads those keys again.  Nothing is missed.
base=$(count_op $US DescribeKey)
assumed=$(fake_stat stsAssumeRole)
$PY "$STREAM" "$SOCK" "$METHOD" "{\"account\":\"$D\"}" >"$T/replies" 2>"$T/stream.err" &
spid=$!
for i in $(seq 1 100); do
	[ $(($(count_op $US DescribeKey) - base)) -ge 8 ] && break
	sleep 0.05
done
bash "$FAKE_ADMIN" "${ADMIN[$US]}" PUT /sts/credentials '{"secretAccessKey":"rotated/secret/for-pending","sessionToken":"rotated-token"}' >/dev/null
wait $spid
RC=$? OUT=$(tail -c 2000 "$T/replies") ERR=$(cat "$T/stream.err")
expect_rc 0 "the scan through expired credentials ends"
listed >"$T/got"
grep ":$D:" "$T/expect.root" >"$T/want"
same_set "$T/want" "$T/got" "every pending key of D listed although its credentials expired mid-scan"
expect_contains "$(final)" "{\"account\":\"$D\",\"region\":\"$US\"}" "D's scan: in full, no error"
expired=$(bash "$FAKE_ADMIN" "${ADMIN[$US]}" GET /stats | $PY -c "import json,sys; print(json.load(sys.stdin)['errors'].get('ExpiredTokenException', 0))")
[ "$expired" -gt 0 ] && [ "$(fake_stat stsAssumeRole)" -gt "$assumed" ] &&
	pass "KMS answered ExpiredTokenException $expired times; the role was assumed again" ||
	fail "no expiry happened ($expired ExpiredTokenException, AssumeRole $assumed -> $(fake_stat stsAssumeRole))"

# --- reload and shutdown during a scan; the per-uid limit --------------------------------------------------
scan_bg() { $PY "$STREAM" "$SOCK" "$METHOD" "$@" >"$T/bg.$BGN" 2>&1 & BGPIDS+=($!); BGN=$((BGN + 1)); }
BGN=0 BGPIDS=()
base=$(count_op $US DescribeKey)
scan_bg "{\"account\":\"$A\",\"region\":\"$US\",\"timeoutMs\":120000}"
scan_bg "{\"account\":\"$A\",\"region\":\"$US\",\"timeoutMs\":120000}"
for i in $(seq 1 100); do
	[ $(($(count_op $US DescribeKey) - base)) -ge 16 ] && break
	sleep 0.1
done
scan '{}'
expect_contains "$(final)" '"error":"io.kmscancel.ThrottlingException"' "a third scan of the same uid: Throttling"
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do
	grep -q 'reloaded' "$T/daemon.log" && break
	sleep 0.1
done
sleep 0.5
kill -0 "${BGPIDS[0]}" 2>/dev/null && pass "the scans go on through a reload" || fail "a scan ended at the reload: $(cat "$T/bg.0")"
t0=$(now_ms)
stop_daemon
t1=$(now_ms)
for p in "${BGPIDS[@]}"; do wait "$p"; done
# A scan is only a reading: SIGTERM ends it at once with its final reply
# (what it found stands; the unfinished region reported Interrupted), not
# after DrainTimeoutSec= with an error.
for i in 0 1; do
	tail -n 1 "$T/bg.$i" | grep -q "\"scans\":\[{\"account\":\"$A\",\"region\":\"$US\",\"error\":\"Interrupted\",\"message\":\"kmscanceld stopped while scanning" &&
		pass "scan $i: a final reply at SIGTERM, the region Interrupted" || fail "scan $i at SIGTERM: $(tail -n 1 "$T/bg.$i")"
done
timing_check "[ $((t1 - t0)) -lt 1500 ]" "the daemon stopped without waiting out the drain timeout for the scans"
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /reset >/dev/null

# --- rate limits: the daemon stays within the fake's quotas ---------------------------------------------
# The eu-west-1 fake enforces KMS-like quotas (a full bucket of one
# second's worth); the daemon, at the same rates, must never be throttled,
# and its scan takes at least the time the rates allow.
bash "$FAKE_ADMIN" "${ADMIN[$EU]}" POST /reset >/dev/null
for op in DescribeKey:100 ListAliases:2 ListKeys:2; do
	bash "$FAKE_ADMIN" "${ADMIN[$EU]}" POST /quota "{\"operation\":\"${op%:*}\",\"rps\":${op#*:}}" >/dev/null
done
RATES="DescribeRate=100
ListRate=2" conf
start_daemon
t0=$(now_ms)
scan "{\"account\":\"$A\",\"region\":\"$EU\"}"
t1=$(now_ms)
listed >"$T/got"
grep ":$EU:$A:" "$T/expect.root" >"$T/want"
same_set "$T/want" "$T/got" "rate-limited scan: every key of A in $EU"
throttled=$(bash "$FAKE_ADMIN" "${ADMIN[$EU]}" GET /stats | $PY -c "import json,sys; print(json.load(sys.stdin)['throttled'])")
[ "$throttled" = 0 ] && pass "never throttled at DescribeRate=100, ListRate=2" || fail "$throttled requests throttled"
[ "$(count_op $EU ListAliases)" = 4 ] && pass "ListAliases: 4 pages of 100 (300 aliases and 2 AWS ones)" ||
	fail "ListAliases in $EU: $(count_op $EU ListAliases)"
# 400 DescribeKey at 100/s after a 10-token burst, 4 ListAliases at 2/s.
timing_check "[ $((t1 - t0)) -ge 3500 ]" "the rate limits paced the scan ($((t1 - t0)) ms for 400 keys)"

# --- unlimited, the same scan is throttled by the fake: the check above can fail --------------------------
bash "$FAKE_ADMIN" "${ADMIN[$EU]}" POST /quota '{"operation":"DescribeKey","rps":20}' >/dev/null
scan "{\"account\":\"$A\",\"region\":\"$EU\"}"
throttled=$(bash "$FAKE_ADMIN" "${ADMIN[$EU]}" GET /stats | $PY -c "import json,sys; print(json.load(sys.stdin)['throttled'])")
[ "$throttled" -gt 0 ] && pass "above the fake's quota the fake does throttle ($throttled)" ||
	fail "the fake's quota throttled nothing: the rate check proves nothing"

# --- the fake's new admin calls and paging, against the AWS CLI ------------------------------------------
stop_daemon
RATES='' conf
start_daemon
K1=$(keyid 9001 1) K2=$(keyid 9002 1)
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /keys "{\"Keys\":[{\"KeyId\":\"$K1\",\"KeyState\":\"Enabled\",\"Alias\":\"alias/new-1\"},{\"KeyId\":\"$K2\",\"KeyState\":\"Disabled\"}]}" >"$T/admin.out"
expect_contains "$(cat "$T/admin.out")" '"count":2' "POST /keys creates keys in bulk"
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /schedule "{\"KeyId\":\"$K1\",\"PendingWindowInDays\":7}" >"$T/admin.out"
expect_contains "$(cat "$T/admin.out")" '"KeyState":"PendingDeletion"' "POST /schedule: PendingDeletion"
expect_contains "$(cat "$T/admin.out")" '"PendingWindowInDays":7' "POST /schedule answers the window"
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /schedule "{\"KeyId\":\"$K1\"}" >"$T/admin.out" &&
	fail "scheduling a key pending deletion again succeeded" ||
	expect_contains "$(cat "$T/admin.out")" "KMSInvalidStateException" "scheduling it again: KMSInvalidStateException"
bash "$FAKE_ADMIN" "${ADMIN[$US]}" POST /schedule "{\"KeyId\":\"$K2\",\"PendingWindowInDays\":6}" >/dev/null &&
	fail "PendingWindowInDays=6 accepted" || pass "PendingWindowInDays below 7 refused"
scan "{\"account\":\"$A\",\"region\":\"$US\"}"
grep -q "\"keyId\":\"arn:aws:kms:$US:$A:key/$K1\".*\"aliases\":\[\"alias/new-1\"\]" "$T/replies" &&
	pass "a key scheduled from the admin port is listed, with its alias" || fail "the scheduled key is not listed"
if command -v aws >/dev/null 2>&1; then
	awsc() {
		env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_EC2_METADATA_DISABLED=true \
			AWS_CA_BUNDLE="$T/certs/ca.pem" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
			aws --region $US --endpoint-url "https://127.0.0.1:${PORT[$US]}" --output json kms "$@"
	}
	n=$(awsc list-keys --page-size 1000 --query 'length(Keys)' 2>"$T/aws.err")
	[ "$n" = $((N + 3)) ] && pass "the AWS CLI pages ListKeys to the end: $n keys" ||
		fail "aws kms list-keys: $n keys, expected $((N + 3)): $(cat "$T/aws.err")"
	awsc list-keys --no-paginate --marker not-a-marker >/dev/null 2>"$T/aws.err" &&
		fail "a bad marker was accepted" ||
		expect_contains "$(cat "$T/aws.err")" "InvalidMarkerException" "a marker the fake did not make: InvalidMarkerException"
	awsc list-keys --no-paginate --limit 1001 >/dev/null 2>"$T/aws.err" &&
		fail "Limit 1001 accepted" || expect_contains "$(cat "$T/aws.err")" "ValidationException" "Limit 1001: ValidationException"
	out=$(awsc list-aliases --key-id "$K1" --query 'Aliases[].AliasName' --output text 2>"$T/aws.err")
	[ "$out" = alias/new-1 ] && pass "ListAliases with KeyId: that key's alias" || fail "list-aliases --key-id: '$out' $(cat "$T/aws.err")"
	out=$(awsc describe-key --key-id alias/new-1 --query KeyMetadata.KeyState --output text 2>"$T/aws.err")
	[ "$out" = PendingDeletion ] && pass "DescribeKey by alias" || fail "describe-key by alias: '$out' $(cat "$T/aws.err")"
else
	log "SKIP part: no AWS CLI to check the fake's paging with"
fi

stop_daemon
exit 0
