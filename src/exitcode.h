/*
 * autossh's exit statuses, defined once (DESIGN.md §Exit rules).
 * autossh 1.4 uses only these two, and so do we, so that scripts keep
 * working.
 */
#ifndef AUTOSSH_EXITCODE_H
#define AUTOSSH_EXITCODE_H

/* ssh finished its job, a limit was reached, or a stop under systemd. */
#define EXIT_OK		0
/* Bad input, a failed first start, a fatal error, or a stop signal. */
#define EXIT_FAIL	1

#endif
