/*
 * The published state (DESIGN.md §Published state): a small text file
 * per instance in a runtime directory, replaced atomically on every
 * transition, and the reader behind `autossh --status`.  The file holds
 * facts only (no secrets): state, pids, counters, the last exit and its
 * reason, and the connection's figures when the socket is ours.
 */
#ifndef AUTOSSH_STATE_H
#define AUTOSSH_STATE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* Everything a state file says. */
struct state {
	char	 name[72];
	char	 destination[256];
	long	 pid;
	char	 state[16];		/* "connecting", "up", ... */
	int64_t	 since_ms;		/* CLOCK_MONOTONIC of the transition */
	int64_t	 since_unix;		/* the same moment, wall clock */
	int64_t	 written_ms;		/* CLOCK_MONOTONIC of this write */
	long	 serial;		/* incremented on every write */
	long	 ssh_pid;		/* 0: none */
	int	 starts;
	int64_t	 retry_ms;		/* backing off: next start; else 0 */
	int	 last_status;		/* -1: none; exit status */
	int	 last_signal;		/* 0: none */
	int64_t	 last_lived_ms;
	char	 last_reason[256];
	char	 liveness[256];		/* the plan, in words */
	int	 detect_s;
	long	 keepalive_bytes_day;
	int	 have_tcp;		/* the figures below are known */
	char	 local[64];
	char	 remote[64];
	long	 rtt_us;
	unsigned long long bytes_sent;
	unsigned long long bytes_received;
	int	 evictions;		/* stale sessions cleared */
};

/*
 * The directory for state files: /run/autossh as root, else
 * $XDG_RUNTIME_DIR/autossh, else the pidfile's directory (pidfile may be
 * NULL).  Returns 0 with the path in out, or -1 when there is none.
 */
int	state_dir(const char *pidfile, char *out, size_t len);

/*
 * Turn a destination such as "user@host" into a name usable as a file
 * name (characters outside A-Za-z0-9._@:+- become '_').
 */
void	state_default_name(const char *destination, char *out, size_t len);

/*
 * Write st as dir/name.state through a temporary file and rename(2),
 * creating dir (0755) if needed, never following symbolic links; the
 * file's mode is 0644.  Returns 0, or -1 with errno set.
 */
int	state_write(const char *dir, const struct state *st);

/*
 * Remove the state files in dir whose process is gone (an instance that
 * was SIGKILLed cannot clean up).  Errors are ignored.
 */
void	state_sweep(const char *dir);

/* Remove dir/name.state (at exit).  Errors are ignored. */
void	state_remove(const char *dir, const char *name);

/* Serialise st into buf (NUL-terminated).  Returns the length, or -1. */
int	state_format(const struct state *st, char *buf, size_t len);

/*
 * Parse a state file's text.  Unknown keys are ignored and bad values
 * leave fields at their defaults; returns 0, or -1 when the text is not
 * a state file at all (no name or no pid).  Never reads past len.
 */
int	state_parse(const char *text, size_t len, struct state *st);

/* Read and parse dir/name.state.  Returns 0, or -1 with errno set. */
int	state_read(const char *dir, const char *name, struct state *st);

/*
 * `autossh --status [target] [--json]`: print the state of the instance
 * named target, or of the one whose pidfile is target (a path), or of
 * every instance when target is NULL.  Returns the exit status: 0 when
 * at least one running instance was shown, 1 otherwise.
 */
int	state_status_main(const char *target, const char *pidfile, int json);

#endif
