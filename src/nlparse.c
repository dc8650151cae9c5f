/*
 * The rtnetlink parser (DESIGN.md §Network events): a buffer of kernel
 * messages and the memory of links and addresses in, one summary event
 * out.  It owns that memory's rules (what repeats a known state, which
 * slot to forget when full) and the wording of the descriptions.  The
 * socket, the dumps and the reading are netwatch.c's.
 * Every byte of a message is treated as hostile: headers are copied out
 * with memcpy() and no length is used before it is checked.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nlparse.h"
#include "util.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP	0x10000
#endif

#define LINK_STATE	(IFF_UP | IFF_RUNNING | IFF_LOWER_UP)
#define ADDR_STATE	(IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED)
#define OPER_UNKNOWN	0	/* RFC 2863 ifOperStatus "unknown" */

#define ALIGN4(n)	(((size_t)(n) + 3) & ~(size_t)3)

/* One attribute's payload, located inside the caller's buffer. */
struct attr {
	const unsigned char	*p;
	size_t			 len;
};

#define NATTR	17	/* above every attribute type looked at */
_Static_assert(IFLA_IFNAME < NATTR && IFLA_OPERSTATE < NATTR &&
    IFA_LOCAL < NATTR && IFA_FLAGS < NATTR && RTA_DST < NATTR &&
    RTA_OIF < NATTR && RTA_TABLE < NATTR, "NATTR too small");

/*
 * How much a description tells the operator: the summary keeps the
 * first of the highest rank, so that "address 10.0.0.2 added" is logged
 * rather than the prefix route the kernel announced before it.
 */
enum rank {
	R_NONE,
	R_OTHER,	/* routes, overruns, malformed messages */
	R_LINKADDR,	/* links and addresses */
	R_LOST		/* the local address: NW_ADDR_LOST */
};

static void
note(struct nlparse *c, enum rank rank, const char *what,
    const struct sockaddr_storage *addr)
{
	struct nw_event *ev = c->ev;

	/* A dump session only learns: the start-up state is no news. */
	if (ev == NULL)
		return;
	ev->count++;
	if (rank == R_LOST)
		ev->kind = NW_ADDR_LOST;
	else if (ev->kind == NW_NONE)
		ev->kind = NW_CHANGE;
	if (rank > c->rank) {
		c->rank = rank;
		util_strlcpy(ev->what, what, sizeof(ev->what));
		if (addr != NULL)
			ev->addr = *addr;
	}
}

static void
malformed(struct nlparse *c)
{
	/*
	 * A relevant message we cannot read still tells us that something
	 * happened; a spurious change is cheaper than a missed one.
	 */
	c->bad = 1;
	note(c, R_OTHER, "malformed rtnetlink message", NULL);
}

/* Append " (+N more)" when the summary covers several notifications. */
static void
finish(struct nw_event *ev)
{
	char sfx[32];
	size_t slen, wlen;

	if (ev->count < 2)
		return;
	snprintf(sfx, sizeof(sfx), " (+%u more)", ev->count - 1);
	slen = strlen(sfx);
	wlen = strlen(ev->what);
	if (wlen + slen >= sizeof(ev->what))
		wlen = sizeof(ev->what) - 1 - slen;
	memcpy(ev->what + wlen, sfx, slen + 1);
}

/*
 * Index the attributes in p[0..len) by type.  A zero, short or overlong
 * rta_len ends the walk: nothing after it can be located.
 */
static void
get_attrs(struct nlparse *c, const unsigned char *p, size_t len,
    struct attr *tb)
{
	struct rtattr a;
	unsigned type;
	size_t step;

