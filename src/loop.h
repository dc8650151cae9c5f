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
#include "conn.h"
#include "hsslot.h"
#include "liveness.h"
#include "monitor.h"
#include "netwatch.h"
#include "sshcfg.h"
#include "state.h"
#include "supervise.h"

/* Everything the running supervisor owns, passed around by pointer. */
struct daemon {
	const struct config *cfg;
	char		 ssh_path[PATH_MAX];
	char		 pidfile[PATH_MAX];	/* absolute, or "" */
	char		 cwd[PATH_MAX];		/* where we started, for ssh */
	int		 pidfile_fd;
	struct sv	 sv;
	struct child	 ssh;
	struct sshcfg	 sshcfg;	/* ssh -G, read once at start */
	struct liveness	 live;
	struct conn	 conn;		/* LIVE_SOCKET only; else fds -1 */
	struct hsslot	 hs;		/* handshake slots; fd -1 when none
					   is held or there are none */
	struct monitor	 mon;		/* -M; off when mon.port is 0 */
	struct netwatch	 nw;		/* fd -1 when unavailable */
	int64_t		 net_due;	/* a debounced change, or NEVER */
	char		 net_what[NW_WHATSIZ];
	int		 markers;	/* ssh reports its milestones */
	int		 session_seen;	/* this ssh entered its session */
	int		 rfwd_done;	/* ... and its -R were answered */
	/* What operators see (publish.c). */
	char		 state_dir[PATH_MAX];	/* "": nothing published */
	char		 name[MAX_NAME + 16];
	long		 serial;
	int		 have_start;	/* start_time is known */
	unsigned long long start_time;	/* ours, for --status to prove */
	int		 stopping_sent;	/* STOPPING=1 went to systemd */
	int		 wait_fd;	/* -f --wait: pipe to the parent */
	int64_t		 watchdog_ms;	/* 0: no systemd watchdog */
	int64_t		 next_watchdog;
	int		 outage;	/* a working tunnel lost its link */
	int		 outage_tries;	/* ssh starts since then */
	int		 evictions;	/* stale sessions cleared */
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
