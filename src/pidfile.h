/*
 * The pidfile: created without following symlinks, locked with flock()
 * for as long as autossh runs, so that a second instance refuses to
 * start and a crashed one never leaves a lock behind.
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
 * Open and lock path (O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW, mode 0644).
 * Returns the descriptor, which holds the lock until closed.  On failure
 * returns -1 with errno set; EWOULDBLOCK means another process holds the
 * lock, and then *holder is its pid as read from the file (0 if unknown);
 * EINVAL means path is not a regular file.
 * A file left by a dead process is simply taken over.
 */
int	pidfile_open(const char *path, pid_t *holder);

/* Replace the file's contents with pid and a newline.  0 or -1/errno. */
int	pidfile_write(int fd, pid_t pid);

/* Unlink path while still holding the lock, then close fd. */
void	pidfile_remove(const char *path, int fd);

#endif
