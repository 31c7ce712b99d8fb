#!/bin/bash
# The CLI shows what a daemon says as text a terminal only displays.  A
# socket named by --socket or $KMSCANCEL_SOCKET may be someone else's
# (a user who points an admin's shell at it), and real replies quote
# servers (credential and account errors in GetStatus): neither may send a
# terminal escape sequence (ESC, BEL, a C1 CSI) that retitles the window,
# clears the screen or rewrites the lines above.  Here a fake daemon
# answers cancel, describe and status with strings (and status field
# names) full of them; the human output must hold none, and show them
# escaped.
. "$top_srcdir/tests/integration/lib.sh"

FAKE_SOCK="$T/evil.sock"
python3 - "$FAKE_SOCK" >"$T/evil.log" 2>&1 <<'EOF' &
import json, os, socket, sys
ESC = "\x1b]0;pwned\x07\x1b[2J\u009b31m"
replies = {
    "io.kmscancel.CancelKeyDeletion": {"keyId": "arn:aws:kms:us-east-1:111122223333:key/x" + ESC,
                                       "keyState": "Disabled" + ESC, "requestId": "req" + ESC, "attempts": 1},
    "io.kmscancel.DescribeKey": {"keyId": "k" + ESC, "arn": "arn" + ESC, "keyState": "PendingDeletion" + ESC,
                                 "deletionDate": "2030-01-01" + ESC, "enabled": False},
    "io.kmscancel.GetStatus": {"version": "9" + ESC, "uptimeSec": 1, "state": "running" + ESC,
                               "configFile": "/etc/x" + ESC,
                               "configFiles": ["/etc/x" + ESC, "/etc/x.d/y.conf" + ESC],
                               "region": "r" + ESC, "account": "a" + ESC,
                               "accountError": "denied" + ESC, "credentialSource": "env" + ESC,
                               "credentialError": "bad" + ESC, "errors": {"E" + ESC: 1},
                               "newField" + ESC: "v" + ESC,
                               "kms": {"pools": [{"endpoint": "e" + ESC, "account": "a" + ESC}], "x" + ESC: "y"}},
}
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(8)
while True:
    c, _ = srv.accept()
    buf = b""
    while True:
        data = c.recv(65536)
        if not data:
            break
        buf += data
        while b"\0" in buf:
            msg, buf = buf.split(b"\0", 1)
            call = json.loads(msg)
            c.sendall(json.dumps({"parameters": replies.get(call["method"], {})}).encode() + b"\0")
    c.close()
EOF
EVIL_PID=$!
at_cleanup 'kill $EVIL_PID 2>/dev/null; wait $EVIL_PID 2>/dev/null'
for i in $(seq 1 100); do [ -S "$FAKE_SOCK" ] && break; sleep 0.05; done
[ -S "$FAKE_SOCK" ] || die "the fake daemon did not start: $(cat "$T/evil.log")"

# no_escapes WHAT FILE: FILE holds no ESC, BEL or C1 control.
no_escapes() {
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' "$2"; then
		fail "$1: terminal control bytes reach the terminal: $(od -c "$2" | head -20)"
	else
		pass "$1: no control bytes"
	fi
}

for cmd in "cancel $KEY1" "describe $KEY1" "status"; do
	# shellcheck disable=SC2086
	KMSCANCEL_SOCKET="$FAKE_SOCK" ${CLI_WRAPPER:-} "$KMSCANCEL" $cmd >"$T/out" 2>"$T/err"
	RC=$?
	[ "$RC" -eq 0 ] || fail "$cmd against the fake daemon: exit $RC: $(cat "$T/err")"
	no_escapes "${cmd%% *} (stdout)" "$T/out"
	no_escapes "${cmd%% *} (stderr)" "$T/err"
	expect_contains "$(cat "$T/out")" '\x1b]0;pwned\x07\x1b[2J\u009b31m' "${cmd%% *}: shown escaped"
done
KMSCANCEL_SOCKET="$FAKE_SOCK" ${CLI_WRAPPER:-} "$KMSCANCEL" status >"$T/out" 2>&1
expect_contains "$(cat "$T/out")" 'newField\x1b]0;pwned' "status: an unknown field's name is escaped too"
# --json stays JSON: json-c escapes control characters itself.
KMSCANCEL_SOCKET="$FAKE_SOCK" ${CLI_WRAPPER:-} "$KMSCANCEL" --json cancel "$KEY1" >"$T/out" 2>"$T/err"
no_escapes "--json cancel" "$T/out"
exit 0
