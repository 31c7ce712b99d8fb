#!/bin/bash
# The socket the daemon binds itself (--socket, [Daemon] SocketPath=): a
# local user who can write its directory cannot make the daemon change the
# mode or group of another file.  A symlink (or any non-socket) planted at
# the path is refused and left alone; a socket swapped for a symlink right
# after bind() (the race, made deterministic by tests/security/swapbind.c)
# is detected, nothing is chmod'ed or chown'ed through it, and the daemon
# refuses to start; a stale socket of a dead daemon is replaced; the socket
# gets SocketMode= and SocketGroup= from the start.
. "$top_srcdir/tests/integration/lib.sh"

[ "$(id -u)" -eq 0 ] || { log "SKIP: needs root (chown to another group)"; exit 77; }
SWAPBIND="$top_builddir/tests/security/.libs/libswapbind.so"
[ -f "$SWAPBIND" ] || die "no $SWAPBIND"

start_fake
GID=4342
printf '[Daemon]\nSocketMode=0666\nSocketGroup=%s\n[KMS]\nRetryBase=50ms\n' "$GID" >"$T/kmscanceld.conf"
limit=10
[ -n "${DAEMON_WRAPPER:-}" ] && limit=60

# A file the attacker would like opened up: root's, 0600.
TARGET="$T/secret-file"
echo "not for you" >"$TARGET"
chmod 0600 "$TARGET"
chown 0:0 "$TARGET"
target_is_untouched() {
	local st
	st=$(stat -c '%a %u:%g' "$TARGET")
	[ "$st" = "600 0:0" ] && pass "$1: the target file kept mode 0600 and group 0" ||
		fail "$1: the target file is now $st (was 600 0:0)"
}

# try_daemon NAME [ENV...]: start the daemon on $SOCK with that environment;
# leaves DAEMON_RC (it exited) or DAEMON_PID (it runs) and its log in
# $T/NAME.log.
try_daemon() {
	local name=$1 i
	shift
	env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_REGION="$TEST_REGION" \
		AWS_ENDPOINT_URL_KMS="https://127.0.0.1:$FAKE_PORT" AWS_CA_BUNDLE="$T/certs/ca.pem" "$@" \
		${DAEMON_WRAPPER:-} "$KMSCANCELD" --config "$T/kmscanceld.conf" --socket "$SOCK" >"$T/$name.log" 2>&1 &
	DAEMON_PID=$!
	for i in $(seq 1 $((limit * 20))); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		grep -q "Listening on" "$T/$name.log" && return 0
		sleep 0.05
	done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		return 0
	fi
	wait "$DAEMON_PID"
	DAEMON_RC=$?
	DAEMON_PID=
}

# --- a symlink planted before the start ------------------------------------------------
ln -s "$TARGET" "$SOCK"
try_daemon planted
if [ -n "$DAEMON_PID" ]; then
	fail "the daemon started with a symlink at its socket path"
	stop_daemon
else
	[ "$DAEMON_RC" -eq 1 ] && pass "a symlink at the socket path: the daemon refuses to start (exit 1)" ||
		fail "a symlink at the socket path: exit $DAEMON_RC, expected 1"
	expect_contains "$(cat "$T/planted.log")" "exists and is not a socket" "and says why"
fi
[ -L "$SOCK" ] && [ "$(readlink "$SOCK")" = "$TARGET" ] && pass "the planted symlink is left alone" ||
	fail "the planted symlink was removed or changed"
target_is_untouched "planted symlink"
rm -f "$SOCK"

# --- the socket swapped for a symlink right after bind() ---------------------------------
ln -s "$TARGET" "$T/evil-link"
try_daemon swapped LD_PRELOAD="$LD_PRELOAD:$SWAPBIND" SWAPBIND_PATH="$SOCK" SWAPBIND_WITH="$T/evil-link"
[ -L "$SOCK" ] || die "the swap did not happen: $(cat "$T/swapped.log")"
if [ -n "$DAEMON_PID" ]; then
	fail "the daemon started on a socket path that is now a symlink"
	stop_daemon
else
	[ "$DAEMON_RC" -eq 1 ] && pass "socket swapped for a symlink after bind(): the daemon refuses to start (exit 1)" ||
		fail "socket swapped for a symlink after bind(): exit $DAEMON_RC, expected 1"
	expect_contains "$(cat "$T/swapped.log")" "was replaced after bind() (it is a symlink now)" "and says why"
fi
target_is_untouched "socket swapped for a symlink"
[ -L "$SOCK" ] && pass "the attacker's symlink is not removed by the daemon either" ||
	fail "the daemon removed what replaced its socket"
rm -f "$SOCK"

# --- a stale socket of a dead daemon is replaced; mode and group from the start -------------
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
try_daemon normal
if [ -n "$DAEMON_PID" ]; then
	pass "a stale socket is replaced"
	st=$(stat -c '%F %a %g' "$SOCK")
	[ "$st" = "socket 666 $GID" ] && pass "the socket has SocketMode=0666 and SocketGroup=$GID" ||
		fail "the socket is '$st', expected 'socket 666 $GID'"
	run_cli cancel "$KEY1"
	expect_rc 0 "served on it"
	stop_daemon
	[ -e "$SOCK" ] && fail "the socket was left behind at exit" || pass "removed at exit"
else
	fail "the daemon did not start over a stale socket: $(cat "$T/normal.log")"
fi

# --- SocketGroup= names a group whose entry is larger than 16 KiB ---------------------
# (every member is listed in it): the lookup buffer grows, the socket gets
# that group rather than silently keeping the daemon's.
if unshare -m true 2>/dev/null; then
	{ cat /etc/group
	  printf 'kmsbiggroup:x:4343:%s\n' "$(seq -f 'kmsbigmember%g' 1 3000 | paste -sd,)"
	} >"$T/group"
	printf '#!/bin/bash\nmount --bind %q /etc/group || exit 1\nexec "$@"\n' "$T/group" >"$T/ns.sh"
	printf '[Daemon]\nSocketMode=0660\nSocketGroup=kmsbiggroup\n' >"$T/big.conf"
	saved_conf=$(cat "$T/kmscanceld.conf")
	cp "$T/big.conf" "$T/kmscanceld.conf"
	saved_wrapper=${DAEMON_WRAPPER:-}
	DAEMON_WRAPPER="unshare -m --propagation private bash $T/ns.sh ${saved_wrapper}"
	try_daemon biggroup
	DAEMON_WRAPPER=$saved_wrapper
	if [ -n "$DAEMON_PID" ]; then
		st=$(stat -c '%a %g' "$SOCK")
		[ "$st" = "660 4343" ] && pass "a group entry over 16 KiB is found: the socket has its gid" ||
			fail "the socket is '$st', expected '660 4343' ($(grep -i group "$T/biggroup.log"))"
		stop_daemon
	else
		fail "the daemon did not start with a large SocketGroup=: $(cat "$T/biggroup.log")"
	fi
	printf '%s\n' "$saved_conf" >"$T/kmscanceld.conf"
else
	log "SKIP (part): unshare -m does not work here; the large group entry is not tested"
fi
for f in planted swapped normal biggroup; do check_no_secret "$T/$f.log"; done
exit 0
