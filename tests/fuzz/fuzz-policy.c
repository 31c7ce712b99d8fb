/* SPDX-License-Identifier: MIT */
/*
 * One [Policy] Allow= rule, or Deny= with a leading "!" (daemon/policy.c),
 * per input line, then a check of
 * a fixed subject and key against the resulting policy: a rule that is
 * refused leaves the policy as it was; with everything known the verdict is
 * never undecided, and with the account and groups unknown it is allow or
 * deny only where it is the same with them known (fails closed).
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "keyid.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const gid_t groups[] = {4242};
	struct policy_subject subject = {
	    .uid = 4242, .gid = 4242, .groups = groups, .n_groups = 1, .groups_known = true};
	struct policy_subject unknown_groups = {.uid = 4242, .gid = 4242};
	struct keyid key;
	struct policy_object object = {.key = &key, .region = "us-east-1", .account = "111122223333"};
	struct policy_object unknown_account = {.key = &key, .region = "us-east-1"};
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
	for (unsigned ops = POLICY_OP_CANCEL; ops <= (POLICY_OP_ALL | POLICY_OP_STATUS); ops++) {
		enum policy_verdict known = policy_decide(p, &subject, ops, &object, &rule);
		enum policy_verdict unknown = policy_decide(p, &unknown_groups, ops, &unknown_account, &rule);

		FUZZ_CHECK(known != POLICY_UNDECIDED);
		FUZZ_CHECK(unknown == POLICY_UNDECIDED || unknown == known);
		FUZZ_CHECK(policy_check(p, &subject, ops, &object, &rule) == (known == POLICY_ALLOW));
	}
	policy_free(p);
	free(text);
	return 0;
}
