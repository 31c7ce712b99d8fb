#!/bin/bash
# A Deny rule that could match, given what the daemon does not know, does
# match (kmscanceld.conf(5), "How the policy is evaluated"): Deny by ARN and
# by account: for a bare key ID while GetCallerIdentity fails; a bare key ID
# in cn-north-1 against an arn:aws-cn: Deny; a key ID written in upper case
# in a rule; a misspelt Deny= (Denny=) is a config error at start and on
# reload, which keeps the old policy; a caller whose group lookup fails
# (more groups than POLICY_MAX_GROUPS, in a private mount namespace with a
# generated /etc/group) meets group Deny rules.  Each ends in
# PermissionDenied or a config error, and the fake KMS sees no request.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/security/as-uid.sh"

A=$TEST_ACCOUNT
OTHER=444455556666
CALLER=4251
KEY1_UPPER=$(printf '%s' "$KEY1" | tr 'a-f' 'A-F')

start_fake
# Every GetCallerIdentity fails until told otherwise: the daemon's account
# stays unknown.
fake POST /sts/fail '{"action":"GetCallerIdentity","count":100000,"error":"AccessDenied","status":403}' >/dev/null ||
	die "cannot make STS fail"

write_conf() { # AWS-SECTION POLICY
	printf '[Daemon]\nSocketMode=0666\n[AWS]\n%s\n[KMS]\nRetryBase=50ms\n[Policy]\n%s\n' "$1" "$2" >"$T/kmscanceld.conf"
}

# reload: SIGHUP, then wait for the daemon to say it reloaded or failed to.
reload() {
	local n
	n=$(grep -c -e "reloaded " -e "reload failed" "$T/daemon.log")
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 1 400); do
		[ "$(grep -c -e "reloaded " -e "reload failed" "$T/daemon.log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	fail "no reload message"
}

# denied WHAT KEY [CLI options]: CALLER's cancel of KEY ends in
# PermissionDenied, nothing reaches the fake KMS, the key stays pending.
denied() {
	local what=$1 key=$2 before
	shift 2
	before=$(fake_stat requests)
	as $CALLER $CALLER -- --json "$@" cancel "$key"
	expect_rc 1 "$what: refused"
	expect_contains "$OUT" '"error":"PermissionDenied"' "$what: PermissionDenied"
	[ "$(fake_stat requests)" = "$before" ] && pass "$what: the fake KMS saw no request" ||
		fail "$what: the fake KMS saw $(($(fake_stat requests) - before)) request(s)"
	[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "$what: key untouched" || {
		fail "$what: the key changed"
		set_key "$KEY1" PendingDeletion # each case on its own
	}
}

# account_state: the daemon's accountState, as root sees it.
account_state() { run_cli --json status; printf '%s' "$OUT" | sed -n 's/.*"accountState":"\([a-z]*\)".*/\1/p'; }

wait_identity_failed() {
	for _ in $(seq 1 400); do
		[ "$(account_state)" = failed ] && return 0
		sleep 0.05
	done
	fail "the daemon's account never failed to be learned: $OUT"
}

# --- the account unknown: GetCallerIdentity fails -------------------------------------------------
write_conf "" "Deny=* cancel arn:aws:kms:*:$A:key/*
Allow=* * *"
start_daemon
wait_identity_failed
denied "Deny by ARN, bare key ID, account unknown" "$KEY1"
case "$OUT" in *AccessDenied* | *GetCallerIdentity* | *"$A"*) fail "the refusal relays the STS error: $OUT" ;;
*) pass "the refusal says nothing of STS" ;; esac
audit_has "event=decision" "uid=$CALLER" "decision=deny" "rule=$T/kmscanceld.conf:" "reason=\"account unknown\"" &&
	pass "audited as a deny for want of the account" || fail "no deny record with the reason"

write_conf "" "Deny=* cancel account:$A
Allow=* * *"
reload
wait_identity_failed
denied "Deny by account:, bare key ID, account unknown" "$KEY1"
before=$(fake_stat requests)
raw_call $CALLER io.kmscancel.CancelKeyDeletion "{\"keyId\":\"$KEY1\",\"account\":\"$A\"}"
expect_contains "$REPLY" '"error":"io.kmscancel.PermissionDenied"' "the call's account parameter is known: denied"
[ "$(fake_stat requests)" = "$before" ] && pass "... and the fake KMS saw no request" || fail "the call reached the fake"

# The same policy lets the call through once the account is known to be
# another one: the call waits for GetCallerIdentity (held 1 s here).
write_conf "" "Deny=* cancel account:$OTHER
Allow=* * *"
fake POST /reset >/dev/null
fake POST /sts/fail '{"kind":"delay","ms":1000,"action":"GetCallerIdentity","count":1}' >/dev/null
reload
as $CALLER $CALLER -- --json cancel "$KEY1"
expect_rc 0 "a Deny of another account does not refuse once the account is learnt"
[ "$(key_state "$KEY1")" = Disabled ] && pass "the key was cancelled" || fail "key: $(key_state "$KEY1")"
set_key "$KEY1" PendingDeletion
stop_daemon

