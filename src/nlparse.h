/*
 * The rtnetlink parser behind netwatch (see DESIGN.md §Network events).
 * It turns buffers of kernel messages into one summary event, using and
 * updating a small fixed memory of links and addresses so that
 * notifications which merely repeat a known state are not reported.
 * It does no I/O and does not allocate: the socket, the dumps that fill
 * the memory and when to read are netwatch.c's.
 */
#ifndef AUTOSSH_NLPARSE_H
#define AUTOSSH_NLPARSE_H

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

/* What is known of the links and addresses; all zero is "nothing". */
struct nw_memory {
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
 * One summary being built from one or more buffers.  The caller owns the
 * storage (usually on its stack); only nlparse.c reads or writes the
 * fields.
 */
struct nlparse {
	struct nw_memory		*mem;
	const struct sockaddr_storage	*local;
	struct nw_event			*ev;	/* NULL: learn only */
	uint32_t			 dump_seq;	/* 0: no dump awaited */
	uint32_t			 dump_portid;
	int				 bad;
	int				 dump_done;
	unsigned			 rank;	/* of ev->what */
};

/* Forget every link and address in mem.  Never fails. */
void	nlparse_reset(struct nw_memory *mem);

/*
 * Start a summary into *ev, cleared here, over mem.  It will be
 * NW_ADDR_LOST if an address equal to *local is deleted (local may be
 * NULL or AF_UNSPEC: none known; an IPv4-mapped IPv6 address matches the
 * IPv4 address; a link-local one matches on its scope id unless that is
 * 0), else NW_CHANGE if anything relevant happened, else NW_NONE.  A
 * message of a relevant type that is too short to parse counts as
 * NW_CHANGE.  mem, local and ev must outlive the session.
 */
void	nlparse_begin(struct nlparse *ps, struct nw_memory *mem,
	    const struct sockaddr_storage *local, struct nw_event *ev);

/*
 * Start a learn-only session over mem for the reply to a dump request
 * sent with sequence number seq from netlink port portid: the messages
 * update mem and are not reported.  nlparse_dump_done() tells when the
 * reply has ended; no nlparse_end() is needed.
 */
void	nlparse_begin_dump(struct nlparse *ps, struct nw_memory *mem,
	    uint32_t seq, uint32_t portid);

/*
 * Parse one buffer of netlink messages, as one recv(2) returns them, into
 * the session.  Never reads outside buf[0..len), for any contents and any
 * alignment of buf; a NULL buf is read as empty.  Never fails: a
 * malformed message is only remembered, for nlparse_buf().
 */
void	nlparse_feed(struct nlparse *ps, const void *buf, size_t len);

/*
 * Count notifications lost before they could be parsed (a receive queue
 * overrun, a truncated datagram) as one NW_CHANGE described by what.
 */
void	nlparse_lost(struct nlparse *ps, const char *what);

/* Returns 1 once the awaited dump has ended (done or error), else 0. */
int	nlparse_dump_done(const struct nlparse *ps);

/*
 * Finish the summary: its description gets " (+N more)" when it covers
 * several notifications.  Never fails.
 */
void	nlparse_end(struct nlparse *ps);

/*
 * One whole session over one buffer: begin, feed, end (for the unit tests
 * and a fuzz target).  A NULL buf is read as empty.  Returns 0, or -1
 * with errno EBADMSG when some message was malformed; *ev is filled in
 * either case.
 */
int	nlparse_buf(struct nw_memory *mem, const void *buf, size_t len,
	    const struct sockaddr_storage *local, struct nw_event *ev);

#endif
