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

/*
 * At most the first 31 bytes count, up to the first newline; a FIFO or
 * socket (pread's ESPIPE) reads as nothing.
 */
pid_t
pidfile_read(int fd)
{
	char buf[32], err[64];
	ssize_t n;
	long long v;

	do {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (parse_num(buf, 1, INT_MAX, &v, err, sizeof(err)) == -1)
		return 0;
	return (pid_t)v;
}

pid_t
pidfile_pid(const char *path)
{
	pid_t pid;
	int fd;

	/* O_NONBLOCK: a FIFO planted there must not stall the reader. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1)
		return 0;
	pid = pidfile_read(fd);
	close(fd);
	return pid;
}

/*
 * The directory decides who can swap the file under us: its owner can
 * always rename entries, and without the sticky bit so can anyone with
 * write permission on it.
 */
static int
safe_dir(const struct stat *st, const char *path, char *why, size_t len)
{
	if (st->st_uid != geteuid() && st->st_uid != 0) {
		snprintf(why, len, "refusing %s: its directory belongs to uid "
		    "%ld", path, (long)st->st_uid);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st->st_mode & S_ISVTX) == 0) {
		snprintf(why, len, "refusing %s: its directory is writable by "
		    "others and not sticky", path);
		return -1;
	}
	return 0;
}

/*
 * Someone else's file would let its owner rewrite the pid that an
 * operator later kills, or hold the lock to keep us from starting; a
 * second link to it could be any file of ours (truncated by
 * pidfile_write).
 */
static int
safe_file(const struct stat *st, const char *path, char *why, size_t len)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, len, "refusing %s: not a regular file", path);
		return -1;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, len, "refusing %s: it belongs to uid %ld, not "
		    "to uid %ld", path, (long)st->st_uid, (long)geteuid());
		return -1;
	}
	if (st->st_nlink != 1) {
		snprintf(why, len, "refusing %s: it has %lu links", path,
		    (unsigned long)st->st_nlink);
		return -1;
	}
	return 0;
}

int
pidfile_open(const char *path, pid_t *holder, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	const char *base = strrchr(path, '/');
	struct stat st;
	int dfd, fd, e;

	*holder = 0;
	why[0] = '\0';
	if (base == NULL) {
		/* Callers pass pidfile_abspath()'s result. */
		snprintf(why, whylen, "refusing %s: not an absolute path",
		    path);
		errno = EINVAL;
		return -1;
	}
	snprintf(dir, sizeof(dir), "%.*s", base == path ? 1 :
	    (int)(base - path), path);
	base++;
	/* Check the directory we then create in, not one swapped in later. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		goto fail;
	if (fstat(dfd, &st) == -1)
		goto fail_dfd;
	if (safe_dir(&st, path, why, whylen) == -1) {
		close(dfd);
		errno = EPERM;
		return -1;
	}
	/* O_NONBLOCK: a FIFO or device planted there must not stall us. */
	fd = openat(dfd, base, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK, 0644);
	if (fd == -1)
		goto fail_dfd;
	close(dfd);
	if (fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		errno = e;
		goto fail;
	}
	if (safe_file(&st, path, why, whylen) == -1) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		if (e == EWOULDBLOCK)
			*holder = pidfile_read(fd);
		close(fd);
		errno = e;
		goto fail;
	}
	return fd;

fail_dfd:
	e = errno;
	close(dfd);
	errno = e;
fail:
	e = errno;
	if (e == ELOOP)
		snprintf(why, whylen, "refusing to follow the symbolic link %s",
		    path);
	else if (e == EWOULDBLOCK)
		snprintf(why, whylen, "%s is locked", path);
	else
		snprintf(why, whylen, "unable to open %s: %s", path,
		    strerror(e));
	errno = e;
	return -1;
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
