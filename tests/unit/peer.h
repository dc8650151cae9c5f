/*
 * Loopback TCP helpers the unit tests of the monitor and of sockdiag
 * share: an address, a connection owned by another user, and whether the
 * other end has gone.  Header-only, for one test binary each; include it
 * after <cmocka.h>, <poll.h>, <sys/socket.h>, <netinet/in.h>,
 * <arpa/inet.h>, <string.h> and <unistd.h>.
 */
#ifndef AUTOSSH_TESTS_PEER_H
#define AUTOSSH_TESTS_PEER_H

#define NOBODY		65534	/* another user, for tests run as root */

/* 127.0.0.1:port. */
static __attribute__((unused)) void
loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/*
 * Connect to 127.0.0.1:port from a socket owned by uid (made with that
 * effective uid; only root can; uid -1: as we are).  Returns -1 when
 * another uid is asked for and we are not root.
 */
static __attribute__((unused)) int
connect_as(uid_t uid, int port)
{
	struct sockaddr_in sin;
	uid_t self = geteuid();
	int fd;

	if (uid != (uid_t)-1 && self != 0)
		return -1;
	if (uid != (uid_t)-1)
		assert_int_equal(seteuid(uid), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (uid != (uid_t)-1)
		assert_int_equal(seteuid(self), 0);
	assert_true(fd >= 0);
	loopback(&sin, port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return fd;
}

/*
 * 1 once the other end has closed or reset fd (unread data is read past),
 * 0 when nothing more comes within a second.
 */
static __attribute__((unused)) int
closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[512];
	int i;

	for (i = 0; i < 16; i++) {
		if (poll(&p, 1, 1000) != 1)
			return 0;
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			return 1;
	}
	return 0;
}

#endif
