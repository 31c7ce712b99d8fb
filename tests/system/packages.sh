#!/bin/bash
# The Debian packages (scripts/build-debs) installed, upgraded, removed and
# purged as an administrator would, in a throwaway container booted with
# the host's systemd as PID 1 (container-lib.sh): the maintainer scripts
# debhelper generated, run by dpkg under a real service manager.
#
# The .debs are those in $KMSCANCEL_DEBS (scripts/test sets it to the
# directory scripts/build-debs filled); without them, or where a container
# cannot boot, the test is skipped saying why.  Run by `make check-packages`.
#
# The container's /usr is the host's (writable through an overlay, so that
# dpkg can install into it) and so is its dpkg database (a copy of the
# host's /var/lib/dpkg): the packages' dependencies are the host's
# installed ones, as on a Debian 12 machine that has them.  So apt, the
# README's route, works with no network and no package lists: `apt-get
# install ./X.deb` resolves the local files against that database alone.
# It installs, upgrades, removes and purges here, with stdin closed and no
# Dpkg::Options configured: a conffile prompt would fail the step, not be
# answered.
#
# Loopback only: the container has a private network (its own loopback,
# checked); the daemon's KMS and STS are the fake inside it (a runtime
# drop-in, as for a VPC endpoint), IMDS is disabled.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/system/container-lib.sh"
. "$top_srcdir/tests/system/system-lib.sh"

started=$SECONDS
debs=${KMSCANCEL_DEBS:-}
[ -n "$debs" ] || { log "SKIP: KMSCANCEL_DEBS is not set (the directory of scripts/build-debs)"; exit 77; }
pkgs=(kmscanceld kmscancel libkmscancel0 libkmscancel-dev)
declare -A deb
for p in "${pkgs[@]}"; do
	mapfile -t found < <(ls "$debs/${p}_"*.deb 2>/dev/null)
	[ "${#found[@]}" -eq 1 ] || { log "SKIP: ${#found[@]} ${p}_*.deb in $debs (scripts/build-debs makes one)"; exit 77; }
	deb[$p]=${found[0]}
done
ct_can_boot || { log "SKIP: $CT_SKIP_REASON"; exit 77; }

REGION=eu-west-1
KEY_ROOT=1234abcd-12ab-34cd-56ef-000000000001
KEY_DAVE=1234abcd-12ab-34cd-56ef-000000000002
SOCKET=/run/kmscanceld/io.kmscancel
CONF=/etc/kmscanceld.conf

# --- the packages, and a newer version of them -------------------------------------
# The upgrade installs the same files under a higher version: dpkg-deb
# re-packs each .deb with only its Version (and libkmscancel-dev's exact
# dependency on libkmscancel0) raised.  What an upgrade does to the
# system (the old maintainer scripts' prerm upgrade, the new postinst
# configure, conffile handling) does not depend on what changed inside.
X=$T/shared # /srv/t inside
mkdir -p "$X/v1" "$X/v2"
chmod 0755 "$T" "$X"
version=$(dpkg-deb -f "${deb[kmscanceld]}" Version)
newer=$version+upgradetest1
for p in "${pkgs[@]}"; do
	cp "${deb[$p]}" "$X/v1/"
	rm -rf "$T/repack"
	dpkg-deb -R "${deb[$p]}" "$T/repack" || die "dpkg-deb -R ${deb[$p]}"
	sed -i -e "s/^Version: .*/Version: $newer/" -e "s/(= $version)/(= $newer)/g" "$T/repack/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$T/repack" "$X/v2/" >/dev/null || die "dpkg-deb -b $p"
done
rm -rf "$T/repack"
dpkg --compare-versions "$newer" gt "$version" || die "$newer is not above $version"
chmod -R a+rX "$X"

make_certs
cp -r "$T/certs" "$X/certs"
chmod -R a+rX "$X/certs"
printf '%s PendingDeletion\n' "$KEY_ROOT" "$KEY_DAVE" >"$X/keys"

