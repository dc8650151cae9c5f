/*
 * Unit tests for fwdcheck.c's pure part: ssh -G's LocalForward values
 * turned into forwards, and ssh 9.2p1's channel lines (taken from a run
 * against a real sshd) turned into each forward's health and the text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "fwdcheck.h"
#include "sshout.h"
#include "util.h"

#define REQ	"debug1: Connection to port 22883 forwarding to " \
		"localhost port 1883 requested."
#define NEW	"debug1: channel 2: new direct-tcpip [direct-tcpip] " \
		"(inactive timeout: 0)"
#define FAILED	"channel 2: open failed: connect failed: " \
		"Connection refused"
#define FREED	"debug1: channel 2: free: direct-tcpip: listening port " \
		"22883 for localhost port 1883, connect from 127.0.0.1 port " \
		"43168 to 127.0.0.1 port 22883, nchannels 3"
#define REFUSED	"forward 22883\u2192localhost:1883: " \
		"target refused on the server"

static void
setup(struct fwdcheck *fc, int interval_s, const char *const *values)
{
	struct sshcfg c;

	memset(&c, 0, sizeof(c));
	for (; *values != NULL; values++)
		util_strlcpy(c.local_forward[c.local_forwards++], *values,
		    sizeof(c.local_forward[0]));
	fwdcheck_init(fc, &c, interval_s);
}

static const char *const seed[] = { "22883 [localhost]:1883", NULL };

static void
test_parse(void **state)
{
	static const char *const v[] = {
		"22883 [localhost]:1883",
		"[127.0.0.2]:1000 [::1]:22",
		"[::1]:1001 [h]:2",
		"/tmp/s [h]:3",			/* a socket path */
		"1002 /tmp/remote.sock",	/* likewise */
		"0 [h]:1",			/* port 0: garbage */
		"65536 [h]:1",
		"",
		NULL,
	};
	struct fwdcheck fc;

	(void)state;
	setup(&fc, 0, v);
	assert_int_equal(fc.n, 3);
	assert_string_equal(fc.f[0].bind, "");
	assert_int_equal(fc.f[0].port, 22883);
	assert_string_equal(fc.f[0].host, "localhost");
	assert_int_equal(fc.f[0].host_port, 1883);
	assert_string_equal(fc.f[1].bind, "127.0.0.2");
	assert_int_equal(fc.f[1].port, 1000);
	assert_string_equal(fc.f[1].host, "::1");
	assert_int_equal(fc.f[1].host_port, 22);
	assert_string_equal(fc.f[2].bind, "::1");
	assert_int_equal(fc.f[2].port, 1001);
	assert_int_equal(fc.f[0].fd, -1);
}

static void
test_channel_lines(void **state)
{
	char why[96];
	int chan = -1, port = -1;

	(void)state;
	assert_int_equal(sshout_channel(FAILED, &chan, &port, why,
	    sizeof(why)), CHAN_OPEN_FAILED);
	assert_int_equal(chan, 2);
	assert_string_equal(why, "connect failed: Connection refused");
	assert_int_equal(sshout_channel(FREED, &chan, &port, why,
	    sizeof(why)), CHAN_FREED);
	assert_int_equal(chan, 2);
	assert_int_equal(port, 22883);
	/* Whole lines only: the same words inside another line say nothing. */
	assert_int_equal(sshout_channel("debug1: " FAILED, &chan, &port, why,
	    sizeof(why)), CHAN_NONE);
	assert_int_equal(sshout_channel("Banner: " FAILED, &chan, &port, why,
	    sizeof(why)), CHAN_NONE);
	assert_int_equal(sshout_channel("channel x: open failed: y", &chan,
	    &port, why, sizeof(why)), CHAN_NONE);
	assert_int_equal(sshout_channel(REQ, &chan, &port, why, sizeof(why)),
	    CHAN_NONE);
	assert_int_equal(sshout_channel("debug1: channel 0: free: port "
	    "listener, nchannels 2", &chan, &port, why, sizeof(why)),
	    CHAN_NONE);
}

/* A refused target, then a healthy one: one change each, and the text. */
static void
test_refused_then_healthy(void **state)
{
	struct fwdcheck fc;
	char text[192];

	(void)state;
	setup(&fc, FWD_CHECK_ALWAYS, seed);
	fwdcheck_up(&fc, 1000);
	assert_int_equal(fwdcheck_line(&fc, REQ), 0);
	assert_int_equal(fwdcheck_line(&fc, NEW), 0);
	assert_int_equal(fwdcheck_line(&fc, FAILED), 0);
	assert_int_equal(fwdcheck_line(&fc, FREED), 1);
	assert_int_equal(fc.f[0].health, FWD_REFUSED);
	fwdcheck_text(&fc, text, sizeof(text));
	assert_string_equal(text, REFUSED);
	assert_int_equal(fwdcheck_healthy(&fc), 0);
	/* The same again is no change. */
	assert_int_equal(fwdcheck_line(&fc, FAILED), 0);
	assert_int_equal(fwdcheck_line(&fc, FREED), 0);
	/* A channel that opened: healthy, one change. */
	assert_int_equal(fwdcheck_line(&fc, FREED), 1);
	assert_int_equal(fc.f[0].health, FWD_OK);
	fwdcheck_text(&fc, text, sizeof(text));
	assert_string_equal(text, "");
	assert_int_equal(fwdcheck_healthy(&fc), 1);
	/* Another forward's port is not ours. */
	assert_int_equal(fwdcheck_line(&fc, "debug1: channel 3: free: "
	    "direct-tcpip: listening port 9 for h port 1, connect from "
	    "127.0.0.1 port 1 to 127.0.0.1 port 9, nchannels 3"), 0);
}

/* When checks are due, on the fake clock. */
static void
test_schedule(void **state)
{
	struct fwdcheck fc;

	(void)state;
	/* Off: never. */
	setup(&fc, 0, seed);
	fwdcheck_up(&fc, 1000);
	assert_true(fwdcheck_deadline(&fc) == NEVER);

	/* Default: once when up, and after a user's failed connection. */
	setup(&fc, FWD_CHECK_ALWAYS, seed);
	assert_true(fwdcheck_deadline(&fc) == NEVER);
	fwdcheck_up(&fc, 1000);
	assert_true(fwdcheck_deadline(&fc) == 1000);
	fc.next_check = NEVER;		/* as fwdcheck_run() leaves it */
	fc.close_at = NEVER;
	fwdcheck_line(&fc, FAILED);
	assert_int_equal(fwdcheck_line(&fc, FREED), 1);
	assert_true(fwdcheck_deadline(&fc) == 0);
	fwdcheck_down(&fc);
	assert_true(fwdcheck_deadline(&fc) == NEVER);
	assert_int_equal(fc.f[0].health, FWD_UNKNOWN);

	/* Every S seconds. */
	setup(&fc, 2, seed);
	fwdcheck_up(&fc, 5000);
	assert_true(fwdcheck_deadline(&fc) == 5000);
	/* No forwards: nothing to check. */
	{
		static const char *const none[] = { NULL };

		setup(&fc, 2, none);
		fwdcheck_up(&fc, 5000);
		assert_true(fwdcheck_deadline(&fc) == NEVER);
	}
}

int
main(void)
{
	add_test("parse LocalForward values", test_parse, NULL);
	add_test("channel lines", test_channel_lines, NULL);
	add_test("refused, then healthy", test_refused_then_healthy, NULL);
	add_test("schedule", test_schedule, NULL);
	return unit_run("test_fwdcheck", NULL, NULL);
}
