# Boots the host's own systemd as PID 1 in a throwaway container
# (systemd-nspawn), for tests that need a real service manager: the shipped
# units, sysusers, tmpfiles, socket activation, the journal.  Source it from
# bash; it defines functions and CT_* variables only.  The facts it relies
# on are in the project's notes on systemd-nspawn: the flags below are what
# booting takes on these machines, each for the reason given there.
#
#   ct_can_boot
#       0 if a container can be booted here, else 1 with the reason in
#       CT_SKIP_REASON (not root, no systemd-nspawn or nsenter, no cgroup
#       hierarchy to put the container in).
#   ct_prepare DIR
#       Makes a minimal root in DIR/root (CT_ROOT): /etc with os-release,
#       passwd, group, shadow, gshadow, nsswitch.conf, hostname and a fresh
#       machine-id, the bin/sbin/lib/lib64 -> usr/... links and empty
#       mount points.  Add files under $CT_ROOT (e.g. /etc) before ct_boot;
#       the running container sees them through a tmpfs overlay, so the tree
#       on disk is never changed by what runs inside.
#   ct_boot [systemd-nspawn options...]
#       Boots the container and waits (CT_BOOT_TIMEOUT seconds, default 60)
#       until `systemctl is-system-running` says running or degraded.
#       /usr is the host's, read-only, with the trees listed in CT_USR_LAYERS
#       (colon-separated directories, lowest first, e.g. an install's
#       DESTDIR/usr) laid over it; CT_USR_WRITABLE=yes makes that overlay
#       writable (changes go to $CT_DIR/usr-upper, e.g. for dpkg -i).
#       Options given are passed to systemd-nspawn (--bind-ro=DIR to share a
#       build tree, say).  The network is private: loopback only.  The
#       cgroup tree is pure cgroup2 and nspawn's seccomp filter lets bpf()
#       and mlock() through, so IPAddressDeny=, DevicePolicy= and a locked
#       memory area behave as on a host.  Sets
#       CT_NAME, CT_NSPAWN_PID, CT_LEADER (the container's PID 1 seen from
#       the host).  Returns 1 with CT_SKIP_REASON set if the container did
#       not boot; its console output is in $CT_DIR/console.log.
#   ct_exec CMD [ARGS...]
#       Runs CMD inside the container as root with a clean environment
#       (PATH only, plus the NAME=VALUE words given in CT_EXEC_ENV), in all
#       its namespaces.  Its exit status is CMD's.  Such processes are
#       outside the container's cgroups: start long-running ones with
#       `ct_exec systemd-run --unit=NAME …` so the container's manager owns
#       and stops them.
#   ct_sh SCRIPT
#       ct_exec bash -c SCRIPT.
#   ct_teardown
#       Powers the container off (SIGKILL after CT_STOP_TIMEOUT seconds,
#       default 20), waits for systemd-nspawn and removes the cgroup subtrees
#       it ran in.  Idempotent: call it from an exit trap.
#
# Requirements: root, systemd-container (systemd-nspawn), util-linux
# (nsenter).  Changes made to the host: /run/systemd/nspawn is mounted as a
# tmpfs if it is not one already (nspawn refuses to clean up its
# propagation directories on the host's disk-backed /run); it is left
# mounted, since another container may be using it.

CT_DIR=
CT_ROOT=
CT_NAME=
CT_NSPAWN_PID=
CT_LEADER=
CT_SKIP_REASON=
CT_CGROUPS=()
CT_EXEC_ENV=${CT_EXEC_ENV:-}
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

ct_can_boot() {
	if [ "$EUID" -ne 0 ]; then
		CT_SKIP_REASON="booting a container needs root"
	elif ! command -v systemd-nspawn >/dev/null; then
		CT_SKIP_REASON="systemd-nspawn is not installed (package systemd-container)"
	elif ! command -v nsenter >/dev/null; then
		CT_SKIP_REASON="nsenter is not installed (package util-linux)"
	elif [ ! -x /usr/lib/systemd/systemd ] && [ ! -x /lib/systemd/systemd ]; then
		CT_SKIP_REASON="no systemd on the host to boot"
	elif [ -z "$(ct_cgroup_dirs probe)" ]; then
		CT_SKIP_REASON="no writable cgroup hierarchy under /sys/fs/cgroup"
	else
		CT_SKIP_REASON=
		return 0
	fi
	return 1
}

