/*
 * Reading ssh's error output: what each line says about the session.
 * Pure string matching on the messages of OpenSSH 8.x and 9.x, kept in
 * one table so that a new OpenSSH wording is a one-line change.
 */
#ifndef AUTOSSH_SSHOUT_H
#define AUTOSSH_SSHOUT_H

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
 * The line without ssh's "debug1: " style prefix, for logging; points
 * into line.
 */
const char *sshout_text(const char *line);

#endif
