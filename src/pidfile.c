/*
 * The pidfile.  The lock, not the file's existence, says whether an
 * instance runs: the kernel drops a flock() when its holder dies, so a
 * pidfile can never go stale.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pidfile.h"
#include "util.h"

int
pidfile_abspath(const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/') {
		if (util_strlcpy(out, path, len) >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	n = snprintf(out, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static pid_t
read_pid(int fd)
{
	char buf[32];
	ssize_t n;
	long long v;
	char err[64];

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (parse_num(buf, 1, INT_MAX, &v, err, sizeof(err)) == -1)
		return 0;
	return (pid_t)v;
}

int
pidfile_open(const char *path, pid_t *holder)
{
	struct stat st;
	int fd, e;

	*holder = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0644);
	if (fd == -1)
		return -1;
	/*
	 * A device or a fifo is no pidfile: writing /dev/full fails, and
	 * a failed start unlinks what it opened.
	 */
	if (fstat(fd, &st) == -1)
		e = errno;
	else
		e = S_ISREG(st.st_mode) ? 0 : EINVAL;
	if (e != 0) {
		close(fd);
		errno = e;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		if (e == EWOULDBLOCK)
			*holder = read_pid(fd);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
pidfile_write(int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	ssize_t w;

	if (ftruncate(fd, 0) == -1 || (w = pwrite(fd, buf, (size_t)n, 0)) == -1)
		return -1;
	if (w != n) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void
pidfile_remove(const char *path, int fd)
{
	if (fd == -1)
		return;
	/* Unlink first: once the lock is gone the name may be someone's. */
	unlink(path);
	close(fd);
}
