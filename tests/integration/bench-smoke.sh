# make check runs bench/run with tiny counts: the benchmark keeps working,
# and nothing in it is timed.  The real run is `bench/run` (see bench/README.md).
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
out=$(bash "$top_srcdir/bench/run" --smoke --builddir "$top_builddir" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: bench/run --smoke exited $rc"; exit 1; }
case "$out" in
*"| 2 16 client(s)"*"| 4 daemon memory"*) echo "ok: bench/run --smoke printed its table" ;;
*) echo "FAIL: no table"; exit 1 ;;
esac
