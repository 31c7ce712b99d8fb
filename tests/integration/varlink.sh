#!/bin/bash
# The Varlink protocol as the real daemon speaks it, checked by a raw client
# that frames its own messages (tests/integration/varlink-client.py).
. "$top_srcdir/tests/integration/lib.sh"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }
start_fake
start_daemon
python3 "$top_srcdir/tests/integration/varlink-client.py" "$SOCK" "$KEY1" || fail "varlink protocol checks"
kill -0 "$DAEMON_PID" && pass "daemon alive after the protocol abuse" || fail "daemon died"
