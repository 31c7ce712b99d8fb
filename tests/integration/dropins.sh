#!/bin/bash
# Configuration drop-ins (kmscanceld.conf(5), DROP-INS) with --config=FILE,
# which reads FILE.d/*.conf: --check-config and GetStatus list the files in
# the order read; a drop-in overrides a key of the main file; policy rules
# from drop-ins apply in lexical order of the drop-ins (a Deny in one refuses,
# an Allow in another grants); a reload picks up a drop-in added, masked
# (a symlink to /dev/null) or broken (the old configuration stays, the error
# names the drop-in's file:line); 256 long-named drop-ins still fit in
# GetStatus's reply, and a 257th is refused.  Needs root (setpriv runs the
# CLI as other uids).
. "$top_srcdir/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv (util-linux) to run clients as other uids"
	exit 77
fi

# Test-only ids: the rules name them by number.
ALICE=4262 BOB=4263
KEY2=2234abcd-12ab-34cd-56ef-1234567890ab
D="$T/kmscanceld.conf.d"

# The other uids must reach the socket (through $T) and run the CLI: the
# build tree may sit where they cannot go, so give them a copy in $T.
chmod 0711 "$T"
CLI=("$KMSCANCEL")
if ! setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- "$KMSCANCEL" --version >/dev/null 2>&1; then
	mkdir -m 0755 "$T/bin"
	cp "$top_builddir/.libs/kmscancel" "$top_builddir"/.libs/libkmscancel.so* "$T/bin/" 2>/dev/null
	chmod -R a+rX "$T/bin"
	CLI=(env LD_LIBRARY_PATH="$T/bin" "$T/bin/kmscancel")
	setpriv --reuid=$ALICE --regid=$ALICE --clear-groups -- "${CLI[@]}" --version >/dev/null 2>&1 ||
		{ log "SKIP: another uid cannot run the CLI from $top_builddir"; exit 77; }
fi

# as UID -- CLI ARGS: the CLI as that caller (its own uid as gid); OUT, RC.
as() {
	local uid=$1
	shift 2
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "${CLI[@]}" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT="$(cat "$T/out") $(cat "$T/err")"
}

# reload: SIGHUP, then wait (with a deadline, not a fixed sleep) for the
# daemon to log the outcome; leaves the outcome's line in RELOAD.
reload() {
	local before i
	before=$(grep -c -e "reloaded " -e "reload failed" "$T/daemon.log")
	kill -HUP "$DAEMON_PID"
	for i in $(seq 1 600); do
		[ "$(grep -c -e "reloaded " -e "reload failed" "$T/daemon.log")" -gt "$before" ] && break
		sleep 0.05
	done
	RELOAD=$(grep -e "reloaded " -e "reload failed" "$T/daemon.log" | tail -n 1)
}

