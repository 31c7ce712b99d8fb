# HTTPS_PROXY: the daemon tunnels to KMS through an HTTP CONNECT proxy (with
# basic auth from the URL), honours NO_PROXY, and reports a refusing proxy.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
python3 "$top_srcdir/tests/fakes/fake-proxy" --port-file "$T/proxy.port" --log "$T/proxy.log" \
	--auth 'bench user:p@ss' >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
trap 'rc=$?; kill $PROXY_PID 2>/dev/null; (exit $rc); cleanup' EXIT
wait_for_file "$T/proxy.port" || die "proxy did not start: $(cat "$T/proxy.out")"
PROXY_PORT=$(cat "$T/proxy.port")
touch "$T/proxy.log"

# test-env.sh unsets every proxy variable; these are ours.
DAEMON_ENV=(HTTPS_PROXY="http://bench%20user:p%40ss@127.0.0.1:$PROXY_PORT/")
start_daemon
run_cli cancel "$KEY1"
expect_rc 0 "cancel through the proxy"
expect_contains "$(cat "$T/proxy.log")" "127.0.0.1:$FAKE_PORT 200 auth=ok" "the proxy tunnelled to the fake, credentials accepted"
[ "$(key_state "$KEY1")" = Disabled ] && pass "key disabled" || fail "key not disabled"
if grep -q 'p@ss\|p%40ss' "$T/daemon.log"; then fail "the proxy password was logged"; else pass "proxy password not logged"; fi
stop_daemon

# Lower case wins, as in curl and botocore; no_proxy sends 127.0.0.1 direct.
set_key "$KEY1" PendingDeletion
# (STS, not named in NO_PROXY, still goes through the proxy: count KMS's tunnels.)
kms_tunnels() { grep -c "^127.0.0.1:$FAKE_PORT " "$T/proxy.log"; }
lines=$(kms_tunnels)
DAEMON_ENV=(https_proxy="http://bench%20user:p%40ss@127.0.0.1:$PROXY_PORT" HTTPS_PROXY="http://127.0.0.1:9"
	NO_PROXY="example.com,127.0.0.1:$FAKE_PORT")
start_daemon
run_cli cancel "$KEY1"
expect_rc 0 "cancel with NO_PROXY matching host:port"
[ "$(kms_tunnels)" = "$lines" ] && pass "NO_PROXY: the proxy saw nothing" || fail "NO_PROXY ignored: $(tail -1 "$T/proxy.log")"
stop_daemon

# Wrong password: the proxy's 407 is what the caller hears about.
set_key "$KEY1" PendingDeletion
printf '[KMS]\nRetryBase=10ms\nMaxAttempts=1\n' >"$T/kmscanceld.conf"
DAEMON_ENV=(HTTPS_PROXY="http://bench%20user:wrong@127.0.0.1:$PROXY_PORT")
start_daemon
run_cli cancel "$KEY1"
expect_rc 1 "cancel through a refusing proxy fails"
expect_contains "$OUT$ERR" "407" "the error names the proxy's answer"
expect_contains "$(tail -1 "$T/proxy.log")" "407 auth=bad" "the proxy saw bad credentials"
exit 0
