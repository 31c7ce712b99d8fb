#!/bin/bash
# A man page name per public function of libkmscancel, as libraries ship
# them: every function kmscancel.h declares has man/NAME.3, a .so link to
# libkmscancel(3), whose NAME and SYNOPSIS carry it; no link is left for a
# function that is gone; and once installed, "man NAME" shows the page.
. "$top_srcdir/tests/integration/lib.sh"
: "${mandir:?}"

sed -n 's/^KMSCANCEL_API [^(]*[ *]\(kmscancel_[a-z_]*\)(.*/\1/p' "$top_srcdir/client/kmscancel.h" | sort >"$T/functions"
[ "$(wc -l <"$T/functions")" -ge 25 ] || die "could not read the declarations of kmscancel.h"
(cd "$top_srcdir/man" && ls kmscancel_*.3) | sed 's/\.3$//' | sort >"$T/links"
page="$top_srcdir/man/libkmscancel.3"
name_line=$(sed -n '/^\.SH NAME/{n;p;}' "$page")
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$page")

while read -r f; do
	link="$top_srcdir/man/$f.3"
	if [ ! -e "$link" ]; then
		fail "$f: no man/$f.3"
		continue
	fi
	[ "$(cat "$link")" = ".so man3/libkmscancel.3" ] || fail "man/$f.3 is not a .so link to libkmscancel(3)"
	case ", $name_line" in *", $f "* | *", $f,"*) ;; *) fail "$f is not in the NAME of libkmscancel(3)" ;; esac
	printf '%s\n' "$synopsis" | grep -q "[ *]$f(" || fail "$f is not in the SYNOPSIS of libkmscancel(3)"
done <"$T/functions"
for f in $(comm -13 "$T/functions" "$T/links"); do
	fail "man/$f.3 is a link for a function kmscancel.h does not declare"
done
[ "$failures" -eq 0 ] && pass "each of $(wc -l <"$T/functions") functions has a page name, in NAME and SYNOPSIS"

D="$T/root"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install-man DESTDIR="$D" >"$T/install.log" 2>&1 ||
	die "make install-man failed: $(cat "$T/install.log")"
while read -r f; do
	[ -e "$D$mandir/man3/$f.3" ] || fail "not installed: $mandir/man3/$f.3"
done <"$T/functions"

command -v man >/dev/null || { log "SKIP: no man to read the installed pages"; exit 77; }
for f in kmscancel_cancel_key_deletion kmscancel_version kmscancel_process; do
	MANWIDTH=80 man -M "$D$mandir" 3 "$f" 2>"$T/man.err" | col -b >"$T/man.out"
	grep -q '^SYNOPSIS' "$T/man.out" && grep -q "$f(" "$T/man.out" &&
		pass "man $f shows libkmscancel(3)" || fail "man $f: $(head -5 "$T/man.out") $(cat "$T/man.err")"
done
exit 0
