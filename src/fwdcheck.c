/*
 * Forward health (DESIGN.md §Forward health).  The pure part reads
 * ssh's channel lines and keeps one state per forward; the only system
 * calls are the checks' connect, SO_ERROR and close.  A LocalForward's
 * result comes from ssh's lines, a RemoteForward's from our own connect
 * to its target.  It never feeds the state machine: a refused target is
 * a fact to publish, not a reason to restart ssh.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fwdcheck.h"
#include "log.h"
#include "sshout.h"
#include "util.h"

/*
 * "[addr]:port" or "port" (ssh -G's forms), port >= min_port; 0, or -1
 * for a path.
 */
static int
listen_part(const char *s, size_t len, int min_port, struct fwd *f)
{
	char buf[160];
	const char *colon;
	long long n;
	char why[64];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		const char *close = strchr(buf, ']');

		if (close == NULL || close[1] != ':' ||
		    (size_t)(close - buf - 1) >= sizeof(f->bind))
			return -1;
		memcpy(f->bind, buf + 1, (size_t)(close - buf - 1));
		f->bind[close - buf - 1] = '\0';
		colon = close + 1;
	} else if ((colon = strrchr(buf, ':')) == NULL)
		colon = buf - 1;
	if (parse_num(colon + 1, min_port, 65535, &n, why, sizeof(why)) == -1)
		return -1;
	f->port = (int)n;
	return 0;
}

/* "[host]:port"; 0, or -1 (a socket path or garbage). */
static int
target_part(const char *s, struct fwd *f)
{
	const char *close;
	long long n;
	char why[64];

	if (s[0] != '[' || (close = strchr(s, ']')) == NULL ||
	    close[1] != ':' || (size_t)(close - s - 1) >= sizeof(f->host))
		return -1;
	memcpy(f->host, s + 1, (size_t)(close - s - 1));
	f->host[close - s - 1] = '\0';
	if (parse_num(close + 2, 1, 65535, &n, why, sizeof(why)) == -1)
		return -1;
	f->host_port = (int)n;
	return 0;
}

/*
 * A RemoteForward target's addresses, without a resolver: a numeric
 * address, or "localhost" as loopback (both families unless ssh's
 * AddressFamily says one, as ssh's own connect would try).  Returns how
 * many (0: a name we do not resolve).
 */
static int
target_addrs(int family, const struct fwd *f,
    struct sockaddr_storage ss[FWD_ADDRS], socklen_t len[FWD_ADDRS])
{
	struct sockaddr_in6 *s6;
	struct sockaddr_in *s4;
	const char *v4 = f->host, *v6 = f->host;
	int n = 0;

	memset(ss, 0, sizeof(*ss) * FWD_ADDRS);
	if (strcasecmp(f->host, "localhost") == 0) {
		v4 = family == AF_INET6 ? "" : "127.0.0.1";
		v6 = family == AF_INET ? "" : "::1";
	}
	s4 = (struct sockaddr_in *)&ss[n];
	if (inet_pton(AF_INET, v4, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)f->host_port);
		len[n++] = sizeof(*s4);
	}
	s6 = (struct sockaddr_in6 *)&ss[n];
	if (inet_pton(AF_INET6, v6, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)f->host_port);
		len[n++] = sizeof(*s6);
	}
	return n;
}

/*
 * The port monitor's own forwards (DESIGN.md §Port monitor): -L
 * P:127.0.0.1:P (or :E in echo mode) and, in loop mode,
 * -R P:127.0.0.1:P+1.  Checking them would only feed the monitor's
 * listener connections that are not replies.
 */
static int
monitors(const struct fwd *f, int mon_port, int echo_port)
{
	int target;

	if (mon_port == 0 || f->bind[0] != '\0' || f->port != mon_port ||
	    strcmp(f->host, "127.0.0.1") != 0)
		return 0;
	if (f->remote)
		target = echo_port == 0 ? mon_port + 1 : -1;
	else
		target = echo_port == 0 ? mon_port : echo_port;
	return f->host_port == target;
}