	memset(tb, 0, NATTR * sizeof(*tb));
	while (len >= sizeof(a)) {
		memcpy(&a, p, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len) {
			c->bad = 1;
			return;
		}
		type = a.rta_type & NLA_TYPE_MASK;
		if (type < NATTR) {
			tb[type].p = p + sizeof(a);
			tb[type].len = a.rta_len - sizeof(a);
		}
		step = ALIGN4(a.rta_len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
}

/* Attributes follow the fixed header, aligned. */
static void
body_attrs(struct nlparse *c, const unsigned char *body, size_t blen,
    size_t hdrlen, struct attr *tb)
{
	size_t off = ALIGN4(hdrlen);

	if (off > blen)
		off = blen;
	get_attrs(c, body + off, blen - off, tb);
}

/* Copy an interface name, which may lack its NUL, as printable text. */
static void
copy_name(char *dst, const struct attr *a)
{
	size_t i;

	for (i = 0; i < a->len && i < NW_NAMESIZ - 1; i++) {
		if (a->p[i] == '\0')
			break;
		dst[i] = (a->p[i] > ' ' && a->p[i] < 0x7f) ? (char)a->p[i] :
		    '?';
	}
	dst[i] = '\0';
}

static struct nw_link *
find_link(struct nw_memory *mem, int ifindex)
{
	size_t i;

	for (i = 0; i < NW_MAX_LINKS; i++)
		if (mem->links[i].ifindex == ifindex)
			return &mem->links[i];
	return NULL;
}

/*
 * Take a slot for a new link.  When the table is full, a link known to
 * be down is forgotten first: its next interesting notification is
 * "up", which an unknown link reports anyway, so nothing is lost.
 */
static struct nw_link *
new_link(struct nw_memory *mem, int ifindex)
{
	struct nw_link *l;
	size_t i, k;

	if ((l = find_link(mem, 0)) == NULL) {
		for (i = 0; i < NW_MAX_LINKS; i++) {
			k = (mem->link_next + i) % NW_MAX_LINKS;
			if (!(mem->links[k].flags & IFF_UP) &&
			    !mem->links[k].loopback)
				break;
		}
		if (i == NW_MAX_LINKS)
			k = mem->link_next % NW_MAX_LINKS;
		mem->link_next = (unsigned)(k + 1) % NW_MAX_LINKS;
		l = &mem->links[k];
	}
	memset(l, 0, sizeof(*l));
	l->ifindex = ifindex;
	return l;
}

static const char *
link_desc(unsigned flags)
{
	if (!(flags & IFF_UP))
		return "down";
	if (!(flags & IFF_RUNNING))
		return "up, not running";
	return "up";
}

static void
do_link(struct nlparse *c, const struct nlmsghdr *h, const unsigned char *body,
    size_t blen)
{
	struct ifinfomsg ifi;
	struct attr tb[NATTR];
	struct nw_link *l;
	char name[NW_NAMESIZ], what[NW_WHATSIZ];
	unsigned state;
	uint8_t oper;
	int known;

	if (blen < sizeof(ifi)) {
		malformed(c);
		return;
	}
	memcpy(&ifi, body, sizeof(ifi));
	/*
	 * Bridge ports (AF_BRIDGE) and IPv6 (AF_INET6) send their own
	 * NEWLINK/DELLINK about a link; a bridge DELLINK only means the
	 * port left the bridge.  The link itself speaks as AF_UNSPEC.
	 */
	if (ifi.ifi_family != AF_UNSPEC)
		return;
	if (ifi.ifi_index <= 0) {
		c->bad = 1;
		return;
	}
	body_attrs(c, body, blen, sizeof(ifi), tb);
	name[0] = '\0';
	if (tb[IFLA_IFNAME].p != NULL)
		copy_name(name, &tb[IFLA_IFNAME]);
	l = find_link(c->mem, ifi.ifi_index);
	known = l != NULL;
	if (known && name[0] == '\0')
		memcpy(name, l->name, sizeof(name));
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "#%d", ifi.ifi_index);
	state = ifi.ifi_flags & LINK_STATE;
	if (tb[IFLA_OPERSTATE].len >= 1)
		oper = tb[IFLA_OPERSTATE].p[0];
	else
		oper = known ? l->operstate : OPER_UNKNOWN;

	if (h->nlmsg_type == RTM_DELLINK) {
		/*
		 * The kernel usually reports the link down first; a link
		 * that was down carried nothing, so its loss is no news.
		 */
		if (known) {
			if (!(l->flags & IFF_UP) || l->loopback)
				state = 0;
			else
				state = l->flags;
			memset(l, 0, sizeof(*l));
		}
		if ((state & IFF_UP) && !(ifi.ifi_flags & IFF_LOOPBACK)) {
			snprintf(what, sizeof(what), "link %s removed", name);
			note(c, R_LINKADDR, what, NULL);
		}
		return;
	}

	if (!known)
		l = new_link(c->mem, ifi.ifi_index);
	else if (l->flags == state && l->operstate == oper) {
		/* The kernel repeats NEWLINK for MTU, name, master, ... */
		memcpy(l->name, name, sizeof(l->name));
		return;
	}
	l->flags = state;
	l->operstate = oper;
	l->loopback = (ifi.ifi_flags & IFF_LOOPBACK) != 0;
	memcpy(l->name, name, sizeof(l->name));
	if (l->loopback)
		return;
	/* A new link that is down is not news; its coming up will be. */
	if (!known && !(state & IFF_UP))
		return;
	snprintf(what, sizeof(what), "link %s %s%s", name,
	    known ? "" : "added, ", link_desc(state));
	note(c, R_LINKADDR, what, NULL);
}

static int
is_linklocal6(const unsigned char *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* Loopback and IPv6 link-local addresses churn and carry no tunnel. */
static int
boring_addr(int family, const unsigned char *a, unsigned scope)
{
	static const unsigned char lo6[16] = { [15] = 1 };

	if (scope == RT_SCOPE_HOST)
		return 1;
	if (family == AF_INET)
		return a[0] == 127;
	return memcmp(a, lo6, sizeof(lo6)) == 0 || is_linklocal6(a);
}

static int
is_local(const struct sockaddr_storage *local, int family,
    const unsigned char *a, unsigned ifindex)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (local == NULL)
		return 0;
	if (local->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)local;
		return family == AF_INET &&
		    memcmp(&sin->sin_addr, a, 4) == 0;
	}
	if (local->ss_family != AF_INET6)
		return 0;
	sin6 = (const struct sockaddr_in6 *)(const void *)local;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return family == AF_INET &&
		    memcmp(&sin6->sin6_addr.s6_addr[12], a, 4) == 0;
	if (family != AF_INET6 || memcmp(&sin6->sin6_addr, a, 16) != 0)
		return 0;
	/* fe80::1 on eth0 is not fe80::1 on eth1. */
	return !is_linklocal6(a) || sin6->sin6_scope_id == 0 ||
	    sin6->sin6_scope_id == ifindex;
}

