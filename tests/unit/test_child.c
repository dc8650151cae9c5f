/*
 * Unit tests for child.c: finding the ssh program, spawning with clean
 * signal state and descriptors, reading and classifying the child's
 * stderr line by line, exec failures, signalling, and the parent-death
 * signal.  Real processes (/bin/sh, /bin/sleep) stand in for ssh.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "child.h"
#include "log.h"
#include "sig.h"
#include "sshout.h"
#include "util.h"

static char tmpdir[64];
static char saved_path[4096];
static int had_path;

static int
group_setup(void **state)
{
	const char *p = getenv("PATH");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_child.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	had_path = p != NULL;
	if (p != NULL)
		util_strlcpy(saved_path, p, sizeof(saved_path));
	/* child_read() logs every line; keep the test output readable. */
	log_init(LOG_LVL_DEBUG, 0);
	return sig_init();
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	sig_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
restore_path(void **state)
{
	(void)state;
	if (had_path)
		setenv("PATH", saved_path, 1);
	else
		unsetenv("PATH");
	return 0;
}

static void
make_file(const char *rel, mode_t mode)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void
make_dir(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

/* ---- child_find_program ---- */

static void
test_find_with_slash(void **state)
{
	char out[PATH_MAX], p[256], small[4];

	(void)state;
	assert_int_equal(child_find_program("/bin/sh", out, sizeof(out)), 0);
	assert_string_equal(out, "/bin/sh");

	errno = 0;
	assert_int_equal(child_find_program("/nonexistent/ssh", out,
	    sizeof(out)), -1);
	assert_int_equal(errno, ENOENT);

	/* A directory is not a program. */
	errno = 0;
	assert_int_equal(child_find_program(tmpdir, out, sizeof(out)), -1);
	assert_int_equal(errno, EACCES);

	/* Nor is a file without execute permission, even for root. */
	make_file("noexec", 0644);
	snprintf(p, sizeof(p), "%s/noexec", tmpdir);
	errno = 0;
	assert_int_equal(child_find_program(p, out, sizeof(out)), -1);
	assert_int_equal(errno, EACCES);

	make_file("exec", 0755);
	snprintf(p, sizeof(p), "%s/exec", tmpdir);
	assert_int_equal(child_find_program(p, out, sizeof(out)), 0);
	assert_string_equal(out, p);

	errno = 0;
	assert_int_equal(child_find_program("/bin/sh", small, sizeof(small)),
	    -1);
	assert_int_equal(errno, ENAMETOOLONG);

	errno = 0;
	assert_int_equal(child_find_program("", out, sizeof(out)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_find_in_path(void **state)
{
	char out[PATH_MAX], pathv[600], want[256];

	(void)state;
	make_dir("a");
	make_dir("b");
	make_dir("c");
	make_file("b/prog", 0755);
	make_file("a/noexec", 0644);
	make_file("b/noexec", 0755);
	make_file("c/onlynoexec", 0600);
	make_dir("a/isdir");
	make_file("b/isdir", 0755);
	snprintf(pathv, sizeof(pathv), "%s/a:%s/b:%s/c", tmpdir, tmpdir,
	    tmpdir);
	assert_int_equal(setenv("PATH", pathv, 1), 0);

	assert_int_equal(child_find_program("prog", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/b/prog", tmpdir);
	assert_string_equal(out, want);

	/* A non-executable or a directory earlier in PATH is skipped. */
	assert_int_equal(child_find_program("noexec", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/b/noexec", tmpdir);
	assert_string_equal(out, want);
	assert_int_equal(child_find_program("isdir", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/b/isdir", tmpdir);
	assert_string_equal(out, want);

	/* Found only without permission: EACCES, not ENOENT. */
	errno = 0;
	assert_int_equal(child_find_program("onlynoexec", out, sizeof(out)),
	    -1);
	assert_int_equal(errno, EACCES);

	errno = 0;
	assert_int_equal(child_find_program("nosuchprog", out, sizeof(out)),
	    -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_find_default_path(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(unsetenv("PATH"), 0);
	assert_int_equal(child_find_program("sh", out, sizeof(out)), 0);
	assert_true(strcmp(out, "/usr/bin/sh") == 0 ||
	    strcmp(out, "/bin/sh") == 0);
	assert_int_equal(setenv("PATH", "", 1), 0);
	assert_int_equal(child_find_program("sh", out, sizeof(out)), 0);
	assert_true(strcmp(out, "/usr/bin/sh") == 0 ||
	    strcmp(out, "/bin/sh") == 0);
}

/* ---- spawning and reading ---- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n - 1;		/* the directory's own descriptor */
}

/* Read c's stderr until EOF; returns the union of the marks. */
static unsigned
read_to_eof(struct child *c)
{
	unsigned marks = 0, m;
	int rounds;

	for (rounds = 0; rounds < 500; rounds++) {
		struct pollfd pfd = { c->errfd, POLLIN, 0 };

		assert_true(c->errfd >= 0);
		if (poll(&pfd, 1, 100) == -1)
			assert_int_equal(errno, EINTR);
		m = child_read(c);
		marks |= m;
		if (m & CHILD_EOF) {
			assert_int_equal(c->errfd, -1);
			return marks;
		}
	}
	fail_msg("no EOF on the child's stderr");
	return 0;
}

static int
wait_status(pid_t pid)
{
	int status;
	pid_t r;

	do
		r = waitpid(pid, &status, 0);
	while (r == -1 && errno == EINTR);
	assert_int_equal(r, pid);
	return status;
}

static void
test_spawn_and_read(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"-c",
	    (char *)"echo line1 >&2; "
	    "echo 'Permission denied (publickey).' >&2; "
	    "echo 'debug1: Entering interactive session.' >&2; "
	    "echo 'ssh: connect to host x port 22: Connection refused' >&2; "
	    "exit 3", NULL };
	struct child c;
	unsigned marks;
	pid_t pid;
	int status, fl;

	(void)state;
	child_init(&c);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.errfd, -1);
	pid = child_spawn(&c, "/bin/sh", argv, NULL, 4242);
	assert_true(pid > 0);
	assert_int_equal(c.pid, pid);
	assert_true(c.started_ms == 4242);
	assert_true(c.errfd > STDERR_FILENO);
	fl = fcntl(c.errfd, F_GETFL);
	assert_int_not_equal(fl & O_NONBLOCK, 0);
	assert_int_not_equal(fcntl(c.errfd, F_GETFD) & FD_CLOEXEC, 0);

	marks = read_to_eof(&c);
	assert_int_not_equal(marks & CHILD_EOF, 0);
	assert_int_not_equal(marks & (1u << MARK_SESSION), 0);
	assert_int_equal(marks & (1u << MARK_AUTHENTICATED), 0);
	/* The permanent cause wins over the later transient one. */
	assert_int_equal(c.cause, CAUSE_PERMANENT);
	assert_string_equal(c.reason, "Permission denied (publickey).");
	assert_string_equal(child_reason(&c), "Permission denied (publickey).");
	/* The last line that is not debug output. */
	assert_string_equal(c.last,
	    "ssh: connect to host x port 22: Connection refused");

	status = wait_status(pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_int_equal(child_gone(&c), 0);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.errfd, -1);
	/* The reason outlives the process, for the exit's log line. */
	assert_string_equal(child_reason(&c), "Permission denied (publickey).");
}

/*
 * A line split across two reads.  The child copies its stdin, a pipe
 * the test writes, to its stderr: the test writes the first part, sees
 * it read and held back as a partial line, and only then writes the rest.
 */
static void
test_read_partial_lines(void **state)
{
	static const char part1[] = "Connection reset by 192.0.2.1 port 22\r\n"
	    "debug1: x\nTimeout, server h not res";
	static const char held[] = "Timeout, server h not res";
	static const char part2[] = "ponding.";
	char *const argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"exec cat >&2", NULL };
	struct child c;
	int p[2], saved_stdin, rounds;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* The child inherits stdin: lend it the pipe's read end. */
	saved_stdin = dup(STDIN_FILENO);
	assert_true(saved_stdin >= 0);
	assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	pid = child_spawn(&c, "/bin/sh", argv, NULL, 0);
	assert_int_equal(dup2(saved_stdin, STDIN_FILENO), STDIN_FILENO);
	close(saved_stdin);
	close(p[0]);
	assert_true(pid > 0);

	assert_int_equal(write(p[1], part1, sizeof(part1) - 1),
	    (ssize_t)(sizeof(part1) - 1));
	/* Until the first part is in, or a piece of it passed for a line. */
	for (rounds = 0; c.len < sizeof(held) - 1 &&
	    strstr(c.last, "Timeout") == NULL; rounds++) {
		struct pollfd pfd = { c.errfd, POLLIN, 0 };

		if (rounds == 100)
			fail_msg("the first part was not read");
		if (poll(&pfd, 1, 100) == -1)
			assert_int_equal(errno, EINTR);
		assert_int_equal(child_read(&c) & CHILD_EOF, 0);
	}
	/* The complete lines are taken, the partial one is held back. */
	assert_int_equal(c.len, sizeof(held) - 1);
	assert_memory_equal(c.buf, held, c.len);
	assert_string_equal(c.last, "Connection reset by 192.0.2.1 port 22");

	assert_int_equal(write(p[1], part2, sizeof(part2) - 1),
	    (ssize_t)(sizeof(part2) - 1));
	close(p[1]);
	read_to_eof(&c);
	/* The CR is gone; the unterminated last line still counts. */
	assert_int_equal(c.cause, CAUSE_TRANSIENT);
	assert_string_equal(c.reason, "Timeout, server h not responding.");
	assert_string_equal(c.last, "Timeout, server h not responding.");
	wait_status(pid);
	child_gone(&c);
}

/*
 * A NUL byte in ssh's output (a banner may carry one) is data: the rest
 * of the buffer, here the line that says the session is up, still
 * counts, and the byte is logged escaped.
 */
static void
test_read_nul_byte(void **state)
{
	char *const argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"printf 'Permission\\000denied\\r\\n"
	    "debug1: Entering interactive session.\\r\\n"
	    "tail\\000' >&2", NULL };
	struct child c;
	unsigned marks;
	pid_t pid;

	(void)state;
	pid = child_spawn(&c, "/bin/sh", argv, NULL, 0);
	assert_true(pid > 0);
	marks = read_to_eof(&c);
	assert_int_not_equal(marks & (1u << MARK_SESSION), 0);
	/* Not "Permission", cut at the NUL, and no cause from it. */
	assert_string_equal(c.last, "tail\\x00");
	assert_int_equal(c.cause, CAUSE_NONE);
	wait_status(pid);
	child_gone(&c);
}

static void
test_read_no_cause(void **state)
{
	char *const argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"echo 'Pseudo-terminal will not be allocated because "
	    "stdin is not a terminal.' >&2; echo 'debug1: bye' >&2", NULL };
	struct child c;
	pid_t pid;

	(void)state;
	pid = child_spawn(&c, "/bin/sh", argv, NULL, 0);
	assert_true(pid > 0);
	read_to_eof(&c);
	assert_int_equal(c.cause, CAUSE_NONE);
	assert_string_equal(c.reason, "");
	/* Without a cause, the reason is the last line. */
	assert_string_equal(child_reason(&c), "Pseudo-terminal will not be "
	    "allocated because stdin is not a terminal.");
	wait_status(pid);
	child_gone(&c);
}

static void
test_read_long_line(void **state)
{
	char *const argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"i=0; while [ $i -lt 300 ]; do printf 0123456789 >&2; "
	    "i=$((i+1)); done; echo ' Connection refused' >&2", NULL };
	struct child c;
	pid_t pid;

	(void)state;
	pid = child_spawn(&c, "/bin/sh", argv, NULL, 0);
	assert_true(pid > 0);
	read_to_eof(&c);
	/* 3000 bytes: logged in pieces, kept bounded. */
	assert_int_equal(strlen(c.last), sizeof(c.last) - 1);
	assert_int_equal(c.cause, CAUSE_TRANSIENT);
	wait_status(pid);
	child_gone(&c);
}

/* A helper's line speaks for ssh unless ssh said something graver. */
static void
test_note(void **state)
{
	struct child c;

	(void)state;
	child_init(&c);
	child_note(&c, "");
	assert_string_equal(child_reason(&c), "");
	/* An empty note leaves even a causeless reason alone. */
	child_note(&c, "proxy: an odd failure");
	child_note(&c, "");
	assert_string_equal(child_reason(&c), "proxy: an odd failure");
	child_note(&c, "connect to 192.0.2.1 port 22: Connection refused");
	assert_int_equal(c.cause, CAUSE_TRANSIENT);
	/* An empty note leaves the reason alone. */
	child_note(&c, "");
	assert_string_equal(child_reason(&c),
	    "connect to 192.0.2.1 port 22: Connection refused");
	/* A graver cause is kept; a lighter one does not replace it. */
	child_note(&c, "user@h: Permission denied (publickey).");
	assert_int_equal(c.cause, CAUSE_PERMANENT);
	child_note(&c, "connect to 192.0.2.1 port 22: Connection refused");
	assert_string_equal(child_reason(&c),
	    "user@h: Permission denied (publickey).");
}

static void
test_spawn_exec_fails(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char p[256];
	struct child c;
	int before, status;

	(void)state;
	child_init(&c);
	before = count_fds();
	errno = 0;
	assert_int_equal(child_spawn(&c, "/nonexistent/ssh", argv, NULL, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.errfd, -1);
	/* No descriptor leaked, no zombie left. */
	assert_int_equal(count_fds(), before);
	errno = 0;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	make_file("notexec", 0644);
	snprintf(p, sizeof(p), "%s/notexec", tmpdir);
	errno = 0;
	assert_int_equal(child_spawn(&c, p, argv, NULL, 0), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(count_fds(), before);
}

static void
test_signal(void **state)
{
	char *const argv[] = { (char *)"sleep", (char *)"30", NULL };
	struct child c;
	int status;
	pid_t pid;

	(void)state;
	child_init(&c);
	/* No process: nothing to signal, and no error. */
	assert_int_equal(child_signal(&c, SIGTERM), 0);
	pid = child_spawn(&c, "/bin/sleep", argv, NULL, 0);
	assert_true(pid > 0);
	assert_int_equal(child_signal(&c, SIGTERM), 0);
	status = wait_status(pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_int_equal(child_gone(&c), 0);
	assert_int_equal(child_signal(&c, SIGKILL), 0);
}

/* A hex mask from /proc/<pid>/status, such as SigBlk or SigIgn. */
static unsigned long long
proc_mask(pid_t pid, const char *key)
{
	char p[64], line[256];
	unsigned long long v = ~0ULL;
	size_t k = strlen(key);
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%ld/status", (long)pid);
	f = fopen(p, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, k) == 0 && line[k] == ':')
			v = strtoull(line + k + 1, NULL, 16);
	}
	fclose(f);
	return v;
}

#define BIT(sig)	(1ULL << ((sig) - 1))

static void
test_clean_signal_state(void **state)
{
	char *const argv[] = { (char *)"sleep", (char *)"30", NULL };
	sigset_t block, old;
	struct child c;
	unsigned long long blk, ign;
	pid_t pid;

	(void)state;
	/* The parent blocks TERM and INT and ignores PIPE (sig_init). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = child_spawn(&c, "/bin/sleep", argv, NULL, 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_true(pid > 0);
	blk = proc_mask(pid, "SigBlk");
	ign = proc_mask(pid, "SigIgn");
	child_signal(&c, SIGKILL);
	wait_status(pid);
	child_gone(&c);
	assert_true(blk == 0);
	assert_int_equal(ign & (BIT(SIGPIPE) | BIT(SIGTERM) | BIT(SIGINT) |
	    BIT(SIGQUIT) | BIT(SIGHUP) | BIT(SIGUSR1) | BIT(SIGUSR2) |
	    BIT(SIGCHLD)), 0);
	/* And our own mask is as it was. */
	{
		sigset_t now;

		sigprocmask(SIG_SETMASK, NULL, &now);
		assert_int_equal(sigismember(&now, SIGTERM),
		    sigismember(&old, SIGTERM));
	}
}

static void
test_no_inherited_fds(void **state)
{
	char *const argv[] = { (char *)"sleep", (char *)"30", NULL };
	char p[64];
	struct child c;
	struct dirent *e;
	DIR *d;
	pid_t pid;
	int leak, n = 0, others = 0;

	(void)state;
	/* A descriptor without close-on-exec, as a careless library has. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > STDERR_FILENO);
	assert_int_equal(fcntl(leak, F_GETFD) & FD_CLOEXEC, 0);
	pid = child_spawn(&c, "/bin/sleep", argv, NULL, 0);
	assert_true(pid > 0);
	snprintf(p, sizeof(p), "/proc/%ld/fd", (long)pid);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (atoi(e->d_name) > STDERR_FILENO)
			others++;
	}
	closedir(d);
	child_signal(&c, SIGKILL);
	wait_status(pid);
	child_gone(&c);
	close(leak);
	assert_int_equal(others, 0);
	assert_int_equal(n, 3);
}

/*
 * ssh starts in the directory it is given (the user's, after -f has
 * moved us to /), so that relative paths in its options keep working;
 * a directory that is gone is no reason not to start it.
 */
static void
test_spawn_cwd(void **state)
{
	char *const argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"pwd >&2", NULL };
	char gone[128], here[PATH_MAX];
	struct child c;
	pid_t pid;

	(void)state;
	/* We run elsewhere: the child's directory can only come from cwd. */
	assert_non_null(getcwd(here, sizeof(here)));
	assert_int_not_equal(strcmp(tmpdir, "/"), 0);
	assert_int_equal(chdir("/"), 0);
	pid = child_spawn(&c, "/bin/sh", argv, tmpdir, 0);
	assert_true(pid > 0);
	read_to_eof(&c);
	assert_string_equal(c.last, tmpdir);
	wait_status(pid);
	child_gone(&c);

	snprintf(gone, sizeof(gone), "%s/gone", tmpdir);
	pid = child_spawn(&c, "/bin/sh", argv, gone, 0);
	assert_true(pid > 0);
	read_to_eof(&c);
	assert_string_equal(c.last, "/");
	wait_status(pid);
	child_gone(&c);
	assert_int_equal(chdir(here), 0);
}

/*
 * ssh must die with us (PR_SET_PDEATHSIG).  An intermediate process
 * spawns it and dies; we are the subreaper, so the orphan comes to us
 * and its status tells how it ended.
 */
static void
test_parent_death_kills(void **state)
{
	int p[2], status;
	pid_t mid, ssh = 0;

	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		char *const argv[] = { (char *)"sleep", (char *)"30", NULL };
		struct child c;
		pid_t pid;

		close(p[0]);
		pid = child_spawn(&c, "/bin/sleep", argv, NULL, 0);
		(void)!write(p[1], &pid, sizeof(pid));
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ssh, sizeof(ssh)), (ssize_t)sizeof(ssh));
	close(p[0]);
	assert_true(ssh > 0);
	status = wait_status(mid);
	assert_true(WIFEXITED(status));
	status = wait_status(ssh);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_with_slash),
		cmocka_unit_test_teardown(test_find_in_path, restore_path),
		cmocka_unit_test_teardown(test_find_default_path,
		    restore_path),
		cmocka_unit_test(test_spawn_and_read),
		cmocka_unit_test(test_read_partial_lines),
		cmocka_unit_test(test_read_nul_byte),
		cmocka_unit_test(test_spawn_cwd),
		cmocka_unit_test(test_read_no_cause),
		cmocka_unit_test(test_read_long_line),
		cmocka_unit_test(test_note),
		cmocka_unit_test(test_spawn_exec_fails),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_clean_signal_state),
		cmocka_unit_test(test_no_inherited_fds),
		cmocka_unit_test(test_parent_death_kills),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
