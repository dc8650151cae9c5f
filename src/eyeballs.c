/*
 * The order of a helper's connection attempts (RFC 8305 §4): the
 * remembered address first, then the families interleaved so that a
 * broken family costs one stagger, not a whole family's worth of
 * timeouts.  Which addresses exist and when attempts start are
 * connect.c's.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <string.h>

#include "eyeballs.h"

/* Same family and address; ports and IPv6 scopes are not compared. */
static int
same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (b == NULL || a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 0;
}

int
eyeballs_order(const struct sockaddr *const *addrs, int n, int family,
    const struct sockaddr_storage *prefer, int *order)
{
	int i, k = 0, pref = -1, first = AF_UNSPEC, turn;
	int at[2] = { 0, 0 };	/* the next candidate of each family */

	for (i = 0; i < n; i++) {
		int f = addrs[i]->sa_family;

		if ((f != AF_INET && f != AF_INET6) ||
		    (family != AF_UNSPEC && f != family))
			continue;
		if (first == AF_UNSPEC)
			first = f;
		if (pref == -1 && same_host(addrs[i], prefer))
			pref = i;
	}
	if (first == AF_UNSPEC)
		return 0;
	if (pref != -1) {
		order[k++] = pref;
		turn = addrs[pref]->sa_family == AF_INET ? AF_INET6 : AF_INET;
	} else
		turn = first;
	/* at[0] walks the IPv4 addresses, at[1] the IPv6 ones. */
	for (;;) {
		int s = turn == AF_INET6, other = !s, got = -1;

		for (i = at[s]; i < n; i++) {
			if (addrs[i]->sa_family == turn && i != pref &&
			    (family == AF_UNSPEC || family == turn)) {
				got = i;
				break;
			}
		}
		at[s] = got == -1 ? n : got + 1;
		if (got != -1)
			order[k++] = got;
		else if (at[other] >= n)
			break;
		turn = turn == AF_INET ? AF_INET6 : AF_INET;
	}
	return k;
}