ct_prepare() {
	local d
	CT_DIR=$1
	CT_ROOT="$CT_DIR/root"
	mkdir -p "$CT_ROOT"/{etc,usr,proc,sys,dev,run,tmp,var,root} || return 1
	chmod 1777 "$CT_ROOT/tmp"
	chmod 0700 "$CT_ROOT/root"
	for d in bin sbin lib lib64; do
		ln -sfn "usr/$d" "$CT_ROOT/$d"
	done
	cp -L /etc/os-release "$CT_ROOT/etc/os-release" || return 1
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$CT_ROOT/etc/passwd"
	printf 'root:x:0:\n' >"$CT_ROOT/etc/group"
	printf 'root:*:19000:0:99999:7:::\n' >"$CT_ROOT/etc/shadow"
	printf 'root:*::\n' >"$CT_ROOT/etc/gshadow"
	chmod 0640 "$CT_ROOT/etc/shadow" "$CT_ROOT/etc/gshadow"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$CT_ROOT/etc/nsswitch.conf"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$CT_ROOT/etc/hosts"
	echo kmsct >"$CT_ROOT/etc/hostname"
	# useradd/groupadd read these; the host's match the host's /usr.
	[ -f /etc/login.defs ] && cp /etc/login.defs "$CT_ROOT/etc/"
	# Without a machine-id systemd takes the boot for a first boot:
	# systemd-firstboot fails without a console, and every unit with an
	# [Install] section under /usr gets enabled.
	systemd-id128 new >"$CT_ROOT/etc/machine-id" || return 1
}

# ct_cgroup_dirs NAME: the subtrees the container runs in, one per hierarchy
# systemd uses.  Hybrid (as measured here: v1 "name=systemd" and the v2
# "unified"): below their roots, so the container's manager never takes
# them over.  Pure cgroup2 (not tried here): below our own cgroup.
ct_cgroup_dirs() {
	local h own
	if [ -w /sys/fs/cgroup/systemd/cgroup.procs ]; then
		for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
			[ -w "$h/cgroup.procs" ] && echo "$h/$1"
		done
	elif [ -w /sys/fs/cgroup/cgroup.procs ]; then
		own=$(sed -n 's/^0:://p' /proc/self/cgroup)
		echo "/sys/fs/cgroup${own%/}/$1"
	fi
}

# ct_cgroup_enter PID DIR...: PID into each DIR, made first.
ct_cgroup_enter() {
	local pid=$1 dir
	shift
	for dir in "$@"; do
		mkdir -p "$dir" && echo "$pid" >"$dir/cgroup.procs" || return 1
	done
}