# --- the container ------------------------------------------------------------------------
ct_prepare "$T/ct" || die "cannot make the container's root"
# What belongs with the host's /usr: its dpkg database, the alternatives
# its packages chose, and the configuration of dpkg and man-db.  Not apt's
# sources: nothing is fetched.
mkdir -p "$CT_ROOT/var/lib" "$CT_ROOT/etc/apt/apt.conf.d" "$CT_ROOT/etc/apt/preferences.d" \
	"$CT_ROOT/etc/apt/sources.list.d" "$CT_ROOT/var/lib/apt/lists/partial" "$CT_ROOT/var/cache/apt/archives/partial"
cp -a /var/lib/dpkg "$CT_ROOT/var/lib/" || die "cannot copy /var/lib/dpkg"
rm -f "$CT_ROOT"/var/lib/dpkg/lock* "$CT_ROOT/var/lib/dpkg/triggers/Lock"
cp -a /etc/alternatives /etc/dpkg "$CT_ROOT/etc/" || die "cannot copy /etc/alternatives and /etc/dpkg"
cp -a /etc/manpath.config "$CT_ROOT/etc/" 2>/dev/null
# The host's statoverrides name its own system groups (ssl-cert, ...),
# which the container's /etc/group has not: dpkg would refuse to run.
: >"$CT_ROOT/var/lib/dpkg/statoverride"
if dpkg-query -W -f '${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -q ' installed$'; then
	log "SKIP: the host has a kmscancel package installed: the container, which shares its /usr, would not start clean"
	exit 77
fi
at_cleanup ct_teardown
CT_USR_WRITABLE=yes
boot_or_skip

# pkg_status P: dpkg's word on P ("install ok installed", ...).
pkg_status() { c dpkg-query -W -f '${Status} ${Version}' "$1" 2>/dev/null; }
daemon_procs() { c pgrep -x kmscanceld; }
# expect_installed VERSION: the four packages are installed at VERSION.
expect_installed() {
	local p st
	for p in "${pkgs[@]}"; do
		st=$(pkg_status "$p")
		[ "$st" = "install ok installed $1" ] && pass "$p $1 installed" || fail "$p: '$st', expected $1 installed"
	done
}
# dpkg_run NAME CMD...: CMD inside with stdin closed (a prompt would fail
# it), its output in $T/NAME.log.
dpkg_run() {
	local name=$1
	shift
	c "$@" </dev/null >"$T/$name.log" 2>&1
}

# A container image's /usr/sbin/policy-rc.d (exit 101: start nothing)
# would keep the postinst from starting the socket; a Debian machine has
# none.
if c test -e /usr/sbin/policy-rc.d; then
	c rm /usr/sbin/policy-rc.d && log "removed the host image's /usr/sbin/policy-rc.d inside the container"
fi
[ -z "$(pkg_status kmscanceld)" ] || die "kmscanceld is known to dpkg before the install: $(pkg_status kmscanceld)"

# --- install ------------------------------------------------------------------------------
# apt, as the README says; no Dpkg::Options (no --force-conf*) configured
# that could answer a conffile prompt for it.
opts=$(c apt-config dump | grep -i '^dpkg::options')
[ -z "$opts" ] || die "apt passes options to dpkg here: $opts"
t0=$(now_ms)
in_dir() { (cd "$X/$1" && for f in *.deb; do echo "/srv/t/$1/$f"; done); }
mapfile -t debs_v1 < <(in_dir v1)
mapfile -t debs_v2 < <(in_dir v2)
if dpkg_run install apt-get install -y "${debs_v1[@]}"; then
	pass "apt-get install of the four .debs (local files, no network) ($(($(now_ms) - t0)) ms)"
else
	fail "apt-get install: $(tail -n 30 "$T/install.log")"
fi
expect_installed "$version"
grep -q 'Configuration file\|\*\*\* .* (Y/I/N/O/D/Z)' "$T/install.log" && fail "a conffile prompt at install: $(cat "$T/install.log")"

# No further step: the socket listens, the service waits.
c systemctl is-enabled --quiet kmscanceld.socket && pass "kmscanceld.socket is enabled" || fail "kmscanceld.socket: $(c systemctl is-enabled kmscanceld.socket)"
c test -L /etc/systemd/system/sockets.target.wants/kmscanceld.socket && pass "sockets.target.wants/kmscanceld.socket" ||
	fail "no sockets.target.wants link: $(c ls /etc/systemd/system/sockets.target.wants 2>&1)"
