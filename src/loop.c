/*
 * The one poll() loop.  It owns the order of things: signals first
 * (reaping before anything else), then ssh's output, then deadlines.
 * Decisions are the supervisor's; this file only translates between the
 * system and the state machine, so it holds no policy of its own.
 */
#include <sys/wait.h>

#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "publish.h"
#include "sig.h"
#include "sshout.h"
#include "util.h"

static void feed(struct daemon *, const struct sv_event *, int64_t);

static void
spawn_ssh(struct daemon *d, int64_t now)
{
	struct sv_event ev = { .type = EV_SPAWN_FAILED };
	char why[PATH_MAX + 128];
	pid_t pid;

	pid = child_spawn(&d->ssh, d->ssh_path, d->cfg->ssh_argv,
	    d->cwd[0] ? d->cwd : NULL, now);
	if (pid == -1) {
		snprintf(why, sizeof(why), "%s: %s", d->ssh_path,
		    strerror(errno));
		ev.reason = why;
		feed(d, &ev, now);
		return;
	}
	d->session_seen = d->rfwd_done = 0;
	if (d->outage)
		d->outage_tries++;
	monitor_start(&d->mon, now);
	log_debug("started ssh (pid %ld, start %d)", (long)pid, d->sv.starts);
}

/*
 * Answer SV_TAKE_SLOT.  Slot files we cannot use must not stop the
 * tunnel: then it starts without one, as it would with no state
 * directory.
 */
static void
take_slot(struct daemon *d, int64_t now)
{
	struct sv_event ev = { .type = EV_SLOT_TAKEN };

	switch (hsslot_take(&d->hs)) {
	case 1:
		log_debug("took handshake slot %d of %d", d->hs.index,
		    d->hs.n);
		break;
	case 0:
		ev.type = EV_SLOT_BUSY;
		break;
	default:
		log_debug("unable to take a handshake slot (%sN): %s; "
		    "starting without one", d->hs.prefix, strerror(errno));
		break;
	}
	feed(d, &ev, now);
}

static void
act(struct daemon *d, const struct sv_out *out, int64_t now)
{
	if (out->msg[0] != '\0')
		log_msg(out->level, "%s", out->msg);
	if (out->actions & SV_TERM)
		child_signal(&d->ssh, SIGTERM);
	if (out->actions & SV_KILL)
		child_signal(&d->ssh, SIGKILL);
	/* A test of an ssh that is going would only fail. */
	if (out->actions & (SV_TERM | SV_KILL))
		monitor_stop(&d->mon);
	if (out->actions & SV_RELEASE_SLOT)
		hsslot_release(&d->hs);
	if (out->actions & SV_SPAWN)
		spawn_ssh(d, now);
	if (out->actions & SV_TAKE_SLOT)
		take_slot(d, now);
}

/*
 * Up at the first try after an outage, from the lost connection's local
 * port: if the server still held the old session (and its -R ports),
 * our SYN from that port made it drop it (DESIGN.md §Stale sessions),
 * or the forwards would have been refused.
 */
static void
note_eviction(struct daemon *d)
{
	if (d->outage && d->outage_tries == 1 && d->conn.port_reused &&
	    d->sshcfg.remote_forwards > 0) {
		d->evictions++;
		log_info("remote forwards back at the first try after the "
		    "outage: reconnected from the previous local port, so the "
		    "server's stale session was cleared");
	}
	d->outage = 0;
	d->conn.lost_ms = NEVER;
}

static void
feed(struct daemon *d, const struct sv_event *ev, int64_t now)
{
	struct sv_out out;

	sv_handle(&d->sv, ev, now, &out);
	act(d, &out, now);
	if ((out.actions & SV_CHANGED) && d->sv.state == SV_UP)
		note_eviction(d);
	publish_after(d, &out);
}

/*
 * ssh said a remote forward was refused; the loop monitor's own -R is
 * refused for good when the server shares our loopback (DESIGN.md
 * §Port monitor).
 */
static void
forward_refused(struct daemon *d)
{
	monitor_forward_refused(&d->mon, d->ssh.reason,
	    d->conn.remote.ss_family != AF_UNSPEC ? &d->conn.remote : NULL);
}

static void
reap(struct daemon *d)
{
	struct sv_event ev = { .type = EV_CHILD_EXIT };
	int status;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if (pid != d->ssh.pid || d->ssh.pid == 0)
			continue;
		child_gone(&d->ssh);
		monitor_stop(&d->mon);
		forward_refused(d);
		/* The helper's reason beats ssh's "proxy dialer" complaint. */
		if (d->conn.fail[0] != '\0')
			child_note(&d->ssh, d->conn.fail);
		/*
		 * A working tunnel that ended without our asking, or that we
		 * stopped because its link was lost: an outage.
		 */
		if (d->sv.state == SV_UP || (d->sv.state == SV_STOPPING &&
		    d->sv.after == AFTER_RESTART_POLICY)) {
			d->outage = 1;
			d->outage_tries = 0;
			d->conn.lost_ms = now_ms();
		}
		conn_reset(&d->conn);
		ev.wstatus = status;
		ev.cause = d->ssh.cause;
		ev.reason = child_reason(&d->ssh);
		feed(d, &ev, now_ms());
	}
}

