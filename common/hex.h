/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Hexadecimal digits, as HTTP chunk sizes and percent-escapes write them.
 */

/* The value 0..15 of the hex digit c (either case), or -1 for any other
 * byte, NUL included: callers scan with it and stop at the first -1. */
int hex_value(char c);
