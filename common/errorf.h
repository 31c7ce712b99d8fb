/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one way a function hands a failure's text to its caller: a malloc'ed
 * message in *ret_error beside the negative errno it returns.  Written
 * "return errorf(ret_error, -EINVAL, "%s: expected …", name);" in place of
 * an asprintf(), its out-of-memory check and a separate return.
 */
#include <stdarg.h>

/*
 * Formats fmt into a new string in *ret_error (the caller frees it) and
 * returns r, whatever it is: the error travels on even when the message
 * cannot.  ret_error may be NULL (the caller wants no text); when out of
 * memory *ret_error is set to NULL.  Never put a secret in the message.
 */
int errorf(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
int verrorf(char **ret_error, int r, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