# --- partition from the region: a bare key ID in cn-north-1 --------------------------------------
fake POST /reset >/dev/null
write_conf "Account=$A
Region=cn-north-1" "Deny=* cancel arn:aws-cn:kms:cn-north-1:$A:key/*
Allow=* * *"
start_daemon
denied "bare key ID in cn-north-1 against an arn:aws-cn: Deny" "$KEY1"
stop_daemon

# --- a key ID in upper case in a rule ---------------------------------------------------------------
write_conf "Account=$A" "Deny=* cancel $KEY1_UPPER
Deny=* describe arn:aws:kms:$TEST_REGION:$A:key/${KEY1_UPPER:0:8}*
Allow=* * *"
start_daemon
denied "Deny naming the key ID in upper case" "$KEY1"
denied "... and the key's ARN" "arn:aws:kms:$TEST_REGION:$A:key/$KEY1"
before=$(fake_stat requests)
as $CALLER $CALLER -- --json describe "$KEY1"
expect_contains "$OUT" '"error":"PermissionDenied"' "an ARN glob with the key part in upper case denies"
[ "$(fake_stat requests)" = "$before" ] && pass "... and the fake KMS saw no request" || fail "the describe reached the fake"

# --- a misspelt Deny=: an error at start and on reload -------------------------------------------
write_conf "Account=$A" "Denny=* cancel *
Allow=* * *"
out=$("$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config 2>&1)
rc=$?
[ $rc -ne 0 ] && pass "--check-config fails on Denny=" || fail "--check-config accepted Denny=: $out"
expect_contains "$out" "unknown key Denny= in [Policy]" "--check-config names the key"
reload
grep "reload failed" "$T/daemon.log" | grep -q "Denny" && pass "the reload fails naming Denny=" ||
	fail "no reload failure naming Denny="
denied "the old policy is kept after the failed reload" "$KEY1"
stop_daemon
out=$(timeout 20 "$KMSCANCELD" --config "$T/kmscanceld.conf" --socket "$T/other.sock" 2>&1)
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && pass "the daemon does not start with Denny=" || fail "the daemon started with Denny="

# --- the caller's groups cannot be looked up ------------------------------------------------------
# A private mount namespace for the daemon, with a passwd and a group file
# made here: uid 4260 is in more groups than POLICY_MAX_GROUPS (65536), so
# getgrouplist() cannot give them all; uid 4261's passwd line is longer
# than a 4 KiB getpwuid_r() buffer, so its one group is found only if the
# buffer grows.
if ! unshare -m true 2>/dev/null; then
	log "SKIP (part): unshare -m does not work here; group lookup failure not tested"
	exit $((failures > 0))
fi
MANY=4260 LONG=4261
{ cat /etc/passwd
  printf 'kmsfcmany:x:%d:%d::/nonexistent:/usr/sbin/nologin\n' $MANY $MANY
  printf 'kmsfclong:x:%d:%d:%s:/nonexistent:/usr/sbin/nologin\n' $LONG $LONG "$(head -c 6000 /dev/zero | tr '\0' g)"
} >"$T/passwd"
{ cat /etc/group
  printf 'kmsfclonggrp:x:170000:kmsfclong\n'
  awk 'BEGIN { for (i = 0; i < 65537; i++) printf "kmsfc%d:x:%d:kmsfcmany\n", i, 100000 + i }'
} >"$T/group"
cat >"$T/ns.sh" <<NS
#!/bin/bash
mount --bind "$T/passwd" /etc/passwd && mount --bind "$T/group" /etc/group || exit 1
exec "\$@"
NS
write_conf "Account=$A" "Deny=group:100005 cancel *
Deny=group:170000 cancel *
Allow=* * *"
saved_wrapper=${DAEMON_WRAPPER:-}
DAEMON_WRAPPER="unshare -m --propagation private bash $T/ns.sh ${saved_wrapper}"
start_daemon
DAEMON_WRAPPER=$saved_wrapper
CALLER=$MANY
denied "group lookup fails (more than POLICY_MAX_GROUPS groups): group Deny matches" "$KEY1"
audit_has "event=decision" "uid=$MANY" "decision=deny" "reason=\"groups unknown\"" &&
	pass "audited as a deny for want of the groups" || fail "no deny record naming the groups"
CALLER=$LONG
denied "a passwd entry longer than 4 KiB: the buffer grows, its group's Deny matches" "$KEY1"
as 4262 4262 -- --json cancel "$KEY1"
expect_rc 0 "a caller without either problem is served in the same daemon"
stop_daemon