static void
add(struct fwdcheck *fc, const char *v, int remote, int mon_port,
    int echo_port)
{
	struct sockaddr_storage ss[FWD_ADDRS];
	socklen_t len[FWD_ADDRS];
	const char *sp = strchr(v, ' ');
	struct fwd *f = &fc->f[fc->n];
	int a;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	for (a = 0; a < FWD_ADDRS; a++) {
		f->rfd[a] = -1;
		f->rerr[a] = -1;
	}
	f->remote = remote;
	/*
	 * Socket paths on either side are not checked, nor -R's SOCKS
	 * ("[socks]:0"); the server picks a -R listen port 0.
	 */
	if (sp == NULL || listen_part(v, (size_t)(sp - v), remote ? 0 : 1,
	    f) == -1 || target_part(sp + 1, f) == -1 ||
	    monitors(f, mon_port, echo_port))
		return;
	if (remote && target_addrs(fc->family, f, ss, len) == 0) {
		if (fc->interval_s != 0)
			log_info("forward R %d\u2192%s:%d: the target is a "
			    "name, not checked", f->port, f->host,
			    f->host_port);
		return;
	}
	fc->n++;
}

void
fwdcheck_init(struct fwdcheck *fc, const struct sshcfg *c, int interval_s,
    int mon_port, int echo_port)
{
	int i;

	memset(fc, 0, sizeof(*fc));
	fc->interval_s = interval_s;
	fc->family = c->family;
	fc->next_check = fc->close_at = NEVER;
	for (i = 0; i < c->local_forwards && i < SSHCFG_FWD_MAX; i++)
		add(fc, c->local_forward[i], 0, mon_port, echo_port);
	for (i = 0; i < c->remote_forwards && i < SSHCFG_FWD_MAX; i++)
		add(fc, c->remote_forward[i], 1, mon_port, echo_port);
}

static struct fwd *
by_port(struct fwdcheck *fc, int port)
{
	int i;

	for (i = 0; i < fc->n; i++)
		if (!fc->f[i].remote && fc->f[i].port == port)
			return &fc->f[i];
	return NULL;
}

int
fwdcheck_line(struct fwdcheck *fc, const char *line)
{
	char why[sizeof(fc->f[0].why)];
	int chan, port = 0, i, failed = 0;
	enum fwd_health h;
	struct fwd *f;

	if (fc->interval_s == 0)
		return 0;
	switch (sshout_channel(line, &chan, &port, why, sizeof(why))) {
	case CHAN_OPEN_FAILED:
		/*
		 * The failure names only the channel; the free line that
		 * follows it names the forward.
		 */
		if (fc->nfailed == (int)(sizeof(fc->failed) /
		    sizeof(fc->failed[0])))
			fc->nfailed = 0;
		fc->failed[fc->nfailed].chan = chan;
		util_strlcpy(fc->failed[fc->nfailed++].why, why,
		    sizeof(fc->failed[0].why));
		return 0;
	case CHAN_FREED:
		break;
	default:
		return 0;
	}
	for (i = 0; i < fc->nfailed; i++) {
		if (fc->failed[i].chan == chan) {
			failed = 1;
			util_strlcpy(why, fc->failed[i].why, sizeof(why));
			fc->failed[i] = fc->failed[--fc->nfailed];
			break;
		}
	}
	if ((f = by_port(fc, port)) == NULL)
		return 0;
	h = failed ? FWD_REFUSED : FWD_OK;
	if (f->health == h)
		return 0;
	f->health = h;
	f->why[0] = '\0';
	if (failed)
		util_strlcpy(f->why, why, sizeof(f->why));
	/* A user's connection failing through a forward: check the rest. */
	if (failed && fc->up)
		fc->next_check = 0;
	/* Outside a session the health is kept, but it is no change. */
	return fc->up;
}

void
fwdcheck_up(struct fwdcheck *fc, int64_t now)
{
	fc->up = 1;
	fc->next_check = fc->interval_s == 0 || fc->n == 0 ? NEVER : now;
}

/*
 * Close the checks.  A RemoteForward connect still pending has no result
 * and leaves the state as it was.
 */
static void
close_checks(struct fwdcheck *fc)
{
	int i, a;

	for (i = 0; i < fc->n; i++) {
		struct fwd *f = &fc->f[i];

		if (f->fd != -1) {
			close(f->fd);
			f->fd = -1;
		}
		for (a = 0; a < FWD_ADDRS; a++) {
			if (f->rfd[a] != -1) {
				close(f->rfd[a]);
				f->rfd[a] = -1;
			}
		}
	}
	fc->close_at = NEVER;
}

void
fwdcheck_down(struct fwdcheck *fc)
{
	int i;

	close_checks(fc);
	fc->up = 0;
	fc->nfailed = 0;
	fc->next_check = NEVER;
	fc->shown[0] = '\0';
	for (i = 0; i < fc->n; i++)
		fc->f[i].health = FWD_UNKNOWN;
}

