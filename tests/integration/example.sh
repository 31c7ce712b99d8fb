#!/bin/bash
# The EXAMPLE program of libkmscancel(3) (man/example.c, the same bytes as
# the page) against the real daemon and the fake KMS: the page's code works.
. "$top_srcdir/tests/integration/lib.sh"

EXAMPLE="$top_builddir/man/example"

# The page shows the program byte for byte: undo the roff escapes that
# man/sync-example applies and compare.
sed -n '/^\.\\" BEGIN man\/example\.c/,/^\.\\" END man\/example\.c/p' "$top_srcdir/man/libkmscancel.3" |
	sed -e '1d' -e '$d' -e 's/^\\&//' -e 's/\\(aq/'"'"'/g' -e 's/\\-/-/g' -e 's/\\e/\\/g' >"$T/page-example.c"
if cmp -s "$T/page-example.c" "$top_srcdir/man/example.c"; then
	pass "libkmscancel(3) shows man/example.c exactly"
else
	fail "libkmscancel(3) and man/example.c differ (run man/sync-example):"
	diff -u "$top_srcdir/man/example.c" "$T/page-example.c" >&2
fi

ARN="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1"

start_fake
# Allowed whoever runs the test, root or not.
printf '[KMS]\nRetryBase=50ms\n[Policy]\nAllow=user:%s cancel *\n' "$(id -u)" >"$T/kmscanceld.conf"
start_daemon

run_example() {
	"$EXAMPLE" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# Success: the key leaves PendingDeletion and the program says so.
run_example "$SOCK" "$KEY1"
expect_rc 0 "example cancels a key pending deletion"
expect_contains "$OUT" "$KEY1: deletion cancelled, $ARN is Disabled" "example prints the success"
[ "$(key_state "$KEY1")" = Disabled ] && pass "key is Disabled afterwards" || fail "key state is $(key_state "$KEY1")"

# Failure: the same key again is not pending deletion any more.
run_example "$SOCK" "$KEY1"
expect_rc 1 "example reports a KMS error"
expect_contains "$ERR" "$KEY1: KMSInvalidStateException" "the error reaches the example by name"

# No daemon: the call's outcome says so, through the callback.
run_example "$T/no-such-socket" "$KEY1"
expect_rc 1 "example without a daemon"
expect_contains "$ERR" "DaemonUnavailable" "an unreachable daemon is DaemonUnavailable"

# Usage.
run_example "$SOCK"
expect_rc 2 "example without a key"
