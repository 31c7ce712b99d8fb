#!/bin/bash
# make fuzz-smoke: fuzz each target named on the command line for its share
# of FUZZ_SECONDS (default 60), starting from its checked-in corpus, under
# the sanitizers the build was configured with.  New inputs go to a scratch
# directory (tests/fuzz/work/NAME in the build tree), not into the source
# tree, unless FUZZ_MERGE=1, which then merges them into
# tests/fuzz/corpus/NAME (minimised: only inputs that add coverage) — how a
# long run's findings reach the checked-in corpus.
#
# Any crash, leak, timeout, out-of-memory or sanitizer report fails the run;
# the reproducer is left in tests/fuzz/artifacts/ and can be replayed with
# the target: `tests/fuzz/fuzz-NAME tests/fuzz/artifacts/crash-…`.  Prints
# one line per target: executions, corpus size, and the result.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
total=${FUZZ_SECONDS:-60}
[ $# -gt 0 ] || { echo "usage: smoke.sh NAME..." >&2; exit 2; }
per=$((total / $#))
[ "$per" -ge 1 ] || per=1

# A parser input larger than this is not interesting; the Varlink message
# cap (64 KiB) is reached by growth within it anyway, and the bodies by the
# fuzz-http target's small cap.
max_len=${FUZZ_MAX_LEN:-16384}
art="$top_builddir/tests/fuzz/artifacts"
mkdir -p "$art"
# Leaks are findings; the sanitizer reports must reach stderr here.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
# HOME and the AWS variables are irrelevant to the parsers; no network at all.
unset LD_PRELOAD

failed=0
printf '%-12s %10s %8s %8s  %s\n' target execs "exec/s" corpus result
for name in "$@"; do
	bin="$top_builddir/tests/fuzz/fuzz-$name"
	seeds="$top_srcdir/tests/fuzz/corpus/$name"
	work="$top_builddir/tests/fuzz/work/$name"
	log="$top_builddir/tests/fuzz/work/$name.log"
	mkdir -p "$work"
	"$bin" -max_total_time="$per" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/$name-" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	size=$(find "$work" "$seeds" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc; log $log)"
		failed=1
	fi
	printf '%-12s %10s %8s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$size" "$result"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|invariant|==[0-9]+==|#[0-9]+ ' "$log" | head -n 40 >&2
		ls "$art"/"$name"-* 2>/dev/null >&2
	elif [ "${FUZZ_MERGE:-}" = 1 ]; then
		"$bin" -merge=1 -max_len="$max_len" "$seeds" "$work" >"$log.merge" 2>&1 ||
			{ echo "merge failed for $name: $log.merge" >&2; failed=1; }
	fi
done
exit "$failed"
