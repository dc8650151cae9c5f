/*
 * The supervisor's decisions: a state machine fed with events and the
 * current monotonic time, which answers with actions for the caller to
 * carry out.  It makes no system calls, so every rule (exit statuses,
 * gate time, back-off, kill escalation, limits, outages and evictions,
 * when a stalled link counts as lost) is unit-tested with a fake clock.
 */
#ifndef AUTOSSH_SUPERVISE_H
#define AUTOSSH_SUPERVISE_H

#include <stdint.h>

enum sv_state {
	SV_STARTING,		/* nothing started yet */
	SV_CONNECTING,		/* ssh runs; the tunnel is not proven up */
	SV_UP,			/* ssh runs and the tunnel is up */
	SV_BACKOFF,		/* no ssh; waiting until retry_ms */
	SV_STOPPING,		/* ssh was signalled; waiting for it */
	SV_WAITING,		/* no ssh; every handshake slot is taken */
	SV_EXITED,		/* final; exit_code is decided */
};

enum sv_event_type {
	EV_START,		/* begin: start the first ssh */
	EV_CHILD_EXIT,		/* ssh was reaped: wstatus, cause, reason */
	EV_SPAWN_FAILED,	/* fork or exec failed: reason */
	EV_TRANSPORT,		/* ssh's TCP connection is established:
				   port_reused */
	EV_UP,			/* the tunnel is proven up */
	EV_TIMEOUT,		/* sv_deadline() has passed */
	EV_STOP,		/* SIGTERM, SIGINT or SIGQUIT */
	EV_RESTART,		/* SIGUSR1: a new ssh now */
	EV_RETRY_NOW,		/* SIGHUP: cut a back-off wait short */
	EV_NET_CHANGE,		/* links, addresses or routes changed and
				   settled: reason (what), stalled */
	EV_LINK_LOST,		/* the connection is known dead: reason */
	EV_SLOT_TAKEN,		/* SV_TAKE_SLOT: we hold a slot */
	EV_SLOT_BUSY,		/* SV_TAKE_SLOT: every slot is held */
	EV_SLOT_NONE,		/* SV_TAKE_SLOT: the slot files cannot be
				   used */
	EV_AUTHENTICATED,	/* ssh has authenticated to the server */
	EV_PROBE_OK,		/* SV_PROBE: the primary accepted a TCP
				   connection */
	EV_PROBE_FAIL,		/* SV_PROBE: it did not: reason */
};

/* What ssh's own error output says about why it failed. */
enum ssh_cause {
	CAUSE_NONE,		/* nothing recognised */
	CAUSE_TRANSIENT,	/* refused, timed out, reset, throttled ... */
	CAUSE_PERMANENT,	/* authentication, host key, bad config ... */
};

struct sv_event {
	enum sv_event_type type;
	int		 wstatus;	/* EV_CHILD_EXIT: as from waitpid() */
	enum ssh_cause	 cause;		/* EV_CHILD_EXIT */
	const char	*reason;	/* ssh's last error line, or NULL */
	int		 port_reused;	/* EV_TRANSPORT: from the previous
					   connection's local port */
	int		 stalled;	/* EV_NET_CHANGE: the connection has
					   unanswered retransmissions */
};

/* Actions, combined in sv_out.actions. */
#define SV_SPAWN	0x01	/* start ssh now */
#define SV_TERM		0x02	/* send SIGTERM to ssh */
#define SV_KILL		0x04	/* send SIGKILL to ssh */
#define SV_EXIT		0x08	/* exit with exit_code (ssh is gone) */
#define SV_READY	0x10	/* the tunnel is up for the first time */
#define SV_CHANGED	0x20	/* the state changed: publish it */
#define SV_TAKE_SLOT	0x40	/* try to take a handshake slot, and
				   answer EV_SLOT_TAKEN, EV_SLOT_BUSY or
				   EV_SLOT_NONE */
#define SV_RELEASE_SLOT	0x80	/* let the handshake slot go */
#define SV_SWITCH	0x100	/* the next ssh goes to destination
				   sv.dest (DESIGN.md §Fallbacks); carried
				   out before SV_SPAWN */
#define SV_PROBE	0x200	/* try a TCP connection to the primary,
				   and answer EV_PROBE_OK or EV_PROBE_FAIL */
/*
 * The session's edges, for what follows it (forward checks, DESIGN.md
 * §Forward health): the state became UP, or was UP and is no longer.
 * Never both in one answer.
 */
#define SV_UP_BEGAN	0x400
#define SV_UP_ENDED	0x800

struct sv_out {
	unsigned	actions;
	int		exit_code;
	int		level;		/* syslog level of msg and msg2 */
	char		msg[768];	/* one log line, or "" */
	char		msg2[256];	/* a second line, after msg, or "" */
	int		line2;		/* say() writes msg2 (internal) */
};

