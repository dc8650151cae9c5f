/*
 * The pidfile: created without following symlinks and only where no
 * other user can change it, locked with flock() for as long as autossh
 * runs, so that a second instance refuses to start and a crashed one
 * never leaves a lock behind.
 */
#ifndef AUTOSSH_PIDFILE_H
#define AUTOSSH_PIDFILE_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Make path absolute against the current directory into out.  Returns
 * 0, or -1 with errno set (ENAMETOOLONG, or getcwd's errno).
 */
int	pidfile_abspath(const char *path, char *out, size_t len);

/*
 * Open and lock path, an absolute path as made by pidfile_abspath()
 * (O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW, mode 0644).  Returns the
 * descriptor, which holds the lock until closed.  On failure returns -1
 * with errno set and the reason, ready for the operator, in why:
 * EWOULDBLOCK means another process holds the lock, and then *holder is
 * its pid as read from the file (0 if unknown); ELOOP a symbolic link;
 * EPERM a file another user could change: not a regular file, not
 * owned by the effective uid, more than one link, or in a directory
 * owned by another user (root aside) or writable by others without the
 * sticky bit.  A file left by a dead process is simply taken over.
 */
int	pidfile_open(const char *path, pid_t *holder, char *why,
	    size_t whylen);

/* Replace the file's contents with pid and a newline.  0 or -1/errno. */
int	pidfile_write(int fd, pid_t pid);

/*
 * The pid in an open pidfile (read from its start whatever fd's offset),
 * or 0 when it holds none: empty, unreadable, not a number in
 * 1..INT_MAX, or not a regular file.  Never blocks on a descriptor
 * opened with O_NONBLOCK.
 */
pid_t	pidfile_read(int fd);

/*
 * The pid in the pidfile at path, or 0: opened read-only without
 * following a symbolic link and without blocking, then pidfile_read().
 * No lock is taken and the file's owner is not checked.
 */
pid_t	pidfile_pid(const char *path);

/* Unlink path while still holding the lock, then close fd. */
void	pidfile_remove(const char *path, int fd);

#endif
