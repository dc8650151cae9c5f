/*
 * Handshake slots (DESIGN.md §Handshake slots): a few lock files per
 * destination in the state directory, so that the instances of one user
 * never have more than HSSLOT_N unauthenticated connections to one sshd
 * at a time, which keeps a crowd of tunnels under sshd's MaxStartups.
 * This module does the file and flock() work only; when to take and
 * release a slot is supervise.c's decision.
 */
#ifndef AUTOSSH_HSSLOT_H
#define AUTOSSH_HSSLOT_H

#include <limits.h>

/*
 * Slots per destination: below the 10 at which sshd's default
 * MaxStartups (10:30:100) starts dropping, leaving room for a couple of
 * connections from elsewhere and for the moment between ssh hearing that
 * it is authenticated and sshd counting the connection as done.
 */
#define HSSLOT_N	8
/*
 * While every slot is held, ask again this often (jittered; slower
 * after a while, supervise.c): a slot frees when a handshake ends, a
 * fraction of a second under load, so a waiter loses little.
 */
#define HSSLOT_WAIT_MS	100

struct hsslot {
	char	prefix[PATH_MAX];	/* "<dir>/.hs-<host>-<port>-<netns>." */
	int	n;			/* slots for this destination */
	int	fd;			/* the slot held, or -1 */
	int	index;			/* its number, or -1 */
};

/*
 * Prepare slots for host and port in dir (the instance's state
 * directory, already checked as ours alone).  The host is sanitised
 * into the file name; the network namespace is part of it, because the
 * same address in another namespace is another server.  Opens nothing.
 * Returns 0, or -1 with errno set (EINVAL: no directory or an empty
 * host; ENAMETOOLONG).
 */
int	hsslot_init(struct hsslot *hs, const char *dir, const char *host,
	    int port, int n);

/*
 * Take a free slot without blocking: flock(LOCK_EX|LOCK_NB) on the
 * slot files, from a random one on.  Returns 1 when a slot is held
 * (also when one already was), 0 when every slot is held by someone
 * else, -1 with errno set when the files cannot be used (the caller
 * then goes ahead without a slot).  The lock lives on a close-on-exec
 * descriptor, so ssh does not inherit it and the kernel drops it when
 * this process dies.
 */
int	hsslot_take(struct hsslot *hs);

/* Let the held slot go (no-op when none is held).  Never fails. */
void	hsslot_release(struct hsslot *hs);

/* Whether a slot is held. */
int	hsslot_held(const struct hsslot *hs);

#endif