static void
log_state(const struct daemon *d, int64_t now)
{
	char since[32];

	fmt_duration(now - d->sv.since_ms, since, sizeof(since));
	log_info("state: %s for %s, ssh pid %ld, %d start%s%s%s",
	    sv_state_name(d->sv.state), since, (long)d->ssh.pid,
	    d->sv.starts, d->sv.starts == 1 ? "" : "s",
	    d->sv.last_reason[0] ? ", last error: " : "", d->sv.last_reason);
}

static void
signals(struct daemon *d)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGQUIT };
	struct sv_event ev = { .type = EV_STOP };
	size_t i;

	sig_drain();
	if (sig_take(SIGCHLD))
		reap(d);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		if (sig_take(stops[i])) {
			log_info("received SIG%s", sigabbrev_np(stops[i]));
			ev.type = EV_STOP;
			feed(d, &ev, now_ms());
		}
	}
	if (sig_take(SIGUSR1)) {
		log_info("received SIGUSR1");
		ev.type = EV_RESTART;
		feed(d, &ev, now_ms());
	}
	if (sig_take(SIGHUP)) {
		log_info("received SIGHUP");
		if (log_reopen() == -1)
			log_warn("unable to reopen the log file: %s",
			    strerror(errno));
		ev.type = EV_RETRY_NOW;
		feed(d, &ev, now_ms());
	}
	if (sig_take(SIGUSR2)) {
		log_state(d, now_ms());
		publish_refresh(d);
	}
}

/* ssh's milestones: up once in session and every -R is answered. */
static void
milestones(struct daemon *d, unsigned marks)
{
	struct sv_event ev = { .type = EV_AUTHENTICATED };

	/* First: the slot goes before anything else this read brings. */
	if (marks & (1u << MARK_AUTHENTICATED))
		feed(d, &ev, now_ms());
	ev.type = EV_UP;
	if (marks & (1u << MARK_SESSION))
		d->session_seen = 1;
	if (marks & (1u << MARK_RFWD_DONE))
		d->rfwd_done = 1;
	if (marks & (1u << MARK_RFWD_FAILED))
		forward_refused(d);
	if (d->session_seen && (d->sshcfg.remote_forwards == 0 ||
	    d->rfwd_done))
		feed(d, &ev, now_ms());
}

static void
helper_message(struct daemon *d)
{
	struct sv_event ev = { .type = EV_TRANSPORT };
	char l[INET6_ADDRSTRLEN + 8], r[INET6_ADDRSTRLEN + 8];

	switch (conn_read(&d->conn)) {
	case CONN_TRANSPORT:
		conn_describe(&d->conn.local, l, sizeof(l));
		conn_describe(&d->conn.remote, r, sizeof(r));
		log_debug("connected to %s from %s%s", r, l,
		    d->conn.port_reused ? " (the previous local port)" : "");
		feed(d, &ev, now_ms());
		publish_refresh(d);
		break;
	case CONN_FAILED:
		log_info("%s", d->conn.fail);
		break;
	}
}

/* Changes come in bursts (link, then addresses, then routes). */
#define NET_SETTLE_MS	250

static void
network(struct daemon *d)
{
	struct sv_event ev = { .type = EV_LINK_LOST };
	struct nw_event nev;
	char why[NW_WHATSIZ + 64];

	if (netwatch_read(&d->nw, d->conn.sock_fd != -1 ? &d->conn.local :
	    NULL, &nev) == -1) {
		log_warn("unable to read network changes: %s", strerror(errno));
		return;
	}
	if (nev.kind == NW_ADDR_LOST) {
		snprintf(why, sizeof(why), "the tunnel's local address went "
		    "away (%s)", nev.what);
		ev.reason = why;
		feed(d, &ev, now_ms());
	} else if (nev.kind == NW_CHANGE) {
		log_debug("network: %s", nev.what);
		util_strlcpy(d->net_what, nev.what, sizeof(d->net_what));
		if (d->net_due == NEVER)
			d->net_due = now_ms() + NET_SETTLE_MS;
	}
}

/*
 * The network changed a moment ago.  Cut a back-off short or restart a
 * connecting ssh (supervise.c), and drop a connection that is stalled
 * in TCP's back-off: a new one is faster than waiting for the next
 * retransmission, which may be many seconds away.
 */
