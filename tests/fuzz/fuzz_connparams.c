/*
 * Fuzz target: the parameters the ProxyCommand helper receives over its
 * socket (connparams_parse()).  The helper trusts nothing it reads: a
 * bad field must be refused, never half-used.
 *
 * Input: the datagram's bytes, in an exact-size heap block (the parser
 * gets a pointer and a length, not a C string).
 *
 * Checks: on success a non-empty host and every field within the range the
 * helper hands to setsockopt() and connect(); strings terminated inside
 * their arrays; the reuse address (DESIGN.md §Stale sessions) either absent
 * or a real IPv4/IPv6 address with a port.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "connparams.h"
#include "fuzz.h"
#include "log.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct connparams p;
	const struct sockaddr_in *s4 = (const void *)&p.reuse;
	const struct sockaddr_in6 *s6 = (const void *)&p.reuse;
	char *text;
	int rc, port;

	if ((text = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(text, data, size);
	rc = connparams_parse(text, size, &p);
	free(text);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1)
		return 0;
	CHECK(TERMINATED(p.host) && p.host[0] != '\0');
	CHECK(TERMINATED(p.port));
	port = atoi(p.port);
	CHECK(port >= 1 && port <= 65535);
	CHECK(p.family == AF_UNSPEC || p.family == AF_INET ||
	    p.family == AF_INET6);
	CHECK(p.timeout_ms >= 0 && p.user_timeout_ms >= 0);
	CHECK(p.idle_s >= 0 && p.idle_s <= 32767);
	CHECK(p.intvl_s >= 0 && p.intvl_s <= 32767);
	CHECK(p.cnt >= 0 && p.cnt <= 127);
	CHECK(TERMINATED(p.bind_address) && TERMINATED(p.bind_interface));
	CHECK(p.reuse_ms >= 100 && p.reuse_ms <= 60000);
	if (p.reuse.ss_family == AF_INET)
		CHECK(s4->sin_port != 0);
	else if (p.reuse.ss_family == AF_INET6)
		CHECK(s6->sin6_port != 0);
	else
		CHECK(p.reuse.ss_family == AF_UNSPEC);
	return 0;
}
