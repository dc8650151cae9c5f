/*
 * Logging.  This module owns the sinks and the formatting of a line; it
 * does not decide what is worth logging.  Lines are escaped, bounded to
 * LOG_LINE_MAX and written with one write(2) each.  Runs of similar
 * messages (equal once digits are ignored) are rate-limited below debug
 * level, so a tunnel failing every few seconds for a week cannot fill
 * the disk.
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "util.h"

/* After this many similar messages in a row, further ones are dropped. */
#define RL_BURST	5
/* ... but one gets through, with a count, this often. */
#define RL_SUMMARY_MS	(10 * 60 * 1000)

static int log_threshold = LOG_LVL_INFO;
static unsigned log_sinks = LOG_TO_STDERR;
static int log_fd = -1;
static char log_path[4096];
static void (*fatal_hook)(void);

static struct {
	char	 key[256];
	unsigned repeats;
	unsigned suppressed;
	int64_t	 last_summary_ms;
} rl;

static const char *
level_word(int level)
{
	if (level <= LOG_LVL_ERR)
		return "error: ";
	if (level == LOG_LVL_WARNING)
		return "warning: ";
	if (level == LOG_LVL_DEBUG)
		return "debug: ";
	return "";
}

void
log_escape(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	if (len == 0)
		return;
	while (*src != '\0') {
		unsigned char c = (unsigned char)*src;
		unsigned long cp;
		size_t n, take = util_utf8_seq(src, &cp);
		char tmp[5];

		/*
		 * A terminal acts on C0, DEL and the C1 controls (U+0080 to
		 * U+009F, which some terminals also take as a raw byte), so
		 * they are shown as \xNN of their bytes.  A byte that is not
		 * part of a well-formed UTF-8 sequence is shown the same way,
		 * which keeps the output valid UTF-8 and stops a partial
		 * sequence from swallowing the text after it.
		 */
		if (c == '\t' || c == '\r') {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\%c",
			    c == '\t' ? 't' : 'r');
			take = 1;
		} else if (take == 0 || cp < 0x20 ||
		    (cp >= 0x7f && cp <= 0x9f)) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			take = 1;
		} else {
			memcpy(tmp, src, take);
			n = take;
		}
		if (o + n >= len)
			break;
		memcpy(dst + o, tmp, n);
		o += n;
		src += take;
	}
	dst[o] = '\0';
}

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* A full disk or a closed stderr must not stop us. */
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Append "\n" to line (of capacity LOG_LINE_MAX) and write it to fd. */
static void
emit_line(int fd, char *line, size_t n)
{
	if (n > LOG_LINE_MAX - 2)
		n = LOG_LINE_MAX - 2;
	line[n++] = '\n';
	write_all(fd, line, n);
}

static void
emit(int level, const char *text, int force_stderr)
{
	char line[LOG_LINE_MAX];
	int n;

	if ((log_sinks & LOG_TO_STDERR) || force_stderr) {
		n = snprintf(line, sizeof(line), "autossh: %s%s",
		    level_word(level), text);
		if (n > 0)
			emit_line(STDERR_FILENO, line, (size_t)n);
	}
	if (log_sinks & LOG_TO_JOURNAL) {
		n = snprintf(line, sizeof(line), "<%d>%s%s", level,
		    level_word(level), text);
		if (n > 0)
			emit_line(STDERR_FILENO, line, (size_t)n);
	}
	if (log_sinks & LOG_TO_SYSLOG)
		syslog(level, "%s%s", level_word(level), text);
	if ((log_sinks & LOG_TO_FILE) && log_fd != -1) {
		struct timespec ts;
		struct tm tm;
		char stamp[40];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ldZ autossh[%ld]: %s%s",
		    stamp, ts.tv_nsec / 1000000, (long)getpid(),
		    level_word(level), text);
		if (n > 0)
			emit_line(log_fd, line, (size_t)n);
	}
}

/* The rate-limit key: the message with every run of digits as '#'. */
static void
make_key(char *key, size_t len, const char *text)
{
	size_t o = 0;

	for (; *text != '\0' && o + 1 < len; text++) {
		if (*text >= '0' && *text <= '9') {
			if (o > 0 && key[o - 1] == '#')
				continue;
			key[o++] = '#';
		} else
			key[o++] = *text;
	}
	key[o] = '\0';
}

