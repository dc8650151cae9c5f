/*
 * The liveness plan (DESIGN.md §Liveness): given the deadline and ssh's
 * effective configuration, decide how a dead link gets noticed in time
 * and what that costs on the wire.  Pure arithmetic, unit-tested;
 * connect.c and main.c carry the plan out.
 */
#ifndef AUTOSSH_LIVENESS_H
#define AUTOSSH_LIVENESS_H

#include "sshcfg.h"

/* IP-level bytes of one TCP keepalive probe and its ACK (with TS). */
#define PROBE_EXCHANGE_BYTES	104
/*
 * IP-level bytes of one ServerAlive exchange (request, reply and their
 * ACKs), measured with OpenSSH 9.2 and chacha20-poly1305 (make bench).
 */
#define ALIVE_EXCHANGE_BYTES	249

enum live_mode {
	LIVE_OFF,		/* --deadline=0: ssh's own settings only */
	LIVE_SOCKET,		/* we own the TCP socket (ProxyUseFdpass) */
	LIVE_ALIVE,		/* a user proxy: ServerAlive options instead */
	LIVE_USER_ALIVE,	/* a user proxy and the user's ServerAlive */
};

struct liveness {
	enum live_mode	mode;
	/* LIVE_SOCKET: the socket options. */
	int		idle_s;		/* TCP_KEEPIDLE */
	int		intvl_s;	/* TCP_KEEPINTVL */
	int		cnt;		/* TCP_KEEPCNT */
	int		user_timeout_ms; /* TCP_USER_TIMEOUT */
	int		probes_quiet;	/* ssh's ServerAlive keeps them idle */
	/* LIVE_ALIVE: the ServerAlive options to add. */
	int		alive_interval_s;
	int		alive_count_max;
	/* The worst case from the last packet to detection, in seconds. */
	int		detect_s;
	/* Keepalive bytes a day on an idle, healthy link (IP level). */
	long		bytes_per_day;
};

/*
 * Plan for deadline_s (0 = off) and ssh's configuration c.  Never
 * overrides the user's ServerAlive settings: with them it only adds
 * what the deadline needs.
 */
void	liveness_plan(int deadline_s, const struct sshcfg *c,
	    struct liveness *out);

/* One line describing the plan, for the log and --status. */
void	liveness_describe(const struct liveness *l, char *buf, size_t len);

#endif
