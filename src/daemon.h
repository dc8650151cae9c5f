/*
 * Everything the running supervisor owns, in one struct passed by
 * pointer (DESIGN.md §Modules).  Each member belongs to the module named
 * beside it, which decides about it through its own functions; the loop
 * (loop.c) only hands events between them.
 */
#ifndef AUTOSSH_DAEMON_H
#define AUTOSSH_DAEMON_H

#include <limits.h>

#include "child.h"
#include "config.h"
#include "conn.h"
#include "fwdcheck.h"
#include "hsslot.h"
#include "liveness.h"
#include "monitor.h"
#include "netwatch.h"
#include "probe.h"
#include "publish.h"
#include "sshcfg.h"
#include "sshout.h"
#include "supervise.h"

struct daemon {
	/* Set up by main.c, read-only afterwards. */
	const struct config *cfg;
	char		 ssh_path[PATH_MAX];
	char		 pidfile[PATH_MAX];	/* absolute, or "" */
	char		 cwd[PATH_MAX];		/* where we started, for ssh */
	int		 pidfile_fd;
	struct sshcfg	 sshcfg;	/* ssh -G, read once at start */
	struct liveness	 live;		/* liveness.c: the plan */
	/* Each destination's ssh -G (DESIGN.md §Fallbacks); [0] = sshcfg. */
	struct sshcfg	 dest_cfg[MAX_FALLBACKS + 1];
	struct probe	 probe;		/* probe.c: the primary, while on a
					   fallback */

	struct sv	 sv;		/* supervise.c: state, outage */
	struct child	 ssh;		/* child.c: the running ssh */
	struct milestones ms;		/* sshout.c: what ssh reported */
	struct conn	 conn;		/* conn.c: LIVE_SOCKET only; else
					   fds -1 */
	struct hsslot	 hs;		/* hsslot.c: fd -1 when no slot is
					   held or there are none */
	struct monitor	 mon;		/* monitor.c: off when mon.port 0 */
	struct netwatch	 nw;		/* netwatch.c: fd -1 when
					   unavailable; settling changes */
	struct publisher pub;		/* publish.c: state file, systemd,
					   the --wait parent */
	struct fwdcheck	 fwd;		/* fwdcheck.c: forward health */
};

#endif
