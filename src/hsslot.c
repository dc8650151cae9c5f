/*
 * Handshake slots as lock files: "<state dir>/.hs-<host>-<port>-<netns>.<k>"
 * for k in 0..n-1, each locked with flock() by the instance that holds
 * it.  flock() locks belong to the open file description and go with
 * the last descriptor, so a crashed or killed instance never leaves a
 * slot taken.  The files themselves stay (unlinking a lock file races
 * with a taker); they are empty and few.  Policy is supervise.c's.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hsslot.h"
#include "util.h"

int
hsslot_init(struct hsslot *hs, const char *dir, const char *host, int port,
    int n)
{
	char safe[64];
	struct stat sb;
	unsigned long long ns = 0;
	size_t i;
	int len;

	hs->fd = hs->index = -1;
	hs->n = 0;
	hs->prefix[0] = '\0';
	if (dir == NULL || dir[0] == '\0' || host == NULL || host[0] == '\0' ||
	    n < 1) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Host names and addresses need only these; anything else becomes
	 * '_', and a long name is cut, so two hosts could share slots,
	 * which costs time, never correctness.
	 */
	for (i = 0; host[i] != '\0' && i < sizeof(safe) - 1; i++)
		safe[i] = (host[i] >= 'a' && host[i] <= 'z') ||
		    (host[i] >= 'A' && host[i] <= 'Z') ||
		    (host[i] >= '0' && host[i] <= '9') || host[i] == '.' ||
		    host[i] == '-' || host[i] == ':' ? host[i] : '_';
	safe[i] = '\0';
	if (stat("/proc/self/ns/net", &sb) == 0)
		ns = (unsigned long long)sb.st_ino;
	len = snprintf(hs->prefix, sizeof(hs->prefix), "%s/.hs-%s-%d-%llu.",
	    dir, safe, port, ns);
	if (len < 0 || (size_t)len + 4 >= sizeof(hs->prefix)) {
		hs->prefix[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	hs->n = n;
	return 0;
}

int
hsslot_take(struct hsslot *hs)
{
	char path[PATH_MAX + 16];
	uint16_t r = 0;
	int k, i, fd, err = 0;

	if (hs->fd != -1)
		return 1;
	if (hs->n < 1) {
		errno = EINVAL;
		return -1;
	}
	/* From a random slot on, so takers do not all contend for slot 0. */
	util_random(&r, sizeof(r));
	for (i = 0; i < hs->n; i++) {
		k = (r + i) % hs->n;
		/* Fits: hsslot_init() left room for the number. */
		if (snprintf(path, sizeof(path), "%s%d", hs->prefix, k) >=
		    (int)sizeof(path))
			continue;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		    O_NONBLOCK, 0600);
		if (fd == -1) {
			err = errno;
			continue;
		}
		while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EWOULDBLOCK)
				err = errno;
			close(fd);
			fd = -1;
			break;
		}
		if (fd != -1) {
			hs->fd = fd;
			hs->index = k;
			return 1;
		}
	}
	if (err != 0) {
		/* A slot we cannot even open is not "taken": say so. */
		errno = err;
		return -1;
	}
	return 0;
}

void
hsslot_release(struct hsslot *hs)
{
	if (hs->fd == -1)
		return;
	/* Closing the only descriptor drops the lock. */
	close(hs->fd);
	hs->fd = hs->index = -1;
}

int
hsslot_held(const struct hsslot *hs)
{
	return hs->fd != -1;
}
