/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "secret-env.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const secret_names[] = {
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN",
};
#define N_SECRETS (sizeof(secret_names) / sizeof(secret_names[0]))

/* The copies, in the secure heap; NULL: not set (or not taken). */
static char *copies[N_SECRETS];
static bool taken;

static int secret_index(const char *name)
{
	for (size_t i = 0; i < N_SECRETS; i++)
		if (strcmp(name, secret_names[i]) == 0)
			return (int)i;
	return -1;
}

int secret_env_take(void)
{
	for (size_t i = 0; i < N_SECRETS; i++) {
		char *value = getenv(secret_names[i]);
		size_t n;

		if (!value || copies[i])
			continue;
		n = strlen(value);
		copies[i] = OPENSSL_secure_malloc(n + 1);
		if (!copies[i])
			return -ENOMEM;
		memcpy(copies[i], value, n + 1);
		/* In place: the initial environment block is what
		 * /proc/PID/environ reads, and unsetenv() only unlinks. */
		OPENSSL_cleanse(value, n);
		unsetenv(secret_names[i]);
	}
	taken = true;
	return 0;
}

const char *secret_env_get(const char *name)
{
	int i = secret_index(name);

	if (i >= 0 && taken)
		return copies[i];
	return getenv(name);
}

void secret_env_release(void)
{
	for (size_t i = 0; i < N_SECRETS; i++) {
		OPENSSL_secure_clear_free(copies[i], copies[i] ? strlen(copies[i]) + 1 : 0);
		copies[i] = NULL;
	}
	taken = false;
}
