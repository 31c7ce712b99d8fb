#!/bin/bash
# The adaptive retry mode's numbers come from botocore itself: the table
# tests/unit/test-ratelimit replays through daemon/ratelimit-adaptive.c
# (tests/unit/adaptive-botocore.h) must be what the botocore installed here
# computes now (tests/unit/adaptive-botocore.py runs its ClientRateLimiter
# on a fake clock).  Offline; skipped without botocore.
. "$top_srcdir/tests/integration/lib.sh"

python3 -c 'import botocore.retries.adaptive' 2>/dev/null || { log "SKIP: botocore is not installed"; exit 77; }
python3 "$top_srcdir/tests/unit/adaptive-botocore.py" >"$T/now.h" || die "adaptive-botocore.py failed"
# The first line names botocore's version, which may differ; the numbers may not.
if diff <(tail -n +2 "$top_srcdir/tests/unit/adaptive-botocore.h") <(tail -n +2 "$T/now.h") >"$T/diff"; then
	pass "botocore $(python3 -c 'import botocore; print(botocore.__version__)') computes the table the unit test checks"
else
	fail "botocore now computes other rates; regenerate tests/unit/adaptive-botocore.h and rerun test-ratelimit:"
	head -20 "$T/diff" >&2
fi
[ "$(wc -l <"$T/now.h")" -gt 100 ] && pass "the table has $(($(wc -l <"$T/now.h") - 1)) steps" || fail "short table"
