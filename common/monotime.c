/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "monotime.h"

#include <time.h>

uint64_t monotime_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

uint64_t monotime_msec(void)
{
	return monotime_usec() / 1000U;
}

uint64_t monotime_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

struct timeval timeval_from_msec(long long ms)
{
	if (ms < 0)
		ms = 0;
	return (struct timeval){.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}
