/* SPDX-License-Identifier: MIT */
/* kmscancel_version(): the library's own version, for programs that need
 * to know what they run with rather than what they were built against. */
#include "kmscancel.h"

const char *kmscancel_version(void)
{
	return KMSCANCEL_VERSION_STRING;
}
