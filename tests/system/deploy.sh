#!/bin/bash
# The README's deployment ("Using it against AWS"), done as an administrator
# would, under the host's systemd booted as PID 1 in a throwaway container
# (container-lib.sh): a --prefix=/usr --sysconfdir=/etc "make install"
# staged with DESTDIR and laid over the container's /usr and /etc, then the
# README's commands, its configuration file and its credential, and the
# fake KMS and STS inside the container.  Then what a deployment must do:
# the socket's path, owner, group and mode; activation by the first
# connection; root, a group member, a user outside the group and a member
# without a rule; `systemctl status` / `reload` / `stop` with a call in
# flight; the watchdog; exit on idle; the journal's audit records; the
# sandbox of the running service; the credential and its rotation; the
# socket bound by the daemon itself under the shipped unit.
#
# Loopback only: the container has a private network (its own loopback and
# nothing else, checked), every endpoint the daemon is given is a fake on
# that loopback, and IMDS is disabled.  What differs from the README: the
# endpoints and the test CA (a drop-in, as for a VPC endpoint), and
# WatchdogSec=5s instead of 30 s so that the watchdog is seen in seconds
# (and every ping along the way is checked: no restart before SIGSTOP).
#
# Needs root and systemd-nspawn; skipped, saying why, where a container
# cannot boot.  Run by `make check-system` (scripts/test, once).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/system/container-lib.sh"
. "$top_srcdir/tests/system/system-lib.sh"

ct_can_boot || { log "SKIP: $CT_SKIP_REASON"; exit 77; }
started=$SECONDS

REGION=eu-west-1
ACCOUNT=111122223333
TEST_AKID2=AKIDKMSCANCELROTATED
TEST_SECRET2=kmscancel/rotated/secret/do-not-use-either
key() { printf '1234abcd-12ab-34cd-56ef-0000000000%02d' "$1"; }
KEY_ROOT=$(key 1) KEY_ALICE=$(key 2) KEY_BOB=$(key 3) KEY_CAROL=$(key 4) KEY_ALICE2=$(key 5)
KEY_ALICE3=$(key 6) KEY_ROT=$(key 7) KEY_HELD=$(key 8) KEY_WATCH=$(key 9) KEY_IDLE=$(key 10)
KEY_SELF=$(key 11)
SOCKET=/run/kmscanceld/io.kmscancel

# --- the build, installed ------------------------------------------------------
# The plain build when configured for /usr and /etc (scripts/test does so);
# else one of its own here, which takes minutes.
B=$top_builddir
if [ "$sbindir" != /usr/sbin ] || [ "$sysconfdir" != /etc ]; then
	log "the build is for sbindir=$sbindir sysconfdir=$sysconfdir: building one for /usr and /etc in $T/build"
	mkdir -p "$T/build"
	(cd "$T/build" && "$top_srcdir/configure" --quiet --prefix=/usr --sysconfdir=/etc &&
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j"$(nproc)") >"$T/build.log" 2>&1 ||
		die "build for /usr failed: $(tail -n 20 "$T/build.log")"
	B=$T/build
fi
"$B/kmscanceld" --help 2>&1 | grep -q "/etc/kmscanceld.conf" ||
	die "$B/kmscanceld was not built for /etc: $("$B/kmscanceld" --help 2>&1 | head -n 5)"

# Installing for another prefix keeps everything under it (configured in
# the background while the container runs; checked at the end).
mkdir -p "$T/px-build"
(cd "$T/px-build" && "$top_srcdir/configure" --quiet --prefix="$T/px" >"$T/px-configure.log" 2>&1) &
px_configure=$!

