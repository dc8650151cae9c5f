/*
 * The published state (DESIGN.md §Published state): a small text file
 * per instance in a runtime directory, replaced atomically on every
 * transition, read back by `autossh --status` (status.h).  The file holds
 * facts only (no secrets): state, pids, counters, the last exit and its
 * reason, and the connection's figures when the socket is ours.
 */
#ifndef AUTOSSH_STATE_H
#define AUTOSSH_STATE_H

#include <sys/types.h>

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>

/* Everything a state file says. */
struct state {
	char	 name[72];
	char	 destination[256];
	long	 pid;		/* 1..INT_MAX in a valid file */
	int	 have_start;	/* start_time is known */
	unsigned long long start_time;	/* of pid: ticks after boot */
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
	char	 preferred[64];		/* the server address that worked
					   last, tried first; "" none */
	char	 forwards[192];		/* "": healthy or unknown; else
					   fwdcheck_text() */
	/* With fallbacks only (DESIGN.md §Fallbacks); "" otherwise. */
	char	 destination_in_use[256];
	char	 destination_reason[320];
};

/*
 * The directory for state files: /run/autossh as root, else
 * $XDG_RUNTIME_DIR/autossh, else the pidfile's directory (pidfile may be
 * NULL).  Returns 0 with the path in out, or -1 when there is none.
 * Whether the directory may be used is state_dir_check()'s business.
 */
int	state_dir(const char *pidfile, char *out, size_t len);

/*
 * May dir hold state files?  It must be a directory itself (not a
 * symbolic link), owned by the effective uid and writable by nobody
 * else: whoever else can write there can plant files that --status
 * trusts, or a FIFO that blocks us.  With create set, a missing dir is
 * made (mode 0700) first.  Returns 0, or -1 with errno set (ENOENT,
 * ENOTDIR, EPERM for the wrong owner or mode, ...) and the reason in
 * why.
 */
int	state_dir_check(const char *dir, int create, char *why, size_t len);

/*
 * The start time of process pid (field 22 of /proc/PID/stat, clock
 * ticks after boot), which with the pid names one process for the life
 * of a boot.  Returns 0, or -1 with errno set (ENOENT: no such process).
 */
int	state_pid_starttime(long pid, unsigned long long *out);

/*
 * The start time in the text of a /proc/PID/stat file (len bytes, not
 * NUL-terminated).  The command name in it may hold any byte, ')' and
 * spaces included.  Returns 0, or -1 with errno EINVAL.  Pure.
 */
int	state_parse_starttime(const char *text, size_t len,
	    unsigned long long *out);

/*
 * Is the instance st describes still the process that wrote it?  1:
 * proven (the pid is alive and started when the file says); 0: proven
 * stale (the pid is gone, or now belongs to a process that started at
 * another time); -1: cannot tell (the file gives no start time, or /proc
 * cannot be read).  Only 1 allows signalling the pid.
 */
int	state_alive(const struct state *st);

/*
 * Turn a destination such as "user@host" into a name usable as a file
 * name (characters outside A-Za-z0-9._@:+- become '_').
 */
void	state_default_name(const char *destination, char *out, size_t len);

/*
 * Write st as dir/name.state through a temporary file and rename(2),
 * creating dir (0700) if needed, never following symbolic links; the
 * file's mode is 0600.  Refuses a dir that state_dir_check() refuses.
 * Returns 0, or -1 with errno set.
 */
int	state_write(const char *dir, const struct state *st);

/*
 * Remove the state files in dir whose process is proven gone (an
 * instance that was SIGKILLed cannot clean up); see state_alive().
 * Errors are ignored.
 */
void	state_sweep(const char *dir);

/* Remove dir/name.state (at exit).  Errors are ignored. */
void	state_remove(const char *dir, const char *name);

/* Serialise st into buf (NUL-terminated).  Returns the length, or -1. */
int	state_format(const struct state *st, char *buf, size_t len);

/*
 * Parse a state file's text.  Unknown keys are ignored and bad values
 * leave fields at their defaults; returns 0, or -1 when the text is not
 * a state file at all (no name, or no pid in 1..INT_MAX).  Never reads
 * past len.
 */
int	state_parse(const char *text, size_t len, struct state *st);

/*
 * Read and parse dir/name.state, which must be a regular file owned by
 * the effective uid, writable by nobody else, at most 8 KiB, and name
 * itself (its name line).  Never blocks: a FIFO or a device is refused
 * without being read.  Returns 0, or -1 with errno set (EINVAL: not a
 * state file; EPERM: wrong owner or mode).
 */
int	state_read(const char *dir, const char *name, struct state *st);

/*
 * Send sig to the instance st describes, only if state_alive() proves
 * it is that instance, through a pidfd where the kernel has them.
 * Returns 0, or -1 with errno set (ESRCH: not proven).
 */
int	state_signal(const struct state *st, int sig);

/*
 * The next instance name in an open state directory: NAME for each
 * NAME.state file.  Returns 1 with the name in name, or 0 at the end.
 */
int	state_next_name(DIR *dp, char *name, size_t len);

#endif
