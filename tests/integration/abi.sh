#!/bin/bash
# libkmscancel's ABI: the shared library exports exactly the functions
# kmscancel.h declares (KMSCANCEL_API) and libkmscancel.sym lists, each
# under the version node the .sym file puts it in, with a versioned soname;
# libkmscancel.pc names the library.
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
# Each symbol under the version node that lists it in libkmscancel.sym:
# LIBKMSCANCEL_0 for the first ABI, a later node for what came after.
nodes=$(awk '/^[A-Z0-9_]+ *\{/ { node = $1 } /^[[:space:]]*kmscancel_[a-z_]*;/ { sub(/;/, ""); print $1 "@@" node }' \
	"$top_srcdir/client/libkmscancel.sym" | sort)
[ "$exported" = "$nodes" ] && pass "every symbol is versioned as libkmscancel.sym says" ||
	fail "symbol versions differ from libkmscancel.sym: $(diff <(echo "$nodes") <(echo "$exported") | grep '^[<>]' | tr '\n' ' ')"
echo "$nodes" | grep -q '@@LIBKMSCANCEL_0$' && pass "LIBKMSCANCEL_0 is still there" || fail "no LIBKMSCANCEL_0 symbols"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
case "$soname" in
libkmscancel.so.[0-9]*) pass "soname $soname" ;;
*) fail "soname '$soname'" ;;
esac
pc="$top_builddir/client/libkmscancel.pc"
grep -q '^Libs: .*-lkmscancel' "$pc" && grep -q '^Cflags: ' "$pc" && grep -q '^Version: ' "$pc" &&
	pass "libkmscancel.pc has Version, Cflags and Libs -lkmscancel" || fail "libkmscancel.pc: $(cat "$pc")"
[ "$failures" -eq 0 ]
