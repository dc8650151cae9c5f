/*
 * The registration table the table-driven unit tests share: one cmocka
 * test per table row, registered at run time, with names built at run
 * time.  Header-only, for one test binary each: include it after
 * <cmocka.h>, register with add_test() or add_test_fixture(), then
 * return unit_run("test_<module>", group_setup, group_teardown).
 */
#ifndef AUTOSSH_TESTS_UNIT_H
#define AUTOSSH_TESTS_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#define UNIT_MAX_TESTS	512
/* Not every test file uses every helper. */
#define UNIT_MAYBE_UNUSED	__attribute__((unused))
#define NROWS(a)	(sizeof(a) / sizeof((a)[0]))

static struct CMUnitTest tests[UNIT_MAX_TESTS];
static size_t ntests;

/* The teardown add_test() gives every test (e.g. to free what it built). */
static UNIT_MAYBE_UNUSED CMFixtureFunction unit_teardown;

static UNIT_MAYBE_UNUSED void
add_test_fixture(const char *name, CMUnitTestFunction fn, void *state,
    CMFixtureFunction setup, CMFixtureFunction teardown)
{
	if (ntests == UNIT_MAX_TESTS) {
		fprintf(stderr, "too many tests (UNIT_MAX_TESTS)\n");
		_exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].test_func = fn;
	tests[ntests].setup_func = setup;
	tests[ntests].teardown_func = teardown;
	tests[ntests].initial_state = state;
	ntests++;
}

static UNIT_MAYBE_UNUSED void
add_test(const char *name, CMUnitTestFunction fn, void *state)
{
	add_test_fixture(name, fn, state, NULL, unit_teardown);
}

static const char *pool_name(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));

/* A test name built at run time; it lives until the program ends. */
static const char *
pool_name(const char *fmt, ...)
{
	static char pool[UNIT_MAX_TESTS][128];
	static size_t used;
	va_list ap;
	char *n;

	if (used == UNIT_MAX_TESTS) {
		fprintf(stderr, "too many test names (UNIT_MAX_TESTS)\n");
		_exit(2);
	}
	n = pool[used++];
	va_start(ap, fmt);
	vsnprintf(n, sizeof(pool[0]), fmt, ap);
	va_end(ap);
	return n;
}

/* Run every registered test as the group name, cmocka's summary last. */
#define unit_run(name, setup, teardown) \
	_cmocka_run_group_tests((name), tests, ntests, (setup), (teardown))

#endif
