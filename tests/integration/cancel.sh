#!/bin/bash
# End to end: CLI -> daemon -> fake KMS over TLS.  A cancel that works, and
# every KMS error reaching the CLI by name with the contract's exit code.
. "$top_srcdir/tests/integration/lib.sh"

start_fake
start_daemon

ARN="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1"

# The happy path: the key leaves PendingDeletion, the CLI prints its ARN.
run_cli cancel "$KEY1"
expect_rc 0 "cancel of a key pending deletion"
expect_contains "$OUT" "$ARN" "human output names the key ARN"
[ "$(key_state "$KEY1")" = Disabled ] && pass "key is Disabled afterwards" || fail "key state is $(key_state "$KEY1")"

# --json, with the reply's field names; the same key again is now refused.
set_key "$KEY1" PendingDeletion
run_cli --json cancel "$KEY1"
expect_rc 0 "--json cancel"
expect_contains "$OUT" "\"keyId\":\"$ARN\"" "json keyId is the ARN"
expect_contains "$OUT" '"ok":true' "json ok"
expect_contains "$OUT" '"keyState":"Disabled"' "json keyState"
expect_contains "$OUT" '"attempts":1' "json attempts"
expect_contains "$OUT" '"requestId":"' "json requestId"

run_cli cancel "$KEY1"
expect_rc 1 "cancel of a Disabled key"
expect_contains "$ERR" "KMSInvalidStateException" "KMSInvalidStateException reaches the CLI"

# The key ARN form works too.
set_key "$KEY1" PendingDeletion
run_cli cancel "$ARN"
expect_rc 0 "cancel by key ARN"

# An unknown key.
run_cli --json cancel 99999999-9999-9999-9999-999999999999
expect_rc 1 "unknown key"
expect_contains "$OUT" '"error":"NotFoundException"' "NotFoundException by name"
expect_contains "$OUT" '"ok":false' "json ok false"

# Errors injected at the fake, each in the exact AWS shape.  The retryable
# ones fail every attempt so the daemon gives up after its retries.
check_injected() {
	local name=$1 status=$2 count=$3
	set_key "$KEY1" PendingDeletion
	fake POST /fail "{\"error\":\"$name\",\"status\":$status,\"count\":$count,\"message\":\"injected $name\"}" >/dev/null ||
		die "cannot inject $name"
	run_cli --json cancel "$KEY1"
	expect_rc 1 "$name"
	expect_contains "$OUT" "\"error\":\"$name\"" "$name reaches the CLI by name"
	expect_contains "$OUT" "injected $name" "$name message is AWS's"
	fake POST /reset >/dev/null
	# /reset also clears the key table's faults, not the keys.
}
check_injected InvalidArnException 400 1
check_injected DependencyTimeoutException 503 10
check_injected KMSInternalException 500 10
check_injected AccessDeniedException 400 1

# Retryable errors are retried: one failure, then success on attempt 2.
set_key "$KEY1" PendingDeletion
fake POST /fail '{"error":"KMSInternalException","status":500,"count":1}' >/dev/null
run_cli --json cancel "$KEY1"
expect_rc 0 "one KMSInternalException is retried away"
expect_contains "$OUT" '"attempts":2' "the reply counts both attempts"

# Human output of a failure goes to stderr, names the error, and exits 1.
run_cli cancel 99999999-9999-9999-9999-999999999999
expect_rc 1 "human failure"
expect_contains "$ERR" "NotFoundException" "human failure names the error"
