#!/bin/bash
# The install layout and the systemd units as installed: "make install
# DESTDIR=…" puts every file where a distribution would; systemd-analyze
# verify is clean and systemd-analyze security --offline=yes rates the
# service at an exposure of 2.0 or less; systemd-sysusers and
# systemd-tmpfiles accept the snippets.
. "$top_srcdir/tests/integration/lib.sh"

command -v systemd-analyze >/dev/null || { log "SKIP: no systemd-analyze"; exit 77; }
: "${sbindir:?}" "${bindir:?}" "${libdir:?}" "${includedir:?}" "${sysconfdir:?}" "${mandir:?}" \
	"${systemdsystemunitdir:?}" "${sysusersdir:?}" "${tmpfilesdir:?}" "${completionsdir:?}" "${pkgconfigdir:?}"

D="$T/root"
# A make of its own, outside make check's jobserver.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install DESTDIR="$D" >"$T/install.log" 2>&1 ||
	die "make install failed: $(cat "$T/install.log")"

for f in "$sbindir/kmscanceld" "$bindir/kmscancel" "$libdir/libkmscancel.so" "$includedir/kmscancel.h" \
	"$pkgconfigdir/libkmscancel.pc" "$sysconfdir/kmscanceld.conf" \
	"$systemdsystemunitdir/kmscanceld.service" "$systemdsystemunitdir/kmscanceld.socket" \
	"$sysusersdir/kmscanceld.conf" "$tmpfilesdir/kmscanceld.conf" \
	"$completionsdir/kmscancel" "$completionsdir/kmscanceld"; do
	[ -e "$D$f" ] && pass "installed $f" || fail "not installed: $f"
done
for page in man8/kmscanceld.8 man1/kmscancel.1 man5/kmscanceld.conf.5 man3/libkmscancel.3; do
	if [ -e "$top_srcdir/man/${page#*/}" ]; then
		[ -e "$D$mandir/$page" ] && pass "installed $mandir/$page" || fail "not installed: $mandir/$page"
	fi
done

unit="$D$systemdsystemunitdir/kmscanceld.service"
socket="$D$systemdsystemunitdir/kmscanceld.socket"
grep -qx "ExecStart=$sbindir/kmscanceld" "$unit" && pass "ExecStart= names the installed daemon" ||
	fail "ExecStart= is $(grep ExecStart= "$unit")"
grep -qx "ListenStream=$KMSCANCEL_DEFAULT_SOCKET" "$socket" && pass "ListenStream= is the default socket" ||
	fail "ListenStream= is $(grep ListenStream= "$socket")"

# verify: the installed units, with ExecStart= pointing into DESTDIR (the only
# change), and man pages looked up there too.
mkdir -p "$T/verify"
sed "s|^ExecStart=$sbindir/|ExecStart=$D$sbindir/|" "$unit" >"$T/verify/kmscanceld.service"
cp "$socket" "$T/verify/kmscanceld.socket"
man_opt=--man=no
if command -v man >/dev/null && [ -e "$D$mandir/man8/kmscanceld.8" ]; then
	man_opt=--man=yes
	export MANPATH="$D$mandir"
fi
(cd "$T/verify" && systemd-analyze verify "$man_opt" kmscanceld.service kmscanceld.socket) >"$T/verify.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$T/verify.log" ]; then
	pass "systemd-analyze verify $man_opt is clean"
else
	fail "systemd-analyze verify (exit $rc): $(cat "$T/verify.log")"
fi

# The audit trail names callers' commands: /proc must show other users'
# processes (ProtectProc=default), and nothing of it but the processes
# (ProcSubset=pid).  hidepid= modes would hide every caller's name.
grep -qx 'ProtectProc=default' "$unit" && pass "ProtectProc=default: callers' /proc/PID/comm is readable" ||
	fail "ProtectProc= is $(grep '^ProtectProc=' "$unit"), which hides callers' names from the audit trail"
grep -qx 'ProcSubset=pid' "$unit" && pass "ProcSubset=pid" || fail "ProcSubset= is $(grep '^ProcSubset=' "$unit")"

systemd-analyze security --offline=yes "$unit" >"$T/security.log" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for kmscanceld.service: \([0-9.]*\).*/\1/p' "$T/security.log")
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	pass "systemd-analyze security --offline=yes: exposure $exposure (at most 2.0)"
else
	fail "exposure ${exposure:-unknown} > 2.0: $(grep -v '✓' "$T/security.log")"
fi

mkdir -p "$D/etc"
systemd-sysusers --root="$D" "$D$sysusersdir/kmscanceld.conf" >"$T/sysusers.log" 2>&1 &&
	grep -q '^kmscanceld:' "$D/etc/passwd" && grep -q '^kmscancel:' "$D/etc/group" &&
	pass "systemd-sysusers creates user kmscanceld and group kmscancel" ||
	fail "systemd-sysusers: $(cat "$T/sysusers.log")"
systemd-tmpfiles --create --root="$D" "$D$tmpfilesdir/kmscanceld.conf" >"$T/tmpfiles.log" 2>&1 &&
	[ -d "$D/run/kmscanceld" ] && pass "systemd-tmpfiles makes /run/kmscanceld" ||
	fail "systemd-tmpfiles: $(cat "$T/tmpfiles.log")"
