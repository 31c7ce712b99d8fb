/* SPDX-License-Identifier: MIT */
/*
 * The AWS shared config/credentials dialect (daemon/aws-ini.c): the first
 * byte picks the dialect, the rest is the file.  Two files are merged into
 * one set (as the daemon does with config and credentials), then every
 * section and property is walked, and every profile's role chain resolved
 * (daemon/creds-role-chain.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "aws-ini.h"
#include "creds-role-chain.h"
#include "fuzz.h"

/* The input text, for check_role_chain(). */
static const char *input_text;

/* Whether needle occurs exactly once in haystack. */
static bool occurs_once(const char *haystack, const char *needle)
{
	const char *first = strstr(haystack, needle);

	return first && !strstr(first + 1, needle);
}

/* A profile's role chain: a plan that holds together, or an error that
 * says why without quoting the profile's external ID (unless the same
 * text is also some other value of the file, such as a profile name). */
static void check_role_chain(const struct aws_ini *ini, const char *profile)
{
	struct role_plan plan = {0};
	const char *external = aws_ini_get(ini, profile, "external_id");
	char *error = NULL, *desc;
	int r = role_plan_build(ini, profile, &plan, &error);

	FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -EOPNOTSUPP || r == -ELOOP || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(error || r == -ENOMEM);
		FUZZ_CHECK(!error || !external || strlen(external) < 8 || !occurs_once(input_text, external) ||
			   !strstr(error, external));
		FUZZ_CHECK(plan.n == 0);
		free(error);
		return;
	}
	FUZZ_CHECK(!error);
	FUZZ_CHECK(plan.n >= 1 && plan.n <= ROLE_CHAIN_MAX_HOPS);
	FUZZ_CHECK(!plan.base_profile != !plan.base_source);
	FUZZ_CHECK(strcmp(plan.hops[0].profile, profile) == 0);
	for (size_t i = 0; i < plan.n; i++)
		FUZZ_CHECK(strncmp(plan.hops[i].role_arn, "arn:", 4) == 0);
	desc = role_plan_describe(&plan);
	FUZZ_CHECK(!desc || strncmp(desc, "profile ", 8) == 0);
	free(desc);
	role_plan_done(&plan);
}

static void walk(const struct aws_ini *ini)
{
	for (enum aws_ini_section_kind k = 0; k < _AWS_INI_SECTION_KIND_MAX; k++) {
		size_t n = aws_ini_count_sections(ini, k);

		for (size_t i = 0; i < n; i++) {
			const char *name = aws_ini_section_name(ini, k, i);
			size_t m;

			FUZZ_CHECK(name && aws_ini_has_section(ini, k, name));
			m = aws_ini_count_properties(ini, k, name);
			for (size_t j = 0; j < m; j++) {
				const struct aws_ini_property *p = aws_ini_property_at(ini, k, name, j);

				FUZZ_CHECK(p && p->name && p->value);
				FUZZ_CHECK(aws_ini_get_property(ini, k, name, p->name) != NULL);
				for (size_t s = 0; s < p->n_subs; s++)
					FUZZ_CHECK(aws_ini_property_sub(p, p->subs[s].name) != NULL);
			}
			if (k == AWS_INI_PROFILE)
				check_role_chain(ini, name);
		}
	}
	(void)aws_ini_get(ini, "default", "region");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum aws_ini_file_kind kind;
	struct aws_ini *ini;
	char *text, *error = NULL;
	int r;

	if (size < 1)
		return 0;
	kind = data[0] & 1 ? AWS_INI_CREDENTIALS : AWS_INI_CONFIG;
	text = fuzz_strndup(data + 1, size - 1);
	input_text = text;
	ini = aws_ini_new();
	FUZZ_CHECK(ini);
	r = aws_ini_parse_string(ini, kind, text, "fuzz", &error);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_CHECK((r == -EINVAL) == (error != NULL));
	free(error);
	error = NULL;
	/* The same text again in the other dialect, merged into the same set. */
	r = aws_ini_parse_string(ini, kind == AWS_INI_CONFIG ? AWS_INI_CREDENTIALS : AWS_INI_CONFIG, text, "fuzz2",
				 &error);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	free(error);
	walk(ini);
	aws_ini_free(ini);
	free(text);
	return 0;
}
