/*
 * Unit tests for log.c: escaping of control characters, the file sink
 * (line format, levels, threshold, rate limiting, reopening after
 * rotation, refusing symlinks, modes), the stderr and journal sinks, and
 * fatal().  The sinks write with write(2), so every test reads back what
 * reached the file descriptor.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "log.h"

/* ---- log_escape ---- */

struct esc_row {
	const char	*name;
	const char	*src;
	size_t		 len;		/* size of dst */
	const char	*want;
};

static const struct esc_row esc_rows[] = {
	{ "plain text", "tunnel up after 3.2 s", 64,
	    "tunnel up after 3.2 s" },
	{ "tab", "a\tb", 64, "a\\tb" },
	{ "carriage return", "a\rb", 64, "a\\rb" },
	{ "newline", "line1\nline2", 64, "line1\\x0aline2" },
	{ "NUL-adjacent controls", "\001\037", 64, "\\x01\\x1f" },
	{ "escape sequence", "\033[31mred\033[0m", 64,
	    "\\x1b[31mred\\x1b[0m" },
	{ "DEL", "a\177b", 64, "a\\x7fb" },
	{ "space and tilde kept", " ~", 64, " ~" },
	{ "backslash kept", "a\\b", 64, "a\\b" },
	{ "UTF-8 kept", "h\xc3\xa9llo \xe2\x9c\x93", 64,
	    "h\xc3\xa9llo \xe2\x9c\x93" },
	{ "stray bytes escaped", "\x80\xff", 64, "\\x80\\xff" },
	{ "C1 CSI escaped", "a\xc2\x9b""2Jb", 64, "a\\xc2\\x9b""2Jb" },
	{ "C1 NEL and U+009F", "\xc2\x85\xc2\x9f", 64,
	    "\\xc2\\x85\\xc2\\x9f" },
	{ "U+00A0 kept", "\xc2\xa0", 64, "\xc2\xa0" },
	{ "raw 8-bit CSI escaped", "\x9b""31m", 64, "\\x9b""31m" },
	{ "4-byte UTF-8 kept", "\xf0\x9f\x98\x80", 64,
	    "\xf0\x9f\x98\x80" },
	{ "overlong slash", "\xc0\xaf", 64, "\\xc0\\xaf" },
	{ "overlong 3-byte", "\xe0\x80\xaf", 64, "\\xe0\\x80\\xaf" },
	{ "surrogate", "\xed\xa0\x80", 64, "\\xed\\xa0\\x80" },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 64,
	    "\\xf4\\x90\\x80\\x80" },
	{ "cut short by the end", "ok\xe2\x9c", 64, "ok\\xe2\\x9c" },
	{ "cut short by ASCII", "\xe2\x9cx", 64, "\\xe2\\x9cx" },
	{ "lead byte before an escape", "\xe2\033[2J", 64,
	    "\\xe2\\x1b[2J" },
	{ "a character is never cut", "ab\xe2\x9c\x93", 5, "ab" },
	{ "empty", "", 64, "" },
	{ "truncated at the buffer size", "abcdef", 4, "abc" },
	{ "exact fit", "abc", 4, "abc" },
	{ "an escape is never cut in half", "ab\tc", 4, "ab" },
	{ "\\xNN never cut: 4 bytes are too few", "\001", 4, "" },
	{ "\\xNN fits in 5 bytes", "\001", 5, "\\x01" },
	{ "size 1", "abc", 1, "" },
};

static void
test_escape_row(void **state)
{
	const struct esc_row *r = *state;
	char buf[80];

	memset(buf, 'Z', sizeof(buf));
	log_escape(buf, r->len, r->src);
	assert_string_equal(buf, r->want);
	/* Nothing written past the buffer. */
	assert_int_equal(buf[r->len], 'Z');
}

static void
test_escape_size_0(void **state)
{
	char buf[4] = "ZZZ";

	(void)state;
	log_escape(buf, 0, "abc");
	assert_string_equal(buf, "ZZZ");
}

