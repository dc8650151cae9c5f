/*
 * Unit tests for liveness.c, which is pure arithmetic: the plan for the
 * default deadline with and without ssh's own ServerAlive, the fallback
 * for user proxies, Debian's batch-mode ServerAlive, and invariants over
 * a sweep of deadlines and intervals (detection within the deadline,
 * socket options the kernel accepts), plus the describing line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "liveness.h"
#include "sshcfg.h"


/* Linux's limits (include/net/tcp.h): larger values get EINVAL. */
#define MAX_TCP_KEEPIDLE	32767
#define MAX_TCP_KEEPINTVL	32767
#define MAX_TCP_KEEPCNT		127

#define DAY	86400L

/* ssh's defaults, as sshcfg_parse() leaves them for "hostname h". */
static void
cfg_default(struct sshcfg *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->hostname, sizeof(c->hostname), "h");
	c->port = 22;
	c->alive_count_max = 3;
	snprintf(c->loglevel, sizeof(c->loglevel), "INFO");
}

static void
plan(int deadline, const struct sshcfg *c, struct liveness *l)
{
	/* Every field must be written, not left from before. */
	memset(l, 0x5a, sizeof(*l));
	liveness_plan(deadline, c, l);
}

static void
test_off(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	plan(0, &c, &l);
	assert_int_equal(l.mode, LIVE_OFF);
	assert_int_equal(l.detect_s, 0);
	assert_int_equal(l.bytes_per_day, 0);
	assert_int_equal(l.user_timeout_ms, 0);
	/* Off still reports what ssh's own ServerAlive costs and detects. */
	c.alive_interval_s = 30;
	plan(0, &c, &l);
	assert_int_equal(l.mode, LIVE_OFF);
	assert_int_equal(l.detect_s, 120);
	assert_int_equal(l.bytes_per_day, DAY / 30 * ALIVE_EXCHANGE_BYTES);
	/* Even with a proxy: off is off. */
	c.has_proxyjump = 1;
	plan(0, &c, &l);
	assert_int_equal(l.mode, LIVE_OFF);
	assert_int_equal(l.alive_interval_s, 0);
}

static void
test_default_deadline(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_SOCKET);
	assert_int_equal(l.idle_s, 30);
	assert_int_equal(l.intvl_s, 5);
	assert_int_equal(l.cnt, 3);
	assert_int_equal(l.user_timeout_ms, 40000);
	assert_int_equal(l.probes_quiet, 0);
	assert_int_equal(l.detect_s, 40);
	assert_int_equal(l.alive_interval_s, 0);
	assert_int_equal(l.alive_count_max, 0);
	assert_int_equal(l.bytes_per_day, DAY / 30 * PROBE_EXCHANGE_BYTES);
}

static void
test_user_alive_quiets_probes(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	c.alive_interval_s = 30;
	c.alive_count_max = 3;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_SOCKET);
	assert_int_equal(l.probes_quiet, 1);
	assert_int_equal(l.user_timeout_ms, 15000);
	/* Later than ssh's keepalive plus a round trip: never fires. */
	assert_int_equal(l.idle_s, 45);
	assert_true(l.idle_s > c.alive_interval_s);
	assert_int_equal(l.intvl_s, 5);
	assert_int_equal(l.detect_s, 45);
	/* The bytes are ssh's only; TCP adds none. */
	assert_int_equal(l.bytes_per_day, DAY / 30 * ALIVE_EXCHANGE_BYTES);
}

static void
test_user_alive_at_margin(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	/* 40 leaves exactly the 5 s minimum user timeout. */
	c.alive_interval_s = 40;
	plan(45, &c, &l);
	assert_int_equal(l.probes_quiet, 1);
	assert_int_equal(l.user_timeout_ms, 5000);
	assert_int_equal(l.detect_s, 45);
	/* 41 does not: probes as without ServerAlive. */
	c.alive_interval_s = 41;
	plan(45, &c, &l);
	assert_int_equal(l.probes_quiet, 0);
	assert_int_equal(l.user_timeout_ms, 40000);
}

