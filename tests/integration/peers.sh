#!/bin/bash
# Against peers nobody here wrote: the AWS CLI (botocore's SigV4 signer) must
# be accepted by the fake KMS, whose verifier is our signer, so ours and
# botocore's agree; and the daemon must work against moto's KMS emulator,
# including moto's quirks (KeyId echoed instead of the ARN, an HTML 500 for a
# cancel by key ARN).  Skips visibly when a peer is not installed.
. "$top_srcdir/tests/integration/lib.sh"

command -v aws >/dev/null 2>&1 && aws --version >/dev/null 2>&1 || { log "SKIP: the AWS CLI (aws) is not installed"; exit 77; }

# The AWS CLI, configured only through its environment, loopback only.
awscli() {
	env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="${AWSCLI_SECRET:-$TEST_SECRET}" AWS_DEFAULT_REGION="$TEST_REGION" \
		AWS_CA_BUNDLE="$T/certs/ca.pem" AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=1 \
		aws --endpoint-url "$AWS_CLI_ENDPOINT" --output json "$@"
}

# 1. botocore signs, our verifier (daemon/sigv4.c inside the fake) checks.
start_fake
AWS_CLI_ENDPOINT="https://127.0.0.1:$FAKE_PORT"
out=$(awscli kms cancel-key-deletion --key-id "$KEY1" 2>&1)
rc=$?
[ $rc -eq 0 ] && pass "AWS CLI cancel-key-deletion accepted by the fake's SigV4 check" || fail "AWS CLI cancel: $out"
expect_contains "$out" "arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1" "the AWS CLI parses the fake's answer"
[ "$(fake_stat signatureFailures)" = 0 ] && pass "no signature failures" || fail "signature failures: $(fake GET /stats)"
out=$(AWSCLI_SECRET=wrong awscli kms describe-key --key-id "$KEY1" 2>&1)
expect_contains "$out" "InvalidSignatureException" "a wrong secret is caught by the same verifier (the check can fail)"

# 2. The daemon against moto.
if ! command -v moto_server >/dev/null 2>&1; then
	log "SKIP (part): moto_server is not installed"
	exit 0
fi
MOTO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$T/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null; cleanup' EXIT
AWS_CLI_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for i in $(seq 1 100); do
	awscli kms list-keys >/dev/null 2>&1 && break
	sleep 0.1
done
key=$(awscli kms create-key --query KeyMetadata.KeyId --output text) || die "moto: create-key failed"
awscli kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null || die "moto: schedule failed"
arn=$(awscli kms describe-key --key-id "$key" --query KeyMetadata.Arn --output text)

stop_daemon
FAKE_PORT=$MOTO_PORT
DAEMON_ENV=(AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$MOTO_PORT")
start_daemon
run_cli --json cancel "$key"
expect_rc 0 "cancel through the daemon against moto"
state=$(awscli kms describe-key --key-id "$key" --query KeyMetadata.KeyState --output text)
[ "$state" = Disabled ] && pass "moto says the key is Disabled" || fail "moto says $state"
run_cli --json describe "$key"
expect_rc 0 "describe through the daemon against moto"
expect_contains "$OUT" "$arn" "describe reports moto's ARN"

# moto answers a cancel by ARN with an HTML 500: a clear failure, no crash.
awscli kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null
run_cli --json --timeout 20 cancel "$arn"
if [ "$RC" -eq 0 ]; then
	pass "moto accepted a cancel by ARN (newer moto)"
else
	log "answer: $OUT"
	expect_rc 1 "moto's HTML 500 is reported as a failure"
	expect_contains "$OUT" '"ok":false' "the failure is a proper JSON answer"
fi
kill -0 "$DAEMON_PID" && pass "daemon alive after moto's 500" || fail "daemon died"
run_cli status
expect_rc 0 "daemon still answers"
