/*
 * Unit tests for pidfile.c (DESIGN.md §Files and cleanup): the lock says
 * whether an instance runs, a second instance learns the holder's pid, a
 * stale file is taken over, symlinks are refused, and the path is made
 * absolute before -f changes directory.  A forked child plays the running
 * instance, because flock() locks belong to open file descriptions.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "pidfile.h"

static char tmpdir[64];
static char path[256];
static char why[512];
static int test_no;

static int
group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pidfile.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	umask(022);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "%s/p%d.pid", tmpdir, ++test_no);
	return 0;
}

static void
write_file(const char *p, const char *content)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)),
	    (ssize_t)strlen(content));
	close(fd);
}

static void
read_file(const char *p, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void
test_open_lock_write(void **state)
{
	char buf[64], want[32];
	struct stat st;
	pid_t holder = 12345;
	mode_t old;
	int fd;

	(void)state;
	/* umask 0: the mode must come from autossh, not be masked into shape. */
	old = umask(0);
	fd = pidfile_open(path, &holder, why, sizeof(why));
	umask(old);
	assert_true(fd > STDERR_FILENO);
	assert_int_equal(holder, 0);
	assert_int_not_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Locked: another open file description cannot lock it. */
	{
		int other = open(path, O_RDONLY);

		assert_true(other >= 0);
		errno = 0;
		assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
		assert_int_equal(errno, EWOULDBLOCK);
		close(other);
	}
	assert_int_equal(pidfile_write(fd, getpid()), 0);
	read_file(path, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(buf, want);
	pidfile_remove(path, fd);
}

static void
test_write_replaces(void **state)
{
	char buf[64];
	pid_t holder;
	int fd;

	(void)state;
	write_file(path, "123456789012345\nmore junk\n");
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(pidfile_write(fd, 7), 0);
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "7\n");
	assert_int_equal(pidfile_write(fd, 2147483647), 0);
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "2147483647\n");
	assert_int_equal(pidfile_write(fd, 42), 0);
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "42\n");
	pidfile_remove(path, fd);
}

/*
 * A child takes the pidfile like a running autossh, tells us through a
 * pipe, and holds it until we close our end of a second pipe.
 */
struct holder {
	pid_t	pid;
	int	release;	/* write end: closing it lets the child go */
};

static void
spawn_holder(struct holder *h, const char *content)
{
	int ready[2], go[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t dummy;
		int fd;

		close(ready[0]);
		close(go[1]);
		fd = pidfile_open(path, &dummy, why, sizeof(why));
		if (fd == -1)
			_exit(2);
		if (content == NULL) {
			if (pidfile_write(fd, getpid()) == -1)
				_exit(3);
		} else if (pwrite(fd, content, strlen(content), 0) == -1)
			_exit(3);
		(void)!write(ready[1], "r", 1);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h->pid = pid;
	h->release = go[1];
}

static void
release_holder(struct holder *h)
{
	int status;

	close(h->release);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_second_instance_refused(void **state)
{
	struct holder h;
	pid_t holder = 0;
	int fd;

	(void)state;
	spawn_holder(&h, NULL);
	errno = 0;
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(holder, h.pid);
	/* The refused attempt left the holder's file alone. */
	{
		char buf[64], want[32];

		read_file(path, buf, sizeof(buf));
		snprintf(want, sizeof(want), "%ld\n", (long)h.pid);
		assert_string_equal(buf, want);
	}
	release_holder(&h);

	/* Its process gone, the file (still naming it) is taken over. */
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(holder, 0);
	assert_int_equal(pidfile_write(fd, getpid()), 0);
	pidfile_remove(path, fd);
}

static void
test_holder_pid_unknown(void **state)
{
	struct holder h;
	pid_t holder = 99;

	(void)state;
	spawn_holder(&h, "garbage\n");
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(holder, 0);
	release_holder(&h);
}

static void
test_holder_empty_file(void **state)
{
	struct holder h;
	pid_t holder = 99;

	(void)state;
	/* Locked but not yet written: the holder is unknown, not pid 0's. */
	spawn_holder(&h, "");
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(holder, 0);
	release_holder(&h);
}

static void
test_stale_garbage(void **state)
{
	pid_t holder = 99;
	char buf[64];
	int fd;

	(void)state;
	write_file(path, "not a pid at all\n");
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(holder, 0);
	assert_int_equal(pidfile_write(fd, 31337), 0);
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "31337\n");
	pidfile_remove(path, fd);
}

static void
test_stale_dead_pid(void **state)
{
	pid_t holder = 99, dead;
	char buf[32];
	int fd, status;

	(void)state;
	/* A pid that surely is not running: a reaped child's. */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	snprintf(buf, sizeof(buf), "%ld\n", (long)dead);
	write_file(path, buf);
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(holder, 0);
	pidfile_remove(path, fd);
}

static void
test_symlink_refused(void **state)
{
	char target[300];
	struct stat st;
	pid_t holder;

	(void)state;
	snprintf(target, sizeof(target), "%s.target", path);
	assert_int_equal(symlink(target, path), 0);
	/* Dangling: nothing may be created through it. */
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(lstat(target, &st), -1);
	/* To an existing file: it is not opened (and so not truncated). */
	write_file(target, "precious\n");
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, ELOOP);
	{
		char buf[32];

		read_file(target, buf, sizeof(buf));
		assert_string_equal(buf, "precious\n");
	}
}