int64_t
fwdcheck_deadline(const struct fwdcheck *fc)
{
	return fc->next_check < fc->close_at ? fc->next_check : fc->close_at;
}

/* A non-blocking connect to the forward's listen address; fd or -1. */
static int
open_check(const struct fwd *f)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	const char *a = f->bind;
	int fd;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	/* ssh's default bind is loopback; "*" and "" mean any address. */
	if (a[0] == '\0' || strcmp(a, "*") == 0 || strcmp(a, "localhost") == 0)
		a = "127.0.0.1";
	if (inet_pton(AF_INET, a, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		s4.sin_port = htons((uint16_t)f->port);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&s4,
		    sizeof(s4)) == -1 && errno != EINPROGRESS)
			goto fail;
		return fd;
	}
	if (inet_pton(AF_INET6, a, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons((uint16_t)f->port);
		fd = socket(AF_INET6,
		    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&s6,
		    sizeof(s6)) == -1 && errno != EINPROGRESS)
			goto fail;
		return fd;
	}
	errno = EAFNOSUPPORT;
	return -1;
fail:
	close(fd);
	return -1;
}

/* A new state for f; 1 if it differs from the old one. */
static int
set_health(struct fwd *f, enum fwd_health h, const char *why)
{
	if (f->health == h && strcmp(f->why, why) == 0)
		return 0;
	f->health = h;
	util_strlcpy(f->why, why, sizeof(f->why));
	return 1;
}

/*
 * A RemoteForward's result once its connects are done: healthy if one
 * address took it (the others are closed then), refused if every one
 * answered with an error (ssh would fail the same way), else unchanged.
 * Returns 1 if the health changed.
 */
static int
settle(struct fwd *f)
{
	int a, pending = 0, err = 0;

	for (a = 0; a < FWD_ADDRS; a++) {
		if (f->rerr[a] == 0) {
			for (a = 0; a < FWD_ADDRS; a++) {
				if (f->rfd[a] != -1)
					close(f->rfd[a]);
				f->rfd[a] = -1;
				f->rerr[a] = -1;
			}
			return set_health(f, FWD_OK, "");
		}
		if (f->rfd[a] != -1)
			pending = 1;
		/* "Refused" says the most: prefer it to another error. */
		else if (f->rerr[a] > 0 && err != ECONNREFUSED)
			err = f->rerr[a];
	}
	if (pending || err == 0)
		return 0;
	for (a = 0; a < FWD_ADDRS; a++)
		f->rerr[a] = -1;
	return set_health(f, FWD_REFUSED, strerror(err));
}

/*
 * Non-blocking connects to each of a RemoteForward target's addresses.
 * Loopback answers a refused connect at once, so it may settle here.
 */
static int
open_remote(const struct fwdcheck *fc, struct fwd *f)
{
	struct sockaddr_storage ss[FWD_ADDRS];
	socklen_t len[FWD_ADDRS];
	int a, n, fd;

	for (a = 0; a < FWD_ADDRS; a++)
		if (f->rfd[a] != -1)
			return 0;	/* the last check is still connecting */
	n = target_addrs(fc->family, f, ss, len);
	for (a = 0; a < n; a++) {
		f->rerr[a] = -1;
		fd = socket(ss[a].ss_family,
		    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd == -1) {
			/* No IPv6 here, or out of fds: no result. */
			log_debug("unable to check forward R %d: %s", f->port,
			    strerror(errno));
			continue;
		}
		if (connect(fd, (struct sockaddr *)&ss[a], len[a]) == 0)
			f->rerr[a] = 0;
		else if (errno == EINPROGRESS) {
			f->rfd[a] = fd;
			continue;
		} else if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)
			log_debug("unable to check forward R %d: %s", f->port,
			    strerror(errno));
		else
			f->rerr[a] = errno;
		close(fd);
	}
	return settle(f);
}

