#!/bin/bash
# Where a secret may live.  The daemon gets credentials that rotate from
# the container endpoint, web identity (STS over TLS), IMDSv2,
# credential_process and STS AssumeRole ([Account N] RoleArn=, through a
# CONNECT proxy with a password); each set is used, then replaced (the fake KMS takes
# the new set and answers ExpiredTokenException to the old token, so the
# daemon fetches again), and the daemon's memory is scanned
# (tests/security/memscan.py, /proc/PID/mem): no replaced secret key or
# session token, no web-identity JWT, no IMDS session token and no container
# Authorization token may be found anywhere, and the current set only in
# OpenSSL's secure heap; the proxy password only in the environment block
# and its Proxy-Authorization value once.  Then credential_process's own promises: its
# environment carries none of the daemon's AWS credentials nor
# CREDENTIALS_DIRECTORY, and a hanging one is killed with everything it
# started, while the daemon keeps answering other calls.  Needs root (to
# read another process's memory; CI runs as root).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/creds-lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	log "SKIP: needs root to read the daemon's memory"
	exit 77
fi
MEMSCAN="$top_srcdir/tests/security/memscan.py"
ROTATIONS=3

# A distinctive random string: LABEL + hex, long enough that a chance match
# is impossible.  Tokens are long (as STS's are) so that every buffer on the
# way has to grow.
canary() { printf '%s%s' "$1" "$(od -An -N"$2" -tx1 /dev/urandom | tr -d ' \n')"; }

start_fake
WRAPPER=${DAEMON_WRAPPER:-}
DAEMON_WRAPPER="$NO_ENV_KEYS ${DAEMON_WRAPPER:-}" # composes with check-valgrind's

NEEDLES="$T/needles"
# new_creds: a fresh set, handed out by fake-creds and accepted by the fake
# KMS, which from now on answers ExpiredTokenException to the previous token.
new_creds() {
	SECRET=$(canary kmsCanarySecret 16)
	TOKEN=$(canary kmsCanaryToken 700)
	creds_admin POST /_admin/config "{\"accessKeyId\":\"$TEST_AKID\",\"secretAccessKey\":\"$SECRET\",\"sessionToken\":\"$TOKEN\",\"expiresIn\":3600}" >/dev/null ||
		die "fake-creds: config"
	fake PUT /credentials "{\"accessKeyId\":\"$TEST_AKID\",\"secretAccessKey\":\"$SECRET\",\"sessionToken\":\"$TOKEN\"}" >/dev/null ||
		die "fake KMS: credentials"
}

# rotate WHAT: calls with each of ROTATIONS+1 sets; the replaced ones are
# added to the needles as "never", the last one as "secure".
rotate() {
	local what=$1 k
	for k in $(seq 0 "$ROTATIONS"); do
		if [ "$k" -gt 0 ]; then
			printf 'never %s-secret-%s %s\nnever %s-token-%s %s\n' "$what" "$k" "$SECRET" "$what" "$k" "$TOKEN" >>"$NEEDLES"
			new_creds
		fi
		run_cli describe "$KEY1"
		[ "$RC" = 0 ] || { fail "$what: call with set $k: $OUT $ERR"; return; }
		run_cli describe "$KEY1"
		[ "$RC" = 0 ] || fail "$what: second call with set $k: $OUT $ERR"
	done
	pass "$what: $ROTATIONS rotations, each set used"
	printf 'secure %s-secret-current %s\nsecure %s-token-current %s\n' "$what" "$SECRET" "$what" "$TOKEN" >>"$NEEDLES"
}