struct sv_policy {
	int64_t		gate_ms;	/* 0: no gate */
	int64_t		long_enough_ms;	/* a run this long resets back-off */
	int64_t		backoff_base_ms;
	int64_t		backoff_max_ms;
	int64_t		kill_grace_ms;	/* SIGTERM to SIGKILL */
	int64_t		maxlifetime_ms;	/* 0: forever */
	int64_t		up_after_ms;	/* > 0: up after this long running,
					   when ssh cannot report EV_UP */
	int		maxstart;	/* -1: no limit */
	int		no_session;	/* -N, -W or SessionType none */
	int		ntservice;	/* restart after exit status 0 too */
	int		stop_exit_code;	/* exit status after EV_STOP */
	int		remote_forwards; /* -R forwards ssh will ask for */
	/*
	 * > 0: take a handshake slot before each start, asking again this
	 * often (jittered) while all are held (DESIGN.md §Handshake slots);
	 * 0: no slots.
	 */
	int64_t		slot_wait_ms;
	/* Destinations: 1 + fallbacks (DESIGN.md §Fallbacks). */
	int		ndest;
	int64_t		probe_every_ms;	/* the primary, while on a fallback */
};

/* Quick failures in a row of one destination before the next is used. */
#define SV_FALLBACK_AFTER	2

/* What to do once ssh has gone, in SV_STOPPING. */
enum sv_after {
	AFTER_EXIT,
	AFTER_RESTART_NOW,
	AFTER_RESTART_POLICY,	/* like an exit of ssh: back off if quick */
};

/*
 * A working tunnel lost its link, and what came of it (DESIGN.md
 * §Stale sessions).  Begins when ssh of an UP tunnel ends, or is stopped
 * because its link was lost; ends when the tunnel is UP again.
 */
struct sv_outage {
	int		 active;
	int		 tries;		/* ssh starts since it began */
	int64_t		 lost_ms;	/* when it began; NEVER when none */
	int		 evictions;	/* stale sessions cleared, ever */
};

struct sv {
	struct sv_policy p;
	enum sv_state	 state;
	enum sv_after	 after;
	int		 after_code;	/* AFTER_EXIT's exit status */
	int64_t		 since_ms;	/* when state was entered */
	int64_t		 started_ms;	/* when the current ssh started */
	int64_t		 retry_ms;	/* SV_BACKOFF: when to start ssh;
					   SV_WAITING: when to ask again */
	int64_t		 kill_ms;	/* SV_STOPPING: when to SIGKILL */
	int64_t		 end_ms;	/* AUTOSSH_MAXLIFETIME, or NEVER */
	int		 starts;	/* how many times ssh was started */
	int		 quick_failures; /* in a row; the back-off exponent */
	int		 transport;	/* EV_TRANSPORT seen for this ssh */
	int		 port_reused;	/* ... from the previous local port */
	struct sv_outage outage;
	int		 ever_up;
	int		 slot_held;	/* a handshake slot is ours */
	int64_t		 slot_since_ms;	/* SV_WAITING: since when, or NEVER */
	int		 exit_code;	/* SV_EXITED */
	uint64_t	 rng;
	/* For the published state. */
	int		 dest;		/* the destination in use; 0: primary */
	int		 dest_failures;	/* its quick failures in a row */
	int		 probing;	/* SV_PROBE is unanswered */
	int64_t		 probe_ms;	/* when the primary is probed next;
					   NEVER on the primary */
	char		 dest_reason[320];
	int		 last_wstatus;	/* -1: ssh has not exited yet */
	int64_t		 last_lived_ms;
	char		 last_reason[256];
};

/* The verdict on one exit of ssh (DESIGN.md §Exit rules). */
enum sv_verdict {
	VERDICT_RESTART,
	VERDICT_EXIT_OK,
	VERDICT_EXIT_FAIL,
};

/*
 * Prepare sv with policy p at time now; seed feeds the back-off jitter.
 * Nothing happens until EV_START.
 */
void	sv_init(struct sv *sv, const struct sv_policy *p, int64_t now,
	    uint64_t seed);

/*
 * Feed one event at time now.  out is cleared and filled with the
 * actions to carry out, in the order SPAWN/TERM/KILL, then READY, then
 * EXIT, and with a log line when the event is worth one (msg, then
 * msg2 when it is worth two, both at level).
 */
void	sv_handle(struct sv *sv, const struct sv_event *ev, int64_t now,
	    struct sv_out *out);

/* The next time sv wants EV_TIMEOUT, or NEVER. */
int64_t	sv_deadline(const struct sv *sv);

/* What one exit of ssh means (DESIGN.md §Exit rules).  Pure; for tests. */
enum sv_verdict sv_verdict(const struct sv_policy *p, int wstatus,
	    enum ssh_cause cause, int first_start, int64_t lived_ms);

/*
 * The back-off wait after n quick failures in a row (n >= 0): uniform
 * in [0, min(max, base * 2^n)] ("full jitter"), drawn from *rng.
 */
int64_t	sv_backoff_ms(const struct sv_policy *p, int n, uint64_t *rng);

/*
 * The wait before asking for a handshake slot again, having waited
 * waited_ms so far: slot_wait_ms for the first 12 s, then ten times
 * that, each jittered to 0.5 to 1.5 times, drawn from *rng.
 */
int64_t	sv_slot_wait_ms(const struct sv_policy *p, int64_t waited_ms,
	    uint64_t *rng);

/*
 * "starting", "connecting", "up", "backing off", "stopping",
 * "awaiting slot", "exited".
 */
const char *sv_state_name(enum sv_state s);

#endif