int
fwdcheck_run(struct fwdcheck *fc, int64_t now)
{
	int i, changed = 0;

	if (now >= fc->close_at)
		close_checks(fc);
	if (now < fc->next_check)
		return 0;
	for (i = 0; i < fc->n; i++) {
		struct fwd *f = &fc->f[i];

		if (f->remote) {
			changed |= open_remote(fc, f);
			continue;
		}
		if (f->fd != -1)
			continue;
		if ((f->fd = open_check(f)) == -1)
			log_debug("unable to check forward %d: %s", f->port,
			    strerror(errno));
	}
	/* ssh names the forward once the channel is closed. */
	fc->close_at = now + FWD_HOLD_MS;
	fc->next_check = fc->interval_s > 0 ?
	    now + (int64_t)fc->interval_s * 1000 : NEVER;
	return changed && fc->up;
}

int
fwdcheck_pollfds(const struct fwdcheck *fc, struct pollfd *pfd, int n)
{
	int i, a, k = 0;

	if (n < FWD_MAX_FDS)
		return 0;
	/* The same order as fwdcheck_event() reads them. */
	for (i = 0; i < fc->n; i++) {
		if (!fc->f[i].remote)
			continue;
		for (a = 0; a < FWD_ADDRS && k < FWD_MAX_FDS; a++)
			pfd[k++].fd = fc->f[i].rfd[a];
	}
	for (; k < FWD_MAX_FDS; k++)
		pfd[k].fd = -1;
	for (k = 0; k < FWD_MAX_FDS; k++) {
		pfd[k].events = POLLOUT;
		pfd[k].revents = 0;
	}
	return FWD_MAX_FDS;
}

int
fwdcheck_event(struct fwdcheck *fc, const struct pollfd *pfd, int n)
{
	int i, a, k = 0, changed = 0, err;
	socklen_t len;

	if (n < FWD_MAX_FDS)
		return 0;
	for (i = 0; i < fc->n; i++) {
		struct fwd *f = &fc->f[i];
		int done = 0;

		if (!f->remote)
			continue;
		for (a = 0; a < FWD_ADDRS && k < FWD_MAX_FDS; a++, k++) {
			/* Closed or replaced since poll(): not this result. */
			if (pfd[k].revents == 0 || f->rfd[a] == -1 ||
			    pfd[k].fd != f->rfd[a])
				continue;
			len = sizeof(err);
			if (getsockopt(f->rfd[a], SOL_SOCKET, SO_ERROR, &err,
			    &len) == -1)
				err = errno;
			close(f->rfd[a]);
			f->rfd[a] = -1;
			f->rerr[a] = err;
			done = 1;
		}
		if (done)
			changed |= settle(f);
	}
	return changed && fc->up;
}

int
fwdcheck_text(const struct fwdcheck *fc, char *buf, size_t len)
{
	int i;

	for (i = 0; i < fc->n; i++) {
		const struct fwd *f = &fc->f[i];

		if (f->health != FWD_REFUSED)
			continue;
		if (f->remote && strcmp(f->why, strerror(ECONNREFUSED)) == 0)
			return snprintf(buf, len, "forward R %d\u2192%s:%d: "
			    "target refused on this machine", f->port, f->host,
			    f->host_port);
		if (f->remote)
			return snprintf(buf, len, "forward R %d\u2192%s:%d: "
			    "target unreachable on this machine (%s)", f->port,
			    f->host, f->host_port, f->why);
		if (strstr(f->why, "Connection refused") != NULL)
			return snprintf(buf, len, "forward %d\u2192%s:%d: "
			    "target refused on the server", f->port, f->host,
			    f->host_port);
		return snprintf(buf, len, "forward %d\u2192%s:%d: target "
		    "unreachable on the server (%s)", f->port, f->host,
		    f->host_port, f->why);
	}
	if (len > 0)
		buf[0] = '\0';
	return 0;
}

int
fwdcheck_healthy(const struct fwdcheck *fc)
{
	int i;

	for (i = 0; i < fc->n; i++)
		if (fc->f[i].health != FWD_OK)
			return 0;
	return 1;
}

int
fwdcheck_news(struct fwdcheck *fc, int *level, char *line, size_t len)
{
	char text[sizeof(fc->shown)];

	fwdcheck_text(fc, text, sizeof(text));
	if (strcmp(text, fc->shown) == 0)
		return 0;
	util_strlcpy(fc->shown, text, sizeof(fc->shown));
	if (text[0] != '\0') {
		*level = LOG_LVL_WARNING;
		snprintf(line, len, "%s", text);
	} else {
		*level = LOG_LVL_INFO;
		snprintf(line, len, "forwards healthy again");
	}
	return 1;
}

const char *
fwdcheck_shown(const struct fwdcheck *fc)
{
	return fc->shown;
}
