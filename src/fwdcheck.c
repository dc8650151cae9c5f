/*
 * Forward health (DESIGN.md §Forward health).  The pure part reads
 * ssh's channel lines and keeps one state per LocalForward; the only
 * system calls are the check's connect and close.  It never feeds the
 * state machine: a refused target is a fact to publish, not a reason to
 * restart ssh.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fwdcheck.h"
#include "log.h"
#include "sshout.h"
#include "util.h"

/* "[addr]:port" or "port" (ssh -G's forms); 0, or -1 for a path. */
static int
listen_part(const char *s, size_t len, struct fwd *f)
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
	if (parse_num(colon + 1, 1, 65535, &n, why, sizeof(why)) == -1)
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

void
fwdcheck_init(struct fwdcheck *fc, const struct sshcfg *c, int interval_s)
{
	int i, max = c->local_forwards;

	memset(fc, 0, sizeof(*fc));
	fc->interval_s = interval_s;
	fc->next_check = fc->close_at = NEVER;
	if (max > SSHCFG_FWD_MAX)
		max = SSHCFG_FWD_MAX;
	for (i = 0; i < max; i++) {
		const char *v = c->local_forward[i], *sp = strchr(v, ' ');
		struct fwd *f = &fc->f[fc->n];

		memset(f, 0, sizeof(*f));
		f->fd = -1;
		/* Socket paths on either side are not checked. */
		if (sp == NULL || listen_part(v, (size_t)(sp - v), f) == -1 ||
		    target_part(sp + 1, f) == -1)
			continue;
		fc->n++;
	}
}

static struct fwd *
by_port(struct fwdcheck *fc, int port)
{
	int i;

	for (i = 0; i < fc->n; i++)
		if (fc->f[i].port == port)
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
	if (failed && fc->interval_s != 0 && fc->up)
		fc->next_check = 0;
	return 1;
}

void
fwdcheck_up(struct fwdcheck *fc, int64_t now)
{
	fc->up = 1;
	fc->next_check = fc->interval_s == 0 || fc->n == 0 ? NEVER : now;
}

static void
close_checks(struct fwdcheck *fc)
{
	int i;

	for (i = 0; i < fc->n; i++) {
		if (fc->f[i].fd != -1) {
			close(fc->f[i].fd);
			fc->f[i].fd = -1;
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

void
fwdcheck_run(struct fwdcheck *fc, int64_t now)
{
	int i;

	if (now >= fc->close_at)
		close_checks(fc);
	if (now < fc->next_check)
		return;
	for (i = 0; i < fc->n; i++) {
		struct fwd *f = &fc->f[i];

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
}

int
fwdcheck_text(const struct fwdcheck *fc, char *buf, size_t len)
{
	int i;

	for (i = 0; i < fc->n; i++) {
		const struct fwd *f = &fc->f[i];

		if (f->health != FWD_REFUSED)
			continue;
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
