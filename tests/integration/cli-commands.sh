#!/bin/bash
# kmscancel, every command and option against the real daemon and the fake
# KMS: text and JSON output (each JSON line parsed), key lists from
# arguments, stdin and files, --enable, --dry-run (which must send no
# CancelKeyDeletion), --quiet, --timeout, exit codes, help, colour and the
# progress line (only on a pseudo-terminal).
. "$top_srcdir/tests/integration/lib.sh"

PTY_RUN="$top_srcdir/tests/integration/pty-run.py"
ARN1="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1"
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab
MRK=mrk-1234abcd12ab34cd56ef1234567890ab
MISSING=99999999-9999-9999-9999-999999999999

# json_check FILE PYTHON-EXPR: every line of FILE is a JSON object; the
# expression (over `lines`, a list of dicts) must be true.
json_check() {
	python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert all(isinstance(o, dict) for o in lines), "not all objects"
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$1" "$2" 2>"$T/json.err"
}
expect_json() {
	if json_check "$T/out" "$1"; then pass "$2"; else fail "$2: $1 on: $(cat "$T/out") $(cat "$T/json.err")"; fi
}

# The fake's keys: these, and 150 more for the batch below.
for k in "$KEY1" "$KEY2" "$KEY3" "$MRK"; do echo "$k PendingDeletion"; done >"$T/keys"
: >"$T/many.txt"
for i in $(seq 1 150); do
	k=$(printf '%08x-0000-4000-8000-%012x' "$i" "$i")
	echo "$k PendingDeletion" >>"$T/keys"
	echo "$k" >>"$T/many.txt"
done
start_fake
# Room for the batch at 100 cancels a second (AWS's default quota is 5).
printf '[KMS]\nRetryBase=50ms\nCancelRate=100\n' >"$T/kmscanceld.conf"
start_daemon

# --- help and version, for every command -----------------------------------
for cmd in "" cancel describe status; do
	run_cli $cmd --help
	expect_rc 0 "${cmd:-kmscancel} --help"
	expect_contains "$OUT" "Usage: kmscancel" "${cmd:-kmscancel} --help has a usage line"
	for opt in --socket --json --quiet --timeout --help --version -V; do
		expect_contains "$OUT" "$opt" "${cmd:-kmscancel} --help lists $opt"
	done
done
run_cli cancel --help
for opt in --enable --dry-run --file; do expect_contains "$OUT" "$opt" "cancel --help lists $opt"; done
run_cli -V
expect_rc 0 "-V"
expect_contains "$OUT" "kmscancel " "-V prints the version"
run_cli status --version
expect_rc 0 "status --version"
run_cli describe --frobnicate
expect_rc 2 "unknown option"
expect_contains "$ERR" "kmscancel --help" "an unknown option points to --help"
run_cli status extra
expect_rc 2 "status takes no arguments"
run_cli --timeout 0 status
expect_rc 2 "--timeout 0 is a usage error"
run_cli --timeout soon status
expect_rc 2 "--timeout needs a number"

# --- describe ----------------------------------------------------------------
run_cli describe "$KEY1" "$MRK"
expect_rc 0 "describe two keys"
expect_contains "$OUT" "$ARN1  PendingDeletion  (disabled, deletion on 20" "describe: ARN, state, enabled, date"
expect_contains "$OUT" "single-Region" "describe says single-Region"
expect_contains "$OUT" "key/$MRK  PendingDeletion" "describe shows the multi-Region key"
expect_contains "$OUT" "multi-Region)" "describe says multi-Region"
[ "$(printf '%s\n' "$OUT" | head -n1 | grep -c "$KEY1")" = 1 ] && pass "describe keeps the order of the keys" ||
	fail "describe order: $OUT"
run_cli --json describe "$KEY1" "$MRK"
expect_json 'len(lines) == 2 and all(o["ok"] is True for o in lines)' "describe --json: two objects, ok"
expect_json 'lines[0]["keyId"] == "'"$ARN1"'" and lines[0]["keyState"] == "PendingDeletion"' "describe --json: keyId is the ARN, keyState"
expect_json 'lines[0]["enabled"] is False and lines[0]["deletionDate"].endswith("Z") and lines[0]["requestId"]' \
	"describe --json: enabled, deletionDate, requestId"
