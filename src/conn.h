/*
 * The liveness layer's own TCP connection (DESIGN.md §Liveness).
 * ssh is given
 *
 *	-o ProxyCommand=<autossh> --fdpass-helper <socket>
 *	-o ProxyUseFdpass=yes
 *
 * and the helper (this same program) asks the supervisor over an
 * abstract Unix socket what to connect to, connects with bounded
 * attempts and the keepalive options set, then passes the connected
 * socket both to ssh (on its stdout, as ProxyUseFdpass wants) and back
 * to the supervisor, which keeps a copy for TCP_INFO and remembers the
 * local port for the next connection (DESIGN.md §Stale sessions).  This
 * is the supervisor's end; connect.h is the helper's.
 */
#ifndef AUTOSSH_CONN_H
#define AUTOSSH_CONN_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "liveness.h"
#include "sshcfg.h"
#include "supervise.h"

/* How many pollfds conn_pollfds() fills. */
#define CONN_MAX_FDS	2

/* The longest ConnectTimeout passed on; longer ones mean "no limit". */
#define CONN_MAX_TIMEOUT_MS	(1 << 30)

/* conn_read() results. */
#define CONN_NOTHING	0
#define CONN_TRANSPORT	1	/* the socket arrived: TCP is up */
#define CONN_FAILED	2	/* the helper gave up; reason in fail */

struct conn {
	int		listen_fd;	/* abstract AF_UNIX listener, or -1 */
	char		name[64];	/* its name, without the leading NUL */
	int		peer_fd;	/* the current helper, or -1 */
	int		sock_fd;	/* our copy of ssh's TCP socket, or -1 */
	struct sockaddr_storage local;	/* of sock_fd */
	struct sockaddr_storage remote;	/* kept after sock_fd closes: the
					   helper tries it first */
	struct sockaddr_storage last_local; /* of the previous connection */
	int		reuse_port;	/* ask the helper to bind last_local */
	uint32_t	last_rtt_us;	/* of the previous connection */
	int		port_reused;	/* the socket got last_local's port */
	char		fail[256];	/* the helper's reason for CONN_FAILED */
	char		params[1024];	/* what the helper is told */
	size_t		params_len;
};

/* An unused conn: every descriptor -1. */
void	conn_init(struct conn *c);

/*
 * Create the listener (a random abstract name, SOCK_SEQPACKET,
 * close-on-exec) and remember what helpers are to be told.  Returns 0,
 * or -1 with errno set.
 */
int	conn_open(struct conn *c, const struct sshcfg *cfg,
	    const struct liveness *l);

/*
 * The ProxyCommand value for ssh, with self (an absolute path to this
 * program) shell-quoted and ssh's '%' tokens escaped.  Returns 0, or -1
 * with errno EINVAL when self holds characters we refuse to quote
 * (control characters) or the result does not fit.
 */
int	conn_proxy_command(const struct conn *c, const char *self, char *out,
	    size_t len);

/*
 * The listener is readable: accept the helper if it is a child of ssh
 * (pid ssh_pid) running as our user, and send it the parameters (with
 * how long before now the working session was lost, lost_ms, unless
 * NEVER).  Anyone else is dropped.  Never blocks.
 */
void	conn_accept(struct conn *c, pid_t ssh_pid, int64_t lost_ms,
	    int64_t now);

/*
 * Tell helpers started from now on to dial cfg's HostName and Port with
 * l's socket options (a change of destination, DESIGN.md §Fallbacks).
 * The next connection neither reuses the previous local port nor
 * prefers the previous server address: both belonged to another server.  Returns 0, or -1 with errno ENAMETOOLONG
 * when the parameters do not fit.  Never blocks.
 */
int	conn_set_params(struct conn *c, const struct sshcfg *cfg,
	    const struct liveness *l);

/* Read from the helper: CONN_TRANSPORT, CONN_FAILED or CONN_NOTHING. */
int	conn_read(struct conn *c);

/*
 * The loop's interface, like the monitor's.  conn_pollfds() fills n
 * (>= CONN_MAX_FDS) pollfds, the listener and the current helper (fd -1
 * when none), and returns how many.  conn_handle() takes them back after
 * poll(): accepts a helper (conn_accept()), reads it (conn_read()), and
 * returns 1 with ev set to EV_TRANSPORT (port_reused) when ssh's
 * connection arrived, else 0.  A helper's failure is logged here and
 * kept for conn_fail().  The connection has no deadline of its own.
 */
int	conn_pollfds(const struct conn *c, struct pollfd *pfd, int n);
int	conn_handle(struct conn *c, const struct pollfd *pfd, int n,
	    pid_t ssh_pid, int64_t lost_ms, int64_t now, struct sv_event *ev);

/* The helper's reason for giving up with this ssh, or "". */
const char *conn_fail(const struct conn *c);

/* The current connection's local address, or NULL without one. */
const struct sockaddr_storage *conn_local(const struct conn *c);

/* The last connection's remote address, or NULL if none was made. */
const struct sockaddr_storage *conn_remote(const struct conn *c);

/*
 * The current connection has unanswered retransmissions (stalled in
 * TCP's back-off): 1, else 0 (also without a connection).
 */
int	conn_stalled(const struct conn *c);

/*
 * ssh has gone: drop the helper and our copy of the socket, remembering
 * its local address for the next connection.
 */
void	conn_reset(struct conn *c);

/* The figures --status shows, from TCP_INFO. */
struct conn_stats {
	uint32_t	rtt_us;
	uint32_t	retransmits;	/* unanswered RTO timeouts in a row */
	uint64_t	bytes_sent;	/* including retransmissions */
	uint64_t	bytes_received;
};

/* TCP_INFO of the current connection.  Returns 0, or -1/errno. */
int	conn_stats(const struct conn *c, struct conn_stats *cs);

/*
 * Fill sun with the abstract socket address for name (shared with the
 * helper); returns the address length to pass to bind() or connect().
 */
socklen_t conn_abstract_addr(const char *name, struct sockaddr_un *sun);

/* "10.0.0.1:22" or "[fd00::1]:22" for the log.  Always terminates. */
void	conn_describe(const struct sockaddr_storage *ss, char *buf, size_t len);

/* Close everything (at exit). */
void	conn_close(struct conn *c);


#endif
