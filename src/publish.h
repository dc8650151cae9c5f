/*
 * Telling the world what the supervisor is doing: the state file for
 * --status, systemd's notifications (with the watchdog's pings) and the
 * -f --wait pipe to the parent (waitpipe.h).  Driven by the loop after
 * each decision; reads the daemon, never feeds the state machine.
 */
#ifndef AUTOSSH_PUBLISH_H
#define AUTOSSH_PUBLISH_H

#include <limits.h>
#include <stdint.h>

#include "state.h"
#include "supervise.h"

struct daemon;

struct publisher {
	char		 state_dir[PATH_MAX];	/* "": nothing published */
	char		 name[MAX_NAME + 16];
	long		 serial;		/* of the last state file */
	int		 have_start;	/* start_time is known */
	unsigned long long start_time;	/* ours, for --status to prove */
	int		 stopping_sent;	/* STOPPING=1 went to systemd */
	int		 wait_fd;	/* -f --wait: pipe to the parent */
	int64_t		 watchdog_ms;	/* 0: no systemd watchdog */
	int64_t		 next_watchdog;	/* NEVER without one */
};

/* Nothing published yet; no pipe, no watchdog. */
void	publish_clear(struct publisher *p);

/*
 * Choose the instance name and the state directory (d->cfg, d->pidfile),
 * and say we are starting.  A name already published by another running
 * autossh gets ".<pid>" appended, with a warning.  A directory that is
 * not ours alone is refused with a warning: nothing is published then.
 */
void	publish_init(struct publisher *p, const struct daemon *d,
	    int64_t now);

/* After sv_handle(): publish what out says changed. */
void	publish_change(struct publisher *p, const struct daemon *d,
	    const struct sv_out *out, int64_t now);

/*
 * A forward's health changed; news: the phrase shown changed
 * (fwdcheck_news()).  With news, or while -f --wait's parent waits for
 * healthy forwards, rewrite the state file and, while up, tell the
 * parent and systemd's STATUS= (DESIGN.md §Forward health).
 */
void	publish_forwards(struct publisher *p, const struct daemon *d,
	    int news, int64_t now);

/* Rewrite the state file now (SIGUSR2, a new connection). */
void	publish_refresh(struct publisher *p, const struct daemon *d,
	    int64_t now);

/* When the systemd watchdog wants its next ping, or NEVER. */
int64_t	publish_deadline(const struct publisher *p);

/* Ping the systemd watchdog if it is due at now. */
void	publish_tick(struct publisher *p, int64_t now);

/* At exit: remove the state file, tell systemd, close the wait pipe. */
void	publish_exit(struct publisher *p, const struct daemon *d);

#endif
