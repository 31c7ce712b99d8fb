#!/bin/bash
# The bash completion offers kmscancel's commands and each command's options,
# and kmscanceld's options.  bash-completion's helpers are stubbed: only the
# script's own logic is under test.
set -u
: "${top_srcdir:?run through make check}"
failures=0

_init_completion() {
	words=("${COMP_WORDS[@]}")
	cword=$COMP_CWORD
	cur=${words[cword]}
	prev=${words[cword - 1]:-}
}
_filedir() { COMPREPLY=(FILES); }
. "$top_srcdir/completion/kmscancel"

# expect "WORDS..." "REPLIES": complete the last word of WORDS.
expect() {
	local line=$1 want=$2 got
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	local fn=_kmscancel
	[ "${COMP_WORDS[0]}" = kmscanceld ] && fn=_kmscanceld
	"$fn"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	if [ "$got" = "$want " ] || { [ -z "$want" ] && [ -z "${COMPREPLY[*]}" ]; }; then
		echo "ok: '$line' -> $want"
	else
		echo "FAIL: '$line' -> '$got', expected '$want'"
		failures=$((failures + 1))
	fi
}

expect "kmscancel " "cancel describe guard pending status"
expect "kmscancel s" "status"
expect "kmscancel --json d" "describe"
expect "kmscancel --socket /x " "cancel describe guard pending status"
expect "kmscancel --socket " "FILES"
expect "kmscancel --j" "--json"
expect "kmscancel cancel --" "--account --dry-run --enable --file --help --json --quiet --region --socket --timeout --version"
expect "kmscancel --json cancel --e" "--enable"
expect "kmscancel cancel --file " "FILES"
expect "kmscancel status --" "--help --json --quiet --socket --timeout --version"
expect "kmscancel describe --" "--account --help --json --quiet --region --socket --timeout --version"
expect "kmscancel describe --region " ""
expect "kmscancel cancel --account " ""
expect "kmscancel --q" "--quiet"
expect "kmscancel -" "--help --json --quiet --socket --timeout --version -V -h -q"
expect "kmscancel describe 1234 --h" "--help"
expect "kmscancel --timeout " ""
expect "kmscancel pending --" "--account --help --ids --json --quiet --region --socket --timeout --version"
expect "kmscancel pending --region " ""
expect "kmscancel guard --w" "--watch"
expect "kmscanceld --c" "--check-config --config"
expect "kmscanceld --config " "FILES"
[ "$failures" -eq 0 ]
