/*
 * The port monitor (-M, DESIGN.md §Port monitor): a test message sent
 * through ssh's forwards and read back, every poll interval, to prove
 * the session end to end.  This module owns the monitor's sockets and
 * deadlines and the protocol (message, matching, timing); the loop polls
 * its descriptors and turns a failed test into EV_LINK_LOST.  It never
 * blocks, never allocates and never touches ssh itself.
 */
#ifndef AUTOSSH_MONITOR_H
#define AUTOSSH_MONITOR_H

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* Longest message: node name, "autossh", pid, random, 64 bytes, CR LF. */
#define MON_MSG_MAX	256
/*
 * Connections on port+1 held at once during a test (loop mode).  Other
 * users' are closed unread and never take one; ours wait here to be read.
 */
#define MON_MAX_PEERS	8
/* Descriptors monitor_pollfds() may add: listener, test, peers. */
#define MON_MAX_FDS	(2 + MON_MAX_PEERS)
/* The network timeout of one attempt when POLL >= 30 s. */
#define MON_NET_TIMEOUT_MS	15000
/*
 * Pause between a failed attempt and the retry, at most half of what is
 * left of the test's timeout.
 */
#define MON_RETRY_PAUSE_MS	1000
/*
 * Least time a connection on port+1 keeps its slot to send the message
 * before a newer one may take it (longer on a slow link: monitor_grace_ms).
 */
#define MON_PEER_GRACE_MS	1000

enum mon_result {
	MON_NONE,		/* nothing decided */
	MON_PASS,		/* a test passed */
	MON_FAIL,		/* a test failed: restart ssh; see why */
};

enum mon_phase {
	MON_OFF,		/* no ssh, or the last test failed */
	MON_IDLE,		/* waiting for the next test at next_ms */
	MON_CONNECTING,		/* connecting to 127.0.0.1:port */
	MON_SENDING,		/* connected; message partly written */
	MON_WAITING,		/* message sent; waiting for the reply */
	MON_PAUSE,		/* first attempt failed; retry at next_ms */
};

/* What monitor_match() makes of the bytes received so far. */
enum mon_match {
	MATCH_MORE,		/* a proper prefix of the message: read on */
	MATCH_YES,		/* the message, exactly, through its CR LF */
	MATCH_NO,		/* can no longer be the message */
};

/* A connection accepted on port+1 and what it has sent so far. */
struct mon_peer {
	int		 fd;		/* -1: slot free */
	uint64_t	 seq;		/* accept order: oldest goes first */
	int64_t		 accepted_ms;	/* when it was accepted */
	size_t		 len;
	char		 buf[MON_MSG_MAX];
};

struct monitor {
	int		 port;		/* 0: the monitor is off */
	int		 echo_port;	/* 0: loop mode */
	int64_t		 poll_ms;
	int64_t		 first_poll_ms;
	int64_t		 timeout_ms;	/* of one attempt */
	char		 text[80];	/* AUTOSSH_MESSAGE */
	char		 node[72];	/* uname's node name */
	long		 pid;		/* ours, as of monitor_start() */
	int		 listen_fd;	/* 127.0.0.1:port+1, or -1 */
	int		 diag_fd;	/* sockdiag_open(), to learn peers' owners */
	uid_t		 self_uid;	/* connections from others are refused */

	enum mon_phase	 phase;
	int		 attempt;	/* 0: first, 1: the retry */
	int64_t		 next_ms;	/* MON_IDLE, MON_PAUSE */
	int64_t		 attempt_ms;	/* when this attempt began */
	int64_t		 end_ms;	/* when the test (both attempts) times out */
	int64_t		 full_ms;	/* slots full: the next may free at */
	int		 fd;		/* the test connection, or -1 */
	char		 msg[MON_MSG_MAX];
	size_t		 msg_len;
	size_t		 sent;
	struct mon_peer	 echo;		/* echo mode: reply so far */
	struct mon_peer	 peers[MON_MAX_PEERS];
	uint64_t	 accepts;	/* connections accepted, ever */
	int		 strays;	/* dropped during this attempt */
	int		 refused;	/* other users', during this attempt */
	int		 refused_said;	/* told since the last monitor_start() */
	char		 first_why[160]; /* why the first attempt failed */
	int		 fwd_seen;	/* refusal seen for this ssh */
	int		 fwd_said;	/* explained since the last pass */
	int		 passes;	/* tests passed, ever */
	int64_t		 last_rtt_ms;	/* of the last passed test, or -1 */
};

/* An unused monitor: off, every descriptor -1.  Safe to close. */
void	monitor_init(struct monitor *m);

