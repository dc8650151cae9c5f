/*
 * The supervisor's end of the liveness layer's connection: the abstract
 * Unix socket that ssh's ProxyCommand helper (connect.c) calls, the check
 * that the caller is our own ssh's child, the parameters it is told, the
 * connected socket it hands back, and what that socket reports.  Which
 * options to set and when to restart are decided elsewhere (liveness.c,
 * supervise.c).
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
/* Not <netinet/tcp.h>: glibc's struct tcp_info lacks the byte counters. */
#include <linux/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "util.h"

static int
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void
addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6) {
		util_strlcpy(buf, "?", len);
		return;
	}
	if (inet_ntop(ss->ss_family, a, buf, (socklen_t)len) == NULL)
		util_strlcpy(buf, "?", len);
}

void
conn_describe(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	addr_text(ss, a, sizeof(a));
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", a,
	    addr_port(ss));
}

/* Abstract socket address for name; returns its length. */
socklen_t
conn_abstract_addr(const char *name, struct sockaddr_un *sun)
{
	size_t n = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

void
conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_fd = c->peer_fd = c->sock_fd = -1;
}

int
conn_set_params(struct conn *c, const struct sshcfg *cfg,
    const struct liveness *l)
{
	long long timeout_ms;
	int n;

	/* Beyond what the helper accepts (12 days), it is "no limit". */
	timeout_ms = (long long)cfg->connect_timeout_s * 1000;
	if (timeout_ms > CONN_MAX_TIMEOUT_MS)
		timeout_ms = 0;
	n = snprintf(c->params, sizeof(c->params),
	    "host %s\nport %d\nfamily %d\ntimeout_ms %lld\nidle %d\nintvl %d\n"
	    "cnt %d\nuser_timeout_ms %d\n%s%s%s%s%s%s",
	    cfg->hostname, cfg->port, cfg->family == AF_INET ? 4 :
	    cfg->family == AF_INET6 ? 6 : 0, timeout_ms,
	    l->idle_s, l->intvl_s, l->cnt, l->user_timeout_ms,
	    cfg->bind_address[0] ? "bind " : "", cfg->bind_address,
	    cfg->bind_address[0] ? "\n" : "",
	    cfg->bind_interface[0] ? "bindif " : "", cfg->bind_interface,
	    cfg->bind_interface[0] ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(c->params)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	c->params_len = (size_t)n;
	/* The old port and address belonged to another server, if any. */
	c->reuse_port = 0;
	memset(&c->remote, 0, sizeof(c->remote));
	return 0;
}

int
conn_open(struct conn *c, const struct sshcfg *cfg, const struct liveness *l)
{
	struct sockaddr_un sun;
	unsigned char rnd[8];

	conn_init(c);
	if (util_random(rnd, sizeof(rnd)) == -1)
		return -1;
	snprintf(c->name, sizeof(c->name), "autossh.%ld.%02x%02x%02x%02x"
	    "%02x%02x%02x%02x", (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
	    rnd[4], rnd[5], rnd[6], rnd[7]);
	if (conn_set_params(c, cfg, l) == -1)
		return -1;
	c->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (c->listen_fd == -1)
		return -1;
	if (bind(c->listen_fd, (struct sockaddr *)&sun,
	    conn_abstract_addr(c->name, &sun)) == -1 ||
	    listen(c->listen_fd, 4) == -1) {
		int e = errno;

		close(c->listen_fd);
		c->listen_fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

int
conn_proxy_command(const struct conn *c, const char *self, char *out,
    size_t len)
{
	size_t o = 0;
	const char *p;
	int n;

	/*
	 * ssh runs "exec <command>" with /bin/sh after expanding its %
	 * tokens, so self is single-quoted for the shell and every '%' is
	 * doubled for ssh.  The name is ours: letters, digits and dots.
	 */
#define PUT(ch) do {						\
	if (o + 1 >= len) {					\
		errno = EINVAL;					\
		return -1;					\
	}							\
	out[o++] = (ch);					\
} while (0)
	PUT('\'');
	for (p = self; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			errno = EINVAL;
			return -1;
		}
		if (*p == '\'') {
			PUT('\'');
			PUT('\\');
			PUT('\'');
			PUT('\'');
		} else if (*p == '%') {
			PUT('%');
			PUT('%');
		} else
			PUT(*p);
	}
	PUT('\'');
#undef PUT
	n = snprintf(out + o, len - o, " --fdpass-helper %s", c->name);
	if (n < 0 || (size_t)n >= len - o) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The parent pid of pid, from /proc; -1 if unknown. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;
	long ppid;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold anything; the fields follow the ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

void
conn_accept(struct conn *c, pid_t ssh_pid, int64_t lost_ms, int64_t now)
{
	char msg[sizeof(c->params) + 256];
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	size_t len = c->params_len;
	int fd;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1)
		return;
	/* Only our own ssh's ProxyCommand may have the socket. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1 ||
	    cred.uid != geteuid() || ssh_pid <= 0 ||
	    parent_of(cred.pid) != ssh_pid) {
		close(fd);
		return;
	}
	if (c->peer_fd != -1)
		close(c->peer_fd);
	c->peer_fd = fd;
	memcpy(msg, c->params, len);
	if (c->reuse_port && (c->last_local.ss_family == AF_INET ||
	    c->last_local.ss_family == AF_INET6)) {
		char a[INET6_ADDRSTRLEN];

		addr_text(&c->last_local, a, sizeof(a));
		/*
		 * Each attempt from the old port lives about three round
		 * trips of the old connection, at least 1 s: after the stale
		 * session's reset, the next SYN is not far behind.
		 */
		uint32_t ms = c->last_rtt_us * 3 / 1000;

		ms = ms < 1000 ? 1000 : ms > 3000 ? 3000 : ms;
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "reuse %s %d\nreuse_ms %u\n", a, addr_port(&c->last_local),
		    ms);
	}
	/* The address that worked last is tried first (DESIGN.md §Liveness). */
	if (c->remote.ss_family == AF_INET || c->remote.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		addr_text(&c->remote, a, sizeof(a));
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "prefer %s\n", a);
	}
	/*
	 * Refusals right after a loss are asked again quickly.  Past the
	 * helper's range an outage is just old: say so, not something it
	 * would reject.
	 */
	if (lost_ms != NEVER) {
		int64_t ago = now - lost_ms;

		if (ago > CONN_MAX_TIMEOUT_MS)
			ago = CONN_MAX_TIMEOUT_MS;
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "outage_ms %lld\n", (long long)ago);
	}
	if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		c->peer_fd = -1;
	}
}

