/*
 * Unit tests for monitor.c: the message, exact matching, the timing
 * rules, and whole tests driven with a fake clock over real loopback
 * sockets.  The test plays ssh: it listens on a free port as "P",
 * reads the monitor's message there and sends it back on P+1 (loop
 * mode) or on the same connection (echo mode), or misbehaves.
 */
#include <sys/socket.h>
#include <sys/utsname.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"

#include "log.h"
#include "monitor.h"
#include "util.h"

#define POLL_S		10	/* timeout 5 s, retry pause 1 s */
#define FIRST_S		2
#define T0		100000	/* the fake clock's start, in ms */

static char logpath[64];

static size_t	log_size(void);
static int	logged_since(size_t, const char *);

/* ---- helpers: the test's side of the sockets ---- */

static int
tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static int
try_listen(int port)
{
	struct sockaddr_in sin;
	int fd = tcp_socket(), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback(&sin, port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Listen on a free 127.0.0.1:P ("ssh's -L") with P+1 free as well. */
static int
fake_ssh(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int i, fd, next;

	for (i = 0; i < 100; i++) {
		fd = try_listen(0);
		assert_true(fd >= 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl),
		    0);
		*port = ntohs(sin.sin_port);
		if (*port < 65535 && (next = try_listen(*port + 1)) != -1) {
			close(next);
			return fd;
		}
		close(fd);
	}
	fail_msg("no free pair of ports");
	return -1;
}

/* A port with nothing listening on it, nor on the next one. */
static int
dead_port(void)
{
	int port, fd = fake_ssh(&port);

	close(fd);
	return port;
}

static void
wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 3000), 1);
}

static int
accept_one(int lfd)
{
	int fd;

	wait_readable(lfd);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Read one CR LF line (with the CR LF) from fd into buf. */
static void
read_line(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len - 1) {
		wait_readable(fd);
		n = read(fd, buf + got, 1);
		assert_true(n == 1);
		got++;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = '\0';
}

static int
connect_to(int port)
{
	struct sockaddr_in sin;
	int fd = tcp_socket();

	loopback(&sin, port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return fd;
}

static void
send_text(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL),
	    (ssize_t)strlen(s));
}

/* ---- helpers: the loop's side ---- */

/* One round of the loop at fake time now, waiting up to wait_ms. */
static enum mon_result
step(struct monitor *m, int64_t now, int wait_ms, char *why, size_t len)
{
	struct pollfd pfd[MON_MAX_FDS];
	int n = monitor_pollfds(m, pfd, MON_MAX_FDS);

	if (n > 0)
		assert_true(poll(pfd, (nfds_t)n, wait_ms) >= 0);
	return monitor_handle(m, pfd, n, now, why, len);
}

/* Rounds at fake time now until a result or until the phase is p. */
static enum mon_result
drive(struct monitor *m, int64_t now, enum mon_phase p, char *why,
    size_t len)
{
	enum mon_result r = MON_NONE;
	int i;

	for (i = 0; i < 40 && r == MON_NONE && m->phase != p; i++)
		r = step(m, now, 50, why, len);
	return r;
}

static void
open_loop(struct monitor *m, int port, const char *text)
{
	char err[256];

	assert_int_equal(monitor_open(m, port, 0, POLL_S, FIRST_S, text, err,
	    sizeof(err)), 0);
	monitor_start(m, T0);
}