unit_is kmscanceld.socket active && pass "kmscanceld.socket is active" || fail "kmscanceld.socket: $(prop kmscanceld.socket ActiveState)"
unit_is kmscanceld.service inactive && pass "kmscanceld.service waits for its first connection" ||
	fail "kmscanceld.service is $(prop kmscanceld.service ActiveState) after the install"
en=$(c systemctl is-enabled kmscanceld.service)
case "$en" in
static | disabled | indirect) pass "kmscanceld.service is not enabled itself ($en)" ;;
*) fail "kmscanceld.service is $en" ;;
esac
c getent passwd kmscanceld >/dev/null && pass "getent passwd kmscanceld" || fail "no user kmscanceld"
c getent group kmscancel >/dev/null && pass "getent group kmscancel" || fail "no group kmscancel"
sock=$(c stat -c '%F %U %G %a' "$SOCKET")
[ "$sock" = "socket root kmscancel 660" ] && pass "$SOCKET: $sock" || fail "$SOCKET is '$sock', expected socket root kmscancel 660"
dir=$(c stat -c '%F %U %G %a' /run/kmscanceld)
[ -n "$dir" ] && pass "/run/kmscanceld: $dir" || fail "no /run/kmscanceld"
c test -f "$CONF" && pass "$CONF installed" || fail "no $CONF"
c dpkg-query --control-show kmscanceld conffiles 2>/dev/null | grep -qx "$CONF" && pass "$CONF is a conffile" ||
	fail "$CONF is not a conffile of kmscanceld"

# --- status as installed: no region, no credentials ----------------------------------------
# Only what keeps the daemon on loopback (a runtime drop-in, outside what
# dpkg owns): every AWS endpoint at a closed loopback port, IMDS off.
csh "mkdir -p /run/systemd/system/kmscanceld.service.d && cat >/run/systemd/system/kmscanceld.service.d/10-loopback.conf <<EOF
[Service]
Environment=AWS_ENDPOINT_URL=https://127.0.0.1:9 AWS_ENDPOINT_URL_STS=https://127.0.0.1:9
Environment=AWS_EC2_METADATA_DISABLED=true AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9
EOF
systemctl daemon-reload" || die "cannot write the loopback drop-in"
cli root kmscancel status
expect_rc 0 "kmscancel status as root, with the shipped configuration and no credentials"
expect_contains "$OUT" "no AWS credentials found" "status says no credentials were found"
unit_is kmscanceld.service active && pass "the first connection activated the service" ||
	fail "service $(prop kmscanceld.service ActiveState) after a call"

# --- the fake KMS, and the daemon pointed at it -------------------------------------------
start_ct_fake "$REGION" "$TEST_ACCOUNT"
csh "mkdir -p /etc/kmscanceld && umask 077 && printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	'$TEST_AKID' '$TEST_SECRET' >/etc/kmscanceld/aws-credentials" || die "cannot write the credentials"
csh "install -D -m 0644 /srv/t/certs/ca.pem /etc/ssl/kmscancel-test-ca.pem &&
	cat >/run/systemd/system/kmscanceld.service.d/20-test-endpoints.conf <<EOF
[Service]
LoadCredential=aws-credentials:/etc/kmscanceld/aws-credentials
Environment=AWS_ENDPOINT_URL_KMS=https://127.0.0.1:$FAKE_PORT AWS_ENDPOINT_URL_STS=https://127.0.0.1:$FAKE_STS_PORT
Environment=AWS_CA_BUNDLE=/etc/ssl/kmscancel-test-ca.pem
EOF
systemctl daemon-reload" || die "cannot write the endpoints' drop-in"
# The administrator's edit of the shipped conffile: the region.  dave
# reaches the socket (group kmscancel) but no rule allows him anything.
csh "printf '\n# the administrator was here\n[AWS]\nRegion=$REGION\n' >>$CONF" || die "cannot edit $CONF"
c md5sum "$CONF" >"$T/conf.md5"
csh 'useradd -M -U -G kmscancel dave' || die "cannot add dave"
# The next connection starts it again, with the drop-in and the credential.
c systemctl stop kmscanceld.service 2>/dev/null # ("can still be activated": yes)