# An ASan build's runtime keeps its own copy of the environment block
# (memscan.py --sanitizer-environ).
scan() { # WHAT
	local rc=0 asan=
	grep -qa __asan_init "/proc/$DAEMON_PID/exe" 2>/dev/null && asan=--sanitizer-environ
	python3 "$MEMSCAN" $asan "$DAEMON_PID" "$NEEDLES" >"$T/scan.$1" 2>&1 || rc=$?
	grep -E '^(secure heap|skipped|scanned|sanitizer)' "$T/scan.$1" | sed "s/^/$1: /" >&2
	if [ "$rc" = 0 ]; then
		pass "$1: no replaced secret anywhere in the daemon's memory, the current one only in the secure heap"
	else
		fail "$1: the memory scan found secrets where they must not be:"
		grep -v '^  ' "$T/scan.$1" >&2
		grep '^  ' "$T/scan.$1" | head -n 20 >&2
	fi
}

# --- the container endpoint, with an Authorization token from a file ---------
AUTH=$(canary kmsCanaryContainerAuth 24)
start_creds --container-auth "Bearer $AUTH"
printf 'Bearer %s\n' "$AUTH" >"$T/container-auth"
CONTAINER_ENV=(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$CREDS_PORT/container/credentials"
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T/container-auth")
: >"$NEEDLES"
printf 'never container-authorization %s\n' "$AUTH" >>"$NEEDLES"
new_creds
DAEMON_ENV=("${CONTAINER_ENV[@]}")
start_daemon
rotate container
expect_contains "$(status_field credentialSource)" "container" "the container endpoint answered"
scan container

# --- web identity: STS AssumeRoleWithWebIdentity over TLS -------------------------
JWT=$(canary kmsCanaryJwt 300)
stop_creds
rm -f "$T/creds.port" "$T/sts.port"
start_creds --web-identity-token "$JWT"
printf '%s\n' "$JWT" >"$T/web-token"
: >"$NEEDLES"
printf 'never web-identity-jwt %s\n' "$JWT" >>"$NEEDLES"
new_creds
DAEMON_ENV=(AWS_WEB_IDENTITY_TOKEN_FILE="$T/web-token" AWS_ROLE_ARN=arn:aws:iam::111122223333:role/kms
	AWS_ROLE_SESSION_NAME=kmscancel-test AWS_ENDPOINT_URL_STS="https://127.0.0.1:$STS_PORT")
restart_daemon
rotate web-identity
expect_contains "$(status_field credentialSource)" "web-identity" "web identity answered"
scan web-identity

# --- IMDSv2: the session token fake-creds hands out is IMDS-SESSION-<n> --------
: >"$NEEDLES"
printf 'never imds-session-token IMDS-SESSION-\n' >>"$NEEDLES"
new_creds
DAEMON_ENV=(AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$CREDS_PORT")
restart_daemon
rotate imds
expect_contains "$(status_field credentialSource)" "imds" "IMDS answered"
scan imds

# --- credential_process ---------------------------------------------------------
cat >"$T/proc" <<PROC
#!/bin/sh
cat "$T/proc.json"
PROC
chmod +x "$T/proc"
printf '[default]\ncredential_process = %s\n' "$T/proc" >"$T/aws-config"
: >"$NEEDLES"
new_creds
proc_json() {
	printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s", "Expiration": "%s"}\n' \
		"$TEST_AKID" "$SECRET" "$TOKEN" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" >"$T/proc.json"
}
proc_json
eval "base_$(declare -f new_creds)"
new_creds() { base_new_creds && proc_json; }
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config")
restart_daemon
rotate credential-process
expect_contains "$(status_field credentialSource)" "credential-process" "credential_process answered"
scan credential-process

# --- [Account N] RoleArn=: STS AssumeRole, through a CONNECT proxy with a password --
# The fake STS issues the role's secret key and token the test chose
# (PUT /sts/credentials), and expires the previous ones: KMS then answers
# ExpiredTokenException and the daemon assumes the role again.  KMS and
# STS are reached through a proxy that wants a password: the password is
# meant to be in the environment block the daemon was started with (it
# passes it on to credential_process) and its Proxy-Authorization value in
# the proxy configuration (daemon/proxy.c), one copy shared by the KMS and
# credential clients for the daemon's life; no CONNECT request may leave
# another copy behind.
ROLE_ACCOUNT=444455556666
ROLE_KEY=b234abcd-12ab-34cd-56ef-1234567890ab
fake PUT "/keys/$ROLE_KEY" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$ROLE_ACCOUNT\"}" >/dev/null ||
	die "fake KMS: the role account's key"
PROXY_PASS=$(canary kmsCanaryProxyPass 16)
python3 "$top_srcdir/tests/fakes/fake-proxy" --port-file "$T/proxy.port" --log "$T/proxy.log" \
	--auth "kmsuser:$PROXY_PASS" >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
trap 'rc=$?; kill $PROXY_PID 2>/dev/null; (exit $rc); cleanup' EXIT
wait_for_file "$T/proxy.port" || die "proxy did not start: $(cat "$T/proxy.out")"
new_role_creds() {
	ROLE_SECRET=$(canary kmsCanaryRoleSecret 16)
	ROLE_TOKEN=$(canary kmsCanaryRoleToken 700)
	fake PUT /sts/credentials "{\"secretAccessKey\":\"$ROLE_SECRET\",\"sessionToken\":\"$ROLE_TOKEN\"}" >/dev/null ||
		die "fake STS: credentials"
}
printf '[KMS]\nRetryBase=50ms\n[Account %s]\nRoleArn=arn:aws:iam::%s:role/kms\n' "$ROLE_ACCOUNT" "$ROLE_ACCOUNT" \
	>"$T/kmscanceld.conf"
: >"$NEEDLES"
new_role_creds
fake POST /reset >/dev/null
DAEMON_ENV=(AWS_CONFIG_FILE="$T/aws-config" HTTPS_PROXY="http://kmsuser:$PROXY_PASS@127.0.0.1:$(cat "$T/proxy.port")")
restart_daemon
ROLE_ARN_KEY="arn:aws:kms:$TEST_REGION:$ROLE_ACCOUNT:key/$ROLE_KEY"
for k in $(seq 0 "$ROTATIONS"); do
	if [ "$k" -gt 0 ]; then
		printf 'never role-secret-%s %s\nnever role-token-%s %s\n' "$k" "$ROLE_SECRET" "$k" "$ROLE_TOKEN" >>"$NEEDLES"
		new_role_creds
	fi
	for n in 1 2; do
		run_cli describe "$ROLE_ARN_KEY"
		[ "$RC" = 0 ] || fail "assume-role: call $n with set $k: $OUT $ERR"
	done
done
printf 'secure role-secret-current %s\nsecure role-token-current %s\n' "$ROLE_SECRET" "$ROLE_TOKEN" >>"$NEEDLES"
assumed=$(fake_stat stsAssumeRole)
[ "$assumed" = $((ROTATIONS + 1)) ] && pass "assume-role: $ROTATIONS rotations, each set used (AssumeRole $assumed times)" ||
	fail "assume-role: AssumeRole answered $assumed times, expected $((ROTATIONS + 1))"
expired=$(fake GET /requests | grep -o '"error": *"ExpiredTokenException"' | wc -l)
[ "$expired" -ge "$ROTATIONS" ] && pass "… each rotation seen by the daemon as ExpiredTokenException ($expired)" ||
	fail "assume-role: ExpiredTokenException answered $expired times, expected $ROTATIONS"
grep -q "127.0.0.1:$FAKE_PORT 200 auth=ok" "$T/proxy.log" &&
	pass "KMS was reached through the proxy, with its password" ||
	fail "the proxy did not tunnel to KMS: $(tr '\n' ' ' <"$T/proxy.log")"
printf 'once proxy-authorization %s\n' "$(printf 'kmsuser:%s' "$PROXY_PASS" | base64 -w0)" >>"$NEEDLES"
# Under valgrind the environment block is the wrapper's copy, elsewhere.
if [ -z "$WRAPPER" ]; then
	printf 'stack proxy-password %s\n' "$PROXY_PASS" >>"$NEEDLES"
else
	log "SKIP (part): under $WRAPPER the environment block is the wrapper's; the raw proxy password is not looked for"
fi
scan assume-role

# --- credential_process: its environment, and a hang ------------------------------
# The default credentials come from the environment (and a systemd credential
# directory is set); two [Account N] Profile= sections use credential_process.
ENV_SECRET=$(canary kmsCanaryEnvSecret 16)
ENV_TOKEN=$(canary kmsCanaryEnvToken 64)
mkdir -p "$T/credentials-dir"
DUMP=444455556666 HANG=777788889999
cat >"$T/dump" <<PROC
#!/bin/sh
env >"$T/dump.env"
ulimit -Sn >"$T/dump.nofile"
printf '{"Version": 1, "AccessKeyId": "AKIDDUMPDUMPDUMP01", "SecretAccessKey": "dumpsecret"}\n'
PROC
cat >"$T/hang" <<PROC
#!/bin/sh
sleep 300 &
echo \$! >"$T/grandchild.pid"
echo \$\$ >"$T/child.pid"
sleep 300
PROC
chmod +x "$T/dump" "$T/hang"
printf '[default]\n[profile dump]\ncredential_process = %s\n[profile hang]\ncredential_process = %s\n' \
	"$T/dump" "$T/hang" >"$T/aws-config"
# Long enough for a call to another account to be made meanwhile (valgrind
# makes the CLI slow to start).
HANG_TIMEOUT=3
[ -n "${WRAPPER}${CLI_WRAPPER:-}" ] && HANG_TIMEOUT=10
printf '[KMS]\nRetryBase=50ms\n[AWS]\nCredentialProcessTimeout=%s\n[Account %s]\nProfile=dump\n[Account %s]\nProfile=hang\n' \
	"$HANG_TIMEOUT" "$DUMP" "$HANG" >"$T/kmscanceld.conf"
DAEMON_ENV=(AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$ENV_SECRET" AWS_SESSION_TOKEN="$ENV_TOKEN"
	CREDENTIALS_DIRECTORY="$T/credentials-dir" AWS_CONFIG_FILE="$T/aws-config" LANG=C.UTF-8 TZ=UTC)
fake PUT /credentials "{\"accessKeyId\":\"$TEST_AKID\",\"secretAccessKey\":\"$ENV_SECRET\",\"sessionToken\":\"$ENV_TOKEN\"}" >/dev/null ||
	die "fake KMS: credentials"
DAEMON_WRAPPER=$WRAPPER
restart_daemon
kmscancel describe "arn:aws:kms:us-east-1:$DUMP:key/$KEY1" >/dev/null 2>&1
if [ -f "$T/dump.env" ]; then
	held=0
	for v in "$ENV_SECRET" "$ENV_TOKEN" "$TEST_AKID" AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID \
		CREDENTIALS_DIRECTORY "$T/credentials-dir"; do
		grep -qF -- "$v" "$T/dump.env" && { fail "credential_process's environment holds ${v:0:24}"; held=1; }
	done
	[ "$held" = 0 ] && pass "credential_process's environment holds no AWS credential, no CREDENTIALS_DIRECTORY"
	grep -qx "AWS_PROFILE=dump" "$T/dump.env" && grep -qx "AWS_CONFIG_FILE=$T/aws-config" "$T/dump.env" &&
		grep -qx "AWS_REGION=$TEST_REGION" "$T/dump.env" && grep -qx "LANG=C.UTF-8" "$T/dump.env" &&
		grep -q "^PATH=" "$T/dump.env" &&
		pass "… and has its profile, file and region, PATH, LANG" ||
		fail "credential_process's environment lacks what it should have: $(tr '\n' ' ' <"$T/dump.env")"
	extra=$(sed 's/=.*//' "$T/dump.env" | grep -vxE 'PATH|HOME|USER|LOGNAME|TZ|TMPDIR|LANG|LANGUAGE|LC_[A-Z]+|(HTTPS|HTTP|NO)_PROXY|(https|http|no)_proxy|AWS_PROFILE|AWS_CONFIG_FILE|AWS_SHARED_CREDENTIALS_FILE|AWS_REGION|AWS_DEFAULT_REGION|AWS_CA_BUNDLE|PWD|SHLVL|_' | tr '\n' ' ')
	[ -z "$extra" ] && pass "… and nothing else of the daemon's" || fail "credential_process also got: $extra"
	# valgrind keeps its own copy of RLIMIT_NOFILE and never passes a
	# setrlimit() of it to the kernel, so the exec'd program keeps the
	# real one: only a run without the wrapper can show the lowering.
	nofile=$(cat "$T/dump.nofile" 2>/dev/null)
	if [ -n "$WRAPPER" ]; then
		log "SKIP (part): under $WRAPPER setrlimit(RLIMIT_NOFILE) never reaches the kernel (soft limit seen: $nofile)"
	elif [ "$nofile" = 1024 ] || [ "$nofile" -lt 1024 ] 2>/dev/null; then
		pass "… and the conventional soft descriptor limit ($nofile), not the daemon's raised one"
	else
		fail "credential_process's soft RLIMIT_NOFILE is $nofile (select(2) needs at most 1024)"
	fi
else
	fail "credential_process did not run: $(tail -n 3 "$T/daemon.log")"
fi

# The environment's secret key and token left the environment at start
# (daemon/secret-env.c): they are in the secure heap and nowhere else, not
# in the environment block /proc/PID/environ shows.  Under valgrind the
# block the kernel made is valgrind's own and the daemon only ever sees a
# copy, so there the scan cannot speak for the daemon: skipped, visibly.
if [ -z "$WRAPPER" ]; then
	printf 'secure env-secret %s\nsecure env-token %s\n' "$ENV_SECRET" "$ENV_TOKEN" >"$NEEDLES"
	scan environment
	if tr '\0' '\n' <"/proc/$DAEMON_PID/environ" | grep -qF -e "$ENV_SECRET" -e "$ENV_TOKEN"; then
		fail "the secret key or token is still in /proc/$DAEMON_PID/environ"
	else
		pass "/proc/PID/environ shows neither the secret key nor the token"
	fi
else
	log "SKIP (part): under $WRAPPER the environment block is the wrapper's; its scan is not the daemon's"
fi

start=$(now_ms)
kmscancel describe "arn:aws:kms:us-east-1:$HANG:key/$KEY1" >"$T/hang.out" 2>&1 &
hang_pid=$!
wait_for_file "$T/grandchild.pid" || fail "the hanging credential_process did not start"
child=$(cat "$T/child.pid" 2>/dev/null) grandchild=$(cat "$T/grandchild.pid" 2>/dev/null)
t0=$(now_ms)
run_cli describe "$KEY1"
t1=$(now_ms)
expect_rc 0 "another account's call is answered while credential_process hangs"
kill -0 "$hang_pid" 2>/dev/null && pass "… while the hanging one still waits" || fail "the hanging call ended early"
timing_check "[ $((t1 - t0)) -lt 2000 ]" "… within 2 s ($((t1 - t0)) ms)"
wait "$hang_pid"
grep -q "killed" "$T/hang.out" && pass "the hanging credential_process ended in a timeout ($(($(now_ms) - start)) ms)" ||
	fail "the hanging call: $(cat "$T/hang.out")"
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone=1
for i in $(seq 1 40); do
	alive "$grandchild" || alive "$child" || { gone=0; break; }
	sleep 0.05
done
[ "$gone" = 0 ] && pass "… killed with what it started (its grandchild is gone)" ||
	fail "still running after the timeout: child $child $(alive "$child" && echo alive), grandchild $grandchild $(alive "$grandchild" && echo alive)"
kill "$grandchild" "$child" 2>/dev/null
for i in $(seq 1 40); do
	[ -e "/proc/$child" ] || break
	sleep 0.05
done
[ -e "/proc/$child" ] && fail "the killed credential_process was not reaped (pid $child)" || pass "… and reaped"

exit 0
