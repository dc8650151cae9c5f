/*
 * Unit tests for state.c: the state file's format and parser (a round
 * trip of every field, escaping, hostile and truncated input), the
 * default instance name, the state directory rules (checked as an
 * unprivileged user in a child when we are root), and the atomic write,
 * read, remove and sweep in a temporary directory.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "state.h"


/* A temporary directory per test, removed with everything in it. */
static char tmp[64];

static int
tmp_setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_state.XXXXXX");
	return mkdtemp(tmp) == NULL ? -1 : 0;
}

static int
tmp_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void
add_tmp_test(const char *name, CMUnitTestFunction fn)
{
	add_test_fixture(name, fn, NULL, tmp_setup, tmp_teardown);
}

/* Every field set, none to its default. */
static void
full_state(struct state *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "mqtt@broker.example.net");
	snprintf(st->destination, sizeof(st->destination),
	    "mqtt@broker.example.net");
	st->pid = 4242;
	st->have_start = 1;
	st->start_time = 987654321;
	snprintf(st->state, sizeof(st->state), "backing off");
	st->since_ms = 123456789;
	st->since_unix = 1700000000;
	st->written_ms = 123459999;
	st->serial = 17;
	st->ssh_pid = 4343;
	st->starts = 5;
	st->retry_ms = 123461000;
	st->last_status = 255;
	st->last_signal = 9;
	st->last_lived_ms = 11520000;
	snprintf(st->last_reason, sizeof(st->last_reason),
	    "Timeout, server broker not responding");
	snprintf(st->liveness, sizeof(st->liveness), "own socket: keepalive "
	    "after 30 s idle, every 5 s");
	st->detect_s = 40;
	st->keepalive_bytes_day = 299520;
	st->have_tcp = 1;
	snprintf(st->local, sizeof(st->local), "10.0.0.2:40000");
	snprintf(st->remote, sizeof(st->remote), "[fd00::1]:22");
	st->rtt_us = 23456;
	st->bytes_sent = 123456789012ULL;
	st->bytes_received = 987654321098ULL;
	st->evictions = 2;
	snprintf(st->preferred, sizeof(st->preferred), "[fd00::1]:22");
	snprintf(st->forwards, sizeof(st->forwards), "forward 22883\u2192"
	    "localhost:1883: target refused on the server");
}

static void
assert_state_equal(const struct state *a, const struct state *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->destination, b->destination);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->have_start, b->have_start);
	assert_true(a->start_time == b->start_time);
	assert_string_equal(a->state, b->state);
	assert_true(a->since_ms == b->since_ms);
	assert_true(a->since_unix == b->since_unix);
	assert_true(a->written_ms == b->written_ms);
	assert_int_equal(a->serial, b->serial);
	assert_int_equal(a->ssh_pid, b->ssh_pid);
	assert_int_equal(a->starts, b->starts);
	assert_true(a->retry_ms == b->retry_ms);
	assert_int_equal(a->last_status, b->last_status);
	assert_int_equal(a->last_signal, b->last_signal);
	assert_true(a->last_lived_ms == b->last_lived_ms);
	assert_string_equal(a->last_reason, b->last_reason);
	assert_string_equal(a->liveness, b->liveness);
	assert_int_equal(a->detect_s, b->detect_s);
	assert_int_equal(a->keepalive_bytes_day, b->keepalive_bytes_day);
	assert_int_equal(a->have_tcp, b->have_tcp);
	assert_string_equal(a->local, b->local);
	assert_string_equal(a->remote, b->remote);
	assert_int_equal(a->rtt_us, b->rtt_us);
	assert_true(a->bytes_sent == b->bytes_sent);
	assert_true(a->bytes_received == b->bytes_received);
	assert_int_equal(a->evictions, b->evictions);
	assert_string_equal(a->preferred, b->preferred);
	assert_string_equal(a->forwards, b->forwards);
}

/* ---- format and parse ---- */

static void
test_roundtrip(void **state)
{
	struct state a, b;
	char buf[8192];
	int n;

	(void)state;
	full_state(&a);
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_int_equal(buf[n - 1], '\n');
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_state_equal(&a, &b);
}

static void
test_roundtrip_no_tcp(void **state)
{
	struct state a, b;
	char buf[8192];
	int n;

	(void)state;
	full_state(&a);
	a.have_tcp = 0;
	a.local[0] = a.remote[0] = '\0';
	a.rtt_us = 0;
	a.bytes_sent = a.bytes_received = 0;
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_null(strstr(buf, "rtt_us"));
	assert_null(strstr(buf, "\nlocal "));
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_state_equal(&a, &b);
}

