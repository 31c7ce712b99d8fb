# Callers of other uids for the tests here, sourced after lib.sh: needs
# root and setpriv (else the test is skipped), makes $T reachable and the
# CLI runnable by throwaway uids.
#
#   as UID GID -- CLI ARGS     the CLI as that caller; leaves OUT, ERR, RC
#   raw_call UID METHOD JSON   one raw Varlink call as that caller (python3,
#                              no library in between); leaves REPLY (the
#                              reply as the daemon wrote it) and RC
#   audit_has PATTERN...       some audit line of the daemon log has them all

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	log "SKIP: needs root and setpriv (util-linux) to run clients as other uids"
	exit 77
fi

chmod 0711 "$T"

# The build tree may sit where other uids cannot go (under /root): give
# them a copy of the CLI and its library in $T.
AS_CLI=("$KMSCANCEL")
if ! setpriv --reuid=4242 --regid=4242 --clear-groups -- "$KMSCANCEL" --version >/dev/null 2>&1; then
	mkdir -m 0755 "$T/bin"
	cp "$top_builddir/.libs/kmscancel" "$top_builddir"/.libs/libkmscancel.so* "$T/bin/" 2>/dev/null
	chmod -R a+rX "$T/bin"
	AS_CLI=(env LD_LIBRARY_PATH="$T/bin" "$T/bin/kmscancel")
	setpriv --reuid=4242 --regid=4242 --clear-groups -- "${AS_CLI[@]}" --version >/dev/null 2>&1 ||
		{ log "SKIP: another uid cannot run the CLI from $top_builddir"; exit 77; }
fi
# A Python other uids can run (a pyenv shim under /root is not one).
AS_PY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if [ -x "$p" ] && setpriv --reuid=4242 --regid=4242 --clear-groups -- "$p" -c pass 2>/dev/null; then
		AS_PY=$p
		break
	fi
done

as() {
	local uid=$1 gid=$2
	shift 3
	setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "${AS_CLI[@]}" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(sed -e 's/": /":/g' -e 's/, "/,"/g' "$T/out")
	ERR=$(cat "$T/err")
}

raw_call() {
	[ -n "$AS_PY" ] || die "no python3 that another uid can run"
	REPLY=$(setpriv --reuid="$1" --regid="$1" --clear-groups -- "$AS_PY" - "$SOCK" "$2" "$3" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": sys.argv[2], "parameters": json.loads(sys.argv[3])}).encode() + b"\0")
buf = b""
while b"\0" not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.split(b"\0", 1)[0].decode())
PY
	)
	RC=$?
}

audit_has() {
	local line p ok
	while IFS= read -r line; do
		ok=1
		for p in "$@"; do
			case "$line" in *"$p"*) ;; *) ok=0; break ;; esac
		done
		[ $ok = 1 ] && return 0
	done < <(grep 'audit event=' "$T/daemon.log")
	return 1
}
