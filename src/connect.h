/*
 * The helper's end of the liveness layer's connection (see conn.h for
 * the whole picture): the parameters the supervisor sends, and the
 * helper's main function.
 */
#ifndef AUTOSSH_CONNECT_H
#define AUTOSSH_CONNECT_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/*
 * The helper: run as `autossh --fdpass-helper NAME` by ssh.  Returns the
 * exit status: 0 once the socket is passed, 255 when the connection
 * cannot be made (the reason, in ssh's words, goes to the supervisor,
 * which logs it), 1 on misuse (with a line on stderr).
 */
int	connect_helper_main(const char *name);

/*
 * Parse the parameters a helper receives (exposed for the unit tests
 * and a fuzz target).  Returns 0, or -1 when a field is missing or bad.
 */
struct connect_params {
	char	host[256];
	char	port[8];
	int	family;
	int	timeout_ms;		/* 0: none */
	int	idle_s, intvl_s, cnt, user_timeout_ms;
	char	bind_address[64];
	char	bind_interface[32];
	struct sockaddr_storage reuse;	/* ss_family AF_UNSPEC: none */
	int	reuse_ms;		/* the life of one attempt from it */
	int	outage_ms;		/* a working session was lost this
					   long ago; -1: none since the last */
};
int	connect_parse_params(const char *text, size_t len,
	    struct connect_params *p);

/*
 * How long the helper waits before asking again once every address has
 * refused (exposed for the unit tests).  outage_ms: how long ago a
 * working session was lost, -1 when none was; refused_for_ms: how long
 * this helper has been refused; n: its refusals so far (0 at the
 * first); rnd: a uniform random number for the jitter.  Within 12 s of
 * a lost session: 0.1 s at the first refusal, then 0.15 s.  Otherwise
 * 1 s, until the helper has been refused for 10 s: then -1, give up.
 * Each wait is jittered to 0.5 to 1.5 times its interval.  Pure.
 */
int64_t	connect_refused_wait_ms(int64_t outage_ms,
	    int64_t refused_for_ms, int n, uint16_t rnd);

#endif