static void
network_settled(struct daemon *d)
{
	struct sv_event ev = { .type = EV_NET_CHANGE };
	struct conn_stats cs;
	char why[NW_WHATSIZ + 64];

	d->net_due = NEVER;
	if (d->sv.state == SV_UP && conn_stats(&d->conn, &cs) == 0 &&
	    cs.retransmits > 0) {
		snprintf(why, sizeof(why), "network changed (%s) while the "
		    "connection was stalled", d->net_what);
		ev.type = EV_LINK_LOST;
		ev.reason = why;
	} else if (d->sv.state == SV_BACKOFF || d->sv.state == SV_CONNECTING)
		log_info("network changed: %s", d->net_what);
	feed(d, &ev, now_ms());
}

/*
 * After poll(): the monitor's events and deadlines.  A failed test
 * restarts ssh; a passed one proves the tunnel up end to end, even when
 * ssh's own milestones have not said so (yet, or at all with -q).
 */
static void
monitor_event(struct daemon *d, const struct pollfd *pfd, int n)
{
	struct sv_event ev = { .type = EV_LINK_LOST };
	char why[512];

	switch (monitor_handle(&d->mon, pfd, n, now_ms(), why, sizeof(why))) {
	case MON_FAIL:
		ev.reason = why;
		feed(d, &ev, now_ms());
		break;
	case MON_PASS:
		ev.type = EV_UP;
		feed(d, &ev, now_ms());
		break;
	case MON_NONE:
		break;
	}
}

static int
poll_timeout(int64_t deadline, int64_t now)
{
	if (deadline == NEVER)
		return -1;
	if (deadline <= now)
		return 0;
	if (deadline - now > 24 * 3600 * 1000)
		return 24 * 3600 * 1000;
	return (int)(deadline - now);
}

int
loop_run(struct daemon *d)
{
	struct sv_event ev = { .type = EV_START };
	enum { P_SIG, P_SSH, P_LISTEN, P_HELPER, P_NET, P_MAX };
	struct pollfd pfd[P_MAX + MON_MAX_FDS];

	feed(d, &ev, now_ms());
	d->next_watchdog = d->watchdog_ms > 0 ? now_ms() : NEVER;
	while (d->sv.state != SV_EXITED) {
		int64_t now = now_ms(), deadline = sv_deadline(&d->sv);
		int r, nmon;

		if (now >= d->next_watchdog) {
			notify_send("WATCHDOG=1");
			d->next_watchdog = now + d->watchdog_ms;
		}
		if (d->next_watchdog < deadline)
			deadline = d->next_watchdog;
		if (d->net_due < deadline)
			deadline = d->net_due;
		if (monitor_deadline(&d->mon) < deadline)
			deadline = monitor_deadline(&d->mon);

		/* Fixed slots; fd -1 makes poll() skip a slot. */
		pfd[P_SIG].fd = sig_fd();
		pfd[P_SSH].fd = d->ssh.errfd;
		pfd[P_LISTEN].fd = d->conn.listen_fd;
		pfd[P_HELPER].fd = d->conn.peer_fd;
		pfd[P_NET].fd = netwatch_fd(&d->nw);
		for (r = 0; r < P_MAX; r++) {
			pfd[r].events = POLLIN;
			pfd[r].revents = 0;
		}
		/* The monitor's descriptors follow the fixed slots. */
		nmon = monitor_pollfds(&d->mon, pfd + P_MAX, MON_MAX_FDS);
		r = poll(pfd, (nfds_t)(P_MAX + nmon), poll_timeout(deadline,
		    now));
		if (r == -1 && errno != EINTR) {
			log_warn("unable to poll: %s", strerror(errno));
			continue;
		}
		if (r > 0 && pfd[P_SIG].revents != 0)
			signals(d);
		if (r > 0 && pfd[P_LISTEN].revents != 0 &&
		    d->conn.listen_fd != -1)
			conn_accept(&d->conn, d->ssh.pid);
		if (r > 0 && pfd[P_HELPER].revents != 0 &&
		    d->conn.peer_fd == pfd[P_HELPER].fd)
			helper_message(d);
		if (r > 0 && pfd[P_SSH].revents != 0 &&
		    d->ssh.errfd == pfd[P_SSH].fd)
			milestones(d, child_read(&d->ssh));
		if (r > 0 && pfd[P_NET].revents != 0 &&
		    netwatch_fd(&d->nw) != -1)
			network(d);
		if (now_ms() >= d->net_due)
			network_settled(d);
		monitor_event(d, pfd + P_MAX, nmon);
		if (now_ms() >= sv_deadline(&d->sv)) {
			ev.type = EV_TIMEOUT;
			feed(d, &ev, now_ms());
		}
	}
	return d->sv.exit_code;
}

void
loop_emergency_stop(struct daemon *d)
{
	int i;

	if (d->ssh.pid <= 0)
		return;
	kill(d->ssh.pid, SIGKILL);
	/* SIGKILL cannot be ignored; the wait is short. */
	for (i = 0; i < 100; i++) {
		pid_t r = waitpid(d->ssh.pid, NULL, 0);

		if (r == d->ssh.pid || (r == -1 && errno != EINTR))
			break;
	}
	d->ssh.pid = 0;
}
