/*
 * Unit tests for eyeballs.c: the order of connection attempts over a
 * host's addresses (RFC 8305 §4), with the families interleaved, the
 * remembered address first and AddressFamily honoured.  Each row names
 * its addresses as text in the resolver's order and the order expected.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit.h"

#include "eyeballs.h"

#define MAXA	8

struct orow {
	const char	*name;
	const char	*addrs[MAXA];	/* the resolver's order; NULL ends */
	int		 family;
	const char	*prefer;	/* NULL: none */
	int		 want[MAXA];	/* indexes into addrs; -1 ends */
};

static const struct orow orows[] = {
	{ "empty", { NULL }, AF_UNSPEC, NULL, { -1 } },
	{ "one v4", { "10.0.0.1", NULL }, AF_UNSPEC, NULL, { 0, -1 } },
	{ "v4 only, resolver's order", { "10.0.0.3", "10.0.0.2",
	    "10.0.0.1", NULL }, AF_UNSPEC, NULL, { 0, 1, 2, -1 } },
	{ "v6 first, interleaved", { "fd00::1", "fd00::2", "10.0.0.1",
	    "10.0.0.2", NULL }, AF_UNSPEC, NULL, { 0, 2, 1, 3, -1 } },
	{ "v4 first, interleaved", { "10.0.0.1", "10.0.0.2", "fd00::1",
	    "fd00::2", NULL }, AF_UNSPEC, NULL, { 0, 2, 1, 3, -1 } },
	{ "uneven: the longer family's tail last", { "fd00::1", "fd00::2",
	    "fd00::3", "10.0.0.1", NULL }, AF_UNSPEC, NULL,
	    { 0, 3, 1, 2, -1 } },
	{ "mixed input order", { "fd00::1", "10.0.0.1", "fd00::2",
	    "fd00::3", "10.0.0.2", NULL }, AF_UNSPEC, NULL,
	    { 0, 1, 2, 4, 3, -1 } },
	{ "preferred v4 first, then v6", { "fd00::1", "fd00::2",
	    "10.0.0.1", "10.0.0.2", NULL }, AF_UNSPEC, "10.0.0.2",
	    { 3, 0, 2, 1, -1 } },
	{ "preferred v6 first, then v4", { "fd00::1", "fd00::2",
	    "10.0.0.1", "10.0.0.2", NULL }, AF_UNSPEC, "fd00::2",
	    { 1, 2, 0, 3, -1 } },
	{ "preferred already first", { "10.0.0.1", "10.0.0.2", NULL },
	    AF_UNSPEC, "10.0.0.1", { 0, 1, -1 } },
	{ "preferred not among them", { "10.0.0.1", "10.0.0.2", NULL },
	    AF_UNSPEC, "10.0.0.9", { 0, 1, -1 } },
	{ "preferred v4 equal to a v6 text: not matched", { "::a00:1",
	    "10.0.0.2", NULL }, AF_UNSPEC, "10.0.0.1", { 0, 1, -1 } },
	{ "AddressFamily inet", { "fd00::1", "10.0.0.1", "fd00::2",
	    "10.0.0.2", NULL }, AF_INET, NULL, { 1, 3, -1 } },
	{ "AddressFamily inet6", { "fd00::1", "10.0.0.1", "fd00::2",
	    "10.0.0.2", NULL }, AF_INET6, NULL, { 0, 2, -1 } },
	{ "AddressFamily inet6, preferred v4 ignored", { "fd00::1",
	    "10.0.0.1", "fd00::2", NULL }, AF_INET6, "10.0.0.1",
	    { 0, 2, -1 } },
	{ "AddressFamily inet6, none", { "10.0.0.1", NULL }, AF_INET6, NULL,
	    { -1 } },
	{ "one preferred only", { "fd00::1", NULL }, AF_UNSPEC, "fd00::1",
	    { 0, -1 } },
};

/* Parse text as an IPv4 or IPv6 address into *ss (port 22). */
static void
addr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(22);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(22);
}

static void
test_order_row(void **state)
{
	const struct orow *r = *state;
	struct sockaddr_storage ss[MAXA], pref;
	const struct sockaddr *sa[MAXA];
	int order[MAXA], n = 0, k, nwant = 0;

	(void)state;
	for (n = 0; n < MAXA && r->addrs[n] != NULL; n++) {
		addr(r->addrs[n], &ss[n]);
		sa[n] = (const struct sockaddr *)&ss[n];
	}
	if (r->prefer != NULL)
		addr(r->prefer, &pref);
	memset(order, 0xff, sizeof(order));
	k = eyeballs_order(sa, n, r->family, r->prefer != NULL ? &pref : NULL,
	    order);
	while (nwant < MAXA && r->want[nwant] != -1)
		nwant++;
	assert_int_equal(k, nwant);
	assert_memory_equal(order, r->want, sizeof(int) * (size_t)k);
}

static void
test_order_port_ignored(void **state)
{
	struct sockaddr_storage ss[2], pref;
	const struct sockaddr *sa[2];
	int order[2];

	(void)state;
	addr("10.0.0.1", &ss[0]);
	addr("10.0.0.2", &ss[1]);
	sa[0] = (const struct sockaddr *)&ss[0];
	sa[1] = (const struct sockaddr *)&ss[1];
	/* The preference names an address only: its port is 0. */
	addr("10.0.0.2", &pref);
	((struct sockaddr_in *)&pref)->sin_port = 0;
	assert_int_equal(eyeballs_order(sa, 2, AF_UNSPEC, &pref, order), 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
}

static void
test_order_other_families_dropped(void **state)
{
	struct sockaddr_storage ss[3];
	const struct sockaddr *sa[3];
	int order[3];

	(void)state;
	addr("10.0.0.1", &ss[0]);
	memset(&ss[1], 0, sizeof(ss[1]));
	ss[1].ss_family = AF_UNIX;
	addr("fd00::1", &ss[2]);
	sa[0] = (const struct sockaddr *)&ss[0];
	sa[1] = (const struct sockaddr *)&ss[1];
	sa[2] = (const struct sockaddr *)&ss[2];
	assert_int_equal(eyeballs_order(sa, 3, AF_UNSPEC, NULL, order), 2);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 2);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < NROWS(orows); i++)
		add_test(pool_name("order: %s", orows[i].name),
		    test_order_row, (void *)&orows[i]);
	add_test("order: the preference's port is not compared",
	    test_order_port_ignored, NULL);
	add_test("order: other families dropped",
	    test_order_other_families_dropped, NULL);
	return unit_run("test_eyeballs", NULL, NULL);
}
