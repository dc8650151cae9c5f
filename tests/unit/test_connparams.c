/*
 * Unit tests for connparams.c: the helper's parameter parser, every
 * field, boundaries, malformed text, and that it never reads past the
 * length it is given.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit.h"

#include "connparams.h"

/* ---- connparams_parse() ---- */

static const char full_v4[] =
    "host example.org\nport 2222\nfamily 4\ntimeout_ms 5000\nidle 30\n"
    "intvl 5\ncnt 3\nuser_timeout_ms 40000\nbind 10.0.0.1\nbindif eth0\n"
    "reuse 10.0.0.1 40000\n";

static void
test_params_full_v4(void **state)
{
	struct connparams p;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&p.reuse;
	char a[INET_ADDRSTRLEN];

	(void)state;
	memset(&p, 0x5a, sizeof(p));
	assert_int_equal(connparams_parse(full_v4, strlen(full_v4), &p), 0);
	assert_string_equal(p.host, "example.org");
	assert_string_equal(p.port, "2222");
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.timeout_ms, 5000);
	assert_int_equal(p.idle_s, 30);
	assert_int_equal(p.intvl_s, 5);
	assert_int_equal(p.cnt, 3);
	assert_int_equal(p.user_timeout_ms, 40000);
	assert_string_equal(p.bind_address, "10.0.0.1");
	assert_string_equal(p.bind_interface, "eth0");
	assert_int_equal(p.reuse.ss_family, AF_INET);
	assert_int_equal(ntohs(s4->sin_port), 40000);
	assert_non_null(inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)));
	assert_string_equal(a, "10.0.0.1");
}

static void
test_params_full_v6(void **state)
{
	static const char text[] =
	    "host fd00::1\nport 22\nfamily 6\ntimeout_ms 0\nidle 45\n"
	    "intvl 5\ncnt 3\nuser_timeout_ms 15000\nbind fd00::2\n"
	    "reuse fd00::2 51234\n";
	struct connparams p;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&p.reuse;
	char a[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(connparams_parse(text, strlen(text), &p), 0);
	assert_string_equal(p.host, "fd00::1");
	assert_string_equal(p.port, "22");
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.timeout_ms, 0);
	assert_string_equal(p.bind_address, "fd00::2");
	assert_string_equal(p.bind_interface, "");
	assert_int_equal(p.reuse.ss_family, AF_INET6);
	assert_int_equal(ntohs(s6->sin6_port), 51234);
	assert_non_null(inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)));
	assert_string_equal(a, "fd00::2");
}

static void
test_params_minimal(void **state)
{
	static const char text[] = "port 22\nhost h";
	struct connparams p;

	(void)state;
	memset(&p, 0x5a, sizeof(p));
	/* Any order; the last line needs no newline; the rest defaults. */
	assert_int_equal(connparams_parse(text, strlen(text), &p), 0);
	assert_string_equal(p.host, "h");
	assert_string_equal(p.port, "22");
	assert_int_equal(p.family, AF_UNSPEC);
	assert_int_equal(p.timeout_ms, 0);
	assert_int_equal(p.idle_s + p.intvl_s + p.cnt + p.user_timeout_ms, 0);
	assert_string_equal(p.bind_address, "");
	assert_string_equal(p.bind_interface, "");
	assert_int_equal(p.reuse.ss_family, AF_UNSPEC);
	assert_int_equal(p.reuse_ms, 1000);
	assert_int_equal(p.prefer.ss_family, AF_UNSPEC);
}

static void
test_params_prefer(void **state)
{
	static const char v4[] = "host h\nport 22\nprefer 10.0.0.2\n";
	static const char v6[] = "host h\nport 22\nprefer fd00::2\n";
	struct connparams p;
	struct in6_addr a6;

	(void)state;
	assert_int_equal(connparams_parse(v4, strlen(v4), &p), 0);
	assert_int_equal(p.prefer.ss_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)&p.prefer)->sin_addr.s_addr,
	    inet_addr("10.0.0.2"));
	assert_int_equal(connparams_parse(v6, strlen(v6), &p), 0);
	assert_int_equal(p.prefer.ss_family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, "fd00::2", &a6), 1);
	assert_memory_equal(&((struct sockaddr_in6 *)&p.prefer)->sin6_addr,
	    &a6, sizeof(a6));
}

