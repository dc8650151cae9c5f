/*
 * The liveness plan.  The kernel notices a dead connection for us:
 * TCP_USER_TIMEOUT bounds how long sent data may stay unacknowledged,
 * and keepalive probes make an idle link send something to be
 * acknowledged.  With TCP_USER_TIMEOUT set, Linux aborts a probing
 * connection once that long has passed since anything was received and
 * at least one probe is out, so the detection time is the user timeout;
 * the probe count is set only for kernels that ignore it.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "liveness.h"

/* Below this, a stall of a healthy but lossy link would look dead. */
#define MIN_USER_TIMEOUT_S	5
/* The kernel's limit for TCP_KEEPIDLE and TCP_KEEPINTVL. */
#define MAX_KEEP_S		32767

static int
max_int(int a, int b)
{
	return a > b ? a : b;
}

void
liveness_plan(int deadline_s, const struct sshcfg *c, struct liveness *o)
{
	int t = c->alive_interval_s, d = deadline_s;
	long ssh_cost = t > 0 ? 86400L / t * ALIVE_EXCHANGE_BYTES : 0;
	/* Debian's ssh sets 300 s itself in batch mode: not the user's. */
	int user_alive = t > 0 && !(c->batchmode && t == 300);
	long long dl;

	memset(o, 0, sizeof(*o));
	o->bytes_per_day = ssh_cost;
	/* ssh accepts intervals and counts whose product is no int. */
	dl = t > 0 ? (long long)t * (c->alive_count_max + 1LL) : 0;
	o->detect_s = dl > INT_MAX ? INT_MAX : (int)dl;
	if (d == 0) {
		o->mode = LIVE_OFF;
		return;
	}
	if (c->has_proxycommand || c->has_proxyjump) {
		/* We cannot own the socket; ssh's keepalives must do. */
		if (user_alive) {
			o->mode = LIVE_USER_ALIVE;
			return;
		}
		o->mode = LIVE_ALIVE;
		/*
		 * CountMax 0 would drop a healthy idle link at the first
		 * interval; with 1, ssh gives up 2 x interval after the last
		 * packet from the server.
		 */
		o->alive_interval_s = max_int(1, d / 2);
		o->alive_count_max = 1;
		o->detect_s = 2 * o->alive_interval_s;
		o->bytes_per_day = 86400L / o->alive_interval_s *
		    ALIVE_EXCHANGE_BYTES;
		return;
	}
	o->mode = LIVE_SOCKET;
	if (t > 0 && d - t >= MIN_USER_TIMEOUT_S &&
	    t + max_int(5, t / 2) <= MAX_KEEP_S) {
		/*
		 * ssh sends a keepalive after t seconds without news from the
		 * server, so the link is never idle longer than t plus a round
		 * trip: probes that start later never fire on a healthy link
		 * and cost nothing.  A dead link leaves ssh's keepalive
		 * unacknowledged, and the user timeout ends it d - t later.
		 */
		o->probes_quiet = 1;
		o->user_timeout_ms = (d - t) * 1000;
		o->idle_s = t + max_int(5, t / 2);
		o->intvl_s = max_int(1, (d - t) / 3);
		o->cnt = 3;
		o->detect_s = d;
		return;
	}
	/*
	 * Probes every intvl once idle: the first after idle, and the
	 * connection ends at the second unanswered one, at the user timeout.
	 */
	o->intvl_s = max_int(1, d / 9);
	o->user_timeout_ms = (d - o->intvl_s) * 1000;
	o->idle_s = max_int(1, d - 3 * o->intvl_s);
	/* Past the kernel's limit the user timeout still ends it in time. */
	if (o->idle_s > MAX_KEEP_S)
		o->idle_s = MAX_KEEP_S;
	o->cnt = max_int(1, (d - o->intvl_s - o->idle_s) / o->intvl_s + 1);
	o->detect_s = d - o->intvl_s;
	o->bytes_per_day = 86400L / o->idle_s * PROBE_EXCHANGE_BYTES +
	    ssh_cost;
}

void
liveness_describe(const struct liveness *l, char *buf, size_t len)
{
	long kb = (l->bytes_per_day + 512) / 1024;

	switch (l->mode) {
	case LIVE_OFF:
		snprintf(buf, len, "liveness layer off (--deadline=0)");
		break;
	case LIVE_SOCKET:
		snprintf(buf, len, "own socket: keepalive after %d s idle, "
		    "every %d s, user timeout %d s; a dead link is noticed "
		    "within %d s; keepalives about %ld KB a day%s",
		    l->idle_s, l->intvl_s, l->user_timeout_ms / 1000,
		    l->detect_s, kb, l->probes_quiet ?
		    " (ssh's ServerAlive; TCP probes stay quiet)" : "");
		break;
	case LIVE_ALIVE:
		snprintf(buf, len, "proxy in use: adding ServerAliveInterval "
		    "%d, ServerAliveCountMax %d; a dead link is noticed within "
		    "%d s; keepalives about %ld KB a day", l->alive_interval_s,
		    l->alive_count_max, l->detect_s, kb);
		break;
	case LIVE_USER_ALIVE:
		snprintf(buf, len, "proxy in use: keeping your ServerAlive "
		    "settings; a dead link is noticed within %d s; keepalives "
		    "about %ld KB a day", l->detect_s, kb);
		break;
	}
}