static void
test_roundtrip_extremes(void **state)
{
	struct state a, b;
	char buf[8192];
	int n;

	(void)state;
	full_state(&a);
	a.pid = INT32_MAX;
	/* Times are never negative; half of int64 leaves room to subtract. */
	a.since_ms = INT64_MAX / 2;
	a.since_unix = 0;
	a.written_ms = 0;
	a.serial = LONG_MAX;
	a.ssh_pid = 0;
	a.starts = INT_MAX;
	a.retry_ms = INT64_MAX / 2;
	a.last_status = -1;
	a.last_signal = 0;
	a.last_lived_ms = INT64_MAX / 2;
	a.detect_s = INT_MIN;
	a.keepalive_bytes_day = LONG_MIN + 1;
	a.rtt_us = LONG_MAX;
	a.bytes_sent = (unsigned long long)INT64_MAX;
	a.bytes_received = 0;
	a.evictions = INT_MAX;
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_state_equal(&a, &b);

	/* Times outside that are ignored (found by fuzz_state). */
	a.since_ms = INT64_MIN + 1;
	a.retry_ms = -1;
	a.last_lived_ms = INT64_MAX / 2 + 1;
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_true(b.since_ms == 0 && b.retry_ms == 0 &&
	    b.last_lived_ms == 0);
}

