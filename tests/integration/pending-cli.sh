#!/bin/bash
# kmscancel pending and libkmscancel's listing against the real daemon and
# the fake KMS: the table sorted by deletion date with the time left beside
# each date, aliases and descriptions; --json lines with the documented
# fields first; --ids piped into 'kmscancel cancel -' rescues them all; a
# region whose scan fails is reported on stderr (exit 1) while the others
# are listed; usage errors (exit 2) and an unreachable daemon (exit 69); the
# policy's filter as other uids (setpriv); and the CLI killed mid-scan hangs
# up, which stops the daemon's requests.
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
A=$TEST_ACCOUNT US=us-east-1 EU=eu-west-1
ARN() { printf 'arn:aws:kms:%s:%s:key/%s' "$US" "$A" "$1"; }
K9=9234abcd-12ab-34cd-56ef-1234567890ab  # scheduled in 9 days, alias and description
K12=a234abcd-12ab-34cd-56ef-1234567890ab # scheduled in 12 days, alias
K30=b234abcd-12ab-34cd-56ef-1234567890ab # scheduled in 30 days
KEN=c234abcd-12ab-34cd-56ef-1234567890ab # Enabled: never listed
# KEY1 (lib.sh) is PendingDeletion from the keys file: 7 days.
# 100 Enabled keys more, so that a scan takes long enough to leave it.
{
	printf '%s PendingDeletion\n' "$KEY1"
	for i in $(seq 1 100); do printf '%08x-1111-4abc-8def-%012x Enabled\n' "$i" "$i"; done
} >"$T/keys"
start_fake
fake PUT "/keys/$K9" '{"KeyState":"Enabled","Alias":"alias/cli-nine","Description":"payments database"}' >/dev/null ||
	die "key 9"
LONG="a description far longer than the room a terminal of 200 columns leaves for it, whatever it says"
fake PUT "/keys/$K12" "{\"KeyState\":\"Enabled\",\"Alias\":\"alias/cli-twelve\",\"Description\":\"$LONG\"}" >/dev/null ||
	die "key 12"
fake PUT "/keys/$K30" '{"KeyState":"Disabled"}' >/dev/null || die "key 30"
fake PUT "/keys/$KEN" '{"KeyState":"Enabled"}' >/dev/null || die "key enabled"
for kd in "$K9 9" "$K12 12" "$K30 30"; do
	set -- $kd
	fake POST /schedule "{\"KeyId\":\"$1\",\"PendingWindowInDays\":$2}" >/dev/null || die "schedule $1"
done
ORDER="$(ARN $KEY1) $(ARN $K9) $(ARN $K12) $(ARN $K30)"

# eu-west-1 goes to a closed port: its scan fails, us-east-1's does not.
connect_to="kms.$US.amazonaws.com:443=127.0.0.1:$FAKE_PORT,kms.$EU.amazonaws.com:443=127.0.0.1:9"
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "${DAEMON_WRAPPER:-}")
PRODU=4261 NOONE=4262
chmod 0711 "$T"
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[AWS]
Account=$A
Regions=$US $EU
[KMS]
RetryBase=20ms
[Policy]
Allow=user:$PRODU describe alias/cli-*
CONF
start_daemon

# in_days DATE: whole days from now until DATE (RFC 3339), as "in Nd Hh" counts them.
in_days() { python3 -c 'import sys, time, calendar; print(int((calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")) - time.time()) // 86400))' "$1"; }

# --- the table ----------------------------------------------------------------------------------------
run_cli pending
expect_rc 1 "pending: eu-west-1 failed, so exit 1"
expect_contains "$ERR" "kmscancel: $A $EU: EndpointUnavailable" "the failed region on stderr, by account and region"
case "$OUT" in *"$EU"*) fail "the failed region has keys in the table: $OUT" ;; *) pass "no key of the failed region" ;; esac
head -n 1 "$T/out" | grep -q '^KEY ARN  *STATE  *DELETION DATE  *ACCOUNT  *REGION  *ALIASES / DESCRIPTION$' &&
	pass "the table's header" || fail "header: $(head -n 1 "$T/out")"
