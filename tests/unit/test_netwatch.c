/*
 * Unit tests for nlparse.c and netwatch.c (DESIGN.md §Network events).
 * The parser is fed hand-built rtnetlink buffers: link, address and route
 * notifications that must or must not count, the tunnel's local address
 * going away, and broken lengths of every kind, which must never be read
 * past.  A last test drives the real kernel through netwatch's socket
 * inside a private network namespace of a forked child, so that nothing
 * it creates can outlive it or touch the host.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <net/if.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "netwatch.h"
#include "nlparse.h"
#include "util.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP	0x10000
#endif

#define UP	(IFF_UP | IFF_RUNNING | IFF_LOWER_UP | IFF_BROADCAST)
#define DOWN	(IFF_BROADCAST)
#define OPER_UP		6
#define OPER_DOWN	2
#define OPER_DORMANT	5
#define NOATTR		(-1)

/* A buffer of netlink messages under construction. */
struct nlbuf {
	union {
		struct nlmsghdr	align;
		unsigned char	b[8192];
	} u;
	size_t	len;
	size_t	msg;	/* where the current message starts */
};

static struct netwatch nw;	/* the socket side, never opened here */
static struct nw_memory mem;	/* the parser's memory */
static struct nlbuf nb;

static int
setup(void **state)
{
	(void)state;
	netwatch_init(&nw);
	nlparse_reset(&mem);
	memset(&nb, 0, sizeof(nb));
	return 0;
}

static void
put(struct nlbuf *b, const void *p, size_t len)
{
	assert_true(b->len + len <= sizeof(b->u.b));
	memcpy(b->u.b + b->len, p, len);
	b->len += len;
	while (b->len % 4 != 0)
		b->u.b[b->len++] = 0;
}

static void
begin(struct nlbuf *b, uint16_t type, const void *fixed, size_t flen)
{
	struct nlmsghdr h;

	memset(&h, 0, sizeof(h));
	h.nlmsg_type = type;
	b->msg = b->len;
	put(b, &h, sizeof(h));
	if (flen > 0)
		put(b, fixed, flen);
}

static void
attr(struct nlbuf *b, uint16_t type, const void *data, size_t len)
{
	struct rtattr a;

	a.rta_type = type;
	a.rta_len = (unsigned short)(sizeof(a) + len);
	put(b, &a, sizeof(a));
	if (len > 0)
		put(b, data, len);
}

static void
end(struct nlbuf *b)
{
	uint32_t len = (uint32_t)(b->len - b->msg);

	memcpy(b->u.b + b->msg + offsetof(struct nlmsghdr, nlmsg_len), &len,
	    sizeof(len));
}

static void
add_link(struct nlbuf *b, uint16_t type, int ifindex, unsigned flags,
    const char *name, int oper)
{
	struct ifinfomsg ifi;
	uint8_t o = (uint8_t)oper;

	memset(&ifi, 0, sizeof(ifi));
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	ifi.ifi_flags = flags;
	begin(b, type, &ifi, sizeof(ifi));
	if (name != NULL)
		attr(b, IFLA_IFNAME, name, strlen(name) + 1);
	if (oper != NOATTR)
		attr(b, IFLA_OPERSTATE, &o, 1);
	end(b);
}

static size_t
pton(const char *s, unsigned char *out)
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
	return 16;
}

static void
add_addr(struct nlbuf *b, uint16_t type, const char *addr, int prefix,
    int ifindex, unsigned scope, int flags)
{
	struct ifaddrmsg ifa;
	unsigned char a[16];
	size_t alen = pton(addr, a);
	uint32_t f32 = (uint32_t)flags;

	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = alen == 4 ? AF_INET : AF_INET6;
	ifa.ifa_prefixlen = (uint8_t)prefix;
	ifa.ifa_index = (uint32_t)ifindex;
	ifa.ifa_scope = (uint8_t)scope;
	ifa.ifa_flags = (uint8_t)flags;
	begin(b, type, &ifa, sizeof(ifa));
	attr(b, IFA_ADDRESS, a, alen);
	if (alen == 4)
		attr(b, IFA_LOCAL, a, alen);
	attr(b, IFA_FLAGS, &f32, sizeof(f32));
	end(b);
}

static void
add_route(struct nlbuf *b, uint16_t type, const char *dst, int dst_len,
    int table, long long rta_table, unsigned rtype, unsigned flags, int oif)
{
	struct rtmsg rtm;
	unsigned char a[16];
	size_t alen = pton(dst, a);
	uint32_t t32 = (uint32_t)rta_table, o32 = (uint32_t)oif;

	memset(&rtm, 0, sizeof(rtm));
	rtm.rtm_family = alen == 4 ? AF_INET : AF_INET6;
	rtm.rtm_dst_len = (uint8_t)dst_len;
	rtm.rtm_table = (uint8_t)table;
	rtm.rtm_protocol = RTPROT_BOOT;
	rtm.rtm_scope = RT_SCOPE_UNIVERSE;
	rtm.rtm_type = (uint8_t)rtype;
	rtm.rtm_flags = flags;
	begin(b, type, &rtm, sizeof(rtm));
	if (dst_len > 0)
		attr(b, RTA_DST, a, alen);
	if (rta_table != NOATTR)
		attr(b, RTA_TABLE, &t32, sizeof(t32));
	if (oif > 0)
		attr(b, RTA_OIF, &o32, sizeof(o32));
	end(b);
}

static void
add_bare(struct nlbuf *b, uint16_t type)
{
	uint32_t err[5] = { 0 };

	begin(b, type, err, type == NLMSG_ERROR ? sizeof(err) : 0);
	end(b);
}

static struct sockaddr_storage
ss(const char *s, uint32_t scope_id)
{
	struct sockaddr_storage st;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&st;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&st;

	memset(&st, 0, sizeof(st));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return st;
	}
	assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_scope_id = scope_id;
	return st;
}

