/* SPDX-License-Identifier: MIT */
/* Unit tests for daemon/conf-dropins.c: which drop-ins, in which order. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf-dropins.h"

/* A temporary tree: ROOT/etc, ROOT/run, ROOT/lib as the three directories. */
struct tree {
	char root[64];
	char etc[96], run[96], lib[96];
};

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void link_to(const char *dir, const char *name, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(symlink(target, path), 0);
}

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/test-conf-dropins.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->etc, sizeof(t->etc), "%s/etc", t->root);
	snprintf(t->run, sizeof(t->run), "%s/run", t->root);
	snprintf(t->lib, sizeof(t->lib), "%s/lib", t->root);
	assert_int_equal(mkdir(t->etc, 0755), 0);
	assert_int_equal(mkdir(t->run, 0755), 0);
	assert_int_equal(mkdir(t->lib, 0755), 0);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void find(const struct tree *t, struct conf_dropins *d)
{
	const char *dirs[] = {t->etc, t->run, t->lib};
	const char *failed = NULL;

	assert_int_equal(conf_dropins_find(dirs, 3, d, &failed), 0);
	assert_null(failed);
}

/* The path of entry i, relative to the tree's root ("etc/10-a.conf"). */
static const char *rel(const struct tree *t, const struct conf_dropins *d, size_t i)
{
	size_t n = strlen(t->root);

	assert_true(i < d->n);
	assert_memory_equal(d->paths[i], t->root, n);
	return d->paths[i] + n + 1;
}

static void test_lexical_order_across_directories(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d;

	put(t->lib, "50-lib.conf", "[Daemon]\n");
	put(t->etc, "60-etc.conf", "[Daemon]\n");
	put(t->run, "05-run.conf", "[Daemon]\n");
	put(t->etc, "10-etc.conf", "[Daemon]\n");
	find(t, &d);
	assert_int_equal(d.n, 4);
	assert_string_equal(rel(t, &d, 0), "run/05-run.conf");
	assert_string_equal(rel(t, &d, 1), "etc/10-etc.conf");
	assert_string_equal(rel(t, &d, 2), "lib/50-lib.conf");
	assert_string_equal(rel(t, &d, 3), "etc/60-etc.conf");
	conf_dropins_done(&d);
	assert_null(d.paths);
	assert_int_equal(d.n, 0);
	conf_dropins_done(&d); /* twice is fine */
}

static void test_same_name_masks_lower_directories(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d;

	put(t->lib, "10-a.conf", "[Daemon]\nLogLevel=debug\n");
	put(t->run, "10-a.conf", "[Daemon]\nLogLevel=info\n");
	put(t->etc, "10-a.conf", "[Daemon]\nLogLevel=warning\n");
	put(t->lib, "20-b.conf", "[Daemon]\n");
	put(t->run, "20-b.conf", "[Daemon]\n");
	find(t, &d);
	assert_int_equal(d.n, 2);
	assert_string_equal(rel(t, &d, 0), "etc/10-a.conf");
	assert_string_equal(rel(t, &d, 1), "run/20-b.conf");
	conf_dropins_done(&d);
}

static void test_dev_null_and_empty_mask_the_name(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d;

	put(t->lib, "10-vendor.conf", "[Daemon]\n");
	link_to(t->etc, "10-vendor.conf", "/dev/null");
	put(t->lib, "20-vendor.conf", "[Daemon]\n");
	put(t->run, "20-vendor.conf", "");
	put(t->lib, "30-kept.conf", "[Daemon]\n");
	find(t, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(rel(t, &d, 0), "lib/30-kept.conf");
	conf_dropins_done(&d);
}

static void test_skipped_entries(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d;
	char sub[128];

	put(t->etc, "README", "not a drop-in\n");
	put(t->etc, "10-a.conf.bak", "[Daemon]\n");
	put(t->etc, ".hidden.conf", "[Daemon]\n");
	put(t->etc, ".conf", "[Daemon]\n");
	snprintf(sub, sizeof(sub), "%s/20-dir.conf", t->etc);
	assert_int_equal(mkdir(sub, 0755), 0);
	link_to(t->etc, "30-dangling.conf", "/nonexistent/x.conf");
	put(t->lib, "40-target", "[Daemon]\n");
	snprintf(sub, sizeof(sub), "%s/40-target", t->lib);
	link_to(t->etc, "40-link.conf", sub); /* a symlink to a regular file counts */
	find(t, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(rel(t, &d, 0), "etc/40-link.conf");
	conf_dropins_done(&d);
}

static void test_missing_and_unreadable_directories(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d = {0}, untouched = {0};
	char missing[128], file[128];
	const char *failed = NULL;

	snprintf(missing, sizeof(missing), "%s/nonexistent", t->root);
	put(t->lib, "10-a.conf", "[Daemon]\n");
	{
		const char *dirs[] = {missing, t->lib};

		assert_int_equal(conf_dropins_find(dirs, 2, &d, &failed), 0);
		assert_int_equal(d.n, 1);
		conf_dropins_done(&d);
	}
	/* A file where a directory should be: an error naming it, *ret untouched. */
	put(t->root, "notadir", "x");
	snprintf(file, sizeof(file), "%s/notadir", t->root);
	{
		const char *dirs[] = {t->lib, file};

		assert_int_equal(conf_dropins_find(dirs, 2, &d, &failed), -ENOTDIR);
		assert_ptr_equal(failed, file);
		assert_memory_equal(&d, &untouched, sizeof(d));
	}
	/* No directories, nothing found. */
	assert_int_equal(conf_dropins_find(NULL, 0, &d, NULL), 0);
	assert_int_equal(d.n, 0);
	conf_dropins_done(&d);
}

static void test_bounded(void **state)
{
	struct tree *t = *state;
	struct conf_dropins d = {0};
	char name[32];

	for (int i = 0; i < CONF_DROPINS_MAX; i++) {
		snprintf(name, sizeof(name), "%04d.conf", i);
		put(t->lib, name, "[Daemon]\n");
	}
	find(t, &d);
	assert_int_equal(d.n, CONF_DROPINS_MAX);
	conf_dropins_done(&d);
	put(t->run, "9999.conf", "[Daemon]\n");
	{
		const char *dirs[] = {t->etc, t->run, t->lib};

		assert_int_equal(conf_dropins_find(dirs, 3, &d, NULL), -E2BIG);
	}
}

static void test_directories_of_a_main_file(void **state)
{
	char **dirs = NULL;
	size_t n = 0;

	assert_int_equal(conf_dropin_dirs(SYSCONFDIR "/kmscanceld.conf", &dirs, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(dirs[0], SYSCONFDIR "/kmscanceld.conf.d");
	assert_string_equal(dirs[1], "/run/kmscanceld.conf.d");
	assert_string_equal(dirs[2], "/usr/lib/kmscanceld.conf.d");
	conf_dropin_dirs_free(dirs, n);

	/* --config=FILE: FILE.d alone, never the system's. */
	assert_int_equal(conf_dropin_dirs("/tmp/t/kmscanceld.conf", &dirs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(dirs[0], "/tmp/t/kmscanceld.conf.d");
	conf_dropin_dirs_free(dirs, n);
	conf_dropin_dirs_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lexical_order_across_directories, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_same_name_masks_lower_directories, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_dev_null_and_empty_mask_the_name, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_entries, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_unreadable_directories, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_bounded, tree_setup, tree_teardown),
	    cmocka_unit_test(test_directories_of_a_main_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
