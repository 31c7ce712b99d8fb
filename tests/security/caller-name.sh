#!/bin/bash
# The audit trail names the caller's command under the shipped unit.  The
# daemon runs as its own unprivileged uid in a private mount namespace with
# a new /proc, as systemd's ProtectProc=/ProcSubset= make one, and its log
# and audit records go to tests/fakes/fake-journal.py:
#   - /proc hidepid=invisible,subset=pid (the old unit's ProtectProc=invisible):
#     the daemon warns once at start that it cannot read callers' names, and
#     a record from another uid has no KMSCANCEL_CALLER_COMM and says
#     "command name unknown" (was: comm "" and "(, pid N)");
#   - /proc subset=pid only (the unit's ProtectProc=default, ProcSubset=pid):
#     no warning, and the record names the caller's command.
# What systemd as PID 1 does with the unit itself is left to a test that
# boots it; units.sh checks the unit says ProtectProc=default.
. "$top_srcdir/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || ! command -v unshare >/dev/null; then
	log "SKIP: needs root, setpriv and unshare"
	exit 77
fi
case "$T" in /run | /run/*) log "SKIP: the test directory is under /run, which the namespace hides"; exit 77 ;; esac
unshare --mount --propagation private mount -t proc -o hidepid=invisible,subset=pid proc /proc 2>/dev/null ||
	{ log "SKIP: cannot mount a new /proc instance with hidepid= here"; exit 77; }

DAEMON_UID=4251 CALLER=4252
# The daemon (its own uid) binds its socket in a directory of its own and
# writes sanitizer reports to $T; the caller reaches the socket.
chmod 1777 "$T"
mkdir -m 0755 "$T/run"
chown "$DAEMON_UID:$DAEMON_UID" "$T/run"
SOCK="$T/run/io.kmscancel"
CLI=("$KMSCANCEL")
setpriv --reuid=$CALLER --regid=$CALLER --clear-groups -- "$KMSCANCEL" --version >/dev/null 2>&1 ||
	{ log "SKIP: uid $CALLER cannot run the CLI from $top_builddir"; exit 77; }
setpriv --reuid=$DAEMON_UID --regid=$DAEMON_UID --clear-groups -- "$KMSCANCELD" --version >/dev/null 2>&1 ||
	{ log "SKIP: uid $DAEMON_UID cannot run the daemon from $top_builddir"; exit 77; }

JDIR="$T/journal"
mkdir -p "$JDIR"
python3 "$top_srcdir/tests/fakes/fake-journal.py" --socket "$JDIR/socket" --out "$T/journal.jsonl" &
JOURNAL_PID=$!
at_cleanup 'kill "$JOURNAL_PID" 2>/dev/null; wait "$JOURNAL_PID" 2>/dev/null'
for i in $(seq 1 200); do [ -S "$JDIR/socket" ] && break; sleep 0.05; done
[ -S "$JDIR/socket" ] || die "the fake journal did not start"
chmod 0666 "$JDIR/socket"

start_fake
chmod -R a+rX "$T/certs"
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0666
[Policy]
Allow=user:$CALLER * *
[KMS]
RetryBase=50ms
CONF
chmod 0644 "$T/kmscanceld.conf"

# in-ns PROC-OPTIONS COMMAND...: a new /proc with those options and the
# fake journal where sd-journal looks, then COMMAND as the daemon's uid.
cat >"$T/in-ns" <<EOF
#!/bin/sh
set -e
opts=\$1
shift
mount -t proc -o "\$opts" proc /proc
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
mount --bind "$JDIR" /run/systemd/journal
exec setpriv --reuid=$DAEMON_UID --regid=$DAEMON_UID --clear-groups -- "\$@"
EOF
chmod 0755 "$T/in-ns"
WRAPPER=${DAEMON_WRAPPER:-}

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
wait_entry() {
	local i
	for i in $(seq 1 200); do
		[ -n "$(entries "$@")" ] && return 0
		sleep 0.05
	done
	return 1
}
field_of() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "<absent>"))' "$1" "$2"; }
ALLOW_ID=f0a83f6538504e388266bafb492057e3

# run_case PROC-OPTIONS [MORE]: the daemon under that /proc, one cancel by
# $CALLER, then the command MORE if given; leaves the allow record in REC.
run_case() {
	: >"$T/journal.jsonl"
	set_key "$KEY1" PendingDeletion
	DAEMON_WRAPPER="unshare --mount --propagation private $T/in-ns $1 $WRAPPER"
	: >"$T/daemon.log"
	DAEMON_ENV=("JOURNAL_STREAM=$(stat -c '%d:%i' "$T/daemon.log")")
	start_daemon
	wait_entry SYSLOG_IDENTIFIER=kmscanceld || fail "no journal entry from the daemon"
	kmscancel_as() { setpriv --reuid=$CALLER --regid=$CALLER --clear-groups -- ${CLI_WRAPPER:-} "${CLI[@]}" --socket "$SOCK" "$@"; }
	kmscancel_as cancel "$KEY1" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out") ERR=$(cat "$T/err")
	expect_rc 0 "uid $CALLER cancels ($1)"
	wait_entry MESSAGE_ID=$ALLOW_ID KMSCANCEL_CALLER_UID=$CALLER || fail "no allow record for uid $CALLER"
	REC=$(entries MESSAGE_ID=$ALLOW_ID KMSCANCEL_CALLER_UID=$CALLER | head -1)
	# The daemon really ran as its own uid, under that /proc.
	[ -z "${2:-}" ] || "$2"
	[ "$(awk '$1 == "Uid:" { print $2 }' "/proc/$DAEMON_PID/status")" = "$DAEMON_UID" ] &&
		pass "the daemon runs as uid $DAEMON_UID" || fail "the daemon does not run as uid $DAEMON_UID"
	stop_daemon
}

# --- hidepid=invisible: a warning at start, and "unknown" in the record ------------------
run_case hidepid=invisible,subset=pid
w=$(entries SYSLOG_IDENTIFIER=kmscanceld | grep -F 'hidepid=invisible' | head -1)
[ -n "$w" ] && pass "hidepid=invisible: the daemon says at start that it cannot read callers' names" ||
	fail "no warning about hidepid: $(entries SYSLOG_IDENTIFIER=kmscanceld PRIORITY=4)"
[ "$(entries SYSLOG_IDENTIFIER=kmscanceld | grep -cF 'hidepid=')" -eq 1 ] && pass "said once" ||
	fail "the hidepid warning is not exactly once"
[ "$(field_of "$REC" KMSCANCEL_CALLER_COMM)" = "<absent>" ] && pass "the record has no KMSCANCEL_CALLER_COMM" ||
	fail "KMSCANCEL_CALLER_COMM is '$(field_of "$REC" KMSCANCEL_CALLER_COMM)', expected absent: $REC"
expect_contains "$(field_of "$REC" MESSAGE)" "for uid $CALLER (pid " "MESSAGE names uid and pid"
expect_contains "$(field_of "$REC" MESSAGE)" ", command name unknown)" "MESSAGE says the command name is unknown"

# A root caller whose name is not UTF-8 and holds a right-to-left override:
# in the journal a field that is not UTF-8 is "[blob data]" to journalctl,
# which would hide the record's MESSAGE; an override would reorder it.
hostile_caller() {
	python3 - "$SOCK" "$KEY1" <<'EOF' || fail "the hostile client failed"
import ctypes, json, socket, sys
ctypes.CDLL(None).prctl(15, b"x\xff\xe2\x80\xaeyz", 0, 0, 0)  # PR_SET_NAME
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.kmscancel.DescribeKey", "parameters": {"keyId": sys.argv[2]}}).encode() + b"\0")
s.recv(65536)
EOF
	wait_entry MESSAGE_ID=$ALLOW_ID KMSCANCEL_CALLER_UID=0 || fail "no record of the hostile caller"
	HOSTILE=$(entries MESSAGE_ID=$ALLOW_ID KMSCANCEL_CALLER_UID=0 | head -1)
}

# --- subset=pid alone (ProtectProc=default, ProcSubset=pid): the name is there ------------
run_case subset=pid hostile_caller
[ "$(field_of "$HOSTILE" KMSCANCEL_CALLER_COMM)" = 'x????yz' ] &&
	pass "a caller's name that is not UTF-8 or reorders text is shown with '?' (x????yz)" ||
	fail "hostile name: $(field_of "$HOSTILE" KMSCANCEL_CALLER_COMM) in $HOSTILE"
expect_contains "$(field_of "$HOSTILE" MESSAGE)" "(x????yz, pid " "and its MESSAGE is plain text"
[ -z "$(entries SYSLOG_IDENTIFIER=kmscanceld | grep -F 'hidepid=')" ] && pass "ProtectProc=default: no warning" ||
	fail "a hidepid warning without hidepid"
comm=$(field_of "$REC" KMSCANCEL_CALLER_COMM)
case "$comm" in
kmscancel | lt-kmscancel | memcheck*) pass "the record names the caller's command ($comm)" ;;
*) fail "KMSCANCEL_CALLER_COMM is '$comm': $REC" ;;
esac
expect_contains "$(field_of "$REC" MESSAGE)" "($comm, pid " "MESSAGE names it"
exit 0