expect_json 'lines[1]["multiRegion"] is True and lines[0]["multiRegion"] is False' "describe --json: multiRegion"
run_cli --json describe "$MISSING"
expect_rc 1 "describe of an unknown key"
expect_json 'lines[0] == {**lines[0], "keyId": "'"$MISSING"'", "ok": False, "error": "NotFoundException"} and lines[0]["message"]' \
	"describe --json failure: keyId as given, ok false, error, message"

# --- dry run: checks, changes nothing, sends no CancelKeyDeletion ----------
cancels=$(fake_stat CancelKeyDeletion)
run_cli cancel --dry-run "$KEY1" "$KEY2"
expect_rc 0 "dry run of two keys pending deletion"
expect_contains "$OUT" "would cancel  $ARN1  (PendingDeletion, deletion on 20" "dry run: state and date"
expect_contains "$OUT" "the local policy allows it" "dry run: says the policy allows it"
run_cli --json cancel --dry-run --enable "$KEY1"
expect_rc 0 "dry run with --enable"
expect_json 'lines[0]["dryRun"] is True and lines[0]["ok"] is True and lines[0]["keyState"] == "PendingDeletion" and "deletionDate" in lines[0]' \
	"dry run --json: dryRun, ok, keyState, deletionDate"
set_key "$KEY3" Enabled
run_cli --json cancel --dry-run "$KEY3" "$MISSING"
expect_rc 1 "dry run of keys the cancel would fail on"
expect_json 'lines[0]["error"] == "KMSInvalidStateException" and "Enabled" in lines[0]["message"] and lines[0]["dryRun"] is True' \
	"dry run: a key not pending deletion fails as the cancel would"
expect_json 'lines[1]["error"] == "NotFoundException"' "dry run: an unknown key fails as the cancel would"
[ "$(fake_stat CancelKeyDeletion)" = "$cancels" ] && pass "dry run sent no CancelKeyDeletion" ||
	fail "dry run sent $(($(fake_stat CancelKeyDeletion) - cancels)) CancelKeyDeletion"
[ "$(key_state "$KEY1")" = PendingDeletion ] && [ "$(key_state "$KEY3")" = Enabled ] &&
	pass "dry run changed no key" || fail "dry run changed a key"
set_key "$KEY3" PendingDeletion

# --- cancel: arguments, stdin, files; text, JSON, quiet ----------------------
run_cli cancel "$KEY1" "$KEY2"
expect_rc 0 "cancel two keys"
expect_contains "$OUT" "cancelled  $ARN1  (Disabled, request " "cancel text: ARN, state, request ID"
[ "$(printf '%s\n' "$OUT" | grep -c '^cancelled ')" = 2 ] && pass "one line per key" || fail "lines: $OUT"
for k in "$KEY1" "$KEY2"; do set_key "$k" PendingDeletion; done

printf '# keys to rescue\n\n  %s  \n%s # trailing comment\n\t\n' "$KEY1" "$KEY2" >"$T/keys.txt"
kmscancel --json cancel - <"$T/keys.txt" >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0 "cancel - reads stdin"
expect_json 'len(lines) == 2 and [o["keyId"] for o in lines] == ["'"$ARN1"'", "'"${ARN1%/*}/$KEY2"'"]' \
	"stdin: comments, blanks and white space skipped, order kept"
expect_json 'all(set(o) >= {"keyId", "ok", "keyState", "requestId", "attempts"} and o["keyState"] == "Disabled" and isinstance(o["attempts"], int) for o in lines)' \
	"cancel --json: the documented fields"

for k in "$KEY1" "$KEY2"; do set_key "$k" PendingDeletion; done
printf '%s\n' "$KEY3" >"$T/more.txt"
run_cli --json cancel "$KEY1" --file "$T/keys.txt" --file "$T/more.txt"
expect_rc 0 "arguments and two files"
expect_json 'len(lines) == 4 and [o["keyId"][-36:] for o in lines] == ["'"$KEY1"'", "'"$KEY1"'", "'"$KEY2"'", "'"$KEY3"'"]' \
	"arguments first, then each file, in order"
