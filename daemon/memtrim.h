/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Giving memory back after a burst.  The C library keeps the heap a burst
 * of calls grew (glibc returns only the top of the heap, and only past
 * M_TRIM_THRESHOLD); once the daemon has been quiet for MEMTRIM_QUIET_MS —
 * no call in flight, no new call and no new connection — malloc_trim()
 * hands every free page back to the kernel.  Once per burst: a daemon that
 * stays quiet is not trimmed again, and a busy one never in the middle of
 * its work, so the hot path pays nothing.
 *
 * What stays is memory in use and free pieces smaller than a page between
 * blocks in use (after N concurrent clients, about 1.5 KiB each: libevent
 * keeps a small slot per descriptor number it has seen, which pins the
 * freed connection state next to it until a later client reuses it).
 */
#include <stdbool.h>
#include <stdint.h>

/* Quiet time before a trim.  Long enough that the pauses within a burst
 * (a client between two batches) do not trim memory about to be used again;
 * short enough that an idle daemon is small soon after its work. */
#define MEMTRIM_QUIET_MS 3000

struct memtrim {
	uint64_t activity; /* the caller's activity count at the last look */
	uint64_t quiet_ms; /* the caller's clock when it last changed or work was seen */
	bool trimmed;      /* no activity since the last trim */
};

/*
 * Called periodically (the daemon's housekeeping tick) with a count that
 * grows with work (calls and connections accepted), whether work is in
 * flight, and a monotonic clock in milliseconds.  Returns true, once per
 * quiet period after activity, when the caller should call memtrim_run().
 * A zeroed struct memtrim has been quiet since time 0 and not trimmed: its
 * first look trims what start-up freed.
 */
bool memtrim_due(struct memtrim *t, uint64_t activity, bool busy, uint64_t now_ms);

/* Returns free heap pages to the kernel: malloc_trim(0) where the C library
 * has it, else nothing. */
void memtrim_run(void);