# config_files: GetStatus (as root) in OUT, its configFiles in FILES, one
# line each.
config_files() {
	run_cli --json status
	FILES=$(printf '%s\n' "$OUT" | sed -n 's/.*"configFiles":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | tr -d '"')
}

start_fake
set_key "$KEY2" PendingDeletion

# The main file keeps the socket private; a drop-in opens it to other uids.
cat >"$T/kmscanceld.conf" <<CONF
[Daemon]
SocketMode=0600
[AWS]
Account=$TEST_ACCOUNT
[KMS]
RetryBase=50ms
[Policy]
Allow=user:$BOB describe *
CONF
mkdir "$D"
printf '[Daemon]\nSocketMode=0666\n' >"$D/00-socket.conf"
# Rules add up in lexical order: 10's Deny comes before 50's Allow.
printf '[Policy]\nDeny=user:%s cancel %s\n' "$BOB" "$KEY2" >"$D/10-deny-bob.conf"
printf '[Policy]\n# for the operators\nAllow=user:%s cancel *\nAllow=user:%s cancel *\n' "$ALICE" "$BOB" >"$D/50-ops.conf"
printf '[Policy]\nAllow=user:%s cancel *\n' 4299 >"$D/60-not-read.conf.txt"
printf '[Policy]\nAllow=user:%s cancel *\n' 4299 >"$D/.70-hidden.conf"

# --- --check-config lists every file read, in order ---------------------------------------------
env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_REGION="$TEST_REGION" \
	${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check" 2>&1
RC=$? OUT=$(cat "$T/check") ERR=
expect_rc 0 "--check-config loads the file and its drop-ins"
expected="config:      $T/kmscanceld.conf
config:      $D/00-socket.conf
config:      $D/10-deny-bob.conf
config:      $D/50-ops.conf"
[ "$(grep '^config:' "$T/check")" = "$expected" ] && pass "--check-config lists the files in order" ||
	fail "--check-config's files: $(grep '^config:' "$T/check")"
expect_contains "$OUT" "$D/10-deny-bob.conf:2" "--check-config's rules name their drop-in's file:line"

start_daemon

# --- a drop-in overrides a key of the main file --------------------------------------------------
[ "$(stat -c %a "$SOCK")" = 666 ] && pass "00-socket.conf's SocketMode=0666 overrides the main file's" ||
	fail "socket mode $(stat -c %a "$SOCK"), expected 666"

# --- GetStatus's configFiles ---------------------------------------------------------------------
config_files
[ "$FILES" = "$T/kmscanceld.conf
$D/00-socket.conf
$D/10-deny-bob.conf
$D/50-ops.conf" ] && pass "GetStatus lists the files in order" || fail "configFiles: $FILES"
run_cli status
expect_contains "$OUT" "Drop-in:      $D/00-socket.conf" "the CLI's status shows the drop-ins"
expect_contains "$OUT" "Config:       $T/kmscanceld.conf" "... after the main file"

# --- the drop-ins' rules apply --------------------------------------------------------------------
set_key "$KEY1" PendingDeletion
as $ALICE -- cancel "$KEY1"
expect_rc 0 "alice, allowed only by 50-ops.conf, cancels"
as $BOB -- --json cancel "$KEY2"
expect_rc 1 "bob is refused KEY2 by 10-deny-bob.conf (before 50-ops.conf's Allow)"
expect_contains "$OUT" PermissionDenied "... PermissionDenied"
grep 'audit event=decision' "$T/daemon.log" | grep "uid=$BOB" | grep -q "rule=$D/10-deny-bob.conf:2" &&
	pass "the audit names the drop-in's rule" || fail "no audit line naming $D/10-deny-bob.conf:2"
[ "$(key_state "$KEY2")" = PendingDeletion ] && pass "KEY2 untouched" || fail "KEY2 changed"

# --- a drop-in masked by a symlink to /dev/null is not read ---------------------------------------
rm "$D/10-deny-bob.conf"
ln -s /dev/null "$D/10-deny-bob.conf"
reload
expect_contains "$RELOAD" "reloaded " "the reload with a masked drop-in succeeds"
as $BOB -- cancel "$KEY2"
expect_rc 0 "with 10-deny-bob.conf masked, 50-ops.conf lets bob cancel KEY2"
config_files
case "$FILES" in *10-deny-bob*) fail "the masked drop-in is listed: $FILES" ;; *) pass "the masked drop-in is not listed" ;; esac

# --- a drop-in added is picked up by a reload ------------------------------------------------------
printf '[Policy]\nAllow=\nAllow=user:%s describe *\n' "$BOB" >"$D/60-lockdown.conf"
reload
expect_contains "$RELOAD" "reloaded " "the reload with a new drop-in succeeds"
set_key "$KEY1" PendingDeletion
as $ALICE -- cancel "$KEY1"
expect_rc 1 "60-lockdown.conf's Allow= cleared the rules before it: alice is refused"
config_files
expect_contains "$FILES" "$D/60-lockdown.conf" "GetStatus lists the new drop-in"

# --- a broken drop-in keeps the old configuration ---------------------------------------------------
printf '[Policy]\n\nAlow=user:%s cancel *\n' "$ALICE" >"$D/70-broken.conf"
reload
expect_contains "$RELOAD" "reload failed" "a broken drop-in fails the reload"
expect_contains "$RELOAD" "$D/70-broken.conf:3" "... naming the drop-in's file:line"
as $ALICE -- cancel "$KEY1"
expect_rc 1 "the old policy still applies: alice still refused"
as $BOB -- describe "$KEY1"
expect_rc 0 "... and bob may still describe"
config_files
case "$FILES" in *70-broken*) fail "the broken drop-in is listed: $FILES" ;; *) pass "GetStatus keeps the old list" ;; esac
[ "$(json_field reloadsFailed)" = 1 ] && pass "reloadsFailed counts it" || fail "reloadsFailed=$(json_field reloadsFailed)"

# --- removing the drop-ins goes back to what is left ---------------------------------------------
rm "$D/60-lockdown.conf" "$D/70-broken.conf"
reload
expect_contains "$RELOAD" "reloaded " "the reload after removing drop-ins succeeds"
as $ALICE -- cancel "$KEY1"
expect_rc 0 "alice is allowed again by 50-ops.conf"
config_files
[ "$FILES" = "$T/kmscanceld.conf
$D/00-socket.conf
$D/50-ops.conf" ] && pass "GetStatus lists what is left" || fail "configFiles: $FILES"
stop_daemon

# --- as many drop-ins as are read, with long names: GetStatus still fits ----------------------------
# 256 paths of ~300 bytes do not fit in one 64 KiB Varlink message:
# configFiles is cut from its end, the main file kept, and the cut counted.
rm -f "$D"/*.conf
long=$(printf 'x%.0s' $(seq 1 240))
for i in $(seq 100 355); do printf '[KMS]\n' >"$D/$i-$long.conf"; done
start_daemon
run_cli --json status
expect_rc 0 "GetStatus answers with 256 long-named drop-ins"
omitted=$(json_field configFilesOmitted)
[ "${omitted:-0}" -gt 0 ] && pass "configFilesOmitted=$omitted" || fail "no configFilesOmitted: ${OUT:0:300}"
expect_contains "$OUT" "\"configFiles\":[\"$T/kmscanceld.conf\",\"$D/100-" "the main file and the first drop-in stay"
printf '[KMS]\n' >"$D/999-one-too-many.conf"
reload
expect_contains "$RELOAD" "too many drop-ins in $D (at most 256)" "a 257th drop-in fails the reload"
stop_daemon