int
conn_read(struct conn *c)
{
	char buf[512], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd = -1;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(c->peer_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return CONN_NOTHING;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (n <= 0) {
		if (fd != -1)
			close(fd);
		close(c->peer_fd);
		c->peer_fd = -1;
		return CONN_NOTHING;
	}
	buf[n] = '\0';
	if (strncmp(buf, "ok", 2) == 0 && fd != -1) {
		socklen_t l1 = sizeof(c->local), l2 = sizeof(c->remote);

		if (c->sock_fd != -1)
			close(c->sock_fd);
		c->sock_fd = fd;
		getsockname(fd, (struct sockaddr *)&c->local, &l1);
		getpeername(fd, (struct sockaddr *)&c->remote, &l2);
		c->port_reused = c->reuse_port &&
		    addr_port(&c->local) == addr_port(&c->last_local);
		return CONN_TRANSPORT;
	}
	if (fd != -1)
		close(fd);
	if (strncmp(buf, "fail ", 5) == 0) {
		util_strlcpy(c->fail, buf + 5, sizeof(c->fail));
		return CONN_FAILED;
	}
	return CONN_NOTHING;
}

int
conn_pollfds(const struct conn *c, struct pollfd *pfd, int n)
{
	if (n < CONN_MAX_FDS)
		return 0;
	pfd[0].fd = c->listen_fd;
	pfd[1].fd = c->peer_fd;
	pfd[0].events = pfd[1].events = POLLIN;
	pfd[0].revents = pfd[1].revents = 0;
	return CONN_MAX_FDS;
}

int
conn_handle(struct conn *c, const struct pollfd *pfd, int n, pid_t ssh_pid,
    int64_t lost_ms, int64_t now, struct sv_event *ev)
{
	char l[INET6_ADDRSTRLEN + 8], r[INET6_ADDRSTRLEN + 8];

	if (n < CONN_MAX_FDS)
		return 0;
	if (pfd[0].revents != 0 && c->listen_fd != -1)
		conn_accept(c, ssh_pid, lost_ms, now);
	/* A helper accepted just now was not polled yet. */
	if (pfd[1].revents == 0 || c->peer_fd != pfd[1].fd)
		return 0;
	switch (conn_read(c)) {
	case CONN_TRANSPORT:
		conn_describe(&c->local, l, sizeof(l));
		conn_describe(&c->remote, r, sizeof(r));
		log_debug("connected to %s from %s%s", r, l,
		    c->port_reused ? " (the previous local port)" : "");
		memset(ev, 0, sizeof(*ev));
		ev->type = EV_TRANSPORT;
		ev->port_reused = c->port_reused;
		return 1;
	case CONN_FAILED:
		log_info("%s", c->fail);
		break;
	}
	return 0;
}

const char *
conn_fail(const struct conn *c)
{
	return c->fail;
}

const struct sockaddr_storage *
conn_local(const struct conn *c)
{
	return c->sock_fd != -1 ? &c->local : NULL;
}

const struct sockaddr_storage *
conn_remote(const struct conn *c)
{
	return c->remote.ss_family != AF_UNSPEC ? &c->remote : NULL;
}

int
conn_stalled(const struct conn *c)
{
	struct conn_stats cs;

	return conn_stats(c, &cs) == 0 && cs.retransmits > 0;
}

/* TCP states (the kernel's numbering, as in glibc's <netinet/tcp.h>). */
#define ST_TIME_WAIT	6
#define ST_CLOSE_WAIT	8
#define ST_LAST_ACK	9
#define ST_CLOSING	11

void
conn_reset(struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (c->peer_fd != -1)
		close(c->peer_fd);
	c->peer_fd = -1;
	if (c->sock_fd == -1)
		goto out;
	memset(&ti, 0, sizeof(ti));
	getsockopt(c->sock_fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	c->last_local = c->local;
	c->last_rtt_us = ti.tcpi_rtt;
	/*
	 * If the server ended the connection in order (we got its FIN), it
	 * holds no session, and the next connection should not come from
	 * the same port: the server may be in TIME_WAIT for it.  Any other
	 * end (aborted by the kernel on a silent link, or ssh killed) may
	 * have left a session there: the next connection comes from the
	 * same port to clear it (DESIGN.md §Stale sessions).
	 */
	c->reuse_port = !(ti.tcpi_state == ST_CLOSE_WAIT ||
	    ti.tcpi_state == ST_LAST_ACK || ti.tcpi_state == ST_TIME_WAIT ||
	    ti.tcpi_state == ST_CLOSING);
	/*
	 * Ours is the last reference to the socket.  If the server has not
	 * acknowledged what was sent, the link is dead: an orderly close
	 * would retransmit a FIN into it for minutes and hold the old port,
	 * so abort (a reset, lost on the dead link) instead.
	 */
	if (c->reuse_port && (ti.tcpi_unacked > 0 || ti.tcpi_retransmits > 0)) {
		struct linger lg = { 1, 0 };

		setsockopt(c->sock_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->sock_fd);
	c->sock_fd = -1;
out:
	c->fail[0] = '\0';
}

int
conn_stats(const struct conn *c, struct conn_stats *cs)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (c->sock_fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(c->sock_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	cs->rtt_us = ti.tcpi_rtt;
	cs->retransmits = ti.tcpi_retransmits;
	cs->bytes_sent = ti.tcpi_bytes_sent;
	cs->bytes_received = ti.tcpi_bytes_received;
	return 0;
}

void
conn_close(struct conn *c)
{
	conn_reset(c);
	if (c->listen_fd != -1)
		close(c->listen_fd);
	c->listen_fd = -1;
}