/* ---- the file sink ---- */

static char tmpdir[64];

static int
group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_log.XXXXXX");
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
	log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char logpath[PATH_MAX];
static int test_no;

/*
 * A fresh file per test.  The rate limiter remembers the last message
 * across tests, so a distinct line goes to /dev/null first: it flushes
 * any pending "(suppressed ...)" note there and starts a new run.
 */
static int
setup_file(void **state)
{
	(void)state;
	test_no++;
	snprintf(logpath, sizeof(logpath), "%s/t%d.log", tmpdir, test_no);
	log_init(LOG_LVL_INFO, LOG_TO_FILE);
	if (log_open_file("/dev/null") == -1)
		return -1;
	log_info("separator %s", test_no % 2 ? "odd" : "even");
	if (log_open_file(logpath) == -1)
		return -1;
	return 0;
}

static int
teardown_file(void **state)
{
	(void)state;
	log_close();
	log_init(LOG_LVL_INFO, LOG_TO_STDERR);
	return 0;
}

static size_t
slurp(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		buf[0] = '\0';
		return 0;
	}
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

/* Split buf into lines in place; returns how many (each ended by \n). */
static int
split_lines(char *buf, char **lines, int max)
{
	int n = 0;
	char *p = buf, *nl;

	while (n < max && (nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	assert_string_equal(p, "");	/* no partial line */
	return n;
}

/* The pid expected in file lines; 0 means ours. */
static pid_t line_pid;

/* The message part of a file line, after checking the prefix. */
static const char *
message_of(const char *line)
{
	char re_s[160];
	regex_t re;
	regmatch_t m[2];
	struct tm tm;
	time_t t, now = time(NULL);
	const char *end;

	snprintf(re_s, sizeof(re_s), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z autossh\\[%ld\\]: (.*)$",
	    (long)(line_pid ? line_pid : getpid()));
	assert_int_equal(regcomp(&re, re_s, REG_EXTENDED), 0);
	if (regexec(&re, line, 2, m, 0) != 0) {
		regfree(&re);
		fail_msg("bad log line: '%s'", line);
	}
	regfree(&re);
	/* The timestamp is UTC and now. */
	memset(&tm, 0, sizeof(tm));
	end = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(end);
	t = timegm(&tm);
	assert_true(t >= now - 5 && t <= now + 1);
	return line + m[1].rm_so;
}

static int
read_lines(char *buf, size_t size, char **lines, int max)
{
	slurp(logpath, buf, size);
	return split_lines(buf, lines, max);
}

static void
test_file_format(void **state)
{
	char buf[4096], *lines[16];
	int n;

	(void)state;
	log_info("hello %d", 42);
	log_error("unable to open %s: %s", "/x", "No such file or directory");
	log_warn("ssh: %s", "Warning: something");
	log_msg(LOG_LVL_NOTICE, "notice");
	log_msg(2, "critical");
	n = read_lines(buf, sizeof(buf), lines, 16);
	assert_int_equal(n, 5);
	assert_string_equal(message_of(lines[0]), "hello 42");
	assert_string_equal(message_of(lines[1]),
	    "error: unable to open /x: No such file or directory");
	assert_string_equal(message_of(lines[2]),
	    "warning: ssh: Warning: something");
	assert_string_equal(message_of(lines[3]), "notice");
	assert_string_equal(message_of(lines[4]), "error: critical");
}

static void
test_file_threshold(void **state)
{
	char buf[4096], *lines[16];
	int n;

	(void)state;
	log_debug("not at info");
	log_init(LOG_LVL_WARNING, LOG_TO_FILE);
	assert_int_equal(log_level(), LOG_LVL_WARNING);
	log_info("dropped info");
	log_msg(LOG_LVL_NOTICE, "dropped notice");
	log_warn("kept warning");
	log_error("kept error");
	log_init(LOG_LVL_DEBUG, LOG_TO_FILE);
	assert_int_equal(log_level(), LOG_LVL_DEBUG);
	log_debug("kept debug");
	log_init(0, LOG_TO_FILE);
	log_error("dropped error");
	n = read_lines(buf, sizeof(buf), lines, 16);
	assert_int_equal(n, 3);
	assert_string_equal(message_of(lines[0]), "warning: kept warning");
	assert_string_equal(message_of(lines[1]), "error: kept error");
	assert_string_equal(message_of(lines[2]), "debug: kept debug");
}

static void
test_file_escapes(void **state)
{
	char buf[4096], *lines[16];
	int n;

	(void)state;
	log_info("ssh: %s", "evil\nautossh[1]: forged line\r\033[2J");
	log_info("caf\xc3\xa9");
	n = read_lines(buf, sizeof(buf), lines, 16);
	assert_int_equal(n, 2);
	assert_string_equal(message_of(lines[0]),
	    "ssh: evil\\x0aautossh[1]: forged line\\r\\x1b[2J");
	assert_string_equal(message_of(lines[1]), "caf\xc3\xa9");
}

static void
test_file_long_line(void **state)
{
	static char big[3000], buf[8192];
	char *lines[8];
	int n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	log_info("after");
	slurp(logpath, buf, sizeof(buf));
	assert_true(strchr(buf, '\n') - buf + 1 <= LOG_LINE_MAX);
	n = split_lines(buf, lines, 8);
	assert_int_equal(n, 2);
	assert_true(strlen(lines[0]) + 1 <= LOG_LINE_MAX);
	assert_true(strlen(lines[0]) + 1 >= LOG_LINE_MAX - 2);
	assert_non_null(strstr(lines[0], ": xxxxxxxx"));
	assert_string_equal(message_of(lines[1]), "after");
}

static void
test_file_errno_kept(void **state)
{
	struct rlimit saved, none;
	void (*old)(int);

	(void)state;
	/*
	 * A file size limit of 0 makes every write to the log fail with
	 * EFBIG (SIGXFSZ ignored); that errno must not leak to the caller.
	 * The log file must be a regular file, so /dev/full cannot serve.
	 */
	assert_int_equal(log_open_file(logpath), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	none = saved;
	none.rlim_cur = 0;
	old = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &none), 0);
	errno = ENOTTY;
	log_info("something");
	assert_int_equal(errno, ENOTTY);
	errno = EINTR;
	log_debug("below the threshold");
	assert_int_equal(errno, EINTR);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, old);
}

