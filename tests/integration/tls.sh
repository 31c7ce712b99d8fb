#!/bin/bash
# TLS fails closed: a certificate from a CA we were not told to trust, or one
# for another host name, makes the call fail with EndpointUnavailable; the
# key is never cancelled.
. "$top_srcdir/tests/integration/lib.sh"

make_certs

# Wrong CA.
start_fake
DAEMON_CA="$T/certs/other-ca.pem" start_daemon
run_cli --json cancel "$KEY1"
expect_rc 1 "untrusted CA"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "untrusted CA -> EndpointUnavailable"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "key untouched" || fail "key changed to $(key_state "$KEY1")"
[ "$(fake_stat requests)" = 0 ] && pass "no request reached the fake" || fail "the fake saw requests"
stop_daemon
kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
rm -f "$T/fake.port" "$T/fake.admin"

# Right CA, wrong host name in the certificate.
"$FAKE_KMS" --cert "$T/certs/wronghost.pem" --key "$T/certs/wronghost.key" \
	--port 0 --port-file "$T/fake.port" --admin-port-file "$T/fake.admin" \
	--access-key "$TEST_AKID" --secret "$TEST_SECRET" --region "$TEST_REGION" \
	--account "$TEST_ACCOUNT" --keys "$T/keys" >"$T/fake.log" 2>&1 &
FAKE_PID=$!
wait_for_file "$T/fake.port" && wait_for_file "$T/fake.admin" || die "fake did not start"
FAKE_PORT=$(cat "$T/fake.port"); FAKE_ADMIN_PORT=$(cat "$T/fake.admin")
start_daemon
run_cli --json cancel "$KEY1"
expect_rc 1 "certificate for another host"
expect_contains "$OUT" '"error":"EndpointUnavailable"' "host name mismatch -> EndpointUnavailable"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "key untouched" || fail "key changed"
