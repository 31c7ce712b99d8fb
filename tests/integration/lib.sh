# Shared harness for the end-to-end tests: the real daemon, the real CLI and
# the fake KMS over TLS with a CA made for this test.  Source it, then call
# the functions below.  Each test gets its own directory, ports and
# processes, so tests run in parallel.
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.

set -u

: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"

KMSCANCELD="$top_builddir/kmscanceld"
KMSCANCEL="$top_builddir/kmscancel"
FAKE_KMS="$top_builddir/tests/fakes/fake-kms"
FAKE_ADMIN="$top_srcdir/tests/fakes/fake-admin"

TEST_AKID=AKIDKMSCANCELTEST01
TEST_SECRET=kmscancel/test/secret/do-not-use-anywhere
TEST_REGION=us-east-1
TEST_ACCOUNT=111122223333
KEY1=1234abcd-12ab-34cd-56ef-1234567890ab

# Every test runs with netguard, which tests/test-env.sh preloads: it
# refuses (and the cleanup below reports) any connection or datagram off
# loopback, so a forgotten endpoint override fails instead of going out.
case ":${LD_PRELOAD:-}:" in
*/libnetguard.so:*) ;;
*) echo "ERROR: netguard is not preloaded; run the tests through make check" >&2; exit 99 ;;
esac

T=$(mktemp -d "${TMPDIR:-/tmp}/kmscancel-test.XXXXXX")
export NETGUARD_LOG="$T/netguard.log"
# Checkers write their reports to $T/report.*: in a sanitizer build every
# process (daemon, CLI, fake) to report.sanitizer.PID, and a CLI_WRAPPER
# such as check-valgrind's to a file it names after TEST_TMPDIR.  Any
# report fails the test, whatever the exit status or stderr the test checks.
export TEST_TMPDIR="$T"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/report.sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$T/report.sanitizer"
SOCK="$T/io.kmscancel"
DAEMON_PID=
FAKE_PID=
FAKE_STS_PORT=
failures=0

log() { printf '%s\n' "$*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
pass() { log "ok: $*"; }
die() { log "ERROR: $*"; exit 99; }

# kms_by_name_wrapper CONNECT_TO [WRAPPER]: a DAEMON_WRAPPER for tests that
# let the daemon derive the real kms*.REGION.amazonaws.com[.cn] names.  It
# lifts only the KMS endpoint overrides, maps the names to loopback with
# KMSCANCELD_CONNECT_TO (no DNS), and sets STS and IMDS explicitly to a
# closed loopback port and off, whatever test-env.sh says; a CONNECT_TO
# entry off 127.0.0.0/8 and [::1] stops the test.  netguard still refuses
# whatever the map misses, and the cleanup fails the test on it.
kms_by_name_wrapper() {
	local map=$1 wrapper=${2:-} entry entries
	IFS=, read -ra entries <<<"$map"
	for entry in "${entries[@]}"; do
		case "$entry" in *=127.[0-9]*.[0-9]*.[0-9]*:[0-9]* | *=\[::1\]:[0-9]*) ;; *) die "KMSCANCELD_CONNECT_TO entry off loopback: $entry" ;; esac
	done
	printf 'env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KMS AWS_ENDPOINT_URL_STS=https://127.0.0.1:9 '
	printf 'AWS_EC2_METADATA_DISABLED=true AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9 '
	printf 'KMSCANCELD_CONNECT_TO=%s %s' "$map" "$wrapper"
}

# at_cleanup CMD: run CMD (with eval) when the test exits, before $T goes.
CLEANUP_CMDS=()
at_cleanup() { CLEANUP_CMDS+=("$1"); }

# The test secret must never be printed by anyone: daemon, fake, CLI.  The
# daemon's log is checked at each stop (the next start overwrites it), the
# rest at exit.
check_no_secret() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -qF -- "$TEST_SECRET" "$f"; then
			log "FAIL: the test secret appears in ${f#"$T"/}:"
			grep -nF -- "$TEST_SECRET" "$f" | head -n 5 >&2
			failures=$((failures + 1))
		fi
	done
}