/*
 * A file another user made (in a sticky /tmp, say): its owner could
 * rewrite the pid an operator kills, or hold the lock to keep us out.
 */
static void
test_other_owner_refused(void **state)
{
	char buf[32];
	pid_t holder;

	(void)state;
	if (geteuid() != 0)
		skip();
	write_file(path, "4242\n");
	assert_int_equal(chown(path, 65534, 65534), 0);
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "belongs to uid 65534"));
	read_file(path, buf, sizeof(buf));
	assert_string_equal(buf, "4242\n");
}

/* A second name for a file of ours: pidfile_write would truncate it. */
static void
test_hard_link_refused(void **state)
{
	char victim[300], buf[32];
	pid_t holder;

	(void)state;
	snprintf(victim, sizeof(victim), "%s.victim", path);
	write_file(victim, "precious\n");
	assert_int_equal(link(victim, path), 0);
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "has 2 links"));
	read_file(victim, buf, sizeof(buf));
	assert_string_equal(buf, "precious\n");
}

/* A FIFO planted as the pidfile: refused at once, no blocking open. */
static void
test_fifo_refused(void **state)
{
	pid_t holder;

	(void)state;
	assert_int_equal(mkfifo(path, 0644), 0);
	alarm(5);
	errno = 0;
	assert_int_equal(pidfile_open(path, &holder, why, sizeof(why)), -1);
	alarm(0);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "not a regular file"));
}

/*
 * Anyone may rename entries of a directory writable by others unless it
 * is sticky; a sticky one (like /tmp) is fine.
 */
