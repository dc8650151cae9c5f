/*
 * The sock_diag owner lookup.  A query names one IPv4 TCP socket by its
 * four-tuple, seen from the peer's side; the kernel's answer carries the
 * socket's state, inode and uid.  Only a live socket that its owner still
 * holds names a user: lingering and orphaned sockets report uid 0, which
 * must not pass for root.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <errno.h>
#include <string.h>

#include "sockdiag.h"

/* Does a peer socket in this TCP state name the user who connected? */
static int
owned_state(int state)
{
	/*
	 * A TIME_WAIT socket reports uid 0, and a listener that happens to
	 * hold the peer's port is not the peer.
	 */
	switch (state) {
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		return 1;
	default:
		return 0;
	}
}

int
sockdiag_peer_uid(int diag_fd, const struct sockaddr_in *peer,
    const struct sockaddr_in *local, uid_t *uid)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	req;
	} q;
	union {
		struct nlmsghdr	nlh;
		char		buf[1024];
	} r;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct inet_diag_msg *msg;
	struct nlmsgerr *nerr;
	struct nlmsghdr *h;
	ssize_t n;
	size_t left;

	if (diag_fd == -1) {
		errno = EBADF;
		return -1;
	}
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	/* Tells this answer from a stale one. */
	q.nlh.nlmsg_seq = ntohs(peer->sin_port);
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0U;
	/* The peer's socket: its own address is the source. */
	q.req.id.idiag_sport = peer->sin_port;
	q.req.id.idiag_dport = local->sin_port;
	q.req.id.idiag_src[0] = peer->sin_addr.s_addr;
	q.req.id.idiag_dst[0] = local->sin_addr.s_addr;
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	/* An answer left over from an earlier query is not this one's. */
	while (recv(diag_fd, &r, sizeof(r), MSG_DONTWAIT) > 0)
		continue;
	do {
		n = sendto(diag_fd, &q, sizeof(q), 0,
		    (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	/* The kernel answers while handling the request: no waiting. */
	do {
		n = recv(diag_fd, &r, sizeof(r), MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	left = (size_t)n;
	for (h = &r.nlh; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
		if (h->nlmsg_seq != q.nlh.nlmsg_seq)
			continue;
		if (h->nlmsg_type == NLMSG_ERROR) {
			nerr = NLMSG_DATA(h);
			errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*nerr)) &&
			    nerr->error < 0 ? -nerr->error : EPROTO;
			return -1;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*msg)))
			break;
		msg = NLMSG_DATA(h);
		/*
		 * A socket its owner has closed (inode 0) reports uid 0
		 * too, whoever made it.
		 */
		if (msg->idiag_family != AF_INET ||
		    msg->id.idiag_sport != peer->sin_port ||
		    msg->id.idiag_dport != local->sin_port ||
		    msg->id.idiag_src[0] != peer->sin_addr.s_addr ||
		    msg->id.idiag_dst[0] != local->sin_addr.s_addr ||
		    !owned_state(msg->idiag_state) || msg->idiag_inode == 0) {
			errno = ENOENT;
			return -1;
		}
		*uid = (uid_t)msg->idiag_uid;
		return 0;
	}
	errno = EPROTO;
	return -1;
}

int
sockdiag_open(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_SOCK_DIAG);
}
