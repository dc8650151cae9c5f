/*
 * The one poll() loop.  It owns the order of things: signals first
 * (reaping before anything else), then the helper, ssh's output, the
 * network and the monitor, then deadlines.  It reads the clock once a
 * pass and decides nothing: each module turns its descriptors into
 * events, supervise.c decides, and the actions are carried out here.
 */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "sig.h"
#include "util.h"

static void feed(struct daemon *, const struct sv_event *, int64_t);

/* ssh's lines, for forward health (DESIGN.md §Forward health). */
static int
forward_line(void *ctx, const char *line)
{
	return fwdcheck_line(ctx, line);
}

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
	d->ssh.on_line = forward_line;
	d->ssh.line_ctx = &d->fwd;
	sshout_milestones_reset(&d->ms);
	monitor_start(&d->mon, now);
	log_debug("started ssh (pid %ld, start %d)", (long)pid, d->sv.starts);
}

/*
 * SV_SWITCH: the next ssh goes to destination sv.dest, with its own
 * argument and, for the helper, its own HostName and Port (DESIGN.md
 * §Fallbacks).
 */
static void
switch_destination(struct daemon *d)
{
	int i = d->sv.dest;

	config_use_destination(d->cfg, i);
	if (d->live.mode == LIVE_SOCKET &&
	    conn_set_params(&d->conn, &d->dest_cfg[i], &d->live) == -1)
		log_warn("unable to aim the connection at %s: %s",
		    d->dest_cfg[i].hostname, strerror(errno));
	if (i == 0)
		probe_close(&d->probe);
	log_info("destination: %s (%s port %d)", config_destination(d->cfg),
	    d->dest_cfg[i].hostname, d->dest_cfg[i].port);
}

/* SV_PROBE, and the answer once the probe has ended. */
static void
probe_answer(struct daemon *d, int r, int64_t now)
{
	struct sv_event ev = { .type = EV_PROBE_OK };

	if (r == 0)
		return;
	if (r < 0) {
		ev.type = EV_PROBE_FAIL;
		ev.reason = d->probe.why;
		log_debug("primary probe: %s", d->probe.why);
	} else
		log_debug("primary probe: %s port %d answered",
		    d->probe.host, d->probe.port);
	feed(d, &ev, now);
}

/* Answer SV_TAKE_SLOT. */
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
		ev.type = EV_SLOT_NONE;
		break;
	}
	feed(d, &ev, now);
}

static void
act(struct daemon *d, const struct sv_out *out, int64_t now)
{
	if (out->msg[0] != '\0')
		log_msg(out->level, "%s", out->msg);
	if (out->msg2[0] != '\0')
		log_msg(out->level, "%s", out->msg2);
	/* Forward health follows the session (DESIGN.md §Forward health). */
	if (out->actions & SV_UP_ENDED)
		fwdcheck_down(&d->fwd);
	if (out->actions & SV_TERM)
		child_signal(&d->ssh, SIGTERM);
	if (out->actions & SV_KILL)
		child_signal(&d->ssh, SIGKILL);
	/* A test of an ssh that is going would only fail. */
	if (out->actions & (SV_TERM | SV_KILL))
		monitor_stop(&d->mon);
	if (out->actions & SV_RELEASE_SLOT)
		hsslot_release(&d->hs);
	if (out->actions & SV_SWITCH)
		switch_destination(d);
	if (out->actions & SV_SPAWN)
		spawn_ssh(d, now);
	if (out->actions & SV_TAKE_SLOT)
		take_slot(d, now);
	if (out->actions & SV_PROBE)
		probe_answer(d, probe_start(&d->probe, now), now);
	if (out->actions & SV_UP_BEGAN)
		fwdcheck_up(&d->fwd, now);
}

/* If a forward's health changed: its log line, then publish it. */
static void
forwards(struct daemon *d, int changed, int64_t now)
{
	char line[256];
	int news, level;

	if (!changed)
		return;
	news = fwdcheck_news(&d->fwd, &level, line, sizeof(line));
	if (news)
		log_msg(level, "%s", line);
	publish_forwards(&d->pub, d, news, now);
}

