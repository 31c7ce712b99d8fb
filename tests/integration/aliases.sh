#!/bin/bash
# cancel and describe by alias and alias ARN (issue 18): the daemon resolves
# the alias with DescribeKey and acts on the key ARN it names; the policy
# decides on the alias before any request and on the key after, and a
# refusal after resolving reads exactly as one before.
. "$top_srcdir/tests/integration/lib.sh"

me=$(id -u)
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
ARN1="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY1"
ARN2="arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:key/$KEY2"
start_fake
fake PUT "/keys/$KEY1" '{"KeyState":"PendingDeletion","Alias":"alias/prod-db"}' >/dev/null || die "key 1"
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion","Alias":"alias/test-web"}' >/dev/null || die "key 2"

# Everyone may do anything: by alias, by alias ARN; an unknown alias.
printf '[Policy]\nAllowRoot=no\nAllow=* * *\n[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
start_daemon
run_cli --json describe alias/prod-db
expect_rc 0 "describe by alias"
expect_contains "$OUT" "\"keyId\":\"$ARN1\"" "describe's keyId is the key ARN"
run_cli --json cancel alias/prod-db
expect_rc 0 "cancel by alias"
expect_contains "$OUT" "\"keyId\":\"$ARN1\"" "cancel's keyId is the key ARN"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the alias's key was cancelled" || fail "key 1: $(key_state "$KEY1")"
[ "$(key_state "$KEY2")" = PendingDeletion ] && pass "the other key untouched" || fail "key 2 changed"
run_cli --json cancel "arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:alias/test-web"
expect_rc 0 "cancel by alias ARN"
expect_contains "$OUT" "\"keyId\":\"$ARN2\"" "alias ARN: keyId is the key ARN"
[ "$(key_state "$KEY2")" = Disabled ] && pass "the alias ARN's key was cancelled" || fail "key 2: $(key_state "$KEY2")"
run_cli --json describe "arn:aws:kms:$TEST_REGION:$TEST_ACCOUNT:alias/test-web"
expect_rc 0 "describe by alias ARN"
run_cli --json cancel alias/nonesuch
expect_rc 1 "unknown alias"
expect_contains "$OUT" "NotFoundException" "an unknown alias is KMS's NotFoundException"
grep -q "key=alias/prod-db key_arn=$ARN1" "$T/daemon.log" && pass "the audit has the alias and the key ARN" ||
	fail "no audit record with alias and key ARN"
stop_daemon

# The key allowed, not the alias; a Deny naming an alias; a Deny on a key.
fake PUT "/keys/$KEY1" '{"KeyState":"PendingDeletion"}' >/dev/null
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion"}' >/dev/null
cat >"$T/kmscanceld.conf" <<CONF
[Policy]
AllowRoot=no
Deny=user:$me cancel alias/test-*
Deny=user:$me cancel $KEY2
Allow=user:$me cancel,describe $KEY1
Allow=user:$me describe alias/test-*
[KMS]
RetryBase=50ms
CONF
start_daemon
run_cli --json cancel alias/prod-db
expect_rc 0 "the key allowed, not its alias: allowed"
[ "$(key_state "$KEY1")" = Disabled ] && pass "cancelled through its alias" || fail "key 1: $(key_state "$KEY1")"
before=$(fake_stat requests)
run_cli --json cancel alias/test-web
expect_rc 1 "a Deny naming the alias"
refusal_alias=$(printf '%s' "$OUT" | sed 's/.*"message":"\([^"]*\)".*/\1/')
expect_contains "$OUT" '"error":"PermissionDenied"' "... is PermissionDenied"
[ "$(fake_stat requests)" = "$before" ] && pass "a Deny naming the alias sends nothing" ||
	fail "requests: $before -> $(fake_stat requests)"
# describe alias/test-web is allowed by the alias rule, but the key's Deny
# is for cancel only: allowed.
run_cli --json describe alias/test-web
expect_rc 0 "describe allowed by an alias rule"
# The key behind alias/test-web is denied: move the alias to a name no rule
# names, so the refusal can only come after resolving.
fake PUT "/keys/$KEY2" '{"KeyState":"PendingDeletion","Alias":"alias/other"}' >/dev/null
run_cli --json cancel alias/other
expect_rc 1 "a Deny on the resolved key"
refusal_key=$(printf '%s' "$OUT" | sed 's/.*"message":"\([^"]*\)".*/\1/')
[ "$refusal_key" = "$refusal_alias" ] && pass "the refusal after resolving reads as one before" ||
	fail "refusals differ: '$refusal_alias' vs '$refusal_key'"
case "$OUT" in *"$KEY2"* | *NotFound*) fail "the refusal tells of the key: $OUT" ;; *) pass "the refusal names no key" ;; esac
[ "$(key_state "$KEY2")" = PendingDeletion ] && pass "the denied key untouched" || fail "key 2 changed"
# An unknown alias for a caller whose right hangs on the key: a refusal.
run_cli --json cancel alias/nonesuch
expect_rc 1 "unknown alias, key-bound caller"
refusal_none=$(printf '%s' "$OUT" | sed 's/.*"message":"\([^"]*\)".*/\1/')
[ "$refusal_none" = "$refusal_alias" ] && pass "... refused as any refusal, not NotFound" ||
	fail "unknown alias: $OUT"
grep -q "decision=deny.*key=alias/other\|key=alias/other.*decision=deny" "$T/daemon.log" &&
	pass "the deny after resolving is audited" || fail "no deny record for alias/other"
stop_daemon
