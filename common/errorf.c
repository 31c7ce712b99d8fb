/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "errorf.h"

#include <assert.h>
#include <stdio.h>

int verrorf(char **ret_error, int r, const char *fmt, va_list ap)
{
	assert(fmt);
	if (ret_error && vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	return r;
}

int errorf(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrorf(ret_error, r, fmt, ap);
	va_end(ap);
	return r;
}
