/*
 * Unit tests for waitpipe.c, the -f handshake
 * (DESIGN.md §Published state): the writer's lines through a real pipe,
 * and the reader's rules on partial lines, escapes, unknown letters and
 * order.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "waitpipe.h"

static int
feed(struct waitpipe_reader *r, const char *s)
{
	return waitpipe_feed(r, s, strlen(s));
}

static void
test_writer(void **state)
{
	char buf[1024];
	ssize_t n;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(waitpipe_send(p[1], WAIT_STARTED, NULL), 0);
	assert_int_equal(waitpipe_send(p[1], WAIT_RETRY, "refused\nX fake"),
	    0);
	assert_int_equal(waitpipe_send(p[1], WAIT_UP, "up"), 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	/* The text stays one line: its newline is escaped. */
	assert_string_equal(buf, "S\nR refused\\x0aX fake\nU up\n");
	close(p[0]);
	/* The parent has gone; the daemon ignores SIGPIPE (sig.c). */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(waitpipe_send(p[1], WAIT_EXIT, "bye"), -1);
	close(p[1]);
}

static void
test_whole_lines(void **state)
{
	struct waitpipe_reader r;

	(void)state;
	waitpipe_reader_init(&r);
	assert_string_equal(r.last, "no answer yet");
	assert_int_equal(feed(&r, "S\n"), WAIT_STARTED);
	assert_true(r.started);
	assert_int_equal(feed(&r, "R backing off, next try in 1.0 s\n"), 0);
	assert_string_equal(r.last, "backing off, next try in 1.0 s");
	assert_false(r.up);
	assert_int_equal(feed(&r, "U up\n"), WAIT_UP);
	assert_true(r.up);
}

static void
test_partial_lines(void **state)
{
	struct waitpipe_reader r;

	(void)state;
	waitpipe_reader_init(&r);
	assert_int_equal(feed(&r, "S"), 0);
	assert_false(r.started);
	assert_int_equal(feed(&r, "\nR no rou"), WAIT_STARTED);
	assert_string_equal(r.last, "no answer yet");
	assert_int_equal(feed(&r, "te to host\nX gi"), 0);
	assert_string_equal(r.last, "no route to host");
	assert_int_equal(feed(&r, "ving up\nU"), 0);
	assert_string_equal(r.last, "giving up");
	assert_false(r.up);
	assert_int_equal(feed(&r, " up\n"), WAIT_UP);
	/* Several in one read: the last of interest is returned. */
	waitpipe_reader_init(&r);
	assert_int_equal(feed(&r, "S\nR x\nU up\n"), WAIT_UP);
	assert_true(r.started && r.up);
}

static void
test_escapes(void **state)
{
	struct waitpipe_reader r;

	(void)state;
	waitpipe_reader_init(&r);
	feed(&r, "S\n");
	/* Anyone could write to the pipe: controls are escaped again. */
	feed(&r, "R \x1b[2Jcleared\r\n");
	assert_string_equal(r.last, "\\x1b[2Jcleared\\r");
	feed(&r, "X \xff\n");
	assert_string_equal(r.last, "\\xff");
}

static void
test_ignored(void **state)
{
	struct waitpipe_reader r;
	char big[3000];

	(void)state;
	waitpipe_reader_init(&r);
	/* Up before started counts for nothing. */
	assert_int_equal(feed(&r, "U up\n"), 0);
	assert_false(r.up);
	/* Unknown letters, and R or X without their space. */
	assert_int_equal(feed(&r, "Q what\nRx\nX\n\n"), 0);
	assert_string_equal(r.last, "no answer yet");
	assert_false(r.started);
	/* An overlong line is dropped whole, the next one read. */
	memset(big, 'R', sizeof(big));
	assert_int_equal(waitpipe_feed(&r, big, sizeof(big)), 0);
	assert_int_equal(feed(&r, "\nS\n"), WAIT_STARTED);
	assert_string_equal(r.last, "no answer yet");
}

/* An end of file before 'S' is the caller's: the reader never started. */
static void
test_eof_before_started(void **state)
{
	struct waitpipe_reader r;

	(void)state;
	waitpipe_reader_init(&r);
	assert_int_equal(feed(&r, "R early\nS"), 0);
	assert_false(r.started);
	assert_string_equal(r.last, "early");
}

int
main(void)
{
	add_test("writer: lines, escapes, EPIPE", test_writer, NULL);
	add_test("reader: whole lines", test_whole_lines, NULL);
	add_test("reader: partial lines", test_partial_lines, NULL);
	add_test("reader: escapes again", test_escapes, NULL);
	add_test("reader: unknown, early and overlong lines ignored",
	    test_ignored, NULL);
	add_test("reader: no start before an end of file",
	    test_eof_before_started, NULL);
	return unit_run("test_waitpipe", NULL, NULL);
}
