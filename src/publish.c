/*
 * Publishing the supervisor's state.  This module turns the daemon's
 * fields into a state file, systemd notifications and --wait messages,
 * and keeps the systemd watchdog fed; it reads the state machine but
 * never feeds it.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "publish.h"
#include "util.h"
#include "waitpipe.h"

/* Which destination is in use and why, with fallbacks only. */
static const char *
dest_reason(const struct daemon *d)
{
	return d->sv.dest_reason[0] ? d->sv.dest_reason : "primary";
}

static void
fill_destination(const struct daemon *d, struct state *st)
{
	const char *in_use = config_destination(d->cfg);

	if (d->cfg->nfallback == 0)
		return;
	util_strlcpy(st->destination_in_use, in_use ? in_use : "",
	    sizeof(st->destination_in_use));
	util_strlcpy(st->destination_reason, dest_reason(d),
	    sizeof(st->destination_reason));
}

static void
fill(struct publisher *p, const struct daemon *d, int64_t now,
    struct state *st)
{
	const char *dest = config_destination(d->cfg);
	struct conn_stats cs;
	int ws = d->sv.last_wstatus;

	memset(st, 0, sizeof(*st));
	util_strlcpy(st->name, p->name, sizeof(st->name));
	/* The primary: the name ssh is aimed at now is destination_in_use. */
	if (d->cfg->dest_argv[0] != NULL)
		dest = d->cfg->dest_argv[0];
	util_strlcpy(st->destination, dest ? dest : "", sizeof(st->destination));
	st->pid = (long)getpid();
	st->have_start = p->have_start;
	st->start_time = p->start_time;
	util_strlcpy(st->state, sv_state_name(d->sv.state), sizeof(st->state));
	if (d->sv.state == SV_UP)
		util_strlcpy(st->forwards, fwdcheck_shown(&d->fwd),
		    sizeof(st->forwards));
	st->since_ms = d->sv.since_ms;
	st->since_unix = (int64_t)time(NULL) - (now - d->sv.since_ms) / 1000;
	st->written_ms = now;
	st->serial = ++p->serial;
	st->ssh_pid = (long)d->ssh.pid;
	st->starts = d->sv.starts;
	st->retry_ms = d->sv.state == SV_BACKOFF ? d->sv.retry_ms : 0;
	st->last_status = ws >= 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	st->last_signal = ws >= 0 && WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
	st->last_lived_ms = d->sv.last_lived_ms;
	util_strlcpy(st->last_reason, d->sv.last_reason,
	    sizeof(st->last_reason));
	liveness_describe(&d->live, st->liveness, sizeof(st->liveness));
	st->detect_s = d->live.detect_s;
	st->keepalive_bytes_day = d->live.bytes_per_day;
	st->evictions = d->sv.outage.evictions;
	if (conn_stats(&d->conn, &cs) == 0) {
		st->have_tcp = 1;
		conn_describe(&d->conn.local, st->local, sizeof(st->local));
		conn_describe(&d->conn.remote, st->remote, sizeof(st->remote));
		st->rtt_us = (long)cs.rtt_us;
		st->bytes_sent = cs.bytes_sent;
		st->bytes_received = cs.bytes_received;
	}
	if (d->conn.remote.ss_family != AF_UNSPEC)
		conn_describe(&d->conn.remote, st->preferred,
		    sizeof(st->preferred));
	fill_destination(d, st);
}

/* Stop publishing to a directory that is not ours alone; said once. */
static void
refuse_dir(struct publisher *p, const char *why)
{
	if (errno == ENOTDIR)
		log_warn("%s is not a directory; the state is not published",
		    p->state_dir);
	else
		log_warn("refusing the state directory %s: %s; the state is "
		    "not published and --status will not show this instance",
		    p->state_dir, why);
	p->state_dir[0] = '\0';
}

static void
write_state(struct publisher *p, const struct daemon *d, int64_t now)
{
	struct state st;

	if (p->state_dir[0] == '\0')
		return;
	fill(p, d, now, &st);
	if (state_write(p->state_dir, &st) == 0)
		return;
	if (errno == ENOTDIR || errno == EPERM) {
		char why[128];

		/* Replaced or handed over since start-up: give up. */
		state_dir_check(p->state_dir, 0, why, sizeof(why));
		refuse_dir(p, why);
		return;
	}
	log_warn("unable to write the state file in %s: %s", p->state_dir,
	    strerror(errno));
}

/* With fallbacks, STATUS= also says where ssh goes and why. */
static void
status_destination(const struct daemon *d, char *buf, size_t len)
{
	size_t n = strlen(buf);
	const char *in_use = config_destination(d->cfg);

	if (d->cfg->nfallback == 0 || n >= len)
		return;
	snprintf(buf + n, len - n, "; destination %s (%s)",
	    in_use ? in_use : "?", dest_reason(d));
}

/*
 * One line for systemd's STATUS= and the --wait parent, with the
 * destination when there are fallbacks.
 */
static void
status_text(const struct daemon *d, int64_t now, char *buf, size_t len)
{
	const char *fwd = fwdcheck_shown(&d->fwd);
	char t[32];

	switch (d->sv.state) {
	case SV_BACKOFF:
		fmt_duration(d->sv.retry_ms - now, t, sizeof(t));
		snprintf(buf, len, "backing off, next try in %s%s%s", t,
		    d->sv.last_reason[0] ? ": " : "", d->sv.last_reason);
		break;
	case SV_WAITING:
		snprintf(buf, len, "waiting for a handshake slot (%s): other "
		    "instances are connecting to the same server",
		    config_destination(d->cfg));
		break;
	case SV_UP:
		snprintf(buf, len, "up (%s, start %d)%s%s", config_destination(
		    d->cfg), d->sv.starts, fwd[0] ? ", " : "", fwd);
		break;
	default:
		snprintf(buf, len, "%s (%s, start %d)",
		    sv_state_name(d->sv.state), config_destination(d->cfg),
		    d->sv.starts);
		break;
	}
	status_destination(d, buf, len);
}