static void
make_sockaddr(struct sockaddr_storage *ss, int family,
    const unsigned char *a, unsigned ifindex)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
		if (is_linklocal6(a))
			sin6->sin6_scope_id = ifindex;
	}
}

static struct nw_addr *
find_addr(struct nw_memory *mem, int family, unsigned ifindex,
    const unsigned char *a, size_t alen)
{
	struct nw_addr *e;
	size_t i;

	for (i = 0; i < NW_MAX_ADDRS; i++) {
		e = &mem->addrs[i];
		if (e->family == family && (unsigned)e->ifindex == ifindex &&
		    memcmp(e->addr, a, alen) == 0)
			return e;
	}
	return NULL;
}

static struct nw_addr *
new_addr(struct nw_memory *mem)
{
	size_t i;

	for (i = 0; i < NW_MAX_ADDRS; i++)
		if (mem->addrs[i].family == 0)
			return &mem->addrs[i];
	/* Full: forgetting one costs at most one spurious change. */
	i = mem->addr_next % NW_MAX_ADDRS;
	mem->addr_next = (unsigned)(i + 1) % NW_MAX_ADDRS;
	return &mem->addrs[i];
}

static void
do_addr(struct nlparse *c, const struct nlmsghdr *h, const unsigned char *body,
    size_t blen)
{
	struct ifaddrmsg ifa;
	struct attr tb[NATTR];
	struct sockaddr_storage ss;
	struct nw_addr *e;
	struct nw_link *l;
	const unsigned char *a;
	char txt[INET6_ADDRSTRLEN], what[NW_WHATSIZ];
	size_t alen;
	uint32_t flags;
	int del = h->nlmsg_type == RTM_DELADDR;

	if (blen < sizeof(ifa)) {
		malformed(c);
		return;
	}
	memcpy(&ifa, body, sizeof(ifa));
	if (ifa.ifa_family == AF_INET)
		alen = 4;
	else if (ifa.ifa_family == AF_INET6)
		alen = 16;
	else
		return;
	body_attrs(c, body, blen, sizeof(ifa), tb);
	/*
	 * IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL,
	 * when present, is always ours.
	 */
	if (tb[IFA_LOCAL].len == alen)
		a = tb[IFA_LOCAL].p;
	else if (tb[IFA_ADDRESS].len == alen)
		a = tb[IFA_ADDRESS].p;
	else {
		malformed(c);
		return;
	}
	flags = ifa.ifa_flags;
	if (tb[IFA_FLAGS].len == sizeof(flags))
		memcpy(&flags, tb[IFA_FLAGS].p, sizeof(flags));
	flags &= ADDR_STATE;
	inet_ntop(ifa.ifa_family, a, txt, sizeof(txt));
	e = find_addr(c->mem, ifa.ifa_family, ifa.ifa_index, a, alen);

	/* The tunnel's own address counts even where others would not. */
	if (del && is_local(c->local, ifa.ifa_family, a, ifa.ifa_index)) {
		if (e != NULL)
			memset(e, 0, sizeof(*e));
		make_sockaddr(&ss, ifa.ifa_family, a, ifa.ifa_index);
		snprintf(what, sizeof(what), "address %s removed", txt);
		note(c, R_LOST, what, &ss);
		return;
	}
	l = find_link(c->mem, (int)ifa.ifa_index);
	if (boring_addr(ifa.ifa_family, a, ifa.ifa_scope) ||
	    (l != NULL && l->loopback))
		return;
	if (del) {
		if (e != NULL)
			memset(e, 0, sizeof(*e));
		snprintf(what, sizeof(what), "address %s removed", txt);
		note(c, R_LINKADDR, what, NULL);
		return;
	}
	/*
	 * DHCP renewals and router advertisements re-announce addresses
	 * only to refresh their lifetimes.
	 */
	if (e != NULL && e->prefixlen == ifa.ifa_prefixlen && e->flags == flags)
		return;
	snprintf(what, sizeof(what), "address %s %s", txt,
	    e == NULL ? "added" : "changed");
	if (e == NULL) {
		e = new_addr(c->mem);
		e->family = ifa.ifa_family;
		e->ifindex = (int)ifa.ifa_index;
		memset(e->addr, 0, sizeof(e->addr));
		memcpy(e->addr, a, alen);
	}
	e->prefixlen = ifa.ifa_prefixlen;
	e->flags = (uint8_t)flags;
	note(c, R_LINKADDR, what, NULL);
}

