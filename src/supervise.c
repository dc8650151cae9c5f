/*
 * The supervisor's policy as a state machine.  It owns every decision
 * about ssh's life (when to start it, when to stop it, what an exit
 * means, how long to wait) and nothing else: it never touches a process,
 * a clock or a file.  The caller feeds events with the time and carries
 * out the actions, which keeps all of it testable with a fake clock.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "supervise.h"
#include "util.h"

static const char *const state_names[] = {
	[SV_STARTING] = "starting",
	[SV_CONNECTING] = "connecting",
	[SV_UP] = "up",
	[SV_BACKOFF] = "backing off",
	[SV_STOPPING] = "stopping",
	[SV_WAITING] = "awaiting slot",
	[SV_EXITED] = "exited",
};

const char *
sv_state_name(enum sv_state s)
{
	return state_names[s];
}

/* splitmix64: small, fast and good enough to spread retries. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int64_t
sv_backoff_ms(const struct sv_policy *p, int n, uint64_t *rng)
{
	int64_t cap = p->backoff_base_ms;

	while (n-- > 0 && cap < p->backoff_max_ms)
		cap *= 2;
	if (cap > p->backoff_max_ms)
		cap = p->backoff_max_ms;
	return (int64_t)(next_random(rng) % (uint64_t)(cap + 1));
}

/*
 * Right after a lost session, the slots' holders are most likely in
 * their handshakes or asking a restarting sshd, so a slot frees within
 * a second or so; past the helper's quick window (connect.c) it is a
 * long outage, and asking ten times a second would only cost wake-ups.
 */
#define SLOT_QUICK_MS	12000

int64_t
sv_slot_wait_ms(const struct sv_policy *p, int64_t waited_ms, uint64_t *rng)
{
	int64_t base = p->slot_wait_ms;

	if (waited_ms >= SLOT_QUICK_MS)
		base *= 10;
	return base / 2 + (int64_t)(next_random(rng) % (uint64_t)(base + 1));
}

enum sv_verdict
sv_verdict(const struct sv_policy *p, int wstatus, enum ssh_cause cause,
    int first_start, int64_t lived_ms)
{
	int gated = first_start && p->gate_ms > 0 && lived_ms < p->gate_ms;

	if (!WIFEXITED(wstatus))
		return VERDICT_RESTART;
	switch (WEXITSTATUS(wstatus)) {
	case 255:
		if (gated && cause == CAUSE_PERMANENT)
			return VERDICT_EXIT_FAIL;
		return VERDICT_RESTART;
	case 0:
		if (p->ntservice)
			return VERDICT_RESTART;
		if (gated)
			return VERDICT_EXIT_FAIL;
		/*
		 * A command-less ssh exits 0 on SIGTERM; one that we did not
		 * stop was stopped by someone else, so bring it back.
		 */
		return p->no_session ? VERDICT_RESTART : VERDICT_EXIT_OK;
	case 1:
	case 2:
		return gated ? VERDICT_EXIT_FAIL : VERDICT_RESTART;
	default:
		return VERDICT_EXIT_FAIL;
	}
}

static int running(const struct sv *);
static void stop_child(struct sv *, enum sv_after, int, int64_t,
    struct sv_out *);
