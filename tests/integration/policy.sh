#!/bin/bash
# The local policy decides before any request goes out: default deny, rules
# by user and operation, root only when AllowRoot says so, a bad rule keeps
# the daemon from starting, and --check-config shows what each rule grants.
. "$top_srcdir/tests/integration/lib.sh"

me=$(id -u)
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
start_fake
set_key "$KEY2" PendingDeletion

# Nobody is allowed anything (root included, with AllowRoot=no).
printf '[Policy]\nAllowRoot=no\n[KMS]\nRetryBase=50ms\n' >"$T/kmscanceld.conf"
start_daemon
run_cli --json cancel "$KEY1"
expect_rc 1 "default deny"
expect_contains "$OUT" '"error":"PermissionDenied"' "refusal is PermissionDenied"
expect_contains "$OUT" "local policy" "the refusal says it is the local policy"
case "$OUT" in *kmscanceld.conf* | *"$T"*) fail "the refusal names the config file: $OUT" ;; *) pass "the refusal names no path" ;; esac
[ "$(fake_stat requests)" = 0 ] && pass "a refused call sends nothing" || fail "the fake saw a request"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "key untouched" || fail "key changed"
stop_daemon

# One user, one key, cancel and describe only.  [AWS] Account= lets a bare
# key ID resolve to its ARN for the glob rule.
cat >"$T/kmscanceld.conf" <<CONF
[AWS]
Account=$TEST_ACCOUNT
[Policy]
AllowRoot=no
Allow=user:$me cancel,describe $KEY1
Allow=* describe arn:aws:kms:*:$TEST_ACCOUNT:key/2*
Allow=user:$me describe account:444455556666
[KMS]
RetryBase=50ms
CONF
start_daemon
run_cli cancel "$KEY1"
expect_rc 0 "allowed key"
run_cli --json cancel "$KEY2"
expect_rc 1 "another key"
expect_contains "$OUT" '"error":"PermissionDenied"' "another key is refused"
case "$OUT" in *"$KEY1"*) fail "the refusal mentions other keys: $OUT" ;; *) pass "the refusal names no other key" ;; esac
set_key "$KEY1" PendingDeletion
run_cli --json cancel --enable "$KEY1"
expect_rc 1 "--enable needs the enable operation"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "refused --enable cancels nothing" || fail "key changed"
run_cli describe "$KEY2"
expect_rc 0 "describe by ARN glob through the resolved ARN"
# Another account's ARN is refused locally even when the policy allows it
# (no credentials for it); only then does the caller learn why.
run_cli --json describe "arn:aws:kms:$TEST_REGION:444455556666:key/$KEY2"
expect_rc 1 "another account's key"
expect_contains "$OUT" "account 444455556666" "the refusal names the account"
run_cli --json cancel "arn:aws:kms:$TEST_REGION:444455556666:key/$KEY2"
expect_rc 1 "another account's key, not allowed"
expect_contains "$OUT" "local policy" "... refused by the policy first"
[ "$(fake_stat requests)" = 2 ] && pass "refused calls sent nothing" || fail "requests: $(fake_stat requests)"
grep -q "decision=deny" "$T/daemon.log" && pass "denials are audited" || fail "no deny record in the log"
stop_daemon

# --check-config shows the rules; a bad rule stops the daemon from starting.
out=$("$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config 2>&1)
expect_contains "$out" "uid $me may cancel,describe on $KEY1" "--check-config describes each rule"
printf '[Policy]\nAllow=user:%s destroy *\n' "$me" >"$T/bad.conf"
out=$("$KMSCANCELD" --config "$T/bad.conf" --socket "$T/bad.sock" 2>&1)
rc=$?
[ $rc -ne 0 ] && pass "a bad rule keeps the daemon from starting" || fail "daemon started with a bad rule"
expect_contains "$out" "bad.conf:2" "the error names file and line"
expect_contains "$out" "destroy" "the error names the bad operation"