# Debian 12 merges /usr: /lib is /usr/lib, where systemd.pc's units go.
S=$T/stage
mkdir -p "$S/usr/bin" "$S/usr/sbin" "$S/usr/lib" "$S/usr/lib64"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$S/$d"; done
install_stage() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" install DESTDIR="$S" >"$T/install.log" 2>&1; }
install_stage || die "make install failed: $(cat "$T/install.log")"
extra=$(cd "$S" && find . -mindepth 1 -maxdepth 1 ! -name usr ! -name etc ! -type l)
[ -z "$extra" ] && pass "make install put everything under /usr and /etc" || fail "make install wrote outside /usr and /etc: $extra"
[ -f "$S/usr/lib/systemd/system/kmscanceld.service" ] && pass "units in /lib/systemd/system (systemd.pc), which is /usr/lib here" ||
	fail "no unit under /lib/systemd/system: $(cd "$S" && find . -name 'kmscanceld.service')"
echo '# the administrator was here' >>"$S/etc/kmscanceld.conf"
install_stage || die "second make install failed: $(cat "$T/install.log")"
grep -q '^# the administrator was here' "$S/etc/kmscanceld.conf" &&
	pass "make install keeps an existing /etc/kmscanceld.conf" || fail "make install overwrote /etc/kmscanceld.conf"
# The shipped file's word on AWS_ENDPOINT_URL_STS, which routes STS (below).
sts_doc=$(sed -n 's/^# \{0,1\}//p' "$top_srcdir/etc/kmscanceld.conf" | tr '\n' ' ' | tr -s ' ' |
	grep -o '[^.]*AWS_ENDPOINT_URL_STS[^.]*\.')
case "$sts_doc" in
*"change nothing"* | *"changes nothing"* | "") fail "etc/kmscanceld.conf on AWS_ENDPOINT_URL_STS: '$sts_doc'" ;;
*) pass "etc/kmscanceld.conf says what AWS_ENDPOINT_URL_STS does" ;;
esac

# --- the README, read -------------------------------------------------------------
README=$top_srcdir/README.md
# section NAME: the README's "## NAME" section.
section() { awk -v h="## $1" '$0 == h { on = 1; next } /^## / { on = 0 } on' "$README"; }
# block LANG: the first ```LANG block of stdin.
block() { awk -v f="\`\`\`$1" '$0 == f && !done { on = 1; next } on && /^```/ { on = 0; done = 1 } on'; }
deploy=$(section "Using it against AWS")
[ -n "$deploy" ] || die "README has no section 'Using it against AWS'"
readme_commands=$(printf '%s\n' "$deploy" | block sh | sed 's/[[:space:]]*#.*//' | grep -v 'make install')
readme_conf=$(printf '%s\n' "$deploy" | block ini)
readme_loadcred=$(printf '%s\n' "$deploy" | grep -o 'LoadCredential=aws-credentials:[^` ]*' | head -n 1)
case "$readme_conf" in "# /etc/kmscanceld.conf"*) ;; *) die "README's configuration block is not /etc/kmscanceld.conf" ;; esac
[ -n "$readme_commands" ] && [ -n "$readme_loadcred" ] || die "README's commands or LoadCredential= not found"
log "README's commands: $(printf '%s; ' "$readme_commands")"

# --- the container ------------------------------------------------------------------
X=$T/shared # /srv/t inside
mkdir -p "$X"
chmod 0755 "$T" "$X"
make_certs
cp -r "$T/certs" "$X/certs"
chmod -R a+rX "$X/certs"
for i in $(seq 1 11); do printf '%s PendingDeletion\n' "$(key "$i")"; done >"$X/keys"

ct_prepare "$T/ct" || die "cannot make the container's root"
cp -a "$S/etc/." "$CT_ROOT/etc/"
at_cleanup ct_teardown
CT_USR_LAYERS=$S/usr
boot_or_skip


# The fakes, as services of the container's manager (their own output to
# its journal, where the secret must not appear either).
start_ct_fake "$REGION" "$ACCOUNT"
# requested KEY: whether the fake saw any call for KEY.
requested() { fake GET /requests | grep -q "\"keyId\": *\"$1\""; }