static void
test_directory_writable_by_others(void **state)
{
	char dir[300], file[320];
	pid_t holder;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s.d", path);
	snprintf(file, sizeof(file), "%s/x.pid", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	errno = 0;
	assert_int_equal(pidfile_open(file, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "writable by others and not sticky"));
	assert_int_equal(access(file, F_OK), -1);
	assert_int_equal(chmod(dir, 0775), 0);
	assert_int_equal(pidfile_open(file, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(chmod(dir, 01777), 0);
	fd = pidfile_open(file, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	pidfile_remove(file, fd);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_open_errors(void **state)
{
	pid_t holder = 99;

	(void)state;
	errno = 0;
	assert_int_equal(pidfile_open("/proc/nope/x", &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(holder, 0);
	errno = 0;
	assert_int_equal(pidfile_open(tmpdir, &holder, why, sizeof(why)), -1);
	assert_int_equal(errno, EISDIR);
}

static void
test_remove(void **state)
{
	struct stat st;
	pid_t holder;
	int fd;

	(void)state;
	fd = pidfile_open(path, &holder, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(pidfile_write(fd, getpid()), 0);
	pidfile_remove(path, fd);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* The descriptor is closed. */
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	/* Without a descriptor (never opened) nothing is removed. */
	write_file(path, "1\n");
	pidfile_remove(path, -1);
	assert_int_equal(stat(path, &st), 0);
}

static void
test_abspath(void **state)
{
	char out[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX + 16];
	char small[8], longrel[300];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));

	assert_int_equal(pidfile_abspath("/run/autossh.pid", out, sizeof(out)),
	    0);
	assert_string_equal(out, "/run/autossh.pid");

	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(pidfile_abspath("a.pid", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/a.pid", tmpdir);
	assert_string_equal(out, want);
	assert_int_equal(pidfile_abspath("sub/b.pid", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/sub/b.pid", tmpdir);
	assert_string_equal(out, want);

	assert_int_equal(chdir("/"), 0);
	assert_int_equal(pidfile_abspath("a.pid", out, sizeof(out)), 0);
	assert_string_equal(out, "/a.pid");

	/* Too long for out: refused, never truncated. */
	errno = 0;
	assert_int_equal(pidfile_abspath("/run/autossh.pid", small,
	    sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	memset(longrel, 'x', sizeof(longrel) - 1);
	longrel[sizeof(longrel) - 1] = '\0';
	errno = 0;
	assert_int_equal(pidfile_abspath(longrel, out, 200), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	errno = 0;
	assert_int_equal(pidfile_abspath("abcdefgh.pid", small,
	    sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	/* Exactly fitting: "/a.pid" and the NUL. */
	assert_int_equal(pidfile_abspath("a.pid", small, 7), 0);
	assert_string_equal(small, "/a.pid");

	assert_int_equal(chdir(cwd), 0);
}

/* ---- the one reader: pidfile_read() and pidfile_pid() ---- */

static const struct {
	const char	*content;
	pid_t		 want;
} contents[] = {
	{ "4242\n", 4242 },
	{ "4242", 4242 },		/* no newline */
	{ "4242\ngarbage after", 4242 },	/* the first line counts */
	{ "1\n", 1 },
	{ "2147483647\n", 2147483647 },	/* INT_MAX */
	{ "", 0 },			/* empty */
	{ "\n", 0 },
	{ "garbage\n", 0 },
	{ "42abc\n", 0 },
	{ " 42\n", 0 },
	{ "0\n", 0 },
	{ "-1\n", 0 },			/* negative: kill(-1) hits all */
	{ "-4242\n", 0 },		/* a process group */
	{ "2147483648\n", 0 },		/* > INT_MAX */
	{ "99999999999999999999999999\n", 0 },
	{ "0x10\n", 0 },
};

static void
test_read_contents(void **state)
{
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
		write_file(path, contents[i].content);
		assert_int_equal(pidfile_pid(path), contents[i].want);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		/* From the start, whatever the offset. */
		assert_true(lseek(fd, 0, SEEK_END) >= 0);
		assert_int_equal(pidfile_read(fd), contents[i].want);
		close(fd);
	}
}

/* More than the 31 bytes read: nothing, not a pid cut short. */
static void
test_read_long_line(void **state)
{
	(void)state;
	write_file(path, "12345678901234567890123456789012345\n");
	assert_int_equal(pidfile_pid(path), 0);
}

static void
test_read_missing_or_link(void **state)
{
	char target[300];

	(void)state;
	assert_int_equal(pidfile_pid(path), 0);
	snprintf(target, sizeof(target), "%s.target", path);
	write_file(target, "4242\n");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(pidfile_pid(path), 0);
	assert_int_equal(pidfile_read(-1), 0);
}

/* A FIFO, with or without a writer, neither blocks nor yields a pid. */
static void
test_read_fifo(void **state)
{
	int w, r;

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(pidfile_pid(path), 0);
	r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(r >= 0);
	w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(write(w, "4242\n", 5), 5);
	assert_int_equal(pidfile_read(r), 0);
	assert_int_equal(pidfile_pid(path), 0);
	close(w);
	close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_lock_write, setup),
		cmocka_unit_test_setup(test_write_replaces, setup),
		cmocka_unit_test_setup(test_second_instance_refused, setup),
		cmocka_unit_test_setup(test_holder_pid_unknown, setup),
		cmocka_unit_test_setup(test_holder_empty_file, setup),
		cmocka_unit_test_setup(test_stale_garbage, setup),
		cmocka_unit_test_setup(test_stale_dead_pid, setup),
		cmocka_unit_test_setup(test_symlink_refused, setup),
		cmocka_unit_test_setup(test_other_owner_refused, setup),
		cmocka_unit_test_setup(test_hard_link_refused, setup),
		cmocka_unit_test_setup(test_fifo_refused, setup),
		cmocka_unit_test_setup(test_directory_writable_by_others, setup),
		cmocka_unit_test_setup(test_open_errors, setup),
		cmocka_unit_test_setup(test_remove, setup),
		cmocka_unit_test_setup(test_abspath, setup),
		cmocka_unit_test_setup(test_read_contents, setup),
		cmocka_unit_test_setup(test_read_long_line, setup),
		cmocka_unit_test_setup(test_read_missing_or_link, setup),
		cmocka_unit_test_setup(test_read_fifo, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
