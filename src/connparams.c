/*
 * The parameters the supervisor sends a ProxyCommand helper (conn.c
 * writes them, connect.c reads them): "key value" lines naming the host,
 * port, socket options and the stale session's address.  A pure parser;
 * the helper trusts nothing it reads, so a bad field fails the whole
 * text rather than being half-used.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "connparams.h"
#include "util.h"

static int
field_num(const char *v, int min, int max, int *out)
{
	char why[96];
	long long n;

	if (parse_num(v, min, max, &n, why, sizeof(why)) == -1)
		return -1;
	*out = (int)n;
	return 0;
}

/* Copy a string field: -1 when it does not fit. */
static int
field_str(const char *v, char *dst, size_t size)
{
	return util_strlcpy(dst, v, size) >= size ? -1 : 0;
}

/* A numeric IPv4 or IPv6 address with a port (0: none). */
static int
field_addr(const char *v, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, v, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, v, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	ss->ss_family = AF_UNSPEC;
	return -1;
}

static int
parse_reuse(char *v, struct sockaddr_storage *ss)
{
	char *sp = strrchr(v, ' ');
	int port;

	if (sp == NULL || field_num(sp + 1, 1, 65535, &port) == -1)
		return -1;
	*sp = '\0';
	return field_addr(v, port, ss);
}

int
connparams_parse(const char *text, size_t len, struct connparams *p)
{
	char buf[1024], *line, *save = NULL;
	int have = 0, family = 0;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(p, 0, sizeof(*p));
	p->reuse.ss_family = AF_UNSPEC;
	p->prefer.ss_family = AF_UNSPEC;
	p->reuse_ms = 1000;
	p->outage_ms = -1;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');
		int rc = 0;

		if (v == NULL)
			return -1;
		*v++ = '\0';
		if (strcmp(line, "host") == 0) {
			rc = field_str(v, p->host, sizeof(p->host)) == -1 ||
			    *v == '\0' ? -1 : 0;
			have |= 1;
		} else if (strcmp(line, "port") == 0) {
			int port = 0;

			rc = field_num(v, 1, 65535, &port);
			snprintf(p->port, sizeof(p->port), "%d", port);
			have |= 2;
		} else if (strcmp(line, "family") == 0) {
			rc = field_num(v, 0, 6, &family);
			p->family = family == 4 ? AF_INET :
			    family == 6 ? AF_INET6 : AF_UNSPEC;
		} else if (strcmp(line, "timeout_ms") == 0)
			rc = field_num(v, 0, CONN_MAX_TIMEOUT_MS,
			    &p->timeout_ms);
		else if (strcmp(line, "idle") == 0)
			rc = field_num(v, 0, 32767, &p->idle_s);
		else if (strcmp(line, "intvl") == 0)
			rc = field_num(v, 0, 32767, &p->intvl_s);
		else if (strcmp(line, "cnt") == 0)
			rc = field_num(v, 0, 127, &p->cnt);
		else if (strcmp(line, "user_timeout_ms") == 0)
			rc = field_num(v, 0, 1 << 30, &p->user_timeout_ms);
		else if (strcmp(line, "bind") == 0)
			rc = field_str(v, p->bind_address,
			    sizeof(p->bind_address));
		else if (strcmp(line, "bindif") == 0)
			rc = field_str(v, p->bind_interface,
			    sizeof(p->bind_interface));
		else if (strcmp(line, "reuse") == 0)
			rc = parse_reuse(v, &p->reuse);
		else if (strcmp(line, "prefer") == 0)
			rc = field_addr(v, 0, &p->prefer);
		else if (strcmp(line, "reuse_ms") == 0)
			rc = field_num(v, 100, 60000, &p->reuse_ms);
		else if (strcmp(line, "outage_ms") == 0)
			rc = field_num(v, 0, CONN_MAX_TIMEOUT_MS,
			    &p->outage_ms);
		if (rc == -1)
			return -1;
	}
	return have == 3 ? 0 : -1;
}