/* Parse the buffer built so far, then start a new one. */
static enum nw_kind
run_ok(const struct sockaddr_storage *local, struct nw_event *ev)
{
	int rc = nlparse_buf(&mem, nb.u.b, nb.len, local, ev);

	assert_int_equal(rc, 0);
	assert_true(strlen(ev->what) < sizeof(ev->what));
	nb.len = 0;
	return ev->kind;
}

/* Same, for a buffer that is expected to be malformed. */
static enum nw_kind
run_bad(const void *buf, size_t len, const struct sockaddr_storage *local,
    struct nw_event *ev)
{
	errno = 0;
	assert_int_equal(nlparse_buf(&mem, buf, len, local, ev), -1);
	assert_int_equal(errno, EBADMSG);
	assert_true(strlen(ev->what) < sizeof(ev->what));
	return ev->kind;
}

static void
link_msg(uint16_t type, int ifindex, unsigned flags, const char *name,
    int oper)
{
	add_link(&nb, type, ifindex, flags, name, oper);
}

/* ---- empty and control ---- */

static void
test_empty(void **state)
{
	struct nw_event ev;
	unsigned char zero[15] = { 0 };

	(void)state;
	assert_int_equal(nlparse_buf(&mem, NULL, 0, NULL, &ev), 0);
	assert_int_equal(ev.kind, NW_NONE);
	assert_int_equal(ev.count, 0);
	assert_string_equal(ev.what, "");
	assert_int_equal(nlparse_buf(&mem, zero, 0, NULL, &ev), 0);
	assert_int_equal(ev.kind, NW_NONE);
	/* Fewer bytes than a header: trailing padding, not a message. */
	assert_int_equal(nlparse_buf(&mem, zero, sizeof(zero), NULL, &ev),
	    0);
	assert_int_equal(ev.kind, NW_NONE);
}