ct_boot() {
	local usr_opt deadline state
	[ -n "$CT_ROOT" ] || { CT_SKIP_REASON="ct_prepare was not called"; return 1; }
	CT_NAME="kmsct-$$-$RANDOM"
	mkdir -p /run/systemd/nspawn
	if [ "$(stat -f -c %T /run/systemd/nspawn)" != tmpfs ] &&
		! mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn; then
		CT_SKIP_REASON="cannot mount a tmpfs on /run/systemd/nspawn"
		return 1
	fi
	if [ "${CT_USR_WRITABLE:-no}" = yes ]; then
		mkdir -p "$CT_DIR/usr-upper"
		usr_opt="--overlay=/usr${CT_USR_LAYERS:+:$CT_USR_LAYERS}:$CT_DIR/usr-upper:/usr"
	elif [ -n "${CT_USR_LAYERS:-}" ]; then
		usr_opt="--overlay-ro=/usr:$CT_USR_LAYERS:/usr"
	else
		usr_opt="--bind-ro=/usr"
	fi
	# --register=no --keep-unit: no system bus here.  A pure cgroup2 tree
	# and nspawn's seccomp filter without bpf() refused, so that
	# IPAddressDeny= and DevicePolicy= are enforced, not silently ignored.
	# CAP_IPC_LOCK: without it nspawn's filter refuses mlock() to every
	# process in the container (EPERM), which no host does.
	mapfile -t CT_CGROUPS < <(ct_cgroup_dirs "$CT_NAME")
	(
		ct_cgroup_enter "$BASHPID" ${CT_CGROUPS[@]+"${CT_CGROUPS[@]}"} || exit 99
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet \
			--register=no --keep-unit --machine="$CT_NAME" \
			--directory="$CT_ROOT" --volatile=overlay "$usr_opt" \
			--private-network --console=pipe --system-call-filter=bpf --capability=CAP_IPC_LOCK \
			"$@" --boot </dev/null >"$CT_DIR/console.log" 2>&1
	) &
	CT_NSPAWN_PID=$!
	deadline=$((SECONDS + ${CT_BOOT_TIMEOUT:-60}))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
			CT_SKIP_REASON="systemd-nspawn exited while booting: $(tail -n 5 "$CT_DIR/console.log" | tr '\n' ' ')"
			CT_NSPAWN_PID=
			return 1
		fi
		if [ -z "$CT_LEADER" ]; then
			CT_LEADER=$(ct_leader)
		elif state=$(ct_exec systemctl is-system-running 2>/dev/null); [ "$state" = running ] || [ "$state" = degraded ]; then
			return 0
		fi
		sleep 0.1
	done
	CT_SKIP_REASON="the container did not finish booting within ${CT_BOOT_TIMEOUT:-60} s (state: ${state:-unknown})"
	return 1
}

# The container's PID 1 as the host sees it: the child of systemd-nspawn
# (its only child once the container runs).
ct_leader() {
	local line kids
	line=$(cat "/proc/$CT_NSPAWN_PID/task/$CT_NSPAWN_PID/children" 2>/dev/null) || return 0
	read -ra kids <<<"$line"
	[ "${#kids[@]}" -eq 1 ] && [ -r "/proc/${kids[0]}/ns/mnt" ] && echo "${kids[0]}"
}

ct_exec() {
	[ -n "$CT_LEADER" ] || return 125
	# shellcheck disable=SC2086 # CT_EXEC_ENV is a list of words by design
	# Without LD_PRELOAD: a library preloaded here (a test's netguard) is
	# not at that path inside, and the network is private anyway.
	env -u LD_PRELOAD nsenter -t "$CT_LEADER" -a env -i PATH="$CT_PATH" SYSTEMD_PAGER= SYSTEMD_COLORS=0 $CT_EXEC_ENV "$@"
}

ct_sh() { ct_exec bash -c "$1"; }

ct_teardown() {
	local deadline cg leader=$CT_LEADER
	if [ -n "$CT_NSPAWN_PID" ]; then
		[ -n "$CT_LEADER" ] && ct_exec systemctl poweroff --no-block >/dev/null 2>&1
		deadline=$((SECONDS + ${CT_STOP_TIMEOUT:-20}))
		while kill -0 "$CT_NSPAWN_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.1
		done
		if kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
			# PID 1 of its PID namespace: killing it ends every process in it.
			[ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
			kill -KILL "$CT_NSPAWN_PID" 2>/dev/null
		fi
		wait "$CT_NSPAWN_PID" 2>/dev/null
	fi
	CT_NSPAWN_PID=
	CT_LEADER=
	for cg in ${CT_CGROUPS[@]+"${CT_CGROUPS[@]}"}; do
		[ -d "$cg" ] || continue
		# Whatever the container left (its PID 1 if nspawn died before it
		# was known) is ours: it ran in these subtrees only.
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for cg in ${CT_CGROUPS[@]+"${CT_CGROUPS[@]}"}; do
		# Deepest first: the container's manager made its own subtrees;
		# a killed process leaves its cgroup a moment after the signal.
		deadline=$((SECONDS + 5))
		while [ -d "$cg" ] && ! find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.1
		done
	done
	CT_CGROUPS=()
}