# --- the README's steps ----------------------------------------------------------------
csh "set -e; $readme_commands" >"$T/readme.log" 2>&1 || fail "README's commands failed: $(cat "$T/readme.log")"
csh "mkdir -p /etc/kmscanceld && umask 077 && printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	'$TEST_AKID' '$TEST_SECRET' >/etc/kmscanceld/aws-credentials" || die "cannot write the credentials"
# What `systemctl edit kmscanceld.service` makes, with the README's line.
csh "mkdir -p /etc/systemd/system/kmscanceld.service.d &&
	printf '[Service]\n%s\n' '$readme_loadcred' >/etc/systemd/system/kmscanceld.service.d/override.conf"
cp "$X/certs/ca.pem" "$X/ca.pem"
csh "install -D -m 0644 /srv/t/ca.pem /etc/ssl/kmscancel-test-ca.pem && cat >/etc/systemd/system/kmscanceld.service.d/test-endpoints.conf <<EOF
[Service]
Environment=AWS_ENDPOINT_URL_KMS=https://127.0.0.1:$FAKE_PORT AWS_ENDPOINT_URL_STS=https://127.0.0.1:$FAKE_STS_PORT
Environment=AWS_CA_BUNDLE=/etc/ssl/kmscancel-test-ca.pem
Environment=AWS_EC2_METADATA_DISABLED=true AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9
WatchdogSec=5s
EOF"
printf '%s\n' "$readme_conf" >"$X/conf.readme"
put_conf() { c install -m 0644 "/srv/t/$1" /etc/kmscanceld.conf; }
put_conf conf.readme
c systemctl daemon-reload
# Users: alice in group kmscancel, bob in none, carol in kmscancel (and
# later without a rule), erin in kmsadmin and kmscancel.
csh 'groupadd -r kmsadmin && useradd -M -U -G kmscancel alice && useradd -M -U bob &&
	useradd -M -U -G kmscancel carol && useradd -M -U -G kmsadmin,kmscancel erin' || die "cannot add users"

# --- the socket, before any connection -----------------------------------------------------
c getent passwd kmscanceld >/dev/null && c getent group kmscancel >/dev/null &&
	pass "sysusers: user kmscanceld, group kmscancel" || fail "sysusers made no kmscanceld/kmscancel"
sock=$(c stat -c '%F %U %G %a' "$SOCKET")
[ "$sock" = "socket root kmscancel 660" ] && pass "$SOCKET: $sock" || fail "$SOCKET is '$sock', expected socket root kmscancel 660"
unit_is kmscanceld.socket active && pass "kmscanceld.socket is active" || fail "kmscanceld.socket: $(prop kmscanceld.socket ActiveState)"
unit_is kmscanceld.service inactive && pass "the service waits for its first connection" ||
	fail "the service is $(prop kmscanceld.service ActiveState) before any connection"

# --- callers -----------------------------------------------------------------------------------
cli root kmscancel cancel "$KEY_ROOT"
expect_rc 0 "root cancels"
unit_is kmscanceld.service active && pass "the first connection activated the service" ||
	fail "service $(prop kmscanceld.service ActiveState) after a call"
[ "$(key_state "$KEY_ROOT")" = Disabled ] && pass "root's key cancelled at the fake" || fail "root's key: $(key_state "$KEY_ROOT")"
cli alice kmscancel cancel "$KEY_ALICE"
expect_rc 0 "alice (group kmscancel) cancels"
cli bob kmscancel cancel "$KEY_BOB"
expect_rc 69 "bob (not in kmscancel) cannot reach the daemon"
expect_contains "$ERR" "Permission denied" "bob is told why"
expect_contains "$ERR" "group" "bob is told about the group"
cli alice kmscancel status
expect_rc 1 "alice has no status rule"
expect_contains "$OUT$ERR" "does not allow uid $(c id -u alice) to read its status" "alice is told the policy refuses status"
cli erin kmscancel status
expect_rc 0 "erin (kmsadmin, and kmscancel to reach the socket) gets the status"
cli root kmscancel status
expect_rc 0 "root gets the status"
raw=$(printf '%s\n' "$OUT" | sed 1d | grep -v '^[A-Z][A-Za-z. ]*: ')
[ -z "$raw" ] && pass "kmscancel status: every line labelled" || fail "kmscancel status prints raw fields: $raw"
if requested "$KEY_BOB"; then fail "the fake saw bob's key"; else pass "no request for bob's key"; fi