cli root kmscancel status
expect_rc 0 "kmscancel status as root, configured"
expect_contains "$OUT" "$REGION" "status shows the configured region"
expect_contains "$OUT" "systemd-credentials (access key ...${TEST_AKID: -4}), valid" "status shows the credential loaded"
cli root kmscancel cancel "$KEY_ROOT"
expect_rc 0 "root cancels $KEY_ROOT through the packaged daemon"
[ "$(key_state "$KEY_ROOT")" = Disabled ] && pass "$KEY_ROOT cancelled at the fake" || fail "$KEY_ROOT: $(key_state "$KEY_ROOT")"
cli dave kmscancel cancel "$KEY_DAVE"
expect_rc 1 "dave (group kmscancel, no rule) is refused"
expect_contains "$OUT$ERR" PermissionDenied "dave's refusal is PermissionDenied"

# --- the journal catalog -------------------------------------------------------------------
ids=$(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$top_srcdir/catalog/kmscanceld.catalog" | sort)
# How many there are is tests/integration/catalog.sh's to check (against the
# MESSAGE_IDs in the code); here, that the package installs every one.
n_ids=$(printf '%s\n' "$ids" | grep -c .)
[ "$n_ids" -ge 6 ] || fail "catalog/kmscanceld.catalog has $n_ids entries; the audit alone has 6"
listed=$(c journalctl --list-catalog --no-pager)
missing=
for id in $ids; do
	printf '%s\n' "$listed" | grep -q "^$id " || missing="$missing $id"
done
[ -z "$missing" ] && pass "journalctl --list-catalog lists the $n_ids kmscanceld MESSAGE_IDs" || fail "not in the catalog:$missing"
denied_id=$(awk '/^-- /{id=$2} /^Subject: kmscanceld denied a key operation/{print id}' "$top_srcdir/catalog/kmscanceld.catalog")
xout=$(c journalctl -x -u kmscanceld.service --no-pager "MESSAGE_ID=$denied_id")
expect_contains "$xout" "The local policy of kmscanceld refused uid $(c id -u dave)" "journalctl -x shows the catalog text on dave's denial"
expect_contains "$xout" "on key $KEY_DAVE" "the catalog text carries the record's key"

# --- the library's manual -------------------------------------------------------------------
for page in kmscancel_cancel_key_deletion libkmscancel kmscancel_result_free; do
	mp=$(c env MANPAGER=cat MANWIDTH=80 man 3 "$page" 2>&1)
	case "$mp" in *NAME*"$page"*) pass "man 3 $page" ;; *) fail "man 3 $page: $(printf '%s\n' "$mp" | head -n 3)" ;; esac
done
mp=$(c env MANPAGER=cat man 8 kmscanceld 2>&1)
case "$mp" in *NAME*kmscanceld*) pass "man 8 kmscanceld" ;; *) fail "man 8 kmscanceld: $(printf '%s\n' "$mp" | head -n 3)" ;; esac

# --- upgrade: a newer version over the running daemon ------------------------------------------
old_pid=$(prop kmscanceld.service MainPID)
[ "$old_pid" != 0 ] || fail "the service is not running before the upgrade"
t0=$(now_ms)
if dpkg_run upgrade apt-get install -y "${debs_v2[@]}"; then
	pass "apt-get install of the $newer .debs over $version, stdin closed ($(($(now_ms) - t0)) ms)"
else
	fail "upgrade: $(tail -n 30 "$T/upgrade.log")"
