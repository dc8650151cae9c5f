/*
 * Telling the world what the supervisor is doing: the state file for
 * --status, systemd's notifications, and the --wait pipe to a -f
 * parent.  Called by the loop after each decision; makes none itself.
 */
#ifndef AUTOSSH_PUBLISH_H
#define AUTOSSH_PUBLISH_H

#include "loop.h"
#include "supervise.h"

/*
 * Choose the instance name and the state directory, and say we are
 * starting.  A name already published by another running autossh gets
 * ".<pid>" appended, with a warning.
 */
void	publish_init(struct daemon *d);

/* After sv_handle(): publish what out says changed. */
void	publish_after(struct daemon *d, const struct sv_out *out);

/* Rewrite the state file now (SIGUSR2, a new connection). */
void	publish_refresh(struct daemon *d);

/* At exit: remove the state file, tell systemd, close the wait pipe. */
void	publish_exit(struct daemon *d);

#endif
