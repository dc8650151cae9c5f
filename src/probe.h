/*
 * The background check of the primary destination while a fallback is
 * in use (DESIGN.md §Fallbacks): one non-blocking TCP connect to its
 * HostName and Port, no ssh session.  The loop polls its descriptor and
 * its deadline like the monitor's; supervise.c decides when to probe.
 */
#ifndef AUTOSSH_PROBE_H
#define AUTOSSH_PROBE_H

#include <sys/socket.h>

#include <poll.h>
#include <stdint.h>

#include "sshcfg.h"

#define PROBE_EVERY_MS		(60 * 1000)	/* at most once a minute */
#define PROBE_TIMEOUT_MS	(10 * 1000)

struct probe {
	int			 fd;		/* -1: no probe under way */
	int64_t			 end_ms;	/* its deadline, or NEVER */
	char			 host[256];
	int			 port;
	int			 family;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;	/* 0: not resolved yet */
	char			 why[384];	/* the last failure */
};

/*
 * Aim p at c's HostName and Port and resolve them.  Resolving may block
 * (it runs at start-up); when it fails, probe_start() tries again.
 */
void	probe_init(struct probe *p, const struct sshcfg *c);

/*
 * Begin a connect.  Returns 0 when it is under way (poll probe_fd() for
 * POLLOUT), 1 when it succeeded at once, or -1 with the reason in
 * p->why.  Resolving again may block (see probe_init()).
 */
int	probe_start(struct probe *p, int64_t now);

/* The descriptor to poll for POLLOUT, or -1. */
int	probe_fd(const struct probe *p);

/* The deadline of the probe under way, or NEVER. */
int64_t	probe_deadline(const struct probe *p);

/*
 * After poll() (revents of probe_fd(), 0 when not ready) or at the
 * deadline: 1 when the primary answered, -1 with p->why when it did not
 * or the deadline passed, 0 while still pending.  Closes the socket when
 * the probe ends.  Never blocks.
 */
int	probe_check(struct probe *p, short revents, int64_t now);

/* Abandon any probe under way. */
void	probe_close(struct probe *p);

#endif
