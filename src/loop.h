/*
 * The event loop: the program's only blocking point.  It polls the
 * signal pipe and ssh's output until the supervisor's next deadline,
 * turns what happened into events, and carries out the actions.
 */
#ifndef AUTOSSH_LOOP_H
#define AUTOSSH_LOOP_H

#include <limits.h>

#include "child.h"
#include "config.h"
#include "connect.h"
#include "liveness.h"
#include "sshcfg.h"
#include "supervise.h"

/* Everything the running supervisor owns, passed around by pointer. */
struct daemon {
	const struct config *cfg;
	char		 ssh_path[PATH_MAX];
	char		 pidfile[PATH_MAX];	/* absolute, or "" */
	int		 pidfile_fd;
	struct sv	 sv;
	struct child	 ssh;
	struct sshcfg	 sshcfg;	/* ssh -G, read once at start */
	struct liveness	 live;
	struct conn	 conn;		/* LIVE_SOCKET only; else fds -1 */
	int		 markers;	/* ssh reports its milestones */
	int		 session_seen;	/* this ssh entered its session */
	int		 rfwd_done;	/* ... and its -R were answered */
};

/*
 * Run until the supervisor decides to exit; returns the exit status.
 * ssh is gone (reaped) when this returns.
 */
int	loop_run(struct daemon *d);

/*
 * Kill and reap ssh at once, for fatal().  Blocks at most briefly;
 * safe to call when no ssh runs.
 */
void	loop_emergency_stop(struct daemon *d);

#endif