/*
 * systemd's STATUS=.  ssh's words are in the text: a newline in it would
 * start a new assignment (READY=1, say), and systemctl status puts it on
 * a terminal.
 */
static void
send_status(const char *text)
{
	char esc[1024], msg[1040];

	log_escape(esc, sizeof(esc), text);
	snprintf(msg, sizeof(msg), "STATUS=%s", esc);
	notify_send(msg);
}

static void
tell_parent(struct publisher *p, char kind, const char *text)
{
	if (p->wait_fd == -1)
		return;
	if (waitpipe_send(p->wait_fd, kind, text) == -1 && errno == EPIPE) {
		close(p->wait_fd);
		p->wait_fd = -1;
	}
}

/* -f --wait: the tunnel is up; the parent exits 0 and the pipe goes. */
static void
parent_up(struct publisher *p)
{
	if (p->wait_fd == -1)
		return;
	tell_parent(p, WAIT_UP, "up");
	if (p->wait_fd != -1)
		close(p->wait_fd);
	p->wait_fd = -1;
}

void
publish_clear(struct publisher *p)
{
	memset(p, 0, sizeof(*p));
	p->wait_fd = -1;
	p->next_watchdog = NEVER;
}

void
publish_init(struct publisher *p, const struct daemon *d, int64_t now)
{
	const char *dest = config_destination(d->cfg);
	struct state old;
	char why[128];

	p->next_watchdog = p->watchdog_ms > 0 ? now : NEVER;
	if (d->cfg->name[0] != '\0')
		util_strlcpy(p->name, d->cfg->name, sizeof(p->name));
	else
		state_default_name(dest ? dest : "autossh", p->name,
		    sizeof(p->name));
	if (state_dir(d->pidfile[0] ? d->pidfile : NULL, p->state_dir,
	    sizeof(p->state_dir)) == -1) {
		p->state_dir[0] = '\0';
		log_debug("no state directory: --status will not show this "
		    "instance");
		return;
	}
	/*
	 * Not fatal: a directory others can write costs --status, not the
	 * tunnel, and a local user must not be able to stop a tunnel by
	 * planting a directory.
	 */
	if (state_dir_check(p->state_dir, 1, why, sizeof(why)) == -1) {
		refuse_dir(p, why);
		return;
	}
	p->have_start = state_pid_starttime((long)getpid(),
	    &p->start_time) == 0;
	state_sweep(p->state_dir);
	/* An instance that cannot be proven gone keeps its name. */
	if (state_read(p->state_dir, p->name, &old) == 0 &&
	    old.pid != (long)getpid() && state_alive(&old) != 0) {
		char name[sizeof(p->name) + 24];

		/* Fits: names are at most 64 bytes (config.c). */
		snprintf(name, sizeof(name), "%s.%ld", p->name, (long)getpid());
		log_warn("another autossh (pid %ld) publishes its state as %s; "
		    "this one uses %s (--name chooses)", old.pid, p->name, name);
		util_strlcpy(p->name, name, sizeof(p->name));
	}
	write_state(p, d, now);
}

void
publish_change(struct publisher *p, const struct daemon *d,
    const struct sv_out *out, int64_t now)
{
	char text[400];

	if (out->actions & SV_CHANGED) {
		write_state(p, d, now);
		status_text(d, now, text, sizeof(text));
		send_status(text);
		if (d->sv.state == SV_BACKOFF)
			tell_parent(p, WAIT_RETRY, text);
	}
	if (out->actions & SV_READY) {
		notify_send("READY=1");
		/* --check-forwards: the parent waits for healthy forwards. */
		if (d->cfg->check_forwards_s <= 0 || fwdcheck_healthy(&d->fwd))
			parent_up(p);
	}
	if (d->sv.state == SV_STOPPING && d->sv.after == AFTER_EXIT &&
	    !p->stopping_sent) {
		notify_send("STOPPING=1");
		p->stopping_sent = 1;
	}
}

void
publish_forwards(struct publisher *p, const struct daemon *d, int news,
    int64_t now)
{
	char text[400];

	/* Unknown to healthy is no news, but -f --wait waits for it. */
	if (!news && p->wait_fd == -1)
		return;
	write_state(p, d, now);
	if (d->sv.state != SV_UP)
		return;
	if (fwdcheck_healthy(&d->fwd))
		parent_up(p);
	status_text(d, now, text, sizeof(text));
	send_status(text);
}

void
publish_refresh(struct publisher *p, const struct daemon *d, int64_t now)
{
	write_state(p, d, now);
}

int64_t
publish_deadline(const struct publisher *p)
{
	return p->next_watchdog;
}

void
publish_tick(struct publisher *p, int64_t now)
{
	if (p->watchdog_ms <= 0 || now < p->next_watchdog)
		return;
	notify_send("WATCHDOG=1");
	p->next_watchdog = now + p->watchdog_ms;
}

void
publish_exit(struct publisher *p, const struct daemon *d)
{
	if (p->state_dir[0] != '\0')
		state_remove(p->state_dir, p->name);
	if (!p->stopping_sent)
		notify_send("STOPPING=1");
	p->stopping_sent = 1;
	if (p->wait_fd != -1) {
		tell_parent(p, WAIT_EXIT, d->sv.last_reason[0] ?
		    d->sv.last_reason : "autossh exited");
		if (p->wait_fd != -1)
			close(p->wait_fd);
		p->wait_fd = -1;
	}
}