struct prow {
	const char	*name;
	const char	*extra;		/* after "host h\nport 22\n" */
	int		 rc;
};

static const struct prow prows[] = {
	{ "family 0", "family 0\n", 0 },
	{ "family 7", "family 7\n", -1 },
	{ "family -1", "family -1\n", -1 },
	{ "family x", "family x\n", -1 },
	{ "timeout_ms max", "timeout_ms 1073741824\n", 0 },
	{ "timeout_ms max+1", "timeout_ms 1073741825\n", -1 },
	{ "timeout_ms -1", "timeout_ms -1\n", -1 },
	{ "idle 0", "idle 0\n", 0 },
	{ "idle 32767", "idle 32767\n", 0 },
	{ "idle 32768", "idle 32768\n", -1 },
	{ "idle empty", "idle \n", -1 },
	{ "intvl 32767", "intvl 32767\n", 0 },
	{ "intvl 32768", "intvl 32768\n", -1 },
	{ "intvl garbage", "intvl 5s\n", -1 },
	{ "cnt 127", "cnt 127\n", 0 },
	{ "cnt 128", "cnt 128\n", -1 },
	{ "user_timeout_ms max", "user_timeout_ms 1073741824\n", 0 },
	{ "user_timeout_ms max+1", "user_timeout_ms 1073741825\n", -1 },
	{ "user_timeout_ms hex", "user_timeout_ms 0x10\n", -1 },
	{ "bind 63 bytes", "bind "
	    "123456789012345678901234567890123456789012345678901234567890123\n",
	    0 },
	{ "bind 64 bytes", "bind "
	    "1234567890123456789012345678901234567890123456789012345678901234"
	    "\n", -1 },
	{ "bindif 31 bytes", "bindif 1234567890123456789012345678901\n", 0 },
	{ "bindif 32 bytes", "bindif 12345678901234567890123456789012\n",
	    -1 },
	{ "reuse v4", "reuse 127.0.0.1 1\n", 0 },
	{ "reuse v6", "reuse ::1 65535\n", 0 },
	{ "reuse port 0", "reuse 127.0.0.1 0\n", -1 },
	{ "reuse port 65536", "reuse 127.0.0.1 65536\n", -1 },
	{ "reuse without port", "reuse 127.0.0.1\n", -1 },
	{ "reuse a name", "reuse localhost 22\n", -1 },
	{ "reuse garbage port", "reuse 127.0.0.1 x\n", -1 },
	{ "prefer v4", "prefer 10.0.0.2\n", 0 },
	{ "prefer v6", "prefer fd00::2\n", 0 },
	{ "prefer with a port", "prefer 10.0.0.2 22\n", -1 },
	{ "prefer a name", "prefer localhost\n", -1 },
	{ "prefer empty", "prefer \n", -1 },
	{ "reuse_ms 99", "reuse_ms 99\n", -1 },
	{ "reuse_ms 100", "reuse_ms 100\n", 0 },
	{ "reuse_ms 60000", "reuse_ms 60000\n", 0 },
	{ "reuse_ms 60001", "reuse_ms 60001\n", -1 },
	{ "reuse_ms garbage", "reuse_ms soon\n", -1 },
	{ "outage_ms 0", "outage_ms 0\n", 0 },
	{ "outage_ms max", "outage_ms 1073741824\n", 0 },
	{ "outage_ms max+1", "outage_ms 1073741825\n", -1 },
	{ "outage_ms -1", "outage_ms -1\n", -1 },
	{ "outage_ms garbage", "outage_ms 2s\n", -1 },
	{ "unknown key ignored", "colour blue\n", 0 },
	{ "blank lines", "\n\n\n", 0 },
	{ "line without a space", "bogus\n", -1 },
	{ "key without a value at the end", "idle", -1 },
	{ "CRLF", "idle 30\r\n", -1 },
};

static void
test_params_row(void **state)
{
	const struct prow *r = *state;
	char text[512];
	struct connparams p;
	int n;

	n = snprintf(text, sizeof(text), "host h\nport 22\n%s", r->extra);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(connparams_parse(text, (size_t)n, &p), r->rc);
}

struct hprow {
	const char	*name;
	const char	*text;
};