static void
feed(struct daemon *d, const struct sv_event *ev, int64_t now)
{
	struct sv_out out;

	sv_handle(&d->sv, ev, now, &out);
	act(d, &out, now);
	publish_change(&d->pub, d, &out, now);
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
	    conn_remote(&d->conn));
}

static void
reap(struct daemon *d, int64_t now)
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
		child_note(&d->ssh, conn_fail(&d->conn));
		conn_reset(&d->conn);
		ev.wstatus = status;
		ev.cause = d->ssh.cause;
		ev.reason = child_reason(&d->ssh);
		feed(d, &ev, now);
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
signals(struct daemon *d, int64_t now)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGQUIT };
	struct sv_event ev = { .type = EV_STOP };
	size_t i;

	sig_drain();
	if (sig_take(SIGCHLD))
		reap(d, now);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		if (sig_take(stops[i])) {
			log_info("received SIG%s", sigabbrev_np(stops[i]));
			ev.type = EV_STOP;
			feed(d, &ev, now);
		}
	}
	if (sig_take(SIGUSR1)) {
		log_info("received SIGUSR1");
		ev.type = EV_RESTART;
		feed(d, &ev, now);
	}
	if (sig_take(SIGHUP)) {
		log_info("received SIGHUP");
		if (log_reopen() == -1)
			log_warn("unable to reopen the log file: %s",
			    strerror(errno));
		ev.type = EV_RETRY_NOW;
		feed(d, &ev, now);
	}
	if (sig_take(SIGUSR2)) {
		log_state(d, now);
		publish_refresh(&d->pub, d, now);
	}
}

/* ssh's output: its milestones (sshout.c) become events. */
static void
ssh_output(struct daemon *d, int64_t now)
{
	struct sv_event ev = { .type = EV_AUTHENTICATED };
	unsigned ms, seen = child_read(&d->ssh);

	ms = sshout_milestones(&d->ms, seen, d->sshcfg.remote_forwards);
	forwards(d, (seen & CHILD_FWD) != 0, now);
	/* First: the slot goes before anything else this read brings. */
	if (ms & MS_AUTHENTICATED)
		feed(d, &ev, now);
	if (ms & MS_RFWD_FAILED)
		forward_refused(d);
	if (ms & MS_UP) {
		ev.type = EV_UP;
		feed(d, &ev, now);
	}
}

/* Netlink: a lost address is final at once; a change must settle. */
static void
network(struct daemon *d, int64_t now)
{
	struct sv_event ev = { .type = EV_LINK_LOST };
	struct nw_event nev;
	char why[NW_WHATSIZ + 64];

	if (netwatch_read(&d->nw, conn_local(&d->conn), &nev) == -1) {
		log_warn("unable to read network changes: %s", strerror(errno));
		return;
	}
	if (nev.kind == NW_ADDR_LOST) {
		snprintf(why, sizeof(why), "the tunnel's local address went "
		    "away (%s)", nev.what);
		ev.reason = why;
		feed(d, &ev, now);
	} else if (nev.kind == NW_CHANGE) {
		log_debug("network: %s", nev.what);
		netwatch_changed(&d->nw, nev.what, now);
	}
}

/* A settled change, with whether the connection is stalled. */
static void
network_settled(struct daemon *d, int64_t now)
{
	struct sv_event ev = { .type = EV_NET_CHANGE };
	char what[NW_WHATSIZ];

	if (!netwatch_settled(&d->nw, now, what, sizeof(what)))
		return;
	ev.reason = what;
	ev.stalled = conn_stalled(&d->conn);
	feed(d, &ev, now);
}

/*
 * The monitor's events and deadlines.  A failed test means the link is
 * lost; a passed one proves the tunnel up end to end, even when ssh's
 * own milestones have not said so (yet, or at all with -q).
 */
