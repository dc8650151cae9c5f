/*
 * Unit tests for util.c: the strict number parser (every boundary and
 * every kind of garbage autossh's options and variables may carry), the
 * bounded copy, the duration formatter used in every transition's log
 * line, the descriptor flags and the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "util.h"

/* One cmocka test per table row, so that a failing row is named. */

/* ---- parse_num ---- */

struct num_row {
	const char	*name;
	const char	*s;
	long long	 min, max;
	int		 rc;
	long long	 val;		/* when rc == 0 */
	const char	*err;		/* when rc == -1: the exact message */
};

static const struct num_row num_rows[] = {
	{ "min", "0", 0, 10, 0, 0, NULL },
	{ "max", "10", 0, 10, 0, 10, NULL },
	{ "max+1", "11", 0, 10, -1, 0, "'11' is out of range 0..10" },
	{ "min-1", "-1", 0, 10, -1, 0, "'-1' is out of range 0..10" },
	{ "negative min", "-1", -1, 5, 0, -1, NULL },
	{ "negative min-1", "-2", -1, 5, -1, 0,
	    "'-2' is out of range -1..5" },
	{ "minus zero", "-0", 0, 5, 0, 0, NULL },
	{ "port max", "65534", 0, 65534, 0, 65534, NULL },
	{ "port max+1", "65535", 0, 65534, -1, 0,
	    "'65535' is out of range 0..65534" },
	{ "empty", "", 1, 9, -1, 0, "empty value (expected 1..9)" },
	{ "NULL", NULL, 1, 9, -1, 0, "empty value (expected 1..9)" },
	{ "leading blank", " 1", 0, 9, -1, 0,
	    "' 1' is not a number (expected 0..9)" },
	{ "trailing blank", "1 ", 0, 9, -1, 0,
	    "'1 ' is not a number (expected 0..9)" },
	{ "trailing newline", "1\n", 0, 9, -1, 0,
	    "'1\n' is not a number (expected 0..9)" },
	{ "plus sign", "+1", 0, 9, -1, 0,
	    "'+1' is not a number (expected 0..9)" },
	{ "hex", "0x10", 0, 99, -1, 0,
	    "'0x10' is not a number (expected 0..99)" },
	{ "exponent", "1e3", 0, 9999, -1, 0,
	    "'1e3' is not a number (expected 0..9999)" },
	{ "lone minus", "-", -5, 5, -1, 0,
	    "'-' is not a number (expected -5..5)" },
	{ "double minus", "--1", -5, 5, -1, 0,
	    "'--1' is not a number (expected -5..5)" },
	{ "minus blank", "- 1", -5, 5, -1, 0,
	    "'- 1' is not a number (expected -5..5)" },
	{ "trailing letters", "12abc", 0, 99, -1, 0,
	    "'12abc' is not a number (expected 0..99)" },
	{ "letters", "abc", 0, 99, -1, 0,
	    "'abc' is not a number (expected 0..99)" },
	{ "decimal point", "1.5", 0, 9, -1, 0,
	    "'1.5' is not a number (expected 0..9)" },
	{ "INT_MAX", "2147483647", 1, INT_MAX, 0, INT_MAX, NULL },
	{ "INT_MAX+1", "2147483648", 1, INT_MAX, -1, 0,
	    "'2147483648' is out of range 1..2147483647" },
	{ "LLONG_MAX", "9223372036854775807", LLONG_MIN, LLONG_MAX, 0,
	    LLONG_MAX, NULL },
	{ "LLONG_MIN", "-9223372036854775808", LLONG_MIN, LLONG_MAX, 0,
	    LLONG_MIN, NULL },
	{ "LLONG_MAX+1 overflows", "9223372036854775808", LLONG_MIN,
	    LLONG_MAX, -1, 0, "'9223372036854775808' is out of range "
	    "-9223372036854775808..9223372036854775807" },
	{ "LLONG_MIN-1 overflows", "-9223372036854775809", LLONG_MIN,
	    LLONG_MAX, -1, 0, "'-9223372036854775809' is out of range "
	    "-9223372036854775808..9223372036854775807" },
	{ "huge overflow is not clamped into range",
	    "99999999999999999999999", 0, LLONG_MAX, -1, 0,
	    "'99999999999999999999999' is out of range "
	    "0..9223372036854775807" },
};

static void
test_parse_num_row(void **state)
{
	const struct num_row *r = *state;
	char err[128];
	long long v = 12345;
	int rc;

	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = parse_num(r->s, r->min, r->max, &v, err, sizeof(err));
	assert_int_equal(rc, r->rc);
	if (r->rc == 0) {
		assert_true(v == r->val);
	} else {
		assert_string_equal(err, r->err);
		/* A failed parse leaves the output alone. */
		assert_true(v == 12345);
	}
}

