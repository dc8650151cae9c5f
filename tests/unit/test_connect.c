/*
 * Unit tests for connect.c and conn.c: the ProxyCommand quoting checked
 * through a real /bin/sh, conn_describe(), conn_read() against a fake
 * helper, the peer check, and whole round trips without ssh: a forked
 * process plays ssh and its child runs connect_helper_main() against a
 * TCP listener on 127.0.0.1, so that the socket options, the descriptor
 * passing and the helper's failure messages are checked on real sockets.
 * The parameter parser's tests are in test_connparams.c.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "conn.h"
#include "connect.h"
#include "connparams.h"
#include "liveness.h"
#include "sshcfg.h"
#include "util.h"


/* ---- helpers ---- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* opendir's own */
}

/* A TCP listener on 127.0.0.1 with an ephemeral port. */
static int
tcp_listener(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port on 127.0.0.1 that nothing listens on (right now). */
static int
unused_port(void)
{
	int port, fd = tcp_listener(1, &port);

	close(fd);
	return port;
}

/* A connected TCP pair over loopback: *client and *server. */
static void
tcp_pair(int *client, int *server)
{
	struct sockaddr_in sin;
	int port, l = tcp_listener(1, &port);

	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(*client, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	*server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(l);
}

static int
readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cfg_local(struct sshcfg *cfg, const char *host, int port)
{
	memset(cfg, 0, sizeof(*cfg));
	util_strlcpy(cfg->hostname, host, sizeof(cfg->hostname));
	cfg->port = port;
	cfg->family = AF_UNSPEC;
	cfg->alive_count_max = 3;
	util_strlcpy(cfg->loglevel, "INFO", sizeof(cfg->loglevel));
}

/* Connect to the conn's abstract listener as a helper would. */
static int
dial_listener(const struct conn *c)
{
	struct sockaddr_un sun;
	size_t n = strlen(c->name);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, c->name, n);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), 0);
	return fd;
}

/*
 * Fork a helper as our own child, its stdout on out_fd (ssh's end) and
 * its stderr on err_fd (-1: unchanged).
 */
static pid_t
spawn_helper(const char *name, int out_fd, int err_fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(out_fd, STDOUT_FILENO) == -1)
			_exit(90);
		if (err_fd != -1 && dup2(err_fd, STDERR_FILENO) == -1)
			_exit(91);
		_exit(connect_helper_main(name));
	}
	return pid;
}

/* Wait for a child, at most ms; returns its status, or -1 (killed). */
static int
reap(pid_t pid, int ms, struct rusage *ru)
{
	int64_t end = mono_ms() + ms;
	int st;

	for (;;) {
		pid_t r = wait4(pid, &st, WNOHANG, ru);

		if (r == pid)
			return st;
		if (r == -1 && errno != EINTR)
			return -1;
		if (mono_ms() > end) {
			kill(pid, SIGKILL);
			wait4(pid, &st, 0, ru);
			return -1;
		}
		usleep(10 * 1000);
	}
}

/* conn_read() until something other than CONN_NOTHING, at most ms. */
static int
read_until(struct conn *c, int ms)
{
	int64_t end = mono_ms() + ms;

	while (c->peer_fd != -1 && mono_ms() < end) {
		int r;

		if (!readable(c->peer_fd, (int)(end - mono_ms())))
			continue;
		if ((r = conn_read(c)) != CONN_NOTHING)
			return r;
	}
	return CONN_NOTHING;
}

static int
get_int_opt(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
	return v;
}

static int
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return -1;
}

/* ---- conn_open() and the parameters it prepares ---- */