static void
test_roundtrip_longest(void **state)
{
	struct state a, b;
	char buf[8192];
	int n;

	(void)state;
	/* Every string at its full length. */
	full_state(&a);
	memset(a.name, 'n', sizeof(a.name) - 1);
	memset(a.destination, 'd', sizeof(a.destination) - 1);
	memset(a.state, 's', sizeof(a.state) - 1);
	memset(a.last_reason, 'r', sizeof(a.last_reason) - 1);
	memset(a.liveness, 'l', sizeof(a.liveness) - 1);
	memset(a.local, 'o', sizeof(a.local) - 1);
	memset(a.remote, 'e', sizeof(a.remote) - 1);
	memset(a.preferred, 'p', sizeof(a.preferred) - 1);
	memset(a.forwards, 'f', sizeof(a.forwards) - 1);
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_state_equal(&a, &b);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_escaped(void **state)
{
	struct state a, b, plain;
	char buf[8192], pbuf[8192];
	int n;

	(void)state;
	full_state(&plain);
	assert_true(state_format(&plain, pbuf, sizeof(pbuf)) > 0);
	full_state(&a);
	/* ssh's words can hold anything; a line must stay a record. */
	snprintf(a.last_reason, sizeof(a.last_reason),
	    "first\nsecond\r\tthird\001\033[2J\177end\npid 1");
	snprintf(a.destination, sizeof(a.destination), "host\nstate up");
	snprintf(a.liveness, sizeof(a.liveness), "plan\nserial 99");
	n = state_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(count_lines(buf), count_lines(pbuf));
	assert_int_equal(state_parse(buf, (size_t)n, &b), 0);
	assert_int_equal(b.pid, a.pid);
	assert_string_equal(b.state, a.state);
	assert_int_equal(b.serial, a.serial);
	assert_string_equal(b.last_reason, "first\\x0asecond\\r\\tthird\\x01"
	    "\\x1b[2J\\x7fend\\x0apid 1");
	assert_string_equal(b.destination, "host\\x0astate up");
	assert_string_equal(b.liveness, "plan\\x0aserial 99");
	assert_null(strpbrk(b.last_reason, "\n\r\t\033"));
}

static void
test_format_sizes(void **state)
{
	struct state a;
	char want[8192], *buf;
	size_t need, len;

	(void)state;
	full_state(&a);
	need = (size_t)state_format(&a, want, sizeof(want)) + 1;
	/* Both parts (the TCP lines are the second) fail cleanly if short. */
	for (len = 0; len <= need; len++) {
		int n;

		buf = malloc(len > 0 ? len : 1);
		assert_non_null(buf);
		n = state_format(&a, buf, len);
		if (len < need && n != -1) {
			free(buf);
			fail_msg("len %zu: %d", len, n);
		}
		if (len == need && (n != (int)need - 1 ||
		    strcmp(buf, want) != 0)) {
			free(buf);
			fail_msg("exact size: %d", n);
		}
		free(buf);
	}
}

struct prow {
	const char	*name;
	const char	*text;
	size_t		 len;		/* 0: strlen */
	int		 rc;
};

static const struct prow prows[] = {
	{ "empty", "", 0, -1 },
	{ "garbage", "hello world\nthis is not a state file\n", 0, -1 },
	{ "binary", "\x01\x02\x03\xff\xfe\n\n\x7f", 0, -1 },
	{ "no name", "pid 42\nstate up\n", 0, -1 },
	{ "no pid", "name x\nstate up\n", 0, -1 },
	{ "pid 0", "name x\npid 0\n", 0, -1 },
	{ "pid negative", "name x\npid -5\n", 0, -1 },
	{ "pid garbage", "name x\npid 42x\n", 0, -1 },
	{ "pid 2^32-1 (-1 as pid_t)", "name x\npid 4294967295\n", 0, -1 },
	{ "pid 2^32 (0 as pid_t)", "name x\npid 4294967296\n", 0, -1 },
	{ "pid INT_MAX+1", "name x\npid 2147483648\n", 0, -1 },
	{ "pid INT64_MAX", "name x\npid 9223372036854775807\n", 0, -1 },
	{ "a bad pid after a good one", "name x\npid 42\npid 4294967295\n",
	    0, -1 },
	{ "pid empty", "name x\npid \n", 0, -1 },
	{ "pid alone", "name x\npid\n", 0, -1 },
	{ "name empty", "name \npid 42\n", 0, -1 },
	{ "minimal", "name x\npid 42\n", 0, 0 },
	{ "no trailing newline", "name x\npid 42", 0, 0 },
	{ "blank lines", "\n\nname x\n\n\npid 42\n\n", 0, 0 },
	{ "unknown keys", "colour blue\nname x\nzzz\npid 42\n", 0, 0 },
	{ "NUL in a value", "name a\0b\npid 42\n", 15, 0 },
	{ "NUL in the pid", "name x\npid 4\0002\n", 14, 0 },
	{ "all NULs", "\0\0\0\0\0\0\0\0", 8, -1 },
};

static void
test_parse_row(void **state)
{
	const struct prow *r = *state;
	size_t len = r->len ? r->len : strlen(r->text);
	struct state st;
	char *copy = malloc(len + 1);
	int rc;

	assert_non_null(copy);
	/* Exactly sized: ASan sees a read past len. */
	memcpy(copy, r->text, len);
	rc = state_parse(copy, len, &st);
	free(copy);
	assert_int_equal(rc, r->rc);
	if (rc == 0) {
		assert_true(st.name[0] != '\0');
		assert_int_equal(st.pid, 42);
	}
}

static void
test_parse_defaults(void **state)
{
	struct state st;
	static const char text[] = "name x\npid 42\nstarts many\n"
	    "last_status none\nbytes_sent -5\nrtt_us oops\n";

	(void)state;
	memset(&st, 0x5a, sizeof(st));
	/* Bad values leave the defaults. */
	assert_int_equal(state_parse(text, strlen(text), &st), 0);
	assert_int_equal(st.starts, 0);
	assert_int_equal(st.last_status, -1);
	assert_true(st.bytes_sent == 0);
	assert_int_equal(st.rtt_us, 0);
	assert_string_equal(st.state, "");
	assert_string_equal(st.last_reason, "");
	assert_int_equal(st.ssh_pid, 0);
}

static void
test_parse_nul_dropped(void **state)
{
	struct state st;

	(void)state;
	assert_int_equal(state_parse("name a\0b\npid 42\n", 15, &st), 0);
	assert_string_equal(st.name, "ab");
}

static void
test_parse_long_lines(void **state)
{
	static char text[20000];
	struct state st;
	size_t o = 0;

	(void)state;
	/* A 10000-byte value, a 5000-byte key, then the real lines. */
	o += (size_t)snprintf(text + o, sizeof(text) - o, "last_reason ");
	memset(text + o, 'r', 10000);
	o += 10000;
	text[o++] = '\n';
	memset(text + o, 'k', 5000);
	o += 5000;
	o += (size_t)snprintf(text + o, sizeof(text) - o, " v\nname ");
	memset(text + o, 'n', 300);
	o += 300;
	o += (size_t)snprintf(text + o, sizeof(text) - o, "\npid 42\n");
	assert_int_equal(state_parse(text, o, &st), 0);
	assert_int_equal(st.pid, 42);
	assert_int_equal(strlen(st.last_reason), sizeof(st.last_reason) - 1);
	assert_int_equal(strlen(st.name), sizeof(st.name) - 1);
}

static void
test_parse_cut_between_characters(void **state)
{
	static char text[2000];
	struct state st;
	size_t o = 0;
	int i;

	(void)state;
	/* 300 two-byte characters: a cut at 255 bytes is inside the 128th. */
	o += (size_t)snprintf(text, sizeof(text), "name x\npid 42\n"
	    "last_reason ");
	for (i = 0; i < 300; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "\xc3\xa9");
	text[o++] = '\n';
	assert_int_equal(state_parse(text, o, &st), 0);
	assert_int_equal(strlen(st.last_reason), 255 - 1);
	assert_int_equal((unsigned char)st.last_reason[253], 0xa9);
	/* An invalid byte is kept as it is: it is escaped anyway. */
	o = (size_t)snprintf(text, sizeof(text), "name x\npid 42\n"
	    "last_reason a");
	memset(text + o, 0xc3, 300);
	o += 300;
	assert_int_equal(state_parse(text, o, &st), 0);
	assert_int_equal(strlen(st.last_reason), 255);
}

static void
test_parse_every_truncation(void **state)
{
	struct state a, b;
	char full[8192];
	size_t n, i;

	(void)state;
	full_state(&a);
	n = (size_t)state_format(&a, full, sizeof(full));
	/* A file cut at any byte: no crash, no read past the cut. */
	for (i = 0; i <= n; i++) {
		char *copy = malloc(i > 0 ? i : 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, full, i);
		rc = state_parse(copy, i, &b);
		free(copy);
		if (rc == 0)
			assert_true(b.name[0] != '\0' && b.pid > 0);
		/* Up to "pid 4" nothing names the process. */
		if (i < (size_t)(strstr(full, "\npid ") - full) + 6)
			assert_int_equal(rc, -1);
		/* Once the pid line is whole, the pid is right. */
		if (i > (size_t)(strstr(full, "\nstate ") - full))
			assert_int_equal(b.pid, 4242);
	}
	assert_state_equal(&a, &b);
}

/* ---- state_default_name() ---- */

struct nrow {
	const char	*label;
	const char	*dest;
	size_t		 len;
	const char	*want;
};

static const struct nrow nrows[] = {
	{ "user@host", "user@host", 72, "user@host" },
	{ "a host name", "broker.example.net", 72, "broker.example.net" },
	{ "every allowed punctuation", "a-b_c+d:e", 72, "a-b_c+d:e" },
	{ "brackets", "user@[::1]", 72, "user@_::1_" },
	{ "a slash", "a/b", 72, "a_b" },
	{ "a path upwards", "../../etc/passwd", 72, "_._.._etc_passwd" },
	{ "a leading dot", ".hidden", 72, "_hidden" },
	{ "blanks and controls", "a b\tc\nd", 72, "a_b_c_d" },
	{ "UTF-8", "\xc3\xbc", 72, "__" },
	{ "truncated to 3", "abcdef", 4, "abc" },
	{ "truncated to 1", "abcdef", 2, "a" },
	{ "a dot in 2", ".", 2, "_" },
	{ "empty", "", 72, "_" },
	{ "empty in 2", "", 2, "_" },
};

static void
test_default_name(void **state)
{
	const struct nrow *r = *state;
	char out[80];
	size_t wl = strlen(r->want);

	memset(out, 'X', sizeof(out));
	state_default_name(r->dest, out, r->len);
	/* Compare bytes: an unterminated result must not be read past. */
	assert_memory_equal(out, r->want, wl);
	if (out[wl] != '\0')
		fail_msg("'%s' -> not terminated after %zu bytes", r->dest,
		    wl);
}

static void
test_default_name_len_1(void **state)
{
	char out[4];

	(void)state;
	memset(out, 'X', sizeof(out));
	state_default_name("host", out, 1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(out[1], 'X');
	state_default_name("", out, 1);
	assert_int_equal(out[0], '\0');
	/* len 0 writes nothing. */
	memset(out, 'X', sizeof(out));
	state_default_name("host", out, 0);
	assert_int_equal(out[0], 'X');
}

/* ---- state_dir() ---- */

struct drow {
	const char	*name;
	const char	*xdg;		/* NULL: unset */
	const char	*pidfile;
	size_t		 len;
	int		 rc;
	const char	*want;
};

static const struct drow drows[] = {
	{ "XDG_RUNTIME_DIR", "/run/user/1000", NULL, 256, 0,
	    "/run/user/1000/autossh" },
	{ "XDG_RUNTIME_DIR before the pidfile", "/run/user/1000",
	    "/var/run/x/autossh.pid", 256, 0, "/run/user/1000/autossh" },
	{ "relative XDG_RUNTIME_DIR ignored", "run/user", "/var/run/x/a.pid",
	    256, 0, "/var/run/x" },
	{ "empty XDG_RUNTIME_DIR ignored", "", "/var/run/x/a.pid", 256, 0,
	    "/var/run/x" },
	{ "pidfile's directory", NULL, "/home/u/run/autossh.pid", 256, 0,
	    "/home/u/run" },
	{ "pidfile in /", NULL, "/autossh.pid", 256, 0, "/" },
	{ "pidfile without a directory", NULL, "autossh.pid", 256, -1, NULL },
	{ "nothing", NULL, NULL, 256, -1, NULL },
	{ "too small", "/run/user/1000", NULL, 22, -1, NULL },
	{ "just fits", "/run/user/1000", NULL, 23, 0,
	    "/run/user/1000/autossh" },
};

/*
 * state_dir() as a user other than root: in a child that drops its
 * effective uid, reported back over a pipe as "rc path".
 */
static void
dir_as_user(const struct drow *r, int *rc, char *out, size_t len)
{
	char buf[600];
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char path[512];
		int x;

		close(pfd[0]);
		if (geteuid() == 0 && seteuid(65534) == -1)
			_exit(3);
		if (r->xdg != NULL)
			setenv("XDG_RUNTIME_DIR", r->xdg, 1);
		else
			unsetenv("XDG_RUNTIME_DIR");
		memset(path, 0, sizeof(path));
		x = state_dir(r->pidfile, path, r->len);
		dprintf(pfd[1], "%d %s", x, x == 0 ? path : "");
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(n > 0);
	buf[n] = '\0';
	*rc = atoi(buf);
	snprintf(out, len, "%s", strchr(buf, ' ') + 1);
}

static void
test_dir_row(void **state)
{
	const struct drow *r = *state;
	char path[600];
	int rc;

	dir_as_user(r, &rc, path, sizeof(path));
	if (rc != r->rc)
		fail_msg("rc %d, want %d ('%s')", rc, r->rc, path);
	if (rc == 0)
		assert_string_equal(path, r->want);
}

static void
test_dir_root(void **state)
{
	char path[64];

	(void)state;
	if (geteuid() != 0)
		skip();
	/* Root uses /run/autossh whatever the environment says. */
	setenv("XDG_RUNTIME_DIR", "/run/user/0", 1);
	assert_int_equal(state_dir("/var/run/a.pid", path, sizeof(path)), 0);
	unsetenv("XDG_RUNTIME_DIR");
	assert_string_equal(path, "/run/autossh");
	assert_int_equal(state_dir(NULL, path, sizeof(path)), 0);
	assert_string_equal(path, "/run/autossh");
	assert_int_equal(state_dir(NULL, path, 12), -1);
}

/* ---- files ---- */

static int
dir_entries(const char *dir, char names[][256], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		assert_true(n < max);
		snprintf(names[n++], 256, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static void
test_write_read(void **state)
{
	struct state a, b;
	char path[256], names[8][256];
	struct stat sb;
	mode_t old;

	(void)state;
	full_state(&a);
	/* umask 0: the mode must come from autossh, not be masked into shape. */
	old = umask(0);
	assert_int_equal(state_write(tmp, &a), 0);
	umask(old);
	snprintf(path, sizeof(path), "%s/%s.state", tmp, a.name);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* Renamed into place: no temporary file is left. */
	assert_int_equal(dir_entries(tmp, names, 8), 1);
	assert_string_equal(names[0], "mqtt@broker.example.net.state");
	assert_int_equal(state_read(tmp, a.name, &b), 0);
	assert_state_equal(&a, &b);
	/* A rewrite replaces it. */
	a.serial++;
	snprintf(a.state, sizeof(a.state), "up");
	assert_int_equal(state_write(tmp, &a), 0);
	assert_int_equal(state_read(tmp, a.name, &b), 0);
	assert_int_equal(b.serial, 18);
	assert_string_equal(b.state, "up");
	assert_int_equal(dir_entries(tmp, names, 8), 1);
	state_remove(tmp, a.name);
	assert_int_equal(dir_entries(tmp, names, 8), 0);
	errno = 0;
	assert_int_equal(state_read(tmp, a.name, &b), -1);
	assert_int_equal(errno, ENOENT);
	/* Removing what is not there is fine. */
	state_remove(tmp, a.name);
}

static void
test_write_creates_dir(void **state)
{
	struct state a, b;
	char dir[128];
	struct stat sb;
	mode_t old;

	(void)state;
	full_state(&a);
	snprintf(dir, sizeof(dir), "%s/autossh", tmp);
	/* umask 0: the mode must come from autossh, not be masked into shape. */
	old = umask(0);
	assert_int_equal(state_write(dir, &a), 0);
	umask(old);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(state_read(dir, a.name, &b), 0);
}

static void
test_write_dir_symlink(void **state)
{
	struct state a;
	char dir[128], target[128], names[4][256];

	(void)state;
	full_state(&a);
	snprintf(target, sizeof(target), "%s/elsewhere", tmp);
	snprintf(dir, sizeof(dir), "%s/link", tmp);
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, dir), 0);
	errno = 0;
	assert_int_equal(state_write(dir, &a), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(dir_entries(target, names, 4), 0);
}

static void
test_write_dir_is_file(void **state)
{
	struct state a;
	char dir[128];
	FILE *f;

	(void)state;
	full_state(&a);
	snprintf(dir, sizeof(dir), "%s/file", tmp);
	f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	errno = 0;
	assert_int_equal(state_write(dir, &a), -1);
	assert_int_equal(errno, ENOTDIR);
}

static void
test_write_over_symlinks(void **state)
{
	struct state a, b;
	char victim[128], path[256], tmpname[256], buf[16];
	struct stat sb;
	FILE *f;

	(void)state;
	full_state(&a);
	/* A file someone wants us to overwrite. */
	snprintf(victim, sizeof(victim), "%s/victim", tmp);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	/* Links planted at both the final and the temporary name. */
	snprintf(path, sizeof(path), "%s/%s.state", tmp, a.name);
	snprintf(tmpname, sizeof(tmpname), "%s/.%s.state.%ld", tmp, a.name,
	    (long)getpid());
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(symlink(victim, tmpname), 0);
	assert_int_equal(state_write(tmp, &a), 0);
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "precious");
	/* The link was replaced by the state file itself. */
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(state_read(tmp, a.name, &b), 0);
	assert_int_equal(lstat(tmpname, &sb), -1);
}

static void
test_read_refuses_symlink(void **state)
{
	struct state a, b;
	char dir[128], path[256], target[256];

	(void)state;
	full_state(&a);
	snprintf(dir, sizeof(dir), "%s/real", tmp);
	assert_int_equal(state_write(dir, &a), 0);
	snprintf(target, sizeof(target), "%s/%s.state", dir, a.name);
	snprintf(path, sizeof(path), "%s/%s.state", tmp, a.name);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(state_read(tmp, a.name, &b), -1);
	assert_int_equal(errno, ELOOP);
}

static void
test_read_garbage(void **state)
{
	struct state b;
	char path[256];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/junk.state", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not\na state file\n", f);
	fclose(f);
	errno = 0;
	assert_int_equal(state_read(tmp, "junk", &b), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_write_long_name(void **state)
{
	struct state a;
	char dir[PATH_MAX + 16];

	(void)state;
	full_state(&a);
	/* A path beyond PATH_MAX: refused, nothing created. */
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(state_write(dir, &a), -1);
}

static pid_t
dead_pid(void)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return pid;
}

static void
write_named(const char *name, long pid)
{
	struct state a;

	full_state(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	a.pid = pid;
	/* No start time: what an older autossh wrote. */
	a.have_start = 0;
	assert_int_equal(state_write(tmp, &a), 0);
}

/* A state file with a start time: ours plus delta, for pid. */
static void
write_started(const char *name, long pid, unsigned long long delta)
{
	struct state a;

	full_state(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	a.pid = pid;
	assert_int_equal(state_pid_starttime((long)getpid(), &a.start_time),
	    0);
	a.start_time += delta;
	a.have_start = 1;
	assert_int_equal(state_write(tmp, &a), 0);
}

static int
exists(const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	return lstat(path, &sb) == 0;
}

static void
test_sweep(void **state)
{
	char path[256];
	FILE *f;

	(void)state;
	write_started("live", (long)getpid(), 0);
	write_named("unproven", (long)getpid());
	write_named("init", 1);
	write_named("dead", (long)dead_pid());
	write_named("dead2", (long)dead_pid());
	/* Our pid, but another start time: the pid was reused. */
	write_started("reused", (long)getpid(), 1);
	/* Not state files, or not ours to judge: left alone. */
	snprintf(path, sizeof(path), "%s/notes.txt", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("name x\npid 999999\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/junk.state", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.hidden.state", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("name hidden\npid 999999\n", f);
	fclose(f);
	state_sweep(tmp);
	assert_true(exists("live.state"));
	/* Alive but not proven: neither signalled nor swept. */
	assert_true(exists("unproven.state"));
	assert_true(exists("init.state"));
	assert_false(exists("dead.state"));
	assert_false(exists("dead2.state"));
	assert_false(exists("reused.state"));
	assert_true(exists("notes.txt"));
	assert_true(exists("junk.state"));
	assert_true(exists(".hidden.state"));
	/* A directory that does not exist is no error. */
	snprintf(path, sizeof(path), "%s/nonexistent", tmp);
	state_sweep(path);
}

/* ---- identity: start times ---- */

struct strow {
	const char	*name;
	const char	*text;
	int		 rc;
	unsigned long long want;
};

#define TAIL	" S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "

static const struct strow strows[] = {
	{ "plain", "42 (autossh)" TAIL "123456 1000 200 0\n", 0, 123456 },
	{ "no newline", "42 (autossh)" TAIL "7", 0, 7 },
	{ "comm with ') '", "42 (a) S 1 2 3)" TAIL "99 0\n", 0, 99 },
	{ "comm of spaces and parens", "42 ( ) ( ))" TAIL "5 1\n", 0, 5 },
	{ "comm faking the tail", "42 (x) S 1 1 1 0 -1 4 1 0 0 0 1 2 0 "
	    "0 20 0 1 0 666)" TAIL "5 1\n", 0, 5 },
	{ "zero", "1 (init)" TAIL "0 1\n", 0, 0 },
	{ "largest", "1 (x)" TAIL "18446744073709551615\n", 0,
	    18446744073709551615ULL },
	{ "overflow", "1 (x)" TAIL "18446744073709551616\n", -1, 0 },
	{ "not a number", "1 (x)" TAIL "12a4\n", -1, 0 },
	{ "negative", "1 (x)" TAIL "-5\n", -1, 0 },
	{ "one field short", "1 (x) S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 "
	    "0 20 0 1 0\n", -1, 0 },
	{ "empty field", "1 (x)" TAIL " 5\n", -1, 0 },
	{ "no ')'", "1 x" TAIL "5\n", -1, 0 },
	{ "nothing after ')'", "1 (x)", -1, 0 },
	{ "empty", "", -1, 0 },
};

static void
test_starttime_row(void **state)
{
	const struct strow *r = *state;
	size_t len = strlen(r->text);
	unsigned long long v = 12345;
	char *copy = malloc(len + 1);
	int rc;

	assert_non_null(copy);
	/* Exactly sized, not terminated: ASan sees a read past len. */
	memcpy(copy, r->text, len);
	errno = 0;
	rc = state_parse_starttime(copy, len, &v);
	free(copy);
	assert_int_equal(rc, r->rc);
	if (rc == 0)
		assert_true(v == r->want);
	else {
		assert_int_equal(errno, EINVAL);
		assert_true(v == 12345);
	}
}

static void
test_starttime_self(void **state)
{
	unsigned long long a, b;

	(void)state;
	assert_int_equal(state_pid_starttime((long)getpid(), &a), 0);
	assert_int_equal(state_pid_starttime((long)getpid(), &b), 0);
	assert_true(a == b);
	assert_int_equal(state_pid_starttime(1, &b), 0);
	errno = 0;
	assert_int_equal(state_pid_starttime(0, &b), -1);
	assert_int_equal(state_pid_starttime(-1, &b), -1);
	assert_int_equal(state_pid_starttime(4294967295L, &b), -1);
}

static pid_t dead_pid(void);

static void
test_alive(void **state)
{
	struct state st;

	(void)state;
	full_state(&st);
	st.pid = (long)getpid();
	assert_int_equal(state_pid_starttime(st.pid, &st.start_time), 0);
	st.have_start = 1;
	assert_int_equal(state_alive(&st), 1);
	/* The pid now belongs to a process started at another time. */
	st.start_time++;
	assert_int_equal(state_alive(&st), 0);
	/* No start time: alive, but not proven to be the instance. */
	st.have_start = 0;
	assert_int_equal(state_alive(&st), -1);
	st.have_start = 1;
	st.pid = (long)dead_pid();
	assert_int_equal(state_alive(&st), 0);
	/* What a cast to pid_t would turn into "every process". */
	st.pid = -1;
	assert_int_equal(state_alive(&st), 0);
	st.pid = 0;
	assert_int_equal(state_alive(&st), 0);
	st.pid = (long)INT_MAX + 1;
	assert_int_equal(state_alive(&st), 0);
}

static void
test_dir_check(void **state)
{
	char dir[128], link[128], why[128];

	(void)state;
	assert_int_equal(state_dir_check(tmp, 0, why, sizeof(why)), 0);
	snprintf(dir, sizeof(dir), "%s/new", tmp);
	errno = 0;
	assert_int_equal(state_dir_check(dir, 0, why, sizeof(why)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(state_dir_check(dir, 1, why, sizeof(why)), 0);
	/* Writable by others, as /tmp is: refused even with the sticky bit. */
	assert_int_equal(chmod(dir, 01777), 0);
	errno = 0;
	assert_int_equal(state_dir_check(dir, 1, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "writable by others"));
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(state_dir_check(dir, 0, why, sizeof(why)), -1);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(state_dir_check(dir, 0, why, sizeof(why)), 0);
	snprintf(link, sizeof(link), "%s/link", tmp);
	assert_int_equal(symlink(dir, link), 0);
	errno = 0;
	assert_int_equal(state_dir_check(link, 1, why, sizeof(why)), -1);
	assert_int_equal(errno, ENOTDIR);
	if (geteuid() != 0)
		return;
	/* Another user's directory, mode 0700 or not. */
	assert_int_equal(chown(dir, 65534, 65534), 0);
	errno = 0;
	assert_int_equal(state_dir_check(dir, 0, why, sizeof(why)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(why, "owned by uid 65534"));
}

static void
on_alarm(int sig)
{
	(void)sig;
	/* Reached only if open() blocked on the FIFO. */
	_exit(99);
}

static void
test_write_refuses_shared_dir(void **state)
{
	struct state a;
	char dir[128], names[4][256];

	(void)state;
	full_state(&a);
	/* /tmp, say: the pidfile's directory without XDG_RUNTIME_DIR. */
	snprintf(dir, sizeof(dir), "%s/shared", tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 01777), 0);
	errno = 0;
	assert_int_equal(state_write(dir, &a), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(dir_entries(dir, names, 4), 0);
}

static void
test_read_fifo(void **state)
{
	char path[256];
	struct state b;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo.state", tmp);
	assert_int_equal(mkfifo(path, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	errno = 0;
	assert_int_equal(state_read(tmp, "fifo", &b), -1);
	assert_int_equal(errno, EINVAL);
	/* The sweep reads every file; it must not block either. */
	state_sweep(tmp);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	assert_true(exists("fifo.state"));
}

static void
test_read_owner_mode(void **state)
{
	char path[256];
	struct state b;

	(void)state;
	write_named("mode", 4242);
	snprintf(path, sizeof(path), "%s/mode.state", tmp);
	assert_int_equal(state_read(tmp, "mode", &b), 0);
	assert_int_equal(chmod(path, 0620), 0);
	errno = 0;
	assert_int_equal(state_read(tmp, "mode", &b), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(state_read(tmp, "mode", &b), 0);
	if (geteuid() != 0)
		return;
	assert_int_equal(chown(path, 65534, 65534), 0);
	errno = 0;
	assert_int_equal(state_read(tmp, "mode", &b), -1);
	assert_int_equal(errno, EPERM);
}

static void
test_read_big(void **state)
{
	char path[256];
	struct state b;
	FILE *f;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.state", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("name big\npid 42\n", f);
	for (i = 0; i < 1000; i++)
		fputs("padding padding\n", f);
	fclose(f);
	errno = 0;
	assert_int_equal(state_read(tmp, "big", &b), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_read_other_name(void **state)
{
	char from[256], to[256];
	struct state b;

	(void)state;
	write_named("real", 4242);
	snprintf(from, sizeof(from), "%s/real.state", tmp);
	snprintf(to, sizeof(to), "%s/alias.state", tmp);
	assert_int_equal(rename(from, to), 0);
	errno = 0;
	assert_int_equal(state_read(tmp, "alias", &b), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_write_start_time(void **state)
{
	struct state b;

	(void)state;
	write_started("started", (long)getpid(), 0);
	assert_int_equal(state_read(tmp, "started", &b), 0);
	assert_int_equal(b.have_start, 1);
	assert_int_equal(state_alive(&b), 1);
}

int
main(void)
{
	size_t i;

	add_test("format/parse: every field", test_roundtrip, NULL);
	add_test("format/parse: without TCP figures", test_roundtrip_no_tcp,
	    NULL);
	add_test("format/parse: extreme numbers", test_roundtrip_extremes,
	    NULL);
	add_test("format/parse: longest strings", test_roundtrip_longest,
	    NULL);
	add_test("format: control characters escaped", test_escaped, NULL);
	add_test("format: every buffer size", test_format_sizes, NULL);
	for (i = 0; i < NROWS(prows); i++)
		add_test(pool_name("parse: %s", prows[i].name), test_parse_row,
		    (void *)&prows[i]);
	add_test("parse: bad values keep defaults", test_parse_defaults, NULL);
	add_test("parse: NUL bytes are dropped", test_parse_nul_dropped, NULL);
	add_test("parse: over-long lines", test_parse_long_lines, NULL);
	add_test("parse: long values cut between characters",
	    test_parse_cut_between_characters, NULL);
	add_test("parse: truncated at every byte",
	    test_parse_every_truncation, NULL);
	for (i = 0; i < NROWS(nrows); i++)
		add_test(pool_name("default name: %s", nrows[i].label),
		    test_default_name, (void *)&nrows[i]);
	add_test("default name: len 1 and 0", test_default_name_len_1, NULL);
	for (i = 0; i < NROWS(drows); i++)
		add_test(pool_name("state_dir as a user: %s", drows[i].name),
		    test_dir_row, (void *)&drows[i]);
	add_test("state_dir as root", test_dir_root, NULL);
	add_tmp_test("write/read/remove, mode 0600, atomic", test_write_read);
	add_tmp_test("write creates the directory 0700",
	    test_write_creates_dir);
	add_tmp_test("write refuses a symlinked directory",
	    test_write_dir_symlink);
	add_tmp_test("write refuses a file as the directory",
	    test_write_dir_is_file);
	add_tmp_test("write never follows planted symlinks",
	    test_write_over_symlinks);
	add_tmp_test("read refuses a symlink", test_read_refuses_symlink);
	add_tmp_test("read of a file that is not state", test_read_garbage);
	add_tmp_test("write with a path beyond PATH_MAX",
	    test_write_long_name);
	add_tmp_test("sweep removes dead pids' files only", test_sweep);
	for (i = 0; i < NROWS(strows); i++)
		add_test(pool_name("start time: %s", strows[i].name),
		    test_starttime_row, (void *)&strows[i]);
	add_test("start time of this process", test_starttime_self, NULL);
	add_test("alive: proven, reused, gone, unknown", test_alive, NULL);
	add_tmp_test("dir check: ours, others', writable, link",
	    test_dir_check);
	add_tmp_test("write refuses a directory others can write",
	    test_write_refuses_shared_dir);
	add_tmp_test("read refuses a FIFO without blocking",
	    test_read_fifo);
	add_tmp_test("read refuses others' and writable files",
	    test_read_owner_mode);
	add_tmp_test("read refuses a file too big", test_read_big);
	add_tmp_test("read refuses a file naming another instance",
	    test_read_other_name);
	add_tmp_test("start time survives a write and a read",
	    test_write_start_time);
	return unit_run("test_state", NULL,
	    NULL);
}