static void
test_parse_num_small_errbuf(void **state)
{
	char err[8];
	long long v;

	(void)state;
	assert_int_equal(parse_num("99", 0, 9, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "'99' is");
}

/* ---- util_strlcpy ---- */

static void
test_strlcpy(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "hello", sizeof(buf)), 5);
	assert_string_equal(buf, "hello");

	/* Exactly fitting: 5 characters and the NUL in 6 bytes. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "hello", 6), 5);
	assert_string_equal(buf, "hello");

	/* Truncated: the return value says so, the copy is terminated. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "hello", 5), 5);
	assert_string_equal(buf, "hell");
	assert_int_equal(buf[5], 'Z');

	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "hello", 1), 5);
	assert_string_equal(buf, "");
	assert_int_equal(buf[1], 'Z');

	/* Size 0 writes nothing at all. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(util_strlcpy(buf, "hello", 0), 5);
	assert_int_equal(buf[0], 'Z');

	assert_int_equal(util_strlcpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

/* ---- fmt_duration ---- */

struct dur_row {
	const char	*name;
	int64_t		 ms;
	const char	*want;
};

static const struct dur_row dur_rows[] = {
	{ "zero", 0, "0 ms" },
	{ "ms", 350, "350 ms" },
	{ "999 ms", 999, "999 ms" },
	{ "1 s", 1000, "1.0 s" },
	{ "3.2 s", 3200, "3.2 s" },
	{ "tenths truncate", 3299, "3.2 s" },
	{ "59.9 s", 59999, "59.9 s" },
	{ "1 min", 60000, "1m00s" },
	{ "4m05s", 245000, "4m05s" },
	{ "59m59s", 3599999, "59m59s" },
	{ "1 h", 3600000, "1h00m" },
	{ "3h12m", (3 * 3600 + 12 * 60) * 1000LL, "3h12m" },
	{ "23h59m", 86399999, "23h59m" },
	{ "1 day", 86400000, "1d00h" },
	{ "2d04h", (2 * 86400 + 4 * 3600) * 1000LL, "2d04h" },
	{ "400 days", 400 * 86400000LL, "400d00h" },
	{ "negative is 0", -5, "0 ms" },
};

static void
test_fmt_duration_row(void **state)
{
	const struct dur_row *r = *state;
	char buf[32];

	memset(buf, 'Z', sizeof(buf));
	assert_ptr_equal(fmt_duration(r->ms, buf, sizeof(buf)), buf);
	assert_string_equal(buf, r->want);
}

static void
test_fmt_duration_small_buffer(void **state)
{
	char buf[4];

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	fmt_duration(3200, buf, sizeof(buf));
	assert_string_equal(buf, "3.2");
	fmt_duration(INT64_MAX, buf, sizeof(buf));
	assert_int_equal(buf[3], '\0');
}

/* ---- descriptors ---- */

static void
test_set_nonblock(void **state)
{
	char c;
	int p[2], fl;

	(void)state;
	assert_int_equal(pipe(p), 0);
	fl = fcntl(p[0], F_GETFL);
	assert_int_equal(fl & O_NONBLOCK, 0);
	assert_int_equal(set_nonblock(p[0]), 0);
	fl = fcntl(p[0], F_GETFL);
	assert_int_not_equal(fl & O_NONBLOCK, 0);
	/* The access mode survives: it is still the read end. */
	assert_int_equal(fl & O_ACCMODE, O_RDONLY);
	/* An empty pipe now answers at once instead of blocking. */
	errno = 0;
	assert_int_equal(read(p[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(p[0]);
	close(p[1]);

	errno = 0;
	assert_int_equal(set_nonblock(p[1]), -1);
	assert_int_equal(errno, EBADF);
}

/* ---- clock and randomness ---- */

static void
test_now_ms(void **state)
{
	struct timespec ts;
	int64_t a, b, mono;

	(void)state;
	a = now_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	mono = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	b = now_ms();
	assert_true(a <= b);
	assert_true(a <= mono && mono <= b);
	assert_true(b < NEVER);
}

static void
test_util_random(void **state)
{
	unsigned char a[32], b[32], zero[32];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	assert_int_equal(util_random(a, sizeof(a)), 0);
	assert_int_equal(util_random(b, sizeof(b)), 0);
	/* 2^-256 chances of a false failure. */
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(util_random(a, 0), 0);
}

int
main(void)
{
	static char names[sizeof(num_rows) / sizeof(num_rows[0]) +
	    sizeof(dur_rows) / sizeof(dur_rows[0])][96];
	size_t i, k = 0;

	for (i = 0; i < sizeof(num_rows) / sizeof(num_rows[0]); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "parse_num: %s",
		    num_rows[i].name);
		add_test(names[k], test_parse_num_row, (void *)&num_rows[i]);
	}
	add_test("parse_num: message truncated to errbuf",
	    test_parse_num_small_errbuf, NULL);
	add_test("util_strlcpy", test_strlcpy, NULL);
	for (i = 0; i < sizeof(dur_rows) / sizeof(dur_rows[0]); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "fmt_duration: %s",
		    dur_rows[i].name);
		add_test(names[k], test_fmt_duration_row, (void *)&dur_rows[i]);
	}
	add_test("fmt_duration: small buffer", test_fmt_duration_small_buffer,
	    NULL);
	add_test("set_nonblock on a pipe", test_set_nonblock, NULL);
	add_test("now_ms is CLOCK_MONOTONIC", test_now_ms, NULL);
	add_test("util_random", test_util_random, NULL);
	return unit_run("test_util", NULL, NULL);
}
