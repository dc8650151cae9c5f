/*
 * A socket check the unit tests of the monitor and of sockdiag share:
 * has the other end of a TCP connection gone?  Header-only, for one test
 * binary each; include it after <poll.h> and <sys/socket.h>.
 */
#ifndef AUTOSSH_TESTS_PEER_H
#define AUTOSSH_TESTS_PEER_H

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
