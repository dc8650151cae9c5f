/*
 * Spawning and talking to ssh.  This module owns ssh's pid and its
 * stderr pipe, and the hygiene of the spawn (signals, descriptors,
 * parent-death signal); it does not decide when to spawn or kill.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "sig.h"
#include "sshout.h"
#include "util.h"

void
child_init(struct child *c)
{
	memset(c, 0, sizeof(*c));
	c->errfd = -1;
}

/* Close every descriptor from 3 up, except keep. */
static void
close_from_3(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

int
child_die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		return -1;
	/* The request covers deaths from now on: check for an earlier one. */
	if (getppid() != parent) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

/* Tell the parent why the child could not exec, and exit. */
static void
child_fail(int statusw, int e)
{
	(void)!write(statusw, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* In the child between fork and exec; never returns. */
static void
exec_child(const char *path, char *const argv[], const char *cwd, int errw,
    int statusw, pid_t parent)
{
	sig_reset_child();
	/* ssh must never outlive us, even if we are SIGKILLed. */
	if (child_die_with_parent(parent) == -1)
		child_fail(statusw, errno);
	if (dup2(errw, STDERR_FILENO) == -1)
		child_fail(statusw, errno);
	/* Relative paths in ssh's options keep working after -f's chdir. */
	if (cwd != NULL)
		(void)!chdir(cwd);
	close_from_3(statusw);
	execv(path, argv);
	/* The pipe is close-on-exec: the parent reads EOF on success. */
	child_fail(statusw, errno);
}

pid_t
child_spawn(struct child *c, const char *path, char *const argv[],
    const char *cwd, int64_t now)
{
	int errp[2], statusp[2], e = 0;
	pid_t pid, parent = getpid();
	sigset_t saved;
	ssize_t n;

	if (pipe2(errp, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(statusp, O_CLOEXEC) == -1) {
		e = errno;
		close(errp[0]);
		close(errp[1]);
		errno = e;
		return -1;
	}
	/* No handler may run in the child before it resets them. */
	sig_block(&saved);
	pid = fork();
	if (pid == 0)
		exec_child(path, argv, cwd, errp[1], statusp[1], parent);
	e = errno;
	sig_restore(&saved);
	close(errp[1]);
	close(statusp[1]);
	if (pid == -1) {
		close(errp[0]);
		close(statusp[0]);
		errno = e;
		return -1;
	}
	do
		n = read(statusp[0], &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	close(statusp[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		close(errp[0]);
		errno = e;
		return -1;
	}
	set_nonblock(errp[0]);
	child_init(c);
	c->pid = pid;
	c->errfd = errp[0];
	c->started_ms = now;
	return pid;
}

int
child_signal(const struct child *c, int sig)
{
	if (c->pid <= 0)
		return 0;
	return kill(c->pid, sig);
}

/*
 * One line of ssh's output, n bytes without its newline.  A NUL byte is
 * data like any other (a server's banner can carry one): it becomes the
 * four characters \x00, so that the C string used from here on holds
 * the whole line.
 */
static unsigned
take_line(struct child *c, const char *raw, size_t n)
{
	char line[CHILD_LINE_MAX * 4 + 1];
	enum ssh_cause cause;
	enum ssh_mark mark;
	size_t i, o = 0;
	int level;

	if (n > 0 && raw[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	for (i = 0; i < n && o + 5 <= sizeof(line); i++) {
		if (raw[i] == '\0') {
			memcpy(line + o, "\\x00", 4);
			o += 4;
		} else
			line[o++] = raw[i];
	}
	line[o] = '\0';
	level = sshout_level(line);
	log_msg(level, "ssh: %s", sshout_text(line));
	if (level != LOG_LVL_DEBUG)
		util_strlcpy(c->last, line, sizeof(c->last));
	cause = sshout_cause(line);
	if (cause != CAUSE_NONE && cause >= c->cause) {
		c->cause = cause;
		util_strlcpy(c->reason, line, sizeof(c->reason));
	}
	mark = sshout_mark(line);
	if (c->on_line != NULL && c->on_line(c->line_ctx, line) == 1)
		return (mark == MARK_NONE ? 0 : 1u << mark) | CHILD_FWD;
	return mark == MARK_NONE ? 0 : 1u << mark;
}

unsigned
child_read(struct child *c)
{
	unsigned marks = 0;

	while (c->errfd != -1) {
		ssize_t n = read(c->errfd, c->buf + c->len,
		    sizeof(c->buf) - c->len);
		char *start, *nl, *end;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EOF or a broken pipe: flush a partial line. */
			if (c->len > 0) {
				marks |= take_line(c, c->buf, c->len);
				c->len = 0;
			}
			close(c->errfd);
			c->errfd = -1;
			return marks | CHILD_EOF;
		}
		c->len += (size_t)n;
		start = c->buf;
		end = c->buf + c->len;
		/* By length, not as a string: the output may hold NUL bytes. */
		while ((nl = memchr(start, '\n', (size_t)(end - start))) !=
		    NULL) {
			marks |= take_line(c, start, (size_t)(nl - start));
			start = nl + 1;
		}
		c->len = (size_t)(end - start);
		memmove(c->buf, start, c->len);
		if (c->len == sizeof(c->buf)) {
			/* A line too long for the buffer: log it in pieces. */
			marks |= take_line(c, c->buf, c->len);
			c->len = 0;
		}
	}
	return marks;
}

unsigned
child_gone(struct child *c)
{
	unsigned marks = child_read(c);

	/*
	 * ssh's own children (a ProxyCommand) may hold the pipe open; what
	 * ssh wrote is already in it, so stop reading here.
	 */
	if (c->errfd != -1) {
		close(c->errfd);
		c->errfd = -1;
	}
	c->pid = 0;
	c->len = 0;
	return marks & ~CHILD_EOF;
}

void
child_note(struct child *c, const char *line)
{
	enum ssh_cause cause;

	if (line[0] == '\0')
		return;
	cause = sshout_cause(line);
	if (cause >= c->cause) {
		c->cause = cause;
		util_strlcpy(c->reason, line, sizeof(c->reason));
	}
}

const char *
child_reason(const struct child *c)
{
	if (c->reason[0] != '\0')
		return c->reason;
	return c->last;
}

static int
executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return access(path, X_OK);
}

int
child_find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p, *end;
	int err = ENOENT;

	if (*name == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (strchr(name, '/') != NULL) {
		if (util_strlcpy(out, name, len) >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return executable(out);
	}
	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		int n;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = snprintf(out, len, "%.*s%s%s", (int)(end - p), p,
		    end == p ? "" : "/", name);
		if (n > 0 && (size_t)n < len) {
			if (executable(out) == 0)
				return 0;
			if (errno != ENOENT)
				err = errno;
		}
		if (*end == '\0')
			break;
	}
	errno = err;
	return -1;
}