# --- systemctl status, the sandbox ------------------------------------------------------------------
st=$(c systemctl status --no-pager kmscanceld.service)
expect_contains "$st" 'Status: "Serving:' "systemctl status shows the daemon's STATUS="
expect_contains "$st" "credentials from" "STATUS= names the credentials' source"
pid=$(prop kmscanceld.service MainPID)
pstat=$(c cat "/proc/$pid/status")
for want in 'NoNewPrivs:	1' 'Seccomp:	2' 'CapEff:	0000000000000000' 'CapPrm:	0000000000000000'; do
	printf '%s\n' "$pstat" | grep -qx "$want" && pass "running service: $want" || fail "running service: no '$want' in $(printf '%s\n' "$pstat" | grep -E '^(NoNewPrivs|Seccomp|Cap)')"
done
uid=$(printf '%s\n' "$pstat" | awk '$1 == "Uid:" { print $2 }')
[ "$uid" = "$(c id -u kmscanceld)" ] && pass "runs as user kmscanceld" || fail "runs as uid $uid"
online=$(c systemd-analyze security --no-pager kmscanceld.service | sed -n 's/.*Overall exposure level for kmscanceld.service: \([0-9.]*\).*/\1/p')
offline=$(c systemd-analyze security --no-pager --offline=yes /usr/lib/systemd/system/kmscanceld.service |
	sed -n 's/.*Overall exposure level for kmscanceld.service: \([0-9.]*\).*/\1/p')
if [ -n "$online" ] && awk -v e="$online" 'BEGIN { exit !(e <= 2.0) }'; then
	pass "systemd-analyze security (online): exposure $online"
else
	fail "online exposure '${online:-unknown}'"
fi
[ "$online" = "$offline" ] && pass "online exposure equals the offline figure ($offline)" || fail "online $online, offline $offline"

# --- the credential ---------------------------------------------------------------------------------
cred=/run/credentials/kmscanceld.service/aws-credentials
c test -f "$cred" && pass "the credential is in \$CREDENTIALS_DIRECTORY" || fail "no $cred"
penv=$(c cat "/proc/$pid/environ" | tr '\0' '\n')
printf '%s\n' "$penv" | grep -qx "CREDENTIALS_DIRECTORY=/run/credentials/kmscanceld.service" &&
	pass "the daemon is given CREDENTIALS_DIRECTORY" || fail "daemon environment: $(printf '%s\n' "$penv" | grep -v SECRET)"
printf '%s\n' "$penv" | grep -q '^AWS_\(SECRET_ACCESS_KEY\|ACCESS_KEY_ID\|SESSION_TOKEN\)=' &&
	fail "AWS keys in the daemon's environment" || pass "no AWS keys in the daemon's environment"
as alice cat "$cred" >/dev/null 2>&1 && fail "alice reads the credential" || pass "alice cannot read the credential"
as kmscanceld cat /etc/kmscanceld/aws-credentials >/dev/null 2>&1 && fail "user kmscanceld reads /etc/kmscanceld/aws-credentials" ||
	pass "the daemon's user cannot read the file itself, only the credential"
[ "$(fake GET /requests | grep -o "\"accessKeyId\": *\"$TEST_AKID\"" | wc -l)" -ge 2 ] && pass "KMS calls signed with the credential's key" ||
	fail "fake saw no calls signed by $TEST_AKID"
[ "$(fake_stat stsGetCallerIdentity)" -ge 1 ] && pass "AWS_ENDPOINT_URL_STS routed GetCallerIdentity to the fake STS" ||
	fail "no STS call reached the fake"

