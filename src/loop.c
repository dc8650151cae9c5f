/*
 * The one poll() loop.  It owns the order of things: signals first
 * (reaping before anything else), then ssh's output, then deadlines.
 * Decisions are the supervisor's; this file only translates between the
 * system and the state machine, so it holds no policy of its own.
 */
#include <sys/wait.h>

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
	struct pollfd pfd[2];

	feed(d, &ev, now_ms());
	while (d->sv.state != SV_EXITED) {
		int64_t now = now_ms(), deadline = sv_deadline(&d->sv);
		nfds_t n = 0;
		int r;

		pfd[n].fd = sig_fd();
		pfd[n++].events = POLLIN;
		if (d->ssh.errfd != -1) {
			pfd[n].fd = d->ssh.errfd;
			pfd[n++].events = POLLIN;
		}
		r = poll(pfd, n, poll_timeout(deadline, now));
		if (r == -1 && errno != EINTR) {
			log_warn("unable to poll: %s", strerror(errno));
			continue;
		}
		if (r > 0 && pfd[0].revents != 0)
			signals(d);
		if (r > 0 && n > 1 && pfd[1].revents != 0 &&
		    d->ssh.errfd == pfd[1].fd)
			child_read(&d->ssh);
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
