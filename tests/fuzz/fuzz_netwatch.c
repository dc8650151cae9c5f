/*
 * Fuzz target: rtnetlink messages (nlparse_buf(), the parser behind
 * netwatch).
 *
 * Input: one flags byte, then a buffer of netlink messages as one
 * recv(2) on a NETLINK_ROUTE socket returns them.
 *   flags bits 0-2: the tunnel's local address (none, AF_UNSPEC,
 *     10.9.0.1, ::ffff:10.9.0.1, fd00::1, fe80::1 scope 2, fe80::1
 *     scope 0, 127.0.0.1)
 *   flags bits 3-4: misalignment of the buffer (0..3 bytes)
 * The buffer is parsed twice over one memory, so that the second pass
 * meets links and addresses the first one remembered.
 *
 * Checks: no read outside the buffer (it sits in an exact-size heap
 * block, so ASan sees one byte too far), -1 only with EBADMSG, a
 * consistent summary (a kind iff a count, a printable description),
 * NW_ADDR_LOST only for the given local address, and a sane memory.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "nlparse.h"

static struct nw_memory mem;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

static const struct sockaddr_storage *
make_local(unsigned which, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	switch (which) {
	case 0:
		return NULL;
	case 1:
		ss->ss_family = AF_UNSPEC;
		break;
	case 2:
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, "10.9.0.1", &sin->sin_addr);
		break;
	case 3:
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "::ffff:10.9.0.1", &sin6->sin6_addr);
		break;
	case 4:
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "fd00::1", &sin6->sin6_addr);
		break;
	case 5:
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "fe80::1", &sin6->sin6_addr);
		sin6->sin6_scope_id = 2;
		break;
	case 6:
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "fe80::1", &sin6->sin6_addr);
		break;
	default:
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
		break;
	}
	return ss;
}

/* The address lost is the local one (an IPv4-mapped one as IPv4). */
static int
same_addr(const struct sockaddr_storage *lost,
    const struct sockaddr_storage *local)
{
	const struct sockaddr_in *a4 = (const void *)lost;
	const struct sockaddr_in6 *a6 = (const void *)lost;
	const struct sockaddr_in *l4 = (const void *)local;
	const struct sockaddr_in6 *l6 = (const void *)local;

	if (local->ss_family == AF_INET)
		return lost->ss_family == AF_INET &&
		    memcmp(&a4->sin_addr, &l4->sin_addr, 4) == 0;
	if (IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr))
		return lost->ss_family == AF_INET &&
		    memcmp(&a4->sin_addr, &l6->sin6_addr.s6_addr[12], 4) == 0;
	return lost->ss_family == AF_INET6 &&
	    memcmp(&a6->sin6_addr, &l6->sin6_addr, 16) == 0;
}

static void
check_event(int rc, int e, const struct nw_event *ev,
    const struct sockaddr_storage *local)
{
	size_t i, n;

	CHECK(rc == 0 || (rc == -1 && e == EBADMSG));
	CHECK(ev->kind == NW_NONE || ev->kind == NW_CHANGE ||
	    ev->kind == NW_ADDR_LOST);
	CHECK((ev->kind == NW_NONE) == (ev->count == 0));
	CHECK(memchr(ev->what, '\0', sizeof(ev->what)) != NULL);
	n = strlen(ev->what);
	CHECK((ev->kind == NW_NONE) == (n == 0));
	for (i = 0; i < n; i++)
		CHECK(ev->what[i] >= ' ' && ev->what[i] < 0x7f);
	if (ev->kind == NW_ADDR_LOST) {
		CHECK(local != NULL && (local->ss_family == AF_INET ||
		    local->ss_family == AF_INET6));
		CHECK(same_addr(&ev->addr, local));
	}
}

static void
check_memory(const struct nw_memory *w)
{
	size_t i;

	for (i = 0; i < NW_MAX_LINKS; i++) {
		CHECK(w->links[i].ifindex >= 0);
		CHECK(memchr(w->links[i].name, '\0',
		    sizeof(w->links[i].name)) != NULL);
	}
	for (i = 0; i < NW_MAX_ADDRS; i++)
		CHECK(w->addrs[i].family == 0 ||
		    w->addrs[i].family == AF_INET ||
		    w->addrs[i].family == AF_INET6);
	CHECK(w->link_next < NW_MAX_LINKS && w->addr_next < NW_MAX_ADDRS);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	const struct sockaddr_storage *local;
	struct nw_event ev;
	unsigned char *block;
	size_t skew;
	int rc, pass;

	if (size < 1)
		return 0;
	local = make_local(data[0] & 7, &ss);
	skew = (data[0] >> 3) & 3;
	data++;
	size--;
	if ((block = malloc(skew + size > 0 ? skew + size : 1)) == NULL)
		abort();
	memcpy(block + skew, data, size);

	nlparse_reset(&mem);
	for (pass = 0; pass < 2; pass++) {
		errno = 0;
		rc = nlparse_buf(&mem, block + skew, size, local, &ev);
		check_event(rc, errno, &ev, local);
		check_memory(&mem);
	}
	free(block);
	return 0;
}