# --- reload: a changed policy applies, a broken file keeps it ---------------------------------------
sed 's/^Allow=group:kmscancel /Allow=user:alice /' "$X/conf.readme" >"$X/conf.alice"
grep -q '^Allow=user:alice ' "$X/conf.alice" || die "cannot derive a changed policy from the README's"
put_conf conf.alice
c systemctl reload kmscanceld.service && pass "systemctl reload" || fail "systemctl reload failed"
cli carol kmscancel --json cancel "$KEY_CAROL"
expect_rc 1 "carol (group kmscancel, no rule any more) is refused"
expect_contains "$OUT$ERR" "PermissionDenied" "carol's refusal is PermissionDenied"
cli alice kmscancel cancel "$KEY_ALICE2"
expect_rc 0 "alice (user rule) cancels after the reload"
printf '[Policy]\nAllow=nobody-knows-this\n' >"$X/conf.broken"
put_conf conf.broken
c systemctl reload kmscanceld.service
unit_is kmscanceld.service active && pass "a broken file does not stop the service" || fail "service $(prop kmscanceld.service ActiveState) after a broken reload"
cli carol kmscancel cancel "$KEY_CAROL"
expect_rc 1 "carol still refused: the broken file kept the policy"
cli alice kmscancel cancel "$KEY_ALICE3"
expect_rc 0 "alice still allowed: the broken file kept the policy"
c journalctl -u kmscanceld.service --no-pager -o cat | grep -q '/etc/kmscanceld.conf:2' &&
	pass "the journal names the broken line" || fail "no error naming /etc/kmscanceld.conf:2 in the journal"
if requested "$KEY_CAROL"; then fail "the fake saw carol's key"; else pass "no request for carol's key"; fi
put_conf conf.readme
c systemctl reload kmscanceld.service

# --- a rotated credential file ------------------------------------------------------------------
# systemd 252 copies a LoadCredential= file when the service starts and never
# on reload (systemd/systemd#21099; refreshing on reload came in 2026, PR
# #40093): the README says to restart, which loses no call (the socket holds
# new clients, the old instance answers every accepted call first).
csh "umask 077 && printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	'$TEST_AKID2' '$TEST_SECRET2' >/etc/kmscanceld/aws-credentials"
fake PUT /credentials "{\"accessKeyId\":\"$TEST_AKID2\",\"secretAccessKey\":\"$TEST_SECRET2\"}" >/dev/null ||
	die "cannot rotate the fake's credentials"
c systemctl reload kmscanceld.service
if c grep -q "$TEST_AKID2" "$cred"; then
	log "this systemd refreshes LoadCredential= on reload"
else
	log "systemd $(c systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'): reload keeps the old copy of the credential"
	c systemctl restart kmscanceld.service || fail "systemctl restart failed"
fi
cli alice kmscancel cancel "$KEY_ROT"
expect_rc 0 "a cancel after the rotation, as the README says to rotate"
fake GET /requests | tr '{' '\n' | grep "\"$KEY_ROT\"" | grep -q "\"accessKeyId\": *\"$TEST_AKID2\"" &&
	pass "signed with the rotated key" || fail "the rotated credential was not used: $OUT $ERR"
[ "$(prop kmscanceld.service NRestarts)" = 0 ] || fail "restarted by failure: NRestarts=$(prop kmscanceld.service NRestarts)"

# --- systemctl stop answers a held call first ------------------------------------------------------------
fake POST /delay '{"ms":3000,"operation":"CancelKeyDeletion","count":1}' >/dev/null
as alice kmscancel cancel "$KEY_HELD" >"$T/held.out" 2>&1 &
held=$!
kms_busy() { c kmscancel --json status | grep -q '"kms": *{[^}]*"callsInFlight": *[1-9]'; }
wait_until 20 kms_busy || fail "the held call never reached KMS"
t0=$(now_ms)
c systemctl stop kmscanceld.service
stop_ms=$(($(now_ms) - t0))
wait "$held"
held_rc=$?
[ "$held_rc" -eq 0 ] && pass "the held call was answered ok by a stopping daemon (stop took $stop_ms ms)" ||
	fail "held call: exit $held_rc: $(cat "$T/held.out")"