/* Start the test that is due at T0 + FIRST_S and wait for the send. */
static void
begin_test(struct monitor *m, int64_t now)
{
	char why[256];

	assert_int_equal(monitor_deadline(m), now);
	assert_int_equal(drive(m, now, MON_WAITING, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m->phase, MON_WAITING);
}

/* The random number of a message line. */
static uint64_t
random_of(const char *line)
{
	const char *p = line;
	int field;

	for (field = 0; field < 3; field++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	return strtoull(p, NULL, 10);
}

/* ---- the protocol ---- */

static void
test_message_shape(void **state)
{
	char buf[MON_MSG_MAX];

	(void)state;
	assert_int_equal(monitor_message(buf, sizeof(buf), "node", 1234, 42,
	    ""), 22);
	assert_string_equal(buf, "node autossh 1234 42\r\n");
	assert_int_equal(monitor_message(buf, sizeof(buf), "node", 1234, 42,
	    NULL), 22);
	assert_string_equal(buf, "node autossh 1234 42\r\n");
	monitor_message(buf, sizeof(buf), "box", 7, UINT64_MAX, "hello world");
	assert_string_equal(buf,
	    "box autossh 7 18446744073709551615 hello world\r\n");
}

static void
test_message_too_long(void **state)
{
	char buf[16];

	(void)state;
	errno = 0;
	assert_int_equal(monitor_message(buf, sizeof(buf), "node", 1234, 42,
	    "x"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	/* The longest real message fits. */
	{
		char big[MON_MSG_MAX], node[65], text[65];

		memset(node, 'n', 64);
		node[64] = '\0';
		memset(text, 't', 64);
		text[64] = '\0';
		assert_true(monitor_message(big, sizeof(big), node,
		    2147483647L, UINT64_MAX, text) > 0);
	}
}

static void
test_match(void **state)
{
	static const char msg[] = "node autossh 1 99\r\n";
	size_t ml = sizeof(msg) - 1;

	(void)state;
	assert_int_equal(monitor_match(msg, ml, "", 0), MATCH_MORE);
	assert_int_equal(monitor_match(msg, ml, msg, 5), MATCH_MORE);
	assert_int_equal(monitor_match(msg, ml, msg, ml - 1), MATCH_MORE);
	assert_int_equal(monitor_match(msg, ml, msg, ml), MATCH_YES);
	/* Bytes after the line do not matter: it has ended. */
	assert_int_equal(monitor_match(msg, ml, "node autossh 1 99\r\nxx",
	    ml + 2), MATCH_YES);
	/* An extra character, a missing CR, another number, garbage. */
	assert_int_equal(monitor_match(msg, ml, "node autossh 1 99x\r\n",
	    ml + 1), MATCH_NO);
	assert_int_equal(monitor_match(msg, ml, "node autossh 1 99\n",
	    ml - 1), MATCH_NO);
	assert_int_equal(monitor_match(msg, ml, "node autossh 1 98\r\n", ml),
	    MATCH_NO);
	assert_int_equal(monitor_match(msg, ml, "GET / HTTP/1.0\r\n", 16),
	    MATCH_NO);
	assert_int_equal(monitor_match(msg, ml, "X", 1), MATCH_NO);
}

static void
test_timeout_rule(void **state)
{
	(void)state;
	assert_int_equal(monitor_timeout_ms(600), 15000);
	assert_int_equal(monitor_timeout_ms(30), 15000);
	assert_int_equal(monitor_timeout_ms(29), 14500);
	assert_int_equal(monitor_timeout_ms(3), 1500);
	assert_int_equal(monitor_timeout_ms(1), 500);
	assert_int_equal(monitor_timeout_ms(2147483647), 15000);
}

static void
test_maxlifetime_rule(void **state)
{
	(void)state;
	assert_int_equal(monitor_poll_s(600, 0), 600);
	assert_int_equal(monitor_poll_s(600, 100), 100);
	assert_int_equal(monitor_poll_s(600, 600), 600);
	assert_int_equal(monitor_poll_s(10, 100), 10);
}

static void
test_is_refusal(void **state)
{
	(void)state;
	assert_true(monitor_is_refusal("Error: remote port forwarding failed "
	    "for listen port 20000", 20000));
	assert_true(monitor_is_refusal("Warning: remote port forwarding "
	    "failed for listen port 20000", 20000));
	assert_false(monitor_is_refusal("Error: remote port forwarding failed "
	    "for listen port 20000", 2000));
	assert_false(monitor_is_refusal("Error: remote port forwarding failed "
	    "for listen port 200001", 20000));
	assert_false(monitor_is_refusal("Error: remote port forwarding failed "
	    "for listen port 99999999999", 20000));
	assert_false(monitor_is_refusal("Error: remote port forwarding failed "
	    "for listen path /tmp/s", 20000));
	assert_false(monitor_is_refusal("Connection refused", 20000));
}

static void
test_admit_rule(void **state)
{
	(void)state;
	assert_true(monitor_admit(1, 1000, 1000));
	assert_false(monitor_admit(1, 65534, 1000));
	assert_false(monitor_admit(1, 0, 1000));
	/* Running as root, a connection of root's may be ssh's. */
	assert_true(monitor_admit(1, 0, 0));
	/* The owner unknown: kept, whatever the number says. */
	assert_true(monitor_admit(0, 65534, 1000));
	assert_true(monitor_admit(0, 0, 1000));
}

static void
test_grace_rule(void **state)
{
	(void)state;
	assert_int_equal(monitor_grace_ms(-1), MON_PEER_GRACE_MS);
	assert_int_equal(monitor_grace_ms(0), MON_PEER_GRACE_MS);
	assert_int_equal(monitor_grace_ms(500), MON_PEER_GRACE_MS);
	assert_int_equal(monitor_grace_ms(501), 1002);
	assert_int_equal(monitor_grace_ms(3000), 6000);
}

static void
test_slot_rule(void **state)
{
	struct mon_peer p[3];
	int64_t free_ms = 0;
	int i;

	(void)state;
	memset(p, 0, sizeof(p));
	for (i = 0; i < 3; i++)
		p[i].fd = -1;
	assert_int_equal(monitor_slot(p, 3, 5000, 1000, &free_ms), 0);
	assert_int_equal(monitor_slot(p, 0, 5000, 1000, &free_ms), -1);
	assert_true(free_ms == NEVER);
	/* Slots 0 and 2 taken: 1 is free. */
	p[0] = (struct mon_peer){ .fd = 10, .seq = 7, .accepted_ms = 4000 };
	p[2] = (struct mon_peer){ .fd = 12, .seq = 5, .accepted_ms = 3900 };
	assert_int_equal(monitor_slot(p, 3, 4000, 1000, &free_ms), 1);
	/* Full and all young: wait until the oldest (seq 5) is due. */
	p[1] = (struct mon_peer){ .fd = 11, .seq = 9, .accepted_ms = 4100 };
	assert_int_equal(monitor_slot(p, 3, 4100, 1000, &free_ms), -1);
	assert_int_equal(free_ms, 4900);
	assert_int_equal(monitor_slot(p, 3, 4899, 1000, NULL), -1);
	/* Its grace over, the oldest gives way; never a younger one. */
	assert_int_equal(monitor_slot(p, 3, 4900, 1000, &free_ms), 2);
	assert_int_equal(monitor_slot(p, 3, 9999, 1000, &free_ms), 2);
}

/* ---- opening ---- */

static void
test_off(void **state)
{
	struct monitor m;
	struct pollfd pfd[MON_MAX_FDS];
	char err[128], why[128];

	(void)state;
	assert_int_equal(monitor_open(&m, 0, 0, 600, 600, "", err,
	    sizeof(err)), 0);
	monitor_start(&m, T0);
	assert_true(monitor_deadline(&m) == NEVER);
	assert_int_equal(monitor_pollfds(&m, pfd, MON_MAX_FDS), 0);
	assert_int_equal(monitor_handle(&m, pfd, 0, T0 + 1000000, why,
	    sizeof(why)), MON_NONE);
	monitor_close(&m);
}

static void
test_listener(void **state)
{
	struct monitor m;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int port, fd = fake_ssh(&port);

	(void)state;
	open_loop(&m, port, NULL);
	assert_true(m.listen_fd >= 0);
	assert_true(fcntl(m.listen_fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(m.listen_fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(getsockname(m.listen_fd, (struct sockaddr *)&sin,
	    &sl), 0);
	assert_int_equal(ntohs(sin.sin_port), port + 1);
	assert_int_equal(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);
	monitor_close(&m);
	assert_int_equal(m.listen_fd, -1);
	close(fd);
}

static void
test_listener_busy(void **state)
{
	struct monitor m;
	char err[256], want[64];
	int port, fd = fake_ssh(&port), busy = try_listen(port + 1);

	(void)state;
	assert_true(busy >= 0);
	assert_int_equal(monitor_open(&m, port, 0, 600, 600, "", err,
	    sizeof(err)), -1);
	assert_int_equal(errno, EADDRINUSE);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port + 1);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "Address already in use"));
	monitor_close(&m);
	close(busy);
	close(fd);
}

static void
test_echo_mode_has_no_listener(void **state)
{
	struct monitor m;
	char err[128];

	(void)state;
	assert_int_equal(monitor_open(&m, 65535, 7, 600, 600, "", err,
	    sizeof(err)), 0);
	assert_int_equal(m.listen_fd, -1);
	monitor_close(&m);
}

/* ---- whole tests, loop mode ---- */

static void
test_loop_pass(void **state)
{
	struct monitor m;
	struct utsname u;
	char line[MON_MSG_MAX], want[MON_MSG_MAX], why[256];
	int port, lfd = fake_ssh(&port), c, back;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "hi there");
	/* Nothing before FIRST_POLL. */
	assert_int_equal(step(&m, now - 1, 0, why, sizeof(why)), MON_NONE);
	assert_int_equal(m.phase, MON_IDLE);
	assert_int_equal(m.fd, -1);
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	/* node autossh pid random text CR LF */
	assert_int_equal(uname(&u), 0);
	snprintf(want, sizeof(want), "%s autossh %ld %" PRIu64 " hi there\r\n",
	    u.nodename, (long)getpid(), random_of(line));
	assert_string_equal(line, want);
	back = connect_to(port + 1);
	send_text(back, line);
	assert_int_equal(drive(&m, now + 12, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	assert_int_equal(m.last_rtt_ms, 12);
	assert_int_equal(m.phase, MON_IDLE);
	assert_int_equal(monitor_deadline(&m), now + 12 + POLL_S * 1000);
	/* Everything of the test is closed. */
	assert_int_equal(m.fd, -1);
	assert_true(closed_by_peer(c));
	assert_true(closed_by_peer(back));
	close(c);
	close(back);
	monitor_close(&m);
	close(lfd);
}

static void
test_random_differs(void **state)
{
	struct monitor m;
	char a[MON_MSG_MAX], b[MON_MSG_MAX], why[256];
	int port, lfd = fake_ssh(&port), c, back, i;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	for (i = 0; i < 2; i++) {
		begin_test(&m, now);
		c = accept_one(lfd);
		read_line(c, i == 0 ? a : b, sizeof(a));
		back = connect_to(port + 1);
		send_text(back, i == 0 ? a : b);
		assert_int_equal(drive(&m, now, MON_OFF, why, sizeof(why)),
		    MON_PASS);
		close(c);
		close(back);
		now += POLL_S * 1000;
	}
	assert_true(random_of(a) != random_of(b));
	/* An empty AUTOSSH_MESSAGE leaves no trailing space. */
	assert_null(strstr(a, " \r\n"));
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_refused(void **state)
{
	struct monitor m;
	char why[256], want[64];
	int port = dead_port();
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	assert_int_equal(drive(&m, now, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m.phase, MON_PAUSE);
	/* The retry comes after the pause, on a new connection. */
	assert_int_equal(monitor_deadline(&m), now + MON_RETRY_PAUSE_MS);
	assert_int_equal(m.fd, -1);
	assert_int_equal(step(&m, now + 999, 0, why, sizeof(why)), MON_NONE);
	assert_int_equal(m.phase, MON_PAUSE);
	assert_int_equal(drive(&m, now + 1000, MON_OFF, why, sizeof(why)),
	    MON_FAIL);
	snprintf(want, sizeof(want), "connection to 127.0.0.1:%d refused",
	    port);
	assert_non_null(strstr(why, want));
	assert_int_equal(strncmp(why, "monitor test failed twice: ", 27), 0);
	/* Failed: no more tests until ssh is started again. */
	assert_int_equal(m.phase, MON_OFF);
	assert_true(monitor_deadline(&m) == NEVER);
	monitor_start(&m, now + 5000);
	assert_int_equal(monitor_deadline(&m), now + 5000 + FIRST_S * 1000);
	monitor_close(&m);
}

/*
 * A blackhole: the reply never comes.  The test fails when its one
 * timeout ends (5 s after it starts at POLL 10, as in autossh 1.4g),
 * with no retry after it: a retry with a timeout of its own would add
 * the pause and a second timeout (11 s).
 */
static void
test_loop_timeout(void **state)
{
	struct monitor m;
	char why[256];
	int port, lfd = fake_ssh(&port), c1;
	int64_t now = T0 + FIRST_S * 1000, timeout = POLL_S * 1000 / 2;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c1 = accept_one(lfd);
	assert_int_equal(monitor_deadline(&m), now + timeout);
	assert_int_equal(step(&m, now + timeout - 1, 0, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m.phase, MON_WAITING);
	assert_int_equal(step(&m, now + timeout, 0, why, sizeof(why)),
	    MON_FAIL);
	assert_string_equal(why, "monitor test failed: no reply within 5.0 s");
	assert_int_equal(m.phase, MON_OFF);
	/* The half-dead connection is not kept. */
	assert_true(closed_by_peer(c1));
	close(c1);
	monitor_close(&m);
	close(lfd);
}

/*
 * A quick failure leaves the retry what is left of the timeout: the pause
 * (a second, or half of what is left) comes out of it, and a blackhole
 * met on the retry is still noticed when the one timeout ends.
 */
static void
test_retry_shares_the_timeout(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c;
	int64_t start = T0 + FIRST_S * 1000, timeout = POLL_S * 1000 / 2;
	int64_t now;

	(void)state;
	open_loop(&m, port, "");
	/* Closed after 4.4 s: 0.6 s left, a pause of 0.3 s. */
	begin_test(&m, start);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	close(c);
	now = start + timeout - 600;
	assert_int_equal(drive(&m, now, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(monitor_deadline(&m), now + 300);
	begin_test(&m, now + 300);
	assert_int_equal(monitor_deadline(&m), start + timeout);
	c = accept_one(lfd);
	assert_int_equal(step(&m, start + timeout - 1, 0, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(step(&m, start + timeout, 0, why, sizeof(why)),
	    MON_FAIL);
	assert_non_null(strstr(why, "on the retry: no reply within 300 ms"));
	close(c);

	/* Closed at the very end: no time is left for a retry. */
	monitor_start(&m, start);
	now = start + FIRST_S * 1000;
	begin_test(&m, now);
	c = accept_one(lfd);
	close(c);
	assert_int_equal(drive(&m, now + timeout - 1, MON_OFF, why,
	    sizeof(why)), MON_FAIL);
	assert_int_equal(strncmp(why, "monitor test failed: ", 21), 0);
	assert_null(strstr(why, "retry"));
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_closed_early(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	/* ssh could not open the forward on the server: it hangs up. */
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	close(c);
	assert_int_equal(drive(&m, now + 10, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m.phase, MON_PAUSE);
	now += 10 + MON_RETRY_PAUSE_MS;
	begin_test(&m, now);
	c = accept_one(lfd);
	close(c);
	assert_int_equal(drive(&m, now + 10, MON_OFF, why, sizeof(why)),
	    MON_FAIL);
	assert_non_null(strstr(why, "closed the connection"));
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_strays(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX], fake[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c, back, junk, liar, idle;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	/* Between tests, a connection on P+1 is dropped at once. */
	junk = connect_to(port + 1);
	assert_int_equal(step(&m, now - 1, 200, why, sizeof(why)), MON_NONE);
	assert_true(closed_by_peer(junk));
	close(junk);

	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	/* Garbage, a well-formed line with another number, and silence. */
	junk = connect_to(port + 1);
	send_text(junk, "GET / HTTP/1.0\r\n\r\n");
	liar = connect_to(port + 1);
	snprintf(fake, sizeof(fake), "%.*s%" PRIu64 "\r\n",
	    (int)(strrchr(line, ' ') - line + 1), line, random_of(line) + 1);
	send_text(liar, fake);
	idle = connect_to(port + 1);
	assert_int_equal(step(&m, now + 1, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + 2, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + 3, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(m.phase, MON_WAITING);
	assert_true(closed_by_peer(junk));
	assert_true(closed_by_peer(liar));
	assert_int_equal(m.strays, 2);
	/* The real reply still passes. */
	back = connect_to(port + 1);
	send_text(back, line);
	assert_int_equal(drive(&m, now + 4, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	assert_true(closed_by_peer(idle));
	close(junk);
	close(liar);
	close(idle);
	close(back);
	close(c);
	monitor_close(&m);
	close(lfd);
}

/*
 * Silent connections of our own user hold every slot: each keeps it for
 * its grace, then the oldest makes room, so the reply is only delayed.
 */
static void
test_loop_strays_fill_slots(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c, back, idle[MON_MAX_PEERS + 3], i;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	for (i = 0; i < MON_MAX_PEERS + 3; i++) {
		idle[i] = connect_to(port + 1);
		assert_int_equal(step(&m, now, 100, why, sizeof(why)),
		    MON_NONE);
	}
	/* What we accepted, and our own test connection, stay ours. */
	assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	for (i = 0; i < MON_MAX_PEERS; i++) {
		assert_true(m.peers[i].fd >= 0);
		assert_true(fcntl(m.peers[i].fd, F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(m.peers[i].fd, F_GETFL) & O_NONBLOCK);
	}
	back = connect_to(port + 1);
	send_text(back, line);
	/* Full: the listener rests until the oldest's grace is over. */
	assert_int_equal(step(&m, now + 999, 100, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(monitor_deadline(&m), now + MON_PEER_GRACE_MS);
	assert_int_equal(monitor_pollfds(&m, (struct pollfd[MON_MAX_FDS]){ 0 },
	    MON_MAX_FDS), 1 + MON_MAX_PEERS);
	assert_int_equal(drive(&m, now + MON_PEER_GRACE_MS, MON_OFF, why,
	    sizeof(why)), MON_PASS);
	for (i = 0; i < MON_MAX_PEERS + 3; i++)
		close(idle[i]);
	close(back);
	close(c);
	monitor_close(&m);
	close(lfd);
}

/*
 * ssh's reply connects, and its message follows a round trip later; a
 * burst of silent connections in between must not push it out unread.
 */
static void
test_loop_burst_after_the_reply(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c, back, idle[2 * MON_MAX_PEERS], i;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	back = connect_to(port + 1);
	for (i = 0; i < 2 * MON_MAX_PEERS; i++)
		idle[i] = connect_to(port + 1);
	assert_int_equal(step(&m, now + 1, 100, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + 2, 100, why, sizeof(why)), MON_NONE);
	send_text(back, line);
	assert_int_equal(drive(&m, now + 3, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	for (i = 0; i < 2 * MON_MAX_PEERS; i++)
		close(idle[i]);
	close(back);
	close(c);
	monitor_close(&m);
	close(lfd);
}

/*
 * The attack: another user floods port+1 between ssh's connect and its
 * message.  Their connections are closed unread; ours is read and passes.
 * Needs root, to make sockets of another user.
 */
static void
test_loop_flood_of_other_users(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c, back, idle[3 * MON_MAX_PEERS], i;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	if (geteuid() != 0 || m.diag_fd == -1) {
		monitor_close(&m);
		close(lfd);
		skip();
	}
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	back = connect_to(port + 1);
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		idle[i] = connect_as(NOBODY, port + 1);
	assert_int_equal(step(&m, now + 1, 100, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + 2, 100, why, sizeof(why)), MON_NONE);
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		assert_true(closed_by_peer(idle[i]));
	assert_int_equal(m.refused, 3 * MON_MAX_PEERS);
	send_text(back, line);
	assert_int_equal(drive(&m, now + 3, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		close(idle[i]);
	close(back);
	close(c);
	monitor_close(&m);
	close(lfd);
}

/*
 * Connections whose socket belongs to another user are closed unread and
 * take no slot; they neither pass nor fail a test.  Here the test's own
 * connections pose as another user's.
 */
static void
test_loop_other_users_refused(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX], want[160];
	int port, lfd = fake_ssh(&port), c, back, idle[3 * MON_MAX_PEERS], i;
	int64_t now = T0 + FIRST_S * 1000, timeout = POLL_S * 1000 / 2;
	size_t off = log_size();

	(void)state;
	open_loop(&m, port, "");
	if (m.diag_fd == -1)
		skip();
	m.self_uid = geteuid() + 1;
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		idle[i] = connect_to(port + 1);
	back = connect_to(port + 1);
	send_text(back, line);
	for (i = 0; i < 4; i++)
		assert_int_equal(step(&m, now + 1, 100, why, sizeof(why)),
		    MON_NONE);
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		assert_true(closed_by_peer(idle[i]));
	assert_true(closed_by_peer(back));
	assert_int_equal(m.refused, 3 * MON_MAX_PEERS + 1);
	assert_int_equal(m.strays, 0);
	for (i = 0; i < MON_MAX_PEERS; i++)
		assert_int_equal(m.peers[i].fd, -1);
	assert_true(logged_since(off, "from another user"));
	assert_int_equal(step(&m, now + timeout, 0, why, sizeof(why)),
	    MON_FAIL);
	snprintf(want, sizeof(want), "monitor test failed: no reply within "
	    "5.0 s (0 stray connections on 127.0.0.1:%d dropped, %d from "
	    "other users refused)", port + 1, 3 * MON_MAX_PEERS + 1);
	assert_string_equal(why, want);
	for (i = 0; i < 3 * MON_MAX_PEERS; i++)
		close(idle[i]);
	close(back);
	close(c);
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_strays_then_timeout(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX], want[128];
	int port, lfd = fake_ssh(&port), c, junk;
	int64_t now = T0 + FIRST_S * 1000, timeout = POLL_S * 1000 / 2;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	junk = connect_to(port + 1);
	send_text(junk, "not it\r\n");
	assert_int_equal(step(&m, now + 1, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + timeout, 0, why, sizeof(why)),
	    MON_FAIL);
	snprintf(want, sizeof(want), "monitor test failed: no reply within "
	    "5.0 s (1 stray connection on 127.0.0.1:%d dropped, 0 from other "
	    "users refused)", port + 1);
	assert_string_equal(why, want);
	close(junk);
	close(c);
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_retry_passes(void **state)
{
	struct monitor m;
	char why[256], first[MON_MSG_MAX], second[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c1, c2, late, back;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c1 = accept_one(lfd);
	read_line(c1, first, sizeof(first));
	/* ssh drops the first attempt's connection. */
	close(c1);
	assert_int_equal(drive(&m, now + 10, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m.phase, MON_PAUSE);
	now += 10 + MON_RETRY_PAUSE_MS;
	begin_test(&m, now);
	c2 = accept_one(lfd);
	read_line(c2, second, sizeof(second));
	assert_true(random_of(first) != random_of(second));
	/* The first attempt's reply, late, does not pass the retry... */
	late = connect_to(port + 1);
	send_text(late, first);
	assert_int_equal(step(&m, now + 1, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(step(&m, now + 2, 200, why, sizeof(why)), MON_NONE);
	assert_true(closed_by_peer(late));
	assert_int_equal(m.phase, MON_WAITING);
	/* ...and the retry's own does. */
	back = connect_to(port + 1);
	send_text(back, second);
	assert_int_equal(drive(&m, now + 3, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	assert_int_equal(m.attempt, 0);
	assert_int_equal(monitor_deadline(&m), now + 3 + POLL_S * 1000);
	close(c2);
	close(late);
	close(back);
	monitor_close(&m);
	close(lfd);
}

static void
test_loop_refused_then_retry(void **state)
{
	struct monitor m;
	char why[256], want[160], line[MON_MSG_MAX];
	int port = dead_port(), lfd, c, back;
	int64_t now = T0 + FIRST_S * 1000, timeout = POLL_S * 1000 / 2;

	(void)state;
	open_loop(&m, port, "");
	assert_int_equal(drive(&m, now, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	/* ssh's listener is back for the retry, which passes. */
	lfd = try_listen(port);
	assert_true(lfd >= 0);
	now += MON_RETRY_PAUSE_MS;
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	back = connect_to(port + 1);
	send_text(back, line);
	assert_int_equal(drive(&m, now + 1, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	close(c);
	close(back);

	/* Next test: refused, then no reply: both reasons are given. */
	close(lfd);
	now += 1 + POLL_S * 1000;
	assert_int_equal(drive(&m, now, MON_PAUSE, why, sizeof(why)),
	    MON_NONE);
	lfd = try_listen(port);
	assert_true(lfd >= 0);
	begin_test(&m, now + MON_RETRY_PAUSE_MS);
	/* The retry has what the first attempt and the pause left. */
	assert_int_equal(step(&m, now + timeout - 1, 0, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(step(&m, now + timeout, 0, why, sizeof(why)),
	    MON_FAIL);
	snprintf(want, sizeof(want), "monitor test failed: connection to "
	    "127.0.0.1:%d refused; on the retry: no reply within 4.0 s", port);
	assert_string_equal(why, want);
	monitor_close(&m);
	close(lfd);
}

static void
test_stop_aborts(void **state)
{
	struct monitor m;
	struct pollfd pfd[MON_MAX_FDS];
	char why[256];
	int port, lfd = fake_ssh(&port), c;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_loop(&m, port, "");
	begin_test(&m, now);
	c = accept_one(lfd);
	monitor_stop(&m);
	assert_true(closed_by_peer(c));
	assert_true(monitor_deadline(&m) == NEVER);
	/* Only the listener is left to poll. */
	assert_int_equal(monitor_pollfds(&m, pfd, MON_MAX_FDS), 1);
	assert_int_equal(pfd[0].fd, m.listen_fd);
	assert_int_equal(step(&m, now + 100000, 0, why, sizeof(why)),
	    MON_NONE);
	assert_int_equal(m.phase, MON_OFF);
	close(c);
	monitor_close(&m);
	close(lfd);
}

/* ---- whole tests, echo mode ---- */

static void
open_echo(struct monitor *m, int port)
{
	char err[256];

	assert_int_equal(monitor_open(m, port, 7, POLL_S, FIRST_S, "", err,
	    sizeof(err)), 0);
	monitor_start(m, T0);
}

static void
test_echo_pass(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c;
	size_t half;
	int64_t now = T0 + FIRST_S * 1000;

	(void)state;
	open_echo(&m, port);
	begin_test(&m, now);
	c = accept_one(lfd);
	read_line(c, line, sizeof(line));
	/* The echo comes back in two pieces. */
	half = strlen(line) / 2;
	assert_int_equal(send(c, line, half, 0), (ssize_t)half);
	assert_int_equal(step(&m, now + 1, 200, why, sizeof(why)), MON_NONE);
	assert_int_equal(m.phase, MON_WAITING);
	send_text(c, line + half);
	assert_int_equal(drive(&m, now + 2, MON_OFF, why, sizeof(why)),
	    MON_PASS);
	close(c);
	monitor_close(&m);
	close(lfd);
}

static void
test_echo_mismatch(void **state)
{
	struct monitor m;
	char why[256], line[MON_MSG_MAX];
	int port, lfd = fake_ssh(&port), c, i;
	int64_t now = T0 + FIRST_S * 1000;
	enum mon_result r = MON_NONE;

	(void)state;
	open_echo(&m, port);
	for (i = 0; i < 2; i++) {
		begin_test(&m, now);
		c = accept_one(lfd);
		read_line(c, line, sizeof(line));
		/* Drop the CR: not the message. */
		line[strlen(line) - 2] = '\n';
		line[strlen(line) - 1] = '\0';
		send_text(c, line);
		r = drive(&m, now + 1, i == 0 ? MON_PAUSE : MON_OFF, why,
		    sizeof(why));
		close(c);
		now += 1 + MON_RETRY_PAUSE_MS;
	}
	assert_int_equal(r, MON_FAIL);
	assert_string_equal(why, "monitor test failed twice: reply did not "
	    "match");
	monitor_close(&m);
	close(lfd);
}

/* ---- the same-loopback explanation ---- */

static size_t
log_size(void)
{
	FILE *f = fopen(logpath, "r");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return (size_t)n;
}

static int
logged_since(size_t off, const char *text)
{
	char buf[8192];
	FILE *f = fopen(logpath, "r");
	size_t n;

	assert_non_null(f);
	fseek(f, (long)off, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static void
test_forward_refused(void **state)
{
	struct monitor m, echo;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	char line[128], other[128];
	int port, lfd = fake_ssh(&port);
	size_t off;

	(void)state;
	open_loop(&m, port, "");
	snprintf(line, sizeof(line), "Error: remote port forwarding failed "
	    "for listen port %d", port);
	snprintf(other, sizeof(other), "Error: remote port forwarding failed "
	    "for listen port %d", port + 7);
	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(22);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	assert_int_equal(monitor_forward_refused(&m, other, &ss), 0);
	off = log_size();
	assert_int_equal(monitor_forward_refused(&m, line, &ss), 1);
	assert_true(logged_since(off, "is this host"));
	assert_true(logged_since(off, "error"));
	/* Once per ssh start. */
	off = log_size();
	assert_int_equal(monitor_forward_refused(&m, line, &ss), 1);
	assert_int_equal(log_size(), off);
	/* The next ssh: not explained again until a test passes. */
	monitor_start(&m, T0);
	off = log_size();
	assert_int_equal(monitor_forward_refused(&m, line, &ss), 1);
	assert_false(logged_since(off, "is this host"));
	assert_true(logged_since(off, "refused on the server again"));
	/* Not local (TEST-NET-1): a stale session. */
	monitor_start(&m, T0);
	m.fwd_said = 0;
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	off = log_size();
	assert_int_equal(monitor_forward_refused(&m, line, &ss), 1);
	assert_true(logged_since(off, "stale session"));
	assert_false(logged_since(off, "error"));
	/* Unknown server: both explanations. */
	monitor_start(&m, T0);
	m.fwd_said = 0;
	off = log_size();
	assert_int_equal(monitor_forward_refused(&m, line, NULL), 1);
	assert_true(logged_since(off, "same host or network namespace"));
	monitor_close(&m);

	/* Echo mode has no -R. */
	assert_int_equal(monitor_open(&echo, port, 7, 600, 600, "", line,
	    sizeof(line)), 0);
	snprintf(line, sizeof(line), "Error: remote port forwarding failed "
	    "for listen port %d", port);
	assert_int_equal(monitor_forward_refused(&echo, line, NULL), 0);
	monitor_close(&echo);
	close(lfd);
}

static int
group_setup(void **state)
{
	int fd;

	(void)state;
	snprintf(logpath, sizeof(logpath), "/tmp/test_monitor.XXXXXX");
	if ((fd = mkstemp(logpath)) == -1)
		return -1;
	close(fd);
	log_init(LOG_LVL_DEBUG, LOG_TO_FILE);
	return log_open_file(logpath);
}

static int
group_teardown(void **state)
{
	(void)state;
	log_close();
	unlink(logpath);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_shape),
		cmocka_unit_test(test_message_too_long),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_timeout_rule),
		cmocka_unit_test(test_maxlifetime_rule),
		cmocka_unit_test(test_is_refusal),
		cmocka_unit_test(test_admit_rule),
		cmocka_unit_test(test_grace_rule),
		cmocka_unit_test(test_slot_rule),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_listener),
		cmocka_unit_test(test_listener_busy),
		cmocka_unit_test(test_echo_mode_has_no_listener),
		cmocka_unit_test(test_loop_pass),
		cmocka_unit_test(test_random_differs),
		cmocka_unit_test(test_loop_refused),
		cmocka_unit_test(test_loop_timeout),
		cmocka_unit_test(test_retry_shares_the_timeout),
		cmocka_unit_test(test_loop_closed_early),
		cmocka_unit_test(test_loop_strays),
		cmocka_unit_test(test_loop_strays_fill_slots),
		cmocka_unit_test(test_loop_burst_after_the_reply),
		cmocka_unit_test(test_loop_flood_of_other_users),
		cmocka_unit_test(test_loop_other_users_refused),
		cmocka_unit_test(test_loop_strays_then_timeout),
		cmocka_unit_test(test_loop_retry_passes),
		cmocka_unit_test(test_loop_refused_then_retry),
		cmocka_unit_test(test_stop_aborts),
		cmocka_unit_test(test_echo_pass),
		cmocka_unit_test(test_echo_mismatch),
		cmocka_unit_test(test_forward_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
