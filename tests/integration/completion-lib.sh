# Shared by the zsh and fish completion tests (completion-zsh.sh,
# completion-fish.sh): the expectations both shells must meet, and their
# check.  A test defines complete_batch LINE..., which prints "== LINE" and
# then the words its shell offers at the end of LINE, one a line; the
# completions are the checked-in ones under $top_srcdir/completion.
#
# File names are completed in $T/cwd, which holds one file: a-socket.

mkdir -p "$T/cwd"
: >"$T/cwd/a-socket"
cd "$T/cwd" || die "cannot enter $T/cwd"

# Each line: the command line, a '|', the words expected (any order).
EXPECTATIONS='kmscancel |cancel describe guard pending status
kmscancel ca|cancel
kmscancel --json d|describe
kmscancel -|--help --json --quiet --socket --timeout --version -V -h -q
kmscancel --q|--quiet
kmscancel --socket |a-socket
kmscancel --socket a-socket |cancel describe guard pending status
kmscancel --timeout |
kmscancel cancel --|--account --dry-run --enable --file --help --json --quiet --region --socket --timeout --version
kmscancel --json cancel --e|--enable
kmscancel cancel --file |a-socket
kmscancel cancel |
kmscancel describe --|--account --help --json --quiet --region --socket --timeout --version
kmscancel describe --region |
kmscancel cancel --account |
kmscancel cancel --region eu-west-1 --d|--dry-run
kmscancel describe 1234 --h|--help
kmscancel status --|--help --json --quiet --socket --timeout --version
kmscancel pending --|--account --help --ids --json --quiet --region --socket --timeout --version
kmscancel pending --account |
kmscancel guard --|--help --json --quiet --socket --timeout --version --watch
kmscanceld -|--check-config --config --foreground --help --socket --version -c -f -h -s
kmscanceld --c|--check-config --config
kmscanceld --config |a-socket
kmscanceld -c |a-socket'

# check_completions SHELL: runs complete_batch on every line and compares.
check_completions() {
	local -a lines=() wants=()
	local entry i got want words
	while IFS= read -r entry; do
		lines+=("${entry%%|*}")
		wants+=("${entry#*|}")
	done <<<"$EXPECTATIONS"
	complete_batch "${lines[@]}" >"$T/got" 2>"$T/got.err" || die "$1 failed: $(cat "$T/got.err")"
	for i in "${!lines[@]}"; do
		got=$(awk -v l="== ${lines[i]}" '$0 == l { on = 1; next } /^== / { on = 0 } on' "$T/got" |
			LC_ALL=C sort | tr '\n' ' ')
		read -r -a words <<<"${wants[i]}"
		want=
		[ "${#words[@]}" -gt 0 ] && want=$(printf '%s\n' "${words[@]}" | LC_ALL=C sort | tr '\n' ' ')
		if [ "$got" = "$want" ]; then
			pass "$1: '${lines[i]}' -> ${wants[i]:-nothing}"
		else
			fail "$1: '${lines[i]}' -> '$got', expected '$want'"
		fi
	done
}
