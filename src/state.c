/*
 * Publishing the state and reading it back for --status.  The file is
 * "key value" lines; values never hold control characters, so a line is
 * a record.  Writers replace the file with rename(2), so a reader sees
 * the old or the new state, never half of one (runit's way).  Times are
 * CLOCK_MONOTONIC, which every process of a boot shares, plus one wall
 * clock time for display.  A file is believed only in a directory that
 * nobody else can write, and its pid is signalled only while the start
 * time recorded with it still matches: an instance killed with SIGKILL
 * leaves its file behind, and its pid is soon someone else's.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "util.h"

#define STATE_MAX	8192
#define REFRESH_WAIT_MS	1000

int
state_dir(const char *pidfile, char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *slash;
	int n;

	if (geteuid() == 0)
		n = snprintf(out, len, "/run/autossh");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/autossh", xdg);
	else if (pidfile != NULL && (slash = strrchr(pidfile, '/')) != NULL)
		n = slash == pidfile ? snprintf(out, len, "/") :
		    snprintf(out, len, "%.*s", (int)(slash - pidfile), pidfile);
	else
		return -1;
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int
state_dir_check(const char *dir, int create, char *why, size_t len)
{
	struct stat sb;

	if (create && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(why, len, "unable to create it: %s", strerror(errno));
		return -1;
	}
	if (lstat(dir, &sb) == -1) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(why, len, "not a directory");
		errno = ENOTDIR;
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		snprintf(why, len, "owned by uid %ld, not by uid %ld",
		    (long)sb.st_uid, (long)geteuid());
		errno = EPERM;
		return -1;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "writable by others (mode %04o)",
		    (unsigned)(sb.st_mode & 07777));
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
state_parse_starttime(const char *text, size_t len,
    unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i = len, start = 0;
	int field;

	/*
	 * "pid (comm) state ppid ...": comm is the only field that can
	 * hold ')' or a space, and the last field that can hold ')', so
	 * the last ')' ends it.
	 */
	while (i > 0 && text[i - 1] != ')')
		i--;
	if (i == 0)
		goto bad;
	/* Fields 3 (state) to 22 (starttime), each after one space. */
	for (field = 3; field <= 22; field++) {
		if (i >= len || text[i] != ' ')
			goto bad;
		start = ++i;
		while (i < len && text[i] != ' ' && text[i] != '\n')
			i++;
		if (i == start)
			goto bad;
	}
	for (; start < i; start++) {
		unsigned d = (unsigned char)text[start] - '0';

		if (d > 9 || v > (ULLONG_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
state_pid_starttime(long pid, unsigned long long *out)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, e;

	if (pid < 1 || pid > INT_MAX) {
		errno = ESRCH;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	do
		n = read(fd, buf, sizeof(buf));
	while (n == -1 && errno == EINTR);
	e = errno;
	close(fd);
	if (n == -1) {
		/* The process went away while we read. */
		errno = e == ESRCH ? ENOENT : e;
		return -1;
	}
	return state_parse_starttime(buf, (size_t)n, out);
}

int
state_alive(const struct state *st)
{
	unsigned long long t;

	if (st->pid < 1 || st->pid > INT_MAX)
		return 0;
	if (kill((pid_t)st->pid, 0) == -1 && errno == ESRCH)
		return 0;
	if (state_pid_starttime(st->pid, &t) == -1)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	if (!st->have_start)
		return -1;
	/* The pid was reused: the file's process died without cleaning up. */
	return t == st->start_time ? 1 : 0;
}

void
state_default_name(const char *destination, char *out, size_t len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:+-";
	size_t i;

	if (len == 0)
		return;
	for (i = 0; destination[i] != '\0' && i + 1 < len; i++)
		out[i] = strchr(ok, destination[i]) != NULL ? destination[i] :
		    '_';
	out[i] = '\0';
	/* Not empty, and not a hidden file. */
	if (out[0] == '.')
		out[0] = '_';
	else if (out[0] == '\0' && len >= 2) {
		out[0] = '_';
		out[1] = '\0';
	}
}

int
state_format(const struct state *st, char *buf, size_t len)
{
	char reason[sizeof(st->last_reason) * 4], dest[sizeof(st->destination)
	    * 4], live[sizeof(st->liveness) * 4];
	int n;

	log_escape(reason, sizeof(reason), st->last_reason);
	log_escape(dest, sizeof(dest), st->destination);
	log_escape(live, sizeof(live), st->liveness);
	n = snprintf(buf, len,
	    "name %s\ndestination %s\npid %ld\nstate %s\nsince_ms %" PRId64
	    "\nsince_unix %" PRId64 "\nwritten_ms %" PRId64 "\nserial %ld\n"
	    "ssh_pid %ld\nstarts %d\nretry_ms %" PRId64 "\nlast_status %d\n"
	    "last_signal %d\nlast_lived_ms %" PRId64 "\nlast_reason %s\n"
	    "liveness %s\ndetect_s %d\nkeepalive_bytes_day %ld\n"
	    "evictions %d\n",
	    st->name, dest, st->pid, st->state, st->since_ms, st->since_unix,
	    st->written_ms, st->serial, st->ssh_pid, st->starts, st->retry_ms,
	    st->last_status, st->last_signal, st->last_lived_ms, reason, live,
	    st->detect_s, st->keepalive_bytes_day, st->evictions);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (st->have_start) {
		int m = snprintf(buf + n, len - (size_t)n, "start_time %llu\n",
		    st->start_time);

		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	if (st->have_tcp) {
		int m = snprintf(buf + n, len - (size_t)n,
		    "local %s\nremote %s\nrtt_us %ld\nbytes_sent %llu\n"
		    "bytes_received %llu\n", st->local, st->remote, st->rtt_us,
		    st->bytes_sent, st->bytes_received);

		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	return n;
}

static void
set_i64(const char *v, int64_t *out)
{
	long long x;
	char why[64];

	if (parse_num(v, INT64_MIN + 1, INT64_MAX, &x, why, sizeof(why)) == 0)
		*out = x;
}

/*
 * A time: monotonic or wall-clock milliseconds or seconds, which are
 * never negative; half the range leaves room for any difference.
 */
static void
set_time(const char *v, int64_t *out)
{
	long long x;
	char why[64];

	if (parse_num(v, 0, INT64_MAX / 2, &x, why, sizeof(why)) == 0)
		*out = x;
}

static void
set_long(const char *v, long *out)
{
	int64_t x = *out;

	set_i64(v, &x);
	*out = (long)x;
}

static void
set_int(const char *v, int *out)
{
	long long x;
	char why[64];

	if (parse_num(v, INT_MIN, INT_MAX, &x, why, sizeof(why)) == 0)
		*out = (int)x;
}

static void
set_ull(const char *v, unsigned long long *out)
{
	int64_t x = 0;

	set_i64(v, &x);
	if (x >= 0)
		*out = (unsigned long long)x;
}

/*
 * Copy a value, cut if need be before a UTF-8 character rather than in
 * it: half a character would be escaped byte by byte when the state is
 * written again, and the file would change on every rewrite.
 */
static void
copy_text(char *dst, const char *src, size_t len)
{
	size_t n = util_strlcpy(dst, src, len), i;

	if (n < len || len == 0)
		return;
	for (i = len - 1; i > 0 && len - 1 - i < 4; i--) {
		unsigned char c = (unsigned char)dst[i - 1];

		if ((c & 0xc0) == 0x80)
			continue;
		/* dst[i - 1] leads the last sequence: whole in src only? */
		if (c >= 0xc0 && util_utf8_seq(dst + i - 1, NULL) == 0 &&
		    util_utf8_seq(src + i - 1, NULL) > 0)
			dst[i - 1] = '\0';
		return;
	}
}

static void
take(struct state *st, const char *k, const char *v)
{
#define STR(key, field) if (strcmp(k, key) == 0) \
	copy_text(st->field, v, sizeof(st->field))
	STR("name", name);
	STR("destination", destination);
	STR("state", state);
	STR("last_reason", last_reason);
	STR("liveness", liveness);
	STR("local", local);
	STR("remote", remote);
#undef STR
	if (strcmp(k, "pid") == 0) {
		long long x;
		char why[64];

		/*
		 * Anything outside 1..INT_MAX makes the file invalid: cast to
		 * pid_t, 4294967295 would be -1 (every process) and 2^32 0
		 * (our process group) for kill(2).
		 */
		st->pid = parse_num(v, 1, INT_MAX, &x, why, sizeof(why)) == 0 ?
		    (long)x : 0;
	} else if (strcmp(k, "start_time") == 0) {
		long long x;
		char why[64];

		if (parse_num(v, 0, INT64_MAX, &x, why, sizeof(why)) == 0) {
			st->start_time = (unsigned long long)x;
			st->have_start = 1;
		}
	} else if (strcmp(k, "since_ms") == 0)
		set_time(v, &st->since_ms);
	else if (strcmp(k, "since_unix") == 0)
		set_time(v, &st->since_unix);
	else if (strcmp(k, "written_ms") == 0)
		set_time(v, &st->written_ms);
	else if (strcmp(k, "serial") == 0)
		set_long(v, &st->serial);
	else if (strcmp(k, "ssh_pid") == 0)
		set_long(v, &st->ssh_pid);
	else if (strcmp(k, "starts") == 0)
		set_int(v, &st->starts);
	else if (strcmp(k, "retry_ms") == 0)
		set_time(v, &st->retry_ms);
	else if (strcmp(k, "last_status") == 0)
		set_int(v, &st->last_status);
	else if (strcmp(k, "last_signal") == 0)
		set_int(v, &st->last_signal);
	else if (strcmp(k, "last_lived_ms") == 0)
		set_time(v, &st->last_lived_ms);
	else if (strcmp(k, "detect_s") == 0)
		set_int(v, &st->detect_s);
	else if (strcmp(k, "keepalive_bytes_day") == 0)
		set_long(v, &st->keepalive_bytes_day);
	else if (strcmp(k, "evictions") == 0)
		set_int(v, &st->evictions);
	else if (strcmp(k, "rtt_us") == 0) {
		set_long(v, &st->rtt_us);
		st->have_tcp = 1;
	} else if (strcmp(k, "bytes_sent") == 0)
		set_ull(v, &st->bytes_sent);
	else if (strcmp(k, "bytes_received") == 0)
		set_ull(v, &st->bytes_received);
}

int
state_parse(const char *text, size_t len, struct state *st)
{
	size_t i = 0;

	memset(st, 0, sizeof(*st));
	st->last_status = -1;
	while (i < len) {
		char key[32], val[512];
		size_t s = i, k = 0, v = 0;

		while (i < len && text[i] != '\n' && text[i] != ' ')
			if (k + 1 < sizeof(key))
				key[k++] = text[i++];
			else
				i++;
		key[k] = '\0';
		if (i < len && text[i] == ' ')
			i++;
		while (i < len && text[i] != '\n')
			if (v + 1 < sizeof(val) && text[i] != '\0')
				val[v++] = text[i++];
			else
				i++;
		val[v] = '\0';
		if (i < len)
			i++;
		if (i > s && k > 0)
			take(st, key, val);
	}
	return st->name[0] != '\0' && st->pid > 0 ? 0 : -1;
}

static int
path_of(const char *dir, const char *name, const char *suffix, char *out,
    size_t len)
{
	int n = snprintf(out, len, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * May dir be used (state_dir_check() without the reason)?  Checked on
 * every use, not only at start-up, so that a directory replaced later
 * by a link or handed to another owner is not used either.
 */
static int
usable_dir(const char *dir, int create)
{
	char why[128];

	return state_dir_check(dir, create, why, sizeof(why)) == 0;
}

int
state_write(const char *dir, const struct state *st)
{
	char buf[STATE_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int fd, n, e;
	ssize_t w;

	if (!usable_dir(dir, 1))
		return -1;
	if ((n = state_format(st, buf, sizeof(buf))) == -1) {
		errno = EOVERFLOW;
		return -1;
	}
	if (path_of(dir, st->name, ".state", path, sizeof(path)) == -1)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.state.%ld", dir, st->name,
	    (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	w = write(fd, buf, (size_t)n);
	e = errno;
	if (close(fd) == -1 && w == n) {
		w = -1;
		e = errno;
	}
	if (w != n) {
		unlink(tmp);
		errno = w == -1 ? e : EIO;
		return -1;
	}
	if (rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

void
state_remove(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (!usable_dir(dir, 0))
		return;
	if (path_of(dir, name, ".state", path, sizeof(path)) == 0)
		unlink(path);
}

int
state_read(const char *dir, const char *name, struct state *st)
{
	char path[PATH_MAX], buf[STATE_MAX];
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd, e;

	if (!usable_dir(dir, 0))
		return -1;
	if (path_of(dir, name, ".state", path, sizeof(path)) == -1)
		return -1;
	/* O_NONBLOCK: opening a FIFO planted here must not hang us. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1)
		goto fail;
	if (!S_ISREG(sb.st_mode) || sb.st_size > STATE_MAX) {
		errno = EINVAL;
		goto fail;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
		errno = EPERM;
		goto fail;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	/* A file must name itself, so that --status reads it back by name. */
	if (state_parse(buf, len, st) == -1 || strcmp(st->name, name) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * Send sig to the instance st describes, only if it is proven to be
 * that instance.  A pidfd taken before the check pins the process, so
 * a pid reused between the check and the signal is not hit either.
 */
static int
signal_instance(const struct state *st, int sig)
{
	int fd = -1, r, e;

#ifdef SYS_pidfd_open
	fd = (int)syscall(SYS_pidfd_open, (pid_t)st->pid, 0);
	if (fd == -1 && errno != ENOSYS)
		return -1;
#endif
	if (state_alive(st) != 1) {
		if (fd != -1)
			close(fd);
		errno = ESRCH;
		return -1;
	}
	if (fd == -1)
		return kill((pid_t)st->pid, sig);
#ifdef SYS_pidfd_send_signal
	r = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
#else
	r = kill((pid_t)st->pid, sig);
#endif
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/*
 * The next instance name in an open state directory (a NAME.state file;
 * temporary files start with a dot).  Returns 1 with the name in name,
 * or 0 at the end.
 */
static int
next_name(DIR *dp, char *name, size_t len)
{
	struct dirent *de;

	while ((de = readdir(dp)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n <= 6 ||
		    strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		snprintf(name, len, "%.*s", (int)(n - 6), de->d_name);
		return 1;
	}
	return 0;
}

void
state_sweep(const char *dir)
{
	char name[NAME_MAX + 1];
	struct state st;
	DIR *dp;

	if (!usable_dir(dir, 0) || (dp = opendir(dir)) == NULL)
		return;
	while (next_name(dp, name, sizeof(name)))
		if (state_read(dir, name, &st) == 0 && state_alive(&st) == 0)
			state_remove(dir, name);
	closedir(dp);
}

/* ---- --status ---- */

/*
 * Ask the instance for fresh figures (SIGUSR2 rewrites the file) and
 * wait briefly for the new serial; keep the old state if it does not
 * come (another user's instance, or a stopped one).
 */
static void
refresh(const char *dir, struct state *st)
{
	int64_t end = now_ms() + REFRESH_WAIT_MS;
	struct state fresh;
	long serial = st->serial;

	if (signal_instance(st, SIGUSR2) == -1)
		return;
	while (now_ms() < end) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		/* The same process's rewrite, not a new instance's file. */
		if (state_read(dir, st->name, &fresh) == 0 &&
		    fresh.serial != serial && fresh.pid == st->pid &&
		    fresh.have_start == st->have_start &&
		    fresh.start_time == st->start_time) {
			*st = fresh;
			return;
		}
		nanosleep(&ts, NULL);
	}
}

/*
 * A JSON string that is valid UTF-8 whatever the file held: controls
 * (C0, DEL and C1) as \u escapes, and each byte outside a well-formed
 * UTF-8 sequence as U+FFFD, the replacement character.
 */
static void
json_string(const char *s)
{
	putchar('"');
	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		unsigned long cp;
		size_t n = util_utf8_seq(s, &cp);

		if (n == 0) {
			fputs("\\ufffd", stdout);
			n = 1;
		} else if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			printf("\\u%04lx", cp);
		else
			fwrite(s, 1, n, stdout);
		s += n;
	}
	putchar('"');
}

static void
print_json(const struct state *st, int alive, int64_t now, int first)
{
	const char *what = alive == 1 ? st->state : alive == 0 ?
	    "not running" : "unverified";

	printf("%s{\"name\": ", first ? "" : ",\n");
	json_string(st->name);
	printf(", \"destination\": ");
	json_string(st->destination);
	printf(", \"pid\": %ld, \"running\": %s, \"state\": ", st->pid,
	    alive == 1 ? "true" : "false");
	json_string(what);
	if (alive != 1)
		printf(", \"stale\": %s", alive == 0 ? "true" : "false");
	printf(", \"since_unix\": %" PRId64 ", \"for_s\": %.1f", st->since_unix,
	    (double)(now - st->since_ms) / 1000);
	printf(", \"ssh_pid\": %ld, \"starts\": %d, \"restarts\": %d",
	    st->ssh_pid, st->starts, st->starts > 0 ? st->starts - 1 : 0);
	if (st->retry_ms > 0)
		printf(", \"next_try_in_s\": %.1f", st->retry_ms > now ?
		    (double)(st->retry_ms - now) / 1000 : 0.0);
	if (st->last_status >= 0 || st->last_signal > 0) {
		printf(", \"last_exit\": {\"status\": ");
		if (st->last_signal > 0)
			printf("null, \"signal\": %d", st->last_signal);
		else
			printf("%d, \"signal\": null", st->last_status);
		printf(", \"lived_s\": %.1f, \"reason\": ",
		    (double)st->last_lived_ms / 1000);
		json_string(st->last_reason);
		putchar('}');
	}
	if (st->have_tcp) {
		printf(", \"local\": ");
		json_string(st->local);
		printf(", \"remote\": ");
		json_string(st->remote);
		printf(", \"rtt_ms\": %.3f, \"bytes_sent\": %llu, "
		    "\"bytes_received\": %llu, \"figures_age_s\": %.1f",
		    (double)st->rtt_us / 1000, st->bytes_sent,
		    st->bytes_received, (double)(now - st->written_ms) / 1000);
	}
	printf(", \"liveness\": ");
	json_string(st->liveness);
	printf(", \"detect_s\": %d, \"keepalive_bytes_per_day\": %ld, "
	    "\"evictions\": %d}", st->detect_s, st->keepalive_bytes_day,
	    st->evictions);
}

static void
bytes(unsigned long long n, char *buf, size_t len)
{
	if (n < 10 * 1024)
		snprintf(buf, len, "%llu B", n);
	else if (n < 10 * 1024 * 1024)
		snprintf(buf, len, "%.1f KB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MB", (double)n / (1024 * 1024));
}

/* The escaped form of a field, for a terminal. */
#define ESC(field)	(log_escape(e_##field, sizeof(e_##field), \
	st->field), e_##field)

static void
print_human(const struct state *st, int alive, int64_t now)
{
	char d[32], when[32], b1[32], b2[32];
	char e_name[sizeof(st->name) * 4], e_state[sizeof(st->state) * 4];
	char e_destination[sizeof(st->destination) * 4];
	char e_last_reason[sizeof(st->last_reason) * 4];
	char e_local[sizeof(st->local) * 4], e_remote[sizeof(st->remote) * 4];
	char e_liveness[sizeof(st->liveness) * 4];
	time_t t = (time_t)st->since_unix;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		util_strlcpy(when, "?", sizeof(when));
	if (alive == 0) {
		printf("%s: not running (stale state from pid %ld)\n",
		    ESC(name), st->pid);
		return;
	}
	if (alive == -1) {
		printf("%s: unknown (pid %ld cannot be proven to be this "
		    "instance)\n", ESC(name), st->pid);
		return;
	}
	printf("%s: %s for %s (since %s), pid %ld\n", ESC(name), ESC(state),
	    fmt_duration(now - st->since_ms, d, sizeof(d)), when, st->pid);
	if (st->retry_ms > 0 && st->retry_ms > now)
		printf("  next try in %s\n", fmt_duration(st->retry_ms - now, d,
		    sizeof(d)));
	printf("  destination %s, ssh pid %ld, %d start%s\n",
	    ESC(destination), st->ssh_pid, st->starts,
	    st->starts == 1 ? "" : "s");
	if (st->last_status >= 0 || st->last_signal > 0) {
		fmt_duration(st->last_lived_ms, d, sizeof(d));
		if (st->last_signal > 0)
			printf("  last exit: killed by signal %d after %s",
			    st->last_signal, d);
		else
			printf("  last exit: status %d after %s",
			    st->last_status, d);
		printf("%s%s%s\n", st->last_reason[0] ? " (" : "",
		    ESC(last_reason), st->last_reason[0] ? ")" : "");
	}
	if (st->have_tcp) {
		bytes(st->bytes_sent, b1, sizeof(b1));
		bytes(st->bytes_received, b2, sizeof(b2));
		fmt_duration(now - st->written_ms, d, sizeof(d));
		printf("  connection %s -> %s, rtt %.1f ms, sent %s, "
		    "received %s (as of %s ago)\n", ESC(local), ESC(remote),
		    (double)st->rtt_us / 1000, b1, b2, d);
	}
	if (st->evictions > 0)
		printf("  stale server sessions cleared: %d\n", st->evictions);
	printf("  liveness: %s\n", ESC(liveness));
}

#undef ESC

/*
 * Print one instance.  Only an instance asked for by name or pidfile is
 * refreshed: listing all of them must not signal every autossh on the
 * machine (each logs its state on SIGUSR2).
 */
static int
show(const char *dir, struct state *st, int json, int fresh, int *first)
{
	int alive = state_alive(st);

	if (alive == 1 && fresh)
		refresh(dir, st);
	if (json)
		print_json(st, alive, now_ms(), *first);
	else
		print_human(st, alive, now_ms());
	*first = 0;
	return alive == 1;
}

/* The pid in a pidfile, or 0. */
static long
pidfile_pid(const char *path)
{
	char buf[32], why[64];
	long long v;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return parse_num(buf, 1, INT_MAX, &v, why, sizeof(why)) == 0 ?
	    (long)v : 0;
}

int
state_status_main(const char *target, const char *pidfile, int json)
{
	char dir[PATH_MAX], name[NAME_MAX + 1], why[128];
	char e_dir[sizeof(dir) * 4], e_target[NAME_MAX * 4];
	struct state st;
	long want = 0;
	int first = 1, shown = 0, alive = 0;
	DIR *dp;

	if (target != NULL && strchr(target, '/') != NULL) {
		pidfile = target;
		if ((want = pidfile_pid(target)) == 0) {
			fprintf(stderr, "autossh: --status: no pid in %s\n",
			    target);
			return 1;
		}
		target = NULL;
	}
	if (state_dir(pidfile, dir, sizeof(dir)) == -1) {
		fprintf(stderr, "autossh: --status: no state directory "
		    "(not root, no XDG_RUNTIME_DIR, no pidfile)\n");
		return 1;
	}
	log_escape(e_dir, sizeof(e_dir), dir);
	log_escape(e_target, sizeof(e_target), target ? target : "");
	/*
	 * Whoever else can write the directory could plant the files we
	 * would print and the pids we would signal: refuse it outright.
	 */
	if (state_dir_check(dir, 0, why, sizeof(why)) == -1 &&
	    errno != ENOENT) {
		fprintf(stderr, "autossh: --status: refusing the state "
		    "directory %s: %s\n", e_dir, why);
		return 1;
	}
	if (json)
		printf("[");
	if (target != NULL) {
		if (state_read(dir, target, &st) == 0) {
			alive = show(dir, &st, json, 1, &first);
			shown = 1;
		}
	} else if ((dp = opendir(dir)) != NULL) {
		while (next_name(dp, name, sizeof(name))) {
			if (state_read(dir, name, &st) == -1 ||
			    (want != 0 && st.pid != want))
				continue;
			alive |= show(dir, &st, json, want != 0, &first);
			shown = 1;
		}
		closedir(dp);
	}
	if (json)
		printf("]\n");
	fflush(stdout);
	if (!shown) {
		fprintf(stderr, "autossh: --status: no autossh %s%s%s in %s\n",
		    target ? "named " : "", target ? e_target : want ?
		    "with that pidfile" : "is running", "", e_dir);
		return 1;
	}
	return alive ? 0 : 1;
}