[ "$(key_state "$KEY_HELD")" = Disabled ] && pass "the held call's key is cancelled" || fail "held key: $(key_state "$KEY_HELD")"
[ "$(prop kmscanceld.service Result)" = success ] && pass "the drained daemon exited cleanly" ||
	fail "stop result: $(prop kmscanceld.service Result)"
cli root kmscancel describe "$KEY_ROOT"
expect_rc 0 "after a stop, the socket activates it again"

# --- the watchdog ---------------------------------------------------------------------------------------
[ "$(prop kmscanceld.service NRestarts)" = 0 ] && pass "no watchdog restart while it ran (WatchdogSec=5s)" ||
	fail "restarted $(prop kmscanceld.service NRestarts) times already"
old=$(prop kmscanceld.service MainPID)
c systemctl kill --kill-who=main --signal=SIGSTOP kmscanceld.service
restarted() { [ "$(prop kmscanceld.service NRestarts)" = 1 ] && unit_is kmscanceld.service active && [ "$(prop kmscanceld.service MainPID)" != "$old" ]; }
if wait_until 30 restarted; then pass "SIGSTOPped: the watchdog restarted it"; else fail "no watchdog restart: $(c systemctl status --no-pager kmscanceld.service)"; fi
c journalctl -u kmscanceld.service --no-pager -o cat | grep -q 'Watchdog timeout' && pass "the journal says: watchdog timeout" ||
	fail "no watchdog timeout in the journal"
cli alice kmscancel cancel "$KEY_WATCH"
expect_rc 0 "served after the watchdog restart"

# --- exit on idle, and back ---------------------------------------------------------------------------------
{ cat "$X/conf.readme"; printf '\n[Daemon]\nExitIdleSec=2\n'; } >"$X/conf.idle"
put_conf conf.idle
c systemctl reload kmscanceld.service
if wait_until 20 unit_is kmscanceld.service inactive; then pass "idle: the service exited"; else fail "still $(prop kmscanceld.service ActiveState) after ExitIdleSec=2"; fi
[ "$(prop kmscanceld.service Result)" = success ] && pass "the idle exit is a clean one" || fail "idle exit result: $(prop kmscanceld.service Result)"
unit_is kmscanceld.socket active && pass "the socket stays" || fail "socket $(prop kmscanceld.socket ActiveState) after the idle exit"
cli alice kmscancel cancel "$KEY_IDLE"
expect_rc 0 "a call after the idle exit"
unit_is kmscanceld.service active && pass "that call activated it again" || fail "service $(prop kmscanceld.service ActiveState)"
put_conf conf.readme
c systemctl stop kmscanceld.service

# --- the journal ---------------------------------------------------------------------------------------------
c journalctl -u kmscanceld.service -o json --no-pager >"$T/journal.json"
alice_uid=$(c id -u alice)
python3 - "$T/journal.json" "$alice_uid" "$KEY_ALICE" "$KEY_CAROL" >"$T/journal.check" 2>&1 <<'EOF'
import json, sys
path, alice, key_alice, key_carol = sys.argv[1:]
entries = [json.loads(l) for l in open(path) if l.strip()]
audit = [e for e in entries if e.get("MESSAGE_ID") and any(k.startswith("KMSCANCEL_") for k in e)]
bad = []
if not audit:
    bad.append("no audit records with MESSAGE_ID and KMSCANCEL_* fields")
mine = [e for e in audit if e.get("KMSCANCEL_CALLER_UID") == alice and key_alice in e.get("KMSCANCEL_KEY", "")]
if not mine:
    bad.append("no record of alice's cancel")
for e in mine:
    if e.get("KMSCANCEL_CALLER_COMM") != "kmscancel":
        bad.append("alice's record names the caller %r: %s" % (e.get("KMSCANCEL_CALLER_COMM"), e.get("MESSAGE")))
    for f in ("KMSCANCEL_EVENT", "KMSCANCEL_OPERATION", "KMSCANCEL_CALLER_PID", "KMSCANCEL_CALLER_GID"):
        if not e.get(f):
            bad.append("alice's record lacks " + f)