static void
test_user_alive_too_close(void **state)
{
	struct sshcfg c;
	struct liveness l, none;

	(void)state;
	cfg_default(&c);
	plan(45, &c, &none);
	c.alive_interval_s = 42;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_SOCKET);
	assert_int_equal(l.probes_quiet, 0);
	assert_int_equal(l.idle_s, none.idle_s);
	assert_int_equal(l.intvl_s, none.intvl_s);
	assert_int_equal(l.cnt, none.cnt);
	assert_int_equal(l.user_timeout_ms, none.user_timeout_ms);
	assert_int_equal(l.detect_s, none.detect_s);
	/* Both ssh's keepalives and our probes are on the wire. */
	assert_int_equal(l.bytes_per_day, DAY / 30 * PROBE_EXCHANGE_BYTES +
	    DAY / 42 * ALIVE_EXCHANGE_BYTES);
	/* An interval beyond the deadline is the same case. */
	c.alive_interval_s = 600;
	plan(45, &c, &l);
	assert_int_equal(l.probes_quiet, 0);
	assert_int_equal(l.detect_s, none.detect_s);
}

static void
test_debian_batchmode_proxyjump(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	/* Debian's ssh sets 300 in batch mode; it is not the user's. */
	c.batchmode = 1;
	c.alive_interval_s = 300;
	c.has_proxyjump = 1;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_ALIVE);
	assert_int_equal(l.alive_interval_s, 22);
	assert_int_equal(l.alive_count_max, 1);
	assert_int_equal(l.detect_s, 44);
	assert_int_equal(l.bytes_per_day, DAY / 22 * ALIVE_EXCHANGE_BYTES);
	/* Batch mode with another interval is the user's choice. */
	c.alive_interval_s = 30;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_USER_ALIVE);
	/* 300 without batch mode too. */
	c.batchmode = 0;
	c.alive_interval_s = 300;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_USER_ALIVE);
}

static void
test_debian_batchmode_socket(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	cfg_default(&c);
	c.batchmode = 1;
	c.alive_interval_s = 300;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_SOCKET);
	assert_int_equal(l.probes_quiet, 0);
	assert_int_equal(l.detect_s, 40);
	/* ssh's 300 s keepalives still cost what they cost. */
	assert_int_equal(l.bytes_per_day, DAY / 30 * PROBE_EXCHANGE_BYTES +
	    DAY / 300 * ALIVE_EXCHANGE_BYTES);
}

struct proxy_row {
	const char	*name;
	int		 pcmd, pjump;
};

static const struct proxy_row proxy_rows[] = {
	{ "ProxyCommand", 1, 0 },
	{ "ProxyJump", 0, 1 },
	{ "both", 1, 1 },
};

static void
test_proxy(void **state)
{
	const struct proxy_row *r = *state;
	struct sshcfg c;
	struct liveness l;

	cfg_default(&c);
	c.has_proxycommand = r->pcmd;
	c.has_proxyjump = r->pjump;
	/* Without the user's ServerAlive: we add ours. */
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_ALIVE);
	assert_int_equal(l.alive_interval_s, 22);
	assert_int_equal(l.alive_count_max, 1);
	assert_int_equal(l.detect_s, 2 * l.alive_interval_s);
	assert_int_equal(l.user_timeout_ms, 0);
	assert_int_equal(l.idle_s, 0);
	plan(60, &c, &l);
	assert_int_equal(l.alive_interval_s, 30);
	assert_int_equal(l.detect_s, 60);
	plan(5, &c, &l);
	assert_int_equal(l.alive_interval_s, 2);
	assert_int_equal(l.detect_s, 4);
	/* With it: never overridden, and its own figures are reported. */
	c.alive_interval_s = 15;
	c.alive_count_max = 2;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_USER_ALIVE);
	assert_int_equal(l.alive_interval_s, 0);
	assert_int_equal(l.alive_count_max, 0);
	assert_int_equal(l.detect_s, 45);
	assert_int_equal(l.bytes_per_day, DAY / 15 * ALIVE_EXCHANGE_BYTES);
	/* Even when it is slower than the deadline. */
	c.alive_interval_s = 60;
	c.alive_count_max = 3;
	plan(45, &c, &l);
	assert_int_equal(l.mode, LIVE_USER_ALIVE);
	assert_int_equal(l.detect_s, 240);
}

