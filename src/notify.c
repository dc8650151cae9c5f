/*
 * sd_notify without libsystemd.  The protocol is a datagram of
 * newline-separated VAR=value assignments sent to an AF_UNIX socket
 * whose path is in $NOTIFY_SOCKET; a leading '@' names an abstract
 * socket.  This module only sends; what to say and when is the loop's.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "util.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static int64_t watchdog_ms;

int
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	char why[64];
	long long v;
	size_t n;

	notify_close();
	watchdog_ms = 0;
	if (usec != NULL && parse_num(usec, 1, INT64_MAX / 1000, &v, why,
	    sizeof(why)) == 0) {
		long long pid = 0;

		/* WATCHDOG_PID, when set, names the process to ping from. */
		if (wpid == NULL || (parse_num(wpid, 1, INT32_MAX, &pid, why,
		    sizeof(why)) == 0 && pid == getpid()))
			watchdog_ms = v >= 2000 ? v / 2000 : 1;
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || path[0] == '\0') {
		unsetenv("NOTIFY_SOCKET");
		watchdog_ms = 0;
		return 0;
	}
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    n >= sizeof(notify_addr.sun_path)) {
		unsetenv("NOTIFY_SOCKET");
		watchdog_ms = 0;
		errno = EINVAL;
		return -1;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '@' ? 0 : 1));
	unsetenv("NOTIFY_SOCKET");
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd == -1) {
		watchdog_ms = 0;
		return -1;
	}
	return 0;
}

int
notify_send(const char *msg)
{
	ssize_t n;

	if (notify_fd == -1)
		return 0;
	do
		n = sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL,
		    (struct sockaddr *)&notify_addr, notify_len);
	while (n == -1 && errno == EINTR);
	return n == -1 ? -1 : 0;
}

int64_t
notify_watchdog_ms(void)
{
	return notify_fd == -1 ? 0 : watchdog_ms;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
