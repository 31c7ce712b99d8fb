# HTTPS_PROXY for STS: the daemon learns whose its default credentials are
# (GetCallerIdentity) through the CONNECT proxy, as botocore would send it;
# NO_PROXY sends STS direct.  (IMDS and the container endpoint never use the
# proxy: creds-net.h says why.)
. "$top_srcdir/tests/integration/lib.sh"

start_fake
python3 "$top_srcdir/tests/fakes/fake-proxy" --port-file "$T/proxy.port" --log "$T/proxy.log" \
	--auth 'sts user:s3cret' >"$T/proxy.out" 2>&1 &
at_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
wait_for_file "$T/proxy.port" || die "proxy did not start: $(cat "$T/proxy.out")"
PROXY_PORT=$(cat "$T/proxy.port")
touch "$T/proxy.log"

sts_connects() { grep -c "^127.0.0.1:$FAKE_STS_PORT " "$T/proxy.log"; }

DAEMON_ENV=(HTTPS_PROXY="http://sts%20user:s3cret@127.0.0.1:$PROXY_PORT")
start_daemon
wait_account "$TEST_ACCOUNT" && pass "the account was learned through the proxy" || fail "no account: $OUT"
expect_contains "$(cat "$T/proxy.log")" "127.0.0.1:$FAKE_STS_PORT 200 auth=ok" "the proxy tunnelled to the fake STS"
grep -q 's3cret' "$T/daemon.log" && fail "the proxy password was logged" || pass "proxy password not logged"
stop_daemon

# NO_PROXY naming STS's host:port: direct, the proxy sees no STS tunnel.
before=$(sts_connects)
DAEMON_ENV=(HTTPS_PROXY="http://sts%20user:s3cret@127.0.0.1:$PROXY_PORT" NO_PROXY="example.com, 127.0.0.1:$FAKE_STS_PORT")
start_daemon
wait_account "$TEST_ACCOUNT" && pass "NO_PROXY: the account was learned" || fail "NO_PROXY: no account: $OUT"
[ "$(sts_connects)" = "$before" ] && pass "NO_PROXY: STS went direct" || fail "NO_PROXY ignored for STS: $(cat "$T/proxy.log")"
stop_daemon

# A proxy that refuses: the account stays unknown and the status says why.
DAEMON_ENV=(HTTPS_PROXY="http://sts%20user:wrong@127.0.0.1:$PROXY_PORT")
start_daemon
for i in $(seq 1 200); do
	run_cli --json status
	case "$OUT" in *407*) break ;; esac
	sleep 0.1
done
expect_contains "$OUT" "407" "the refused tunnel to STS is reported"
expect_contains "$(cat "$T/proxy.log")" "127.0.0.1:$FAKE_STS_PORT 407 auth=bad" "the proxy saw STS with bad credentials"
exit 0
