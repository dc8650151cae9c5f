/*
 * Unit tests for notify.c: a no-op without NOTIFY_SOCKET, datagrams to a
 * socket bound in a temporary directory and to an abstract one, the
 * environment scrubbed after notify_init(), the watchdog interval and
 * WATCHDOG_PID, and bad socket names.  notify.c keeps static state, so
 * every test starts from notify_close() and a clean environment.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "notify.h"


static char tmp[64];
static char sock_path[128];

/*
 * Forget what an earlier test set up: an init without NOTIFY_SOCKET
 * leaves no socket and no watchdog.
 */
static void
forget(void)
{
	notify_close();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	notify_init();
}

static int
reset(void **state)
{
	(void)state;
	forget();
	snprintf(tmp, sizeof(tmp), "/tmp/test_notify.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/notify", tmp);
	return 0;
}

static int
cleanup(void **state)
{
	(void)state;
	notify_close();
	unlink(sock_path);
	return rmdir(tmp);
}

/* Every test starts from a clean environment and socket. */
static void
add_ntest(const char *name, CMUnitTestFunction fn)
{
	add_test_fixture(name, fn, NULL, reset, cleanup);
}

/* A datagram socket like systemd's: at path, or abstract for "@name". */
static int
listener(const char *name)
{
	struct sockaddr_un sun;
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(n < sizeof(sun.sun_path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (name[0] == '@' ? 0 : 1))), 0);
	return fd;
}

/* The next datagram, exactly (with its length). */
static void
expect_datagram(int fd, const char *want)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[512];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

static void
expect_nothing(int fd)
{
	char buf[16];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_unset(void **state)
{
	(void)state;
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	assert_int_equal(notify_send("STATUS=up"), 0);
	assert_int_equal(notify_watchdog_ms(), 0);
	notify_close();
	notify_close();
}

static void
test_unset_with_watchdog(void **state)
{
	(void)state;
	/* A watchdog without a socket to ping is no watchdog. */
	setenv("WATCHDOG_USEC", "2000000", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 0);
	assert_null(getenv("WATCHDOG_USEC"));
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
}

static void
test_empty(void **state)
{
	(void)state;
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	assert_null(getenv("NOTIFY_SOCKET"));
}

/* Every socket we hold is close-on-exec; returns how many there are. */
static int
sockets_all_cloexec(void)
{
	char link[64], target[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		ssize_t len;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, "socket:", 7) != 0)
			continue;
		n++;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d (%s) would reach ssh", fd, target);
	}
	closedir(d);
	return n;
}

