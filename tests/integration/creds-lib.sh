# Helpers for the credential-source tests: the fake IMDS / container / STS
# (tests/fakes/fake-creds.py) next to the fake KMS, and a daemon that has no
# credentials in its environment.  Source after lib.sh.

FAKE_CREDS="$top_srcdir/tests/fakes/fake-creds.py"
TEST_TOKEN=kmscancel-test-session-token-do-not-log
TEST_WEB_TOKEN=kmscancel-test-web-identity-token-do-not-log
CREDS_PID=

command -v python3 >/dev/null || { log "SKIP: python3 is not installed"; exit 77; }

# start_creds [extra fake-creds options]: IMDS + container on CREDS_PORT,
# STS over TLS on STS_PORT, handing out the test key pair and token.
start_creds() {
	[ -f "$T/certs/ca.pem" ] || make_certs
	python3 "$FAKE_CREDS" --port-file "$T/creds.port" --sts-port-file "$T/sts.port" \
		--cert "$T/certs/server.pem" --key "$T/certs/server.key" \
		--access-key "$TEST_AKID" --secret "$TEST_SECRET" --session-token "$TEST_TOKEN" \
		--web-identity-token "$TEST_WEB_TOKEN" "$@" >"$T/creds.log" 2>&1 &
	CREDS_PID=$!
	wait_for_file "$T/creds.port" || die "fake-creds did not start: $(cat "$T/creds.log")"
	CREDS_PORT=$(cat "$T/creds.port")
	STS_PORT=$(cat "$T/sts.port")
}

creds_admin() { bash "$FAKE_ADMIN" "$CREDS_PORT" "$@"; }

# creds_stat TARGET: how many requests fake-creds saw for imds-token,
# imds-role, imds-credentials, container or sts.
creds_stat() {
	creds_admin GET /_admin/stats | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"
}

stop_creds() {
	if [ -n "$CREDS_PID" ]; then
		kill "$CREDS_PID" 2>/dev/null
		wait "$CREDS_PID" 2>/dev/null
		CREDS_PID=
	fi
}

# The daemon without the harness's static keys in its environment.
NO_ENV_KEYS="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"

# restart_daemon: stop, then start_daemon with DAEMON_ENV / DAEMON_WRAPPER.
# Each run's log is kept in daemons.log, for check_no_secrets.
restart_daemon() {
	stop_daemon
	start_daemon "$@"
}

# lib.sh's stop_daemon, then each run's log is kept (the next start_daemon
# overwrites daemon.log) for check_no_secrets.
eval "lib_$(declare -f stop_daemon)"
stop_daemon() {
	local running=$DAEMON_PID
	lib_stop_daemon
	[ -n "$running" ] && [ -f "$T/daemon.log" ] && cat "$T/daemon.log" >>"$T/daemons.log"
	return 0
}

# status_field NAME: one field of GetStatus (`kmscancel --json status`).
status_field() {
	kmscancel --json status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}

# No log line, reply or file the tests produced may hold a secret.
check_no_secrets() {
	local f hits=0
	for f in "$T"/*.log "$T"/out "$T"/err "$T"/many.* "$T"/exp.*; do
		[ -f "$f" ] || continue
		for s in "$TEST_SECRET" "$TEST_TOKEN" "$TEST_WEB_TOKEN"; do
			if grep -qF -- "$s" "$f"; then
				fail "a secret appears in $(basename "$f")"
				hits=$((hits + 1))
			fi
		done
	done
	[ $hits -eq 0 ] && pass "no secret in any log or output"
}

# Runs at exit, before lib.sh's cleanup (which removes $T); the exit status
# is handed on to it (a die must not end as a pass).
creds_cleanup() {
	local rc=$?
	stop_daemon
	check_no_secrets
	stop_creds
	(exit "$rc")
	cleanup
}
trap creds_cleanup EXIT
