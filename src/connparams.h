/*
 * The parameters a ProxyCommand helper receives from the supervisor over
 * its socket (DESIGN.md §Liveness): what to connect to and how.  conn.c
 * writes them; connect.c reads them with connparams_parse().
 */
#ifndef AUTOSSH_CONNPARAMS_H
#define AUTOSSH_CONNPARAMS_H

#include <sys/socket.h>

#include <stddef.h>

struct connparams {
	char	host[256];
	char	port[8];
	int	family;
	int	timeout_ms;		/* 0: none */
	int	idle_s, intvl_s, cnt, user_timeout_ms;
	char	bind_address[64];
	char	bind_interface[32];
	struct sockaddr_storage reuse;	/* ss_family AF_UNSPEC: none */
	int	reuse_ms;		/* the life of one attempt from it */
	struct sockaddr_storage prefer;	/* the address that worked last;
					   ss_family AF_UNSPEC: none */
	int	outage_ms;		/* a working session was lost this
					   long ago; -1: none since the last */
};

/*
 * Parse len bytes of text (not NUL-terminated, at most 1023) into *p:
 * "host" and "port" are required, other keys keep their defaults when
 * absent, unknown keys are ignored.  Returns 0, or -1 when a field is
 * missing or bad (then *p is unspecified).  Pure: no allocation, no
 * system calls.
 */
int	connparams_parse(const char *text, size_t len, struct connparams *p);

#endif
