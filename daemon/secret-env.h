/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The secrets of the process environment, moved out of it.
 *
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (and its old name
 * AWS_SECURITY_TOKEN) may reach the daemon through its environment (a unit's
 * Environment=, a test).  There they sit for the process's life outside the
 * secure heap, in the environment block that /proc/PID/environ shows and
 * that every fork inherits.  At start secret_env_take() copies each one into
 * OpenSSL's secure heap, overwrites the value where it was and removes the
 * variable; secret_env_get() then answers for these names from the copies
 * (a reload reads the same values again) and from getenv() for the rest.
 *
 * Loop thread only (getenv/unsetenv are not thread-safe anyway).
 */

/* Moves the secret variables out of environ.  0 or -ENOMEM (then nothing
 * moved that was not copied: a variable whose copy failed stays). */
int secret_env_take(void);

/* getenv(), but the moved variables from their copies.  Borrowed until
 * secret_env_release(). */
const char *secret_env_get(const char *name);

/* Wipes and frees the copies (at exit). */
void secret_env_release(void);
