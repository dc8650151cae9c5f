/*
 * Reading ssh's error output: what each line says about the session.
 * Pure string matching on the messages of OpenSSH 8.x and 9.x, kept in
 * one table so that a new OpenSSH wording is a one-line change.
 */
#ifndef AUTOSSH_SSHOUT_H
#define AUTOSSH_SSHOUT_H

#include <stddef.h>

#include "supervise.h"

/* Milestones of a session, as ssh reports them at LogLevel DEBUG1. */
enum ssh_mark {
	MARK_NONE,
	MARK_AUTHENTICATED,	/* "Authenticated to ..." */
	MARK_SESSION,		/* "Entering interactive session." */
	MARK_RFWD_DONE,		/* every remote forward was answered */
	MARK_RFWD_FAILED,	/* "remote port forwarding failed ..." */
	MARK_LFWD_FAILED,	/* "Could not request local forwarding." */
};

/* Why a failing ssh failed, judging by this line; CAUSE_NONE if silent. */
enum ssh_cause sshout_cause(const char *line);

/* The level (LOG_LVL_*) at which to log the line. */
int	sshout_level(const char *line);

/* The milestone the line reports, or MARK_NONE. */
enum ssh_mark sshout_mark(const char *line);

/*
 * One ssh's milestones so far (DESIGN.md §Forwards): the tunnel is up
 * once ssh is in its session and every remote forward was answered.
 */
struct milestones {
	int	 markers;	/* ssh reports them (not quiet); set once */
	int	 session;	/* this ssh entered its session */
	int	 rfwd_done;	/* ... and its -R were answered */
};

/* sshout_milestones() results, combined. */
#define MS_AUTHENTICATED 0x1	/* the unauthenticated phase is over */
#define MS_RFWD_FAILED	0x2	/* a remote forward was refused */
#define MS_UP		0x4	/* the tunnel is up */

/* A new ssh: nothing seen yet (markers stays). */
void	sshout_milestones_reset(struct milestones *m);

/*
 * Add seen (bits 1 << MARK_*, as child_read() returns them) from one
 * read of ssh's output, with remote_forwards -R asked for.  Returns the
 * MS_* bits; MS_UP on every read once up (the caller's state machine
 * ignores repeats).  Pure.
 */
unsigned sshout_milestones(struct milestones *m, unsigned seen,
	    int remote_forwards);

/* A forward's channel, as ssh reports it at DEBUG1 (sshout_channel()). */
enum ssh_chan {
	CHAN_NONE,
	CHAN_OPEN_FAILED,	/* the server could not open it: why */
	CHAN_FREED,		/* it closed; port: the forward's port */
};

/*
 * Does the line report a forward's channel?  Sets *chan, and *port for
 * CHAN_FREED or why (ssh's reason) for CHAN_OPEN_FAILED.  Pure.
 */
enum ssh_chan sshout_channel(const char *line, int *chan, int *port,
	    char *why, size_t whylen);

/*
 * The line without ssh's "debug1: " style prefix, for logging; points
 * into line.
 */
const char *sshout_text(const char *line);

#endif
