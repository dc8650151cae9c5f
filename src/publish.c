/*
 * Publishing the supervisor's state.  This module turns the daemon's
 * fields into a state file, systemd notifications and --wait messages;
 * it reads the state machine but never feeds it.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "publish.h"
#include "util.h"

static void
fill(struct daemon *d, struct state *st)
{
	int64_t now = now_ms();
	const char *dest = config_destination(d->cfg);
	struct conn_stats cs;
	int ws = d->sv.last_wstatus;

	memset(st, 0, sizeof(*st));
	util_strlcpy(st->name, d->name, sizeof(st->name));
	util_strlcpy(st->destination, dest ? dest : "", sizeof(st->destination));
	st->pid = (long)getpid();
	st->have_start = d->have_start;
	st->start_time = d->start_time;
	util_strlcpy(st->state, sv_state_name(d->sv.state), sizeof(st->state));
	st->since_ms = d->sv.since_ms;
	st->since_unix = (int64_t)time(NULL) - (now - d->sv.since_ms) / 1000;
	st->written_ms = now;
	st->serial = ++d->serial;
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
	st->evictions = d->evictions;
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
}

/* Stop publishing to a directory that is not ours alone; said once. */
static void
refuse_dir(struct daemon *d, const char *why)
{
	if (errno == ENOTDIR)
		log_warn("%s is not a directory; the state is not published",
		    d->state_dir);
	else
		log_warn("refusing the state directory %s: %s; the state is "
		    "not published and --status will not show this instance",
		    d->state_dir, why);
	d->state_dir[0] = '\0';
}

static void
write_state(struct daemon *d)
{
	struct state st;

	if (d->state_dir[0] == '\0')
		return;
	fill(d, &st);
	if (state_write(d->state_dir, &st) == 0)
		return;
	if (errno == ENOTDIR || errno == EPERM) {
		char why[128];

		/* Replaced or handed over since start-up: give up. */
		state_dir_check(d->state_dir, 0, why, sizeof(why));
		refuse_dir(d, why);
		return;
	}
	log_warn("unable to write the state file in %s: %s", d->state_dir,
	    strerror(errno));
}

/* One line for systemd's STATUS= and the --wait parent. */
static void
status_text(const struct daemon *d, char *buf, size_t len)
{
	char t[32];

	switch (d->sv.state) {
	case SV_BACKOFF:
		fmt_duration(d->sv.retry_ms - now_ms(), t, sizeof(t));
		snprintf(buf, len, "backing off, next try in %s%s%s", t,
		    d->sv.last_reason[0] ? ": " : "", d->sv.last_reason);
		break;
	case SV_WAITING:
		snprintf(buf, len, "waiting for a handshake slot (%s): other "
		    "instances are connecting to the same server",
		    config_destination(d->cfg));
		break;
	case SV_UP:
		snprintf(buf, len, "up (%s, start %d)", config_destination(
		    d->cfg), d->sv.starts);
		break;
	default:
		snprintf(buf, len, "%s (%s, start %d)",
		    sv_state_name(d->sv.state), config_destination(d->cfg),
		    d->sv.starts);
		break;
	}
}

static void
tell_parent(struct daemon *d, char kind, const char *text)
{
	char line[512], esc[500];
	int n;

	if (d->wait_fd == -1)
		return;
	/* The parent prints it on a terminal; a newline would end it early. */
	log_escape(esc, sizeof(esc), text);
	n = snprintf(line, sizeof(line), "%c %s\n", kind, esc);
	if (n > 0 && write(d->wait_fd, line, (size_t)n) < 0 && errno == EPIPE) {
		close(d->wait_fd);
		d->wait_fd = -1;
	}
}

void
publish_init(struct daemon *d)
{
	const char *dest = config_destination(d->cfg);
	struct state old;
	char why[128];

	if (d->cfg->name[0] != '\0')
		util_strlcpy(d->name, d->cfg->name, sizeof(d->name));
	else
		state_default_name(dest ? dest : "autossh", d->name,
		    sizeof(d->name));
	if (state_dir(d->pidfile[0] ? d->pidfile : NULL, d->state_dir,
	    sizeof(d->state_dir)) == -1) {
		d->state_dir[0] = '\0';
		log_debug("no state directory: --status will not show this "
		    "instance");
		return;
	}
	/*
	 * Not fatal: a directory others can write costs --status, not the
	 * tunnel, and a local user must not be able to stop a tunnel by
	 * planting a directory.
	 */
	if (state_dir_check(d->state_dir, 1, why, sizeof(why)) == -1) {
		refuse_dir(d, why);
		return;
	}
	d->have_start = state_pid_starttime((long)getpid(),
	    &d->start_time) == 0;
	state_sweep(d->state_dir);
	/* An instance that cannot be proven gone keeps its name. */
	if (state_read(d->state_dir, d->name, &old) == 0 &&
	    old.pid != (long)getpid() && state_alive(&old) != 0) {
		char name[sizeof(d->name) + 24];

		/* Fits: names are at most 64 bytes (config.c). */
		snprintf(name, sizeof(name), "%s.%ld", d->name, (long)getpid());
		log_warn("another autossh (pid %ld) publishes its state as %s; "
		    "this one uses %s (--name chooses)", old.pid, d->name, name);
		util_strlcpy(d->name, name, sizeof(d->name));
	}
	write_state(d);
}

void
publish_after(struct daemon *d, const struct sv_out *out)
{
	char text[400], esc[1024], msg[1040];

	if (out->actions & SV_CHANGED) {
		write_state(d);
		status_text(d, text, sizeof(text));
		/*
		 * ssh's words are in the text: a newline in it would start a
		 * new assignment (READY=1, say), and systemctl status puts it
		 * on a terminal.
		 */
		log_escape(esc, sizeof(esc), text);
		snprintf(msg, sizeof(msg), "STATUS=%s", esc);
		notify_send(msg);
		if (d->sv.state == SV_BACKOFF)
			tell_parent(d, 'R', text);
	}
	if (out->actions & SV_READY) {
		notify_send("READY=1");
		tell_parent(d, 'U', "up");
		if (d->wait_fd != -1)
			close(d->wait_fd);
		d->wait_fd = -1;
	}
	if (d->sv.state == SV_STOPPING && d->sv.after == AFTER_EXIT &&
	    !d->stopping_sent) {
		notify_send("STOPPING=1");
		d->stopping_sent = 1;
	}
}

void
publish_refresh(struct daemon *d)
{
	write_state(d);
}

void
publish_exit(struct daemon *d)
{
	if (d->state_dir[0] != '\0')
		state_remove(d->state_dir, d->name);
	if (!d->stopping_sent)
		notify_send("STOPPING=1");
	d->stopping_sent = 1;
	if (d->wait_fd != -1) {
		tell_parent(d, 'X', d->sv.last_reason[0] ? d->sv.last_reason :
		    "autossh exited");
		if (d->wait_fd != -1)
			close(d->wait_fd);
		d->wait_fd = -1;
	}
}