static void
test_control_messages(void **state)
{
	struct nw_event ev;

	(void)state;
	add_bare(&nb, NLMSG_NOOP);
	add_bare(&nb, NLMSG_DONE);
	add_bare(&nb, NLMSG_ERROR);
	add_bare(&nb, RTM_NEWNEIGH);
	add_bare(&nb, 0x7fff);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	add_bare(&nb, NLMSG_OVERRUN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_non_null(strstr(ev.what, "overrun"));
}

/* ---- links ---- */

static void
test_link_up_down(void **state)
{
	struct nw_event ev;

	(void)state;
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link eth0 added, up");
	/* The same state again, as after an MTU change. */
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Flags that do not matter. */
	link_msg(RTM_NEWLINK, 2, UP | IFF_PROMISC | IFF_ALLMULTI, "eth0",
	    OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* No IFLA_OPERSTATE: the known one is kept. */
	link_msg(RTM_NEWLINK, 2, UP, NULL, NOATTR);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Carrier lost. */
	link_msg(RTM_NEWLINK, 2, IFF_UP | IFF_BROADCAST, "eth0", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link eth0 up, not running");
	link_msg(RTM_NEWLINK, 2, DOWN, "eth0", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link eth0 down");
	link_msg(RTM_NEWLINK, 2, DOWN, "eth0", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link eth0 up");
	/* Operational state alone (802.1X, wifi association). */
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_DORMANT);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* A rename is not a change, but later messages use the new name. */
	link_msg(RTM_NEWLINK, 2, UP, "wan0", OPER_DORMANT);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 2, DOWN, NULL, NOATTR);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link wan0 down");
}

static void
test_link_repeat_in_one_buffer(void **state)
{
	struct nw_event ev;

	(void)state;
	link_msg(RTM_NEWLINK, 3, DOWN, "eth1", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 3, DOWN, "eth1", OPER_DOWN);
	link_msg(RTM_NEWLINK, 3, DOWN, "eth1", OPER_DOWN);
	link_msg(RTM_NEWLINK, 3, UP, "eth1", OPER_UP);
	link_msg(RTM_NEWLINK, 3, UP, "eth1", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.what, "link eth1 up");
}

static void
test_link_new_down_ignored(void **state)
{
	struct nw_event ev;

	(void)state;
	/* A new link that is down (a veth being created) is no news. */
	link_msg(RTM_NEWLINK, 7, DOWN, "veth7", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 7, UP, "veth7", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
}

static void
test_link_loopback(void **state)
{
	struct nw_event ev;

	(void)state;
	link_msg(RTM_NEWLINK, 1, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, "lo",
	    0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 1, IFF_LOOPBACK, "lo", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 1, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, "lo",
	    0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_DELLINK, 1, IFF_UP | IFF_LOOPBACK, "lo", 0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
}

static void
test_dellink(void **state)
{
	struct nw_event ev;

	(void)state;
	link_msg(RTM_NEWLINK, 4, UP, "wwan0", OPER_UP);
	link_msg(RTM_NEWLINK, 5, DOWN, "eth5", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* The kernel often sends the DELLINK with the flags already down. */
	link_msg(RTM_DELLINK, 4, DOWN, "wwan0", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link wwan0 removed");
	link_msg(RTM_DELLINK, 5, DOWN, "eth5", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Unknown link: the message's own flags decide. */
	link_msg(RTM_DELLINK, 9, UP, "eth9", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	link_msg(RTM_DELLINK, 10, DOWN, "eth10", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Forgotten: it comes back as a new link. */
	link_msg(RTM_NEWLINK, 4, UP, "wwan0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link wwan0 added, up");
}

static void
test_link_other_family(void **state)
{
	struct nw_event ev;
	struct ifinfomsg ifi;

	(void)state;
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* A port leaving a bridge: AF_BRIDGE DELLINK, the link stays. */
	memset(&ifi, 0, sizeof(ifi));
	ifi.ifi_family = AF_BRIDGE;
	ifi.ifi_index = 2;
	ifi.ifi_flags = DOWN;
	begin(&nb, RTM_DELLINK, &ifi, sizeof(ifi));
	end(&nb);
	begin(&nb, RTM_NEWLINK, &ifi, sizeof(ifi));
	end(&nb);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
}

static void
test_link_name_sanitised(void **state)
{
	struct nw_event ev;
	struct ifinfomsg ifi;
	char raw[20];

	(void)state;
	/* Control characters and no NUL within the attribute. */
	memcpy(raw, "ab\x01\x1b[31mcdefghijklmnopq", sizeof(raw));
	memset(&ifi, 0, sizeof(ifi));
	ifi.ifi_index = 12;
	ifi.ifi_flags = UP;
	begin(&nb, RTM_NEWLINK, &ifi, sizeof(ifi));
	attr(&nb, IFLA_IFNAME, raw, sizeof(raw));
	end(&nb);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link ab??[31mcdefghi added, up");
	/* No name at all: the index stands in. */
	link_msg(RTM_NEWLINK, 13, UP, NULL, NOATTR);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link #13 added, up");
}

static void
test_link_table_full(void **state)
{
	struct nw_event ev;
	char name[16];
	int i;

	(void)state;
	/* Far more links than slots: each new one still counts. */
	for (i = 100; i < 400; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		link_msg(RTM_NEWLINK, i, UP, name, OPER_UP);
		assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	}
	/* The most recent ones are remembered. */
	for (i = 390; i < 400; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		link_msg(RTM_NEWLINK, i, UP, name, OPER_UP);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	}
	/* Down links are evicted first, so up links are kept. */
	nlparse_reset(&mem);
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	for (i = 100; i < 400; i++) {
		link_msg(RTM_NEWLINK, i, DOWN, NULL, OPER_DOWN);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	}
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 2, DOWN, "eth0", OPER_DOWN);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
}

/* ---- addresses ---- */

static void
test_addr_lost_v4(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("10.0.0.1", 0);
	const struct sockaddr_in *sin;

	(void)state;
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	assert_string_equal(ev.what, "address 10.0.0.1 removed");
	sin = (const struct sockaddr_in *)(const void *)&ev.addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_memory_equal(&sin->sin_addr,
	    &((const struct sockaddr_in *)(const void *)&local)->sin_addr, 4);
	assert_int_equal(sin->sin_port, 0);
}

static void
test_addr_other_v4(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("10.0.0.1", 0), none;

	(void)state;
	add_addr(&nb, RTM_DELADDR, "10.0.0.2", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 10.0.0.2 removed");
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	memset(&none, 0, sizeof(none));
	none.ss_family = AF_UNSPEC;
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&none, &ev), NW_CHANGE);
	/* Adding the local address is a change, not a loss. */
	add_addr(&nb, RTM_NEWADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	/* The same bytes in the other family are not the address. */
	local = ss("::a00:1", 0);
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
}

static void
test_addr_new_and_refresh(void **state)
{
	struct nw_event ev;

	(void)state;
	add_addr(&nb, RTM_NEWADDR, "192.0.2.5", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 192.0.2.5 added");
	/* A DHCP renewal re-announces it with new lifetimes. */
	add_addr(&nb, RTM_NEWADDR, "192.0.2.5", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	add_addr(&nb, RTM_NEWADDR, "192.0.2.5", 25, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 192.0.2.5 changed");
	/* The same address on another link is another address. */
	add_addr(&nb, RTM_NEWADDR, "192.0.2.5", 25, 3, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* IPv6: tentative, then usable after DAD, then refreshed. */
	add_addr(&nb, RTM_NEWADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    IFA_F_TENTATIVE);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	add_addr(&nb, RTM_NEWADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    IFA_F_PERMANENT);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 2001:db8::5 changed");
	add_addr(&nb, RTM_NEWADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	add_addr(&nb, RTM_NEWADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    IFA_F_DEPRECATED);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* Removed, then added again: news both times. */
	add_addr(&nb, RTM_DELADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	add_addr(&nb, RTM_NEWADDR, "2001:db8::5", 64, 2, RT_SCOPE_UNIVERSE,
	    IFA_F_DEPRECATED);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
}

static void
test_addr_table_full(void **state)
{
	struct nw_event ev;
	char a[32];
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		snprintf(a, sizeof(a), "10.1.%d.%d", i / 250, i % 250 + 1);
		add_addr(&nb, RTM_NEWADDR, a, 16, 2, RT_SCOPE_UNIVERSE, 0);
		assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	}
	for (i = 190; i < 200; i++) {
		snprintf(a, sizeof(a), "10.1.%d.%d", i / 250, i % 250 + 1);
		add_addr(&nb, RTM_NEWADDR, a, 16, 2, RT_SCOPE_UNIVERSE, 0);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	}
}

static void
test_addr_lost_v6(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("2001:db8:1::1", 0);
	const struct sockaddr_in6 *sin6;

	(void)state;
	add_addr(&nb, RTM_DELADDR, "2001:db8:1::2", 64, 2, RT_SCOPE_UNIVERSE,
	    0);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	add_addr(&nb, RTM_DELADDR, "2001:db8:1::1", 64, 2, RT_SCOPE_UNIVERSE,
	    0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	assert_string_equal(ev.what, "address 2001:db8:1::1 removed");
	sin6 = (const struct sockaddr_in6 *)(const void *)&ev.addr;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_memory_equal(&sin6->sin6_addr,
	    &((const struct sockaddr_in6 *)(const void *)&local)->sin6_addr,
	    16);
}

static void
test_addr_v4mapped_local(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("::ffff:10.0.0.1", 0);

	(void)state;
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 8, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	assert_int_equal(ev.addr.ss_family, AF_INET);
}

static void
test_addr_ignored(void **state)
{
	struct nw_event ev;
	static const char *const boring[] = {
		"fe80::1", "febf:ffff::1", "127.0.0.1", "127.1.2.3", "::1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(boring) / sizeof(boring[0]); i++) {
		add_addr(&nb, RTM_NEWADDR, boring[i], 64, 2, RT_SCOPE_LINK, 0);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
		add_addr(&nb, RTM_DELADDR, boring[i], 64, 2, RT_SCOPE_LINK, 0);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	}
	/* fec0:: is outside fe80::/10. */
	add_addr(&nb, RTM_NEWADDR, "fec0::1", 64, 2, RT_SCOPE_SITE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* Host scope, and anything on the loopback link. */
	add_addr(&nb, RTM_NEWADDR, "10.9.9.9", 32, 2, RT_SCOPE_HOST, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	link_msg(RTM_NEWLINK, 1, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, "lo", 0);
	add_addr(&nb, RTM_NEWADDR, "192.0.2.53", 32, 1, RT_SCOPE_UNIVERSE, 0);
	add_addr(&nb, RTM_DELADDR, "192.0.2.53", 32, 1, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Families other than IPv4 and IPv6. */
	{
		struct ifaddrmsg ifa;

		memset(&ifa, 0, sizeof(ifa));
		ifa.ifa_family = AF_PACKET;
		begin(&nb, RTM_NEWADDR, &ifa, sizeof(ifa));
		end(&nb);
		assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	}
}

static void
test_addr_linklocal_local(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("fe80::1", 2);
	const struct sockaddr_in6 *sin6;

	(void)state;
	/* A tunnel over a link-local address still loses it. */
	add_addr(&nb, RTM_DELADDR, "fe80::1", 64, 3, RT_SCOPE_LINK, 0);
	assert_int_equal(run_ok(&local, &ev), NW_NONE);
	add_addr(&nb, RTM_DELADDR, "fe80::1", 64, 2, RT_SCOPE_LINK, 0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	sin6 = (const struct sockaddr_in6 *)(const void *)&ev.addr;
	assert_int_equal(sin6->sin6_scope_id, 2);
	/* Without a scope id any link matches. */
	local = ss("fe80::1", 0);
	add_addr(&nb, RTM_DELADDR, "fe80::1", 64, 3, RT_SCOPE_LINK, 0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
}

static void
test_addr_peer(void **state)
{
	struct nw_event ev;
	struct ifaddrmsg ifa;
	unsigned char mine[4] = { 10, 0, 0, 1 }, peer[4] = { 10, 0, 0, 254 };
	struct sockaddr_storage local = ss("10.0.0.1", 0);

	(void)state;
	/* Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL is ours. */
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = AF_INET;
	ifa.ifa_prefixlen = 32;
	ifa.ifa_index = 6;
	begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
	attr(&nb, IFA_ADDRESS, peer, 4);
	attr(&nb, IFA_LOCAL, mine, 4);
	end(&nb);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
	attr(&nb, IFA_ADDRESS, mine, 4);
	attr(&nb, IFA_LOCAL, peer, 4);
	end(&nb);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	/* An IFA_LOCAL of the wrong size is skipped for IFA_ADDRESS. */
	begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
	attr(&nb, IFA_LOCAL, peer, 3);
	attr(&nb, IFA_ADDRESS, mine, 4);
	end(&nb);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
}

/* ---- routes ---- */

static void
test_route_main(void **state)
{
	struct nw_event ev;

	(void)state;
	add_route(&nb, RTM_NEWROUTE, "0.0.0.0", 0, RT_TABLE_MAIN, NOATTR,
	    RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "route default added");
	add_route(&nb, RTM_DELROUTE, "10.1.0.0", 16, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "route 10.1.0.0/16 removed");
	add_route(&nb, RTM_NEWROUTE, "2001:db8::", 32, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "route 2001:db8::/32 added");
	/* Unreachable and blackhole routes in main do change reachability. */
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, RT_TABLE_MAIN,
	    NOATTR, RTN_UNREACHABLE, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* Table ids above 255 travel in RTA_TABLE; 254 may too. */
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, RT_TABLE_COMPAT,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	/* The device name, when the link is known. */
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	add_route(&nb, RTM_NEWROUTE, "0.0.0.0", 0, RT_TABLE_MAIN, NOATTR,
	    RTN_UNICAST, 0, 2);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "route default dev eth0 added");
}

static void
test_route_ignored(void **state)
{
	struct nw_event ev;

	(void)state;
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, 100, NOATTR,
	    RTN_UNICAST, 0, 0);
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, RT_TABLE_LOCAL,
	    RT_TABLE_LOCAL, RTN_LOCAL, 0, 0);
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, RT_TABLE_COMPAT,
	    1000, RTN_UNICAST, 0, 0);
	/* rtm_table says main, RTA_TABLE (authoritative) says otherwise. */
	add_route(&nb, RTM_NEWROUTE, "192.0.2.0", 24, RT_TABLE_MAIN,
	    RT_TABLE_DEFAULT, RTN_UNICAST, 0, 0);
	add_route(&nb, RTM_DELROUTE, "2001:db8::1", 128, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, RTM_F_CLONED, 0);
	add_route(&nb, RTM_NEWROUTE, "192.0.2.255", 32, RT_TABLE_MAIN,
	    NOATTR, RTN_BROADCAST, 0, 0);
	add_route(&nb, RTM_NEWROUTE, "fe80::", 64, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 0);
	add_route(&nb, RTM_DELROUTE, "ff00::", 8, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_MULTICAST, 0, 0);
	add_route(&nb, RTM_DELROUTE, "ff00::", 8, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
	/* Routes through the loopback link. */
	link_msg(RTM_NEWLINK, 1, IFF_UP | IFF_LOOPBACK | IFF_RUNNING, "lo", 0);
	add_route(&nb, RTM_NEWROUTE, "::", 0, RT_TABLE_MAIN, RT_TABLE_MAIN,
	    RTN_UNREACHABLE, 0, 1);
	assert_int_equal(run_ok(NULL, &ev), NW_NONE);
}

static void
test_route_bad_prefix(void **state)
{
	struct nw_event ev;

	(void)state;
	add_route(&nb, RTM_NEWROUTE, "10.0.0.0", 33, RT_TABLE_MAIN, NOATTR,
	    RTN_UNICAST, 0, 0);
	assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_NONE);
}

/* ---- summaries ---- */

static void
test_summary(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("10.0.0.1", 0);

	(void)state;
	add_addr(&nb, RTM_NEWADDR, "10.0.0.9", 24, 2, RT_SCOPE_UNIVERSE, 0);
	add_addr(&nb, RTM_NEWADDR, "fe80::9", 64, 2, RT_SCOPE_LINK, 0);
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	add_route(&nb, RTM_DELROUTE, "0.0.0.0", 0, RT_TABLE_MAIN, NOATTR,
	    RTN_UNICAST, 0, 0);
	add_addr(&nb, RTM_DELADDR, "10.0.0.2", 24, 2, RT_SCOPE_UNIVERSE, 0);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
	assert_int_equal(ev.count, 4);
	assert_string_equal(ev.what, "address 10.0.0.1 removed (+3 more)");

	add_addr(&nb, RTM_NEWADDR, "10.0.0.9", 24, 2, RT_SCOPE_UNIVERSE, 0);
	add_route(&nb, RTM_DELROUTE, "0.0.0.0", 0, RT_TABLE_MAIN, NOATTR,
	    RTN_UNICAST, 0, 0);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.what, "route default removed");

	/* A link or an address says more than the route announced first. */
	add_route(&nb, RTM_NEWROUTE, "2001:db8:5::", 64, RT_TABLE_MAIN,
	    NOATTR, RTN_UNICAST, 0, 0);
	add_addr(&nb, RTM_NEWADDR, "2001:db8:5::1", 64, 2, RT_SCOPE_UNIVERSE,
	    IFA_F_TENTATIVE);
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	assert_int_equal(run_ok(&local, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 2001:db8:5::1 added (+2 more)");
}

static void
test_summary_long_what(void **state)
{
	struct nw_event ev;
	char a[48];
	int i;

	(void)state;
	/* The longest description, then a suffix that must still fit. */
	link_msg(RTM_NEWLINK, 2, UP, "abcdefghijklmno", OPER_UP);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	add_route(&nb, RTM_NEWROUTE,
	    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 128, RT_TABLE_MAIN,
	    NOATTR, RTN_UNICAST, 0, 2);
	for (i = 0; i < 120; i++) {
		snprintf(a, sizeof(a), "2001:db8:%x::", i + 1);
		add_route(&nb, RTM_NEWROUTE, a, 48, RT_TABLE_MAIN, NOATTR,
		    RTN_UNICAST, 0, 2);
	}
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_int_equal(ev.count, 121);
	assert_non_null(strstr(ev.what, "route 2001:db8:ffff:"));
	assert_non_null(strstr(ev.what, " (+120 more)"));
	assert_true(strlen(ev.what) < sizeof(ev.what));
}

/* ---- malformed input ---- */

static void
test_truncated(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("10.0.0.1", 0);
	unsigned char copy[512];
	size_t full, cut;

	(void)state;
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	full = nb.len;
	assert_true(full <= sizeof(copy));
	/*
	 * Every shorter length, in a buffer of exactly that size so that
	 * ASan sees any read past it.
	 */
	for (cut = 0; cut < full; cut++) {
		unsigned char *p = malloc(cut + 1);

		assert_non_null(p);
		memcpy(p, nb.u.b, cut);
		if (cut < sizeof(struct nlmsghdr)) {
			assert_int_equal(nlparse_buf(&mem, p, cut, &local,
			    &ev), 0);
			assert_int_equal(ev.kind, NW_NONE);
		} else {
			/* nlmsg_len > len: the message is cut short. */
			assert_int_equal(run_bad(p, cut, &local, &ev),
			    NW_CHANGE);
		}
		free(p);
	}
	memcpy(copy, nb.u.b, full);
	assert_int_equal(nlparse_buf(&mem, copy, full, &local, &ev), 0);
	assert_int_equal(ev.kind, NW_ADDR_LOST);
}

static void
test_nlmsg_len_lies(void **state)
{
	struct nw_event ev;
	struct nlmsghdr h;
	uint32_t big = 100000, zero = 0, small = 8;
	unsigned char buf[64];

	(void)state;
	add_link(&nb, RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	/* Larger than the buffer. */
	memcpy(nb.u.b, &big, sizeof(big));
	assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_CHANGE);
	/* Zero and shorter than a header: no endless loop. */
	memcpy(nb.u.b, &zero, sizeof(zero));
	assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_CHANGE);
	memcpy(nb.u.b, &small, sizeof(small));
	assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_CHANGE);
	/* A lying header of an irrelevant type is not a change. */
	memset(&h, 0, sizeof(h));
	h.nlmsg_type = NLMSG_NOOP;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(run_bad(buf, sizeof(buf), NULL, &ev), NW_NONE);
	/* The largest length of all. */
	h.nlmsg_len = UINT32_MAX;
	h.nlmsg_type = RTM_DELADDR;
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(run_bad(buf, sizeof(buf), NULL, &ev), NW_CHANGE);
	/* A good message after a bad one is not reached; before it, it is. */
	nb.len = 0;
	add_addr(&nb, RTM_DELADDR, "10.0.0.7", 24, 2, RT_SCOPE_UNIVERSE, 0);
	begin(&nb, RTM_NEWROUTE, NULL, 0);
	memcpy(nb.u.b + nb.msg, &big, sizeof(big));
	assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "address 10.0.0.7 removed (+1 more)");
}

static void
test_body_too_short(void **state)
{
	struct nw_event ev;
	uint16_t types[] = { RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR,
	    RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE };
	unsigned char junk[4] = { 1, 2, 3, 4 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		nb.len = 0;
		begin(&nb, types[i], junk, sizeof(junk));
		end(&nb);
		assert_int_equal(run_bad(nb.u.b, nb.len, NULL, &ev), NW_CHANGE);
		assert_string_equal(ev.what, "malformed rtnetlink message");
	}
}

static void
test_bad_attributes(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("10.0.0.1", 0);
	struct ifaddrmsg ifa;
	struct rtattr a;
	unsigned char mine[4] = { 10, 0, 0, 1 };
	unsigned short lens[] = { 0, 1, 3, 200 };
	size_t i;

	(void)state;
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = AF_INET;
	ifa.ifa_prefixlen = 24;
	ifa.ifa_index = 2;
	/*
	 * A zero, shorter-than-header or overlong rta_len hides the
	 * address behind it: a change, never a loss, never a crash.
	 */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		nb.len = 0;
		begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
		a.rta_len = lens[i];
		a.rta_type = IFA_LABEL;
		put(&nb, &a, sizeof(a));
		attr(&nb, IFA_LOCAL, mine, sizeof(mine));
		end(&nb);
		assert_int_equal(run_bad(nb.u.b, nb.len, &local, &ev),
		    NW_CHANGE);
	}
	/* The same after the address: the address is still used. */
	nb.len = 0;
	begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
	attr(&nb, IFA_LOCAL, mine, sizeof(mine));
	a.rta_len = 0;
	a.rta_type = IFA_LABEL;
	put(&nb, &a, sizeof(a));
	end(&nb);
	assert_int_equal(run_bad(nb.u.b, nb.len, &local, &ev), NW_ADDR_LOST);
	/* An attribute ending exactly at the message's end, unpadded. */
	nb.len = 0;
	begin(&nb, RTM_NEWLINK, NULL, 0);
	{
		struct ifinfomsg ifi;

		memset(&ifi, 0, sizeof(ifi));
		ifi.ifi_index = 3;
		ifi.ifi_flags = UP;
		put(&nb, &ifi, sizeof(ifi));
	}
	attr(&nb, IFLA_IFNAME, "e", 1);
	nb.len -= 3;
	end(&nb);
	assert_int_equal(run_ok(NULL, &ev), NW_CHANGE);
	assert_string_equal(ev.what, "link e added, up");
	/* Attribute types beyond those looked at, and nested flags. */
	nb.len = 0;
	begin(&nb, RTM_DELADDR, &ifa, sizeof(ifa));
	attr(&nb, 0xffff, mine, sizeof(mine));
	attr(&nb, NLA_F_NESTED | IFA_LOCAL, mine, sizeof(mine));
	end(&nb);
	assert_int_equal(run_ok(&local, &ev), NW_ADDR_LOST);
}

static void
test_misaligned(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage local = ss("2001:db8::1", 0);
	unsigned char *p;
	size_t off;

	(void)state;
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	add_addr(&nb, RTM_DELADDR, "2001:db8::1", 64, 2, RT_SCOPE_UNIVERSE, 0);
	add_route(&nb, RTM_NEWROUTE, "2001:db8::", 32, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 2);
	p = malloc(nb.len + 3);
	assert_non_null(p);
	for (off = 1; off < 4; off++) {
		nlparse_reset(&mem);
		memcpy(p + off, nb.u.b, nb.len);
		assert_int_equal(nlparse_buf(&mem, p + off, nb.len, &local,
		    &ev), 0);
		assert_int_equal(ev.kind, NW_ADDR_LOST);
		assert_int_equal(ev.count, 3);
	}
	free(p);
}

static uint32_t rng = 2463534242u;

static uint32_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void
test_garbage(void **state)
{
	struct nw_event ev;
	struct sockaddr_storage l4 = ss("10.0.0.1", 0);
	struct sockaddr_storage l6 = ss("fe80::1", 2);
	unsigned char seed[1024];
	size_t seedlen, len, i, j, n;
	unsigned char *p;
	int rc;

	(void)state;
	link_msg(RTM_NEWLINK, 2, UP, "eth0", OPER_UP);
	add_addr(&nb, RTM_DELADDR, "10.0.0.1", 24, 2, RT_SCOPE_UNIVERSE, 0);
	add_addr(&nb, RTM_NEWADDR, "fe80::1", 64, 2, RT_SCOPE_LINK, 0);
	add_route(&nb, RTM_NEWROUTE, "2001:db8::", 32, RT_TABLE_MAIN,
	    RT_TABLE_MAIN, RTN_UNICAST, 0, 2);
	add_link(&nb, RTM_DELLINK, 2, DOWN, "eth0", OPER_DOWN);
	seedlen = nb.len;
	memcpy(seed, nb.u.b, seedlen);
	/* Mutations of real messages, then pure noise; ASan watches. */
	for (i = 0; i < 40000; i++) {
		len = i < 30000 ? seedlen : xorshift() % 300;
		p = malloc(len == 0 ? 1 : len);
		assert_non_null(p);
		if (i < 30000) {
			memcpy(p, seed, len);
			n = 1 + xorshift() % 8;
			for (j = 0; j < n; j++)
				p[xorshift() % len] = (unsigned char)xorshift();
			if (xorshift() % 4 == 0)
				len = xorshift() % (len + 1);
		} else {
			for (j = 0; j < len; j++)
				p[j] = (unsigned char)xorshift();
		}
		if (i % 1000 == 0)
			nlparse_reset(&mem);
		rc = nlparse_buf(&mem, p, len, i % 2 ? &l4 : &l6, &ev);
		assert_true(rc == 0 || (rc == -1 && errno == EBADMSG));
		assert_true(ev.kind == NW_NONE || ev.kind == NW_CHANGE ||
		    ev.kind == NW_ADDR_LOST);
		assert_true(strlen(ev.what) < sizeof(ev.what));
		assert_true(ev.kind != NW_NONE || ev.count == 0);
		free(p);
	}
}

static void
test_closed(void **state)
{
	struct nw_event ev;

	(void)state;
	assert_int_equal(netwatch_fd(&nw), -1);
	netwatch_close(&nw);
	netwatch_close(&nw);
	assert_int_equal(netwatch_read(&nw, NULL, &ev), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(ev.kind, NW_NONE);
}

/* ---- the real kernel, in a private network namespace ---- */

#define SKIP_STATUS	77

static struct nw_event kev;	/* the last collected summary */
static const char *kstep = "start";

static void
kfail(int line, const char *cond)
{
	fprintf(stderr, "kernel test: step \"%s\", line %d: %s failed "
	    "(last event: kind %d, count %u, \"%s\")\n", kstep, line, cond,
	    (int)kev.kind, kev.count, kev.what);
	_exit(1);
}

#define KCHECK(cond) do {						\
	if (!(cond))							\
		kfail(__LINE__, #cond);					\
} while (0)

static int
sh(const char *cmd)
{
	char buf[512];
	int st;

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	st = system(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define RUN(cmd) do {							\
	kstep = (cmd);							\
	if (sh(cmd) != 0)						\
		kfail(__LINE__, cmd);					\
} while (0)

/*
 * Read until the socket stays quiet for quiet_ms (5 s at most), merging
 * the summaries: link carrier and operstate changes arrive late, from
 * the kernel's linkwatch work.
 */
static enum nw_kind
collect(struct netwatch *w, const struct sockaddr_storage *local,
    int quiet_ms)
{
	struct nw_event ev;
	struct pollfd pfd;
	int64_t deadline = now_ms() + 5000;
	int r;

	memset(&kev, 0, sizeof(kev));
	kev.kind = NW_NONE;
	while (now_ms() < deadline) {
		pfd.fd = netwatch_fd(w);
		pfd.events = POLLIN;
		r = poll(&pfd, 1, quiet_ms);
		if (r == -1 && errno == EINTR)
			continue;
		KCHECK(r >= 0);
		if (r == 0)
			break;
		KCHECK(netwatch_read(w, local, &ev) == 0);
		if (ev.kind > kev.kind) {
			ev.count += kev.count;
			kev = ev;
		} else
			kev.count += ev.count;
	}
	return kev.kind;
}

#define QUIET	300	/* ms of silence after an expected change */
#define SETTLE	1500	/* linkwatch runs at most once a second */

static void
forge_deladdr(struct netwatch *w, const char *addr)
{
	struct sockaddr_nl to;
	struct pollfd pfd;
	socklen_t tolen = sizeof(to);
	int fd;

	/* A user process, not the kernel, claims the address is gone. */
	KCHECK(getsockname(netwatch_fd(w), (struct sockaddr *)&to,
	    &tolen) == 0);
	netwatch_init(&nw);
	nb.len = 0;
	add_addr(&nb, RTM_DELADDR, addr, 24, 2, RT_SCOPE_UNIVERSE, 0);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	KCHECK(fd >= 0);
	to.nl_groups = 0;
	KCHECK(sendto(fd, nb.u.b, nb.len, 0, (struct sockaddr *)&to,
	    sizeof(to)) == (ssize_t)nb.len);
	close(fd);
	pfd.fd = netwatch_fd(w);
	pfd.events = POLLIN;
	KCHECK(poll(&pfd, 1, 1000) == 1);
}

static void
kernel_body(void)
{
	struct netwatch w;
	struct sockaddr_storage l4 = ss("10.200.1.1", 0);
	struct sockaddr_storage l6 = ss("2001:db8::1", 0);
	struct stat before, after;
	int tiny = 1, big = 256 * 1024, i;
	FILE *f;

	alarm(120);
	KCHECK(stat("/proc/self/ns/net", &before) == 0);
	if (unshare(CLONE_NEWNET) == -1)
		_exit(SKIP_STATUS);
	/* Never run a single `ip` command outside the new namespace. */
	KCHECK(stat("/proc/self/ns/net", &after) == 0);
	KCHECK(after.st_ino != before.st_ino);
	if (sh("ip -V") != 0)
		_exit(SKIP_STATUS);
	if (sh("ip link add nwt0 type veth peer name nwt1") != 0)
		_exit(SKIP_STATUS);
	RUN("ip link set nwt1 up");
	RUN("ip link set nwt0 up");
	RUN("ip addr add 10.200.0.1/24 dev nwt0");
	/* Let linkwatch finish before the dump, for a clean start. */
	usleep(SETTLE * 1000);

	kstep = "open";
	KCHECK(netwatch_open(&w) == 0);
	KCHECK(netwatch_fd(&w) >= 0);
	KCHECK(collect(&w, &l4, QUIET) == NW_NONE);

	/* Repeated state: the NEWLINK for an MTU change. */
	RUN("ip link set nwt0 mtu 1400");
	KCHECK(collect(&w, &l4, SETTLE) == NW_NONE);

	RUN("ip link set nwt0 down");
	KCHECK(collect(&w, &l4, SETTLE) == NW_CHANGE);
	KCHECK(strstr(kev.what, "nwt") != NULL);
	RUN("ip link set nwt0 up");
	KCHECK(collect(&w, &l4, SETTLE) == NW_CHANGE);
	KCHECK(strstr(kev.what, "nwt") != NULL);

	RUN("ip addr add 10.200.1.1/24 dev nwt0");
	KCHECK(collect(&w, &l4, QUIET) == NW_CHANGE);
	KCHECK(strncmp(kev.what, "address 10.200.1.1 added", 24) == 0);
	RUN("ip addr del 10.200.1.1/24 dev nwt0");
	KCHECK(collect(&w, &l4, QUIET) == NW_ADDR_LOST);
	KCHECK(kev.addr.ss_family == AF_INET);
	KCHECK(strncmp(kev.what, "address 10.200.1.1 removed", 26) == 0);

	RUN("ip -6 addr add 2001:db8::1/64 dev nwt0 nodad");
	KCHECK(collect(&w, &l6, QUIET) == NW_CHANGE);
	RUN("ip -6 addr del 2001:db8::1/64 dev nwt0");
	KCHECK(collect(&w, &l6, QUIET) == NW_ADDR_LOST);
	KCHECK(kev.addr.ss_family == AF_INET6);

	RUN("ip route add 192.0.2.0/24 dev nwt0 table 100");
	KCHECK(collect(&w, &l4, QUIET) == NW_NONE);
	RUN("ip route add 192.0.2.0/24 dev nwt0");
	KCHECK(collect(&w, &l4, QUIET) == NW_CHANGE);
	KCHECK(strcmp(kev.what, "route 192.0.2.0/24 dev nwt0 added") == 0);

	kstep = "forged sender";
	RUN("ip addr add 10.200.1.1/24 dev nwt0");
	KCHECK(collect(&w, &l4, QUIET) == NW_CHANGE);
	forge_deladdr(&w, "10.200.1.1");
	KCHECK(collect(&w, &l4, QUIET) == NW_NONE);

	/* Overrun: many NEWLINKs that each repeat the known state. */
	kstep = "overrun";
	KCHECK(setsockopt(netwatch_fd(&w), SOL_SOCKET, SO_RCVBUF, &tiny,
	    sizeof(tiny)) == 0);
	f = popen("ip -batch - >/dev/null 2>&1", "w");
	KCHECK(f != NULL);
	for (i = 0; i < 200; i++)
		fprintf(f, "link set nwt0 mtu %d\n", 1300 + i % 2);
	KCHECK(pclose(f) == 0);
	KCHECK(collect(&w, &l4, QUIET) == NW_CHANGE);
	KCHECK(strstr(kev.what, "overrun") != NULL);
	KCHECK(setsockopt(netwatch_fd(&w), SOL_SOCKET, SO_RCVBUF, &big,
	    sizeof(big)) == 0);

	RUN("ip link del nwt0");
	KCHECK(collect(&w, &l4, QUIET) == NW_ADDR_LOST);

	netwatch_close(&w);
	KCHECK(netwatch_fd(&w) == -1);
}

static void
test_kernel(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0) {
		print_message("kernel test needs root\n");
		skip();
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The namespace, and every link in it, dies with us. */
		kernel_body();
		_exit(0);
	}
	while (waitpid(pid, &st, 0) == -1)
		assert_int_equal(errno, EINTR);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS) {
		print_message("no network namespaces or veth here\n");
		skip();
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A burst of changes settles NW_SETTLE_MS after its first (pure). */
static void
test_settle(void **state)
{
	struct netwatch w;
	char what[NW_WHATSIZ];

	(void)state;
	netwatch_init(&w);
	assert_true(netwatch_deadline(&w) == NEVER);
	assert_int_equal(netwatch_settled(&w, 1000, what, sizeof(what)), 0);
	netwatch_changed(&w, "eth0 down", 1000);
	netwatch_changed(&w, "address 192.0.2.7 removed", 1100);
	/* The burst's first change sets the time, the last one the text. */
	assert_true(netwatch_deadline(&w) == 1000 + NW_SETTLE_MS);
	assert_int_equal(netwatch_settled(&w, 1000 + NW_SETTLE_MS - 1, what,
	    sizeof(what)), 0);
	assert_int_equal(netwatch_settled(&w, 1000 + NW_SETTLE_MS, what,
	    sizeof(what)), 1);
	assert_string_equal(what, "address 192.0.2.7 removed");
	/* Said once. */
	assert_true(netwatch_deadline(&w) == NEVER);
	assert_int_equal(netwatch_settled(&w, 99999, what, sizeof(what)), 0);
	/* A new burst starts its own time. */
	netwatch_changed(&w, "route added", 5000);
	assert_true(netwatch_deadline(&w) == 5000 + NW_SETTLE_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty, setup),
		cmocka_unit_test_setup(test_control_messages, setup),
		cmocka_unit_test_setup(test_link_up_down, setup),
		cmocka_unit_test_setup(test_link_repeat_in_one_buffer, setup),
		cmocka_unit_test_setup(test_link_new_down_ignored, setup),
		cmocka_unit_test_setup(test_link_loopback, setup),
		cmocka_unit_test_setup(test_dellink, setup),
		cmocka_unit_test_setup(test_link_other_family, setup),
		cmocka_unit_test_setup(test_link_name_sanitised, setup),
		cmocka_unit_test_setup(test_link_table_full, setup),
		cmocka_unit_test_setup(test_addr_lost_v4, setup),
		cmocka_unit_test_setup(test_addr_other_v4, setup),
		cmocka_unit_test_setup(test_addr_new_and_refresh, setup),
		cmocka_unit_test_setup(test_addr_table_full, setup),
		cmocka_unit_test_setup(test_addr_lost_v6, setup),
		cmocka_unit_test_setup(test_addr_v4mapped_local, setup),
		cmocka_unit_test_setup(test_addr_ignored, setup),
		cmocka_unit_test_setup(test_addr_linklocal_local, setup),
		cmocka_unit_test_setup(test_addr_peer, setup),
		cmocka_unit_test_setup(test_route_main, setup),
		cmocka_unit_test_setup(test_route_ignored, setup),
		cmocka_unit_test_setup(test_route_bad_prefix, setup),
		cmocka_unit_test_setup(test_summary, setup),
		cmocka_unit_test_setup(test_summary_long_what, setup),
		cmocka_unit_test_setup(test_truncated, setup),
		cmocka_unit_test_setup(test_nlmsg_len_lies, setup),
		cmocka_unit_test_setup(test_body_too_short, setup),
		cmocka_unit_test_setup(test_bad_attributes, setup),
		cmocka_unit_test_setup(test_misaligned, setup),
		cmocka_unit_test_setup(test_garbage, setup),
		cmocka_unit_test_setup(test_closed, setup),
		cmocka_unit_test_setup(test_kernel, setup),
		cmocka_unit_test(test_settle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
