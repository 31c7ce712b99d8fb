#!/bin/bash
# libkmscancel's ABI: the shared library exports exactly the functions
# kmscancel.h declares (KMSCANCEL_API) and libkmscancel.sym lists, all under
# the LIBKMSCANCEL_0 version, with a versioned soname; libkmscancel.pc
# names the library.
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

lib=$(ls "$top_builddir"/.libs/libkmscancel.so.*.*.* 2>/dev/null | head -n1)
[ -n "$lib" ] || { echo "no shared libkmscancel (--disable-shared?): skipped"; exit 77; }
command -v nm >/dev/null && command -v readelf >/dev/null || { echo "nm/readelf missing: skipped"; exit 77; }

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sort)
header=$(sed -n 's/^KMSCANCEL_API [^(]*[ *]\(kmscancel_[a-z_]*\)(.*/\1/p' "$top_srcdir/client/kmscancel.h" | sort)
sym=$(sed -n 's/^[[:space:]]*\(kmscancel_[a-z_]*\);/\1/p' "$top_srcdir/client/libkmscancel.sym" | sort)

[ "$(echo "$header" | wc -l)" -ge 25 ] && pass "kmscancel.h declares $(echo "$header" | wc -l) functions" ||
	fail "could not read the declarations of kmscancel.h"
[ "$header" = "$sym" ] && pass "libkmscancel.sym lists exactly the functions of kmscancel.h" ||
	fail "kmscancel.h and libkmscancel.sym differ: $(diff <(echo "$header") <(echo "$sym") | grep '^[<>]' | tr '\n' ' ')"
[ "$(echo "$exported" | sed 's/@.*//' | sort -u)" = "$header" ] &&
	pass "nm -D: only the public API is exported ($(echo "$exported" | wc -l) symbols)" ||
	fail "exported symbols differ from kmscancel.h: $(diff <(echo "$header") <(echo "$exported" | sed 's/@.*//' | sort -u) | grep '^[<>]' | tr '\n' ' ')"
[ -z "$(echo "$exported" | grep -v '@@LIBKMSCANCEL_0$')" ] && pass "every symbol is versioned LIBKMSCANCEL_0" ||
	fail "unversioned or other versions: $(echo "$exported" | grep -v '@@LIBKMSCANCEL_0$' | tr '\n' ' ')"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
case "$soname" in
libkmscancel.so.[0-9]*) pass "soname $soname" ;;
*) fail "soname '$soname'" ;;
esac
pc="$top_builddir/client/libkmscancel.pc"
grep -q '^Libs: .*-lkmscancel' "$pc" && grep -q '^Cflags: ' "$pc" && grep -q '^Version: ' "$pc" &&
	pass "libkmscancel.pc has Version, Cflags and Libs -lkmscancel" || fail "libkmscancel.pc: $(cat "$pc")"
[ "$failures" -eq 0 ]
