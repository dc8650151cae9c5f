/*
 * Unit tests for fwdcheck.c's pure part: ssh -G's LocalForward and
 * RemoteForward values turned into forwards, and ssh 9.2p1's channel
 * lines (taken from a run against a real sshd) turned into each forward's
 * health and the text.  A RemoteForward check is a real connect on
 * loopback, to a port with and without a listener.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <poll.h>
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
#include "log.h"
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
setup_all(struct fwdcheck *fc, int interval_s, const char *const *local,
    const char *const *remote, int mon_port, int echo_port, int family)
{
	struct sshcfg c;

	memset(&c, 0, sizeof(c));
	c.family = family;
	for (; local != NULL && *local != NULL; local++)
		util_strlcpy(c.local_forward[c.local_forwards++], *local,
		    sizeof(c.local_forward[0]));
	for (; remote != NULL && *remote != NULL; remote++)
		util_strlcpy(c.remote_forward[c.remote_forwards++], *remote,
		    sizeof(c.remote_forward[0]));
	fwdcheck_init(fc, &c, interval_s, mon_port, echo_port);
}

static void
setup(struct fwdcheck *fc, int interval_s, const char *const *values)
{
	setup_all(fc, interval_s, values, NULL, 0, 0, AF_UNSPEC);
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

/* RemoteForward values: what is checked, what is left out. */
static void
test_parse_remote(void **state)
{
	static const char *const v[] = {
		"2222 [localhost]:22",
		"[::1]:2223 [::1]:23",
		"0 [127.0.0.1]:5",		/* the server picks the port */
		"7 [127.0.0.1]:65535",
		"3333 [socks]:0",		/* -R 3333: SOCKS, no target */
		"/tmp/s /tmp/t",		/* socket paths */
		"4444 /tmp/u",
		NULL,
	};
	static const char *const bad[] = {
		"65536 [127.0.0.1]:1",
		"-1 [127.0.0.1]:1",
		"8 [127.0.0.1]:65536",
		"9 [127.0.0.1]:0",
		"5555 [db.example]:5432",	/* a name: not resolved */
		"10 [fe80::1%eth0]:22",		/* likewise */
		"11 127.0.0.1:22",
		"",
	};
	struct fwdcheck fc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *one[] = { bad[i], NULL };

		setup_all(&fc, 0, NULL, one, 0, 0, AF_UNSPEC);
		assert_int_equal(fc.n, 0);
	}
	setup_all(&fc, 0, seed, v, 0, 0, AF_UNSPEC);
	assert_int_equal(fc.n, 5);
	assert_int_equal(fc.f[0].remote, 0);
	assert_int_equal(fc.f[1].remote, 1);
	assert_int_equal(fc.f[1].port, 2222);
	assert_string_equal(fc.f[1].host, "localhost");
	assert_int_equal(fc.f[1].host_port, 22);
	assert_string_equal(fc.f[2].bind, "::1");
	assert_int_equal(fc.f[2].port, 2223);
	assert_string_equal(fc.f[2].host, "::1");
	assert_int_equal(fc.f[3].port, 0);
	assert_int_equal(fc.f[4].host_port, 65535);
	assert_int_equal(fc.f[1].rfd[0], -1);
	assert_int_equal(fc.f[1].rfd[1], -1);
}

/* The port monitor's own forwards are not the user's. */
static void
test_monitor_forwards(void **state)
{
	static const char *const l[] = { "20000 [127.0.0.1]:20000", NULL };
	static const char *const r[] = { "20000 [127.0.0.1]:20001", NULL };
	static const char *const le[] = { "20000 [127.0.0.1]:7", NULL };
	static const char *const ru[] = {
		"20000 [127.0.0.1]:22",		/* not -M's target */
		"[127.0.0.1]:20000 [127.0.0.1]:20001",	/* bound: the user's */
		"20001 [127.0.0.1]:20002",
		NULL,
	};
	struct fwdcheck fc;

	(void)state;
	/* Loop mode, -M 20000: -L 20000:127.0.0.1:20000 -R ...:20001. */
	setup_all(&fc, 2, l, r, 20000, 0, AF_UNSPEC);
	assert_int_equal(fc.n, 0);
	setup_all(&fc, 2, l, ru, 20000, 0, AF_UNSPEC);
	assert_int_equal(fc.n, 3);
	assert_int_equal(fc.f[0].host_port, 22);
	/* Echo mode, -M 20000:7: -L 20000:127.0.0.1:7 and no -R. */
	setup_all(&fc, 2, le, r, 20000, 7, AF_UNSPEC);
	assert_int_equal(fc.n, 1);
	assert_int_equal(fc.f[0].remote, 1);
	/* No monitor: all are the user's. */
	setup_all(&fc, 2, l, r, 0, 0, AF_UNSPEC);
	assert_int_equal(fc.n, 2);
}

