#!/bin/bash
# The completions' one source, completion/options: it says what the
# programs' --help says (every command, every option of each, its short
# form and whether it takes an argument, and nothing else); the bash, zsh
# and fish scripts checked in are what completion/generate writes from it;
# and "make install" puts each where its shell looks.
. "$top_srcdir/tests/integration/lib.sh"
: "${completionsdir:?}" "${zshcompletionsdir:?}" "${fishcompletionsdir:?}"

TABLE="$top_srcdir/completion/options"

# help_options PROGRAM ARGS...: "NAME SHORT ARG" per option PROGRAM's help
# lists, SHORT "-" for none, ARG "arg" or "-".
help_options() {
	"$@" --help | sed -nE 's/^  (-([A-Za-z]), |    )--([a-z][a-z-]*)( [A-Z][A-Z-]*)?( .*)?$/--\3 -\2\4/p' |
		awk '{ print $1, $2, (NF > 2 ? "arg" : "-") }' | LC_ALL=C sort
}
# table_options PROGRAM [COMMAND]: the same, from the table: the global
# options, and COMMAND's own.
table_options() {
	awk -v p="$1" -v c="${2:-}" '!/^#/ && $1 == p && ($2 == "global" || $2 == c) {
		print $3, $4, ($5 == "-" ? "-" : "arg") }' "$TABLE" | LC_ALL=C sort
}
# same WHAT FILE-A FILE-B
same() {
	if diff "$2" "$3" >"$T/diff"; then
		pass "$1"
	else
		fail "$1: < --help, > completion/options: $(cat "$T/diff")"
	fi
}

"$KMSCANCEL" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | LC_ALL=C sort >"$T/help.commands"
awk '!/^#/ && $1 == "kmscancel" && $2 == "command" { print $3 }' "$TABLE" | LC_ALL=C sort >"$T/table.commands"
[ -s "$T/help.commands" ] || die "no commands read from kmscancel --help"
same "kmscancel's commands" "$T/help.commands" "$T/table.commands"
help_options "$KMSCANCEL" >"$T/help.global"
table_options kmscancel >"$T/table.global"
[ "$(wc -l <"$T/help.global")" -ge 6 ] || die "no options read from kmscancel --help: $(cat "$T/help.global")"
same "kmscancel's global options" "$T/help.global" "$T/table.global"
while read -r command; do
	help_options "$KMSCANCEL" "$command" >"$T/help.$command"
	table_options kmscancel "$command" >"$T/table.$command"
	same "kmscancel $command's options" "$T/help.$command" "$T/table.$command"
done <"$T/help.commands"
help_options "$KMSCANCELD" >"$T/help.daemon"
table_options kmscanceld >"$T/table.daemon"
[ -s "$T/help.daemon" ] || die "no options read from kmscanceld --help"
same "kmscanceld's options" "$T/help.daemon" "$T/table.daemon"

scripts="kmscancel _kmscancel kmscancel.fish kmscanceld.fish"
if command -v python3 >/dev/null; then
	mkdir "$T/generated"
	python3 "$top_srcdir/completion/generate" "$T/generated" || fail "completion/generate failed"
	for f in $scripts; do
		cmp -s "$T/generated/$f" "$top_srcdir/completion/$f" && pass "completion/$f is up to date" ||
			fail "completion/$f is not what completion/generate writes: run it and commit"
	done
else
	log "no python3: the scripts' being up to date is not checked"
fi

D="$T/root"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" DESTDIR="$D" install-dist_completionsDATA \
	install-dist_zshcompletionsDATA install-dist_fishcompletionsDATA >"$T/install.log" 2>&1 ||
	die "make install of the completions failed: $(cat "$T/install.log")"
for installed in "$completionsdir/kmscancel" "$zshcompletionsdir/_kmscancel" \
	"$fishcompletionsdir/kmscancel.fish" "$fishcompletionsdir/kmscanceld.fish"; do
	cmp -s "$D$installed" "$top_srcdir/completion/${installed##*/}" && pass "installed: $installed" ||
		fail "not installed: $installed"
done
[ "$failures" -eq 0 ]
