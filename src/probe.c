/*
 * The primary's background probe: a plain TCP connect, judged by
 * SO_ERROR once the socket is writable.  It owns one socket at a time
 * and decides nothing about switching (supervise.c does).
 */
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"
#include "util.h"

static int
resolve(struct probe *p)
{
	struct addrinfo hints, *res;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = p->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", p->port);
	if ((rc = getaddrinfo(p->host, port, &hints, &res)) != 0) {
		snprintf(p->why, sizeof(p->why), "unable to resolve %s: %s",
		    p->host, gai_strerror(rc));
		return -1;
	}
	/* The first address, as ssh's first try would use. */
	memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
	p->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void
probe_init(struct probe *p, const struct sshcfg *c)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->end_ms = NEVER;
	util_strlcpy(p->host, c->hostname, sizeof(p->host));
	p->port = c->port;
	p->family = c->family;
	(void)resolve(p);
}

void
probe_close(struct probe *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	p->end_ms = NEVER;
}

static int
failed(struct probe *p, const char *what, int e)
{
	snprintf(p->why, sizeof(p->why), "%s %s port %d: %s", what, p->host,
	    p->port, strerror(e));
	probe_close(p);
	return -1;
}

int
probe_start(struct probe *p, int64_t now)
{
	probe_close(p);
	if (p->addrlen == 0 && resolve(p) == -1)
		return -1;
	p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (p->fd == -1)
		return failed(p, "unable to probe", errno);
	if (connect(p->fd, (struct sockaddr *)&p->addr, p->addrlen) == 0) {
		probe_close(p);
		return 1;
	}
	if (errno != EINPROGRESS)
		return failed(p, "unable to connect to", errno);
	p->end_ms = now + PROBE_TIMEOUT_MS;
	return 0;
}

int
probe_fd(const struct probe *p)
{
	return p->fd;
}

int64_t
probe_deadline(const struct probe *p)
{
	return p->fd == -1 ? NEVER : p->end_ms;
}

int
probe_check(struct probe *p, short revents, int64_t now)
{
	socklen_t len = sizeof(int);
	int e = 0;

	if (p->fd == -1)
		return 0;
	if (revents == 0) {
		if (now < p->end_ms)
			return 0;
		return failed(p, "no answer from", ETIMEDOUT);
	}
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0)
		return failed(p, "unable to connect to", e);
	probe_close(p);
	return 1;
}
