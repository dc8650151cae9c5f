/*
 * Network change events from Linux rtnetlink (see DESIGN.md
 * §Network events).  The module owns one NETLINK_ROUTE socket and a
 * small fixed memory of links and addresses, and turns kernel
 * notifications into "something changed" or "the tunnel's local address
 * went away" for the loop.  It does not debounce, decide what to
 * restart, or log transitions: the loop does.
 */
#ifndef AUTOSSH_NETWATCH_H
#define AUTOSSH_NETWATCH_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define NW_MAX_LINKS	64	/* links whose last state is remembered */
#define NW_MAX_ADDRS	64	/* addresses remembered, to drop refreshes */
#define NW_NAMESIZ	16	/* IFNAMSIZ */
#define NW_WHATSIZ	96

/* The last state seen of one link; ifindex 0 marks a free slot. */
struct nw_link {
	int		ifindex;
	unsigned	flags;		/* IFF_UP|IFF_RUNNING|IFF_LOWER_UP */
	uint8_t		operstate;	/* IF_OPER_*, RFC 2863 */
	uint8_t		loopback;
	char		name[NW_NAMESIZ];
};

/* One address seen; family 0 marks a free slot. */
struct nw_addr {
	int		ifindex;
	uint8_t		family;
	uint8_t		prefixlen;
	uint8_t		flags;		/* IFA_F_{TENTATIVE,DEPRECATED,...} */
	uint8_t		addr[16];
};

struct netwatch {
	int		fd;
	uint32_t	portid;		/* our netlink port, from the kernel */
	uint32_t	seq;		/* of our last dump request */
	unsigned	link_next;	/* round-robin eviction cursors */
	unsigned	addr_next;
	struct nw_link	links[NW_MAX_LINKS];
	struct nw_addr	addrs[NW_MAX_ADDRS];
};

/* Ordered by importance: a summary keeps the highest kind seen. */
enum nw_kind {
	NW_NONE,
	NW_CHANGE,
	NW_ADDR_LOST
};

struct nw_event {
	enum nw_kind	kind;
	/* For NW_ADDR_LOST: the address that went away. */
	struct sockaddr_storage addr;
	/* How many relevant notifications this summary covers. */
	unsigned	count;
	/* For the log: "link eth0 down", "address 10.0.0.1 removed", ... */
	char		what[NW_WHATSIZ];
};

/*
 * Reset nw to "closed, nothing known" (fd -1).  Needed before
 * netwatch_parse() on a netwatch that was never opened; netwatch_open()
 * does it itself.  Never fails.
 */
void	netwatch_init(struct netwatch *nw);

/*
 * Open a NETLINK_ROUTE socket (SOCK_CLOEXEC|SOCK_NONBLOCK) subscribed to
 * link, IPv4/IPv6 address and IPv4/IPv6 route notifications, and learn
 * the current links and addresses with two dumps, so that later
 * notifications which merely repeat a known state are not reported.
 * Waits at most about a second for the dumps; a failed dump is ignored.
 * nw must not be open already (it is reset here).
 * Returns 0, or -1 with errno set (from socket(2), bind(2) or
 * getsockname(2)); on failure nw->fd is -1 and nothing is left open.
 */
int	netwatch_open(struct netwatch *nw);

/* The descriptor to poll for POLLIN, or -1 when closed. */
int	netwatch_fd(const struct netwatch *nw);

/*
 * Read the pending notifications without blocking and summarise them
 * into *ev: NW_ADDR_LOST if an address equal to *local was deleted
 * (local may be NULL or AF_UNSPEC: none known; an IPv4-mapped IPv6
 * address matches the IPv4 address), else NW_CHANGE if anything
 * relevant happened, else NW_NONE.  A receive queue overrun (ENOBUFS)
 * and a truncated datagram count as NW_CHANGE, since events were lost.
 * Messages not sent by the kernel are ignored.  At most a bounded number
 * of datagrams is read per call; poll() reports the rest.
 * Returns 0, or -1 with errno set on a socket error; *ev then still
 * summarises what was read before it.  Does not allocate.
 */
int	netwatch_read(struct netwatch *nw, const struct sockaddr_storage *local,
	    struct nw_event *ev);

/* Close the socket if open; nw may then be reopened.  Never fails. */
void	netwatch_close(struct netwatch *nw);

/*
 * Summarise one buffer of netlink messages as netwatch_read() does,
 * updating nw's memory of links and addresses but doing no I/O (for the
 * unit tests and a fuzz target).  Never reads outside buf[0..len), for
 * any contents and any alignment of buf.  A message of a relevant type
 * that is too short to parse counts as NW_CHANGE.  Returns 0, or -1
 * with errno EBADMSG when some message was malformed; *ev is filled in
 * either case.
 */
int	netwatch_parse(struct netwatch *nw, const void *buf, size_t len,
	    const struct sockaddr_storage *local, struct nw_event *ev);

#endif
