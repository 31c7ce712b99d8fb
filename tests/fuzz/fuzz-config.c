/* SPDX-License-Identifier: MIT */
/*
 * kmscanceld.conf (daemon/conf.c) and the policy rules in it
 * (daemon/policy.c): the input is the file; every Allow= line that the
 * config accepts is then compiled into a policy, as the daemon does at
 * start, and described as --check-config would.
 */
#include <errno.h>

#include "conf.h"
#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_config c;
	struct policy *p;
	char *text, *error = NULL;
	int r;

	text = fuzz_strndup(data, size);
	r = config_load_string(text, "fuzz.conf", &c, &error);
	free(text);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM || r == -ERANGE || r == -E2BIG);
		free(error);
		return 0;
	}
	FUZZ_CHECK(c.socket_path && c.socket_group);
	p = policy_new(c.allow_root);
	FUZZ_CHECK(p);
	for (size_t i = 0; i < c.n_allow; i++) {
		char *warning = NULL;

		error = NULL;
		r = policy_add_rule(p, c.allow[i].deny, c.allow[i].rule, "fuzz.conf:1", &error, &warning);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(r != -EINVAL || error);
		free(error);
		free(warning);
	}
	for (size_t i = 0; i < policy_n_rules(p); i++) {
		char *d = NULL;

		if (policy_describe_rule(p, i, &d) == 0)
			free(d);
	}
	policy_free(p);
	config_done(&c);
	return 0;
}