fi
expect_installed "$newer"
c md5sum --quiet -c - <"$T/conf.md5" && pass "the edited $CONF is kept" || fail "$CONF changed: $(c tail -n 5 "$CONF")"
left=$(c find /etc -name 'kmscanceld.conf.dpkg-*' -o -name 'kmscanceld.conf.ucf-*')
[ -z "$left" ] && pass "no .dpkg-* file beside $CONF" || fail "left by the upgrade: $left"
grep -q 'Configuration file' "$T/upgrade.log" && fail "dpkg talked about the conffile: $(grep -A3 'Configuration file' "$T/upgrade.log")"
unit_is kmscanceld.socket active && pass "kmscanceld.socket active after the upgrade" || fail "socket $(prop kmscanceld.socket ActiveState) after the upgrade"
new_pid=$(prop kmscanceld.service MainPID)
unit_is kmscanceld.service active && [ "$new_pid" != "$old_pid" ] && pass "the running service was restarted by the upgrade" ||
	fail "service after the upgrade: $(prop kmscanceld.service ActiveState), MainPID $old_pid -> $new_pid"
cli root kmscancel status
expect_rc 0 "kmscancel status after the upgrade"

# --- remove: nothing left running -----------------------------------------------------------------
unit_is kmscanceld.service active || fail "the service should run before the removal"
if dpkg_run remove apt-get remove -y kmscanceld kmscancel libkmscancel-dev; then
	pass "apt-get remove kmscanceld kmscancel libkmscancel-dev"
else
	fail "apt-get remove: $(tail -n 30 "$T/remove.log")"
fi
st=$(pkg_status kmscanceld)
[ "$st" = "deinstall ok config-files $newer" ] && pass "kmscanceld removed, its configuration kept" || fail "kmscanceld after apt-get remove: '$st'"
procs=$(daemon_procs)
[ -z "$procs" ] && pass "no kmscanceld process left" || fail "kmscanceld processes after the removal: $procs"
for u in kmscanceld.socket kmscanceld.service; do
	unit_is "$u" inactive && pass "$u stopped" || fail "$u is $(prop "$u" ActiveState) after the removal"
done
c test -e "$SOCKET" && fail "$SOCKET is still there" || pass "$SOCKET is gone"
c test -f "$CONF" && pass "$CONF kept by apt-get remove" || fail "apt-get remove removed $CONF"

# --- purge ---------------------------------------------------------------------------------------
if dpkg_run purge apt-get purge -y kmscanceld libkmscancel0; then
	pass "apt-get purge kmscanceld libkmscancel0"
else
	fail "apt-get purge: $(tail -n 30 "$T/purge.log")"
fi
for p in "${pkgs[@]}"; do
	st=$(pkg_status "$p")
	[ -z "$st" ] || [ "$st" = "unknown ok not-installed " ] && pass "$p purged" || fail "$p after the purge: '$st'"
done
c test -e "$CONF" && fail "$CONF is still there after the purge" || pass "$CONF is gone"
c test -e /etc/systemd/system/sockets.target.wants/kmscanceld.socket && fail "sockets.target.wants/kmscanceld.socket is still there" ||
	pass "the sockets.target.wants link is gone"
for u in kmscanceld.socket kmscanceld.service; do
	ls=$(prop "$u" LoadState)
	[ "$ls" = not-found ] && pass "$u: systemd knows it no more" || fail "$u: LoadState=$ls after the purge"
done
left=$(c find /etc /usr/lib/systemd /var/lib/systemd -name '*kmscanceld*' 2>/dev/null | grep -v '^/etc/kmscanceld/aws-credentials$\|^/etc/kmscanceld$')
[ -z "$left" ] && pass "nothing named kmscanceld left in /etc, /usr/lib/systemd, /var/lib/systemd (but the administrator's credentials)" ||
	fail "left after the purge: $left"
c test -e /usr/sbin/kmscanceld && fail "/usr/sbin/kmscanceld is still there" || pass "/usr/sbin/kmscanceld is gone"
[ -z "$(daemon_procs)" ] && pass "no kmscanceld process after the purge" || fail "kmscanceld processes after the purge"
c getent passwd kmscanceld >/dev/null && log "the system user kmscanceld stays after the purge (Debian practice)"

elapsed=$((SECONDS - started))
log "package test took ${elapsed} s"
[ "$elapsed" -le 120 ] || log "NOTE: over the two minutes this test should take"
