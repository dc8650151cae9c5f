/*
 * Fuzz target: what `ssh -G` output turns into, end to end (the path of
 * main.c's prepare_ssh()): sshcfg_parse(), then liveness_plan() for a
 * deadline, liveness_describe(), and for a plan that owns the socket
 * conn_open(), whose parameter text is parsed back with
 * connparams_parse() exactly as the ProxyCommand helper would.
 *
 * Input: 3 bytes giving the deadline (big-endian, modulo 86401; below 5
 * means 0, as --deadline allows 0 or 5..86400), then the -G output.
 *
 * Checks: the plan keeps its promise (a dead link is noticed within the
 * deadline) with sane socket options, and the helper accepts the
 * parameters and reads back exactly what was planned.  A rejection there
 * means ssh's ProxyCommand fails on every connection attempt, so the
 * tunnel can never come up.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "connparams.h"
#include "fuzz.h"
#include "liveness.h"
#include "log.h"
#include "sshcfg.h"

#define ERRLEN	256

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(0, 0);
	return 0;
}

static void
check_params(const struct sshcfg *c, const struct liveness *l)
{
	struct connparams p;
	struct conn conn;
	long long ms;
	int fam;

	if (conn_open(&conn, c, l) == -1) {
		/* Only the system may refuse; the parameters always fit. */
		CHECK(errno != ENAMETOOLONG);
		return;
	}
	CHECK(conn.params_len < sizeof(conn.params));
	CHECK(connparams_parse(conn.params, conn.params_len, &p) == 0);
	CHECK(strcmp(p.host, c->hostname) == 0);
	CHECK(atoi(p.port) == c->port);
	fam = c->family == AF_INET || c->family == AF_INET6 ? c->family :
	    AF_UNSPEC;
	CHECK(p.family == fam);
	/* ConnectTimeout beyond what the helper takes means no limit. */
	ms = (long long)c->connect_timeout_s * 1000;
	CHECK(p.timeout_ms == (ms <= CONN_MAX_TIMEOUT_MS ? ms : 0));
	CHECK(p.idle_s == l->idle_s && p.intvl_s == l->intvl_s &&
	    p.cnt == l->cnt && p.user_timeout_ms == l->user_timeout_ms);
	CHECK(strcmp(p.bind_address, c->bind_address) == 0);
	CHECK(strcmp(p.bind_interface, c->bind_interface) == 0);
	conn_close(&conn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshcfg c;
	struct liveness l;
	char *text, *errbuf, *plan;
	unsigned long v;
	int d;

	if (size < 3)
		return 0;
	v = (unsigned long)data[0] << 16 | (unsigned long)data[1] << 8 |
	    data[2];
	d = (int)(v % 86401);
	if (d < 5)
		d = 0;
	data += 3;
	size -= 3;
	if ((text = malloc(size + 1)) == NULL ||
	    (errbuf = malloc(ERRLEN)) == NULL ||
	    (plan = malloc(ERRLEN)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';

	if (sshcfg_parse(text, &c, errbuf, ERRLEN) == -1)
		goto out;
	liveness_plan(d, &c, &l);
	CHECK(l.bytes_per_day >= 0);
	switch (l.mode) {
	case LIVE_OFF:
		CHECK(d == 0);
		break;
	case LIVE_SOCKET:
		CHECK(d > 0 && !c.has_proxycommand && !c.has_proxyjump);
		CHECK(l.idle_s >= 1 && l.intvl_s >= 1 && l.cnt >= 1);
		CHECK(l.user_timeout_ms >= 1000);
		CHECK(l.detect_s >= 1 && l.detect_s <= d);
		check_params(&c, &l);
		break;
	case LIVE_ALIVE:
		CHECK(d > 0 && (c.has_proxycommand || c.has_proxyjump));
		CHECK(l.alive_interval_s >= 1 && l.alive_count_max >= 1);
		CHECK(l.detect_s >= 1 && l.detect_s <= d);
		break;
	case LIVE_USER_ALIVE:
		CHECK(d > 0 && (c.has_proxycommand || c.has_proxyjump));
		CHECK(c.alive_interval_s > 0);
		break;
	default:
		CHECK(!"unknown liveness mode");
	}
	memset(plan, 'X', ERRLEN);
	liveness_describe(&l, plan, ERRLEN);
	CHECK(memchr(plan, '\0', ERRLEN) != NULL && plan[0] != '\0');
out:
	free(plan);
	free(errbuf);
	free(text);
	return 0;
}