static void
monitor_event(struct daemon *d, const struct pollfd *pfd, int n,
    int64_t now)
{
	struct sv_event ev = { .type = EV_LINK_LOST };
	char why[512];

	switch (monitor_handle(&d->mon, pfd, n, now, why, sizeof(why))) {
	case MON_FAIL:
		ev.reason = why;
		feed(d, &ev, now);
		break;
	case MON_PASS:
		ev.type = EV_UP;
		feed(d, &ev, now);
		break;
	case MON_NONE:
		break;
	}
}

static int64_t
earliest(int64_t a, int64_t b)
{
	return a < b ? a : b;
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
	enum { P_SIG, P_SSH, P_NET, P_CONN, P_FWD = P_CONN + CONN_MAX_FDS,
	    P_MON = P_FWD + FWD_MAX_FDS };
	struct pollfd pfd[P_MON + MON_MAX_FDS + 1];
	struct sv_event ev = { .type = EV_START };
	int64_t now = now_ms();

	feed(d, &ev, now);
	while (d->sv.state != SV_EXITED) {
		int64_t deadline;
		int i, r, nmon;

		publish_tick(&d->pub, now);
		deadline = earliest(sv_deadline(&d->sv),
		    publish_deadline(&d->pub));
		deadline = earliest(deadline, netwatch_deadline(&d->nw));
		deadline = earliest(deadline, monitor_deadline(&d->mon));
		deadline = earliest(deadline, fwdcheck_deadline(&d->fwd));
		deadline = earliest(deadline, probe_deadline(&d->probe));

		/* Fixed slots; fd -1 makes poll() skip a slot. */
		pfd[P_SIG].fd = sig_fd();
		pfd[P_SSH].fd = d->ssh.errfd;
		pfd[P_NET].fd = netwatch_fd(&d->nw);
		for (i = P_SIG; i < P_CONN; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		conn_pollfds(&d->conn, pfd + P_CONN, CONN_MAX_FDS);
		fwdcheck_pollfds(&d->fwd, pfd + P_FWD, FWD_MAX_FDS);
		/* The monitor's descriptors follow the fixed slots. */
		nmon = monitor_pollfds(&d->mon, pfd + P_MON, MON_MAX_FDS);
		/* The primary's probe, last (DESIGN.md §Fallbacks). */
		pfd[P_MON + nmon].fd = probe_fd(&d->probe);
		pfd[P_MON + nmon].events = POLLOUT;
		pfd[P_MON + nmon].revents = 0;
		r = poll(pfd, (nfds_t)(P_MON + nmon + 1),
		    poll_timeout(deadline, now));
		now = now_ms();
		if (r == -1 && errno != EINTR) {
			log_warn("unable to poll: %s", strerror(errno));
			continue;
		}
		if (r > 0 && pfd[P_SIG].revents != 0)
			signals(d, now);
		if (r > 0 && conn_handle(&d->conn, pfd + P_CONN, CONN_MAX_FDS,
		    d->ssh.pid, d->sv.outage.lost_ms, now, &ev)) {
			feed(d, &ev, now);
			publish_refresh(&d->pub, d, now);
		}
		if (r > 0 && pfd[P_SSH].revents != 0 &&
		    d->ssh.errfd == pfd[P_SSH].fd)
			ssh_output(d, now);
		if (r > 0 && pfd[P_NET].revents != 0 &&
		    netwatch_fd(&d->nw) != -1)
			network(d, now);
		network_settled(d, now);
		monitor_event(d, pfd + P_MON, nmon, now);
		/* RemoteForward targets: our own connects tell. */
		if (r > 0)
			forwards(d, fwdcheck_event(&d->fwd, pfd + P_FWD,
			    FWD_MAX_FDS), now);
		forwards(d, fwdcheck_run(&d->fwd, now), now);
		if (probe_fd(&d->probe) != -1 &&
		    probe_fd(&d->probe) == pfd[P_MON + nmon].fd)
			probe_answer(d, probe_check(&d->probe, r > 0 ?
			    pfd[P_MON + nmon].revents : 0, now), now);
		if (now >= sv_deadline(&d->sv)) {
			ev.type = EV_TIMEOUT;
			feed(d, &ev, now);
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
