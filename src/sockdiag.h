/*
 * Who owns the other end of a loopback TCP connection, asked of the
 * kernel through sock_diag (NETLINK_SOCK_DIAG).  The port monitor uses it
 * to tell ssh's reply on port+1 from another local user's connection
 * (DESIGN.md §Port monitor).  One request, one answer read at once:
 * nothing here blocks or allocates.
 */
#ifndef AUTOSSH_SOCKDIAG_H
#define AUTOSSH_SOCKDIAG_H

#include <sys/types.h>

#include <netinet/in.h>

/*
 * A sock_diag socket (close-on-exec, non-blocking), or -1 with errno set
 * (a kernel without sock_diag, or a sandbox that refuses netlink).
 */
int	sockdiag_open(void);

/*
 * Which user owns the socket at the other end of a loopback TCP
 * connection: peer is its address, local ours; diag_fd comes from
 * sockdiag_open().  Returns 0 with *uid set, or -1 with errno set
 * (EBADF: diag_fd is -1; ENOENT: no such socket, or one whose owner is
 * not meaningful, such as TIME_WAIT or one its owner closed).  Never
 * blocks: the kernel answers within the request.
 */
int	sockdiag_peer_uid(int diag_fd, const struct sockaddr_in *peer,
	    const struct sockaddr_in *local, uid_t *uid);

#endif