/*
 * Configure m for -M port[:echo_port] (port 0: off, and nothing else
 * happens) with poll_s and first_poll_s seconds between tests and the
 * AUTOSSH_MESSAGE text (at most 64 bytes, or NULL).  In loop mode it
 * binds the listener on 127.0.0.1:port+1 (close-on-exec, non-blocking).
 * Returns 0, or -1 with errno set and one line in errbuf naming the port
 * and the reason.  The first test waits for monitor_start().
 */
int	monitor_open(struct monitor *m, int port, int echo_port, int poll_s,
	    int first_poll_s, const char *message, char *errbuf, size_t len);

/*
 * ssh has just been started at now: the first test is due at now +
 * FIRST_POLL.  Aborts a test that was under way.
 */
void	monitor_start(struct monitor *m, int64_t now);

/* ssh is going or gone: abort any test, close its descriptors, no tests. */
void	monitor_stop(struct monitor *m);

/* The next time monitor_handle() must run without an event, or NEVER. */
int64_t	monitor_deadline(const struct monitor *m);

/*
 * Fill up to max entries of pfd (revents cleared) with the descriptors
 * the monitor waits on; returns how many.  max should be MON_MAX_FDS.
 */
int	monitor_pollfds(const struct monitor *m, struct pollfd *pfd, int max);

/*
 * After poll(): process the n entries monitor_pollfds() filled (their
 * revents), then the deadlines that have passed at now.  Starts tests,
 * retries a quick failure once within the test's one timeout, drops
 * strangers on port+1.  Returns MON_FAIL with the reason in why (a full
 * log line, "monitor test failed: ...") when a test failed; the monitor
 * then waits for the next monitor_start().  Never blocks.
 */
enum mon_result monitor_handle(struct monitor *m, const struct pollfd *pfd,
	    int n, int64_t now, char *why, size_t len);

/*
 * ssh said that a remote forward was refused (line, one of its error
 * lines).  When that was the loop monitor's -R, explain at error level,
 * once per ssh start, that the port is held on the server or that the
 * server shares our loopback (same host or namespace), where loop mode
 * cannot work.  server is the address ssh connected to, or NULL when
 * unknown.  Returns 1 if the line was about the monitor's port, else 0.
 */
int	monitor_forward_refused(struct monitor *m, const char *line,
	    const struct sockaddr_storage *server);

/* Close everything (at exit).  m is off afterwards. */
void	monitor_close(struct monitor *m);

/* ---- The protocol, pure; exposed for the unit tests. ---- */

/*
 * Build the test message "node autossh pid random[ text]\r\n" into buf.
 * text may be NULL or empty.  Returns its length, or -1 (errno
 * ENAMETOOLONG) when it does not fit in len.
 */
int	monitor_message(char *buf, size_t len, const char *node, long pid,
	    uint64_t rnd, const char *text);

/* Compare the got bytes received so far with the message msg. */
enum mon_match monitor_match(const char *msg, size_t msg_len,
	    const char *got, size_t got_len);

/* The network timeout of one attempt: 15 s, or POLL/2 when POLL < 30 s. */
int64_t	monitor_timeout_ms(int poll_s);

/* AUTOSSH_MAXLIFETIME shortens the poll as in 1.4: min(poll, lifetime). */
int	monitor_poll_s(int poll_s, int maxlifetime_s);

/*
 * If line says ssh's remote forward for listen port port failed, return
 * 1; else 0.
 */
int	monitor_is_refusal(const char *line, int port);

/*
 * Is a connection on port+1 whose peer socket belongs to owner (known is
 * 0 when that could not be learned) to be kept, when we are self?  ssh's
 * reply comes from ssh, which runs as we do; another user's connection
 * cannot be the reply.  An unknown owner is kept: the lookup failing
 * must never fail a test.  Returns 1 to keep, 0 to close it unread.
 */
int	monitor_admit(int known, uid_t owner, uid_t self);

/*
 * Which of the n slots a new connection on port+1 may take at now: a
 * free one, else the oldest whose connection has had grace_ms to send
 * the message (it is read once more before it goes).  -1 when every
 * slot holds a younger connection: the new one waits in the kernel's
 * queue, and *free_ms (if not NULL) says when a slot can be taken.
 */
int	monitor_slot(const struct mon_peer *peers, int n, int64_t now,
	    int64_t grace_ms, int64_t *free_ms);

/* The grace of a connection on port+1: 1 s, or twice the last test's. */
int64_t	monitor_grace_ms(int64_t last_rtt_ms);

#endif
