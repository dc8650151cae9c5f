/*
 * The order in which the helper tries a host's addresses (RFC 8305 §4,
 * DESIGN.md §Liveness): the address that worked last time first, then
 * the families alternating.  Pure; connect.c paces the attempts.
 */
#ifndef AUTOSSH_EYEBALLS_H
#define AUTOSSH_EYEBALLS_H

#include <sys/socket.h>

/* The pause before an attempt to an address not yet tried (RFC 8305 §5). */
#define EYEBALLS_STAGGER_MS	250

/*
 * Order the n addresses addrs[] (the resolver's answer, already sorted
 * by RFC 6724) for connecting.  Only AF_INET and AF_INET6 addresses of
 * the wanted family (AF_UNSPEC: both) are kept.  The address equal to
 * *prefer (same family and address; the port is not compared) goes
 * first; prefer may be NULL or of family AF_UNSPEC.  The rest alternate
 * between the families, each in the resolver's order, starting with the
 * family that did not go first when a preferred address did, else with
 * the family of the resolver's first address; when one family runs out
 * the other follows.  Writes the indexes into addrs[] to order[] (room
 * for n) and returns how many were kept.  Pure: no allocation, no
 * system calls.
 */
int	eyeballs_order(const struct sockaddr *const *addrs, int n, int family,
	    const struct sockaddr_storage *prefer, int *order);

#endif