# Pipelined, the same key twice is one cancel in the daemon (coalesced).
expect_json 'lines[0]["requestId"] == lines[1]["requestId"]' "the repeated key shares the first one's answer"
run_cli cancel --file "$T/no-such-file"
expect_rc 2 "--file of a missing file"
expect_contains "$ERR" "no-such-file" "the missing file is named"
printf '# nothing\n\n' >"$T/empty.txt"
run_cli cancel --file "$T/empty.txt"
expect_rc 2 "a file without keys"

for k in "$KEY1" "$KEY2"; do set_key "$k" PendingDeletion; done
run_cli --quiet cancel "$KEY1" "$MISSING" "$KEY2"
expect_rc 1 "--quiet with one failure"
[ -z "$OUT" ] && pass "--quiet prints nothing for successes" || fail "--quiet printed: $OUT"
expect_contains "$ERR" "$MISSING: NotFoundException" "--quiet still reports the failure"
[ "$(key_state "$KEY2")" = Disabled ] && pass "--quiet still did the work" || fail "KEY2 is $(key_state "$KEY2")"
set_key "$KEY1" PendingDeletion
run_cli -q --json cancel "$KEY1" "$MISSING"
expect_json 'len(lines) == 1 and lines[0]["keyId"] == "'"$MISSING"'"' "--quiet --json prints only the failures"
run_cli -q status
expect_rc 0 "status --quiet"
[ -z "$OUT$ERR" ] && pass "status --quiet prints nothing" || fail "status --quiet printed: $OUT $ERR"

# --enable
set_key "$KEY1" PendingDeletion
run_cli --json cancel --enable "$KEY1"
expect_rc 0 "cancel --enable"
expect_json 'lines[0]["keyState"] == "Enabled"' "--enable reports Enabled"
[ "$(key_state "$KEY1")" = Enabled ] && pass "--enable left the key Enabled" || fail "KEY1 is $(key_state "$KEY1")"

# Exit codes of mixed batches: invalid key IDs win (2) over failures (1).
set_key "$KEY1" PendingDeletion
run_cli cancel "$KEY1" alias/foo.bar "$MISSING"
expect_rc 2 "a batch with an invalid key ID"
expect_contains "$ERR" "alias/foo.bar: InvalidKeyId" "the invalid key is named"
expect_contains "$OUT" "cancelled  $ARN1" "the valid key was still cancelled"

# --- status ------------------------------------------------------------------
run_cli status
expect_rc 0 "status"
expect_contains "$OUT" "kmscanceld " "status names the daemon"
run_cli --json status
expect_json 'len(lines) == 1 and "version" in lines[0] and "uptimeSec" in lines[0]' "status --json"

# --- --timeout: sent to the daemon, which answers Timeout ---------------------
set_key "$KEY1" PendingDeletion
fake POST /delay '{"ms":3000,"count":1}' >/dev/null
start=$(date +%s%N)
run_cli --json --timeout 0.5 describe "$KEY1"
ms=$((($(date +%s%N) - start) / 1000000))
expect_rc 1 "describe past its --timeout"
expect_json 'lines[0]["error"] == "Timeout"' "describe --timeout: Timeout"
case "$OUT" in
*"no answer from kmscanceld"*) fail "describe --timeout: the library gave up, the daemon did not answer Timeout" ;;
*) pass "describe --timeout: the daemon's own Timeout answer (timeoutMs was sent)" ;;
esac
[ "$ms" -lt 2500 ] && pass "describe --timeout 0.5 gave up in ${ms} ms" || fail "describe --timeout took ${ms} ms"
fake POST /reset >/dev/null

# --- a big batch on a terminal: one connection, pipelined, progress line ----
# 150 keys at the daemon's CancelRate=100 take about 1.5 s: long enough for
# the progress line to move.  JSON goes to a file, stderr is the terminal.
clients=$(kmscancel --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["connectionsTotal"])')
start=$(date +%s%N)
python3 "$PTY_RUN" --stdout "$T/out" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" --json cancel "$MISSING" --file "$T/many.txt"
RC=$?
ms=$((($(date +%s%N) - start) / 1000000))
expect_rc 1 "151 keys, one unknown"
expect_json 'len(lines) == 151 and lines[0]["ok"] is False and all(o["ok"] and o["keyState"] == "Disabled" for o in lines[1:])' \
	"151 keys: the unknown one failed, 150 cancelled, in order"