got=$(sed 1d "$T/out" | awk '{ print $1 }' | tr '\n' ' ')
[ "$got" = "$ORDER " ] && pass "four keys, sorted by deletion date" || fail "order: $got, expected $ORDER"
case "$OUT" in *"$KEN"*) fail "an Enabled key is listed" ;; *) pass "keys not pending deletion are not listed" ;; esac
for k in "$KEY1" "$K9" "$K12" "$K30"; do
	line=$(grep -- "$k" "$T/out")
	date=$(printf '%s\n' "$line" | grep -o '20[0-9-]*T[0-9:]*Z')
	d=$(in_days "$date")
	case "$line" in
	*"PendingDeletion  $date (in ${d}d "[0-9]*"h)"*"  $A  $US"*) pass "$k: its date, 'in ${d}d …h' beside it, account, region" ;;
	*) fail "$k: '$line' (expected $date and in ${d}d)" ;;
	esac
done
expect_contains "$(grep -- "$K9" "$T/out")" "alias/cli-nine — payments database" "aliases, then the description"
expect_contains "$(grep -- "$K12" "$T/out")" "alias/cli-twelve — $LONG" "not on a terminal: nothing cut"
grep -- "$K30" "$T/out" | grep -q "  $US *\$" && pass "no alias, no description: an empty cell" ||
	fail "the last cell of a key without names: $(grep -- "$K30" "$T/out" | od -c | tail -n 3)"

# On a terminal of 200 columns the last column is cut to fit, with "…".
python3 "$top_srcdir/tests/integration/pty-run.py" "$T/tty.out" sh -c 'stty cols 200 rows 50 <&2; exec "$@"' sh \
	${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" pending --region $US >/dev/null 2>&1
sed -e 's/\x1b\[[0-9;]*[mK]//g' -e 's/\r$//' "$T/tty.out" | grep -v '^kmscancel:' >"$T/tty.txt"
long=$(python3 -c 'import sys; print(max(len(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")))' "$T/tty.txt")
[ "$long" -le 200 ] && pass "on a terminal of 200 columns no line is longer ($long)" || fail "a line of $long columns"
grep -- "$K12" "$T/tty.txt" | grep -q "alias/cli-twelve — a description.*…$" && pass "the long cell cut with …" ||
	fail "on a terminal: $(grep -- "$K12" "$T/tty.txt")"
grep -- "$K9" "$T/tty.txt" | grep -q "alias/cli-nine — payments database *$" && pass "a short cell left whole" ||
	fail "on a terminal: $(grep -- "$K9" "$T/tty.txt")"

# --- --json, --ids, and the rescue they allow --------------------------------------------------------
run_cli --json pending --region $US
expect_rc 0 "--json pending --region $US: only the region that works"
[ "$(wc -l <"$T/out")" = 4 ] && pass "--json: one line per key" || fail "--json: $(cat "$T/out")"
first=$(head -n 1 "$T/out")
case "$first" in
"{\"keyId\": \"$(ARN $KEY1)\", \"keyState\": \"PendingDeletion\", \"deletionDate\": \"20"*"Z\", \"account\": \"$A\", \"region\": \"$US\""*)
	pass "--json: keyId, keyState, deletionDate, account, region first" ;;
*) fail "--json line: $first" ;;
esac
expect_contains "$(grep -- "$K9" "$T/out")" '"description": "payments database", "aliases": ["alias/cli-nine"]' \
	"--json: description and aliases"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/out" && pass "--json: valid JSON lines" ||
	fail "--json: not JSON"
run_cli pending --ids --account $A --region $US
expect_rc 0 "--ids"
[ "$(tr '\n' ' ' <"$T/out")" = "$ORDER " ] && pass "--ids: the key ARNs alone, in deletion order" ||
	fail "--ids: $(cat "$T/out")"
run_cli pending --ids --json
expect_rc 2 "--ids with --json: usage error"
run_cli pending --account 12345
expect_rc 2 "--account that is not 12 digits: usage error"
run_cli pending --region ap-south-1
expect_rc 1 "a region kmscanceld does not scan: the daemon's refusal"
expect_contains "$ERR" "region" "... naming the region"
run_cli pending extra
expect_rc 2 "pending takes no arguments"

