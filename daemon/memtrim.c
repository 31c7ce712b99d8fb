/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "memtrim.h"

#include "log.h"

#include <malloc.h>

bool memtrim_due(struct memtrim *t, uint64_t activity, bool busy, uint64_t now_ms)
{
	if (activity != t->activity || busy) {
		t->activity = activity;
		t->quiet_ms = now_ms;
		t->trimmed = false;
		return false;
	}
	if (t->trimmed || now_ms - t->quiet_ms < MEMTRIM_QUIET_MS)
		return false;
	t->trimmed = true;
	return true;
}

void memtrim_run(void)
{
#ifdef HAVE_MALLOC_TRIM
	int released = malloc_trim(0);

	log_debug("memtrim: quiet for %d ms: %s", MEMTRIM_QUIET_MS,
		  released ? "free heap pages returned to the kernel" : "nothing to return");
#endif
}
