/*
 * Network change events from rtnetlink (DESIGN.md §Network events).
 * This module owns the NETLINK_ROUTE socket: it subscribes, fills the
 * memory of links and addresses with two dumps at start, and reads the
 * pending notifications when the loop finds the socket readable.  What
 * the messages mean is nlparse.c's; debouncing and the decision what to
 * restart belong to the loop.
 */
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "netwatch.h"
#include "nlparse.h"
#include "util.h"

#define RECV_BUFSIZ	32768	/* well above any one rtnetlink datagram */
#define MAX_DATAGRAMS	64	/* per netwatch_read(), to keep the loop fair */
#define PRIME_WAIT_MS	1000
#define RCVBUF_BYTES	(256 * 1024)

void
netwatch_init(struct netwatch *nw)
{
	memset(nw, 0, sizeof(*nw));
	nw->fd = -1;
	nw->settle_ms = NEVER;
}

void
netwatch_changed(struct netwatch *nw, const char *what, int64_t now)
{
	util_strlcpy(nw->settle_what, what, sizeof(nw->settle_what));
	if (nw->settle_ms == NEVER)
		nw->settle_ms = now + NW_SETTLE_MS;
}

int64_t
netwatch_deadline(const struct netwatch *nw)
{
	return nw->settle_ms;
}

int
netwatch_settled(struct netwatch *nw, int64_t now, char *what, size_t len)
{
	if (nw->settle_ms == NEVER || now < nw->settle_ms)
		return 0;
	util_strlcpy(what, nw->settle_what, len);
	nw->settle_ms = NEVER;
	return 1;
}

int
netwatch_fd(const struct netwatch *nw)
{
	return nw->fd;
}

void
netwatch_close(struct netwatch *nw)
{
	if (nw->fd != -1)
		close(nw->fd);
	nw->fd = -1;
}

/*
 * Receive one datagram.  Returns the number of bytes to parse (0 for a
 * datagram not sent by the kernel, which anyone with CAP_NET_ADMIN could
 * forge), or -1 with errno set.  *trunc tells that it did not fit.
 */
static ssize_t
recv_one(int fd, unsigned char *buf, size_t size, int *trunc)
{
	struct sockaddr_nl sa;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;

	iov.iov_base = buf;
	iov.iov_len = size;
	memset(&msg, 0, sizeof(msg));
	memset(&sa, 0, sizeof(sa));
	msg.msg_name = &sa;
	msg.msg_namelen = sizeof(sa);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	do {
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	*trunc = (msg.msg_flags & MSG_TRUNC) != 0;
	if (msg.msg_namelen < sizeof(sa) || sa.nl_family != AF_NETLINK ||
	    sa.nl_pid != 0) {
		*trunc = 0;
		return 0;
	}
	return (size_t)n > size ? (ssize_t)size : n;
}

/*
 * Dump the current links or addresses into nw's memory without
 * reporting them.  Notifications that arrive meanwhile are learnt the
 * same way; the loop is not running yet.
 */
static int
prime(struct netwatch *nw, int type)
{
	unsigned char buf[RECV_BUFSIZ];
	struct {
		struct nlmsghdr		h;
		struct ifinfomsg	m;
	} req;
	struct sockaddr_nl sa;
	struct pollfd pfd;
	struct nlparse ps;
	int64_t deadline, left;
	size_t body;
	ssize_t n;
	int trunc;

	body = type == RTM_GETLINK ? sizeof(struct ifinfomsg) :
	    sizeof(struct ifaddrmsg);
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = NLMSG_LENGTH(body);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = ++nw->seq;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	do {
		n = sendto(nw->fd, &req, req.h.nlmsg_len, 0,
		    (struct sockaddr *)&sa, sizeof(sa));
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	nlparse_begin_dump(&ps, &nw->mem, nw->seq, nw->portid);
	deadline = now_ms() + PRIME_WAIT_MS;
	while (!nlparse_dump_done(&ps)) {
		/* Bounded even if a flood never lets the queue run dry. */
		if ((left = deadline - now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = recv_one(nw->fd, buf, sizeof(buf), &trunc);
		if (n >= 0) {
			nlparse_feed(&ps, buf, (size_t)n);
			continue;
		}
		if (errno == ENOBUFS)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = nw->fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, (int)left);
	}
	return 0;
}

int
netwatch_open(struct netwatch *nw)
{
	struct sockaddr_nl sa;
	socklen_t salen;
	int fd, e, rcvbuf = RCVBUF_BYTES;

	netwatch_init(nw);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_ROUTE);
	if (fd == -1)
		return -1;
	/* Fewer overruns; each one still surfaces as a change. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	    RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail;
	salen = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) == -1)
		goto fail;
	nw->fd = fd;
	nw->portid = sa.nl_pid;
	/*
	 * Subscribed before dumping, so that no change can fall between
	 * the dump and the first notification.  One dump at a time per
	 * socket; a failed dump only costs spurious changes later.
	 */
	(void)prime(nw, RTM_GETLINK);
	(void)prime(nw, RTM_GETADDR);
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
netwatch_read(struct netwatch *nw, const struct sockaddr_storage *local,
    struct nw_event *ev)
{
	unsigned char buf[RECV_BUFSIZ];
	struct nlparse ps;
	ssize_t n;
	int i, trunc, rc = 0, e = 0;

	nlparse_begin(&ps, &nw->mem, local, ev);
	for (i = 0; i < MAX_DATAGRAMS; i++) {
		n = recv_one(nw->fd, buf, sizeof(buf), &trunc);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				nlparse_lost(&ps,
				    "rtnetlink queue overrun, events lost");
				continue;
			}
			e = errno;
			rc = -1;
			break;
		}
		if (trunc)
			nlparse_lost(&ps, "rtnetlink message truncated");
		nlparse_feed(&ps, buf, (size_t)n);
	}
	nlparse_end(&ps);
	if (rc == -1)
		errno = e;
	return rc;
}
