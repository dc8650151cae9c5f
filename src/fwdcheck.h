/*
 * Forward health (DESIGN.md §Forward health): whether the server can
 * reach each LocalForward's target.  ssh reports every channel it opens
 * for a forward at LogLevel DEBUG1; this module reads those lines (a
 * user's connection and our own check alike), keeps one state per
 * forward and says what changed.  The check itself is a connect to the
 * forward's local port, held a moment and closed.  A refused target is
 * not a dead tunnel: nothing here restarts ssh.
 */
#ifndef AUTOSSH_FWDCHECK_H
#define AUTOSSH_FWDCHECK_H

#include <stdint.h>

#include "sshcfg.h"

#define FWD_HOLD_MS	500	/* keep a check's connection this long */
/* --check-forwards unset: check when up and after a failed connection. */
#define FWD_CHECK_ALWAYS (-1)

enum fwd_health {
	FWD_UNKNOWN,		/* not seen since the session came up */
	FWD_OK,			/* the server opened a channel to it */
	FWD_REFUSED,		/* the server could not reach the target */
};

struct fwd {
	char	 bind[64];	/* "" or the address ssh listens on */
	int	 port;		/* ssh's listen port */
	char	 host[128];	/* the target, as the server sees it */
	int	 host_port;
	enum fwd_health health;
	char	 why[96];	/* ssh's reason when FWD_REFUSED */
	int	 fd;		/* our check's connection, or -1 */
};

struct fwdcheck {
	struct fwd f[SSHCFG_FWD_MAX];
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
};

/*
 * Take the LocalForward values of c (as ssh -G prints them).  Socket
 * paths are kept but never checked.  interval_s is --check-forwards.
 * Pure.
 */
void	fwdcheck_init(struct fwdcheck *fc, const struct sshcfg *c,
	    int interval_s);

/*
 * One line of ssh's output.  Returns 1 if a forward's health changed
 * (then fwdcheck_text() says the new state), 0 if not.  Pure.
 */
int	fwdcheck_line(struct fwdcheck *fc, const char *line);

/* The session came up (now) or went down: schedule, or forget. */
void	fwdcheck_up(struct fwdcheck *fc, int64_t now);
void	fwdcheck_down(struct fwdcheck *fc);

/* The next time fwdcheck_run() has work, or NEVER. */
int64_t	fwdcheck_deadline(const struct fwdcheck *fc);

/*
 * Open the due checks (non-blocking connects) or close the held ones.
 * Never blocks; a failing connect is logged at debug and ignored (ssh
 * not listening is the liveness layer's business).
 */
void	fwdcheck_run(struct fwdcheck *fc, int64_t now);

/*
 * The health in one phrase: "" when no forward is known to be refused,
 * else "forward 22883→localhost:1883: target refused on the server"
 * (the first refused one).  Returns the length as snprintf does.
 */
int	fwdcheck_text(const struct fwdcheck *fc, char *buf, size_t len);

/* Do all checked forwards answer OK?  For -f --wait. */
int	fwdcheck_healthy(const struct fwdcheck *fc);

#endif