static void
test_open(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c, c2;
	struct connparams p;
	char want[64];
	int type, fl;
	size_t i;

	(void)state;
	cfg_local(&cfg, "broker.example.net", 8883);
	cfg.family = AF_INET6;
	cfg.connect_timeout_s = 7;
	util_strlcpy(cfg.bind_address, "fd00::2", sizeof(cfg.bind_address));
	util_strlcpy(cfg.bind_interface, "wwan0", sizeof(cfg.bind_interface));
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	assert_true(c.listen_fd >= 0);
	assert_int_equal(c.peer_fd, -1);
	assert_int_equal(c.sock_fd, -1);
	type = get_int_opt(c.listen_fd, SOL_SOCKET, SO_TYPE);
	assert_int_equal(type, SOCK_SEQPACKET);
	assert_true(fcntl(c.listen_fd, F_GETFD) & FD_CLOEXEC);
	fl = fcntl(c.listen_fd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	/* "autossh.<pid>.<16 hex digits>" */
	snprintf(want, sizeof(want), "autossh.%ld.", (long)getpid());
	assert_memory_equal(c.name, want, strlen(want));
	assert_int_equal(strlen(c.name), strlen(want) + 16);
	for (i = strlen(want); c.name[i] != '\0'; i++)
		assert_non_null(strchr("0123456789abcdef", c.name[i]));
	assert_int_equal(c.params_len, strlen(c.params));
	assert_string_equal(c.params, "host broker.example.net\nport 8883\n"
	    "family 6\ntimeout_ms 7000\nidle 30\nintvl 5\ncnt 3\n"
	    "user_timeout_ms 40000\nbind fd00::2\nbindif wwan0\n");
	assert_int_equal(connparams_parse(c.params, c.params_len, &p), 0);
	assert_string_equal(p.host, "broker.example.net");
	assert_int_equal(p.family, AF_INET6);
	assert_string_equal(p.bind_interface, "wwan0");
	/* A second instance gets another name. */
	assert_int_equal(conn_open(&c2, &cfg, &l), 0);
	assert_string_not_equal(c.name, c2.name);
	conn_close(&c2);
	fl = c.listen_fd;
	conn_close(&c);
	assert_int_equal(c.listen_fd, -1);
	assert_int_equal(fcntl(fl, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_open_no_bind(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;

	(void)state;
	cfg_local(&cfg, "h", 22);
	cfg.family = AF_INET;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	assert_string_equal(c.params, "host h\nport 22\nfamily 4\n"
	    "timeout_ms 0\nidle 30\nintvl 5\ncnt 3\nuser_timeout_ms 40000\n");
	conn_close(&c);
}

static void
test_open_params_every_deadline(void **state)
{
	static const int deadlines[] = { 5, 45, 600, 3600, 32767, 49150,
	    49151, 60000, 86400 };
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	struct connparams p;
	size_t i;
	int bad = 0;

	(void)state;
	/* What conn_open prepares, the helper must accept (deadline range). */
	cfg_local(&cfg, "h", 22);
	for (i = 0; i < NROWS(deadlines); i++) {
		liveness_plan(deadlines[i], &cfg, &l);
		assert_int_equal(conn_open(&c, &cfg, &l), 0);
		if (connparams_parse(c.params, c.params_len, &p) == -1) {
			print_error("deadline %d: the helper refuses:\n%s\n",
			    deadlines[i], c.params);
			bad++;
		}
		conn_close(&c);
	}
	assert_int_equal(bad, 0);
}

static void
test_open_params_longest(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	struct connparams p;

	(void)state;
	cfg_local(&cfg, "", 65535);
	memset(cfg.hostname, 'h', sizeof(cfg.hostname) - 1);
	memset(cfg.bind_address, 'b', sizeof(cfg.bind_address) - 1);
	memset(cfg.bind_interface, 'i', sizeof(cfg.bind_interface) - 1);
	cfg.connect_timeout_s = 3600;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	assert_int_equal(connparams_parse(c.params, c.params_len, &p), 0);
	assert_int_equal(strlen(p.host), 255);
	assert_int_equal(p.timeout_ms, 3600 * 1000);
	conn_close(&c);
}

/*
 * conn_open() and connparams_parse() for a ConnectTimeout in a child,
 * so that a sanitizer abort fails this test only.  Exit 0: parsed and
 * right; 1: conn_open failed; 2: the helper would refuse; 3: wrong.
 */
static int
open_with_timeout(int timeout_s)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sshcfg cfg;
		struct liveness l;
		struct conn c;
		struct connparams p;

		cfg_local(&cfg, "h", 22);
		cfg.connect_timeout_s = timeout_s;
		liveness_plan(45, &cfg, &l);
		if (conn_open(&c, &cfg, &l) == -1)
			_exit(1);
		if (connparams_parse(c.params, c.params_len, &p) == -1)
			_exit(2);
		/*
		 * Exact while it fits the helper's range; beyond that (over
		 * 12 days) "none" or anything as long will do.
		 */
		if ((long long)timeout_s * 1000 <= 1 << 30)
			_exit(p.timeout_ms == timeout_s * 1000 ? 0 : 3);
		_exit(p.timeout_ms == 0 || p.timeout_ms >= 1000000000 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
test_open_connect_timeouts(void **state)
{
	/* sshcfg_parse() accepts ConnectTimeout up to 365 days. */
	static const int timeouts[] = { 0, 1, 86400, 1073741, 1073742,
	    2147483, 2147484, 86400 * 365 };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NROWS(timeouts); i++) {
		int rc = open_with_timeout(timeouts[i]);

		if (rc != 0) {
			print_error("ConnectTimeout %d: child status %d\n",
			    timeouts[i], rc);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- conn_proxy_command() ---- */

/* Undo ssh's %-expansion ("%%" -> "%"); fails on any other token. */
static void
ssh_expand(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in != '\0'; in++) {
		if (*in == '%') {
			if (in[1] != '%')
				fail_msg("an ssh token '%%%c' is left", in[1]);
			in++;
		}
		assert_true(o + 1 < len);
		out[o++] = *in;
	}
	out[o] = '\0';
}

/*
 * Run cmd as ssh would ("exec <cmd>" through /bin/sh) with printf in
 * front, so that every word the shell sees comes back NUL-terminated.
 */
static int
sh_words(const char *cmd, char words[][512], int max)
{
	char script[4096], buf[4096];
	int pfd[2], st, n = 0;
	size_t got = 0, i, start = 0;
	ssize_t r;
	pid_t pid;

	snprintf(script, sizeof(script), "exec printf '%%s\\0' %s", cmd);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)r;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (i = 0; i < got; i++)
		if (buf[i] == '\0') {
			assert_true(n < max);
			memcpy(words[n], buf + start, i - start + 1);
			n++;
			start = i + 1;
		}
	return n;
}

static const char *const quote_paths[] = {
	"/usr/bin/autossh",
	"/opt/my dir/autossh",
	"/home/o'neil/bin/autossh",
	"/srv/100%/autossh",
	"/srv/%h%p%%%r/autossh",
	"/tmp/$(echo INJECTED)/`echo INJECTED`/$HOME/autossh",
	"/tmp/a;b|c&d<e>f*g?h[i]{j}~k#l!m=n/autossh",
	"/tmp/\"dq\"/back\\slash/autossh",
	"/tmp/''/'/autossh'",
	"/tmp/trailing space /autossh ",
	"/tmp/\xc3\xbc" "tf-8/autossh",
	"/tmp/-- --fdpass-helper x/autossh",
};

static void
test_quote_roundtrip(void **state)
{
	const char *path = *state;
	char out[1024], plain[1024], words[4][512];
	struct conn c;
	int n;

	conn_init(&c);
	util_strlcpy(c.name, "autossh.123.0123456789abcdef", sizeof(c.name));
	assert_int_equal(conn_proxy_command(&c, path, out, sizeof(out)), 0);
	/* The helper's arguments come last, as the contract says. */
	assert_non_null(strstr(out, " --fdpass-helper autossh.123."
	    "0123456789abcdef"));
	assert_null(strpbrk(out, "\n\r"));
	ssh_expand(out, plain, sizeof(plain));
	n = sh_words(plain, words, 4);
	assert_int_equal(n, 3);
	assert_string_equal(words[0], path);
	assert_string_equal(words[1], "--fdpass-helper");
	assert_string_equal(words[2], c.name);
}

static const char *const refused_paths[] = {
	"/tmp/new\nline/autossh",
	"/tmp/tab\there/autossh",
	"/tmp/cr\r/autossh",
	"/tmp/\001/autossh",
	"/tmp/\033[2J/autossh",
	"/tmp/del\177/autossh",
};

static void
test_quote_refused(void **state)
{
	const char *path = *state;
	char out[1024];
	struct conn c;

	conn_init(&c);
	util_strlcpy(c.name, "autossh.1.0000000000000000", sizeof(c.name));
	errno = 0;
	assert_int_equal(conn_proxy_command(&c, path, out, sizeof(out)), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_quote_buffer_sizes(void **state)
{
	static const char path[] = "/o'n%x/autossh";
	char want[256], out[256];
	struct conn c;
	size_t need, len;

	(void)state;
	conn_init(&c);
	util_strlcpy(c.name, "autossh.1.0000000000000000", sizeof(c.name));
	assert_int_equal(conn_proxy_command(&c, path, want, sizeof(want)), 0);
	assert_string_equal(want, "'/o'\\''n%%x/autossh' --fdpass-helper "
	    "autossh.1.0000000000000000");
	need = strlen(want) + 1;
	/* Every size short of the result fails, the exact size works. */
	for (len = 0; len < need; len++) {
		errno = 0;
		if (conn_proxy_command(&c, path, out, len) != -1)
			fail_msg("len %zu: success", len);
		assert_int_equal(errno, EINVAL);
	}
	memset(out, 'X', sizeof(out));
	assert_int_equal(conn_proxy_command(&c, path, out, need), 0);
	assert_string_equal(out, want);
}

/* ---- conn_describe() ---- */

struct drow {
	int		 family;
	const char	*addr;
	int		 port;
	const char	*want;
};

static const struct drow drows[] = {
	{ AF_INET, "10.0.0.1", 22, "10.0.0.1:22" },
	{ AF_INET, "255.255.255.255", 65535, "255.255.255.255:65535" },
	{ AF_INET6, "fd00::1", 22, "[fd00::1]:22" },
	{ AF_INET6, "::ffff:192.0.2.1", 2222, "[::ffff:192.0.2.1]:2222" },
	{ AF_INET6, "2001:db8:1234:5678:9abc:def0:1234:5678", 1,
	    "[2001:db8:1234:5678:9abc:def0:1234:5678]:1" },
	{ AF_UNSPEC, NULL, 0, "?:0" },
};

static void
fill_ss(struct sockaddr_storage *ss, int family, const char *a, int port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		assert_int_equal(inet_pton(AF_INET, a, &s4->sin_addr), 1);
		s4->sin_port = htons((uint16_t)port);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		assert_int_equal(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
		s6->sin6_port = htons((uint16_t)port);
	}
}

static void
test_describe(void **state)
{
	const struct drow *r = *state;
	struct sockaddr_storage ss;
	char buf[128], small[6];

	fill_ss(&ss, r->family, r->addr, r->port);
	memset(buf, 'X', sizeof(buf));
	conn_describe(&ss, buf, sizeof(buf));
	assert_string_equal(buf, r->want);
	memset(small, 'X', sizeof(small));
	conn_describe(&ss, small, sizeof(small));
	assert_int_equal(strlen(small), strlen(r->want) < sizeof(small) ?
	    strlen(r->want) : sizeof(small) - 1);
	assert_memory_equal(small, r->want, strlen(small));
}

/* ---- conn_read() against a fake helper ---- */

static void
fake_peer(struct conn *c, int *helper)
{
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
	    0, sp), 0);
	c->peer_fd = sp[0];
	*helper = sp[1];
}

static void
send_with_fd(int sock, const char *data, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)(uintptr_t)data, len };
	struct msghdr mh;
	struct cmsghdr *cm;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void
test_read_fail(void **state)
{
	static const char msg[] = "fail connect to host 192.0.2.1 port 22: "
	    "Connection refused";
	struct conn c;
	int h;

	(void)state;
	conn_init(&c);
	fake_peer(&c, &h);
	assert_int_equal(conn_read(&c), CONN_NOTHING);	/* nothing yet */
	assert_true(c.peer_fd != -1);
	send_with_fd(h, msg, strlen(msg), -1);
	assert_int_equal(conn_read(&c), CONN_FAILED);
	assert_string_equal(c.fail, msg + 5);
	assert_int_equal(c.sock_fd, -1);
	close(h);
	/* The helper hangs up: the peer is dropped. */
	assert_int_equal(conn_read(&c), CONN_NOTHING);
	assert_int_equal(c.peer_fd, -1);
	conn_close(&c);
}

static void
test_read_long_fail(void **state)
{
	char msg[600];
	struct conn c;
	int h;

	(void)state;
	conn_init(&c);
	fake_peer(&c, &h);
	memcpy(msg, "fail ", 5);
	memset(msg + 5, 'r', sizeof(msg) - 5);
	send_with_fd(h, msg, sizeof(msg), -1);
	assert_int_equal(conn_read(&c), CONN_FAILED);
	assert_int_equal(strlen(c.fail), sizeof(c.fail) - 1);
	close(h);
	conn_close(&c);
}

static void
test_read_ok_without_fd(void **state)
{
	struct conn c;
	int h;

	(void)state;
	conn_init(&c);
	fake_peer(&c, &h);
	send_with_fd(h, "ok", 2, -1);
	assert_int_equal(conn_read(&c), CONN_NOTHING);
	assert_int_equal(c.sock_fd, -1);
	close(h);
	conn_close(&c);
}

static void
test_read_junk_with_fd(void **state)
{
	struct conn c;
	int h, cl, sv, before;

	(void)state;
	conn_init(&c);
	fake_peer(&c, &h);
	tcp_pair(&cl, &sv);
	before = count_fds();
	/* A descriptor with a message that is not "ok" is not kept. */
	send_with_fd(h, "hello", 5, cl);
	assert_int_equal(conn_read(&c), CONN_NOTHING);
	assert_int_equal(c.sock_fd, -1);
	assert_int_equal(count_fds(), before);
	send_with_fd(h, "fail x", 6, cl);
	assert_int_equal(conn_read(&c), CONN_FAILED);
	assert_int_equal(count_fds(), before);
	close(h);
	close(cl);
	close(sv);
	conn_close(&c);
}

static void
test_read_ok(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct conn c;
	int h, cl, sv;

	(void)state;
	conn_init(&c);
	fake_peer(&c, &h);
	tcp_pair(&cl, &sv);
	send_with_fd(h, "ok", 2, cl);
	assert_int_equal(conn_read(&c), CONN_TRANSPORT);
	assert_true(c.sock_fd >= 0);
	assert_true(c.sock_fd != cl);
	assert_true(fcntl(c.sock_fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(getsockname(cl, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(port_of(&c.local), ntohs(a.sin_port));
	alen = sizeof(a);
	assert_int_equal(getpeername(cl, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(port_of(&c.remote), ntohs(a.sin_port));
	assert_int_equal(c.port_reused, 0);
	/* Our copy is the same connection. */
	assert_int_equal(write(sv, "x", 1), 1);
	assert_true(readable(c.sock_fd, 1000));
	close(h);
	close(cl);
	close(sv);
	conn_close(&c);
	assert_int_equal(c.sock_fd, -1);
}

static void
test_reset_reuse(void **state)
{
	struct conn c;
	int h, cl, sv, port;
	char b;

	(void)state;
	/* The server still holds the connection: reuse its port next. */
	conn_init(&c);
	fake_peer(&c, &h);
	tcp_pair(&cl, &sv);
	send_with_fd(h, "ok", 2, cl);
	close(cl);
	assert_int_equal(conn_read(&c), CONN_TRANSPORT);
	port = port_of(&c.local);
	conn_reset(&c);
	assert_int_equal(c.peer_fd, -1);
	assert_int_equal(c.sock_fd, -1);
	assert_int_equal(c.reuse_port, 1);
	assert_int_equal(port_of(&c.last_local), port);
	close(h);
	close(sv);

	/* The server closed in order (its FIN came): no reuse. */
	fake_peer(&c, &h);
	tcp_pair(&cl, &sv);
	send_with_fd(h, "ok", 2, cl);
	close(cl);
	assert_int_equal(conn_read(&c), CONN_TRANSPORT);
	close(sv);
	assert_true(readable(c.sock_fd, 2000));
	assert_int_equal(read(c.sock_fd, &b, 1), 0);
	conn_reset(&c);
	assert_int_equal(c.reuse_port, 0);
	close(h);
	conn_close(&c);
}

static void
test_stats(void **state)
{
	struct conn_stats cs;
	char buf[1000];
	struct conn c;
	int h, cl, sv;

	(void)state;
	conn_init(&c);
	errno = 0;
	assert_int_equal(conn_stats(&c, &cs), -1);
	assert_int_equal(errno, ENOTCONN);
	fake_peer(&c, &h);
	tcp_pair(&cl, &sv);
	send_with_fd(h, "ok", 2, cl);
	close(cl);
	assert_int_equal(conn_read(&c), CONN_TRANSPORT);
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(write(sv, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(write(c.sock_fd, buf, 500), 500);
	assert_true(readable(c.sock_fd, 1000));
	assert_true(readable(sv, 1000));
	usleep(50 * 1000);
	assert_int_equal(conn_stats(&c, &cs), 0);
	assert_true(cs.bytes_received >= sizeof(buf));
	assert_true(cs.bytes_sent >= 500);
	assert_int_equal(cs.retransmits, 0);
	close(h);
	close(sv);
	conn_close(&c);
}

/* ---- conn_accept(): the peer check and the message ---- */

static void
open_local(struct conn *c, int port)
{
	struct sshcfg cfg;
	struct liveness l;

	cfg_local(&cfg, "127.0.0.1", port);
	cfg.family = AF_INET;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(c, &cfg, &l), 0);
}

static void
test_accept_rejects_non_child(void **state)
{
	struct conn c;
	char buf[64];
	int s;

	(void)state;
	open_local(&c, 22);
	/* We are not a child of ourselves. */
	s = dial_listener(&c);
	assert_true(readable(c.listen_fd, 1000));
	conn_accept(&c, getpid(), NEVER, now_ms());
	assert_int_equal(c.peer_fd, -1);
	assert_true(readable(s, 1000));
	assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
	close(s);
	/* No ssh pid at all. */
	s = dial_listener(&c);
	assert_true(readable(c.listen_fd, 1000));
	conn_accept(&c, 0, NEVER, now_ms());
	assert_int_equal(c.peer_fd, -1);
	assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
	close(s);
	/* Nothing waiting: nothing happens. */
	conn_accept(&c, getppid(), NEVER, now_ms());
	assert_int_equal(c.peer_fd, -1);
	conn_close(&c);
}

static void
test_accept_child_gets_params(void **state)
{
	char buf[2048];
	struct conn c;
	ssize_t n;
	int s, s2;

	(void)state;
	open_local(&c, 2222);
	/* We are a child of our parent: as ssh's helper is of ssh. */
	s = dial_listener(&c);
	assert_true(readable(c.listen_fd, 1000));
	conn_accept(&c, getppid(), NEVER, now_ms());
	assert_true(c.peer_fd >= 0);
	/* The helper's connection is not for ssh to inherit. */
	assert_true(fcntl(c.peer_fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(c.peer_fd, F_GETFL) & O_NONBLOCK);
	assert_true(readable(s, 1000));
	n = recv(s, buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, (ssize_t)c.params_len);
	buf[n] = '\0';
	assert_string_equal(buf, c.params);
	/* A second helper replaces the first, which is hung up on. */
	s2 = dial_listener(&c);
	assert_true(readable(c.listen_fd, 1000));
	conn_accept(&c, getppid(), NEVER, now_ms());
	assert_true(c.peer_fd >= 0);
	assert_true(readable(s2, 1000));
	assert_int_equal(recv(s, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(s);
	close(s2);
	conn_close(&c);
}

/*
 * A helper connects and is accepted (we are our parent's child, as the
 * helper is ssh's), told lost_ms; what it was sent lands in buf,
 * NUL-terminated.  Returns its length.
 */
static ssize_t
helper_reads(struct conn *c, int64_t lost_ms, char *buf, size_t len)
{
	ssize_t n;
	int s;

	s = dial_listener(c);
	assert_true(readable(c->listen_fd, 1000));
	conn_accept(c, getppid(), lost_ms, now_ms());
	assert_true(c->peer_fd >= 0);
	assert_true(readable(s, 1000));
	n = recv(s, buf, len - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(s);
	return n;
}

static void
check_reuse_message(int family, const char *addr, int port,
    uint32_t rtt_us, int want_ms)
{
	char buf[2048], want[128];
	struct conn c;
	struct connparams p;
	ssize_t n;

	open_local(&c, 22);
	c.reuse_port = 1;
	c.last_rtt_us = rtt_us;
	fill_ss(&c.last_local, family, addr, port);
	n = helper_reads(&c, NEVER, buf, sizeof(buf));
	/* The parameters, then the old address and the attempt's life. */
	snprintf(want, sizeof(want), "reuse %s %d\nreuse_ms %d\n", addr, port,
	    want_ms);
	assert_memory_equal(buf, c.params, c.params_len);
	assert_string_equal(buf + c.params_len, want);
	assert_int_equal(connparams_parse(buf, (size_t)n, &p), 0);
	assert_int_equal(p.reuse.ss_family, family);
	assert_int_equal(port_of(&p.reuse), port);
	assert_int_equal(p.reuse_ms, want_ms);
	conn_close(&c);
}

static void
test_accept_reuse_v4(void **state)
{
	(void)state;
	/* No round trip known: at least 1 s. */
	check_reuse_message(AF_INET, "127.0.0.1", 40000, 0, 1000);
}

static void
test_accept_reuse_v6(void **state)
{
	(void)state;
	/* Three round trips of 700 ms. */
	check_reuse_message(AF_INET6, "fd00::2", 40001, 700000, 2100);
}

static void
test_accept_reuse_slow_link(void **state)
{
	(void)state;
	/* At most 3 s however slow the old link was. */
	check_reuse_message(AF_INET, "10.1.2.3", 65535, 5000000, 3000);
}

static void
check_prefer_message(int family, const char *addr)
{
	char buf[2048], want[128];
	struct conn c;
	struct connparams p;
	ssize_t n;

	open_local(&c, 22);
	fill_ss(&c.remote, family, addr, 22222);
	/* The last connection's remote end outlives it. */
	conn_reset(&c);
	n = helper_reads(&c, NEVER, buf, sizeof(buf));
	/* The address only: the port is the host's. */
	snprintf(want, sizeof(want), "prefer %s\n", addr);
	assert_memory_equal(buf, c.params, c.params_len);
	assert_string_equal(buf + c.params_len, want);
	assert_int_equal(connparams_parse(buf, (size_t)n, &p), 0);
	assert_int_equal(p.prefer.ss_family, family);
	conn_close(&c);
}

static void
test_accept_prefer(void **state)
{
	(void)state;
	check_prefer_message(AF_INET, "10.77.0.2");
	check_prefer_message(AF_INET6, "fd77::2");
}

static void
test_accept_no_reuse_without_address(void **state)
{
	char buf[2048];
	struct conn c;

	(void)state;
	/* reuse_port with no previous address: nothing to add. */
	open_local(&c, 22);
	c.reuse_port = 1;
	assert_int_equal(helper_reads(&c, NEVER, buf, sizeof(buf)),
	    (ssize_t)c.params_len);
	assert_memory_equal(buf, c.params, c.params_len);
	conn_close(&c);
}

/* The age of the lost session a helper is told, read back. */
static int
accepted_outage(int64_t lost_ms)
{
	char buf[2048];
	struct connparams p;
	struct conn c;
	ssize_t n;

	open_local(&c, 22);
	n = helper_reads(&c, lost_ms, buf, sizeof(buf));
	assert_int_equal(connparams_parse(buf, (size_t)n, &p), 0);
	conn_close(&c);
	return p.outage_ms;
}

static void
test_accept_outage(void **state)
{
	int ms;

	(void)state;
	/* No session lost since the last up: no line, -1 for the helper. */
	assert_int_equal(accepted_outage(NEVER), -1);
	ms = accepted_outage(now_ms() - 2500);
	assert_in_range(ms, 2500, 3500);
	/* An old outage is said within the helper's range, not refused. */
	assert_int_equal(accepted_outage(now_ms() - 40LL * 24 * 3600 * 1000),
	    CONN_MAX_TIMEOUT_MS);
}

/* ---- the refusal schedule ---- */

/* splitmix64, seeded per run, for reproducible jitter. */
static uint16_t
seeded(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint16_t)((z ^ (z >> 31)) >> 48);
}

static void
test_refused_wait_bounds(void **state)
{
	int n;

	(void)state;
	/* Right after a loss: 0.1 s first, then 0.15 s, 0.5 to 1.5 times. */
	assert_int_equal(connect_refused_wait_ms(0, 0, 0, 0), 50);
	assert_int_equal(connect_refused_wait_ms(0, 0, 0, 65535), 149);
	assert_int_equal(connect_refused_wait_ms(0, 0, 0, 32768), 100);
	assert_int_equal(connect_refused_wait_ms(0, 0, 1, 0), 75);
	assert_int_equal(connect_refused_wait_ms(0, 0, 1, 65535), 224);
	/* The quick interval is a cap: it does not grow with n... */
	for (n = 1; n < 100000; n *= 7)
		assert_in_range(connect_refused_wait_ms(9000, 9000, n, 65535),
		    75, 224);
	/* ...and no refusal ends it while the window lasts. */
	assert_in_range(connect_refused_wait_ms(11999, 11999, 500, 0), 75, 224);
	/* After 12 s, or with no session lost: 1 s, as on a first start. */
	assert_int_equal(connect_refused_wait_ms(12000, 0, 0, 0), 500);
	assert_int_equal(connect_refused_wait_ms(12000, 0, 75, 65535), 1499);
	assert_int_equal(connect_refused_wait_ms(-1, 0, 0, 0), 500);
	assert_int_equal(connect_refused_wait_ms(-1, 9999, 9, 65535), 1499);
	/* Then the supervisor's back-off: after 10 s of refusals. */
	assert_int_equal(connect_refused_wait_ms(-1, 10000, 9, 0), -1);
	assert_int_equal(connect_refused_wait_ms(12000, 11900, 75, 0), -1);
	assert_int_equal(connect_refused_wait_ms(3600000, 10000, 1, 0), -1);
}

/*
 * One helper refused from the moment it starts, age0 ms into an outage,
 * on a fake clock: the times of its SYNs until it gives up.
 */
static int
simulate(int64_t age0, uint64_t seed, int64_t *syn, int max, int64_t *end)
{
	int64_t t = 0, w;
	int n = 0;

	for (;;) {
		assert_true(n < max);
		syn[n] = t;
		w = connect_refused_wait_ms(age0 < 0 ? -1 : age0 + t, t, n,
		    seeded(&seed));
		n++;
		if (w < 0)
			break;
		t += w;
	}
	*end = t;
	return n;
}

static void
test_refused_schedule_after_loss(void **state)
{
	static const int64_t back_ms[] = { 2000, 10000, 11900 };
	int64_t syn[400], end;
	uint64_t seed;
	size_t b;
	int i, n;

	(void)state;
	for (seed = 1; seed <= 200; seed++) {
		n = simulate(0, seed, syn, 400, &end);
		/* Asked about 80 times in the quick 12 s, then handed over. */
		assert_in_range(n, 65, 100);
		assert_in_range(end, 12000, 12225);
		assert_in_range(syn[1], 50, 149);
		for (i = 2; i < n; i++)
			assert_in_range(syn[i] - syn[i - 1], 75, 224);
		/* sshd back 2 s or 10 s in: asked within 0.225 s. */
		for (b = 0; b < NROWS(back_ms); b++) {
			for (i = 0; i < n && syn[i] < back_ms[b]; i++)
				;
			assert_true(i < n);
			assert_in_range(syn[i] - back_ms[b], 0, 224);
		}
	}
}

static void
test_refused_schedule_otherwise(void **state)
{
	int64_t syn[400], end;
	uint64_t seed;
	int i, n;

	(void)state;
	/*
	 * No working session lost (a first start), or a helper started
	 * after the quick window: once a second for 10 s.
	 */
	for (seed = 1; seed <= 200; seed++) {
		n = simulate(seed % 2 ? -1 : 12000, seed, syn, 400, &end);
		assert_in_range(n, 7, 21);
		assert_in_range(end, 10000, 11500);
		for (i = 1; i < n; i++)
			assert_in_range(syn[i] - syn[i - 1], 500, 1499);
	}
}

/* ---- whole round trips ---- */

/* What the fake ssh (process A) saw, written back over a pipe. */
struct report {
	int	step;		/* 0: everything worked */
	int	nbytes;		/* data bytes with the descriptor */
	int	peer_port;	/* the passed socket's remote port */
	ino_t	ino;		/* the passed socket's inode */
	int	helper_status;
};

/*
 * Process A: the fake ssh.  It forks the helper (B) with its stdout on
 * one end of a socketpair, receives the connected socket on the other
 * end exactly as ssh's ProxyUseFdpass does, and reports.
 */
static void
fake_ssh(const char *name, int rep_fd)
{
	struct report r;
	char data[8], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh;
	struct cmsghdr *cm;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct stat sb;
	int sp[2], fd = -1, st;
	pid_t b;

	memset(&r, 0, sizeof(r));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		_exit(80);
	if ((b = fork()) == -1)
		_exit(81);
	if (b == 0) {
		close(sp[0]);
		dup2(sp[1], STDOUT_FILENO);
		close(sp[1]);
		_exit(connect_helper_main(name));
	}
	close(sp[1]);
	r.step = 1;
	if (readable(sp[0], 15000)) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		r.nbytes = (int)recvmsg(sp[0], &mh, 0);
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		r.step = 2;
		if (fd != -1 && getpeername(fd, (struct sockaddr *)&sin,
		    &slen) == 0 && fstat(fd, &sb) == 0) {
			r.peer_port = ntohs(sin.sin_port);
			r.ino = sb.st_ino;
			r.step = 0;
		}
	}
	while (waitpid(b, &st, 0) == -1 && errno == EINTR)
		;
	r.helper_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
	    WTERMSIG(st);
	if (write(rep_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(82);
	_exit(0);
}

static void
test_roundtrip(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	struct report r;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct stat sb;
	char desc[64], want[64];
	int lfd, port, rep[2], srv, st, got, ut;
	socklen_t utl = sizeof(ut);
	pid_t a;

	(void)state;
	lfd = tcp_listener(4, &port);
	cfg_local(&cfg, "127.0.0.1", port);
	cfg.family = AF_INET;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	assert_int_equal(pipe(rep), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		close(rep[0]);
		fake_ssh(c.name, rep[1]);
	}
	close(rep[1]);
	if (!readable(c.listen_fd, 10000))
		fail_msg("no helper came");
	conn_accept(&c, a, NEVER, now_ms());
	if (c.peer_fd == -1)
		fail_msg("the helper (a child of ssh) was refused");
	got = read_until(&c, 15000);
	if (got == CONN_FAILED)
		fail_msg("helper failed: %s", c.fail);
	assert_int_equal(got, CONN_TRANSPORT);
	/* Our copy: connected to the listener, options as planned. */
	assert_true(c.sock_fd >= 0);
	assert_int_equal(get_int_opt(c.sock_fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_int_opt(c.sock_fd, IPPROTO_TCP, TCP_KEEPIDLE),
	    l.idle_s);
	assert_int_equal(get_int_opt(c.sock_fd, IPPROTO_TCP, TCP_KEEPINTVL),
	    l.intvl_s);
	assert_int_equal(get_int_opt(c.sock_fd, IPPROTO_TCP, TCP_KEEPCNT),
	    l.cnt);
	assert_int_equal(getsockopt(c.sock_fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
	    &ut, &utl), 0);
	assert_int_equal(ut, l.user_timeout_ms);
	assert_int_equal(get_int_opt(c.sock_fd, SOL_SOCKET, SO_TYPE),
	    SOCK_STREAM);
	assert_int_equal(port_of(&c.remote), port);
	conn_describe(&c.remote, desc, sizeof(desc));
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	assert_string_equal(desc, want);
	/* The listener's side sees our local address. */
	srv = accept4(lfd, (struct sockaddr *)&sin, &slen, SOCK_CLOEXEC);
	assert_true(srv >= 0);
	assert_int_equal(ntohs(sin.sin_port), port_of(&c.local));
	/* ssh got the same socket with one byte of data. */
	assert_int_equal(read(rep[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(rep[0]);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(r.step, 0);
	assert_int_equal(r.nbytes, 1);
	assert_int_equal(r.peer_port, port);
	assert_int_equal(fstat(c.sock_fd, &sb), 0);
	assert_true(sb.st_ino == r.ino);
	assert_int_equal(r.helper_status, 0);
	/* ssh is gone; the server still holds the session: reuse the port. */
	conn_reset(&c);
	assert_int_equal(c.sock_fd, -1);
	assert_int_equal(c.peer_fd, -1);
	assert_int_equal(c.reuse_port, 1);
	conn_close(&c);
	close(srv);
	close(lfd);
}

/*
 * A supervisor-side run of a helper that is our own child (so that
 * conn_accept(c, getpid()) lets it in): returns what conn_read said and
 * the helper's exit status; c->fail holds the reason.
 */
static int
run_helper(struct conn *c, int ms, int *status, int64_t *took_ms,
    char *err, size_t errlen)
{
	int sp[2], ep[2], got;
	int64_t t0 = mono_ms();
	ssize_t n;
	pid_t b;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	b = spawn_helper(c->name, sp[1], ep[1]);
	close(sp[1]);
	close(ep[1]);
	if (!readable(c->listen_fd, 10000))
		fail_msg("no helper came");
	conn_accept(c, getpid(), NEVER, now_ms());
	assert_true(c->peer_fd >= 0);
	got = read_until(c, ms);
	if (took_ms != NULL)
		*took_ms = mono_ms() - t0;
	*status = reap(b, 10000, NULL);
	n = read(ep[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(ep[0]);
	/* Unless the socket came, nothing was passed to ssh. */
	if (got != CONN_TRANSPORT) {
		char byte;

		assert_true(recv(sp[0], &byte, 1, MSG_DONTWAIT) <= 0);
	}
	close(sp[0]);
	return got;
}

static void
test_helper_refused_with_timeout(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	char want[128], err[512];
	int port = unused_port(), st, got;
	int64_t took;

	(void)state;
	/*
	 * Refusals are retried for 10 s; ConnectTimeout 1 ends that sooner
	 * with the same report.
	 */
	cfg_local(&cfg, "127.0.0.1", port);
	cfg.connect_timeout_s = 1;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	got = run_helper(&c, 8000, &st, &took, err, sizeof(err));
	assert_int_equal(got, CONN_FAILED);
	snprintf(want, sizeof(want), "connect to host 127.0.0.1 port %d: "
	    "Connection refused", port);
	assert_string_equal(c.fail, want);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 255);
	assert_in_range(took, 800, 5000);
	conn_close(&c);
}

static void
test_helper_refused_grace(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	char want[128], err[512];
	int port, st, got;
	int64_t took;

	(void)state;
	/* Takes the whole 10 s refusal grace: only when asked for. */
	if (getenv("AUTOSSH_SLOW_TESTS") == NULL)
		skip();
	port = unused_port();
	cfg_local(&cfg, "127.0.0.1", port);
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	got = run_helper(&c, 20000, &st, &took, err, sizeof(err));
	assert_int_equal(got, CONN_FAILED);
	snprintf(want, sizeof(want), "connect to host 127.0.0.1 port %d: "
	    "Connection refused", port);
	assert_string_equal(c.fail, want);
	assert_int_equal(WEXITSTATUS(st), 255);
	assert_in_range(took, 9000, 15000);
	conn_close(&c);
}

static void
test_helper_unresolvable(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	char err[512];
	int st, got;

	(void)state;
	cfg_local(&cfg, "nosuch.invalid", 22);
	cfg.connect_timeout_s = 2;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	got = run_helper(&c, 30000, &st, NULL, err, sizeof(err));
	assert_int_equal(got, CONN_FAILED);
	if (strncmp(c.fail, "Could not resolve hostname nosuch.invalid: ",
	    43) != 0)
		fail_msg("fail '%s'", c.fail);
	assert_int_equal(WEXITSTATUS(st), 255);
	conn_close(&c);
}

static void
test_helper_bad_params(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn c;
	char err[512];
	int st, got;

	(void)state;
	cfg_local(&cfg, "127.0.0.1", 22);
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&c, &cfg, &l), 0);
	/* What arrives is not parameters: misuse, exit 1, and says so. */
	c.params_len = (size_t)snprintf(c.params, sizeof(c.params),
	    "port 99999\n");
	got = run_helper(&c, 5000, &st, NULL, err, sizeof(err));
	assert_int_equal(got, CONN_NOTHING);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_non_null(strstr(err, "no usable parameters"));
	conn_close(&c);
}

static void
helper_misuse(const char *name, const char *want)
{
	char err[512];
	int sp[2], ep[2], st;
	ssize_t n;
	pid_t b;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	b = spawn_helper(name, sp[1], ep[1]);
	close(sp[1]);
	close(ep[1]);
	st = reap(b, 5000, NULL);
	n = read(ep[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	close(ep[0]);
	close(sp[0]);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	if (strstr(err, want) == NULL)
		fail_msg("stderr '%s' lacks '%s'", err, want);
}

static void
test_helper_no_supervisor(void **state)
{
	(void)state;
	helper_misuse("autossh.0.nobody-listens-here", "unable to reach "
	    "autossh");
}

static void
test_helper_long_name(void **state)
{
	char name[200];

	(void)state;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	helper_misuse(name, "bad socket name");
}

/* CPU seconds a reaped child used. */
static double
cpu_s(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

static void
test_helper_silent_server(void **state)
{
	struct sshcfg cfg;
	struct liveness l;
	struct conn plain, reuse;
	struct rusage ru_plain, ru_reuse;
	struct sockaddr_in sin;
	int lfd, port, filler, sp1[2], sp2[2], st1, st2;
	int64_t end;
	pid_t b1, b2;

	(void)state;
	/*
	 * A server whose accept queue is full drops SYNs: a silent path.
	 * Both helpers must wait for it without spinning, with and without
	 * the previous local port (DESIGN.md §Stale sessions) to reuse, and
	 * leave when the supervisor hangs up.
	 */
	lfd = tcp_listener(0, &port);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(filler, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	cfg_local(&cfg, "127.0.0.1", port);
	cfg.family = AF_INET;
	liveness_plan(45, &cfg, &l);
	assert_int_equal(conn_open(&plain, &cfg, &l), 0);
	assert_int_equal(conn_open(&reuse, &cfg, &l), 0);
	reuse.reuse_port = 1;
	fill_ss(&reuse.last_local, AF_INET, "127.0.0.1", unused_port());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp2), 0);
	b1 = spawn_helper(plain.name, sp1[1], -1);
	b2 = spawn_helper(reuse.name, sp2[1], -1);
	assert_true(readable(plain.listen_fd, 10000));
	conn_accept(&plain, getpid(), NEVER, now_ms());
	assert_true(readable(reuse.listen_fd, 10000));
	conn_accept(&reuse, getpid(), NEVER, now_ms());
	assert_true(plain.peer_fd >= 0 && reuse.peer_fd >= 0);
	/* Past the first 3 s attempt and into the next one. */
	end = mono_ms() + 3500;
	while (mono_ms() < end) {
		struct pollfd p[2] = { { plain.peer_fd, POLLIN, 0 },
		    { reuse.peer_fd, POLLIN, 0 } };

		if (poll(p, 2, (int)(end - mono_ms())) > 0)
			fail_msg("a helper spoke to a silent server");
	}
	conn_reset(&plain);
	conn_reset(&reuse);
	st1 = reap(b1, 3000, &ru_plain);
	st2 = reap(b2, 3000, &ru_reuse);
	assert_true(WIFEXITED(st1) && WIFEXITED(st2));
	assert_int_equal(WEXITSTATUS(st1), 255);
	assert_int_equal(WEXITSTATUS(st2), 255);
	print_message("helper CPU over 3.5 s: %.3f s fresh ports, %.3f s "
	    "reusing the port\n", cpu_s(&ru_plain), cpu_s(&ru_reuse));
	conn_close(&plain);
	conn_close(&reuse);
	close(sp1[0]);
	close(sp1[1]);
	close(sp2[0]);
	close(sp2[1]);
	close(filler);
	close(lfd);
	assert_true(cpu_s(&ru_plain) < 0.3);
	if (cpu_s(&ru_reuse) >= 0.3)
		fail_msg("the helper spun for %.2f s of CPU while its one "
		    "reuse attempt was pending", cpu_s(&ru_reuse));
}

int
main(void)
{
	size_t i;

	add_test("conn_open: listener, name, parameters", test_open, NULL);
	add_test("conn_open: no bind lines when unset", test_open_no_bind,
	    NULL);
	add_test("conn_open: the helper accepts the parameters for every "
	    "deadline", test_open_params_every_deadline, NULL);
	add_test("conn_open: the longest parameters",
	    test_open_params_longest, NULL);
	add_test("conn_open: ConnectTimeout up to 365 days",
	    test_open_connect_timeouts, NULL);
	for (i = 0; i < NROWS(quote_paths); i++)
		add_test(pool_name("ProxyCommand through sh: %s",
		    quote_paths[i]), test_quote_roundtrip,
		    (void *)(uintptr_t)quote_paths[i]);
	for (i = 0; i < NROWS(refused_paths); i++)
		add_test(pool_name("ProxyCommand refuses control character %zu",
		    i), test_quote_refused,
		    (void *)(uintptr_t)refused_paths[i]);
	add_test("ProxyCommand: every buffer size", test_quote_buffer_sizes,
	    NULL);
	for (i = 0; i < NROWS(drows); i++)
		add_test(pool_name("describe %s", drows[i].want), test_describe,
		    (void *)&drows[i]);
	add_test("read: fail message, then hang-up", test_read_fail, NULL);
	add_test("read: a long fail message", test_read_long_fail, NULL);
	add_test("read: ok without a descriptor", test_read_ok_without_fd,
	    NULL);
	add_test("read: a descriptor with junk is closed",
	    test_read_junk_with_fd, NULL);
	add_test("read: ok with the socket", test_read_ok, NULL);
	add_test("reset: reuse the port unless the server closed",
	    test_reset_reuse, NULL);
	add_test("stats: TCP_INFO figures", test_stats, NULL);
	add_test("accept: not a child of ssh is dropped",
	    test_accept_rejects_non_child, NULL);
	add_test("accept: a child of ssh gets the parameters",
	    test_accept_child_gets_params, NULL);
	add_test("accept: reuse line, IPv4", test_accept_reuse_v4, NULL);
	add_test("accept: reuse line, IPv6", test_accept_reuse_v6, NULL);
	add_test("accept: reuse_ms capped at 3 s", test_accept_reuse_slow_link,
	    NULL);
	add_test("accept: the address that worked is preferred",
	    test_accept_prefer, NULL);
	add_test("accept: no reuse line without an old address",
	    test_accept_no_reuse_without_address, NULL);
	add_test("accept: the age of a lost session", test_accept_outage,
	    NULL);
	add_test("refused: each wait, its bounds and cap",
	    test_refused_wait_bounds, NULL);
	add_test("refused: quick for 12 s after a lost session (200 seeds)",
	    test_refused_schedule_after_loss, NULL);
	add_test("refused: once a second otherwise (200 seeds)",
	    test_refused_schedule_otherwise, NULL);
	add_test("round trip: helper under a fake ssh, socket passed to both",
	    test_roundtrip, NULL);
	add_test("helper: refused, ConnectTimeout 1",
	    test_helper_refused_with_timeout, NULL);
	add_test("helper: refused for the 10 s grace (AUTOSSH_SLOW_TESTS)",
	    test_helper_refused_grace, NULL);
	add_test("helper: unresolvable host", test_helper_unresolvable, NULL);
	add_test("helper: unusable parameters", test_helper_bad_params, NULL);
	add_test("helper: no supervisor", test_helper_no_supervisor, NULL);
	add_test("helper: socket name too long", test_helper_long_name, NULL);
	add_test("helper: silent server, no busy wait",
	    test_helper_silent_server, NULL);
	return unit_run("test_connect", NULL,
	    NULL);
}
