/*
 * The event loop: the program's only blocking point.  It polls the
 * descriptors of every module until the earliest deadline, turns what
 * happened into state machine events, and carries out the actions.
 */
#ifndef AUTOSSH_LOOP_H
#define AUTOSSH_LOOP_H

#include "daemon.h"

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
