#!/bin/bash
# EC2 IMDSv2 through the real daemon: the token/role/credentials dance, the
# answers a broken IMDS gives, refresh ahead of expiry with no request
# failing, and one fetch for many waiting requests.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/creds-lib.sh"

start_fake --session-token "$TEST_TOKEN"
start_creds
printf '[KMS]\nRetryBase=50ms\n[Daemon]\nLogLevel=debug\n' >"$T/kmscanceld.conf"
DAEMON_WRAPPER="$NO_ENV_KEYS ${DAEMON_WRAPPER:-}" # composes with check-valgrind's
DAEMON_ENV=(AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$CREDS_PORT"
	AWS_METADATA_SERVICE_TIMEOUT=1)

# --- the chain ends at IMDS, which answers -----------------------------------
start_daemon
run_cli describe "$KEY1"
expect_rc 0 "describe with IMDS credentials"
expect_contains "$(status_field credentialSource)" "imds" "status names the source"
expect_contains "$(status_field credentialAccessKeyIdSuffix)" "${TEST_AKID: -4}" "status shows the key's last 4 characters"
expect_contains "$(status_field credentialExpiration)" "T" "status shows the expiry"
[ "$(creds_stat imds-token)" = 1 ] && [ "$(creds_stat imds-credentials)" = 1 ] &&
	pass "one token, one credential fetch" || fail "IMDS requests: $(creds_admin GET /_admin/stats)"
run_cli describe "$KEY1"
[ "$(creds_stat imds-credentials)" = 1 ] && pass "cached: no fetch per request" || fail "fetched per request"

# --- broken IMDS answers: a clear CredentialsUnavailable, still serving -------
expect_unavailable() { # FAULT-TARGET KIND EXPECTED-TEXT
	creds_admin POST /_admin/reset '{}' >/dev/null
	creds_admin POST /_admin/fault "{\"target\":\"$1\",\"kind\":\"$2\"}" >/dev/null
	restart_daemon
	run_cli describe "$KEY1"
	expect_rc 1 "$1 $2: the call fails"
	expect_contains "$OUT$ERR" "CredentialsUnavailable" "$1 $2: CredentialsUnavailable"
	expect_contains "$OUT$ERR" "$3" "$1 $2: the cause is named"
	run_cli status
	expect_rc 0 "$1 $2: the daemon keeps serving"
	expect_contains "$OUT" "Cred. error:" "$1 $2: status says why"
}
expect_unavailable imds-token 403 "refused a session token (HTTP 403"
expect_unavailable imds-token 500 "token: HTTP 500"
expect_unavailable imds-token timeout "token: timeout"
expect_unavailable imds-role 404 "no IAM role attached"
expect_unavailable imds-role bad-json "role listing is not a role name"
expect_unavailable imds-credentials 500 "credentials: HTTP 500"
expect_unavailable imds-credentials bad-json "not a JSON object"
expect_unavailable imds-credentials missing "no string member SecretAccessKey"
expect_unavailable imds-credentials drop "credentials: "
creds_admin POST /_admin/reset '{}' >/dev/null

# Once IMDS is back, the next retry picks it up without a restart. When that
# retry comes depends on how many failed before the reset (the backoff
# doubles from 1 s, and under valgrind more of them fit), so poll for it:
# until then a request fails fast, as it must.
recover_by=$((SECONDS + 20))
run_cli describe "$KEY1"
while [ "$RC" != 0 ] && [ $SECONDS -lt $recover_by ]; do
	sleep 0.5
	run_cli describe "$KEY1"
done
expect_rc 0 "recovers when IMDS answers again, without a restart"

# --- refresh ahead of expiry: no request fails or waits -----------------------
# 6-second credentials, each fetch held 1.5 s by IMDS: a request that waited
# for a refresh would take over 1.2 s.
creds_admin POST /_admin/config '{"expiresIn":6}' >/dev/null
creds_admin POST /_admin/delay '{"target":"imds-credentials","ms":1500}' >/dev/null
DAEMON_ENV+=(AWS_METADATA_SERVICE_TIMEOUT=5)
restart_daemon
kmscancel describe "$KEY1" >/dev/null 2>&1 # waits for the first fetch, as it must
before=$(creds_stat imds-credentials)
failed=0 slow=0 n=0
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
	t0=$(date +%s%N)
	kmscancel describe "$KEY1" >/dev/null 2>&1 || failed=$((failed + 1))
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $ms -gt 1200 ] && slow=$((slow + 1))
	n=$((n + 1))
	sleep 0.1
done
fetches=$(($(creds_stat imds-credentials) - before))
[ "$failed" = 0 ] && pass "none of $n requests failed across refreshes" || fail "$failed of $n requests failed"
timing_check '[ "$slow" = 0 ]' "no request waited for a refresh ($slow of $n took over 1.2 s)"
[ "$fetches" -ge 2 ] && pass "refreshed ahead of expiry ($fetches fetches in 10 s of 6 s credentials)" ||
	fail "only $fetches fetches"
grep -q "fetching (refresh" "$T/daemon.log" && pass "the log says why it fetched" || fail "no refresh in the log"

# --- many requests, one fetch --------------------------------------------------
stop_daemon # before the counters are reset: it could still refresh
creds_admin POST /_admin/reset '{}' >/dev/null
creds_admin POST /_admin/config '{"expiresIn":3600}' >/dev/null
creds_admin POST /_admin/delay '{"target":"imds-credentials","ms":700}' >/dev/null
DAEMON_ENV+=(AWS_METADATA_SERVICE_TIMEOUT=10) # a loaded CI machine must not time the fetch out
restart_daemon
# Under valgrind every CLI is a valgrind process too: 200 of them starting
# at once on two cores starve the daemon past any timeout, so fewer wait
# there; the promise (one fetch however many wait) is the same.
many=200
[ -z "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ] || many=50
pids=()
for i in $(seq 1 $many); do
	kmscancel --timeout 30 describe "$KEY1" >"$T/many.$i" 2>&1 &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
[ "$ok" = $many ] && pass "$many concurrent requests during the first fetch all succeed" ||
	fail "only $ok of $many succeeded: $(cat "$T"/many.* | grep -v PendingDeletion | sort | uniq -c | head -5)"
fetches=$(creds_stat imds-credentials)
if [ "$fetches" = 1 ]; then
	pass "exactly one fetch for $many waiting requests"
elif [ -n "${DAEMON_WRAPPER:-}" ] && [ "$fetches" = 2 ] &&
	{ grep -q "credentials (default).*retrying in" "$T/daemon.log" ||
		[ "$(grep -c "credentials (default): fetching (" "$T/daemon.log")" = 1 ]; }; then
	# Under valgrind, with the CLIs under valgrind too, an IMDS request
	# can outlast its timeout and be sent again, within the one fetch the
	# cache made (its log says how many) or as the cache's retry.
	log "under $DAEMON_WRAPPER: 2 IMDS credential requests, $(grep -c "credentials (default): fetching (" "$T/daemon.log") cache fetch(es)"
else
	fail "$fetches fetches for $many requests: $(grep "credentials (default)" "$T/daemon.log" | tail -5)"
fi

exit 0
