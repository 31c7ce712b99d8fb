#!/bin/bash
# CLI contract without AWS in the way: invalid key IDs, an unreachable
# daemon, usage errors.
. "$top_srcdir/tests/integration/lib.sh"

# No daemon at all: exit 69 (EX_UNAVAILABLE), from --socket and from
# $KMSCANCEL_SOCKET.
run_cli cancel "$KEY1"
expect_rc 69 "daemon unreachable via --socket"
KMSCANCEL_SOCKET="$T/nothing-here" "$KMSCANCEL" cancel "$KEY1" >/dev/null 2>&1
RC=$?; OUT=; ERR=
expect_rc 69 "daemon unreachable via \$KMSCANCEL_SOCKET"

start_fake
start_daemon

# Invalid key IDs (malformed aliases too: well-formed ones are resolved,
# tests/integration/aliases.sh) exit 2 and never reach KMS.
before=$(fake_stat requests)
for bad in alias/my.key arn:aws:kms:us-east-1:111122223333:alias/ not-a-key \
	1234abcd-12ab-34cd-56ef-1234567890a arn:aws:s3:::bucket ""; do
	run_cli cancel "$bad"
	expect_rc 2 "invalid key ID '$bad'"
done
run_cli cancel alias/my.key
expect_contains "$ERR" "not an alias" "a malformed alias gets a message that says so"
after=$(fake_stat requests)
[ "$before" = "$after" ] && pass "the fake saw no request for invalid key IDs" ||
	fail "the fake saw $((after - before)) requests for invalid key IDs"

# $KMSCANCEL_SOCKET reaches the daemon when --socket is absent.
KMSCANCEL_SOCKET="$SOCK" "$KMSCANCEL" cancel "$KEY1" >"$T/out" 2>"$T/err"
RC=$?; OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
expect_rc 0 "\$KMSCANCEL_SOCKET is honoured"

# Usage errors exit 2.
run_cli
expect_rc 2 "no subcommand"
run_cli frobnicate
expect_rc 2 "unknown subcommand"
run_cli cancel
expect_rc 2 "cancel without keys"
run_cli --help
expect_rc 0 "--help"
run_cli --version
expect_rc 0 "--version"