static const struct hprow missing_rows[] = {
	{ "empty", "" },
	{ "no host", "port 22\nfamily 4\n" },
	{ "no port", "host h\nfamily 4\n" },
	{ "empty host", "host \nport 22\n" },
	{ "port 0", "host h\nport 0\n" },
	{ "port 65536", "host h\nport 65536\n" },
	{ "port garbage", "host h\nport ssh\n" },
	{ "port empty", "host h\nport \n" },
	{ "port negative", "host h\nport -22\n" },
};

static void
test_params_missing(void **state)
{
	const struct hprow *r = *state;
	struct connparams p;

	assert_int_equal(connparams_parse(r->text, strlen(r->text), &p),
	    -1);
}

static void
test_params_port_bounds(void **state)
{
	struct connparams p;

	(void)state;
	assert_int_equal(connparams_parse("host h\nport 1\n", 14, &p), 0);
	assert_string_equal(p.port, "1");
	assert_int_equal(connparams_parse("host h\nport 65535\n", 18, &p),
	    0);
	assert_string_equal(p.port, "65535");
}

static void
test_params_host_lengths(void **state)
{
	char text[600];
	struct connparams p;
	int n;

	(void)state;
	memset(text, 0, sizeof(text));
	memcpy(text, "port 22\nhost ", 13);
	memset(text + 13, 'a', 255);
	n = 13 + 255;
	assert_int_equal(connparams_parse(text, (size_t)n, &p), 0);
	assert_int_equal(strlen(p.host), 255);
	text[n++] = 'a';
	assert_int_equal(connparams_parse(text, (size_t)n, &p), -1);
}

static void
test_params_len(void **state)
{
	static char text[1100];
	struct connparams p;
	size_t n;

	(void)state;
	/* Exactly 1023 bytes: the parser's buffer holds it. */
	n = (size_t)snprintf(text, sizeof(text), "host h\nport 22\npad ");
	memset(text + n, 'x', 1023 - n);
	assert_int_equal(connparams_parse(text, 1023, &p), 0);
	/* 1024 and more: refused, not truncated. */
	text[1023] = 'x';
	assert_int_equal(connparams_parse(text, 1024, &p), -1);
	assert_int_equal(connparams_parse(text, sizeof(text), &p), -1);
}

static void
test_params_never_past_len(void **state)
{
	static const char text[] = "host h\nport 2222\n";
	struct connparams p;
	char *copy;
	size_t n;

	(void)state;
	/* len cuts "port 2222" to "port 22": only len bytes are read. */
	n = strlen("host h\nport 22");
	copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, text, n);
	assert_int_equal(connparams_parse(copy, n, &p), 0);
	free(copy);
	assert_string_equal(p.port, "22");
	/* A NUL inside ends the text there. */
	assert_int_equal(connparams_parse("host h\0port 22\n", 15, &p), -1);
}

static void
test_params_every_prefix(void **state)
{
	size_t n = strlen(full_v4), i;

	(void)state;
	for (i = 0; i <= n; i++) {
		char *copy = malloc(i + 1);
		struct connparams p;
		int rc;

		assert_non_null(copy);
		memcpy(copy, full_v4, i);
		rc = connparams_parse(copy, i, &p);
		free(copy);
		/* host and port are the first two lines. */
		if (i < strlen("host example.org\nport 2"))
			assert_int_equal(rc, -1);
		if (rc == 0)
			assert_string_equal(p.host, "example.org");
	}
}

int
main(void)
{
	size_t i;

	add_test("params: full block, IPv4", test_params_full_v4, NULL);
	add_test("params: full block, IPv6", test_params_full_v6, NULL);
	add_test("params: host and port only", test_params_minimal, NULL);
	add_test("params: prefer, IPv4 and IPv6", test_params_prefer, NULL);
	for (i = 0; i < NROWS(prows); i++)
		add_test(pool_name("params: %s", prows[i].name),
		    test_params_row, (void *)&prows[i]);
	for (i = 0; i < NROWS(missing_rows); i++)
		add_test(pool_name("params refused: %s", missing_rows[i].name),
		    test_params_missing, (void *)&missing_rows[i]);
	add_test("params: port 1 and 65535", test_params_port_bounds, NULL);
	add_test("params: host of 255 and 256 bytes",
	    test_params_host_lengths, NULL);
	add_test("params: len 1023 and 1024", test_params_len, NULL);
	add_test("params: never past len", test_params_never_past_len, NULL);
	add_test("params: every prefix", test_params_every_prefix, NULL);
	return unit_run("test_connparams", NULL, NULL);
}
