/*
 * The ssh process: spawning it with clean signal state and descriptors,
 * signalling it, and reading its error output line by line.  Reaping is
 * the loop's (one waitpid(-1) loop for every child); this module is told
 * when its process has gone.
 */
#ifndef AUTOSSH_CHILD_H
#define AUTOSSH_CHILD_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "supervise.h"

/* Longest line of ssh output kept; longer lines are split. */
#define CHILD_LINE_MAX	1024

/* child_read() result bits besides (1u << enum ssh_mark). */
#define CHILD_EOF	0x10000u
#define CHILD_FWD	0x20000u	/* on_line returned 1 */

struct child {
	pid_t		 pid;		/* 0: no process */
	int		 errfd;		/* ssh's stderr, or -1 */
	int64_t		 started_ms;
	enum ssh_cause	 cause;		/* the strongest cause seen */
	char		 reason[256];	/* the line that gave the cause */
	char		 last[256];	/* the last non-debug line */
	size_t		 len;		/* bytes in buf */
	/*
	 * Each whole line, also, to on_line(line_ctx, line) if set; set
	 * after child_spawn(), which clears it.
	 */
	int		(*on_line)(void *, const char *);
	void		*line_ctx;
	char		 buf[CHILD_LINE_MAX];
};

/* An empty child: no process, no descriptor. */
void	child_init(struct child *c);

/*
 * Start path with argv (NULL-terminated), stdin and stdout inherited and
 * stderr on a pipe read by child_read(), in directory cwd when it is not
 * NULL and still exists.  The child gets SIGKILL when we die
 * (PR_SET_PDEATHSIG), default signal dispositions and an empty mask.
 * Returns the pid once exec has succeeded, or -1 with errno set (the
 * exec's errno when exec failed; that child is already reaped).
 */
pid_t	child_spawn(struct child *c, const char *path, char *const argv[],
	    const char *cwd, int64_t now);

/*
 * In a child between fork and exec: have the kernel send SIGKILL when
 * the parent dies (PR_SET_PDEATHSIG, kept across exec), and fail if the
 * parent, whose pid is taken before the fork, has already gone, because
 * the request only covers deaths after it.  Returns 0, or -1 with errno
 * set (ESRCH for a parent already gone).  Async-signal-safe.
 */
int	child_die_with_parent(pid_t parent);

/* Send sig to the process if there is one.  Returns 0 or -1/errno. */
int	child_signal(const struct child *c, int sig);

/*
 * Read what ssh has written, log each complete line and classify it.
 * Returns a mask of (1u << mark) for the milestones seen, plus CHILD_EOF
 * once the pipe is closed (then errfd is closed and set to -1).
 * Never blocks.
 */
unsigned child_read(struct child *c);

/*
 * The process has been reaped: read what is left in the pipe, close it
 * and forget the pid.  Returns child_read()'s milestone mask.
 */
unsigned child_gone(struct child *c);

/*
 * Record line (from someone speaking for ssh, such as the connection
 * helper) as if ssh had written it: it becomes the exit's reason unless
 * ssh said something of a graver cause.  An empty line says nothing.
 */
void	child_note(struct child *c, const char *line);

/*
 * The reason to report for the last exit: the line that gave the cause,
 * else the last line ssh wrote, else "".
 */
const char *child_reason(const struct child *c);

/*
 * Find an executable: a name with a '/' is checked as it is, another
 * is searched in PATH (or "/usr/bin:/bin" when PATH is unset).  On
 * success, out holds the path and 0 is returned; on failure -1 with
 * errno set (ENOENT, EACCES, ENAMETOOLONG).
 */
int	child_find_program(const char *name, char *out, size_t len);

#endif
