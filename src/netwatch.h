/*
 * Network change events from Linux rtnetlink (see DESIGN.md
 * §Network events).  The module owns one NETLINK_ROUTE socket and the
 * memory of links and addresses that nlparse.c reads the kernel's
 * notifications against, and hands the loop "something changed" or "the
 * tunnel's local address went away".  It also lets a burst of changes
 * settle (a pure deadline, netwatch_changed() and netwatch_settled()).
 * It does not parse messages (nlparse.c does) or decide what to restart
 * (supervise.c does).
 */
#ifndef AUTOSSH_NETWATCH_H
#define AUTOSSH_NETWATCH_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "nlparse.h"

struct netwatch {
	int		 fd;
	uint32_t	 portid;	/* our netlink port, from the kernel */
	uint32_t	 seq;		/* of our last dump request */
	struct nw_memory mem;		/* links and addresses known */
	int64_t		 settle_ms;	/* a change settles then, or NEVER */
	char		 settle_what[NW_WHATSIZ]; /* the latest change */
};

/* Changes come in bursts (link, then addresses, then routes). */
#define NW_SETTLE_MS	250

/*
 * Reset nw to "closed, nothing known" (fd -1), so that netwatch_fd(),
 * netwatch_read() and netwatch_close() may be called on a netwatch that
 * was never opened; netwatch_open() does it itself.  Never fails.
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
 * into *ev as nlparse_begin() describes: NW_ADDR_LOST if an address
 * equal to *local was deleted (local may be NULL or AF_UNSPEC: none
 * known), else NW_CHANGE if anything relevant happened, else NW_NONE.
 * A receive queue overrun (ENOBUFS) and a truncated datagram count as
 * NW_CHANGE, since events were lost.
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
 * A change (what, for the log) was read at now: it settles
 * NW_SETTLE_MS after the first change of a burst; later ones replace
 * what but not the time.  Pure.
 */
void	netwatch_changed(struct netwatch *nw, const char *what, int64_t now);

/* When the pending change settles, or NEVER.  Pure. */
int64_t	netwatch_deadline(const struct netwatch *nw);

/*
 * Returns 1 and copies the latest change into what (len bytes) when a
 * pending change has settled by now, forgetting it; else 0.  Pure.
 */
int	netwatch_settled(struct netwatch *nw, int64_t now, char *what,
	    size_t len);

#endif