/* Deadlines every second up to 10 minutes, then sparser to a day. */
static int
next_deadline(int d)
{
	if (d < 600)
		return d + 1;
	if (d < 86400 && d + 97 > 86400)
		return 86400;
	return d + 97;
}

static void
check_plan(int d, int t, int batch, int proxy, int limits)
{
	struct sshcfg c;
	struct liveness l;

	cfg_default(&c);
	c.alive_interval_s = t;
	c.batchmode = batch;
	c.has_proxyjump = proxy;
	plan(d, &c, &l);
	switch (l.mode) {
	case LIVE_SOCKET:
		if (proxy)
			fail_msg("d=%d t=%d: socket mode with a proxy", d, t);
		if (l.detect_s > d || l.detect_s < 1)
			fail_msg("d=%d t=%d: detect %d", d, t, l.detect_s);
		if (l.idle_s < 1 || l.intvl_s < 1 || l.cnt < 1)
			fail_msg("d=%d t=%d: idle %d intvl %d cnt %d", d, t,
			    l.idle_s, l.intvl_s, l.cnt);
		if (l.user_timeout_ms <= 0 || l.user_timeout_ms > d * 1000)
			fail_msg("d=%d t=%d: user timeout %d ms", d, t,
			    l.user_timeout_ms);
		/* The options must be ones the kernel takes. */
		if (limits && (l.idle_s > MAX_TCP_KEEPIDLE ||
		    l.intvl_s > MAX_TCP_KEEPINTVL || l.cnt > MAX_TCP_KEEPCNT))
			fail_msg("d=%d t=%d: idle %d intvl %d cnt %d beyond "
			    "the kernel's limits", d, t, l.idle_s, l.intvl_s,
			    l.cnt);
		if (l.probes_quiet && l.idle_s <= t)
			fail_msg("d=%d t=%d: quiet probes fire first", d, t);
		if (l.bytes_per_day <= 0)
			fail_msg("d=%d t=%d: bytes %ld", d, t,
			    l.bytes_per_day);
		break;
	case LIVE_ALIVE:
		if (!proxy)
			fail_msg("d=%d t=%d: ServerAlive without a proxy", d,
			    t);
		if (l.alive_interval_s < 1 || l.alive_count_max != 1 ||
		    l.detect_s > d)
			fail_msg("d=%d t=%d: interval %d count %d detect %d",
			    d, t, l.alive_interval_s, l.alive_count_max,
			    l.detect_s);
		break;
	case LIVE_USER_ALIVE:
		if (!proxy || t == 0)
			fail_msg("d=%d t=%d: user alive mode", d, t);
		break;
	case LIVE_OFF:
		fail_msg("d=%d t=%d: off", d, t);
	}
}

static void
test_sweep_socket(void **state)
{
	int d, t;

	(void)state;
	for (d = 5; d <= 86400; d = next_deadline(d))
		for (t = 0; t <= 600; t++)
			check_plan(d, t, 0, 0, 0);
}

static void
test_sweep_proxy(void **state)
{
	int d, t;

	(void)state;
	for (d = 5; d <= 86400; d = next_deadline(d))
		for (t = 0; t <= 600; t += 3)
			check_plan(d, t, t == 300, 1, 1);
}

static void
test_sweep_long_alive(void **state)
{
	static const int ts[] = { 3600, 7200, 21845, 21846, 30000, 43200,
	    86395 };
	size_t i;
	int d;

	(void)state;
	/* A user's very long ServerAliveInterval with a long deadline. */
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		for (d = 5; d <= 86400; d = next_deadline(d))
			check_plan(d, ts[i], 0, 0, 0);
}

static void
test_sweep_kernel_limits(void **state)
{
	static const int ts[] = { 0, 30, 300, 3600, 21845, 21846, 30000 };
	size_t i;
	int d;

	(void)state;
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		for (d = 5; d <= 86400; d = next_deadline(d))
			check_plan(d, ts[i], 0, 0, 1);
}