cleanup() {
	local rc=$? cmd
	stop_daemon
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	for cmd in ${CLEANUP_CMDS[@]+"${CLEANUP_CMDS[@]}"}; do
		eval "$cmd"
	done
	check_no_secret "$T"/*.log "$T/out" "$T/err"
	if [ -s "$NETGUARD_LOG" ]; then
		log "FAIL: something tried to leave loopback:"
		cat "$NETGUARD_LOG" >&2
		rc=1
	fi
	local report
	for report in "$T"/report.*; do
		[ -s "$report" ] || continue
		log "FAIL: ${report#"$T"/}:"
		cat "$report" >&2
		rc=1
	done
	if [ "$rc" -eq 0 ] && [ "$failures" -gt 0 ]; then
		rc=1
	fi
	if [ "$rc" -ne 0 ] && [ -f "$T/daemon.log" ]; then
		log "--- daemon log ---"
		tail -n 60 "$T/daemon.log" >&2
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# Waits up to ~10 s for a file to appear.
wait_for_file() {
	local i
	for i in $(seq 1 200); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

make_certs() {
	bash "$top_srcdir/tests/fakes/mkcerts.sh" "$T/certs" >/dev/null || die "mkcerts failed"
}

# server_cert_for NAME...: replaces the fakes' server certificate with one
# from the test CA for IP:127.0.0.1 and the DNS names given (the tests that
# route many regional KMS names to one loopback fake).  Before start_fake.
server_cert_for() {
	local O=${OPENSSL:-openssl} name
	make_certs
	{
		printf '[san]\nsubjectAltName = IP:127.0.0.1'
		for name in "$@"; do printf ',DNS:%s' "$name"; done
		printf '\nbasicConstraints = critical, CA:FALSE\nextendedKeyUsage = serverAuth\n'
	} >"$T/san.cnf"
	$O ecparam -name prime256v1 -genkey -noout -out "$T/named.key" 2>"$T/openssl.log" &&
		$O req -new -key "$T/named.key" -subj /CN=kms-named -out "$T/named.csr" 2>>"$T/openssl.log" &&
		$O x509 -req -in "$T/named.csr" -CA "$T/certs/ca.pem" -CAkey "$T/certs/ca.key" -CAcreateserial \
			-days 2 -extfile "$T/san.cnf" -extensions san -out "$T/named.pem" 2>>"$T/openssl.log" ||
		die "openssl: $(cat "$T/openssl.log")"
	cp "$T/named.pem" "$T/certs/server.pem"
	cp "$T/named.key" "$T/certs/server.key"
}

# start_fake [extra fake-kms options]: a fake KMS with KEY1 pending deletion.
start_fake() {
	[ -f "$T/certs/ca.pem" ] || make_certs
	[ -f "$T/keys" ] || printf '%s PendingDeletion\n' "$KEY1" >"$T/keys"
	"$FAKE_KMS" --cert "$T/certs/server.pem" --key "$T/certs/server.key" \
		--port 0 --port-file "$T/fake.port" --admin-port-file "$T/fake.admin" \
		--access-key "$TEST_AKID" --secret "$TEST_SECRET" \
		--region "$TEST_REGION" --account "$TEST_ACCOUNT" --keys "$T/keys" \
		--sts-port-file "$T/fake.sts" "$@" \
		>"$T/fake.log" 2>&1 &
	FAKE_PID=$!
	wait_for_file "$T/fake.port" && wait_for_file "$T/fake.admin" || die "fake KMS did not start: $(cat "$T/fake.log")"
	FAKE_PORT=$(cat "$T/fake.port")
	FAKE_ADMIN_PORT=$(cat "$T/fake.admin")
	wait_for_file "$T/fake.sts" || die "fake STS did not start: $(cat "$T/fake.log")"
	FAKE_STS_PORT=$(cat "$T/fake.sts")
}

fake() { bash "$FAKE_ADMIN" "$FAKE_ADMIN_PORT" "$@"; }

# start_region_fakes REGION...: one more fake KMS per REGION (same keys,
# certificate and credentials as start_fake's), for the tests that route
# regional names to loopback.  Fills PORT[REGION] and ADMIN[REGION] (declare
# them with declare -A first); the fakes are stopped at exit.
start_region_fakes() {
	local r
	for r in "$@"; do
		"$FAKE_KMS" --cert "$T/certs/server.pem" --key "$T/certs/server.key" --port-file "$T/$r.port" \
			--admin-port-file "$T/$r.admin" --access-key "$TEST_AKID" --secret "$TEST_SECRET" \
			--region "$r" --account "$TEST_ACCOUNT" --keys "$T/keys" >"$T/$r.log" 2>&1 &
		at_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
		wait_for_file "$T/$r.port" && wait_for_file "$T/$r.admin" || die "fake for $r did not start"
		PORT[$r]=$(cat "$T/$r.port") ADMIN[$r]=$(cat "$T/$r.admin")
	done
}

# check_routed REGION KEY-AS-GIVEN HOST: one cancel, answered by REGION's
# fake (start_region_fakes), sent to HOST; the key is reset afterwards.
check_routed() {
	run_cli --json cancel "$2"
	expect_rc 0 "cancel $2"
	local reqs
	reqs=$(bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /requests | sed -e 's/": /":/g')
	expect_contains "$reqs" "\"host\":\"$3\"" "$2 went to $3 ($1's fake)"
	bash "$FAKE_ADMIN" "${ADMIN[$1]}" PUT "/keys/$KEY1" '{"KeyState":"PendingDeletion"}' >/dev/null
}

# wait_account ACCOUNT: polls the daemon's status until its default account
# is ACCOUNT (learned with STS GetCallerIdentity), for up to 20 s; leaves OUT.
wait_account() {
	local i
	for i in $(seq 1 200); do
		run_cli --json status
		case "$OUT" in *"\"account\":\"$1\""*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# fake_stat NAME: one counter from the fake's /stats.
fake_stat() {
	fake GET /stats | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"
}

# start_daemon [extra kmscanceld options]; environment for the daemon can be
# given in DAEMON_ENV (an array of NAME=VALUE).
start_daemon() {
	local ca="${DAEMON_CA:-$T/certs/ca.pem}"
	[ -f "$T/kmscanceld.conf" ] || printf '[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
	rm -f "$SOCK"
	env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" \
		AWS_REGION="$TEST_REGION" AWS_ENDPOINT_URL_KMS="https://127.0.0.1:$FAKE_PORT" \
		AWS_CA_BUNDLE="$ca" ${FAKE_STS_PORT:+AWS_ENDPOINT_URL_STS=https://127.0.0.1:$FAKE_STS_PORT} \
		${DAEMON_ENV[@]+"${DAEMON_ENV[@]}"} \
		${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" --socket "$SOCK" "$@" \
		>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 400); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited: $(cat "$T/daemon.log")"
		sleep 0.05
	done
	die "daemon did not create its socket"
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_RC=$?
	DAEMON_PID=
	check_no_secret "$T/daemon.log"
	# 99 is the --error-exitcode check-valgrind gives valgrind.  The log is
	# printed now: the next start_daemon overwrites it.
	if [ -n "${DAEMON_WRAPPER:-}" ] && [ "$DAEMON_RC" -eq 99 ]; then
		fail "$DAEMON_WRAPPER reported errors in the daemon:"
		cat "$T/daemon.log" >&2
	fi
}

# CLI_WRAPPER: a command prefix for the CLI, like DAEMON_WRAPPER; it must
# leave the CLI's exit status alone and report to $TEST_TMPDIR/report.*.
kmscancel() { ${CLI_WRAPPER:-} "$KMSCANCEL" --socket "$SOCK" "$@"; }

# run_cli ARGS...: runs the CLI, leaves OUT, ERR and RC.  JSON output is
# compacted ("key": v -> "key":v) so tests can match members as text.
run_cli() {
	kmscancel "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/out")
	ERR=$(cat "$T/err")
}

expect_rc() {
	if [ "$RC" -eq "$1" ]; then pass "$2 (exit $RC)"; else fail "$2: exit $RC, expected $1; stdout: $OUT; stderr: $ERR"; fi
}

expect_contains() {
	case "$1" in
	*"$2"*) pass "$3" ;;
	*) fail "$3: '$2' not in: $1" ;;
	esac
}

# One field of the --json line in OUT ("attempts" -> 3).
json_field() { printf '%s\n' "$OUT" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" | head -n 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# timing_check COND MESSAGE: a check on elapsed time, enforced unless the
# daemon or the CLI runs under a wrapper such as valgrind, which slows them
# past any honest bound (then only logged).
timing_check() {
	if eval "$1"; then
		pass "$2"
	elif [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then
		log "not enforced under a wrapper: $2"
	else
		fail "$2"
	fi
}

# key_state ID: the fake's view of a key.
key_state() {
	fake GET "/keys/$1" | sed -n 's/.*"KeyState": *"\([A-Za-z]*\)".*/\1/p'
}

set_key() { fake PUT "/keys/$1" "{\"KeyState\":\"$2\"}" >/dev/null || die "cannot set key $1"; }

# daemon_fds, daemon_rss_kb, daemon_rss_anon_kb, daemon_cpu_ticks: the running
# daemon's open file descriptors, resident set and its anonymous part (KiB)
# and CPU time (user+system, clock ticks), from /proc.
daemon_fds() { ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l; }
daemon_rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"; }
daemon_rss_anon_kb() { awk '$1 == "RssAnon:" { print $2 }' "/proc/$DAEMON_PID/status"; }
daemon_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }

# load ARGS...: tests/load/varlink-load.py against the daemon; leaves its JSON
# summary in LOAD and its exit status in LOAD_RC.
load() {
	LOAD=$(python3 "$top_srcdir/tests/load/varlink-load.py" "$SOCK" "$@")
	LOAD_RC=$?
}

# load_field NAME: one number from LOAD.
load_field() { printf '%s\n' "$LOAD" | sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