static void say(struct sv_out *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Append to out's log line (the second once newline() was called); the
 * first call sets the level.
 */
static void
say(struct sv_out *out, int level, const char *fmt, ...)
{
	char *buf = out->line2 ? out->msg2 : out->msg;
	size_t size = out->line2 ? sizeof(out->msg2) : sizeof(out->msg);
	size_t len = strlen(buf);
	va_list ap;

	if (out->msg[0] == '\0')
		out->level = level;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* What say() writes next is a line of its own. */
static void
newline(struct sv_out *out)
{
	if (out->msg[0] != '\0')
		out->line2 = 1;
}

static void
enter(struct sv *sv, enum sv_state s, int64_t now, struct sv_out *out)
{
	if (sv->state != s)
		out->actions |= SV_CHANGED;
	sv->state = s;
	sv->since_ms = now;
}

static void
finish(struct sv *sv, int code, int64_t now, struct sv_out *out)
{
	enter(sv, SV_EXITED, now, out);
	sv->exit_code = code;
	out->exit_code = code;
	out->actions |= SV_EXIT;
}

static int
maxstart_reached(const struct sv *sv)
{
	return sv->p.maxstart >= 0 && sv->starts >= sv->p.maxstart;
}

static void
spawn_now(struct sv *sv, int64_t now, struct sv_out *out)
{
	sv->starts++;
	sv->started_ms = now;
	sv->transport = 0;
	sv->port_reused = 0;
	if (sv->outage.active)
		sv->outage.tries++;
	enter(sv, SV_CONNECTING, now, out);
	out->actions |= SV_SPAWN;
}

/*
 * Ask for a handshake slot; the caller answers at once with
 * EV_SLOT_TAKEN or EV_SLOT_BUSY.  SV_WAITING is entered quietly here
 * and made visible (published) only when every slot turns out to be
 * held, so a start that finds a slot publishes once, as without slots.
 */
static void
ask_slot(struct sv *sv, struct sv_out *out)
{
	sv->state = SV_WAITING;
	sv->retry_ms = NEVER;
	out->actions |= SV_TAKE_SLOT;
}

/* Start ssh: first a handshake slot when they are in use. */
static void
spawn(struct sv *sv, int64_t now, struct sv_out *out)
{
	if (maxstart_reached(sv)) {
		say(out, LOG_LVL_INFO, "%sAUTOSSH_MAXSTART (%d) reached; "
		    "exiting", out->msg[0] ? "; " : "", sv->p.maxstart);
		finish(sv, EXIT_OK, now, out);
		return;
	}
	if (sv->p.slot_wait_ms > 0 && !sv->slot_held) {
		sv->slot_since_ms = NEVER;
		ask_slot(sv, out);
		return;
	}
	spawn_now(sv, now, out);
}

/* The unauthenticated phase is over (or never began): free the slot. */
static void
release_slot(struct sv *sv, struct sv_out *out)
{
	if (!sv->slot_held)
		return;
	sv->slot_held = 0;
	out->actions |= SV_RELEASE_SLOT;
}

static void
slot_answer(struct sv *sv, const struct sv_event *ev, int64_t now,
    struct sv_out *out)
{
	char buf[32];
	int64_t wait;

	/*
	 * Slot files we cannot use must not stop the tunnel: start without
	 * a slot, as with no state directory.
	 */
	if (ev->type == EV_SLOT_NONE) {
		if (sv->state == SV_WAITING)
			spawn_now(sv, now, out);
		return;
	}
	if (ev->type == EV_SLOT_TAKEN) {
		sv->slot_held = 1;
		/* Stopped while asking: nothing to start it for. */
		if (sv->state != SV_WAITING) {
			release_slot(sv, out);
			return;
		}
		if (sv->slot_since_ms != NEVER) {
			fmt_duration(now - sv->slot_since_ms, buf, sizeof(buf));
			say(out, LOG_LVL_DEBUG, "got a handshake slot after %s",
			    buf);
		}
		spawn_now(sv, now, out);
		return;
	}
	if (sv->state != SV_WAITING)
		return;
	if (sv->slot_since_ms == NEVER) {
		/* Now it is worth publishing (the quiet entry above). */
		sv->slot_since_ms = now;
		sv->since_ms = now;
		out->actions |= SV_CHANGED;
	}
	wait = sv_slot_wait_ms(&sv->p, now - sv->slot_since_ms, &sv->rng);
	sv->retry_ms = now + wait;
	if (now == sv->slot_since_ms)
		say(out, LOG_LVL_DEBUG, "every handshake slot for this "
		    "destination is held by another autossh; asking again "
		    "in %s", fmt_duration(wait, buf, sizeof(buf)));
}

/* The name of destination i in messages. */
static const char *
dest_name(int i)
{
	return i == 0 ? "the primary" : "a fallback";
}

/*
 * A quick failure of the current destination.  At the second in a row,
 * with somewhere else to go, the next destination starts at once: its
 * first try is not a retry, and the back-off exponent keeps growing, so
 * that destinations which all fail still back off (DESIGN.md
 * §Fallbacks).  Returns 1 when it switched.
 */
static int
next_destination(struct sv *sv, int64_t now, struct sv_out *out)
{
	if (sv->p.ndest < 2)
		return 0;
	if (++sv->dest_failures < SV_FALLBACK_AFTER)
		return 0;
	snprintf(sv->dest_reason, sizeof(sv->dest_reason), "%s: %s failed "
	    "twice%s%.200s", sv->dest + 1 < sv->p.ndest ? "fallback" :
	    "primary", sv->dest == 0 ? "primary" : "fallback",
	    sv->last_reason[0] ? ": " : "", sv->last_reason);
	sv->dest = (sv->dest + 1) % sv->p.ndest;
	sv->dest_failures = 0;
	sv->quick_failures++;
	sv->probing = 0;
	sv->probe_ms = sv->dest == 0 ? NEVER : now + sv->p.probe_every_ms;
	out->actions |= SV_SWITCH;
	say(out, LOG_LVL_WARNING, "; failed twice in a row: switching to %s "
	    "(destination %d)", dest_name(sv->dest), sv->dest);
	spawn(sv, now, out);
	return 1;
}

/*
 * The primary answered a probe while a fallback is in use: go back.  A
 * running ssh is replaced at once, so the gap is one reconnect
 * (DESIGN.md §Fallbacks).
 */
static void
probe_ok(struct sv *sv, int64_t now, struct sv_out *out)
{
	sv->probing = 0;
	if (sv->dest == 0 || sv->state == SV_EXITED ||
	    (sv->state == SV_STOPPING && sv->after == AFTER_EXIT))
		return;
	sv->dest = 0;
	sv->dest_failures = 0;
	sv->probe_ms = NEVER;
	util_strlcpy(sv->dest_reason, "back to primary: it answered",
	    sizeof(sv->dest_reason));
	out->actions |= SV_SWITCH;
	say(out, LOG_LVL_INFO, "the primary answered; going back to it");
	if (running(sv))
		stop_child(sv, AFTER_RESTART_NOW, 0, now, out);
	else if (sv->state == SV_BACKOFF)
		spawn(sv, now, out);
}

/* ssh has gone without our asking: restart now, or after a back-off. */
static void
restart(struct sv *sv, int64_t now, int64_t lived_ms, struct sv_out *out)
{
	char buf[32];
	int64_t wait;

	if (maxstart_reached(sv)) {
		spawn(sv, now, out);
		return;
	}
	if (lived_ms >= sv->p.long_enough_ms) {
		sv->quick_failures = 0;
		sv->dest_failures = 0;
		say(out, LOG_LVL_INFO, "; restarting now");
		spawn(sv, now, out);
		return;
	}
	if (next_destination(sv, now, out))
		return;
	wait = sv_backoff_ms(&sv->p, sv->quick_failures, &sv->rng);
	sv->quick_failures++;
	sv->retry_ms = now + wait;
	say(out, LOG_LVL_INFO, "; retry in %s", fmt_duration(wait, buf,
	    sizeof(buf)));
	enter(sv, SV_BACKOFF, now, out);
}

static void
describe_exit(struct sv_out *out, int wstatus, int64_t lived_ms,
    const char *reason)
{
	char buf[32];

	fmt_duration(lived_ms, buf, sizeof(buf));
	if (WIFEXITED(wstatus))
		say(out, LOG_LVL_INFO, "ssh exited with status %d after %s",
		    WEXITSTATUS(wstatus), buf);
	else if (WIFSIGNALED(wstatus))
		say(out, LOG_LVL_INFO, "ssh was killed by signal %d (SIG%s) "
		    "after %s", WTERMSIG(wstatus),
		    sigabbrev_np(WTERMSIG(wstatus)) ?
		    sigabbrev_np(WTERMSIG(wstatus)) : "?", buf);
	else
		say(out, LOG_LVL_INFO, "ssh ended (wait status %#x) after %s",
		    (unsigned)wstatus, buf);
	if (reason != NULL && reason[0] != '\0')
		say(out, LOG_LVL_INFO, " (%s)", reason);
}

static void
child_exit(struct sv *sv, const struct sv_event *ev, int64_t now,
    struct sv_out *out)
{
	int64_t lived = now - sv->started_ms;
	enum sv_after after = AFTER_RESTART_POLICY;

	/*
	 * A working tunnel that ended without our asking, or that we
	 * stopped because its link was lost: an outage.
	 */
	if (sv->state == SV_UP || (sv->state == SV_STOPPING &&
	    sv->after == AFTER_RESTART_POLICY)) {
		sv->outage.active = 1;
		sv->outage.tries = 0;
		sv->outage.lost_ms = now;
	}
	release_slot(sv, out);
	sv->last_wstatus = ev->wstatus;
	sv->last_lived_ms = lived;
	util_strlcpy(sv->last_reason, ev->reason ? ev->reason : "",
	    sizeof(sv->last_reason));
	/* When we stopped ssh, its last words are not the reason. */
	describe_exit(out, ev->wstatus, lived, sv->state == SV_STOPPING ?
	    NULL : ev->reason);

	if (sv->state == SV_STOPPING) {
		after = sv->after;
		if (after == AFTER_EXIT) {
			say(out, LOG_LVL_INFO, "; exiting");
			finish(sv, sv->after_code, now, out);
			return;
		}
		if (after == AFTER_RESTART_NOW) {
			say(out, LOG_LVL_INFO, "; restarting now");
			spawn(sv, now, out);
			return;
		}
		restart(sv, now, lived, out);
		return;
	}
	switch (sv_verdict(&sv->p, ev->wstatus, ev->cause, sv->starts == 1,
	    lived)) {
	case VERDICT_RESTART:
		restart(sv, now, lived, out);
		break;
	case VERDICT_EXIT_OK:
		say(out, LOG_LVL_INFO, "; exiting");
		finish(sv, EXIT_OK, now, out);
		break;
	case VERDICT_EXIT_FAIL:
		out->level = LOG_LVL_ERR;
		if (WIFEXITED(ev->wstatus) && sv->starts == 1 &&
		    sv->p.gate_ms > 0 && lived < sv->p.gate_ms)
			say(out, LOG_LVL_ERR, "; first start failed within the "
			    "gate time of %lld s; exiting",
			    (long long)(sv->p.gate_ms / 1000));
		else
			say(out, LOG_LVL_ERR, "; exiting");
		finish(sv, EXIT_FAIL, now, out);
		break;
	}
}

/* Ask ssh to go, then decide by `after' once it has. */
static void
stop_child(struct sv *sv, enum sv_after after, int code, int64_t now,
    struct sv_out *out)
{
	if (sv->state == SV_STOPPING) {
		/* A stop request overrides a restart already under way. */
		if (after == AFTER_EXIT) {
			sv->after = AFTER_EXIT;
			sv->after_code = code;
		}
		return;
	}
	sv->after = after;
	sv->after_code = code;
	sv->kill_ms = now + sv->p.kill_grace_ms;
	enter(sv, SV_STOPPING, now, out);
	out->actions |= SV_TERM;
}

static int
running(const struct sv *sv)
{
	return sv->state == SV_CONNECTING || sv->state == SV_UP;
}

static void
up(struct sv *sv, int64_t now, struct sv_out *out)
{
	char buf[32];

	/* Up without ssh's word on authentication (-q, the monitor). */
	release_slot(sv, out);
	enter(sv, SV_UP, now, out);
	say(out, LOG_LVL_INFO, "tunnel up after %s", fmt_duration(now -
	    sv->started_ms, buf, sizeof(buf)));
	if (!sv->ever_up)
		out->actions |= SV_READY;
	sv->ever_up = 1;
	/*
	 * Up at the first try after an outage, from the lost connection's
	 * local port: if the server still held the old session (and its -R
	 * ports), our SYN from that port made it drop it, or the forwards
	 * would have been refused (DESIGN.md §Stale sessions).
	 */
	if (sv->outage.active && sv->outage.tries == 1 && sv->port_reused &&
	    sv->p.remote_forwards > 0) {
		sv->outage.evictions++;
		newline(out);
		say(out, LOG_LVL_INFO, "remote forwards back at the first try "
		    "after the outage: reconnected from the previous local "
		    "port, so the server's stale session was cleared");
	}
	sv->outage.active = 0;
	sv->outage.lost_ms = NEVER;
}

/*
 * The network changed and has settled (DESIGN.md §Network events).  A
 * connection stalled in TCP's back-off is dropped: a new one is faster
 * than the next retransmission, which may be many seconds away.
 */
static void
net_change(struct sv *sv, const struct sv_event *ev, int64_t now,
    struct sv_out *out)
{
	const char *what = ev->reason ? ev->reason : "";

	if (sv->state == SV_UP && ev->stalled) {
		say(out, LOG_LVL_WARNING, "network changed (%s) while the "
		    "connection was stalled; restarting ssh", what);
		stop_child(sv, AFTER_RESTART_POLICY, 0, now, out);
		return;
	}
	if (ev->reason != NULL && (sv->state == SV_BACKOFF ||
	    sv->state == SV_CONNECTING)) {
		say(out, LOG_LVL_INFO, "network changed: %s", what);
		newline(out);
	}
	if (sv->state == SV_BACKOFF) {
		say(out, LOG_LVL_INFO, "network changed; retrying now");
		spawn(sv, now, out);
	} else if (sv->state == SV_WAITING)
		ask_slot(sv, out);
	else if (sv->state == SV_CONNECTING && !sv->transport) {
		say(out, LOG_LVL_INFO, "network changed while connecting; "
		    "restarting ssh");
		stop_child(sv, AFTER_RESTART_NOW, 0, now, out);
	}
}

/* On a fallback, the primary is probed at most every probe_every_ms. */
static int
probe_due(const struct sv *sv, int64_t now)
{
	return sv->dest != 0 && !sv->probing && now >= sv->probe_ms &&
	    sv->state != SV_EXITED && sv->state != SV_STOPPING;
}

static void
timeout(struct sv *sv, int64_t now, struct sv_out *out)
{
	if (now >= sv->end_ms && sv->state != SV_EXITED &&
	    !(sv->state == SV_STOPPING && sv->after == AFTER_EXIT)) {
		say(out, LOG_LVL_INFO, "AUTOSSH_MAXLIFETIME (%lld s) reached",
		    (long long)(sv->p.maxlifetime_ms / 1000));
		if (running(sv) || sv->state == SV_STOPPING) {
			say(out, LOG_LVL_INFO, "; stopping ssh");
			stop_child(sv, AFTER_EXIT, 0, now, out);
		} else {
			say(out, LOG_LVL_INFO, "; exiting");
			finish(sv, EXIT_OK, now, out);
		}
		return;
	}
	if (probe_due(sv, now)) {
		sv->probing = 1;
		sv->probe_ms = now + sv->p.probe_every_ms;
		out->actions |= SV_PROBE;
	}
	if (sv->state == SV_BACKOFF && now >= sv->retry_ms) {
		spawn(sv, now, out);
		return;
	}
	if (sv->state == SV_WAITING && now >= sv->retry_ms) {
		ask_slot(sv, out);
		return;
	}
	if (sv->state == SV_CONNECTING && sv->p.up_after_ms > 0 &&
	    now >= sv->started_ms + sv->p.up_after_ms) {
		up(sv, now, out);
		return;
	}
	if (sv->state == SV_STOPPING && now >= sv->kill_ms) {
		say(out, LOG_LVL_WARNING, "ssh did not exit within %lld s of "
		    "SIGTERM; sending SIGKILL",
		    (long long)(sv->p.kill_grace_ms / 1000));
		sv->kill_ms = NEVER;
		out->actions |= SV_KILL;
	}
}

void
sv_init(struct sv *sv, const struct sv_policy *p, int64_t now, uint64_t seed)
{
	memset(sv, 0, sizeof(*sv));
	sv->p = *p;
	sv->state = SV_STARTING;
	sv->since_ms = now;
	sv->retry_ms = sv->kill_ms = NEVER;
	sv->end_ms = p->maxlifetime_ms > 0 ? now + p->maxlifetime_ms : NEVER;
	sv->rng = seed;
	sv->last_wstatus = -1;
	sv->slot_since_ms = NEVER;
	sv->outage.lost_ms = NEVER;
	sv->probe_ms = NEVER;
	util_strlcpy(sv->dest_reason, "primary", sizeof(sv->dest_reason));
}

int64_t
sv_deadline(const struct sv *sv)
{
	int64_t d = NEVER;

	if (sv->state == SV_EXITED)
		return NEVER;
	if (sv->state == SV_BACKOFF || sv->state == SV_WAITING)
		d = sv->retry_ms;
	else if (sv->state == SV_STOPPING)
		d = sv->kill_ms;
	else if (sv->state == SV_CONNECTING && sv->p.up_after_ms > 0)
		d = sv->started_ms + sv->p.up_after_ms;
	if (sv->dest != 0 && !sv->probing && sv->state != SV_STOPPING &&
	    sv->probe_ms < d)
		d = sv->probe_ms;
	if (!(sv->state == SV_STOPPING && sv->after == AFTER_EXIT) &&
	    sv->end_ms < d)
		d = sv->end_ms;
	return d;
}

void
sv_handle(struct sv *sv, const struct sv_event *ev, int64_t now,
    struct sv_out *out)
{
	enum sv_state was = sv->state;

	memset(out, 0, sizeof(*out));
	out->level = LOG_LVL_INFO;

	switch (ev->type) {
	case EV_START:
		if (sv->state == SV_STARTING)
			spawn(sv, now, out);
		break;
	case EV_CHILD_EXIT:
		if (running(sv) || sv->state == SV_STOPPING)
			child_exit(sv, ev, now, out);
		break;
	case EV_SPAWN_FAILED:
		if (sv->state != SV_CONNECTING)
			break;
		say(out, LOG_LVL_ERR, "unable to start ssh: %s",
		    ev->reason ? ev->reason : "unknown error");
		util_strlcpy(sv->last_reason, ev->reason ? ev->reason : "",
		    sizeof(sv->last_reason));
		/* A start that never ran is no try after an outage. */
		if (sv->outage.active && sv->outage.tries > 0)
			sv->outage.tries--;
		release_slot(sv, out);
		restart(sv, now, 0, out);
		break;
	case EV_TRANSPORT:
		if (running(sv)) {
			sv->transport = 1;
			sv->port_reused = ev->port_reused;
		}
		break;
	case EV_UP:
		if (sv->state == SV_CONNECTING)
			up(sv, now, out);
		break;
	case EV_TIMEOUT:
		timeout(sv, now, out);
		break;
	case EV_STOP:
		if (running(sv) || sv->state == SV_STOPPING) {
			if (sv->state != SV_STOPPING)
				say(out, LOG_LVL_INFO, "stopping ssh");
			stop_child(sv, AFTER_EXIT, sv->p.stop_exit_code, now,
			    out);
		} else if (sv->state != SV_EXITED) {
			say(out, LOG_LVL_INFO, "exiting");
			finish(sv, sv->p.stop_exit_code, now, out);
		}
		break;
	case EV_RESTART:
		if (running(sv)) {
			say(out, LOG_LVL_INFO, "restarting ssh on request");
			stop_child(sv, AFTER_RESTART_NOW, 0, now, out);
		} else if (sv->state == SV_BACKOFF) {
			say(out, LOG_LVL_INFO, "retrying now on request");
			spawn(sv, now, out);
		} else if (sv->state == SV_WAITING) {
			/* A slot cannot be forced; ask again now. */
			say(out, LOG_LVL_INFO, "asking for a handshake slot now "
			    "on request");
			ask_slot(sv, out);
		}
		break;
	case EV_RETRY_NOW:
		if (sv->state == SV_BACKOFF) {
			say(out, LOG_LVL_INFO, "retrying now on request");
			spawn(sv, now, out);
		} else if (sv->state == SV_WAITING)
			ask_slot(sv, out);
		break;
	case EV_NET_CHANGE:
		net_change(sv, ev, now, out);
		break;
	case EV_LINK_LOST:
		if (!running(sv))
			break;
		say(out, LOG_LVL_WARNING, "%s; restarting ssh",
		    ev->reason ? ev->reason : "connection lost");
		stop_child(sv, AFTER_RESTART_POLICY, 0, now, out);
		break;
	case EV_SLOT_TAKEN:
	case EV_SLOT_BUSY:
	case EV_SLOT_NONE:
		slot_answer(sv, ev, now, out);
		break;
	case EV_AUTHENTICATED:
		if (running(sv) || sv->state == SV_STOPPING)
			release_slot(sv, out);
		break;
	case EV_PROBE_OK:
		probe_ok(sv, now, out);
		break;
	case EV_PROBE_FAIL:
		sv->probing = 0;
		break;
	}
	/* Judged on the whole answer: UP left and re-entered is no edge. */
	if (was != SV_UP && sv->state == SV_UP)
		out->actions |= SV_UP_BEGAN;
	else if (was == SV_UP && sv->state != SV_UP)
		out->actions |= SV_UP_ENDED;
}