static void
do_route(struct nlparse *c, const struct nlmsghdr *h, const unsigned char *body,
    size_t blen)
{
	struct rtmsg rtm;
	struct attr tb[NATTR];
	struct nw_link *l = NULL;
	unsigned char dst[16];
	char txt[INET6_ADDRSTRLEN + 8], dev[NW_NAMESIZ + 8], what[NW_WHATSIZ];
	uint32_t table, oif;
	size_t alen;

	if (blen < sizeof(rtm)) {
		malformed(c);
		return;
	}
	memcpy(&rtm, body, sizeof(rtm));
	if (rtm.rtm_family == AF_INET)
		alen = 4;
	else if (rtm.rtm_family == AF_INET6)
		alen = 16;
	else
		return;
	body_attrs(c, body, blen, sizeof(rtm), tb);
	/* Table ids above 255 travel only in RTA_TABLE. */
	table = rtm.rtm_table;
	if (tb[RTA_TABLE].len == sizeof(table))
		memcpy(&table, tb[RTA_TABLE].p, sizeof(table));
	if (table != RT_TABLE_MAIN || (rtm.rtm_flags & RTM_F_CLONED))
		return;
	if (rtm.rtm_type == RTN_LOCAL || rtm.rtm_type == RTN_BROADCAST ||
	    rtm.rtm_type == RTN_ANYCAST || rtm.rtm_type == RTN_MULTICAST)
		return;
	if (rtm.rtm_dst_len > alen * 8) {
		c->bad = 1;
		return;
	}
	memset(dst, 0, sizeof(dst));
	if (tb[RTA_DST].len == alen)
		memcpy(dst, tb[RTA_DST].p, alen);
	/* fe80::/64 and ff00::/8 come and go with every IPv6 link. */
	if (alen == 16 && rtm.rtm_dst_len >= 8 &&
	    (is_linklocal6(dst) || dst[0] == 0xff))
		return;
	if (tb[RTA_OIF].len == sizeof(oif)) {
		memcpy(&oif, tb[RTA_OIF].p, sizeof(oif));
		l = find_link(c->mem, (int)oif);
		if (l != NULL && l->loopback)
			return;
	}
	dev[0] = '\0';
	if (l != NULL && l->name[0] != '\0')
		snprintf(dev, sizeof(dev), " dev %s", l->name);
	if (rtm.rtm_dst_len == 0)
		snprintf(txt, sizeof(txt), "default");
	else {
		inet_ntop(rtm.rtm_family, dst, txt, sizeof(txt));
		snprintf(txt + strlen(txt), sizeof(txt) - strlen(txt), "/%u",
		    (unsigned)rtm.rtm_dst_len);
	}
	snprintf(what, sizeof(what), "route %s%s %s", txt, dev,
	    h->nlmsg_type == RTM_DELROUTE ? "removed" : "added");
	note(c, R_OTHER, what, NULL);
}