if not any(key_carol in e.get("KMSCANCEL_KEY", "") and e.get("KMSCANCEL_DECISION") for e in audit):
    bad.append("no decision recorded for carol's refused key")
print("%d audit records, %d of alice's cancel" % (len(audit), len(mine)))
for b in bad:
    print("BAD: " + b)
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "journal: $(head -n 1 "$T/journal.check"), MESSAGE_ID, KMSCANCEL_* and the caller's name" ||
	fail "journal: $(cat "$T/journal.check")"
heap=$(c journalctl -u kmscanceld.service --no-pager -o cat | grep 'secure heap' | sort -u)
[ -z "$heap" ] && pass "the secure heap is locked under the unit" || fail "under the unit: $heap"
# Where it cannot be locked, the notice says why (errno and its meaning).
heap=$(c systemd-run --quiet --wait --pipe -p User=kmscanceld -p LimitMEMLOCK=0 \
	/usr/sbin/kmscanceld --check-config --config /etc/kmscanceld.conf 2>&1 | grep 'secure heap')
expect_contains "$heap" "(EPERM: RLIMIT_MEMLOCK is 0" "with LimitMEMLOCK=0 the notice gives errno and meaning"

# --- the socket bound by the daemon itself, under the shipped unit ------------------------------------------
# The same service file and drop-ins but without "Requires=kmscanceld.socket",
# with the socket unit stopped: the daemon binds /run/kmscanceld/io.kmscancel.
c systemctl stop kmscanceld.socket kmscanceld.service
csh 'sed "/^Requires=kmscanceld.socket/d; /^Also=/d" /usr/lib/systemd/system/kmscanceld.service >/etc/systemd/system/kmscanceld-bind.service &&
	cp -r /etc/systemd/system/kmscanceld.service.d /etc/systemd/system/kmscanceld-bind.service.d && systemctl daemon-reload'
c systemctl start kmscanceld-bind.service || fail "kmscanceld-bind.service: $(c journalctl -u kmscanceld-bind.service --no-pager -o cat | tail -n 5)"
sock=$(c stat -c '%F %U %G %a' "$SOCKET")
[ "$sock" = "socket kmscanceld kmscancel 660" ] && pass "bound by the daemon: $SOCKET: $sock" ||
	fail "self-bound $SOCKET is '$sock', expected socket kmscanceld kmscancel 660: $(c journalctl -u kmscanceld-bind.service --no-pager -o cat | tail -n 8)"
cli alice kmscancel cancel "$KEY_SELF"
expect_rc 0 "alice cancels through the daemon's own socket"
c systemctl stop kmscanceld-bind.service

# --- no secret anywhere in the journal ---------------------------------------------------------------------------
c journalctl -o export --no-pager >"$T/journal.export"
[ -s "$T/journal.export" ] || fail "empty journal"
for s in "$TEST_SECRET" "$TEST_SECRET2"; do
	grep -qaF -- "$s" "$T/journal.export" && fail "a secret is in the journal" || pass "secret ${s%%/*}/… not in the journal"
done
rm -f "$T/journal.export"

# --- unit directories of another prefix -----------------------------------------------------------------------------
wait "$px_configure"
if [ $? -ne 0 ]; then
	fail "configure --prefix=$T/px: $(tail -n 5 "$T/px-configure.log")"
else
	for d in systemdsystemunitdir:lib/systemd/system sysusersdir:lib/sysusers.d tmpfilesdir:lib/tmpfiles.d; do
		got=$(sed -n "s/^${d%%:*} = //p" "$T/px-build/Makefile")
		[ "$got" = "\${prefix}/${d#*:}" ] && pass "--prefix=DIR: ${d%%:*} = $got" ||
			fail "--prefix=DIR: ${d%%:*} = $got, not under the prefix"
	done
fi

elapsed=$((SECONDS - started))
log "system test took ${elapsed} s"
[ "$elapsed" -le 120 ] || log "NOTE: over the two minutes this test should take"
