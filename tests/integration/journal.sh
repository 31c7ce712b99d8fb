#!/bin/bash
# Under systemd the audit trail goes to the journal as structured entries:
# MESSAGE_ID per kind of record, one KMSCANCEL_* field per fact, nothing a
# caller can forge, and nothing of it on stderr.  The daemon runs in a
# private mount namespace where /run/systemd/journal is a directory of the
# test's, with tests/fakes/fake-journal.py reading the native protocol on
# its socket, and $JOURNAL_STREAM says its stderr is the journal (as
# systemd.exec(5) sets it).
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
case "$T" in /run | /run/*) log "SKIP: the test directory is under /run, which the namespace hides"; exit 77 ;; esac
unshare --mount --propagation private mount -t tmpfs tmpfs /run 2>/dev/null ||
	{ log "SKIP: cannot make a private mount namespace here (needs root and unshare)"; exit 77; }

JDIR="$T/journal"
mkdir -p "$JDIR"
python3 "$top_srcdir/tests/fakes/fake-journal.py" --socket "$JDIR/socket" --out "$T/journal.jsonl" &
JOURNAL_PID=$!
at_cleanup 'kill "$JOURNAL_PID" 2>/dev/null; wait "$JOURNAL_PID" 2>/dev/null'
for i in $(seq 1 200); do [ -S "$JDIR/socket" ] && break; sleep 0.05; done
[ -S "$JDIR/socket" ] || die "the fake journal did not start"
: >"$T/journal.jsonl"

# The namespace's /run is a fresh tmpfs (the host's is untouched), with the
# fake journal's directory where sd-journal looks for its socket.
cat >"$T/in-ns" <<EOF
#!/bin/sh
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
mount --bind "$JDIR" /run/systemd/journal
exec "\$@"
EOF
chmod +x "$T/in-ns"
DAEMON_WRAPPER="unshare --mount --propagation private $T/in-ns ${DAEMON_WRAPPER:-}"

# $JOURNAL_STREAM names the very file the daemon's stderr is (start_daemon
# truncates it, which keeps its inode).
: >"$T/daemon.log"
DAEMON_ENV=("JOURNAL_STREAM=$(stat -c '%d:%i' "$T/daemon.log")")

# entries FIELD=VALUE...: the journal entries that have all these fields, as JSON lines.
entries() {
	python3 - "$T/journal.jsonl" "$@" <<'EOF'
import json, sys
want = [a.split("=", 1) for a in sys.argv[2:]]
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    if all(e.get(k) == v for k, v in want):
        print(json.dumps(e, sort_keys=True))
EOF
}
# wait_entry FIELD=VALUE...: waits up to ~10 s for such an entry.
wait_entry() {
	local i
	for i in $(seq 1 200); do
		[ -n "$(entries "$@")" ] && return 0
		sleep 0.05
	done
	return 1
}
field_of() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

me=$(id -u)
start_fake
cat >"$T/kmscanceld.conf" <<CONF
[Policy]
AllowRoot=no
Allow=user:$me cancel $KEY1
[KMS]
RetryBase=50ms
CONF
start_daemon

wait_entry SYSLOG_IDENTIFIER=kmscanceld && pass "the daemon's own log reaches the journal" ||
	fail "no journal entry from the daemon: $(cat "$T/journal.jsonl")"
e=$(entries SYSLOG_IDENTIFIER=kmscanceld | head -1)
[ -n "$(field_of "$e" CODE_FUNC)" ] && [ -n "$(field_of "$e" PRIORITY)" ] &&
	pass "log entries carry PRIORITY and CODE_FUNC" || fail "log entry without PRIORITY/CODE_FUNC: $e"

# An allowed cancel: a decision and an outcome record.
run_cli cancel "$KEY1"
expect_rc 0 "cancel with the journal as the log"
wait_entry MESSAGE_ID=f0a83f6538504e388266bafb492057e3 KMSCANCEL_KEY="$KEY1" &&
	pass "the allow decision is a journal entry with its MESSAGE_ID" || fail "no allow record: $(cat "$T/journal.jsonl")"
e=$(entries MESSAGE_ID=f0a83f6538504e388266bafb492057e3 | head -1)
[ "$(field_of "$e" KMSCANCEL_CALLER_UID)" = "$me" ] && [ "$(field_of "$e" KMSCANCEL_DECISION)" = allow ] &&
	[ "$(field_of "$e" KMSCANCEL_OPERATION)" = cancel ] && [ "$(field_of "$e" PRIORITY)" = 6 ] &&
	[ -n "$(field_of "$e" KMSCANCEL_RULE)" ] && [ -n "$(field_of "$e" KMSCANCEL_CALLER_PID)" ] &&
	pass "the decision's fields: uid, decision, operation, rule, pid, PRIORITY=6" || fail "decision fields: $e"
wait_entry MESSAGE_ID=e02ecd26457c43098243b7976cac6b9c KMSCANCEL_KEY="$KEY1" || fail "no success record"
e=$(entries MESSAGE_ID=e02ecd26457c43098243b7976cac6b9c | head -1)
[ "$(field_of "$e" KMSCANCEL_OUTCOME)" = success ] && [ "$(field_of "$e" KMSCANCEL_KEY_STATE)" = Disabled ] &&
	[ "$(field_of "$e" KMSCANCEL_ATTEMPTS)" = 1 ] && [ -n "$(field_of "$e" KMSCANCEL_AWS_REQUEST_ID)" ] &&
	pass "the outcome's fields: outcome, key state, attempts, request ID" || fail "outcome fields: $e"
expect_contains "$(field_of "$e" MESSAGE)" "cancel of $KEY1 for uid $me succeeded: Disabled" "MESSAGE is a sentence"

# A refusal: the deny decision, and no request went out.
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
set_key "$KEY2" PendingDeletion
run_cli cancel "$KEY2"
expect_rc 1 "a key the policy does not allow"
wait_entry MESSAGE_ID=6be00c62915e4f488368008dccc85bfa KMSCANCEL_KEY="$KEY2" KMSCANCEL_DECISION=deny &&
	pass "the deny decision is a journal entry" || fail "no deny record"

# A caller whose process name holds a newline cannot forge a field.
python3 - "$SOCK" "$KEY1" <<'EOF' || fail "the hostile client failed"
import ctypes, json, socket, sys
ctypes.CDLL(None).prctl(15, b"x\nKMSCANCEL_X=1", 0, 0, 0)  # PR_SET_NAME
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.kmscancel.CancelKeyDeletion",
                      "parameters": {"keyId": sys.argv[2]}}).encode() + b"\0")
s.recv(65536)
EOF
wait_entry KMSCANCEL_CALLER_COMM='x?KMSCANCEL_X=1' MESSAGE_ID=f0a83f6538504e388266bafb492057e3 &&
	pass "a newline in the caller's name becomes '?', as ps shows it" ||
	fail "hostile comm: $(entries MESSAGE_ID=f0a83f6538504e388266bafb492057e3)"
[ -z "$(entries KMSCANCEL_X=1)" ] && pass "no forged field" || fail "a caller forged a journal field"

# The guard ([Guard]): a guarded key scheduled for deletion is rescued,
# and the rescue is a crit record with its own MESSAGE_ID and every fact;
# a guarded key that cannot be read is a warning record.
stop_daemon
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab KEY9=9234abcd-12ab-34cd-56ef-1234567890ab
ARN3="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY3" ARN9="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY9"
set_key "$KEY3" PendingDeletion
cat >>"$T/kmscanceld.conf" <<CONF
[Guard]
Keys=$ARN3 $ARN9
Interval=1
CONF
start_daemon
wait_entry MESSAGE_ID=d79c89f272284a6c8d895e32571cdd8e KMSCANCEL_KEY="$ARN3" &&
	pass "a guard rescue is a journal entry with its MESSAGE_ID" || fail "no rescue record: $(cat "$T/journal.jsonl")"
e=$(entries MESSAGE_ID=d79c89f272284a6c8d895e32571cdd8e | head -1)
[ "$(field_of "$e" PRIORITY)" = 2 ] && [ "$(field_of "$e" KMSCANCEL_KEY_ARN)" = "$ARN3" ] &&
	[ "$(field_of "$e" KMSCANCEL_ACCOUNT)" = "$TEST_ACCOUNT" ] && [ "$(field_of "$e" KMSCANCEL_REGION)" = "$TEST_REGION" ] &&
	[ "$(field_of "$e" KMSCANCEL_KEY_STATE)" = Disabled ] &&
	field_of "$e" KMSCANCEL_DELETION_DATE | grep -q '^20[0-9-]*T[0-9:]*Z$' &&
	[ "$(field_of "$e" KMSCANCEL_AWS_REQUEST_IDS | wc -w)" = 2 ] && [ -n "$(field_of "$e" KMSCANCEL_AWS_REQUEST_ID)" ] &&
	pass "the rescue's fields: PRIORITY=2 (crit), key ARN, account, region, state, deletion date, request IDs" ||
	fail "rescue fields: $e"
[ "$(key_state "$KEY3")" = Disabled ] && pass "the guarded key was rescued" || fail "key 3: $(key_state "$KEY3")"
wait_entry MESSAGE_ID=481ca8c156d94101b2a1fb15ac3d38ec KMSCANCEL_KEY="$ARN9" KMSCANCEL_ERROR=NotFoundException &&
	pass "an unreadable guarded key is a journal entry" || fail "no unreadable record"
e=$(entries MESSAGE_ID=481ca8c156d94101b2a1fb15ac3d38ec | head -1)
[ "$(field_of "$e" PRIORITY)" = 4 ] && pass "at priority warning" || fail "unreadable record: $e"

stop_daemon
if grep -q 'audit ' "$T/daemon.log"; then
	fail "audit records on stderr as well: $(grep 'audit ' "$T/daemon.log")"
else
	pass "nothing of the audit trail on stderr"
fi
grep -q _FAKE_JOURNAL_ERROR "$T/journal.jsonl" && fail "malformed native protocol: $(grep _FAKE_JOURNAL_ERROR "$T/journal.jsonl")"
exit 0
