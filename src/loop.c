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

	pid = child_spawn(&d->ssh, d->ssh_path, d->cfg->ssh_argv, now);
	if (pid == -1) {
		snprintf(why, sizeof(why), "%s: %s", d->ssh_path,
		    strerror(errno));
		ev.reason = why;
		feed(d, &ev, now);
		return;
	}
	d->session_seen = d->rfwd_done = 0;
	log_debug("started ssh (pid %ld, start %d)", (long)pid, d->sv.starts);
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
	if (out->actions & SV_SPAWN)
		spawn_ssh(d, now);
}

static void
feed(struct daemon *d, const struct sv_event *ev, int64_t now)
{
	struct sv_out out;

	sv_handle(&d->sv, ev, now, &out);
	act(d, &out, now);
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
		/* The helper's reason beats ssh's "proxy dialer" complaint. */
		if (d->conn.fail[0] != '\0')
			child_note(&d->ssh, d->conn.fail);
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
	if (sig_take(SIGUSR2))
		log_state(d, now_ms());
}

/* ssh's milestones: up once in session and every -R is answered. */
static void
milestones(struct daemon *d, unsigned marks)
{
	struct sv_event ev = { .type = EV_UP };

	if (marks & (1u << MARK_SESSION))
		d->session_seen = 1;
	if (marks & (1u << MARK_RFWD_DONE))
		d->rfwd_done = 1;
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
		break;
	case CONN_FAILED:
		log_info("%s", d->conn.fail);
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
	enum { P_SIG, P_SSH, P_LISTEN, P_HELPER, P_MAX };
	struct pollfd pfd[P_MAX];

	feed(d, &ev, now_ms());
	while (d->sv.state != SV_EXITED) {
		int64_t now = now_ms(), deadline = sv_deadline(&d->sv);
		int r;

		/* Fixed slots; fd -1 makes poll() skip a slot. */
		pfd[P_SIG].fd = sig_fd();
		pfd[P_SSH].fd = d->ssh.errfd;
		pfd[P_LISTEN].fd = d->conn.listen_fd;
		pfd[P_HELPER].fd = d->conn.peer_fd;
		for (r = 0; r < P_MAX; r++) {
			pfd[r].events = POLLIN;
			pfd[r].revents = 0;
		}
		r = poll(pfd, P_MAX, poll_timeout(deadline, now));
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