static void
test_kernel_limits_long_deadline(void **state)
{
	struct sshcfg c;
	struct liveness l;

	(void)state;
	/*
	 * --deadline accepts up to 86400: the plan must still be one the
	 * kernel (and connparams_parse) accepts.
	 */
	cfg_default(&c);
	plan(86400, &c, &l);
	assert_int_equal(l.mode, LIVE_SOCKET);
	assert_in_range(l.idle_s, 1, MAX_TCP_KEEPIDLE);
	assert_in_range(l.intvl_s, 1, MAX_TCP_KEEPINTVL);
	assert_in_range(l.cnt, 1, MAX_TCP_KEEPCNT);
	assert_true(l.detect_s <= 86400);
}

struct desc_row {
	const char	*name;
	int		 deadline, alive, proxy;
	const char	*want[3];
};

static const struct desc_row desc_rows[] = {
	{ "off", 0, 0, 0, { "off", NULL, NULL } },
	{ "socket", 45, 0, 0, { "own socket", "keepalive after 30 s idle",
	    "within 40 s" } },
	{ "socket, quiet probes", 45, 30, 0, { "own socket",
	    "TCP probes stay quiet", "within 45 s" } },
	{ "proxy", 45, 0, 1, { "proxy in use", "ServerAliveInterval 22",
	    "ServerAliveCountMax 1" } },
	{ "proxy, user's ServerAlive", 45, 30, 1, { "proxy in use",
	    "keeping your ServerAlive", "within 120 s" } },
};

static void
test_describe(void **state)
{
	const struct desc_row *r = *state;
	struct sshcfg c;
	struct liveness l;
	char buf[512], small[16];
	size_t i;

	cfg_default(&c);
	c.alive_interval_s = r->alive;
	c.has_proxycommand = r->proxy;
	plan(r->deadline, &c, &l);
	memset(buf, 'X', sizeof(buf));
	liveness_describe(&l, buf, sizeof(buf));
	assert_non_null(memchr(buf, '\0', sizeof(buf)));
	/* One line for the log. */
	assert_null(strchr(buf, '\n'));
	for (i = 0; i < 3 && r->want[i] != NULL; i++)
		if (strstr(buf, r->want[i]) == NULL)
			fail_msg("'%s' lacks '%s'", buf, r->want[i]);
	/* The caller's 256 bytes hold it whole. */
	assert_true(strlen(buf) < 256);
	memset(small, 'X', sizeof(small));
	liveness_describe(&l, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, buf, sizeof(small) - 1);
}

int
main(void)
{
	size_t i;

	add_test("deadline 0 is off", test_off, NULL);
	add_test("default deadline, no ServerAlive", test_default_deadline,
	    NULL);
	add_test("ServerAlive 30/3 keeps the probes quiet",
	    test_user_alive_quiets_probes, NULL);
	add_test("ServerAlive at the 5 s margin", test_user_alive_at_margin,
	    NULL);
	add_test("ServerAlive too close to the deadline",
	    test_user_alive_too_close, NULL);
	add_test("Debian BatchMode 300 with ProxyJump",
	    test_debian_batchmode_proxyjump, NULL);
	add_test("Debian BatchMode 300 without a proxy",
	    test_debian_batchmode_socket, NULL);
	for (i = 0; i < sizeof(proxy_rows) / sizeof(proxy_rows[0]); i++)
		add_test(proxy_rows[i].name, test_proxy,
		    (void *)&proxy_rows[i]);
	add_test("sweep: own socket, deadlines 5..86400 x intervals 0..600",
	    test_sweep_socket, NULL);
	add_test("sweep: proxy, deadlines 5..86400 x intervals 0..600",
	    test_sweep_proxy, NULL);
	add_test("sweep: long ServerAliveIntervals", test_sweep_long_alive,
	    NULL);
	add_test("sweep: socket options within the kernel's limits",
	    test_sweep_kernel_limits, NULL);
	add_test("deadline 86400 within the kernel's limits",
	    test_kernel_limits_long_deadline, NULL);
	for (i = 0; i < sizeof(desc_rows) / sizeof(desc_rows[0]); i++)
		add_test(desc_rows[i].name, test_describe,
		    (void *)&desc_rows[i]);
	return unit_run("test_liveness", NULL,
	    NULL);
}
