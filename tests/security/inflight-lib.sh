# Shared by reload-in-flight.sh and shutdown-in-flight.sh: the accounts, keys
# and helpers to hold a call in each state the daemon has (waiting for
# credentials, for the account, for KMS, in settle backoff, as a follower).
# Sourced after ../integration/lib.sh.

A=$TEST_ACCOUNT  # the default credentials' own account
B=444455556666   # [Account B] Profile=prod: static keys of its own
C=777788889999   # [Account C] Profile=slow: a credential_process held by a file
AKID_B=AKIDACCOUNTB00000001
SECRET_B=account-b/secret/do-not-use
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
KEY3=3234abcd-12ab-34cd-56ef-1234567890ab
KEY4=4234abcd-12ab-34cd-56ef-1234567890ab
KB=b234abcd-12ab-34cd-56ef-1234567890ab
KC=c234abcd-12ab-34cd-56ef-1234567890ab
arn() { printf 'arn:aws:kms:%s:%s:key/%s' "$TEST_REGION" "$1" "$2"; }

# Under valgrind everything is many times slower: hold longer.
if [ -n "${DAEMON_WRAPPER:-}${CLI_WRAPPER:-}" ]; then SLOW=1; else SLOW=0; fi
hold_ms() { [ "$SLOW" = 1 ] && echo $(($1 * 5)) || echo "$1"; }

# wait_in_flight N: until the daemon has N calls in flight (besides the
# status call that asks), for up to 60 s.
wait_in_flight() {
	local i n
	for i in $(seq 1 300); do
		n=$(kmscancel --json status 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["callsInFlight"] - 1)' 2>/dev/null)
		[ "${n:-0}" -ge "$1" ] && return 0
		sleep 0.2
	done
	fail "the daemon has ${n:-no} calls in flight, expected $1"
	return 1
}

{
	for k in "$KEY1" "$KEY2" "$KEY3" "$KEY4"; do printf '%s PendingDeletion\n' "$k"; done
	printf '%s PendingDeletion %s\n' "$KB" "$B"
	printf '%s PendingDeletion %s\n' "$KC" "$C"
} >"$T/keys"
printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AKID_B" "$SECRET_B" >"$T/credentials"
# Account C's credential_process answers only once $T/release exists; each
# run leaves a line in $T/process.runs.
cat >"$T/slow-process" <<PROC
#!/bin/sh
echo run >>"$T/process.runs"
i=0
while [ ! -e "$T/release" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "$AKID_C" "$SECRET_C"
PROC
chmod +x "$T/slow-process"
printf '[profile slow]\ncredential_process = "%s"\n' "$T/slow-process" >"$T/aws-config"
DAEMON_ENV=(AWS_SHARED_CREDENTIALS_FILE="$T/credentials" AWS_CONFIG_FILE="$T/aws-config")
FAKE_OPTS=(--account-creds "$B:$AKID_B:$SECRET_B" --account-creds "$C:$AKID_C:$SECRET_C")

# write_conf REGION [with-b] [with-c] [extra lines]: the daemon's
# configuration ([AWS] Account=$DEFAULT_ACCOUNT when set).  Generous timeouts: the holds below (longer under valgrind)
# must not time out on their own.
write_conf() {
	{
		printf '[AWS]\nRegion=%s\nCredentialProcessTimeout=120\nSTSTimeout=120\n' "$1"
		[ -n "${DEFAULT_ACCOUNT:-}" ] && printf 'Account=%s\n' "$DEFAULT_ACCOUNT"
		printf '[KMS]\nRetryBase=50ms\nTimeout=120\nAttemptTimeout=60\n'
		[ "${2:-}" = with-b ] && printf '[Account %s]\nProfile=prod\n' "$B"
		[ "${3:-}" = with-c ] && printf '[Account %s]\nProfile=slow\n' "$C"
		printf '%s' "${4:-}"
	} >"$T/kmscanceld.conf"
}

reset_keys() {
	local k
	for k in "$KEY1" "$KEY2" "$KEY3" "$KEY4"; do set_key "$k" PendingDeletion; done
	fake PUT "/keys/$KB" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$B\"}" >/dev/null
	fake PUT "/keys/$KC" "{\"KeyState\":\"PendingDeletion\",\"Account\":\"$C\"}" >/dev/null
}

# reload: SIGHUP, and wait until the daemon logged that it reloaded.
RELOADS=0
reload() {
	local i
	RELOADS=$((RELOADS + 1))
	kill -HUP "$DAEMON_PID"
	for i in $(seq 1 400); do
		[ "$(grep -c 'reloaded ' "$T/daemon.log")" -ge "$RELOADS" ] && return 0
		sleep 0.05
	done
	fail "reload $RELOADS not logged"
}

# wait_stat NAME MIN: until the fake's counter NAME (the first of that name
# in /stats) reaches MIN, for up to 30 s.
wait_stat() {
	local i v
	for i in $(seq 1 300); do
		v=$(fake_stat "$1")
		[ "${v:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "the fake's $1 stayed at ${v:-0}, expected $2"
	return 1
}

# wait_fault KIND MIN: until /stats "faults" KIND reaches MIN.
wait_fault() {
	local i v
	for i in $(seq 1 300); do
		v=$(fake GET /stats | sed -n "s/.*\"faults\": *{[^}]*\"$1\": *\([0-9]*\).*/\1/p")
		[ "${v:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "the fake's $1 faults stayed at ${v:-0}, expected $2"
	return 1
}

# vcall NAME METHOD PARAMS: one raw Varlink call in the background (the CLI
# has no way to pass "account"); the reply, or DISCONNECTED, goes to
# $T/NAME.out.  Its pid is left in VPID.
vcall() {
	python3 - "$SOCK" "$2" "$3" >"$T/$1.out" 2>&1 <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(120)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": sys.argv[2], "parameters": json.loads(sys.argv[3])}).encode() + b"\0")
buf = b""
while not buf.endswith(b"\0"):
    chunk = s.recv(65536)
    if not chunk:
        print("DISCONNECTED " + buf.decode(errors="replace"))
        sys.exit(1)
    buf += chunk
print(buf[:-1].decode())
PY
	VPID=$!
}

# bg NAME ARGS...: the CLI in the background, --json, output in $T/NAME.out;
# its pid is left in BPID.
bg() {
	local name=$1
	shift
	kmscancel --json "$@" >"$T/$name.out" 2>&1 &
	BPID=$!
}

# bg_out NAME: what a background call printed, compacted as run_cli does
# ("key": v -> "key":v).
bg_out() { sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/$1.out"; }

# requests_for KEY-ID: the fake's /requests records naming that key, one
# line each: OPERATION ACCESS-KEY-ID STATUS ERROR.
requests_for() {
	fake GET /requests | python3 -c '
import json, sys
key = sys.argv[1]
for r in json.load(sys.stdin):
    if key in (r.get("keyId") or ""):
        print(r.get("operation"), r.get("accessKeyId"), r.get("status"), r.get("error") or "-")
' "$1"
}
