/*
 * Signals, the self-pipe way: handlers set a per-signal flag and write
 * a byte to a non-blocking pipe that the poll loop watches.  The flags
 * are the truth; the pipe only wakes the loop, so a full pipe loses
 * nothing.  The signal mask stays empty outside sig_block()/sig_restore()
 * so that ssh never inherits blocked signals.
 */
#ifndef AUTOSSH_SIG_H
#define AUTOSSH_SIG_H

#include <signal.h>

/*
 * Create the pipe and install handlers for CHLD (SA_NOCLDSTOP), TERM,
 * INT, QUIT, HUP, USR1 and USR2; ignore PIPE.  Returns 0, or -1 with
 * errno set.
 */
int	sig_init(void);

/* The read end of the pipe, for poll(); -1 before sig_init(). */
int	sig_fd(void);

/* Empty the pipe.  Never blocks. */
void	sig_drain(void);

/*
 * Return 1 and clear the flag if signo arrived since the last call.
 * Safe against a signal arriving during the call.
 */
int	sig_take(int signo);

/* Raise the flag for signo and wake the loop, as a handler would. */
void	sig_post(int signo);

/*
 * Block every signal, saving the old mask; sig_restore() puts it back.
 * Used around fork() so that no handler runs in the child before it
 * resets the dispositions.
 */
void	sig_block(sigset_t *saved);
void	sig_restore(const sigset_t *saved);

/* In a new child: every signal back to SIG_DFL, mask emptied. */
void	sig_reset_child(void);

/* Close the pipe (in tests, and in children that do not exec). */
void	sig_close(void);

#endif