/* Returns 1 when the message should be dropped. */
static int
rate_limited(int level, const char *text)
{
	char key[sizeof(rl.key)];
	char note[80];
	int64_t now;

	if (log_threshold >= LOG_LVL_DEBUG)
		return 0;
	make_key(key, sizeof(key), text);
	if (strcmp(key, rl.key) != 0) {
		if (rl.suppressed > 0) {
			snprintf(note, sizeof(note),
			    "(suppressed %u similar messages)", rl.suppressed);
			emit(level, note, 0);
		}
		util_strlcpy(rl.key, key, sizeof(rl.key));
		rl.repeats = 1;
		rl.suppressed = 0;
		return 0;
	}
	if (++rl.repeats <= RL_BURST)
		return 0;
	now = now_ms();
	if (rl.suppressed > 0 && now - rl.last_summary_ms >= RL_SUMMARY_MS) {
		snprintf(note, sizeof(note),
		    "(suppressed %u similar messages)", rl.suppressed);
		emit(level, note, 0);
		rl.suppressed = 0;
		rl.last_summary_ms = now;
		return 0;
	}
	if (rl.suppressed == 0)
		rl.last_summary_ms = now;
	rl.suppressed++;
	return 1;
}

void
log_init(int level, unsigned sinks)
{
	if ((sinks & LOG_TO_SYSLOG) && !(log_sinks & LOG_TO_SYSLOG))
		openlog("autossh", LOG_PID | LOG_NDELAY, LOG_USER);
	else if (!(sinks & LOG_TO_SYSLOG) && (log_sinks & LOG_TO_SYSLOG))
		closelog();
	log_threshold = level;
	log_sinks = sinks;
}

int
log_level(void)
{
	return log_threshold;
}

/*
 * Only a regular file, or /dev/null to discard.  A FIFO would block the
 * open until someone reads it and then every line once nobody does, and
 * a device is nothing to append a log to.  O_NONBLOCK keeps the open
 * itself from waiting; a FIFO without a reader then fails with ENXIO.
 */
static int
open_logfile(const char *path)
{
	struct stat st;
	int fd, e;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd == -1) {
		if (errno == ENXIO)
			errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) && !(S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(1, 3))) {
		errno = EINVAL;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, O_APPEND) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
log_open_file(const char *path)
{
	int fd;

	if (strlen(path) >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open_logfile(path)) == -1)
		return -1;
	util_strlcpy(log_path, path, sizeof(log_path));
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_path[0] == '\0')
		return 0;
	if ((fd = open_logfile(log_path)) == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_close(void)
{
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	log_path[0] = '\0';
	if (log_sinks & LOG_TO_SYSLOG)
		closelog();
	log_sinks &= ~(unsigned)(LOG_TO_SYSLOG | LOG_TO_FILE);
}

void
log_set_fatal_hook(void (*hook)(void))
{
	fatal_hook = hook;
}

static void format_text(char *, size_t, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
format_text(char *text, size_t len, const char *fmt, va_list ap)
{
	char raw[LOG_LINE_MAX];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_escape(text, len, raw);
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];
	int saved = errno;

	if (level > log_threshold)
		goto out;
	format_text(text, sizeof(text), fmt, ap);
	if (!rate_limited(level, text))
		emit(level, text, 0);
out:
	errno = saved;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
							\
	va_start(ap, fmt);				\
	log_vmsg(level, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_error, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARNING)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
fatal(const char *fmt, ...)
{
	char text[LOG_LINE_MAX];
	va_list ap;
	void (*hook)(void) = fatal_hook;

	va_start(ap, fmt);
	format_text(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* The operator must see why we stopped, whatever the sinks are. */
	emit(LOG_LVL_ERR, text, !(log_sinks & (LOG_TO_STDERR |
	    LOG_TO_JOURNAL)));
	fatal_hook = NULL;
	if (hook != NULL)
		hook();
	exit(EXIT_FAIL);
}
