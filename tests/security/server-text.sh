#!/bin/bash
# Text from servers reaches the caller as readable text: a proxy that
# answers CONNECT with a Latin-1 reason phrase (bytes that are not UTF-8)
# must not turn the daemon's reply into a message a validating Varlink
# client refuses.  The caller gets EndpointUnavailable with the phrase, its
# stray byte as U+FFFD, and exit 1 (a KMS-side failure), not a protocol
# error.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
PHRASE=$'502 Passerelle d\xe9faillante'
python3 "$top_srcdir/tests/fakes/fake-proxy" --port-file "$T/proxy.port" --log "$T/proxy.log" \
	--refuse "$PHRASE" >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
at_cleanup 'kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null'
wait_for_file "$T/proxy.port" || die "proxy did not start: $(cat "$T/proxy.out")"

printf '[KMS]\nRetryBase=10ms\nMaxAttempts=1\n' >"$T/kmscanceld.conf"
DAEMON_ENV=(HTTPS_PROXY="http://127.0.0.1:$(cat "$T/proxy.port")")
start_daemon

run_cli cancel "$KEY1"
expect_rc 1 "cancel through a proxy with a Latin-1 reason phrase fails as a KMS-side error"
expect_contains "$OUT$ERR" $'502 Passerelle d\xef\xbf\xbdfaillante' "the reason phrase reaches the CLI, é as U+FFFD"
expect_contains "$OUT$ERR" "EndpointUnavailable" "as EndpointUnavailable"
case "$OUT$ERR" in
*rotocol*) fail "the CLI saw a protocol error: $OUT$ERR" ;;
*) pass "no protocol error" ;;
esac
grep -q "502 auth=" "$T/proxy.log" && pass "the proxy was asked" || fail "the proxy saw nothing"

run_cli --json cancel "$KEY1"
expect_rc 1 "--json: exit 1"
python3 -c 'import json, sys; json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))' <"$T/out" &&
	pass "--json prints valid UTF-8 JSON" || fail "--json output is not valid UTF-8 JSON: $OUT"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "--json names the error"

# The same reply straight off the socket, as any Varlink client sees it.
printf '{"method":"io.kmscancel.CancelKeyDeletion","parameters":{"keyId":"%s"}}\0' "$KEY1" >"$T/call"
python3 - "$SOCK" "$T/call" >"$T/raw" 2>&1 <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(open(sys.argv[2], "rb").read())
data = b""
while not data.endswith(b"\0"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
data.rstrip(b"\0").decode("utf-8", "strict")
print("valid")
PY
[ "$(cat "$T/raw")" = valid ] && pass "the raw reply is valid UTF-8" || fail "the raw reply: $(cat "$T/raw")"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "key untouched" || fail "key state changed"
exit 0
