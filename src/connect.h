/*
 * The helper's end of the liveness layer's connection (see conn.h for
 * the whole picture): the parameters the supervisor sends, and the
 * helper's main function.
 */
#ifndef AUTOSSH_CONNECT_H
#define AUTOSSH_CONNECT_H

#include <sys/socket.h>

#include <stddef.h>

#include "conn.h"

/*
 * The helper: run as `autossh --fdpass-helper NAME` by ssh.  Returns the
 * exit status: 0 once the socket is passed, 255 when the connection
 * cannot be made (the reason, in ssh's words, goes to the supervisor,
 * which logs it), 1 on misuse (with a line on stderr).
 */
int	conn_helper_main(const char *name);

/*
 * Parse the parameters a helper receives (exposed for the unit tests
 * and a fuzz target).  Returns 0, or -1 when a field is missing or bad.
 */
struct conn_params {
	char	host[256];
	char	port[8];
	int	family;
	int	timeout_ms;		/* 0: none */
	int	idle_s, intvl_s, cnt, user_timeout_ms;
	char	bind_address[64];
	char	bind_interface[32];
	struct sockaddr_storage reuse;	/* ss_family AF_UNSPEC: none */
	int	reuse_ms;		/* the life of one attempt from it */
};
int	conn_parse_params(const char *text, size_t len, struct conn_params *p);

#endif
