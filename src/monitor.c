/*
 * The port monitor.  A test connects to 127.0.0.1:port (ssh's -L),
 * writes a one-line message with a fresh random number and waits for
 * that exact line to come back: on a connection ssh makes to our
 * listener on port+1 (loop mode, through the server's -R) or on the
 * same connection (echo mode).  Every step is a deadline or a readiness
 * event handed in by the loop; a failed attempt is retried once on a new
 * connection with a new number, within the same timeout, before the test
 * counts as failed.  Connections on port+1 from other users are closed
 * unread (sockdiag.c asks the kernel who owns a loopback peer), so a
 * local user's flood cannot push ssh's reply out.
 */
#include <sys/socket.h>
#include <sys/utsname.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "sockdiag.h"
#include "util.h"

/*
 * At most this many accepts (or reads of one descriptor) per call, so
 * that a flood on port+1 cannot keep the loop from its other work.
 */
#define ACCEPT_BURST	16
/*
 * The listener's queue: room for ssh's reply behind a burst of others'
 * connections, which are drained quickly; a full queue drops SYNs, and a
 * dropped SYN costs ssh a second.
 */
#define LISTEN_BACKLOG	SOMAXCONN

static const char refusal[] = "remote port forwarding failed for listen port ";

int
monitor_message(char *buf, size_t len, const char *node, long pid,
    uint64_t rnd, const char *text)
{
	int n;

	if (text == NULL)
		text = "";
	n = snprintf(buf, len, "%s autossh %ld %" PRIu64 "%s%s\r\n", node,
	    pid, rnd, text[0] != '\0' ? " " : "", text);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return n;
}

enum mon_match
monitor_match(const char *msg, size_t msg_len, const char *got,
    size_t got_len)
{
	size_t n = got_len < msg_len ? got_len : msg_len;

	/* A byte that differs rules the line out before its end arrives. */
	if (memcmp(msg, got, n) != 0)
		return MATCH_NO;
	/* msg ends in CR LF, so its whole length is one complete line. */
	return got_len >= msg_len ? MATCH_YES : MATCH_MORE;
}

int64_t
monitor_timeout_ms(int poll_s)
{
	if (poll_s < 30)
		return (int64_t)poll_s * 1000 / 2;
	return MON_NET_TIMEOUT_MS;
}

int
monitor_poll_s(int poll_s, int maxlifetime_s)
{
	if (maxlifetime_s > 0 && maxlifetime_s < poll_s)
		return maxlifetime_s;
	return poll_s;
}

int
monitor_is_refusal(const char *line, int port)
{
	const char *p = strstr(line, refusal);
	long v = 0;

	if (p == NULL)
		return 0;
	p += sizeof(refusal) - 1;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return 0;
	}
	return v == port;
}

int
monitor_admit(int known, uid_t owner, uid_t self)
{
	return !known || owner == self;
}

int64_t
monitor_grace_ms(int64_t last_rtt_ms)
{
	/* The reply connects, then waits a round trip for its data. */
	if (last_rtt_ms > MON_PEER_GRACE_MS / 2)
		return 2 * last_rtt_ms;
	return MON_PEER_GRACE_MS;
}

int
monitor_slot(const struct mon_peer *peers, int n, int64_t now,
    int64_t grace_ms, int64_t *free_ms)
{
	int i, old = -1;

	for (i = 0; i < n; i++) {
		if (peers[i].fd == -1)
			return i;
		if (old == -1 || peers[i].seq < peers[old].seq)
			old = i;
	}
	/* Slots are taken in accept order, so the oldest is freed first. */
	if (old != -1 && now - peers[old].accepted_ms >= grace_ms)
		return old;
	if (free_ms != NULL)
		*free_ms = old != -1 ? peers[old].accepted_ms + grace_ms : NEVER;
	return -1;
}

static void
peer_close(struct mon_peer *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	p->len = 0;
}

/* Close the test connection and every accepted one. */
static void
drop_test(struct monitor *m)
{
	int i;

	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	m->sent = 0;
	m->echo.len = 0;
	for (i = 0; i < MON_MAX_PEERS; i++)
		peer_close(&m->peers[i]);
	m->strays = 0;
	m->refused = 0;
	m->full_ms = 0;
}