${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" pending --ids --region $US 2>"$T/ids.err" |
	${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" cancel - >"$T/rescue.out" 2>"$T/rescue.err"
RC=$?
OUT=$(cat "$T/rescue.out") ERR=$(cat "$T/rescue.err")
expect_rc 0 "pending --ids | cancel -"
[ "$(grep -c '^cancelled ' "$T/rescue.out")" = 4 ] && pass "all four rescued" || fail "rescue: $OUT $ERR"
for k in "$KEY1" "$K9" "$K12" "$K30"; do
	[ "$(key_state "$k")" = Disabled ] || fail "$k is $(key_state "$k") after the rescue"
done
run_cli pending --region $US
expect_rc 0 "nothing pending any more"
expect_contains "$OUT" "No key is pending deletion." "... and it says so"
for kd in "$K9 9" "$K12 12" "$KEY1 7"; do
	set -- $kd
	fake POST /schedule "{\"KeyId\":\"$1\",\"PendingWindowInDays\":$2}" >/dev/null || die "schedule $1"
done

# --- the policy, as other uids --------------------------------------------------------------------------
CLI=("$KMSCANCEL")
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	log "SKIP part: the policy as other uids (needs root and setpriv)"
	CLI=()
elif ! setpriv --reuid=$PRODU --regid=$PRODU --clear-groups -- "$KMSCANCEL" --version >/dev/null 2>&1; then
	mkdir -m 0755 "$T/bin"
	cp "$top_builddir/.libs/kmscancel" "$top_builddir"/.libs/libkmscancel.so* "$T/bin/" 2>/dev/null
	chmod -R a+rX "$T/bin"
	CLI=(env LD_LIBRARY_PATH="$T/bin" "$T/bin/kmscancel")
	setpriv --reuid=$PRODU --regid=$PRODU --clear-groups -- "${CLI[@]}" --version >/dev/null 2>&1 || CLI=()
fi
as() {
	local uid=$1
	shift
	# Not under CLI_WRAPPER: its report could not be written into $T.
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "${CLI[@]}" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out") ERR=$(cat "$T/err")
}
if [ ${#CLI[@]} -gt 0 ]; then
	as $PRODU pending --ids --region $US
	expect_rc 0 "uid $PRODU (describe alias/cli-*)"
	[ "$(tr '\n' ' ' <"$T/out")" = "$(ARN $K9) $(ARN $K12) " ] && pass "uid $PRODU sees the aliased keys only" ||
		fail "uid $PRODU sees: $OUT"
	as $NOONE pending
	expect_rc 1 "uid $NOONE, who may describe nothing"
	expect_contains "$ERR" "does not allow this (the policy lets you describe no key)" "... is told the policy says no"
else
	log "SKIP part: another uid cannot run the CLI from $top_builddir"
fi

# --- the CLI killed mid-scan hangs up, and the scan stops ---------------------------------------------
# Every fifth key pending deletion, so that the CLI is killed while keys
# are streaming to it (pending.sh checks a close before any key too).
python3 -c 'import json; print(json.dumps({"Keys": [{"KeyId": "%08x-1111-4abc-8def-%012x" % (i, i), "KeyState": "PendingDeletion"} for i in range(5, 101, 5)]}))' >"$T/bulk.json"
fake POST /keys "$(cat "$T/bulk.json")" >/dev/null || die "bulk keys"
fake POST /delay '{"ms":300,"count":100000,"operation":"DescribeKey"}' >/dev/null
describes() { fake GET /stats | python3 -c "import json,sys; print(json.load(sys.stdin)['operations']['DescribeKey'])"; }
before=$(describes)
(exec ${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" pending --region $US >"$T/killed.out" 2>&1) &
cli=$!
for i in $(seq 1 300); do
	[ $(($(describes) - before)) -ge 8 ] && break
	sleep 0.05
done
kill -TERM "$cli"
wait "$cli"
for i in $(seq 1 200); do
	grep -q "the caller hung up" "$T/daemon.log" && break
	sleep 0.05
done
grep -q "the caller hung up" "$T/daemon.log" && pass "the daemon saw the CLI hang up" ||
	fail "no hang-up seen: $(grep ListPendingDeletions "$T/daemon.log" | tail -n 3; cat "$T/killed.out")"
sleep 0.7 # the requests in flight at the hang-up (300 ms each) finish
mid=$(describes)
sleep 1.5
after=$(describes)
[ "$after" = "$mid" ] && [ $((after - before)) -lt 104 ] &&
	pass "no DescribeKey after the hang-up ($((after - before)) of 104)" ||
	fail "the scan went on: $before, $mid, $after"
fake POST /reset >/dev/null

# --- the daemon away -----------------------------------------------------------------------------------
stop_daemon
run_cli pending
expect_rc 69 "no daemon: exit 69"
expect_contains "$ERR" "cannot reach kmscanceld" "... saying why"
exit 0