static void
test_file_append_and_mode(void **state)
{
	char buf[4096], *lines[8];
	struct stat st;
	mode_t old;
	int fd, n;

	(void)state;
	log_info("first");
	/* Reopening appends: it never truncates. */
	assert_int_equal(log_open_file(logpath), 0);
	log_info("second");
	n = read_lines(buf, sizeof(buf), lines, 8);
	assert_int_equal(n, 2);
	assert_string_equal(message_of(lines[0]), "first");
	assert_string_equal(message_of(lines[1]), "second");
	assert_int_equal(stat(logpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* Even with umask 0 a new log file is not writable by others. */
	old = umask(0);
	snprintf(logpath + strlen(logpath), 8, ".u0");
	assert_int_equal(log_open_file(logpath), 0);
	umask(old);
	assert_int_equal(stat(logpath, &st), 0);
	assert_int_equal(st.st_mode & 022, 0);

	/* The descriptor is close-on-exec: find it in /proc/self/fd. */
	for (fd = 3; fd < 1024; fd++) {
		char link[64], target[PATH_MAX];
		ssize_t k;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		k = readlink(link, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (strcmp(target, logpath) == 0)
			break;
	}
	assert_true(fd < 1024);
	assert_int_not_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	assert_int_not_equal(fcntl(fd, F_GETFL) & O_APPEND, 0);
}

static void
test_rate_limit(void **state)
{
	char buf[8192], *lines[32];
	int i, n;

	(void)state;
	/* Ten failures that differ only in their numbers. */
	for (i = 1; i <= 10; i++)
		log_info("ssh exited with status 255 after %d.%d s; retry in "
		    "%d ms", i, i * 7 % 10, i * 123);
	log_info("tunnel up");
	n = read_lines(buf, sizeof(buf), lines, 32);
	assert_int_equal(n, 7);
	for (i = 0; i < 5; i++)
		assert_non_null(strstr(message_of(lines[i]),
		    "ssh exited with status 255 after "));
	assert_string_equal(message_of(lines[1]),
	    "ssh exited with status 255 after 2.4 s; retry in 246 ms");
	assert_string_equal(message_of(lines[5]),
	    "(suppressed 5 similar messages)");
	assert_string_equal(message_of(lines[6]), "tunnel up");
}

static void
test_rate_limit_alternating(void **state)
{
	char buf[8192], *lines[32];
	int i, n;

	(void)state;
	for (i = 0; i < 12; i++) {
		if (i % 2)
			log_info("connection refused %d", i);
		else
			log_info("tunnel up after %d s", i);
	}
	n = read_lines(buf, sizeof(buf), lines, 32);
	assert_int_equal(n, 12);
	for (i = 0; i < n; i++)
		assert_null(strstr(lines[i], "suppressed"));
}

static void
test_rate_limit_not_at_debug(void **state)
{
	char buf[8192], *lines[32];
	int i, n;

	(void)state;
	log_init(LOG_LVL_DEBUG, LOG_TO_FILE);
	for (i = 0; i < 10; i++)
		log_info("same %d", i);
	n = read_lines(buf, sizeof(buf), lines, 32);
	assert_int_equal(n, 10);
}

static void
test_reopen_after_rotation(void **state)
{
	char buf[4096], rotated[PATH_MAX + 8], *lines[8];
	int n;

	(void)state;
	log_info("before rotation");
	snprintf(rotated, sizeof(rotated), "%s.1", logpath);
	assert_int_equal(rename(logpath, rotated), 0);
	log_info("still the old file");
	assert_int_equal(log_reopen(), 0);
	log_info("after rotation");

	slurp(rotated, buf, sizeof(buf));
	n = split_lines(buf, lines, 8);
	assert_int_equal(n, 2);
	assert_string_equal(message_of(lines[0]), "before rotation");
	assert_string_equal(message_of(lines[1]), "still the old file");
	n = read_lines(buf, sizeof(buf), lines, 8);
	assert_int_equal(n, 1);
	assert_string_equal(message_of(lines[0]), "after rotation");
}

static void
test_reopen_failure_keeps_old(void **state)
{
	char dir[256], moved[300], buf[4096], *lines[8];
	int n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/sub%d", tmpdir, test_no);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(logpath, sizeof(logpath), "%s/a.log", dir);
	assert_int_equal(log_open_file(logpath), 0);
	log_info("one");
	snprintf(moved, sizeof(moved), "%s.old", dir);
	assert_int_equal(rename(dir, moved), 0);
	errno = 0;
	assert_int_equal(log_reopen(), -1);
	assert_int_equal(errno, ENOENT);
	log_info("two");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(log_reopen(), 0);
	log_info("three");

	n = read_lines(buf, sizeof(buf), lines, 8);
	assert_int_equal(n, 1);
	assert_string_equal(message_of(lines[0]), "three");
	snprintf(logpath, sizeof(logpath), "%s/a.log", moved);
	n = read_lines(buf, sizeof(buf), lines, 8);
	assert_int_equal(n, 2);
	assert_string_equal(message_of(lines[0]), "one");
	assert_string_equal(message_of(lines[1]), "two");
}

static void
test_reopen_without_file(void **state)
{
	(void)state;
	log_close();
	assert_int_equal(log_reopen(), 0);
}

static void
test_symlink_refused(void **state)
{
	char target[256], link[256], buf[256];
	struct stat st;
	int fd;

	(void)state;
	snprintf(target, sizeof(target), "%s/target%d", tmpdir, test_no);
	snprintf(link, sizeof(link), "%s/link%d", tmpdir, test_no);
	/* Dangling: the target must not be created. */
	assert_int_equal(symlink(target, link), 0);
	errno = 0;
	assert_int_equal(log_open_file(link), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(lstat(target, &st), -1);
	/* Pointing at an existing file: the file is not touched. */
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret\n", 7), 7);
	close(fd);
	errno = 0;
	assert_int_equal(log_open_file(link), -1);
	assert_int_equal(errno, ELOOP);
	log_info("goes to the old file");
	slurp(target, buf, sizeof(buf));
	assert_string_equal(buf, "secret\n");
	/* The sink in use before the failure is still in use. */
	slurp(logpath, buf, sizeof(buf));
	assert_non_null(strstr(buf, ": goes to the old file\n"));
}

/*
 * Only a regular file or /dev/null: a FIFO must neither block the open
 * (no reader) nor be used (with a reader), and no device but /dev/null.
 * The alarm turns a hang into a failure.
 */
static void
test_not_regular_refused(void **state)
{
	char fifo[256], buf[256];
	int rd;

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo%d", tmpdir, test_no);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	alarm(5);
	errno = 0;
	assert_int_equal(log_open_file(fifo), -1);
	assert_int_equal(errno, EINVAL);
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	errno = 0;
	assert_int_equal(log_open_file(fifo), -1);
	assert_int_equal(errno, EINVAL);
	close(rd);
	alarm(0);
	errno = 0;
	assert_int_equal(log_open_file("/dev/zero"), -1);
	assert_int_equal(errno, EINVAL);
	/* The file in use before is still in use. */
	log_info("still here");
	slurp(logpath, buf, sizeof(buf));
	assert_non_null(strstr(buf, ": still here\n"));
	assert_int_equal(log_open_file("/dev/null"), 0);
	assert_int_equal(unlink(fifo), 0);
}

static void
test_open_errors(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(log_open_file("/proc/nope/x.log"), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(log_open_file(tmpdir), -1);
	assert_int_equal(errno, EISDIR);
}

/* ---- the stderr and journal sinks ---- */

static int saved_stderr = -1;
static char errpath[PATH_MAX];

static int
setup_stderr(void **state)
{
	int fd;

	(void)state;
	test_no++;
	snprintf(errpath, sizeof(errpath), "%s/stderr%d", tmpdir, test_no);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1)
		return -1;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	/* Start a new rate-limit run, as setup_file() does. */
	log_init(LOG_LVL_INFO, 0);
	log_info("separator %s", test_no % 2 ? "odd" : "even");
	return 0;
}

/* Put stderr back before asserting, so that cmocka's report shows. */
static void
restore_stderr(void)
{
	if (saved_stderr != -1) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static int
teardown_stderr(void **state)
{
	(void)state;
	restore_stderr();
	line_pid = 0;
	log_init(LOG_LVL_INFO, LOG_TO_STDERR);
	return 0;
}

static void
test_stderr_sink(void **state)
{
	char buf[4096];

	(void)state;
	log_init(LOG_LVL_DEBUG, LOG_TO_STDERR);
	log_info("starting: %s", "Broker");
	log_warn("careful");
	log_error("broken");
	log_debug("details");
	restore_stderr();
	slurp(errpath, buf, sizeof(buf));
	assert_string_equal(buf, "autossh: starting: Broker\n"
	    "autossh: warning: careful\n"
	    "autossh: error: broken\n"
	    "autossh: debug: details\n");
}

static void
test_journal_sink(void **state)
{
	char buf[4096];

	(void)state;
	log_init(LOG_LVL_INFO, LOG_TO_JOURNAL);
	log_info("tunnel up");
	log_warn("careful");
	log_error("broken");
	restore_stderr();
	slurp(errpath, buf, sizeof(buf));
	assert_string_equal(buf, "<6>tunnel up\n<4>warning: careful\n"
	    "<3>error: broken\n");
}

static void
test_no_sink_is_silent(void **state)
{
	char buf[64];

	(void)state;
	log_init(LOG_LVL_DEBUG, 0);
	log_error("nowhere");
	restore_stderr();
	slurp(errpath, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

/* fatal(): on stderr whatever the sinks, the hook runs, exit status 1. */
static int hook_fd = -1;

static void
hook(void)
{
	(void)!write(hook_fd, "hook\n", 5);
}

static void
test_fatal(void **state)
{
	char buf[4096], *lines[8];
	int status, n;
	pid_t pid;

	(void)state;
	test_no++;
	snprintf(logpath, sizeof(logpath), "%s/fatal%d.log", tmpdir, test_no);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hook_fd = STDERR_FILENO;
		log_init(LOG_LVL_INFO, LOG_TO_FILE);
		if (log_open_file(logpath) == -1)
			_exit(99);
		log_set_fatal_hook(hook);
		fatal("unable to %s: %d", "frobnicate", 7);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	restore_stderr();
	line_pid = pid;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	slurp(errpath, buf, sizeof(buf));
	assert_string_equal(buf, "autossh: error: unable to frobnicate: 7\n"
	    "hook\n");
	n = read_lines(buf, sizeof(buf), lines, 8);
	assert_int_equal(n, 1);
	assert_string_equal(message_of(lines[0]),
	    "error: unable to frobnicate: 7");
}


int
main(void)
{
	static char names[NROWS(esc_rows)][96];
	size_t i;

	for (i = 0; i < NROWS(esc_rows); i++) {
		snprintf(names[i], sizeof(names[i]), "log_escape: %s",
		    esc_rows[i].name);
		add_test(names[i], test_escape_row, (void *)&esc_rows[i]);
	}
	add_test("log_escape: size 0 writes nothing", test_escape_size_0,
	    NULL);
#define FILE_TEST(name, fn) \
	add_test_fixture(name, fn, NULL, setup_file, teardown_file)
	FILE_TEST("file: line format and level words", test_file_format);
	FILE_TEST("file: threshold", test_file_threshold);
	FILE_TEST("file: control characters escaped", test_file_escapes);
	FILE_TEST("file: long lines bounded", test_file_long_line);
	FILE_TEST("file: errno preserved", test_file_errno_kept);
	FILE_TEST("file: append, mode 0644, close-on-exec",
	    test_file_append_and_mode);
	FILE_TEST("file: rate limiting of similar messages", test_rate_limit);
	FILE_TEST("file: different messages are not limited",
	    test_rate_limit_alternating);
	FILE_TEST("file: no rate limiting at debug",
	    test_rate_limit_not_at_debug);
	FILE_TEST("file: log_reopen after rotation",
	    test_reopen_after_rotation);
	FILE_TEST("file: failed log_reopen keeps the old file",
	    test_reopen_failure_keeps_old);
	FILE_TEST("file: log_reopen without a file", test_reopen_without_file);
	FILE_TEST("file: O_NOFOLLOW refuses a symlink", test_symlink_refused);
	FILE_TEST("file: only a regular file or /dev/null",
	    test_not_regular_refused);
	FILE_TEST("file: open errors", test_open_errors);
#define ERR_TEST(name, fn) \
	add_test_fixture(name, fn, NULL, setup_stderr, teardown_stderr)
	ERR_TEST("stderr sink", test_stderr_sink);
	ERR_TEST("journal sink", test_journal_sink);
	ERR_TEST("no sink", test_no_sink_is_silent);
	ERR_TEST("fatal: stderr, file, hook, exit 1", test_fatal);
	return unit_run("test_log", group_setup,
	    group_teardown);
}
