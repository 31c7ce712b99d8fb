#!/bin/bash
# The interface file installed for Varlink users ($varlinkdir, from
# "make install") is the interface the daemon serves: the description
# org.varlink.service.GetInterfaceDescription returns for io.kmscancel,
# byte for byte, asked over the socket by a raw client.
. "$top_srcdir/tests/integration/lib.sh"
: "${varlinkdir:?}"

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }

D="$T/root"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install-dist_varlinkDATA DESTDIR="$D" \
	>"$T/install.log" 2>&1 || die "make install-dist_varlinkDATA failed: $(cat "$T/install.log")"
installed="$D$varlinkdir/io.kmscancel.varlink"
[ -f "$installed" ] && pass "installed as $varlinkdir/io.kmscancel.varlink" ||
	die "not installed: $varlinkdir/io.kmscancel.varlink"

start_fake
start_daemon
# The description exactly as it came in the JSON string: no newline added.
python3 - "$SOCK" >"$T/served" 2>"$T/client.err" <<'PY' || die "GetInterfaceDescription: $(cat "$T/client.err")"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "org.varlink.service.GetInterfaceDescription",
                      "parameters": {"interface": "io.kmscancel"}}).encode() + b"\0")
buf = b""
while b"\0" not in buf:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("connection closed before the reply")
    buf += chunk
reply = json.loads(buf.split(b"\0", 1)[0])
if "error" in reply:
    sys.exit("error reply: %s" % reply)
sys.stdout.buffer.write(reply["parameters"]["description"].encode("utf-8"))
PY
grep -q '^interface io\.kmscancel$' "$T/served" || fail "the served description is not io.kmscancel's: $(head -3 "$T/served")"
if cmp "$installed" "$T/served" >"$T/cmp" 2>&1; then
	pass "the installed file is what GetInterfaceDescription serves ($(wc -c <"$installed") bytes)"
else
	fail "the installed file differs from what the daemon serves: $(cat "$T/cmp")"
	diff "$installed" "$T/served" >&2
fi
stop_daemon
[ "$failures" -eq 0 ]
