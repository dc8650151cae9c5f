/*
 * The helper's end of the liveness layer's connection (see conn.h for
 * the whole picture): the helper's main function and its refusal
 * schedule.  The parameters it receives are connparams.h's.
 */
#ifndef AUTOSSH_CONNECT_H
#define AUTOSSH_CONNECT_H

#include <stdint.h>

/*
 * The helper: run as `autossh --fdpass-helper NAME` by ssh.  Returns the
 * exit status: 0 once the socket is passed, 255 when the connection
 * cannot be made (the reason, in ssh's words, goes to the supervisor,
 * which logs it), 1 on misuse (with a line on stderr).
 */
int	connect_helper_main(const char *name);

/*
 * How long the helper waits before asking again once every address has
 * refused (exposed for the unit tests).  outage_ms: how long ago a
 * working session was lost, -1 when none was; refused_for_ms: how long
 * this helper has been refused; n: its refusals so far (0 at the
 * first); rnd: a uniform random number for the jitter.  Within 12 s of
 * a lost session: 0.1 s at the first refusal, then 0.15 s.  Otherwise
 * 1 s, until the helper has been refused for 10 s: then -1, give up.
 * Each wait is jittered to 0.5 to 1.5 times its interval.  Pure.
 */
int64_t	connect_refused_wait_ms(int64_t outage_ms,
	    int64_t refused_for_ms, int n, uint16_t rnd);

#endif
