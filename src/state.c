/*
 * The state file: its format, its parser, the store in a runtime
 * directory, and the check that an instance is still the process that
 * wrote its file (status.c prints it for --status).  The file is
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
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "util.h"

#define STATE_MAX	8192

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
	if (st->preferred[0] != '\0') {
		int m = snprintf(buf + n, len - (size_t)n, "preferred %s\n",
		    st->preferred);

		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	if (st->forwards[0] != '\0') {
		char fwd[sizeof(st->forwards) * 4];
		int m;

		log_escape(fwd, sizeof(fwd), st->forwards);
		m = snprintf(buf + n, len - (size_t)n, "forwards %s\n", fwd);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	if (st->destination_in_use[0] != '\0') {
		char in_use[sizeof(st->destination_in_use) * 4];
		char why[sizeof(st->destination_reason) * 4];
		int m;

		log_escape(in_use, sizeof(in_use), st->destination_in_use);
		log_escape(why, sizeof(why), st->destination_reason);
		m = snprintf(buf + n, len - (size_t)n, "destination_in_use %s\n"
		    "destination_reason %s\n", in_use, why);
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
	STR("preferred", preferred);
	STR("forwards", forwards);
	STR("destination_in_use", destination_in_use);
	STR("destination_reason", destination_reason);
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
 * A pidfd taken before the check pins the process, so a pid reused
 * between the check and the signal is not hit either.
 */
int
state_signal(const struct state *st, int sig)
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

/* Temporary files start with a dot. */
int
state_next_name(DIR *dp, char *name, size_t len)
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
	while (state_next_name(dp, name, sizeof(name)))
		if (state_read(dir, name, &st) == 0 && state_alive(&st) == 0)
			state_remove(dir, name);
	closedir(dp);
}