static void
test_path(void **state)
{
	int fd = listener(sock_path);

	(void)state;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(notify_init(), 0);
	/* ssh and the helpers must not inherit it, nor the socket. */
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(notify_send("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	assert_true(sockets_all_cloexec() >= 2);
	expect_nothing(fd);
	assert_int_equal(notify_send("READY=1\nSTATUS=tunnel up"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=tunnel up");
	assert_int_equal(notify_send("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	/* Closed: a no-op again. */
	notify_close();
	assert_int_equal(notify_send("STATUS=after close"), 0);
	expect_nothing(fd);
	close(fd);
}

static void
test_abstract(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@autossh-test-notify.%ld",
	    (long)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_init(), 0);
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(notify_send("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	close(fd);
}

static void
test_abstract_is_not_the_path(void **state)
{
	char name[64];
	int fd;

	(void)state;
	/* "@x" names the abstract "\0x", not a file called "@x". */
	snprintf(name, sizeof(name), "@autossh-test-nobody.%ld",
	    (long)getpid());
	fd = listener(sock_path);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), -1);
	expect_nothing(fd);
	close(fd);
}

static void
test_no_listener(void **state)
{
	(void)state;
	/* systemd gone: the send fails, the caller logs and goes on. */
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(notify_init(), 0);
	errno = 0;
	assert_int_equal(notify_send("READY=1"), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);
}

static void
test_watchdog(void **state)
{
	int fd = listener(sock_path);

	(void)state;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 1000);
	assert_null(getenv("WATCHDOG_USEC"));
	close(fd);
}

static void
test_watchdog_our_pid(void **state)
{
	char pid[32];
	int fd = listener(sock_path);

	(void)state;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 15000);
	assert_null(getenv("WATCHDOG_PID"));
	close(fd);
}

static void
test_watchdog_other_pid(void **state)
{
	int fd = listener(sock_path);

	(void)state;
	/* The watchdog is another process's (our parent's) to ping. */
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 0);
	assert_null(getenv("WATCHDOG_USEC"));
	assert_null(getenv("WATCHDOG_PID"));
	close(fd);
}

struct wrow {
	const char	*usec;
	int64_t		 want;
};

static const struct wrow wrows[] = {
	{ "1", 1 },
	{ "1999", 1 },
	{ "2000", 1 },
	{ "4000", 2 },
	{ "0", 0 },
	{ "-2000000", 0 },
	{ "2s", 0 },
	{ "", 0 },
	{ "9223372036854775", 4611686018427 },
	{ "9223372036854776", 0 },
};

static void
test_watchdog_values(void **state)
{
	size_t i;
	int fd = listener(sock_path);

	(void)state;
	for (i = 0; i < sizeof(wrows) / sizeof(wrows[0]); i++) {
		forget();
		setenv("NOTIFY_SOCKET", sock_path, 1);
		setenv("WATCHDOG_USEC", wrows[i].usec, 1);
		assert_int_equal(notify_init(), 0);
		if (notify_watchdog_ms() != wrows[i].want)
			fail_msg("WATCHDOG_USEC '%s': %lld ms, want %lld",
			    wrows[i].usec, (long long)notify_watchdog_ms(),
			    (long long)wrows[i].want);
	}
	close(fd);
}

static void
test_watchdog_fresh_each_init(void **state)
{
	int fd = listener(sock_path);

	(void)state;
	/*
	 * What an earlier init read does not outlive notify_close(): the
	 * second init has no WATCHDOG_USEC, so there is no watchdog.
	 */
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 1000);
	notify_close();
	assert_int_equal(notify_watchdog_ms(), 0);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_watchdog_ms(), 0);
	close(fd);
}

static void
test_relative(void **state)
{
	(void)state;
	setenv("NOTIFY_SOCKET", "run/systemd/notify", 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	errno = 0;
	assert_int_equal(notify_init(), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(notify_watchdog_ms(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
}

static void
test_too_long(void **state)
{
	char name[200];

	(void)state;
	memset(name, 'x', sizeof(name) - 1);
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	setenv("NOTIFY_SOCKET", name, 1);
	errno = 0;
	assert_int_equal(notify_init(), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_int_equal(notify_send("READY=1"), 0);
	/* 107 bytes and the NUL fill sun_path exactly: accepted. */
	name[107] = '\0';
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_init(), 0);
}

int
main(void)
{
	add_ntest("NOTIFY_SOCKET unset: no-ops", test_unset);
	add_ntest("WATCHDOG_USEC without NOTIFY_SOCKET",
	    test_unset_with_watchdog);
	add_ntest("NOTIFY_SOCKET empty: no-ops", test_empty);
	add_ntest("path socket: exact datagrams, variable removed", test_path);
	add_ntest("abstract socket '@name'", test_abstract);
	add_ntest("'@name' is not a file", test_abstract_is_not_the_path);
	add_ntest("nobody listening: send fails", test_no_listener);
	add_ntest("WATCHDOG_USEC=2000000 gives 1000 ms", test_watchdog);
	add_ntest("WATCHDOG_PID is ours", test_watchdog_our_pid);
	add_ntest("WATCHDOG_PID of another process", test_watchdog_other_pid);
	add_ntest("WATCHDOG_USEC boundaries", test_watchdog_values);
	add_ntest("watchdog read afresh by every init",
	    test_watchdog_fresh_each_init);
	add_ntest("relative NOTIFY_SOCKET: EINVAL", test_relative);
	add_ntest("NOTIFY_SOCKET beyond sun_path: EINVAL", test_too_long);
	return unit_run("test_notify", NULL,
	    NULL);
}