/* A loopback port nothing listens on (bound, then closed). */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd != -1);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
listen_on(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;

	assert_true(fd != -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Run a check at now and poll until it settles; 1 if health changed. */
static int
check(struct fwdcheck *fc, int64_t now)
{
	struct pollfd pfd[FWD_MAX_FDS];
	int changed, i, open;

	changed = fwdcheck_run(fc, now);
	for (i = 0; i < 50; i++) {
		assert_int_equal(fwdcheck_pollfds(fc, pfd, FWD_MAX_FDS),
		    FWD_MAX_FDS);
		for (open = 0; open < FWD_MAX_FDS; open++)
			if (pfd[open].fd != -1)
				break;
		if (open == FWD_MAX_FDS)
			break;
		assert_true(poll(pfd, FWD_MAX_FDS, 100) >= 0);
		changed |= fwdcheck_event(fc, pfd, FWD_MAX_FDS);
	}
	return changed;
}

/* A RemoteForward's target, refused then listening, on this machine. */
static void
test_remote_target(void **state)
{
	char rv[64], want[128], text[160];
	const char *r[] = { rv, NULL };
	struct pollfd small[1];
	struct fwdcheck fc;
	int port = free_port(), lfd, i;

	(void)state;
	snprintf(rv, sizeof(rv), "2222 [127.0.0.1]:%d", port);
	setup_all(&fc, 2, seed, r, 0, 0, AF_UNSPEC);
	assert_int_equal(fc.n, 2);
	assert_int_equal(fwdcheck_pollfds(&fc, small, 1), 0);
	fwdcheck_up(&fc, 1000);
	assert_int_equal(check(&fc, 1000), 1);
	assert_int_equal(fc.f[1].health, FWD_REFUSED);
	snprintf(want, sizeof(want), "forward R 2222\u2192127.0.0.1:%d: "
	    "target refused on this machine", port);
	fwdcheck_text(&fc, text, sizeof(text));
	assert_string_equal(text, want);
	assert_int_equal(fwdcheck_healthy(&fc), 0);
	/* The same result again is no change. */
	assert_int_equal(check(&fc, 3000), 0);
	/* ssh's lines are about LocalForwards only, even on port 2222. */
	assert_int_equal(fwdcheck_line(&fc, "debug1: channel 2: free: "
	    "direct-tcpip: listening port 2222 for localhost port 1883, "
	    "connect from 127.0.0.1 port 1 to 127.0.0.1 port 2222, "
	    "nchannels 3"), 0);
	assert_int_equal(fc.f[0].health, FWD_UNKNOWN);
	assert_int_equal(fc.f[1].health, FWD_REFUSED);

	/* Something listens: healthy, and the connect is closed at once. */
	lfd = listen_on(port);
	assert_int_equal(check(&fc, 5000), 1);
	assert_int_equal(fc.f[1].health, FWD_OK);
	for (i = 0; i < FWD_ADDRS; i++)
		assert_int_equal(fc.f[1].rfd[i], -1);
	fwdcheck_text(&fc, text, sizeof(text));
	assert_string_equal(text, "");
	/* -f --wait: every forward, local and remote, seen healthy. */
	assert_int_equal(fwdcheck_healthy(&fc), 0);
	assert_int_equal(fwdcheck_line(&fc, FREED), 1);
	assert_int_equal(fwdcheck_healthy(&fc), 1);
	close(lfd);

	/* "localhost", IPv4 only as ssh's AddressFamily says: refused. */
	snprintf(rv, sizeof(rv), "2222 [localhost]:%d", port);
	setup_all(&fc, 2, NULL, r, 0, 0, AF_INET);
	fwdcheck_up(&fc, 1000);
	assert_int_equal(check(&fc, 1000), 1);
	fwdcheck_text(&fc, text, sizeof(text));
	snprintf(want, sizeof(want), "forward R 2222\u2192localhost:%d: "
	    "target refused on this machine", port);
	assert_string_equal(text, want);
	/* Down: forgotten. */
	fwdcheck_down(&fc);
	assert_int_equal(fc.f[0].health, FWD_UNKNOWN);
}

/* Another error than "refused" is said as it is. */
static void
test_remote_text(void **state)
{
	static const char *const r[] = { "2222 [10.0.0.1]:22", NULL };
	struct fwdcheck fc;
	char text[160];

	(void)state;
	setup_all(&fc, 2, NULL, r, 0, 0, AF_UNSPEC);
	fc.f[0].health = FWD_REFUSED;
	util_strlcpy(fc.f[0].why, "Network is unreachable",
	    sizeof(fc.f[0].why));
	fwdcheck_text(&fc, text, sizeof(text));
	assert_string_equal(text, "forward R 2222\u219210.0.0.1:22: target "
	    "unreachable on this machine (Network is unreachable)");
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

/*
 * What is told as health changes, in order, on one forward: a step is
 * ssh's channel lines (or the session's edge), then, as the loop does
 * after a change, what fwdcheck_news() says.
 */
enum step { S_REFUSED, S_OPENED, S_DOWN, S_UP, S_END };

struct news_row {
	enum step	 step;
	int		 changed;	/* fwdcheck_line()'s answer */
	int		 news;
	int		 level;
	const char	*line;		/* when news */
	const char	*shown;
};

static const struct news_row news_rows[] = {
	/* Unknown to healthy: a change, but nothing to tell. */
	{ S_OPENED, 1, 0, 0, NULL, "" },
	{ S_REFUSED, 1, 1, LOG_LVL_WARNING, REFUSED, REFUSED },
	/* The same refusal again is no change at all. */
	{ S_REFUSED, 0, 0, 0, NULL, REFUSED },
	{ S_OPENED, 1, 1, LOG_LVL_INFO, "forwards healthy again", "" },
	{ S_REFUSED, 1, 1, LOG_LVL_WARNING, REFUSED, REFUSED },
	/* The session ends: forgotten, nothing shown. */
	{ S_DOWN, 0, 0, 0, NULL, "" },
	/* Outside a session a refusal is kept but is no change ... */
	{ S_REFUSED, 0, 0, 0, NULL, "" },
	/* ... and, never shown, its end is nothing to tell either. */
	{ S_UP, 0, 0, 0, NULL, "" },
	{ S_OPENED, 1, 0, 0, NULL, "" },
	{ S_REFUSED, 1, 1, LOG_LVL_WARNING, REFUSED, REFUSED },
	{ S_END, 0, 0, 0, NULL, NULL },
};

static void
test_news(void **state)
{
	const struct news_row *row;
	struct fwdcheck fc;
	char line[256];
	int level, changed;

	(void)state;
	setup(&fc, FWD_CHECK_ALWAYS, seed);
	fwdcheck_up(&fc, 1000);
	for (row = news_rows; row->step != S_END; row++) {
		changed = 0;
		switch (row->step) {
		case S_REFUSED:
			changed = fwdcheck_line(&fc, FAILED);
			changed |= fwdcheck_line(&fc, FREED);
			break;
		case S_OPENED:
			changed = fwdcheck_line(&fc, FREED);
			break;
		case S_DOWN:
			fwdcheck_down(&fc);
			break;
		case S_UP:
			fwdcheck_up(&fc, 2000);
			break;
		case S_END:
			break;
		}
		assert_int_equal(changed, row->changed);
		level = -1;
		line[0] = '\0';
		if (changed)
			assert_int_equal(fwdcheck_news(&fc, &level, line,
			    sizeof(line)), row->news);
		if (row->news) {
			assert_int_equal(level, row->level);
			assert_string_equal(line, row->line);
		} else
			assert_int_equal(level, -1);
		assert_string_equal(fwdcheck_shown(&fc), row->shown);
	}
}

/* Off: ssh's lines are not read, and nothing changes. */
static void
test_off(void **state)
{
	struct fwdcheck fc;

	(void)state;
	setup(&fc, 0, seed);
	fwdcheck_up(&fc, 1000);
	assert_int_equal(fwdcheck_line(&fc, FAILED), 0);
	assert_int_equal(fwdcheck_line(&fc, FREED), 0);
	assert_int_equal(fc.f[0].health, FWD_UNKNOWN);
	assert_int_equal(fwdcheck_run(&fc, 5000), 0);
}

int
main(void)
{
	add_test("parse LocalForward values", test_parse, NULL);
	add_test("channel lines", test_channel_lines, NULL);
	add_test("refused, then healthy", test_refused_then_healthy, NULL);
	add_test("schedule", test_schedule, NULL);
	add_test("what is told, and when", test_news, NULL);
	add_test("off: lines not read", test_off, NULL);
	add_test("parse RemoteForward values", test_parse_remote, NULL);
	add_test("the port monitor's forwards", test_monitor_forwards, NULL);
	add_test("a RemoteForward's target", test_remote_target, NULL);
	add_test("RemoteForward text", test_remote_text, NULL);
	return unit_run("test_fwdcheck", NULL, NULL);
}
