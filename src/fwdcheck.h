/*
 * Forward health (DESIGN.md §Forward health): whether the server can
 * reach each LocalForward's target.  ssh reports every channel it opens
 * for a forward at LogLevel DEBUG1; this module reads those lines (a
 * user's connection and our own check alike), keeps one state per
 * forward and says what changed.  The check itself is a connect to the
 * forward's local port, held a moment and closed.  A RemoteForward's
 * target is on this machine: it is checked with a plain connect, its
 * result read from the socket.  A refused target is not a dead tunnel:
 * nothing here restarts ssh.
 */
#ifndef AUTOSSH_FWDCHECK_H
#define AUTOSSH_FWDCHECK_H

#include <poll.h>
#include <stdint.h>

#include "sshcfg.h"

#define FWD_HOLD_MS	500	/* keep a check's connection this long */
/* --check-forwards unset: check when up and after a failed connection. */
#define FWD_CHECK_ALWAYS (-1)
#define FWD_ADDRS	2	/* a RemoteForward target's addresses tried */
/* Descriptors fwdcheck_pollfds() fills: the RemoteForward checks. */
#define FWD_MAX_FDS	(SSHCFG_FWD_MAX * FWD_ADDRS)

enum fwd_health {
	FWD_UNKNOWN,		/* not seen since the session came up */
	FWD_OK,			/* the server opened a channel to it */
	FWD_REFUSED,		/* the server could not reach the target */
};

struct fwd {
	int	 remote;	/* a RemoteForward: the target is ours */
	char	 bind[64];	/* "" or the address ssh listens on */
	int	 port;		/* ssh's listen port (0: the server picks) */
	char	 host[128];	/* the target, as the server (or we) see it */
	int	 host_port;
	enum fwd_health health;
	char	 why[96];	/* the reason when FWD_REFUSED */
	int	 fd;		/* our check's connection, or -1 */
	/* RemoteForward: a connect per target address, and its result. */
	int	 rfd[FWD_ADDRS];	/* -1 when none is open */
	int	 rerr[FWD_ADDRS];	/* -1 pending or none, 0, or errno */
};

struct fwdcheck {
	struct fwd f[2 * SSHCFG_FWD_MAX];	/* LocalForwards first */
	int	 family;	/* ssh's AddressFamily, for "localhost" */
	int	 n;
	int	 interval_s;	/* 0: off; FWD_CHECK_ALWAYS: see above */
	int	 up;		/* the session is up */
	int64_t	 next_check;	/* NEVER when none is due */
	int64_t	 close_at;	/* NEVER unless checks are held open */
	struct {
		int	 chan;
		char	 why[96];
	}	 failed[8];	/* channels ssh said failed to open */
	int	 nfailed;
	char	 shown[192];	/* the last fwdcheck_news() said, or "" */
};

/*
 * Take the LocalForward and RemoteForward values of c (as ssh -G prints
 * them).  Socket paths are never checked, nor a RemoteForward target
 * named by anything but an address or "localhost" (resolving it could
 * block the loop; logged once at info).  mon_port and echo_port are -M's:
 * the port monitor's own forwards are not the user's and are left out.
 * interval_s is --check-forwards.  No system call but that log line.
 */
void	fwdcheck_init(struct fwdcheck *fc, const struct sshcfg *c,
	    int interval_s, int mon_port, int echo_port);

/*
 * One line of ssh's output.  Returns 1 if a forward's health changed
 * while the session is up (then fwdcheck_news() says what to tell), 0 if
 * not.  Off (interval_s 0), lines are not read.  Pure.
 */
int	fwdcheck_line(struct fwdcheck *fc, const char *line);

/*
 * The session's edges (SV_UP_BEGAN, SV_UP_ENDED): schedule the checks,
 * or close them and forget every forward's health and what was shown.
 * Changes count only in between: fwdcheck_line(), _run() and _event()
 * return 0 outside a session.
 */
void	fwdcheck_up(struct fwdcheck *fc, int64_t now);
void	fwdcheck_down(struct fwdcheck *fc);

/* The next time fwdcheck_run() has work, or NEVER. */
int64_t	fwdcheck_deadline(const struct fwdcheck *fc);

/*
 * Open the due checks (non-blocking connects) or close the held ones.
 * Never blocks; a failing LocalForward connect is logged at debug and
 * ignored (ssh not listening is the liveness layer's business).  A
 * RemoteForward connect that fails at once is its result.  Returns 1 if
 * a forward's health changed, else 0.
 */
int	fwdcheck_run(struct fwdcheck *fc, int64_t now);

/*
 * Fill pfd[0 .. n-1] (n >= FWD_MAX_FDS) with the RemoteForward checks
 * still connecting, fd -1 in unused slots.  Returns FWD_MAX_FDS, or 0
 * when n is too small.
 */
int	fwdcheck_pollfds(const struct fwdcheck *fc, struct pollfd *pfd, int n);

/*
 * Read the checks poll() found done (SO_ERROR) and close them at once.
 * pfd is what fwdcheck_pollfds() filled; a slot whose descriptor is no
 * longer ours is ignored.  Returns 1 if a forward's health changed.
 */
int	fwdcheck_event(struct fwdcheck *fc, const struct pollfd *pfd, int n);

/*
 * The health in one phrase: "" when no forward is known to be refused,
 * else "forward 22883→localhost:1883: target refused on the server" or
 * "forward R 2222→localhost:22: target refused on this machine" (the
 * first refused one).  Returns the length as snprintf does.
 */
int	fwdcheck_text(const struct fwdcheck *fc, char *buf, size_t len);

/* Do all checked forwards answer OK?  For -f --wait. */
int	fwdcheck_healthy(const struct fwdcheck *fc);

/*
 * After a change: what to tell the operator.  Returns 1 and fills line
 * (at *level) when the phrase to show differs from the one shown: the
 * new fwdcheck_text() as a warning, or "forwards healthy again" at info
 * once nothing is refused; 0 when it is the same (unknown to healthy,
 * say).  The new phrase is kept for fwdcheck_shown().  Pure.
 */
int	fwdcheck_news(struct fwdcheck *fc, int *level, char *line, size_t len);

/* The phrase shown since the last news: "" while none is refused. */
const char *fwdcheck_shown(const struct fwdcheck *fc);

#endif
