/* SPDX-License-Identifier: MIT */
/*
 * One [Policy] Allow= rule, or Deny= with a leading "!" (daemon/policy.c),
 * per input line, then a check of
 * a fixed subject and key against the resulting policy: a rule that is
 * refused leaves the policy as it was, and no rule ever lets an unknown uid
 * in unless it says "*".
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "keyid.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const gid_t groups[] = {4242};
	struct policy_subject subject = {.uid = 4242, .gid = 4242, .groups = groups, .n_groups = 1};
	struct keyid key;
	struct policy_object object = {.key = &key, .default_region = "us-east-1", .account = "111122223333"};
	struct policy *p = policy_new(false);
	char *text = fuzz_strndup(data, size), *line, *save = NULL;
	const char *rule = NULL;

	FUZZ_CHECK(p);
	FUZZ_CHECK(keyid_parse("1234abcd-12ab-34cd-56ef-1234567890ab", &key, NULL) == 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *error = NULL, *warning = NULL;
		size_t before = policy_n_rules(p);
		/* "!" at the start of a line makes it a Deny= rule. */
		bool deny = line[0] == '!';
		int r = policy_add_rule(p, deny, line + deny, "fuzz:1", &error, &warning);

		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(r == 0 || policy_n_rules(p) == before);
		free(error);
		free(warning);
	}
	for (unsigned ops = POLICY_OP_CANCEL; ops <= POLICY_OP_ALL; ops++)
		(void)policy_check(p, &subject, ops, &object, &rule);
	policy_free(p);
	free(text);
	return 0;
}
