/*
 * The `autossh --status` client (DESIGN.md §Published state): reads the
 * state files that running instances publish and prints them.  A mode
 * of its own: it runs instead of the supervisor and then exits.
 */
#ifndef AUTOSSH_STATUS_H
#define AUTOSSH_STATUS_H

/*
 * `autossh --status [target] [--json]`: print the state of the instance
 * named target, or of the one whose pidfile is target (a path: one with
 * a '/'), or of every instance when target is NULL; pidfile (may be
 * NULL) helps find the state directory.  Every string is escaped with
 * log_escape() for humans, and is valid UTF-8 in JSON.  Only an instance
 * that state_alive() proves is signalled (SIGUSR2, for fresh figures),
 * and only one asked for by name or pidfile.  Returns the exit status:
 * 0 when at least one running instance was shown, 1 otherwise.
 */
int	status_main(const char *target, const char *pidfile, int json);

#endif