now=$(kmscancel --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["connectionsTotal"])')
# +1 for the batch, +1 for the status call that reads the counter.
[ "$((now - clients))" -eq 2 ] && pass "151 keys over one connection (${ms} ms at CancelRate=100)" ||
	fail "151 keys used $((now - clients - 1)) connections"
progress=$(tr '\r' '\n' <"$T/pty.txt")
expect_contains "$progress" "/151 done" "progress line on a terminal: done/total"
expect_contains "$progress" ", 1 failed" "progress line counts failures"
expect_contains "$progress" "/s, ETA " "progress line shows the rate and the ETA"
expect_contains "$(cat "$T/pty.txt")" $'\r\033[K' "the progress line is redrawn in place"
last=$(tr '\r' '\n' <"$T/pty.txt" | grep -c 'done' || true)
[ "$last" -ge 5 ] && pass "progress redrawn $last times" || fail "progress drawn $last times"
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(0 if d.rfind(b"done") < d.rfind(b"\r\x1b[K") else 1)' "$T/pty.txt" &&
	pass "the progress line is cleared at the end" || fail "progress left on screen: $(tail -c 80 "$T/pty.txt" | cat -A)"

# On a pipe: never.
run_cli describe "$KEY1" "$KEY2" "$KEY3"
case "$ERR" in
*$'\r'* | *done*) fail "progress on a pipe: $ERR" ;;
*) pass "no progress line on a pipe" ;;
esac

# --- colours on a terminal; NO_COLOR -------------------------------------------
for k in "$KEY1" "$KEY2"; do set_key "$k" PendingDeletion; done
python3 "$PTY_RUN" --stdout "$T/pty.out" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" cancel "$KEY1" "$MISSING"
RC=$?
expect_rc 1 "a batch on a terminal with an unknown key"
expect_contains "$(cat "$T/pty.txt")" $'\033[1;31mNotFoundException\033[0m' "the error name is red on a terminal"
[ "$(grep -c $'\033' "$T/pty.out")" = 0 ] && pass "no colour on stdout to a file" || fail "colour on a file: $(cat -A "$T/pty.out")"
python3 "$PTY_RUN" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" cancel "$KEY2"
expect_contains "$(cat "$T/pty.txt")" $'\033[32mcancelled\033[0m' "success in green on a terminal"
[ "$(grep -c ' done' "$T/pty.txt")" = 0 ] && pass "no progress line for a single key" || fail "progress for one key"
for k in "$KEY1" "$KEY2"; do set_key "$k" PendingDeletion; done
NO_COLOR=1 python3 "$PTY_RUN" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" cancel "$KEY2" "$MISSING"
[ "$(grep -c $'\033\\[[0-9;]*m' "$T/pty.txt")" = 0 ] && pass "NO_COLOR: no colours on a terminal" ||
	fail "NO_COLOR ignored: $(cat -A "$T/pty.txt")"
python3 "$PTY_RUN" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" --json describe "$KEY1"
[ "$(grep -c $'\033\\[[0-9;]*m' "$T/pty.txt")" = 0 ] && pass "--json: no colours on a terminal" || fail "--json coloured"
python3 "$PTY_RUN" "$T/pty.txt" "$KMSCANCEL" --socket "$SOCK" describe "$KEY1"
expect_contains "$(cat "$T/pty.txt")" $'\033[33mPendingDeletion\033[0m' "describe: pending deletion in yellow on a terminal"

# --- the daemon gone: 69 and what to do ---------------------------------------
stop_daemon
run_cli cancel "$KEY1" "$KEY2"
expect_rc 69 "daemon gone"
expect_contains "$ERR" "cannot reach kmscanceld at $SOCK" "the error names the socket"
expect_contains "$ERR" "is kmscanceld.socket running?" "the error says what to check"
[ "$(printf '%s\n' "$ERR" | grep -c 'cannot reach')" = 1 ] && pass "said once for the whole batch" || fail "said per key: $ERR"
run_cli status
expect_rc 69 "status without a daemon"
