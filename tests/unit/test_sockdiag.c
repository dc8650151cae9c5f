/*
 * Unit tests for sockdiag.c: the kernel names the owner of the other end
 * of a real loopback connection, ours or (run as root) another user's,
 * and a lingering or missing socket names nobody.  Without sock_diag the
 * lookup tests are skipped.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"

#include "sockdiag.h"

/* Listen on a free 127.0.0.1 port; its number goes to *port. */
static int
listener(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	loopback(&sin, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&p, 1, 3000), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Our two ends of an accepted connection: peer and local addresses. */
static void
ends(int a, struct sockaddr_in *peer, struct sockaddr_in *local)
{
	socklen_t pl = sizeof(*peer), ll = sizeof(*local);

	assert_int_equal(getpeername(a, (struct sockaddr *)peer, &pl), 0);
	assert_int_equal(getsockname(a, (struct sockaddr *)local, &ll), 0);
}

static void
test_no_socket(void **state)
{
	struct sockaddr_in peer, local;
	uid_t uid = 12345;

	(void)state;
	loopback(&peer, 1);
	loopback(&local, 2);
	errno = 0;
	assert_int_equal(sockdiag_peer_uid(-1, &peer, &local, &uid), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(uid, 12345);
}

/* A connection of ours is named as ours. */
static void
test_own_connection(void **state)
{
	struct sockaddr_in peer, local;
	int port, lfd = listener(&port), dfd, c, a;
	uid_t uid = 12345;

	(void)state;
	if ((dfd = sockdiag_open()) == -1) {
		close(lfd);
		skip();
	}
	c = connect_as((uid_t)-1, port);
	a = accept_one(lfd);
	ends(a, &peer, &local);
	assert_int_equal(sockdiag_peer_uid(dfd, &peer, &local, &uid), 0);
	assert_int_equal(uid, geteuid());
	close(a);
	close(c);
	close(dfd);
	close(lfd);
}

/*
 * Another user's socket is named as such, not as ours; once its owner
 * closed it, it lingers (FIN_WAIT2, TIME_WAIT) with uid 0, which names
 * nobody, root least.  Needs root.
 */
static void
test_other_user(void **state)
{
	struct sockaddr_in peer, local;
	int port, lfd = listener(&port), dfd, c, a;
	uid_t uid = 12345;

	(void)state;
	if ((dfd = sockdiag_open()) == -1 ||
	    (c = connect_as(NOBODY, port)) == -1) {
		if (dfd != -1)
			close(dfd);
		close(lfd);
		skip();
	}
	a = accept_one(lfd);
	ends(a, &peer, &local);
	assert_int_equal(sockdiag_peer_uid(dfd, &peer, &local, &uid), 0);
	assert_int_equal(uid, NOBODY);
	/* Our end of it is ours. */
	assert_int_equal(sockdiag_peer_uid(dfd, &local, &peer, &uid), 0);
	assert_int_equal(uid, geteuid());
	close(c);
	assert_true(closed_by_peer(a));
	errno = 0;
	assert_int_equal(sockdiag_peer_uid(dfd, &peer, &local, &uid), -1);
	assert_int_equal(errno, ENOENT);
	close(a);
	close(dfd);
	close(lfd);
}

/* No such connection: ENOENT, *uid untouched. */
static void
test_no_connection(void **state)
{
	struct sockaddr_in peer, local;
	int port, lfd = listener(&port), dfd, dead;
	uid_t uid = 12345;

	(void)state;
	if ((dfd = sockdiag_open()) == -1) {
		close(lfd);
		skip();
	}
	/* A port nobody listens on: ours, closed. */
	close(listener(&dead));
	loopback(&peer, dead);
	loopback(&local, port);
	errno = 0;
	assert_int_equal(sockdiag_peer_uid(dfd, &peer, &local, &uid), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(uid, 12345);
	close(dfd);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_own_connection),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_no_connection),
	};

	return cmocka_run_group_tests_name("test_sockdiag", tests, NULL,
	    NULL);
}
