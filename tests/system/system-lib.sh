# shellcheck shell=bash
# What the tests in this directory share once container-lib.sh has booted
# their container: running things inside, as root or as a user, reading
# units, and the fake KMS and STS as a service of the container.  Source it
# from bash after tests/integration/lib.sh (for $T, log, die, now_ms,
# wait_for_file and the test credentials) and container-lib.sh.
#
# The container sees the source tree at /srv/src, the build tree at
# /srv/build and the test's shared directory $X at /srv/t (read-write).

# boot_or_skip [systemd-nspawn options...]: ct_boot with the three trees
# above bound, or the test is skipped saying why; then checks that the
# container's network is its loopback alone (else the test stops).
boot_or_skip() {
	local t0 nets
	t0=$(now_ms)
	if ! ct_boot --bind-ro="$top_srcdir:/srv/src" --bind-ro="$top_builddir:/srv/build" --bind="$X:/srv/t" "$@"; then
		log "SKIP: systemd-nspawn cannot boot a container here: $CT_SKIP_REASON"
		exit 77
	fi
	log "container booted in $(($(now_ms) - t0)) ms"
	nets=$(ct_exec ls /sys/class/net | tr '\n' ' ')
	[ "$nets" = "lo " ] || die "container network interfaces: $nets"
	pass "the container's network is its loopback alone"
}

c() { ct_exec "$@"; }
csh() { ct_sh "$1"; }
# as USER CMD...: CMD inside, as USER with USER's groups.
as() {
	local u=$1
	shift
	ct_exec setpriv --reuid="$u" --regid="$u" --init-groups "$@"
}
# cli USER ARGS...: the installed CLI as USER; leaves OUT, ERR, RC.
cli() {
	as "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
prop() { c systemctl show -p "$2" --value "$1"; }
# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}
unit_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }

# start_ct_fake REGION ACCOUNT: the fake KMS and STS of the build tree as
# the service fake-kms of the container's manager (its output goes to the
# container's journal), serving the keys listed in $X/keys over TLS with
# $X/certs; sets FAKE_PORT, FAKE_STS_PORT and FAKE_ADMIN_PORT.
start_ct_fake() {
	c systemd-run --quiet --unit=fake-kms --description="fake KMS and STS" \
		/srv/build/tests/fakes/fake-kms --cert /srv/t/certs/server.pem --key /srv/t/certs/server.key \
		--port 0 --port-file /srv/t/fake.port --admin-port-file /srv/t/fake.admin \
		--access-key "$TEST_AKID" --secret "$TEST_SECRET" --region "$1" --account "$2" \
		--keys /srv/t/keys --sts-port-file /srv/t/fake.sts || die "cannot start the fake KMS"
	wait_for_file "$X/fake.port" && wait_for_file "$X/fake.sts" || die "fake KMS did not start: $(c journalctl -u fake-kms --no-pager)"
	FAKE_PORT=$(cat "$X/fake.port") FAKE_STS_PORT=$(cat "$X/fake.sts") FAKE_ADMIN_PORT=$(cat "$X/fake.admin")
}
# fake ARGS...: the fake's admin API (tests/fakes/fake-admin), from inside.
fake() { c bash /srv/src/tests/fakes/fake-admin "$FAKE_ADMIN_PORT" "$@"; }