void
monitor_init(struct monitor *m)
{
	int i;

	memset(m, 0, sizeof(*m));
	m->listen_fd = m->fd = m->diag_fd = -1;
	m->echo.fd = -1;
	for (i = 0; i < MON_MAX_PEERS; i++)
		m->peers[i].fd = -1;
	m->phase = MON_OFF;
	m->next_ms = NEVER;
	m->last_rtt_ms = -1;
}

static int
open_listener(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1, e;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A restarted autossh must not wait for old connections' TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	    -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
monitor_open(struct monitor *m, int port, int echo_port, int poll_s,
    int first_poll_s, const char *message, char *errbuf, size_t len)
{
	struct utsname u;

	monitor_init(m);
	if (port == 0)
		return 0;
	if (message == NULL)
		message = "";
	if (port < 1 || port > 65535 || echo_port < 0 || echo_port > 65535 ||
	    (echo_port == 0 && port > 65534) || poll_s < 1 ||
	    first_poll_s < 1 || strlen(message) > 64) {
		snprintf(errbuf, len, "-M %d: bad monitor settings", port);
		errno = EINVAL;
		return -1;
	}
	if (echo_port == 0 && (m->listen_fd = open_listener(port + 1)) ==
	    -1) {
		snprintf(errbuf, len, "-M %d: unable to listen on 127.0.0.1:%d "
		    "for the loop monitor: %s", port, port + 1,
		    strerror(errno));
		return -1;
	}
	/*
	 * Without sock_diag every connection on port+1 is kept as possibly
	 * ours; the owner check is a defence, never a condition of a test.
	 */
	if (echo_port == 0 && (m->diag_fd = sockdiag_open()) == -1)
		log_debug("monitor: unable to open sock_diag: %s; connections "
		    "on 127.0.0.1:%d are kept whoever makes them",
		    strerror(errno), port + 1);
	m->self_uid = geteuid();
	m->port = port;
	m->echo_port = echo_port;
	m->poll_ms = (int64_t)poll_s * 1000;
	m->first_poll_ms = (int64_t)first_poll_s * 1000;
	m->timeout_ms = monitor_timeout_ms(poll_s);
	util_strlcpy(m->text, message, sizeof(m->text));
	if (uname(&u) == 0)
		util_strlcpy(m->node, u.nodename, sizeof(m->node));
	else
		util_strlcpy(m->node, "localhost", sizeof(m->node));
	return 0;
}

void
monitor_start(struct monitor *m, int64_t now)
{
	if (m->port == 0)
		return;
	drop_test(m);
	m->pid = (long)getpid();
	m->phase = MON_IDLE;
	m->attempt = 0;
	m->next_ms = now + m->first_poll_ms;
	m->fwd_seen = 0;
	m->refused_said = 0;
}

void
monitor_stop(struct monitor *m)
{
	if (m->port == 0)
		return;
	drop_test(m);
	m->phase = MON_OFF;
	m->next_ms = NEVER;
}

void
monitor_close(struct monitor *m)
{
	drop_test(m);
	if (m->listen_fd != -1)
		close(m->listen_fd);
	if (m->diag_fd != -1)
		close(m->diag_fd);
	monitor_init(m);
}

static int
testing(const struct monitor *m)
{
	return m->phase == MON_CONNECTING || m->phase == MON_SENDING ||
	    m->phase == MON_WAITING;
}

int64_t
monitor_deadline(const struct monitor *m)
{
	if (m->phase == MON_IDLE || m->phase == MON_PAUSE)
		return m->next_ms;
	if (testing(m) && m->full_ms != 0 && m->full_ms < m->end_ms)
		return m->full_ms;
	if (testing(m))
		return m->end_ms;
	return NEVER;
}

static void
add_fd(struct pollfd *pfd, int *n, int max, int fd, short events)
{
	if (fd == -1 || *n >= max)
		return;
	pfd[*n].fd = fd;
	pfd[*n].events = events;
	pfd[*n].revents = 0;
	(*n)++;
}

int
monitor_pollfds(const struct monitor *m, struct pollfd *pfd, int max)
{
	int i, n = 0;

	add_fd(pfd, &n, max, m->fd, m->phase == MON_WAITING ? POLLIN :
	    POLLOUT);
	for (i = 0; i < MON_MAX_PEERS; i++)
		add_fd(pfd, &n, max, m->peers[i].fd, POLLIN);
	/*
	 * Strangers are accepted and dropped even between tests.  With every
	 * slot held the rest wait in the kernel's queue, unpolled, until a
	 * slot frees (full_ms is a deadline).
	 */
	if (!testing(m) || m->full_ms == 0)
		add_fd(pfd, &n, max, m->listen_fd, POLLIN);
	return n;
}

/* The revents poll() reported for fd, or 0. */
static short
revents(const struct pollfd *pfd, int n, int fd)
{
	int i;

	if (fd == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (pfd[i].fd == fd)
			return pfd[i].revents;
	return 0;
}

/* The test passed: schedule the next one. */
static enum mon_result
passed(struct monitor *m, int64_t now)
{
	char took[32];

	m->last_rtt_ms = now - m->attempt_ms;
	log_debug("monitor test passed in %s%s%s", fmt_duration(m->last_rtt_ms,
	    took, sizeof(took)), m->attempt > 0 ? " on the retry" : "",
	    m->refused > 0 ? " despite other users' connections" : "");
	drop_test(m);
	m->phase = MON_IDLE;
	m->attempt = 0;
	m->next_ms = now + m->poll_ms;
	m->passes++;
	m->fwd_said = 0;
	return MON_PASS;
}

/* Do two reasons say the same, details in parentheses aside? */
static int
same_kind(const char *a, const char *b)
{
	const char *pa = strstr(a, " ("), *pb = strstr(b, " (");
	size_t la = pa != NULL ? (size_t)(pa - a) : strlen(a);
	size_t lb = pb != NULL ? (size_t)(pb - b) : strlen(b);

	return la == lb && memcmp(a, b, la) == 0;
}

/*
 * An attempt failed for reason: retry once, then fail the test.  Both
 * attempts share the test's one timeout, so that a dead link is noticed
 * as soon as one attempt would notice it; a quick failure (refused,
 * closed, a wrong reply) leaves room for the retry, a timeout does not.
 */
static enum mon_result
attempt_failed(struct monitor *m, int64_t now, const char *reason,
    char *why, size_t len)
{
	char pause[32];
	int64_t wait = MON_RETRY_PAUSE_MS, left = m->end_ms - now;

	drop_test(m);
	if (m->attempt == 0 && left / 2 > 0) {
		/* The retry keeps at least half of what is left. */
		if (wait > left / 2)
			wait = left / 2;
		util_strlcpy(m->first_why, reason, sizeof(m->first_why));
		log_info("monitor test: %s; retrying in %s", reason,
		    fmt_duration(wait, pause, sizeof(pause)));
		m->attempt = 1;
		m->phase = MON_PAUSE;
		m->next_ms = now + wait;
		return MON_NONE;
	}
	if (m->attempt == 0)
		snprintf(why, len, "monitor test failed: %s", reason);
	else if (same_kind(reason, m->first_why))
		snprintf(why, len, "monitor test failed twice: %s", reason);
	else
		snprintf(why, len, "monitor test failed: %s; on the retry: %s",
		    m->first_why, reason);
	m->phase = MON_OFF;
	m->next_ms = NEVER;
	return MON_FAIL;
}

/* errno after a failed connect, as a reason. */
static void
connect_reason(const struct monitor *m, int e, char *buf, size_t len)
{
	if (e == ECONNREFUSED)
		snprintf(buf, len, "connection to 127.0.0.1:%d refused",
		    m->port);
	else
		snprintf(buf, len, "connection to 127.0.0.1:%d failed: %s",
		    m->port, strerror(e));
}

/* Write what is left of the message; MON_WAITING once it is all out. */
static enum mon_result
send_message(struct monitor *m, int64_t now, char *why, size_t len)
{
	char reason[128];
	ssize_t n;

	while (m->sent < m->msg_len) {
		/* MSG_NOSIGNAL: a reset must not raise SIGPIPE. */
		n = send(m->fd, m->msg + m->sent, m->msg_len - m->sent,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			m->phase = MON_SENDING;
			return MON_NONE;
		}
		if (n == -1) {
			snprintf(reason, sizeof(reason), "unable to send the "
			    "message to 127.0.0.1:%d: %s", m->port,
			    strerror(errno));
			return attempt_failed(m, now, reason, why, len);
		}
		m->sent += (size_t)n;
	}
	m->phase = MON_WAITING;
	return MON_NONE;
}

/* Begin an attempt: a new number, a new message, a new connection. */
static enum mon_result
start_attempt(struct monitor *m, int64_t now, char *why, size_t len)
{
	struct sockaddr_in sin;
	char reason[128], took[32];
	uint64_t rnd;
	int n;

	drop_test(m);
	m->attempt_ms = now;
	if (m->attempt == 0)
		m->end_ms = now + m->timeout_ms;
	if (util_random(&rnd, sizeof(rnd)) == -1 ||
	    (n = monitor_message(m->msg, sizeof(m->msg), m->node, m->pid, rnd,
	    m->text)) == -1 ||
	    (m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		/* Our own trouble says nothing about the link: skip a test. */
		log_warn("unable to run the monitor test: %s; next in %s",
		    strerror(errno), fmt_duration(m->poll_ms, took,
		    sizeof(took)));
		drop_test(m);
		m->phase = MON_IDLE;
		m->attempt = 0;
		m->next_ms = now + m->poll_ms;
		return MON_NONE;
	}
	m->msg_len = (size_t)n;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)m->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->phase = MON_CONNECTING;
	if (connect(m->fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return send_message(m, now, why, len);
	if (errno == EINPROGRESS || errno == EINTR)
		return MON_NONE;
	connect_reason(m, errno, reason, sizeof(reason));
	return attempt_failed(m, now, reason, why, len);
}

/* The test connection is ready: finish the connect, send, or read. */
static enum mon_result
test_event(struct monitor *m, short ev, int64_t now, char *why, size_t len)
{
	char reason[160], junk[256];
	socklen_t sl = sizeof(int);
	int err = 0, reads;
	ssize_t n;

	if (m->phase == MON_CONNECTING) {
		if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0) {
			connect_reason(m, err, reason, sizeof(reason));
			return attempt_failed(m, now, reason, why, len);
		}
		return send_message(m, now, why, len);
	}
	if (m->phase == MON_SENDING)
		return send_message(m, now, why, len);
	if (m->phase != MON_WAITING || !(ev & (POLLIN | POLLERR | POLLHUP)))
		return MON_NONE;
	for (reads = 0; reads < ACCEPT_BURST; reads++) {
		struct mon_peer *e = &m->echo;

		/* Loop mode: nothing is due here; read only to see EOF. */
		if (m->echo_port != 0)
			n = recv(m->fd, e->buf + e->len, m->msg_len -
			    e->len, 0);
		else
			n = recv(m->fd, junk, sizeof(junk), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return MON_NONE;
		if (n == -1) {
			snprintf(reason, sizeof(reason), "connection to "
			    "127.0.0.1:%d failed: %s", m->port,
			    strerror(errno));
			return attempt_failed(m, now, reason, why, len);
		}
		if (n == 0 && m->echo_port != 0) {
			snprintf(reason, sizeof(reason), "ssh closed the "
			    "connection to 127.0.0.1:%d before the reply (is "
			    "the echo service on the server's port %d up?)",
			    m->port, m->echo_port);
			return attempt_failed(m, now, reason, why, len);
		}
		if (n == 0) {
			/* The server could not connect to its end of -R. */
			snprintf(reason, sizeof(reason), "ssh closed the "
			    "connection to 127.0.0.1:%d before the reply (is "
			    "the server's port %d forwarded back?)", m->port,
			    m->port);
			return attempt_failed(m, now, reason, why, len);
		}
		if (m->echo_port == 0)
			continue;
		e->len += (size_t)n;
		switch (monitor_match(m->msg, m->msg_len, e->buf, e->len)) {
		case MATCH_YES:
			return passed(m, now);
		case MATCH_NO:
			return attempt_failed(m, now, "reply did not match",
			    why, len);
		case MATCH_MORE:
			break;
		}
	}
	/* Whatever is left waits for the next round of the loop. */
	return MON_NONE;
}

/* A connection on port+1 has data: ours passes the test, others go. */
static enum mon_result
peer_event(struct monitor *m, struct mon_peer *p, int64_t now)
{
	ssize_t n;

	for (;;) {
		n = recv(p->fd, p->buf + p->len, m->msg_len - p->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return MON_NONE;
		if (n <= 0)
			break;
		p->len += (size_t)n;
		switch (monitor_match(m->msg, m->msg_len, p->buf, p->len)) {
		case MATCH_YES:
			return passed(m, now);
		case MATCH_NO:
			/* The reason gives the count; log the first only. */
			if (m->strays == 0)
				log_debug("monitor: dropped a connection on "
				    "127.0.0.1:%d that did not send our "
				    "message", m->port + 1);
			peer_close(p);
			m->strays++;
			return MON_NONE;
		case MATCH_MORE:
			break;
		}
	}
	/* Closed (or failed) before sending the whole message. */
	peer_close(p);
	m->strays++;
	return MON_NONE;
}

/* Another user's connection on port+1: closed unread, said once. */
static void
refuse(struct monitor *m, uid_t owner)
{
	m->refused++;
	if (m->refused_said)
		return;
	m->refused_said = 1;
	log_info("monitor: closing connections to 127.0.0.1:%d from another "
	    "user (uid %lu) unread: only ssh, which runs as we do, brings the "
	    "reply", m->port + 1, (unsigned long)owner);
}

/*
 * Accept what waits on port+1: during a test, what may be ssh's reply
 * gets a slot; everything else is closed.  Returns MON_PASS when a
 * connection read on the way held the reply.
 */
static enum mon_result
accept_peers(struct monitor *m, int64_t now)
{
	struct sockaddr_in peer, local;
	struct mon_peer *p;
	enum mon_result r;
	socklen_t sl;
	int64_t free_ms = NEVER;
	uid_t owner = 0;
	int burst, fd, i = -1, known;

	memset(&local, 0, sizeof(local));
	local.sin_family = AF_INET;
	local.sin_port = htons((uint16_t)(m->port + 1));
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->full_ms = 0;
	for (burst = 0; burst < ACCEPT_BURST; burst++) {
		/*
		 * No slot to spare: the rest stay in the kernel's queue
		 * rather than push out a connection that may be ssh's
		 * reply before its message had time to come.
		 */
		if (testing(m) && (i = monitor_slot(m->peers, MON_MAX_PEERS,
		    now, monitor_grace_ms(m->last_rtt_ms), &free_ms)) == -1) {
			m->full_ms = free_ms;
			return MON_NONE;
		}
		sl = sizeof(peer);
		fd = accept4(m->listen_fd, (struct sockaddr *)&peer, &sl,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1 && errno == EINTR)
			continue;
		if (fd == -1)
			return MON_NONE;
		if (!testing(m)) {
			close(fd);
			continue;
		}
		known = sl == sizeof(peer) && peer.sin_family == AF_INET &&
		    sockdiag_peer_uid(m->diag_fd, &peer, &local, &owner) == 0;
		if (!monitor_admit(known, owner, m->self_uid)) {
			refuse(m, owner);
			close(fd);
			continue;
		}
		p = &m->peers[i];
		if (p->fd != -1) {
			/* Its grace is over: read it once more before it goes. */
			if ((r = peer_event(m, p, now)) != MON_NONE) {
				close(fd);
				return r;
			}
			if (p->fd != -1) {
				peer_close(p);
				m->strays++;
			}
		}
		p->fd = fd;
		p->len = 0;
		p->seq = ++m->accepts;
		p->accepted_ms = now;
		/* ssh may have written the reply before we accepted. */
		if ((r = peer_event(m, p, now)) != MON_NONE)
			return r;
	}
	return MON_NONE;
}

enum mon_result
monitor_handle(struct monitor *m, const struct pollfd *pfd, int n,
    int64_t now, char *why, size_t len)
{
	enum mon_result r;
	char reason[160], t[32];
	short ev;
	int i;

	if (m->port == 0)
		return MON_NONE;
	why[0] = '\0';
	/* Readiness first: a reply that is in counts, even at the deadline. */
	if ((ev = revents(pfd, n, m->fd)) != 0 &&
	    (r = test_event(m, ev, now, why, len)) != MON_NONE)
		return r;
	for (i = 0; i < MON_MAX_PEERS; i++) {
		if (m->peers[i].fd == -1 || !testing(m) ||
		    revents(pfd, n, m->peers[i].fd) == 0)
			continue;
		if ((r = peer_event(m, &m->peers[i], now)) != MON_NONE)
			return r;
	}
	/* With every slot held, the queue waits for one to free. */
	if ((revents(pfd, n, m->listen_fd) != 0 || (testing(m) &&
	    m->full_ms != 0)) && (r = accept_peers(m, now)) != MON_NONE)
		return r;

	if ((m->phase == MON_IDLE || m->phase == MON_PAUSE) &&
	    now >= m->next_ms)
		return start_attempt(m, now, why, len);
	if (testing(m) && now >= m->end_ms) {
		/* The retry's share of the timeout, or all of it. */
		fmt_duration(m->end_ms - m->attempt_ms, t, sizeof(t));
		if (m->phase == MON_CONNECTING)
			snprintf(reason, sizeof(reason), "connecting to "
			    "127.0.0.1:%d timed out after %s", m->port, t);
		else if (m->phase == MON_SENDING)
			snprintf(reason, sizeof(reason), "sending to "
			    "127.0.0.1:%d timed out after %s", m->port, t);
		else if (m->strays > 0 || m->refused > 0)
			snprintf(reason, sizeof(reason), "no reply within %s "
			    "(%d stray connection%s on 127.0.0.1:%d dropped, "
			    "%d from other users refused)", t, m->strays,
			    m->strays == 1 ? "" : "s", m->port + 1, m->refused);
		else
			snprintf(reason, sizeof(reason), "no reply within %s",
			    t);
		return attempt_failed(m, now, reason, why, len);
	}
	return MON_NONE;
}

/* Is the address one of this network namespace's own?  1, 0, or -1. */
static int
is_local(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage a = *ss;
	socklen_t alen;
	int fd, r, e;

	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)&a)->sin_port = 0;
		alen = sizeof(struct sockaddr_in);
	} else if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
		alen = sizeof(struct sockaddr_in6);
	} else
		return -1;
	/* Binding succeeds only to an address this namespace holds. */
	if ((fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = bind(fd, (struct sockaddr *)&a, alen);
	e = errno;
	close(fd);
	if (r == 0)
		return 1;
	return e == EADDRNOTAVAIL ? 0 : -1;
}

int
monitor_forward_refused(struct monitor *m, const char *line,
    const struct sockaddr_storage *server)
{
	char addr[INET6_ADDRSTRLEN];
	int local;

	if (m->port == 0 || m->echo_port != 0 || line == NULL ||
	    !monitor_is_refusal(line, m->port))
		return 0;
	if (m->fwd_seen)
		return 1;
	m->fwd_seen = 1;
	/* Explained once; again only after a test has passed. */
	if (m->fwd_said) {
		log_debug("loop monitor: port %d refused on the server again",
		    m->port);
		return 1;
	}
	m->fwd_said = 1;
	local = server != NULL ? is_local(server) : -1;
	addr[0] = '\0';
	if (server != NULL && server->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)server)->
		    sin_addr, addr, sizeof(addr));
	else if (server != NULL && server->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)server)->
		    sin6_addr, addr, sizeof(addr));
	if (local == 1)
		log_error("loop monitor: the server (%s) is this host: "
		    "it cannot listen on port %d, which ssh's -L already holds "
		    "here; loop mode needs the server on another host or "
		    "network namespace: use -M %d:ECHO_PORT with an echo "
		    "service, or -M 0", addr, m->port, m->port);
	else if (local == 0)
		log_warn("loop monitor: the server refused to listen on "
		    "port %d; a stale session probably still holds it (set "
		    "ClientAliveInterval in the server's sshd_config)",
		    m->port);
	else
		log_error("loop monitor: the server refused to listen on "
		    "port %d: a stale session still holds it there, or the "
		    "server shares this host's loopback (the same host or "
		    "network namespace), where loop mode cannot work; then use "
		    "-M %d:ECHO_PORT with an echo service, or -M 0", m->port,
		    m->port);
	return 1;
}
