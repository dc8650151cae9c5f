/*
 * Fuzz target: ssh's error output (DESIGN.md §Forwards, §Bad input).  A
 * server's banner, disconnect message and host names all reach ssh's
 * stderr, so it is outside input.
 *
 * Input: one flags byte, one chunk-size byte, then the bytes ssh writes.
 *   flags bit 0: log at debug level (otherwise info, with rate limiting)
 * The bytes go through a pipe into child_read() in chunks of
 * 1 + 8 * size-byte bytes, as ssh's writes would arrive, then the pipe
 * is closed.  Every line is also fed to the pure classifiers
 * (sshout_cause/level/mark/text) and to the loop monitor's refusal check.
 *
 * Checks: child_read() keeps its buffer bounded, terminates its strings,
 * reports only known milestones, never lowers the cause it has seen,
 * reports EOF once the pipe is closed, and (for output without NUL bytes
 * or over-long lines) ends with the strongest cause of any line;
 * sshout_text() points into its line; a refusal is only reported for the
 * monitor's own port.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "fuzz.h"
#include "log.h"
#include "monitor.h"
#include "sshout.h"

#define MON_PORT	20000
#define REFUSAL		"remote port forwarding failed for listen port "

static struct monitor mon;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

/* Classify one line; returns its cause. */
static enum ssh_cause
check_line(const char *line)
{
	enum ssh_cause cause = sshout_cause(line);
	enum ssh_mark mark = sshout_mark(line);
	int level = sshout_level(line), r;
	const char *text = sshout_text(line), *p;
	size_t n = strlen(line);

	CHECK(cause == CAUSE_NONE || cause == CAUSE_TRANSIENT ||
	    cause == CAUSE_PERMANENT);
	CHECK(mark >= MARK_NONE && mark <= MARK_LFWD_FAILED);
	CHECK(level == LOG_LVL_DEBUG || level == LOG_LVL_WARNING ||
	    level == LOG_LVL_INFO);
	CHECK(text >= line && text <= line + n);

	r = monitor_is_refusal(line, MON_PORT);
	CHECK(r == 0 || r == 1);
	if (r == 1) {
		p = strstr(line, REFUSAL);
		CHECK(p != NULL);
		CHECK(strtol(p + sizeof(REFUSAL) - 1, NULL, 10) == MON_PORT);
	}
	/* Once per ssh start: a fresh start for each line. */
	mon.fwd_seen = 0;
	CHECK(monitor_forward_refused(&mon, line, NULL) == r);
	return cause;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct child c;
	enum ssh_cause prev = CAUSE_NONE, want = CAUSE_NONE, cause;
	unsigned known = CHILD_EOF, m;
	size_t chunk, off, i, start;
	char *line;
	int p[2], simple = 1;

	if (size < 2)
		return 0;
	log_init((data[0] & 1) ? LOG_LVL_DEBUG : LOG_LVL_INFO, 0);
	chunk = 1 + (size_t)data[1] * 8;
	data += 2;
	size -= 2;

	/* The pure classifiers, line by line. */
	monitor_init(&mon);
	mon.port = MON_PORT;
	if ((line = malloc(size + 1)) == NULL)
		abort();
	for (start = 0; start <= size; start = i + 1) {
		size_t n;

		for (i = start; i < size && data[i] != '\n'; i++)
			;
		n = i - start;
		memcpy(line, data + start, n);
		line[n] = '\0';
		if (memchr(line, '\0', n) != NULL || n >= CHILD_LINE_MAX - 1)
			simple = 0;
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		cause = check_line(line);
		if (cause > want)
			want = cause;
	}
	free(line);

	/* The stream, through child_read(). */
	for (m = MARK_NONE; m <= MARK_LFWD_FAILED; m++)
		known |= 1u << m;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return 0;
	child_init(&c);
	c.errfd = p[0];
	c.pid = 4242;
	for (off = 0; off < size; off += chunk) {
		size_t k = size - off < chunk ? size - off : chunk;
		ssize_t w = write(p[1], data + off, k);

		CHECK(w == (ssize_t)k);
		m = child_read(&c);
		CHECK((m & ~known) == 0 && !(m & CHILD_EOF));
		CHECK(c.errfd == p[0] && c.len < sizeof(c.buf));
		CHECK(c.cause >= prev);
		prev = c.cause;
	}
	close(p[1]);
	m = child_read(&c);
	CHECK((m & ~known) == 0 && (m & CHILD_EOF));
	CHECK(c.errfd == -1 && c.len == 0);
	CHECK(c.cause >= prev);
	CHECK(memchr(c.reason, '\0', sizeof(c.reason)) != NULL);
	CHECK(memchr(c.last, '\0', sizeof(c.last)) != NULL);
	CHECK(child_reason(&c) != NULL);
	if (simple)
		CHECK(c.cause == want);
	/* Reaped: nothing left to read, the milestones were all reported. */
	CHECK(child_gone(&c) == 0 && c.pid == 0);
	return 0;
}