/* Is h the reply to the dump request this session awaits? */
static int
ours(const struct nlparse *c, const struct nlmsghdr *h)
{
	return c->dump_seq != 0 && h->nlmsg_seq == c->dump_seq &&
	    h->nlmsg_pid == c->dump_portid;
}

static void
do_msg(struct nlparse *c, const struct nlmsghdr *h, const unsigned char *body,
    size_t blen)
{
	switch (h->nlmsg_type) {
	case NLMSG_NOOP:
		break;
	case NLMSG_ERROR:
	case NLMSG_DONE:
		if (ours(c, h))
			c->dump_done = 1;
		break;
	case NLMSG_OVERRUN:
		note(c, R_OTHER, "rtnetlink overrun, events lost", NULL);
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		do_link(c, h, body, blen);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		do_addr(c, h, body, blen);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		do_route(c, h, body, blen);
		break;
	default:
		break;
	}
}

static int
relevant_type(unsigned type)
{
	return type == RTM_NEWLINK || type == RTM_DELLINK ||
	    type == RTM_NEWADDR || type == RTM_DELADDR ||
	    type == RTM_NEWROUTE || type == RTM_DELROUTE;
}

static void
parse_buf(struct nlparse *c, const unsigned char *p, size_t len)
{
	struct nlmsghdr h;
	size_t step;

	while (len >= sizeof(h)) {
		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len) {
			/* A lying length hides where the next message is. */
			if (relevant_type(h.nlmsg_type))
				malformed(c);
			else
				c->bad = 1;
			return;
		}
		do_msg(c, &h, p + sizeof(h), h.nlmsg_len - sizeof(h));
		step = ALIGN4(h.nlmsg_len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
}

static void
ev_reset(struct nw_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = NW_NONE;
}

void
nlparse_reset(struct nw_memory *mem)
{
	memset(mem, 0, sizeof(*mem));
}

void
nlparse_begin(struct nlparse *ps, struct nw_memory *mem,
    const struct sockaddr_storage *local, struct nw_event *ev)
{
	memset(ps, 0, sizeof(*ps));
	ev_reset(ev);
	ps->mem = mem;
	ps->local = local;
	ps->ev = ev;
	if (local != NULL && local->ss_family != AF_INET &&
	    local->ss_family != AF_INET6)
		ps->local = NULL;
}

void
nlparse_begin_dump(struct nlparse *ps, struct nw_memory *mem, uint32_t seq,
    uint32_t portid)
{
	memset(ps, 0, sizeof(*ps));
	ps->mem = mem;
	ps->dump_seq = seq;
	ps->dump_portid = portid;
}

void
nlparse_feed(struct nlparse *ps, const void *buf, size_t len)
{
	if (buf != NULL)
		parse_buf(ps, buf, len);
}

void
nlparse_lost(struct nlparse *ps, const char *what)
{
	note(ps, R_OTHER, what, NULL);
}

int
nlparse_dump_done(const struct nlparse *ps)
{
	return ps->dump_done;
}

void
nlparse_end(struct nlparse *ps)
{
	if (ps->ev != NULL)
		finish(ps->ev);
}

int
nlparse_buf(struct nw_memory *mem, const void *buf, size_t len,
    const struct sockaddr_storage *local, struct nw_event *ev)
{
	struct nlparse ps;

	nlparse_begin(&ps, mem, local, ev);
	nlparse_feed(&ps, buf, len);
	nlparse_end(&ps);
	if (ps.bad) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}
