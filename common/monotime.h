/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The monotonic clock and libevent's timevals, written once.  Deadlines,
 * back-offs, rate windows and caches measure CLOCK_MONOTONIC, which neither
 * jumps with the wall clock nor stops being valid across a suspend (it stops
 * counting during one, which for timeouts is what we want).  Code that a
 * unit test must drive takes a clock hook and falls back to these.
 */
#include <stdint.h>
#include <sys/time.h>

/* Now on CLOCK_MONOTONIC, in microseconds, milliseconds or whole seconds. */
uint64_t monotime_usec(void);
uint64_t monotime_msec(void);
uint64_t monotime_sec(void);

/*
 * A duration of ms milliseconds as the struct timeval that evtimer_add() and
 * bufferevent_set_timeouts() take.  A negative ms is taken as 0 (due now):
 * a deadline already past must fire at once, not be misread by libevent.
 */
struct timeval timeval_from_msec(long long ms);
