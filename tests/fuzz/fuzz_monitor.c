/*
 * Fuzz target: monitor replies (DESIGN.md §Port monitor, §Bad input).
 * Whatever comes back on a monitor connection is the network's to choose.
 *
 * Input: one flags byte, one chunk-size byte, then the reply bytes.
 *   flags bit 0: echo mode (-M P:E) rather than loop mode (-M P)
 *   flags bit 1: the peer closes its end after the last chunk
 *   flags bit 2: this is the retry (the first attempt already failed)
 *   flags bit 3: let the attempt's deadline pass at the end
 *   flags bit 4: the message carries an AUTOSSH_MESSAGE text
 *
 * First the pure protocol: monitor_match() of the reply against a fixed
 * message is compared with the obvious definition.  Then the real
 * reading path: a monitor is put in the middle of a test (phase
 * MON_WAITING, through the fields struct monitor exposes), the reply is
 * written into a socketpair in chunks, and monitor_handle() reads it as
 * the loop would.  The test must pass exactly when the reply starts with
 * the message, no buffer may hold more than the message, and nothing may
 * be read past it.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "monitor.h"
#include "util.h"

#define PORT		20000
#define ECHO_PORT	7
#define T0		1000000
#define RND		0x0123456789abcdefULL

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

static void
check_match(const char *msg, size_t mlen, const uint8_t *got, size_t glen)
{
	enum mon_match r, want;
	size_t n = glen < mlen ? glen : mlen;
	char *copy;

	/* An exact-size copy: any read past got_len is an ASan error. */
	if ((copy = malloc(glen ? glen : 1)) == NULL)
		abort();
	memcpy(copy, got, glen);
	r = monitor_match(msg, mlen, copy, glen);
	if (memcmp(msg, got, n) != 0)
		want = MATCH_NO;
	else
		want = glen >= mlen ? MATCH_YES : MATCH_MORE;
	CHECK(r == want);
	free(copy);
}

/* The monitor's buffers never hold more than the message. */
static void
check_bounds(const struct monitor *m)
{
	int i;

	CHECK(m->msg_len <= sizeof(m->msg));
	CHECK(m->echo.len <= m->msg_len);
	for (i = 0; i < MON_MAX_PEERS; i++)
		CHECK(m->peers[i].len <= m->msg_len);
}

static void
drive(unsigned flags, size_t chunk, const uint8_t *reply, size_t len,
    const char *msg, size_t mlen)
{
	struct monitor m;
	struct pollfd pfd[MON_MAX_FDS];
	enum mon_result r = MON_NONE;
	char why[512];
	int sv[2], echo = flags & 1, n, i;
	size_t off = 0, sent = 0;
	int64_t now = T0 + 10;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		return;
	monitor_init(&m);
	m.port = PORT;
	m.echo_port = echo ? ECHO_PORT : 0;
	m.poll_ms = 600000;
	m.first_poll_ms = 600000;
	m.timeout_ms = monitor_timeout_ms(600);
	util_strlcpy(m.node, "fuzzhost", sizeof(m.node));
	m.pid = 4242;
	memcpy(m.msg, msg, mlen);
	m.msg_len = mlen;
	m.phase = MON_WAITING;
	m.attempt = (flags & 4) ? 1 : 0;
	if (m.attempt)
		util_strlcpy(m.first_why, "no reply within 15.0 s",
		    sizeof(m.first_why));
	m.attempt_ms = T0;
	m.end_ms = T0 + m.timeout_ms;
	m.sent = mlen;
	if (echo)
		m.fd = sv[0];
	else {
		m.peers[0].fd = sv[0];
		m.peers[0].seq = m.accepts = 1;
	}

	while (off < len && r == MON_NONE && m.phase == MON_WAITING) {
		size_t k = len - off < chunk ? len - off : chunk;
		ssize_t w = send(sv[1], reply + off, k, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
		sent = off;
		n = monitor_pollfds(&m, pfd, MON_MAX_FDS);
		CHECK(n >= 0 && n <= MON_MAX_FDS);
		for (i = 0; i < n; i++)
			pfd[i].revents = pfd[i].fd == sv[0] ? POLLIN : 0;
		r = monitor_handle(&m, pfd, n, now++, why, sizeof(why));
		check_bounds(&m);
	}
	if ((flags & 2) && r == MON_NONE) {
		close(sv[1]);
		sv[1] = -1;
		n = monitor_pollfds(&m, pfd, MON_MAX_FDS);
		for (i = 0; i < n; i++)
			pfd[i].revents = pfd[i].fd == sv[0] ?
			    POLLIN | POLLHUP : 0;
		r = monitor_handle(&m, pfd, n, now++, why, sizeof(why));
		check_bounds(&m);
	}
	/* Past the deadline: only a test still waiting may time out. */
	if ((flags & 8) && r == MON_NONE && m.phase == MON_WAITING) {
		r = monitor_handle(&m, pfd, 0, m.end_ms, why, sizeof(why));
		check_bounds(&m);
		CHECK(m.phase != MON_WAITING);
	}

	/* The test passes exactly when the reply began with the message. */
	if (sent >= mlen && memcmp(reply, msg, mlen) == 0) {
		CHECK(r == MON_PASS && m.passes == 1);
		CHECK(m.last_rtt_ms >= 0);
	} else
		CHECK(r != MON_PASS && m.passes == 0);
	if (r == MON_FAIL) {
		/* The first attempt fails the test only by using its time. */
		CHECK(m.attempt == 1 || (flags & 8));
		CHECK(memchr(why, '\0', sizeof(why)) != NULL);
		CHECK(strncmp(why, "monitor test failed", 19) == 0);
	}
	CHECK(m.phase != MON_CONNECTING && m.phase != MON_SENDING);
	/* Closes whatever the monitor still holds (sv[0] at most). */
	monitor_close(&m);
	if (sv[1] != -1)
		close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[MON_MSG_MAX];
	unsigned flags;
	size_t chunk;
	int mlen;

	if (size < 2)
		return 0;
	flags = data[0];
	chunk = (size_t)data[1] + 1;
	data += 2;
	size -= 2;

	mlen = monitor_message(msg, sizeof(msg), "fuzzhost", 4242, RND,
	    (flags & 16) ? "tunnel to Broker" : NULL);
	CHECK(mlen > 2 && (size_t)mlen < sizeof(msg));
	CHECK(msg[mlen - 2] == '\r' && msg[mlen - 1] == '\n');
	check_match(msg, (size_t)mlen, data, size);
	drive(flags, chunk, data, size, msg, (size_t)mlen);
	return 0;
}
